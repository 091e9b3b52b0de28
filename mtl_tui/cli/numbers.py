"""Number options that refuse `nan` and `inf` as not a number: typer's own check lets `nan`
through to a range error that misleads ("should be greater than or equal to 0")."""

from __future__ import annotations

import math
from collections.abc import Callable

import typer


def number(low: float, high: float | None = None) -> Callable[[str], float]:
    """A parser for a finite number from `low` to `high` (typer ignores min/max then)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise typer.BadParameter(f"{text!r} is not a number")
        if value < low:
            raise typer.BadParameter(f"{text} is below {low:g}")
        if high is not None and value > high:
            raise typer.BadParameter(f"{text} is above {high:g}")
        return value

    return parse
