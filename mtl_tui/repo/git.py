"""Git safety around a run: snapshot before, diff after, undo exactly, and say what not.

Snapshots never touch the user's index, stash or branches: everything is written as
objects into a commit kept on private refs, one pair per run:
`refs/mtl/runs/<run id>/before` and `.../after` (see snapshot.py for what it holds).
"""

from __future__ import annotations

import textwrap
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mtl_tui.errors import MtlError
from mtl_tui.repo.gitcmd import Git, GitFailed, find_root
from mtl_tui.repo.languages import detect_languages
from mtl_tui.repo.snapshot import Snapshot, Snapshotter, load_meta
from mtl_tui.repo.undo import RESTORABLE, Difference, Restorer, compare, undoable

RUNS_PREFIX = "refs/mtl/runs/"
DEFAULT_MAX_UNTRACKED = 10 * 1024 * 1024


class UndoError(MtlError):
    pass


class NotRestored(MtlError):
    """Undo ran but parts of the repository stayed as the run left them."""

    exit_code = 1


@dataclass
class UndoResult:
    run_id: str
    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    not_restored: list[Difference] = field(default_factory=list)
    changes: list[Difference] = field(default_factory=list)  # what differed before undoing
    dry_run: bool = False

    @property
    def complete(self) -> bool:
        return not self.not_restored

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "dry_run": self.dry_run,
            "complete": self.complete,
            "restored": self.restored,
            "removed": self.removed,
            "changes": [d.__dict__ for d in self.changes],
            "not_restored": [d.__dict__ for d in self.not_restored],
        }


@dataclass
class RunRecord:
    run_id: str
    before: str
    after: str | None
    created: float
    message: str
    undone: str | None = None  # the state a partial undo left (a retry checks against it)


