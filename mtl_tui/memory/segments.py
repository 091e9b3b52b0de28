"""A query's sentences and clauses, embedded beside the whole query (see rank.py).

One MiniLM vector of a task that says several things ("the build fails at the deploy
step with ./gradlew: Permission denied, while the same job passes locally") blurs the
one clause that names the lesson. Each clause gets a vector of its own, and a memory's
similarity takes the best clause into account.
"""

from __future__ import annotations

import re

#: At most this many clauses are embedded, beside the whole query: each costs a short
#: encode (tests/bench_retrieval.py prints the per-query time). The 198 tasks of the
#: retrieval sets have 1 to 8; the first 6 give the same figures as all of them, the
#: first 4 lose one injected item, and the cap bounds the cost of a long pasted text.
MAX_SEGMENTS = 6
#: Shorter pieces ("e.g.", "429") carry too little meaning on their own.
MIN_CHARS = 9

# Sentence and clause ends, line breaks, and the conjunctions that join a symptom to its
# cause or to what the user wants ("fails with X because Y", "X, so Y").
_SPLIT = re.compile(r"(?<=[.!?;:,])\s+|\n+|\s+(?:because|so|but|while|when|and then)\s+")
# The repository's languages, as task_query() appends them: kept on every clause.
_LANGUAGES = re.compile(r"\s*(\([^()\n]*\))\s*$")


def query_segments(query: str, limit: int = MAX_SEGMENTS) -> list[str]:
    """The clauses of `query` worth embedding apart, each followed by the query's
    trailing "(languages)"; none when the query is one clause (the whole says it)."""
    suffix = _LANGUAGES.search(query)
    body = query[: suffix.start()] if suffix else query
    tail = f" {suffix.group(1)}" if suffix else ""
    parts = [part.strip() for part in _SPLIT.split(body)]
    parts = [part for part in parts if len(part) >= MIN_CHARS]
    if len(parts) < 2:
        return []
    return [part + tail for part in parts[:limit]]
