"""Memory transfer end to end: `mtl run` through litellm against a local server, and
`mtl learn` on a mini-swe-agent trajectory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mtl_tui.memory.store import MemoryStore
from tests.conftest import DONE, bash, insight, run_mtl, script_file
from tests.openai_server import FakeOpenAI, reply
from tests.test_learning import LESSON, SHARED, insights_reply

MODEL = "openai/local-test-model"
TITLES = [
    "Append to files with >> so existing content survives",
    "Read a file back after writing it to confirm the change",
    "Profile before optimising a slow database query",
]


@pytest.fixture
def pool(store: MemoryStore) -> list[int]:
    """Three lessons, one unrelated to the task: these tests are about injection and
    feedback, so the floor is off (it has its own tests in test_retrieval.py)."""
    from mtl_tui.config import save_setting

    ids = [r.id for r in store.add_many([insight(t, ["shell"]) for t in TITLES])]
    store.close()
    save_setting("memory.floor", -1.0)
    save_setting("memory.screen", False)  # the replies planned are the agent's
    return ids


def mtl_run(repo: Path, server: FakeOpenAI, *flags: str):
    here = Path.cwd()
    os.chdir(repo)
    try:
        result = run_mtl(
            "run", "append a line to the notes file and check it", "--model", MODEL,
            "--api-base", server.base_url, "--yes", "--json", *flags,
            env={"OPENAI_API_KEY": ""},
        )  # fmt: skip
    finally:
        os.chdir(here)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_accepted_memories_reach_the_server(
    git_repo: Path, fake_openai: FakeOpenAI, pool: list[int]
) -> None:
    fake_openai.plans = [reply(bash("echo note >> notes.txt")), reply(DONE),
                         reply(insights_reply(LESSON))]  # fmt: skip
    summary, _ = mtl_run(git_repo, fake_openai, "--accept", "all", "--verify", "test -s notes.txt")
    system = fake_openai.system_prompts()[0]
    assert sorted(summary["retrieved"]) == sorted(pool)
    assert summary["accepted"] == summary["retrieved"]
    for title in TITLES:
        assert title in system
    assert "[M1]" in system and "[M3]" in system
    assert summary["outcome"] == "success" and len(summary["learned"]) == 1
    store = MemoryStore.open()
    try:
        learned = store.get(summary["learned"][0])
        assert learned.title == LESSON["title"] and learned.model == MODEL
        assert learned.repo == "shop" and learned.outcome == "success"
        assert all(store.get(i).uses == 1 and store.get(i).wins == 1 for i in pool)
    finally:
        store.close()
    distill_prompt = fake_openai.requests[-1]["body"]["messages"][0]["content"]
    assert "This run SUCCEEDED" in distill_prompt


def test_a_repeat_run_says_it_learned_nothing_new(
    git_repo: Path, fake_openai: FakeOpenAI, pool: list[int]
) -> None:
    """The same lesson twice: the second `mtl run` says 0 new and names the memory it
    matched (--json's `learned_new: []` on a repeat: test_learning.py)."""
    add_again = json.dumps({"operations": [{"op": "add", "lesson": "C1"}]})
    fake_openai.plans = [reply(DONE), reply(insights_reply(LESSON)),
                         reply(DONE), reply(insights_reply(LESSON)), reply(add_again)]  # fmt: skip
    first, _ = mtl_run(git_repo, fake_openai, "--verify", "true")
    [mid] = first["learned_new"]
    here = Path.cwd()
    os.chdir(git_repo)
    try:
        result = run_mtl(
            "run", "append a line to the notes file and check it", "--model", MODEL,
            "--api-base", fake_openai.base_url, "--yes", "--verify", "true",
            env={"OPENAI_API_KEY": ""},
        )  # fmt: skip
    finally:
        os.chdir(here)
    assert result.returncode == 0, result.stderr
    assert f"learned 0 new · 1 agreed with existing #{mid}" in result.stderr
    assert f"known already: “{LESSON['title']}” (same as #{mid})" in result.stderr


def test_rejected_memories_stay_out_of_the_prompt(
    git_repo: Path, fake_openai: FakeOpenAI, pool: list[int]
) -> None:
    fake_openai.plans = [reply(DONE)]
    summary, stderr = mtl_run(git_repo, fake_openai, "--accept", "none", "--no-learn",
                              "--verify", "true")  # fmt: skip
    system = fake_openai.system_prompts()[0]
    assert len(summary["retrieved"]) == 3 and summary["accepted"] == []
    assert "Memory items" not in system
    assert not any(title in system for title in TITLES)
    assert "not in the prompt" in stderr


def test_no_memory_sends_none(git_repo: Path, fake_openai: FakeOpenAI, pool: list[int]) -> None:
    fake_openai.plans = [reply(DONE)]
    summary, _ = mtl_run(git_repo, fake_openai, "--no-memory", "--no-learn")
    assert summary["retrieved"] == [] and summary["accepted"] == []
    assert "Memory items" not in fake_openai.system_prompts()[0]


def test_learn_from_a_mini_swe_agent_trajectory(tmp_path: Path) -> None:
    model = script_file(tmp_path, ["PASS", insights_reply(LESSON)])
    result = run_mtl("learn", str(SHARED / "github_issue.traj.json"), "--model", model, "--json")
    assert result.returncode == 0, result.stderr
    [report] = json.loads(result.stdout)
    assert report["outcome"] == "success" and report["outcome_source"] == "judge"
    [mid] = report["learned"]
    shown = json.loads(run_mtl("memory", "show", str(mid), "--json").stdout)
    assert shown["title"] == LESSON["title"]
    assert shown["languages"] == ["python"] and shown["origin"] == "learn:mini-swe-agent"
    assert shown["model"].startswith("scripted/")


def test_learn_rejects_a_file_that_is_not_a_trajectory(tmp_path: Path) -> None:
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": "world"}')
    model = script_file(tmp_path, ["PASS"])
    result = run_mtl("learn", str(bad), "--model", model)
    assert result.returncode == 2 and "not a trajectory" in result.stderr
