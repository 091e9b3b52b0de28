"""`mtl learn` on the histories other agents keep: mini-swe-agent 2.x, Claude Code, Codex
CLI and ATIF (Harbor), from hand-written fixtures in tests/data/histories (see its README)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from mtl_tui.cli.learn import _discover, parse_since
from mtl_tui.errors import MtlError
from mtl_tui.memory.learn import load_history
from tests.conftest import run_mtl
from tests.openai_server import FakeOpenAI, reply
from tests.test_learning import insights_reply

DATA = Path(__file__).parent / "data" / "histories"
CLAUDE = DATA / "claude-code-5b0c2d4e-7a1f-4c33-9e51-2f8d0a6b9c10.jsonl"
CODEX = DATA / "rollout-2026-11-03T14-02-11-0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.jsonl"
MINI2 = DATA / "mini-swe-agent-2.traj.json"
ATIF = DATA / "atif-trial" / "agent" / "trajectory.json"
FAKE_SECRETS = ("Zx9Zx9", "sk-test-Q2w3", "hunter2pass")


def lesson(title: str) -> dict[str, object]:
    return {
        "title": title,
        "description": f"{title}.",
        "content": f"{title}; it saves a round of guessing.",
        "tags": ["testing"],
    }


@pytest.mark.parametrize(
    ("path", "source", "task_start", "steps", "first_command", "outcome", "model"),
    [
        (MINI2, "mini-swe-agent", "slugify() keeps trailing dashes", 4, "ls && cat slugify.js",
         "unknown", "openai/gpt-5-mini"),
        (CLAUDE, "claude-code", "The test for parse_date fails", 4,
         "python -m pytest tests/test_dates.py -q", "unknown", "claude-sonnet-4-5"),
        (CODEX, "codex", "total.sh prints the wrong sum", 4,
         "cat total.sh && od -c data/sample.csv | head -3", "unknown", "gpt-5-codex"),
        (ATIF, "atif", "Write a regex in", 3, "head -5 …/log.txt", "success",
         "anthropic/claude-sonnet-4-5"),
    ],
)  # fmt: skip
def test_each_format_is_read_into_steps(
    path: Path,
    source: str,
    task_start: str,
    steps: int,
    first_command: str,
    outcome: str,
    model: str,
) -> None:
    history = load_history(path)
    record = history.record
    assert history.source == source
    assert record.task.startswith(task_start)
    assert len(record.steps) == steps
    assert first_command in record.steps[0][0]
    assert record.outcome == outcome and record.model == model
    text = json.dumps([record.task, record.steps])
    assert not any(secret in text for secret in FAKE_SECRETS)
    assert "/home/dev" not in text


def test_tool_results_pair_with_their_calls() -> None:
    claude = load_history(CLAUDE).record
    assert claude.steps[0][1].startswith("error\nF.")  # is_error result of the first Bash
    assert "12 passed" in claude.steps[2][1]
    assert "subagent prompt" not in json.dumps(claude.steps)  # sidechain lines skipped
    assert load_history(CLAUDE).project == "inventory-api"
    codex = load_history(CODEX).record
    assert codex.steps[0][1].startswith("returncode 0\n")
    assert "apply_patch" in codex.steps[1][0] and "Updated the following files" in codex.steps[1][1]
    assert "environment_context" not in codex.task
    mini = load_history(MINI2).record
    assert mini.steps[1][1].startswith("<returncode>1</returncode>")
    assert mini.changed_files == ["slugify.js"] and mini.languages == ["javascript"]


def test_a_session_file_without_a_request_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"type": "summary", "summary": "x", "leafUuid": "u"}) + "\n")
    with pytest.raises(MtlError, match="no user request"):
        load_history(empty)
    atif = json.loads(ATIF.read_text())
    atif["steps"] = [step for step in atif["steps"] if step["source"] != "user"]
    headless = tmp_path / "trajectory.json"
    headless.write_text(json.dumps(atif))
    with pytest.raises(MtlError, match="no user step"):
        load_history(headless)


def _home_with_sessions(home: Path) -> None:
    project = home / ".claude" / "projects" / "-home-dev-inventory-api"
    project.mkdir(parents=True)
    shutil.copy(CLAUDE, project / CLAUDE.name.removeprefix("claude-code-"))
    day = home / ".codex" / "sessions" / "2026" / "11" / "03"
    day.mkdir(parents=True)
    shutil.copy(CODEX, day / CODEX.name)


def test_sessions_are_found_and_filtered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    _home_with_sessions(home)
    other = home / ".claude" / "projects" / "-home-dev-blog" / "9e0f.jsonl"
    other.parent.mkdir()
    other.write_text(CLAUDE.read_text().replace("inventory-api", "blog"))
    old = time.time() - 40 * 86400
    os.utime(other, (old, old))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("CODEX_HOME", raising=False)

    assert {h.project for h in _discover("claude-code", None, None, None)} == {
        "inventory-api",
        "blog",
    }
    assert [h.project for h in _discover("claude-code", "7d", None, None)] == ["inventory-api"]
    assert [h.project for h in _discover("claude-code", None, "BLOG", None)] == ["blog"]
    assert [h.project for h in _discover("claude-code", None, None, 1)] == ["inventory-api"]
    assert [h.source for h in _discover("codex", None, None, None)] == ["codex"]
    with pytest.raises(MtlError, match="not a date"):
        parse_since("last tuesday")


@pytest.mark.slow
def test_learning_goes_through_the_model_scrubbed_and_only_once(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    home = tmp_path / "home"
    _home_with_sessions(home)
    env = {"HOME": str(home), "OPENAI_API_KEY": "", "CLAUDE_CONFIG_DIR": "", "CODEX_HOME": ""}
    args = ["learn", str(CODEX), str(ATIF), str(MINI2), "--from", "claude-code",
            "--model", "openai/local-test-model", "--api-base", fake_openai.base_url]  # fmt: skip

    refused = run_mtl(*args, env=env)  # no --yes, no terminal to ask on
    assert refused.returncode == 2 and "7 model calls" in refused.stderr
    assert fake_openai.requests == []

    fake_openai.plans = [
        reply("PASS"), reply(insights_reply(lesson("Strip carriage returns before parsing CSV"))),
        reply(insights_reply(lesson("Test a regex against lines that must not match"))),
        reply("FAIL"), reply(insights_reply(lesson("Reproduce with the test suite first"))),
        reply("PASS"), reply(insights_reply(lesson("Compare dates in one time zone"))),
    ]  # fmt: skip
    result = run_mtl(*args, "--yes", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [item["session"].split(":")[0] for item in report] == [
        "codex", "atif", "mini-swe-agent", "claude-code",
    ]  # fmt: skip
    assert [item["outcome_source"] for item in report] == ["judge", "recorded", "judge", "judge"]
    assert [item["outcome"] for item in report] == ["success", "success", "failure", "success"]
    assert all(len(item["learned"]) == 1 for item in report)
    assert len(fake_openai.requests) == 7
    sent = json.dumps([r["body"]["messages"] for r in fake_openai.requests])
    assert not any(secret in sent for secret in FAKE_SECRETS)
    assert "[REDACTED]" in sent and "/home/dev" not in sent

    shown = json.loads(run_mtl("memory", "show", str(report[3]["learned"][0]), "--json").stdout)
    assert shown["title"] == "Compare dates in one time zone"
    assert shown["origin"] == "learn:claude-code" and shown["outcome"] == "success"
    assert shown["repo"] == "inventory-api" and shown["model"] == "openai/local-test-model"

    again = run_mtl(*args, "--json", env=env)  # nothing new: no prompt, no model call
    assert again.returncode == 0, again.stderr
    assert all(item["skipped"] == "learned before" for item in json.loads(again.stdout))
    assert len(fake_openai.requests) == 7
    stats = json.loads(run_mtl("memory", "stats", "--json").stdout)
    assert stats["total"] == 4


def test_an_unusable_learning_reply_leaves_the_session_to_retry(
    git_repo: Path, tmp_path: Path
) -> None:
    """mtl's own trajectory: a reply that is not insight JSON stores nothing and leaves the
    session unmarked (said on stderr), so the next `mtl learn` tries it again; a reply
    with no lesson at all is a real answer and marks it. The table shows its date and
    repository."""
    from mtl_tui.config import Settings
    from mtl_tui.session import Session
    from tests.conftest import DONE, script_file
    from tests.test_learning import scripted

    run = Session(Settings(), git_repo, model=scripted(DONE)).run("tidy up", learn=False)
    trajectory = run.trajectory

    def learn(*replies: str, code: int = 0) -> str:
        model = script_file(tmp_path, list(replies))
        result = run_mtl("learn", trajectory, "--model", model, "--outcome", "success", "--yes")
        assert result.returncode == code, result.stderr
        if code:  # the summary says what was not done, and why
            assert "1 session NOT learned: the model's reply was unusable" in result.stdout
        return " ".join(result.stderr.split())

    err = learn("Sure, I will remember that.", code=1)
    assert "is not insight JSON" in err and "not marked as learned" in err
    assert "`mtl learn` tries this session again" in err
    started = json.loads(Path(trajectory).read_text())["started_at"][:10]
    assert f"│ {started} │ mtl │ shop │" in err  # not "-" for date and project
    err = learn('{"insights": []}')  # tried again: nothing to learn is an answer
    assert "skipped" not in err and "not marked" not in err
    err = learn("unused")
    assert "skipped: learned before" in err
