"""A pool that stays healthy: evidence that decays, prune candidates, scopes and the
per-repository opt-out, on real pools, real repositories and runs through the local
OpenAI-compatible server."""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mtl_tui import paths
from mtl_tui.config import load_settings
from mtl_tui.memory import prune
from mtl_tui.memory.retrieve import ORDER_RULE, retrieve
from mtl_tui.memory.scope import view_for
from mtl_tui.memory.store import MemoryStore, View
from mtl_tui.repo.identity import identify, normalise_remote
from tests.conftest import DONE, bash, git, insight, run_mtl
from tests.openai_server import FakeOpenAI, reply
from tests.test_learning import insights_reply

MODEL = "openai/local-test-model"
# the made-up histories end shortly before today: commands weigh them at the real clock
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=300)


class Clock:
    """The store's clock, moved by hand: a made-up history of months in a second."""

    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def __call__(self) -> str:
        return self.at.isoformat()

    def days(self, n: float) -> None:
        self.at += timedelta(days=n)


def uses(store: MemoryStore, clock: Clock, memory_id: int, outcomes: str, tag: str) -> None:
    """One accepted run per letter of `outcomes` (s: success, f: failure), a day apart."""
    for i, letter in enumerate(outcomes):
        outcome = "success" if letter == "s" else "failure"
        store.record_uses(f"{tag}-{i}", [memory_id], [memory_id], outcome)
        clock.days(1)


# -- evidence over time ----------------------------------------------------------------------


def test_old_wins_fade_so_a_lesson_failing_now_sinks(store: MemoryStore) -> None:
    clock = Clock()
    store.clock = clock
    # the older lesson is also the closer one (cosine 0.81 against 0.77 for the query)
    old = store.add(insight("Run the test suite before you commit changes")).id
    new = store.add(insight("Run the unit tests before committing a change")).id
    uses(store, clock, old, "s" * 20, "old-wins")  # helped a lot, long ago
    clock.days(365)
    uses(store, clock, old, "fff", "old-fails")  # and fails now
    uses(store, clock, new, "sssss", "new-wins")  # while the other helps now
    query = "run tests before commit"

    no_decay = store.search(query, k=2, view=View(half_life_days=None))
    decayed = store.search(query, k=2, view=View(half_life_days=90))
    assert no_decay[0].memory.id == old  # 20 wins of 23 keep it first for ever
    assert decayed[0].memory.id == new  # a year on, the old record counts ~1/16
    # the floor still judges relevance alone: the same relevance either way
    assert {h.memory.id: h.relevance for h in no_decay} == {
        h.memory.id: h.relevance for h in decayed
    }
    remembered = store.get(old)
    assert remembered.last_accepted_at == remembered.last_retrieved_at
    assert remembered.last_helpful_at is not None
    assert remembered.last_helpful_at < remembered.last_accepted_at  # failed last time


def test_decay_halves_evidence_every_half_life() -> None:
    from mtl_tui.memory.rank import decay

    assert decay(0, 90) == 1.0 and decay(90, 90) == pytest.approx(0.5)
    assert decay(270, 90) == pytest.approx(0.125) and decay(1000, None) == 1.0


# -- prune candidates ------------------------------------------------------------------------


def links_table(store: MemoryStore, rows: list[tuple[int, int, str]]) -> None:
    """Links as distillation-as-operations records them (memory_links, schema step 4)."""
    with store.db.write() as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS memory_links (id INTEGER PRIMARY KEY, "
            "src INTEGER REFERENCES memories (id) ON DELETE CASCADE, "
            "dst INTEGER REFERENCES memories (id) ON DELETE CASCADE, "
            "relation TEXT NOT NULL, run TEXT, created_at TEXT NOT NULL DEFAULT '')"
        )
        conn.executemany(
            "INSERT INTO memory_links (src, dst, relation, created_at) VALUES (?, ?, ?, '')",
            [*rows, (rows[0][0], None, "adds")],  # an add names no target
        )


