"""Benchmark the agent harness's own overhead per step, with the scripted model.

    python tests/bench_agent.py [--steps 100] [--output-chars 2000]

Overhead = wall time of the run minus the time the commands' subprocesses took, divided
by the steps: parsing, approvals, events, observation rendering, the trajectory written
after every step. Target: under 20 ms. Not part of the test run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from mtl_tui.agent.model import ModelReply, ScriptedModel
from mtl_tui.config import Settings
from mtl_tui.session import Session


def one_run(steps: int, output_chars: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MTL_HOME"] = str(Path(tmp) / "home")
        repo = Path(tmp) / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        (repo / "a.py").write_text("x = 1\n")
        command = f"head -c {output_chars} /dev/zero | tr '\\0' 'x'"
        replies = [ModelReply(f"Step.\n```bash\n{command}\n```") for _ in range(steps)]
        replies.append(ModelReply("Done.\n```bash\necho MTL_TASK_COMPLETE\n```"))
        cfg = Settings()
        cfg.agent.step_limit = steps + 5
        session = Session(cfg, repo, model=ScriptedModel(replies))
        started = time.perf_counter()
        summary = session.run("benchmark")
        total = time.perf_counter() - started
        assert summary.completed, summary
        traj = session.agent.trajectory  # type: ignore[union-attr]
        in_commands = sum(s.command_seconds or 0 for s in traj.steps)
        return total, in_commands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--output-chars", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    per_step = []
    for _ in range(args.repeat):
        total, in_commands = one_run(args.steps, args.output_chars)
        per_step.append((total - in_commands) / (args.steps + 1))
        print(
            f"run: {total:.2f} s total, {in_commands:.2f} s in subprocesses, "
            f"{per_step[-1] * 1e3:.2f} ms overhead per step",
            flush=True,
        )
    print(
        f"median harness overhead per step ({args.steps} steps, {args.output_chars} "
        f"chars of output each, snapshot + diff included): "
        f"{statistics.median(per_step) * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
