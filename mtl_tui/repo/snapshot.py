"""What a run could change in a repository, captured into one commit object.

The snapshot commit's tree holds:
  worktree/   the work tree byte for byte (tracked files and untracked, not ignored files
              up to a size limit), stored without clean filters or line-ending conversion
  index       the raw `.git/index` file (staged changes, conflict stages, flags)
  index-tree/ the index as a tree, when it has no conflicts (keeps staged blobs reachable)
  gitstate/   merge, cherry-pick, revert and rebase state files from the git directory
  ignored/    ignored tool caches (.pytest_cache, __pycache__…) byte for byte (caches.py)
  meta.json   HEAD and its symbolic ref, every ref, the stash list, and fingerprints of
              what undo does not restore (hooks, config, submodules, ignored files, large
              untracked files), so that undo can say what stayed changed.
Its parents are HEAD, the branch tips and the stash entries, so they stay reachable.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtl_tui.repo import caches
from mtl_tui.repo.gitcmd import Git, zpaths

META_VERSION = 1
GITSTATE = (
    "MERGE_HEAD",
    "MERGE_MSG",
    "MERGE_MODE",
    "MERGE_AUTOSTASH",
    "AUTO_MERGE",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
    "REBASE_HEAD",
    "SQUASH_MSG",
    "rebase-merge",
    "rebase-apply",
    "sequencer",
)
_ATTRS = ("text", "eol", "crlf", "filter", "ident", "working-tree-encoding")
_WALK_LIMIT = 20_000  # entries walked to fingerprint one ignored directory


@dataclass
class Snapshot:
    commit: str
    meta: dict[str, Any]
    large: list[tuple[str, int]] = field(default_factory=list)  # left out: (path, bytes)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _stat_sig(path: Path) -> list[int] | None:
    try:
        st = path.lstat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_mode]


def _dir_sig(path: Path) -> str | None:
    """A fingerprint of a directory's files (names, sizes, mtimes), or None if missing."""
    if not path.is_dir() or path.is_symlink():
        return None
    h = hashlib.sha256()
    count = 0
    for base, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            count += 1
            if count > _WALK_LIMIT:
                return "too-large"
            sig = _stat_sig(Path(base) / name)
            h.update(os.fsencode(os.path.join(base, name)) + repr(sig).encode())
    return h.hexdigest()[:16]


