"""Insight packs: a versioned JSON document of memories that travels between machines,
teammates and models. Secrets and absolute paths are scrubbed again on the way out, and
nothing identifies the user."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from mtl_tui import __version__
from mtl_tui.errors import MtlError
from mtl_tui.files import InputError, loads_bounded, read_text_bounded
from mtl_tui.memory import links, trust
from mtl_tui.memory.starter import should_offer_starter as should_offer_starter
from mtl_tui.memory.starter import starter_size as starter_size
from mtl_tui.memory.store import AddResult, MemoryStore, Progress
from mtl_tui.memory.trust import starter_path, trusted
from mtl_tui.records import (
    EMBEDDING_SCHEME,
    OLD_EMBEDDING_SCHEME,
    Kind,
    Memory,
    Outcome,
    validate_fields,
)
from mtl_tui.scrub import scrub, scrub_value
from mtl_tui.text import sentence

__all__ = ["starter_path", "trusted"]  # re-exported: where callers have found them

FORMAT = "mtl-insight-pack"
VERSION = 1
MAX_ITEMS = 100_000
MAX_BYTES = 512 * 1024 * 1024


class PackError(MtlError):
    """A pack that cannot be imported; nothing was written."""


# -- the format ---------------------------------------------------------------------------

# No control characters (a newline would smuggle a heading into AGENTS.md); languages are
# one word each (they are quoted in prompts).
_Tag = Field(max_length=40, min_length=1, pattern=r"^[^\x00-\x1f\x7f]+$")
_Language = Field(min_length=1, max_length=40, pattern=r"^[^\s\x00-\x1f\x7f]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built when a pack is read


class PackEmbedding(_Strict):
    model: str = Field(min_length=1, max_length=300)
    dim: int = Field(ge=1, le=8192)
    # How the embedded texts were built (records.EMBEDDING_SCHEME); absent in packs from
    # the first release, whose vectors embedded titles only ("title-v0").
    scheme: str | None = Field(None, max_length=40)


class PackProvenance(_Strict):
    model: str | None = Field(None, max_length=300)
    outcome: Outcome = "unknown"
    origin: str = Field("manual", max_length=100)


class PackVotes(_Strict):
    up: int = Field(0, ge=0)
    down: int = Field(0, ge=0)


class PackItem(_Strict):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    kind: Kind
    fields: dict[str, Any]
    tags: list[Annotated[str, _Tag]] = Field(default_factory=list, max_length=20)
    languages: list[Annotated[str, _Language]] = Field(default_factory=list, max_length=10)
    provenance: PackProvenance = Field(default_factory=PackProvenance)
    votes: PackVotes = Field(default_factory=PackVotes)
    uses: int = Field(0, ge=0)
    wins: int = Field(0, ge=0)
    support: int = Field(1, ge=1)
    embedding: str | None = Field(None, max_length=8192 * 8, description="base64 float32 LE")


class Pack(_Strict):
    """An insight pack (format `mtl-insight-pack`, version 1)."""

    format: Literal["mtl-insight-pack"]
    version: Literal[1]
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    created_at: str = Field(max_length=40)
    mtl_version: str = Field(max_length=40)
    embedding: PackEmbedding | None = None
    items: list[PackItem] = Field(max_length=MAX_ITEMS)
    # Decoded embeddings by item id, kept from validation so import does not decode twice.
    _vectors: dict[str, Any] = PrivateAttr(default_factory=dict)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the format (shipped as pack.schema.json beside this module)."""
    schema = Pack.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://mtl.invalid/schemas/insight-pack-1.json"
    return schema


def safe_name(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:100]
    return cleaned or "pack"


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


@dataclass
class Selection:
    """What an export takes from the pool, and what it leaves out and why."""

    memories: list[Memory]
    left_out: dict[str, int] = field(default_factory=dict)

    def notice(self) -> str | None:
        if not self.left_out:
            return None
        parts = [f"{count} {why}" for why, count in self.left_out.items()]
        return "Left out " + ", ".join(parts)


