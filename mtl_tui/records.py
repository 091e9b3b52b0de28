"""The four memory kinds of the study, as validated data.

Each memory has two embedded texts. The *retrieval* text is the fullest useful text
(the study embedded only the title; on tests/data/retrieval that found the wanted
insight first for far fewer tasks, see tests/bench_retrieval.py). The *dedup* text is
the short one the near-duplicate rule (store.DEDUP_THRESHOLD) was tuned on.

| kind       | fields                                   | retrieval text         | dedup text   |
|------------|------------------------------------------|------------------------|--------------|
| trajectory | task, commands (+ outputs)               | task                   | task         |
| workflow   | goal, commands                           | goal + commands        | goal         |
| summary    | task_summary, experience_summary         | both summaries         | task_summary |
| insight    | title, description, content, optional    | title + description +  | title        |
|            | applies_when and not_when                | content + applies_when |              |

`not_when` is deliberately not embedded: naming the situations a lesson does not fit
would pull it towards exactly those tasks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from mtl_tui.scrub import scrub

Kind = Literal["insight", "summary", "workflow", "trajectory"]
Scope = Literal["global", "project"]
SCOPES: tuple[str, ...] = get_args(Scope)
Outcome = Literal["success", "failure", "unknown"]
KINDS: tuple[str, ...] = get_args(Kind)
OUTCOMES: tuple[str, ...] = get_args(Outcome)

DEDUP_FIELD = {
    "insight": "title",
    "summary": "task_summary",
    "workflow": "goal",
    "trajectory": "task",
}
# The name of how retrieval texts are built, recorded with the pool's vectors and in
# packs; a pool or pack with another scheme is re-embedded. "title-v0" was the first
# release: every kind embedded its DEDUP_FIELD only.
EMBEDDING_SCHEME = "lesson-v1"
OLD_EMBEDDING_SCHEME = "title-v0"


def retrieval_text(kind: str, fields: dict[str, Any]) -> str:
    """The text embedded for retrieval (see the table above)."""
    match kind:
        case "insight":
            parts = [fields["title"], fields["description"], fields["content"]]
            if fields.get("applies_when"):
                parts.append(f"Applies when {fields['applies_when']}")
            # A sentence said twice would weigh twice (and repeats skew MiniLM).
            said = list(dict.fromkeys(" ".join(p.split()).rstrip(".") for p in parts))
            return said[0] if len(said) == 1 else " ".join(f"{part}." for part in said)
        case "summary":
            return f"{fields['task_summary']} {fields['experience_summary']}"
        case "workflow":
            return f"{fields['goal']} {'; '.join(fields['commands'])}"
        case _:
            return str(fields["task"])


def validate_fields(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The kind's fields, checked and normalised; raises ValueError naming the field."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind '{kind}' (expected one of: {', '.join(KINDS)})")
    # pydantic only where memories are written: a search or a listing never imports it.
    from mtl_tui.record_fields import validate

    return validate(kind, fields)


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _norm_list(values: Any) -> list[str]:
    """Stripped, lower-cased, deduplicated; scrubbed first, while case-sensitive secret
    formats can still be recognised."""
    seen: dict[str, None] = {}
    for value in values or []:
        text = scrub(str(value)).strip().lower()
        if text:
            seen.setdefault(text, None)
    return list(seen)


@dataclass
class Memory:
    kind: str
    fields: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    repo: str | None = None
    model: str | None = None
    outcome: str = "unknown"
    origin: str = "manual"
    id: int | None = None
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    up: int = 0
    down: int = 0
    uses: int = 0
    wins: int = 0
    support: int = 1
    rejects: int = 0
    # "global": any repository; "project": only the repository `repo_key` identifies
    # (repo/identity.py; `repo` is its name for people)
    scope: str = "global"
    repo_key: str | None = None
    # evidence over time: last shown for a run, accepted into one, accepted into a success
    last_retrieved_at: str | None = None
    last_accepted_at: str | None = None
    last_helpful_at: str | None = None

    def __post_init__(self) -> None:
        self.tags = _norm_list(self.tags)
        self.languages = _norm_list(self.languages)
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome '{self.outcome}' (expected {', '.join(OUTCOMES)})")
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope '{self.scope}' (expected global or project)")

    @property
    def embedded_text(self) -> str:
        """What retrieval matches the query against."""
        return retrieval_text(self.kind, self.fields)

    @property
    def dedup_text(self) -> str:
        """What the near-duplicate rule compares."""
        return str(self.fields[DEDUP_FIELD[self.kind]])

    @property
    def title(self) -> str:
        """One line to show in lists."""
        return " ".join(self.dedup_text.split())

    @property
    def net_votes(self) -> int:
        return self.up - self.down

    @property
    def content_hash(self) -> str:
        """Identity of the content: same kind and fields, same hash."""
        blob = json.dumps([self.kind, self.fields], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "fields": self.fields,
            "tags": self.tags,
            "languages": self.languages,
            "repo": self.repo,
            "model": self.model,
            "outcome": self.outcome,
            "origin": self.origin,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "votes": {"up": self.up, "down": self.down, "net": self.net_votes},
            "uses": self.uses,
            "wins": self.wins,
            "support": self.support,
            "rejects": self.rejects,
            "scope": self.scope,
            "repo_key": self.repo_key,
            "last_retrieved_at": self.last_retrieved_at,
            "last_accepted_at": self.last_accepted_at,
            "last_helpful_at": self.last_helpful_at,
        }
