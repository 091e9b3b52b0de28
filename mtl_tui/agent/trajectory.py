"""The record of one run, written after every step: the input for learning later."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mtl_tui.errors import MtlError
from mtl_tui.scrub import scrub_value

FORMAT = "mtl-trajectory"
VERSION = 1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


@dataclass
class Step:
    step: int
    started_at: str
    reply: str
    model_seconds: float
    cost: float
    command: str | None = None
    approval: str | None = None  # run | edited | rejected | None (no command)
    reason: str | None = None
    returncode: int | None = None
    output: str | None = None
    command_seconds: float | None = None
    timed_out: bool = False


@dataclass
class Trajectory:
    path: Path
    task: str
    model: str
    id: str = field(default_factory=new_run_id)
    repo: str | None = None
    languages: list[str] = field(default_factory=list)
    branch: str | None = None
    started_at: str = field(default_factory=_now)
    ended_at: str | None = None
    status: str = "running"
    message: str = ""
    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retrieved: list[int] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)
    learned: list[int] = field(default_factory=list)
    # relevant memories not in the prompt, each with its reason (over budget, conflict,
    # superseded, below floor), and the pool edits distillation applied and refused
    left_out: list[dict[str, Any]] = field(default_factory=list)
    edits: dict[str, Any] = field(default_factory=dict)
    outcome: str | None = None
    snapshot_before: str | None = None
    snapshot_after: str | None = None
    diff_stat: str = ""
    warnings: list[str] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    @classmethod
    def create(cls, directory: Path, task: str, model: str, **kwargs: Any) -> Trajectory:
        run_id = new_run_id()
        return cls(path=directory / f"{run_id}.traj.json", task=task, model=model, id=run_id,
                   **kwargs)  # fmt: skip

    _clean_messages: list[dict[str, str]] = field(default_factory=list, repr=False, init=False)
    _clean_steps: list[dict[str, Any]] = field(default_factory=list, repr=False, init=False)

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON data, with secrets scrubbed (the model saw them; the disk won't).
        Messages and steps are append-only (only the last step still changes), so each
        is scrubbed once."""
        for message in self.messages[len(self._clean_messages) :]:
            self._clean_messages.append(scrub_value(message, paths=False))
        del self._clean_steps[max(len(self.steps) - 1, 0) :]
        for step in self.steps[len(self._clean_steps) :]:
            self._clean_steps.append(scrub_value(asdict(step), paths=False))
        data = {
            k: v
            for k, v in self.__dict__.items()
            if not k.startswith("_") and k not in ("path", "messages", "steps")
        }
        # every other field (task, final message, warnings, repo, model, ...) whatever it is
        data = scrub_value(data, paths=False)
        data["messages"] = self._clean_messages
        data["steps"] = self._clean_steps
        return {"format": FORMAT, "version": VERSION, **data}

    def save(self) -> None:
        """Atomically: a reader never sees half a file."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        text = json.dumps(self.to_dict(), indent=1, ensure_ascii=False)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(text.encode("utf-8", "surrogateescape"))
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise MtlError(
                f"cannot write the trajectory {self.path}: {exc.strerror or exc}"
            ) from None

    def finish(self, status: str, message: str = "") -> None:
        self.status = status
        self.message = message
        self.ended_at = _now()
        self.save()
