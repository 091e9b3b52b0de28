"""Memory transfer in the core: retrieval into the prompt, outcome, distillation, dedup,
feedback — with the real pool, the real embedding model and the scripted model."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from mtl_tui import paths
from mtl_tui.agent.loop import Decision
from mtl_tui.agent.model import ModelReply, ScriptedModel
from mtl_tui.config import Settings
from mtl_tui.memory.distill import RunRecord, distill, judge, parse_json_object
from mtl_tui.memory.learn import load_run
from mtl_tui.memory.store import DEDUP_THRESHOLD, MemoryStore
from mtl_tui.records import Memory
from mtl_tui.session import Session, evidence_counted
from tests.conftest import DONE, bash, insight

SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "mini-swe-agent"


def insights_reply(*items: dict[str, object]) -> str:
    return "Here you go:\n```json\n" + json.dumps({"insights": list(items)}) + "\n```"


LESSON = {
    "title": "Run the narrowest failing test before and after a fix",
    "description": "A targeted test run confirms the failure and then the repair.",
    "content": "Reproduce with the single most specific test first; rerun it after editing, "
    "then the wider suite.",
    "tags": ["validation", "testing"],
}


def scripted(*replies: str) -> ScriptedModel:
    return ScriptedModel([ModelReply(r) for r in replies])


# -- parsing and judging ------------------------------------------------------------


def test_parse_json_object_is_tolerant() -> None:
    assert parse_json_object('```json\n{"insights": []}\n```') == {"insights": []}
    assert parse_json_object('Sure! {"insights": [{"title": "x"}]} Hope it helps') == {
        "insights": [{"title": "x"}]
    }
    assert parse_json_object('{not json} then {"a": 1}') == {"a": 1}
    assert parse_json_object("no json here") is None


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [("PASS", "success"), ("**PASS**\nit works", "success"), ("FAIL", "failure"),
     ("I believe it passed", "failure"), ("", "failure"), ("PASS? maybe", "failure"),
     ("VERDICT: PASS", "success"), ("Verdict: **PASS**", "success"), ("VERDICT: FAIL", "failure"),
     ("VERDICT: PASS or FAIL", "failure")],
)  # fmt: skip
def test_judge_is_strict(answer: str, outcome: str) -> None:
    record = RunRecord(task="t", steps=[("r", "o")])
    assert judge(scripted(answer), record)[0] == outcome


# -- distillation -------------------------------------------------------------------


def record(outcome: str, changed: list[str] | None = None) -> RunRecord:
    return RunRecord(
        task="fix the rounding bug in invoices", steps=[(bash("pytest -q"), "1 failed")],
        outcome=outcome, changed_files=changed or ["billing/invoice.py"], model="m",
        repo="shop", languages=["python"],
    )  # fmt: skip


def test_success_and_failure_get_different_instructions() -> None:
    for outcome, words in (("success", "SUCCEEDED"), ("failure", "FAILED")):
        model = scripted(insights_reply(LESSON))
        result = distill(model, record(outcome))
        prompt = model.calls[0][0]["content"]
        assert f"This run {words}" in prompt
        assert ("what made it work" in prompt) == (outcome == "success")
        assert ("what to avoid" in prompt) == (outcome == "failure")
        assert "fix the rounding bug" in prompt and "pytest -q" in prompt
        [memory] = result.memories
        assert (memory.outcome, memory.repo, memory.languages, memory.model, memory.origin) == (
            outcome,
            "shop",
            ["python"],
            "scripted",
            "run",
        )


def test_at_most_two_insights_and_unusable_output_stores_nothing() -> None:
    many = [dict(LESSON, title=f"Lesson number {i} about checking work") for i in range(4)]
    assert len(distill(scripted(insights_reply(*many)), record("success")).memories) == 2
    broken = distill(scripted("I could not think of anything."), record("success"))
    assert broken.memories == [] and "no JSON object" in broken.warnings[0]
    partial = distill(scripted(insights_reply({"title": "only a title"})), record("success"))
    assert partial.memories == [] and "description" in partial.warnings[0]


def test_insight_naming_a_changed_file_is_dropped() -> None:
    leaky = dict(LESSON, title="Check invoice.py rounding before release")
    result = distill(scripted(insights_reply(leaky, LESSON)), record("success"))
    assert [m.title for m in result.memories] == [LESSON["title"]]
    assert "invoice.py" in result.warnings[0]


def test_summary_workflow_and_trajectory_kinds() -> None:
    model = scripted(
        json.dumps({"summaries": [{"task_summary": "Fix a numeric bug.",
                                   "experience_summary": "Tests first helped."}]}),
        json.dumps({"workflows": [{"goal": "Fix a numeric bug",
                                   "commands": ["run tests", "edit", "run tests"]}]}),
    )  # fmt: skip
    result = distill(model, record("success"), ["summary", "workflow", "trajectory"])
    assert [m.kind for m in result.memories] == ["summary", "workflow", "trajectory"]
    assert len(model.calls) == 2  # the trajectory needs no model call
    assert result.memories[2].fields["task"] == "fix the rounding bug in invoices"


# -- dedup --------------------------------------------------------------------------

# The examples that set DEDUP_THRESHOLD (see store.py).
SAME = [
    ("Pin dependency versions when a build breaks after an upgrade",
     "When an upgrade breaks the build, pin the dependency versions"),
    ("Quote shell variables so paths with spaces do not split",
     "Always quote shell variables to handle paths containing spaces"),
    ("Inspect the file before editing it", "Inspect files before you edit them"),
    ("Reproduce the failure with a minimal test before editing code",
     "Write a minimal failing test to reproduce the bug before changing code"),
]  # fmt: skip
DIFFERENT = [
    ("Test edge cases such as empty input", "Test edge cases such as very large input"),
    ("Inspect the file before editing it", "Back up a file before editing it in place"),
    ("Use integer arithmetic to avoid float rounding errors",
     "Use 64-bit integers to avoid overflow"),
    ("Run the unit tests before committing a change",
     "Run the linter before committing a change"),
]  # fmt: skip


def test_dedup_threshold_examples(store: MemoryStore) -> None:
    assert DEDUP_THRESHOLD == 0.82
    for a, b in SAME:
        first = store.add(insight(a, ["python"]))
        second = store.add(insight(b, ["go"], tags=["workflow"]))
        assert second.merged and second.id == first.id, (a, b)
        merged = store.get(first.id)
        assert merged.support == 2 and merged.languages == ["python", "go"]
    for a, b in DIFFERENT:
        first, second = store.add(insight(a)), store.add(insight(b))
        assert second.created and second.id != first.id, (a, b)


# -- sessions -----------------------------------------------------------------------


def session_for(repo: Path, store: MemoryStore, *replies: str, **memory: object) -> Session:
    cfg = Settings()
    memory = {"screen": False, **memory}  # the scripted replies are the agent's
    cfg = cfg.model_copy(update={"memory": cfg.memory.model_copy(update=memory)})
    return Session(cfg, repo, model=scripted(*replies), store=store)


def test_successful_run_stores_insights_with_provenance(git_repo: Path, store: MemoryStore) -> None:
    session = session_for(
        git_repo, store, bash("echo fixed >> src/util.py"), DONE, insights_reply(LESSON)
    )
    summary = session.run("fix the util module", verify="grep -q fixed src/util.py")
    assert summary.outcome == "success" and summary.outcome_source == "verify"
    [mid] = summary.learned
    memory = store.get(mid)
    assert memory.title == LESSON["title"]
    assert (memory.outcome, memory.repo, memory.model, memory.origin) == (
        "success",
        "shop",
        "scripted",
        "run",
    )
    assert memory.languages == ["python", "shell"]
    traj = json.loads(Path(summary.trajectory).read_text())
    assert traj["outcome"] == "success" and traj["learned"] == [mid]


def test_a_repeat_run_reports_no_new_lesson(git_repo: Path, store: MemoryStore) -> None:
    """The same lesson again is stored nowhere new: the summary says 0 new, names the
    memory it matched, and keeps `learned` for what was stored or strengthened."""
    first = session_for(
        git_repo, store, bash("echo fixed >> src/util.py"), DONE, insights_reply(LESSON)
    ).run("fix the util module", verify="grep -q fixed src/util.py")
    assert first.learned_new == first.learned and len(first.learned) == 1
    assert first.learned_line() == f"learned 1 new (#{first.learned[0]})"
    add_again = json.dumps({"operations": [{"op": "add", "lesson": "C1"}]})
    notices: list[str] = []
    again = session_for(git_repo, store, bash("true"), DONE, insights_reply(LESSON), add_again)
    again.emit = lambda e: notices.append(getattr(e, "message", ""))
    summary = again.run("fix the util module", verify="grep -q fixed src/util.py")
    assert summary.learned == first.learned and summary.learned_new == []
    assert summary.to_dict()["learned_new"] == []
    assert summary.learned_line() == f"learned 0 new · 1 agreed with existing #{first.learned[0]}"
    assert store.count() == 1
    assert f"known already: “{LESSON['title']}” (same as #{first.learned[0]})" in notices


def test_failed_run_learns_what_to_avoid(git_repo: Path, store: MemoryStore) -> None:
    model_replies = (bash("true"), DONE, insights_reply(LESSON))
    session = session_for(git_repo, store, *model_replies)
    summary = session.run("make the tests pass", verify="false")
    assert summary.outcome == "failure" and summary.completed
    assert "This run FAILED" in session.model().calls[-1][0]["content"]  # type: ignore[attr-defined]
    assert store.get(summary.learned[0]).outcome == "failure"


def test_without_verify_the_judge_decides(git_repo: Path, store: MemoryStore) -> None:
    session = session_for(git_repo, store, bash("true"), DONE, "FAIL", insights_reply(LESSON))
    summary = session.run("do the thing")
    assert (summary.outcome, summary.outcome_source) == ("failure", "judge")
    user = session_for(git_repo, store, bash("true"), DONE, insights_reply(LESSON))
    summary = user.run("do the thing", verdict=lambda: "success")
    assert (summary.outcome, summary.outcome_source) == ("success", "user")


def test_a_scripted_model_out_of_replies_still_completes_the_task(
    git_repo: Path, store: MemoryStore
) -> None:
    """The judge and the learning step read replies after the task's: a script that ends
    with the task completes it, says in one line each what was skipped and why."""
    notices: list[str] = []
    session = session_for(git_repo, store, bash("echo x >> src/util.py"), DONE)
    session.emit = lambda event: notices.append(getattr(event, "message", ""))
    summary = session.run("touch the util module")
    assert summary.completed and summary.learned == []
    assert (summary.outcome, summary.outcome_source) == ("unknown", "none")
    judged, learned = summary.warnings
    assert judged.startswith("judge skipped") and learned.startswith("learning skipped")
    assert all("\n" not in w and "the judge and the learning step" in w for w in (judged, learned))
    assert judged in notices and learned in notices
    # a learning reply that is not JSON: one line naming the reply it read
    session = session_for(git_repo, store, bash("true"), DONE, "PASS", "Sure, noted!")
    summary = session.run("look around")
    assert summary.completed and summary.outcome == "success" and summary.learned == []
    [warning] = summary.warnings
    assert warning.startswith("learning: scripted reply 4 of 4 went to learning and is not")
    assert "no JSON object" in warning
    assert "nothing learned" in warning and "\n" not in warning


def test_a_secret_printed_during_the_run_never_reaches_the_pool(
    git_repo: Path, store: MemoryStore
) -> None:
    secret = "ghp_" + "Z" * 36
    leaky = dict(LESSON, content=f"Export GITHUB_TOKEN={secret} before pushing; then verify.")
    session = session_for(git_repo, store, bash(f"echo token={secret}"), DONE,
                          insights_reply(leaky))  # fmt: skip
    summary = session.run("publish", verify="true")
    assert summary.learned
    store.close()
    raw = b"".join(p.read_bytes() for p in paths.data_dir().glob("memory.sqlite*"))
    assert secret.encode() not in raw
    assert secret not in Path(summary.trajectory).read_text()


def test_accepted_memories_go_into_the_prompt_and_feedback_is_recorded(
    git_repo: Path, store: MemoryStore
) -> None:
    ids = [r.id for r in store.add_many([
        insight("Run the narrowest failing test first", ["go"]),
        insight("Read the evaluator before writing the solution", ["rust"]),
    ])]  # fmt: skip
    # floor=-1: this test is about the prompt and feedback, not relevance.
    session = session_for(
        git_repo, store, bash("true"), DONE, "PASS", insights_reply(LESSON), floor=-1.0
    )
    hits = session.retrieve("a test fails after my change")
    assert {h.memory.id for h in hits} == set(ids)
    accepted = [h for h in hits if h.memory.id == ids[0]]
    summary = session.run("a test fails after my change", hits, accepted)
    system = session.model().calls[0][0]["content"]  # type: ignore[attr-defined]
    assert "[M1] Run the narrowest failing test first" in system
    assert "Read the evaluator" not in system
    assert "which memory item" in system and "do not fit this" in system
    assert summary.retrieved == [h.memory.id for h in hits] and summary.accepted == [ids[0]]
    used, rejected = store.get(ids[0]), store.get(ids[1])
    assert (used.uses, used.wins, used.rejects) == (1, 1, 0)
    assert (rejected.uses, rejected.rejects) == (0, 1)
    assert store.uses_of_run(Path(summary.trajectory).name.split(".")[0]) == [
        (ids[0], True, "success"),
        (ids[1], False, "success"),
    ]


def test_rejecting_a_memory_mid_run_tells_the_agent(git_repo: Path, store: MemoryStore) -> None:
    mid = store.add(insight("Run the narrowest failing test first")).id
    session = session_for(git_repo, store, bash("true"), bash("true"), DONE, "PASS", floor=-1.0)
    hits = session.retrieve("tests fail")

    def approver(command: str) -> Decision:
        session.disregard(mid)
        return Decision("run")

    session.approver = approver
    summary = session.run("tests fail", hits, hits, learn=False)
    later = session.model().calls[2]  # type: ignore[attr-defined]
    assert any("Disregard it from now on" in m["content"] and "[M1]" in m["content"]
               for m in later)  # fmt: skip
    assert summary.accepted == []
    assert store.get(mid).rejects == 1  # rejected mid-run: a weak negative


def test_plan_query_mode_embeds_a_plan(git_repo: Path, store: MemoryStore) -> None:
    store.add_many([insight("Profile before optimising a slow query", ["sql"]),
                    insight("Quote shell variables that hold paths", ["shell"])])  # fmt: skip
    session = session_for(git_repo, store, "1. measure the slow report query 2. profile it",
                          query="plan")  # fmt: skip
    hits = session.retrieve("the monthly numbers page is unbearably sluggish")
    assert "short plan" in session.model().calls[0][0]["content"]  # type: ignore[attr-defined]
    assert hits[0].memory.title == "Profile before optimising a slow query"


def test_learn_reads_mini_swe_agent_trajectories(store: MemoryStore) -> None:
    run = load_run(SHARED / "github_issue.traj.json")
    assert run.task.startswith("GitHub Issue: SyntaxError")
    assert run.languages == ["python"] and run.changed_files == ["tests/missing_colon.py"]
    assert len(run.steps) >= 5
    assert load_run(SHARED / "local.traj.json").task == "Blah blah blah"


def test_memories_from_runs_are_ranked_with_feedback(store: MemoryStore) -> None:
    a = store.add(insight("Run the unit tests before committing a change")).id
    b = store.add(insight("Run the test suite before you commit changes")).id
    query = "run tests before commit"
    first = store.search(query, k=2)[0].memory.id
    other = b if first == a else a
    for run_id in ("r1", "r2", "r3"):
        store.record_uses(run_id, [first, other], [other], "success")
    assert store.search(query, k=2)[0].memory.id == other
    assert store.get(first).rejects == 3 and store.get(first).net_votes == 0


def test_manual_memory_gets_scrubbed_and_deduped_too(store: MemoryStore) -> None:
    first = store.add(
        Memory(
            kind="insight",
            fields={
                "title": "Inspect the file before editing it",
                "description": "d",
                "content": "c",
            },
        )
    )
    again = store.add(
        Memory(
            kind="insight",
            fields={
                "title": "Inspect files before you edit them",
                "description": "d2",
                "content": "c2",
            },
        )
    )
    assert again.merged and again.id == first.id and store.count() == 1


def test_large_batches_dedup_like_single_adds(store: MemoryStore, embedder, tmp_path) -> None:
    """Batches over 32 use matrix products instead of KNN queries: same merges either way."""
    from mtl_tui.memory import store as store_module

    store.add_many([insight(a) for a, _ in SAME[:2]])
    titles = [b for _, b in SAME] + [b for _, b in DIFFERENT] + [a for a, _ in DIFFERENT]
    titles += [
        f"Lesson {n}: {t}"
        for n, t in enumerate(
            ["check the logs", "pin the compiler", "test on a clean machine", "measure twice"] * 8
        )
    ]
    batch = [insight(t) for t in titles]
    assert len(batch) > store_module._KNN_DEDUP_UP_TO
    batched = [(r.created, r.merged) for r in store.add_many(batch, dry_run=True)]
    one_by_one = []
    for memory in [insight(t) for t in titles]:
        one_by_one.append(store.add(memory))
    assert batched == [(r.created, r.merged) for r in one_by_one]
    assert any(m for _, m in batched) and any(c for c, _ in batched)


def test_a_run_learns_all_or_nothing(store: MemoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reviewed run (one lesson as distilled, one edited) and the mark that its session
    was learned from go into the pool in one transaction: a failure on the last write
    leaves neither lesson nor mark, so a second try is not refused as "learned before"."""
    import dataclasses

    from mtl_tui.session import learn

    other = dict(LESSON, title="Read the evaluator before writing a solution")

    def review(memories: list[Memory]) -> list[Memory]:
        edited = dataclasses.replace(memories[1], fields=dict(memories[1].fields))
        edited.fields["content"] = "Open the grading script first; it defines done."
        return [memories[0], edited]

    before = store.count()
    inserts = []
    original = MemoryStore._insert

    def fail_on_the_second(self: MemoryStore, *args: object) -> object:
        inserts.append(args[1])
        if len(inserts) == 2:
            raise OSError("disk I/O error")
        return original(self, *args)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(MemoryStore, "_insert", fail_on_the_second)
        with pytest.raises(OSError):
            learn(scripted(insights_reply(LESSON, other)), store, record("success"),
                  ["insight"], review=review, learned_from="codex:s1")  # fmt: skip
    assert len(inserts) == 2  # one lesson was written before the failure
    assert store.count() == before and not store.learned_from("codex:s1")

    learned = learn(scripted(insights_reply(LESSON, other)), store, record("success"),
                    ["insight"], review=review, learned_from="codex:s1")  # fmt: skip
    assert store.count() == before + 2 and store.learned_from("codex:s1")
    marked = json.loads(store._meta("learned:codex:s1") or "{}")["ids"]
    assert sorted(marked) == sorted(learned.ids)


