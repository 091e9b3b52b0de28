"""After a run: judge it when nothing else decided, then distill memories from it."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from mtl_tui.agent.model import Model, ScriptedModel
from mtl_tui.prompts import render
from mtl_tui.records import Memory, validate_fields
from mtl_tui.scrub import scrub

MAX_INSIGHTS = 2
_OUTPUT_CUT = 1_500
_TRANSCRIPT_BUDGET = 24_000


@dataclass
class RunRecord:
    """What learning needs from one run, whatever recorded it."""

    task: str
    steps: list[tuple[str, str]]  # (the agent's reply, the observation)
    status: str = "completed"
    outcome: str = "unknown"
    diff_stat: str = ""
    changed_files: list[str] = field(default_factory=list)
    model: str | None = None
    repo: str | None = None
    languages: list[str] = field(default_factory=list)
    run_id: str | None = None
    repo_key: str | None = None  # repo/identity.py; scoped memories belong to it
    project_only: bool = False  # `mtl.memory project`: everything learned stays scoped


@dataclass
class Distilled:
    memories: list[Memory]
    warnings: list[str]
    cost: float = 0.0
    unusable: bool = False  # a reply was not (wholly) the JSON asked for: worth a retry


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[… {len(text) - limit} characters cut …]\n{text[-half:]}"


def transcript(record: RunRecord, budget: int = _TRANSCRIPT_BUDGET) -> str:
    """The run as text for a model, long outputs and long runs cut in the middle."""
    parts = [
        f"### Step {i}\n{reply.strip()}\n--- result ---\n{_cut(observation.strip(), _OUTPUT_CUT)}"
        for i, (reply, observation) in enumerate(record.steps, 1)
    ]
    text = "\n\n".join(parts)
    return _cut(text, budget)


def _run_text(record: RunRecord) -> str:
    return (
        f"Task:\n{_cut(record.task, 4_000)}\n\nLanguages: {', '.join(record.languages) or '?'}\n"
        f"Run status: {record.status}\nFiles changed:\n{record.diff_stat or '(none)'}\n\n"
        f"Transcript:\n{transcript(record)}"
    )


def judge(model: Model, record: RunRecord) -> tuple[str, float]:
    """An LLM judge, strict: PASS means success; FAIL or anything unparseable, failure."""
    prompt = render(
        "judge",
        task=_cut(record.task, 4_000),
        transcript=transcript(record),
        status=record.status,
        diff_stat=record.diff_stat or "(none)",
    )
    reply = model.query([{"role": "user", "content": prompt}])
    first = next((line.strip() for line in reply.content.splitlines() if line.strip()), "")
    line = re.sub(r"[*_`#]", "", first).strip().upper()
    verdict = re.sub(r"^(FINAL\s+)?VERDICT\s*[:=-]?\s*", "", line).rstrip(".!")  # VERDICT: PASS
    return ("success" if verdict == "PASS" else "failure"), reply.cost


def parse_json_object(text: str, key: str | None = None) -> dict[str, Any] | None:
    """The first JSON object in a reply (the first one holding `key`, when given): fenced
    or bare, with chatter around it, even chatter with braces of its own."""
    candidates = [*re.findall(r"```(?:json)?\s*\n(.*?)```", text, re.S), text]
    for candidate in candidates:
        start = candidate.find("{")
        while start != -1:
            try:
                value, _ = json.JSONDecoder().raw_decode(candidate[start:])
            except json.JSONDecodeError:
                start = candidate.find("{", start + 1)
                continue
            if isinstance(value, dict) and (key is None or key in value):
                return value
            start = candidate.find("{", start + 1)
    return None


_LIST_KEYS = {"insight": "insights", "summary": "summaries", "workflow": "workflows"}
_FIELDS = {
    "insight": ("title", "description", "content", "applies_when", "not_when"),
    "summary": ("task_summary", "experience_summary"),
    "workflow": ("goal", "commands"),
}


def _names_in(changed_files: Sequence[str]) -> set[str]:
    names: set[str] = set()
    for path in changed_files:
        pure = PurePosixPath(path)
        names.add(path)
        if pure.suffix or len(pure.stem) > 3:  # "src" or "a" alone is not telling
            names.add(pure.name)
    return names


def names_a_changed_file(memory: Memory, changed_files: Sequence[str]) -> str | None:
    text = json.dumps(memory.fields, ensure_ascii=False)
    for name in sorted(_names_in(changed_files), key=len, reverse=True):
        if re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", text):
            return name
    return None


def _trajectory_memory(record: RunRecord) -> Memory:
    commands = [
        {"command": _cut(reply, 2_000), "output": _cut(obs, 500)} for reply, obs in record.steps
    ][:100]
    return Memory(kind="trajectory", fields={"task": _cut(record.task, 4_000),
                                              "commands": commands})  # fmt: skip


def distill(model: Model, record: RunRecord, kinds: Sequence[str] = ("insight",)) -> Distilled:
    """One model call per kind (none for trajectories). Unusable output stores nothing
    and says why; insights that name a file the run changed are dropped."""
    memories: list[Memory] = []
    warnings: list[str] = []
    cost = 0.0
    unusable = False
    success = record.outcome == "success"
    for kind in kinds:
        if kind == "trajectory":
            found = [_trajectory_memory(record)]
        else:
            if kind == "insight":
                name = f"distill_insight_{'success' if success else 'failure'}"
            else:
                name = f"distill_{kind}"
            prompt = render(
                name,
                run=_run_text(record),
                limit=MAX_INSIGHTS,
                verdict="succeeded" if success else "failed",
            )
            reply = model.query([{"role": "user", "content": prompt}])
            cost += reply.cost
            found, problem = _parse(kind, reply.content)
            if problem:
                unusable = True
                warnings.append(unusable_reply(model, kind, problem, kept=len(found)))
        if kind == "insight" and len(found) > MAX_INSIGHTS:
            found = found[:MAX_INSIGHTS]
        for memory in found:
            if problem := finish(memory, record, model.name):
                warnings.append(problem)
                continue
            memories.append(memory)
    return Distilled(memories, warnings, cost, unusable)


def finish(memory: Memory, record: RunRecord, made_by: str) -> str | None:
    """Give a distilled memory its provenance and scrub it; returns why it must be
    dropped (an insight naming a file the run changed), or None."""
    _provenance(memory, record, made_by)
    memory.fields = {k: scrub(v) if isinstance(v, str) else v for k, v in memory.fields.items()}
    if memory.kind == "insight" and (hit := names_a_changed_file(memory, record.changed_files)):
        return f"dropped insight “{memory.title}”: it names {hit}, a file of this run"
    return None


def unusable_reply(model: Model, kind: str, problem: str, kept: int = 0) -> str:
    """One line for a distillation reply that could not be (wholly) used. A scripted model
    surprises here: its replies after the task go to the judge and to this step."""
    what = f"kept {kept}, skipped the rest" if kept else "nothing learned from it"
    reply = "the model's reply"
    if isinstance(model, ScriptedModel):
        reply = f"scripted reply {len(model.calls)} of {len(model.replies)} went to learning and"
    return f"learning: {reply} is not {kind} JSON ({problem}); {what}"


def _provenance(memory: Memory, record: RunRecord, made_by: str) -> None:
    """Where a memory came from; `made_by` is the model that distilled it (for runs of
    mtl's own, the model that ran them)."""
    memory.languages = list(record.languages)
    memory.repo = record.repo
    memory.repo_key = record.repo_key
    if record.project_only:
        memory.scope = "project"
    if memory.scope == "project" and not record.repo_key:
        memory.scope = "global"  # no repository to scope it to
    memory.model = made_by
    memory.outcome = record.outcome if record.outcome in ("success", "failure") else "unknown"
    memory.origin = "run"


def _scope_of(item: dict[str, Any]) -> str:
    """The scope the model proposes: "project" for a lesson that only makes sense in this
    repository; anything else, or nothing, is global (the default for abstract lessons)."""
    value = item.get("scope")
    return "project" if isinstance(value, str) and value.strip().lower() == "project" else "global"


def _parse(kind: str, reply: str) -> tuple[list[Memory], str | None]:
    data = parse_json_object(reply, _LIST_KEYS[kind]) or parse_json_object(reply)
    if data is None:
        return [], "no JSON object in the reply"
    items = data.get(_LIST_KEYS[kind])
    if not isinstance(items, list):
        return [], f"no '{_LIST_KEYS[kind]}' list in the reply"
    memories: list[Memory] = []
    problems: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            problems.append("an item is not an object")
            continue
        fields = {key: item.get(key) for key in _FIELDS[kind]}
        try:
            fields = validate_fields(kind, fields)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        tags = item.get("tags") if isinstance(item.get("tags"), list) else []
        memory = Memory(kind=kind, fields=fields, tags=[str(t) for t in tags][:5])
        memory.scope = _scope_of(item)
        memories.append(memory)
    return memories, "; ".join(problems) or None
