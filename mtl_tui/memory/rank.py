"""How retrieved memories are ordered, and which are relevant enough to show.

    relevance = similarity + LEX_WEIGHT * bm25 / (bm25 + LEX_SCALE)
    score = relevance
          + VOTE_WEIGHT    * tanh((up - down - REJECT_WEIGHT * rejects) / VOTE_SCALE)
          + OUTCOME_WEIGHT * ((wins + 1) / (uses + 2) - 0.5)

- `similarity` is the cosine similarity of the query and the memory's embedded text
  (1 - the vec0 cosine distance). It dominates: relevant memories score ~0.4-0.8 with
  all-MiniLM-L6-v2, unrelated ones ~0.0-0.2. A query of several clauses (segments.py)
  has each clause embedded too, and blend() averages the whole query's cosine with the
  best of it and the clauses' (CLAUSE_WEIGHT 0.5): one MiniLM vector of a long task blurs
  the clause that names the lesson. On the four task sets of tests/data/retrieval (all
  seen; 198 tasks) it moved hit@1 0.86 -> 0.88 and hit@3 0.90 -> 0.92 at the floor,
  emptiness unchanged (34 of 44; before the six rewordings of round 4, 0.82 -> 0.85 and
  0.86 -> 0.88); every set gained or held. Weights 0.7 and 1.0 (the best clause alone)
  let clause noise through: 2 and 3 fewer empty tasks; 0.3 gains less. Leave one set
  out, choosing the weight among 0-1 on three sets with the floor, picks 1.0 three times
  and 0.5 once, and does no better out of sample (hit@1 0.82, hit@3 0.88, 36 of 44 empty
  against 0.84, 0.87, 35 of 44 with 0.5 fixed): 0.5 is kept as the middle that leaves
  emptiness at the shipped floor unchanged (tests/bench_retrieval.py prints the folds).
- `bm25` is the SQLite FTS5 BM25 score of the query's words in the memory's retrieval
  text (0 when none match). Words such as an error message's ("bad interpreter",
  "undefined reference") pin a lesson down where the small embedding model blurs them;
  the saturating form keeps a pile of matching words from outweighing meaning. On
  tests/data/retrieval it lifted hit@1 and let a floor cut unrelated tasks to nothing
  without cutting the relevant ones (tests/bench_retrieval.py prints the comparison).
  LEX_WEIGHT 0.3 (0.2 until the blind set was seen) was chosen with the floor on the
  three task sets (tune, report, blind). Its gain over 0.2 is small (in sample one more
  hit@1 and hit@3 in 104 tasks, precision +0.02; out of sample, leave one set out, the
  same) but it leaves a gap for the floor: 24 of the 28 tasks with nothing relevant top
  out at 0.444 or less and 98 of the 104 tasks with a wanted lesson have one at 0.456 or
  more, so floors from 0.43 to 0.47 give hit@3 0.92-0.93 alike, where with 0.2 the two
  interleave. Higher weights (0.4, 0.5) trade a hit@3 for a hit@1 or two and lean harder
  on the pool's word statistics, which change as a pool grows.
- The relevance floor (config `[memory] floor`) is applied to `relevance`, before votes:
  votes reorder relevant memories but never lift an irrelevant one into the prompt.
- A second cut drops a memory whose relevance is more than RELATIVE_CUT below the most
  relevant one's: when one lesson clearly fits, the weaker ones beside it were mostly
  noise. On the tune split of tests/data/retrieval, 0.10 is the smallest cut that kept
  hit@3; it raised the precision of what reaches the prompt from 0.51 to 0.74. Checked
  again on all three sets: 0.15 gains one hit@3 in 104 and costs 0.07 of precision.
  With the floor off (None or -1) nothing is cut.
- Votes (`up - down`) move a memory by at most ±VOTE_WEIGHT; tanh saturates so that a
  pile of votes cannot lift an irrelevant memory over a relevant one. One vote is worth
  ~0.02, enough to reorder memories of near-equal similarity.
- A rejection in the insights panel is a weak negative: a quarter of a down vote. It
  lowers the score but never hides a memory on its own.
- The Laplace-smoothed win rate is 0.5 for an unused memory and tends to wins/uses as
  evidence accumulates, so a memory that kept helping rises by up to OUTCOME_WEIGHT / 2
  and one that kept failing sinks as much.
- A memory with net votes of HIDE_AT or less is not retrieved at all (it is still
  listed, and a vote up brings it back).
- Evidence decays (config `[memory] half_life_days`, default 90 days): in the win
  rate, each accepted use counts decay(its age), so a lesson that helped a year ago and
  fails now sinks, and one not used for long drifts back to the neutral 0.5: an old
  lesson has to keep earning its place. Only the order above the floor changes; the
  floor still cuts on relevance. Votes, the user's explicit word, do not decay.

When two memories linked by a contradiction both pass the floor, retrieval keeps the one
with more `evidence()` (retrieve.py) and marks it; relevance does not decide between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mtl_tui.config import DEFAULT_HALF_LIFE_DAYS
from mtl_tui.memory.trust import trusted
from mtl_tui.records import Memory

LEX_WEIGHT = 0.3
CLAUSE_WEIGHT = 0.5
LEX_SCALE = 10.0
RELATIVE_CUT = 0.10
VOTE_WEIGHT = 0.06
VOTE_SCALE = 3.0
REJECT_WEIGHT = 0.25
OUTCOME_WEIGHT = 0.12
HIDE_AT = -2
HALF_LIFE_DAYS = DEFAULT_HALF_LIFE_DAYS  # see config.py


@dataclass(frozen=True)
class Evidence:
    """Accepted uses and wins of one memory, each weighted by decay(its age)."""

    uses: float
    wins: float


def decay(age_days: float, half_life_days: float | None) -> float:
    """The weight of evidence `age_days` old: it halves every `half_life_days` (None or
    0: no decay, every use counts fully)."""
    if not half_life_days:
        return 1.0
    return 0.5 ** (max(age_days, 0.0) / half_life_days)


@dataclass
class Hit:
    memory: Memory
    similarity: float
    score: float
    relevance: float | None = None  # similarity + the lexical bonus; None: similarity
    # memories linked to this one by a contradiction that also passed the floor and were
    # left out because this one has more evidence (retrieve.py)
    conflicts_with: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.relevance is None:
            self.relevance = self.similarity

    @property
    def conflict(self) -> str | None:
        """The mark every face shows for a kept side of a conflict."""
        if not self.conflicts_with:
            return None
        others = ", ".join(f"#{i}" for i in self.conflicts_with)
        return f"conflicts with {others} (kept: more evidence)"

    @property
    def trusted(self) -> bool:
        """False for a memory imported from a pack: never pre-accepted (see trust.py)."""
        return trusted(self.memory)

    def to_dict(self) -> dict[str, object]:
        return {
            **self.memory.to_dict(),
            "similarity": round(self.similarity, 4),
            "relevance": round(float(self.relevance or 0.0), 4),
            "score": round(self.score, 4),
            "trusted": self.trusted,
            "conflicts_with": list(self.conflicts_with),
            "conflict": self.conflict,
        }


def relevance_text(hit: Hit) -> str:
    """The number the cuts judge, as every face shows it ("sim" would be cosine alone,
    which is not what the floor judges)."""
    return f"relevance {float(hit.relevance or 0.0):.2f}"


def relevance_parts(hit: Hit, cut: float | None = None, floor: float | None = None) -> str:
    """The relevance taken apart, for a user asking why a memory came (or did not)."""
    value = float(hit.relevance or 0.0)
    text = (
        f"relevance {value:.2f} = meaning {hit.similarity:.2f} (cosine similarity to the task "
        "and its closest clause) "
        f"+ {value - hit.similarity:.2f} for words shared with the task"
    )
    if cut is not None:
        why = f"the floor {floor:.2f}, " if floor is not None else ""
        text += f"; held back under {cut:.2f} ({why}or {RELATIVE_CUT:.2f} under the best)"
        if value < cut:
            text += ", so it is not in the prompt unless you accept it"
    return text


def relevance_cut(ranked: list[Hit], floor: float | None) -> float | None:
    """The least relevance that reaches the prompt: the floor, or RELATIVE_CUT under the
    most relevant of `ranked`, whichever is higher; None when the floor is off."""
    if floor is None or floor <= -1.0:
        return None
    best = max((hit.relevance or 0.0 for hit in ranked), default=0.0)
    return max(floor, best - RELATIVE_CUT)


def blend(whole: float, best_clause: float | None) -> float:
    """A memory's similarity to a query: the whole query's cosine, averaged with the best
    of it and the query's clauses' cosines (None: the query is one clause)."""
    if best_clause is None:
        return whole
    return (1.0 - CLAUSE_WEIGHT) * whole + CLAUSE_WEIGHT * max(whole, best_clause)


def relevance(similarity: float, bm25: float = 0.0) -> float:
    """Cosine similarity plus the saturating lexical bonus (see the module docstring)."""
    bm25 = max(bm25, 0.0)
    return similarity + LEX_WEIGHT * bm25 / (bm25 + LEX_SCALE)


def score(similarity: float, memory: Memory, evidence: Evidence | None = None) -> float:
    """`evidence`: the decayed uses and wins; None counts the memory's totals."""
    effective = memory.net_votes - REJECT_WEIGHT * memory.rejects
    votes = VOTE_WEIGHT * math.tanh(effective / VOTE_SCALE)
    if evidence is None:
        uses, wins = float(memory.uses), float(memory.wins)
    else:
        uses, wins = evidence.uses, evidence.wins
    win_rate = (wins + 1) / (uses + 2)
    return similarity + votes + OUTCOME_WEIGHT * (win_rate - 0.5)


