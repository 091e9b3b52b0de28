"""`mtl learn`: seed the pool from runs you already have — trajectory files, or the
sessions Claude Code and Codex CLI keep (`--from`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mtl_tui.cli.choices import KindChoice
from mtl_tui.cli.common import err, out, print_json
from mtl_tui.errors import MtlError
from mtl_tui.text import plural

if TYPE_CHECKING:
    from mtl_tui.config import Settings
    from mtl_tui.memory.histories.common import History


class OutcomeChoice(StrEnum):
    success = "success"
    failure = "failure"


class Source(StrEnum):
    claude_code = "claude-code"
    codex = "codex"


def parse_since(text: str) -> date:
    """YYYY-MM-DD, or a number of days back such as 7d."""
    value = text.strip().lower()
    try:
        if value.endswith("d") and value[:-1].isdigit():
            return date.today() - timedelta(days=int(value[:-1]))
        return date.fromisoformat(value)
    except ValueError:
        raise MtlError(f"--since: '{text}' is not a date (YYYY-MM-DD) or a span like 7d") from None


def learn_cmd(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Trajectory or session files: mtl's, mini-swe-agent's (1.x, 2.x), ATIF "
            "(Harbor / Terminal-Bench), Claude Code or Codex session JSONL."
        ),
    ] = None,
    source: Annotated[
        Source | None,
        typer.Option(
            "--from",
            help="Read the sessions this tool keeps: claude-code (~/.claude/projects) or "
            "codex (~/.codex/sessions).",
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only sessions changed on or after this date, or e.g. 7d.")
    ] = None,
    project: Annotated[
        str | None, typer.Option(help="Only sessions whose project name contains this.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=0, help="At most this many (newest).")] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Start without asking to confirm.")
    ] = False,
    model: Annotated[str | None, typer.Option(help="The model that distills.")] = None,
    api_base: Annotated[str | None, typer.Option(help="Base URL of the model's API.")] = None,
    kind: Annotated[
        list[KindChoice] | None,
        typer.Option(help="Kinds to distill (repeat; default: the config's distill_kinds)."),
    ] = None,
    outcome: Annotated[
        OutcomeChoice | None,
        typer.Option(help="How the runs went, if known; otherwise recorded or judged."),
    ] = None,
    repo: Annotated[str | None, typer.Option(help="Source repository name to record.")] = None,
    lang: Annotated[list[str] | None, typer.Option(help="Languages to record (repeat).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Distill memories from runs you already have and add them to your pool.

    Lists what it found (date, project, size), says how many model calls it will make and
    asks first (unless --yes). A session already learned from is never learned again.
    Everything read is scrubbed of secrets and paths before any model sees it.
    What is learned belongs to the repository the session ran in (its recorded working
    directory; otherwise the one you run this in), as a run's lessons do: with
    `git config mtl.memory project` it is stored scoped to it; with `off` it is skipped
    (and here, nothing is learned)."""
    from mtl_tui.config import load_settings
    from mtl_tui.session import view_for

    if not paths and source is None:
        raise MtlError("give trajectory files, or --from claude-code|codex")
    cfg = load_settings({"model": model, "api_base": api_base})
    _, policy, identity = view_for(Path.cwd(), cfg)
    if policy == "off":
        raise MtlError(
            "memory is off for this repository (git config mtl.memory off): nothing is "
            "learned here; run `mtl learn` in another directory"
        )
    kinds = [k.value for k in kind] if kind else list(cfg.memory.distill_kinds)
    options = Options(
        kinds=kinds,
        outcome=outcome.value if outcome else None,
        repo=repo,
        languages=lang or [],
        as_json=as_json,
        yes=yes or source is None,  # named files are the confirmation
        repo_key=identity.key,
        project_only=policy == "project",
    )
    histories = [_load(path) for path in paths or []]  # every file checked before any call
    if source is not None:
        histories += _discover(source.value, since, project, limit)
    report = learn_from(histories, cfg, options)
    if any(item.get("retry") for item in report):
        raise typer.Exit(1)  # a session was not learned: never a quiet "done"


