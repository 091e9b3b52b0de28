"""What a new user found in tmux at 80x24 and 140x42, on the real app: the footer fits,
the fold line and the panel count alike, tab reaches the panel first, the prompt takes no
keys during a run, a partial undo names everything and stays undoable."""

from __future__ import annotations

import queue
from itertools import pairwise
from pathlib import Path

from textual.widgets import DataTable, Input, Static
from textual.widgets._footer import FooterKey

from mtl_tui.ui.app import BUSY_PROMPT, MtlApp
from mtl_tui.ui.screens import (
    COLUMNS,
    MIN_TITLE,
    NARROW_COLUMNS,
    SHORT_LANGS,
    ConfirmScreen,
    EditMemoryScreen,
    ExportScreen,
    MemoryDetail,
)
from mtl_tui.ui.widgets import AnswerBar, ApprovalBar, PromptArea, ReviewItem, ReviewList
from tests.conftest import DONE, TUI_TITLES, bash
from tests.tuikit import bar, make_app, open_browser, ready, shown_text, type_task, until

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
        assert names == [*NARROW_COLUMNS, "title"]  # the mark joins the id, "last" goes
        assert set(NARROW_COLUMNS) == set(COLUMNS) - {" ", "last"}
        used = sum(c.get_render_width(table) for c in table.columns.values())
        assert used <= table.scrollable_content_region.width  # nothing off to the side
        assert table.max_scroll_x == 0
        row = [str(cell) for cell in table.get_row_at(0)]
        memory = browser.rows[0]
        [lang] = memory.languages
        assert lang in TUI_LANGS and row[names.index("kind")] == "ins"
        assert row[names.index("lang")] == SHORT_LANGS.get(lang, lang)  # python: py
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


# -- round 5: what the new user still found at 80x24 -----------------------------------


