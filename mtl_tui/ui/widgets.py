"""The main screen's widgets. They show state and report what the user did; decisions
belong to the core (session, store)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import (
    Collapsible,
    Input,
    ListItem,
    ListView,
    Static,
    TextArea,
)

from mtl_tui.agent.loop import Decision
from mtl_tui.memory.rank import Hit, relevance_parts, relevance_text
from mtl_tui.memory.retrieve import LeftOut, held_back_sections, label
from mtl_tui.records import Memory
from mtl_tui.selection import SelectionCount
from mtl_tui.text import plural

if TYPE_CHECKING:
    from textual.widgets import Markdown

FOLD_LINES = 12
LIVE_LINES = 8  # lines of a running command's output shown under the spinner
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class StatusLine(Static):
    """state [auto-approval, while on] │ repo ⎇ branch │ model │ step · cost │ pool

    Narrow terminals get it compacted step by step (COMPACTIONS) rather than cut: the state,
    the auto-approval badge, the model, the step and the cost always stay."""

    repo: reactive[str] = reactive("…")
    branch: reactive[str] = reactive("")
    model: reactive[str] = reactive("no model")
    step: reactive[int] = reactive(0)
    cost: reactive[float] = reactive(0.0)
    pool: reactive[int | None] = reactive(None)
    state: reactive[str] = reactive("loading models…")
    auto: reactive[str] = reactive("")

    def render(self) -> Text:
        width = self.size.width or self.app.size.width
        for level in COMPACTIONS:
            text = self._line(*level)
            if text.cell_len <= width:
                return text
        # The last resort: the model's id takes what the rest leaves.
        last = COMPACTIONS[-1][:-1]
        spare = width - self._line(*last, model_width=0).cell_len
        return self._line(*last, model_width=max(spare, 4))

    def _line(
        self,
        hint: bool,
        gap: int,
        pool: bool,
        branch: bool,
        repo: bool,
        model_width: int | None = None,
    ) -> Text:
        text = Text()
        text.append(f" {self.state}", style="italic")
        if self.auto:
            warning = self.app.current_theme.warning or "yellow"
            text.append(" " * gap)
            text.append(f" {self.auto} ", style=f"bold black on {warning}")
            if hint and not self.auto.startswith("--yes"):
                text.append(" ctrl+t off", style="dim")
        parts: list[tuple[str, str]] = []
        if repo:
            where = f"{self.repo} ⎇ {self.branch}" if self.branch and branch else self.repo
            parts.append((where, "bold"))
        model = self.model if model_width is None else _short_model(self.model, model_width)
        parts.append((model, ""))
        if self.step:
            parts.append((f"step {self.step} · ${self.cost:.4f}", ""))
        if pool:
            parts.append((f"pool {'…' if self.pool is None else f'{self.pool:,}'}", ""))
        separator = " " * gap + "│" + " " * gap
        for part, style in parts:
            text.append(separator, style="dim")
            text.append(part, style=style)
        return text


# The status line, less and less of it until it fits: (ctrl+t hint, gap around the
# separators, pool size, branch, repository, the model id's width (None: whole)).
COMPACTIONS: list[tuple[bool, int, bool, bool, bool, int | None]] = [
    (True, 2, True, True, True, None),
    (False, 2, True, True, True, None),
    (False, 1, True, True, True, None),
    (False, 1, False, True, True, None),
    (False, 1, False, False, True, None),
    (False, 1, False, False, True, 24),
    (False, 1, False, False, False, 24),
]


def _short_model(name: str, width: int) -> str:
    """A model id in at most `width` cells: the provider prefix goes first, then the
    middle (ids differ at both ends: "claude-sonnet-4-5-20250929")."""
    if len(name) <= width:
        return name
    base = name.rsplit("/", 1)[-1] if "/" in name else name
    if len(base) <= width:
        return base
    if width < 4:
        return base[:width]
    keep = width - 1
    return base[: (keep + 1) // 2] + "…" + base[len(base) - keep // 2 :]


class PromptArea(TextArea):
    """The task prompt: enter submits, ctrl+j inserts a newline."""

    def on_mount(self) -> None:
        self.cursor_blink = False  # a steady cursor; also keeps screenshots stable

    @dataclass
    class Submitted(Message):
        text: str

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self.text))
            return
        if event.key == "ctrl+j":
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        await super()._on_key(event)


# -- the insights panel --------------------------------------------------------------


class BodyItem(ListItem):
    """A list row whose text is redrawn from its state by `refresh_view`."""

    def __init__(self) -> None:
        super().__init__()
        self.body = Static()

    def compose(self) -> ComposeResult:
        yield self.body

    def on_mount(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        raise NotImplementedError


class InsightItem(BodyItem):
    def __init__(self, hit: Hit, below_floor: bool = False, left_out: str | None = None) -> None:
        """`below_floor`: shown on request, greyed, never pre-accepted; `left_out`, why
        retrieval left it out although it passed the floor (superseded, conflict)."""
        super().__init__()
        self.hit = hit
        self.label: str | None = None  # M1...: in the prompt, as the agent sees it
        self.below_floor = below_floor or left_out is not None
        self.left_out = left_out
        self.over_budget: str | None = None  # accepted, but the prompt's budget is spent
        # Imported from a pack: off until the user accepts it.
        self.accepted = hit.trusted and not self.below_floor

    def lines(self) -> list[Text]:
        """One line per fact (title, facts, state); a new mark is a new line."""
        memory = self.hit.memory
        title = Text(f"[{self.label}] " if self.label else "", style="bold")
        title.append(memory.title)
        lang = ", ".join(memory.languages) or "any language"
        kind = "" if memory.kind == "insight" else f"{memory.kind} · "  # the usual kind
        facts = Text(
            f"{kind}{lang} · {relevance_text(self.hit)} · votes {memory.net_votes:+d}",
            style="dim",
        )
        if not self.hit.trusted:
            facts.append(f"  imported from {memory.origin}")
        lines = [title, facts]
        if self.hit.conflict:
            lines.append(Text(f"⚠ {self.hit.conflict}", style="magenta"))
        return [*lines, self._state()]

    def _state(self) -> Text:
        if self.accepted and self.over_budget:
            return Text(f"✓ accepted · over budget, not in the prompt ({self.over_budget})",
                        style="bold yellow")  # fmt: skip
        if self.accepted:
            return Text("✓ accepted", style="bold green")
        if self.below_floor:
            why = f"left out: {self.left_out}" if self.left_out else "held back"
            return Text(f"○ {why}, off · a accepts", style="dim")
        if self.hit.trusted:
            return Text("✗ rejected", style="bold red")
        return Text("○ imported, off until you accept it (a)", style="bold yellow")

    def refresh_view(self) -> None:
        self.body.update(Text("\n").join(self.lines()))
        self.set_class(not self.accepted and not self.below_floor, "rejected")
        self.set_class(self.below_floor, "below-floor")


class FloorMark(ListItem):
    """A heading over a group of memories that are not in the prompt (`b`), with the
    group's reason (retrieve.held_back_sections); the list's cursor skips it."""

    def __init__(self, heading: str) -> None:
        super().__init__(disabled=True)
        self.text = f"── {heading} ──"

    def compose(self) -> ComposeResult:
        yield Static(Text(self.text, style="bold"))


class InsightsPanel(Vertical):
    """The memories retrieved for the current task, each accepted or rejected."""

    BINDINGS = [
        Binding("a", "accept", "Accept", id="accept"),
        Binding("x", "reject", "Reject", id="reject"),
        Binding("plus", "vote(True)", "Vote +", id="vote_up"),
        Binding("minus", "vote(False)", "Vote −", id="vote_down"),
        Binding("enter", "details", "Details", id="details", show=False),
        Binding("b", "toggle_below", "Held back", id="toggle_below", show=False),
    ]

    @dataclass
    class Changed(Message):
        """The user accepted, rejected or voted on a memory."""

        item: InsightItem
        action: str  # accept | reject | up | down

    @dataclass
    class Details(Message):
        memory: Memory
        why: str = ""  # how relevant it was to the task (for the details screen)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.query_text = ""
        self.border_title = "Insights"
        self.below: list[Hit] = []  # candidates held back by the cuts, for `b`
        self.taken_shown = 0
        self.left_out: list[LeftOut] = []  # passed the floor, left out (superseded, conflict)
        self.floor: float | None = None
        self.cut: float | None = None
        self.screen_note: str | None = None  # the model's screening (memory/screen.py)
        # What the user said of a memory (a or x) for this task, even on a row already so:
        # a rejected candidate stays rejected when the model's screening picks it.
        self.chosen: dict[int, bool] = {}
        self.screened = False  # `below` are the candidates the model turned down
        self.show_below = False
        self.note: str | None = None
        # Accepted memories the prompt's budget leaves out, with why (`mark_over_budget`);
        # kept here so rows that `show` rebuilds (`b`, a new retrieval) keep their mark.
        self.over_budget: dict[int, str] = {}
        self.count: SelectionCount | None = None  # what the app counted last (show_count)
        # During a run, the labels the agent got (the core's MemoriesRetrieved): a memory
        # rejected meanwhile keeps its label, the one the agent is told to disregard.
        self.run_labels: dict[int, str] | None = None

    def compose(self) -> ComposeResult:
        yield Static("none yet", id="insights-counts")
        yield Static("Type a task to see what the pool remembers.", id="insights-hint")
        yield ListView(id="insights-list")

    def show_count(self, count: SelectionCount) -> None:
        """The count the app's folded line shows too (the app counts, selection.py); the
        hint says from it what reaches the prompt."""
        self.count = count
        self.query_one("#insights-counts", Static).update(count.line())
        self._show_hint()

    @property
    def items(self) -> list[InsightItem]:
        """The rows shown now: not those `show` has just cleared, which leave the DOM only
        after this turn of the event loop (counted too, they doubled every count)."""
        return [item for item in self.query(InsightItem) if not item._pruning]

    def show(
        self,
        hits: list[Hit],
        query_text: str,
        note: str | None = None,
        below: list[Hit] | None = None,
        left_out: list[LeftOut] | None = None,
        floor: float | None = None,
        cut: float | None = None,
        screen_note: str | None = None,
        screened: bool = False,
    ) -> None:
        """`hits` are what the agent gets; `left_out` (superseded, lost a conflict) and
        `below`, the best candidates held back (relevance under `cut`: the `floor`, or well
        below the best; with `screened`, those the model turned down), are listed after
        them, greyed and not accepted, only once `b` asks. `screen_note`: what the core
        says of the model's screening."""
        self.query_text = query_text
        self.below = list(below or [])
        self.left_out = list(left_out or [])
        self.floor, self.cut = floor, cut
        self.screen_note, self.screened = screen_note, screened
        keep = {i.hit.memory.id: i.accepted for i in self.items if not i.below_floor}
        taken = {i.hit.memory.id: i.accepted for i in self.items if i.below_floor}
        listing = self.query_one(ListView)
        listing.clear()
        for hit in hits:
            item = InsightItem(hit)
            item.accepted = self.chosen.get(hit.memory.id or -1,
                                            keep.get(hit.memory.id, hit.trusted))  # fmt: skip
            item.over_budget = self._over(item)
            listing.append(item)
        below_shown = self.show_below and bool(self.below or self.left_out)
        listed = bool(hits)
        self.taken_shown = 0  # held-back rows still listed while hidden: the user took them
        for heading, rows in held_back_sections(self.left_out, self.below, cut, screened):
            # hidden (`b`), those the user accepted stay listed: they reach the prompt
            rows = rows if below_shown else [(h, w) for h, w in rows if taken.get(h.memory.id)]
            if below_shown:
                listing.append(FloorMark(heading))
            for hit, why in rows:
                item = InsightItem(hit, below_floor=True, left_out=why)
                item.accepted = self.chosen.get(hit.memory.id or -1,
                                                taken.get(hit.memory.id, False))  # fmt: skip
                item.over_budget = self._over(item)
                listing.append(item)
                listed = True
                self.taken_shown += not below_shown
        self._relabel()
        if listed:
            listing.index = 0 if hits or not below_shown else 1  # 1: past the first mark
        self.note = note
        self._show_hint()
        held = len(self.below) + len(self.left_out)
        self.border_title = self._title(len(hits), held if below_shown else self.taken_shown)

    def _over(self, item: InsightItem) -> str | None:
        return self.over_budget.get(item.hit.memory.id or -1) if item.accepted else None

    def _show_hint(self) -> None:
        """Keys, what the cuts left out, and why the prompt gets what the count line above
        says it gets (the relevance cut, or the memory budget)."""
        hits = [i for i in self.items if not i.below_floor]
        hint = self.query_one("#insights-hint", Static)
        out = "".join(f" · {o.reason}: #{o.hit.memory.id}" for o in self.left_out)
        held = len(self.below) + len(self.left_out)
        more = held - self.taken_shown  # hidden, those the user took are listed already
        toggle = (f"b hides {held} held back" if self.show_below else
                  f"b shows {more} more held back" if self.taken_shown else
                  f"b shows {held} held back") if held else ""  # fmt: skip
        tab = "" if self.has_focus_within else "tab, then "  # the keys work in the list
        if self.note:
            hint.update(self.note)
        elif not hits:
            hint.update(" · ".join(filter(None, [self.screen_note, out.removeprefix(" · "),
                                                 toggle and f"{tab}{toggle}"]))
                        if self.query_text.strip() else
                        "Type a task to see what the pool remembers.")  # fmt: skip
        else:
            keys = f"{tab}a accept · x reject · +/− vote · ⏎ details"  # keys of the list
            count = self.count
            why = ""
            if count is not None and count.accepted and not count.in_prompt:
                why = "all accepted are over the memory budget"
            elif self.screen_note:
                why = self.screen_note
            elif self.cut is not None:
                why = f"retrieved at relevance ≥ {self.cut:.2f}"
            hint.update(" · ".join(filter(None, [why, keys + out, toggle])))

    def on_descendant_focus(self) -> None:
        self._show_hint()  # "tab, then" goes: the keys work here now

    def on_descendant_blur(self) -> None:
        self.call_after_refresh(self._show_hint)  # once the focus has moved on

    @staticmethod
    def _title(hits: int, below: int) -> str:
        """What the list shows: the hits, and those held back once `b` shows them."""
        if below:
            return f"Insights ({hits} + {below} held back)"
        return f"Insights ({hits})" if hits else "Insights"

    @property
    def hits(self) -> list[Hit]:
        """What was retrieved for the run: the hits, and below-floor ones the user took."""
        return [i.hit for i in self.items if not i.below_floor or i.accepted]

    def action_toggle_below(self) -> None:
        self.show_below = not self.show_below
        hits = [i.hit for i in self.items if not i.below_floor]
        self.show(hits, self.query_text, below=self.below, left_out=self.left_out,
                  floor=self.floor, cut=self.cut, screen_note=self.screen_note,
                  screened=self.screened)  # fmt: skip

    def mark_over_budget(self, over: dict[int, str]) -> None:
        """Accepted items the prompt's memory budget leaves out, with why (the core's
        Session.fit_budget decides)."""
        self.over_budget = dict(over)
        for item in self.items:
            why = over.get(item.hit.memory.id or -1)
            if why != item.over_budget:
                item.over_budget = why
                item.refresh_view()
        self._relabel()
        self._show_hint()

    def _relabel(self) -> None:
        """[M1], [M2]...: only on the memories that reach the prompt, numbered as the
        agent sees them (accepted, within the budget, in the list's order; during a run,
        the labels the run gave)."""
        in_prompt = [i for i in self.items if i.accepted and not i.over_budget]
        labels = {id(item): label(n) for n, item in enumerate(in_prompt)}
        for item in self.items:
            if self.run_labels is not None:
                new = self.run_labels.get(item.hit.memory.id or -1)
            else:
                new = labels.get(id(item))
            if new != item.label:
                item.label = new
                if item.is_mounted:
                    item.refresh_view()

    def set_run_labels(self, labels: dict[int, str] | None) -> None:
        self.run_labels = labels
        self._relabel()

    def accepted_hits(self) -> list[Hit]:
        return [i.hit for i in self.items if i.accepted]

    def _current(self) -> InsightItem | None:
        child = self.query_one(ListView).highlighted_child
        return child if isinstance(child, InsightItem) else None

    def action_accept(self) -> None:
        self._set(True)

    def action_reject(self) -> None:
        self._set(False)

    def _set(self, accepted: bool) -> None:
        item = self._current()
        if item is not None and item.hit.memory.id is not None:
            self.chosen[item.hit.memory.id] = accepted
        if item is None or item.accepted == accepted:
            return
        item.accepted = accepted
        item.refresh_view()
        self.post_message(self.Changed(item, "accept" if accepted else "reject"))

    def action_vote(self, up: bool) -> None:
        if (item := self._current()) is not None:
            self.post_message(self.Changed(item, "up" if up else "down"))

    def action_details(self) -> None:
        if (item := self._current()) is not None:
            self.post_message(
                self.Details(item.hit.memory, relevance_parts(item.hit, self.cut, self.floor))
            )

    @on(ListView.Selected)
    def _selected(self, event: ListView.Selected) -> None:
        event.stop()
        self.action_details()


