"""`mtl bench`: measure memory transfer on your own model and tasks."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from rich.table import Table

from mtl_tui import paths
from mtl_tui.agent.model import model_for
from mtl_tui.bench.runner import CONDITIONS, Bench, Results
from mtl_tui.bench.suite import load_suite
from mtl_tui.cli.common import err, out, progress_bar
from mtl_tui.config import Settings
from mtl_tui.errors import MtlError
from mtl_tui.memory import packs
from mtl_tui.memory.embed import SentenceTransformerEmbedder
from mtl_tui.memory.store import MemoryStore


def run_bench(
    suite: Path | None,
    cfg: Settings,
    attempts: int,
    conditions: list[str],
    cross_domain: bool,
    pool: Path | None,
    pack: Path | None,
    jobs: int,
    output: Path | None,
) -> Results:
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise MtlError(f"unknown condition {unknown[0]!r} (expected: {', '.join(CONDITIONS)})")
    if pool and pack:
        raise MtlError("give --pool or --pack, not both")
    tasks = load_suite(suite)
    model_for(cfg)  # a missing model is bad usage: say so before anything runs

    def factory(task: object) -> object:
        return model_for(cfg, stream=False)  # attempts may run in parallel: no streaming

    embedder = SentenceTransformerEmbedder(cfg.embedding_model)
    with tempfile.TemporaryDirectory(prefix="mtl-bench-pool-") as tmp:
        store = MemoryStore.open(pool or Path(tmp) / "pool.sqlite", embedder=embedder)
        try:
            with err.status("Loading the embedding model…"):
                embedder.load()
            bench = Bench(tasks, cfg, store, factory, str(cfg.model), cross_domain, jobs)  # type: ignore[arg-type]
            if pack:
                report = packs.import_pack(store, pack)
                err.print(f"pool: {len(report.added)} memories from {pack}")
            elif pool is None and any(c != "zero-shot" for c in conditions):
                with progress_bar("Building the pool (first pass)") as update:
                    bench.build_pool(update)
                err.print(f"pool: {store.count()} memories from a first pass over the suite")
            with progress_bar("Attempts") as update:
                results = bench.run(conditions, attempts, update)
        finally:
            store.close()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = output or paths.data_dir() / "bench" / f"{stamp}.json"
    results.save(target)
    out.print(render_table(results))
    err.print(f"results: {target}")
    return results


def render_table(results: Results) -> Table:
    table = results.table()
    domains = sorted({a.domain for a in results.attempts})
    k = results.attempts_per_task
    grid = Table(title=f"Pass@1 / Pass@{k} by domain ({results.model})", title_justify="left")
    grid.add_column("condition", style="bold")
    for domain in [*domains, "average"]:
        grid.add_column(domain, justify="right")
    grid.add_column("Δ vs zero-shot", justify="right")
    grid.add_column("cost", justify="right")
    grid.add_column("tokens", justify="right")
    for condition, row in table.items():
        cells = [f"{row[d]['pass@1']:.3f} / {row[d]['pass@k']:.3f}" for d in [*domains, "average"]]
        delta = row["delta"]
        change = (
            "—" if condition == "zero-shot" or delta is None
            else f"{delta['pass@1']:+.3f} / {delta['pass@k']:+.3f}"
        )  # fmt: skip
        grid.add_row(condition, *cells, change, f"${row['cost']:.4f}", f"{row['tokens']:,}")
    return grid
