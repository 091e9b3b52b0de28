"""Memory ids are never reused (schema step 6): a deleted memory's "#N" in links, history,
votes, notes or an exported reference can never come to name another lesson."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mtl_tui import paths
from mtl_tui.memory import db as dbmod
from mtl_tui.memory.embed import Embedder
from mtl_tui.memory.store import MemoryStore
from tests.conftest import insight

V5 = 5  # the schema every pool had before ids were made never-reused

TITLES = [
    ("Reproduce a failing test before changing any code", ["python"]),
    ("Quote shell variables so paths with spaces do not split", ["shell"]),
    ("Profile before optimising a slow database query", ["sql"]),
    ("Read the evaluator before writing the solution", ["python"]),
    ("Pin dependency versions when a build breaks after an upgrade", ["javascript"]),
    ("Run the linter before committing a change", ["go"]),
]


def make_v5_pool(monkeypatch: pytest.MonkeyPatch, embedder: Embedder) -> dict[str, int]:
    """A pool at schema 5, made by today's store with the migrations of that release:
    memories, languages, vectors, full text, links, uses, votes, scopes, a learned-session
    mark, and deletions (a gap in the middle, and the highest id gone)."""
    with monkeypatch.context() as patch:
        patch.setattr(dbmod, "MIGRATIONS", dbmod.MIGRATIONS[:V5])
        patch.setattr(dbmod, "SCHEMA_VERSION", V5)
        store = MemoryStore.open(embedder=embedder)
        try:
            ids = [r.id for r in store.add_many([insight(t, langs) for t, langs in TITLES])]
            refined = store.add_linked(
                insight("Bisect the history to find the commit that broke a test"),
                "refines",
                ids[0],
                "run-1",
            ).id
            store.add_linked(insight("Never pin versions; upgrade the rest"), "contradicts",
                             ids[4], "run-2")  # fmt: skip
            store.vote(ids[1], up=True)
            store.record_uses("run-3", [ids[1], ids[2]], [ids[1]], "success")
            store.rescope(ids[3], "project", "repo:0123456789abcdef")
            store.mark_learned("codex:s1", [ids[2], refined])
            top = store.add(insight("Check the exit code of every command you run")).id
            store.mark_learned("claude-code:s2", [top])
            store.delete([ids[5]])  # a gap in the middle
            store.delete([top])  # the highest id: today's code hands it out again
            assert store.db.execute("PRAGMA user_version").fetchone()[0] == V5
        finally:
            store.close()
    return {"top": top, "gap": ids[5]}


def pool_content(store: MemoryStore) -> dict[str, Any]:
    """Every row of every table that holds memories, read through the pool's connection."""
    run = store.db.execute
    return {
        "memories": run("SELECT * FROM memories ORDER BY id").fetchall(),
        "languages": run("SELECT * FROM memory_languages ORDER BY 1, 2").fetchall(),
        "uses": run("SELECT * FROM memory_uses ORDER BY 1, 2").fetchall(),
        "links": run("SELECT * FROM memory_links ORDER BY id").fetchall(),
        "meta": run("SELECT * FROM meta ORDER BY key").fetchall(),
        "vec": run("SELECT memory_id, embedding, kind, net_votes FROM memory_vec").fetchall(),
        "dedup": run("SELECT memory_id, embedding, kind FROM memory_dedup_vec").fetchall(),
        "fts": run("SELECT rowid, body FROM memory_fts ORDER BY rowid").fetchall(),
    }


def test_a_deleted_id_is_never_handed_out_again(store: MemoryStore) -> None:
    ids = [r.id for r in store.add_many([insight(t, langs) for t, langs in TITLES[:3]])]
    store.delete([ids[-1]])
    fresh = store.add(insight(TITLES[3][0])).id
    assert fresh not in ids and fresh > max(ids)
    store.delete([fresh])
    assert store.add(insight(TITLES[4][0])).id > fresh


