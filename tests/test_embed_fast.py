"""The fast embedding path (ONNX Runtime) against the reference (sentence-transformers)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mtl_tui.memory.embed import (
    PREPARED_DIR,
    DefaultModelEmbedder,
    SentenceTransformerEmbedder,
    make_embedder,
)
from mtl_tui.memory.embed_onnx import (
    MANIFEST_FILE,
    MODEL_FILE,
    OPTIMIZED_FILE,
    OPTIMIZED_STAMP,
    OPTIMIZED_WEIGHTS,
    WEIGHTS_FILE,
)
from mtl_tui.memory.store import MemoryStore
from tests.conftest import insight, run_mtl
from tests.test_store import POOL

# Texts of the kinds mtl embeds: insight titles, task texts, plans, code and non-English
# text, one past the 256-token cut. Written for this test; none was used to tune anything.
TEXTS = [
    "Run the project's own test command before and after every edit",
    "Read the evaluator's expected output format before writing the solution",
    "fix the failing CI job: pytest cannot import the package after the src/ layout change",
    "Plan: inspect Makefile, run make test, patch the off-by-one in the loop, rerun tests",
    "def moving_average(xs, k):\n    return [sum(xs[i:i+k]) / k for i in range(len(xs) - k + 1)]",
    "rebase onto main and resolve the conflict in the lockfile",
    "Ne modifiez pas les tests : corrigez le code qui les fait échouer",
    "コマンドの出力を確認してから次のステップに進む",
    "x",
    "",
    "Check every command's exit status, not only its output. " * 60,
    "When a build tool is missing, look for the project's wrapper script (gradlew, mvnw)",
    "retry the download \udcff",  # a byte the command line could not decode
]


def test_fast_path_agrees_with_sentence_transformers(
    embedder: DefaultModelEmbedder, reference_embedder: SentenceTransformerEmbedder
) -> None:
    assert embedder.backend == "onnx" and embedder.dim == reference_embedder.dim == 384
    fast = embedder.embed(TEXTS)
    reference = reference_embedder.embed(TEXTS)
    assert fast.dtype == np.float32 and fast.shape == reference.shape
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(fast * reference, axis=1)
    assert cosine.min() >= 0.999, dict(zip(TEXTS, cosine.round(5), strict=True))
    # One at a time (no padding) gives the same vectors as in a batch.
    single = np.vstack([embedder.embed([t]) for t in TEXTS])
    assert np.sum(single * fast, axis=1).min() >= 0.9999


def test_a_pool_made_by_the_old_path_searches_the_same_with_the_new(
    mtl_home: Path, embedder: DefaultModelEmbedder, reference_embedder: SentenceTransformerEmbedder
) -> None:
    old = MemoryStore.open(embedder=reference_embedder)
    old.add_many([insight(title, langs) for title, langs in POOL])
    queries = [
        "my training runs give different numbers every time",
        "a shell script breaks on file names with spaces",
        "the tests pass locally but the grader rejects the output",
        "how do I find out why the build fails",
    ]
    before = [[(h.memory.id, h.similarity) for h in old.search(q, k=3)] for q in queries]
    old.close()
    new = MemoryStore.open(embedder=embedder)  # same model name: no reindex asked
    try:
        after = [[(h.memory.id, h.similarity) for h in new.search(q, k=3)] for q in queries]
    finally:
        new.close()
    assert [[i for i, _ in hits] for hits in after] == [[i for i, _ in hits] for hits in before]
    for old_hits, new_hits in zip(before, after, strict=True):
        for (_, old_sim), (_, new_sim) in zip(old_hits, new_hits, strict=True):
            assert new_sim == pytest.approx(old_sim, abs=1e-3)


def _own_copy(home: Path) -> Path:
    """Replace the test's link to the shared prepared model with a private copy to damage."""
    folder = home / PREPARED_DIR
    shared = folder.resolve()
    folder.unlink()
    shutil.copytree(shared, folder)
    return folder


def test_a_folder_prepared_with_the_weights_inside_the_graph_still_loads(
    mtl_home: Path, embedder: DefaultModelEmbedder
) -> None:
    import onnx

    folder = _own_copy(mtl_home)  # as the previous release prepared it: one model.onnx
    model = onnx.load(str(folder / MODEL_FILE))  # with its external weights read in
    (folder / WEIGHTS_FILE).unlink()
    onnx.save_model(model, str(folder / MODEL_FILE))
    assert (folder / MODEL_FILE).stat().st_size > 80_000_000
    old = DefaultModelEmbedder()
    assert np.allclose(old.embed(TEXTS), embedder.embed(TEXTS), atol=1e-6)
    assert old.backend == "onnx"


