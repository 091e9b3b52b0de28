"""The pool's SQLite connection: driver choice, sqlite-vec, pragmas, migrations.

Python's own `sqlite3` is used when it can load extensions; many builds (this one,
pyenv and macOS system Pythons) cannot, and then `sqlean.py`, which bundles a SQLite
with extension loading, takes its place.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from mtl_tui.errors import PoolError
from mtl_tui.text import plural

BUSY_TIMEOUT_MS = 15_000
# A schema upgrade of a pool this large takes seconds (step 6 rebuilds the memories table:
# 100,000 memories, 1.3 s of CPU, tests/bench_migration.py): the face is told first.
MIGRATION_NOTICE_AT = 10_000
Notice = Callable[[str], None]
_SQLITE_MAGIC = b"SQLite format 3\x00"


def stdlib_can_load_extensions() -> bool:
    return hasattr(sqlite3.Connection, "enable_load_extension")


def choose_driver(prefer: str | None = None) -> tuple[ModuleType, str]:
    """The DB-API module to use and its name. `prefer` (or `MTL_SQLITE_DRIVER`) forces one."""
    prefer = prefer or os.environ.get("MTL_SQLITE_DRIVER") or "auto"
    if prefer not in {"auto", "sqlite3", "sqlean"}:
        raise PoolError(f"unknown SQLite driver '{prefer}' (expected auto, sqlite3 or sqlean)")
    if prefer == "sqlite3" or (prefer == "auto" and stdlib_can_load_extensions()):
        if not stdlib_can_load_extensions():
            raise PoolError("this Python's sqlite3 cannot load extensions; use the sqlean driver")
        return sqlite3, "sqlite3"
    try:
        import sqlean
    except ImportError as exc:  # pragma: no cover - sqlean.py is a hard dependency
        raise PoolError(
            "this Python's sqlite3 cannot load extensions and sqlean.py is not installed"
        ) from exc
    return sqlean, "sqlean"


@dataclass
class Database:
    conn: Any
    path: Path
    driver: str
    vec_version: str
    sqlite_version: str

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.conn.execute(sql, params)

    @contextlib.contextmanager
    def write(self) -> Iterator[Any]:
        """One write transaction, taken up front (`BEGIN IMMEDIATE`) so that two processes
        queue on the busy timeout instead of failing on a read-to-write upgrade."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                break
            except Exception as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise PoolError(f"memory pool {self.path} is busy: {exc}") from exc
                time.sleep(0.05)
        try:
            yield self.conn
        except BaseException:
            # A failed ROLLBACK (the transaction already gone, e.g. on a full disk) must
            # not hide the error that caused it.
            with contextlib.suppress(Exception):
                self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.conn.execute("ROLLBACK")
            raise PoolError(f"cannot save to memory pool {self.path}: {describe(exc)}") from exc

    def close(self) -> None:
        self.conn.close()


def describe(exc: BaseException) -> str:
    """SQLite's and the OS's errors in words a user can act on."""
    text = str(exc)
    if "disk is full" in text or getattr(exc, "errno", None) == 28:
        return "the disk is full"
    if "readonly" in text or "read-only" in text or isinstance(exc, PermissionError):
        return f"not writable ({text})"
    return text


