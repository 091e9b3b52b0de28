"""Before a run: find memories for the task and turn the accepted ones into prompt text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mtl_tui.memory.rank import Hit
from mtl_tui.memory.store import MemoryStore
from mtl_tui.memory.trust import pack_name, trusted
from mtl_tui.prompts import render
from mtl_tui.records import Memory

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


@dataclass
class Retrieval:
    """What one retrieval found: `hits` (at most k, at or above the floor) are what the
    agent gets; `below` are the next best under the floor, shown only on request and
    never pre-accepted."""

    query: str
    hits: list[Hit] = field(default_factory=list)
    below: list[Hit] = field(default_factory=list)


def retrieve(
    store: MemoryStore,
    query: str,
    k: int = 3,
    kind: str | None = "insight",
    floor: float | None = None,
    language: str | None = None,
) -> Retrieval:
    """The one retrieval every face uses (panel, `mtl run`, `mtl memory search`, later
    protocol faces), so that all show exactly what the agent would get."""
    hits, below = store.search_split(query, k=k, kind=kind, language=language, floor=floor)
    return Retrieval(query, hits, below)


def retrieve_for_task(
    store: MemoryStore,
    task: str,
    languages: Sequence[str] = (),
    k: int = 3,
    kind: str = "insight",
    floor: float | None = None,
) -> Retrieval:
    """What a run of `task` would retrieve (the task query, the pool's ranking and floor):
    for faces that are handed a task rather than a query, such as the MCP server."""
    return retrieve(store, task_query(task, languages), k, kind, floor=floor)


def label(index: int) -> str:
    return f"M{index + 1}"


def item_text(memory: Memory) -> str:
    f = memory.fields
    match memory.kind:
        case "insight":
            text = f"{f['title'].rstrip('.')}. {f['description']} {f['content']}"
            if f.get("applies_when"):
                text += f" Applies when {f['applies_when']}"
            if f.get("not_when"):
                text += f" Not when {f['not_when']}"
            return text
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


def memory_section(hits: Sequence[Hit]) -> str:
    """The system prompt's memory block for the accepted hits, numbered [M1], [M2], ..."""
    if not hits:
        return ""
    items = "\n".join(
        f"[{label(i)}] {item_text(hit.memory)} ({provenance(hit.memory)})"
        for i, hit in enumerate(hits)
    )
    return render("memory_section", items=items)
