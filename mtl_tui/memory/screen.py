"""The model screens the retrieved candidates before they reach the prompt.

One small embedding model cannot tell "nothing here applies" from "this lesson applies,
but only by reasoning": no single relevance floor separates the two (tests/bench_retrieval.py).
With screening on, retrieval gathers a wider set of candidates (a lower floor, no relative
cut) and asks the run's own model which of them bear on the task; only those reach the
prompt. tests/bench_screen.py measures it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mtl_tui.errors import MtlError
from mtl_tui.prompts import render

if TYPE_CHECKING:
    from mtl_tui.agent.model import Model
    from mtl_tui.config import Settings

#: Candidates are memories at or above this relevance, at most CANDIDATES of them. Chosen
#: on the six seen task sets (tests/bench_screen.py --candidates prints the table): 0.30 and
#: six keep a wanted lesson among the candidates for 95% of the tasks that have one, at
#: about five candidates a task; a lower floor adds a point of recall for a sixth more
#: reading.
CANDIDATE_FLOOR = 0.30
CANDIDATES = 6
#: Seconds the screening waits for the model (with one retry) before the floor decides.
SCREEN_TIMEOUT = 30.0

_LIST = re.compile(r"\[[\d,\s]*\]")


class ScreenError(MtlError):
    """The model's screening could not be used (no answer, or not a list of numbers)."""


@dataclass
class Screened:
    """The model's verdict on a list of candidates: the positions (0-based) it picked,
    best first, and what it cost."""

    picked: list[int]
    cost: float = 0.0


def screening_model(settings: Settings, on_warning: Callable[[str], None]) -> Model:
    """The configured model with a short wait and at most one retry: a stalled screening
    falls back to the floor in seconds, not after the agent's patience. ScreenError when
    no model is configured."""
    from mtl_tui.agent.model import model_for

    if not settings.model:
        raise ScreenError(
            "no model is configured: set `model`, or turn screening off "
            "(--no-screen, memory.screen)"
        )
    agent = settings.agent.model_copy(update={
        "model_timeout": min(settings.agent.model_timeout, SCREEN_TIMEOUT),
        "model_retries": min(settings.agent.model_retries, 1),
    })  # fmt: skip
    quick = settings.model_copy(update={"agent": agent})
    return model_for(quick, on_warning=on_warning, stream=False)


def screen_prompt(task: str, languages: Sequence[str], lessons: Sequence[str]) -> str:
    numbered = "\n".join(f"[{i + 1}] {text}" for i, text in enumerate(lessons))
    return render(
        "screen", task=task.strip(), languages=", ".join(languages) or "unknown", lessons=numbered
    )


def parse_picks(reply: str, count: int) -> list[int]:
    """The 0-based positions in the answer's list of numbers, in its order, each once;
    numbers outside 1..count are ignored. The list is the one that opens the reply (as the
    prompt asks), else the last one in it (a model that reasons first, and may quote a
    lesson's "[n]", ends with its answer). ScreenError when there is none."""
    text = reply.strip()
    first = text.splitlines()[0] if text else ""
    found = _LIST.match(first) or next(reversed(list(_LIST.finditer(text))), None)
    try:
        numbers = json.loads(found.group(0)) if found is not None else None
    except json.JSONDecodeError:
        numbers = None
    if not isinstance(numbers, list):
        shown = first[:80] or "(empty)"
        raise ScreenError(f"the model's screening answer has no list of numbers: {shown!r}")
    picks: list[int] = []
    for number in numbers:
        if isinstance(number, int) and 1 <= number <= count and number - 1 not in picks:
            picks.append(number - 1)
    return picks


def screen(model: Model, task: str, languages: Sequence[str], lessons: Sequence[str]) -> Screened:
    """Asks `model` which of `lessons` (their texts, in the candidates' order) apply to
    `task`. No candidates: no call."""
    if not lessons:
        return Screened([])
    prompt = screen_prompt(task, languages, lessons)
    reply = model.query([{"role": "user", "content": prompt}])
    return Screened(parse_picks(reply.content, len(lessons)), reply.cost)
