"""Every face honours the repository's `git config mtl.memory` as a run does: `mtl learn`
(here), ACP and MCP (their own files, with the real SDK clients)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtl_tui import paths
from mtl_tui.memory.store import MemoryStore
from mtl_tui.repo.identity import identify
from tests.conftest import git, script_file
from tests.test_histories import _home_with_sessions
from tests.test_learning import insights_reply
from tests.test_pool_health import PROJECT_LESSON, a_repo, mtl_in, pool_bytes

GLOBAL_LESSON = {
    **PROJECT_LESSON,
    "title": "Compare dates in one time zone before asserting on them",
    "description": "Dates from two zones differ by hours and fail equality.",
    "content": "Convert both sides to UTC before comparing dates in a test.",
    "scope": "global",
}


def learn_from_claude(repo: Path, tmp_path: Path) -> tuple[int, str, str]:
    """`mtl learn --from claude-code` in `repo`, the model proposing one global and one
    project lesson; (exit code, stdout, stderr)."""
    home = tmp_path / "home"
    if not home.exists():
        _home_with_sessions(home)
    model = script_file(tmp_path, [insights_reply(GLOBAL_LESSON, PROJECT_LESSON)])
    env = {"HOME": str(home), "CLAUDE_CONFIG_DIR": "", "CODEX_HOME": ""}
    done = mtl_in(repo, "learn", "--from", "claude-code", "--kind", "insight", "--outcome",
                  "success", "--model", model, "--yes", "--json", env=env)  # fmt: skip
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("policy", ["on", "project"])
def test_learn_from_scopes_lessons_as_a_run_in_this_repository_does(
    policy: str, tmp_path: Path, embedder: object
) -> None:
    repo = a_repo(tmp_path, "inventory")
    git(repo, "config", "mtl.memory", policy)
    code, stdout, stderr = learn_from_claude(repo, tmp_path)
    assert code == 0, stderr
    learned = json.loads(stdout)[0]["learned"]
    store = MemoryStore.open()
    try:
        kept = {store.get(i).title: store.get(i) for i in learned}
    finally:
        store.close()
    key = identify(repo).key
    assert set(kept) == {GLOBAL_LESSON["title"], PROJECT_LESSON["title"]}
    project, other = kept[PROJECT_LESSON["title"]], kept[GLOBAL_LESSON["title"]]
    assert (project.scope, project.repo_key) == ("project", key)
    # with `project` everything learned here stays here, whatever the model proposed
    assert other.scope == ("project" if policy == "project" else "global")
    assert other.repo_key == key


def test_learn_from_refuses_in_an_opted_out_repository(tmp_path: Path) -> None:
    repo = a_repo(tmp_path, "inventory")
    MemoryStore.open().close()
    before = pool_bytes()
    git(repo, "config", "mtl.memory", "off")
    code, stdout, stderr = learn_from_claude(repo, tmp_path)
    assert code == 2 and stdout == ""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "memory is off for this repository" in lines[0], stderr
    assert pool_bytes() == before
    assert paths.pool_file().exists()
