"""`mtl acp` end to end: the real agent process driven by the ACP SDK's client side, the
model behind litellm's HTTP path on the local test server, a real pool and git repo."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from acp import PROTOCOL_VERSION, RequestError, spawn_agent_process, text_block
from acp.connection import StreamDirection, StreamEvent
from acp.schema import (
    AgentMessageChunk,
    AgentThoughtChunk,
    AllowedOutcome,
    AvailableCommandsUpdate,
    DeniedOutcome,
    RequestPermissionResponse,
    ToolCallProgress,
    ToolCallStart,
)

from mtl_tui import events as ev
from mtl_tui.acp.agent import AcpOptions, prompt_text
from mtl_tui.acp.bridge import ALLOW, ALLOW_TURN, REJECT
from mtl_tui.acp.translate import TurnTranslator, memory_line
from mtl_tui.config import save_setting
from mtl_tui.memory.store import MemoryStore
from tests.conftest import DONE, bash, insight, run_mtl
from tests.openai_server import FakeOpenAI, reply
from tests.test_learning import LESSON, insights_reply

MODEL = "openai/local-test-model"
TRUSTED = [
    "Append to files with >> so existing content survives",
    "Read a file back after writing it to confirm the change",
]
IMPORTED = "Check notes files with a quick line count after appending"
REASON = "do not delete the sources"

Answer = Callable[[Any], Any]  # a RequestPermissionResponse, or an awaitable of one


def choose(option: str, reason: str | None = None) -> Answer:
    meta = {"reason": reason} if reason else None
    return lambda _call: RequestPermissionResponse(
        outcome=AllowedOutcome(outcome="selected", option_id=option, field_meta=meta)
    )


class RecordingClient:
    """An ACP client that records every update and answers permission requests from a
    list; `wire` keeps the agent's messages in the order they came over stdio."""

    def __init__(self) -> None:
        self.updates: list[Any] = []
        self.answers: list[Answer] = []
        self.asked: list[tuple[int, Any]] = []  # (updates seen before, the tool call)
        self.wire: list[dict[str, Any]] = []

    def observe(self, event: StreamEvent) -> None:
        if event.direction is StreamDirection.INCOMING and "method" in event.message:
            self.wire.append(event.message)

    async def session_update(self, session_id: str, update: Any, **_: Any) -> None:
        self.updates.append(update)

    async def request_permission(
        self, options: list[Any], session_id: str, tool_call: Any, **_: Any
    ) -> RequestPermissionResponse:
        assert [o.kind for o in options] == ["allow_once", "allow_always", "reject_once"]
        self.asked.append((len(self.updates), tool_call))
        answer = self.answers.pop(0)(tool_call)
        return await answer if inspect.isawaitable(answer) else answer

    def on_connect(self, conn: Any) -> None:
        pass

    def since(self, start: int) -> list[Any]:
        return self.updates[start:]


def text_of(updates: list[Any]) -> str:
    return "".join(u.content.text for u in updates if isinstance(u, AgentMessageChunk))


def tool_calls(updates: list[Any], tool_id: str) -> list[Any]:
    return [
        u
        for u in updates
        if isinstance(u, ToolCallStart | ToolCallProgress) and u.tool_call_id == tool_id
    ]


def tool_events(wire: list[dict[str, Any]], tool_id: str) -> list[str]:
    """What happened to one tool call, in wire order: "ask" or its updates' statuses."""
    seen = []
    for message in wire:
        params = message["params"]
        if message["method"] == "session/request_permission":
            if params["toolCall"]["toolCallId"] == tool_id:
                seen.append("ask")
        elif params["update"].get("toolCallId") == tool_id:
            seen.append(params["update"].get("status") or "update")
    return seen


def content_text(update: Any) -> str:
    return "\n".join(c.content.text for c in update.content or [])


