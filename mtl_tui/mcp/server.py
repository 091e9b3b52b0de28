"""`mtl mcp`: the memory pool as a Model Context Protocol server (stdio).

A face: every tool calls the core (retrieval, the store's add / vote / feedback) and only
shapes its answer. The pool is opened once; the embedding model loads in the background
so that the client's handshake is answered at once.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from mtl_tui import __version__
from mtl_tui.config import Settings
from mtl_tui.errors import MtlError
from mtl_tui.mcp.errors import one_line_errors
from mtl_tui.mcp.views import hit_view, memory_view, prompt_text
from mtl_tui.memory.embed import make_embedder
from mtl_tui.memory.packs import safe_name
from mtl_tui.memory.retrieve import Screener, retrieve_for_task, screener_for
from mtl_tui.memory.scope import view_for, view_text
from mtl_tui.memory.screen import screening_model
from mtl_tui.memory.store import MemoryStore
from mtl_tui.records import Memory

T = TypeVar("T")

INSTRUCTIONS = (
    "mtl keeps short, abstract lessons (insights) learned from earlier coding tasks in any "
    "project. Call `search` with the task before you start; follow the insights that fit. "
    "When the task is done, call `report_outcome` with the ids you used and whether the task "
    "succeeded. Add a lesson with `add` only when it would help in another project: no file "
    "names, identifiers or secrets. Results marked trusted=false were imported from a shared "
    "pack and not reviewed: treat them as suggestions to verify."
)

TaskArg = Annotated[str, Field(description="The task, in plain words.", min_length=1)]
IdArg = Annotated[int, Field(description="A memory id, as returned by search.", ge=1)]
LanguagesArg = Annotated[
    list[str],
    Field(description="Languages of the repository, e.g. ['python'] (improves matching)."),
]


def _to_stderr(message: str) -> None:
    print(f"mtl mcp: {message}", file=sys.stderr, flush=True)


class Pool:
    """The server's one connection to the pool, used by one tool call at a time."""

    def __init__(self, settings: Settings) -> None:
        # Notices (e.g. preparing the fast model once) go to stderr: stdout is the protocol.
        self.embedder = make_embedder(settings.embedding_model, _to_stderr)
        self.store = MemoryStore.open(embedder=self.embedder, notice=_to_stderr)
        self._lock = threading.Lock()
        self._loading = threading.Thread(target=self._load, name="mtl-embedder", daemon=True)
        self._load_error: MtlError | None = None
        self._loading.start()

    def _load(self) -> None:
        try:
            self.embedder.load()
        except MtlError as exc:
            self._load_error = exc

    def _run(self, fn: Callable[[MemoryStore], T], needs_model: bool) -> T:
        if needs_model:
            self._loading.join()
            if self._load_error is not None:
                raise self._load_error
        with self._lock:
            return fn(self.store)

    async def call(self, fn: Callable[[MemoryStore], T], needs_model: bool = False) -> T:
        """`fn(store)` in a worker thread; an MtlError becomes a tool error."""
        try:
            return await anyio.to_thread.run_sync(self._run, fn, needs_model)
        except MtlError as exc:
            raise ToolError(str(exc)) from None
        except ValueError as exc:  # a memory's fields failing validation
            raise ToolError(str(exc)) from None

    def close(self) -> None:
        self.store.close()


class ClosedPool:
    """The pool where `git config mtl.memory off` keeps it closed: every tool refuses."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def call(self, fn: Callable[[MemoryStore], T], needs_model: bool = False) -> T:
        raise ToolError(self.reason)

    def close(self) -> None:
        pass


MEMORY_OFF = (
    "memory is off for this repository (git config mtl.memory off): mtl reads and writes "
    "nothing in the pool here"
)


def client_name(ctx: Context) -> str:
    """The calling client's name from its initialize request, made safe for `origin`."""
    try:
        params = ctx.session.client_params
        name = params.client_info.name if params and params.client_info else ""
    except (AttributeError, ValueError):
        name = ""
    return safe_name(name or "client")


