from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtl_tui import events as ev
from mtl_tui import paths
from mtl_tui.agent.loop import Decision, parse_commands
from mtl_tui.agent.model import ModelReply, ScriptedModel
from mtl_tui.config import Settings
from mtl_tui.session import Session
from tests.conftest import DONE, bash


def settings(**agent: object) -> Settings:
    cfg = Settings()
    return cfg.model_copy(update={"agent": cfg.agent.model_copy(update=agent)})


def run(repo: Path, replies: list[str | ModelReply], approver=None, **agent: object):
    model = ScriptedModel([r if isinstance(r, ModelReply) else ModelReply(r) for r in replies])
    events: list[ev.Event] = []
    kwargs = {"approver": approver} if approver else {}
    session = Session(settings(**agent), repo, emit=events.append, model=model, **kwargs)
    summary = session.run("make the cart total apply a discount")
    traj = json.loads(Path(summary.trajectory).read_text())
    return summary, traj, model, events


def test_parse_commands() -> None:
    assert parse_commands(bash("ls -la")) == ["ls -la"]
    assert parse_commands("```sh\necho a\necho b\n```") == ["echo a\necho b"]
    assert parse_commands("no block") == []
    assert len(parse_commands(bash("a") + bash("b"))) == 2
    assert parse_commands("```python\nprint(1)\n```") == []


def test_scripted_run_edits_files_and_completes(git_repo: Path) -> None:
    summary, traj, model, events = run(
        git_repo,
        [
            bash("cat src/cart.py", "Inspect first."),
            bash("sed -i 's/sum(items)/sum(items) * 0.9/' src/cart.py"),
            bash("python3 -c 'import sys; sys.path.insert(0, \"src\"); import cart; "
                 "print(cart.total([10]))'"),
            DONE,
        ],
    )  # fmt: skip
    assert summary.status == "completed" and summary.completed
    assert summary.steps == 4
    assert "* 0.9" in (git_repo / "src" / "cart.py").read_text()
    assert "src/cart.py" in summary.diff_stat
    stat = summary.diff_stat.splitlines()  # git's stat, every line at one indent
    assert stat[0].startswith("src/cart.py |") and stat[-1].startswith("1 file changed")
    assert traj["steps"][2]["output"].strip() == "9.0"
    assert traj["status"] == "completed" and traj["format"] == "mtl-trajectory"
    assert traj["repo"] == "shop" and traj["languages"][0] == "python"
    # The model saw each observation with return code and output.
    observation = model.calls[1][-1]["content"]
    assert "<returncode>0</returncode>" in observation and "def total" in observation
    assert (
        model.calls[0][0]["role"] == "system"
        and "MTL_TASK_COMPLETE" in model.calls[0][0]["content"]
    )
    assert "make the cart total apply a discount" in model.calls[0][1]["content"]
    assert any(isinstance(e, ev.RunFinished) and e.status == "completed" for e in events)


def test_sentinel_must_be_the_first_output_line(git_repo: Path) -> None:
    summary, *_ = run(git_repo, [bash("echo hello; echo MTL_TASK_COMPLETE"), DONE])
    assert summary.status == "completed" and summary.steps == 2


def test_format_error_recovers(git_repo: Path) -> None:
    summary, _traj, model, events = run(
        git_repo, ["I think I am done.", bash("ls") + bash("pwd"), bash("ls"), DONE]
    )
    assert summary.status == "completed"
    errors = [e for e in events if isinstance(e, ev.FormatError)]
    assert [e.blocks for e in errors] == [0, 2]
    assert "exactly one" in model.calls[1][-1]["content"]


def test_three_format_errors_in_a_row_end_the_run(git_repo: Path) -> None:
    summary, traj, *_ = run(git_repo, ["no", "still no", "nope", DONE])
    assert summary.status == "format_error" and summary.steps == 3
    assert traj["status"] == "format_error"


def test_step_limit(git_repo: Path) -> None:
    summary, _traj, *_ = run(git_repo, [bash("true")] * 5 + [DONE], step_limit=3)
    assert summary.status == "step_limit" and summary.steps == 3
    assert not summary.completed


def test_cost_limit(git_repo: Path) -> None:
    replies = [ModelReply(bash("true"), cost=0.4) for _ in range(5)] + [ModelReply(DONE)]
    summary, *_ = run(git_repo, replies, cost_limit=1.0)
    assert summary.status == "cost_limit"
    assert summary.steps == 3 and summary.cost == pytest.approx(1.2)


def test_wall_time_limit(git_repo: Path) -> None:
    summary, *_ = run(git_repo, [bash("sleep 0.6")] * 10 + [DONE], wall_time_limit=1.0)
    assert summary.status == "time_limit" and summary.steps <= 3


def test_command_timeout_is_reported_to_the_model(git_repo: Path) -> None:
    summary, traj, model, _ = run(git_repo, [bash("sleep 30"), DONE], command_timeout=0.5)
    assert summary.status == "completed"
    assert traj["steps"][0]["timed_out"]
    assert "timed out" in model.calls[1][-1]["content"]


def test_rejected_and_edited_commands(git_repo: Path) -> None:
    answers = iter([
        Decision("reject", reason="do not delete sources"),
        Decision("edit", command="echo edited > note.txt"),
        Decision("run"),
    ])  # fmt: skip
    summary, traj, model, _ = run(
        git_repo,
        [bash("rm -rf src"), bash("echo original > note.txt"), DONE],
        approver=lambda command: next(answers),
    )
    assert summary.status == "completed"
    assert (git_repo / "src" / "cart.py").exists()
    assert (git_repo / "note.txt").read_text() == "edited\n"
    assert "do not delete sources" in model.calls[1][-1]["content"]
    assert "echo edited > note.txt" in model.calls[2][-1]["content"]
    assert [s["approval"] for s in traj["steps"]] == ["rejected", "edited", "run"]


def test_trajectory_is_written_after_every_step(git_repo: Path) -> None:
    seen: list[int] = []

    class Watching(ScriptedModel):
        def query(self, messages, on_token=None, on_retry=None):  # type: ignore[override]
            for path in paths.trajectories_dir().glob("*.traj.json"):
                seen.append(len(json.loads(path.read_text())["steps"]))
            return super().query(messages, on_token, on_retry)

    model = Watching([ModelReply(bash("true")), ModelReply(bash("true")), ModelReply(DONE)])
    Session(settings(), git_repo, model=model).run("task")
    assert seen == [0, 1, 2]


def test_secrets_in_outputs_stay_out_of_the_trajectory_file(git_repo: Path) -> None:
    summary, *_ = run(git_repo, [bash("echo API_KEY=sk-live-abcdefghijklmnopqrstuv"), DONE])
    text = Path(summary.trajectory).read_text()
    assert "abcdefghijklmnopqrstuv" not in text and "[REDACTED]" in text


def test_model_running_out_of_replies_is_a_model_error(git_repo: Path) -> None:
    summary, traj, *_ = run(git_repo, [bash("true")])
    assert summary.status == "model_error" and "no reply left" in summary.message
    assert traj["status"] == "model_error"


def test_outside_a_repository_it_runs_with_a_warning(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    summary, _traj, *_ = run(plain, [bash("echo hi > a.txt"), DONE])
    assert summary.completed and not summary.undo_available
    assert (plain / "a.txt").exists()
    assert any("not inside a git repository" in w for w in summary.warnings)
