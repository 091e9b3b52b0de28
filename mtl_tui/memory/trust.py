"""Which memories may reach a prompt unasked. Trust comes from where a memory came from,
never from what a pack says about itself: the user's own runs and additions are trusted,
and of imported memories only those whose content is the starter pack shipped with this
mtl (recognised by content hashes computed from the shipped file, not by a name)."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path

from mtl_tui.records import Memory, validate_fields
from mtl_tui.scrub import scrub_value

IMPORTED_PREFIX = "pack:"
STARTER_ORIGIN = "pack:starter"
# Names a pack may not take as its origin: they would read as mtl's own.
RESERVED_NAMES = {"starter", "mtl", "manual", "run", "learn", "trusted"}


def starter_path() -> Path:
    """The starter pack shipped with mtl: general lessons for an empty pool."""
    return Path(str(resources.files("mtl_tui.memory").joinpath("starter", "starter-pack.json")))


def stored_fields(kind: str, fields: dict[str, object]) -> dict[str, object]:
    """Fields as the pool stores them: scrubbed, then validated for the kind."""
    return validate_fields(kind, scrub_value(fields))


@cache
def _shipped(stored: bool) -> dict[str, Memory]:
    """The shipped starter pack's items by content hash: as in the file, or as a pool
    stores them (scrubbed and validated)."""
    try:
        data = json.loads(starter_path().read_text(encoding="utf-8"))
        found: dict[str, Memory] = {}
        for item in data["items"]:
            fields = item["fields"]
            memory = Memory(
                kind=item["kind"],
                fields=stored_fields(item["kind"], fields) if stored else fields,
                tags=item.get("tags", []),
                languages=item.get("languages", []),
                origin=STARTER_ORIGIN,
            )
            found[memory.content_hash] = memory
        return found
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # no shipped pack, no trusted imports


def starter_items() -> dict[str, Memory]:
    """The shipped starter pack's items by content hash, as in the file and as stored in a
    pool (scrubbed and validated)."""
    return {**_shipped(stored=False), **_shipped(stored=True)}


def starter_hashes() -> frozenset[str]:
    return frozenset(starter_items())


def is_starter(memory: Memory) -> bool:
    # The file's own hashes first: scrubbing the whole pack loads the secret detectors (a
    # few tenths of a second), and the shipped items store unchanged (a test holds that).
    return memory.content_hash in _shipped(stored=False) or (
        memory.content_hash in _shipped(stored=True)
    )


def trusted(memory: Memory) -> bool:
    """Made here (a run, `mtl learn`, `mtl memory add`), or the shipped starter pack."""
    return not memory.origin.startswith(IMPORTED_PREFIX) or is_starter(memory)


def pack_name(memory: Memory) -> str | None:
    """The pack an imported memory came from (None for memories made here)."""
    if not memory.origin.startswith(IMPORTED_PREFIX):
        return None
    return memory.origin[len(IMPORTED_PREFIX) :]


def import_origin(pack: str, memory: Memory) -> str:
    """The origin an imported memory gets: `pack:starter` only for the shipped content;
    a pack calling itself `starter` (or another reserved name) is marked unverified."""
    if is_starter(memory):
        return STARTER_ORIGIN
    if pack.lower() in RESERVED_NAMES:
        pack = f"{pack}-unverified"
    return f"{IMPORTED_PREFIX}{pack}"


# -- items that read like instructions to the agent rather than lessons --------------------

_INSTRUCTION_LIKE: list[tuple[str, str]] = [
    (
        "pipes into a shell or interpreter",
        (
            r"\|\s*(?:sudo\s+)?(?:env\s+)?(?:ba|z|k|da|c|tc|fi)?sh\b|"
            r"\|\s*(?:sudo\s+)?(?:python[0-9.]*|perl|ruby|node|php|iex|powershell|pwsh)\b|"
            r"(?:\b(?:ba|z|k|da)?sh|\bpython[0-9.]*|\bperl|\bruby|\bnode|\bphp|\bsource|"
            r"(?<![\w.])\.)\s+<\(\s*(?:curl|wget)|"
            r"\beval\s+[\"']?\$\(\s*(?:curl|wget)|"
            r"\b(?:ba|z|k|da)?sh\s+-c\s+[\"']?\$\(\s*(?:curl|wget)|"
            r"(?i:\b(?:iex|invoke-expression)\s*\(?\s*\(?\s*"
            r"(?:iwr|irm|invoke-webrequest|invoke-restmethod|new-object\s+net\.webclient)\b)|"
            r"base64\s+(?:-d|--decode)\b[^\n]*\|"
        ),
    ),
    (
        "tells the agent to ignore its instructions",
        (
            r"(?i)\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}"
            r"\b(?:previous|prior|above|earlier|all|your|system|other)\b[^.\n]{0,20}"
            r"\b(?:instructions?|prompts?|rules|guidelines|directions|messages?)\b|"
            r"\byou are now\b|\bnew instructions\b|\bsystem prompt\b|"
            r"\bdo not (?:tell|inform|show) the user\b|\bwithout (?:asking|telling) the user\b"
        ),
    ),
    (
        "fetches a URL to run",
        (
            r"(?i)\b(?:curl|wget|iwr|irm|invoke-webrequest|invoke-restmethod)\b[^\n]*"
            r"https?://[^\n]*(?:\||&&|;)\s*(?:sudo\s+)?(?:ba|z)?sh\b|"
            r"\b(?:curl|wget)\b[^\n]*https?://\S+[^\n]*&&\s*(?:chmod\s+\+x|\./|sudo)|"
            r"\b(?:pip|npm|gem|go)\s+install\s+[^\n]*https?://"
        ),
    ),
]


# At least one of these is in any text the patterns above match (a cheap first test).
_CUES = (
    "|", "ignore", "disregard", "forget", "override", "bypass", "you are now", "instruction",
    "system prompt", "the user", "curl", "wget", "iwr", "irm", "invoke-", "install", "eval",
    "<(", "iex",
)  # fmt: skip


def instruction_like(memory: Memory) -> list[str]:
    """Why the memory reads like an instruction to the agent rather than a lesson."""
    text = _folded("\n".join(_strings(memory.fields)))
    lowered = text.lower()
    if not any(cue in lowered for cue in _CUES):
        return []
    return [why for why, pattern in _instruction_patterns() if pattern.search(text)]


@cache
def _instruction_patterns() -> list[tuple[str, re.Pattern[str]]]:
    """Compiled on first use: every command imports this module, few check an import."""
    return [(why, re.compile(pattern)) for why, pattern in _INSTRUCTION_LIKE]


def _folded(text: str) -> str:
    """Look-alike letters (a Cyrillic `о` in "ignоre") read as the ASCII they pass for;
    invisible and combining characters dropped."""
    if text.isascii():
        return text
    from mtl_tui.secret_views import fold_char

    return "".join(c if c.isascii() else fold_char(c) for c in text)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
