"""The memory pool: memories in SQLite, their embeddings in a sqlite-vec index."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtl_tui import paths
from mtl_tui.errors import NotFound, PoolError
from mtl_tui.memory import db as dbmod
from mtl_tui.memory import links, trust
from mtl_tui.memory.embed import Embedder
from mtl_tui.memory.rank import (
    HALF_LIFE_DAYS,
    HIDE_AT,
    Evidence,
    Hit,
    blend,
    decay,
    rank,
    split_at_floor,
)
from mtl_tui.memory.segments import query_segments
from mtl_tui.records import (
    EMBEDDING_SCHEME,
    KINDS,
    OLD_EMBEDDING_SCHEME,
    SCOPES,
    Memory,
    now,
    validate_fields,
)
from mtl_tui.scrub import scrub_value

Progress = Callable[[int, int], None]

_COLUMNS = (
    "id, kind, fields, tags, languages, repo, model, outcome, origin, "
    "created_at, updated_at, up, down, uses, wins, support, rejects, scope, repo_key, "
    "last_retrieved_at, last_accepted_at, last_helpful_at"
)
# sqlite-vec refuses k above 4096; we never need that many candidates.
_MAX_CANDIDATES = 4096
EMBED_BATCH = 256


# Cosine similarity of dedup texts (Memory.dedup_text: an insight's title; they have their
# own index, memory_dedup_vec, apart from the retrieval vectors) at or above which a new
# memory is the same advice as a stored one of its kind, and merges into it. Tuned on
# all-MiniLM-L6-v2 titles:
# rewordings of one lesson scored 0.87-0.97 ("Pin dependency versions when a build breaks
# after an upgrade" / "When an upgrade breaks the build, pin the dependency versions"
# 0.92), while distinct lessons on one topic stayed at or below 0.75 ("Test edge cases
# such as empty input" / "... such as very large input" 0.75; "Inspect the file before
# editing it" / "Back up a file before editing it in place" 0.57). Looser rewordings
# (0.72-0.80) stay separate: a missed merge costs a near-duplicate, a wrong one loses a
# lesson. The examples live in tests/test_learning.py.
DEDUP_THRESHOLD = 0.82


_KNN_DEDUP_UP_TO = 32  # larger batches dedup by matrix products (_batch_twins)
# Memory attributes that hold no outside text: validated choices, timestamps and the
# repository hash made here.
_MADE_HERE = {
    "kind",
    "outcome",
    "created_at",
    "updated_at",
    "scope",
    "repo_key",
    "last_retrieved_at",
    "last_accepted_at",
    "last_helpful_at",
}


# Near-duplicates merge only within one scope (and, for project scope, one repository):
# a global lesson folded into another repository's project memory would vanish elsewhere.
_SAME_SCOPE = "(SELECT id FROM memories WHERE scope = ? AND (scope = 'global' OR repo_key IS ?))"


def _visible_key(memory: Memory) -> str | None:
    return memory.repo_key if memory.scope == "project" else None


class _RollBack(Exception):
    """Raised inside a write transaction to undo it (dry runs)."""


class SameAsTarget(PoolError):
    """A linked memory is a near-duplicate of the memory it was to be linked to."""

    def __init__(self, target: int) -> None:
        super().__init__(f"the new lesson is the same as #{target}")
        self.target = target


@dataclass(frozen=True)
class View:
    """What one retrieval may see and how it weighs evidence: global memories and those
    scoped to `repo_key` (None: global ones only), or with `project_only` only the
    latter (a repository set to `mtl.memory project`)."""

    repo_key: str | None = None
    project_only: bool = False
    half_life_days: float | None = HALF_LIFE_DAYS

    def shows(self, memory: Memory) -> bool:
        if memory.scope == "project":
            return self.repo_key is not None and memory.repo_key == self.repo_key
        return not self.project_only

    def visible_ids_sql(self) -> str:
        """A subquery of the visible ids, with one parameter: repo_key."""
        mine = "scope = 'project' AND repo_key = ?"
        where = mine if self.project_only else f"scope = 'global' OR ({mine})"
        return f"(SELECT id FROM memories WHERE {where})"


@dataclass
class AddResult:
    id: int
    created: bool
    merged: bool = False  # folded into an existing near-duplicate


def _to_blob(vector: Any) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype=np.float32).tobytes()


def _row_to_memory(row: Sequence[Any]) -> Memory:
    (id_, kind, fields, tags, languages, repo, model, outcome, origin,
     created, updated, up, down, uses, wins, support, rejects, scope, repo_key,
     last_retrieved, last_accepted, last_helpful) = row  # fmt: skip
    return Memory(
        kind=kind,
        fields=json.loads(fields),
        tags=json.loads(tags),
        languages=json.loads(languages),
        repo=repo,
        model=model,
        outcome=outcome,
        origin=origin,
        id=id_,
        created_at=created,
        updated_at=updated,
        up=up,
        down=down,
        uses=uses,
        wins=wins,
        support=support,
        rejects=rejects,
        scope=scope,
        repo_key=repo_key,
        last_retrieved_at=last_retrieved,
        last_accepted_at=last_accepted,
        last_helpful_at=last_helpful,
    )


class MemoryStore:
    def __init__(self, db: dbmod.Database, embedder: Embedder | None = None) -> None:
        self.db = db
        self.embedder = embedder
        # the time evidence is recorded and weighed at (a simulation sets its own)
        self.clock: Callable[[], str] = now

    @classmethod
    def open(
        cls,
        path: Path | None = None,
        embedder: Embedder | None = None,
        driver: str | None = None,
        notice: dbmod.Notice | None = None,
    ) -> MemoryStore:
        """`notice`: told of a schema upgrade that takes a while (see db.migrate)."""
        store = cls(dbmod.connect(path or paths.pool_file(), driver, notice), embedder)
        if embedder is not None:
            store.check_embedder(embedder.name)
        return store

    def close(self) -> None:
        self.db.close()

    @property
    def path(self) -> Path:
        return self.db.path

    # -- the embedding model the pool was built with ------------------------------

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def recorded_model(self) -> tuple[str | None, int | None]:
        dim = self._meta("embedding_dim")
        return self._meta("embedding_model"), int(dim) if dim else None

    def recorded_scheme(self) -> str | None:
        """How the stored retrieval vectors' texts were built (records.EMBEDDING_SCHEME);
        None for a pool with no vectors yet."""
        if not self._has_index():
            return None
        return self._meta("embedding_scheme") or OLD_EMBEDDING_SCHEME

    def needs_upgrade(self) -> bool:
        """True when the retrieval vectors come from an older embedding scheme."""
        scheme = self.recorded_scheme()
        return scheme is not None and scheme != EMBEDDING_SCHEME

    def upgrade(self, progress: Progress | None = None) -> int:
        """Re-embed the retrieval vectors of a pool made by an older scheme (the dedup
        vectors are the old ones and stay). Nothing else changes. Returns how many."""
        if not self.needs_upgrade():
            return 0
        embedder = self.embedder
        if embedder is None:
            raise PoolError("upgrading the memory pool needs an embedding model")
        self.check_embedder(embedder.name)
        return self._rebuild(embedder, progress, dedup=False)

    def check_embedder(self, name: str) -> None:
        """Refuse an embedder other than the one the pool's vectors came from."""
        recorded, dim = self.recorded_model()
        if recorded is not None and recorded != name:
            raise PoolError(
                f"the memory pool was embedded with '{recorded}' ({dim} dimensions) but the "
                f"configured embedding model is '{name}'; run `mtl memory reindex` to "
                f"re-embed it with '{name}'"
            )

    def _embedder(self) -> Embedder:
        if self.embedder is None:
            raise PoolError("this operation needs an embedding model")
        self.check_embedder(self.embedder.name)
        if self.needs_upgrade():  # faces call upgrade() first, with a progress bar
            self.upgrade()
        return self.embedder

    def _has_index(self) -> bool:
        row = self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'memory_vec'").fetchone()
        return row is not None

    def _create_index(self, conn: Any, name: str, dim: int, dedup: bool = True) -> None:
        conn.execute(
            "CREATE VIRTUAL TABLE memory_vec USING vec0("
            f"memory_id INTEGER PRIMARY KEY, embedding float[{dim}] distance_metric=cosine, "
            "kind TEXT, net_votes INTEGER)"
        )
        if dedup:
            conn.execute(dbmod.dedup_index_sql(dim))
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES "
            "('embedding_model', ?), ('embedding_dim', ?), ('embedding_scheme', ?)",
            (name, str(dim), EMBEDDING_SCHEME),
        )

    def _ensure_index(self, conn: Any, embedder: Embedder) -> None:
        recorded, dim = self.recorded_model()
        if recorded is None:
            self._create_index(conn, embedder.name, embedder.dim)
        elif dim != embedder.dim:
            raise PoolError(
                f"embedding model '{embedder.name}' gives {embedder.dim} dimensions but the "
                f"pool holds {dim}; run `mtl memory reindex`"
            )

    # -- writing ------------------------------------------------------------------

    @staticmethod
    def _clean(memory: Memory) -> Memory:
        """Every text the memory holds scrubbed of secrets and paths (whatever its field:
        a field added later cannot skip this), fields validated for the kind."""
        texts = {
            attribute.name: value
            for attribute in dataclasses.fields(memory)
            if attribute.name not in _MADE_HERE
            and isinstance(value := getattr(memory, attribute.name), (str, list, dict))
        }
        for name, value in scrub_value(texts).items():
            setattr(memory, name, value)
        memory.fields = validate_fields(memory.kind, memory.fields)
        memory.__post_init__()  # tags and languages normalised again
        if memory.scope == "project" and not memory.repo_key:
            raise PoolError(f"“{memory.title}” is scoped to a project but names no repository")
        return memory

    def add(self, memory: Memory) -> AddResult:
        return self.add_many([memory])[0]

    def add_many(
        self,
        memories: Iterable[Memory],
        progress: Progress | None = None,
        vectors: Sequence[Any] | None = None,
        dedup: bool | Sequence[bool] = True,
        dry_run: bool = False,
        learned_from: str | None = None,
        after: Callable[[Any, list[AddResult]], None] | None = None,
    ) -> list[AddResult]:
        """Store memories (one transaction). An exact duplicate of a stored memory of the
        same kind is not stored again; a near-duplicate (see DEDUP_THRESHOLD) is merged
        into the stored one, which gains support; either way the result names that id.

        `vectors`, when given, are embeddings of the memories' retrieval texts made by
        this pool's model and embedding scheme (for example from a pack); otherwise they
        are computed. Dedup vectors are always computed (short texts, cheap).
        `dedup` may be given per memory (False: never merged into another).
        `learned_from` marks that session as learned from (see mark_learned) in the same
        transaction. `after(conn, results)` runs inside that transaction too, before the
        mark (links that must be written with the memories). `dry_run` works everything
        out and then rolls it back."""
        embedder = self._embedder()
        cleaned = [self._clean(m) for m in memories]
        merging = [dedup] * len(cleaned) if isinstance(dedup, bool) else list(dedup)
        if len(merging) != len(cleaned):
            raise ValueError("dedup needs one flag per memory")
        texts = [m.dedup_text for m in cleaned]
        if vectors is None:
            texts = [m.embedded_text for m in cleaned] + texts
        embedded = self._embed_all(texts, embedder, progress)
        if vectors is None:
            vectors, dedup_vectors = embedded[: len(cleaned)], embedded[len(cleaned) :]
        else:
            dedup_vectors = embedded
        results: list[AddResult] = []
        try:
            with self.db.write() as conn:
                self._ensure_index(conn, embedder)
                plan = (
                    self._batch_twins(conn, cleaned, dedup_vectors)
                    if all(merging) and len(cleaned) > _KNN_DEDUP_UP_TO
                    else None
                )
                pairs = zip(vectors, dedup_vectors, strict=True)
                for index, (memory, (vector, twin_vector)) in enumerate(
                    zip(cleaned, pairs, strict=True)
                ):
                    twin: int | None = None
                    if plan is None:
                        if merging[index]:
                            twin = self._near_duplicate(conn, memory, twin_vector)
                    elif (target := plan[index]) is not None:
                        where, which = target
                        twin = results[which].id if where == "batch" else which
                    results.append(self._insert(conn, memory, vector, twin_vector, twin))
                if after is not None:
                    after(conn, results)
                if learned_from is not None:
                    _mark_learned(conn, learned_from, [r.id for r in results])
                if dry_run:
                    raise _RollBack
        except _RollBack:
            pass
        return results

    def _batch_twins(
        self, conn: Any, memories: list[Memory], vectors: Sequence[Any]
    ) -> list[tuple[str, int] | None]:
        """The dedup rule for large batches, by matrix products instead of one KNN query
        per memory: for each memory, the stored memory of its kind it is a near-duplicate
        of ("pool", id), else an earlier memory of the batch ("batch", index), else None."""
        import numpy as np

        plan: list[tuple[str, int] | None] = [None] * len(memories)
        new = np.asarray(vectors, dtype=np.float32)
        for kind, scope, key in {(m.kind, m.scope, _visible_key(m)) for m in memories}:
            rows = [
                i
                for i, m in enumerate(memories)
                if (m.kind, m.scope, _visible_key(m)) == (kind, scope, key)
            ]
            stored = conn.execute(
                "SELECT memory_id, embedding FROM memory_dedup_vec WHERE kind = ? AND "
                f"memory_id IN {_SAME_SCOPE}",
                (kind, scope, key),
            ).fetchall()
            mine = new[rows]
            if stored:
                ids = np.array([r[0] for r in stored])
                pool = np.frombuffer(b"".join(r[1] for r in stored), dtype=np.float32)
                pool = pool.reshape(len(stored), -1)
                for start in range(0, len(rows), 1024):
                    sims = mine[start : start + 1024] @ pool.T
                    best = sims.argmax(axis=1)
                    for offset, j in enumerate(best):
                        if sims[offset, j] >= DEDUP_THRESHOLD:
                            plan[rows[start + offset]] = ("pool", int(ids[j]))
            # Within the batch, greedily: a memory merges into the most similar earlier one
            # that is itself kept. Most rows have no near-duplicate at all, so only rows
            # whose best earlier match passes the threshold are resolved one by one.
            candidates: dict[int, tuple[Any, Any]] = {}
            for start in range(0, len(rows), 1024):
                block = mine[start : start + 1024] @ mine.T
                later = (
                    np.arange(len(rows))[None, :] >= np.arange(start, start + len(block))[:, None]
                )
                block[later] = -1.0
                for offset in np.nonzero(block.max(axis=1) >= DEDUP_THRESHOLD)[0]:
                    earlier = np.nonzero(block[offset] >= DEDUP_THRESHOLD)[0]
                    candidates[start + int(offset)] = (earlier, block[offset, earlier])
            kept = np.zeros(len(rows), dtype=bool)
            for position, row in enumerate(rows):
                if plan[row] is not None:
                    continue
                if position in candidates:
                    earlier, sims = candidates[position]
                    alive = kept[earlier]
                    if alive.any():
                        best = int(earlier[alive][sims[alive].argmax()])
                        plan[row] = ("batch", rows[best])
                        continue
                kept[position] = True
        return plan

    def _embed_all(
        self, texts: list[str], embedder: Embedder, progress: Progress | None
    ) -> list[Any]:
        vectors: list[Any] = []
        for start in range(0, len(texts), EMBED_BATCH):
            vectors.extend(embedder.embed(texts[start : start + EMBED_BATCH]))
            if progress:
                progress(min(start + EMBED_BATCH, len(texts)), len(texts))
        return vectors

    def _near_duplicate(self, conn: Any, memory: Memory, vector: Any) -> int | None:
        row = conn.execute(
            "SELECT memory_id, distance FROM memory_dedup_vec "
            f"WHERE embedding MATCH ? AND k = 1 AND kind = ? AND memory_id IN {_SAME_SCOPE}",
            (_to_blob(vector), memory.kind, memory.scope, _visible_key(memory)),
        ).fetchone()
        if row and 1.0 - row[1] >= DEDUP_THRESHOLD:
            return int(row[0])
        return None

    def _merge(self, conn: Any, memory_id: int, memory: Memory) -> None:
        existing = self.get(memory_id)
        tags, languages = existing.tags, existing.languages
        if trust.trusted(memory) or not trust.trusted(existing):
            # an untrusted duplicate adds no labels to a trusted memory (they reach prompts)
            tags = list(dict.fromkeys(tags + memory.tags))
            languages = list(dict.fromkeys(languages + memory.languages))
        conn.execute(
            "UPDATE memories SET support = support + ?, tags = ?, languages = ?, "
            "updated_at = ? WHERE id = ?",
            (memory.support, json.dumps(tags), json.dumps(languages), now(), memory_id),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO memory_languages (memory_id, language) VALUES (?, ?)",
            [(memory_id, lang) for lang in languages],
        )

    def _insert(
        self, conn: Any, memory: Memory, vector: Any, dedup_vector: Any, twin: int | None
    ) -> AddResult:
        digest = memory.content_hash
        row = conn.execute(
            "SELECT id FROM memories WHERE kind = ? AND content_hash = ?",
            (memory.kind, digest),
        ).fetchone()
        if row:
            memory.id = row[0]
            return AddResult(row[0], created=False)
        if twin is not None:
            self._merge(conn, twin, memory)
            memory.id = twin
            return AddResult(twin, created=False, merged=True)
        cursor = conn.execute(
            "INSERT INTO memories (kind, fields, content_hash, tags, languages, repo, model, "
            "outcome, origin, created_at, updated_at, up, down, uses, wins, support, "
            "scope, repo_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                memory.kind,
                json.dumps(memory.fields, ensure_ascii=False),
                digest,
                json.dumps(memory.tags),
                json.dumps(memory.languages),
                memory.repo,
                memory.model,
                memory.outcome,
                memory.origin,
                memory.created_at,
                memory.updated_at,
                memory.up,
                memory.down,
                memory.uses,
                memory.wins,
                memory.support,
                memory.scope,
                memory.repo_key,
            ),
        )
        memory_id = int(cursor.lastrowid)
        conn.executemany(
            "INSERT INTO memory_languages (memory_id, language) VALUES (?, ?)",
            [(memory_id, lang) for lang in memory.languages],
        )
        conn.execute(
            "INSERT INTO memory_vec (memory_id, embedding, kind, net_votes) VALUES (?, ?, ?, ?)",
            (memory_id, _to_blob(vector), memory.kind, memory.net_votes),
        )
        conn.execute(
            "INSERT INTO memory_dedup_vec (memory_id, embedding, kind) VALUES (?, ?, ?)",
            (memory_id, _to_blob(dedup_vector), memory.kind),
        )
        conn.execute(
            "INSERT INTO memory_fts (rowid, body) VALUES (?, ?)", (memory_id, memory.embedded_text)
        )
        memory.id = memory_id
        return AddResult(memory_id, created=True)

    # -- edits a distillation makes (memory_links) ----------------------------------------

    def add_linked(
        self, memory: Memory, relation: str, target: int | None, run: str | None
    ) -> AddResult:
        """Store `memory` like any add (scrubbed, deduplicated) and record what it does to
        `target` in the same transaction. A refinement takes over the target's support
        and contradictions, so that a conflict outlives a rewording. Raises SameAsTarget,
        writing nothing, when dedup would fold the memory into `target` itself."""

        def link(conn: Any, results: list[AddResult]) -> None:
            if target is not None and results[0].id == target:
                raise SameAsTarget(target)
            links.link(conn, results[0].id, target, relation, run)

        if target is not None:
            self.get(target)
        return self.add_many([memory], after=link)[0]

    def links_of(self, memory_id: int) -> list[links.Link]:
        return links.of(self.db, memory_id)

    def superseded(self, memory_ids: Sequence[int], view: View | None = None) -> dict[int, int]:
        """Which of `memory_ids` a refinement supersedes; with `view`, only a refinement
        that view can see counts (None: any, for the pool's owner)."""
        visible = (view.visible_ids_sql(), view.repo_key) if view is not None else None
        return links.superseded(self.db, memory_ids, visible)

    def contradictions(self, memory_ids: Sequence[int]) -> list[tuple[int, int]]:
        return links.contradictions(self.db, memory_ids)

    def vote(self, memory_id: int, up: bool, view: View | None = None) -> Memory:
        """One vote; with `view`, a memory it cannot see is unknown (see get)."""
        column = "up" if up else "down"
        with self.db.write() as conn:
            self.get(memory_id, view)
            conn.execute(
                f"UPDATE memories SET {column} = {column} + 1, updated_at = ? WHERE id = ?",
                (now(), memory_id),
            )
            memory = self.get(memory_id)
            if self._has_index():
                conn.execute(
                    "UPDATE memory_vec SET net_votes = ? WHERE memory_id = ?",
                    (memory.net_votes, memory_id),
                )
        return memory

    def record_uses(
        self, run_id: str, shown: Sequence[int], accepted: Sequence[int], outcome: str
    ) -> None:
        """Feedback from one run: every memory shown, whether it was accepted, how the run
        ended. Accepted ones gain a use (and a win on success); rejected ones a reject."""
        taken = set(accepted)
        with self.db.write() as conn:
            for memory_id in shown:
                if conn.execute("SELECT 1 FROM memories WHERE id = ?", (memory_id,)).fetchone():
                    self._record_use(conn, run_id, memory_id, memory_id in taken, outcome)

    def _record_use(
        self, conn: Any, run_id: str, memory_id: int, accepted: bool, outcome: str
    ) -> None:
        at = self.clock()
        conn.execute(
            "INSERT OR REPLACE INTO memory_uses (memory_id, run_id, accepted, outcome, "
            "created_at) VALUES (?, ?, ?, ?, ?)",
            (memory_id, run_id, int(accepted), outcome, at),
        )
        conn.execute("UPDATE memories SET last_retrieved_at = ? WHERE id = ?", (at, memory_id))
        if accepted:
            helped = outcome == "success"
            conn.execute(
                "UPDATE memories SET uses = uses + 1, wins = wins + ?, last_accepted_at = ?, "
                "last_helpful_at = CASE WHEN ? THEN ? ELSE last_helpful_at END WHERE id = ?",
                (int(helped), at, int(helped), at, memory_id),
            )
        else:
            conn.execute("UPDATE memories SET rejects = rejects + 1 WHERE id = ?", (memory_id,))

    def report_run(
        self, run_id: str, used: Sequence[int], outcome: str, view: View | None = None
    ) -> None:
        """Feedback reported from outside mtl (the MCP server): every memory in `used` gains
        a use, and a win on success. All or nothing: an unknown id (or, with `view`, one
        it cannot see), or a run already reported (by any process), writes nothing."""
        with self.db.write() as conn:
            if conn.execute("SELECT 1 FROM memory_uses WHERE run_id = ?", (run_id,)).fetchone():
                raise PoolError(f"run '{run_id}' was already reported")
            for memory_id in dict.fromkeys(used):
                self.get(memory_id, view)
            for memory_id in dict.fromkeys(used):
                self._record_use(conn, run_id, memory_id, True, outcome)

    def uses_of_run(self, run_id: str) -> list[tuple[int, bool, str]]:
        rows = self.db.execute(
            "SELECT memory_id, accepted, outcome FROM memory_uses WHERE run_id = ? "
            "ORDER BY memory_id",
            (run_id,),
        ).fetchall()
        return [(int(m), bool(a), str(o)) for m, a, o in rows]

    # -- sessions already learned from (`mtl learn`), kept in `meta` --------------------

    def learned_from(self, key: str) -> bool:
        return self._meta(f"learned:{key}") is not None

    def mark_learned(self, key: str, memory_ids: Sequence[int]) -> None:
        with self.db.write() as conn:
            _mark_learned(conn, key, memory_ids)

    def delete(self, memory_ids: Sequence[int]) -> None:
        """Delete all of `memory_ids` or, if one is unknown, none of them; their uses and
        the links that name them (memory_links, when the pool has it) go with them."""
        with self.db.write() as conn:
            for memory_id in memory_ids:
                self.get(memory_id)
            has_index = self._has_index()
            link_columns = self._link_columns(conn)
            for memory_id in memory_ids:
                for column in link_columns:
                    conn.execute(f"DELETE FROM memory_links WHERE {column} = ?", (memory_id,))
                if has_index:
                    conn.execute("DELETE FROM memory_vec WHERE memory_id = ?", (memory_id,))
                    conn.execute("DELETE FROM memory_dedup_vec WHERE memory_id = ?", (memory_id,))
                conn.execute("DELETE FROM memory_fts WHERE rowid = ?", (memory_id,))
                conn.execute("DELETE FROM memories WHERE id = ?", (memory_id,))

    @staticmethod
    def _link_columns(conn: Any) -> list[str]:
        """The columns of memory_links that hold memory ids: those with a foreign key to
        memories, else those named like one (`*_id`). [] when there is no such table."""
        if not conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'memory_links'"
        ).fetchone():
            return []
        keys = [
            row[3]
            for row in conn.execute("PRAGMA foreign_key_list(memory_links)").fetchall()
            if row[2] == "memories"
        ]
        if keys:
            return list(dict.fromkeys(keys))
        columns = [row[1] for row in conn.execute("PRAGMA table_info(memory_links)").fetchall()]
        return [c for c in columns if c.endswith("_id") and c != "run_id"]

    def reindex(self, embedder: Embedder, progress: Progress | None = None) -> int:
        """Re-embed every memory with `embedder` and make it the pool's model."""
        return self._rebuild(embedder, progress, dedup=True)

    def _rebuild(self, embedder: Embedder, progress: Progress | None, dedup: bool) -> int:
        """Re-embed the retrieval vectors (and with `dedup` the dedup vectors) of every
        memory with `embedder` under the current scheme.

        Embedding runs outside the write lock (it can take minutes); the old index stays
        in place until the new one is swapped in by one transaction."""
        rows = self.db.execute("SELECT id, kind, fields FROM memories ORDER BY id").fetchall()
        vectors = self._texts_to_vectors(rows, embedder, progress, dedup)
        with self.db.write() as conn:
            current = conn.execute(
                "SELECT id, kind, fields, up - down FROM memories ORDER BY id"
            ).fetchall()
            late = [row for row in current if row[0] not in vectors]
            if late:  # added by another process while we were embedding
                vectors.update(self._texts_to_vectors(late, embedder, None, dedup))
            conn.execute("DROP TABLE IF EXISTS memory_vec")
            if dedup:
                conn.execute("DROP TABLE IF EXISTS memory_dedup_vec")
            conn.execute(
                "DELETE FROM meta WHERE key IN "
                "('embedding_model', 'embedding_dim', 'embedding_scheme')"
            )
            self._create_index(conn, embedder.name, embedder.dim, dedup=dedup)
            conn.executemany(
                "INSERT INTO memory_vec (memory_id, embedding, kind, net_votes) "
                "VALUES (?, ?, ?, ?)",
                [(id_, _to_blob(vectors[id_][0]), kind, net) for id_, kind, _, net in current],
            )
            dbmod.fill_fts(conn)
            if dedup:
                conn.executemany(
                    "INSERT INTO memory_dedup_vec (memory_id, embedding, kind) VALUES (?, ?, ?)",
                    [(id_, _to_blob(vectors[id_][1]), kind) for id_, kind, _, _ in current],
                )
        self.embedder = embedder
        return len(current)

    def _texts_to_vectors(
        self, rows: Sequence[Any], embedder: Embedder, progress: Progress | None, dedup: bool
    ) -> dict[int, tuple[Any, Any]]:
        """{id: (retrieval vector, dedup vector or None)} for (id, kind, fields) rows."""
        memories = [Memory(kind=kind, fields=json.loads(fields)) for _, kind, fields, *_ in rows]
        texts = [m.embedded_text for m in memories]
        if dedup:
            texts += [m.dedup_text for m in memories]
        embedded = self._embed_all(texts, embedder, progress)
        n = len(rows)
        return {
            row[0]: (embedded[i], embedded[n + i] if dedup else None) for i, row in enumerate(rows)
        }

    # -- reading ------------------------------------------------------------------

    def get(self, memory_id: int, view: View | None = None) -> Memory:
        """One memory. With `view` (a face serving one repository), a memory that view
        cannot see is answered exactly as one that does not exist."""
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM memories WHERE id = ?", (memory_id,)
        ).fetchone()
        if row is None or (view is not None and not view.shows(_row_to_memory(row))):
            raise NotFound(f"no memory with id {memory_id}")
        return _row_to_memory(row)

    def get_many(self, ids: Sequence[int]) -> dict[int, Memory]:
        """The memories of `ids` that exist, by id."""
        return self._get_many(list(ids))

    def _get_many(self, ids: Sequence[int]) -> dict[int, Memory]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM memories WHERE id IN ({marks})", tuple(ids)
        ).fetchall()
        return {row[0]: _row_to_memory(row) for row in rows}

    def list(
        self,
        kind: str | None = None,
        language: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Memory]:
        """Newest first."""
        where, params = _filters(kind, language)
        sql = f"SELECT {_COLUMNS} FROM memories {where} ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        return [_row_to_memory(row) for row in self.db.execute(sql, params).fetchall()]

    def vectors(self, memory_ids: Sequence[int]) -> dict[int, Any]:
        """Stored embeddings by memory id (float32 arrays)."""
        import numpy as np

        if not memory_ids or not self._has_index():
            return {}
        found: dict[int, Any] = {}
        for start in range(0, len(memory_ids), 500):
            chunk = list(memory_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for mid, blob in self.db.execute(
                f"SELECT memory_id, embedding FROM memory_vec WHERE memory_id IN ({marks})", chunk
            ).fetchall():
                found[int(mid)] = np.frombuffer(blob, dtype=np.float32)
        return found

    def count(self, kind: str | None = None, language: str | None = None) -> int:
        where, params = _filters(kind, language)
        return int(self.db.execute(f"SELECT count(*) FROM memories {where}", params).fetchone()[0])

    def search(
        self,
        query: str,
        k: int = 3,
        kind: str | None = None,
        language: str | None = None,
        floor: float | None = None,
        view: View | None = None,
    ) -> list[Hit]:
        """The `k` best memories for `query` by the pool's ranking (see rank.py), only
        those with a similarity of at least `floor` when one is given."""
        return self.search_split(query, k, kind, language, floor, view)[0]

    def search_split(
        self,
        query: str,
        k: int = 3,
        kind: str | None = None,
        language: str | None = None,
        floor: float | None = None,
        view: View | None = None,
    ) -> tuple[list[Hit], list[Hit]]:
        """(the best `k` at or above `floor`, the best `k` below it)."""
        return split_at_floor(self.search_ranked(query, k, kind, language, view), k, floor)

    def search_ranked(
        self,
        query: str,
        k: int = 3,
        kind: str | None = None,
        language: str | None = None,
        view: View | None = None,
    ) -> list[Hit]:
        """Every candidate fetched for the best `k`, ranked, unfiltered by any floor."""
        if k <= 0 or not self._has_index():
            return []
        embed = self._embedder().embed
        vector = embed([query])[0]
        # Apart from the whole query: one batch pads every text to its longest, and the
        # clauses are short (tests/bench_retrieval.py prints the cost per query).
        segments = query_segments(query)
        clauses = embed(segments) if segments else None
        return self.search_vector_ranked(vector, k, kind, language, query, view, clauses)

    def neighbours(
        self, memories: Sequence[Memory], k: int, least: float, view: View
    ) -> list[list[Hit]]:
        """For each memory, the `k` nearest stored insights whose whole lesson (retrieval
        vectors) or title (dedup vectors) has a cosine similarity of at least `least`:
        two lessons that contradict each other share their situation, and so their
        title, more than their advice. Any trust; hidden and superseded ones left out, and
        so is what `view` (the learning repository's) cannot see: the neighbours go into a
        prompt sent to the model."""
        if not memories or not self._has_index():
            return [[] for _ in memories]
        n = len(memories)
        texts = [m.embedded_text for m in memories] + [m.dedup_text for m in memories]
        vectors = self._embedder().embed(texts)
        scoped = view.project_only or self._has_project_scope()
        dedup_sql = (
            "SELECT memory_id, distance FROM memory_dedup_vec "
            "WHERE embedding MATCH ? AND k = ? AND kind = 'insight'"
        )
        if scoped:
            dedup_sql += f" AND memory_id IN {view.visible_ids_sql()}"
        found: list[list[Hit]] = []
        for index in range(n):
            best: dict[int, float] = {}
            for hit in self.search_vector_ranked(vectors[index], k + 5, "insight", view=view):
                best[hit.memory.id or 0] = hit.similarity
            params: list[Any] = [_to_blob(vectors[n + index]), k + 5]
            rows = self.db.execute(dedup_sql, [*params, view.repo_key] if scoped else params)
            for mid, distance in rows.fetchall():
                best[int(mid)] = max(best.get(int(mid), -1.0), 1.0 - float(distance))
            near = [mid for mid, sim in best.items() if sim >= least]
            gone = self.superseded(near, view)
            memories_by_id = self._get_many([mid for mid in near if mid not in gone])
            hits = [
                Hit(memory, best[mid], best[mid])
                for mid, memory in memories_by_id.items()
                if memory.net_votes > HIDE_AT and view.shows(memory)
            ]
            hits.sort(key=lambda hit: hit.similarity, reverse=True)
            found.append(hits[:k])
        return found

    def search_vector(
        self, vector: Any, k: int = 3, kind: str | None = None, language: str | None = None
    ) -> list[Hit]:
        return self.search_vector_split(vector, k, kind, language)[0]

    def search_vector_split(
        self,
        vector: Any,
        k: int = 3,
        kind: str | None = None,
        language: str | None = None,
        floor: float | None = None,
        query: str | None = None,
        view: View | None = None,
    ) -> tuple[list[Hit], list[Hit]]:
        """Candidates by meaning (KNN on `vector`) and, given the `query` text, by words
        (FTS5 BM25); rank() orders them and the floor cuts on their relevance."""
        ranked = self.search_vector_ranked(vector, k, kind, language, query, view)
        return split_at_floor(ranked, k, floor)

    def search_vector_ranked(
        self,
        vector: Any,
        k: int = 3,
        kind: str | None = None,
        language: str | None = None,
        query: str | None = None,
        view: View | None = None,
        segments: Any = None,
    ) -> list[Hit]:
        """Every candidate fetched for the best `k`, ranked (retrieve.py applies the
        floor after leaving out superseded memories and settling conflicts). `view` says
        which scopes are visible and how evidence decays (default: View()); `segments`,
        the vectors of the query's clauses (segments.py), fetch candidates too and blend
        into each one's similarity (rank.blend)."""
        view = view or View()
        if k <= 0 or not self._has_index():
            return []
        # Votes and win rates can lift a memory a little over closer ones, so the KNN
        # fetches more candidates than asked and rank() orders them.
        candidates = min(max(4 * k, k + 20), _MAX_CANDIDATES)
        sql = (
            "SELECT memory_id, distance FROM memory_vec "
            "WHERE embedding MATCH ? AND k = ? AND net_votes > ?"
        )
        params: list[Any] = [_to_blob(vector), candidates, HIDE_AT]
        if kind:
            _check_kind(kind)
            sql += " AND kind = ?"
            params.append(kind)
        if language:
            sql += " AND memory_id IN (SELECT memory_id FROM memory_languages WHERE language = ?)"
            params.append(language.lower())
        if view.project_only or self._has_project_scope():
            sql += f" AND memory_id IN {view.visible_ids_sql()}"
            params.append(view.repo_key)
        found = dict(self.db.execute(sql, params).fetchall())
        clauses = [] if segments is None else list(segments)
        for clause in clauses:  # a memory close to one clause only is a candidate too
            params[0] = _to_blob(clause)
            found.update({mid: dist for mid, dist in self.db.execute(sql, params).fetchall()
                          if mid not in found})  # fmt: skip
        lexical = self._lexical(query, candidates, list(found)) if query else {}
        extra = [mid for mid in lexical if mid not in found]
        if extra or clauses:  # the stored vectors give the rest of the similarities
            import numpy as np

            query_vector = np.asarray(vector, dtype=np.float32)
            clause_matrix = np.asarray(clauses, dtype=np.float32) if clauses else None
            for mid, stored in self.vectors([*found, *extra]).items():
                whole = float(stored @ query_vector)
                best = None if clause_matrix is None else float((clause_matrix @ stored).max())
                found[mid] = 1.0 - blend(whole, best)
        memories = self._get_many(list(found))
        pairs = [
            (memories[mid], dist)
            for mid, dist in found.items()
            if mid in memories
            and (not kind or memories[mid].kind == kind)
            and (not language or language.lower() in memories[mid].languages)
            and view.shows(memories[mid])
        ]
        evidence = self.evidence([m.id for m, _ in pairs if m.id], view.half_life_days)
        return rank(pairs, None, lexical, evidence)

    def _has_project_scope(self) -> bool:
        row = self.db.execute("SELECT 1 FROM memories WHERE scope = 'project' LIMIT 1")
        return row.fetchone() is not None

    def evidence(
        self, memory_ids: Sequence[int], half_life_days: float | None
    ) -> dict[int, Evidence] | None:
        """Each memory's accepted uses and wins, weighted by decay(age) at self.clock()
        (rank.py); None when evidence does not decay (the stored totals count)."""
        if not half_life_days:
            return None
        weighed: dict[int, list[float]] = {}
        at = self.clock()
        for start in range(0, len(memory_ids), 500):
            chunk = list(memory_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                "SELECT memory_id, outcome = 'success', julianday(?) - julianday(created_at) "
                f"FROM memory_uses WHERE accepted = 1 AND memory_id IN ({marks})",
                (at, *chunk),
            ).fetchall()
            for memory_id, won, age in rows:
                weight = decay(float(age or 0.0), half_life_days)
                totals = weighed.setdefault(int(memory_id), [0.0, 0.0])
                totals[0] += weight
                totals[1] += weight * bool(won)
        return {mid: Evidence(uses, wins) for mid, (uses, wins) in weighed.items()}

    def rescope(self, memory_id: int, scope: str, repo_key: str | None = None) -> Memory:
        """Make a memory global, or scoped to the repository `repo_key` (its recorded
        repository when None)."""
        if scope not in SCOPES:
            raise PoolError(f"unknown scope '{scope}' (expected global or project)")
        with self.db.write() as conn:
            memory = self.get(memory_id)
            key = repo_key or memory.repo_key
            if scope == "project" and not key:
                raise PoolError(
                    f"memory {memory_id} records no repository: rescope it from inside the "
                    "repository it belongs to"
                )
            conn.execute(
                "UPDATE memories SET scope = ?, repo_key = ?, updated_at = ? WHERE id = ?",
                (scope, key if scope == "project" else memory.repo_key or key, now(), memory_id),
            )
        return self.get(memory_id)

    def _lexical(self, query: str, limit: int, also: list[int]) -> dict[int, float]:
        """BM25 (higher is better) of the best `limit` memories for the query's words,
        and of the memories `also` when they match at all."""
        match = fts_query(query)
        if not match:
            return {}
        sql = "SELECT rowid, bm25(memory_fts) FROM memory_fts WHERE memory_fts MATCH ?"
        try:
            rows = self.db.execute(sql + " ORDER BY rank LIMIT ?", (match, limit)).fetchall()
            for start in range(0, len(also), 500):
                chunk = also[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows += self.db.execute(
                    sql + f" AND rowid IN ({marks})", (match, *chunk)
                ).fetchall()
        except Exception as exc:  # a query FTS5 cannot parse: meaning alone decides
            if "fts5" not in str(exc).lower():
                raise
            return {}
        return {int(rowid): -float(score) for rowid, score in rows}

    def stats(self) -> dict[str, Any]:
        def grouped(column: str) -> dict[str, int]:
            rows = self.db.execute(
                f"SELECT {column}, count(*) FROM memories GROUP BY {column} ORDER BY 2 DESC"
            ).fetchall()
            return {str(key): int(n) for key, n in rows}

        languages = self.db.execute(
            "SELECT language, count(*) FROM memory_languages GROUP BY language "
            "ORDER BY 2 DESC LIMIT 20"
        ).fetchall()
        totals = self.db.execute(
            "SELECT count(*), coalesce(sum(up), 0), coalesce(sum(down), 0), "
            "coalesce(sum(uses), 0), coalesce(sum(wins), 0), "
            f"coalesce(sum(up - down <= {HIDE_AT}), 0) FROM memories"
        ).fetchone()
        by_kind = grouped("kind")
        model, dim = self.recorded_model()
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        return {
            "path": str(self.path),
            "size_bytes": size,
            "schema_version": dbmod.SCHEMA_VERSION,
            "driver": self.db.driver,
            "sqlite_version": self.db.sqlite_version,
            "sqlite_vec_version": self.db.vec_version,
            "embedding_model": model,
            "embedding_dim": dim,
            "total": int(totals[0]),
            "by_kind": {kind: by_kind.get(kind, 0) for kind in KINDS},
            "by_outcome": grouped("outcome"),
            "by_origin": grouped("origin"),
            "by_language": {lang: int(n) for lang, n in languages},
            "votes_up": int(totals[1]),
            "votes_down": int(totals[2]),
            "uses": int(totals[3]),
            "wins": int(totals[4]),
            "hidden": int(totals[5]),
        }


def _mark_learned(conn: Any, key: str, memory_ids: Sequence[int]) -> None:
    value = json.dumps({"at": now(), "ids": list(dict.fromkeys(memory_ids))})
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (f"learned:{key}", value)
    )


def fts_query(text: str) -> str:
    """The words of `text` (three letters or more) as an FTS5 OR query, each quoted."""
    cleaned = "".join(c if c.isalnum() else " " for c in text)
    words = dict.fromkeys(w.lower() for w in cleaned.split() if len(w) > 2)
    return " OR ".join(f'"{w}"' for w in words)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise PoolError(f"unknown kind '{kind}' (expected one of: {', '.join(KINDS)})")


def _filters(kind: str | None, language: str | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if kind:
        _check_kind(kind)
        clauses.append("kind = ?")
        params.append(kind)
    if language:
        clauses.append("id IN (SELECT memory_id FROM memory_languages WHERE language = ?)")
        params.append(language.lower())
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