@dataclass
class Options:
    kinds: list[str]
    outcome: str | None = None
    repo: str | None = None
    languages: list[str] | None = None
    as_json: bool = False
    yes: bool = False
    repo_key: str | None = None  # the repository learning here (repo/identity.py)
    project_only: bool = False  # its `mtl.memory project`: all learned stays scoped


def _load(path: Path) -> History:
    from mtl_tui.memory.learn import load_history

    return load_history(path)


def _discover(
    source: str, since: str | None, project: str | None, limit: int | None
) -> list[History]:
    """The source's sessions, read and scrubbed: changed since `since`, whose project
    contains `project`, the newest `limit` (oldest first)."""
    from mtl_tui.memory.histories import discover
    from mtl_tui.memory.learn import load_history

    files = discover.session_files(source)
    root = discover.session_root(source)
    if not files:
        err.print(f"No {source} sessions under {escape(str(root))}.")
        return []
    files = discover.changed_since(files, parse_since(since) if since else None)
    found: list[History] = []
    for path in files:
        try:
            history = load_history(path)
        except MtlError as exc:
            err.print(f"[dim]skipped {escape(path.name)}: {escape(str(exc))}[/]")
            continue
        if project and project.lower() not in history.project.lower():
            continue
        found.append(history)
    if limit is not None:
        found = found[-limit:] if limit else []
    return found


def model_calls(history: History, options: Options) -> int:
    """Calls learning this run takes: the judge (when no outcome is known) + one per kind
    other than trajectory."""
    judge = options.outcome is None and history.record.outcome not in ("success", "failure")
    return int(judge) + sum(1 for kind in options.kinds if kind != "trajectory")


def _size(path: Path | None) -> str:
    if path is None or not path.exists():
        return "-"
    size = path.stat().st_size
    return f"{size / 1024:.0f} KB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MB"


OFF_REASON = "memory is off for its repository"


def session_scope(
    history: History, cfg: Settings, options: Options
) -> tuple[str | None, bool] | None:
    """Where a session's lessons belong, as a run in its recorded working directory would
    store them: (repo_key, project_only), or None when that repository has `mtl.memory off`.
    A session whose directory is not recorded or no longer exists belongs to the repository
    `mtl learn` runs in."""
    from mtl_tui.session import view_for

    cwd = Path(history.cwd) if history.cwd else None
    if cwd is None or not cwd.is_dir():
        return options.repo_key, options.project_only
    _, policy, identity = view_for(cwd, cfg)
    if policy == "off":
        return None
    return identity.key, policy == "project"


def _state(key: str, done: set[str], off: set[str]) -> str:
    return OFF_REASON if key in off else "learned before" if key in done else "new"


def _table(rows: list[tuple[History, str]]) -> Table:
    table = Table(title="Sessions", title_justify="left")
    for column in ("date", "source", "project", "size", "steps", "task", "state"):
        table.add_column(column, no_wrap=column != "task")
    for history, state in rows:
        task = " ".join(history.record.task.split())
        table.add_row(
            history.started[:10] or "-",
            history.source,
            escape(history.project or "-"),
            _size(history.path),
            str(len(history.record.steps)),
            escape(task[:60] + ("…" if len(task) > 60 else "")),
            state if state == "new" else f"[dim]skipped: {state}[/]",
        )
    return table


