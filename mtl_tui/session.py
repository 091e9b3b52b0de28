"""One task end to end: snapshot → run the agent → diff, emitting events that both faces
consume. Memory retrieval and distillation hook in here too."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtl_tui import events as ev
from mtl_tui import paths
from mtl_tui.agent.loop import Agent, Approver, Limits, approve_all
from mtl_tui.agent.model import Model, make_model
from mtl_tui.agent.prompts import render
from mtl_tui.agent.shell import LocalShell
from mtl_tui.agent.trajectory import Trajectory
from mtl_tui.config import Settings
from mtl_tui.repo.git import GitRepo


@dataclass
class RunSummary:
    status: str
    message: str
    steps: int
    cost: float
    trajectory: str
    repo: str | None
    diff_stat: str = ""
    undo_available: bool = False
    retrieved: list[int] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)
    learned: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    def to_dict(self) -> dict[str, Any]:
        return {"completed": self.completed, **self.__dict__}


class Session:
    """Runs tasks in one directory with one configuration."""

    def __init__(
        self,
        settings: Settings,
        cwd: Path,
        emit: ev.Emit = ev.ignore,
        approver: Approver = approve_all,
        model: Model | None = None,
    ) -> None:
        self.settings = settings
        self.cwd = cwd
        self.emit = emit
        self.approver = approver
        self._model = model
        self.repo = GitRepo.find(cwd)
        self.root = self.repo.root if self.repo else cwd
        self.cancel = threading.Event()
        self.warnings: list[str] = []
        self.agent: Agent | None = None

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.emit(ev.Notice(message, "warning"))

    def model(self) -> Model:
        if self._model is None:
            self._model = make_model(
                self.settings.model,
                self.settings.api_base,
                timeout=self.settings.agent.model_timeout,
                retries=self.settings.agent.model_retries,
                stream=self.settings.agent.stream,
                on_warning=self.warn,
            )
        return self._model

    def run(self, task: str) -> RunSummary:
        model = self.model()
        repo = self.repo
        if repo is None:
            self.warn(f"{self.cwd} is not inside a git repository: no snapshot, no undo")
        languages = repo.languages() if repo else []
        trajectory = Trajectory.create(
            paths.trajectories_dir(),
            task=task,
            model=model.name,
            repo=repo.name if repo else self.cwd.name,
            languages=languages,
            branch=repo.branch if repo else None,
        )
        trajectory.warnings = self.warnings
        agent = Agent(
            model=model,
            env=LocalShell(self.root, timeout=self.settings.agent.command_timeout),
            trajectory=trajectory,
            approver=self.approver,
            limits=Limits(
                step_limit=self.settings.agent.step_limit,
                cost_limit=self.settings.agent.cost_limit,
                wall_time_limit=self.settings.agent.wall_time_limit,
            ),
            emit=self.emit,
            cancel=self.cancel,
        )
        self.agent = agent
        system = render(
            "system", root=self.root, timeout=f"{self.settings.agent.command_timeout:g}", memory=""
        )
        prompt = render(
            "task",
            repo=trajectory.repo,
            languages=", ".join(languages) or "languages unknown",
            task=task,
        )
        if repo is not None:
            trajectory.snapshot_before = repo.snapshot(f"mtl: before run {trajectory.id}")
        status, message = agent.run(system, prompt)
        if repo is not None and trajectory.snapshot_before:
            after = repo.snapshot(f"mtl: after run {trajectory.id}")
            trajectory.snapshot_after = after
            trajectory.diff_stat = repo.diff_stat(trajectory.snapshot_before, after)
            repo.mark_run(trajectory.snapshot_before, after)
            trajectory.save()
        return RunSummary(
            status=status,
            message=message,
            steps=len(trajectory.steps),
            cost=round(trajectory.cost, 6),
            trajectory=str(trajectory.path),
            repo=trajectory.repo,
            diff_stat=trajectory.diff_stat,
            undo_available=repo is not None,
            warnings=list(self.warnings),
        )

    def interrupt(self) -> None:
        self.cancel.set()
