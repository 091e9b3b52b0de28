"""Screens over the main one: memory details, the memory browser, confirmations, export,
the full diff, editing a distilled memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from rich.cells import cell_len, set_cell_size
from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Label, Select, Static, TextArea

from mtl_tui.memory.prune import Health, health_of
from mtl_tui.memory.retrieve import provenance
from mtl_tui.memory.store import MemoryStore, View
from mtl_tui.records import KINDS, Memory
from mtl_tui.text import noun, plural
from mtl_tui.ui.footer import NARROW, FittingFooter

BROWSER_ROWS = 500  # rows shown at once; search and filters narrow the pool
# The browser's key columns, before the title (which takes the width they leave); "from"
# is the origin (run, manual, a pack's name).
COLUMNS = (" ", "id", "votes", "used", "last", "scope", "prune", "kind", "lang", "from")
# Below NARROW columns the selection mark joins the id and "last" goes (the details keep
# it), so that the title keeps MIN_TITLE cells at 80 columns.
NARROW_COLUMNS = ("id", "votes", "used", "scope", "prune", "kind", "lang", "from")
MIN_TITLE = 24
# Long secondary cells (a prune reason, an origin) are cut with … before the title goes
# under MIN_TITLE, widest first, down to their heading's width.
SECONDARY = ("prune", "from", "lang")
SHORT_KINDS = {"insight": "ins", "summary": "sum", "workflow": "wf", "trajectory": "traj"}
# Languages as their usual file extensions, on a narrow screen (others are cut with …).
SHORT_LANGS = {
    "python": "py", "javascript": "js", "typescript": "ts", "shell": "sh", "rust": "rs",
    "csharp": "cs", "fsharp": "fs", "kotlin": "kt", "haskell": "hs", "ruby": "rb",
    "elixir": "ex", "erlang": "erl", "dockerfile": "docker", "makefile": "make",
    "objective-c": "objc", "clojure": "clj", "solidity": "sol", "ocaml": "ml",
}  # fmt: skip


def _ellipsize(text: str, width: int) -> str:
    return text if cell_len(text) <= width else set_cell_size(text, max(width - 1, 0)) + "…"


def memory_text(memory: Memory, health: Health | None = None) -> Text:
    text = Text()
    text.append(f"#{memory.id} ", style="bold")
    text.append(f"{memory.kind}\n\n", style="dim")
    for name, value in memory.fields.items():
        text.append(f"{name}\n", style="bold")
        if isinstance(value, list):
            for entry in value:
                line = entry["command"] if isinstance(entry, dict) else entry
                text.append(f"  • {line}\n")
        else:
            text.append(f"{value}\n")
        text.append("\n")
    facts = [
        ("from", provenance(memory)),
        ("model", memory.model or "-"),
        ("origin", memory.origin),
        ("tags", ", ".join(memory.tags) or "-"),
        ("votes", f"{memory.net_votes:+d} ({memory.up} up, {memory.down} down)"),
        ("used", f"{plural(memory.uses, 'time')}, {memory.wins:,} in successful runs"),
        ("support", str(memory.support)),
        ("scope", scope_text(memory)),
        ("created", memory.created_at),
        ("last retrieved", memory.last_retrieved_at or "never"),
        ("last accepted", memory.last_accepted_at or "never"),
        ("last helpful", memory.last_helpful_at or "never"),
    ]
    if health is not None:
        rate = (
            f"{health.win_rate:.0%} of {plural(health.known_runs, 'finished run')}"
            if (health.win_rate is not None)
            else "no finished run yet"
        )
        facts.append(("win rate", rate))
        facts.append(("prune", "; ".join(health.reasons) or "no reason: it earns its place"))
    for name, value in facts:
        text.append(f"{name}: ", style="dim")
        text.append(f"{value}\n")
    return text


def _age(stamp: str | None) -> str:
    """How long ago, in the largest whole unit: now (under a minute), <1h, 4h, 3d, 5mo,
    2y; "never" for None."""
    if not stamp:
        return "never"
    moment = datetime.fromisoformat(stamp)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    days = (datetime.now(UTC) - moment).total_seconds() / 86_400
    if days * 24 * 60 < 1:
        return "now"
    if days * 24 < 1:
        return "<1h"
    if days < 1:
        return f"{days * 24:.0f}h"
    if days < 60:
        return f"{days:.0f}d"
    return f"{days / 30.44:.0f}mo" if days < 730 else f"{days / 365.25:.0f}y"


def scope_text(memory: Memory) -> str:
    if memory.scope == "project":
        return f"project: only in {memory.repo or 'its repository'}"
    return "global: any repository"


class MemoryDetail(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close")]

    def __init__(self, memory: Memory, health: Health | None = None, why: str = "") -> None:
        super().__init__()
        self.memory = memory
        self.health = health
        self.why = why  # from the panel: how relevant it was to the task

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(memory_text(self.memory, self.health))
            if self.why:
                yield Static(self.why, classes="dim", id="detail-why", markup=False)
        yield FittingFooter()


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small"):
            yield Static(self.question)
            yield Static("[b]y[/] yes · [b]n[/] no", classes="dim")
        yield FittingFooter()  # its own keys, not the screen's underneath

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class TextScreen(ModalScreen[None]):
    """Read-only long text: the full diff."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close")]

    def __init__(self, title: str, body: str, lexer: str = "diff") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.lexer = lexer

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title")
            from rich.syntax import Syntax  # pygments: not before the first frame

            yield Static(Syntax(self.body or "(empty)", self.lexer, word_wrap=True))
        yield FittingFooter()


