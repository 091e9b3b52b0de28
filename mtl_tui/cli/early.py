"""What the command line knows before typer is imported: the command names, and whether
the command embeds a query soon, so that the embedding model starts loading at once,
while the parser, the command's module and the pool are still being readied."""

from __future__ import annotations

import contextlib

#: Every command, in the order `mtl --help` lists them.
COMMANDS = ("acp", "tui", "doctor", "run", "learn", "bench", "undo", "memory", "pack", "mcp")
ROOT_OPTIONS = {"--help", "-h", "--version"}
#: Commands that embed a query soon after they start (unless told otherwise).
_EMBEDS = (("memory", "search"), ("memory", "add"), ("run",), ("tui",))


def with_command(args: list[str]) -> list[str]:
    """`args` with `tui` first when they name no command (`mtl`, `mtl "TASK"`)."""
    if not args or (args[0] not in COMMANDS and args[0] not in ROOT_OPTIONS):
        return ["tui", *args]
    return args


def preload_before_parsing(args: list[str]) -> None:
    """`preload_embedder` for the command line as given, unless its first word may be a
    mistyped command name: the parser says so first (the exit would wait for the load)."""
    if args and args[0] not in COMMANDS and " " not in args[0] and not args[0].startswith("-"):
        return
    preload_embedder(with_command(args))


def preload_embedder(args: list[str]) -> None:
    """Start loading the embedding model now if the command (`args` as `with_command`
    returns them) will embed: it is what the first query waits for."""
    if not any(tuple(args[: len(words)]) == words for words in _EMBEDS):
        return
    if {"--help", "-h", "--no-memory"} & set(args):
        return
    from mtl_tui.config import load_settings
    from mtl_tui.memory import preload

    with contextlib.suppress(Exception):  # the command itself reports a bad config
        preload.start(load_settings({}).embedding_model)
