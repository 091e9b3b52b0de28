"""Benchmark the TUI's time to first frame with a 10k-memory pool.

    python tests/bench_tui.py [--pool 10000] [--runs 7]

Each run starts `python -m mtl_tui` in a fresh process (headless) inside a git repository
and measures from just before the process is spawned to the first painted frame. Target:
under 0.5 s on a 2-core machine. Not part of the test run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtl_tui.memory.embed import SentenceTransformerEmbedder
from mtl_tui.memory.store import MemoryStore
from tests.bench_pool import memories, titles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        os.environ["MTL_HOME"] = str(home)
        embedder = SentenceTransformerEmbedder()
        texts = titles(args.pool)
        print(f"filling a pool of {args.pool:,} insights…", flush=True)
        store = MemoryStore.open(embedder=embedder)
        vectors = embedder.embed(texts)
        store.add_many(memories(texts), vectors=vectors, dedup=False)
        store.close()
        repo = Path(tmp) / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        (repo / "main.py").write_text("print('hi')\n")
        report = Path(tmp) / "frame"
        env = {**os.environ, "MTL_FIRST_FRAME_REPORT": str(report)}
        times = []
        for _ in range(args.runs):
            report.unlink(missing_ok=True)
            started = time.time()
            subprocess.run([sys.executable, "-m", "mtl_tui"], cwd=repo, env=env, check=True,
                           timeout=120, stdin=subprocess.DEVNULL, capture_output=True)  # fmt: skip
            times.append(float(report.read_text()) - started)
            print(f"first frame after {times[-1] * 1e3:.0f} ms", flush=True)
    print(f"median time to first frame ({args.pool:,} memories): "
          f"{statistics.median(times) * 1e3:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
