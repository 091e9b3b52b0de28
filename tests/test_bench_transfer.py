"""Model runs on the adapted suites through the scripted model: cross-suite pools
(`--pool-from`), resumed runs, skipped attempts and the per-language table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mtl_tui.agent.model import ModelReply, ScriptedModel
from mtl_tui.bench.runner import Bench, Results
from mtl_tui.bench.suites import load_spec
from mtl_tui.config import Settings
from mtl_tui.memory.store import MemoryStore
from tests.conftest import DONE, run_mtl, script_file

DATA = Path(__file__).parent / "data" / "bench"
POLYGLOT = f"polyglot:{DATA / 'polyglot'}"
LCB = f"livecodebench:{DATA / 'livecodebench.jsonl'}"
LEARNING_REPLIES = [
    DONE,
    json.dumps({"insights": [{"title": "Run the provided examples before finishing",
                              "description": "d", "content": "c"}]}),
    json.dumps({"summaries": [{"task_summary": "A small exercise.",
                               "experience_summary": "Nothing was done."}]}),
    json.dumps({"workflows": [{"goal": "Finish an exercise", "commands": ["echo done"]}]}),
]  # fmt: skip


def test_pool_from_another_suite_feeds_the_evaluated_one(tmp_path: Path) -> None:
    from mtl_tui.config import save_setting

    # The scripted lesson fits no task in particular: this is about where memories come
    # from, so the relevance floor is off (it has its own tests in test_retrieval.py).
    save_setting("memory.floor", -1.0)
    save_setting("memory.screen", False)  # its replies are the agent's
    output, problems = tmp_path / "results.json", tmp_path / "two.jsonl"
    problems.write_text("\n".join((DATA / "livecodebench.jsonl").read_text().splitlines()[:2]))
    source = f"livecodebench:{problems}"
    result = run_mtl("bench", "--suite", POLYGLOT, "--languages", "python", "--pool-from", source,
                     "--model", script_file(tmp_path, LEARNING_REPLIES), "--attempts", "1",
                     "--conditions", "zero-shot,insight", "--output", str(output))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"memories from a first pass over {source}" in result.stderr.replace("\n", "")
    data = json.loads(output.read_text())
    assert data["pool_from"] == [source]
    assert sorted(data["pool_done"]) == ["lcb/9001", "lcb/mtl001_a"]
    assert {a["suite"] for a in data["attempts"]} == {"polyglot"}
    insight = [a for a in data["attempts"] if a["condition"] == "insight"]
    assert len(insight) == 2
    for attempt in insight:  # every retrieved memory came from the other suite
        assert attempt["retrieved"] and attempt["retrieved_domains"] == ["livecodebench"]
    assert all(not a["retrieved"] for a in data["attempts"] if a["condition"] == "zero-shot")
    assert set(data["table_by_language"]["insight"]) >= {"python", "average", "delta"}
    assert (tmp_path / "results.pool.sqlite").exists()
    assert "by language" not in result.stdout  # one language: the domain table is enough


def test_an_interrupted_model_run_continues_where_it_stopped(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    args = ["bench", LCB, "--limit", "2", "--model", script_file(tmp_path, [DONE]),
            "--attempts", "2", "--conditions", "zero-shot", "--jobs", "2",
            "--output", str(output)]  # fmt: skip
    first = run_mtl(*args)
    assert first.returncode == 0, first.stderr
    data = json.loads(output.read_text())
    assert len(data["attempts"]) == 4
    data["attempts"] = data["attempts"][:1]  # as the file stood after the third attempt
    output.write_text(json.dumps(data))
    trajectories = Path(json.loads(output.read_text())["attempts"][0]["trajectory"]).parent
    before = len(list(trajectories.iterdir()))
    again = run_mtl(*args)
    assert again.returncode == 0, again.stderr
    assert f"continuing {output}: 1 of 4 attempts done" in again.stderr.replace("\n", " ")
    resumed = json.loads(output.read_text())
    assert resumed["attempts"][:1] == data["attempts"]
    keys = {(a["task"], a["attempt"]) for a in resumed["attempts"]}
    assert len(resumed["attempts"]) == len(keys) == 4
    assert len(list(trajectories.iterdir())) - before == 3  # only the missing ones ran
    other = run_mtl(*[a if a != "2" else "3" for a in args])
    assert other.returncode == 2 and "holds another run (attempts per task differ)" in (
        other.stderr)  # fmt: skip


def _bin(tmp_path: Path) -> str:
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("bash", "sh", "git", "python3", "cp", "rm", "mkdir", "ln", "cat", "env"):
        (folder / tool).symlink_to(shutil.which(tool) or tool)
    return str(folder)


def test_attempts_without_a_toolchain_are_skipped_and_scored_apart(
    tmp_path: Path, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = load_spec(POLYGLOT, tmp_path / "cache", {"python", "rust"})
    monkeypatch.setenv("PATH", _bin(tmp_path))

    def solver(task: object) -> ScriptedModel:
        fix = f"```bash\ncp -r {task.solution}/. .\n```"  # type: ignore[attr-defined]
        return ScriptedModel([ModelReply(fix), ModelReply(DONE)])

    results = Bench(tasks, Settings(), store, solver, "scripted", jobs=2).run(["zero-shot"], 1)
    rust = next(a for a in results.attempts if a.language == "rust")
    assert (rust.status, rust.success) == ("skipped", False)
    assert "cargo not found on PATH" in rust.reason
    row = results.table("language")["zero-shot"]
    assert row["skipped"] == 1 and "rust" not in row
    assert row["python"] == {"pass@1": 1.0, "pass@k": 1.0}
    assert Results.from_dict(json.loads(json.dumps(results.to_dict()))) == results


def test_parallel_attempts_keep_at_most_jobs_in_flight() -> None:
    import threading
    import time

    from mtl_tui.bench.runner import bounded_map

    lock, state = threading.Lock(), {"running": 0, "peak": 0, "taken": 0, "yielded": 0}

    def items() -> object:
        for number in range(200):
            with lock:  # never more than `jobs` taken ahead of what was handed back
                assert state["taken"] - state["yielded"] <= 3
                state["taken"] += 1
            yield number

    def work(number: int) -> int:
        with lock:
            state["running"] += 1
            state["peak"] = max(state["peak"], state["running"])
        time.sleep(0.001)
        with lock:
            state["running"] -= 1
        return number * 2

    results = []
    for value in bounded_map(work, items(), jobs=3):  # type: ignore[arg-type]
        state["yielded"] += 1
        results.append(value)
    assert sorted(results) == [n * 2 for n in range(200)]
    assert state["peak"] <= 3
