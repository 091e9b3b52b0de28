"""What a repository may retrieve, for faces that search outside a run (`mtl memory
search`, the MCP server, doctor) as a run would: a small module, so that a search does
not import the whole session (the agent, distillation, snapshots)."""

from __future__ import annotations

from pathlib import Path

from mtl_tui.config import Settings
from mtl_tui.memory.store import View
from mtl_tui.repo.gitcmd import find_root
from mtl_tui.repo.identity import (
    MemoryPolicy,
    RepoIdentity,
    directory_identity,
    identify,
    memory_policy,
)


def pool_policy(cwd: Path) -> MemoryPolicy:
    """The `mtl.memory` setting where a face is about to open the pool: with "off" it
    must not open it at all (not even to migrate it)."""
    return memory_policy(find_root(cwd))


def repo_view(identity: RepoIdentity, policy: MemoryPolicy, settings: Settings) -> View:
    """What a repository may retrieve: global memories and its own scoped ones (only
    those with `mtl.memory project`), evidence decaying as configured."""
    return View(
        identity.key,
        project_only=policy == "project",
        half_life_days=settings.memory.half_life_days,
    )


def view_for(cwd: Path, settings: Settings) -> tuple[View, MemoryPolicy, RepoIdentity]:
    """What a run started in `cwd` would retrieve, and the repository's setting and
    identity."""
    root = find_root(cwd)
    identity = identify(root) if root else directory_identity(cwd)
    policy = memory_policy(root)
    return repo_view(identity, policy, settings), policy, identity


def view_text(policy: MemoryPolicy, identity: RepoIdentity) -> str:
    """The one line every face that lists retrieved memories shows: which memories it
    looked at, as a run in this repository would."""
    if policy == "project":
        return (
            f"view: {identity.name}'s own memories only; global memories are excluded "
            "(git config mtl.memory project)"
        )
    if policy == "off":
        return "view: none; memory is off in this repository (git config mtl.memory off)"
    return f"view: global memories and {identity.name}'s own"


#: What the pool's management commands (`mtl memory list`) show, wherever they run.
WHOLE_POOL_VIEW = (
    "view: the whole pool, every repository's memories, newest first "
    "(`mtl memory search` shows what a run here retrieves)"
)
