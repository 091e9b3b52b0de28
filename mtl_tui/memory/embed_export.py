"""One-time preparation of the fast embedding path: export the shipped sentence-transformers
model to ONNX with torch's exporter, check it against the reference vectors, and move the
finished folder into place (so a folder with a manifest is always complete)."""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from mtl_tui.errors import MtlError
from mtl_tui.memory.embed_onnx import (
    FORMAT,
    MANIFEST_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    OnnxEmbedder,
    source_fingerprint,
)

#: Lowest cosine accepted between the exported model and sentence-transformers.
MIN_AGREEMENT = 0.9999
_INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
# Short, long (past the 256-token cut), code, non-Latin: padding and truncation both exercised.
_CHECK_TEXTS = [
    "Run the tests before editing",
    "a",
    "Inspect the evaluator first, then write a quick self-contained check. " * 40,
    "def add(a, b):\n    return a + b  # git rebase --continue",
    "Überprüfe die Eingabe; 日本語のテキスト; ошибка сборки",
]


def prepare(source: Path, target: Path, name: str) -> dict[str, Any]:
    """Export `source` (a sentence-transformers folder) to `target`; returns the manifest."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        manifest = _export(source, work, name)
        if target.exists():
            shutil.rmtree(target)
        try:
            work.rename(target)
        except OSError:
            # Another process finished first: its folder is as good as ours.
            if not (target / MANIFEST_FILE).exists():
                raise
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _export(source: Path, work: Path, name: str) -> dict[str, Any]:
    from mtl_tui.memory.embed import quiet_imports

    quiet_imports()
    try:
        import numpy as np
        import torch
        from sentence_transformers import SentenceTransformer
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise MtlError(f"preparing the fast embedding model needs {exc.name}") from exc

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    reference = SentenceTransformer(str(source), device="cpu")
    transformer = reference[0]
    max_length = int(reference.max_seq_length or 256)
    dim = int(reference.get_embedding_dimension())

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {key: {0: "batch", 1: "tokens"} for key in [*_INPUTS, "last_hidden_state"]}
    module = LastHiddenState(transformer.auto_model).eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (sample, sample, torch.zeros_like(sample)),
                str(work / MODEL_FILE),
                input_names=_INPUTS,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        _weights_apart(work / MODEL_FILE)
    except Exception as exc:
        raise MtlError(f"exporting {name} to ONNX failed: {exc}") from exc

    hf_tokenizer = transformer.tokenizer
    tokenizer = Tokenizer.from_file(str(source / TOKENIZER_FILE))
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(pad_id=hf_tokenizer.pad_token_id, pad_token=hf_tokenizer.pad_token)
    tokenizer.save(str(work / TOKENIZER_FILE))

    manifest: dict[str, Any] = {
        "format": FORMAT,
        "name": name,
        "dim": dim,
        "max_seq_length": max_length,
        "source": str(source),
        "source_fingerprint": source_fingerprint(source),
        "weights": WEIGHTS_FILE,
        "torch": torch.__version__,
    }
    (work / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")

    fast = OnnxEmbedder(work, name).embed(_CHECK_TEXTS)
    slow = reference.encode(_CHECK_TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    agreement = float(np.min(np.sum(fast * slow, axis=1)))
    if agreement < MIN_AGREEMENT:
        raise MtlError(
            f"the ONNX export of {name} disagrees with sentence-transformers "
            f"(cosine {agreement:.5f} < {MIN_AGREEMENT})"
        )
    manifest["agreement"] = round(agreement, 6)
    (work / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def _weights_apart(model_file: Path) -> None:
    """Move the weights out of the graph into WEIGHTS_FILE: ONNX Runtime then maps them
    instead of parsing 90 MB of protobuf, and a session starts with about half the CPU."""
    import onnx

    model = onnx.load(str(model_file))
    onnx.save_model(
        model,
        str(model_file),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=WEIGHTS_FILE,
        size_threshold=1024,
    )
