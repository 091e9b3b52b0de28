from __future__ import annotations

from pathlib import Path

import pytest

from mtl_tui.bench.suite import load_suite, prepare, verify

TASKS = load_suite()


def test_the_builtin_suite_spans_domains_and_languages() -> None:
    assert len(TASKS) >= 12
    assert len({t.domain for t in TASKS}) >= 4
    assert len({t.language for t in TASKS}) >= 4
    assert len({t.id for t in TASKS}) == len(TASKS)


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_each_task_fails_at_start_and_passes_with_its_reference(task, tmp_path: Path) -> None:
    assert not verify(task, prepare(task, tmp_path / "start"))
    assert verify(task, prepare(task, tmp_path / "solved", with_solution=True))