def _is_busy(exc: Exception) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _looks_like_sqlite(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(len(_SQLITE_MAGIC))
    return head == _SQLITE_MAGIC or head == b""


def connect(path: Path, driver: str | None = None, notice: Notice | None = None) -> Database:
    """Open (creating if needed) the pool at `path` with sqlite-vec loaded and migrated;
    `notice` hears of a migration that will take a while."""
    module, name = choose_driver(driver)
    if path.exists():
        if path.is_dir():
            raise PoolError(f"memory pool path {path} is a directory, not a SQLite file")
        if not path.is_file():
            raise PoolError(f"memory pool path {path} is not a regular file")
        if not _looks_like_sqlite(path):
            raise PoolError(f"{path} is not a SQLite database; move it away or set MTL_HOME")
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PoolError(
                f"cannot create the directory for the memory pool {path.parent}: "
                f"{exc.strerror or exc} (set MTL_HOME to a writable directory)"
            ) from None
    try:
        conn = module.connect(str(path), isolation_level=None, check_same_thread=False)
    except Exception as exc:
        raise PoolError(f"cannot open memory pool {path}: {describe(exc)}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _refuse_foreign(conn, path)  # before anything that writes (WAL, migrations)
        vec_version = load_vec(conn)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        sqlite_version = conn.execute("SELECT sqlite_version()").fetchone()[0]
        db = Database(conn, path, name, vec_version, sqlite_version)
        migrate(db, notice)
    except PoolError:
        conn.close()
        raise
    except Exception as exc:
        conn.close()
        raise PoolError(f"cannot use memory pool {path}: {describe(exc)}") from exc
    return db


def _refuse_foreign(conn: Any, path: Path) -> None:
    """A database mtl did not make (other tables, or a newer schema) stays untouched."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    if version > SCHEMA_VERSION:
        raise PoolError(
            f"memory pool {path} has schema version {version}, newer than this mtl "
            f"understands ({SCHEMA_VERSION}); upgrade mtl"
        )
    if (version == 0 and names) or (version > 0 and not {"meta", "memories"} <= names):
        raise PoolError(
            f"{path} is a SQLite database that mtl did not create; it was left untouched. "
            "Move it away or set MTL_HOME to another directory"
        )


def vec_loadable_path() -> str:
    """sqlite-vec's extension file, found without importing its package (which imports
    numpy, a fifth of a second that a command opening the pool may not need)."""
    from importlib.util import find_spec

    spec = find_spec("sqlite_vec")
    if spec is None or spec.origin is None:
        raise PoolError("sqlite-vec is not installed (pip install sqlite-vec)")
    # What sqlite_vec.loadable_path() returns; SQLite adds the platform's suffix.
    return os.path.normpath(os.path.join(os.path.dirname(spec.origin), "vec0"))


def load_vec(conn: Any) -> str:
    try:
        conn.enable_load_extension(True)
        conn.load_extension(vec_loadable_path())
        conn.enable_load_extension(False)
    except Exception as exc:
        raise PoolError(f"sqlite-vec could not be loaded: {exc}") from exc
    return str(conn.execute("SELECT vec_version()").fetchone()[0])


# Forward migrations: MIGRATIONS[i] takes the schema from version i to i + 1.
# Never edit a released step; append a new one.
def _run_script(conn: Any, script: str) -> None:
    # Not executescript(): it commits the open transaction first.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v1(conn: Any) -> None:
    _run_script(
        conn,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE memories (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('insight', 'summary', 'workflow', 'trajectory')),
            fields TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '[]',
            languages TEXT NOT NULL DEFAULT '[]',
            repo TEXT,
            model TEXT,
            outcome TEXT NOT NULL DEFAULT 'unknown'
                CHECK (outcome IN ('success', 'failure', 'unknown')),
            origin TEXT NOT NULL DEFAULT 'manual',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            up INTEGER NOT NULL DEFAULT 0,
            down INTEGER NOT NULL DEFAULT 0,
            uses INTEGER NOT NULL DEFAULT 0,
            wins INTEGER NOT NULL DEFAULT 0,
            support INTEGER NOT NULL DEFAULT 1
        );
        CREATE UNIQUE INDEX memories_content ON memories (kind, content_hash);
        CREATE TABLE memory_languages (
            memory_id INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
            language TEXT NOT NULL,
            PRIMARY KEY (language, memory_id)
        ) WITHOUT ROWID;
        CREATE INDEX memory_languages_memory ON memory_languages (memory_id);
        """,
    )


def _v2(conn: Any) -> None:
    """Feedback: every use of a memory in a run, and panel rejections as a weak signal."""
    _run_script(
        conn,
        """
        ALTER TABLE memories ADD COLUMN rejects INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE memory_uses (
            memory_id INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
            run_id TEXT NOT NULL,
            accepted INTEGER NOT NULL,
            outcome TEXT NOT NULL DEFAULT 'unknown',
            created_at TEXT NOT NULL,
            PRIMARY KEY (memory_id, run_id)
        );
        CREATE INDEX memory_uses_run ON memory_uses (run_id)
        """,
    )


def dedup_index_sql(dim: int) -> str:
    """The index of dedup vectors (records.Memory.dedup_text), apart from retrieval's."""
    return (
        "CREATE VIRTUAL TABLE memory_dedup_vec USING vec0("
        f"memory_id INTEGER PRIMARY KEY, embedding float[{dim}] distance_metric=cosine, "
        "kind TEXT)"
    )