def test_a_v5_pool_migrates_with_nothing_lost(
    monkeypatch: pytest.MonkeyPatch, embedder: Embedder
) -> None:
    made = make_v5_pool(monkeypatch, embedder)
    with monkeypatch.context() as patch:
        patch.setattr(dbmod, "MIGRATIONS", dbmod.MIGRATIONS[:V5])
        patch.setattr(dbmod, "SCHEMA_VERSION", V5)
        old = MemoryStore.open(embedder=embedder)
        before = pool_content(old)
        searched = [h.memory.id for h in old.search("a failing test", k=3)]
        old.close()

    store = MemoryStore.open(embedder=embedder)  # migrates to the current schema
    try:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == dbmod.SCHEMA_VERSION
        assert pool_content(store) == before
        assert [h.memory.id for h in store.search("a failing test", k=3)] == searched
        assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # The highest id was deleted before the upgrade, but a learned-session mark still
        # names it: it is not handed out again, and neither is any id after the upgrade.
        fresh = store.add(insight("Write the smallest test that shows the bug")).id
        assert fresh > made["top"]
        store.delete([fresh])
        again = store.add(insight("Keep each commit to one change")).id
        assert again > fresh
        # Deleting still cascades to uses and links (the foreign keys survived the rebuild).
        refined = before["links"][0][1]
        store.delete([refined])
        assert (
            store.db.execute(
                "SELECT count(*) FROM memory_links WHERE src = ? OR dst = ?", (refined, refined)
            ).fetchone()[0]
            == 0
        )
    finally:
        store.close()


# The child stops itself (SIGSTOP) inside the migration's one transaction, after the old
# table has been dropped and the new one renamed in its place; the test SIGKILLs it there.
_STOP_INSIDE_THE_MIGRATION = """
import os, signal
from mtl_tui.memory import db
step = db.MIGRATIONS[5]
def stopping(conn):
    step(conn)
    os.kill(os.getpid(), signal.SIGSTOP)
db.MIGRATIONS[5] = stopping
db.connect(db.Path(os.environ["POOL"]))
"""