def made_up_history(store: MemoryStore) -> dict[str, int]:
    """Ten months of a pool's life: each memory earns (or loses) its place differently."""
    clock = Clock()
    store.clock = clock
    titles = {
        "forgotten": "Cache compiled templates between requests",
        "loser": "Retry flaky network calls three times before failing",
        "downvoted": "Prefer tabs over spaces in every file",
        "refined": "Check the lock file after upgrading dependencies",
        "refiner": "Rebuild from a clean checkout after changing dependency versions",
        "pin": "Pin the dependency when a build breaks after an upgrade",
        "upgrade": "Upgrade the rest instead of pinning when a build breaks",
        "healthy": "Read the failing test before editing the code",
    }
    ids = {}
    for name, title in titles.items():
        memory = insight(title)
        memory.created_at = memory.updated_at = clock()
        ids[name] = store.add(memory).id
    assert len(set(ids.values())) == len(titles)  # no near-duplicates merged
    clock.days(30)
    uses(store, clock, ids["loser"], "ffsfff", "loser")
    uses(store, clock, ids["pin"], "ff", "pin")
    uses(store, clock, ids["upgrade"], "sss", "upgrade")
    for name in ("refined", "refiner"):
        uses(store, clock, ids[name], "s", name)
    store.vote(ids["downvoted"], up=False)
    store.vote(ids["downvoted"], up=False)
    clock.days(240)  # eight months on: only the healthy one is still used
    uses(store, clock, ids["healthy"], "sss", "healthy")
    uses(store, clock, ids["refiner"], "s", "refiner-late")
    links_table(
        store,
        [(ids["refiner"], ids["refined"], "refines"), (ids["upgrade"], ids["pin"], "contradicts")],
    )
    return ids


def test_prune_lists_each_candidate_with_its_reason(store: MemoryStore) -> None:
    ids = made_up_history(store)
    report = prune.candidates(store, unused_months=6, half_life_days=90)
    found = {c.memory.id: set(c.codes) for c in report.candidates}
    # "unused" needs 10 runs since the memory was last used: refined, pin and upgrade were
    # last used on days 37-41 and only 5-9 runs came after them in eight months
    assert found == {
        ids["forgotten"]: {"unused"},
        ids["loser"]: {"unused", "losing"},
        ids["downvoted"]: {"unused", "voted-down"},
        ids["refined"]: {"superseded"},
        ids["pin"]: {"contradicted"},
    }
    reasons = {c.memory.id: c.reasons for c in report.candidates}
    assert "never used, added 9 months ago (17 runs since)" in reasons[ids["forgotten"]]
    assert "not used for 8 months (11 runs since)" in reasons[ids["loser"]]
    assert any("accepted in 6 finished runs, helped in 1 (" in r for r in reasons[ids["loser"]])
    assert f"superseded by #{ids['refiner']}, which refines it" in reasons[ids["refined"]]
    assert any(f"contradicted by #{ids['upgrade']}" in r for r in reasons[ids["pin"]])
    assert report.not_checked == []
    # a shorter idle time lists fewer: "unused" is about months, not about runs
    recent = prune.candidates(store, unused_months=12, half_life_days=90)
    assert {c.memory.id for c in recent.candidates} == {
        ids["loser"],
        ids["downvoted"],
        ids["refined"],
        ids["pin"],
    }


def test_unused_means_idle_while_the_pool_was_in_use(store: MemoryStore) -> None:
    clock = Clock()
    store.clock = clock
    made = []
    for title in (
        "Cache compiled templates between requests",
        "Quote shell variables so paths with spaces do not split",
        "Read the failing test before editing the code",
    ):
        memory = insight(title)
        memory.created_at = memory.updated_at = clock()
        made.append(store.add(memory).id)
    idle, shown, busy = made
    clock.days(365)  # a year with nine runs: a new pool, or a user who rarely runs mtl
    uses(store, clock, busy, "s" * 9, "busy")
    assert prune.candidates(store, unused_months=6).candidates == []
    uses(store, clock, busy, "s", "tenth")
    # shown for a run but not accepted (an imported lesson the user did not take): it is
    # still relevant to the work coming in, so its clock restarts
    store.record_uses("shown", [shown], [], "success")
    [found] = prune.candidates(store, unused_months=6).candidates
    assert found.memory.id == idle and found.codes == ["unused"]
    assert found.reasons == ["never used, added 12 months ago (11 runs since)"]
    clock.days(200)
    uses(store, clock, busy, "s" * 10, "later")
    unused = {c.memory.id for c in prune.candidates(store, unused_months=6).candidates}
    assert unused == {idle, shown}