# -- the conversation ----------------------------------------------------------------


class Note(Static):
    pass


class CommandBlock(Static):
    def __init__(self, step: int, command: str) -> None:
        from rich.syntax import Syntax  # pygments: not before the first frame

        super().__init__(Syntax(command, "bash", word_wrap=True, background_color="default"))
        self.border_title = f"$ step {step}"


class AnswerBar(Vertical):
    """An inline question answered with single keys; the worker thread waits on `box`."""

    can_focus = True

    def __init__(
        self,
        question: str,
        box: queue.Queue[object],
        keys: dict[str, Callable[[], object | None]],
        unasked: str = "",
        keys_line: str = "",
    ) -> None:
        """`unasked`: a question the user did not start (an offer) takes no focus from what
        they are typing; this line, shown while it lacks the focus, says how to reach it.
        `keys_line`: the keys, on a line of their own that a text field's purpose replaces
        while it is open (they do not answer then)."""
        super().__init__()
        self.question = question
        self.box = box
        self.keys = keys
        self.unasked = unasked
        self.keys_line = keys_line
        self.answered = False
        self._text_done: Callable[[str], object] | None = None

    def compose(self) -> ComposeResult:
        yield Static(self.question, classes="question")
        if self.keys_line:
            yield Static(self.keys_line, classes="keys")
        if self.unasked:
            yield Static(self.unasked, classes="dim unasked", markup=False)

    def on_mount(self) -> None:
        if not self.unasked:
            self.focus()

    def on_key(self, event: events.Key) -> None:
        key = event.character if event.character and event.character.isprintable() else event.key
        if key == "escape" and self._text_done is not None and not self.answered:
            event.stop()
            event.prevent_default()
            self._back_to_keys()
            return
        if not self.takes(key):
            return
        event.stop()
        event.prevent_default()
        self.answer_key(key)

    def takes(self, key: str | None) -> bool:
        """Whether `key` answers this question now (not once its text field is open)."""
        return key in self.keys and not self.answered and self._text_done is None

    def answer_key(self, key: str) -> None:
        answer = self.keys[key]()
        if answer is not None:
            self.resolve(answer)

    def resolve(self, answer: object, summary: str | None = None) -> None:
        """Answer the worker; the question leaves the dock and its answer joins the
        conversation."""
        if self.answered:
            return
        self.answered = True
        if self.box.empty():
            self.box.put(answer)
        leave_dock(self, summary or self._summary(answer))

    @staticmethod
    def _summary(answer: object) -> str:
        if isinstance(answer, Decision):
            return {"run": "✓ run", "reject": f"✗ rejected: {answer.reason or '(no reason)'}",
                    "edit": f"✎ edited: {answer.command}"}[answer.action]  # fmt: skip
        return f"→ {answer}"

    def ask_text(
        self, placeholder: str, value: str, done: Callable[[str], object], purpose: str = ""
    ) -> None:
        """Swap the keys for a text field, and their line for `purpose`; `done(text)` gives
        the answer."""
        self._text_done = done
        if self.keys_line and purpose:
            self.query_one(".keys", Static).update(purpose)
        field = Input(value=value, placeholder=placeholder)
        self.mount(field)
        self.mount(Static("enter sends · esc goes back to the keys", classes="dim"))
        field.focus()

    def _back_to_keys(self) -> None:
        """Esc in the text field goes back to the single-key question."""
        self._text_done = None
        for widget in [*self.query(Input), *self.query(".dim")]:
            widget.remove()
        if self.keys_line:
            self.query_one(".keys", Static).update(self.keys_line)
        self.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._text_done is not None:
            self.resolve(self._text_done(event.value))


