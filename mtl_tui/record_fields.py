"""The fields of each memory kind as pydantic models, imported only when memories are
written (records.validate_fields): commands that only read the pool do not load pydantic."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _Fields(BaseModel):
    # Schemas are built on first validation, not when this module is imported.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class InsightFields(_Fields):
    title: _Short
    description: Annotated[_Text, StringConstraints(max_length=500)]
    content: Annotated[_Text, StringConstraints(max_length=2000)]
    applies_when: Annotated[_Text, StringConstraints(max_length=500)] | None = None
    not_when: Annotated[_Text, StringConstraints(max_length=500)] | None = None


class SummaryFields(_Fields):
    task_summary: Annotated[_Text, StringConstraints(max_length=2000)]
    experience_summary: Annotated[_Text, StringConstraints(max_length=4000)]


class WorkflowFields(_Fields):
    goal: Annotated[_Text, StringConstraints(max_length=1000)]
    commands: list[Annotated[_Text, StringConstraints(max_length=2000)]] = Field(
        min_length=1, max_length=50
    )


class TrajectoryStep(_Fields):
    command: str = Field(max_length=10_000)
    output: str = Field("", max_length=20_000)


class TrajectoryFields(_Fields):
    task: Annotated[_Text, StringConstraints(max_length=4000)]
    commands: list[TrajectoryStep] = Field(max_length=500)


FIELD_MODELS: dict[str, type[_Fields]] = {
    "insight": InsightFields,
    "summary": SummaryFields,
    "workflow": WorkflowFields,
    "trajectory": TrajectoryFields,
}


def validate(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` checked against `kind`'s model; raises ValueError naming the field."""
    try:
        # exclude_none: optional fields left out keep old memories' content hashes.
        return FIELD_MODELS[kind].model_validate(fields).model_dump(exclude_none=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "fields"
        raise ValueError(f"{kind} field '{where}': {first['msg']}") from None
