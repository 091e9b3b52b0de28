"""Which repository a run is in (for scoped memories), and what it allows the pool.

The identity survives moving, renaming and re-cloning the repository: it is taken from
the first of these that exists, and only its hash is stored:

1. the repository's root commit (the oldest commit with no parent reachable from HEAD;
   every clone of a project shares it, whatever its path or remote);
2. the URL of the `origin` remote, credentials and `.git` suffix dropped (a repository
   with no commit yet);
3. the resolved path of the work tree (no commit, no remote; changes if moved).

The per-repository setting is one line of git configuration, `git config mtl.memory
off|project|on` (local to the repository, or `--global` for every repository):

- `on` (default): the shared pool, global memories and this repository's own;
- `project`: only memories scoped to this repository are read, and everything learned
  here is stored scoped to it;
- `off`: mtl reads and writes nothing in the pool while working in this repository.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mtl_tui.errors import ConfigError
from mtl_tui.repo.gitcmd import Git

MemoryPolicy = Literal["on", "project", "off"]
POLICIES: tuple[str, ...] = ("on", "project", "off")
CONFIG_KEY = "mtl.memory"


@dataclass(frozen=True)
class RepoIdentity:
    key: str  # "repo:" + 16 hex digits of the hash of `source`
    how: str  # root-commit | remote | path
    name: str  # the work tree's directory name, for people

    def describe(self) -> str:
        return f"{self.name} ({self.key}, by its {self.how.replace('-', ' ')})"


def _hashed(text: str) -> str:
    return "repo:" + hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def normalise_remote(url: str) -> str:
    """`https://user:pw@GitHub.com/a/b.git` and `git@github.com:a/b` → `github.com/a/b`."""
    url = url.strip()
    url = re.sub(r"^[a-z+]+://", "", url)
    url = re.sub(r"^[^@/]*@", "", url)  # credentials or the ssh user
    url = re.sub(r"^([^/:]+):(?!\d)", r"\1/", url)  # scp-like host:path
    url = re.sub(r"(\.git)?/*$", "", url)
    host, _, rest = url.partition("/")
    return f"{host.lower()}/{rest}" if rest else host.lower()


def identify(root: Path) -> RepoIdentity:
    """The identity of the repository whose work tree is `root` (see the module doc)."""
    git = Git(root)
    roots = git.maybe("rev-list", "--max-parents=0", "HEAD")
    if roots:
        # several roots (merged histories): the same set in every clone, sorted
        first = sorted(roots.split())[0]
        return RepoIdentity(_hashed(f"root:{first}"), "root-commit", root.name)
    remote = git.maybe("config", "--get", "remote.origin.url")
    if remote:
        return RepoIdentity(_hashed(f"remote:{normalise_remote(remote)}"), "remote", root.name)
    return RepoIdentity(_hashed(f"path:{os.path.realpath(root)}"), "path", root.name)


def directory_identity(cwd: Path) -> RepoIdentity:
    """For a directory outside any repository: by its resolved path."""
    return RepoIdentity(_hashed(f"path:{os.path.realpath(cwd)}"), "path", cwd.name)


def memory_policy(root: Path | None) -> MemoryPolicy:
    """The `mtl.memory` setting for the repository at `root` ("on" outside one). A value
    other than on, project or off is refused, naming the setting."""
    if root is None:
        return "on"
    value = Git(root).maybe("config", "--get", CONFIG_KEY)
    if value is None or not value.strip():
        return "on"
    value = value.strip().lower()
    if value not in POLICIES:
        raise ConfigError(
            f"git config {CONFIG_KEY} is '{value}' in {root}; expected on, project or off "
            f"(`git config {CONFIG_KEY} off` keeps this repository out of the memory pool)"
        )
    return value  # type: ignore[return-value]
