from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mtl_tui import paths
from mtl_tui.errors import NotFound, PoolError
from mtl_tui.memory.embed import SentenceTransformerEmbedder, resolve_model_path
from mtl_tui.memory.store import MemoryStore
from mtl_tui.records import Memory
from tests.conftest import insight

# Insights from several domains and languages; each query below has one right answer.
POOL = [
    ("Reproduce a failing test before changing any code", ["python"]),
    ("Read the evaluation script before writing the solution", ["python"]),
    ("Check text encoding before parsing CSV input files", ["r"]),
    ("Pin dependency versions when a build breaks after an upgrade", ["javascript"]),
    ("Use integer overflow-safe arithmetic in competitive programming", ["cpp"]),
    ("Set random seeds so machine learning experiments are reproducible", ["python"]),
    ("Quote shell variables so paths with spaces do not split", ["shell"]),
    ("Look up the new API signature when a library function was renamed", ["java"]),
    ("Profile before optimising a slow database query", ["sql"]),
    ("Free memory you allocate to avoid leaks in long-running C programs", ["c"]),
    ("Handle timezone conversions explicitly when parsing dates", ["go"]),
    ("Keep the diff minimal and avoid unrelated refactoring in bug fixes", []),
]
QUERIES = [
    ("npm install broke the build after updating packages", POOL[3][0]),
    ("my training run gives different accuracy every time", POOL[5][0]),
    ("bash script fails when the directory name has a space", POOL[6][0]),
    ("the CSV file shows garbled characters when loaded", POOL[2][0]),
    ("method no longer exists after upgrading the SDK version", POOL[7][0]),
    ("the SQL report takes minutes to run", POOL[8][0]),
    ("valgrind shows growing heap usage over time", POOL[9][0]),
]


@pytest.fixture
def filled(store: MemoryStore) -> MemoryStore:
    results = store.add_many([insight(title, langs) for title, langs in POOL])
    assert all(r.created for r in results)
    return store


@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_search_puts_the_right_insight_first(
    filled: MemoryStore, query: str, expected: str
) -> None:
    hits = filled.search(query, k=3)
    assert hits[0].memory.title == expected, [h.memory.title for h in hits]
    assert hits[0].similarity > hits[-1].similarity


def test_search_filters_by_kind(filled: MemoryStore) -> None:
    filled.add(
        Memory(
            kind="workflow",
            fields={"goal": "Fix a build broken by a dependency upgrade", "commands": ["npm ls"]},
        )
    )
    query = "build broken after dependency upgrade"
    assert {h.memory.kind for h in filled.search(query, k=20)} == {"insight", "workflow"}
    only = filled.search(query, k=20, kind="workflow")
    assert [h.memory.kind for h in only] == ["workflow"]
    assert all(h.memory.kind == "insight" for h in filled.search(query, k=20, kind="insight"))


def test_search_filters_by_language_inside_the_knn(filled: MemoryStore) -> None:
    hits = filled.search("build broke after upgrading packages", k=1, language="python")
    assert len(hits) == 1  # the filter is applied before k, not after
    assert "python" in hits[0].memory.languages
    multi = filled.add(insight("Run the linter the project already configures", ["go", "shell"]))
    for lang in ("go", "shell"):
        ids = [h.memory.id for h in filled.search("run the configured linter", 3, language=lang)]
        assert multi.id in ids
    assert filled.search("anything", k=3, language="cobol") == []


def test_votes_change_the_order(store: MemoryStore) -> None:
    a = store.add(insight("Run the unit tests before committing a change")).id
    b = store.add(insight("Run the test suite before you commit changes")).id
    query = "run tests before commit"
    first = store.search(query, k=2)[0].memory.id
    other = b if first == a else a
    store.vote(first, up=False)
    store.vote(other, up=True)
    assert [h.memory.id for h in store.search(query, k=2)] == [other, first]


def test_net_votes_of_minus_two_hide_a_memory_from_retrieval(filled: MemoryStore) -> None:
    query = "bash script fails when the directory name has a space"
    target = filled.search(query, k=1)[0].memory.id
    filled.vote(target, up=False)
    assert filled.search(query, k=1)[0].memory.id == target  # -1: sinks, still there
    filled.vote(target, up=False)
    assert target not in [h.memory.id for h in filled.search(query, k=20)]
    assert target in [m.id for m in filled.list()]  # still listed
    filled.vote(target, up=True)
    assert filled.search(query, k=1)[0].memory.id == target


