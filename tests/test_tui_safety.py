"""The TUI's questions, approvals, live output and layout, on the real app at 80x24."""

from __future__ import annotations

from pathlib import Path

from textual.widget import Widget

from mtl_tui import paths
from mtl_tui.ui.app import MtlApp
from mtl_tui.ui.screens import EditMemoryScreen, ExportScreen, TextScreen
from mtl_tui.ui.widgets import (
    AnswerBar,
    ApprovalBar,
    InsightsPanel,
    LiveOutput,
    OutputBlock,
    PromptArea,
    ReviewList,
    StatusLine,
)
from tests.conftest import DONE, TUI_TITLES, bash
from tests.test_learning import LESSON, insights_reply
from tests.tuikit import bar, make_app, ready, type_task, until

SMALL = (80, 24)


def in_view(app: MtlApp, widget: Widget) -> bool:
    """Entirely on the screen, not scrolled away or cut off."""
    region, screen = widget.region, app.screen.region
    return bool(region.area) and screen.contains_region(region)


def footer_keys(app: MtlApp) -> set[str]:
    return {b.binding.action for b in app.screen.active_bindings.values() if b.binding.show}


ADD_IT = '{"operations": [{"op": "add", "lesson": "C1"}]}'  # the pool-edit reply


async def test_auto_approval_lasts_one_run_and_destructive_commands_still_ask(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    replies = [
        bash("echo first >> src/util.py"), bash("echo made > scratch.txt && rm scratch.txt"),
        bash("rm -rf src"),
        DONE, insights_reply(LESSON), ADD_IT,  # first task (the pool holds a neighbour)
        bash("echo again"), DONE, insights_reply(LESSON), ADD_IT,  # second task
    ]  # fmt: skip
    app = make_app(git_repo, replies, tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        status = app.query_one(StatusLine)
        assert "diff" not in footer_keys(app) and "interrupt" not in footer_keys(app)
        await type_task(pilot, "tidy up the sources")
        await pilot.press("enter")
        await until(pilot, lambda: bar(app, ApprovalBar))
        approval = bar(app, ApprovalBar)
        assert in_view(app, approval) and "echo first" in approval.question  # type: ignore[union-attr]
        assert "interrupt" in footer_keys(app)  # esc works while a run is on
        await pilot.press("Y")  # this command and the rest of this task
        await until(pilot, lambda: bar(app, ApprovalBar))
        # the run's own new file went without a question; an existing folder asks, with why
        await pilot.pause()  # let the layout place the new question
        destructive = bar(app, ApprovalBar)
        assert destructive.command == "rm -rf src"  # type: ignore[union-attr]
        assert "existed before this run" in destructive.question  # type: ignore[union-attr]
        assert status.auto == "auto: this run" and in_view(app, destructive)  # type: ignore[arg-type]
        # 80 columns keep the state, the auto badge, the model, the step and the cost
        shown = status.render().plain
        assert len(shown) <= 80 and "auto: this run" in shown and "running" in shown
        assert status.model in shown and f"step {status.step} · $0.0000" in shown
        status.model, status.branch = "openrouter/anthropic/claude-sonnet-4.5", "feature/x" * 5
        shown = status.render().plain
        assert len(shown) <= 80 and "auto: this run" in shown and "claude-sonnet-4.5" in shown
        assert f"step {status.step} · $0.0000" in shown
        await pilot.press("n", *"keep src", "enter")
        await until(pilot, lambda: bar(app) is not None and "Did it succeed" in bar(app).question)
        await pilot.press("y")
        await until(pilot, lambda: app.query("ReviewList ListView:focus"))
        await pilot.press("enter")
        await until(pilot, lambda: app.last_summary is not None)
        assert (git_repo / "src").exists()
        assert status.auto == "" and app.session.approval.auto == "off"  # type: ignore[union-attr]
        assert {"diff", "undo"} <= footer_keys(app) and "interrupt" not in footer_keys(app)
        # the next task asks again
        app.last_summary = None
        await type_task(pilot, "say it again")
        await pilot.press("enter")
        await until(pilot, lambda: bar(app, ApprovalBar))
        assert "echo again" in bar(app, ApprovalBar).question  # type: ignore[union-attr]
        # ctrl+t: auto-approval for the session, shown while on; ctrl+t again turns it off
        await pilot.press("ctrl+t")
        assert status.auto == "auto: session"
        await pilot.press("ctrl+t")
        assert status.auto == "" and app.session.approval.auto == "off"  # type: ignore[union-attr]
        bar(app, ApprovalBar).focus()  # type: ignore[union-attr]
        await pilot.press("y")
        await until(pilot, lambda: bar(app, ApprovalBar))  # DONE asks too: auto is off
        await pilot.press("ctrl+t", "y")
        await until(pilot, lambda: bar(app) is not None and "Did it succeed" in bar(app).question)
        await pilot.press("y")
        await until(pilot, lambda: app.query("ReviewList ListView:focus"))
        await pilot.press("enter")
        await until(pilot, lambda: app.last_summary is not None)
        assert status.auto == "auto: session"  # the session's auto mode outlives the run


async def test_each_question_is_in_view_and_focused_at_80x24(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    replies = [bash("ls src"), bash("cat src/cart.py"), bash("echo edited"), DONE,
               insights_reply(LESSON)]  # fmt: skip
    app = make_app(git_repo, replies, tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await type_task(pilot, "look at the cart")
        await pilot.press("enter")
        await until(pilot, lambda: bar(app, ApprovalBar))
        await pilot.press("n")
        field = app.query_one("ApprovalBar Input")
        assert field.has_focus and in_view(app, field)
        await pilot.press(*"not yet", "enter")
        await until(pilot, lambda: bar(app, ApprovalBar))
        next_bar = bar(app, ApprovalBar)
        assert next_bar is not None and in_view(app, next_bar) and next_bar.has_focus
        await pilot.press("e")
        field = app.query_one("ApprovalBar Input")
        assert field.has_focus and in_view(app, field)
        await pilot.press("escape")  # back to the single keys, nothing answered
        assert not app.query("ApprovalBar Input") and bar(app, ApprovalBar) is next_bar
        await pilot.press("y")
        for _ in range(2):
            await until(pilot, lambda: bar(app, ApprovalBar))
            await pilot.press("y")
        await until(pilot, lambda: bar(app) is not None and "Did it succeed" in bar(app).question)
        assert in_view(app, bar(app))  # type: ignore[arg-type]
        await pilot.press("y")
        await until(pilot, lambda: app.query("ReviewList ListView:focus"))
        review = app.query_one(ReviewList)
        assert in_view(app, review)
        await pilot.press("e")
        assert isinstance(app.screen, EditMemoryScreen)
        dialog = app.screen.query_one(".dialog")
        assert app.screen.region.contains_region(dialog.region)
        await pilot.press("escape", "enter")
        await until(pilot, lambda: app.last_summary is not None)
        assert not app.query(AnswerBar) and not app.query(ReviewList)  # nothing left behind
        notes = " ".join(str(n.render()) for n in app.query(".answered"))
        assert "✗ rejected: not yet" in notes and "→ storing 1 of 1" in notes


async def test_command_output_streams_with_a_spinner_and_long_output_folds(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    loop = "for i in 1 2 3; do echo tick $i; sleep 1; done"
    replies = [bash(loop), bash("seq 1 40"), DONE, "PASS", insights_reply(LESSON)]
    app = make_app(git_repo, replies, tmp_path, yolo=True)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await type_task(pilot, "count slowly")
        await pilot.press("enter")
        await until(pilot, lambda: app.query(LiveOutput))
        live = app.query_one(LiveOutput)
        await until(pilot, lambda: "tick 1" in str(live.render()))
        shown = str(live.render())
        assert "running ·" in shown and " s" in shown
        assert not app.query(OutputBlock)  # the command has not finished: this is live
        await until(pilot, lambda: len(app.query(OutputBlock)) == 2)
        first, second = app.query(OutputBlock)
        assert not first.collapsed and second.collapsed  # 40 lines fold
        assert "tick 3" in str(first.query_one(".output-text").render())
        await until(pilot, lambda: bar(app) is not None)
        await pilot.press("s")  # the judge decides
        await until(pilot, lambda: app.query("ReviewList ListView:focus"))
        await pilot.press("enter")
        await until(pilot, lambda: app.last_summary is not None)
        assert not app.query(LiveOutput)
        assert app.query_one(StatusLine).auto == "--yes: no questions"


async def test_diff_at_the_verdict_and_no_question_left_after_an_interrupt(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    replies = [bash("echo changed >> src/util.py"), DONE]
    app = make_app(git_repo, replies, tmp_path, yolo=True)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await type_task(pilot, "change the util")
        await pilot.press("enter")
        await until(pilot, lambda: bar(app) is not None and "Did it succeed" in bar(app).question)
        assert "[b]d[/] full diff" in bar(app).question  # type: ignore[union-attr]
        await pilot.press("d")
        assert isinstance(app.screen, TextScreen) and "src/util.py" in app.screen.body
        await pilot.press("escape")
        assert bar(app) is not None  # still waiting for the verdict
        await pilot.press("escape", "escape")  # interrupt
        await until(pilot, lambda: app.last_summary is not None)
        assert not app.query(AnswerBar)  # the verdict bar went away
        assert app.last_summary.outcome_source != "user"  # type: ignore[union-attr]
        await pilot.press("ctrl+z")  # undo is advertised after the run, and works
        await pilot.press("y")
        await until(pilot, lambda: "changed" not in (git_repo / "src" / "util.py").read_text())
        notes = " ".join(str(n.render()) for n in app.query(".note"))
        assert "1 file restored" in notes


async def test_an_edit_in_the_review_wins_over_a_merge(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    twin = dict(LESSON, title=TUI_TITLES[0][0])  # a near-duplicate of a pool memory
    app = make_app(git_repo, [DONE, insights_reply(twin)], tmp_path, yolo=True)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await type_task(pilot, "check the tests")
        await pilot.press("enter")
        await until(pilot, lambda: bar(app) is not None)
        await pilot.press("y")
        await until(pilot, lambda: app.query("ReviewList ListView:focus"))
        await pilot.press("e")
        screen = app.screen
        assert isinstance(screen, EditMemoryScreen)
        screen.query_one("#field-title").value = "Reproduce the bug with one command first"
        content = screen.query_one("#field-content")
        content.text = "First line of the lesson.\nSecond line, kept."  # a multi-line field
        await pilot.press("ctrl+s")
        await pilot.press("enter")
        await until(pilot, lambda: app.last_summary is not None)
        [learned] = app.last_summary.learned  # type: ignore[union-attr]
        assert learned not in pool  # stored as edited, not merged into the older one
        stored = app.store.get(learned)  # type: ignore[union-attr]
        assert stored.title == "Reproduce the bug with one command first"
        assert stored.fields["content"] == "First line of the lesson.\nSecond line, kept."
        assert app.store.get(pool[0]).title == TUI_TITLES[0][0]  # type: ignore[union-attr]


async def test_narrow_screens_fold_the_panel_into_a_line(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    app = make_app(git_repo, [DONE], tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await type_task(pilot, "a bash script breaks on folder names with spaces")
        panel = app.query_one(InsightsPanel)
        line = app.query_one("#insights-line")
        assert not panel.display or not panel.region.area
        assert "3 retrieved, 3 accepted" in str(line.render()) and in_view(app, line)
        conversation = app.query_one("#conversation")
        assert conversation.region.width >= 70
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert panel.region.width >= 70 and in_view(app, panel)
        assert not line.region.area  # the panel's own count line only: no double count
        await pilot.press("tab")  # into the list, which then folds away: the prompt takes over
        assert app.focused is app.query_one("#insights-list")
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert isinstance(app.focused, PromptArea)
        await pilot.resize_terminal(130, 40)
        await pilot.pause()
        assert panel.region.width > 30 and not line.region.area
        # ctrl+e: the export goes outside the repository by default
        await pilot.press("ctrl+e")
        assert isinstance(app.screen, ExportScreen)
        default = Path(app.screen.query_one("#export-path").value)
        assert git_repo not in default.parents and paths.data_dir() in default.parents
        app.screen.query_one("#export-path").focus()
        await pilot.press("enter")
        await until(pilot, default.exists)
