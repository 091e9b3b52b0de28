"""Read saved runs as runs to learn from: mtl's trajectories, mini-swe-agent's (1.x text
actions, 2.x native tool calls), Claude Code and Codex CLI sessions, and ATIF trajectories
(Harbor / Terminal-Bench). Everything read is scrubbed here, before any model sees it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from mtl_tui.errors import MtlError
from mtl_tui.files import MAX_TRAJECTORY_FILE, InputError, loads_bounded, read_bounded
from mtl_tui.memory.distill import RunRecord
from mtl_tui.memory.histories import atif, claude_code, codex
from mtl_tui.memory.histories.common import History, call_text, read_jsonl
from mtl_tui.repo.languages import detect_languages
from mtl_tui.scrub import scrub, scrub_value

# Where mini-swe-agent's task prompt stops being the task and starts being instructions.
_BOILERPLATE = (
    "\n\nYou can execute bash commands",
    "<instructions>",
    "## Recommended Workflow",
)
_PATHISH = re.compile(r"[\w./-]+\.[A-Za-z0-9]{1,5}\b")


def load_run(path: Path) -> RunRecord:
    return load_history(path).record


def load_history(path: Path) -> History:
    """The run recorded in `path`, whatever wrote it, scrubbed of secrets and paths."""
    history = _read(path)
    record = history.record
    record.task = scrub(record.task)
    record.steps = [(scrub(reply), scrub(observation)) for reply, observation in record.steps]
    record.diff_stat = scrub(record.diff_stat)
    record.changed_files = scrub_value(record.changed_files)
    record.repo = scrub(record.repo) if record.repo else None
    history.project = scrub(history.project)
    return history


def _read(path: Path) -> History:
    raw = read_bounded(path, MAX_TRAJECTORY_FILE, "trajectory")
    digest = hashlib.sha256(raw).hexdigest()[:16]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"trajectory {path} is not UTF-8 (byte {exc.start})") from None
    try:
        data = loads_bounded(text, str(path), max_depth=256)
    except InputError as exc:
        if "not JSON" not in str(exc):
            raise
        return _read_jsonl(path)  # one JSON object per line: a Claude Code or Codex session
    if isinstance(data, dict) and data.get("format") == "mtl-trajectory":
        record = _from_mtl(data, path)
        started = str(data.get("started_at") or data.get("started") or "")
        return History(record, "mtl", str(record.run_id or digest), started,
                       project=str(record.repo or ""), path=path)  # fmt: skip
    if atif.looks_like(data):
        return atif.load(data, path)
    if isinstance(data, dict) and claude_code.looks_like(data):  # a one-line session
        return _read_jsonl(path)
    messages = data.get("messages") if isinstance(data, dict) else data
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise MtlError(
            f"{path}: not a trajectory (expected mtl's, mini-swe-agent's or ATIF JSON, or a "
            "Claude Code / Codex session JSONL)"
        )
    info = data.get("info", {}) if isinstance(data, dict) else {}
    record = _from_messages(messages, info if isinstance(info, dict) else {}, path)
    return History(record, "mini-swe-agent", digest, path=path)


def _read_jsonl(path: Path) -> History:
    first = next(read_jsonl(path), None)
    if first is not None and codex.looks_like(first):
        return codex.load(path)
    if first is not None and claude_code.looks_like(first):
        return claude_code.load(path)
    raise MtlError(
        f"{path}: not a trajectory (expected mtl's, mini-swe-agent's or ATIF JSON, or a "
        "Claude Code / Codex session JSONL)"
    )


def _from_mtl(data: dict[str, Any], path: Path) -> RunRecord:
    steps = []
    for step in data.get("steps", []):
        observation = step.get("output") or ""
        if step.get("returncode") is not None:
            observation = f"returncode {step['returncode']}\n{observation}"
        steps.append((step.get("reply", ""), observation))
    return RunRecord(
        task=str(data.get("task", "")),
        steps=steps,
        status=str(data.get("status", "unknown")),
        outcome=str(data.get("outcome") or "unknown"),
        diff_stat=str(data.get("diff_stat", "")),
        changed_files=_files_from_stat(str(data.get("diff_stat", ""))),
        model=data.get("model"),
        repo=data.get("repo"),
        languages=list(data.get("languages", [])),
        run_id=data.get("id") or path.stem,
    )


def _text(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        text = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    else:
        text = str(content)
    calls = [c for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    for call in calls:  # mini-swe-agent 2.x: native tool calls
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        text += "\n" + call_text(str(function.get("name", "tool")), function.get("arguments"))
    return text.strip()


def _task_of(first_user: str) -> str:
    task = first_user
    for marker in _BOILERPLATE:
        if marker in task:
            task = task.split(marker, 1)[0]
    match = re.search(r"<pr_description>(.*?)</pr_description>", first_user, re.S)
    if match:
        task = match.group(1)
    return task.replace("Please solve this issue:", "").strip()


def _from_messages(messages: list[dict[str, Any]], info: dict[str, Any], path: Path) -> RunRecord:
    users = [_text(m) for m in messages if m.get("role") == "user"]
    if not users:
        raise MtlError(f"{path}: the trajectory has no user message with a task")
    steps: list[tuple[str, str]] = []
    pending: str | None = None
    for message in messages[1:]:
        role, text = message.get("role"), _text(message)
        if role == "assistant":
            if pending is not None:
                steps.append((pending, ""))
            pending = text
        elif role in ("user", "tool") and pending is not None:
            steps.append((pending, text))
            pending = None
        elif role == "tool" and steps:  # a second result of one turn's parallel calls
            steps[-1] = (steps[-1][0], f"{steps[-1][1]}\n{text}")
    if pending is not None:
        steps.append((pending, ""))
    commands = " ".join(reply for reply, _ in steps)
    exit_status = str(info.get("exit_status", ""))
    config = info.get("config", {}) if isinstance(info.get("config"), dict) else {}
    model = (
        (config.get("model") or {}).get("model_name")
        if isinstance(config.get("model"), dict)
        else None
    )
    return RunRecord(
        task=_task_of(users[0]),
        steps=steps,
        status="completed" if exit_status in ("", "Submitted") else exit_status.lower(),
        outcome="unknown",
        diff_stat="",
        changed_files=_files_from_diff(_text(messages[-1])),
        model=model,
        repo=None,
        languages=detect_languages(_PATHISH.findall(commands)),
        run_id=path.stem,
    )


def _files_from_stat(stat: str) -> list[str]:
    return [line.split("|")[0].strip() for line in stat.splitlines() if "|" in line]


def _files_from_diff(text: str) -> list[str]:
    return re.findall(r"^diff --git a/(\S+) b/", text, re.M)
