"""The operations a distillation answers with when its lessons land near stored ones
(after ExpeL's insight maintenance: add, agree, edit), and their parser.

A reply is one JSON object: {"operations": [{"op": ..., "target": "N2", "lesson": ...}]}.
`target` is the label of a stored neighbour shown to the model (N1, N2, ...); `lesson` is
the label of a candidate (C1, C2, ...) or a whole lesson object with the insight fields.
Whatever cannot be used is refused with its reason and changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mtl_tui.memory.distill import parse_json_object
from mtl_tui.records import Memory, validate_fields

OPS = ("add", "agree", "refine", "contradict")
_NEEDS_TARGET = {"agree", "refine", "contradict"}
_NEEDS_LESSON = {"add", "refine", "contradict"}
_FIELDS = ("title", "description", "content", "applies_when", "not_when")


@dataclass
class Operation:
    op: str  # add | agree | refine | contradict
    target: str | None = None  # a neighbour's label
    lesson: Memory | None = None  # what to store (a candidate, or the model's wording)
    source: str | None = None  # the candidate's label when `lesson` is one, else None


@dataclass
class Refusal:
    op: str | None
    reason: str
    lesson: str | None = None  # the candidate label the refused operation named, if any

    def to_dict(self) -> dict[str, object]:
        return {"op": self.op, "reason": self.reason}


def candidate_label(index: int) -> str:
    return f"C{index + 1}"


def neighbour_label(index: int) -> str:
    return f"N{index + 1}"


def parse_operations(
    reply: str, candidates: Sequence[Memory], neighbours: Sequence[str]
) -> tuple[list[Operation], list[Refusal]]:
    """The usable operations of `reply` and a refusal for each unusable one. `candidates`
    are the lessons labelled C1, C2, ...; `neighbours`, the labels shown (N1, ...)."""
    data = parse_json_object(reply, "operations") or parse_json_object(reply)
    if data is None:
        return [], [Refusal(None, "no JSON object in the reply")]
    items = data.get("operations")
    if not isinstance(items, list):
        return [], [Refusal(None, "no 'operations' list in the reply")]
    by_label = {candidate_label(i): c for i, c in enumerate(candidates)}
    shown = ", ".join(neighbours) or "none"
    operations: list[Operation] = []
    refused: list[Refusal] = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            refused.append(Refusal(None, f"operation {number} is not an object"))
            continue
        op = str(item.get("op", "")).strip().lower()
        if op not in OPS:
            refused.append(Refusal(op or None, f"unknown operation '{item.get('op')}' "
                                   f"(expected {', '.join(OPS)})"))  # fmt: skip
            continue
        named = _named_candidate(item.get("lesson"), by_label)
        target = item.get("target")
        target = str(target).strip().upper() if target is not None else None
        if op in _NEEDS_TARGET and target is None:
            refused.append(Refusal(op, f"no 'target' field (the label of a neighbour shown: "
                                   f"{shown})", named))  # fmt: skip
            continue
        if op in _NEEDS_TARGET and target not in neighbours:
            refused.append(Refusal(op, f"target '{item.get('target')}' is not among the "
                                   f"neighbours shown ({shown})", named))  # fmt: skip
            continue
        lesson, source, problem = _lesson(item.get("lesson"), by_label)
        if op in _NEEDS_LESSON and lesson is None:
            refused.append(Refusal(op, problem or "no lesson given"))
            continue
        operation = Operation(op, target if op != "add" else None, lesson, source)
        if any(_same(operation, earlier) for earlier in operations):
            refused.append(Refusal(op, f"operation {number} repeats an earlier one"))
            continue
        operations.append(operation)
    return operations, refused


def _named_candidate(value: object, candidates: dict[str, Memory]) -> str | None:
    label = value.strip().upper() if isinstance(value, str) else None
    return label if label in candidates else None


def _same(a: Operation, b: Operation) -> bool:
    if (a.op, a.target) != (b.op, b.target):
        return False
    if a.op == "agree":  # one run agrees with a memory once, whichever lesson it names
        return True
    return a.source is not None and a.source == b.source


def _lesson(
    value: object, candidates: dict[str, Memory]
) -> tuple[Memory | None, str | None, str | None]:
    """(the lesson, its candidate label or None, why there is none)."""
    if value is None:
        return None, None, None
    if isinstance(value, str):
        label = value.strip().upper()
        if label in candidates:
            return candidates[label], label, None
        known = ", ".join(candidates) or "none"
        return None, None, f"lesson '{value}' is not a candidate ({known})"
    if not isinstance(value, dict):
        return None, None, "lesson is neither a candidate label nor a lesson object"
    try:
        fields = validate_fields("insight", {key: value.get(key) for key in _FIELDS})
    except ValueError as exc:
        return None, None, str(exc)
    tags = value.get("tags") if isinstance(value.get("tags"), list) else []
    return Memory(kind="insight", fields=fields, tags=[str(t) for t in tags][:5]), None, None
