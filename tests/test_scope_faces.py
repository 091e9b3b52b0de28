"""Every face honours the repository's `git config mtl.memory` as a run does: `mtl learn`
(here), ACP and MCP (their own files, with the real SDK clients)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from acp import PROTOCOL_VERSION, spawn_agent_process, text_block
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from mtl_tui import paths
from mtl_tui.config import load_settings, save_setting
from mtl_tui.memory.retrieve import ORDER_RULE, retrieve
from mtl_tui.memory.scope import repo_view
from mtl_tui.memory.store import MemoryStore
from mtl_tui.repo.identity import identify
from tests.conftest import DONE, git, insight, script_file
from tests.openai_server import FakeOpenAI, reply
from tests.test_acp import MODEL, RecordingClient, text_of
from tests.test_histories import CLAUDE, _home_with_sessions
from tests.test_learning import LESSON, insights_reply
from tests.test_mcp import ROOT, call, error_of
from tests.test_pool_health import PROJECT_LESSON, a_repo, mtl_in, pool_bytes

GLOBAL_LESSON = {
    **PROJECT_LESSON,
    "title": "Compare dates in one time zone before asserting on them",
    "description": "Dates from two zones differ by hours and fail equality.",
    "content": "Convert both sides to UTC before comparing dates in a test.",
    "scope": "global",
}


def learn_from_claude(repo: Path, tmp_path: Path) -> tuple[int, str, str]:
    """`mtl learn --from claude-code` in `repo`, the model proposing one global and one
    project lesson; (exit code, stdout, stderr)."""
    home = tmp_path / "home"
    if not home.exists():
        _home_with_sessions(home)
    model = script_file(tmp_path, [insights_reply(GLOBAL_LESSON, PROJECT_LESSON)])
    env = {"HOME": str(home), "CLAUDE_CONFIG_DIR": "", "CODEX_HOME": ""}
    done = mtl_in(repo, "learn", "--from", "claude-code", "--kind", "insight", "--outcome",
                  "success", "--model", model, "--yes", "--json", env=env)  # fmt: skip
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("policy", ["on", "project"])
def test_learn_from_scopes_lessons_as_a_run_in_this_repository_does(
    policy: str, tmp_path: Path, embedder: object
) -> None:
    repo = a_repo(tmp_path, "inventory")
    git(repo, "config", "mtl.memory", policy)
    code, stdout, stderr = learn_from_claude(repo, tmp_path)
    assert code == 0, stderr
    learned = json.loads(stdout)[0]["learned"]
    store = MemoryStore.open()
    try:
        kept = {store.get(i).title: store.get(i) for i in learned}
    finally:
        store.close()
    key = identify(repo).key
    assert set(kept) == {GLOBAL_LESSON["title"], PROJECT_LESSON["title"]}
    project, other = kept[PROJECT_LESSON["title"]], kept[GLOBAL_LESSON["title"]]
    assert (project.scope, project.repo_key) == ("project", key)
    # with `project` everything learned here stays here, whatever the model proposed
    assert other.scope == ("project" if policy == "project" else "global")
    assert other.repo_key == key


def test_learn_from_refuses_in_an_opted_out_repository(tmp_path: Path) -> None:
    repo = a_repo(tmp_path, "inventory")
    MemoryStore.open().close()
    before = pool_bytes()
    git(repo, "config", "mtl.memory", "off")
    code, stdout, stderr = learn_from_claude(repo, tmp_path)
    assert code == 2 and stdout == ""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "memory is off for this repository" in lines[0], stderr
    assert pool_bytes() == before
    assert paths.pool_file().exists()


def test_learn_from_takes_each_sessions_policy_from_the_repository_it_ran_in(
    tmp_path: Path, embedder: object
) -> None:
    """Run in a plain repository: a session recorded in an `off` repository is skipped and
    listed so; one from a `project` repository is stored scoped to that repository."""
    here, hidden, private = (a_repo(tmp_path, name) for name in ("here", "hidden", "private"))
    git(hidden, "config", "mtl.memory", "off")
    git(private, "config", "mtl.memory", "project")
    project = tmp_path / "home" / ".claude" / "projects"
    for repo, session in ((hidden, "1111aaaa"), (private, "2222bbbb")):
        text = CLAUDE.read_text().replace("/home/dev/inventory-api", str(repo))
        text = text.replace("5b0c2d4e-7a1f-4c33-9e51-2f8d0a6b9c10", session)
        (project / repo.name).mkdir(parents=True)
        (project / repo.name / f"{session}.jsonl").write_text(text)
    code, stdout, stderr = learn_from_claude(here, tmp_path)
    assert code == 0, stderr
    report = {item["session"]: item for item in json.loads(stdout)}
    assert report["claude-code:1111aaaa"] == {
        "path": str(project / "hidden" / "1111aaaa.jsonl"),
        "session": "claude-code:1111aaaa",
        "skipped": "memory is off for its repository",
    }
    learned = report["claude-code:2222bbbb"]["learned"]
    store = MemoryStore.open()
    try:
        kept = [store.get(i) for i in learned]
    finally:
        store.close()
    assert {m.title for m in kept} == {GLOBAL_LESSON["title"], PROJECT_LESSON["title"]}
    assert {(m.scope, m.repo_key) for m in kept} == {("project", identify(private).key)}


# -- ACP: the real agent process driven by the ACP SDK's client ------------------------------


def open_files(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            found.add(os.readlink(fd))
    return found


async def acp_turns(
    repo: Path, server: FakeOpenAI, tasks: list[str], tmp_path: Path, start_in: Path | None = None
) -> tuple[list[Any], list[str], set[str]]:
    """Each task as one prompt turn of one session in `repo` (verify: `true`), the agent
    started in `start_in` (default `repo`): the turns' summaries, the text the client was
    told in each, and the files the agent held open."""
    client = RecordingClient()
    env = {**os.environ, "OPENAI_API_KEY": "", "PYTHONUNBUFFERED": "1"}
    summaries: list[Any] = []
    said: list[str] = []
    with (tmp_path / "acp-stderr.log").open("wb") as err:
        async with spawn_agent_process(
            client, sys.executable, "-m", "mtl_tui", "acp", "--model", MODEL,
            "--api-base", server.base_url, "--yes",
            env=env, cwd=start_in or repo, transport_kwargs={"stderr": err},
        ) as (conn, process):  # fmt: skip
            await conn.initialize(protocol_version=PROTOCOL_VERSION)
            session = await conn.new_session(cwd=str(repo), mcp_servers=[], mtl={"verify": "true"})
            for task in tasks:
                start = len(client.updates)
                done = await conn.prompt(session_id=session.session_id, prompt=[text_block(task)])
                summaries.append(done.field_meta["mtl"]["summary"])
                said.append(text_of(client.since(start)))
            held = open_files(process.pid)
            await conn.close()
        await asyncio.wait_for(process.wait(), 30)
    return summaries, said, held


@pytest.mark.slow
async def test_acp_in_an_opted_out_repository_never_opens_the_pool(
    git_repo: Path, fake_openai: FakeOpenAI, store: MemoryStore, tmp_path: Path
) -> None:
    store.add(insight("Append to files with >> so existing content survives", ["shell"]))
    store.close()
    save_setting("memory.floor", -1.0)
    git(git_repo, "config", "mtl.memory", "off")
    before = pool_bytes()
    fake_openai.plans = [reply(DONE), reply(DONE), reply(insights_reply(LESSON))]
    summaries, said, held = await acp_turns(
        git_repo, fake_openai, ["append a line to the notes file", "check the notes"], tmp_path
    )
    assert [s["retrieved"] for s in summaries] == [[], []]
    assert [s["learned"] for s in summaries] == [[], []]
    assert summaries[0]["outcome"] == "success"  # a success would have been learned from
    assert "Memory is off for this repository" in said[0]
    assert "Memory is off" not in said[1]  # said once
    assert "Memory items" not in fake_openai.system_prompts()[0]
    assert len(fake_openai.requests) == 2  # one per turn: no distillation call
    assert not any(name.startswith(str(paths.pool_file())) for name in held)
    assert pool_bytes() == before


@pytest.mark.slow
async def test_acp_started_outside_a_repository_opens_no_pool_for_an_opted_out_session(
    git_repo: Path, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    """Started where no repository is (so no `off` applies to the process), the agent
    still must not open, create or migrate the pool before a session needs it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    git(git_repo, "config", "mtl.memory", "off")
    assert not paths.pool_file().exists()
    fake_openai.plans = [reply(DONE)]
    summaries, said, held = await acp_turns(
        git_repo, fake_openai, ["append a line to the notes file"], tmp_path, start_in=outside
    )
    assert summaries[0]["outcome"] == "success"
    assert "Memory is off for this repository" in said[0]
    assert not any(name.startswith(str(paths.pool_file())) for name in held)
    assert not paths.pool_file().exists()


