"""mtl's agent, with its memory, as an Agent Client Protocol agent.

Each ACP session wraps one core `Session` in the client's working directory; each prompt
turn runs retrieve → snapshot → agent → outcome → distill → store on a worker thread
(bridge.py carries its events and permission questions). Nothing here decides anything
the headless run does not decide the same way."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from acp import PROTOCOL_VERSION, RequestError
from acp.helpers import update_available_commands
from acp.interfaces import Client
from acp.schema import (
    AgentCapabilities,
    AvailableCommand,
    AvailableCommandInput,
    EmbeddedResourceContentBlock,
    Implementation,
    InitializeResponse,
    NewSessionResponse,
    PromptCapabilities,
    PromptResponse,
    ResourceContentBlock,
    SessionMode,
    SessionModeState,
    SetSessionModeResponse,
    TextContentBlock,
    TextResourceContents,
    UnstructuredCommandInput,
)

from mtl_tui import __version__
from mtl_tui.acp.bridge import AcpSession, Turn
from mtl_tui.agent.model import SCRIPTED_PREFIX, import_litellm
from mtl_tui.config import Settings
from mtl_tui.errors import MtlError
from mtl_tui.memory import packs
from mtl_tui.memory.store import MemoryStore
from mtl_tui.scrub import describe_exception, safe_message
from mtl_tui.session import RunSummary, Session
from mtl_tui.text import plural

log = logging.getLogger("mtl.acp")

ASK, YOLO = "ask", "yolo"
MODES = [
    SessionMode(id=ASK, name="Ask", description="Ask before running each command"),
    SessionMode(id=YOLO, name="Yolo", description="Run commands without asking"),
]
COMMANDS = [
    AvailableCommand(
        name="undo",
        description="Restore the repository to its state before the last run",
        input=AvailableCommandInput(
            root=UnstructuredCommandInput(hint="force: also discard changes made since")
        ),
    )
]


MEMORY_OFF = (
    "Memory is off for this repository (git config mtl.memory off): no lesson is retrieved "
    "or learned here, and the memory pool is not opened.\n\n"
)


def starter_hint() -> str:
    return (
        f"Your memory pool is empty. `mtl pack import --starter` adds {packs.starter_size()} "
        "general lessons (validation, workflows, guardrails) that help from the first task.\n"
    )


_STOP = {"interrupted": "cancelled", "step_limit": "max_turn_requests"}


@dataclass
class AcpOptions:
    """How turns run; set by `mtl acp` flags, overridden per session by the client's
    `_meta: {"mtl": {...}}` on session/new."""

    yes: bool = False
    memory: bool = True
    learn: bool = True
    trust_imported: bool = False
    verify: str | None = None

    def merged(self, meta: Any) -> AcpOptions:
        if meta is None:
            return replace(self)
        if not isinstance(meta, dict):
            raise ValueError("_meta.mtl must be an object")
        known = {f.name: f for f in fields(self)}
        for key, value in meta.items():
            if key not in known:
                raise ValueError(f"_meta.mtl.{key}: unknown setting (known: {', '.join(known)})")
            wanted = str if key == "verify" else bool
            if not (isinstance(value, wanted) or (key == "verify" and value is None)):
                raise ValueError(f"_meta.mtl.{key}: expected a {wanted.__name__}")
        return replace(self, **meta)


def prompt_text(blocks: list[Any]) -> str:
    """The task: the prompt's text, with mentioned files named and embedded ones quoted."""
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, TextContentBlock):
            parts.append(block.text)
        elif isinstance(block, ResourceContentBlock):
            parts.append(f"{block.name} ({block.uri})")
        elif isinstance(block, EmbeddedResourceContentBlock) and isinstance(
            block.resource, TextResourceContents
        ):
            parts.append(f"\n{block.resource.uri}:\n{block.resource.text}\n")
    return " ".join(p for p in parts if p).strip()


