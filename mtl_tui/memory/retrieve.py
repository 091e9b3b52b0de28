"""Before a run: find memories for the task and turn the accepted ones into prompt text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mtl_tui.errors import MtlError
from mtl_tui.memory.rank import RELATIVE_CUT, Hit, evidence, relevance_cut, split_at_floor
from mtl_tui.memory.screen import CANDIDATE_FLOOR, CANDIDATES, ScreenError, screen
from mtl_tui.memory.store import MemoryStore, View
from mtl_tui.memory.trust import pack_name, trusted
from mtl_tui.prompts import render
from mtl_tui.records import Memory
from mtl_tui.text import sentence

if TYPE_CHECKING:
    from mtl_tui.agent.model import Model


def task_query(task: str, languages: Sequence[str]) -> str:
    """The default query: the task text plus the repository's languages. (Bare names: a
    "Languages:" label drew memories that merely mention the word "language".)"""
    return f"{task.strip()} ({', '.join(languages)})" if languages else task.strip()


def plan_query(model: Model, task: str, repo: str, languages: Sequence[str]) -> tuple[str, float]:
    """The study's query: a short plan the model writes for the task. Returns (plan, cost)."""
    prompt = render("plan", task=task, repo=repo, languages=", ".join(languages) or "unknown")
    reply = model.query([{"role": "user", "content": prompt}])
    return reply.content.strip() or task, reply.cost


#: Given retrieval candidates, the positions of those that apply (screen.py).
Screener = Callable[[Sequence[Hit]], list[int]]


@dataclass
class LeftOut:
    """A relevant memory that does not reach the prompt, and why."""

    hit: Hit
    reason: str  # superseded | conflict | over budget | below floor | far below the best
    detail: str

    def to_dict(self) -> dict[str, object]:
        memory = self.hit.memory
        return {"id": memory.id, "title": memory.title, "reason": self.reason,
                "detail": self.detail}  # fmt: skip


@dataclass
class Retrieval:
    """What one retrieval found: `hits` (at most k, at or above the floor) are what the
    agent gets; `below` are the next best under the floor, shown only on request and
    never pre-accepted; `left_out`, memories that passed the floor but were superseded
    by a refinement or lost a conflict."""

    query: str
    hits: list[Hit] = field(default_factory=list)
    below: list[Hit] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)

    @property
    def order_rule(self) -> str:
        """How the hits are ordered, as every face says it."""
        return SCREENED_ORDER_RULE if self.screened else ORDER_RULE

    def left_out_all(self) -> list[LeftOut]:
        """Everything a run of this retrieval leaves out, below-floor candidates included."""
        return [*self.left_out, *(self._held_back(h) for h in self.below)]

    def _held_back(self, hit: Hit) -> LeftOut:
        """A held-back candidate: under the floor itself, or above it but more than
        RELATIVE_CUT under the best match; or one the model's screening turned down."""
        relevance = hit.relevance or 0.0
        if self.screened:
            return LeftOut(hit, SCREENED_OUT, f"relevance {relevance:.2f}; the model judged "
                           "it does not apply to this task")  # fmt: skip
        if self.floor is not None and relevance >= self.floor:
            return LeftOut(hit, HELD_BACK, f"relevance {relevance:.2f}, more than "
                           f"{RELATIVE_CUT:.2f} under the best")  # fmt: skip
        floor = f" < floor {self.floor:.2f}" if self.floor is not None else ""
        return LeftOut(hit, BELOW_FLOOR, f"relevance {relevance:.2f}{floor}")

    floor: float | None = None  # the configured floor (None: off)
    cut: float | None = None  # the least relevance that reached the prompt (rank.py)
    # screening (screen.py): what the faces say of it, None when it was not asked for;
    # `screened` is True when the model's picks decided the hits (`below`: the candidates
    # it turned down), False when it was asked for but the floor decided
    screen_note: str | None = None
    screened: bool = False


#: How every face orders retrieved memories (rank.py), said where they are listed.
ORDER_RULE = (
    "best first by score: relevance, nudged by votes and past outcomes "
    "(the floor cuts on relevance alone)"
)

