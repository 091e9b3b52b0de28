"""Helpers for driving the real app under App.run_test()."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from mtl_tui.config import load_settings
from mtl_tui.ui.app import MtlApp
from mtl_tui.ui.screens import MemoryBrowser
from mtl_tui.ui.widgets import AnswerBar, InsightsPanel, PromptArea
from tests.conftest import TUI_TITLES, script_file

SIZE = (130, 40)
TITLES = TUI_TITLES


async def until(pilot: Pilot, predicate: Callable[[], object], timeout: float = 60) -> None:
    """Let the app run until `predicate()` holds (workers report through the app)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            notes = [str(w.render()) for w in pilot.app.query(".note, .answered, .question")]
            raise AssertionError(f"timed out waiting for the app; it shows: {notes}")
        await pilot.pause(0.02)


def make_app(
    repo: Path,
    replies: list[str] | None,
    tmp_path: Path,
    floor: float = -1.0,
    screen: bool = False,
    **kwargs: object,
) -> MtlApp:
    """The app on a scripted model. The relevance floor is off (-1) and the model does not
    screen by default: these tests are about the panel's mechanics on tiny pools, their
    scripted replies are the agent's; the floor and screening have their own tests."""
    model = script_file(tmp_path, replies) if replies is not None else None
    cfg = load_settings({"model": model})
    cfg.memory.floor = floor
    cfg.memory.screen = screen
    return MtlApp(cfg, repo, **kwargs)  # type: ignore[arg-type]


async def ready(pilot: Pilot) -> MtlApp:
    app = pilot.app
    assert isinstance(app, MtlApp)
    await until(pilot, lambda: app.ready)
    return app


async def type_task(pilot: Pilot, text: str) -> InsightsPanel:
    app = pilot.app
    app.query_one(PromptArea).focus()
    await pilot.press(*text)
    panel = app.query_one(InsightsPanel)
    await until(pilot, lambda: panel.query_text == text)
    await until(pilot, lambda: all(str(item.body.render()) for item in panel.items))
    return panel


def bar(app: MtlApp, kind: type[AnswerBar] = AnswerBar) -> AnswerBar | None:
    """The question waiting for an answer, once it has the focus (keys go there)."""
    pending = [b for b in app.query(kind) if not b.answered and b.has_focus]
    return pending[-1] if pending else None


async def open_browser(pilot: Pilot, rows: int) -> MemoryBrowser:
    """f2, then the memory browser once it lists `rows` memories."""
    await pilot.press("f2")
    browser = pilot.app.screen
    assert isinstance(browser, MemoryBrowser)
    await until(pilot, lambda: len(browser.rows) == rows)
    return browser


def shown_text(widget: Static, width: int = 76) -> str:
    """What a Static shows, as plain lines `width` wide (its content may be any renderable,
    such as a review item's grid of labelled fields)."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(widget.content)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())
