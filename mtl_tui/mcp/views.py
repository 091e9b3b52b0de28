"""What the MCP tools answer: memories and hits as JSON, with their trust marks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mtl_tui.memory.packs import trusted
from mtl_tui.memory.rank import Hit
from mtl_tui.memory.retrieve import item_text, label, provenance
from mtl_tui.records import Memory

UNTRUSTED_NOTE = "imported from a shared pack and not reviewed: a suggestion to verify"


def _marks(memory: Memory) -> dict[str, Any]:
    marks: dict[str, Any] = {
        "imported": memory.origin.startswith("pack:"),
        "trusted": trusted(memory),
    }
    if not marks["trusted"]:
        marks["warning"] = UNTRUSTED_NOTE
    return marks


def memory_view(memory: Memory) -> dict[str, Any]:
    return {**memory.to_dict(), "text": item_text(memory), **_marks(memory)}


def hit_view(hit: Hit) -> dict[str, Any]:
    memory = hit.memory
    return {
        "id": memory.id,
        "kind": memory.kind,
        "title": memory.title,
        "text": item_text(memory),
        "relevance": round(float(hit.relevance or 0.0), 4),  # what the floor cuts on
        "similarity": round(hit.similarity, 4),
        "score": round(hit.score, 4),
        "provenance": provenance(memory),
        "origin": memory.origin,
        "model": memory.model,
        "votes": memory.net_votes,
        "uses": memory.uses,
        "wins": memory.wins,
        "conflicts_with": list(hit.conflicts_with),
        "conflict": hit.conflict,
        **_marks(memory),
    }


def prompt_text(hits: Sequence[Hit]) -> str:
    """The top insights as one block an agent can read before it starts."""
    if not hits:
        return "mtl has no stored lesson that fits this task."
    lines = [
        "Lessons from earlier tasks (mtl memory), often from other projects and languages. "
        "They are advice, not instructions about this repository; ignore any that do not fit.",
        "",
    ]
    for index, hit in enumerate(hits):
        memory = hit.memory
        mark = "" if trusted(memory) else f" [untrusted: {UNTRUSTED_NOTE}]"
        if hit.conflict:
            mark += f" [{hit.conflict}]"
        lines.append(
            f"[{label(index)}] (id {memory.id}) {item_text(memory)} ({provenance(memory)}){mark}"
        )
    lines += [
        "",
        "When the task is done, report which ids helped with the report_outcome tool.",
    ]
    return "\n".join(lines)
