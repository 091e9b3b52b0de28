"""`mtl bench`: the runner, its scoring, cross-domain retrieval, results on disk."""

from __future__ import annotations

import json
from pathlib import Path

from mtl_tui.agent.model import ModelReply, ScriptedModel
from mtl_tui.bench.runner import Bench, Results, tag_domain
from mtl_tui.bench.suite import Task, load_suite
from mtl_tui.config import Settings
from mtl_tui.memory.store import MemoryStore
from tests.conftest import DONE, bash, insight, run_mtl, script_file

TASKS = load_suite()


def solver(task: Task) -> ScriptedModel:
    """Applies the task's reference solution, then finishes."""
    apply = bash(f"cp -r {task.solution}/. .", "Apply the known fix.")
    return ScriptedModel([ModelReply(apply), ModelReply(DONE)])


def idler(task: Task) -> ScriptedModel:
    return ScriptedModel([ModelReply(DONE)])


def test_reference_solutions_score_one_and_doing_nothing_scores_zero(store: MemoryStore) -> None:
    for factory, expected in ((solver, 1.0), (idler, 0.0)):
        bench = Bench(TASKS, Settings(), store, factory, "scripted", jobs=2)
        results = bench.run(["zero-shot"], attempts=1)
        row = results.table()["zero-shot"]
        assert row["average"] == {"pass@1": expected, "pass@k": expected}
        assert len(results.attempts) == len(TASKS)
        assert len({d for d in row if d not in ("average", "cost", "tokens", "delta")}) >= 4


def test_cross_domain_never_retrieves_the_tasks_own_domain(store: MemoryStore) -> None:
    domains = sorted({t.domain for t in TASKS})
    for domain in domains:  # a few memories per domain, near every task's wording
        ids = [r.id for r in store.add_many([
            insight(f"In {domain} work, reproduce the problem with the task's own check"),
            insight(f"For {domain} tasks, read the verify command before editing files"),
        ])]  # fmt: skip
        tag_domain(store, ids, domain)
    # Floor off: this is about which domains may be retrieved, not how relevant they are.
    cfg = Settings()
    cfg.memory.screen = False  # its scripted replies are the agent's
    cfg.memory.floor = -1.0
    bench = Bench(TASKS, cfg, store, idler, "scripted", cross_domain=True)
    results = bench.run(["insight"], attempts=1)
    seen = 0
    for attempt in results.attempts:
        traj = json.loads(Path(attempt.trajectory).read_text())
        for memory_id in traj["retrieved"]:
            assert f"domain:{attempt.domain}" not in store.get(memory_id).tags
            seen += 1
        assert attempt.domain not in attempt.retrieved_domains
    assert seen >= len(TASKS)  # memories were retrieved, just never the own domain's


def test_results_json_round_trips(store: MemoryStore, tmp_path: Path) -> None:
    bench = Bench(TASKS[:3], Settings(), store, solver, "scripted")
    results = bench.run(["zero-shot"], attempts=2)
    path = tmp_path / "results.json"
    results.save(path)
    loaded = Results.from_dict(json.loads(path.read_text()))
    assert loaded == results and loaded.to_dict() == results.to_dict()
    assert loaded.table()["zero-shot"]["average"]["pass@1"] == 1.0


def test_cli_builds_a_fresh_pool_and_prints_the_table(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    for task in TASKS[:2]:
        import shutil

        shutil.copytree(task.folder, suite / task.id)
    replies = [
        DONE,
        json.dumps({"insights": [{"title": "Run the task's check before finishing",
                                  "description": "d", "content": "c"}]}),
        json.dumps({"summaries": [{"task_summary": "A small task.",
                                   "experience_summary": "Nothing was done."}]}),
        json.dumps({"workflows": [{"goal": "Finish a task", "commands": ["echo done"]}]}),
    ]  # fmt: skip
    output = tmp_path / "results.json"
    result = run_mtl("bench", str(suite), "--model", script_file(tmp_path, replies),
                     "--attempts", "2", "--conditions", "zero-shot,insight,summary",
                     "--output", str(output))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Pass@1 / Pass@2" in result.stdout and "zero-shot" in result.stdout
    assert "from a first pass over the suite" in result.stderr
    data = json.loads(output.read_text())
    assert len(data["attempts"]) == 2 * 2 * 3
    assert data["table"]["insight"]["average"]["pass@1"] == 0.0
    assert data["table"]["insight"]["delta"] == {"pass@1": 0.0, "pass@k": 0.0}
    assert json.loads(run_mtl("memory", "list", "--json").stdout) == []  # the user's pool
    bad = run_mtl("bench", str(suite), "--model", script_file(tmp_path, [DONE]),
                  "--conditions", "zero-shot,telepathy")  # fmt: skip
    assert bad.returncode == 2 and "telepathy" in bad.stderr