class GitRepo:
    def __init__(self, root: Path, max_untracked: int | None = DEFAULT_MAX_UNTRACKED) -> None:
        self.root = root
        self.git = Git(root)
        git_dir = Path(self.git.text("rev-parse", "--absolute-git-dir"))
        common = Path(self.git.text("rev-parse", "--git-common-dir"))
        common = common if common.is_absolute() else (root / common).resolve()
        self.snapshotter = Snapshotter(self.git, git_dir, common)
        self.max_untracked = max_untracked

    @classmethod
    def find(cls, path: Path, max_untracked: int | None = DEFAULT_MAX_UNTRACKED) -> GitRepo | None:
        """The repository containing `path` (searching parents), or None."""
        top = find_root(path)
        return None if top is None else cls(top, max_untracked)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def branch(self) -> str:
        symref = self.git.maybe("symbolic-ref", "-q", "--short", "HEAD")
        if symref:
            return symref
        head = self._head()
        return head[:10] if head else "(no commits)"

    def _head(self) -> str | None:
        return self.git.maybe("rev-parse", "--verify", "-q", "HEAD")

    def languages(self) -> list[str]:
        return detect_languages(self.git.paths("ls-files", "-z"))

    # -- snapshots --------------------------------------------------------------------

    def take_snapshot(self, message: str) -> Snapshot:
        extra = {"created": time.time(), "message": message}
        return self.snapshotter.take(message, self.max_untracked, extra)

    def snapshot(self, message: str) -> str:
        """A commit holding the repository's state (see snapshot.py); returns its id."""
        return self.take_snapshot(message).commit

    def worktree_tree(self) -> str:
        return self.snapshotter.worktree_tree(self.max_untracked)[0]

    def has_path(self, commit: str, path: str) -> bool:
        """Whether `path` (a file or directory, relative to the root) is in `commit`: a
        snapshot (its work tree) or an ordinary commit such as HEAD."""
        is_snapshot = self.git.maybe("cat-file", "-e", f"{commit}:meta.json") is not None
        spec = f"{commit}:worktree/{path}" if is_snapshot else f"{commit}:{path}"
        return self.git.maybe("cat-file", "-e", spec) is not None

    def mark_run(self, before: str, after: str | None = None, run_id: str | None = None) -> str:
        """Record a run's snapshots for `mtl undo`: `before` as soon as it is taken (so an
        interrupted or killed run stays undoable), `after` when the run ends."""
        run_id = run_id or datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + before[:6]
        self.git.raw("update-ref", f"{RUNS_PREFIX}{run_id}/before", before)
        if after:
            self.git.raw("update-ref", f"{RUNS_PREFIX}{run_id}/after", after)
        return run_id

    def diff(self, before: str, after: str) -> str:
        return self.git.text("diff", "--binary", f"{before}:worktree", f"{after}:worktree")

    def diff_stat(self, before: str, after: str) -> str:
        """git's stat, every line at the same indent (`text` would strip the first one's)."""
        raw = self.git.raw("diff", "--stat", f"{before}:worktree", f"{after}:worktree")
        return textwrap.dedent(raw.decode("utf-8", "surrogateescape").strip("\n"))

    def changed_paths(self, before: str, after: str) -> list[str]:
        return self.git.paths("diff", "--name-only", "-z", f"{before}:worktree",
                              f"{after}:worktree")  # fmt: skip

    # -- the runs recorded ------------------------------------------------------------

    def runs(self) -> list[RunRecord]:
        """Recorded runs, newest first."""
        out = self.git.text("for-each-ref", "--format=%(objectname) %(refname)", RUNS_PREFIX)
        found: dict[str, dict[str, str]] = {}
        for line in out.splitlines():
            sha, _, ref = line.partition(" ")
            run_id, _, which = ref[len(RUNS_PREFIX) :].rpartition("/")
            found.setdefault(run_id, {})[which] = sha
        runs = []
        for run_id, refs in found.items():
            if "before" not in refs:
                continue
            try:
                meta = load_meta(self.git, refs["before"])
            except (GitFailed, ValueError):
                continue
            created, message = float(meta.get("created", 0)), str(meta.get("message", ""))
            runs.append(RunRecord(run_id, refs["before"], refs.get("after"), created, message,
                                  refs.get("undone")))  # fmt: skip
        return sorted(runs, key=lambda r: r.created, reverse=True)

    def can_undo(self) -> bool:
        return bool(self.runs())

    def drop_run(self, run_id: str) -> None:
        for which in ("before", "after", "undone"):
            self.git.raw("update-ref", "-d", f"{RUNS_PREFIX}{run_id}/{which}", check=False)

    def prune(self, keep: int, max_age_days: float, everything: bool = False) -> list[str]:
        """Drop recorded runs beyond the newest `keep` or older than `max_age_days`."""
        cutoff = time.time() - max_age_days * 86400
        for legacy in ("refs/mtl/undo/before", "refs/mtl/undo/after"):  # before per-run refs
            self.git.raw("update-ref", "-d", legacy, check=False)
        dropped = []
        for index, run in enumerate(self.runs()):
            if everything or index >= keep or run.created < cutoff:
                self.drop_run(run.run_id)
                dropped.append(run.run_id)
        return dropped

    # -- undo -------------------------------------------------------------------------

    def undo(self, force: bool = False, dry_run: bool = False) -> UndoResult:
        """Put the repository back as it was before the last run. What stays different
        afterwards is in `not_restored` (the caller must not claim success then)."""
        runs = self.runs()
        if not runs:
            raise UndoError(f"nothing to undo in {self.root}: no mtl run recorded")
        run = runs[0]
        before = load_meta(self.git, run.before)
        now = self.snapshotter.state(before["limit"])
        last = run.undone or run.after  # after a partial undo, what that undo left
        if last and not force:
            later = [d for d in compare(self.git, load_meta(self.git, last), now)
                     if d.what in RESTORABLE]  # fmt: skip
            if later:
                shown = "; ".join(str(d) for d in later[:5])
                more = f" and {len(later) - 5} more" if len(later) > 5 else ""
                when = "the last undo" if run.undone else "the last run ended"
                raise UndoError(
                    f"the repository changed after {when} ({shown}{more}); "
                    "`mtl undo --force` restores the pre-run state anyway and discards those "
                    "changes"
                )
        changes = compare(self.git, before, now)
        result = UndoResult(run.run_id, changes=changes, dry_run=dry_run)
        if dry_run:
            result.not_restored = [d for d in changes if not undoable(d, before)]
            return result
        restorer = Restorer(self.snapshotter, run.before, before)
        restorer.run()
        result.restored, result.removed = restorer.restored, restorer.removed
        remaining = compare(self.git, before, self.snapshotter.state(before["limit"]))
        result.not_restored = restorer.problems + [
            d for d in remaining if str(d) not in {str(p) for p in restorer.problems}
        ]
        if result.complete:
            self.drop_run(run.run_id)
        else:  # kept: `mtl undo` (or --force) tries again once the user has seen to the rest
            undone = self.snapshot(f"after a partial undo of {run.run_id}")
            self.git.raw("update-ref", f"{RUNS_PREFIX}{run.run_id}/undone", undone)
        return result
