"""Benchmark task suites: one folder per task with `task.toml`, the starting files in
`files/`, and a reference solution in `solution/` (laid over the starting files)."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mtl_tui.agent.shell import LocalShell
from mtl_tui.errors import MtlError


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    domain: str = Field(min_length=1)
    language: str = Field(min_length=1)
    instruction: str = Field(min_length=1)
    verify: str = Field(min_length=1)
    time_limit: float = Field(300, gt=0)


@dataclass(frozen=True)
class Task:
    id: str
    domain: str
    language: str
    instruction: str
    verify: str
    time_limit: float
    folder: Path

    @property
    def files(self) -> Path:
        return self.folder / "files"

    @property
    def solution(self) -> Path:
        return self.folder / "solution"


def builtin_suite() -> Path:
    return Path(str(resources.files("mtl_tui.bench").joinpath("suite")))


def load_suite(path: Path | None = None) -> list[Task]:
    root = path or builtin_suite()
    if not root.is_dir():
        raise MtlError(f"no task suite at {root}")
    tasks = []
    for manifest in sorted(root.glob("*/task.toml")):
        try:
            spec = _Manifest.model_validate(tomllib.loads(manifest.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise MtlError(f"{manifest}: {exc}") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise MtlError(f"{manifest}: key '{key}': {first['msg']}") from None
        if not (manifest.parent / "files").is_dir():
            raise MtlError(f"{manifest.parent}: no files/ folder with the starting files")
        tasks.append(Task(folder=manifest.parent, **spec.model_dump()))
    if not tasks:
        raise MtlError(f"{root}: no tasks (folders with a task.toml)")
    return tasks


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=mtl-bench", "-c", "user.email=bench@localhost", *args],
        cwd=repo, check=True, capture_output=True,
    )  # fmt: skip


def prepare(task: Task, where: Path, with_solution: bool = False) -> Path:
    """A fresh git repository holding the task's starting files (and the solution)."""
    repo = where / task.id
    shutil.copytree(task.files, repo)
    if with_solution:
        shutil.copytree(task.solution, repo, dirs_exist_ok=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "start")
    return repo


def verify(task: Task, repo: Path) -> bool:
    return LocalShell(repo, timeout=min(task.time_limit, 300)).run(task.verify).returncode == 0
