"""The cheap commands load nothing they do not use: whole `mtl` processes, as users run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mtl_tui.memory import packs
from mtl_tui.memory.store import MemoryStore
from tests.conftest import DONE, run_mtl, script_file

HEAVY = ("torch", "sentence_transformers", "transformers", "litellm", "textual", "git")
# What only embedding needs: a command that embeds nothing loads none of it.
EMBEDDING = ("numpy", "onnxruntime", "tokenizers")
# The command line's own parser and output, and the secret detectors (with `requests`).
PARSER = ("typer", "rich", "pydantic")
SCANNER = ("detect_secrets", "requests", "mtl_tui.secret_rules")
# What commands that only read the pool do without: pydantic (typer's coercion, pack and
# memory-field models), the whole session (agent, distillation, snapshots), pygments.
READER_FREE = ("pydantic", "mtl_tui.session", "mtl_tui.memory.packs", "pygments")
WATCHED = HEAVY + EMBEDDING + PARSER + SCANNER + READER_FREE

# Runs the real entry point, then reports which watched libraries the process imported.
PROBE = f"""
import atexit, json, sys
heavy = {WATCHED!r}
atexit.register(lambda: sys.stderr.write(
    "\\nLOADED " + json.dumps(sorted(m for m in heavy if m in sys.modules)) + "\\n"))
sys.argv = ["mtl", *sys.argv[1:]]
from mtl_tui.cli import main
main()
"""


def loaded_by(*args: str, cwd: Path | None = None) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert result.returncode == 0, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("LOADED "), result.stderr
    return json.loads(last.removeprefix("LOADED "))


@pytest.mark.parametrize(
    "args",
    [
        ["memory", "add", "--title", "Quote shell variables so paths with spaces survive"],
        ["memory", "search", "a script breaks on folder names with spaces"],
        ["doctor"],
        ["--help"],
        ["memory", "--help"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_memory_commands_load_no_heavy_library(args: list[str]) -> None:
    assert not set(loaded_by(*args)) & set(HEAVY)


@pytest.mark.parametrize(
    "args",
    [
        ["memory", "search", "a script breaks on folder names with spaces"],
        ["memory", "list"],
        ["memory", "stats"],
        ["doctor"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_commands_that_read_the_pool_load_no_pydantic_and_no_session(args: list[str]) -> None:
    assert not set(loaded_by(*args)) & set(READER_FREE)


def test_values_typer_must_check_are_still_checked() -> None:
    # Only values typer's own coercion would return unchanged skip it (cli/fastparams.py).
    for args, says in (
        (["memory", "search", "x", "--top-k", "0"], "mtl: error: invalid value for '--top-k'"),
        (["memory", "list", "--limit", "-1"], "mtl: error: invalid value for '--limit'"),
        (["memory", "list", "--limit", "two"], "mtl: error: invalid value for '--limit'"),
        (["memory", "search"], "mtl: error: missing argument 'QUERY'"),
    ):  # one line and a hint (tests/test_cli_conventions.py)
        result = run_mtl(*args)
        assert result.returncode == 2 and says in result.stderr, (args, result.stderr)
    assert run_mtl("memory", "list", "--limit", "1", "--json").returncode == 0


def test_version_loads_no_parser_at_all() -> None:
    assert loaded_by("--version") == []


@pytest.mark.parametrize(
    "args", [["memory", "list"], ["memory", "stats"], ["memory", "show", "1"], ["pack", "--help"]]
)
def test_commands_that_embed_nothing_load_no_embedding_runtime(args: list[str]) -> None:
    if args[1] == "show":
        loaded_by("memory", "add", "--title", "Read the failing test before editing code")
    assert not set(loaded_by(*args)) & set(HEAVY + EMBEDDING + SCANNER)


def test_searching_the_starter_pack_loads_no_secret_scanner(store: MemoryStore) -> None:
    # Trust of the shipped starter items is decided from the file's own hashes: scrubbing
    # the whole pack (and importing detect-secrets with requests) is not on the search path.
    assert packs.import_starter(store).added
    store.close()
    loaded = loaded_by("memory", "search", "a shell script breaks when a folder has spaces")
    assert not set(loaded) & set(HEAVY + SCANNER)


def test_a_scripted_run_loads_no_model_library(git_repo: Path, tmp_path: Path) -> None:
    model = script_file(tmp_path, [DONE])
    loaded = loaded_by("run", "--yes", "--no-learn", "--model", model, "say done", cwd=git_repo)
    assert set(loaded) & set(HEAVY) <= {"git"}  # GitPython at most, for the snapshot


def test_the_tui_imports_nothing_its_first_frame_does_not_show() -> None:
    # The models load in background threads; markdown-it comes with the first reply,
    # pygments with the first command shown, pydantic with the first pack imported.
    code = (
        "import json, sys; import mtl_tui.ui.app; "
        f"print(json.dumps(sorted(m for m in {(*WATCHED, 'markdown_it')!r} if m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert loaded - {"textual", "mtl_tui.session"} <= {"rich"}  # Textual, and the session