@pytest.mark.slow
async def test_acp_in_a_project_only_repository_sees_and_keeps_its_own(
    tmp_path: Path, fake_openai: FakeOpenAI, store: MemoryStore
) -> None:
    alpha, beta = a_repo(tmp_path, "alpha"), a_repo(tmp_path, "beta")
    git(alpha, "config", "mtl.memory", "project")
    shared = store.add(insight("Run the whole test suite before committing a change")).id
    ids = {}
    for repo in (alpha, beta):
        own = insight(f"Run make check in {repo.name} before committing")
        own.scope, own.repo_key = "project", identify(repo).key
        ids[repo.name] = store.add(own).id
    store.close()
    save_setting("memory.floor", -1.0)
    save_setting("memory.screen", False)  # its replies are the agent's
    fake_openai.plans = [reply(DONE), reply(insights_reply(GLOBAL_LESSON))]
    [summary], [said], held = await acp_turns(
        alpha, fake_openai, ["commit after running the checks"], tmp_path
    )
    assert summary["retrieved"] == [ids["alpha"]]  # not the global one, not beta's
    assert "view: alpha's own memories only; global memories are excluded" in said
    assert shared not in summary["retrieved"]
    assert any(name == str(paths.pool_file()) for name in held)  # memory on: pool opened
    pool = MemoryStore.open()
    try:
        [learned] = [pool.get(i) for i in summary["learned"]]
    finally:
        pool.close()
    assert (learned.scope, learned.repo_key) == ("project", identify(alpha).key)


