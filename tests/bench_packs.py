"""Benchmark importing a 10k-item insight pack, with embeddings (same model) and without.

    python tests/bench_packs.py [--items 10000]

Prints items/s for each. Targets: at least 5,000 items/s with embeddings; without, the
rate is bounded by the embedding model. Not part of the test run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# PYTHONPATH=/path/to/another/checkout measures that checkout's mtl_tui
if "PYTHONPATH" in os.environ:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
else:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtl_tui.memory import packs
from mtl_tui.memory.embed import SentenceTransformerEmbedder
from mtl_tui.memory.store import MemoryStore
from tests.bench_pool import OBJECTS, VERBS, WHENS, memories


def titles(n: int) -> list[str]:
    """Distinct lessons (random word mixes), so the import measures adding, not merging."""
    import random

    rng = random.Random(11)
    words = sorted({w for phrase in VERBS + OBJECTS + WHENS for w in phrase.split()})
    return [" ".join(rng.sample(words, 9)) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    embedder = SentenceTransformerEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MTL_HOME"] = str(Path(tmp) / "source")
        source = MemoryStore.open(embedder=embedder)
        print(f"mtl_tui from {Path(packs.__file__).parents[1]}", flush=True)
        texts = titles(args.items)
        print(f"building a source pool of {args.items:,} insights…", flush=True)
        source.add_many(memories(texts), vectors=embedder.embed(texts), dedup=False)
        chosen = packs.select(source).memories
        with_vectors, without = Path(tmp) / "with.json", Path(tmp) / "without.json"
        packs.export_json(source, with_vectors, chosen, with_embeddings=True)
        packs.export_json(source, without, chosen, with_embeddings=False)
        source.close()
        for label, path in (("with embeddings", with_vectors), ("without embeddings", without)):
            os.environ["MTL_HOME"] = str(Path(tmp) / label.replace(" ", "-"))
            target = MemoryStore.open(embedder=embedder)
            started, cpu = time.perf_counter(), time.process_time()
            report = packs.import_pack(target, path)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            target.close()
            print(
                f"import {label}: {len(report.added):,} added, {len(report.merged):,} merged "
                f"in {seconds:.2f} s = {args.items / seconds:,.0f} items/s "
                f"(CPU {cpu:.2f} s = {args.items / cpu:,.0f} items/CPU-s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