#: What a retrieval that did not screen says when the config screens at the run's start
#: (the TUI's preview as the user types: one model call a task, not one a keystroke).
SCREEN_PREVIEW = "preview by relevance: at the start the model picks from the candidates"

#: The order of screened hits (screen.py), said in ORDER_RULE's place.
SCREENED_ORDER_RULE = "in the order the model ranked them: it picked them from the candidates"

BELOW_FLOOR = "below floor"
HELD_BACK = "far below the best"
SCREENED_OUT = "screened out"
#: Reasons for candidates that were never relevant enough (shown on request, not announced).
NOT_RELEVANT_ENOUGH = (BELOW_FLOOR, HELD_BACK, SCREENED_OUT)


def held_back_sections(
    left_out: Sequence[LeftOut], below: Sequence[Hit], cut: float | None, screened: bool = False
) -> list[tuple[str, list[tuple[Hit, str | None]]]]:
    """What a face lists after the hits on request, in groups under a heading that gives
    the real reason: memories left out although relevant enough (superseded, conflict,
    over budget), each with its reason and detail, then the candidates under the cut
    `cut`, or those the model's screening turned down (`screened`). ((heading, [(hit, why
    or None)]) per group, empty groups omitted.)"""
    sections: list[tuple[str, list[tuple[Hit, str | None]]]] = []
    if left_out:
        reasons = ", ".join(dict.fromkeys(item.reason for item in left_out))
        rows = [(item.hit, f"{item.reason}: {item.detail}") for item in left_out]
        sections.append((f"left out: {reasons}", rows))
    if below and screened:
        sections.append(("screened out: the model judged these do not apply",
                         [(hit, None) for hit in below]))  # fmt: skip
    elif below:
        at = f": relevance < {cut:.2f}" if cut is not None else ""
        sections.append((f"held back{at}", [(hit, None) for hit in below]))
    return sections


def retrieve(
    store: MemoryStore,
    query: str,
    k: int = 3,
    kind: str | None = "insight",
    floor: float | None = None,
    language: str | None = None,
    view: View | None = None,
    budget_chars: int = 0,
    screener: Screener | None = None,
) -> Retrieval:
    """The one retrieval every face uses (panel, `mtl run`, `mtl memory search`, MCP,
    ACP), so that all show exactly what the agent would get. Superseded memories are
    never retrieved; of two contradicting memories that both pass the floor, only the
    one with more evidence is, marked with the conflict. `view`: the repository asking
    (its scoped memories; no other repository's ever) and the evidence decay.

    `budget_chars`: the prompt's memory budget. A conflict winner that would not fit it
    (every hit accepted, as a run takes them) cannot reach the prompt, so it leaves no
    one out: it is left out "over budget" and the memories it beat compete as if it were
    not there.

    `screener` (screen.py): given the candidates (at or above CANDIDATE_FLOOR, at most
    CANDIDATES, best first), the positions of those that apply, best first. Its picks
    replace the floor and the relative cut; the candidates it turns down are `below`.
    When it fails (ScreenError), the floor decides and `screen_note` says so."""
    fetch = max(k, CANDIDATES) if screener is not None else k
    ranked = store.search_ranked(query, k=fetch, kind=kind, language=language, view=view)
    ranked, superseded = _drop_superseded(store, ranked, floor, view)  # + beyond top_k
    note: str | None = None
    screened = False
    turned_down: list[Hit] = []
    if screener is not None:
        candidates = [h for h in ranked if _candidate(h, floor)][:CANDIDATES]
        try:
            picks = screener(candidates) if candidates else []
        except ScreenError as exc:
            note = f"not screened ({exc}); the relevance floor decided"
        else:
            ranked = [candidates[i] for i in picks[:k]]
            superseded += [LeftOut(candidates[i], "beyond top_k", "the model picked it, after "
                                   f"the first {k}") for i in picks[k:]]  # fmt: skip
            screened = True
            turned_down = [h for i, h in enumerate(candidates) if i not in picks]
            floor = None  # the model's picks are the cut
            note = (f"the model picked {len(picks)} of {len(candidates)} candidates"
                    if candidates else f"nothing to screen: no memory reaches relevance "
                    f"{CANDIDATE_FLOOR:.2f}")  # fmt: skip
    benched: dict[int, LeftOut] = {}
    while True:
        pool = [h for h in ranked if h.memory.id not in benched]
        settled, lost = _settle_conflicts(store, pool, floor)
        hits, below = split_at_floor(settled, k, floor)
        if screened:
            below = turned_down
        unfit = [o for o in fit_budget(hits, budget_chars)[1] if o.hit.conflicts_with]
        if not unfit:
            break
        for item in unfit:  # each pass benches at least one winner: the loop ends
            assert item.hit.memory.id is not None
            beaten = ", ".join(f"#{i}" for i in item.hit.conflicts_with)
            item.detail += f"; {beaten}, which it contradicts, competed in its place"
            item.hit.conflicts_with = []  # it kept no one out
            benched[item.hit.memory.id] = item
    on = floor if floor is not None and floor > -1.0 else None  # -1: everything passes
    cut = relevance_cut(settled, on)
    return Retrieval(query, hits, below, [*superseded, *benched.values(), *lost], floor=on,
                     cut=cut, screen_note=note, screened=screened)  # fmt: skip