class Snapshotter:
    def __init__(self, git: Git, git_dir: Path, common_dir: Path) -> None:
        self.git = git
        self.root = git.root
        self.git_dir = git_dir
        self.common_dir = common_dir

    # -- the work tree ----------------------------------------------------------------

    def untracked(self) -> list[str]:
        return self.git.paths("ls-files", "-z", "--others", "--exclude-standard")

    def worktree_tree(self, max_bytes: int | None) -> tuple[str, dict[str, list[int]]]:
        """A tree of the work tree's exact bytes; untracked files over `max_bytes` are left
        out and returned with their stat signatures."""
        large: dict[str, list[int]] = {}
        if max_bytes is not None:
            for rel in self.untracked():
                sig = _stat_sig(self.root / rel)
                if sig and stat.S_ISREG(sig[2]) and sig[0] > max_bytes:
                    large[rel] = sig
        with tempfile.TemporaryDirectory(prefix="mtl-index-") as tmp:
            index = Path(tmp) / "index"
            real = self.git_dir / "index"
            if real.exists():
                # A copy keeping its mtime: stat info makes `add` fast, and git's racy-entry
                # check (entries as new as the index file are re-read) stays intact.
                shutil.copy2(real, index)
            env = {"GIT_INDEX_FILE": str(index)}
            excludes = [f":(exclude,literal){p}" for p in large]
            self.git.raw("add", "-A", "--", ".", *excludes, env=env)
            self._store_raw_bytes(env)
            tree = self.git.text("write-tree", env=env)
        return tree, large

    def _store_raw_bytes(self, env: dict[str, str]) -> None:
        """Re-store files that clean filters or eol conversion changed, as their raw bytes."""
        staged = self.git.raw("ls-files", "-s", "-z", env=env).split(b"\0")
        modes: dict[str, str] = {}
        for entry in staged:
            if entry:
                info, _, path = entry.partition(b"\t")
                mode = info.split(b" ")[0].decode()
                if mode in ("100644", "100755"):
                    modes[os.fsdecode(path)] = mode
        if not modes:
            return
        autocrlf = (self.git.maybe("config", "--get", "core.autocrlf") or "false").lower()
        if autocrlf in ("true", "input", "1", "yes", "on"):
            affected = list(modes)
        else:
            out = self.git.raw("check-attr", "-z", "--stdin", *_ATTRS, input=zpaths(modes))
            parts = out.split(b"\0")
            flagged: set[str] = set()
            for i in range(0, len(parts) - 2, 3):
                if parts[i + 2] != b"unspecified":
                    flagged.add(os.fsdecode(parts[i]))
            affected = [p for p in modes if p in flagged]
        affected = [p for p in affected if (self.root / p).is_file()]
        if not affected:
            return
        listing = b"".join(os.fsencode(str(self.root / p)) + b"\n" for p in affected)
        if any(b"\n" in os.fsencode(p) for p in affected):  # --stdin-paths is line based
            shas = [self.git.hash_blob((self.root / p).read_bytes()) for p in affected]
        else:
            out = self.git.raw("hash-object", "-w", "--no-filters", "--stdin-paths", input=listing)
            shas = out.decode().split()
        info = b"".join(
            f"{modes[p]} {sha}\t".encode() + os.fsencode(p) + b"\0"
            for p, sha in zip(affected, shas, strict=True)
        )
        self.git.raw("update-index", "-z", "--index-info", input=info, env=env)

    # -- git's own state --------------------------------------------------------------

    def head(self) -> dict[str, str | None]:
        return {
            "symref": self.git.maybe("symbolic-ref", "-q", "HEAD"),
            "commit": self.git.maybe("rev-parse", "--verify", "-q", "HEAD"),
        }

    def refs(self) -> dict[str, str]:
        out = self.git.text("for-each-ref", "--format=%(objectname) %(refname)")
        refs = {}
        for line in out.splitlines():
            sha, _, name = line.partition(" ")
            if not name.startswith("refs/mtl/") and name != "refs/stash":
                refs[name] = sha
        return refs

    def stash(self) -> list[list[str]]:
        """The stash list, newest first: [commit, message]."""
        out = self.git.maybe("log", "-g", "--format=%H %gs", "refs/stash", "--")
        if not out:
            return []
        return [line.split(" ", 1) + [""] * (1 - line.count(" ")) for line in out.splitlines()]

    def staged(self) -> str:
        """A digest of what the index holds (modes, blobs, stages, paths; not stat data)."""
        return _digest(self.git.raw("ls-files", "-s", "-z"))

    def hooks(self) -> dict[str, str]:
        hooks_dir = Path(self.git.text("rev-parse", "--git-path", "hooks"))
        hooks_dir = hooks_dir if hooks_dir.is_absolute() else self.root / hooks_dir
        found = {}
        if hooks_dir.is_dir():
            for path in sorted(hooks_dir.iterdir()):
                if path.is_file() and not path.name.endswith(".sample"):
                    found[path.name] = _digest(path.read_bytes()) + oct(path.stat().st_mode)
        return found

    def config(self) -> dict[str, str]:
        found = {}
        for base in {self.common_dir, self.git_dir}:
            for name in ("config", "config.worktree"):
                path = base / name
                if path.is_file():
                    found[str(path)] = _digest(path.read_bytes())
        return found

    def submodules(self) -> dict[str, list[str | None]]:
        found: dict[str, list[str | None]] = {}
        for entry in self.git.raw("ls-files", "-s", "-z").split(b"\0"):
            if entry.startswith(b"160000 "):
                rel = os.fsdecode(entry.partition(b"\t")[2])
                sub = self.root / rel
                if (sub / ".git").exists():
                    inner = Git(sub)
                    found[rel] = [
                        inner.maybe("rev-parse", "HEAD"),
                        _digest(inner.raw("status", "--porcelain", "-z", check=False)),
                    ]
                else:
                    found[rel] = [None, None]
        return found

    def ignored(self) -> dict[str, Any]:
        out = self.git.paths(
            "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"
        )
        found: dict[str, Any] = {}
        for rel in out:
            path = self.root / rel
            found[rel] = _dir_sig(path) if rel.endswith("/") else _stat_sig(path)
        return found

    def untracked_dirs(self) -> list[str]:
        out = self.git.paths("ls-files", "-z", "--others", "--exclude-standard", "--directory")
        return [p for p in out if p.endswith("/")]

    def gitstate_files(self) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        for name in GITSTATE:
            path = self.git_dir / name
            if path.is_file():
                files[name] = path.read_bytes()
            elif path.is_dir():
                for base, _dirs, names in os.walk(path):
                    for leaf in names:
                        full = Path(base) / leaf
                        files[full.relative_to(self.git_dir).as_posix()] = full.read_bytes()
        return files

    def state(self, max_bytes: int | None) -> dict[str, Any]:
        """Everything compared before and after, as JSON data (the tree ids included)."""
        tree, large = self.worktree_tree(max_bytes)
        gitstate = self.gitstate_files()
        return {
            "worktree": tree,
            "large_untracked": large,
            "head": self.head(),
            "refs": self.refs(),
            "stash": self.stash(),
            "index": self.staged(),
            "hooks": self.hooks(),
            "config": self.config(),
            "submodules": self.submodules(),
            "ignored": self.ignored(),
            "gitstate": {name: _digest(data) for name, data in gitstate.items()},
            "untracked_dirs": self.untracked_dirs(),
        }

    # -- the commit -------------------------------------------------------------------

    def take(self, message: str, max_bytes: int | None, extra: dict[str, Any]) -> Snapshot:
        meta = {"version": META_VERSION, **extra, "limit": max_bytes, **self.state(max_bytes)}
        entries = [("040000", "tree", meta["worktree"], "worktree")]
        cache_tree, meta["ignored_saved"], meta["ignored_refused"] = caches.capture(
            self.git, meta["ignored"], max_bytes, self.git_dir
        )
        if cache_tree:
            entries.append(("040000", "tree", cache_tree, caches.TREE))
        index = self.git_dir / "index"
        if index.is_file():
            raw = index.read_bytes()
            entries.append(("100644", "blob", self.git.hash_blob(raw), "index"))
            with tempfile.TemporaryDirectory(prefix="mtl-index-") as tmp:
                copy = Path(tmp) / "index"  # write-tree would rewrite the real index's cache
                copy.write_bytes(raw)
                env = {"GIT_INDEX_FILE": str(copy)}
                index_tree = self.git.raw("write-tree", env=env, check=False).decode().strip()
            if len(index_tree) >= 40:
                entries.append(("040000", "tree", index_tree, "index-tree"))
        gitstate = self.gitstate_files()
        if gitstate:
            entries.append(("040000", "tree", self._files_tree(gitstate), "gitstate"))
        meta_blob = self.git.hash_blob(json.dumps(meta, indent=1, sort_keys=True).encode())
        entries.append(("100644", "blob", meta_blob, "meta.json"))
        tree = self.git.mktree(entries)
        keep = [meta["head"]["commit"], *(s[0] for s in meta["stash"])]
        keep += [sha for ref, sha in meta["refs"].items() if ref.startswith("refs/heads/")]
        parents: list[str] = []
        for sha in keep:
            if sha and sha not in parents:
                parents.append(sha)
        args = [arg for sha in parents for arg in ("-p", sha)]
        commit = self.git.text("commit-tree", tree, *args, "-m", message)
        large = [(p, sig[0]) for p, sig in meta["large_untracked"].items()]
        return Snapshot(commit, meta, large)

    def _files_tree(self, files: dict[str, bytes]) -> str:
        with tempfile.TemporaryDirectory(prefix="mtl-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            info = b"".join(
                f"100644 {self.git.hash_blob(data)}\t".encode() + name.encode() + b"\0"
                for name, data in files.items()
            )
            self.git.raw("update-index", "-z", "--add", "--index-info", input=info, env=env)
            return self.git.text("write-tree", env=env)


def load_meta(git: Git, commit: str) -> dict[str, Any]:
    return json.loads(git.blob(f"{commit}:meta.json"))
