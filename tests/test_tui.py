"""The real Textual app under App.run_test(), driven by the scripted model."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from mtl_tui import paths
from mtl_tui.config import Settings, load_settings
from mtl_tui.memory.embed import DefaultModelEmbedder
from mtl_tui.memory.store import MemoryStore
from mtl_tui.repo.git import GitRepo
from mtl_tui.ui.screens import (
    ConfirmScreen,
    EditMemoryScreen,
    ExportScreen,
    MemoryBrowser,
    MemoryDetail,
    TextScreen,
)
from mtl_tui.ui.widgets import (
    ApprovalBar,
    OutputBlock,
    PromptArea,
    ReviewList,
    StatusLine,
)
from tests.conftest import DONE, bash
from tests.test_learning import LESSON, insights_reply
from tests.tuikit import SIZE, TITLES, bar, make_app, open_browser, ready, type_task, until


def notices(app: object) -> list[str]:
    return [n.message for n in app._notifications]  # type: ignore[attr-defined]


# -- start-up -------------------------------------------------------------------------


async def test_a_project_only_repository_says_global_memories_are_excluded(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    from tests.conftest import git

    git(git_repo, "config", "mtl.memory", "project")
    app = make_app(git_repo, [DONE], tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await until(pilot, lambda: any("view:" in n for n in notices(app)))
        [line] = [n for n in notices(app) if n.startswith("view:")]
        assert line == (
            f"view: {git_repo.name}'s own memories only; global memories are excluded "
            "(git config mtl.memory project)"
        )


async def test_first_frame_does_not_wait_for_the_models(
    git_repo: Path, pool: list[int], tmp_path: Path, slow_models: threading.Event
) -> None:
    app = make_app(git_repo, [DONE], tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        status = app.query_one(StatusLine)
        assert not app.ready and status.state == "loading models…"
        await until(pilot, lambda: status.pool == 3)  # the pool opens before the models load
        slow_models.set()
        await ready(pilot)
        assert status.state == "ready" and status.pool == 3
        assert (status.repo, status.branch) == ("shop", "main")
        assert app.store is not None and app.store.embedder is not None


@pytest.fixture
def slow_models(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Hold the embedding model's loading until the test releases it."""
    release = threading.Event()
    original = DefaultModelEmbedder.load

    def held(self: DefaultModelEmbedder) -> None:
        assert release.wait(60)
        original(self)

    monkeypatch.setattr(DefaultModelEmbedder, "load", held)
    return release


async def test_a_task_typed_while_loading_starts_once_ready(
    git_repo: Path, pool: list[int], tmp_path: Path, slow_models: threading.Event
) -> None:
    app = make_app(git_repo, [DONE, insights_reply()], tmp_path, yolo=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"say done", "enter")
        assert not app.ready and not app.running and app.pending_task == "say done"
        assert app.query_one(StatusLine).state == "loading models…"
        slow_models.set()
        await until(pilot, lambda: bar(app) is not None)
        await pilot.press("y")  # it succeeded
        await until(pilot, lambda: app.last_summary is not None)
        assert app.last_summary.completed  # type: ignore[union-attr]


