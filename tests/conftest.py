from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mtl_tui.memory.embed import (
    DEFAULT_MODEL,
    PREPARED_DIR,
    DefaultModelEmbedder,
    SentenceTransformerEmbedder,
    resolve_model_path,
)
from mtl_tui.memory.embed_export import prepare
from mtl_tui.memory.embed_onnx import PreparedModelError, read_manifest, source_fingerprint
from mtl_tui.memory.store import MemoryStore
from mtl_tui.records import Memory

MTL_ENV = ("MTL_HOME", "MTL_MODEL", "MTL_API_BASE", "MTL_EMBEDDING_MODEL", "MTL_SQLITE_DRIVER")


@pytest.fixture(scope="session")
def prepared_model(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The fast path's ONNX model, prepared once and kept in pytest's cache between runs
    (prepared again when the shipped weights change; per session with -p no:cacheprovider)."""
    cache = getattr(request.config, "cache", None)
    parent = cache.mkdir("mtl-embedding") if cache else tmp_path_factory.mktemp("mtl-embedding")
    folder = parent / Path(PREPARED_DIR).name
    source = Path(resolve_model_path(DEFAULT_MODEL))
    try:
        current = read_manifest(folder).get("source_fingerprint") == source_fingerprint(source)
    except PreparedModelError:
        current = False
    if not current:
        prepare(source, folder, DEFAULT_MODEL)
    return folder


@pytest.fixture(autouse=True)
def mtl_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prepared_model: Path) -> Path:
    """Every test gets its own empty MTL_HOME and none of the user's MTL_* settings; the
    prepared embedding model is linked in, as a user has it after the first run."""
    for name in MTL_ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "mtl-home"
    monkeypatch.setenv("MTL_HOME", str(home))
    return with_prepared_model(home, prepared_model)


def with_prepared_model(home: Path, prepared_model: Path) -> Path:
    """`home` with the prepared model linked in (preparing it again costs ~20 s of CPU)."""
    link = home / PREPARED_DIR
    link.parent.mkdir(parents=True)
    link.symlink_to(prepared_model, target_is_directory=True)
    return home


@pytest.fixture(scope="session")
def embedder() -> DefaultModelEmbedder:
    """The real default model (the fast path), loaded once per test session."""
    model = DefaultModelEmbedder()
    model.load()
    assert model.backend == "onnx"
    return model


@pytest.fixture(scope="session")
def reference_embedder() -> SentenceTransformerEmbedder:
    """The same model through sentence-transformers, as before the fast path."""
    model = SentenceTransformerEmbedder()
    model.load()
    return model


@pytest.fixture
def store(mtl_home: Path, embedder: DefaultModelEmbedder) -> Iterator[MemoryStore]:
    pool = MemoryStore.open(embedder=embedder)
    yield pool
    pool.close()


def insight(title: str, languages: list[str] | None = None, **extra: object) -> Memory:
    return Memory(
        kind="insight",
        fields={
            "title": title,
            "description": f"{title}.",
            "content": f"{title}.",
        },
        languages=languages or [],
        **extra,  # type: ignore[arg-type]
    )


def run_mtl(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """The real `mtl` entry point in a child process (MTL_HOME comes from os.environ)."""
    return subprocess.run(
        [sys.executable, "-m", "mtl_tui", *args],
        capture_output=True,
        text=True,
        input=input,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=timeout,
    )


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        },
    ).stdout


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A real repository with one commit: Python sources, a script, a binary file."""
    repo = tmp_path / "shop"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "cart.py").write_text("def total(items):\n    return sum(items)\n")
    (repo / "src" / "util.py").write_text("X = 1\n")
    (repo / "tools.sh").write_text("#!/bin/sh\necho tools\n")
    (repo / "tools.sh").chmod(0o755)
    (repo / "logo.bin").write_bytes(bytes(range(256)) * 4)
    (repo / ".gitignore").write_text("*.log\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    return repo


def script_file(tmp_path: Path, replies: list[object]) -> str:
    """A replies file for the scripted model; returns the `--model` value."""
    import json

    path = tmp_path / f"replies-{len(list(tmp_path.glob('replies-*')))}.json"
    path.write_text(json.dumps(replies))
    return f"scripted/{path}"


def bash(command: str, text: str = "Next step.") -> str:
    return f"{text}\n```bash\n{command}\n```"


DONE = bash("echo MTL_TASK_COMPLETE", "All done and checked.")


@pytest.fixture
def fake_openai() -> Iterator[object]:
    from tests.openai_server import FakeOpenAI

    server = FakeOpenAI().start()
    yield server
    server.stop()


TUI_TITLES = [
    ("Reproduce a failing test before changing any code", ["python"]),
    ("Quote shell variables so paths with spaces do not split", ["shell"]),
    ("Profile before optimising a slow database query", ["sql"]),
]


@pytest.fixture
def pool(store: MemoryStore) -> list[int]:
    """A small pool of insights from three languages, closed again for the app to open.

    Its three lessons fit no task in particular: the tests using it are about mechanics
    (panel keys, injection, feedback), so the user's config turns the relevance floor off,
    and the model's screening, whose call would take the agent's scripted reply (the floor
    has its own tests in test_retrieval.py, screening in test_screen.py)."""
    from mtl_tui.config import save_setting

    ids = [r.id for r in store.add_many([insight(t, langs) for t, langs in TUI_TITLES])]
    store.close()
    save_setting("memory.floor", -1.0)
    save_setting("memory.screen", False)
    return ids


# tests/data holds benchmark exercises whose own tests fail on purpose (their stubs).
collect_ignore_glob = ["data/*"]