async def wait_for(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def marked_processes(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture
def pool(store: MemoryStore) -> dict[str, int]:
    trusted = store.add_many([insight(t, ["shell"]) for t in TRUSTED])
    imported = store.add_many([insight(IMPORTED, ["shell"], origin="pack:team")])
    store.close()
    save_setting("memory.floor", -1.0)  # mechanics on unrelated lessons: the floor is off
    save_setting("memory.screen", False)  # and the replies planned are the agent's
    return {"trusted": [r.id for r in trusted], "imported": imported[0].id}  # type: ignore[dict-item]


async def drive(
    repo: Path, server: FakeOpenAI, stderr: Path, body: Callable[..., Awaitable[None]]
) -> None:
    client = RecordingClient()
    env = {**os.environ, "OPENAI_API_KEY": "", "PYTHONUNBUFFERED": "1"}
    with stderr.open("wb") as err:
        async with spawn_agent_process(
            client, sys.executable, "-m", "mtl_tui", "acp",
            "--model", MODEL, "--api-base", server.base_url,
            env=env, cwd=repo, transport_kwargs={"stderr": err}, observers=[client.observe],
        ) as (conn, process):  # fmt: skip
            init = await conn.initialize(protocol_version=PROTOCOL_VERSION)
            assert init.protocol_version == PROTOCOL_VERSION
            assert init.agent_info is not None and init.agent_info.name == "mtl"
            session = await conn.new_session(
                cwd=str(repo), mcp_servers=[], mtl={"verify": "test -s notes.txt"}
            )
            await body(conn, client, session.session_id)
            await conn.close()
        await asyncio.wait_for(process.wait(), 30)


@pytest.mark.slow
async def test_acp_turns_permission_memory_undo_and_cancel(
    git_repo: Path, fake_openai: FakeOpenAI, pool: dict[str, Any], tmp_path: Path
) -> None:
    marker = f"mtl-acp-marker-{uuid.uuid4().hex[:12]}"
    sleeper = f"python3 -c 'import time; time.sleep(300)' {marker}"
    fake_openai.plans = [
        reply(bash("echo 'first note' >> notes.txt", "I will append the note.")),
        reply(bash("rm -rf src", "Then tidy up.")),
        reply(DONE),
        reply(insights_reply(LESSON)),
        reply(bash("echo never > never.txt")),  # turn 3: cancelled while asked
        # turn 4: a long command, cancelled while it runs
        reply(bash(f"echo partial > partial.txt; echo long-started; {sleeper} & {sleeper}")),
    ]

    async def body(conn: Any, client: RecordingClient, sid: str) -> None:
        await wait_for(
            lambda: any(isinstance(u, AvailableCommandsUpdate) for u in client.updates),
            "the slash commands",
        )
        commands = next(u for u in client.updates if isinstance(u, AvailableCommandsUpdate))
        assert [c.name for c in commands.available_commands] == ["undo"]

        # -- turn 1: memory, a granted command, a rejected one, completion, learning -------
        # "Allow the rest of this turn" on the first: the destructive `rm -rf src` still
        # asks (the shared approval policy), the last command runs without a question.
        client.answers = [choose(ALLOW_TURN), choose(REJECT, REASON)]
        start = len(client.updates)
        done = await conn.prompt(
            session_id=sid, prompt=[text_block("append a line to the notes file and check it")]
        )
        turn = client.since(start)
        assert done.stop_reason == "end_turn"
        summary = done.field_meta["mtl"]["summary"]
        assert summary["status"] == "completed" and summary["steps"] == 3
        assert (summary["outcome"], summary["outcome_source"]) == ("success", "verify")
        assert sorted(summary["retrieved"]) == sorted([*pool["trusted"], pool["imported"]])
        assert sorted(summary["accepted"]) == sorted(pool["trusted"])

        # The retrieved memories come first (after a note while the pool loads), marked
        # used or imported.
        memory = next(u for u in turn if not isinstance(u, AgentThoughtChunk))
        assert isinstance(memory, ToolCallStart) and memory.kind == "search"
        shown = {m["id"]: m for m in memory.raw_output["retrieved"]}
        assert shown[pool["imported"]]["accepted"] is False
        assert shown[pool["imported"]]["trusted"] is False
        assert all(shown[i]["accepted"] and shown[i]["label"] for i in pool["trusted"])
        assert "imported (pack:team)" in content_text(memory)
        system = fake_openai.system_prompts()[0]
        assert all(t in system for t in TRUSTED) and IMPORTED not in system

        # Commands as tool calls, each asked about after it appeared (in wire order), then
        # run (live output, exit status), rejected with the reason, run.
        ids = [u.tool_call_id for u in turn if isinstance(u, ToolCallStart) and u.kind == "execute"]
        assert len(ids) == 3 and len(set(ids)) == 3
        assert [call.tool_call_id for _, call in client.asked] == ids[:2]
        assert tool_events(client.wire, ids[0]) == ["pending", "ask", "in_progress", "completed"]
        assert tool_events(client.wire, ids[1]) == ["pending", "ask", "failed"]
        assert tool_events(client.wire, ids[2])[:2] == ["pending", "in_progress"]
        assert tool_events(client.wire, ids[2])[-1] == "completed"
        first = tool_calls(turn, ids[0])
        assert first[-1].raw_output["returncode"] == 0 and "exit 0" in content_text(first[-1])
        rejected = tool_calls(turn, ids[1])
        assert REASON in content_text(rejected[-1])
        assert REASON in json.dumps(fake_openai.requests[2]["body"]["messages"][-1])
        # The prose streams around the tool calls, in order; the bash blocks do not.
        said = text_of(turn)
        assert said.index("I will append the note.") < said.index("Then tidy up.")
        assert "```bash" not in said
        assert turn.index(first[0]) < turn.index(rejected[0])

        # The repository changed (the rejected command did not run); the diff stat, the
        # learned insight and the summary end the turn.
        assert (git_repo / "notes.txt").read_text() == "first note\n"
        assert (git_repo / "src" / "cart.py").exists()
        assert "notes.txt" in said and "/undo" in said
        learned = [u for u in turn if isinstance(u, ToolCallStart) and u.kind == "think"]
        assert len(learned) == 1 and LESSON["title"] in content_text(learned[0])
        [learned_id] = summary["learned"]
        assert learned[0].raw_output["learned"][0]["id"] == learned_id
        assert "outcome success (by verify)" in said

        # -- turn 2: /undo, partial (a hook it cannot remove), then again, whole ------------
        hook = git_repo / ".git" / "hooks" / "post-commit"
        hook.write_text("#!/bin/sh\n")
        start = len(client.updates)
        partly = await conn.prompt(session_id=sid, prompt=[text_block("/undo")])
        report = partly.field_meta["mtl"]["undo"]
        assert report["complete"] is False and report["not_restored"] == [
            "hooks: hook post-commit created"
        ]
        said = text_of(client.since(start))
        assert "Partly restored shop" in said and "hooks: hook post-commit created" in said
        assert "Restored shop" not in said  # never claimed whole
        assert not (git_repo / "notes.txt").exists()
        hook.unlink()
        start = len(client.updates)
        undone = await conn.prompt(session_id=sid, prompt=[text_block("/undo")])
        assert undone.stop_reason == "end_turn" and undone.field_meta["mtl"]["undo"]["complete"]
        assert "Restored shop" in text_of(client.since(start))
        again = await conn.prompt(session_id=sid, prompt=[text_block("/undo")])
        assert again.stop_reason == "refusal" and not again.field_meta["mtl"]["undo"]["done"]

        # -- turn 3: cancel while the client is asked (it answers "cancelled") ---------------
        async def cancel_instead(_call: Any) -> RequestPermissionResponse:
            await conn.cancel(session_id=sid)
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))

        client.answers = [cancel_instead]
        start = len(client.updates)
        stopped = await conn.prompt(session_id=sid, prompt=[text_block("write the never file")])
        assert stopped.stop_reason == "cancelled"
        assert stopped.field_meta["mtl"]["summary"]["status"] == "interrupted"
        assert not (git_repo / "never.txt").exists()
        [asked] = [u for u in client.since(start) if isinstance(u, ToolCallStart)
                   and u.kind == "execute"]  # fmt: skip
        assert tool_events(client.wire, asked.tool_call_id) == ["pending", "ask", "failed"]

        # -- turn 4: cancel in the middle of a long command ----------------------------------
        client.answers = [choose(ALLOW)]
        start = len(client.updates)
        running = asyncio.ensure_future(
            conn.prompt(session_id=sid, prompt=[text_block("write the partial file")])
        )
        await wait_for(
            lambda: any(
                isinstance(u, ToolCallProgress)
                and u.status == "in_progress"
                and "long-started" in content_text(u)
                for u in client.since(start)
            ),
            "the long command's live output",
        )
        await wait_for(lambda: len(marked_processes(marker)) >= 2, "the marked processes")
        await conn.cancel(session_id=sid)
        cancelled = await asyncio.wait_for(running, 60)
        assert cancelled.stop_reason == "cancelled"
        # SIGKILL went to the whole group before the turn ended; the kernel finishes it.
        await wait_for(lambda: marked_processes(marker) == [], "no marked process", 10)
        turn = client.since(start)
        [long] = [u for u in turn if isinstance(u, ToolCallStart) and u.kind == "execute"]
        assert tool_calls(turn, long.tool_call_id)[-1].status == "failed"
        assert "interrupted" in content_text(tool_calls(turn, long.tool_call_id)[-1])

    await drive(git_repo, fake_openai, tmp_path / "acp-stderr.log", body)
    stderr = (tmp_path / "acp-stderr.log").read_text()
    assert "Traceback" not in stderr, stderr

    # The learned insight is in the pool; `mtl undo` reverts the cancelled turn.
    pool_after = MemoryStore.open()
    try:
        learned = [m for m in pool_after.list(kind="insight") if m.title == LESSON["title"]]
    finally:
        pool_after.close()
    assert len(learned) == 1 and learned[0].model == MODEL
    assert (git_repo / "partial.txt").exists()
    here = Path.cwd()
    os.chdir(git_repo)
    try:
        undo = run_mtl("undo")
    finally:
        os.chdir(here)
    assert undo.returncode == 0, undo.stderr
    assert not (git_repo / "partial.txt").exists()


