"""What a run reports as it goes. The faces (TUI, headless CLI, ACP) consume these;
none holds logic of its own."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


class Event:
    pass


@dataclass
class Notice(Event):
    """Something the user should know: a warning, a retry, a note."""

    message: str
    level: str = "info"  # info | warning | error


@dataclass
class ModelRetrying(Notice):
    """A model call failed in a way worth retrying; the next attempt comes after `delay`
    seconds (a Notice, for faces that only print it)."""

    attempt: int = 1
    delay: float = 0.0


@dataclass
class StepStarted(Event):
    step: int


@dataclass
class ModelToken(Event):
    text: str


@dataclass
class ModelReplied(Event):
    step: int
    content: str
    cost: float
    total_cost: float


@dataclass
class CommandProposed(Event):
    step: int
    command: str


@dataclass
class ApprovalNeeded(Event):
    """A command asks even in auto mode: it may destroy what the run did not create."""

    command: str
    reason: str


@dataclass
class CommandStarted(Event):
    """The command was approved and is running now; CommandOutput chunks follow."""

    step: int
    command: str


@dataclass
class CommandRejected(Event):
    step: int
    command: str
    reason: str


@dataclass
class CommandOutput(Event):
    text: str


@dataclass
class CommandFinished(Event):
    step: int
    command: str
    returncode: int
    output: str
    duration: float
    timed_out: bool


@dataclass
class FormatError(Event):
    step: int
    blocks: int


@dataclass
class DiffReady(Event):
    """The run's changes, after the agent stopped (before outcome and learning)."""

    stat: str


@dataclass
class ShownMemory:
    """One memory as the faces show it: what it is, and whether the agent got it."""

    id: int | None
    kind: str
    title: str
    languages: list[str]
    similarity: float
    origin: str
    accepted: bool
    trusted: bool  # False: imported from a pack that is not trusted by default
    label: str | None = None  # [M1]... in the prompt, for accepted memories
    conflict: str | None = None  # "conflicts with #N (kept: more evidence)"
    relevance: float | None = None  # what the relevance cuts judge (memory/rank.py)


@dataclass
class MemoriesRetrieved(Event):
    """At the start of a run: every retrieved memory, accepted into the prompt or not."""

    memories: list[ShownMemory]


@dataclass
class LearnedMemory:
    id: int
    title: str
    how: str  # stored | merged | same | agreed | refined | contradicts


# How a lesson went into the pool when it made a new memory; the others (merged, same,
# agreed) only strengthened one that was there already.
NEW_HOWS = frozenset({"stored", "refined", "contradicts"})


def learned_line(new: Sequence[int], existing: Sequence[int]) -> str:
    """One wording for every face: `learned 0 new · 2 agreed with existing #46, #47`."""
    text = f"learned {len(new)} new" + (f" ({_marks(new)})" if new else "")
    if existing:
        text += f" · {len(existing)} agreed with existing {_marks(existing)}"
    return text


def _marks(ids: Sequence[int]) -> str:
    return ", ".join(f"#{i}" for i in ids)


@dataclass
class MemoriesLearned(Event):
    """After distillation: what went into the pool."""

    memories: list[LearnedMemory]


@dataclass
class RunFinished(Event):
    status: str
    message: str


Emit = Callable[[Event], None]


def ignore(event: Event) -> None:
    pass