def test_the_optimised_graph_is_saved_once_then_loaded_with_the_same_vectors(
    mtl_home: Path, embedder: DefaultModelEmbedder
) -> None:
    folder = _own_copy(mtl_home)
    saved = [folder / name for name in (OPTIMIZED_FILE, OPTIMIZED_WEIGHTS, OPTIMIZED_STAMP)]
    for path in saved:
        path.unlink(missing_ok=True)
    texts = TEXTS[:3]
    reference = embedder.embed(texts)
    first = DefaultModelEmbedder()  # optimises the prepared graph, and saves the result
    assert np.allclose(first.embed(texts), reference, atol=1e-6)
    assert all(path.exists() for path in saved) and not list(folder.glob(".opt-*"))
    stamp = json.loads(saved[2].read_text())
    assert stamp["manifest"] == json.loads((folder / MANIFEST_FILE).read_text())
    stamped = saved[2].stat().st_mtime_ns
    second = DefaultModelEmbedder()  # from the saved graph: nothing is written again
    assert np.allclose(second.embed(texts), reference, atol=1e-6)
    assert second.backend == "onnx" and saved[2].stat().st_mtime_ns == stamped
    saved[0].write_bytes(b"not an onnx model")  # a damaged copy is made again
    third = DefaultModelEmbedder()
    assert np.allclose(third.embed(texts), reference, atol=1e-6) and third.backend == "onnx"
    assert saved[0].stat().st_size > 1000 and saved[2].stat().st_mtime_ns != stamped


def test_a_broken_prepared_model_falls_back_with_a_notice(mtl_home: Path) -> None:
    folder = _own_copy(mtl_home)
    (folder / MODEL_FILE).write_bytes(b"not an onnx model")
    notices: list[str] = []
    embedder = DefaultModelEmbedder(notify=notices.append)
    vector = embedder.embed(["check the exit status"])
    assert embedder.backend == "sentence-transformers" and vector.shape == (1, 384)
    assert len(notices) == 1 and "unusable" in notices[0] and "slower" in notices[0]
    assert not folder.exists()  # prepared again on the next start


def test_a_damaged_manifest_falls_back_in_the_cli_with_a_clear_line(mtl_home: Path) -> None:
    folder = _own_copy(mtl_home)
    (folder / MANIFEST_FILE).write_text("{ not json")
    result = run_mtl("memory", "search", "flaky tests")
    assert result.returncode == 0, result.stderr
    assert "prepared embedding model is unusable" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_prepared_model_is_prepared_with_a_progress_line(
    mtl_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (mtl_home / PREPARED_DIR).unlink()
    notices: list[str] = []
    embedder = make_embedder(notify=notices.append)
    assert isinstance(embedder, DefaultModelEmbedder)
    assert embedder.dim == 384 and embedder.backend == "onnx"
    assert len(notices) == 1 and notices[0].startswith("Preparing the fast embedding model")
    manifest = json.loads((mtl_home / PREPARED_DIR / MANIFEST_FILE).read_text())
    assert manifest["agreement"] >= 0.9999
    # the weights lie beside the graph, where ONNX Runtime maps them (a faster start)
    assert (mtl_home / PREPARED_DIR / MODEL_FILE).stat().st_size < 1_000_000
    assert (mtl_home / PREPARED_DIR / WEIGHTS_FILE).stat().st_size > 80_000_000
    assert not list((mtl_home / PREPARED_DIR).parent.glob(".*"))  # no half-made folder left


def test_when_preparing_fails_the_reference_path_is_used(
    mtl_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (mtl_home / PREPARED_DIR).unlink()
    from mtl_tui.errors import MtlError
    from mtl_tui.memory import embed_export

    def fail(*args: object) -> None:
        raise MtlError("preparing the fast embedding model needs onnx")

    monkeypatch.setattr(embed_export, "prepare", fail)
    notices: list[str] = []
    embedder = DefaultModelEmbedder(notify=notices.append)
    assert embedder.embed(["x"]).shape == (1, 384)
    assert embedder.backend == "sentence-transformers"
    assert "unavailable (preparing the fast embedding model needs onnx)" in notices[-1]


def test_other_models_keep_the_sentence_transformers_path(tmp_path: Path) -> None:
    assert isinstance(make_embedder(str(tmp_path / "some-model")), SentenceTransformerEmbedder)
    assert isinstance(make_embedder("sentence-transformers/all-MiniLM-L6-v2"), DefaultModelEmbedder)


def test_doctor_says_which_path_is_used() -> None:
    result = run_mtl("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    detail = checks["embedding model"]["detail"]
    assert checks["embedding model"]["ok"] and "through ONNX Runtime" in detail, detail
