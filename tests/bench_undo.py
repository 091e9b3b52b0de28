"""Snapshot cost on a large repository with a big untracked file: time before the first
command and .git growth over three runs, then the time of an undo.

    python3 tests/bench_undo.py              # this checkout
    PYTHONPATH=/work/main python3 tests/bench_undo.py   # another implementation, to compare
    python3 tests/bench_undo.py --caches     # only: a snapshot of ignored tool caches

`--caches`: a repository whose tests ran (300 modules compiled into `__pycache__`, a
`.pytest_cache` naming 3,000 tests); the snapshot copies (and scans) the caches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mtl_tui.repo.git import GitRepo

TRACKED = 3000  # files of 8 KB
UNTRACKED_SMALL = 2000
BIG_MB = 50
RUNS = 3


def git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
    subprocess.run(["git", "-C", str(root), *args], check=True, env=env, capture_output=True)


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def caches() -> None:
    import py_compile

    with tempfile.TemporaryDirectory(prefix="mtl-bench-undo-") as tmp:
        root = Path(tmp)
        for i in range(300):
            sub = root / f"pkg{i % 10}"
            sub.mkdir(exist_ok=True)
            body = "".join(
                f"def test_{i}_{j}(client):\n    '''Check case {j} of {i}.'''\n"
                f"    assert client.get('/api/v1/items/{j}').status_code == 200\n"
                for j in range(40)
            )
            (sub / f"test_m{i}.py").write_text(body)
            py_compile.compile(str(sub / f"test_m{i}.py"))
        cache = root / ".pytest_cache" / "v" / "cache"
        cache.mkdir(parents=True)
        tag = "Signature: 8a477f597d28d172789f06886806bc55\n"
        (root / ".pytest_cache" / "CACHEDIR.TAG").write_text(tag)
        (root / ".pytest_cache" / ".gitignore").write_text("*\n")
        ids = [f"pkg{i % 10}/test_m{i}.py::test_{i}_{j}" for i in range(300) for j in range(10)]
        (cache / "nodeids").write_text(json.dumps(ids, indent=2))
        (cache / "lastfailed").write_text(json.dumps({ids[7]: True}, indent=2))
        (root / ".gitignore").write_text("__pycache__/\n")
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "init")
        repo = GitRepo.find(root)
        assert repo is not None
        pyc = sum(f.stat().st_size for f in root.rglob("*.pyc")) / 1e6
        size = size_mb(root / ".pytest_cache") + pyc
        for attempt in range(3):
            wall, cpu = time.perf_counter(), time.process_time()
            snap = repo.take_snapshot(f"caches {attempt}")
            kept = len(snap.meta["ignored_saved"])
            refused = len(snap.meta.get("ignored_refused", {}))
            print(
                f"snapshot with {size:.1f} MB of caches: {time.perf_counter() - wall:.2f} s wall "
                f"{time.process_time() - cpu:.2f} s CPU; {kept} entries kept, {refused} refused",
                flush=True,
            )


def main() -> None:
    if "--caches" in sys.argv[1:]:
        caches()
        return
    with tempfile.TemporaryDirectory(prefix="mtl-bench-undo-") as tmp:
        root = Path(tmp)
        for i in range(TRACKED):
            sub = root / f"pkg{i % 30}"
            sub.mkdir(exist_ok=True)
            (sub / f"m{i}.py").write_bytes(os.urandom(4096).hex().encode())
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "init")
        (root / "gen").mkdir()
        for i in range(UNTRACKED_SMALL):
            (root / "gen" / f"o{i}.txt").write_text(f"generated {i}\n")
        big = root / "data.bin"
        big.write_bytes(os.urandom(BIG_MB * 1024 * 1024))
        repo = GitRepo.find(root)
        assert repo is not None
        start_mb = size_mb(root / ".git")
        print(f"repository: {TRACKED} tracked files, {UNTRACKED_SMALL} untracked small files, "
              f"one untracked {BIG_MB} MB file; .git {start_mb:.1f} MB")  # fmt: skip
        for run in range(1, RUNS + 1):
            started = time.perf_counter()
            before = repo.snapshot(f"before {run}")
            took = time.perf_counter() - started
            big.write_bytes(os.urandom(BIG_MB * 1024 * 1024))  # the agent rewrites it
            (root / "pkg0" / "m0.py").write_text(f"run {run}\n")
            repo.mark_run(before, repo.snapshot(f"after {run}"))
            print(f"run {run}: snapshot before the first command {took:.2f} s, "
                  f".git {size_mb(root / '.git'):.1f} MB")  # fmt: skip
        started = time.perf_counter()
        result = repo.undo()
        took = time.perf_counter() - started
        named = len(getattr(result, "not_restored", []))
        counts = f"{len(result.restored)} restored, {len(result.removed)} removed"
        print(f"undo: {took:.2f} s ({counts}, {named} named as not restored)")
        print(f".git growth over {RUNS} runs: {size_mb(root / '.git') - start_mb:.1f} MB")


if __name__ == "__main__":
    sys.exit(main())