class ApprovalBar(AnswerBar):
    """y run · n reject (with a reason) · e edit · Y run this and the rest of this run."""

    def __init__(
        self,
        command: str,
        box: queue.Queue[object],
        on_yolo: Callable[[], None],
        step: int = 0,
        destructive: str = "",
    ):
        self.command = command
        self.on_yolo = on_yolo
        self.destructive = destructive
        warning = (
            f"[b $warning]Asks even in auto mode: {escape(destructive)}[/]\n" if destructive else ""
        )
        head = f"[b]$ step {step}[/]  " if step else ""
        super().__init__(
            f"{warning}{head}[b]{escape(_one_line(command))}[/]",
            box,
            {"y": lambda: Decision("run"), "n": self._reason, "e": self._edit, "Y": self._yolo},
            keys_line="Run it?  [b]y[/] run · [b]n[/] reject · [b]e[/] edit · "
            "[b]Y[/] run all in this task",
        )

    def _reason(self) -> None:
        self.ask_text("why not? (sent to the agent)", "",
                      lambda text: Decision("reject", reason=text),
                      "[b]Why not run it?[/] The agent reads your reason.")  # fmt: skip

    def _edit(self) -> None:
        def edited(text: str) -> Decision:
            same = text.strip() == self.command.strip()
            return Decision("run") if same else Decision("edit", command=text)

        self.ask_text("edit the command", self.command, edited,
                      "[b]Edit the command[/]: enter runs it as edited")  # fmt: skip

    def _yolo(self) -> Decision:
        self.on_yolo()
        return Decision("run")


