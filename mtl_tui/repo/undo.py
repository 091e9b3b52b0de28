"""Put a repository back to a snapshot, then compare again and name what stayed changed.

Restored: the work tree (bytes, modes, symlinks; no filters), HEAD and its symbolic ref,
every branch, tag and remote ref, the stash list, the index, merge/rebase state files,
files, directories and ignored files the run created. Not restorable, only detected:
hooks, git config, submodule contents, ignored files that existed and changed (except tool
caches, which the snapshot keeps: caches.py), and untracked files too large to snapshot.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtl_tui.repo import caches
from mtl_tui.repo.gitcmd import Git
from mtl_tui.repo.snapshot import GITSTATE, Snapshotter

RESTORABLE = ("worktree", "head", "refs", "stash", "index", "gitstate", "untracked_dirs")


@dataclass
class Difference:
    what: str  # a category: worktree, head, refs, stash, index, hooks, config, ...
    detail: str
    created: str = ""  # the path, when the run created it outside the snapshot
    entry: str = ""  # the ignored entry it concerns

    def __str__(self) -> str:
        return f"{self.what}: {self.detail}"


def inside_known_ignored(rel: str, before: dict[str, Any]) -> bool:
    """Inside an ignored directory that existed before (its change is only reported)."""
    return any(
        known.endswith("/") and rel.startswith(known) and rel != known
        for known in before["ignored"]
    )


def undoable(difference: Difference, before: dict[str, Any]) -> bool:
    """Whether undo puts this difference back: what a dry run promises."""
    if difference.what in RESTORABLE:
        return True
    if difference.what == "ignored" and difference.entry in before.get("ignored_saved", {}):
        return True  # a tool cache the snapshot keeps
    created = difference.created
    return bool(created) and not (
        difference.what == "ignored" and inside_known_ignored(created, before)
    )


def compare(git: Git, before: dict[str, Any], now: dict[str, Any]) -> list[Difference]:
    """How the repository now differs from a snapshot's state."""
    found: list[Difference] = []
    if before["worktree"] != now["worktree"]:
        for status, _old, _new, path in diff_entries(git, before["worktree"], now["worktree"]):
            verb = {"A": "created", "D": "deleted"}.get(status, "changed")
            found.append(Difference("worktree", f"{path} ({verb})"))
    if before["head"] != now["head"]:
        found.append(Difference("head", f"HEAD was {_head(before['head'])}, "
                                        f"is {_head(now['head'])}"))  # fmt: skip
    for ref in sorted(set(before["refs"]) | set(now["refs"])):
        old, new = before["refs"].get(ref), now["refs"].get(ref)
        if old != new:
            verb = "created" if old is None else "deleted" if new is None else "moved"
            found.append(Difference("refs", f"{ref} {verb}"))
    if before["stash"] != now["stash"]:
        found.append(Difference("stash", f"{len(before['stash'])} entries before, "
                                         f"{len(now['stash'])} now"))  # fmt: skip
    if before["index"] != now["index"]:
        found.append(Difference("index", "staged changes differ"))
    for key, label in (
        ("gitstate", "merge/rebase state"),
        ("hooks", "hook"),
        ("config", "git config"),
        ("submodules", "submodule"),
        ("ignored", "ignored file"),
    ):
        old_map, new_map = before[key], now[key]
        for name in sorted(set(old_map) | set(new_map)):
            old, new = old_map.get(name), new_map.get(name)
            if old != new and not _under_same_change(name, old_map, new_map):
                verb = "created" if old is None else "deleted" if new is None else "changed"
                made = name if key in ("ignored",) and old is None else ""
                entry = name if key == "ignored" else ""
                why = before.get("ignored_refused", {}).get(name) if entry else None
                detail = f"{label} {name} {verb}" + (f" ({why})" if why else "")
                found.append(Difference(key, detail, made, entry))
    for path, sig in before["large_untracked"].items():
        if now["large_untracked"].get(path) != sig:
            found.append(Difference(
                "large_untracked",
                f"{path} (too large to snapshot: {sig[0]} bytes) changed or deleted",
            ))  # fmt: skip
    for path in now["large_untracked"]:
        if path not in before["large_untracked"]:
            found.append(
                Difference("large_untracked", f"{path} (created, too large to snapshot)", path)
            )
    old_dirs, new_dirs = set(before["untracked_dirs"]), set(now["untracked_dirs"])
    ignored_changes = set(before["ignored"]) ^ set(now["ignored"])
    for path in sorted((old_dirs ^ new_dirs) - ignored_changes):  # each path named once
        verb = "created" if path in new_dirs else "deleted"
        found.append(Difference("untracked_dirs", f"directory {path} {verb}"))
    return found


