"""The session core's events as Agent Client Protocol session updates, for one turn.

Runs on the event loop only (events from worker threads are handed over first), so its
state needs no lock. Each command becomes a tool call whose id is unique in the session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from acp import (
    start_tool_call,
    text_block,
    tool_content,
    update_agent_message_text,
    update_agent_thought_text,
    update_tool_call,
)
from acp.schema import ToolCallProgress, ToolCallStart, ToolCallStatus

from mtl_tui import events as ev

MAX_SHOWN_OUTPUT = 10_000  # characters of a command's output kept in its tool call
_TITLE = 80
_FENCE = "```"


@dataclass
class Update:
    """One session update; `coalesce` names updates a later one of the same key replaces
    (live output of one command), so a slow client is not flooded."""

    value: Any
    coalesce: str | None = None


def fenced(text: str, info: str = "") -> str:
    fence = _FENCE
    while fence in text:
        fence += "`"
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


def command_title(command: str) -> str:
    line = command.strip().splitlines()[0] if command.strip() else command
    more = "…" if len(line) > _TITLE or "\n" in command.strip() else ""
    return line[:_TITLE] + more


def shown_relevance(memory: ev.ShownMemory) -> float:
    return memory.similarity if memory.relevance is None else memory.relevance


def memory_line(memory: ev.ShownMemory) -> str:
    where = ", ".join(memory.languages) or "any language"
    if memory.accepted:
        state = f"in the prompt as [{memory.label}]"
    elif not memory.trusted:
        state = f"imported ({memory.origin}): not used unless trusted"
    else:
        state = "not used"
    conflict = f" ({memory.conflict})" if memory.conflict else ""
    return (
        f"- #{memory.id} {memory.title} — {memory.kind}, {where}, "
        f"relevance {shown_relevance(memory):.2f}: {state}{conflict}"
    )


class TurnTranslator:
    """Turns one prompt turn's events into updates, in order."""

    def __init__(self, turn: int) -> None:
        self.turn = turn
        self.step = 0
        self.tool_id: str | None = None
        self.output = ""
        self._reply = ""  # the current step's streamed reply so far
        self._sent = 0  # how much of it went to the client as message text

    def _id(self, what: object) -> str:
        return f"mtl-{self.turn}-{what}"

    def __call__(self, event: ev.Event) -> list[Update]:
        match event:
            case ev.StepStarted(step=step):
                self.step, self._reply, self._sent = step, "", 0
                return [Update(update_agent_message_text("\n\n"))] if step > 1 else []
            case ev.ModelToken(text=text):
                return self._stream(text)
            case ev.ModelReplied(content=content) if not self._reply:
                said = content.split(_FENCE)[0].strip()  # not streamed: say it now
                return [Update(update_agent_message_text(said + "\n"))] if said else []
            case ev.CommandProposed(step=step, command=command):
                return [Update(self._start_command(step, command))]
            case ev.CommandStarted():  # allowed (by the client or the policy): running now
                return [self.started()]
            case ev.CommandRejected(reason=reason):
                text = f"Rejected: {reason}" if reason else "Rejected."
                return [Update(self._progress("failed", text, {"rejected": True,
                                                              "reason": reason}))]  # fmt: skip
            case ev.CommandOutput(text=text) if text:
                self.output = (self.output + text)[-MAX_SHOWN_OUTPUT:]
                update = self._progress("in_progress", fenced(self.output))
                return [Update(update, coalesce=self.tool_id)]
            case ev.CommandFinished() as done:
                return [Update(self._finish(done))]
            case ev.FormatError(blocks=blocks):
                note = f"The reply had {blocks} bash blocks instead of one; asking again.\n"
                return [Update(update_agent_thought_text(note))]
            case ev.MemoriesRetrieved(memories=memories):
                return [Update(self._retrieved(memories))]
            case ev.MemoriesLearned(memories=memories):
                return [Update(self._learned(memories))] if memories else []
            case ev.DiffReady(stat=stat):
                text = (
                    f"\n\nChanged files:\n{fenced(stat)}\nUndo with /undo (or `mtl undo`).\n"
                    if stat.strip()
                    else "\n\nNo files changed.\n"
                )
                return [Update(update_agent_message_text(text))]
            case ev.RunFinished(status=status, message=message):
                if status != "completed":
                    message = f"Stopped ({status}): {message}"
                return [Update(update_agent_message_text(f"\n\n{message}\n"))] if message else []
            case ev.Notice(message=message, level=level):
                if level == "info":
                    return [Update(update_agent_thought_text(message + "\n"))]
                return [Update(update_agent_message_text(f"\n\n{level.capitalize()}: {message}\n"))]
            case _:
                return []

    def started(self) -> Update:
        """The command the client allowed is running now."""
        return Update(self._progress("in_progress"))

    # -- pieces -------------------------------------------------------------------------

    def _stream(self, text: str) -> list[Update]:
        """The reply's prose goes out as it streams; the bash block becomes a tool call."""
        self._reply += text
        cut = self._reply.find(_FENCE)
        if cut == -1:  # a backtick at the end may open the fence: hold it back
            cut = len(self._reply.rstrip("`"))
        if cut <= self._sent:
            return []
        piece, self._sent = self._reply[self._sent : cut], cut
        return [Update(update_agent_message_text(piece))]

    def _start_command(self, step: int, command: str) -> ToolCallStart:
        self.tool_id = self._id(f"cmd{step}")
        self.output = ""
        return start_tool_call(
            self.tool_id,
            command_title(command),
            kind="execute",
            status="pending",
            content=[tool_content(text_block(fenced(command, "bash")))],
            raw_input={"command": command},
        )

    def _progress(
        self, status: ToolCallStatus, text: str | None = None, raw_output: Any = None
    ) -> ToolCallProgress:
        assert self.tool_id is not None
        content = [tool_content(text_block(text))] if text else None
        return update_tool_call(self.tool_id, status=status, content=content,
                                raw_output=raw_output)  # fmt: skip

    def _finish(self, done: ev.CommandFinished) -> ToolCallProgress:
        ok = done.returncode == 0 and not done.timed_out
        tail = " (timed out)" if done.timed_out else ""
        shown = done.output[-MAX_SHOWN_OUTPUT:]
        text = (fenced(shown) + "\n" if shown.strip() else "") + f"exit {done.returncode}{tail}"
        raw = {
            "returncode": done.returncode,
            "timed_out": done.timed_out,
            "duration": round(done.duration, 3),
        }
        return self._progress("completed" if ok else "failed", text, raw)

    def _retrieved(self, memories: list[ev.ShownMemory]) -> ToolCallStart:
        used = sum(m.accepted for m in memories)
        imported = sum(not m.trusted for m in memories)
        title = f"Memory: {len(memories)} retrieved, {used} in the prompt"
        if imported:
            title += f", {imported} imported"
        lines = "\n".join(memory_line(m) for m in memories)
        raw = [
            {
                "id": m.id,
                "kind": m.kind,
                "title": m.title,
                "languages": m.languages,
                "relevance": round(shown_relevance(m), 4),
                "similarity": round(m.similarity, 4),
                "origin": m.origin,
                "accepted": m.accepted,
                "trusted": m.trusted,
                "label": m.label,
                "conflict": m.conflict,
            }
            for m in memories
        ]
        return start_tool_call(
            self._id("memory"),
            title,
            kind="search",
            status="completed",
            content=[tool_content(text_block(lines))],
            raw_output={"retrieved": raw},
        )

    def _learned(self, memories: list[ev.LearnedMemory]) -> ToolCallStart:
        lines = "\n".join(f"- #{m.id} {m.title} ({m.how})" for m in memories)
        raw = [{"id": m.id, "title": m.title, "how": m.how} for m in memories]
        return start_tool_call(
            self._id("learned"),
            "Memory: " + ev.learned_line(*_new_and_existing(memories)),
            kind="think",
            status="completed",
            content=[tool_content(text_block(lines))],
            raw_output={"learned": raw},
        )


def _new_and_existing(memories: list[ev.LearnedMemory]) -> tuple[list[int], list[int]]:
    new = list(dict.fromkeys(m.id for m in memories if m.how in ev.NEW_HOWS))
    existing = list(dict.fromkeys(m.id for m in memories if m.id not in new))
    return new, existing