def _one_line(command: str, width: int = 200) -> str:
    first, *rest = command.strip().splitlines() or [""]
    more = f"  (+{plural(len(rest), 'line')})" if rest else ""
    return (first[:width] + ("…" if len(first) > width else "")) + more


class Dock(VerticalScroll, can_focus=False):
    """Holds the question waiting for an answer; the question takes the focus, never the
    (often empty, zero-height) dock itself."""


def leave_dock(question: Widget, summary: str) -> None:
    """A question answered: its summary goes to the conversation, the prompt gets focus
    (during a run it is disabled: then nothing has it until the next question, rather
    than a neighbour such as the insights list, where a key for that question would
    reject an insight)."""
    app = question.app
    app.query_one(Conversation).add_note(summary, "answered")
    prompt = app.query_one(PromptArea)
    if question.has_focus_within or question.has_focus:
        app.screen.set_focus(None)
    question.remove()
    if not prompt.disabled:
        prompt.focus()


class LiveOutput(Static):
    """A running command: spinner, elapsed time and the newest lines of its output.
    The worker thread appends chunks (`feed`); a timer redraws."""

    def __init__(self, step: int) -> None:
        super().__init__(classes="live")
        self.step = step
        self._started = time.monotonic()
        self._chunks: list[str] = []
        self._lock = threading.Lock()
        self._text = ""

    def on_mount(self) -> None:
        self._redraw()
        self.set_interval(0.1, self._redraw)

    def feed(self, chunk: str) -> None:
        with self._lock:
            self._chunks.append(chunk)

    def _redraw(self) -> None:
        with self._lock:
            if self._chunks:
                self._text = (self._text + "".join(self._chunks))[-20_000:]
                self._chunks.clear()
        elapsed = time.monotonic() - self._started
        spin = SPINNER[int(elapsed * 10) % len(SPINNER)]
        lines = self._text.rstrip("\n").splitlines()
        text = Text()
        text.append(f"{spin} running · {elapsed:.1f} s", style="bold")
        if len(lines) > LIVE_LINES:
            text.append(f" · {plural(len(lines), 'line')} so far", style="dim")
        for line in lines[-LIVE_LINES:]:
            text.append("\n" + line[-500:], style="dim")
        self.update(text)