def _candidate(hit: Hit, floor: float | None) -> bool:
    """A candidate for screening: relevance CANDIDATE_FLOOR or more; a memory imported
    from a pack (untrusted, its text unreviewed and sent to the model) must also reach
    the floor, so that screening never admits one the floor would refuse."""
    relevance = hit.relevance or 0.0
    return relevance >= CANDIDATE_FLOOR and (hit.trusted or _passes(hit, floor))


def _passes(hit: Hit, floor: float | None) -> bool:
    return floor is None or (hit.relevance or 0.0) >= floor


def _drop_superseded(
    store: MemoryStore, ranked: list[Hit], floor: float | None, view: View | None
) -> tuple[list[Hit], list[LeftOut]]:
    """Leave out what a refinement the view can see supersedes (default: View(), as
    search_ranked sees)."""
    ids = [h.memory.id for h in ranked if h.memory.id is not None]
    by = store.superseded(ids, view or View())
    if not by:
        return ranked, []
    left = [
        LeftOut(h, "superseded", f"superseded by its refinement #{by[h.memory.id]}")
        for h in ranked
        if h.memory.id in by and _passes(h, floor)
    ]
    return [h for h in ranked if h.memory.id not in by], left


def _settle_conflicts(
    store: MemoryStore, ranked: list[Hit], floor: float | None
) -> tuple[list[Hit], list[LeftOut]]:
    """Of memories linked by a contradiction that all pass the floor, keep the best
    evidenced (ties: the newer), mark it, and leave out those it contradicts."""
    for hit in ranked:
        hit.conflicts_with = []  # settled afresh (retrieve settles again after benching)
    above = {h.memory.id: h for h in ranked if _passes(h, floor) and h.memory.id is not None}
    pairs = store.contradictions(list(above))
    if not pairs:
        return ranked, []
    rivals: dict[int, set[int]] = {}
    for a, b in pairs:
        rivals.setdefault(a, set()).add(b)
        rivals.setdefault(b, set()).add(a)
    contenders = sorted(
        (above[i] for i in rivals),
        key=lambda h: (evidence(h.memory), h.memory.created_at, h.memory.id or 0),
        reverse=True,
    )
    kept: list[int] = []
    left: list[LeftOut] = []
    for hit in contenders:
        mid = hit.memory.id
        assert mid is not None
        winner = next((i for i in kept if i in rivals[mid]), None)
        if winner is None:
            kept.append(mid)
            continue
        above[winner].conflicts_with.append(mid)
        left.append(LeftOut(hit, "conflict", f"contradicted by #{winner}, which has more evidence"))
    lost = {item.hit.memory.id for item in left}
    return [h for h in ranked if h.memory.id not in lost], left