async def test_a_long_prune_reason_or_origin_leaves_the_title_its_width(
    git_repo: Path, pool: list[int], tmp_path: Path, embedder
) -> None:
    """One row with two prune codes and a long pack name used to shrink every title to one
    letter with no …: the secondary cells are cut instead, the title keeps MIN_TITLE."""
    from mtl_tui.memory import links
    from mtl_tui.memory.store import MemoryStore
    from tests.conftest import insight

    store = MemoryStore.open(embedder=embedder)
    [added] = store.add_many(
        [insight("Pin tool versions in the lock file", origin="pack:platform-team-shared-lessons")]
    )
    store.vote(added.id, False)  # voted-down
    with store.db.write() as conn:  # superseded: a refinement of it
        links.record(conn, pool[0], added.id, "refines", None)
    store.close()
    app = make_app(git_repo, [DONE], tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        browser = await open_browser(pilot, 4)
        await pilot.pause()
        table = browser.query_one(DataTable)
        names = [str(column.label) for column in table.columns.values()]
        assert names == [*NARROW_COLUMNS, "title"]
        title_column = list(table.columns.values())[-1]
        assert title_column.get_render_width(table) - 2 * table.cell_padding >= MIN_TITLE
        used = sum(c.get_render_width(table) for c in table.columns.values())
        assert used <= table.scrollable_content_region.width and table.max_scroll_x == 0
        rows = {m.id: [str(cell) for cell in table.get_row_at(i)] for i, m in
                enumerate(browser.rows)}  # fmt: skip
        long_row = rows[added.id]
        prune, origin = long_row[names.index("prune")], long_row[names.index("from")]
        assert prune.endswith("…") and "voted-down+1".startswith(prune[:-1])
        assert origin.endswith("…") and "platform-team-shared-lessons".startswith(origin[:-1])
        for memory in browser.rows:  # every title whole, or cut with … at MIN_TITLE or more
            title = rows[memory.id][names.index("title")]
            assert title == memory.title or (
                title.endswith("…") and memory.title.startswith(title[:-1])
                and len(title) >= MIN_TITLE
            )  # fmt: skip
        table.focus()
        await pilot.press("space")  # the mark joins the id; the row keeps its cut cells
        first = [str(cell) for cell in table.get_row_at(0)]
        assert first[names.index("id")] == f"●{browser.rows[0].id}"
        assert first[names.index("title")] == rows[browser.rows[0].id][names.index("title")]


async def review_at_80(pilot, app: MtlApp) -> ReviewList:  # type: ignore[no-untyped-def]
    await ready(pilot)
    await type_task(pilot, TASK)
    await pilot.press("enter")
    await until(pilot, lambda: bar(app) is not None)  # the verdict
    await pilot.press("y")
    await until(pilot, lambda: app.query("ReviewList ListView:focus"))
    await pilot.pause()
    return app.query_one(ReviewList)


def review_app(git_repo: Path, tmp_path: Path) -> MtlApp:
    from tests.test_learning import LESSON, insights_reply

    return make_app(git_repo, [DONE, insights_reply(LESSON)], tmp_path, yolo=True)


async def test_the_review_shows_description_and_content_apart(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    from tests.test_learning import LESSON

    app = review_app(git_repo, tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        review = await review_at_80(pilot, app)
        item = review.query_one(ReviewItem)
        lines = shown_text(item.body).splitlines()
        # each under its label, its wrapped lines under its own text (a hanging indent)
        indent = len("  description ")
        assert lines[1] == f"  description {LESSON['description']}"
        assert lines[2].startswith("  content ") and lines[2][:indent].strip() == "content"
        first, second = lines[2][indent:], lines[3]
        assert second[:indent].strip() == "" and second[indent:] not in ("", " ")
        assert f"{first} {second[indent:]}" == LESSON["content"]
        await pilot.press("e")  # the edit: each field under its own label, on its own
        assert isinstance(app.screen, EditMemoryScreen)
        labels = [str(label.render()) for label in app.screen.query("Label")]
        assert labels[1:] == ["title", "description", "content"]


async def test_every_key_the_review_advertises_is_in_its_footer_and_works(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    app = review_app(git_repo, tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        review = await review_at_80(pilot, app)
        header = str(review.query_one(Static).render())
        advertised = ["k", "d", "e", "s", "enter"]
        for key in advertised:
            assert f"{key} " in header
        await pilot.pause()
        shown = {k.key: k.description for k in footer_keys(app)}
        assert_footer_fits(app)
        assert set(advertised) <= set(shown), shown
        assert shown["enter"] == "Store kept"
        await pilot.press("d", "k")  # discard, then keep again
        await pilot.press("enter")  # the footer's key stores the kept one
        await until(pilot, lambda: app.last_summary is not None)
        assert review.answered and "→ storing 1 of 1" in notes(app)


async def test_the_starter_offer_leaves_the_prompt_its_keys(git_repo: Path, tmp_path: Path) -> None:
    """The offer comes while the user may be typing a task: it takes no focus, their keys
    stay in the prompt (an "i" once imported the pack), and shift+tab, then its keys,
    answer it."""
    app = make_app(git_repo, [DONE], tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        prompt = app.query_one(PromptArea)
        await pilot.press(*"in")  # typing starts before the offer is there
        await until(pilot, lambda: any(b.has_class("offer") for b in app.query(AnswerBar)))
        offer = next(b for b in app.query(AnswerBar) if b.has_class("offer"))
        await pilot.pause()
        assert app.focused is prompt and offer.query_one(".unasked").display
        await pilot.press(*"ni")  # keys for the offer, but typed in the prompt
        await ready(pilot)
        assert prompt.text == "inni" and not offer.answered
        assert app.store is not None and app.store.count() == 0
        await pilot.press("shift+tab")  # to the offer, which says how to answer it
        assert app.focused is offer and not offer.query_one(".unasked").display
        await pilot.press("tab")  # back to the prompt; a click reaches the offer too
        assert app.focused is prompt
        await pilot.click(offer.query_one(".question"))
        assert app.focused is offer
        await pilot.press("n")
        assert offer.answered and app.focused is prompt and app.store.count() == 0


async def test_the_hint_never_says_in_the_prompt_when_every_item_is_rejected(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    app = make_app(git_repo, [DONE], tmp_path, floor=0.44)
    async with app.run_test(size=(130, 40)) as pilot:
        await ready(pilot)
        panel = await type_task(pilot, TASK)
        hits = len(panel.items)
        assert hits and panel.cut is not None

        def hint() -> str:
            return str(panel.query_one("#insights-hint").render())

        def counted() -> str:
            return str(panel.query_one("#insights-counts").render())

        def folded() -> str:
            return str(app.query_one("#insights-line").render())

        assert counted().endswith(f" · {hits} in the prompt")
        assert hint().startswith(f"retrieved at relevance ≥ {panel.cut:.2f} · tab, then a accept")
        assert f"{hits} in the prompt · ctrl+b" in folded()
        await pilot.press("tab", *["x", "down"] * hits)
        await until(pilot, lambda: not any(item.accepted for item in panel.items))
        await pilot.pause()
        assert counted().endswith(" · none in the prompt") and "in the prompt" not in hint()
        assert " · a accept · x reject" in hint() and "tab, then" not in hint()  # in the list
        assert "0 accepted · " in folded() and "none in the prompt · ctrl+b" in folded()
        await pilot.press("ctrl+b")  # folded: the same words
        await pilot.pause()
        assert "none in the prompt" in folded() and "in the prompt at" not in folded()
        await pilot.press("ctrl+b", "tab", "a")  # unfolded, one back: in the prompt again
        await pilot.pause()
        assert counted().endswith(" · 1 in the prompt") and "1 in the prompt" in folded()


async def test_counts_of_one_are_singular(git_repo: Path, pool: list[int], tmp_path: Path) -> None:
    app = make_app(git_repo, [DONE], tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        browser = await open_browser(pilot, 3)
        assert "3 memories," in str(browser.query_one("#browser-count").render())
        table = browser.query_one(DataTable)
        table.focus()
        await pilot.press("space", "delete")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == "Delete 1 memory?"
        await pilot.pause()
        assert {"y", "n"} <= {k.key for k in footer_keys(app)}  # its own keys in its footer
        await pilot.press("y")
        await until(pilot, lambda: len(browser.rows) == 2)
        assert "Deleted 1 memory" in [n.message for n in app._notifications]
        await pilot.press("enter")
        assert isinstance(app.screen, MemoryDetail)
        detail = str(app.screen.query_one(Static).render())
        assert "used: 0 times" in detail
        memory = app.screen.memory
    from dataclasses import replace

    from mtl_tui.memory.prune import Health
    from mtl_tui.ui.screens import memory_text
    from mtl_tui.ui.widgets import ApprovalBar

    health = Health(None, 1.0, 1, "+0/-0", [], [])
    once = str(memory_text(replace(memory, uses=1), health))
    assert "used: 1 time, 0 in successful runs" in once
    assert "win rate: 100% of 1 finished run\n" in once
    two_lines = ApprovalBar("cd src\nmake", queue.Queue(), lambda: None)
    assert two_lines.question.endswith("cd src  (+1 line)[/]")


async def test_the_browser_footer_shows_the_table_keys_only_where_they_work(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    """It opens on its search box, where + - space e s type: the footer shows them once
    the table has the focus, and there they work."""
    app = make_app(git_repo, [DONE], tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        browser = await open_browser(pilot, 3)
        await pilot.pause()
        table_keys = {"vote", "mark", "rescope", "export"}
        actions = {action.split("(")[0] for action in assert_footer_fits(app)}
        assert not actions & table_keys
        count = str(browser.query_one("#browser-count").render())
        assert "in the table: space selects" in count
        assert "browser" not in actions  # f2: not a second browser over this one
        await pilot.press("plus")  # typed into the search box, not a vote
        assert browser.query_one("#browser-search", Input).value == "+"
        await pilot.press("backspace", "tab", "tab", "tab")  # past the filters to the table
        assert isinstance(app.focused, DataTable)
        await pilot.pause()
        actions = {action.split("(")[0] for action in assert_footer_fits(app)}
        assert table_keys | {"delete"} <= actions, actions  # e too: it works here
        await pilot.press("plus")
        assert browser.rows[0].net_votes == 1
        await pilot.press("e")
        assert isinstance(app.screen, ExportScreen)


async def test_an_accepted_held_back_memory_is_counted_and_labelled_as_in_the_prompt(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    """Nothing passes the floor; the user takes one held-back memory: the count line says
    it reaches the prompt, and it alone has a label, the one the agent sees."""
    from mtl_tui.memory.retrieve import item_text

    app = make_app(git_repo, [DONE, "PASS"], tmp_path, floor=0.99)
    async with app.run_test(size=(140, 42)) as pilot:
        await ready(pilot)
        panel = await type_task(pilot, TASK)

        def counted() -> str:
            return str(panel.query_one("#insights-counts").render())

        def hint() -> str:
            return str(panel.query_one("#insights-hint").render())

        held = len(panel.below)
        assert not panel.items and held > 1
        assert hint().endswith(f"tab, then b shows {held} held back")  # from the prompt
        await pilot.press("tab", "b")
        await until(pilot, lambda: len(panel.items) == len(panel.below))
        await until(pilot, lambda: all(str(item.body.render()) for item in panel.items))
        assert hint().endswith(f"b hides {held} held back") and "tab, then" not in hint()
        assert not any(item.label for item in panel.items)  # none in the prompt: no [M1]
        assert not any("[M" in str(item.body.render()) for item in panel.items)
        await pilot.press("down", "a")  # the second held-back one
        await pilot.pause()
        taken = panel.items[1]
        assert taken.accepted and taken.label == "M1"
        assert str(taken.body.render()).startswith("[M1] ")
        assert [item.label for item in panel.items if item is not taken] == [None] * (
            len(panel.items) - 1
        )
        assert counted().startswith("nothing relevant enough, 1 accepted")
        assert counted().endswith(" · 1 in the prompt")
        assert "1 in the prompt" in str(app.query_one("#insights-line").render())
        await pilot.press("b")  # hidden again, the one taken stays listed and in the prompt
        await until(pilot, lambda: len(panel.items) == 1)
        assert panel.items[0].hit.memory.id == taken.hit.memory.id and panel.items[0].accepted
        assert counted().endswith(" · 1 in the prompt")
        assert panel.border_title == "Insights (0 + 1 held back)"  # what is listed
        assert hint().endswith(f"b shows {held - 1} more held back")  # the one taken is shown
        await pilot.press("b")
        await until(pilot, lambda: len(panel.items) == held)
        taken = next(item for item in panel.items if item.accepted)
        assert taken.label == "M1" and counted().endswith(" · 1 in the prompt")
        app.query_one(PromptArea).focus()
        await pilot.pause()
        assert hint().endswith(f"tab, then b hides {held} held back")  # the focus left
        await pilot.press("enter")
        await finish_run(pilot, app)
        system = app.session.model().calls[0][0]["content"]  # type: ignore[union-attr]
        assert f"[M1] {item_text(taken.hit.memory)}" in system
        others = [item.hit.memory for item in panel.items if item is not taken]
        assert not any(item_text(memory) in system for memory in others)
        assert taken.label == "M1"


async def test_while_the_model_is_retried_the_prompt_says_so_and_asks_nothing(
    git_repo: Path, pool: list[int], tmp_path: Path
) -> None:
    """A dead endpoint (a real closed port), retried once: the disabled prompt says the run
    waits for the model, never "answer the question above" with no question shown."""
    import socket

    from mtl_tui.config import load_settings
    from mtl_tui.ui.app import IDLE_PROMPT, WAITING_PROMPT

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = load_settings({"model": "openai/gpt-4o-mini", "api_base": f"http://127.0.0.1:{port}/v1"})
    cfg.agent.model_retries = 1
    app = MtlApp(cfg, git_repo)
    seen: list[str] = []
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        prompt = app.query_one(PromptArea)
        await type_task(pilot, "fix the add function")

        def shown(text: str) -> None:
            seen.append(text)

        app.watch(prompt, "placeholder", shown, init=False)  # every text it shows
        await pilot.press("enter")
        await until(pilot, lambda: seen and not app.running, timeout=120)
        assert WAITING_PROMPT in seen
        retrying = "Waiting for the model (retry 1) · esc twice interrupts"
        assert any(retrying in text for text in seen)
        assert not any("answer the question" in text.lower() for text in seen)
        assert not list(app.query(AnswerBar))  # no question was ever shown
        notes = [str(n.render()) for n in app.query(".note")]
        assert any("cannot reach" in n for n in notes)
        assert prompt.placeholder == IDLE_PROMPT and not prompt.disabled


def test_the_browser_says_how_long_ago_without_zero_hours() -> None:
    from datetime import UTC, datetime, timedelta

    from mtl_tui.ui.screens import _age

    def ago(**delta: float) -> str:
        return _age((datetime.now(UTC) - timedelta(**delta)).isoformat())

    assert ago(seconds=20) == "now"
    assert ago(minutes=20) == "<1h"
    assert ago(hours=3, minutes=10) == "3h"
    assert ago(days=3, hours=1) == "3d"
    assert _age(None) == "never"
