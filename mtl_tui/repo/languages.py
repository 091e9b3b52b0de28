"""A repository's languages, from the extensions of its tracked files."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import PurePosixPath

EXTENSIONS = {
    ".py": "python", ".pyi": "python", ".ipynb": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".tsx": "typescript",
    ".go": "go", ".rs": "rust", ".java": "java", ".kt": "kotlin", ".kts": "kotlin",
    ".scala": "scala", ".rb": "ruby", ".php": "php", ".cs": "csharp", ".fs": "fsharp",
    ".swift": "swift", ".m": "objective-c", ".mm": "objective-c",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp",
    ".hh": "cpp", ".hxx": "cpp",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell",
    ".r": "r", ".jl": "julia", ".lua": "lua", ".pl": "perl", ".pm": "perl",
    ".hs": "haskell", ".ml": "ocaml", ".mli": "ocaml", ".ex": "elixir", ".exs": "elixir",
    ".erl": "erlang", ".clj": "clojure", ".dart": "dart", ".zig": "zig", ".nim": "nim",
    ".sql": "sql", ".vue": "vue", ".svelte": "svelte", ".sol": "solidity",
}  # fmt: skip
FILENAMES = {"makefile": "make", "cmakelists.txt": "cmake", "dockerfile": "docker"}


def detect_languages(paths: Iterable[str], limit: int = 3, min_share: float = 0.1) -> list[str]:
    """The most used languages, most files first: up to `limit`, each with at least
    `min_share` of the files in any language (the first always counts)."""
    counts: Counter[str] = Counter()
    for path in paths:
        pure = PurePosixPath(path)
        lang = FILENAMES.get(pure.name.lower()) or EXTENSIONS.get(pure.suffix.lower())
        if lang:
            counts[lang] += 1
    total = sum(counts.values())
    ranked = counts.most_common()
    return [lang for i, (lang, n) in enumerate(ranked[:limit]) if i == 0 or n / total >= min_share]