def select(
    store: MemoryStore,
    kind: str | None = None,
    language: str | None = None,
    min_rating: int | None = None,
    ids: Sequence[int] | None = None,
    include_project: bool = False,
) -> Selection:
    """Memories to export. Unless asked for by id, a pack leaves out project-scoped memories
    (they belong to one repository; --include-project takes them) and superseded ones (a
    refinement replaced them; they are never retrieved either)."""
    memories = [store.get(i) for i in ids] if ids else store.list(kind, language)
    if min_rating is not None:
        memories = [m for m in memories if m.net_votes >= min_rating]
    left_out: dict[str, int] = {}
    if not ids:
        if not include_project:
            project = [m for m in memories if m.scope == "project"]
            if project:
                left_out["project-scoped (--include-project takes them)"] = len(project)
                memories = [m for m in memories if m.scope != "project"]
        ids_here = [m.id for m in memories if m.id is not None]
        replaced: dict[int, int] = {}
        for start in range(0, len(ids_here), 900):  # under SQLite's bound-parameter limit
            replaced |= store.superseded(ids_here[start : start + 900])
        if replaced:
            left_out["superseded by a refinement"] = len(replaced)
            memories = [m for m in memories if m.id not in replaced]
        losing = _losing_contradictions(store, memories)
        if losing:
            left_out["contradicted by a memory with more evidence"] = len(losing)
            memories = [m for m in memories if m.id not in losing]
    return Selection(sorted(memories, key=lambda m: m.id or 0), left_out)


def _losing_contradictions(store: MemoryStore, memories: Sequence[Memory]) -> set[int]:
    """The memories that lose a contradiction to another exported one, settled as
    retrieval settles it (more evidence, then the newer): a pack never carries the loser
    to a pool where the winner is missing."""
    from mtl_tui.memory.rank import evidence

    by_id = {m.id: m for m in memories if m.id is not None}
    losers: set[int] = set()
    for a, b in links.all_contradictions(store.db):
        if a in by_id and b in by_id:
            key = lambda m: (evidence(m), m.created_at, m.id or 0)  # noqa: E731
            losers.add(min(by_id[a], by_id[b], key=key).id or 0)
    return losers


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
            "fields": memory.fields,
            "tags": memory.tags,
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
        item = scrub_value(item)  # every field, whatever it is; ids and numbers pass
        if with_embeddings and memory.id in vectors:
            item["embedding"] = encode_vector(vectors[memory.id])
        items.append(item)
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": safe_name(scrub(name)),
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "mtl_version": __version__,
        "embedding": (
            scrub_value(
                {"model": model, "dim": dim, "scheme": store.recorded_scheme() or EMBEDDING_SCHEME}
            )
            if model
            else None
        ),
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
    pack = build(store, memories, safe_name(name or path.stem), with_embeddings)
    write_atomic(path, json.dumps(pack, indent=1, ensure_ascii=False) + "\n")
    return len(pack["items"])


# -- reading and importing -----------------------------------------------------------------


def _where(exc: ValidationError, data: Any) -> str:
    first = exc.errors()[0]
    loc = list(first["loc"])
    if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
        index = loc[1]
        item = data["items"][index] if isinstance(data, dict) else None
        ident = item.get("id") if isinstance(item, dict) else None
        field = ".".join(str(p) for p in loc[2:]) or "item"
        who = f"item {index + 1}" + (f" ({ident})" if isinstance(ident, str) else "")
        return f"{who}: field '{field}': {first['msg']}"
    return f"field '{'.'.join(str(p) for p in loc) or 'pack'}': {first['msg']}"


