"""The embedding model preloads in a background thread, and the face gets that very model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mtl_tui.memory import preload
from mtl_tui.memory.embed import DEFAULT_MODEL, PREPARED_DIR, DefaultModelEmbedder
from mtl_tui.memory.embed_onnx import MODEL_FILE
from tests.conftest import run_mtl


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preload, "_started", {})


def test_the_preloaded_model_is_the_one_handed_out(embedder: DefaultModelEmbedder) -> None:
    preload.start(DEFAULT_MODEL)
    preload.start(DEFAULT_MODEL)  # at most once a process
    (started,) = preload._started.values()
    notices: list[str] = []
    model = preload.embedder_for(DEFAULT_MODEL, notices.append)
    assert model is started.embedder
    texts = ["quote paths with spaces in shell scripts", "run the failing test first"]
    assert np.allclose(model.embed(texts), embedder.embed(texts), atol=1e-6)
    assert model.backend == "onnx" and notices == []


def test_nothing_preloads_when_the_model_must_be_prepared_first(mtl_home: Path) -> None:
    (mtl_home / PREPARED_DIR).unlink()  # a first run: preparing it shows a progress line
    preload.start(DEFAULT_MODEL)
    assert preload._started == {}
    assert not (mtl_home / PREPARED_DIR).exists()  # and no preparation began in a thread
    model = preload.embedder_for(DEFAULT_MODEL)
    assert isinstance(model, DefaultModelEmbedder) and model.backend == ""  # not loaded


def test_other_models_are_not_preloaded(tmp_path: Path) -> None:
    preload.start(str(tmp_path / "some-other-model"))
    assert preload._started == {}


def test_a_notice_from_the_thread_waits_for_the_face(mtl_home: Path) -> None:
    link = mtl_home / PREPARED_DIR
    folder = link.resolve()
    link.unlink()
    shutil.copytree(folder, link)
    (link / MODEL_FILE).write_bytes(b"not an onnx model")  # the manifest still says complete
    preload.start(DEFAULT_MODEL)
    notices: list[str] = []
    model = preload.embedder_for(DEFAULT_MODEL, notices.append)
    assert model.embed(["check the exit status"]).shape == (1, 384)
    assert model.backend == "sentence-transformers"
    assert len(notices) == 1 and "unusable" in notices[0]


def test_search_and_add_work_with_the_preload(mtl_home: Path) -> None:
    added = run_mtl("memory", "add", "--title", "Quote shell variables so paths survive spaces")
    assert added.returncode == 0, added.stderr
    found = run_mtl("memory", "search", "a script breaks on folder names with spaces", "--json")
    assert found.returncode == 0, found.stderr
    assert "Quote shell variables" in found.stdout and "Traceback" not in found.stderr
