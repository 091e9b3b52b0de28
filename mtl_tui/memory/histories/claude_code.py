"""Claude Code session logs: one JSONL file per session under ~/.claude/projects/<project>/.

Lines of `type` user / assistant carry an Anthropic `message`; assistant content blocks
are text, thinking and `tool_use` ({id, name, input}); the results come back in a later
user line as `tool_result` blocks ({tool_use_id, content}). Sidechain (subagent) lines,
meta lines and summaries are skipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtl_tui.errors import MtlError
from mtl_tui.memory.distill import RunRecord
from mtl_tui.memory.histories.common import (
    History,
    call_text,
    languages_of,
    project_of,
    read_jsonl,
)

_NOT_A_TASK = ("<command-", "<local-command-", "Caveat:", "[Request interrupted")


def looks_like(first: dict[str, Any]) -> bool:
    return "sessionId" in first or first.get("type") in ("summary", "file-history-snapshot")


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content", "")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content", "")
    if isinstance(content, list):
        content = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    text = str(content)
    return f"error\n{text}" if block.get("is_error") else text


def load(path: Path) -> History:
    task = ""
    steps: list[tuple[str, str]] = []
    by_call: dict[str, int] = {}
    pending: list[str] = []
    meta: dict[str, Any] = {}
    for line in read_jsonl(path):
        if line.get("type") not in ("user", "assistant") or line.get("isSidechain"):
            continue
        for key in ("sessionId", "cwd", "timestamp", "gitBranch"):
            meta.setdefault(key, line.get(key))
        message = line.get("message")
        if not isinstance(message, dict):
            continue
        if line["type"] == "assistant":
            meta.setdefault("model", message.get("model"))
            for block in _blocks(message):
                if block.get("type") == "text" and str(block.get("text", "")).strip():
                    pending.append(str(block["text"]).strip())
                elif block.get("type") == "tool_use":
                    command = call_text(str(block.get("name", "tool")), block.get("input"))
                    steps.append(("\n".join([*pending, command]), ""))
                    pending = []
                    by_call[str(block.get("id"))] = len(steps) - 1
            continue
        for block in _blocks(message):
            if block.get("type") == "tool_result":
                index = by_call.get(str(block.get("tool_use_id")))
                if index is not None:
                    steps[index] = (steps[index][0], _result_text(block))
            elif block.get("type") == "text" and not line.get("isMeta"):
                text = str(block.get("text", "")).strip()
                if not text or text.startswith(_NOT_A_TASK):
                    continue
                if not task:
                    task = text
                else:  # a later request in the same session
                    if pending:
                        steps.append(("\n".join(pending), ""))
                        pending = []
                    steps.append((f"(user) {text}", ""))
    if pending:
        steps.append(("\n".join(pending), ""))
    if not task:
        raise MtlError(f"{path}: no user request found in this Claude Code session")
    record = RunRecord(
        task=task,
        steps=steps,
        model=meta.get("model"),
        repo=project_of(meta.get("cwd")) or None,
        languages=languages_of(steps),
        run_id=str(meta.get("sessionId") or path.stem),
    )
    return History(
        record=record,
        source="claude-code",
        session_id=str(meta.get("sessionId") or path.stem),
        started=str(meta.get("timestamp") or ""),
        project=project_of(meta.get("cwd")),
        cwd=str(meta.get("cwd") or ""),
        path=path,
    )
