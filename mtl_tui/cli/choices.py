"""Choices several commands offer, kept apart so that registering a command imports nothing."""

from __future__ import annotations

from enum import StrEnum


class KindChoice(StrEnum):
    insight = "insight"
    summary = "summary"
    workflow = "workflow"
    trajectory = "trajectory"