def test_a_lesson_that_went_stale_is_losing_once_old_wins_fade(store: MemoryStore) -> None:
    clock = Clock()
    store.clock = clock
    stale = store.add(insight("Pin the dependency when a build breaks after an upgrade")).id
    uses(store, clock, stale, "s" * 12, "then")  # a year of help
    clock.days(300)
    uses(store, clock, stale, "fffff", "now")  # and failures since
    assert prune.candidates(store, 12, half_life_days=None).candidates == []  # 12 of 17 won
    [found] = prune.candidates(store, 12, half_life_days=90).candidates
    assert found.codes == ["losing"] and "helped in 12 (" in found.reasons[0]


def test_prune_says_what_it_could_not_check(store: MemoryStore) -> None:
    store.add(insight("Read the failing test before editing the code"))
    with store.db.write() as conn:
        conn.execute("DROP TABLE memory_links")  # a shape prune cannot read
        conn.execute("CREATE TABLE memory_links (a INTEGER, b INTEGER)")
    report = prune.candidates(store)
    assert report.not_checked and "memory_links" in report.not_checked[0]


def pool_dump(path: Path) -> str:
    import sqlean

    conn = sqlean.connect(str(path))
    try:
        rows = {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in ("memories", "memory_uses", "memory_links", "memory_languages")
        }
    finally:
        conn.close()
    return json.dumps(rows, default=str)


def test_prune_dry_run_changes_nothing_and_delete_removes_exactly_the_candidates(
    store: MemoryStore,
) -> None:
    ids = made_up_history(store)
    expected = {c.memory.id for c in prune.candidates(store, 6, 90).candidates}
    store.close()
    # the command weighs at the real clock: the made-up history is months older still
    before, files = pool_dump(paths.pool_file()), pool_bytes()

    listed = run_mtl("memory", "prune", "--json")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["dry_run"] and data["deleted"] == []
    listed_ids = {c["id"] for c in data["candidates"]}
    assert expected <= listed_ids and ids["healthy"] not in listed_ids
    assert pool_dump(paths.pool_file()) == before and pool_bytes() == files

    refused = run_mtl("memory", "prune", "--delete")  # no terminal to ask on
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert pool_dump(paths.pool_file()) == before

    said_no = prune_on_a_terminal("n")
    assert said_no.returncode == 1 and pool_dump(paths.pool_file()) == before

    said_yes = prune_on_a_terminal("y")
    assert said_yes.returncode == 0, said_yes.stdout
    with _open() as after:
        left = {m.id for m in after.list()}
        assert left == set(ids.values()) - listed_ids
        links = after.db.execute("SELECT src, dst FROM memory_links").fetchall()
        assert all(a in left and b in left for a, b in links if b is not None)
        orphans = after.db.execute(
            "SELECT count(*) FROM memory_uses WHERE memory_id NOT IN (SELECT id FROM memories)"
        ).fetchone()[0]
        assert orphans == 0
        assert (
            after.search("read the failing test first", k=3, view=View())[0].memory.id
            == (ids["healthy"])
        )


class _open:
    def __enter__(self) -> MemoryStore:
        from mtl_tui.memory.embed import make_embedder

        self.store = MemoryStore.open(embedder=make_embedder(load_settings().embedding_model))
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()


def pool_bytes() -> dict[str, str | None]:
    pool = paths.pool_file()
    return {
        suffix: hashlib.sha256(Path(f"{pool}{suffix}").read_bytes()).hexdigest()
        if Path(f"{pool}{suffix}").exists()
        else None
        for suffix in ("", "-wal")
    }


