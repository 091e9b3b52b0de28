"""`mtl` in any repository: the Textual app around the core session.

The first frame never waits for litellm or the embedding model: a background thread, started
before the screen is composed, opens the pool and loads them while the user types (the panel
follows as soon as the embedding model is in, litellm comes after); a task submitted
meanwhile starts once both are ready. Quitting never waits for that thread: it is a daemon,
abandoned at exit."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import ListView, Static

from mtl_tui import events as ev
from mtl_tui import paths
from mtl_tui.agent.loop import Decision
from mtl_tui.agent.model import SCRIPTED_PREFIX, import_litellm
from mtl_tui.config import Settings, save_setting
from mtl_tui.errors import MtlError
from mtl_tui.memory.preload import embedder_for
from mtl_tui.memory.rank import Hit
from mtl_tui.memory.retrieve import LeftOut, Retrieval
from mtl_tui.memory.scope import pool_policy, view_for, view_text
from mtl_tui.memory.starter import should_offer_starter, starter_size
from mtl_tui.memory.store import MemoryStore
from mtl_tui.records import Memory
from mtl_tui.repo.git import UndoError
from mtl_tui.selection import SelectionCount
from mtl_tui.session import RunSummary, Session, accepted_by_default
from mtl_tui.text import plural
from mtl_tui.ui.footer import NARROW, FittingFooter
from mtl_tui.ui.screens import (
    ConfirmScreen,
    EditMemoryScreen,
    ExportScreen,
    MemoryBrowser,
    MemoryDetail,
    TextScreen,
)
from mtl_tui.ui.themes import DEFAULT_THEME, load_themes
from mtl_tui.ui.widgets import (
    AnswerBar,
    ApprovalBar,
    Conversation,
    Dock,
    InsightsPanel,
    PromptArea,
    ReviewList,
    StatusLine,
    leave_dock,
)

DOUBLE_PRESS = 2.0  # seconds within which a second esc / ctrl+c counts
# Pause after the last key before the panel retrieves: one query costs ~10 ms of
# embedding, so the pause only keeps the list from flickering while a word is typed.
RETRIEVE_DEBOUNCE = 0.2


def _same_listing(panel: InsightsPanel, hits: list[Hit], text: str, found: Retrieval) -> bool:
    def shown(listed: list[Hit]) -> list[tuple[Any, ...]]:
        return [
            (h.memory.id, h.relevance, h.memory.title, h.memory.up, h.memory.down, h.conflict)
            for h in listed
        ]

    return (
        panel.query_text == text
        and shown(panel.hits) == shown(hits)
        and shown(panel.below) == shown(found.below)
        and [o.hit.memory.id for o in panel.left_out] == [o.hit.memory.id for o in found.left_out]
        and (panel.floor, panel.cut) == (found.floor, found.cut)
        and panel.screen_note == found.screen_note
    )


def model_label(name: str | None) -> str:
    if not name:
        return "no model"
    if name.startswith(SCRIPTED_PREFIX):
        return SCRIPTED_PREFIX + Path(name.removeprefix(SCRIPTED_PREFIX)).name
    return name


def _safe(exc: BaseException) -> str:
    """An exception's message with its secrets scrubbed, for the screen."""
    from mtl_tui.scrub import safe_message

    return safe_message(str(exc))


IDLE_PROMPT = "Describe a task · enter runs it · ctrl+j newline"


def busy_prompt(doing: str = "") -> str:
    """The disabled prompt during a run: what the run is doing now, short enough for the
    prompt's width at 80x24 (about 70 columns)."""
    what = doing[:1].upper() + doing[1:] if doing else "A run is in progress"
    return f"{what} · esc twice interrupts"


BUSY_PROMPT = busy_prompt("answer the question above")  # only while a question is shown
WAITING_PROMPT = busy_prompt("waiting for the model")