FTS_SQL = "CREATE VIRTUAL TABLE memory_fts USING fts5(body, tokenize = 'porter')"


def fill_fts(conn: Any) -> None:
    """(Re)write the full-text index: each memory's retrieval text, rowid = memory id."""
    from mtl_tui.records import retrieval_text

    conn.execute("DELETE FROM memory_fts")
    rows = conn.execute("SELECT id, kind, fields FROM memories").fetchall()
    conn.executemany(
        "INSERT INTO memory_fts (rowid, body) VALUES (?, ?)",
        [(id_, retrieval_text(kind, json.loads(fields))) for id_, kind, fields in rows],
    )


def _v3(conn: Any) -> None:
    """Retrieval matches the whole lesson, by meaning and by words; dedup keeps the title
    vectors it was tuned on.

    A full-text index (FTS5) of the retrieval texts is built here. Until now memory_vec
    held title vectors (scheme "title-v0"): they become the dedup index as they are, with
    no model needed here. memory_vec keeps serving until the store, once it has its
    embedding model, re-embeds it (MemoryStore.upgrade)."""
    conn.execute(FTS_SQL)
    fill_fts(conn)
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'memory_vec'").fetchone():
        return
    dim = conn.execute("SELECT value FROM meta WHERE key = 'embedding_dim'").fetchone()
    if dim is None:  # an index with no recorded model: rebuilt whole on next add
        return
    conn.execute(dedup_index_sql(int(dim[0])))
    conn.execute(
        "INSERT INTO memory_dedup_vec (memory_id, embedding, kind) "
        "SELECT memory_id, embedding, kind FROM memory_vec"
    )
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('embedding_scheme', 'title-v0')")


def _v4(conn: Any) -> None:
    """The pool edits itself: every operation a distillation applied, with its run.

    `relation` is what `src` does to `dst`: adds (src new, no dst), agrees (no src: the
    run agreed with dst), refines (src supersedes dst, which is kept for history but not
    retrieved), contradicts (src says the opposite of dst). Deleting either side deletes
    the link, so deleting a refinement brings back the memory it superseded."""
    _run_script(
        conn,
        """
        CREATE TABLE memory_links (
            id INTEGER PRIMARY KEY,
            src INTEGER REFERENCES memories (id) ON DELETE CASCADE,
            dst INTEGER REFERENCES memories (id) ON DELETE CASCADE,
            relation TEXT NOT NULL
                CHECK (relation IN ('adds', 'agrees', 'refines', 'contradicts')),
            run TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX memory_links_src ON memory_links (src);
        CREATE INDEX memory_links_dst ON memory_links (dst, relation)
        """,
    )


def _v5_scopes_and_evidence(conn: Any) -> None:
    """Scopes and evidence over time (issue 19, scopes part).

    `scope` is 'global' (any repository) or 'project' (only the repository `repo_key`
    names, see repo/identity.py). The three timestamps record when a memory was last
    shown for a run, last accepted into one, and last accepted into a run that
    succeeded; memory_uses keeps every use with its time, for the decayed ranking."""
    _run_script(
        conn,
        """
        ALTER TABLE memories ADD COLUMN scope TEXT NOT NULL DEFAULT 'global'
            CHECK (scope IN ('global', 'project'));
        ALTER TABLE memories ADD COLUMN repo_key TEXT;
        ALTER TABLE memories ADD COLUMN last_retrieved_at TEXT;
        ALTER TABLE memories ADD COLUMN last_accepted_at TEXT;
        ALTER TABLE memories ADD COLUMN last_helpful_at TEXT;
        CREATE INDEX memories_scope ON memories (scope, repo_key);
        UPDATE memories SET
            last_retrieved_at = (SELECT max(created_at) FROM memory_uses u
                                 WHERE u.memory_id = memories.id),
            last_accepted_at = (SELECT max(created_at) FROM memory_uses u
                                WHERE u.memory_id = memories.id AND u.accepted = 1),
            last_helpful_at = (SELECT max(created_at) FROM memory_uses u
                               WHERE u.memory_id = memories.id AND u.accepted = 1
                               AND u.outcome = 'success')
        """,
    )