def _under_same_change(name: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Inside a directory entry that was created (or deleted) as a whole: that entry names
    the change, and undo removes it as one."""
    parts = name.rstrip("/").split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        parent = "/".join(parts[:depth]) + "/"
        if (parent in old) != (parent in new) and (name in old) == (parent in old):
            return True
    return False


def created_entries(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Ignored entries the run created, each named once (not those inside another)."""
    old, new = before["ignored"], now["ignored"]
    return [n for n in new if n not in old and not _under_same_change(n, old, new)]


def _head(head: dict[str, str | None]) -> str:
    commit = (head["commit"] or "no commit")[:10]
    return f"{head['symref']} at {commit}" if head["symref"] else f"detached at {commit}"


def diff_entries(git: Git, a: str, b: str) -> Iterator[tuple[str, str, str, str]]:
    """(status, old mode, new mode, path) for each path that differs between two trees."""
    out = git.raw("diff-tree", "-r", "-z", "--no-renames", a, b).split(b"\0")
    for i in range(0, len(out) - 1, 2):
        if not out[i].startswith(b":"):
            break
        old_mode, new_mode, _old, _new, status = out[i][1:].decode().split(" ")
        yield status, old_mode, new_mode, os.fsdecode(out[i + 1])


class _Blobs:
    """`git cat-file --batch`: many blobs through one process."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen(
            ["git", "-C", str(root), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def get(self, spec: bytes) -> bytes:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(spec + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
        if len(header) < 3:
            raise OSError(f"object {spec!r} missing from the repository")
        data = self.proc.stdout.read(int(header[2]))
        self.proc.stdout.read(1)
        return data

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait()


class Restorer:
    def __init__(self, snap: Snapshotter, commit: str, meta: dict[str, Any]) -> None:
        self.snap = snap
        self.git = snap.git
        self.root = snap.root
        self.commit = commit
        self.meta = meta
        self.restored: list[str] = []
        self.removed: list[str] = []
        self.problems: list[Difference] = []

    def run(self) -> None:
        self.refs_and_head()
        self.stash()
        self.worktree()
        self.index()
        self.gitstate()
        self.ignored_caches()
        self.created_leftovers()

    # -- git state --------------------------------------------------------------------

    def refs_and_head(self) -> None:
        want, have = self.meta["refs"], self.snap.refs()
        lines = [f"update {ref} {sha}\n" for ref, sha in want.items() if have.get(ref) != sha]
        lines += [f"delete {ref}\n" for ref in have if ref not in want]
        if lines:
            self.git.raw("update-ref", "--stdin", input="".join(lines).encode())
        head = self.meta["head"]
        if head["symref"]:
            self.git.raw("symbolic-ref", "HEAD", head["symref"])
        elif head["commit"]:
            self.git.raw("update-ref", "--no-deref", "HEAD", head["commit"])

    def stash(self) -> None:
        if self.snap.stash() == self.meta["stash"]:
            return
        self.git.raw("update-ref", "-d", "refs/stash", check=False)
        for sha, message in reversed(self.meta["stash"]):
            self.git.raw("stash", "store", "-q", "-m", message, sha)

    def index(self) -> None:
        path = self.snap.git_dir / "index"
        spec = f"{self.commit}:index"
        if self.git.maybe("cat-file", "-e", spec) is None:
            path.unlink(missing_ok=True)
            return
        tmp = path.with_name("index.mtl-undo")
        tmp.write_bytes(self.git.blob(spec))
        os.replace(tmp, path)

    def gitstate(self) -> None:
        git_dir = self.snap.git_dir
        for name in GITSTATE:
            target = git_dir / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
        listing = self.git.maybe("ls-tree", "-r", "--name-only", f"{self.commit}:gitstate")
        for name in (listing or "").splitlines():
            target = git_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.git.blob(f"{self.commit}:gitstate/{name}"))

    # -- the work tree ----------------------------------------------------------------

    def worktree(self) -> None:
        before = self.meta["worktree"]
        now, _large = self.snap.worktree_tree(self.meta["limit"])
        entries = list(diff_entries(self.git, before, now)) if now != before else []
        for status, _old, new_mode, rel in sorted(entries, key=lambda e: e[3], reverse=True):
            if status != "A":
                continue
            if new_mode == "160000":
                self.problems.append(Difference("submodules", f"{rel} was added; left in place"))
                continue
            path = self.root / rel
            if path.is_symlink() or path.is_file():
                path.unlink()
                self.removed.append(rel)
                self._prune_empty(path.parent)
        writes = [(old, rel) for status, old, _new, rel in entries if status != "A"]
        if not writes:
            return
        blobs = _Blobs(self.root)
        try:
            for mode, rel in writes:
                if mode == "160000":
                    continue  # submodule commits: reported by the comparison
                data = blobs.get(f"{before}:{rel}".encode("utf-8", "surrogateescape"))
                if self._write(rel, data, mode):
                    self.restored.append(rel)
        finally:
            blobs.close()

    def _write(self, rel: str, data: bytes, mode: str) -> bool:
        path = self.root / rel
        parent = self.root
        for part in Path(rel).parts[:-1]:
            parent = parent / part
            if parent.is_symlink() or (parent.exists() and not parent.is_dir()):
                parent.unlink()
            parent.mkdir(exist_ok=True)
        previous = None
        if path.is_dir() and not path.is_symlink():
            if any(f for _b, _d, f in os.walk(path)):
                self.problems.append(Difference("worktree", f"{rel}: a directory with files "
                                                            "is in the way"))  # fmt: skip
                return False
            shutil.rmtree(path)
        elif path.is_symlink() or path.exists():
            st = path.lstat()
            previous = st.st_mode if stat.S_ISREG(st.st_mode) else None
            path.unlink()
        if mode == "120000":
            os.symlink(os.fsdecode(data), path)
            return True
        path.write_bytes(data)
        if previous is not None:
            perm = previous & 0o7777
        else:
            mask = os.umask(0)
            os.umask(mask)
            perm = 0o666 & ~mask
        perm = (perm | (perm & 0o444) >> 2) if mode == "100755" else perm & ~0o111
        os.chmod(path, perm)
        return True

    def _prune_empty(self, directory: Path) -> None:
        while directory != self.root and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
            directory = directory.parent

    def ignored_caches(self) -> None:
        """Tool caches the run rewrote (the snapshot keeps them: caches.py)."""
        saved: dict[str, Any] = self.meta.get("ignored_saved", {})
        now = self.snap.ignored()
        changed = [e for e in saved if now.get(e) != self.meta["ignored"].get(e)]
        if not changed:
            return
        blobs = _Blobs(self.root)
        try:
            for entry in changed:

                def read(rel: str) -> bytes:
                    spec = f"{self.commit}:{caches.TREE}/{rel}"
                    return blobs.get(spec.encode("utf-8", "surrogateescape"))

                caches.restore(self.root, entry, saved[entry], read)
                self.restored.append(entry)
        finally:
            blobs.close()

    def created_leftovers(self) -> None:
        """What the run created outside the snapshot: empty directories, large untracked
        files, ignored files and directories. None of them existed before, so they go."""
        before_dirs = set(self.meta["untracked_dirs"])
        ignored_now = self.snap.ignored()
        created_ignored = created_entries(self.meta, {"ignored": ignored_now})
        for rel in before_dirs:
            path = self.root / rel
            if not path.exists():
                path.mkdir(parents=True)
                self.restored.append(rel)
        ignored_changes = set(ignored_now) ^ set(self.meta["ignored"])  # named as ignored
        untracked_dirs = set(self.snap.untracked_dirs()) - before_dirs - ignored_changes
        for rel in sorted(untracked_dirs, reverse=True):
            path = self.root / rel
            if not any(f for _b, _d, f in os.walk(path)) and not path.is_symlink():
                shutil.rmtree(path)
                self.removed.append(rel)
                self._prune_empty(path.parent)
        for rel in self.snap.untracked():
            if rel in self.meta["large_untracked"]:
                continue
            path = self.root / rel
            if path.is_file() and not path.is_symlink():
                size = path.stat().st_size
                if self.meta["limit"] is not None and size > self.meta["limit"]:
                    path.unlink()
                    self.removed.append(rel)
                    self._prune_empty(path.parent)
        for rel in sorted(created_ignored, reverse=True):
            if self._inside_known(rel):
                continue
            path = self.root / rel
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            self.removed.append(rel)
            self._prune_empty(path.parent)

    def _inside_known(self, rel: str) -> bool:
        return inside_known_ignored(rel, self.meta)
