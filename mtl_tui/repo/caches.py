"""Ignored tool caches (`.pytest_cache`, `__pycache__`, `.mypy_cache`, `.ruff_cache`…) kept
byte for byte in the snapshot, so that undo puts them back exactly when a run's commands
rewrote them: running the tests inside a run is the usual case.

Only caches: a directory tagged with CACHEDIR.TAG (the Cache Directory Tagging spec pytest,
mypy and ruff follow), anything under `__pycache__`, and `.pyc` files. Other ignored files
(`.env`, build output, virtual environments) are never copied into the repository's object
store; undo still names them when they changed. The snapshot's size limit and CACHE_FILES
are one budget for all the caches of a snapshot (not per cache): a cache that no longer fits
is only fingerprinted, and undo names it as not restored.

A cache is read before it is stored and scanned with the detector every stored or exported
text passes (scrub.py): a cache holding a secret (a token in `.pytest_cache`, a key in a
`.pyc`'s constants) is not copied into refs/mtl, where `git push --mirror` would send it;
it is only fingerprinted, and undo names it as not restored, saying why.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from mtl_tui.repo import cache_text
from mtl_tui.repo.gitcmd import Git

CACHE_FILES = 5_000  # files stored across all caches of one snapshot
TREE = "ignored"  # where the snapshot commit keeps the cache files


CACHEDIR_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"  # bford.info/cachedir


def is_cache(root: Path, rel: str) -> bool:
    """Whether an ignored entry (`ls-files --directory` form) is a tool's cache."""
    parts = rel.rstrip("/").split("/")
    if "__pycache__" in parts or rel.endswith((".pyc", ".pyo")):
        return True
    top = len(parts) if rel.endswith("/") else len(parts) - 1
    return any(_tagged(root.joinpath(*parts[:n])) for n in range(1, top + 1))


def _tagged(directory: Path) -> bool:
    """A CACHEDIR.TAG counts only when it begins with the spec's signature."""
    tag = directory / "CACHEDIR.TAG"
    try:
        with tag.open("rb") as f:
            return tag.is_file() and f.read(len(CACHEDIR_SIGNATURE)) == CACHEDIR_SIGNATURE
    except OSError:
        return False


def _listing(
    root: Path, rel: str, max_files: int
) -> tuple[dict[str, list[int]], list[str], int] | None:
    """An entry's files ({path: [mode, mtime_ns]}), its directories and their total size;
    None past `max_files` files."""
    path = root / rel
    files: dict[str, list[int]] = {}
    dirs: list[str] = []
    total = 0

    def add(full: Path) -> None:
        nonlocal total
        st = full.lstat()
        if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
            files[full.relative_to(root).as_posix()] = [st.st_mode, st.st_mtime_ns]
            total += st.st_size

    if path.is_symlink() or not path.is_dir():
        if not (path.is_symlink() or path.is_file()):
            return None
        add(path)
        return files, dirs, total
    for base, subdirs, names in os.walk(path):
        dirs.append(Path(base).relative_to(root).as_posix())
        for name in [*names, *(d for d in subdirs if (Path(base) / d).is_symlink())]:
            add(Path(base) / name)
            if len(files) > max_files:
                return None
    return files, dirs, total


HOLDS_SECRET = "holds a secret"
UNSCANNABLE = "cannot be scanned"


def why_not_kept(data: bytes) -> str | None:
    """Why a cache file's bytes must not be stored (HOLDS_SECRET, UNSCANNABLE), or None:
    their text (cache_text.py) is scanned with the scrubbing boundary's detector; what has
    no text the scanner can read is not stored at all."""
    from mtl_tui import scrub

    scan = cache_text.scannable(data)
    if scan is None:
        return UNSCANNABLE
    if scrub.holds_secret(scan.text) or scrub.holds_secret(scan.strings, tokens_only=True):
        return HOLDS_SECRET
    return None