# The memories table as step 6 leaves it: the columns of steps 1, 2 and 5 in their order,
# the id now AUTOINCREMENT.
_MEMORIES_V6 = """
CREATE TABLE memories_v6 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('insight', 'summary', 'workflow', 'trajectory')),
    fields TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    languages TEXT NOT NULL DEFAULT '[]',
    repo TEXT,
    model TEXT,
    outcome TEXT NOT NULL DEFAULT 'unknown'
        CHECK (outcome IN ('success', 'failure', 'unknown')),
    origin TEXT NOT NULL DEFAULT 'manual',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    up INTEGER NOT NULL DEFAULT 0,
    down INTEGER NOT NULL DEFAULT 0,
    uses INTEGER NOT NULL DEFAULT 0,
    wins INTEGER NOT NULL DEFAULT 0,
    support INTEGER NOT NULL DEFAULT 1,
    rejects INTEGER NOT NULL DEFAULT 0,
    scope TEXT NOT NULL DEFAULT 'global' CHECK (scope IN ('global', 'project')),
    repo_key TEXT,
    last_retrieved_at TEXT,
    last_accepted_at TEXT,
    last_helpful_at TEXT
)"""
_MEMORY_COLUMNS_V6 = (
    "id, kind, fields, content_hash, tags, languages, repo, model, outcome, origin, "
    "created_at, updated_at, up, down, uses, wins, support, rejects, scope, repo_key, "
    "last_retrieved_at, last_accepted_at, last_helpful_at"
)


# Memory ids stay below this (2^53: exact in every JSON reader, and 2^53 adds from any
# real pool). A name above it that no memory holds (a learned mark, a stray vector: only a
# crafted pool has one) does not move the id sequence: counted, it would leave no id to
# hand out (SQLite's AUTOINCREMENT stops at 2^63 - 1) and every add would fail.
ID_LIMIT = 2**53


class MigrationRefused(Exception):
    """A pool a migration step will not upgrade; the transaction is rolled back."""


def highest_memory_id(conn: Any) -> int:
    """The highest memory id anything in the pool still names: a memory, a vector, a
    full-text row, a link, a use, or a session's learned mark (kept after deletes); names
    at or past ID_LIMIT other than a memory's own id are left out."""
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    named = {  # the table, and its columns naming a memory
        "memories": ("id",),
        "memory_uses": ("memory_id",),
        "memory_fts": ("rowid",),
        "memory_links": ("src", "dst"),
        "memory_vec": ("memory_id",),
        "memory_dedup_vec": ("memory_id",),
    }
    high = 0
    for table, columns in named.items():
        if table not in names:
            continue
        for column in columns:
            # the limit inside the aggregate: vec0 and fts5 tables take no range constraint
            counted = (
                column
                if table == "memories"
                else (f"CASE WHEN {column} < {ID_LIMIT} THEN {column} END")
            )
            value = conn.execute(f"SELECT max({counted}) FROM {table}").fetchone()[0]
            high = max(high, int(value or 0))
    for (value,) in conn.execute("SELECT value FROM meta WHERE key LIKE 'learned:%'"):
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            ids = json.loads(value).get("ids", [])
            high = max([high, *(i for i in ids if isinstance(i, int) and 0 < i < ID_LIMIT)])
    return high


def _drop_orphans(conn: Any) -> None:
    """Uses, languages and links naming a memory that does not exist: what ON DELETE
    CASCADE would have removed had the memory been deleted with foreign keys on (a pool
    written with them off, or crafted). They say nothing about any lesson left."""
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    for table, column in (("memory_uses", "memory_id"), ("memory_languages", "memory_id"),
                          ("memory_links", "src"), ("memory_links", "dst")):  # fmt: skip
        if table in names:
            conn.execute(
                f"DELETE FROM {table} WHERE {column} IS NOT NULL "
                f"AND {column} NOT IN (SELECT id FROM memories)"
            )


