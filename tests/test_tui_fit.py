"""What a new user found in tmux at 80x24 and 140x42, on the real app: the footer fits,
the fold line and the panel count alike, tab reaches the panel first, the prompt takes no
keys during a run, a partial undo names everything and stays undoable."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from textual.widgets import DataTable
from textual.widgets._footer import FooterKey

from mtl_tui.ui.app import BUSY_PROMPT, MtlApp
from mtl_tui.ui.screens import COLUMNS, ConfirmScreen
from mtl_tui.ui.widgets import ApprovalBar, PromptArea
from tests.conftest import DONE, TUI_TITLES, bash
from tests.tuikit import bar, make_app, open_browser, ready, type_task, until

SMALL = (80, 24)
TUI_LANGS = {lang for _title, langs in TUI_TITLES for lang in langs}
TASK = "a bash script breaks on folder names with spaces"


def footer_keys(app: MtlApp) -> list[FooterKey]:
    return list(app.screen.query(FooterKey))


def assert_footer_fits(app: MtlApp) -> list[str]:
    """Every key shown whole inside the screen, none over another, each one working now;
    returns the actions shown."""
    keys = footer_keys(app)
    width = app.screen.size.width
    spans = sorted((k.region.x, k.region.right, k.action) for k in keys)
    for x, right, action in spans:
        assert x >= 0 and right <= width, f"{action} cut off: {x}..{right} of {width}"
    for (_, right, first), (x, _, second) in pairwise(spans):
        assert right <= x, f"{first} and {second} overlap"
    active = app.screen.active_bindings
    for key in keys:
        binding = active[key.key]
        shown = binding.binding.show or key.action == "command_palette"  # shown on its own
        assert binding.enabled and shown, key.action
    return [k.action for k in keys]


async def finish_run(pilot, app: MtlApp) -> None:  # type: ignore[no-untyped-def]
    """Answer every question with y until the run ends."""
    while app.last_summary is None:
        await until(pilot, lambda: bar(app) is not None or app.last_summary is not None)
        if bar(app) is not None:
            await pilot.press("y")
            await pilot.pause()


async def test_the_footer_fits_at_80_columns_dropping_whole_keys(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    app = make_app(git_repo, [bash("echo more >> src/util.py"), DONE, "PASS"], tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await type_task(pilot, TASK)
        assert "quit_twice" in assert_footer_fits(app)
        await pilot.press("enter")
        await finish_run(pilot, app)
        await pilot.press("ctrl+b", "tab")  # the panel swapped in, its list focused
        await pilot.pause()
        assert app.focused is app.query_one("#insights-list")
        shown = assert_footer_fits(app)
        # the list's own keys and quit stay; the command palette goes first
        assert {"accept", "reject", "quit_twice"} <= set(shown)
        assert "command_palette" not in shown
        assert {"undo", "diff"} & set(shown)  # then the run's keys, before the others
        await pilot.resize_terminal(140, 42)
        await pilot.press("ctrl+b")  # the wide layout: panel beside the conversation
        app.query_one("#insights-list").focus()
        await pilot.pause()
        wide = assert_footer_fits(app)
        assert set(shown) < set(wide) and {"undo", "diff", "command_palette"} <= set(wide)


async def test_the_fold_line_and_the_panel_count_alike(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    app = make_app(git_repo, [DONE], tmp_path, floor=0.44)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        panel = await type_task(pilot, TASK)

        def line() -> str:
            return str(app.query_one("#insights-line").render())

        def counted() -> str:
            return str(panel.query_one("#insights-counts").render())

        assert panel.below, "the task needs held-back candidates"
        assert counted() in line() and "held back" in counted()
        await pilot.press("ctrl+b", "tab", "b")  # the panel, and what it held back
        await until(pilot, lambda: len(panel.items) > 1)
        assert counted() in line()
        await pilot.press("down", "down", "a")  # accept a held-back one
        await pilot.pause()
        assert counted() in line() and "2 accepted" in counted()
        assert f"{len(panel.items) - len(panel.below)} retrieved" in counted()
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert counted() in line()


async def test_tab_after_a_run_goes_to_the_panel_first(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    replies = [bash("ls"), bash("cat src/util.py"), DONE, "PASS"]
    app = make_app(git_repo, replies, tmp_path)
    async with app.run_test(size=(140, 42)) as pilot:
        await ready(pilot)
        await type_task(pilot, TASK)
        await pilot.press("enter")
        await finish_run(pilot, app)
        await until(pilot, lambda: isinstance(app.focused, PromptArea))
        assert len(app.query("CollapsibleTitle")) >= 3  # outputs that can take the focus
        await pilot.press("tab")
        assert app.focused is app.query_one("#insights-list")
        await pilot.press("tab")
        assert app.focused is not None and app.query_one("#conversation") in app.focused.ancestors
        await pilot.press("shift+tab")
        assert app.focused is app.query_one("#insights-list")
        await pilot.press("shift+tab")
        assert isinstance(app.focused, PromptArea)


async def test_keys_typed_during_a_run_never_reach_the_prompt(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    app = make_app(git_repo, [bash("sleep 1; ls"), bash("ls src"), DONE, "PASS"], tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await type_task(pilot, TASK)
        prompt = app.query_one(PromptArea)
        await pilot.press("enter")
        await until(pilot, lambda: bar(app, ApprovalBar))
        assert prompt.disabled and prompt.placeholder == BUSY_PROMPT
        assert prompt not in app.screen.focus_chain
        await pilot.press("tab", "tab", "tab")  # never lands in the prompt
        assert not prompt.has_focus
        app.query_one(ApprovalBar).focus()
        await pilot.press("y")  # the question gets its key; the command runs a second
        await pilot.pause()
        await pilot.press(*"hello")  # typed while it runs: no question, no prompt
        assert prompt.text == "" and not prompt.has_focus
        await until(pilot, lambda: bar(app, ApprovalBar))
        question = bar(app, ApprovalBar)
        await pilot.press("y")
        assert question is not None and question.answered
        await finish_run(pilot, app)
        assert not prompt.disabled and prompt.has_focus and prompt.text == ""
        await pilot.press(*"next")
        assert prompt.text == "next"


async def test_a_partial_undo_names_everything_and_stays_undoable(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    hook = "printf '#!/bin/sh\\n' > .git/hooks/pre-commit"
    app = make_app(git_repo, [bash(f"echo x >> src/util.py && {hook}"), DONE, "PASS"], tmp_path,
                   yolo=True)  # fmt: skip
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await type_task(pilot, TASK)
        await pilot.press("enter")
        await finish_run(pilot, app)
        await pilot.press("ctrl+z")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await until(pilot, lambda: "Partly undone" in notes(app))
        assert "hooks: hook pre-commit created" in notes(app)
        assert "ctrl+z tries again" in notes(app)
        assert (git_repo / "src" / "util.py").read_text() == "X = 1\n"
        assert app.check_action("undo", ()) and "undo" in assert_footer_fits(app)
        (git_repo / ".git" / "hooks" / "pre-commit").unlink()  # the user sees to it
        await pilot.press("ctrl+z", "y")
        await until(pilot, lambda: "Undone:" in notes(app))
        assert not app.check_action("undo", ())


def notes(app: MtlApp) -> str:
    return " ".join(str(n.render()) for n in app.query(".note"))


async def test_the_browser_keeps_its_key_columns_at_80_columns(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    app = make_app(git_repo, [DONE], tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        browser = await open_browser(pilot, 3)
        await pilot.pause()
        table = browser.query_one(DataTable)
        names = [str(column.label) for column in table.columns.values()]
        assert names == [*COLUMNS, "title"]
        used = sum(c.get_render_width(table) for c in table.columns.values())
        assert used <= table.scrollable_content_region.width  # nothing off to the side
        assert table.max_scroll_x == 0
        row = [str(cell) for cell in table.get_row_at(0)]
        memory = browser.rows[0]
        assert row[names.index("kind")] == "ins" and row[names.index("lang")] in TUI_LANGS
        assert row[names.index("from")] == "manual"
        title = row[names.index("title")]
        assert title.endswith("…") and memory.title.startswith(title[:-1])
        table.focus()  # the browser opens on its search box
        await pilot.press("plus")  # a redrawn row keeps its shortened cells
        assert [str(cell) for cell in table.get_row_at(0)][names.index("votes")] == "+1"
        assert str(table.get_row_at(0)[names.index("title")]) == title


async def test_a_question_takes_its_keys_from_any_focus(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    app = make_app(git_repo, [bash("ls src"), DONE, "PASS"], tmp_path)
    async with app.run_test(size=(140, 42)) as pilot:
        await ready(pilot)
        panel = await type_task(pilot, TASK)
        await pilot.press("enter")
        await until(pilot, lambda: bar(app, ApprovalBar))
        question = bar(app, ApprovalBar)
        await pilot.press("tab")  # into the insights list, the question still waiting
        assert app.focused is panel.query_one("#insights-list")
        await pilot.press("x")  # the list's own key: that insight, not the question
        assert not panel.items[0].accepted and question is not None and not question.answered
        await pilot.press("y")  # the question's key: it answers the question
        assert question.answered
        await finish_run(pilot, app)
        outputs = " ".join(str(o.title) for o in app.query("OutputBlock"))
        assert "exit 0" in outputs  # the command ran
