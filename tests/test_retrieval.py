"""Retrieval that earns its place: whole-lesson matching, the relevance floor, the
forward migration of pools made by the first release, dedup on title vectors, and the
eval material kept with the tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mtl_tui.config import DEFAULT_FLOOR, Settings
from mtl_tui.memory import db as dbmod
from mtl_tui.memory import packs
from mtl_tui.memory.rank import RELATIVE_CUT
from mtl_tui.memory.retrieve import Retrieval, retrieve
from mtl_tui.memory.store import MemoryStore
from mtl_tui.records import EMBEDDING_SCHEME, Memory, retrieval_text
from mtl_tui.session import Session
from tests.conftest import run_mtl, script_file
from tests.tuikit import SIZE, make_app, ready, type_task, until

DATA = Path(__file__).parent / "data"

LESSONS = [
    {
        "title": "Protect shared mutable state from concurrent access",
        "description": "Data races corrupt state silently and only show up under load.",
        "content": "Guard state shared by threads or goroutines with a lock, or give it one "
        "owner; run the race detector to confirm.",
        "applies_when": "threads or goroutines share a map or counter, or a race detector "
        "reports a data race",
        "not_when": "single-threaded code",
    },
    {
        "title": "Find where NaN first appears when training diverges",
        "description": "A NaN loss comes from bad data, a too high learning rate or an "
        "unsafe operation.",
        "content": "Check inputs for NaN, lower the learning rate or clip gradients, and "
        "find the first bad operation.",
        "applies_when": "model training produces NaN or infinite loss",
    },
    {
        "title": "Make installs non-interactive in scripts, containers and CI",
        "description": "A prompt waiting for input hangs an unattended build forever.",
        "content": "Pass the tool's yes flags and set the frontend to noninteractive.",
        "applies_when": "a Docker build or CI job hangs at an install or configuration prompt",
    },
]
UNRELATED_TASK = "Add a dark mode toggle to the settings page that remembers the user's choice"
RACE_TASK = "The program crashes with fatal error: concurrent map writes from goroutines"


def lessons() -> list[Memory]:
    return [Memory(kind="insight", fields=dict(f), languages=["go"]) for f in LESSONS]


# -- the floor ----------------------------------------------------------------------------


def test_the_floor_returns_nothing_when_nothing_fits(store: MemoryStore) -> None:
    store.add_many(lessons())
    found = retrieve(store, UNRELATED_TASK, k=3, floor=DEFAULT_FLOOR)
    assert found.hits == []
    assert 1 <= len(found.below) <= 3  # the candidates exist, under the floor
    assert all(h.relevance is not None and h.relevance < DEFAULT_FLOOR for h in found.below)
    fitting = retrieve(store, RACE_TASK, k=3, floor=DEFAULT_FLOOR)
    assert [h.memory.fields["title"] for h in fitting.hits] == [LESSONS[0]["title"]]
    assert retrieve(store, UNRELATED_TASK, k=3, floor=-1.0).hits  # no floor: top-k filled


def test_a_headless_run_gets_nothing_when_nothing_fits(
    store: MemoryStore, git_repo: Path, tmp_path: Path
) -> None:
    store.add_many(lessons())
    store.close()
    model = script_file(tmp_path, ["Nothing to do.\n```bash\necho MTL_TASK_COMPLETE\n```"])
    result = run_mtl("run", UNRELATED_TASK, "--model", model, "--yes", "--no-learn", "--json")
    summary = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr
    assert summary["retrieved"] == [] and summary["accepted"] == []
    searched = run_mtl("memory", "search", UNRELATED_TASK, "--json")
    assert json.loads(searched.stdout) == [], searched.stderr
    everything = run_mtl("memory", "search", UNRELATED_TASK, "--floor", "-1", "--json")
    assert len(json.loads(everything.stdout)) == 3


def test_session_and_search_agree(store: MemoryStore, git_repo: Path) -> None:
    store.add_many(lessons())
    session = Session(Settings(), git_repo, store=store)
    for task in (UNRELATED_TASK, RACE_TASK):
        shown = session.retrieval(task)
        assert [h.memory.id for h in session.retrieve(task)] == [h.memory.id for h in shown.hits]
        assert not {h.memory.id for h in shown.hits} & {h.memory.id for h in shown.below}


async def test_the_panel_hides_below_floor_items_until_asked(
    store: MemoryStore, git_repo: Path, tmp_path: Path
) -> None:
    store.add_many(lessons())
    store.close()
    app = make_app(git_repo, None, tmp_path, floor=DEFAULT_FLOOR)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await until(pilot, lambda: app.session is not None and app.session.store is not None)
        await until(pilot, lambda: app.session.store.embedder is not None)  # type: ignore[union-attr]
        panel = await type_task(pilot, UNRELATED_TASK)
        await until(pilot, lambda: bool(panel.below))
        assert panel.items == [] and panel.accepted_hits() == [] and panel.hits == []
        await pilot.press("tab")  # into the panel
        await pilot.press("b")
        await until(pilot, lambda: len(panel.items) == len(panel.below))
        assert all(item.below_floor and not item.accepted for item in panel.items)
        assert panel.accepted_hits() == [] and panel.hits == []  # never pre-accepted
        assert all(item.has_class("below-floor") for item in panel.items)


# -- what is embedded, and the migration ---------------------------------------------------


def test_the_whole_lesson_is_embedded_and_not_when_is_not() -> None:
    text = retrieval_text("insight", LESSONS[0])
    assert LESSONS[0]["description"] in text and "race detector reports" in text
    assert "single-threaded" not in text
    memory = Memory(kind="insight", fields=dict(LESSONS[0]))
    assert memory.dedup_text == LESSONS[0]["title"]


def _first_release_pool(path: Path, embedder: object, memories: list[Memory]) -> None:
    """A pool as the first release wrote it (schema 2, title vectors in memory_vec, no
    dedup index, no full-text index, no recorded scheme): its SQL, replayed."""
    module, _ = dbmod.choose_driver()
    conn = module.connect(str(path), isolation_level=None)
    dbmod.load_vec(conn)
    conn.execute("BEGIN")
    dbmod._v1(conn)
    dbmod._v2(conn)
    conn.execute(
        "CREATE VIRTUAL TABLE memory_vec USING vec0(memory_id INTEGER PRIMARY KEY, "
        "embedding float[384] distance_metric=cosine, kind TEXT, net_votes INTEGER)"
    )
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('embedding_model', 'all-MiniLM-L6-v2'), "
        "('embedding_dim', '384')"
    )
    vectors = embedder.embed([m.dedup_text for m in memories])  # type: ignore[attr-defined]
    for i, (memory, vector) in enumerate(zip(memories, vectors, strict=True), start=1):
        conn.execute(
            "INSERT INTO memories (id, kind, fields, content_hash, tags, languages, created_at, "
            "updated_at, up) VALUES (?, 'insight', ?, ?, '[]', '[\"go\"]', 'then', 'then', ?)",
            (i, json.dumps(memory.fields), memory.content_hash, i - 1),
        )
        conn.execute("INSERT INTO memory_languages VALUES (?, 'go')", (i,))
        conn.execute(
            "INSERT INTO memory_vec VALUES (?, ?, 'insight', ?)",
            (i, np.asarray(vector, dtype=np.float32).tobytes(), i - 1),
        )
    conn.execute("PRAGMA user_version = 2")
    conn.execute("COMMIT")
    conn.close()


def test_a_pool_from_the_first_release_migrates_forward_losing_nothing(
    tmp_path: Path, embedder: object
) -> None:
    path = tmp_path / "old.sqlite"
    old = [Memory(kind="insight", fields={k: v for k, v in f.items() if "when" not in k})
           for f in LESSONS]  # fmt: skip
    _first_release_pool(path, embedder, old)
    store = MemoryStore.open(path, embedder=embedder)  # type: ignore[arg-type]
    try:
        assert store.needs_upgrade() and store.recorded_scheme() == "title-v0"
        seen: list[tuple[int, int]] = []
        assert store.upgrade(lambda done, total: seen.append((done, total))) == 3
        assert seen and seen[-1] == (3, 3)  # progress reported
        assert not store.needs_upgrade() and store.recorded_scheme() == EMBEDDING_SCHEME
        kept = store.list()
        assert sorted(m.fields["title"] for m in kept) == sorted(f["title"] for f in LESSONS)
        assert {m.id: m.up for m in kept} == {1: 0, 2: 1, 3: 2}  # votes kept
        hits = store.search("training loss turns into nan after a few epochs", k=1)
        assert hits[0].memory.fields["title"] == LESSONS[1]["title"]
        # Dedup still compares titles: a rewording merges into the migrated memory.
        again = store.add(
            Memory(
                kind="insight",
                fields={
                    "title": "Make installs non-interactive in containers, scripts and CI",
                    "description": "Prompts hang unattended builds.",
                    "content": "Use yes flags.",
                },
            )
        )
        assert again.merged and again.id == 3
        assert store.count() == 3
    finally:
        store.close()
    assert dbmod.SCHEMA_VERSION >= 3  # later steps are appended after the one tested here


# -- dedup on titles, with whole lessons ------------------------------------------------------


def test_dedup_merges_rewordings_and_keeps_lessons_on_one_topic_apart(store: MemoryStore) -> None:
    first = store.add(Memory(kind="insight", fields=dict(LESSONS[0])))
    reworded = store.add(
        Memory(
            kind="insight",
            fields={
                "title": "Protect mutable shared state from concurrent access",
                "description": "Races between threads corrupt data.",
                "content": "Use a mutex or channel ownership for anything two threads touch.",
            },
        )
    )
    assert reworded.merged and reworded.id == first.id
    near = store.add(
        Memory(
            kind="insight",
            fields={
                "title": "Avoid deadlocks by always taking locks in the same order",
                "description": "Data races corrupt state silently and only show up under load.",
                "content": "Guard state shared by threads or goroutines with a lock.",
            },
        )
    )
    assert near.created and near.id != first.id


# -- packs with vectors from the old scheme ----------------------------------------------------


def test_a_pack_with_old_scheme_vectors_is_re_embedded(
    store: MemoryStore, tmp_path: Path, embedder: object
) -> None:
    memory = Memory(kind="insight", fields=dict(LESSONS[1]))
    title_vector = embedder.embed([memory.dedup_text])[0]  # type: ignore[attr-defined]
    item = {
        "id": packs.item_id(memory),
        "kind": "insight",
        "fields": memory.fields,
        "embedding": packs.encode_vector(title_vector),
    }
    pack = {
        "format": "mtl-insight-pack",
        "version": 1,
        "name": "old",
        "created_at": "2026-11-01T00:00:00+00:00",
        "mtl_version": "0.1.0",
        "embedding": {"model": "all-MiniLM-L6-v2", "dim": 384},  # no scheme: the first one
        "items": [item],
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(pack))
    report = packs.import_pack(store, path)
    assert report.reembedded and len(report.added) == 1
    stored = store.vectors(report.added)[report.added[0]]
    expected = embedder.embed([memory.embedded_text])[0]  # type: ignore[attr-defined]
    assert float(stored @ expected) > 0.999 and float(stored @ title_vector) < 0.99
    exported = packs.build(store, store.list(), "again", with_embeddings=True)
    assert exported["embedding"]["scheme"] == EMBEDDING_SCHEME


# -- eval material and the starter judgement ------------------------------------------------


def test_the_eval_set_is_real_labelled_and_split() -> None:
    tasks = json.loads((DATA / "retrieval" / "tasks.json").read_text())["tasks"]
    starter = json.loads(packs.starter_path().read_text())["items"]
    extra = json.loads((DATA / "retrieval" / "distractors.json").read_text())["insights"]
    titles = {i["fields"]["title"] for i in starter} | {i["fields"]["title"] for i in extra}
    assert len(tasks) >= 60 and len(titles) >= 80
    assert len({t["language"] for t in tasks}) >= 6
    assert all(t["source"].startswith("https://") for t in tasks)
    assert all(set(t["relevant"]) <= titles for t in tasks)
    report = [t for t in tasks if t["split"] == "report"]
    assert sum(not t["relevant"] for t in report) >= 10
    assert {t["split"] for t in tasks} == {"tune", "report"}


BLIND_SETS = ("blind", "blind2", "blind3", "blind4", "blind5")


def _blind() -> list[dict]:
    return json.loads((DATA / "retrieval" / "blind.json").read_text())["tasks"]


@pytest.mark.parametrize("position", range(len(BLIND_SETS)), ids=BLIND_SETS)
def test_each_blind_set_is_real_labelled_and_new(position: int) -> None:
    """A blind set is at least 40 real tasks in 6 languages, 10 with nothing relevant,
    labelled with titles of the eval pool, and shares no source or task text with the
    tuning sets or any earlier blind set."""
    name = BLIND_SETS[position]
    blind = json.loads((DATA / "retrieval" / f"{name}.json").read_text())["tasks"]
    earlier = json.loads((DATA / "retrieval" / "tasks.json").read_text())["tasks"]
    for before in BLIND_SETS[:position]:
        earlier += json.loads((DATA / "retrieval" / f"{before}.json").read_text())["tasks"]
    starter = json.loads(packs.starter_path().read_text())["items"]
    extra = json.loads((DATA / "retrieval" / "distractors.json").read_text())["insights"]
    titles = {i["fields"]["title"] for i in starter} | {i["fields"]["title"] for i in extra}
    assert len(blind) >= 40 and sum(not t["relevant"] for t in blind) >= 10
    assert len({t["language"] for t in blind}) >= 6
    assert all(t["source"].startswith(("https://", "http://")) for t in blind)
    assert all(set(t["relevant"]) <= titles for t in blind)
    assert len({t["id"] for t in blind}) == len(blind)
    assert not {t["source"] for t in blind} & {t["source"] for t in earlier}
    assert not {t["task"] for t in blind} & {t["task"] for t in earlier}


def test_every_starter_insight_says_when_it_applies_and_when_not() -> None:
    items = json.loads(packs.starter_path().read_text())["items"]
    assert all(i["fields"].get("applies_when") and i["fields"].get("not_when") for i in items)


def test_the_starter_judgement_the_relative_cut_and_the_blind_floor(store: MemoryStore) -> None:
    """One pool for three checks, since embedding the pack is the slow part: (1) the
    judged items are what the shipped pack retrieves; (2) items dropped by the relative
    cut are held back in `below`, not lost; (3) with the eval pool (pack + distractors),
    the blind set's tasks with nothing relevant get nothing for at least 10 of 12
    (measured 11 of 12 with the first defaults, 10 of 12 with those chosen on all three
    sets; the issue's target is 8 of 10). The judgement is of what ships: the floor it
    was made at is the default one."""
    judged = json.loads((DATA / "starter_judgement.json").read_text())
    assert len(judged["tasks"]) == 30 and judged["floor"] == DEFAULT_FLOOR
    packs.import_starter(store)
    for task in judged["tasks"]:
        assert task["source"].startswith("https://")
        found = retrieve(store, task["query"], k=3, floor=judged["floor"])
        assert [h.memory.fields["title"] for h in found.hits] == [
            item["title"] for item in task["items"]
        ], task["task"]
        _held_back_not_lost(store, task, found, judged["floor"])
    # The independent reviewer's marks: at least half useful, none misleading.
    marks = [item["mark"] for task in judged["tasks"] for item in task["items"]]
    assert set(marks) <= {"useful", "neutral", "misleading"}
    assert "misleading" not in marks
    assert marks.count("useful") >= len(marks) / 2
    assert sum(bool(t.get("no_longer_injected")) for t in judged["tasks"]) >= 1

    extra = json.loads((DATA / "retrieval" / "distractors.json").read_text())["insights"]
    store.add_many([Memory(kind="insight", fields=item["fields"]) for item in extra])
    nothing = [t for t in _blind() if not t["relevant"]]
    empty = [
        t["id"]
        for t in nothing
        if not retrieve(store, f"{t['task']} ({t['language']})", 3, floor=DEFAULT_FLOOR).hits
    ]
    assert len(nothing) == 12 and len(empty) >= 10, empty


def _held_back_not_lost(store: MemoryStore, task: dict, found: Retrieval, floor: float) -> None:
    dropped = task.get("no_longer_injected", [])
    if not dropped:
        return
    best = max(h.relevance or 0.0 for h in found.hits)
    held = {h.memory.fields["title"]: h.relevance or 0.0 for h in found.below}
    for item in dropped:
        assert floor <= held[item["title"]] < best - RELATIVE_CUT
    everything = retrieve(store, task["query"], k=3, floor=-1.0)  # the floor off: no cut
    shown = [h.memory.fields["title"] for h in everything.hits]
    assert all(item["title"] in shown for item in dropped)


def test_the_floor_is_a_setting_with_a_clear_error(tmp_path: Path) -> None:
    from mtl_tui.config import load_settings
    from mtl_tui.errors import ConfigError

    assert 0.0 < Settings().memory.floor == DEFAULT_FLOOR < 1.0
    config = tmp_path / "config.toml"
    config.write_text("[memory]\nfloor = 0.3\n")
    assert load_settings(path=config).memory.floor == 0.3
    config.write_text("[memory]\nfloor = 2\n")
    with pytest.raises(ConfigError, match=r"memory\.floor"):
        load_settings(path=config)


def test_a_held_back_candidate_names_the_cut_that_held_it_back(store: MemoryStore) -> None:
    from mtl_tui.memory.retrieve import BELOW_FLOOR, HELD_BACK
    from tests.conftest import insight

    # one lesson that fits the task closely, one above the floor but far below it, one
    # unrelated: the real model's relevances decide which cut holds each back
    store.add_many([
        insight("Quote shell variables so paths with spaces do not split", ["shell"]),
        insight("Check a shell script with shellcheck before running it", ["shell"]),
        insight("Profile a slow SQL query with EXPLAIN ANALYZE", ["sql"]),
    ])  # fmt: skip
    found = retrieve(store, "my bash script breaks on folder names with spaces", k=3,
                     floor=0.2)  # fmt: skip
    assert found.cut is not None and found.floor == 0.2
    reasons = {item.hit.memory.title: item for item in found.left_out_all()}
    assert reasons, "the task should hold something back"
    for item in reasons.values():
        relevance = item.hit.relevance or 0.0
        expected = HELD_BACK if relevance >= 0.2 else BELOW_FLOOR
        assert item.reason == expected, (item.reason, relevance)
        assert f"{relevance:.2f}" in item.detail
    assert {item.reason for item in reasons.values()} == {HELD_BACK, BELOW_FLOOR}