class MainScreen(Screen[None]):
    """The main screen. Tab goes from the question or the prompt to the insights panel,
    then the conversation's folded outputs (their place on screen would put the
    conversation first, so a tab after a run crossed every output before the panel)."""

    def __init__(self) -> None:
        super().__init__(id="_default")

    @property
    def focus_chain(self) -> list[Widget]:
        chain = super().focus_chain  # visible, enabled widgets only

        def rank(widget: Widget) -> int:
            for index, where in enumerate(("#dock", "#prompt", "#insights", "#conversation")):
                node = self.query_one(where)
                if widget is node or node in widget.ancestors:
                    return index
            return len(chain)

        return sorted(chain, key=rank)  # stable: the order within each part stays

    def on_key(self, event: events.Key) -> None:
        """A question's own key, pressed while the focus is elsewhere (the panel, an
        output) and nothing there took it, still answers the question waiting in the
        dock: the focus goes back to it and the key follows."""
        pending = [q for q in self.query("#dock > *") if not getattr(q, "answered", True)]
        if not pending or pending[-1].has_focus_within or pending[-1].has_focus:
            return
        question = pending[-1]
        key = event.character if event.character and event.character.isprintable() else event.key
        if isinstance(question, AnswerBar) and question.takes(key):
            event.stop()
            question.focus()
            question.answer_key(key)
        elif isinstance(question, ReviewList) and key in ReviewList.KEYS:
            event.stop()
            question.query_one(ListView).focus()
            self.app.simulate_key(event.key)


class MtlApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "mtl"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW, "-wide")]
    BINDINGS = [
        Binding("f2", "browser", "Memories", id="browser"),
        Binding("escape", "interrupt", "Interrupt", id="interrupt"),
        Binding("ctrl+g", "diff", "Diff", id="diff", priority=True),
        Binding("ctrl+z", "undo", "Undo run", id="undo", priority=True),
        # The same key while undo cannot run: it says why, from any focus (never silent).
        Binding("ctrl+z", "undo_why", id="undo_why", priority=True, show=False),
        Binding("ctrl+t", "toggle_auto", "Auto", id="auto", priority=True),
        Binding("ctrl+b", "toggle_insights", "Insights", id="insights", priority=True),
        Binding("ctrl+e", "export", "Export", id="export", priority=True, show=False),
        Binding("ctrl+c", "quit_twice", "Quit", id="quit", priority=True),
    ]

    def __init__(
        self,
        settings: Settings,
        cwd: Path,
        task: str | None = None,
        yolo: bool = False,
        theme: str | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.cwd = cwd
        self.initial_task = task
        self.yolo = yolo
        self.requested_theme = theme
        self.session: Session | None = None
        self.store: MemoryStore | None = None
        self.ready = False
        self.memory_ready = False
        self.running = False
        self.pending_task: str | None = None
        self._waiting: tuple[queue.Queue[object], object] | None = None
        self._last_press: dict[str, float] = {}
        self._retrieve_timer: Any = None
        self._theme_errors: list[str] = []
        self._saving_theme = False
        self.last_summary: RunSummary | None = None
        self._step = 0
        self._destructive = ""  # why the next question asks even in auto mode
        self._diff_ready = False
        self._undo_ready = False
        self._mounted = False  # until then the loader's results wait in `_early`
        self._early: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []
        self._handover = threading.Lock()

    # -- start-up -----------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        return MainScreen()

    @property
    def main_screen(self) -> Screen[Any]:
        """The screen with the prompt, the panel and the conversation, also while the palette,
        a dialog or the browser is on top of it: App.query_one looks only at the top screen,
        and a timer or a worker finishing under the palette crashed the app."""
        return self.screen_stack[0] if self.screen_stack else self.screen

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Horizontal(id="main"):
            yield Conversation(id="conversation")
            yield InsightsPanel(id="insights")
        yield Static("", id="insights-line")
        yield Dock(id="dock")  # the question waiting for an answer, always in view
        yield PromptArea(id="prompt", placeholder=IDLE_PROMPT)
        yield FittingFooter()

    def on_load(self) -> None:
        # Before compose and the first frame: the pool, the repository and the (preloaded)
        # embedding model are being readied while the screen is built.
        threading.Thread(target=self._load_runtime, name="mtl-runtime", daemon=True).start()

    def on_mount(self) -> None:
        loaded = load_themes()
        for theme in loaded.themes:
            self.register_theme(theme)
        self._theme_errors = loaded.errors
        for error in loaded.errors:
            self.notify(error, title="Theme not loaded", severity="error", timeout=10)
        self._apply_theme(self.requested_theme or self.settings.theme)
        self._saving_theme = True
        if keymap := dict(self.settings.keymap or {}):
            if "undo" in keymap:
                keymap.setdefault("undo_why", keymap["undo"])
            self.set_keymap(keymap)
        status = self.main_screen.query_one(StatusLine)
        status.model = model_label(self.settings.model)
        status.repo = self.cwd.name
        prompt = self.main_screen.query_one(PromptArea)
        if self.initial_task:
            prompt.text = self.initial_task
            self.pending_task = self.initial_task
        prompt.focus()
        self._update_insights_line()
        if report := os.environ.get("MTL_FIRST_FRAME_REPORT"):  # tests/bench_tui.py
            self.call_after_refresh(self._report_first_frame, Path(report))
        with self._handover:
            self._mounted, early = True, self._early
        for callback, args, kwargs in early:
            callback(*args, **kwargs)

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._keep_focus_in_view)
        self.call_after_refresh(self._update_insights_line)

    def _keep_focus_in_view(self) -> None:
        """The panel or the conversation folded away with the focus in it (Textual then
        focuses nothing, or keeps an unseen widget): the prompt takes the focus."""
        screen = self.screen_stack[0]
        if self.screen is screen and screen.focused not in screen.focus_chain:
            self.main_screen.query_one(PromptArea).focus()

    def _report_first_frame(self, path: Path) -> None:
        path.write_text(f"{time.time()}\n")
        self.exit()

    def _apply_theme(self, name: str) -> None:
        if name in self.available_themes:
            self.theme = name
            return
        self.notify(f"No theme named '{name}': using {DEFAULT_THEME}", severity="warning")
        self.theme = DEFAULT_THEME

    def watch_theme(self, name: str) -> None:
        if self._saving_theme and name != self.settings.theme:
            try:
                save_setting("theme", name)
                self.settings.theme = name
            except MtlError as exc:
                self.notify(str(exc), severity="error")

    def _from_loader(self, callback: Any, *args: Any, **kwargs: Any) -> None:
        """Hand a result to the app (kept until it is mounted), unless it has already quit
        (the loader is abandoned)."""
        with self._handover:
            if not self._mounted:
                self._early.append((callback, args, kwargs))
                return
        if self.is_running:
            with contextlib.suppress(RuntimeError):  # it closed between check and call
                self.call_from_thread(callback, *args, **kwargs)

    def _load_runtime(self) -> None:
        """Open the pool, find the repository, then load the slow libraries (in a daemon
        thread, not a worker: Textual's thread pool is joined at exit, this is not)."""
        try:
            self._load_runtime_steps()
        except Exception as exc:  # reported in the app, never as a traceback
            self._from_loader(self._error, f"loading failed: {_safe(exc)}")

    def _load_runtime_steps(self) -> None:
        store: MemoryStore | None = None
        try:
            if pool_policy(self.cwd) == "off":
                self._from_loader(
                    self.notify, "memory off for this repository (git config mtl.memory off)"
                )
            else:
                store = MemoryStore.open(
                    notice=lambda message: self._from_loader(self.notify, message)
                )
                if (policy := pool_policy(self.cwd)) == "project":  # global ones are out
                    _, _, identity = view_for(self.cwd, self.settings)
                    self._from_loader(self.notify, view_text(policy, identity))
                count = store.count()
                self._from_loader(self._set_status, pool=count)
                if should_offer_starter(store):
                    self._from_loader(self._offer_starter)
        except MtlError as exc:
            self._from_loader(self._error, f"memory pool unavailable: {_safe(exc)}")
        session = Session(
            self.settings,
            self.cwd,
            emit=self._emit,
            approver=self._approve,
            store=store,
            yes=self.yolo,
        )
        self._from_loader(self._session_ready, session)
        if store is not None:
            embedder = embedder_for(
                self.settings.embedding_model,
                lambda message: self._from_loader(self.notify, message, timeout=10),
            )
            try:
                store.check_embedder(embedder.name)
                embedder.load()
                store.embedder = embedder
            except MtlError as exc:
                self._from_loader(self._error, f"memory disabled: {_safe(exc)}")
                session.store = None
        self.store = store if session.store is not None else None
        self._from_loader(self._memory_ready)
        model = self.settings.model or ""
        if model and not model.startswith(SCRIPTED_PREFIX):
            import_litellm()
        self._from_loader(self._runtime_ready)

    def _offer_starter(self) -> None:
        box: queue.Queue[object] = queue.Queue(maxsize=1)
        keys = {"i": lambda: "import", "n": lambda: "not now"}
        offer = AnswerBar(
            f"Your memory pool is empty. Import the starter pack of {starter_size()} "
            "general lessons "
            "(validation, workflows, guardrails)?  [b]i[/] import · [b]n[/] not now "
            "(later: mtl pack import --starter)",
            box,
            keys,
            # It comes while the user may be typing a task: their keys stay in the prompt.
            unasked="To answer: shift+tab or a click here, then i or n",
        )
        offer.add_class("offer")
        self.main_screen.query_one("#dock").mount(offer)

        def answered() -> None:
            if box.empty():
                self.set_timer(0.2, answered)
            elif box.get() == "import":
                self._import_starter()

        self.set_timer(0.2, answered)

    @work(thread=True, group="starter")
    def _import_starter(self) -> None:
        while self.store is None or self.store.embedder is None:  # the model is loading
            if not self.is_running:
                return
            time.sleep(0.1)
        from mtl_tui.memory import packs  # pydantic: not before the first frame

        report = packs.import_starter(self.store)
        self.call_from_thread(self._starter_imported, len(report.added))

    def _starter_imported(self, added: int) -> None:
        self.main_screen.query_one(Conversation).add_note(
            f"Imported the starter pack: {plural(added, 'insight')}."
        )
        if self.store is not None:
            self._set_status(pool=self.store.count())
        self._schedule_retrieval()

    def _session_ready(self, session: Session) -> None:
        self.session = session
        self._set_status(repo=session.repo_name, branch=session.repo.branch if session.repo else "")
        self._undo_ready = session.repo is not None and session.repo.can_undo()
        self._show_auto()

    def _memory_ready(self) -> None:
        """The panel can follow the prompt now, before litellm is in."""
        self.memory_ready = True
        self._schedule_retrieval()

    def _runtime_ready(self) -> None:
        self.ready = True
        self._set_status(state="ready" if self.store else "ready (no memory)")
        if self.pending_task:
            task, self.pending_task = self.pending_task, None
            self._start(task)

    def _set_status(self, **values: Any) -> None:
        status = self.main_screen.query_one(StatusLine)
        for key, value in values.items():
            setattr(status, key, value)
        self.refresh_bindings()

    def _show_auto(self) -> None:
        if self.session is not None:
            self._set_status(auto=self.session.approval.label)

    def _error(self, message: str) -> None:
        self.notify(message, severity="error", timeout=10)
        self.main_screen.query_one(Conversation).add_note(message, "error")

    # -- retrieval follows the prompt -----------------------------------------------------

    @on(PromptArea.Changed)
    def _prompt_changed(self) -> None:
        if not self.running:
            self._schedule_retrieval()

    def _schedule_retrieval(self) -> None:
        if self._retrieve_timer is not None:
            self._retrieve_timer.stop()
        self._retrieve_timer = self.set_timer(RETRIEVE_DEBOUNCE, self._retrieve_now)

    def _retrieve_now(self) -> None:
        if not self.is_running or not self.screen_stack:  # the app is closing
            return
        text = self.main_screen.query_one(PromptArea).text.strip()
        if self.running:  # the panel shows the run's own retrieval; the prompt was cleared
            return
        if not self.memory_ready or self.session is None or self.session.store is None:
            return
        if not text:
            self._show_hits([], "")
            return
        self._retrieve(text)

    @work(thread=True, exclusive=True, group="retrieve")
    def _retrieve(self, text: str) -> None:
        assert self.session is not None
        # a preview: one model call per task (at the start), not one per keystroke
        found = self.session.retrieval(text, mode="task", screen=False)
        self.call_from_thread(self._show_hits, found.hits, text, found)

    def _show_hits(self, hits: list[Hit], text: str, found: Retrieval | None = None) -> None:
        panel = self.main_screen.query_one(InsightsPanel)
        if found is not None and _same_listing(panel, hits, text, found):
            return  # a repeated retrieval (the model came in while typing): keep the cursor
        if found is None:
            panel.show(hits, text)
        else:
            panel.show(hits, text, below=found.below, left_out=found.left_out,
                       floor=found.floor, cut=found.cut, screen_note=found.screen_note,
                       screened=found.screened)  # fmt: skip
        self._update_insights_line()

    def _update_insights_line(self) -> None:
        """The panel's count and the folded line's: one count (selection.py), one text."""
        if not self.screen_stack:  # closing
            return
        panel = self.main_screen.query_one(InsightsPanel)
        accepted = panel.accepted_hits()
        over: list[LeftOut] = self.session.fit_budget(accepted)[1] if self.session else []
        panel.mark_over_budget({o.hit.memory.id or -1: o.detail for o in over})
        count = SelectionCount(
            query=panel.query_text,
            retrieved=sum(not item.below_floor for item in panel.items),
            accepted=len(accepted),
            held_back=len(panel.below) + len(panel.left_out),
            over_budget=len(over),
        )
        panel.show_count(count)
        shown = "hide" if self.screen_stack[0].has_class("-toggled") else "show"
        line = "Insights: " + count.line()
        toggle = f" · ctrl+b {shown}"  # the footer has it too: it goes first when narrow
        if cell_len(line + toggle) <= self.size.width - 2:  # 2: the line's padding
            line += toggle
        self.main_screen.query_one("#insights-line", Static).update(line)

    # -- the insights panel ---------------------------------------------------------------

    @on(InsightsPanel.Changed)
    def _panel_changed(self, event: InsightsPanel.Changed) -> None:
        memory = event.item.hit.memory
        self._update_insights_line()
        if memory.id is None:
            return
        if event.action in ("up", "down") and self.store is not None:
            event.item.hit.memory = self.store.vote(memory.id, event.action == "up")
            event.item.refresh_view()
        elif event.action == "reject" and self.running and self.session is not None:
            self.session.disregard(memory.id)
            if event.item.label:  # one the agent got
                self.main_screen.query_one(Conversation).add_note(
                    f"told the agent to disregard [{event.item.label}]"
                )

    @on(InsightsPanel.Details)
    def _details(self, event: InsightsPanel.Details) -> None:
        self.push_screen(MemoryDetail(event.memory, why=event.why))

    # -- running a task -------------------------------------------------------------------

    @on(PromptArea.Submitted)
    def _submitted(self, event: PromptArea.Submitted) -> None:
        text = event.text.strip()
        if not text:
            return
        if self.running:
            self.notify("A run is in progress: esc twice interrupts it.")
            return
        if not self.ready:
            self.pending_task = text
            self.main_screen.query_one(Conversation).add_note(
                "Models are still loading: the task starts as soon as they are ready."
            )
            return
        self._start(text)

    def _start(self, text: str) -> None:
        assert self.session is not None
        problem = self.session.model_problem()
        conversation = self.main_screen.query_one(Conversation)
        if problem:
            conversation.add_note(problem, "error")
            return
        panel = self.main_screen.query_one(InsightsPanel)
        prompt = self.main_screen.query_one(PromptArea)
        if self._retrieve_timer is not None:
            self._retrieve_timer.stop()
        prompt.text = ""
        conversation.add_task(text)
        current = panel.query_text == text
        retrieved = panel.hits if current else None
        accepted = panel.accepted_hits() if current else None
        panel.set_run_labels({})  # the run's own, once the core says what it gave
        self._set_running(True)
        self._diff_ready = False
        self._set_status(state="running", step=0, cost=0.0)
        self._run(text, retrieved, accepted)

    @work(thread=True, exclusive=True, group="run")
    def _run(self, text: str, retrieved: list[Hit] | None, accepted: list[Hit] | None) -> None:
        assert self.session is not None
        session = self.session
        session.cancel.clear()
        try:
            if session.settings.memory.screen and session.store is not None:
                # the model screens the candidates now; the panel shows its picks, keeping
                # the user's accepts and rejects of the preview
                found = session.retrieval(text)
                retrieved, accepted = self.call_from_thread(self._show_screened, text, found)
            elif retrieved is None:  # the panel had not caught up with this text
                found = session.retrieval(text)
                retrieved = found.hits
                accepted = accepted_by_default(retrieved)
                self.call_from_thread(self._show_hits, retrieved, text, found)
            summary = session.run(
                text, retrieved, accepted or [], verdict=self._ask_verdict, review=self._review
            )
        except MtlError as exc:
            self.call_from_thread(self._error, str(exc))
            summary = None
        self.call_from_thread(self._finished, summary)

    def _show_screened(self, text: str, found: Retrieval) -> tuple[list[Hit], list[Hit]]:
        """Shows the screened retrieval; (what the run retrieved, what it accepted)."""
        self._show_hits(found.hits, text, found)
        panel = self.main_screen.query_one(InsightsPanel)
        return panel.hits, panel.accepted_hits()

    def _set_running(self, running: bool) -> None:
        """While a run is active the prompt takes no keys (they would start nothing, or
        were meant for the question): disabled, out of the tab order, and saying why."""
        self.running = running
        prompt = self.main_screen.query_one(PromptArea)
        if running and prompt.has_focus:
            self.screen.set_focus(None)  # not to a neighbour: a key for the question
        prompt.disabled = running
        prompt.placeholder = busy_prompt() if running else IDLE_PROMPT

    def _doing(self, placeholder: str) -> None:
        """What the disabled prompt says the run is doing (never a question not shown)."""
        if self.running:
            self.main_screen.query_one(PromptArea).placeholder = placeholder

    def _finished(self, summary: RunSummary | None) -> None:
        panel = self.main_screen.query_one(InsightsPanel)
        panel.set_run_labels(None)
        panel.chosen.clear()  # the next task starts from the defaults
        self._set_running(False)
        self._waiting = None
        self.last_summary = summary
        self._clear_dock("interrupted")
        conversation = self.main_screen.query_one(Conversation)
        conversation.end_output()
        state = summary.status if summary else "error"
        self._undo_ready = bool(summary and summary.undo_available)
        self._set_status(state=state)
        self._show_auto()
        if summary is not None:
            conversation.add_note(
                f"{summary.status} after {plural(summary.steps, 'step')} · ${summary.cost:.4f} · "
                f"outcome {summary.outcome}"
                + (f" · {summary.learned_line()}" if summary.learned else ""),
                "info" if summary.completed else "warning",
            )
        if self.store is not None:
            self._set_status(pool=self.store.count())
        self.main_screen.query_one(PromptArea).focus()

    # -- events from the worker thread ------------------------------------------------------

    def _emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.CommandOutput):  # many small chunks: no round trip each
            self.main_screen.query_one(Conversation).feed_output(event.text)
            return
        self.call_from_thread(self._on_event, event)

    def _on_event(self, event: ev.Event) -> None:
        conversation = self.main_screen.query_one(Conversation)
        match event:
            case ev.StepStarted(step=step):
                self._set_status(step=step, state="running")
                self._doing(WAITING_PROMPT)
                conversation.start_reply()
            case ev.ModelToken(text=text):
                conversation.add_token(text)
            case ev.ModelReplied(content=content, total_cost=total):
                conversation.finish_reply(content)
                self._set_status(cost=total)
                self._doing(busy_prompt())
            case ev.CommandProposed(step=step, command=command):
                self._step, self._destructive = step, ""
                conversation.add_command(step, command)
            case ev.ApprovalNeeded(reason=reason):
                self._destructive = reason
            case ev.CommandStarted(step=step):
                conversation.start_output(step)
                self._doing(busy_prompt(f"running the command of step {step}"))
            case ev.CommandFinished(output=out, returncode=code, duration=secs, timed_out=late):
                conversation.add_output(out, code, secs, late)
                self._doing(busy_prompt())
            case ev.FormatError(blocks=blocks):
                conversation.add_note(
                    f"reply had {plural(blocks, 'bash block')} instead of one", "warning"
                )
            case ev.DiffReady(stat=stat):
                self._diff_ready = bool(stat.strip())
                self.refresh_bindings()
                conversation.add_diff(stat)
            case ev.MemoriesRetrieved(memories=shown):
                labels = {m.id: m.label for m in shown if m.id is not None and m.label}
                self.main_screen.query_one(InsightsPanel).set_run_labels(labels)
            case ev.ModelRetrying(message=message, level=level, attempt=attempt):
                conversation.add_note(message, level)
                self._doing(busy_prompt(f"waiting for the model (retry {attempt})"))
            case ev.Notice(message=message, level=level):
                conversation.add_note(message, level)
            case ev.RunFinished(status=status, message=message) if status != "completed":
                conversation.add_note(f"{status}: {message}", "warning")
            case _:
                pass

    # -- questions the worker thread waits on ---------------------------------------------

    def _ask(self, make_bar: Any, default: object) -> Any:
        """Show an inline question and block the worker thread until it is answered
        (or the run is interrupted, which answers `default`)."""
        box: queue.Queue[object] = queue.Queue(maxsize=1)
        self._waiting = (box, default)

        def show() -> None:
            self.main_screen.query_one("#dock").mount(make_bar(box))
            self._doing(BUSY_PROMPT)

        self.call_from_thread(show)
        try:
            while True:
                try:
                    return box.get(timeout=0.25)
                except queue.Empty:
                    cancelled = self.session is not None and self.session.cancel.is_set()
                    if cancelled or not self.is_running:
                        return default
        finally:
            self._waiting = None
            with contextlib.suppress(RuntimeError):  # the app has closed
                self.call_from_thread(self._doing, busy_prompt())

    def _approve(self, command: str) -> Decision:
        """Asked only when the session's approval policy says so."""
        step, destructive = self._step, self._destructive

        def auto_for_this_run() -> None:
            if self.session is not None:
                self.session.approval.set_auto("run")
                self._show_auto()

        return self._ask(
            lambda box: ApprovalBar(command, box, auto_for_this_run, step, destructive),
            Decision("reject", reason="interrupted by the user"),
        )

    def _ask_verdict(self) -> str | None:
        def diff() -> None:
            self.action_diff()

        keys = {"y": lambda: "success", "n": lambda: "failure", "s": lambda: "skip", "d": diff}
        question = "Did it succeed?  [b]y[/] yes · [b]n[/] no · [b]s[/] skip (a judge decides)"
        if self._diff_ready:
            question += " · [b]d[/] full diff"
        answer = self._ask(lambda box: AnswerBar(question, box, keys), "skip")
        return answer if answer in ("success", "failure") else None

    def _review(self, memories: list[Memory]) -> list[Memory]:
        if not memories:
            return []
        return self._ask(lambda box: ReviewList(memories, box, self._edit_memory), [])

    def _edit_memory(self, memory: Memory, done: Any) -> None:
        self.push_screen(EditMemoryScreen(memory), done)

    def leave(self) -> None:
        """After run(): end the process now, unless a run is still finishing (its snapshot and
        trajectory get written first). Skips the interpreter's teardown of ONNX Runtime,
        Textual and the rest (seconds on a busy machine) and the abandoned loader thread;
        what is stored is complete by then (SQLite commits, trajectories replaced whole)."""
        if self.running:
            return
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(self.return_code or 0)

    def on_unmount(self) -> None:
        """Leaving the app ends a run in progress: nothing waits on a closed screen."""
        if self._retrieve_timer is not None:
            self._retrieve_timer.stop()
        if self.session is not None:
            self.session.interrupt()

    # -- app-wide keys ----------------------------------------------------------------------

    def _pressed_twice(self, key: str) -> bool:
        now = time.monotonic()
        last = self._last_press.get(key, 0.0)
        self._last_press[key] = now
        return now - last <= DOUBLE_PRESS

    def action_interrupt(self) -> None:
        if not self.running or self.session is None:
            return
        if not self._pressed_twice("escape"):
            self.notify("Press esc again to interrupt the agent.", timeout=DOUBLE_PRESS)
            return
        self.session.interrupt()
        if self._waiting is not None:
            box, default = self._waiting
            if box.empty():
                box.put(default)
        self._clear_dock("interrupted")
        self.main_screen.query_one(Conversation).add_note("interrupting…", "warning")

    def _clear_dock(self, summary: str) -> None:
        """No question stays on screen, looking active, once nothing waits for it."""
        for bar in self.main_screen.query(AnswerBar):
            if not bar.answered and not bar.has_class("offer"):
                bar.answered = True
                leave_dock(bar, summary)
        for review in self.main_screen.query(ReviewList):
            review.cancel()

    def action_quit_twice(self) -> None:
        if self._pressed_twice("ctrl+c"):
            if self.session is not None:
                self.session.interrupt()
            if self._waiting is not None and self._waiting[0].empty():
                self._waiting[0].put(self._waiting[1])
            self.exit()
        else:
            self.notify("Press ctrl+c again to quit.", timeout=DOUBLE_PRESS)

    def action_browser(self) -> None:
        if self.store is None:
            self.notify("The memory pool is not loaded yet.", severity="warning")
            return
        languages = list(self.store.stats()["by_language"])
        key = self.session.identity.key if self.session is not None else None
        months = self.settings.memory.prune_unused_months
        self.push_screen(MemoryBrowser(self.store, languages, key, months))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer shows, and the keys run, only what works now."""
        match action:
            case "interrupt":
                return self.running
            case "diff":
                return self._diff_ready
            case "undo":
                return self._undo_ready and not self.running and self._on_main_screen()
            case "undo_why":  # a dialog keeps ctrl+z for its own text fields
                return self._on_main_screen()
            case "browser":  # not a second browser over the first
                return self.store is not None and not isinstance(self.screen, MemoryBrowser)
            case "export":
                return self.store is not None
            case "toggle_auto":
                return self.session is not None and not self.session.approval.yes
        return True

    def action_toggle_auto(self) -> None:
        """Auto-approval off if on (for the run or the session); else on for the session."""
        if self.session is None:
            return
        approval = self.session.approval
        approval.set_auto("off" if approval.auto != "off" else "session")
        self._show_auto()
        self.notify(
            "Auto-approval off: every command asks."
            if approval.auto == "off"
            else "Auto-approval on for this session (destructive commands still ask). "
            "ctrl+t turns it off."
        )

    def action_toggle_insights(self) -> None:
        self.screen_stack[0].toggle_class("-toggled")
        self._update_insights_line()
        self.call_after_refresh(self._keep_focus_in_view)

    def action_diff(self) -> None:
        if self.session is None:
            return
        diff = self.session.last_diff()
        if diff:
            self.push_screen(TextScreen("Changes of the last run", diff))
        else:
            self.notify("The last run changed nothing.")

    def _on_main_screen(self) -> bool:
        return self.screen is self.screen_stack[0]

    def action_undo_why(self) -> None:
        """ctrl+z while undo cannot run: say why instead of nothing."""
        self.action_undo()

    def action_undo(self) -> None:
        if self.running:
            self.notify(
                "A run is in progress: undo it once it ends (esc twice interrupts).",
                severity="warning",
            )
            return
        session = self.session
        if session is None:
            self.notify("Still loading: nothing to undo yet.", severity="warning")
            return
        if session.repo is None:
            self.notify("Not a git repository: mtl cannot undo here.", severity="warning")
            return
        if not session.repo.can_undo():
            self.notify("Nothing to undo: no run of mtl in this repository yet.",
                        severity="warning")  # fmt: skip
            return
        repo = session.repo

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            try:
                result = repo.undo()
            except UndoError as exc:
                self.notify(str(exc), severity="error", timeout=10)
                return
            self._diff_ready = False
            self._undo_ready = repo.can_undo()  # a partial undo keeps the run for a retry
            self.refresh_bindings()
            message = (
                f"Undone: {plural(len(result.restored), 'file')} restored, "
                f"{len(result.removed):,} removed."
            )
            if not result.complete:  # never claim more than undo did: every item, named
                names = "\n".join(f"  {d}" for d in result.not_restored)
                self.main_screen.query_one(Conversation).add_note(
                    f"Partly undone: {len(result.not_restored)} NOT restored, still as the run "
                    f"left them:\n{names}\nThe run stays recorded: once you have dealt with "
                    "these, ctrl+z tries again (mtl undo --force if files changed since).",
                    "error",
                )
                missed = result.not_restored
                first = "; ".join(str(d) for d in missed[:3])
                more = f" and {len(missed) - 3} more" if len(missed) > 3 else ""
                self.notify(f"Partly undone. NOT restored: {first}{more}", severity="error",
                            timeout=15)  # fmt: skip
                return
            self.main_screen.query_one(Conversation).add_note(message)
            self.notify(message)

        # what repo.undo() undoes, by when it started: a second ctrl+z reaches an older run
        started = datetime.fromtimestamp(repo.runs()[0].created)
        when = started.strftime("%H:%M" if started.date() == datetime.now().date() else
                                "%Y-%m-%d %H:%M")  # fmt: skip
        self.push_screen(ConfirmScreen(f"Undo the last recorded run (started {when}) and "
                                       "restore the files as they were?"), confirmed)  # fmt: skip

    def action_export(self, ids: Iterable[int] | None = None) -> None:
        if self.store is None:
            self.notify("The memory pool is not loaded yet.", severity="warning")
            return
        store = self.store
        chosen = list(ids) if ids else None
        stamp = datetime.now().strftime("%Y%m%d-%H%M")
        default = paths.data_dir() / "exports" / f"mtl-pack-{stamp}.json"  # never the repo
        hint = plural(len(chosen), "selected memory") if chosen else "the whole pool, by kind"

        def export(answer: dict[str, object] | None) -> None:
            if not answer:
                return
            path = Path(str(answer["path"])).expanduser()
            kind = answer.get("kind")
            from mtl_tui.memory import packs  # pydantic: loaded when first used

            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                selection = packs.select(store, kind=str(kind) if kind else None, ids=chosen)
                count = packs.export_json(store, path, selection.memories)
            except (MtlError, OSError) as exc:
                self.notify(f"export failed: {_safe(exc)}", severity="error")
                return
            left_out = selection.notice()
            self.notify(
                f"Exported {plural(count, 'memory')} to {path}"
                + (f"; {left_out}" if left_out else "")
            )

        self.push_screen(ExportScreen(default, hint), export)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Memory browser", "Browse, search and vote on memories (f2)",
                            self.action_browser)  # fmt: skip
        yield SystemCommand("Export insight pack", "Write memories to a pack file (ctrl+e)",
                            self.action_export)  # fmt: skip
        yield SystemCommand("Undo last run", "Restore the files as they were (ctrl+z)",
                            self.action_undo)  # fmt: skip
        if self._diff_ready:
            yield SystemCommand("Show diff", "The full diff of the last run (ctrl+g)",
                                self.action_diff)  # fmt: skip
        if self.session is not None and not self.session.approval.yes:
            on = self.session.approval.auto != "off"
            yield SystemCommand(
                "Auto-approval off" if on else "Auto-approval for the session",
                "Ask before every command (ctrl+t)" if on else
                "Run commands without asking until turned off; destructive ones still ask",
                self.action_toggle_auto,
            )  # fmt: skip
        yield SystemCommand("Toggle insights panel", "Show or hide the insights (ctrl+b)",
                            self.action_toggle_insights)  # fmt: skip