class MtlAgent:
    """The ACP agent (the SDK's `Agent` protocol)."""

    def __init__(
        self,
        settings: Settings,
        options: AcpOptions,
        open_store: Callable[[], MemoryStore] | None = None,
    ) -> None:
        self.settings = settings
        self.options = options
        self._open_store = open_store
        self._store: asyncio.Task[tuple[MemoryStore | None, str | None]] | None = None
        self._client: Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sessions: dict[str, AcpSession] = {}
        self._background: set[asyncio.Future[Any]] = set()

    @property
    def client(self) -> Client:
        assert self._client is not None, "not connected"
        return self._client

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """From any thread: run `callback` on the event loop, in call order."""
        with contextlib.suppress(RuntimeError):  # a closed loop: the client is gone
            self.loop.call_soon_threadsafe(callback, *args)

    def _keep(self, task: asyncio.Future[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def on_connect(self, conn: Client) -> None:
        self._client = conn
        self._loop = asyncio.get_running_loop()

    # -- the pool, opened once in the background (the embedding model takes seconds) ------
    # Not before a session: only a session/new whose repository is not `mtl.memory off`
    # opens it (the process's own cwd says nothing about the sessions' repositories).

    def _pool(self) -> asyncio.Task[tuple[MemoryStore | None, str | None]]:
        if self._store is None:
            self._store = asyncio.ensure_future(asyncio.to_thread(self._load_pool))
        return self._store

    def _load_pool(self) -> tuple[MemoryStore | None, str | None]:
        if self._open_store is None:
            return None, None
        try:
            return self._open_store(), None
        except MtlError as exc:
            return None, f"memory disabled: {safe_message(str(exc))}"
        except Exception as exc:
            log.error("could not open the memory pool: %s", describe_exception(exc))
            return None, f"memory disabled: {describe_exception(exc)}"

    async def close(self) -> None:
        for state in self.sessions.values():
            if state.core is not None:
                state.core.interrupt()
        if self._store is not None:
            store, _ = await self._store
            if store is not None:
                store.close()

    # -- the protocol -----------------------------------------------------------------------

    async def initialize(self, protocol_version: int, **_: Any) -> InitializeResponse:
        model = self.settings.model or ""
        if model and not model.startswith(SCRIPTED_PREFIX):  # litellm takes seconds too
            self._keep(asyncio.ensure_future(asyncio.to_thread(import_litellm)))
        return InitializeResponse(
            protocol_version=PROTOCOL_VERSION,
            agent_capabilities=AgentCapabilities(
                load_session=False,
                prompt_capabilities=PromptCapabilities(embedded_context=True),
            ),
            agent_info=Implementation(name="mtl", title="mtl", version=__version__),
        )

    async def authenticate(self, method_id: str, **_: Any) -> None:
        return None

    async def new_session(
        self, cwd: str, mcp_servers: list[Any] | None = None, **meta: Any
    ) -> NewSessionResponse:
        try:
            options = self.options.merged(meta.get("mtl"))
        except ValueError as exc:
            raise RequestError.invalid_params({"details": str(exc)}) from None
        path = Path(cwd)
        if not path.is_absolute() or not path.is_dir():
            raise RequestError.invalid_params({"details": f"cwd {cwd!r} is not a directory"})
        state = AcpSession(self, uuid.uuid4().hex, options)
        state.core = await asyncio.to_thread(
            Session, self.settings, path, emit=state.emit, approver=state.approve
        )
        self.sessions[state.id] = state
        if (options.memory or options.learn) and state.core.policy != "off":
            self._pool()
        self._keep(asyncio.ensure_future(self._announce(state)))
        return NewSessionResponse(
            session_id=state.id,
            modes=SessionModeState(
                available_modes=MODES, current_mode_id=YOLO if options.yes else ASK
            ),
        )

    async def _announce(self, state: AcpSession) -> None:
        """After session/new has been answered: the slash commands."""
        with contextlib.suppress(ConnectionError):
            await self.client.session_update(
                session_id=state.id, update=update_available_commands(COMMANDS)
            )

    async def set_session_mode(
        self, mode_id: str, session_id: str, **_: Any
    ) -> SetSessionModeResponse:
        state = self._session(session_id)
        if mode_id not in (ASK, YOLO):
            raise RequestError.invalid_params({"details": f"unknown mode {mode_id!r}"})
        state.options.yes = mode_id == YOLO
        return SetSessionModeResponse()

    def _session(self, session_id: str) -> AcpSession:
        state = self.sessions.get(session_id)
        if state is None:
            raise RequestError.invalid_params({"details": f"no session {session_id!r}"})
        return state

    async def cancel(self, session_id: str, **_: Any) -> None:
        state = self.sessions.get(session_id)
        if state is not None and state.core is not None and state.turn is not None:
            state.core.interrupt()  # the running command's whole process group is killed

    async def prompt(self, prompt: list[Any], session_id: str, **_: Any) -> PromptResponse:
        state = self._session(session_id)
        if state.turn is not None:
            raise RequestError.invalid_request({"details": "a turn is already running"})
        assert state.core is not None
        core = state.core
        core.cancel.clear()
        turn = state.turn = Turn(next(state.turns))
        pump = asyncio.ensure_future(state.pump(turn))
        text = prompt_text(prompt)
        meta: dict[str, Any] = {}
        stop = "end_turn"
        try:
            if text.split()[:1] == ["/undo"]:
                stop, meta = await self._undo(state, text)
            elif not text:
                state.say("The prompt has no text: nothing to do.")
            elif problem := core.model_problem():
                state.say(problem)
                meta = {"error": problem}
            else:
                summary = await self._run(state, text)
                meta = {"summary": summary.to_dict()}
                stop = _STOP.get(summary.status, "end_turn")
                if core.cancel.is_set():
                    stop = "cancelled"
        except MtlError as exc:
            state.say(f"\n\nError: {safe_message(str(exc))}\n")
            meta = {"error": safe_message(str(exc))}
        except Exception as exc:  # the client gets one line, the log the rest
            log.error("turn failed: %s", describe_exception(exc))
            state.say(f"\n\nInternal error: {describe_exception(exc)}\n")
            meta = {"error": describe_exception(exc)}
        finally:
            await turn.queue.join()
            pump.cancel()
            state.turn = None
        return PromptResponse(stop_reason=stop, field_meta={"mtl": meta} if meta else None)

    async def _run(self, state: AcpSession, text: str) -> RunSummary:
        core = state.core
        assert core is not None
        if core.policy == "off":  # `git config mtl.memory off`: the pool stays closed
            if not state.told_memory_off:
                state.say(MEMORY_OFF)
                state.told_memory_off = True
        elif state.options.memory or state.options.learn:
            if not self._pool().done():
                state.think("Loading the memory pool and its embedding model…\n")
            store, problem = await self._pool()
            if problem and core.store is None:
                state.say(f"Warning: {problem}\n\n")
            if store is not None and await asyncio.to_thread(packs.should_offer_starter, store):
                state.think(starter_hint())
            core.store = store
            if core.policy == "project" and not state.told_view:
                state.say(f"{core.view_text}\n\n")
                state.told_view = True
        summary = await asyncio.to_thread(state.work, text)
        line = f"{summary.status} after {plural(summary.steps, 'step')}, ${summary.cost:.4f}"
        if summary.outcome != "unknown":
            line += f"; outcome {summary.outcome} (by {summary.outcome_source})"
        if summary.learned:
            line += "; " + summary.learned_line()
        state.say(f"\n\n{line}.\n")
        return summary

    async def _undo(self, state: AcpSession, text: str) -> tuple[str, dict[str, Any]]:
        core = state.core
        assert core is not None
        force = "force" in text.split()[1:]
        if core.repo is None:
            state.say(f"{core.cwd} is not inside a git repository: nothing to undo.")
            return "refusal", {"undo": {"done": False, "error": "not a git repository"}}
        repo = core.repo
        try:
            result = await asyncio.to_thread(repo.undo, force)
        except MtlError as exc:
            state.say(f"Nothing was restored: {exc}. (`/undo force` restores anyway.)")
            return "refusal", {"undo": {"done": False, "error": str(exc)}}
        counts = f"{plural(len(result.restored), 'file')} restored, {len(result.removed)} removed"
        undo = {"done": True, "restored": result.restored, "removed": result.removed,
                "complete": result.complete,
                "not_restored": [str(d) for d in result.not_restored]}  # fmt: skip
        if not result.complete:  # never claim more than undo did
            missed = "\n".join(f"- {d}" for d in result.not_restored)
            state.say(
                f"Partly restored {repo.name} ({counts}). NOT restored, still as the run left "
                f"them:\n{missed}\nThe run stays recorded: /undo tries again once these are "
                "dealt with (/undo force if files changed since)."
            )
            return "end_turn", {"undo": undo}
        state.say(f"Restored {repo.name} to its state before the last run ({counts}).")
        return "end_turn", {"undo": undo}
