"""`mtl bench`: measure memory transfer on your own model and tasks, or (`--oracle`)
validate a suite and the harness without a model."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from mtl_tui import paths
from mtl_tui.bench.oracle import OracleResults, run_oracle
from mtl_tui.bench.runner import CONDITIONS, Bench, Results
from mtl_tui.bench.suite import Task
from mtl_tui.bench.suites import load_spec, select
from mtl_tui.cli.common import err, out, progress_bar
from mtl_tui.config import Settings
from mtl_tui.errors import MtlError
from mtl_tui.text import plural


@dataclass
class Selection:
    suite: str = "builtin"
    languages: set[str] = field(default_factory=set)
    limit: int | None = None
    sample: int | None = None
    seed: int = 0


def _tasks(selection: Selection, cache: Path) -> list[Task]:
    tasks = load_spec(selection.suite, cache, selection.languages or None)
    tasks = select(tasks, selection.limit, selection.sample, selection.seed)
    if not tasks:
        wanted = ", ".join(sorted(selection.languages)) or "any language"
        raise MtlError(f"{selection.suite}: no tasks left to run ({wanted})")
    return tasks


def _target(output: Path | None, prefix: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return output or paths.data_dir() / "bench" / f"{prefix}{stamp}.json"


def _previous(path: Path) -> dict | None:
    """The saved run at `path` (to continue it), None when there is none."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data
    except (OSError, ValueError) as exc:
        raise MtlError(f"{path} exists but is not a bench results file ({exc})") from None


def _mismatch(path: Path, what: str) -> MtlError:
    return MtlError(f"{path} holds another run ({what} differ); give a new --output to start "
                    "afresh or repeat that run's options to continue it")  # fmt: skip


def run_oracle_cli(selection: Selection, jobs: int, output: Path | None) -> int:
    with tempfile.TemporaryDirectory(prefix="mtl-bench-tasks-") as cache:
        tasks = _tasks(selection, Path(cache))
        target = _target(output, "oracle-")
        results = None
        if (data := _previous(target)) is not None:
            if data.get("mode") != "oracle":
                raise _mismatch(target, "modes")
            results = OracleResults.from_dict(data)
            if set(results.tasks) != {t.id for t in tasks}:
                raise _mismatch(target, "tasks")
            err.print(
                f"continuing {target}: {len(results.checks)} of {plural(len(tasks), 'task')} done"
            )
        try:
            with progress_bar("Oracle: start fails, reference passes") as update:
                results = run_oracle(tasks, jobs, results, target, update)
        except KeyboardInterrupt:
            err.print(f"interrupted: rerun with --output {target} to continue")
            raise
    out.print(render_oracle(results))
    for check in results.checks:
        if check.outcome != "pass":
            out.print(f"[bold]{check.outcome}[/] {check.task}: {escape(check.reason)}")
    err.print(f"results: {target}")
    return 1 if any(c.outcome == "fail" for c in results.checks) else 0


def render_oracle(results: OracleResults) -> Table:
    grid = Table(title="Oracle: tasks per suite and language", title_justify="left")
    for name in ("suite/language", "pass", "fail", "skip"):
        grid.add_column(name, justify="left" if name == "suite/language" else "right")
    for group, row in results.summary().items():
        grid.add_row(group, str(row["pass"]), str(row["fail"]), str(row["skip"]))
    return grid