def evidence(memory: Memory) -> float:
    """How much the pool's history backs a memory, to settle a contradiction: runs that
    distilled or agreed with it (support), net votes, and wins over uses (an unused
    memory adds 0; each use adds up to +1 for a win, down to -1 for a loss). Ties go to
    the more recent memory (retrieve.py)."""
    win_rate = (memory.wins + 1) / (memory.uses + 2)
    return memory.support + memory.net_votes + 2 * memory.uses * (win_rate - 0.5)


def retrievable(memory: Memory) -> bool:
    return memory.net_votes > HIDE_AT


def rank(
    candidates: list[tuple[Memory, float]],
    k: int | None,
    bm25: dict[int, float] | None = None,
    evidence: dict[int, Evidence] | None = None,
) -> list[Hit]:
    """The best `k` (all when None) of (memory, cosine distance) pairs, hidden ones
    dropped; `bm25` holds lexical scores and `evidence` decayed evidence by memory id
    (a memory missing from `evidence` has none; None: totals, no decay)."""
    lexical = bm25 or {}
    none = Evidence(0.0, 0.0)
    hits = []
    for memory, distance in candidates:
        if not retrievable(memory):
            continue
        similarity = 1.0 - distance
        fused = relevance(similarity, lexical.get(memory.id or -1, 0.0))
        weighed = None if evidence is None else evidence.get(memory.id or -1, none)
        hits.append(Hit(memory, similarity, score(fused, memory, weighed), fused))
    hits.sort(key=lambda hit: hit.score, reverse=True)
    return hits if k is None else hits[:k]


def split_at_floor(ranked: list[Hit], k: int, floor: float | None) -> tuple[list[Hit], list[Hit]]:
    """(the first `k` ranked hits whose relevance reaches `floor` and is within
    RELATIVE_CUT of the best one's, the first `k` of the others). Both cuts judge
    relevance alone: votes reorder relevant memories but never lift an irrelevant one
    into the prompt. A floor of None or -1 or less turns both off."""
    least = relevance_cut(ranked, floor)
    if least is None:
        return ranked[:k], []
    above = [hit for hit in ranked if (hit.relevance or 0.0) >= least]
    below = [hit for hit in ranked if (hit.relevance or 0.0) < least]
    return above[:k], below[:k]