def test_a_migration_killed_half_way_leaves_the_v5_pool_as_it_was(
    monkeypatch: pytest.MonkeyPatch, embedder: Embedder, tmp_path: Path
) -> None:
    make_v5_pool(monkeypatch, embedder)
    pool = paths.pool_file()
    # Fill the table well past SQLite's 2 MB page cache, so that the rebuild spills
    # uncommitted pages into the WAL before the kill (rows written as the store writes them).
    raw = sqlite3.connect(pool)
    row = raw.execute("SELECT * FROM memories ORDER BY id LIMIT 1").fetchone()
    big = json.dumps({**json.loads(row[2]), "content": "x " * 2000})
    with raw:
        raw.executemany(
            "INSERT INTO memories (kind, fields, content_hash, created_at, updated_at) "
            "VALUES ('insight', ?, ?, ?, ?)",
            [(big, f"h{i}", row[9], row[10]) for i in range(3000)],
        )
    rows = raw.execute("SELECT count(*) FROM memories").fetchone()[0]
    raw.close()
    before = pool.read_bytes()
    assert not Path(f"{pool}-wal").exists()
    proc = subprocess.Popen(
        [sys.executable, "-c", _STOP_INSIDE_THE_MIGRATION],
        env={**os.environ, "POOL": str(pool)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status = os.waitpid(proc.pid, os.WUNTRACED)
    proc.returncode = -1  # waited for here, not by Popen
    try:
        assert os.WIFSTOPPED(status), "the migration ended before the stop"
        assert Path(f"{pool}-wal").stat().st_size > 2_000_000  # spilled, uncommitted
    finally:
        if os.WIFSTOPPED(status):
            os.kill(proc.pid, signal.SIGKILL)
            os.waitpid(proc.pid, 0)
    assert pool.read_bytes() == before  # nothing of the transaction reached the file
    raw = sqlite3.connect(pool)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == V5
    finally:
        raw.close()
    store = MemoryStore.open(embedder=embedder)  # the same migration then succeeds whole
    try:
        assert store.count() == rows
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == dbmod.SCHEMA_VERSION
    finally:
        store.close()


def test_a_long_upgrade_is_announced_before_it_starts(
    monkeypatch: pytest.MonkeyPatch, embedder: Embedder
) -> None:
    make_v5_pool(monkeypatch, embedder)
    monkeypatch.setattr(dbmod, "MIGRATION_NOTICE_AT", 5)  # the pool holds 7
    heard: list[str] = []
    MemoryStore.open(notice=heard.append).close()
    assert len(heard) == 1 and "Upgrading the memory pool (7 memories, schema 5 → 6)" in heard[0]
    MemoryStore.open(notice=heard.append).close()  # upgraded once: nothing more to say
    assert len(heard) == 1


NEAR_2_63 = 2**63 - 2


def craft(pool: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Edit the pool as a hand (or an attacker) would: plain sqlite3, foreign keys off."""
    raw = sqlite3.connect(pool)
    try:
        with raw:
            for sql, params in statements:
                raw.execute(sql, params)
    finally:
        raw.close()


def test_a_crafted_v5_pool_with_huge_and_orphaned_ids_upgrades_and_still_adds(
    monkeypatch: pytest.MonkeyPatch, embedder: Embedder
) -> None:
    """Review F9: a learned mark naming an id near 2^63 left no id to hand out (every add
    failed after the upgrade); uses and links of missing memories failed the upgrade."""
    made = make_v5_pool(monkeypatch, embedder)
    live = made["gap"] - 1  # a memory still in the pool
    craft(
        paths.pool_file(),
        ("INSERT INTO meta (key, value) VALUES ('learned:crafted', ?)",
         (json.dumps({"ids": [NEAR_2_63, live]}),)),
        ("INSERT INTO memory_uses (memory_id, run_id, accepted, outcome, created_at) "
         "VALUES (?, 'run-x', 1, 'success', '2026-01-01T00:00:00+00:00')", (NEAR_2_63 + 1,)),
        ("INSERT INTO memory_uses (memory_id, run_id, accepted, outcome, created_at) "
         "VALUES (?, 'run-y', 0, 'unknown', '2026-01-01T00:00:00+00:00')", (made["gap"],)),
        ("INSERT INTO memory_links (src, dst, relation, run, created_at) "
         "VALUES (?, ?, 'refines', 'run-z', '2026-01-01')", (NEAR_2_63, live)),
        ("INSERT INTO memory_languages (memory_id, language) VALUES (?, 'rust')",
         (made["gap"],)),
    )  # fmt: skip

    store = MemoryStore.open(embedder=embedder)  # migrates
    try:
        run = store.db.execute
        assert run("PRAGMA user_version").fetchone()[0] == dbmod.SCHEMA_VERSION
        assert run("PRAGMA foreign_key_check").fetchall() == []
        # the orphans went, as deleting their memories would have taken them
        assert run("SELECT count(*) FROM memory_uses WHERE run_id IN ('run-x', 'run-y')"
                   ).fetchone()[0] == 0  # fmt: skip
        assert run("SELECT count(*) FROM memory_links WHERE run = 'run-z'").fetchone()[0] == 0
        assert run("SELECT count(*) FROM memory_languages WHERE language = 'rust'"
                   ).fetchone()[0] == 0  # fmt: skip
        # the uses of live memories, and the learned mark itself, are kept
        assert run("SELECT count(*) FROM memory_uses WHERE run_id = 'run-3'").fetchone()[0] == 2
        mark = run("SELECT value FROM meta WHERE key = 'learned:crafted'").fetchone()[0]
        assert json.loads(mark)["ids"] == [NEAR_2_63, live]
        fresh = store.add(insight("Write the smallest test that shows the bug")).id
        assert made["top"] < fresh < dbmod.ID_LIMIT
        assert store.add(insight("Keep each commit to one change")).id == fresh + 1
    finally:
        store.close()


@pytest.mark.parametrize("top", [NEAR_2_63, 2**53])  # 2^53 itself too (review 6 #9)
def test_a_crafted_v5_pool_whose_memory_id_leaves_no_room_is_refused_untouched(
    monkeypatch: pytest.MonkeyPatch, embedder: Embedder, top: int
) -> None:
    made = make_v5_pool(monkeypatch, embedder)
    pool = paths.pool_file()
    craft(
        pool,
        ("INSERT INTO memories (id, kind, fields, content_hash, created_at, updated_at) "
         "SELECT ?, kind, fields, 'crafted', created_at, updated_at FROM memories WHERE id = ?",
         (top, made["gap"] - 1)),
    )  # fmt: skip
    before = pool.read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "mtl_tui", "memory", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr
    assert any(
        f"could not be upgraded: memory #{top} has an id at or past" in line
        and "it was left as it was" in line
        for line in lines
    ), done.stderr
    assert pool.read_bytes() == before
    raw = sqlite3.connect(pool)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == V5
    finally:
        raw.close()


def test_a_v6_pool_whose_id_sequence_was_exhausted_adds_again(store: MemoryStore) -> None:
    """A pool upgraded by the earlier step 6 from a crafted v5 pool kept its sequence at
    the end of SQLite's range: every add failed with "database or disk is full"."""
    first = store.add(insight(TITLES[0][0])).id
    store.mark_learned("crafted:s1", [NEAR_2_63])
    store.close()
    craft(paths.pool_file(),
          ("UPDATE sqlite_sequence SET seq = ? WHERE name = 'memories'", (2**63 - 1,)))  # fmt: skip
    pool = MemoryStore.open(embedder=store.embedder)
    try:
        assert pool.add(insight(TITLES[1][0])).id == first + 1
    finally:
        pool.close()
