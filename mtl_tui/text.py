"""Words shown to the user: one count-and-noun rule for every face ("1 memory",
"2 memories", "1 time")."""

from __future__ import annotations

# Nouns whose plural is not the noun + "s".
IRREGULAR = {"memory": "memories", "is": "are", "was": "were"}


def plural(count: int, word: str, many: str | None = None) -> str:
    """`count` and `word`, the noun in the plural unless `count` is 1 ("0 files")."""
    return f"{count:,} {noun(count, word, many)}"


def noun(count: int, word: str, many: str | None = None) -> str:
    """`word` alone, in the plural unless `count` is 1 (of a phrase, its last word:
    "selected memory" → "selected memories")."""
    if count == 1:
        return word
    if many:
        return many
    head, _, last = word.rpartition(" ")
    return f"{head} " * bool(head) + IRREGULAR.get(last, f"{last}s")


def sentence(text: str) -> str:
    """`text` stripped and ending as a sentence does, so that joined fields stay apart
    ("…the actual bug. Before changing code…", not "…the actual bug Before changing…")."""
    text = text.strip()
    return text if not text or text[-1] in ".!?…:;" else f"{text}."