def read_pack(path: Path) -> Pack:
    """The pack at `path`, validated whole: format, version, sizes, ids, embeddings."""
    import numpy as np

    try:
        data = loads_bounded(read_text_bounded(path, MAX_BYTES, "pack"), str(path))
    except InputError as exc:
        raise PackError(str(exc)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PackError(f"{path}: not an insight pack (format must be '{FORMAT}')")
    if data.get("version") != VERSION:
        raise PackError(
            f"{path}: pack version {data.get('version')!r} is not supported "
            f"(this mtl reads {VERSION})"
        )
    try:
        pack = Pack.model_validate(data)
    except ValidationError as exc:
        raise PackError(f"{path}: {_where(exc, data)}") from None
    seen: set[str] = set()
    for index, item in enumerate(pack.items, 1):  # counted from 1, as a person counts
        who = f"{path}: item {index} ({item.id})"
        if item.id in seen:
            raise PackError(f"{who}: duplicate id")
        seen.add(item.id)
        try:
            item.fields = validate_fields(item.kind, item.fields)
        except ValueError as exc:
            raise PackError(f"{who}: {exc}") from None
        if item.embedding is not None:
            if pack.embedding is None:
                raise PackError(f"{who}: field 'embedding': the pack names no embedding model")
            try:
                vector = decode_vector(item.embedding, pack.embedding.dim)
            except (ValueError, base64.binascii.Error) as exc:  # type: ignore[attr-defined]
                raise PackError(f"{who}: field 'embedding': {exc}") from None
            if not np.isfinite(vector).all():
                raise PackError(f"{who}: field 'embedding': not finite numbers")
            pack._vectors[item.id] = vector
    return pack


@dataclass
class ImportReport:
    name: str
    added: list[int] = field(default_factory=list)
    merged: list[tuple[str, int]] = field(default_factory=list)  # pack item id, into
    skipped: list[tuple[str, int, str]] = field(default_factory=list)  # id, existing, why
    # items that read like instructions to the agent and are untrusted in the pool now:
    # item id, title, reasons, the pool memory holding it
    suspicious: list[tuple[str, str, list[str], int]] = field(default_factory=list)
    trusted: int = 0  # items recognised as the shipped starter pack
    untrusted: int = 0  # items added as new untrusted memories
    # items whose id is not their content id: position (from 1), the pack's id, the real one
    renamed: list[tuple[int, str, str]] = field(default_factory=list)
    reembedded: bool = False
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dry_run": self.dry_run,
            "reembedded": self.reembedded,
            "trusted": self.trusted,
            "untrusted": self.untrusted,
            "suspicious": [
                {"item": i, "title": t, "why": why, "memory": m} for i, t, why, m in self.suspicious
            ],
            "renamed": [
                {"position": p, "id": old, "content_id": new} for p, old, new in self.renamed
            ],
            "added": self.added,
            "merged": [{"item": i, "into": m} for i, m in self.merged],
            "skipped": [{"item": i, "existing": m, "why": w} for i, m, w in self.skipped],
        }


def to_memory(item: PackItem, pack_name: str) -> Memory:
    """A pack item as a memory of this pool. What the pack says about the item's origin,
    outcome, votes and usage is not carried over: its own numbers and claims could
    otherwise buy it trust and a place in prompts. Only the shipped starter pack's
    content (recognised by its hash) gets the starter origin."""
    memory = Memory(
        kind=item.kind,
        # As the pool will store them (scrubbed: invisible characters gone), so that the
        # starter check below sees exactly the content trust is later decided on.
        fields=trust.stored_fields(item.kind, item.fields),
        tags=item.tags,
        languages=item.languages,
        model=item.provenance.model,
    )
    memory.origin = trust.import_origin(pack_name, memory)
    if (shipped := trust.starter_items().get(memory.content_hash)) is not None:
        # trusted content keeps the shipped labels too (they are quoted in prompts)
        memory.tags, memory.languages, memory.model = shipped.tags, shipped.languages, None
    return memory


