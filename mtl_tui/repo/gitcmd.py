"""Plain `git` subprocesses with bytes in and out, paths as the filesystem encodes them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

from mtl_tui.errors import MtlError

IDENTITY = {
    "GIT_AUTHOR_NAME": "mtl",
    "GIT_AUTHOR_EMAIL": "mtl@localhost",
    "GIT_COMMITTER_NAME": "mtl",
    "GIT_COMMITTER_EMAIL": "mtl@localhost",
}


class GitFailed(MtlError):
    exit_code = 1


class Git:
    """`git -C root ...` with a fixed identity and no pager, prompts or optional locks."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {
            **os.environ,
            **IDENTITY,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_OPTIONAL_LOCKS": "0",
            "LC_ALL": "C",
        }
        self.env.pop("GIT_INDEX_FILE", None)

    def raw(
        self,
        *args: str | bytes,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> bytes:
        proc = subprocess.run(
            ["git", "-C", str(self.root), *args],
            input=input,
            capture_output=True,
            env={**self.env, **(env or {})},
        )
        if check and proc.returncode != 0:
            message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise GitFailed(
                f"git {os.fsdecode(args[0])} failed: {message[-1] if message else proc.returncode}"
            )
        return proc.stdout

    def text(self, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        return self.raw(*args, env=env, check=check).decode("utf-8", "surrogateescape").strip()

    def maybe(self, *args: str) -> str | None:
        """The output, or None when git exits non-zero (a missing ref, an unset key)."""
        cmd = ["git", "-C", str(self.root), *args]
        proc = subprocess.run(cmd, capture_output=True, env=self.env)
        if proc.returncode != 0:
            return None
        return proc.stdout.decode("utf-8", "surrogateescape").strip()

    def paths(self, *args: str, env: dict[str, str] | None = None) -> list[str]:
        """A `-z` listing of paths."""
        return [os.fsdecode(p) for p in self.raw(*args, env=env).split(b"\0") if p]

    def hash_blob(self, data: bytes) -> str:
        return self.raw("hash-object", "-w", "--no-filters", "--stdin", input=data).decode().strip()

    def mktree(self, entries: Iterable[tuple[str, str, str, str]]) -> str:
        """A tree from (mode, type, sha, name) entries."""
        body = b"".join(
            f"{mode} {kind} {sha}\t".encode() + os.fsencode(name) + b"\0"
            for mode, kind, sha, name in entries
        )
        return self.raw("mktree", "-z", input=body).decode().strip()

    def blob(self, spec: str) -> bytes:
        return self.raw("cat-file", "blob", spec)


def zpaths(paths: Iterable[str]) -> bytes:
    return b"".join(os.fsencode(p) + b"\0" for p in paths)


def find_root(path: Path) -> Path | None:
    """The work tree containing `path` (searching parents), or None."""
    try:
        top = Git(path).maybe("rev-parse", "--show-toplevel")
    except OSError:
        return None
    return Path(top) if top else None
