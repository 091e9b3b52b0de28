"""`mtl mcp` end to end: the real server in a child process, driven by the MCP SDK's own
stdio client, on a real pool."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import Implementation

from mtl_tui.config import load_settings
from mtl_tui.errors import MtlError
from mtl_tui.mcp.errors import condense
from mtl_tui.memory.retrieve import retrieve_for_task
from mtl_tui.memory.store import MemoryStore
from tests.conftest import insight, run_mtl

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@asynccontextmanager
async def mcp_client(home: Path, name: str = "test-client") -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mtl_tui", "mcp"],
        env={"PYTHONPATH": str(ROOT), "MTL_HOME": str(home)},
        cwd=str(ROOT),
    )
    with open(os.devnull, "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(
                read, write, client_info=Implementation(name=name, version="1.0")
            ) as session,
        ):
            await session.initialize()
            yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def error_of(session: ClientSession, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "\n" not in text
    return text


POOL = [
    ("Reproduce a failing test before changing any code", ["python"]),
    ("Quote shell variables so paths with spaces do not split", ["shell"]),
    ("Profile before optimising a slow database query", ["sql"]),
]


async def test_tools_over_stdio(mtl_home: Path, store: MemoryStore) -> None:
    ids = [r.id for r in store.add_many([insight(t, langs) for t, langs in POOL])]
    imported = insight("Pin dependency versions when an upgrade breaks the build")
    imported.origin = "pack:team"
    [imported_id] = [r.id for r in store.add_many([imported])]
    store.close()

    async with mcp_client(mtl_home) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == {"search", "show", "add", "rate", "report_outcome"}
        for tool in tools.values():
            assert tool.description and tool.input_schema["type"] == "object"
        assert tools["search"].input_schema["required"] == ["task"]
        assert tools["rate"].input_schema["properties"]["direction"]["enum"] == ["up", "down"]

        found = await call(session, "search", task="a unit test fails after my change",
                           languages=["python"])  # fmt: skip
        assert found["results"][0]["id"] == ids[0]
        first = found["results"][0]
        assert first["trusted"] is True and first["imported"] is False
        assert {"relevance", "similarity", "score", "provenance", "origin", "text"} <= first.keys()

        build = await call(session, "search", task="the build broke after upgrading packages")
        hit = next(r for r in build["results"] if r["id"] == imported_id)
        assert hit["imported"] is True and hit["trusted"] is False and "warning" in hit

        added = await call(
            session,
            "add",
            title="Read the evaluator script before writing a solution",
            description="The checker defines success; read it first.",
            content="Open the grader with api_key=sk-abcdefghijklmnop1234 set in /home/ann/p/x.",
            languages=["python"],
        )
        assert added["created"] is True
        shown = await call(session, "show", memory_id=added["id"])
        assert shown["origin"] == "mcp:test-client"
        assert "sk-abcdefghijklmnop1234" not in json.dumps(shown)
        assert "/home/ann" not in json.dumps(shown)
        again = await call(
            session,
            "add",
            title="Read the evaluator script before you write a solution",
            description="Same lesson, reworded.",
            content="Same lesson.",
        )
        assert again["created"] is False and again["id"] == added["id"]

        voted = await call(session, "rate", memory_id=ids[1], direction="up")
        assert voted["votes"]["up"] == 1

        report = await call(
            session, "report_outcome", used_ids=[ids[0], added["id"]], outcome="success",
            run_id="task-1",
        )  # fmt: skip
        assert report["recorded"] == sorted([ids[0], added["id"]])
        shown = await call(session, "show", memory_id=ids[0])
        assert (shown["uses"], shown["wins"]) == (1, 1)

        prompt = await session.get_prompt("insights_for_task", {"task": "a test fails"})
        text = prompt.messages[0].content.text  # type: ignore[union-attr]
        assert f"(id {ids[0]})" in text and "[M1]" in text

        assert "no memory with id 999" in await error_of(session, "show", memory_id=999)
        assert "top_k" in await error_of(session, "search", task="x", top_k=500)
        missing = await error_of(session, "add", title="only a title")
        assert "description" in missing and "content" in missing
        sideways = await error_of(session, "rate", memory_id=ids[0], direction="sideways")
        assert "direction" in sideways
        assert "already reported" in await error_of(
            session, "report_outcome", used_ids=[ids[0]], outcome="success", run_id="task-1"
        )
        unknown = await error_of(
            session, "report_outcome", used_ids=[ids[0], 4242], outcome="failure"
        )
        assert "4242" in unknown
        # The server is still up after the errors.
        assert (await call(session, "show", memory_id=ids[0]))["uses"] == 1
        found = await call(session, "search", task="a unit test fails after my change",
                           languages=["python"])  # fmt: skip
        plain = await call(session, "search", task="the build broke after an upgrade", top_k=3)

    # What the server returned is what every face retrieves for the task (floor included):
    # the core function, and `mtl memory search` for the same words.
    pool = MemoryStore.open(embedder=store.embedder)
    try:
        floor = load_settings().memory.floor
        core = retrieve_for_task(
            pool, "a unit test fails after my change", ["python"], 3, floor=floor
        ).hits
        assert [h.memory.id for h in core] == [r["id"] for r in found["results"]]
        # the number shown is the one the floor cut on, as in the panel and the CLI
        assert [round(h.relevance, 4) for h in core] == [  # type: ignore[arg-type]
            r["relevance"] for r in found["results"]
        ]
        assert pool.get(ids[0]).uses == 1 and pool.get(ids[1]).up == 1
    finally:
        pool.close()
    cli = run_mtl("memory", "search", "the build broke after an upgrade", "-k", "3", "--json")
    assert cli.returncode == 0, cli.stderr
    cli_hits = json.loads(cli.stdout)
    assert [hit["id"] for hit in cli_hits] == [r["id"] for r in plain["results"]]
    assert [hit["relevance"] for hit in cli_hits] == [r["relevance"] for r in plain["results"]]


TITLES = [
    "Check the exit code of every command in a shell pipeline",
    "Seed random number generators so experiments repeat",
    "Compare floating point results with a tolerance",
    "Use non-interactive flags when installing system packages",
    "Keep a development server running in the background while testing",
    "Normalise line endings before diffing text files",
    "Run order-dependent tests in isolation to find hidden state",
    "Stream large files instead of loading them into memory",
    "Guard shared counters with a lock in threaded code",
    "Link against the math library when the linker reports undefined symbols",
]


async def test_two_servers_and_a_cli_writer_lose_nothing(
    mtl_home: Path, store: MemoryStore
) -> None:
    store.add(insight("Read the task statement twice before starting"))  # the index exists
    store.close()

    async def server_writes(name: str, titles: list[str]) -> None:
        async with mcp_client(mtl_home, name) as session:
            for title in titles:
                added = await call(session, "add", title=title, description=f"{title}.",
                                   content=f"{title}; it avoids a class of bugs.")  # fmt: skip
                assert added["created"] is True

    def cli_writes(titles: list[str]) -> None:
        for title in titles:
            result = run_mtl("memory", "add", "--title", title)
            assert result.returncode == 0, result.stderr

    async with anyio.create_task_group() as group:
        group.start_soon(server_writes, "client-a", TITLES[0:4])
        group.start_soon(server_writes, "client-b", TITLES[4:8])
        group.start_soon(anyio.to_thread.run_sync, cli_writes, TITLES[8:10])

    pool = MemoryStore.open()
    try:
        memories = pool.list()
        assert sorted(m.title for m in memories) == sorted(
            [*TITLES, "Read the task statement twice before starting"]
        )
        origins = {m.title: m.origin for m in memories}
        assert origins[TITLES[0]] == "mcp:client-a" and origins[TITLES[5]] == "mcp:client-b"
        assert origins[TITLES[9]] == "manual"
    finally:
        pool.close()


def test_condense_makes_argument_errors_one_line() -> None:
    text = (
        "Error executing tool add: 2 validation errors for addArguments\ntitle\n"
        "  String should have at least 1 character [type=string_too_short, input_value='']\n"
        "    For further information visit https://errors.pydantic.dev/2/v/string_too_short\n"
        "content\n  Field required [type=missing, input_value={}, input_type=dict]\n"
        "    For further information visit https://errors.pydantic.dev/2/v/missing\n"
    )
    assert condense(text) == (
        "add: bad arguments: title: String should have at least 1 character; "
        "content: Field required"
    )
    assert condense("Error executing tool show: no memory with id 3") == (
        "show: no memory with id 3"
    )


def test_reported_runs_count_once_and_all_or_nothing(store: MemoryStore) -> None:
    a, b = (r.id for r in store.add_many([insight(t) for t, _ in POOL[:2]]))
    with pytest.raises(MtlError, match="no memory with id 999"):
        store.report_run("r1", [a, 999], "success")
    assert store.get(a).uses == 0 and store.uses_of_run("r1") == []
    store.report_run("r1", [a, b, a], "success")
    with pytest.raises(MtlError, match="already reported"):
        store.report_run("r1", [b], "failure")
    assert (store.get(a).uses, store.get(a).wins, store.get(b).uses) == (1, 1, 1)