def test_a_model_that_never_answered_is_a_failure_without_asking(
    git_repo: Path, store: MemoryStore
) -> None:
    asked: list[str] = []

    def verdict() -> str | None:
        asked.append("asked")
        return "success"

    session = Session(Settings(), git_repo, model=scripted(), store=store)  # no reply at all
    summary = session.run("say done", [], [], verdict=verdict, learn=False)
    assert summary.status == "model_error" and summary.steps == 0
    assert asked == []  # "did it succeed?" after no answer at all would be a false question
    assert summary.outcome == "failure" and summary.outcome_source == "status"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_endpoint_that_refuses_leaves_the_memories_evidence_alone(
    git_repo: Path, store: MemoryStore
) -> None:
    """A real closed port: the model never answers, so neither the accepted memory (a use
    without a win would count as a loss) nor the declined one (a reject) changes; no
    --verify runs on an untouched tree."""
    kept, declined = (store.add(insight(t)).id for t in ("Run the failing test", "Read logs"))
    cfg = Settings().model_copy(
        update={"model": "openai/qwen", "api_base": f"http://127.0.0.1:{closed_port()}/v1"}
    )
    cfg = cfg.model_copy(update={"agent": cfg.agent.model_copy(update={"model_retries": 0})})
    cfg = cfg.model_copy(update={"memory": cfg.memory.model_copy(update={"floor": -1.0})})
    notices: list[str] = []
    session = Session(cfg, git_repo, store=store)
    session.emit = lambda event: notices.append(getattr(event, "message", ""))
    hits = session.retrieve("a test fails")
    summary = session.run(
        "a test fails", hits, [h for h in hits if h.memory.id == kept], verify="touch verified"
    )
    assert summary.status == "model_error" and summary.steps == 0
    assert (summary.outcome, summary.outcome_source) == ("failure", "status")
    assert not (git_repo / "verified").exists() and summary.to_dict()["evidence"] == "none"
    assert store.uses_of_run(Path(summary.trajectory).name.split(".")[0]) == []
    for mid in (kept, declined):
        memory = store.get(mid)
        assert (memory.uses, memory.wins, memory.rejects) == (0, 0, 0)
    assert f"the model never answered: not counted as a use of #{kept} (evidence unchanged)" in (
        notices
    )