async def test_acp_bad_input_gets_clear_answers(git_repo: Path, tmp_path: Path) -> None:
    """No model configured, a bad directory, a bad setting, nothing to undo: each gets
    one clear answer and the agent keeps serving."""
    client = RecordingClient()
    with (tmp_path / "stderr.log").open("wb") as err:
        async with spawn_agent_process(
            client, sys.executable, "-m", "mtl_tui", "acp", "--no-memory", "--no-learn",
            env=dict(os.environ), cwd=git_repo, transport_kwargs={"stderr": err},
        ) as (conn, process):  # fmt: skip
            await conn.initialize(protocol_version=PROTOCOL_VERSION)
            with pytest.raises(RequestError) as missing:
                await conn.new_session(cwd=str(tmp_path / "nowhere"), mcp_servers=[])
            assert "not a directory" in missing.value.data["details"]
            with pytest.raises(RequestError) as unknown:
                await conn.new_session(cwd=str(git_repo), mcp_servers=[], mtl={"verfy": "x"})
            assert "_meta.mtl.verfy: unknown setting" in unknown.value.data["details"]
            session = await conn.new_session(cwd=str(git_repo), mcp_servers=[])
            sid = session.session_id
            assert session.modes is not None and session.modes.current_mode_id == "ask"
            await conn.set_session_mode(session_id=sid, mode_id="yolo")
            with pytest.raises(RequestError):
                await conn.set_session_mode(session_id=sid, mode_id="turbo")
            answer = await conn.prompt(session_id=sid, prompt=[text_block("do something")])
            assert answer.stop_reason == "end_turn"
            assert "No model configured" in answer.field_meta["mtl"]["error"]
            assert "No model configured" in text_of(client.updates)
            undo = await conn.prompt(session_id=sid, prompt=[text_block("/undo")])
            assert undo.stop_reason == "refusal"
            assert "nothing to undo" in undo.field_meta["mtl"]["undo"]["error"]
            await conn.close()
        await asyncio.wait_for(process.wait(), 30)
    assert "Traceback" not in (tmp_path / "stderr.log").read_text()


