"""The offer of the shipped starter pack to an empty pool, without the pack machinery
(pydantic): the TUI asks at start-up, before its first frame's work is done."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mtl_tui.memory.trust import starter_path

if TYPE_CHECKING:
    from mtl_tui.memory.store import MemoryStore


def starter_size() -> int:
    """How many lessons the shipped starter pack holds (the offers name the real count)."""
    return len(json.loads(starter_path().read_text(encoding="utf-8"))["items"])


def should_offer_starter(store: MemoryStore) -> bool:
    """True once for an empty pool: the first run suggests the starter pack."""
    marker = store.path.parent / ".starter-offered"
    if store.count() > 0 or marker.exists():
        return False
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return True
