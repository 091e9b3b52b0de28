"""Which memories no longer earn their place, and why (`mtl memory prune`, the browser).

A memory is a candidate for any of these reasons (each one line, for people):

- unused: neither accepted into a run nor retrieved for one for `unused_months`
  (counted from its creation when it never was), while the pool was in use: at least
  UNUSED_MIN_RUNS runs retrieved memories in that time;
- losing: accepted into at least LOSING_MIN_RUNS runs with a known outcome, and won at
  most LOSING_WIN_RATE of them, each run weighted by decay(its age) when evidence decays
  (so a lesson that helped for a year and fails since is losing now);
- voted down: more down votes than up;
- superseded: another memory refines it (memory_links, when the pool has that table);
- contradicted and losing: it contradicts another memory that has more evidence.

Nothing is deleted here; the store deletes what the user confirms, in one transaction.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mtl_tui.memory import rank
from mtl_tui.memory.rank import Evidence, score
from mtl_tui.memory.store import MemoryStore
from mtl_tui.records import Memory
from mtl_tui.text import plural

LOSING_MIN_RUNS = 5
LOSING_WIN_RATE = 1 / 3
DAYS_PER_MONTH = 30.44
# "Unused" lists a memory only when it had chances to be used. A memory that is not
# retrieved does no harm (it never reaches a prompt), so idleness alone is weak evidence:
# - the clock starts at the latest of its creation, its last acceptance and its last
#   retrieval (a memory retrieved for this month's tasks is still relevant to the work
#   coming in; whether it helps is what `losing` and `voted down` judge, on outcomes);
# - at least this many runs must have retrieved memories since that moment. A new pool,
#   or a user who ran mtl a few times in half a year, gave no lesson a fair chance; 10 runs
#   of top-3 retrieval is the least that makes "not used in that time" mean something.
#   tests/bench_pool_health.py (about 80 runs a month, a fixed set of tasks) prunes the
#   same 76 of 90 lessons with or without this guard: there they are never retrieved.
UNUSED_MIN_RUNS = 10

LINKS_TABLE = "memory_links"
# The link table's columns, by the first name found (it is another change's schema: the
# names are looked up instead of assumed, and what cannot be read is said, not guessed).
_SOURCE_NAMES = ("src", "source_id", "from_id", "src_id", "new_id")
_TARGET_NAMES = ("dst", "target_id", "to_id", "dst_id", "old_id")
_RELATION_NAMES = ("relation", "op", "kind", "type", "link")


@dataclass
class Candidate:
    memory: Memory
    reasons: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)  # unused, losing, voted-down, ...

    def add(self, code: str, reason: str) -> None:
        self.codes.append(code)
        self.reasons.append(reason)

    def to_dict(self) -> dict[str, Any]:
        m = self.memory
        return {
            "id": m.id,
            "kind": m.kind,
            "title": m.title,
            "scope": m.scope,
            "reasons": self.reasons,
            "codes": self.codes,
        }


@dataclass
class PruneReport:
    candidates: list[Candidate]
    checked: int  # memories looked at
    not_checked: list[str] = field(default_factory=list)  # reasons that could not be read

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "candidates": [c.to_dict() for c in self.candidates],
            "not_checked": self.not_checked,
        }


@dataclass
class Health:
    """What the browser shows for one memory."""

    last_used: str | None
    win_rate: float | None  # over accepted runs with a known outcome
    known_runs: int
    votes: str
    reasons: list[str]
    codes: list[str]


def _parse(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _months(since: str, at: datetime) -> float:
    return (at - _parse(since)).total_seconds() / 86_400 / DAYS_PER_MONTH


def outcomes(store: MemoryStore, memory_ids: Sequence[int] | None) -> dict[int, tuple[int, int]]:
    """(wins, runs) over accepted runs with a known outcome, by memory id."""
    sql = (
        "SELECT memory_id, sum(outcome = 'success'), count(*) FROM memory_uses "
        "WHERE accepted = 1 AND outcome IN ('success', 'failure')"
    )
    found: dict[int, tuple[int, int]] = {}
    chunks = [None] if memory_ids is None else _chunks(memory_ids)
    for chunk in chunks:
        params: tuple[Any, ...] = ()
        where = ""
        if chunk is not None:
            where = f" AND memory_id IN ({','.join('?' * len(chunk))})"
            params = tuple(chunk)
        for mid, wins, runs in store.db.execute(sql + where + " GROUP BY memory_id", params):
            found[int(mid)] = (int(wins), int(runs))
    return found


def _chunks(ids: Sequence[int], size: int = 500) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def links(store: MemoryStore) -> tuple[list[tuple[int, int, str]], str | None]:
    """(source, target, relation) rows of the pool's link table ([] when it has none), and
    why they could not be read, if so."""
    conn = store.db
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (LINKS_TABLE,)
    ).fetchone():
        return [], None
    columns = [row[1] for row in conn.execute(f"PRAGMA table_info({LINKS_TABLE})")]
    pick = [next((c for c in names if c in columns), None) for names in
            (_SOURCE_NAMES, _TARGET_NAMES, _RELATION_NAMES)]  # fmt: skip
    if None in pick:
        return [], f"{LINKS_TABLE} has columns {', '.join(columns)}, which prune cannot read"
    source, target, relation = pick
    rows = conn.execute(
        f"SELECT {source}, {target}, {relation} FROM {LINKS_TABLE} "
        f"WHERE {source} IS NOT NULL AND {target} IS NOT NULL"
    ).fetchall()
    return [(int(s), int(t), str(r).lower()) for s, t, r in rows], None


def standing(memory: Memory, evidence: Evidence | None) -> float:
    """How well a memory has earned its place, to settle a contradiction: the rule
    retrieval settles it by (rank.evidence) where the pool has one, else its votes and
    its (decayed) win rate as the ranking weighs them (rank.score with no similarity)."""
    settle = getattr(rank, "evidence", None)  # the conflicts change's rule, once merged
    if callable(settle):
        return float(settle(memory))
    return score(0.0, memory, evidence)


def candidates(
    store: MemoryStore,
    unused_months: float = 6.0,
    half_life_days: float | None = None,
    memory_ids: Sequence[int] | None = None,
) -> PruneReport:
    """The prune candidates among `memory_ids` (the whole pool when None), at the store's
    clock, with their reasons; the best-supported memory of a contradicting pair stays."""
    at = _parse(store.clock())
    chosen = store.get_many(memory_ids).values() if memory_ids is not None else None
    memories = store.list() if chosen is None else list(chosen)
    known = outcomes(store, None if memory_ids is None else [m.id for m in memories if m.id])
    link_rows, unreadable = links(store)
    report = PruneReport([], len(memories), [unreadable] if unreadable else [])
    by_id = {m.id: m for m in memories}
    others = {t for s, t, _ in link_rows} | {s for s, _, _ in link_rows}
    outside = store.get_many([i for i in others if i not in by_id]) if others else {}
    everyone = {**outside, **by_id}
    evidence = store.evidence(list(everyone), half_life_days) or {}
    runs_started = run_times(store)
    for memory in memories:
        assert memory.id is not None
        found = Candidate(memory)
        _unused(found, unused_months, at, runs_started)
        wins, runs = known.get(memory.id, (0, 0))
        weighed = evidence.get(memory.id)
        rate = weighed.wins / weighed.uses if weighed and weighed.uses else wins / max(runs, 1)
        if runs >= LOSING_MIN_RUNS and rate <= LOSING_WIN_RATE:
            recent = f" ({rate:.0%} once older runs weigh less)" if weighed else ""
            found.add("losing", f"accepted in {runs} finished runs, helped in {wins}{recent}")
        if memory.down > memory.up:
            found.add("voted-down", f"voted down ({memory.up} up, {memory.down} down)")
        for source, target, relation in link_rows:
            if relation.startswith("refine") and target == memory.id and source in everyone:
                found.add("superseded", f"superseded by #{source}, which refines it")
            elif relation.startswith("contradict") and memory.id in (source, target):
                other = everyone.get(target if source == memory.id else source)
                if other is None or other.id is None:
                    continue
                mine = standing(memory, evidence.get(memory.id))
                theirs = standing(other, evidence.get(other.id))
                if mine < theirs:
                    found.add(
                        "contradicted",
                        f"contradicted by #{other.id}, which has more evidence "
                        f"({theirs:+.2f} against {mine:+.2f})",
                    )
        if found.codes:
            report.candidates.append(found)
    return report


def run_times(store: MemoryStore) -> list[datetime]:
    """When each recorded run (one that retrieved memories) happened, oldest first."""
    rows = store.db.execute("SELECT min(created_at) FROM memory_uses GROUP BY run_id")
    return sorted(_parse(stamp) for (stamp,) in rows if stamp)


def _unused(found: Candidate, months: float, at: datetime, runs: list[datetime]) -> None:
    """See UNUSED_MIN_RUNS: idle since the latest of creation, acceptance and retrieval,
    with enough runs in that time."""
    memory = found.memory
    stamps = [memory.created_at, memory.last_accepted_at, memory.last_retrieved_at]
    since = max(_parse(stamp) for stamp in stamps if stamp)
    idle = _months(since.isoformat(), at)
    chances = len(runs) - bisect.bisect_right(runs, since)
    if idle < months or chances < UNUSED_MIN_RUNS:
        return
    if memory.last_accepted_at is None and memory.last_retrieved_at is None:
        found.add(
            "unused", f"never used, added {_months(memory.created_at, at):.0f} months ago "
            f"({plural(chances, 'run')} since)",
        )  # fmt: skip
    else:
        found.add("unused", f"not used for {idle:.0f} months ({plural(chances, 'run')} since)")


def health_of(
    store: MemoryStore, memories: Sequence[Memory], unused_months: float = 6.0
) -> dict[int, Health]:
    """Last use, win rate, votes and prune reasons of `memories`, by id (the browser)."""
    ids = [m.id for m in memories if m.id is not None]
    known = outcomes(store, ids)
    listed = candidates(store, unused_months, memory_ids=ids).candidates
    found = {c.memory.id: c for c in listed}
    shown: dict[int, Health] = {}
    for memory in memories:
        if memory.id is None:
            continue
        wins, runs = known.get(memory.id, (0, 0))
        shown[memory.id] = Health(
            last_used=memory.last_accepted_at,
            win_rate=wins / runs if runs else None,
            known_runs=runs,
            votes=f"+{memory.up}/-{memory.down}",
            reasons=found[memory.id].reasons if memory.id in found else [],
            codes=found[memory.id].codes if memory.id in found else [],
        )
    return shown