def test_acp_with_a_broken_config_exits_2(mtl_home: Path) -> None:
    (mtl_home / "config.toml").parent.mkdir(parents=True, exist_ok=True)
    (mtl_home / "config.toml").write_text("[agent]\nstep_limit = 0\n")
    result = run_mtl("acp", input="")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("mtl: error: config file") and "Traceback" not in result.stderr


def test_streamed_prose_stops_at_the_bash_block() -> None:
    translate = TurnTranslator(1)
    translate(ev.StepStarted(1))
    pieces = ["Let me look", " first.\n`", "``bash\nls\n", "```"]
    out = [u.value.content.text for p in pieces for u in translate(ev.ModelToken(p))]
    assert "".join(out) == "Let me look first.\n"
    assert translate(ev.ModelReplied(1, "".join(pieces), 0.0, 0.0)) == []


def test_replies_that_were_not_streamed_are_said_whole() -> None:
    translate = TurnTranslator(1)
    translate(ev.StepStarted(1))
    [update] = translate(ev.ModelReplied(1, "Checking.\n```bash\nls\n```", 0.0, 0.0))
    assert update.value.content.text == "Checking.\n"


def test_live_output_of_one_command_coalesces() -> None:
    translate = TurnTranslator(2)
    [start] = translate(ev.CommandProposed(1, "make test\nmake lint"))
    assert start.value.title == "make test…" and start.value.status == "pending"
    first = translate(ev.CommandOutput("a\n"))[0]
    second = translate(ev.CommandOutput("b\n"))[0]
    assert first.coalesce == second.coalesce == start.value.tool_call_id
    assert "a\nb" in second.value.content[0].content.text
    [end] = translate(ev.CommandFinished(1, "make test", 2, "a\nb\n", 0.1, False))
    assert end.coalesce is None and end.value.status == "failed"