def import_pack(
    store: MemoryStore,
    path: Path,
    dry_run: bool = False,
    progress: Progress | None = None,
    origin_name: str | None = None,
    pack: Pack | None = None,
) -> ImportReport:
    """Import the pack at `path` (or `pack`, already read from it by `read_pack`)."""
    pack = pack or read_pack(path)
    name = safe_name(scrub(origin_name or pack.name))
    memories = [to_memory(item, name) for item in pack.items]
    # An item is named by its content id, whatever id the pack gave it (a hand-edited
    # "0000000000000000" names nothing); a different one is reported.
    ids = [item_id(memory) for memory in memories]
    renamed = [
        (position, scrub(item.id), real)  # a pack's id is its author's text: it passes too
        for position, (item, real) in enumerate(zip(pack.items, ids, strict=True), 1)
        if item.id != real
    ]
    assert store.embedder is not None
    recorded, _ = store.recorded_model()
    ours = recorded or store.embedder.name
    # Vectors are reused only when made by our model under our embedding scheme; packs
    # from an older scheme (or another model) are re-embedded.
    reuse = (
        pack.embedding is not None
        and pack.embedding.model == ours
        and (pack.embedding.scheme or OLD_EMBEDDING_SCHEME) == EMBEDDING_SCHEME
        and all(item.embedding for item in pack.items)
    )
    vectors = None
    if reuse and pack.embedding is not None:
        vectors = [pack._vectors[item.id] for item in pack.items]
        if pack.embedding.dim != store.embedder.dim:
            raise PackError(
                f"{path}: embeddings have {pack.embedding.dim} dimensions, "
                f"the pool {store.embedder.dim}"
            )
    results: list[AddResult] = store.add_many(
        memories, progress=progress, vectors=vectors, dry_run=dry_run
    )
    trusted_count = sum(m.origin == trust.STARTER_ORIGIN for m in memories)
    if name.lower() in trust.RESERVED_NAMES and trusted_count < len(memories):
        name = f"{name}-unverified"  # as its items' origin says (trust.import_origin)
    report = ImportReport(
        name=name, reembedded=not reuse, dry_run=dry_run, trusted=trusted_count, renamed=renamed
    )
    holders = store.get_many([r.id for r in results if not r.created])
    for ident, memory, result in zip(ids, memories, results, strict=True):
        if result.created:
            report.added.append(result.id)
            report.untrusted += not trusted(memory)
        elif result.merged:
            report.merged.append((ident, result.id))
        else:
            report.skipped.append((ident, result.id, "already in the pool"))
        # flagged only where the pool now holds it untrusted: a copy of a trusted memory
        # changed nothing
        holder = memory if result.created else holders.get(result.id, memory)
        if not trusted(holder) and (why := trust.instruction_like(memory)):
            report.suspicious.append((ident, memory.title, why, result.id))
    return report


def import_starter(store: MemoryStore, dry_run: bool = False) -> ImportReport:
    return import_pack(store, starter_path(), dry_run=dry_run, origin_name="starter")


# -- AGENTS.md ------------------------------------------------------------------------------


def flagged(memories: Sequence[Memory]) -> list[tuple[Memory, list[str]]]:
    """Untrusted memories that read like instructions to the agent (as import flagged
    them), with the reasons. AGENTS.md never carries them: there they would become
    standing instructions, with no panel to review them."""
    return [
        (memory, why)
        for memory in memories
        if memory.kind == "insight" and not trusted(memory)
        if (why := trust.instruction_like(memory))
    ]


def agents_md(memories: Sequence[Memory], group_by: str = "tag") -> str:
    """Insights as standing instructions for other coding agents (AGENTS.md style); the
    `flagged` ones are left out (the caller names them)."""
    left_out = {id(memory) for memory, _why in flagged(memories)}
    groups: dict[str, list[Memory]] = {}
    for memory in memories:
        if memory.kind != "insight" or id(memory) in left_out:
            continue
        keys = memory.tags if group_by == "tag" else memory.languages
        groups.setdefault(keys[0] if keys else "general", []).append(memory)
    lines = [
        "# Lessons for coding agents",
        "",
        "Distilled by mtl from earlier runs. Treat them as advice: skip any that does not",
        "fit this repository's language, tools or setting.",
    ]
    for group in sorted(groups, key=lambda g: (g == "general", g)):
        lines += ["", f"## {group.replace('-', ' ').capitalize()}", ""]
        for memory in groups[group]:
            # scrubbed as stored (line breaks and all) before they are joined into one line
            f = {
                name: scrub(str(memory.fields[name]))
                for name in ("title", "description", "content")
            }
            line = f"- **{f['title']}** — {sentence(f['description'])} {sentence(f['content'])}"
            if not trusted(memory):
                line += f" _(imported from pack {trust.pack_name(memory)})_"
            lines.append(" ".join(line.split()))  # one line each: no smuggled headings
    return scrub("\n".join(lines)) + "\n"  # the whole document passes the boundary