# Digests of cache files found clean, kept in the git directory (VERDICTS) for the next
# snapshot: only what changed is scanned again (the first scan of 3 MB of caches takes
# about 2 s of CPU, tests/bench_undo.py --caches). A digest of the bytes themselves, so a
# rewritten file is always scanned again; the whole list is dropped when the detector
# changes (_detector: the scrubber's and this scanner's sources, the interpreter's pyc
# magic, detect-secrets' version).
VERDICTS = "mtl-clean-caches"


@cache
def _detector() -> str:
    import importlib.metadata
    import importlib.util

    from mtl_tui import scrub

    digest = hashlib.blake2b(digest_size=16)
    for name in ("scrub.py", "secret_rules.py", "secret_views.py"):
        digest.update((Path(scrub.__file__).parent / name).read_bytes())
    for module in (__file__, cache_text.__file__):
        digest.update(Path(module).read_bytes())
    digest.update(importlib.util.MAGIC_NUMBER)
    digest.update(importlib.metadata.version("detect-secrets").encode())
    return digest.hexdigest()


def _load_clean(path: Path | None) -> set[str]:
    try:
        lines = path.read_text().split() if path else []
    except (OSError, UnicodeDecodeError):
        return set()
    return set(lines[1:]) if lines[:1] == [_detector()] else set()


def _save_clean(path: Path | None, clean: set[str]) -> None:
    if path is None:
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text("\n".join([_detector(), *sorted(clean)]) + "\n")
        os.replace(tmp, path)
    except OSError:
        pass  # only a cache of verdicts: the next snapshot scans again


class Scanned:
    """The exact bytes of every cache file scanned, copied aside as they were read: what is
    stored is what was scanned, even when a tool rewrites the file in between."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.copies: dict[str, Path] = {}

    def keep(self, rel: str, data: bytes) -> None:
        copy = self.where / str(len(self.copies))
        copy.write_bytes(data)
        self.copies[rel] = copy


def refusal_in(
    root: Path, files: dict[str, list[int]], known: set[str], clean: set[str], scanned: Scanned
) -> str | None:
    """Why one of an entry's files (paths under `root`) must not be stored
    (`not kept for undo: PATH holds a secret`), or None. Digests in `known` were found
    clean before; `clean` gains every digest clean now; `scanned` every file's bytes."""
    for rel, (mode, _mtime) in files.items():
        full = root / rel
        try:
            data = os.readlink(full).encode() if stat.S_ISLNK(mode) else full.read_bytes()
        except OSError:
            continue  # gone since it was listed: not stored (Scanned has no copy)
        digest = hashlib.blake2b(data, digest_size=20).hexdigest()
        if digest not in known and digest not in clean and (why := why_not_kept(data)):
            return f"not kept for undo: {rel} {why}"
        clean.add(digest)
        scanned.keep(rel, data)
    return None


