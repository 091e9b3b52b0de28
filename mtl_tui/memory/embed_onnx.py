"""all-MiniLM-L6-v2 through ONNX Runtime and Hugging Face `tokenizers`: no torch on the hot
path, ready in a fraction of a second. The model folder is made once by `embed_export`."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtl_tui.errors import MtlError

if TYPE_CHECKING:
    import numpy as np

MODEL_FILE = "model.onnx"
#: The weights, beside the graph (folders prepared before it have them inside MODEL_FILE).
WEIGHTS_FILE = "model.data"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
#: The graph as ONNX Runtime optimises it, saved by the first load so that later loads skip
#: the optimisation (a third of the session's start-up). Level "extended": its fusions are
#: the same on any x86/ARM CPU, unlike the layout changes of "all" (see ONNX Runtime's
#: graph optimisation docs), so a data directory shared between machines stays valid.
OPTIMIZED_FILE = "model.opt.onnx"
OPTIMIZED_WEIGHTS = "model.opt.data"
OPTIMIZED_STAMP = "model.opt.json"
#: Bumped when the folder layout or the export changes: older folders are prepared again.
FORMAT = 1
_SORT_BATCH = 32


class PreparedModelError(MtlError):
    """The prepared folder is missing, stale or unreadable."""


def source_fingerprint(source: Path) -> str:
    """Changes when the shipped weights change (a new package version), cheaply."""
    try:
        stat = (source / "model.safetensors").stat()
    except OSError:
        return "missing"
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a complete preparation (written last), or PreparedModelError."""
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PreparedModelError(f"no prepared model in {folder}") from exc
    except (OSError, ValueError) as exc:
        raise PreparedModelError(f"unreadable manifest in {folder}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PreparedModelError(f"prepared model in {folder} has an older format")
    return manifest


class OnnxEmbedder:
    """Mean pooling over the last hidden state, then L2 normalisation: what
    sentence-transformers does for this model, so the vectors agree (cosine ≥ 0.999)."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.name = name
        self._session: Any = None
        self._tokenizer: Any = None
        self._dim = 0
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            manifest = read_manifest(self.folder)
            # Its thread pool would warn on every later fork (each agent command is one).
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            try:
                import onnxruntime as ort
                from tokenizers import Tokenizer
            except ImportError as exc:
                raise PreparedModelError(f"cannot import {exc.name}") from exc
            try:
                tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
                session = self._session_for(ort, manifest)
            except Exception as exc:
                raise PreparedModelError(f"cannot load {self.folder}: {exc}") from exc
            self._dim = int(manifest["dim"])
            self._tokenizer = tokenizer
            self._session = session

    def _session_for(self, ort: Any, manifest: dict[str, Any]) -> Any:
        """From the saved optimised graph when it is current, else from the prepared one
        (saving its optimised graph for the next load)."""
        graph = (self.folder / MODEL_FILE).stat()  # a replaced graph is optimised again
        stamp = {
            "onnxruntime": ort.__version__,
            "manifest": manifest,
            "graph": [graph.st_size, graph.st_mtime_ns],
        }
        options = self._options(ort)
        if _read_stamp(self.folder) == stamp:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            try:
                return ort.InferenceSession(
                    str(self.folder / OPTIMIZED_FILE), options, providers=["CPUExecutionProvider"]
                )
            except Exception:  # a damaged copy: made again below
                options = self._options(ort)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        work = None
        try:
            work = Path(tempfile.mkdtemp(prefix=".opt-", dir=self.folder))
            options.optimized_model_filepath = str(work / OPTIMIZED_FILE)
            options.add_session_config_entry(
                "session.optimized_model_external_initializers_file_name", OPTIMIZED_WEIGHTS
            )
            options.add_session_config_entry(
                "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
            )
        except OSError:  # a read-only data directory: optimise in memory every time
            pass
        try:
            session = ort.InferenceSession(
                str(self.folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
            )
            if work is not None:
                _keep_optimized(work, self.folder, stamp)
            return session
        finally:
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)

    @staticmethod
    def _options(ort: Any) -> Any:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # Idle worker threads must not spin on a machine shared with other work.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return options

    @property
    def dim(self) -> int:
        self.load()
        return self._dim

    def embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        self.load()
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        # Similar lengths batched together, as sentence-transformers does: less padding.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        result = np.empty((len(texts), self._dim), dtype=np.float32)
        for start in range(0, len(order), _SORT_BATCH):
            chunk = order[start : start + _SORT_BATCH]
            result[chunk] = self._embed_batch([texts[i] for i in chunk])
        return result

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        from mtl_tui.memory.embed import encodable

        encodings = self._tokenizer.encode_batch(encodable(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        try:
            (hidden,) = self._session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )
        except Exception as exc:
            raise MtlError(f"embedding with {self.folder} failed: {exc}") from exc
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return np.ascontiguousarray(pooled / norms, dtype=np.float32)


def _read_stamp(folder: Path) -> Any:
    try:
        return json.loads((folder / OPTIMIZED_STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _keep_optimized(work: Path, folder: Path, stamp: dict[str, Any]) -> None:
    """Move the graph ONNX Runtime saved in `work` into `folder`, weights first and the
    stamp last, each replaced whole: a reader sees the old copy or the new, never half."""
    try:
        (work / OPTIMIZED_STAMP).write_text(json.dumps(stamp), encoding="utf-8")
        for name in (OPTIMIZED_WEIGHTS, OPTIMIZED_FILE, OPTIMIZED_STAMP):
            os.replace(work / name, folder / name)
    except OSError:
        pass  # the next load optimises again