class ExportScreen(ModalScreen[dict[str, object] | None]):
    """Where and what to export as an insight pack."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, default_path: Path, count_hint: str) -> None:
        super().__init__()
        self.default_path = default_path
        self.count_hint = count_hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small"):
            yield Label("Export an insight pack", classes="dialog-title")
            yield Static(self.count_hint, classes="dim")
            path = Input(str(self.default_path), id="export-path")
            path.cursor_blink = False
            yield path
            yield Select([(k, k) for k in KINDS], value="insight", allow_blank=True,
                         prompt="any kind", id="export-kind")  # fmt: skip
            yield Static("enter exports · esc cancels", classes="dim")
        yield FittingFooter()

    @on(Input.Submitted, "#export-path")
    def _submit(self, event: Input.Submitted) -> None:
        kind = self.query_one("#export-kind", Select)
        self.dismiss({"path": event.value, "kind": None if kind.is_blank() else kind.value})


class EditMemoryScreen(ModalScreen[Memory | None]):
    """Edit a distilled memory's text fields before it is stored; the title on one line,
    the longer fields in multi-line boxes. Saving returns an edited copy."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, memory: Memory) -> None:
        super().__init__()
        self.memory = memory

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Label(f"Edit this {self.memory.kind}", classes="dialog-title")
            for name, value in self.memory.fields.items():
                if not isinstance(value, str):
                    continue
                yield Label(name)
                if name == "title":  # tab into it keeps the text: typing adds, not replaces
                    yield Input(value, id=f"field-{name}", select_on_focus=False)
                else:
                    yield TextArea(
                        value, id=f"field-{name}", soft_wrap=True, show_line_numbers=False
                    )
            yield Static("ctrl+s saves · esc cancels · tab next field", classes="dim")
        yield FittingFooter()

    def on_mount(self) -> None:
        for area in self.query("TextArea, Input"):
            area.cursor_blink = False  # type: ignore[attr-defined]
        first = next(iter(self.query("Input, TextArea")), None)
        if first is not None:  # typing goes into the first field at once
            first.focus()
            if isinstance(first, Input):
                first.cursor_position = len(first.value)

    def action_save(self) -> None:
        fields = dict(self.memory.fields)
        for field in self.query(Input):
            fields[str(field.id).removeprefix("field-")] = field.value.strip()
        for area in self.query(TextArea):
            fields[str(area.id).removeprefix("field-")] = area.text.strip()
        self.dismiss(replace(self.memory, fields=fields))

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()


