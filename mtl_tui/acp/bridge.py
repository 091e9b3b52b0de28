"""Between a core session's worker thread and the event loop: its events go out as
session updates in order, its commands wait on the client's permission answer."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING

from acp import RequestError, update_agent_message_text, update_agent_thought_text
from acp.schema import DeniedOutcome, PermissionOption, ToolCallUpdate

from mtl_tui import events as ev
from mtl_tui.acp.translate import TurnTranslator, Update, command_title
from mtl_tui.agent.loop import Decision
from mtl_tui.scrub import describe_exception
from mtl_tui.session import RunSummary, Session, accepted_by_default

if TYPE_CHECKING:
    from mtl_tui.acp.agent import AcpOptions, MtlAgent

log = logging.getLogger("mtl.acp")

ALLOW, ALLOW_TURN, REJECT = "allow", "allow_turn", "reject"
PERMISSION_OPTIONS = [
    PermissionOption(option_id=ALLOW, name="Allow", kind="allow_once"),
    PermissionOption(
        option_id=ALLOW_TURN,
        name="Allow the rest of this turn (destructive commands still ask)",
        kind="allow_always",
    ),
    PermissionOption(option_id=REJECT, name="Reject", kind="reject_once"),
]
_POLL = 0.2  # seconds a waiting worker thread checks for cancel


class Turn:
    def __init__(self, number: int) -> None:
        self.translator = TurnTranslator(number)
        self.queue: asyncio.Queue[Update] = asyncio.Queue()


class AcpSession:
    """One ACP session: the core session plus the bridges between its worker thread and
    the event loop (events out, permission questions in)."""

    def __init__(self, agent: MtlAgent, session_id: str, options: AcpOptions) -> None:
        self.agent = agent
        self.id = session_id
        self.options = options
        self.core: Session | None = None
        self.turn: Turn | None = None
        self.turns = itertools.count(1)
        self.told_memory_off = False  # said once per session
        self.told_view = False  # `mtl.memory project`: global memories excluded, said once

    # -- called on the worker thread ------------------------------------------------------

    def emit(self, event: ev.Event) -> None:
        self.agent.call_soon(self._on_event, event)

    def approve(self, command: str) -> Decision:
        core, turn = self.core, self.turn
        assert core is not None and turn is not None
        if core.cancel.is_set():
            return Decision("reject", reason="interrupted by the user")
        if self.options.yes:
            return Decision("run")
        future = asyncio.run_coroutine_threadsafe(self._ask(turn, command), self.agent.loop)
        while True:
            try:
                return future.result(timeout=_POLL)
            except TimeoutError:
                if core.cancel.is_set():
                    future.cancel()
                    return Decision("reject", reason="interrupted by the user")

    def work(self, task: str) -> RunSummary:
        core = self.core
        assert core is not None
        use_memory = self.options.memory and core.store is not None
        hits = core.retrieve(task) if use_memory else []
        accepted = accepted_by_default(hits, self.options.trust_imported)
        return core.run(task, hits, accepted, verify=self.options.verify,
                        learn=self.options.learn)  # fmt: skip

    # -- on the event loop ----------------------------------------------------------------

    def _on_event(self, event: ev.Event) -> None:
        if self.turn is not None:
            for update in self.turn.translator(event):
                self.turn.queue.put_nowait(update)

    def say(self, text: str) -> None:
        if self.turn is not None:
            self.turn.queue.put_nowait(Update(update_agent_message_text(text)))

    def think(self, text: str) -> None:
        if self.turn is not None:
            self.turn.queue.put_nowait(Update(update_agent_thought_text(text)))

    async def _ask(self, turn: Turn, command: str) -> Decision:
        await turn.queue.join()  # the client has the tool call before the question
        assert turn.translator.tool_id is not None and self.core is not None
        tool_call = ToolCallUpdate(
            tool_call_id=turn.translator.tool_id,
            title=command_title(command),
            kind="execute",
            status="pending",
            raw_input={"command": command},
        )
        try:
            response = await self.agent.client.request_permission(
                session_id=self.id, tool_call=tool_call, options=PERMISSION_OPTIONS
            )
        except (ConnectionError, RequestError) as exc:
            self.core.cancel.set()
            return Decision("reject", reason=f"the client did not answer: {exc}")
        outcome = response.outcome
        if isinstance(outcome, DeniedOutcome):
            return Decision("reject", reason="cancelled by the user")
        if outcome.option_id in (ALLOW, ALLOW_TURN):
            if outcome.option_id == ALLOW_TURN:
                # The core's policy: auto for this run only, destructive commands still ask.
                self.core.approval.set_auto("run")
            return Decision("run")
        meta = {**(response.field_meta or {}), **(outcome.field_meta or {})}
        reason = meta.get("reason")
        return Decision("reject", reason=reason if isinstance(reason, str) else "")

    async def pump(self, turn: Turn) -> None:
        """Sends the turn's updates in order; live output superseded by newer output of
        the same command while the client was busy is skipped."""
        while True:
            batch = [await turn.queue.get()]
            while not turn.queue.empty():
                batch.append(turn.queue.get_nowait())
            for i, item in enumerate(batch):
                later = batch[i + 1 :]
                try:
                    if not (item.coalesce and any(u.coalesce == item.coalesce for u in later)):
                        await self.agent.client.session_update(session_id=self.id,
                                                               update=item.value)  # fmt: skip
                except ConnectionError:
                    if self.core is not None:
                        self.core.cancel.set()  # nobody is watching: stop the run
                except Exception as exc:  # one bad update must not stall the turn
                    log.error("could not send a session update: %s", describe_exception(exc))
                finally:
                    turn.queue.task_done()
