"""The memory_links table: what each distillation did to the pool (db.py, schema step 4),
and what retrieval needs from it: which memories are superseded, which contradict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mtl_tui.records import now
from mtl_tui.scrub import scrub

RELATIONS = ("adds", "agrees", "refines", "contradicts")


@dataclass(frozen=True)
class Link:
    src: int | None
    dst: int | None
    relation: str
    run: str | None
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def record(conn: Any, src: int | None, dst: int | None, relation: str, run: str | None) -> None:
    if relation not in RELATIONS:
        raise ValueError(f"unknown relation '{relation}'")
    conn.execute(
        "INSERT INTO memory_links (src, dst, relation, run, created_at) VALUES (?, ?, ?, ?, ?)",
        (src, dst, relation, scrub(run) if run else None, now()),
    )


def link(conn: Any, new: int, target: int | None, relation: str, run: str | None) -> None:
    """Record what the memory `new` does to `target`. A refinement takes over the
    target's support and contradictions, so that a conflict outlives a rewording."""
    record(conn, new, target, relation, run)
    if relation != "refines" or target is None:
        return
    conn.execute(
        "UPDATE memories SET support = support + (SELECT support FROM memories WHERE id = ?) "
        "WHERE id = ?",
        (target, new),
    )
    for src, dst in conn.execute(
        "SELECT src, dst FROM memory_links WHERE relation = 'contradicts' AND (src = ? OR dst = ?)",
        (target, target),
    ).fetchall():
        other = dst if src == target else src
        if other != new:
            record(conn, new, other, "contradicts", run)


def agree(conn: Any, target: int, run: str | None) -> None:
    """A run agreed with a stored memory: it gains support."""
    conn.execute(
        "UPDATE memories SET support = support + 1, updated_at = ? WHERE id = ?", (now(), target)
    )
    record(conn, None, target, "agrees", run)


def _marks(ids: Sequence[int]) -> str:
    return ",".join("?" * len(ids))


def superseded(
    db: Any, ids: Sequence[int], visible: tuple[str, str | None] | None = None
) -> dict[int, int]:
    """{memory id: the id of the refinement that supersedes it} among `ids`. `visible`
    (a subquery of visible ids and its one parameter): only a refinement the asker can
    see supersedes, so that one repository's scoped refinement neither hides a global
    lesson from the others nor tells them its id."""
    if not ids:
        return {}
    sql = (
        "SELECT dst, max(src) FROM memory_links WHERE relation = 'refines' "
        f"AND dst IN ({_marks(ids)})"
    )
    params: list[Any] = list(ids)
    if visible is not None:
        sql += f" AND src IN {visible[0]}"
        params.append(visible[1])
    rows = db.execute(sql + " GROUP BY dst", params).fetchall()
    return {int(dst): int(src) for dst, src in rows}


def contradictions(db: Any, ids: Sequence[int]) -> list[tuple[int, int]]:
    """The (newer, older) contradiction pairs with both sides among `ids`."""
    if len(ids) < 2:
        return []
    marks = _marks(ids)
    rows = db.execute(
        f"SELECT DISTINCT src, dst FROM memory_links WHERE relation = 'contradicts' "
        f"AND src IN ({marks}) AND dst IN ({marks})",
        (*ids, *ids),
    ).fetchall()
    return [(int(src), int(dst)) for src, dst in rows]


def all_contradictions(db: Any) -> list[tuple[int, int]]:
    """Every (newer, older) contradiction pair in the pool."""
    rows = db.execute(
        "SELECT DISTINCT src, dst FROM memory_links WHERE relation = 'contradicts'"
    ).fetchall()
    return [(int(src), int(dst)) for src, dst in rows]


def of(db: Any, memory_id: int) -> list[Link]:
    """Every link of one memory, oldest first (for `mtl memory show`)."""
    rows = db.execute(
        "SELECT src, dst, relation, run, created_at FROM memory_links "
        "WHERE src = ? OR dst = ? ORDER BY id",
        (memory_id, memory_id),
    ).fetchall()
    return [Link(*row) for row in rows]


def of_run(db: Any, run: str) -> list[Link]:
    rows = db.execute(
        "SELECT src, dst, relation, run, created_at FROM memory_links WHERE run = ? ORDER BY id",
        (run,),
    ).fetchall()
    return [Link(*row) for row in rows]
