"""Insight packs: a versioned JSON document of memories that travels between machines,
teammates and models. Secrets and absolute paths are scrubbed again on the way out, and
nothing identifies the user."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mtl_tui import __version__
from mtl_tui.memory.records import Memory
from mtl_tui.memory.scrub import scrub_value
from mtl_tui.memory.store import MemoryStore

FORMAT = "mtl-insight-pack"
VERSION = 1


def item_id(memory: Memory) -> str:
    """A stable id from the content, the same on every machine."""
    return hashlib.sha256(memory.content_hash.encode()).hexdigest()[:16]


def encode_vector(vector: Any) -> str:
    import numpy as np

    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: str, dim: int) -> Any:
    import numpy as np

    raw = base64.b64decode(text, validate=True)
    if len(raw) != 4 * dim:
        raise ValueError(f"embedding has {len(raw) // 4} dimensions, the pack says {dim}")
    return np.frombuffer(raw, dtype="<f4")


def select(
    store: MemoryStore,
    kind: str | None = None,
    language: str | None = None,
    min_rating: int | None = None,
    ids: Sequence[int] | None = None,
) -> list[Memory]:
    memories = [store.get(i) for i in ids] if ids else store.list(kind, language)
    if min_rating is not None:
        memories = [m for m in memories if m.net_votes >= min_rating]
    return sorted(memories, key=lambda m: m.id or 0)


def build(
    store: MemoryStore,
    memories: Sequence[Memory],
    name: str,
    with_embeddings: bool = False,
) -> dict[str, Any]:
    model, dim = store.recorded_model()
    vectors = store.vectors([m.id for m in memories if m.id]) if with_embeddings else {}
    items = []
    for memory in memories:
        item: dict[str, Any] = {
            "id": item_id(memory),
            "kind": memory.kind,
            "fields": scrub_value(memory.fields),
            "tags": scrub_value(memory.tags),
            "languages": memory.languages,
            "provenance": {
                "model": memory.model,
                "outcome": memory.outcome,
                "origin": memory.origin,
            },
            "votes": {"up": memory.up, "down": memory.down},
            "uses": memory.uses,
            "wins": memory.wins,
            "support": memory.support,
        }
        if with_embeddings and memory.id in vectors:
            item["embedding"] = encode_vector(vectors[memory.id])
        items.append(item)
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": name,
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "mtl_version": __version__,
        "embedding": {"model": model, "dim": dim} if model else None,
        "items": items,
    }


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def export_json(
    store: MemoryStore,
    path: Path,
    memories: Sequence[Memory],
    with_embeddings: bool = False,
    name: str | None = None,
) -> int:
    pack = build(store, memories, name or path.stem, with_embeddings)
    write_atomic(path, json.dumps(pack, indent=1, ensure_ascii=False) + "\n")
    return len(pack["items"])