def _v6_ids_never_reused(conn: Any) -> None:
    """A memory id is never handed out again after a delete, so "#N" in links, history,
    votes, a user's notes or an exported reference always names the same lesson.

    SQLite reuses the highest rowid of an INTEGER PRIMARY KEY; AUTOINCREMENT does not.
    The table is rebuilt with it (SQLite's documented twelve-step rebuild: migrate() has
    foreign keys off, so dropping the old table cascades to nothing) keeping every row
    and id; vectors, full text, links and uses are keyed by id and stay as they are. The
    sequence starts at the highest id anything in the pool still names.

    A pool written with foreign keys off (or crafted) may hold uses, languages or links
    of missing memories: they are dropped, as deleting those memories would have. A memory
    whose own id is at or past ID_LIMIT cannot be kept without leaving (almost) no id to hand
    out: the upgrade is refused and the pool left as it was."""
    top = conn.execute("SELECT max(id) FROM memories").fetchone()[0]
    if top is not None and int(top) >= ID_LIMIT:
        raise MigrationRefused(
            f"memory #{top} has an id at or past {ID_LIMIT:,} (2^53), which would leave no id for "
            "new memories (was the file edited by hand?)"
        )
    _drop_orphans(conn)
    high = highest_memory_id(conn)
    conn.execute(_MEMORIES_V6)
    conn.execute(
        f"INSERT INTO memories_v6 ({_MEMORY_COLUMNS_V6}) "
        f"SELECT {_MEMORY_COLUMNS_V6} FROM memories ORDER BY id"
    )
    conn.execute("DROP TABLE memories")
    conn.execute("ALTER TABLE memories_v6 RENAME TO memories")
    conn.execute("CREATE UNIQUE INDEX memories_content ON memories (kind, content_hash)")
    conn.execute("CREATE INDEX memories_scope ON memories (scope, repo_key)")
    conn.execute("DELETE FROM sqlite_sequence WHERE name IN ('memories', 'memories_v6')")
    conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('memories', ?)", (high,))


MIGRATIONS: list[Callable[[Any], None]] = [
    _v1,
    _v2,
    _v3,
    _v4,
    _v5_scopes_and_evidence,
    _v6_ids_never_reused,
]
SCHEMA_VERSION = len(MIGRATIONS)


def _repair_sequence(db: Database) -> None:
    """A pool upgraded by step 6 before it ignored names past ID_LIMIT (or edited since)
    may have its id sequence at the end of SQLite's range: every add fails with "database
    or disk is full". The sequence goes back to the highest id still named within the
    limit (when no memory's own id is past it)."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        return
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'memories'").fetchone()
    if row is None or int(row[0]) < ID_LIMIT:
        return
    with db.write() as conn:
        top = conn.execute("SELECT max(id) FROM memories").fetchone()[0]
        if top is None or int(top) < ID_LIMIT:
            high = highest_memory_id(conn)
            conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'memories'", (high,))


@contextlib.contextmanager
def _refusal(db: Database) -> Iterator[None]:
    try:
        yield
    except MigrationRefused as exc:
        raise PoolError(
            f"memory pool {db.path} could not be upgraded: {exc}; it was left as it was"
        ) from None


def migrate(db: Database, notice: Notice | None = None) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise PoolError(
            f"memory pool {db.path} has schema version {version}, newer than this mtl "
            f"understands ({SCHEMA_VERSION}); upgrade mtl"
        )
    if version == SCHEMA_VERSION:
        _repair_sequence(db)
        return
    if notice is not None and version > 0:
        count = db.execute("SELECT count(*) FROM memories").fetchone()[0]
        if count >= MIGRATION_NOTICE_AT:
            notice(
                f"Upgrading the memory pool ({plural(count, 'memory')}, schema {version} → "
                f"{SCHEMA_VERSION}): a few seconds, once; interrupting it leaves the pool as it was"
            )
    # Foreign keys off while tables are rebuilt (step 6): dropping a parent table would
    # otherwise cascade its deletes to every child row. The pragma only takes effect
    # outside a transaction; the check before committing proves nothing dangles.
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        with db.write() as conn, _refusal(db):
            # Re-read inside the lock: another process may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for step in range(version, SCHEMA_VERSION):
                MIGRATIONS[step](conn)
                conn.execute(f"PRAGMA user_version = {step + 1}")
            dangling = conn.execute("PRAGMA foreign_key_check").fetchall()
            if dangling:
                raise PoolError(
                    f"memory pool {db.path} could not be upgraded: {len(dangling)} rows "
                    f"name a missing memory (first in {dangling[0][0]}); it was left as it was"
                )
    finally:
        db.execute("PRAGMA foreign_keys = ON")
