"""A query's clauses are embedded beside the whole query (segments.py, rank.blend)."""

from __future__ import annotations

import numpy as np

from mtl_tui.memory.rank import blend
from mtl_tui.memory.retrieve import retrieve, task_query
from mtl_tui.memory.segments import MAX_SEGMENTS, query_segments
from mtl_tui.memory.store import MemoryStore
from tests.test_retrieval import lessons

BURIED = (
    "We moved the nightly pipeline to a new runner image and reorganised the workflow "
    "files, the cache keys and the artifact uploads; since then the job sits at an apt "
    "configuration prompt until it times out."
)


def test_clauses_keep_the_languages_and_a_one_clause_query_has_none() -> None:
    clauses = query_segments(task_query(BURIED, ["shell", "yaml"]))
    assert len(clauses) >= 3
    assert all(c.endswith(" (shell, yaml)") for c in clauses)
    assert any(c.startswith("since then the job sits at an apt") for c in clauses)
    assert query_segments("Fix the flaky login test (python)") == []
    assert query_segments("a, b, c") == []  # pieces too short to mean anything
    many = ", ".join(f"step number {i} breaks" for i in range(20))
    assert len(query_segments(many)) == MAX_SEGMENTS


def test_a_lesson_named_by_one_clause_gains_from_it(store: MemoryStore) -> None:
    store.add_many(lessons())
    query = task_query(BURIED, ["shell"])
    found = retrieve(store, query, k=3, floor=-1.0)
    hit = next(h for h in found.hits if h.memory.title.startswith("Make installs"))
    embed = store._embedder().embed
    whole, *clauses = embed([query, *query_segments(query)])
    stored = store.vectors([hit.memory.id or 0])[hit.memory.id or 0]
    cosine = float(whole @ stored)
    best = float(np.max(np.asarray(clauses) @ stored))
    assert best > cosine + 0.05  # the clause says it more plainly than the whole
    assert abs(hit.similarity - blend(cosine, best)) < 1e-4
    assert hit.similarity > cosine
    assert found.hits[0].memory.id == hit.memory.id
