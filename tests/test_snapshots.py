"""Screenshots of the real app compared with the accepted ones (pytest-textual-snapshot).

After an intended visual change: `python3 -m pytest tests/test_snapshots.py --snapshot-update`
and review the SVGs under tests/__snapshots__/."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from mtl_tui.ui.widgets import ApprovalBar, InsightsPanel
from tests.conftest import DONE, bash
from tests.tuikit import SIZE, bar, make_app, ready, type_task, until

TASK = "a bash script breaks on folder names with spaces"


def with_task(*keys: str):
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await type_task(pilot, TASK)
        if keys:
            await pilot.press(*keys)
        await pilot.pause()

    return run_before


def test_main_screen(snap_compare, git_repo: Path, pool: list[int], tmp_path: Path) -> None:
    app = make_app(git_repo, [DONE], tmp_path)
    assert snap_compare(app, terminal_size=SIZE, run_before=with_task())


def test_panel_states(snap_compare, git_repo: Path, pool: list[int], tmp_path: Path) -> None:
    app = make_app(git_repo, [DONE], tmp_path)
    keys = ("tab", "x", "down", "plus", "plus")
    assert snap_compare(app, terminal_size=SIZE, run_before=with_task(*keys))


def test_confirmation(snap_compare, git_repo: Path, pool: list[int], tmp_path: Path) -> None:
    app = make_app(git_repo, [bash("ls -la src", "Look at the sources first."), DONE], tmp_path)

    async def run_before(pilot: Pilot) -> None:
        await with_task()(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: bar(pilot.app, ApprovalBar))  # type: ignore[arg-type]
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_memory_browser(snap_compare, git_repo: Path, pool: list[int], tmp_path: Path) -> None:
    app = make_app(git_repo, [DONE], tmp_path)

    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("f2")
        await until(pilot, lambda: len(getattr(pilot.app.screen, "rows", [])) == 3)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("theme", ["mtl-dark", "mtl-light", "mtl-high-contrast", "mtl-dusk"])
def test_theme(snap_compare, git_repo: Path, pool: list[int], tmp_path: Path, theme: str) -> None:
    app = make_app(git_repo, [DONE], tmp_path, theme=theme)

    async def run_before(pilot: Pilot) -> None:
        await with_task("tab", "x")(pilot)
        panel = pilot.app.query_one(InsightsPanel)
        await until(pilot, lambda: len(panel.items) == 3)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
