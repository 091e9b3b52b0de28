"""`mtl undo`: restore the repository as it was before the last run, or say what not."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.markup import escape

from mtl_tui.cli.common import err, out, print_json
from mtl_tui.config import load_settings
from mtl_tui.errors import MtlError
from mtl_tui.repo.git import GitRepo, UndoResult
from mtl_tui.text import plural

_SHOWN = 20


def run_undo(
    force: bool, dry_run: bool, as_json: bool, list_runs: bool, prune: bool, prune_all: bool
) -> int:
    modes = [name for name, on in (("--list", list_runs), ("--prune", prune),
                                   ("--prune-all", prune_all)) if on]  # fmt: skip
    restore = [name for name, on in (("--force", force), ("--dry-run", dry_run)) if on]
    if len(modes) > 1 or (modes and restore):
        raise MtlError(f"{' and '.join(modes + restore)} do not go together: --list, --prune "
                       "and --prune-all each go alone (with --json)")  # fmt: skip
    cfg = load_settings().undo
    repo = GitRepo.find(Path.cwd(), cfg.max_untracked_bytes)
    if repo is None:
        raise MtlError(f"{Path.cwd()} is not inside a git repository: nothing to undo")
    if list_runs:
        runs = repo.runs()
        if as_json:
            print_json([{"run": r.run_id, "created": r.created, "message": r.message,
                         "finished": r.after is not None, "partly_undone": bool(r.undone)}
                        for r in runs])  # fmt: skip
        elif not runs:
            err.print(f"no runs recorded for undo in {repo.name}")
        for r in runs if not as_json else []:
            when = datetime.fromtimestamp(r.created).strftime("%Y-%m-%d %H:%M")
            state = " (partly undone)" if r.undone else "" if r.after else " (interrupted)"
            out.print(f"{r.run_id}  {when}{state}")
        return 0
    if prune or prune_all:
        dropped = repo.prune(cfg.keep_runs, cfg.keep_days, everything=prune_all)
        if as_json:
            print_json({"dropped": dropped})
        else:
            out.print(f"dropped {plural(len(dropped), 'recorded run')}; {len(repo.runs())} kept")
        return 0
    result = repo.undo(force=force, dry_run=dry_run)
    if as_json:
        print_json(result.to_dict())
    else:
        _report(repo.name, result)
    return 0 if result.complete else 1


def _report(name: str, result: UndoResult) -> None:
    if result.dry_run:
        if not result.changes:
            out.print(f"{name} is as it was before run {result.run_id}: nothing would change")
        else:
            out.print(f"undo of run {result.run_id} would restore:")
        for diff in [d for d in result.changes if d not in result.not_restored][:_SHOWN]:
            out.print(f"  {escape(str(diff))}")
        _not_restored(result, "would stay as the run left them")
        return
    if result.complete:
        out.print(
            f"Restored {name} to its state before the last run ({_counts(result)}); "
            f"HEAD, branches, index and stash are as they were (run {result.run_id})."
        )
        return
    out.print(f"Partly restored {name} ({_counts(result)}).")
    _not_restored(result, "NOT restored, still as the run left them")
    err.print(
        f"The run stays recorded ({result.run_id}): once you have dealt with these, "
        "`mtl undo` tries again (`--force` if you changed files since)."
    )


def _counts(result: UndoResult) -> str:
    restored = len(result.restored)
    return f"{plural(restored, 'file')} restored, {len(result.removed)} removed"


def _not_restored(result: UndoResult, heading: str) -> None:
    if not result.not_restored:
        return
    err.print(f"[bold red]{len(result.not_restored)} {heading}:[/]")
    for diff in result.not_restored[:_SHOWN]:
        err.print(f"  [red]{escape(str(diff))}[/]")
    if len(result.not_restored) > _SHOWN:
        err.print(f"  … and {len(result.not_restored) - _SHOWN} more (see --json)")