def test_a_model_error_mid_run_counts_only_the_users_declines(
    git_repo: Path, store: MemoryStore
) -> None:
    kept, declined = (store.add(insight(t)).id for t in ("Run the failing test", "Read logs"))
    session = session_for(git_repo, store, bash("true"), floor=-1.0)  # then out of replies
    hits = session.retrieve("a test fails")
    summary = session.run("a test fails", hits, [h for h in hits if h.memory.id == kept])
    assert summary.status == "model_error" and summary.steps == 1
    assert store.uses_of_run(Path(summary.trajectory).name.split(".")[0]) == [
        (declined, False, "failure")
    ]
    assert (store.get(kept).uses, store.get(declined).rejects) == (0, 1)
    assert summary.evidence == "rejections"
    # the same run judged by --verify counts in full: the work itself was judged
    session = session_for(git_repo, store, bash("true"), floor=-1.0)
    summary = session.run("a test fails", hits, [h for h in hits if h.memory.id == kept],
                          verify="false")  # fmt: skip
    assert (store.get(kept).uses, store.get(kept).wins) == (1, 0) and summary.evidence == "all"


@pytest.mark.parametrize(
    ("status", "steps", "outcome", "source", "counted"),
    [("model_error", 0, "failure", "status", "none"),
     ("interrupted", 0, "unknown", "none", "none"),
     ("model_error", 2, "failure", "status", "rejections"),
     ("model_error", 2, "success", "user", "all"),
     ("interrupted", 2, "unknown", "none", "rejections"),
     ("completed", 2, "unknown", "none", "rejections"),
     ("step_limit", 3, "failure", "status", "all"),
     ("completed", 1, "success", "judge", "all")],
)  # fmt: skip
def test_which_runs_count_as_evidence(
    status: str, steps: int, outcome: str, source: str, counted: str
) -> None:
    assert evidence_counted(status, steps, outcome, source) == counted
