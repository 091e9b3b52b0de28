"""Codex CLI session rollouts: JSONL under ~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl.

Each line is {timestamp, type, payload}: `session_meta` (id, cwd, ...), `turn_context`
(model), `response_item` (a `message` with input_text / output_text parts, a
`function_call` {name, arguments (JSON text), call_id} and its `function_call_output`
{call_id, output}, or a `custom_tool_call` such as apply_patch), and `event_msg`
(UI events, skipped: they repeat the response items)."""

from __future__ import annotations

import json
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

# Context Codex injects as user messages; not the user's request.
_INJECTED = ("<environment_context>", "<user_instructions>", "# AGENTS.md", "<permissions")


def looks_like(first: dict[str, Any]) -> bool:
    return "payload" in first and first.get("type") in (
        "session_meta", "response_item", "turn_context", "event_msg"
    )  # fmt: skip


def _text(payload: dict[str, Any]) -> str:
    parts = payload.get("content") or []
    if isinstance(parts, str):
        return parts
    return "\n".join(str(p.get("text", "")) for p in parts if isinstance(p, dict)).strip()


def _output(raw: Any) -> str:
    """`{"output": ..., "metadata": {"exit_code": N}}` (as JSON text), or plain text."""
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            return raw
        raw = parsed
    if isinstance(raw, dict):
        text = str(raw.get("output", ""))
        code = (raw.get("metadata") or {}).get("exit_code")
        return f"returncode {code}\n{text}" if code is not None else text
    return str(raw)


def load(path: Path) -> History:
    task = ""
    steps: list[tuple[str, str]] = []
    by_call: dict[str, int] = {}
    pending: list[str] = []
    meta: dict[str, Any] = {}
    for line in read_jsonl(path):
        payload = line.get("payload")
        if not isinstance(payload, dict):
            continue
        kind = line.get("type")
        if kind == "session_meta":
            meta.update({k: payload.get(k) for k in ("id", "cwd", "timestamp")})
            continue
        if kind == "turn_context":
            meta.setdefault("model", payload.get("model"))
            continue
        if kind != "response_item":
            continue
        item = payload.get("type")
        if item == "message":
            text = _text(payload)
            if payload.get("role") == "user":
                if not text or text.startswith(_INJECTED):
                    continue
                if not task:
                    task = text
                else:
                    steps.append((f"(user) {text}", ""))
            elif payload.get("role") == "assistant" and text:
                pending.append(text)
        elif item in ("function_call", "custom_tool_call", "local_shell_call"):
            arguments = payload.get("arguments", payload.get("input", payload.get("action")))
            command = call_text(str(payload.get("name", "shell")), arguments)
            steps.append(("\n".join([*pending, command]), ""))
            pending = []
            by_call[str(payload.get("call_id"))] = len(steps) - 1
        elif item in ("function_call_output", "custom_tool_call_output"):
            index = by_call.get(str(payload.get("call_id")))
            if index is not None:
                steps[index] = (steps[index][0], _output(payload.get("output")))
    if pending:
        steps.append(("\n".join(pending), ""))
    if not task:
        raise MtlError(f"{path}: no user request found in this Codex session")
    session_id = str(meta.get("id") or path.stem)
    record = RunRecord(
        task=task,
        steps=steps,
        model=meta.get("model"),
        repo=project_of(meta.get("cwd")) or None,
        languages=languages_of(steps),
        run_id=session_id,
    )
    return History(
        record=record,
        source="codex",
        session_id=session_id,
        started=str(meta.get("timestamp") or line_time(path)),
        project=project_of(meta.get("cwd")),
        cwd=str(meta.get("cwd") or ""),
        path=path,
    )


def line_time(path: Path) -> str:
    for line in read_jsonl(path):
        return str(line.get("timestamp") or "")
    return ""