class OutputBlock(Collapsible):
    def __init__(self, output: str, returncode: int, duration: float, timed_out: bool) -> None:
        lines = output.rstrip("\n").splitlines()
        status = "timed out" if timed_out else f"exit {returncode}"
        took = f" · {duration:.0f} s" if duration >= 2 else ""  # the slow ones
        count = plural(len(lines), "line") if lines else "no output"
        super().__init__(
            Static(Text("\n".join(lines) or "(no output)"), classes="output-text"),
            title=f"{status} · {count}{took}",
            collapsed=len(lines) > FOLD_LINES,
        )
        self.set_class(returncode != 0 or timed_out, "failed")


class Conversation(VerticalScroll, can_focus=False):
    """The task, the agent's reasoning streamed as Markdown, commands and their output."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._reply: Markdown | None = None
        self._reply_text = ""
        self.live: LiveOutput | None = None

    def on_resize(self) -> None:
        """A question below took room (or gave it back): the newest lines stay in view."""
        self._follow()

    def _add(self, widget: Widget) -> Widget:
        self.mount(widget)
        self._follow()
        return widget

    def _follow(self) -> None:
        """Keep the newest content in view, once the layout has made room for it."""
        self.call_after_refresh(self.scroll_end, animate=False)

    def add_task(self, text: str) -> None:
        self._add(Static(Text("› " + text, style="bold"), classes="task"))

    def add_note(self, text: str, level: str = "info") -> None:
        self._add(Note(Text(text), classes=f"note {level}"))

    def start_reply(self) -> None:
        # Imported at the first reply: markdown-it is a tenth of the time to the first frame.
        from textual.widgets import Markdown

        self._reply_text = ""
        self._reply = Markdown("", classes="reply")
        self._add(self._reply)

    def add_token(self, text: str) -> None:
        if self._reply is None:
            self.start_reply()
        self._reply_text += text
        assert self._reply is not None
        self._reply.update(self._visible(self._reply_text))
        self._follow()

    def finish_reply(self, content: str) -> None:
        if self._reply is None:
            self.start_reply()
        assert self._reply is not None
        self._reply.update(self._visible(content))
        self._reply = None

    @staticmethod
    def _visible(text: str) -> str:
        """The reasoning; the command itself is shown in its own block."""
        return text.split("```bash")[0].split("```sh")[0].rstrip() or "…"

    def add_command(self, step: int, command: str) -> None:
        self._add(CommandBlock(step, command))

    def start_output(self, step: int) -> None:
        self.end_output()
        self.live = LiveOutput(step)
        self._add(self.live)

    def feed_output(self, chunk: str) -> None:
        """Called from the worker thread: no widget work here."""
        live = self.live
        if live is not None:
            live.feed(chunk)

    def end_output(self) -> None:
        if self.live is not None:
            self.live.remove()
            self.live = None

    def add_output(self, output: str, returncode: int, duration: float, timed_out: bool) -> None:
        self.end_output()
        self._add(OutputBlock(output, returncode, duration, timed_out))

    def add_diff(self, stat: str) -> None:
        if not stat.strip():
            self.add_note("no files changed", "dim")
            return
        self._add(Static(Text(stat.strip("\n")), classes="diff"))
        self.add_note("ctrl+g shows the full diff · ctrl+z undoes the run", "dim")


class ReviewItem(BodyItem):
    def __init__(self, memory: Memory) -> None:
        super().__init__()
        self.memory = memory
        self.keep = True

    def refresh_view(self) -> None:
        text = Text()
        text.append("✓ keep  " if self.keep else "✗ discard  ",
                    style="bold green" if self.keep else "bold red")  # fmt: skip
        text.append(self.memory.title, style="bold")
        if self.memory.scope == "project":
            text.append(f"  [project: only in {self.memory.repo or 'this repository'}]",
                        style="bold yellow")  # fmt: skip
        else:  # said too: `s` toggles between the two
            text.append("  [global]", style="bold")
        fields = self.fields()
        if not fields:
            self.body.update(text)
            return
        # Labelled, one field a row, wrapped under its own text (as the edit shows them).
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(style="dim", ratio=1)
        for name, value in fields:
            grid.add_row(f"  {name}", value)
        self.body.update(Group(text, grid))

    def fields(self) -> list[tuple[str, str]]:
        """The text fields below the title, by name (an insight's description, content)."""
        if self.memory.kind != "insight":
            return []
        return [
            (name, str(self.memory.fields.get(name, ""))) for name in ("description", "content")
        ]


class ReviewListView(ListView):
    """The review's list: enter stores the kept ones, and the footer says so (a plain
    ListView binds enter as a hidden "Select", which shadowed the review's own key)."""

    BINDINGS = [Binding("enter", "select_cursor", "Store kept")]


class ReviewList(Vertical):
    """Distilled memories before they are stored: k keep · d discard · e edit · enter store."""

    KEYS = ("k", "d", "e", "s", "enter")  # its bindings' keys

    BINDINGS = [
        Binding("k", "keep(True)", "Keep"),
        Binding("d", "keep(False)", "Discard"),
        Binding("e", "edit", "Edit"),
        Binding("s", "scope", "Global/project"),
    ]  # enter (store the kept ones) is the list's: ReviewListView

    def __init__(
        self,
        memories: list[Memory],
        box: queue.Queue[object],
        edit: Callable[[Memory, Callable[[Memory | None], None]], None],
    ) -> None:
        super().__init__(classes="review")
        self.memories = memories
        self.box = box
        self.edit = edit
        self.answered = False

    def compose(self) -> ComposeResult:
        yield Static("Learned from this run — [b]k[/] keep · [b]d[/] discard · [b]e[/] edit · "
                     "[b]s[/] global/project · [b]enter[/] store the kept ones")  # fmt: skip
        yield ReviewListView(*[ReviewItem(m) for m in self.memories])

    def on_mount(self) -> None:
        self.query_one(ListView).focus()

    def _current(self) -> ReviewItem | None:
        child = self.query_one(ListView).highlighted_child
        return child if isinstance(child, ReviewItem) else None

    def action_keep(self, keep: bool) -> None:
        if (item := self._current()) is not None:
            item.keep = keep
            item.refresh_view()

    def action_scope(self) -> None:
        """Global (any repository) ↔ project (only the repository of this run)."""
        item = self._current()
        if item is None:
            return
        if item.memory.repo_key is None:
            self.app.notify("this run has no repository to scope it to", severity="warning")
            return
        item.memory.scope = "global" if item.memory.scope == "project" else "project"
        item.refresh_view()

    def action_edit(self) -> None:
        item = self._current()
        if item is None:
            return

        def edited(memory: Memory | None) -> None:
            if memory is not None:
                item.memory = memory
                item.refresh_view()
            self.query_one(ListView).focus()

        self.edit(item.memory, edited)

    @on(ListView.Selected)
    def _selected(self, event: ListView.Selected) -> None:
        event.stop()
        self.action_done()

    def action_done(self) -> None:
        if self.answered:
            return
        self.answered = True
        kept = [i.memory for i in self.query(ReviewItem) if i.keep]
        self.box.put(kept)
        leave_dock(self, f"→ storing {len(kept)} of {len(self.memories)}")

    def cancel(self) -> None:
        """The run was interrupted: nothing is stored, the question goes away."""
        if not self.answered:
            self.answered = True
            leave_dock(self, "interrupted: nothing stored")