def prune_on_a_terminal(answer: str) -> subprocess.CompletedProcess[str]:
    """`mtl memory prune --delete` with a terminal as stdin, answering the question."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtl_tui", "memory", "prune", "--delete"],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
        text=True,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    assert proc.stderr is not None
    while b"Delete these" not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 1.0)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    os.write(master, f"{answer}\n".encode())
    stdout, stderr = proc.communicate(timeout=120)
    os.close(master)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, seen.decode() + stderr)


# -- scopes ------------------------------------------------------------------------------------


def a_repo(tmp_path: Path, name: str) -> Path:
    repo = tmp_path / name
    repo.mkdir()
    (repo / "README.md").write_text(f"# {name}\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", f"start {name}")
    return repo


def mtl_in(repo: Path, *args: str, env: dict[str, str] | None = None):
    here = Path.cwd()
    os.chdir(repo)
    try:
        return run_mtl(*args, env=env)
    finally:
        os.chdir(here)


PROJECT_LESSON = {
    "title": "Run the project's own make check target before committing",
    "description": "This repository's checks run through its make check target.",
    "content": "Run make check before committing; it lints and tests the whole tree.",
    "applies_when": "committing a change in this repository",
    "tags": ["workflow"],
    "scope": "project",
}


def test_identity_survives_a_move_and_ignores_credentials(tmp_path: Path) -> None:
    repo = a_repo(tmp_path, "alpha")
    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    shutil.copytree(repo, moved)
    assert identify(repo).key == identify(moved).key and identify(repo).how == "root-commit"
    assert identify(a_repo(tmp_path, "beta")).key != identify(repo).key
    assert normalise_remote("https://u:pw@GitHub.com/a/b.git") == "github.com/a/b"
    assert normalise_remote("git@github.com:a/b") == "github.com/a/b"


def test_a_project_lesson_learned_in_one_repository_never_reaches_another(
    tmp_path: Path, fake_openai: FakeOpenAI, store: MemoryStore
) -> None:
    # a global lesson far from the one learned (a near one would make distillation ask
    # the model how to edit the pool: that is tested with the operations)
    store.add(insight("Profile before optimising a slow database query"))
    store.close()
    alpha, beta = a_repo(tmp_path, "alpha"), a_repo(tmp_path, "beta")
    fake_openai.plans = [reply(DONE), reply(insights_reply(PROJECT_LESSON))]
    task = "commit the change after running the checks"
    ran = mtl_in(alpha, "run", task, "--model", MODEL, "--api-base", fake_openai.base_url,
                 "--yes", "--json", "--verify", "true", env={"OPENAI_API_KEY": ""})  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "view: global memories and alpha's own" in ran.stderr
    learned = json.loads(ran.stdout)["learned"]
    assert len(learned) == 1
    assert "scope" in fake_openai.requests[-1]["body"]["messages"][0]["content"]

    with _open() as pool:
        memory = pool.get(learned[0])
        assert memory.scope == "project" and memory.repo_key == identify(alpha).key
        cfg = load_settings()
        seen = {
            name: [h.memory.id for h in retrieve(pool, task, k=5, floor=-1,
                                                 view=view_for(repo, cfg)[0]).hits]
            for name, repo in (("alpha", alpha), ("beta", beta))
        }  # fmt: skip
        assert learned[0] in seen["alpha"] and learned[0] not in seen["beta"]
        assert len(seen["beta"]) == 1  # the global lesson still reaches every repository
        # the store refuses to show it to no repository at all
        assert learned[0] not in [h.memory.id for h in pool.search(task, k=5, view=View())]

    searched = mtl_in(beta, "memory", "search", task, "--floor", "-1", "--json")
    assert searched.returncode == 0, searched.stderr
    assert learned[0] not in [hit["id"] for hit in json.loads(searched.stdout)]
    assert "view: global memories and beta's own" in searched.stderr
    git(alpha, "config", "mtl.memory", "project")  # the search says what it leaves out
    searched = mtl_in(alpha, "memory", "search", task, "--floor", "-1")
    assert searched.returncode == 0, searched.stderr
    assert "view: alpha's own memories only; global memories are excluded" in searched.stderr
    assert ORDER_RULE in " ".join(searched.stdout.split())
    added = mtl_in(alpha, "memory", "add", "--title", "Keep the changelog in step")
    assert added.returncode == 0, added.stderr  # stored global, and told it is out of view
    assert "is global, and this repository reads only its own memories" in added.stderr
    git(alpha, "config", "--unset", "mtl.memory")

    made_global = mtl_in(beta, "memory", "rescope", str(learned[0]), "global")
    assert made_global.returncode == 0, made_global.stderr
    with _open() as pool:
        found = retrieve(pool, task, k=5, floor=-1, view=view_for(beta, load_settings())[0])
        assert learned[0] in [h.memory.id for h in found.hits]


def test_an_opted_out_repository_reads_and_writes_nothing(
    git_repo: Path, fake_openai: FakeOpenAI, store: MemoryStore
) -> None:
    from mtl_tui.config import save_setting

    store.add(insight("Append to files with >> so existing content survives", ["shell"]))
    store.close()
    save_setting("memory.floor", -1.0)
    git(git_repo, "config", "mtl.memory", "off")
    before = pool_bytes()
    fake_openai.plans = [reply(bash("echo note >> notes.txt")), reply(DONE),
                         reply(insights_reply(PROJECT_LESSON))]  # fmt: skip
    ran = mtl_in(git_repo, "run", "append a line to the notes file", "--model", MODEL,
                 "--api-base", fake_openai.base_url, "--yes", "--json",
                 "--verify", "test -s notes.txt", env={"OPENAI_API_KEY": ""})  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert summary["retrieved"] == [] and summary["learned"] == []
    assert summary["outcome"] == "success"
    assert "Memory items" not in fake_openai.system_prompts()[0]
    assert len(fake_openai.requests) == 2  # the agent's two turns; no distillation call
    assert "memory: off for this repository" in ran.stderr
    assert pool_bytes() == before  # byte-identical, WAL included
    from mtl_tui.cli.doctor import _check_repository

    here = Path.cwd()
    os.chdir(git_repo)
    try:
        assert "off: mtl reads and writes nothing" in _check_repository(load_settings()).detail
    finally:
        os.chdir(here)


def test_project_only_repository_sees_only_its_own_and_keeps_what_it_learns(
    tmp_path: Path, fake_openai: FakeOpenAI, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mtl_tui.session import Session

    alpha = a_repo(tmp_path, "alpha")
    git(alpha, "config", "mtl.memory", "project")
    key = identify(alpha).key
    shared = store.add(insight("Run the whole test suite before committing a change")).id
    own = insight("Run make check in this repository before committing")
    own.scope, own.repo_key = "project", key
    mine = store.add(own).id
    cfg = load_settings({"model": MODEL, "api_base": fake_openai.base_url})
    cfg.memory.floor = -1.0
    cfg.memory.screen = False  # the replies planned are the agent's
    global_lesson = {**PROJECT_LESSON, "scope": "global", "title": "Commit small changes often"}
    # the repository's own project memory is a neighbour of the new lesson (another
    # repository's would not be), so distillation asks for an operation: add it
    add = json.dumps({"operations": [{"op": "add", "lesson": "C1"}]})
    fake_openai.plans = [reply(DONE), reply(insights_reply(global_lesson)), reply(add)]
    monkeypatch.setenv("OPENAI_API_KEY", "")
    session = Session(cfg, alpha, store=store, yes=True)
    hits = session.retrieve("commit after running the checks", k=5)
    assert [h.memory.id for h in hits] == [mine] and shared not in [h.memory.id for h in hits]
    summary = session.run("commit after running the checks", hits, hits, verify="true")
    assert summary.outcome == "success" and len(summary.learned) == 1
    kept = store.get(summary.learned[0])
    assert kept.scope == "project" and kept.repo_key == key  # the model said global
    assert store.get(mine).last_helpful_at is not None
    edit_prompt = fake_openai.system_prompts()[-1]  # the neighbours the model was shown
    assert "Run make check in this repository" in edit_prompt
    assert "Run the whole test suite" not in edit_prompt


# -- the TUI: rescope in the review and the browser, health in the browser --------------------


async def test_review_and_browser_rescope_and_the_browser_shows_health(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    from mtl_tui.ui.screens import MemoryDetail
    from mtl_tui.ui.widgets import ReviewItem, ReviewList
    from tests.tuikit import SIZE, bar, make_app, open_browser, ready, shown_text, until

    app = make_app(git_repo, [DONE, insights_reply(dict(PROJECT_LESSON, scope="global"))],
                   tmp_path, yolo=True)  # fmt: skip
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press(*"commit after the checks", "enter")
        await until(pilot, lambda: bar(app) is not None)
        await pilot.press("y")  # it succeeded
        await until(pilot, lambda: app.query("ReviewList ListView:focus"))
        review = app.query_one(ReviewList)

        def mark() -> str:
            return shown_text(app.query_one(ReviewItem).body, width=200)

        assert "[global]" in mark() and "[project" not in mark()
        await pilot.press("s")  # the model said global; the user knows better
        assert "project: only in shop" in mark() and "[global" not in mark()
        await pilot.press("s")  # back to global: that says so too
        assert "[global]" in mark()
        await pilot.press("s")
        assert "project: only in shop" in mark()
        await pilot.press("enter")
        await until(pilot, lambda: app.last_summary is not None)
        assert review.answered
        [learned] = app.last_summary.learned  # type: ignore[union-attr]
        store = app.store
        assert store is not None
        assert store.get(learned).scope == "project"
        assert store.get(learned).repo_key == identify(git_repo).key

        browser = await open_browser(pilot, 4)
        row = [m.id for m in browser.rows].index(learned)
        table = browser.query_one("DataTable")
        table.focus()  # the browser opens on its search box
        assert table.get_row_at(row)[5] == "proj"  # type: ignore[attr-defined]
        accepted = [m.id for m in browser.rows].index(pool[0])
        used, last = table.get_row_at(accepted)[3:5]  # type: ignore[attr-defined]
        assert used == "1 100%" and last in ("now", "<1h")  # used moments ago: never "0h"
        table.move_cursor(row=row)  # type: ignore[attr-defined]
        await pilot.press("s")
        assert store.get(learned).scope == "global"
        assert table.get_row_at(row)[5] == "glob"  # type: ignore[attr-defined]
        table.move_cursor(row=accepted)  # type: ignore[attr-defined]
        await pilot.press("enter")
        assert isinstance(app.screen, MemoryDetail)
        shown = str(app.screen.query_one("Static").render())
        assert "win rate: 100% of 1 finished run\n" in shown and "last helpful: 20" in shown


def test_rescoping_to_a_project_outside_any_repository_is_refused(
    store: MemoryStore, tmp_path: Path
) -> None:
    memory_id = store.add(insight("Read the failing assertion before the stack trace")).id
    nowhere = tmp_path / "not-a-repo"
    nowhere.mkdir()
    refused = mtl_in(nowhere, "memory", "rescope", str(memory_id), "project")
    assert refused.returncode == 2
    assert "is not in a git repository" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert store.get(memory_id).scope == "global"  # nothing changed


def test_a_search_refused_in_an_opted_out_repository_exits_cleanly(
    git_repo: Path, store: MemoryStore
) -> None:
    # The refusal comes while the embedding model is still loading in its thread; the
    # process must still end with its own exit code, not abort in native code (134).
    store.add(insight("Quote shell variables so paths with spaces survive", ["shell"]))
    git(git_repo, "config", "mtl.memory", "off")
    for _ in range(2):
        refused = mtl_in(git_repo, "memory", "search", "quote shell variables")
        assert refused.returncode == 2, refused.stderr
        assert "memory is off for this repository" in refused.stderr
        assert "terminate called" not in refused.stderr
