"""Distillation that edits the pool: the model sees the stored neighbours of each new
lesson and answers with operations (operations.py), applied here through the store's
one write path (scrubbing, dedup) and recorded with the run in memory_links."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mtl_tui.agent.model import Model, ModelError
from mtl_tui.errors import MtlError
from mtl_tui.memory import links
from mtl_tui.memory.distill import RunRecord, finish, parse_json_object
from mtl_tui.memory.operations import (
    Operation,
    Refusal,
    candidate_label,
    neighbour_label,
    parse_operations,
)
from mtl_tui.memory.rank import Hit
from mtl_tui.memory.store import AddResult, MemoryStore, View
from mtl_tui.memory.trust import trusted
from mtl_tui.prompts import render
from mtl_tui.records import Memory
from mtl_tui.text import plural

# A stored insight is shown to the model as a neighbour of a new lesson when their whole
# lessons or their titles have a cosine similarity of at least this (all-MiniLM-L6-v2).
# Related lessons score 0.55-0.9 on one or the other ("Run the narrowest failing test
# before and after a fix" / "Reproduce a failing test before changing any code" 0.67 on
# the lessons; "Pin dependency versions when a build breaks after an upgrade" / "Upgrade
# the rest of the dependencies instead of pinning when a build breaks" 0.79 on the titles,
# under 0.5 on the lessons, whose advice differs), unrelated ones 0.0-0.35. With no
# neighbour no model call is made: the lesson is simply added.
NEIGHBOUR_SIMILARITY = 0.5
NEIGHBOURS_EACH = 3
MAX_NEIGHBOURS = 6


@dataclass
class Applied:
    op: str
    id: int  # the memory stored, or agreed with
    title: str
    target: int | None = None
    how: str = "stored"  # stored | merged | same | agreed | refined | contradicts
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)

    def describe(self) -> str:
        if self.op == "add":  # as every add is reported
            verb = {"merged": "merged into", "stored": "stored as"}.get(self.how, "same as")
            said = "learned" if self.how == "stored" else "known already"
            return f"{said}: “{self.title}” ({verb} #{self.id})"
        text = {
            "agree": f"agreed with #{self.id} “{self.title}” (support +1)",
            "refine": f"refined #{self.target} into #{self.id} “{self.title}”",
            "contradict": f"#{self.id} “{self.title}” contradicts #{self.target}",
        }[self.op]
        return f"pool edit: {text}" + (f"; {self.note}" if self.note else "")


@dataclass
class EditReport:
    applied: list[Applied] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    cost: float = 0.0

    @property
    def ids(self) -> list[int]:
        return list(dict.fromkeys(a.id for a in self.applied))

    def to_dict(self) -> dict[str, object]:
        return {
            "applied": [a.to_dict() for a in self.applied],
            "refused": [r.to_dict() for r in self.refused],
        }


def _lesson_json(memory: Memory) -> str:
    return json.dumps(memory.fields, ensure_ascii=False)


def find_neighbours(
    store: MemoryStore, candidates: Sequence[Memory], record: RunRecord
) -> list[Hit]:
    """The stored insights near any candidate, nearest first, at most MAX_NEIGHBOURS,
    among those the run's repository may see (memory/scope.py repo_view): another
    repository's project memories never reach this distillation prompt."""
    view = View(record.repo_key, project_only=record.project_only)
    found = store.neighbours(candidates, NEIGHBOURS_EACH, NEIGHBOUR_SIMILARITY, view)
    unique: dict[int, Hit] = {}
    for hit in sorted((h for near in found for h in near), key=lambda h: -h.similarity):
        if hit.memory.id is not None:
            unique.setdefault(hit.memory.id, hit)
    return list(unique.values())[:MAX_NEIGHBOURS]


@dataclass
class EditPlan:
    """What the model chose, before anything is written: operations with their targets'
    ids, and what was refused already."""

    operations: list[tuple[Operation, int | None]] = field(default_factory=list)
    report: EditReport = field(default_factory=EditReport)
    unusable: bool = False  # no reply, or no operations list in it: worth a retry


def _standing(memory: Memory) -> str:
    """What the model should weigh before overriding a stored lesson."""
    parts = [f"support {memory.support}", f"votes {memory.up - memory.down:+d}"]
    if memory.uses:
        parts.append(f"helped {memory.wins} of {plural(memory.uses, 'run')}")
    parts.append("imported from a pack" if not trusted(memory) else "learned here")
    if memory.scope == "project":
        parts.append("scoped to its repository")
    return "; ".join(parts)


