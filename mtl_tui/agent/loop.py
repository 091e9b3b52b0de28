"""The agent loop: ask the model for one bash command, run it, show it the result, repeat
until a command prints MTL_TASK_COMPLETE or a limit is reached."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from mtl_tui import events as ev
from mtl_tui.agent.model import Model, ModelError
from mtl_tui.agent.shell import CommandResult
from mtl_tui.agent.trajectory import Step, Trajectory
from mtl_tui.prompts import render
from mtl_tui.scrub import scrub_secrets

SENTINEL = "MTL_TASK_COMPLETE"
MAX_FORMAT_ERRORS = 3
_BLOCK = re.compile(r"```(?:bash|sh|shell)[ \t]*\n(.*?)(?:\n)?```", re.S)


class Environment(Protocol):
    def run(
        self,
        command: str,
        on_output: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> CommandResult: ...


@dataclass
class Decision:
    action: Literal["run", "reject", "edit"]
    command: str | None = None
    reason: str = ""


class Approver(Protocol):
    def __call__(self, command: str) -> Decision: ...


def approve_all(command: str) -> Decision:
    return Decision("run")


@dataclass
class Limits:
    step_limit: int = 50
    cost_limit: float = 0.0  # 0: none
    wall_time_limit: float = 3600.0


class RunStopped(Exception):
    """Ends the loop; `status` says why (completed, step_limit, model_error, ...)."""

    def __init__(self, status: str, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_commands(reply: str) -> list[str]:
    return [block.strip() for block in _BLOCK.findall(reply)]


class Agent:
    def __init__(
        self,
        model: Model,
        env: Environment,
        trajectory: Trajectory,
        approver: Approver = approve_all,
        limits: Limits | None = None,
        emit: ev.Emit = ev.ignore,
        cancel: threading.Event | None = None,
    ) -> None:
        self.model = model
        self.env = env
        self.trajectory = trajectory
        self.approver = approver
        self.limits = limits or Limits()
        self.emit = emit
        self.cancel = cancel or threading.Event()
        self.messages = trajectory.messages
        self._started = 0.0
        self._format_errors = 0

    def run(self, system: str, task: str) -> tuple[str, str]:
        """Runs to the end; returns (status, message). The trajectory is saved throughout."""
        self._started = time.monotonic()
        self.messages += [
            {"role": "system", "content": system},
            {"role": "user", "content": task},
        ]
        self.trajectory.save()
        try:
            while True:
                self._step()
        except RunStopped as stop:
            status, message = stop.status, stop.message
        except ModelError as exc:
            # provider errors may quote the key they refused; every face shows this message
            status, message = "model_error", scrub_secrets(str(exc))
        except KeyboardInterrupt:
            status, message = "interrupted", "interrupted by the user"
        self.trajectory.finish(status, message)
        self.emit(ev.RunFinished(status, message))
        return status, message

    def add_user_message(self, text: str) -> None:
        """Tell the agent something before its next step (e.g. a memory to disregard)."""
        self.messages.append({"role": "user", "content": text})

    def _check_limits(self) -> None:
        t = self.trajectory
        if self.cancel.is_set():
            raise RunStopped("interrupted", "interrupted by the user")
        if len(t.steps) >= self.limits.step_limit:
            raise RunStopped("step_limit", f"step limit of {self.limits.step_limit} reached")
        if self.limits.cost_limit and t.cost >= self.limits.cost_limit:
            raise RunStopped(
                "cost_limit", f"cost limit of ${self.limits.cost_limit:.2f} reached (${t.cost:.4f})"
            )
        if time.monotonic() - self._started >= self.limits.wall_time_limit:
            raise RunStopped(
                "time_limit", f"wall-time limit of {self.limits.wall_time_limit:g} s reached"
            )

    def _step(self) -> None:
        self._check_limits()
        t = self.trajectory
        number = len(t.steps) + 1
        self.emit(ev.StepStarted(number))
        started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        began = time.monotonic()
        reply = self.model.query(
            self.messages,
            on_token=lambda text: self.emit(ev.ModelToken(text)),
            on_retry=lambda attempt, delay, why: self.emit(
                ev.ModelRetrying(
                    f"retrying the model in {delay:g} s (attempt {attempt}): {why}",
                    "warning",
                    attempt,
                    delay,
                )
            ),
        )
        step = Step(number, started_at, reply.content, time.monotonic() - began, reply.cost)
        t.steps.append(step)
        t.cost += reply.cost
        t.prompt_tokens += reply.prompt_tokens
        t.completion_tokens += reply.completion_tokens
        self.messages.append({"role": "assistant", "content": reply.content})
        self.emit(ev.ModelReplied(number, reply.content, reply.cost, t.cost))

        commands = parse_commands(reply.content)
        if len(commands) != 1:
            self._format_error(number, len(commands))
            return
        self._format_errors = 0
        self._execute(step, commands[0])
        t.save()

    def _format_error(self, number: int, blocks: int) -> None:
        self._format_errors += 1
        self.emit(ev.FormatError(number, blocks))
        self.messages.append({"role": "user", "content": render("format_error", count=blocks)})
        self.trajectory.save()
        if self._format_errors >= MAX_FORMAT_ERRORS:
            raise RunStopped(
                "format_error",
                f"the model broke the reply format {MAX_FORMAT_ERRORS} times in a row",
            )

    def _execute(self, step: Step, command: str) -> None:
        self.emit(ev.CommandProposed(step.step, command))
        decision = self.approver(command)
        if decision.action == "reject":
            step.command, step.approval, step.reason = command, "rejected", decision.reason
            self.emit(ev.CommandRejected(step.step, command, decision.reason))
            reason = decision.reason or "(no reason given)"
            self.messages.append({"role": "user", "content": render("rejected", reason=reason)})
            return
        edited = decision.action == "edit" and decision.command and decision.command != command
        if edited:
            command = decision.command or command
        step.command, step.approval = command, "edited" if edited else "run"
        self.emit(ev.CommandStarted(step.step, command))

        result = self.env.run(
            command, on_output=lambda text: self.emit(ev.CommandOutput(text)), cancel=self.cancel
        )
        step.returncode, step.output = result.returncode, result.output
        step.command_seconds, step.timed_out = result.duration, result.timed_out
        self.emit(
            ev.CommandFinished(
                step.step,
                command,
                result.returncode,
                result.output,
                result.duration,
                result.timed_out,
            )
        )
        lines = result.output.lstrip().splitlines()
        if lines and lines[0].strip() == SENTINEL and not result.interrupted:
            raise RunStopped("completed", "\n".join(lines[1:]).strip())
        if result.interrupted:
            raise RunStopped("interrupted", "interrupted by the user")
        observation = render("observation", returncode=result.returncode, output=result.output)
        if edited:
            observation = render("edited", command=command) + "\n" + observation
        self.messages.append({"role": "user", "content": observation})