def test_wins_lift_a_memory_over_an_equally_similar_one(store: MemoryStore) -> None:
    a = store.add(insight("Run the unit tests before committing a change")).id
    b = store.add(insight("Run the test suite before you commit changes")).id
    query = "run tests before commit"
    first = store.search(query, k=2)[0].memory.id
    other = b if first == a else a
    for run in range(6):  # each accepted in six runs: `other`'s succeeded, `first`'s failed
        store.record_uses(f"win-{run}", [other], [other], "success")
        store.record_uses(f"loss-{run}", [first], [first], "failure")
    assert store.search(query, k=2)[0].memory.id == other


def test_exact_duplicate_is_not_stored_twice(store: MemoryStore) -> None:
    first = store.add(insight("Read the error message fully before acting"))
    again = store.add(insight("Read the error message fully before acting"))
    assert again.id == first.id and not again.created
    assert store.count() == 1


def test_get_and_delete(filled: MemoryStore) -> None:
    memory = filled.list(limit=1)[0]
    assert filled.get(memory.id).title == memory.title
    with pytest.raises(NotFound):
        filled.delete([memory.id, 9999])
    assert filled.get(memory.id)  # all or nothing
    filled.delete([memory.id])
    with pytest.raises(NotFound):
        filled.get(memory.id)
    assert memory.id not in [h.memory.id for h in filled.search(memory.title, k=20)]


def test_secrets_and_paths_never_reach_the_file(store: MemoryStore) -> None:
    store.add(
        Memory(
            kind="insight",
            fields={
                "title": "Export the key before calling the API",
                "description": "OPENAI_API_KEY=sk-proj-SuperSecretValue1234567 must be set.",
                "content": "The config sits in /home/carol/private/app/settings.py here.",
            },
            repo="app",
        )
    )
    store.close()
    raw = b"".join(
        p.read_bytes() for p in paths.data_dir().iterdir() if p.name.startswith("memory.sqlite")
    )
    assert b"SuperSecretValue" not in raw
    assert b"carol" not in raw


def test_invalid_fields_are_rejected_before_writing(store: MemoryStore) -> None:
    with pytest.raises(ValueError, match="title"):
        store.add(Memory(kind="insight", fields={"description": "d", "content": "c"}))
    assert store.count() == 0


def test_persistence_across_processes(filled: MemoryStore, mtl_home: Path) -> None:
    filled.close()
    script = textwrap.dedent(
        """
        from mtl_tui.memory.store import MemoryStore
        from mtl_tui.memory.embed import SentenceTransformerEmbedder
        store = MemoryStore.open(embedder=SentenceTransformerEmbedder())
        hit = store.search("flaky results in every training run", k=1)[0]
        store.vote(hit.memory.id, up=True)
        print(hit.memory.title)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == POOL[5][0]
    reopened = MemoryStore.open()
    try:
        voted = next(m for m in reopened.list() if m.title == POOL[5][0])
        assert voted.up == 1
    finally:
        reopened.close()


@pytest.fixture
def other_model(tmp_path: Path) -> SentenceTransformerEmbedder:
    """A second embedding model, by name: a copy of the default one under another path."""
    copy = tmp_path / "other-model"
    shutil.copytree(resolve_model_path("all-MiniLM-L6-v2"), copy)
    return SentenceTransformerEmbedder(str(copy))


def test_other_embedding_model_is_refused_until_reindex(
    filled: MemoryStore, other_model: SentenceTransformerEmbedder
) -> None:
    filled.close()
    with pytest.raises(PoolError, match="mtl memory reindex"):
        MemoryStore.open(embedder=other_model)
    plain = MemoryStore.open()
    try:
        assert plain.reindex(other_model) == len(POOL)
        assert plain.recorded_model() == (other_model.name, 384)
    finally:
        plain.close()
    reopened = MemoryStore.open(embedder=other_model)
    try:
        hit = reopened.search("bash script fails when the directory name has a space", k=1)[0]
        assert hit.memory.title == POOL[6][0]
    finally:
        reopened.close()


def test_reindex_is_atomic_when_embedding_fails(filled: MemoryStore) -> None:
    class Broken:
        name = "broken"
        dim = 384

        def embed(self, texts: list[str]) -> object:
            raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError):
        filled.reindex(Broken())  # type: ignore[arg-type]
    assert filled.recorded_model() == ("all-MiniLM-L6-v2", 384)
    assert filled.search(QUERIES[0][0], k=1)[0].memory.title == QUERIES[0][1]


def test_pool_file_is_plain_sqlite_with_a_vec0_index(filled: MemoryStore) -> None:
    sql = (
        sqlite3.connect(filled.path)
        .execute("SELECT sql FROM sqlite_master WHERE name = 'memory_vec'")
        .fetchone()[0]
    )
    assert "vec0" in sql and "distance_metric=cosine" in sql
    assert "kind" in sql and "net_votes" in sql
