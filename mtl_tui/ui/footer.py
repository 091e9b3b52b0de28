"""A footer that fits: only the keys that work now, and when they do not all fit on one
line, the least important go whole (never a key cut mid-word, as Textual's own footer
clips them at 80 columns)."""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

NARROW = 100  # columns: below, the footer drops its padding

# Which keys go first when space runs out (higher goes first); the focused widget's own
# keys (accept, vote, keep…) rank 1, the command palette goes first of all.
APP_RANK = {
    "quit_twice": 0,
    "interrupt": 0,
    "undo": 2,
    "diff": 2,
    "toggle_auto": 3,
    "toggle_insights": 3,
    "browser": 3,
}
WIDGET_RANK = 1
OTHER_RANK = 3
PALETTE_RANK = 4


def key_width(key: str, description: str, compact: bool) -> int:
    """Cells a FooterKey takes, its margin included (Textual's footer styles)."""
    key_cells, text_cells = cell_len(key), cell_len(description)
    if compact:  # key without padding, one space, the description, a margin of one
        return key_cells + (1 + text_cells if description else 0) + 1
    return key_cells + 2 + (text_cells + 1 if description else 0)


def palette_width(key: str, description: str, compact: bool) -> int:
    """The palette key, docked right: its own compact look, a border, padding or margin."""
    return 1 + cell_len(key) + 1 + cell_len(description) + 1


class FittingFooter(Footer):
    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        width = self.app.size.width
        compact = width < NARROW
        self.set_class(compact, "-compact")
        self.set_reactive(Footer.compact, compact)
        active = self.screen.active_bindings
        shown: dict[str, tuple[Binding, int]] = {}  # action -> (binding, rank), first key
        for node, binding, enabled, _tooltip in active.values():
            if not binding.show or not enabled or binding.action in shown:
                continue
            rank = APP_RANK.get(binding.action, OTHER_RANK) if node is self.app else WIDGET_RANK
            shown[binding.action] = (binding, rank)
        palette = None
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            found = active.get(self.app.COMMAND_PALETTE_BINDING)
            if found is not None and found.enabled:
                palette = found.binding
        kept = list(shown.values())

        def used() -> int:
            total = sum(
                key_width(self.app.get_key_display(b), b.description, compact) for b, _ in kept
            )
            if palette is not None:
                key = self.app.get_key_display(palette)
                total += palette_width(key, palette.description, compact)
            return total

        while used() > width:
            if palette is not None and (not kept or max(r for _, r in kept) <= PALETTE_RANK):
                palette = None
                continue
            worst = max(rank for _, rank in kept)
            drop = max(i for i, (_, rank) in enumerate(kept) if rank == worst)
            if worst == 0 and len(kept) == 1:
                break  # the last key stays, whatever the width
            kept.pop(drop)
        for binding, _rank in kept:
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                tooltip=binding.tooltip,
            ).data_bind(compact=Footer.compact)
        if palette is not None:
            yield FooterKey(
                palette.key,
                self.app.get_key_display(palette),
                palette.description,
                palette.action,
                classes="-command-palette",
                tooltip=palette.tooltip or palette.description,
            )

    def on_resize(self, event: events.Resize) -> None:
        if self._bindings_ready and self.is_attached:
            self.call_after_refresh(self.recompose)
