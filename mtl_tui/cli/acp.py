"""`mtl acp`: mtl's agent over the Agent Client Protocol on stdin/stdout, for Zed, Toad
and any ACP client. stdout carries only the protocol; everything else goes to stderr."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from mtl_tui.cli.choices import SCRIPTED_HELP
from mtl_tui.config import Settings

if TYPE_CHECKING:
    from mtl_tui.acp.agent import AcpOptions
    from mtl_tui.memory.store import MemoryStore


def command(
    model: Annotated[str | None, typer.Option(help=SCRIPTED_HELP)] = None,
    api_base: Annotated[str | None, typer.Option(help="Base URL of the model's API.")] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Start sessions in yolo mode (no permission asks).")
    ] = False,
    verify: Annotated[
        str | None,
        typer.Option(help="Shell command whose exit code decides each turn's outcome."),
    ] = None,
    no_memory: Annotated[bool, typer.Option("--no-memory", help="Retrieve no memories.")] = False,
    no_learn: Annotated[
        bool, typer.Option("--no-learn", help="Do not distill memories from turns.")
    ] = False,
    trust_imported: Annotated[
        bool,
        typer.Option("--trust-imported", help="Also put memories imported from packs in prompts."),
    ] = False,
) -> None:
    """Serve mtl's agent, with its memory, to an Agent Client Protocol client over stdio.

    Zed: "agent_servers": {"mtl": {"type": "custom", "command": "mtl", "args": ["acp"]}}.
    Toad: toad acp "mtl acp". Each prompt is one task run in the session's directory;
    commands ask for the client's permission unless in yolo mode; /undo reverts the last
    run. A client may override the flags per session with _meta {"mtl": {...}} on
    session/new (keys: yes, memory, learn, trust_imported, verify)."""
    from mtl_tui.acp.agent import AcpOptions
    from mtl_tui.config import load_settings

    cfg = load_settings({"model": model, "api_base": api_base})
    options = AcpOptions(
        yes=yes, memory=not no_memory, learn=not no_learn,
        trust_imported=trust_imported, verify=verify,
    )  # fmt: skip
    serve(cfg, options)


def open_pool(cfg: Settings) -> MemoryStore:
    from mtl_tui.cli.common import notice  # stderr: stdout carries the protocol
    from mtl_tui.memory.embed import make_embedder
    from mtl_tui.memory.store import MemoryStore

    embedder = make_embedder(cfg.embedding_model, notice)
    store = MemoryStore.open(embedder=embedder, notice=notice)
    try:
        embedder.load()
    except BaseException:
        store.close()
        raise
    return store


def serve(cfg: Settings, options: AcpOptions) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="mtl acp: %(levelname)s: %(message)s")  # fmt: skip
    # The protocol gets its own copy of stdout; fd 1 itself now points at stderr, so a
    # stray print (ours or a library's) cannot corrupt the JSON-RPC stream.
    protocol_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(cfg, options, protocol_out))


async def _serve(cfg: Settings, options: AcpOptions, protocol_out: BinaryIO) -> None:
    from acp import run_agent, stdio_streams

    from mtl_tui.acp.agent import MtlAgent

    agent = MtlAgent(cfg, options, open_store=lambda: open_pool(cfg))
    real_stdout, sys.stdout = sys.stdout, protocol_out  # type: ignore[assignment]
    try:
        reader, writer = await stdio_streams(limit=50 * 1024 * 1024)
    finally:
        sys.stdout = real_stdout
    try:
        await run_agent(agent, writer, reader)
    finally:
        await agent.close()