def _confirm(calls: int, sessions: int, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise MtlError(
            f"learning from {plural(sessions, 'session')} takes {plural(calls, 'model call')}; "
            "pass --yes to start without a prompt"
        )
    if not typer.confirm(
        f"Make {plural(calls, 'model call')} to learn from {plural(sessions, 'session')}?"
    ):
        raise typer.Exit(1)


def learn_from(
    histories: list[History], cfg: Settings, options: Options
) -> list[dict[str, object]]:
    from mtl_tui import events as ev
    from mtl_tui.agent.model import model_for
    from mtl_tui.cli.common import notice as pool_notice
    from mtl_tui.cli.common import open_store, progress_bar
    from mtl_tui.memory.distill import judge
    from mtl_tui.memory.store import MemoryStore
    from mtl_tui.session import learn

    unique = list({h.key: h for h in histories}.values())
    scopes = {h.key: session_scope(h, cfg, options) for h in unique}
    off = {key for key, scope in scopes.items() if scope is None}
    pool = MemoryStore.open(notice=pool_notice)
    try:
        done = {h.key for h in unique if h.key not in off and pool.learned_from(h.key)}
    finally:
        pool.close()
    todo = [h for h in unique if h.key not in done and h.key not in off]
    if not options.as_json and unique:
        err.print(_table([(h, _state(h.key, done, off)) for h in unique]))
    report: list[dict[str, object]] = [
        {"path": str(h.path), "session": h.key, "skipped": _state(h.key, done, off)}
        for h in unique
        if h.key in done or h.key in off
    ]
    if not todo:
        _summary(report, len(unique), options.as_json)
        return report
    calls = sum(model_calls(h, options) for h in todo)
    _confirm(calls, len(todo), options.yes)
    model = model_for(cfg, on_warning=lambda message: err.print(f"[yellow]{escape(message)}[/]"))

    def notice(event: ev.Event) -> None:
        if isinstance(event, ev.Notice):
            style = "yellow" if event.level == "warning" else "dim"
            err.print(f"[{style}]{escape(event.message)}[/]")

    with open_store(cfg, embed=True) as store, progress_bar("Learning") as progress:
        for number, history in enumerate(todo, 1):
            record = history.record
            record.repo = options.repo or record.repo
            record.languages = options.languages or record.languages
            record.repo_key, record.project_only = scopes[history.key] or (None, False)
            cost = 0.0
            if options.outcome:
                record.outcome, source = options.outcome, "given"
            elif record.outcome in ("success", "failure"):
                source = "recorded"
            else:
                record.outcome, cost = judge(model, record)
                source = "judge"
            name = history.path.name if history.path else history.key
            err.print(f"[bold]{escape(name)}[/]: {record.outcome} ({source})")

            def mark_origin(memories: list, origin: str = f"learn:{history.source}") -> list:
                for memory in memories:
                    memory.origin = origin
                return memories

            learned = learn(
                model, store, record, options.kinds, notice, mark_origin, learned_from=history.key
            )
            progress(number, len(todo))
            report.append({
                "path": str(history.path), "session": history.key, "outcome": record.outcome,
                "outcome_source": source, "learned": learned.ids, "learned_new": learned.new,
                "cost": round(cost + learned.cost, 6), "edits": learned.edits.to_dict(),
                "retry": learned.retry,
            })  # fmt: skip
    _summary(report, len(unique), options.as_json)
    return report


def _summary(report: list[dict[str, object]], sessions: int, as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    learned = sorted({i for item in report for i in item.get("learned", [])})  # type: ignore[attr-defined]
    before = sum(1 for item in report if item.get("skipped") == "learned before")
    off = sum(1 for item in report if item.get("skipped") == OFF_REASON)
    count = sessions - before - off
    text = f"Learned {plural(len(learned), 'memory')} from {plural(count, 'session')}"
    text += f": {', '.join(f'#{i}' for i in learned)}" if learned else "."
    if before:
        text += f" {before} learned before, skipped."
    if off:
        text += f" {off} skipped: {OFF_REASON} (git config mtl.memory off)."
    if retry := sum(1 for item in report if item.get("retry")):
        text += (f" {plural(retry, 'session')} NOT learned: the model's reply was unusable; "
                 "`mtl learn` tries again.")  # fmt: skip
    out.print(text)
