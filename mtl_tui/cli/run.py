"""`mtl run TASK`: the agent without the TUI, for scripts and CI."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.markup import escape

from mtl_tui import events as ev
from mtl_tui.agent.loop import Decision
from mtl_tui.agent.model import SCRIPTED_PREFIX, start_loading_litellm
from mtl_tui.cli.common import err, open_store, out, print_json
from mtl_tui.config import Settings
from mtl_tui.errors import MtlError
from mtl_tui.memory import packs
from mtl_tui.memory.rank import Hit, relevance_text
from mtl_tui.memory.retrieve import label
from mtl_tui.memory.scope import pool_policy
from mtl_tui.session import RunSummary, Session, accepted_by_default
from mtl_tui.text import plural

_SHOWN_LINES = 15


class HeadlessView:
    """Prints a run's events to stderr, so that stdout stays free for --json."""

    def __init__(self, verbose: bool = True) -> None:
        self.verbose = verbose

    def __call__(self, event: ev.Event) -> None:
        match event:
            case ev.Notice(message=message, level=level):
                style = {"warning": "yellow", "error": "red"}.get(level, "dim")
                err.print(f"[{style}]{escape(message)}[/]")
            case ev.StepStarted(step=step) if self.verbose:
                if err.is_terminal:
                    err.rule(f"step {step}", style="dim")
                else:
                    err.print(f"── step {step} ──")
            case ev.ModelReplied(content=content) if self.verbose:
                text = content.split("```")[0].strip()
                if text:
                    err.print(f"[dim]{escape(text)}[/]")
            case ev.CommandProposed(command=command):
                err.print(f"[bold cyan]$ {escape(command)}[/]")
            case ev.ApprovalNeeded(reason=reason):
                err.print(f"[bold yellow]careful: {escape(reason)}[/]")
            case ev.CommandRejected(reason=reason):
                err.print(f"[yellow]rejected: {escape(reason or '(no reason)')}[/]")
            case ev.FormatError(blocks=blocks):
                err.print(f"[yellow]reply had {blocks} bash blocks instead of one[/]")
            case ev.CommandFinished(returncode=code, output=output, timed_out=timed_out):
                lines = output.rstrip().splitlines()
                for line in lines[:_SHOWN_LINES]:
                    err.print(escape(line), highlight=False)
                if len(lines) > _SHOWN_LINES:
                    err.print(f"[dim]… {len(lines) - _SHOWN_LINES} more lines[/]")
                if code != 0 or timed_out:
                    err.print(f"[red]exit {code}{' (timed out)' if timed_out else ''}[/]")
            case _:
                pass


class TerminalApprover:
    """Asks on the terminal: y runs it, n rejects it with a reason, e edits it first."""

    def __call__(self, command: str) -> Decision:
        while True:
            answer = typer.prompt("run it? [y]es / [n]o / [e]dit", default="y", err=True)
            match answer.strip().lower():
                case "y" | "yes":
                    return Decision("run")
                case "n" | "no":
                    reason = typer.prompt("why (sent to the agent)", default="", err=True)
                    return Decision("reject", reason=reason)
                case "e" | "edit":
                    edited = typer.prompt("command", default=command, err=True)
                    return Decision("edit", command=edited)


@dataclass
class RunOptions:
    yes: bool = False
    memory: bool = True
    accept_all: bool = True
    trust_imported: bool = False
    verify: str | None = None
    learn: bool = True
    as_json: bool = False
    quiet: bool = False


class Interrupted(MtlError):
    """The run ended on a signal; the trajectory says so and undo is available."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}; `mtl undo` reverts it")
        self.exit_code = 128 + signum


@contextlib.contextmanager
def signals_interrupt(session_holder: list[Session], received: list[int]) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP stop the run like ctrl+c: the running command's whole
    tree is killed, the trajectory is marked interrupted, the run stays undoable."""

    def handler(signum: int, _frame: object) -> None:
        first = not received
        received.append(signum)
        for session in session_holder:
            session.interrupt()
        if first or signum == signal.SIGINT:
            raise KeyboardInterrupt

    wanted = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP")
                                                 else [])  # fmt: skip
    previous = {sig: signal.signal(sig, handler) for sig in wanted}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_task(task: str, cfg: Settings, options: RunOptions) -> RunSummary:
    received: list[int] = []
    holder: list[Session] = []
    try:
        with signals_interrupt(holder, received):
            summary = _run_task(task, cfg, options, holder)
    except KeyboardInterrupt:
        raise Interrupted(received[0] if received else signal.SIGINT) from None
    if received:
        raise Interrupted(received[0])
    return summary


