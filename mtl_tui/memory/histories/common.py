"""What every history reader shares: the session it read, and turning tool calls into text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtl_tui.errors import MtlError
from mtl_tui.memory.distill import RunRecord
from mtl_tui.repo.languages import detect_languages

_PATHISH = re.compile(r"[\w./-]+\.[A-Za-z0-9]{1,5}\b")
# Shell tools whose arguments name the command under one of these keys.
_COMMAND_KEYS = ("command", "cmd", "keystrokes", "script", "code")


@dataclass
class History:
    """One session read from another tool: the run, and what lists and dedup need."""

    record: RunRecord
    source: str  # claude-code | codex | atif | mini-swe-agent | mtl
    session_id: str
    started: str = ""  # ISO timestamp, when known
    project: str = ""  # the working directory's name, when known
    cwd: str = ""  # the working directory itself, when recorded: whose memory policy applies
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.source}:{self.session_id}"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Each JSON object line; unreadable lines (a session cut mid-write) are skipped."""
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(item, dict):
                    yield item
    except OSError as exc:
        raise MtlError(f"cannot read {path}: {exc}") from None


def call_text(name: str, arguments: Any) -> str:
    """A tool call as one line of text: the shell command itself when it is one."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return f"{name}: {arguments}".strip()
    if isinstance(arguments, dict):
        for key in _COMMAND_KEYS:
            value = arguments.get(key)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                # ["bash", "-lc", "make test"] -> make test
                if len(value) == 3 and value[1] in ("-lc", "-c"):
                    return value[2]
                return " ".join(value)
            if isinstance(value, str) and value.strip():
                return value
        return f"{name} {json.dumps(arguments, ensure_ascii=False)[:500]}"
    return name


def languages_of(steps: list[tuple[str, str]]) -> list[str]:
    return detect_languages(_PATHISH.findall(" ".join(reply for reply, _ in steps)))


def project_of(cwd: str | None) -> str:
    return Path(cwd).name if cwd else ""
