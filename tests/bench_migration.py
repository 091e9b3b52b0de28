"""Benchmark schema step 6 (memory ids never reused) on large pools.

    python tests/bench_migration.py [--sizes 10000,100000]

Builds a schema-5 pool of N insights (fields the size of real ones, 384-dimension
retrieval and dedup vectors, full text, languages, one use and one link per ten memories)
with the migrations of that release, then opens it with today's code, which migrates it
in one transaction. Prints the migration's wall and CPU time and the file size. Not part
of the test run.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from mtl_tui.memory import db as dbmod

DIM = 384


def build_v5(path: Path, size: int) -> None:
    saved = dbmod.MIGRATIONS, dbmod.SCHEMA_VERSION
    dbmod.MIGRATIONS, dbmod.SCHEMA_VERSION = saved[0][:5], 5
    try:
        pool = dbmod.connect(path)
    finally:
        dbmod.MIGRATIONS, dbmod.SCHEMA_VERSION = saved
    rng = np.random.default_rng(1)
    words = [
        "check",
        "verify",
        "inspect",
        "reproduce",
        "isolate",
        "pin",
        "profile",
        "validate",
        "read",
        "test",
    ]
    at = "2026-01-01T00:00:00+00:00"
    with pool.write() as conn:
        conn.execute(
            "CREATE VIRTUAL TABLE memory_vec USING vec0(memory_id INTEGER PRIMARY KEY, "
            f"embedding float[{DIM}] distance_metric=cosine, kind TEXT, net_votes INTEGER)"
        )
        conn.execute(dbmod.dedup_index_sql(DIM))
        for start in range(0, size, 5000):
            rows, vecs, langs, fts = [], [], [], []
            for i in range(start, min(start + 5000, size)):
                title = " ".join(random.choices(words, k=8)) + f" {i}"
                fields = {"title": title, "description": title * 2, "content": title * 5}
                rows.append((i + 1, json.dumps(fields), f"h{i}", at, at))
                vector = rng.normal(size=DIM).astype(np.float32).tobytes()
                vecs.append((i + 1, vector))
                langs.append((i + 1, "python"))
                fts.append((i + 1, title))
            conn.executemany(
                "INSERT INTO memories (id, kind, fields, content_hash, languages, created_at, "
                "updated_at) VALUES (?, 'insight', ?, ?, '[\"python\"]', ?, ?)",
                rows,
            )
            conn.executemany("INSERT INTO memory_languages VALUES (?, ?)", langs)
            conn.executemany(
                "INSERT INTO memory_vec (memory_id, embedding, kind, net_votes) "
                "VALUES (?, ?, 'insight', 0)",
                vecs,
            )
            conn.executemany(
                "INSERT INTO memory_dedup_vec (memory_id, embedding, kind) "
                "VALUES (?, ?, 'insight')",
                vecs,
            )
            conn.executemany("INSERT INTO memory_fts (rowid, body) VALUES (?, ?)", fts)
        conn.executemany(
            "INSERT INTO memory_uses VALUES (?, ?, 1, 'success', ?)",
            [(i, f"run-{i}", at) for i in range(1, size + 1, 10)],
        )
        conn.executemany(
            "INSERT INTO memory_links (src, dst, relation, created_at) VALUES (?, ?, 'refines', ?)",
            [(i + 1, i, at) for i in range(1, size, 10)],
        )
    pool.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    print(f"{'memories':>9} {'file MB':>8} {'wall s':>7} {'CPU s':>6}  after")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "pool.sqlite"
            build_v5(path, size)
            megabytes = path.stat().st_size / 1e6
            wall, cpu = time.perf_counter(), time.process_time()
            pool = dbmod.connect(path)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            count = pool.execute("SELECT count(*) FROM memories").fetchone()[0]
            seq = pool.execute("SELECT seq FROM sqlite_sequence WHERE name = 'memories'")
            next_id = seq.fetchone()[0] + 1
            pool.close()
            print(
                f"{size:>9} {megabytes:>8.1f} {wall:>7.2f} {cpu:>6.2f}  "
                f"{count} memories, next id {next_id}"
            )


if __name__ == "__main__":
    main()
