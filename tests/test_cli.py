from __future__ import annotations

import json

import pytest

from mtl_tui import __version__
from mtl_tui.memory.retrieve import ORDER_RULE
from mtl_tui.memory.store import MemoryStore
from tests.conftest import insight, run_mtl


def test_version() -> None:
    result = run_mtl("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"mtl {__version__}"


def test_help_lists_the_commands() -> None:
    result = run_mtl("--help")
    assert result.returncode == 0
    for word in ("memory", "doctor"):
        assert word in result.stdout
    memory_help = run_mtl("memory", "--help").stdout
    for word in ("list", "search", "show", "add", "rate", "rm", "stats", "reindex"):
        assert word in memory_help


def test_add_list_search_show_rate_rm_round_trip() -> None:
    added = run_mtl(
        "memory", "add", "--title", "Read the failing test's assertion before editing",
        "--description", "Know what is expected first.", "--content", "Open the test.",
        "--tag", "validation", "--lang", "Python", "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    memory = json.loads(added.stdout)
    assert memory["created"] and memory["languages"] == ["python"]
    assert memory["origin"] == "manual" and memory["outcome"] == "unknown"
    mid = str(memory["id"])

    listing = run_mtl("memory", "list", "--json")
    listed = json.loads(listing.stdout)
    assert [m["id"] for m in listed] == [memory["id"]]
    assert listing.stderr.startswith("view: the whole pool, every repository's memories")
    assert json.loads(run_mtl("memory", "list", "--lang", "go", "--json").stdout) == []
    assert json.loads(run_mtl("memory", "list", "--kind", "summary", "--json").stdout) == []

    # A query the lesson fits (the relevance floor keeps unrelated ones out; test_retrieval).
    query = "read what the failing test asserts before editing the code"
    found = json.loads(run_mtl("memory", "search", query, "--json").stdout)
    assert found[0]["id"] == memory["id"] and 0 < found[0]["similarity"] <= 1
    # the table shows the number the floor cuts on (relevance), as the panel and MCP do
    table = run_mtl("memory", "search", query).stdout
    assert "(relevance ≥ 0." in table and f"{found[0]['relevance']:.2f}" in table
    # the rows' order is said, and the number it follows is shown (votes and outcomes
    # nudge it away from relevance)
    assert ORDER_RULE in " ".join(table.split()) and "score" in table
    assert f"{found[0]['score']:.2f}" in table
    assert found[0]["relevance"] >= found[0]["similarity"]

    assert run_mtl("memory", "rate", mid, "up").returncode == 0
    shown = json.loads(run_mtl("memory", "show", mid, "--json").stdout)
    assert shown["votes"] == {"up": 1, "down": 0, "net": 1}
    assert "Read the failing test" in run_mtl("memory", "show", mid).stdout

    stats = json.loads(run_mtl("memory", "stats", "--json").stdout)
    assert stats["total"] == 1 and stats["by_language"] == {"python": 1}
    assert stats["embedding_model"] == "all-MiniLM-L6-v2" and stats["embedding_dim"] == 384

    text = " ".join(run_mtl("memory", "stats").stdout.split())
    assert "1 memory" in text and "used 0 times, 0 wins" in text  # counted nouns agree

    removed = run_mtl("memory", "rm", mid)
    assert removed.returncode == 0 and f"Deleted #{mid}" in removed.stdout
    assert json.loads(run_mtl("memory", "list", "--json").stdout) == []


def test_add_from_file_any_kind(tmp_path: object) -> None:
    doc = {
        "kind": "workflow",
        "fields": {"goal": "Find which commit broke a test", "commands": ["git bisect start"]},
        "tags": ["git"],
    }
    result = run_mtl("memory", "add", "--from-file", "-", "--json", input=json.dumps(doc))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["kind"] == "workflow"
    bad = run_mtl("memory", "add", "--from-file", "-", input='{"kind": "workflow", "fields": {}}')
    assert bad.returncode == 2
    assert "goal" in bad.stderr and bad.stderr.count("\n") == 1


def test_unknown_ids_and_bad_arguments_exit_2_without_changes(store: MemoryStore) -> None:
    store.add(insight("Keep the pool intact on bad input"))
    store.close()
    for args in (("show", "42"), ("rate", "42", "up"), ("rm", "1", "42")):
        result = run_mtl("memory", *args)
        assert result.returncode == 2, args
        assert result.stderr.strip() == "mtl: error: no memory with id 42"
    assert run_mtl("memory", "rate", "1", "sideways").returncode == 2
    assert run_mtl("memory", "list", "--kind", "poem").returncode == 2
    assert run_mtl("memory", "add").returncode == 2
    reopened = MemoryStore.open()
    try:
        assert reopened.count() == 1 and reopened.get(1).net_votes == 0
    finally:
        reopened.close()


def test_empty_pool_lists_nothing() -> None:
    result = run_mtl("memory", "list")
    assert result.returncode == 0 and "No memories yet" in result.stdout


def test_doctor_reports_each_part() -> None:
    result = run_mtl("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["sqlite-vec"]["ok"]
    assert "sqlean" in checks["sqlite-vec"]["detail"] or "sqlite3" in checks["sqlite-vec"]["detail"]
    assert checks["embedding model"]["ok"] and "384" in checks["embedding model"]["detail"]
    assert checks["memory pool"]["ok"]
    assert not checks["model"]["ok"] and "MTL_MODEL" in checks["model"]["detail"]
    assert result.returncode == 0  # a missing model is a warning: memory features still work


def test_doctor_sees_missing_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("MTL_MODEL", "openai/gpt-4o-mini")
    result = run_mtl("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert not checks["model"]["ok"] and "OPENAI_API_KEY" in checks["model"]["detail"]
    ok = run_mtl("doctor", "--json", env={"OPENAI_API_KEY": "sk-test-not-real-000000000"})
    assert {c["name"]: c for c in json.loads(ok.stdout)}["model"]["ok"]
