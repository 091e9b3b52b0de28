"""What every command shares: settings, the pool, output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from mtl_tui.config import Settings, load_settings
from mtl_tui.memory.preload import embedder_for
from mtl_tui.memory.store import MemoryStore

PIPE_WIDTH = 4096  # output that is not a terminal is not wrapped (logs, grep, files)


def _console(stderr: bool = False) -> Console:
    tty = (sys.stderr if stderr else sys.stdout).isatty()
    return Console(
        stderr=stderr, highlight=False, soft_wrap=not tty, width=None if tty else PIPE_WIDTH
    )


out = _console()
err = _console(stderr=True)


def settings(**overrides: Any) -> Settings:
    return load_settings(overrides)


def notice(message: str) -> None:
    """A one-line notice on stderr (stdout stays clean for --json)."""
    err.print(f"[yellow]{escape(message)}[/]")


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


@contextmanager
def open_store(cfg: Settings | None = None, embed: bool = False) -> Iterator[MemoryStore]:
    """The user's pool; with `embed`, an embedder of the configured model attached
    (refused early, before the model loads, if the pool was built with another)."""
    cfg = cfg or settings()
    embedder = embedder_for(cfg.embedding_model, notice) if embed else None
    store = MemoryStore.open(embedder=embedder, notice=notice)
    try:
        if embedder is not None:
            with err.status(f"Loading embedding model {embedder.name}…"):
                embedder.load()
            if store.needs_upgrade():  # a pool from an older release: re-embed once
                with progress_bar("Upgrading the memory pool (re-embedding)") as update:
                    store.upgrade(update)
        yield store
    finally:
        store.close()


@contextmanager
def progress_bar(description: str) -> Iterator[Any]:
    """A `(done, total)` callback drawing a bar on stderr."""
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