async def test_without_a_model_the_app_opens_and_explains(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    app = make_app(git_repo, None, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        panel = await type_task(pilot, "tests fail after my change")
        assert len(panel.items) == 3  # memory works without a model
        await pilot.press("enter")
        await pilot.pause()
        notes = " ".join(str(n.render()) for n in app.query(".note"))
        assert "No model configured" in notes and "MTL_MODEL" in notes
        assert not app.running


# -- the insights panel ---------------------------------------------------------------


async def test_retrieval_follows_the_prompt_and_panel_keys_work(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    app = make_app(git_repo, [DONE], tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        panel = await type_task(pilot, "a bash script breaks on folder names with spaces")
        assert panel.items[0].hit.memory.title == TITLES[1][0]
        assert all(item.accepted for item in panel.items)  # shown insights start accepted
        assert "imported" not in str(panel.items[0].body.render())
        await pilot.press("tab")  # into the panel
        await pilot.press("x")
        assert [i.accepted for i in panel.items] == [False, True, True]
        await pilot.press("a")
        assert panel.items[0].accepted
        await pilot.press("plus", "plus", "minus")
        voted = app.store.get(panel.items[0].hit.memory.id)  # type: ignore[union-attr]
        assert (voted.up, voted.down) == (2, 1)
        assert "votes +1" in str(panel.items[0].body.render())
        await pilot.press("down", "enter")
        assert isinstance(app.screen, MemoryDetail)
        assert app.screen.memory.title == panel.items[1].hit.memory.title
        await pilot.press("escape")
        assert not isinstance(app.screen, MemoryDetail)


# -- a run ------------------------------------------------------------------------------


async def test_every_item_over_the_budget_says_so(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    from mtl_tui.config import save_setting

    save_setting("memory.budget_chars", 60)  # no insight's prompt line fits
    app = make_app(git_repo, [DONE], tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        panel = await type_task(pilot, "a bash script breaks on folder names with spaces")
        await until(pilot, lambda: len(panel.items) == 3)

        def all_marked() -> bool:
            texts = [str(item.body.render()) for item in panel.items]
            return len(texts) == 3 and all("over budget, not in the prompt" in t for t in texts)

        assert all_marked()
        assert "3 over budget" in str(app.query_one("#insights-counts").render())
        counts = str(app.query_one("#insights-counts").render())
        hint = str(app.query_one("#insights-hint").render())
        assert counts.endswith(" · none in the prompt") and "in the prompt" not in hint
        assert hint.startswith("all accepted are over the memory budget")
        assert not any(item.label for item in panel.items)  # no [M1]: none reaches the agent
        await pilot.press("tab", "b")  # the list is rebuilt: the marks stay
        await until(pilot, lambda: panel.show_below)
        await until(pilot, lambda: all(str(item.body.render()) for item in panel.items))
        assert all_marked()
        assert "none in the prompt" in str(app.query_one("#insights-counts").render())
        await pilot.press("x")  # a rejected item is not over budget
        assert not panel.items[0].accepted and panel.items[0].over_budget is None
        assert "over budget" not in str(panel.items[0].body.render())


async def test_confirm_mode_run_with_verdict_and_review(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    replies = [
        bash("rm -rf src", "Start over."),
        bash("echo original > note.txt"),
        bash("echo second > second.txt"),
        bash("echo third > third.txt"),
        bash("true"),
        DONE,
        insights_reply(LESSON, dict(LESSON, title="Keep notes of what each step checked")),
    ]
    app = make_app(git_repo, replies, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        panel = await type_task(pilot, "write notes about the cart module")
        # Tab visits only what is on screen (never the empty dock); ctrl+z says why not
        assert all(widget.region.area for widget in app.screen.focus_chain)
        await pilot.press("tab", "ctrl+z")
        assert "Nothing to undo" in notices(app)[-1]
        await pilot.press("x", "tab")  # reject [M1] before submitting
        assert isinstance(app.focused, PromptArea)
        rejected_id = panel.items[0].hit.memory.id
        rejected_title = panel.items[0].hit.memory.title
        await pilot.press("enter")
        # n: reject with a reason typed for the agent
        await until(pilot, lambda: bar(app, ApprovalBar))
        await pilot.press("ctrl+z")  # from the question too: it says why not, and waits
        assert "A run is in progress" in notices(app)[-1] and bar(app, ApprovalBar)
        await pilot.press("n", *"keep the sources", "enter")
        # e: edit the command
        await until(pilot, lambda: bar(app, ApprovalBar))
        await pilot.press("e")
        field = app.query("ApprovalBar Input").last()
        field.value = "echo edited > note.txt"
        await pilot.press("enter")
        # y: run as proposed
        await until(pilot, lambda: bar(app, ApprovalBar))
        await pilot.press("y")
        # Y: this one and all later ones
        await until(pilot, lambda: bar(app, ApprovalBar))
        await pilot.press("Y")
        # the verdict, then the review of what was learned
        await until(pilot, lambda: bar(app) is not None and not isinstance(bar(app), ApprovalBar))
        assert "Did it succeed" in bar(app).question  # type: ignore[union-attr]
        await pilot.press("y")
        await until(pilot, lambda: app.query("ReviewList ListView:focus"))
        review = app.query_one(ReviewList)
        await pilot.press("down", "d")  # discard the second
        await pilot.press("up", "e")  # edit the first
        assert isinstance(app.screen, EditMemoryScreen)
        title = app.screen.query_one("#field-title")
        await pilot.pause()
        assert app.screen.focused is title  # typing goes into the title at once, appended
        before = title.value
        await pilot.press(*" now")
        assert title.value == before + " now"
        title.value = "Run the narrowest failing test twice"
        await pilot.press("ctrl+s")
        await pilot.press("enter")
        await until(pilot, lambda: app.last_summary is not None)
        summary = app.last_summary
        assert summary is not None and summary.completed and review.answered
        assert (git_repo / "src" / "cart.py").exists()
        assert (git_repo / "note.txt").read_text() == "edited\n"
        assert (git_repo / "third.txt").exists()
        quiet = list(app.query(OutputBlock))[-2]  # `true`: no output, and the count agrees
        assert quiet.title == "exit 0 · no output"
        stat = str(app.query(".diff").last().render()).splitlines()  # one indent for all
        assert stat[0].startswith("note.txt") and stat[-1].startswith("3 files changed")
        # Y was for that run only: it ended with the run, and the status line says so
        assert app.session.approval.auto == "off"  # type: ignore[union-attr]
        assert app.query_one(StatusLine).auto == ""
        assert (summary.outcome, summary.outcome_source) == ("success", "user")
        assert rejected_id not in summary.accepted and rejected_id in summary.retrieved
        [learned] = summary.learned
        assert app.store.get(learned).title == "Run the narrowest failing test twice"  # type: ignore[union-attr]
        model = app.session.model()  # type: ignore[union-attr]
        assert "keep the sources" in model.calls[1][-1]["content"]
        system = model.calls[0][0]["content"]
        assert rejected_title not in system and "[M1]" in system
        assert "shop" in app.query_one(StatusLine).repo
        # d shows the full diff; ctrl+z undoes the run after a confirmation
        await pilot.press("ctrl+g")  # works with the prompt focused
        assert isinstance(app.screen, TextScreen) and "note.txt" in app.screen.body
        await pilot.press("escape")
        app.query_one("#insights-list").focus()  # ctrl+z works from any focus
        await pilot.press("ctrl+z")
        assert isinstance(app.screen, ConfirmScreen)
        started = datetime.fromtimestamp(GitRepo(git_repo).runs()[0].created)
        assert f"(started {started:%H:%M})" in app.screen.question  # which run it undoes
        await pilot.press("y")
        await pilot.pause()
        assert not (git_repo / "note.txt").exists()


async def test_rejecting_during_a_run_tells_the_agent(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    replies = [bash("true"), bash("true"), DONE, "PASS", insights_reply()]
    app = make_app(git_repo, replies, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        panel = await type_task(pilot, "tests fail after my change")
        await pilot.press("enter")
        await until(pilot, lambda: bar(app, ApprovalBar))
        approval = bar(app, ApprovalBar)
        panel.query_one("ListView").focus()
        await pilot.press("x")
        approval.focus()  # type: ignore[union-attr]
        await pilot.press("y")
        await until(pilot, lambda: bar(app, ApprovalBar))
        await pilot.press("Y")
        await until(pilot, lambda: bar(app) is not None and not isinstance(bar(app), ApprovalBar))
        await pilot.press("s")  # skip the verdict: the judge decides
        await until(pilot, lambda: app.last_summary is not None)
        model = app.session.model()  # type: ignore[union-attr]
        later = " ".join(m["content"] for m in model.calls[1])
        assert "rejected memory item [M1]" in later
        assert app.last_summary.outcome_source == "judge"  # type: ignore[union-attr]


async def test_esc_twice_interrupts_and_ctrl_c_twice_quits(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    app = make_app(git_repo, [bash("sleep 30"), DONE], tmp_path, yolo=True)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await type_task(pilot, "wait a long time")
        await pilot.press("enter")
        await until(pilot, lambda: app.query("CommandBlock"))
        started = time.monotonic()
        await pilot.press("escape")
        await pilot.pause()
        assert app.running  # the first press only shows a hint
        await pilot.press("escape")
        await until(pilot, lambda: app.last_summary is not None)
        assert time.monotonic() - started < 15
        assert app.last_summary.status == "interrupted"  # type: ignore[union-attr]
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.is_running
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert not app.is_running


async def test_ctrl_e_exports_a_pack(git_repo: Path, pool: list[int], tmp_path: Path) -> None:
    app = make_app(git_repo, [DONE], tmp_path)
    target = tmp_path / "team.json"
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+e")
        assert isinstance(app.screen, ExportScreen)
        app.screen.query_one("#export-path").value = str(target)
        app.screen.query_one("#export-path").focus()
        await pilot.press("enter")
        await until(pilot, target.exists)
    pack = json.loads(target.read_text())
    assert pack["format"] == "mtl-insight-pack"
    assert sorted(i["fields"]["title"] for i in pack["items"]) == sorted(t for t, _ in TITLES)


async def test_memory_browser(git_repo: Path, pool: list[int], tmp_path: Path) -> None:
    app = make_app(git_repo, [DONE], tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        browser = await open_browser(pilot, 3)
        search = browser.query_one("#browser-search")
        search.value = "slow SQL report"
        search.focus()
        await pilot.press("enter")
        await until(pilot, lambda: browser.rows and browser.rows[0].title == TITLES[2][0])
        browser.query_one("DataTable").focus()
        await pilot.press("plus")
        assert app.store.get(browser.rows[0].id).up == 1  # type: ignore[union-attr, arg-type]
        lang = browser.query_one("#browser-lang")
        lang.value = "shell"
        search.value = ""
        await until(pilot, lambda: [m.title for m in browser.rows] == [TITLES[1][0]])
        browser.query_one("DataTable").focus()
        await pilot.press("delete")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await until(pilot, lambda: browser.rows == [])
        assert app.store.count() == 2  # type: ignore[union-attr]
        await pilot.press("escape")
        assert not isinstance(app.screen, MemoryBrowser)


async def test_browser_export_takes_the_pool_as_pack_export_does(
    git_repo: Path, store: MemoryStore, tmp_path: Path
) -> None:
    """Nothing marked: the browser exports what `mtl pack export` would, leaving out the
    project-scoped and the contradicted memories and saying so; the browser opens on its
    search box, so typing searches instead of firing keys such as e."""
    from mtl_tui.config import save_setting
    from tests.conftest import insight

    kept_title = "Quote shell variables so paths with spaces survive"
    kept = store.add(insight(kept_title, ["shell"]))
    local = store.add(insight("Run this repository's tests with make check", ["python"]))
    store.rescope(local.id, "project", repo_key="f" * 16)  # type: ignore[arg-type]
    against = insight("Let the shell split unquoted variables into words on purpose", ["shell"])
    loser = store.add_linked(against, "contradicts", kept.id, run="run-2").id
    store.vote(kept.id, up=True)  # type: ignore[arg-type]  # more evidence: the newer one loses
    store.close()
    save_setting("memory.floor", -1.0)
    app = make_app(git_repo, [DONE], tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        browser = await open_browser(pilot, 3)
        await pilot.press(*"operator typo")
        assert browser.query_one("#browser-search", Input).value == "operator typo"
        assert isinstance(app.screen, MemoryBrowser)  # `e` went to the search box
        await pilot.press("enter")  # searches, and the table takes the keys
        await until(pilot, lambda: browser.query_one(DataTable).has_focus)
        await pilot.press("e")
        assert isinstance(app.screen, ExportScreen)
        out = tmp_path / "browser-pack.json"
        app.screen.query_one("#export-path", Input).value = str(out)
        app.screen.query_one("#export-path", Input).focus()
        await pilot.press("enter")
        await until(pilot, out.exists)
        titles = {item["fields"]["title"] for item in json.loads(out.read_text())["items"]}
        assert titles == {kept_title}, titles
        assert loser is not None
        shown = " ".join(notices(app))
        assert "Exported 1 memory" in shown
        assert "Left out 1 project-scoped" in shown
        assert "1 contradicted by a memory with more evidence" in shown


# -- themes and keys ----------------------------------------------------------------------


async def test_theme_choice_is_applied_and_saved(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    app = make_app(git_repo, [DONE], tmp_path, theme="mtl-light")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "mtl-light"
        app.theme = "mtl-high-contrast"  # what the palette's theme picker does
        await pilot.pause()
    assert load_settings().theme == "mtl-high-contrast"
    assert {"mtl-dark", "mtl-light", "mtl-high-contrast", "mtl-dusk"} <= set(app.available_themes)


async def test_a_broken_theme_file_is_reported_once_and_falls_back(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    user = paths.user_themes_dir()
    user.mkdir(parents=True)
    (user / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (user / "mine.toml").write_text('name = "mine"\nprimary = "#123456"\ndark = false\n')
    paths.config_file().write_text('theme = "broken"\n')
    app = make_app(git_repo, [DONE], tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        errors = [n for n in app._notifications if n.severity == "error"]
        assert len(errors) == 1 and "broken.toml" in errors[0].message
        assert "primary" in errors[0].message
        assert app.theme == "mtl-dark" and "mine" in app.available_themes


async def test_keymap_from_config_remaps_keys(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text('[keymap]\nreject = "r"\nbrowser = "f3"\nundo = "f4"\n')
    app = make_app(git_repo, [DONE], tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        panel = await type_task(pilot, "tests fail")
        await pilot.press("tab", "r")
        assert not panel.items[0].accepted
        await pilot.press("f4")  # undo moved, its "why not" with it: nothing ran yet
        assert "Nothing to undo" in notices(app)[-1]
        await pilot.press("f3")
        assert isinstance(app.screen, MemoryBrowser)


def test_themes_ship_inside_the_wheel(tmp_path: Path) -> None:
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(root)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [wheel] = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "site")
    themes = {n for n in names if n.startswith("mtl_tui/themes/")}
    assert {f"mtl_tui/themes/{t}.toml" for t in
            ("mtl-dark", "mtl-light", "mtl-high-contrast", "mtl-dusk")} <= themes  # fmt: skip
    assert "mtl_tui/prompts/system.md" in names and "mtl_tui/ui/app.tcss" in names
    from mtl_tui.ui.themes import load_theme_file

    theme = load_theme_file(tmp_path / "site" / "mtl_tui" / "themes" / "mtl-dusk.toml")
    assert theme.name == "mtl-dusk"


def test_settings_keymap_is_validated_as_strings() -> None:
    assert Settings.model_validate({"keymap": {"accept": "y"}}).keymap == {"accept": "y"}


async def test_imported_memories_are_marked_in_the_panel(
    git_repo: Path, store: MemoryStore, tmp_path: Path
) -> None:
    from mtl_tui.records import Memory

    fields = {"title": "Quote shell variables that hold paths", "description": "d", "content": "c"}
    store.add(Memory("insight", fields, origin="pack:team"))
    store.close()
    app = make_app(git_repo, [DONE], tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        panel = await type_task(pilot, "a bash script breaks on spaces in paths")
        assert "imported" in str(panel.items[0].body.render())


async def test_a_task_given_at_launch_shows_its_retrieval_in_the_panel(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    # mtl "TASK": the panel shows what the run retrieved (here: all held back by a high
    # floor), not the hint for an empty prompt, although the prompt was cleared
    app = make_app(git_repo, [DONE, insights_reply()], tmp_path, floor=0.99, yolo=True,
                   task="say done")  # fmt: skip
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.running or app.last_summary is not None)
        await until(pilot, lambda: bar(app) is not None or app.last_summary is not None)
        await pilot.pause(0.5)  # past the prompt's retrieval debounce
        hint = str(app.query_one("#insights-hint").render())
        assert "Type a task" not in hint
        counts = str(app.query_one("#insights-counts").render())
        assert "nothing relevant enough" in counts and "held back" in hint