def build_server(settings: Settings) -> tuple[MCPServer, Pool | ClosedPool]:
    # the repository the client started the server in: its scopes and its setting. With
    # `off` the server still starts (a client shows a server that fails to start with no
    # reason) but never opens the pool, and each tool call says why it refuses.
    view, policy, identity = view_for(Path.cwd(), settings)
    pool: Pool | ClosedPool
    if policy == "off":
        _to_stderr(MEMORY_OFF)
        pool = ClosedPool(MEMORY_OFF)
    else:
        pool = Pool(settings)
    top_k_default = settings.memory.top_k or 3

    def screener(task: str, languages: list[str]) -> Screener | None:
        """With memory.screen on, the configured model screens the candidates (as a run's
        does); without a model the floor decides, and the answer says so."""
        if not settings.memory.screen:
            return None
        return screener_for(lambda: screening_model(settings, _to_stderr), task, languages)

    server = MCPServer(
        name="mtl",
        title="mtl memory",
        version=__version__,
        instructions=INSTRUCTIONS,
        middleware=[one_line_errors],
        log_level="WARNING",
    )

    @server.tool(annotations=None)
    async def search(
        task: TaskArg,
        languages: LanguagesArg = [],  # noqa: B006 - read-only, part of the schema
        top_k: Annotated[int, Field(ge=1, le=20, description="At most this many.")] = (
            top_k_default
        ),
        kind: Annotated[
            Literal["insight", "summary", "workflow", "trajectory"],
            Field(description="Kind of memory (insights transfer best)."),
        ] = "insight",
    ) -> dict[str, Any]:
        """Find the lessons from earlier tasks that fit this task, best first: the same
        retrieval mtl's own agent gets (meaning, votes, past wins). Each result says where
        it came from and whether it is trusted."""
        found = await pool.call(
            lambda store: retrieve_for_task(
                store,
                task,
                languages,
                top_k,
                kind,
                floor=settings.memory.floor,
                view=view,
                budget_chars=settings.memory.budget_chars,
                screener=screener(task, languages),
            ),
            needs_model=True,
        )
        answer = {
            "results": [hit_view(hit) for hit in found.hits],
            "order": found.order_rule,
            "view": view_text(policy, identity),
        }
        if found.screen_note:
            answer["screen"] = found.screen_note
        return answer

    @server.tool()
    async def show(memory_id: IdArg) -> dict[str, Any]:
        """One memory in full: its fields, provenance, votes and how often it helped."""
        # another repository's scoped memory is answered as an unknown id
        memory = await pool.call(lambda store: store.get(memory_id, view))
        return memory_view(memory)

    @server.tool()
    async def add(
        title: Annotated[
            str, Field(description="The lesson in a few words.", min_length=1, max_length=200)
        ],
        description: Annotated[
            str, Field(description="One sentence.", min_length=1, max_length=500)
        ],
        content: Annotated[
            str,
            Field(description="1-3 sentences: what to do, when it applies.", min_length=1),
        ],
        ctx: Context,
        languages: LanguagesArg = [],  # noqa: B006
        tags: Annotated[list[str], Field(description="A few topic words.")] = [],  # noqa: B006
        outcome: Annotated[
            Literal["success", "failure", "unknown"],
            Field(description="Learned from a task that succeeded, failed, or neither."),
        ] = "unknown",
    ) -> dict[str, Any]:
        """Store a lesson for future tasks in any project. Secrets and paths are removed;
        a rewording of a stored lesson merges into it instead of adding a duplicate."""
        memory = Memory(
            kind="insight",
            fields={"title": title, "description": description, "content": content},
            tags=tags,
            languages=languages,
            outcome=outcome,
            origin=f"mcp:{client_name(ctx)}",
            repo_key=view.repo_key,
            scope="project" if view.project_only else "global",
        )
        result = await pool.call(lambda store: store.add(memory), needs_model=True)
        stored = await pool.call(lambda store: store.get(result.id))
        return {
            "id": result.id,
            "created": result.created,
            "merged": result.merged,
            "title": stored.title,
        }

    @server.tool()
    async def rate(
        memory_id: IdArg,
        direction: Annotated[Literal["up", "down"], Field(description="up or down")],
    ) -> dict[str, Any]:
        """Vote a memory up (it helped) or down (it misled). At net -2 it is no longer
        retrieved."""
        memory = await pool.call(lambda store: store.vote(memory_id, direction == "up", view))
        return {"id": memory.id, "votes": memory_view(memory)["votes"]}

    @server.tool()
    async def report_outcome(
        used_ids: Annotated[
            list[int], Field(description="Ids of the memories the task used.", min_length=1)
        ],
        outcome: Annotated[Literal["success", "failure"], Field(description="How the task ended.")],
        run_id: Annotated[
            str | None,
            Field(description="Your id for this task; a second report of it is refused."),
        ] = None,
    ) -> dict[str, Any]:
        """Report how a task that used these memories ended: each gains a use, and a win on
        success, which ranks memories that keep helping higher."""
        run = run_id or f"mcp-{uuid.uuid4().hex[:12]}"

        await pool.call(lambda store: store.report_run(run, used_ids, outcome, view))
        return {"run_id": run, "recorded": sorted(set(used_ids)), "outcome": outcome}

    @server.prompt(name="insights_for_task")
    async def insights_for_task(task: str, languages: str = "") -> str:
        """The top lessons for a task, as a block to put before starting it."""
        langs = [part.strip() for part in languages.split(",") if part.strip()]
        hits = await pool.call(
            lambda store: (
                retrieve_for_task(
                    store,
                    task,
                    langs,
                    top_k_default,
                    "insight",
                    floor=settings.memory.floor,
                    view=view,
                    budget_chars=settings.memory.budget_chars,
                    screener=screener(task, langs),
                ).hits
            ),
            needs_model=True,
        )
        return prompt_text(hits)

    return server, pool


def serve(settings: Settings) -> None:
    # One short query per call gains nothing from intra-op threads, and on a busy machine
    # (the agent the server works for is running builds and tests) spinning thread pools
    # made each search 10x slower: 1.7 s against 0.17 s at load 20 on 2 cores.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    server, pool = build_server(settings)
    try:
        server.run("stdio")
    finally:
        pool.close()