def retrieve_for_task(
    store: MemoryStore,
    task: str,
    languages: Sequence[str] = (),
    k: int = 3,
    kind: str = "insight",
    floor: float | None = None,
    view: View | None = None,
    budget_chars: int = 0,
    screener: Screener | None = None,
) -> Retrieval:
    """What a run of `task` would retrieve (the task query, the pool's ranking, floor,
    memory budget and screening): for faces that are handed a task rather than a query,
    such as MCP."""
    query = task_query(task, languages)
    return retrieve(store, query, k, kind, floor=floor, view=view, budget_chars=budget_chars,
                    screener=screener)  # fmt: skip


def screener_for(
    model: Callable[[], Model],
    task: str,
    languages: Sequence[str],
    spent: Callable[[float], None] = lambda cost: None,
) -> Screener:
    """`model()`'s screening of `task`'s candidates, for retrieve(); `spent` is told what
    each screening cost. A model that cannot be had or fails raises ScreenError."""

    def pick(candidates: Sequence[Hit]) -> list[int]:
        texts = [item_text(hit.memory) for hit in candidates]
        try:
            result = screen(model(), task, languages, texts)
        except ScreenError:
            raise
        except MtlError as exc:
            raise ScreenError(f"the model failed: {exc}") from None
        spent(result.cost)
        return result.picked

    return pick


def label(index: int) -> str:
    return f"M{index + 1}"


def item_text(memory: Memory) -> str:
    f = memory.fields
    match memory.kind:
        case "insight":
            parts = [f["title"], f["description"], f["content"]]
            if f.get("applies_when"):
                parts.append(f"Applies when {f['applies_when']}")
            if f.get("not_when"):
                parts.append(f"Not when {f['not_when']}")
            return " ".join(sentence(part) for part in parts if part.strip())
        case "summary":
            return f"Task: {f['task_summary']} Experience: {f['experience_summary']}"
        case "workflow":
            steps = "; ".join(f["commands"])
            return f"Goal: {f['goal']} Key commands: {steps}"
        case _:
            steps = "; ".join(step["command"] for step in f["commands"][:15])
            return f"Task: {f['task']} Commands: {steps}"


def provenance(memory: Memory) -> str:
    parts = [", ".join(memory.languages) or "any language"]
    if not trusted(memory):
        # nothing the pack claimed (outcome, repository) is repeated as if it were known
        return f"IMPORTED advice from pack {pack_name(memory)}, not learned here; " + parts[0]
    if memory.repo:
        parts.append(f"repository {memory.repo}")
    if memory.outcome != "unknown":
        parts.append(f"from a {'successful' if memory.outcome == 'success' else 'failed'} run")
    return "; ".join(parts)


def item_line(index: int, memory: Memory) -> str:
    return f"[{label(index)}] {item_text(memory)} ({provenance(memory)})"


def fit_budget(hits: Sequence[Hit], budget_chars: int) -> tuple[list[Hit], list[LeftOut]]:
    """The accepted hits whose prompt lines fit `budget_chars` together (0: no budget),
    in rank order; an item that does not fit is left out, saying so, and smaller ones
    after it may still fit."""
    if budget_chars <= 0:
        return list(hits), []
    kept: list[Hit] = []
    left: list[LeftOut] = []
    used = 0
    for hit in hits:
        size = len(item_line(len(kept), hit.memory)) + 1
        if used + size <= budget_chars:
            kept.append(hit)
            used += size
        else:
            detail = (
                f"needs {size} characters, {budget_chars - used} of the "
                f"{budget_chars}-character memory budget left"
            )
            left.append(LeftOut(hit, "over budget", detail))
    return kept, left


def memory_section(hits: Sequence[Hit]) -> str:
    """The system prompt's memory block for the accepted hits, numbered [M1], [M2], ..."""
    if not hits:
        return ""
    items = "\n".join(item_line(i, hit.memory) for i, hit in enumerate(hits))
    return render("memory_section", items=items)
