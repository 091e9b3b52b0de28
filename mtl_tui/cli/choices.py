"""Choices several commands offer, kept apart so that registering a command imports nothing."""

from __future__ import annotations

from enum import StrEnum

# --model: where a scripted model's replies go (agent/model.py): not only to the task.
SCRIPTED_HELP = (
    "Any litellm model id, or scripted/FILE: a JSON list of replies read in order: the "
    "task's steps, then the judge's PASS/FAIL (unless a verdict or --verify decides), then "
    "one JSON reply per kind learned (none with --no-learn), then, when a learned insight "
    "has stored neighbours, one pool-edit reply (a JSON object with an operations list)."
)


class KindChoice(StrEnum):
    insight = "insight"
    summary = "summary"
    workflow = "workflow"
    trajectory = "trajectory"