def capture(
    git: Git, ignored: dict[str, Any], max_bytes: int | None, git_dir: Path | None = None
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Store the ignored caches' files, within one budget for them all (`max_bytes` and
    CACHE_FILES), except caches holding a secret; returns (tree id or "", what was saved
    per entry, why an entry was not: {entry: reason} for those holding a secret).
    `git_dir` keeps the digests of files found clean (VERDICTS)."""
    verdicts = git_dir / VERDICTS if git_dir else None
    known = _load_clean(verdicts)
    clean: set[str] = set()
    try:
        with tempfile.TemporaryDirectory(prefix="mtl-caches-") as tmp:
            return _capture(git, ignored, max_bytes, known, clean, Scanned(Path(tmp)))
    finally:
        if clean != known:
            _save_clean(verdicts, clean)


def _capture(
    git: Git,
    ignored: dict[str, Any],
    max_bytes: int | None,
    known: set[str],
    clean: set[str],
    scanned: Scanned,
) -> tuple[str, dict[str, Any], dict[str, str]]:
    root = git.root
    saved: dict[str, dict[str, Any]] = {}
    refused: dict[str, str] = {}
    bytes_left = max_bytes
    files_left = CACHE_FILES
    decided: dict[str, bool] = {}  # directory entries: stored or not
    for rel in ignored:
        if not is_cache(root, rel):
            continue
        parts = rel.rstrip("/").split("/")
        above = [d for n in range(1, len(parts)) if (d := "/".join(parts[:n]) + "/") in decided]
        if above:  # inside a directory entry already stored (counted there) or left out
            listing = _listing(root, rel, CACHE_FILES) if decided[above[-1]] else None
            if listing is not None:
                saved[rel] = {"files": listing[0], "dirs": listing[1]}
            elif above[-1] in refused:
                refused[rel] = refused[above[-1]]
            continue
        listing = _listing(root, rel, files_left)
        fits = listing is not None and (bytes_left is None or listing[2] <= bytes_left)
        if (
            fits
            and listing is not None
            and (why := refusal_in(root, listing[0], known, clean, scanned))
        ):
            refused[rel] = why
            fits = False
        if rel.endswith("/"):
            decided[rel] = fits
        if listing is None or not fits:
            continue  # over what is left of the budget, or a secret: only fingerprinted
        files_left -= len(listing[0])
        if bytes_left is not None:
            bytes_left -= listing[2]
        saved[rel] = {"files": listing[0], "dirs": listing[1]}
    for entry in saved.values():  # only what was scanned (a file made since is left out)
        entry["files"] = {f: info for f, info in entry["files"].items() if f in scanned.copies}
    every = {f: info for entry in saved.values() for f, info in entry["files"].items()}
    if not every:
        return "", {}, refused
    names = list(every)
    listing = b"".join(os.fsencode(str(scanned.copies[r])) + b"\n" for r in names)
    out = git.raw("hash-object", "-w", "--no-filters", "--stdin-paths", input=listing)
    lines = []
    for rel, sha in zip(names, out.decode().split(), strict=True):
        mode = every[rel][0]
        kind = "120000" if stat.S_ISLNK(mode) else "100755" if mode & 0o111 else "100644"
        lines.append(f"{kind} {sha}\t".encode() + os.fsencode(rel) + b"\0")
    with tempfile.TemporaryDirectory(prefix="mtl-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git.raw("update-index", "-z", "--add", "--index-info", input=b"".join(lines), env=env)
        tree = git.text("write-tree", env=env)
    return tree, saved, refused


def restore(root: Path, entry: str, saved: dict[str, Any], read: Callable[[str], bytes]) -> None:
    """Put one saved cache entry back: its files' bytes, modes and times (`read(path)`
    gives a file's saved bytes); what the run added inside it goes."""
    files: dict[str, list[int]] = saved["files"]
    keep_dirs = set(saved["dirs"])
    target = root / entry
    if target.is_dir() and not target.is_symlink():
        for base, subdirs, names in os.walk(target, topdown=False):
            for name in names + [d for d in subdirs if (Path(base) / d).is_symlink()]:
                full = Path(base) / name
                if full.relative_to(root).as_posix() not in files:
                    full.unlink()
            here = Path(base)
            if here.relative_to(root).as_posix() not in keep_dirs and not any(here.iterdir()):
                here.rmdir()
    elif entry.endswith("/") and (target.is_symlink() or target.exists()):
        target.unlink()  # a file or link where the directory was
    for rel in sorted(keep_dirs):
        (root / rel).mkdir(parents=True, exist_ok=True)
    for rel, (mode, mtime) in files.items():
        full = root / rel
        data = read(rel)
        full.parent.mkdir(parents=True, exist_ok=True)
        if full.is_dir() and not full.is_symlink():
            shutil.rmtree(full)
        elif full.is_symlink() or full.exists():
            full.unlink()
        if stat.S_ISLNK(mode):
            os.symlink(os.fsdecode(data), full)
        else:
            full.write_bytes(data)
            os.chmod(full, stat.S_IMODE(mode))
        os.utime(full, ns=(mtime, mtime), follow_symlinks=False)