class MemoryBrowser(Screen[None]):
    """Every memory in a table, with semantic search and filters by kind and language."""

    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("plus", "vote(True)", "Vote +"),
        Binding("minus", "vote(False)", "Vote −"),
        Binding("delete", "delete", "Delete"),
        Binding("space", "mark", "Select"),
        Binding("s", "rescope", "Scope"),
        Binding("e", "export", "Export"),  # the selection, or the pool: short to fit 80 columns
        Binding("enter", "details", "Details", show=False),
    ]

    def __init__(
        self,
        store: MemoryStore,
        languages: list[str],
        repo_key: str | None = None,
        unused_months: float = 6.0,
    ) -> None:
        """`repo_key`: the repository a memory that records none is scoped to by `s`."""
        super().__init__()
        self.store = store
        self.languages = languages
        self.repo_key = repo_key
        self.unused_months = unused_months
        self.marked: set[int] = set()
        self.rows: list[Memory] = []
        self.health: dict[int, Health] = {}
        self._title_width = 40
        self._widths: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        yield Label("Memories", classes="dialog-title")
        with Horizontal(id="browser-filters"):
            search = Input(placeholder="search by meaning… (enter)", id="browser-search")
            search.cursor_blink = False  # a steady cursor: the screen is the same when captured
            yield search
            yield Select([(k, k) for k in KINDS], prompt="any kind", id="browser-kind")
            yield Select([(lang, lang) for lang in self.languages], prompt="any language",
                         id="browser-lang")  # fmt: skip
        yield Static("", id="browser-count")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="browser-table")
        yield FittingFooter()

    def on_mount(self) -> None:
        self.reload()
        # typing searches; keys such as e or space act from the table (enter or tab reaches it)
        self.query_one("#browser-search", Input).focus()

    def on_resize(self) -> None:
        if self.rows:
            self.call_after_refresh(self._fill)  # once the table has its new width

    def _filters(self) -> tuple[str, str | None, str | None]:
        query = self.query_one("#browser-search", Input).value.strip()
        kind = self.query_one("#browser-kind", Select)
        lang = self.query_one("#browser-lang", Select)
        return (
            query,
            None if kind.is_blank() else str(kind.value),
            None if lang.is_blank() else str(lang.value),
        )

    @work(thread=True, exclusive=True, group="browser")
    def reload(self) -> None:
        query, kind, lang = self._filters()
        if query and self.store.embedder is not None:
            # as retrieval here would: global memories and this repository's own
            view = View(self.repo_key)
            rows = [h.memory for h in self.store.search(query, BROWSER_ROWS, kind, lang, view=view)]
            total = len(rows)
        else:
            rows = self.store.list(kind, lang, limit=BROWSER_ROWS)
            total = self.store.count(kind, lang)
        health = health_of(self.store, rows, self.unused_months)
        self.app.call_from_thread(self._show, rows, total, query, health)

    def _show(self, rows: list[Memory], total: int, query: str, health: dict[int, Health]) -> None:
        self.rows = rows
        self.health = health
        self._fill()
        shown = f"{len(rows):,} of {total:,}" if len(rows) < total else f"{total:,}"
        shown += f" {noun(total, 'memory')}"
        how = f" best matches for “{query}”" if query else " newest first"
        self.query_one("#browser-count", Static).update(
            f"{shown},{escape(how)} · in the table: space selects · e exports · "
            "s global/project · enter health"
        )

    TABLE_ACTIONS = {"vote", "mark", "rescope", "export", "delete"}

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The table's keys, in the footer only while the table has the focus: in the
        search box or a filter they type or choose instead."""
        if action in self.TABLE_ACTIONS:
            return isinstance(self.focused, DataTable)
        return True

    def _columns(self) -> tuple[str, ...]:
        return NARROW_COLUMNS if self.app.size.width < NARROW else COLUMNS

    def _fill(self) -> None:
        """Every column but the title as wide as its content (shortened on a narrow
        screen); the title takes what is left, at least MIN_TITLE when cutting the
        secondary columns can give it that, and is cut with an ellipsis."""
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        columns = self._columns()
        cells = [self._cells(memory) for memory in self.rows]
        widths = {
            name: max([cell_len(name), *(cell_len(row[name]) for row in cells)]) for name in columns
        }
        room = table.size.width or self.app.size.width
        if not table.size.height or len(self.rows) + 1 > table.size.height:
            room -= table.styles.scrollbar_size_vertical  # the rows will scroll
        padding = 2 * table.cell_padding * (len(columns) + 1)
        spare = room - sum(widths.values()) - padding
        while spare < MIN_TITLE:  # the widest secondary column gives a cell
            name = max(SECONDARY, key=lambda n: widths[n] - max(cell_len(n), 4))
            if widths[name] <= max(cell_len(name), 4):
                break
            widths[name] -= 1
            spare += 1
        self._widths = widths
        self._title_width = max(spare, 12)
        table.clear(columns=True)
        for name in columns:
            table.add_column(name, width=widths[name], key=name)
        table.add_column("title", width=self._title_width, key="title")
        for memory, row in zip(self.rows, cells, strict=True):
            table.add_row(*self._shown(memory, row), key=str(memory.id))
        if self.rows:
            table.move_cursor(row=min(cursor, len(self.rows) - 1))

    def _shown(self, memory: Memory, row: dict[str, str]) -> list[str]:
        """One row's cells as the columns' widths allow, the title last."""
        cells = [_ellipsize(row[name], self._widths[name]) for name in self._columns()]
        return [*cells, _ellipsize(memory.title, self._title_width)]

    def _cells(self, memory: Memory) -> dict[str, str]:
        """The key columns by name, in their short forms on a narrow screen."""
        narrow = self.app.size.width < NARROW
        health = self.health.get(memory.id or -1)
        used = str(memory.uses)
        if health and health.win_rate is not None:
            used += f" {health.win_rate:.0%}"  # won, of the runs with a known outcome
        codes = list(dict.fromkeys(health.codes)) if health else []
        prune = (codes[0] + (f"+{len(codes) - 1}" if len(codes) > 1 else "")) if codes else "-"
        lang = ", ".join(memory.languages) or "any"
        if narrow:
            lang = ",".join(SHORT_LANGS.get(name, name) for name in memory.languages) or "any"
        mark = "●" if memory.id in self.marked else " "
        return {
            " ": mark,
            "id": f"{mark}{memory.id}" if narrow else str(memory.id),
            "votes": f"{memory.net_votes:+d}",
            "used": used,
            "last": _age(memory.last_accepted_at),
            "scope": "proj" if memory.scope == "project" else "glob",
            "prune": prune,
            "kind": SHORT_KINDS.get(memory.kind, memory.kind) if narrow else memory.kind,
            "lang": _ellipsize(lang, 10 if narrow else 16),
            "from": _ellipsize(memory.origin.removeprefix("pack:"), 10 if narrow else 20),
        }

    def _redraw(self, memory: Memory) -> None:
        """One row again (a vote, a mark, a new scope); a cell grown past its column's
        width is cut, as _fill cuts it."""
        table = self.query_one(DataTable)
        index = next(i for i, m in enumerate(self.rows) if m.id == memory.id)
        self.rows[index] = memory
        for column, value in enumerate(self._shown(memory, self._cells(memory))):
            table.update_cell_at((index, column), value)

    @on(Input.Submitted, "#browser-search")
    def _search(self) -> None:
        self.reload()
        self.query_one(DataTable).focus()

    @on(Select.Changed)
    def _refilter(self) -> None:
        self.reload()

    def _current(self) -> Memory | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def action_vote(self, up: bool) -> None:
        if (memory := self._current()) and memory.id is not None:
            self._redraw(self.store.vote(memory.id, up))

    def action_mark(self) -> None:
        if (memory := self._current()) and memory.id is not None:
            self.marked ^= {memory.id}
            self._redraw(memory)

    def action_details(self) -> None:
        if memory := self._current():
            self.app.push_screen(MemoryDetail(memory, self.health.get(memory.id or -1)))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()  # the table takes enter for itself: it opens the details here
        self.action_details()

    def action_rescope(self) -> None:
        """Global ↔ project (the repository it was learned in, else the current one)."""
        memory = self._current()
        if memory is None or memory.id is None:
            return
        scope = "global" if memory.scope == "project" else "project"
        key = memory.repo_key or self.repo_key
        if scope == "project" and not key:
            self.app.notify("no repository to scope it to: open mtl inside one", severity="error")
            return
        self._redraw(self.store.rescope(memory.id, scope, key))

    def action_delete(self) -> None:
        targets = sorted(self.marked) or ([m.id] if (m := self._current()) and m.id else [])
        if not targets:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.store.delete(targets)
                self.marked -= set(targets)
                self.app.notify(f"Deleted {plural(len(targets), 'memory')}")
                self.reload()

        self.app.push_screen(ConfirmScreen(f"Delete {plural(len(targets), 'memory')}?"), confirmed)

    def action_export(self) -> None:
        """The marked memories, as asked for by id; with none marked, the pool as
        `mtl pack export` takes it (project-scoped and losing memories left out, and said)."""
        self.app.action_export(sorted(self.marked) or None)  # type: ignore[attr-defined]

    def action_close(self) -> None:
        self.app.pop_screen()