def test_session_meta_overrides_are_checked() -> None:
    base = AcpOptions()
    assert base.merged({"verify": "pytest -q", "yes": True}).verify == "pytest -q"
    assert base.verify is None
    with pytest.raises(ValueError, match="unknown setting"):
        base.merged({"verfy": "x"})
    with pytest.raises(ValueError, match="expected a bool"):
        base.merged({"yes": "no"})


def test_prompt_text_names_mentioned_files() -> None:
    from acp import resource_link_block

    blocks = [text_block("fix"), resource_link_block("cart.py", "file:///r/cart.py")]
    assert prompt_text(blocks) == "fix cart.py (file:///r/cart.py)"


def test_the_core_reports_retrieved_and_learned_memories(
    git_repo: Path, store: MemoryStore
) -> None:
    """What the faces show comes from the core's events, for every face alike."""
    from mtl_tui.session import accepted_by_default
    from tests.test_learning import session_for

    store.add_many([insight(t, ["shell"]) for t in TRUSTED])
    store.add_many([insight(IMPORTED, ["shell"], origin="pack:team")])
    session = session_for(
        git_repo, store, bash("echo note >> notes.txt"), DONE, insights_reply(LESSON), floor=-1.0
    )
    events: list[ev.Event] = []
    session.emit = events.append
    hits = session.retrieve("append a line to the notes file")
    accepted = accepted_by_default(hits)
    assert len(hits) == 3 and len(accepted) == 2
    assert accepted_by_default(hits, trust_imported=True) == hits
    summary = session.run("append a line to the notes file", hits, accepted,
                          verify="test -s notes.txt")  # fmt: skip
    [retrieved] = [e for e in events if isinstance(e, ev.MemoriesRetrieved)]
    shown = {m.title: m for m in retrieved.memories}
    assert not shown[IMPORTED].trusted and not shown[IMPORTED].accepted
    assert shown[IMPORTED].label is None
    labels = sorted(shown[t].label or "" for t in TRUSTED)
    assert labels == ["M1", "M2"] and all(shown[t].accepted for t in TRUSTED)
    # the number the faces show is the one the floor cuts on (relevance), hit by hit
    assert [m.relevance for m in retrieved.memories] == [h.relevance for h in hits]
    assert f"relevance {hits[0].relevance:.2f}" in memory_line(retrieved.memories[0])
    [learned] = [e for e in events if isinstance(e, ev.MemoriesLearned)]
    assert [(m.id, m.title, m.how) for m in learned.memories] == [
        (summary.learned[0], LESSON["title"], "stored")
    ]