def _run_task(task: str, cfg: Settings, options: RunOptions, holder: list[Session]) -> RunSummary:
    if not task.strip():
        raise MtlError("the task is empty")
    try:
        task.encode("utf-8")
    except UnicodeEncodeError:
        raise MtlError("the task is not valid UTF-8 text") from None
    if not options.yes and not sys.stdin.isatty():
        raise MtlError("no terminal to confirm commands on: pass --yes to run them unattended")
    view = HeadlessView(verbose=not options.quiet)
    if cfg.model and not cfg.model.startswith(SCRIPTED_PREFIX):
        start_loading_litellm()  # while the pool, the retrieval and the snapshot go on
    needs_pool = (options.memory or options.learn) and _pool_allowed()
    with ExitStack() as stack:
        store = stack.enter_context(open_store(cfg, embed=True)) if needs_pool else None
        session = Session(
            cfg,
            Path.cwd(),
            emit=view,
            approver=TerminalApprover(),
            store=store,
            yes=options.yes,
        )
        holder.append(session)
        session.model()  # a missing model is bad usage: say so before retrieving anything
        if store is not None and packs.should_offer_starter(store):
            err.print(
                "[yellow]Your memory pool is empty.[/] `mtl pack import --starter` adds "
                f"{packs.starter_size()} general lessons (validation, workflows, guardrails) "
                "that help from the first task."
            )
        if options.memory and store is not None:
            err.print(f"[dim]{escape(session.view_text)}[/]", highlight=False)
        hits = session.retrieve(task) if options.memory else []
        accepted = accepted_by_default(hits, options.trust_imported) if options.accept_all else []
        _print_memories(hits, session.fit_budget(accepted)[0])
        summary = session.run(task, hits, accepted, verify=options.verify, learn=options.learn)
    if options.as_json:
        print_json(summary.to_dict())
    else:
        _print_summary(summary)
    return summary


def _pool_allowed() -> bool:
    """False in a repository set to `git config mtl.memory off` (said once, on stderr)."""
    if pool_policy(Path.cwd()) != "off":
        return True
    err.print("[dim]memory: off for this repository (git config mtl.memory off)[/]")
    return False


def _print_memories(hits: list[Hit], in_prompt: list[Hit]) -> None:
    """What retrieval found; `in_prompt`, the accepted hits that fit the memory budget,
    labelled as the prompt labels them."""
    if not hits:
        return
    err.print(f"[bold]memories[/] ({len(in_prompt)} of {len(hits)} in the prompt):")
    labels = {id(h): label(i) for i, h in enumerate(in_prompt)}
    for hit in hits:
        memory = hit.memory
        if id(hit) in labels:
            state = "[green]in the prompt[/]"
        elif not hit.trusted:
            state = "[yellow]imported: not used without --trust-imported[/]"
        else:
            state = "[dim]not in the prompt[/]"
        conflict = f" [magenta]({escape(hit.conflict)})[/]" if hit.conflict else ""
        tag = f"[{labels[id(hit)]}] " if id(hit) in labels else ""
        err.print(
            f"  {escape(tag)}#{memory.id} {escape(memory.title)} "
            f"[dim]({', '.join(memory.languages) or 'any'}, {relevance_text(hit)})[/] {state}"
            + conflict
        )


def _print_summary(summary: RunSummary) -> None:
    colour = "green" if summary.completed else "red"
    err.print(
        f"[bold {colour}]{summary.status}[/] after {plural(summary.steps, 'step')}, "
        f"${summary.cost:.4f}" + (f": {escape(summary.message)}" if summary.message else "")
    )
    if summary.outcome != "unknown":
        err.print(f"outcome: {summary.outcome} (by {summary.outcome_source})")
    if summary.learned:
        err.print(summary.learned_line())
    if summary.diff_stat:
        out.print(escape(summary.diff_stat))
        err.print("[dim]undo with `mtl undo`[/]")
    err.print(f"[dim]trajectory: {escape(summary.trajectory)}[/]")