def plan_edits(
    model: Model, store: MemoryStore, candidates: Sequence[Memory], record: RunRecord
) -> EditPlan:
    """The operations for the distilled insights `candidates` (scrubbed, with provenance):
    with no stored neighbour they are added; otherwise the model chooses. Writes nothing."""
    plan = EditPlan()
    if not candidates:
        return plan
    neighbours = find_neighbours(store, candidates, record)
    if not neighbours:
        plan.operations = [(Operation("add", None, c, candidate_label(i)), None)
                           for i, c in enumerate(candidates)]  # fmt: skip
        return plan
    labels = [neighbour_label(i) for i in range(len(neighbours))]
    shown = zip(labels, neighbours, strict=True)
    prompt = render(
        "distill_edit",
        verdict="succeeded" if record.outcome == "success" else "failed",
        candidates="\n".join(
            f"{candidate_label(i)}: {_lesson_json(c)}" for i, c in enumerate(candidates)
        ),
        neighbours="\n".join(
            f"{label}: {_lesson_json(hit.memory)} ({_standing(hit.memory)})" for label, hit in shown
        ),
    )
    try:
        reply = model.query([{"role": "user", "content": prompt}])
    except ModelError as exc:
        plan.report.refused.append(Refusal(None, f"the model gave no operations: {exc}"))
        plan.report.refused += _unused(candidates, set())
        plan.unusable = True
        return plan
    plan.report.cost += reply.cost
    operations, refused = parse_operations(reply.content, candidates, labels)
    data = parse_json_object(reply.content, "operations")
    plan.unusable = data is None or not isinstance(data.get("operations"), list)
    plan.report.refused += refused
    targets = {label: hit.memory.id for label, hit in zip(labels, neighbours, strict=True)}
    blocked = {r.lesson for r in refused if r.lesson}  # a refused operation named them
    ready: list[tuple[Operation, int | None]] = []
    for operation in operations:
        target = targets[operation.target] if operation.target else None
        try:
            _prepare(store, operation, target, record, model.name, candidates[0].origin)
        except MtlError as exc:
            plan.report.refused.append(Refusal(operation.op, str(exc), operation.source))
            if operation.source:
                blocked.add(operation.source)
            continue
        ready.append((operation, target))
    used: set[str] = set()
    for operation, target in ready:
        if operation.source in blocked:  # said once per lesson, by _unused
            continue
        if operation.source:
            used.add(operation.source)
        plan.operations.append((operation, target))
    plan.report.refused += _unused(candidates, used, frozenset(blocked))
    return plan


def _unused(
    candidates: Sequence[Memory], used: set[str], blocked: frozenset[str] = frozenset()
) -> list[Refusal]:
    """A line for each candidate that will not be stored, and why."""
    found = []
    for i, c in enumerate(candidates):
        label = candidate_label(i)
        if label in blocked:
            found.append(Refusal(None, f"{label} “{c.title}”: an operation on it was refused, "
                                 "so none is applied: not stored", label))  # fmt: skip
        elif label not in used:
            found.append(Refusal(None, f"{label} “{c.title}” was given no operation: not stored",
                                 label))  # fmt: skip
    return found


def _prepare(
    store: MemoryStore,
    operation: Operation,
    target: int | None,
    record: RunRecord,
    made_by: str,
    origin: str,
) -> None:
    """Check an operation before the write: the model's own wording gets provenance and
    the changed-file rule; a contradiction must not be a near-duplicate of its target."""
    lesson = operation.lesson
    if lesson is not None and operation.source is None:  # the model's own wording
        if problem := finish(lesson, record, made_by):
            raise MtlError(problem)
        lesson.origin = origin  # as its candidates (a run, or `mtl learn` from a history)
    if target is None:
        return
    old = store.get(target)
    if operation.op == "refine":
        assert lesson is not None
        if not trusted(old):
            lesson.origin = old.origin  # imported advice stays so
        if old.scope == "project":  # a rewording never carries one repository's lesson out
            lesson.scope, lesson.repo_key = old.scope, old.repo_key
        if old.fields.get("not_when") and not lesson.fields.get("not_when"):
            lesson.fields["not_when"] = old.fields["not_when"]  # a guardrail is not dropped
    if operation.op == "contradict":
        assert lesson is not None
        [twin] = store.add_many([copy.deepcopy(lesson)], dry_run=True)
        if twin.id == target:
            raise MtlError(
                f"contradiction of #{target} refused: the lesson is a near-duplicate of it; "
                "nothing stored"
            )


def apply_learning(
    store: MemoryStore,
    plain: Sequence[Memory],
    merge: Sequence[bool],
    plan: EditPlan,
    run: str | None,
    learned_from: str | None = None,
) -> tuple[list[AddResult], EditReport]:
    """Store `plain` memories (each merged into a near-duplicate when `merge` says so) and
    apply the planned operations, all in one transaction with the mark that session
    `learned_from` was learned from: a run is learned whole or not at all."""
    report = plan.report
    lessons = [(op, target) for op, target in plan.operations if op.op != "agree"]
    agreements = [(op, target) for op, target in plan.operations if op.op == "agree"]
    applied: list[Applied] = []

    def link(conn: Any, results: list[AddResult]) -> None:
        for (operation, target), result in zip(lessons, results[len(plain) :], strict=True):
            assert operation.lesson is not None
            title = operation.lesson.title
            if operation.op == "add":
                how = "merged" if result.merged else "stored" if result.created else "same"
                links.link(conn, result.id, None, "adds", run)
                applied.append(Applied("add", result.id, title, None, how))
            elif result.id == target and operation.op == "contradict":
                why = f"the contradiction merged into #{target} by dedup: not linked"
                report.refused.append(Refusal("contradict", why))
            elif result.id == target:  # a refinement folded into its target: agreement
                links.record(conn, None, target, "agrees", run)
                note = "the refinement is a near-duplicate of it: counted as agreement"
                applied.append(Applied("agree", target, title, target, "agreed", note))
            elif operation.op == "refine":
                links.link(conn, result.id, target, "refines", run)
                applied.append(Applied("refine", result.id, title, target, "refined"))
            else:
                links.link(conn, result.id, target, "contradicts", run)
                applied.append(Applied("contradict", result.id, title, target, "contradicts"))
        for _, target in agreements:
            assert target is not None
            links.agree(conn, target, run)
            title = conn.execute("SELECT fields FROM memories WHERE id = ?", (target,)).fetchone()
            applied.append(Applied("agree", target, json.loads(title[0])["title"], target,
                                   "agreed"))  # fmt: skip

    memories = [*plain, *(op.lesson for op, _ in lessons if op.lesson is not None)]
    if not memories and not agreements:
        if learned_from is not None:
            store.mark_learned(learned_from, [])
        return [], report
    results = store.add_many(
        memories,
        dedup=[*merge, *([True] * len(lessons))],
        learned_from=learned_from,
        after=link,
    )
    report.applied = applied
    return results[: len(plain)], report