# -- MCP: the real server in a child process, driven by the MCP SDK's stdio client ------------


@asynccontextmanager
async def mcp_in(repo: Path) -> AsyncIterator[ClientSession]:
    """The MCP server started by a client in `repo` (as Claude Code starts it in a project)."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mtl_tui", "mcp"],
        env={"PYTHONPATH": str(ROOT), "MTL_HOME": os.environ["MTL_HOME"]},
        cwd=str(repo),
    )
    with open(os.devnull, "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


@pytest.mark.slow
async def test_mcp_shows_a_project_memory_only_in_its_own_repository(
    tmp_path: Path, store: MemoryStore
) -> None:
    alpha, beta = a_repo(tmp_path, "alpha"), a_repo(tmp_path, "beta")
    shared = store.add(insight("Run the whole test suite before committing a change")).id
    own = insight("Run make check in this repository before committing")
    own.scope, own.repo_key = "project", identify(alpha).key
    mine = store.add(own).id
    store.close()
    save_setting("memory.floor", -1.0)
    task = "commit after running the checks"

    async with mcp_in(beta) as session:
        found = await call(session, "search", task=task, top_k=5)
        assert [r["id"] for r in found["results"]] == [shared]
        assert found["view"] == "view: global memories and beta's own"
        assert found["order"] == ORDER_RULE
    async with mcp_in(alpha) as session:
        found = await call(session, "search", task=task, top_k=5)
        assert sorted(r["id"] for r in found["results"]) == sorted([shared, mine])
    git(alpha, "config", "mtl.memory", "project")  # the view says the global one is out
    async with mcp_in(alpha) as session:
        found = await call(session, "search", task=task, top_k=5)
        assert [r["id"] for r in found["results"]] == [mine]
        assert "global memories are excluded" in found["view"]

    git(beta, "config", "mtl.memory", "off")
    before = pool_bytes()
    async with mcp_in(beta) as session:
        for tool, arguments in [
            ("search", {"task": task}),
            ("show", {"memory_id": shared}),
            ("rate", {"memory_id": shared, "direction": "up"}),
            ("add", {"title": "A lesson", "description": "One.", "content": "Two."}),
            ("report_outcome", {"used_ids": [shared], "outcome": "success"}),
        ]:
            message = await error_of(session, tool, **arguments)
            assert "memory is off for this repository" in message, (tool, message)
            assert "git config mtl.memory off" in message
    assert pool_bytes() == before


TOOLS = ("show", "rate", "report_outcome")


def scoped_to(repo: Path, memory: Any) -> Any:
    memory.scope, memory.repo_key = "project", identify(repo).key
    return memory


@pytest.mark.slow
async def test_mcp_answers_another_repositorys_memory_as_an_unknown_id(
    tmp_path: Path, store: MemoryStore
) -> None:
    alpha, beta = a_repo(tmp_path, "alpha"), a_repo(tmp_path, "beta")
    git(alpha, "config", "mtl.memory", "project")
    shared = store.add(insight("Run the whole test suite before committing a change")).id
    theirs = store.add(scoped_to(alpha, insight("Run make check in alpha before committing"))).id
    before = store.get(theirs)
    store.close()
    missing = theirs + 100

    async with mcp_in(beta) as session:
        for memory_id in (theirs, missing):
            answers = [
                await error_of(session, "show", memory_id=memory_id),
                await error_of(session, "rate", memory_id=memory_id, direction="up"),
                await error_of(
                    session, "report_outcome", used_ids=[shared, memory_id], outcome="success"
                ),
            ]
            # the same answer, word for word, as for an id that does not exist
            expected = [f"{tool}: no memory with id {memory_id}" for tool in TOOLS]
            assert answers == expected
        shown = await call(session, "show", memory_id=shared)  # the global one: still served
        assert shown["id"] == shared
    async with mcp_in(alpha) as session:  # its own repository still sees and rates it
        assert (await call(session, "show", memory_id=theirs))["id"] == theirs
        # project-only: the global one is not alpha's, as its search says
        assert await error_of(session, "show", memory_id=shared) == (
            f"show: no memory with id {shared}"
        )

    pool = MemoryStore.open()
    try:
        after, global_one = pool.get(theirs), pool.get(shared)
    finally:
        pool.close()
    assert (after.up, after.down, after.uses, after.wins) == (
        before.up, before.down, before.uses, before.wins)  # fmt: skip
    assert (global_one.uses, global_one.wins) == (0, 0)  # all or nothing: B's reports failed


def test_a_projects_refinement_supersedes_a_global_lesson_only_there(
    tmp_path: Path, store: MemoryStore
) -> None:
    alpha, beta = a_repo(tmp_path, "alpha"), a_repo(tmp_path, "beta")
    lesson = store.add(insight("Quote shell variables so paths with spaces do not split")).id
    refined = insight("In alpha, quote every variable in the deploy scripts with double quotes")
    refinement = store.add_linked(scoped_to(alpha, refined), "refines", lesson, "run-1").id
    task = "quote shell variables that hold paths"

    def seen_in(repo: Path) -> tuple[list[int], list[str]]:
        view = repo_view(identify(repo), "on", load_settings())
        found = retrieve(store, task, k=5, floor=-1.0, view=view)
        left = [f"#{i.hit.memory.id} {i.reason}: {i.detail}" for i in found.left_out]
        return [h.memory.id for h in found.hits], left

    hits, left = seen_in(alpha)
    assert hits == [refinement]
    assert left == [f"#{lesson} superseded: superseded by its refinement #{refinement}"]
    hits, left = seen_in(beta)
    assert hits == [lesson]  # beta keeps the global lesson
    assert not any(f"#{refinement}" in line for line in left), left  # and never learns the id


def test_distillation_never_shows_the_model_another_repositorys_project_memory(
    tmp_path: Path, store: MemoryStore
) -> None:
    """The neighbours of a new lesson go into the prompt sent to the model: in beta, alpha's
    project memory is not one of them (in alpha it is, so the lesson is really near)."""
    from mtl_tui.agent.model import ModelReply, ScriptedModel
    from mtl_tui.memory.distill import RunRecord
    from mtl_tui.session import learn

    alpha, beta = a_repo(tmp_path, "alpha"), a_repo(tmp_path, "beta")
    secret_plan = "Run the narrowest failing test in alpha's billing-ledger module before a fix"
    theirs = store.add(scoped_to(alpha, insight(secret_plan))).id
    edit = '{"operations": [{"op": "add", "lesson": "C1"}]}'

    def learn_in(repo: Path) -> ScriptedModel:
        model = ScriptedModel([ModelReply(insights_reply(LESSON)), ModelReply(edit)])
        key = identify(repo).key
        record = RunRecord(
            task="fix the failing test", steps=[("pytest -x", "1 failed")], outcome="success",
            model="scripted", repo=repo.name, repo_key=key,
        )  # fmt: skip
        learn(model, store, record, ["insight"])
        return model

    in_alpha = learn_in(alpha)
    assert len(in_alpha.calls) == 2  # alpha's lesson is a neighbour there: the edit call
    assert secret_plan in json.dumps(in_alpha.calls[1])
    in_beta = learn_in(beta)
    sent = json.dumps(in_beta.calls)
    assert secret_plan not in sent and "billing-ledger" not in sent
    assert store.get(theirs).fields["title"] == secret_plan  # untouched