def run_bench(
    selection: Selection,
    cfg: Settings,
    attempts: int,
    conditions: list[str],
    cross_domain: bool,
    pool: Path | None,
    pack: Path | None,
    jobs: int,
    output: Path | None,
    pool_from: list[str] | None = None,
) -> Results:
    from mtl_tui.agent.model import model_for
    from mtl_tui.cli.common import notice
    from mtl_tui.memory.embed import make_embedder
    from mtl_tui.memory.store import MemoryStore

    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise MtlError(f"unknown condition {unknown[0]!r} (expected: {', '.join(CONDITIONS)})")
    if sum(bool(x) for x in (pool, pack, pool_from)) > 1:
        raise MtlError("give one of --pool, --pack and --pool-from")
    model_for(cfg)  # a missing model is bad usage: say so before anything runs

    def factory(task: object) -> object:
        return model_for(cfg, stream=False)  # attempts may run in parallel: no streaming

    with tempfile.TemporaryDirectory(prefix="mtl-bench-tasks-") as cache:
        tasks = _tasks(selection, Path(cache))
        sources = [t for spec in pool_from or [] for t in load_spec(spec, Path(cache) / "pool")]
        target = _target(output, "")
        store = None
        if any(c != "zero-shot" for c in conditions):  # zero-shot alone needs no memory
            pool_file = pool or target.with_name(target.stem + ".pool.sqlite")
            embedder = make_embedder(cfg.embedding_model, notice)
            store = MemoryStore.open(pool_file, embedder=embedder)
            with err.status("Loading the embedding model…"):
                embedder.load()
        try:
            bench = Bench(tasks, cfg, store, factory, str(cfg.model), cross_domain, jobs)  # type: ignore[arg-type]
            results = _resume(target, bench, conditions, attempts, pool_from or [])
            results.save(target)
            try:
                if store is not None:
                    _fill_pool(bench, store, results, target, conditions, pool, pack, sources)
                with progress_bar("Attempts") as update:
                    results = bench.run(conditions, attempts, update, results, target)
            except KeyboardInterrupt:
                err.print(f"interrupted: rerun with --output {target} to continue")
                raise
        finally:
            if store is not None:
                store.close()
    out.print(render_table(results))
    if len({a.language for a in results.attempts}) > 1:
        out.print(render_table(results, by="language"))
    skipped = sorted({a.reason for a in results.attempts if a.status == "skipped"})
    for reason in skipped:
        err.print(f"skipped: {reason}")
    err.print(f"results: {target}")
    return results


def _resume(
    target: Path, bench: Bench, conditions: list[str], attempts: int, pool_from: list[str]
) -> Results:
    fresh = bench.new_results(conditions, attempts)
    fresh.pool_from = pool_from
    data = _previous(target)
    if data is None:
        return fresh
    if data.get("mode") == "oracle":
        raise _mismatch(target, "modes")
    try:
        old = Results.from_dict(data)
    except (KeyError, TypeError) as exc:
        raise MtlError(f"{target} is not a bench results file ({exc})") from None
    for name in ("model", "conditions", "attempts_per_task", "cross_domain", "tasks", "pool_from"):
        if getattr(old, name) != getattr(fresh, name):
            raise _mismatch(target, name.replace("_", " "))
    total = len(conditions) * attempts * len(bench.tasks)
    err.print(f"continuing {target}: {len(old.attempts)} of {plural(total, 'attempt')} done")
    return old


def _fill_pool(
    bench: Bench,
    store: object,
    results: Results,
    target: Path,
    conditions: list[str],
    pool: Path | None,
    pack: Path | None,
    sources: list[Task],
) -> None:
    from mtl_tui.memory import packs

    if pack:
        report = packs.import_pack(store, pack)  # type: ignore[arg-type]
        err.print(f"pool: {plural(len(report.added), 'memory')} from {pack}")
        return
    if pool is not None or all(c == "zero-shot" for c in conditions):
        return

    def record(task_id: str) -> None:
        results.pool_done.append(task_id)
        results.save(target)

    where = "the suite" if not sources else ", ".join(results.pool_from)
    with progress_bar(f"Building the pool from {where} (first pass)") as update:
        bench.build_pool(update, sources or None, results.pool_done, record)
    err.print(f"pool: {plural(store.count(), 'memory')} from a first pass over {where}")  # type: ignore[attr-defined]


def render_table(results: Results, by: str = "domain") -> Table:
    table = results.table(by)
    groups = sorted({getattr(a, by) for a in results.attempts if a.status != "skipped"})
    k = results.attempts_per_task
    grid = Table(title=f"Pass@1 / Pass@{k} by {by} ({results.model})", title_justify="left")
    grid.add_column("condition", style="bold")
    for group in [*groups, "average"]:
        grid.add_column(group, justify="right")
    grid.add_column("Δ vs zero-shot", justify="right")
    grid.add_column("cost", justify="right")
    grid.add_column("tokens", justify="right")
    grid.add_column("skipped", justify="right")
    for condition, row in table.items():
        cells = [f"{row[g]['pass@1']:.3f} / {row[g]['pass@k']:.3f}" for g in [*groups, "average"]]
        delta = row["delta"]
        change = (
            "—" if condition == "zero-shot" or delta is None
            else f"{delta['pass@1']:+.3f} / {delta['pass@k']:+.3f}"
        )  # fmt: skip
        grid.add_row(condition, *cells, change, f"${row['cost']:.4f}", f"{row['tokens']:,}",
                     str(row["skipped"]))  # fmt: skip
    return grid
