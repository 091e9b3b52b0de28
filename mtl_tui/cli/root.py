"""The `mtl` command tree. Commands defined in other modules are registered by name and
imported only when they run (or when `--help` lists them): a command pays for its own
imports, not for every other command's."""

from __future__ import annotations

import difflib
import importlib
import os
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mtl_tui import __version__
from mtl_tui.cli import fastparams, helpfmt
from mtl_tui.cli.choices import SCRIPTED_HELP, KindChoice
from mtl_tui.cli.early import COMMANDS, ROOT_OPTIONS, preload_embedder
from mtl_tui.cli.numbers import number
from mtl_tui.errors import MtlError

helpfmt.install()
fastparams.install()

#: Commands in modules of their own: name -> (module, attribute, is a Typer group, short help
#: when the command's own text is too long for the list).
_LAZY: dict[str, tuple[str, str, bool, str | None]] = {
    "acp": ("mtl_tui.cli.acp", "command", False, None),
    "learn": (
        "mtl_tui.cli.learn",
        "learn_cmd",
        False,
        "Distill memories from runs you have: files, Claude Code, Codex.",
    ),
    "memory": ("mtl_tui.cli.memory", "app", True, None),
    "pack": ("mtl_tui.cli.pack", "app", True, None),
    "mcp": (
        "mtl_tui.cli.mcp",
        "app",
        True,
        "Serve your pool to other agents over MCP; write their config.",
    ),
}
#: The order `mtl --help` lists the commands in.
_ORDER = COMMANDS


class _TuiByDefault(TyperGroup):
    """`mtl` and `mtl [options] TASK` open the TUI; known command names run commands;
    a lone word close to a command name is a typo, not a task."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        names = self.list_commands(ctx)
        if not args or (args[0] not in names and args[0] not in ROOT_OPTIONS):
            if args and (typo := self._typo(args[0], names)):
                raise helpfmt.UsageError(
                    f"no such command '{args[0]}'. Did you mean '{typo}'?",
                    f"try 'mtl --help' (to start a task with this text: mtl -- \"{args[0]}\")",
                )
            args = ["tui", *args]
        if not ctx.resilient_parsing:  # not while the shell completes a word
            preload_embedder(args)  # once a process: main() began it already
        return super().parse_args(ctx, args)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Usage errors as one line and a hint (the error boundary in `mtl_tui.cli` prints
        them), not click's box: run without click's own error printing."""
        from typer import _click  # typer's own copy of click, whose exceptions it raises

        kwargs["standalone_mode"] = False
        kwargs.setdefault("prog_name", "mtl")  # also under `python -m mtl_tui`
        try:
            code = super().main(*args, **kwargs)
        except typer.Abort:  # e.g. end of input at a question: as click exits, 1
            raise helpfmt.UsageError("aborted", exit_code=1) from None
        except _click.exceptions.ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # the help was shown
                sys.exit(exc.exit_code)
            argv = kwargs.get("args") or (args[0] if args else None) or sys.argv[1:]
            raise helpfmt.usage_error(exc, self._command_path(list(argv))) from None
        sys.exit(code if isinstance(code, int) else 0)

    def _command_path(self, argv: list[str]) -> str:
        """`mtl run`, `mtl memory search`…: the commands `argv` names, for the hint of an
        error click raised without its context (an option missing its value)."""
        from typer import _click

        path, group = ["mtl"], self
        for word in argv:
            ctx = _click.Context(group, info_name=" ".join(path))
            if word not in group.list_commands(ctx):
                break
            path.append(word)
            group = group.get_command(ctx, word)
            if not hasattr(group, "list_commands"):
                break
        return " ".join(path)

    def _typo(self, word: str, names: list[str]) -> str | None:
        if not re.fullmatch(r"[a-z][a-z-]*", word):
            return None
        shown = [n for n in names if n in _LAZY or not self.commands[n].hidden]
        close = difflib.get_close_matches(word, shown, n=1, cutoff=0.6)
        return close[0] if close else None

    def list_commands(self, ctx: Any) -> list[str]:
        names = [*self.commands, *(n for n in _LAZY if n not in self.commands)]
        return sorted(names, key=lambda n: _ORDER.index(n) if n in _ORDER else len(_ORDER))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in _LAZY:
            self.commands[cmd_name] = _load_command(cmd_name)
        return self.commands.get(cmd_name)


def _load_command(name: str) -> Any:
    """The click command for `name`, built as `app.add_typer`/`app.command` would have."""
    module_name, attribute, is_group, short_help = _LAZY[name]
    target = getattr(importlib.import_module(module_name), attribute)
    holder = typer.Typer(rich_markup_mode="rich")
    holder.callback()(lambda: None)  # a group, so the command is built under its own name
    if is_group:
        holder.add_typer(target, name=name, short_help=short_help)
    else:
        holder.command(name, short_help=short_help)(target)
    return typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]


app = typer.Typer(
    name="mtl",
    cls=_TuiByDefault,
    help=(
        "A terminal coding assistant that carries what it learned in one project into the next."
        "\n\n[b]mtl[/b] alone opens the TUI in the current git repository; "
        '[b]mtl "TASK"[/b] opens it and starts TASK. The TUI takes --model MODEL, '
        "--api-base URL, --theme NAME and --yes (no confirmations, not even for destructive "
        "commands) and needs a terminal; scripts use [b]mtl run[/b]."
        "\n\nPer-user state lives in MTL_HOME (default: the platform's user data and config "
        "directories). MTL_MODEL (any litellm model id) and MTL_API_BASE set the defaults."
        "\n\nPer repository: [b]git config mtl.memory off[/b] (mtl reads and writes nothing "
        "in the pool there) or [b]project[/b] (only that repository's own memories)."
    ),
    epilog=(
        "\b\n[b]Examples[/b]\n"
        "  mtl                               open the TUI in this repository\n"
        '  mtl "fix the failing test"        open the TUI and start that task\n'
        '  mtl run --yes --json "add tests"  headless, for scripts and CI\n'
        '  mtl memory search "flaky tests"   what your pool remembers\n'
        "  mtl pack export - > team.json     share your insights"
    ),
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,  # locals may hold API keys
    pretty_exceptions_enable=False,  # main() turns every error into one line
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mtl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """The TUI by default, commands by name (help: see the Typer object above)."""


@app.command(hidden=True)
def tui(
    task: Annotated[str | None, typer.Argument(help="A task to start right away.")] = None,
    model: Annotated[str | None, typer.Option(help=SCRIPTED_HELP)] = None,
    api_base: Annotated[str | None, typer.Option(help="Base URL of the model's API.")] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Run every command without asking, even destructive ones."
        ),
    ] = False,
    theme: Annotated[str | None, typer.Option(help="Theme name (saved as your choice).")] = None,
) -> None:
    """Open the TUI in the current repository (start TASK if given)."""
    from pathlib import Path

    from mtl_tui.config import load_settings, save_setting

    if theme:
        from mtl_tui.ui.themes import theme_names

        names = theme_names()
        if theme not in names:
            raise MtlError(f"no theme named '{theme}' (choose from {', '.join(sorted(names))})")
    headless = bool(os.environ.get("MTL_FIRST_FRAME_REPORT"))  # tests/bench_tui.py
    if not headless and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise MtlError(
            'the TUI needs a terminal (stdin and stdout); in scripts and pipes use `mtl run "TASK"`'
        )
    cfg = load_settings({"model": model, "api_base": api_base})
    from mtl_tui.ui.app import MtlApp

    if theme:
        save_setting("theme", theme)
        cfg.theme = theme
    app = MtlApp(cfg, Path.cwd(), task=task, yolo=yes, theme=theme)
    app.run(headless=headless)
    app.leave()  # quit is immediate: no interpreter teardown unless a run is finishing


@app.command()
def doctor(
    model: Annotated[
        str | None, typer.Option(help="Check this model instead of the configured one.")
    ] = None,
    api_base: Annotated[
        str | None,
        typer.Option(help="Try this base URL of the model's API (as `mtl run --api-base`)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check sqlite-vec loading, the embedding model, the pool, and model credentials.

    --model and --api-base mean what they mean for `mtl run`: doctor checks the model a
    run with them would use (an --api-base endpoint is tried without credentials)."""
    from mtl_tui.cli.doctor import run_doctor

    raise typer.Exit(run_doctor(as_json, {"model": model, "api_base": api_base}))


class Accept(StrEnum):
    all = "all"
    none = "none"


class QueryMode(StrEnum):
    task = "task"
    plan = "plan"


@app.command(
    help="Run TASK headless in the current repository, with memories from your pool.\n\n"
    "Exit 0 when the task completed (and --verify passed, if given), 1 when not, 2 on bad "
    "usage or input. The working tree is snapshotted first: `mtl undo` reverts the run. "
    "Without --yes every command asks on the terminal.",
)
def run(
    task: Annotated[str, typer.Argument(help="What the agent should do, in plain words.")],
    model: Annotated[str | None, typer.Option(help=SCRIPTED_HELP)] = None,
    api_base: Annotated[str | None, typer.Option(help="Base URL of the model's API.")] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Run every command without asking.")
    ] = False,
    top_k: Annotated[
        int | None, typer.Option(min=0, max=50, help="Memories to retrieve (default 3).")
    ] = None,
    no_memory: Annotated[
        bool, typer.Option("--no-memory", help="Retrieve no memories for this run.")
    ] = False,
    kind: Annotated[
        KindChoice | None, typer.Option(help="Kind of memory to retrieve (default insight).")
    ] = None,
    accept: Annotated[
        Accept, typer.Option(help="Put all retrieved memories in the prompt, or none.")
    ] = Accept.all,
    query: Annotated[
        QueryMode | None,
        typer.Option(help="Retrieve by the task text, or by a plan the model writes first."),
    ] = None,
    screen: Annotated[
        bool | None,
        typer.Option(
            "--screen/--no-screen",
            help="Let the model pick which retrieved memories apply, in place of the relevance "
            "floor (default: the config's memory.screen).",
        ),
    ] = None,
    verify: Annotated[
        str | None,
        typer.Option(help="Shell command whose exit code decides whether the run succeeded."),
    ] = None,
    no_learn: Annotated[
        bool, typer.Option("--no-learn", help="Do not distill memories from this run.")
    ] = False,
    trust_imported: Annotated[
        bool,
        typer.Option(
            "--trust-imported",
            help="With --accept all, also accept memories imported from packs.",
        ),
    ] = False,
    step_limit: Annotated[int | None, typer.Option(min=1, help="Most model turns.")] = None,
    cost_limit: Annotated[
        float | None, typer.Option(parser=number(0), metavar="USD", help="Most USD to spend.")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            parser=number(0.1), metavar="S", help="Seconds one command may run (default 60)."
        ),
    ] = None,
    time_limit: Annotated[
        float | None,
        typer.Option(parser=number(1), metavar="S", help="Seconds the whole run may take."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON summary object on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Show commands only.")] = False,
) -> None:
    """Run TASK headless in the current repository, with memories from your pool."""
    from mtl_tui.cli.run import RunOptions, run_task
    from mtl_tui.config import load_settings

    cfg = load_settings({"model": model, "api_base": api_base})
    agent = cfg.agent.model_copy()
    for key, value in {
        "step_limit": step_limit,
        "cost_limit": cost_limit,
        "command_timeout": timeout,
        "wall_time_limit": time_limit,
    }.items():
        if value is not None:
            setattr(agent, key, value)
    memory_cfg = cfg.memory.model_copy()
    if top_k is not None:
        memory_cfg.top_k = top_k
    if kind is not None:
        memory_cfg.kind = kind.value
    if query is not None:
        memory_cfg.query = query.value
    if screen is not None:
        memory_cfg.screen = screen
    cfg = cfg.model_copy(update={"agent": agent, "memory": memory_cfg})
    options = RunOptions(
        yes=yes,
        memory=not no_memory,
        accept_all=accept is Accept.all,
        trust_imported=trust_imported,
        verify=verify,
        learn=not no_learn,
        as_json=as_json,
        quiet=quiet,
    )
    summary = run_task(task, cfg, options)
    passed = summary.completed and not (verify and summary.outcome != "success")
    raise typer.Exit(0 if passed else 1)


@app.command("bench", short_help="Measure memory transfer on a task suite (Pass@1, Pass@K).")
def bench_cmd(
    suite_arg: Annotated[
        str | None,
        typer.Argument(metavar="[SUITE]", help="Same as --suite.", show_default=False),
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option(
            "--suite",
            help="builtin (default), a task-suite folder, polyglot:PATH (a checkout of Aider's "
            "polyglot benchmark) or livecodebench:FILE.jsonl.",
        ),
    ] = None,
    languages: Annotated[
        str | None, typer.Option(help="Comma-separated languages to keep, e.g. python,rust.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Keep the first N tasks.")] = None,
    sample: Annotated[
        int | None, typer.Option(min=1, help="Keep N tasks picked at random (see --seed).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of --sample.")] = 0,
    oracle: Annotated[
        bool,
        typer.Option(
            "--oracle",
            help="No model: check that every task fails on its starting files and passes "
            "with its reference solution (exit 1 if one does not).",
        ),
    ] = False,
    model: Annotated[str | None, typer.Option(help="Any litellm model id.")] = None,
    api_base: Annotated[str | None, typer.Option(help="Base URL of the model's API.")] = None,
    attempts: Annotated[int, typer.Option(min=1, max=20, help="Attempts per task (K).")] = 3,
    conditions: Annotated[
        str, typer.Option(help="Comma-separated: zero-shot,insight,summary,workflow,trajectory.")
    ] = "zero-shot,insight",
    cross_domain: Annotated[
        bool, typer.Option("--cross-domain", help="Never retrieve memories of the task's domain.")
    ] = False,
    pool_from: Annotated[
        list[str] | None,
        typer.Option(
            "--pool-from",
            help="Build the pool from a first pass over this suite instead (repeatable: "
            "several suites), to measure transfer from other domains.",
        ),
    ] = None,
    pool: Annotated[
        Path | None, typer.Option(help="Evaluate this pool file (default: build a fresh one).")
    ] = None,
    pack: Annotated[Path | None, typer.Option(help="Evaluate a fresh pool made from a pack.")] = (
        None
    ),
    jobs: Annotated[int, typer.Option(min=1, max=16, help="Attempts run in parallel.")] = 1,
    output: Annotated[
        Path | None,
        typer.Option(
            help="Results JSON, written after every attempt; if it holds an unfinished run "
            "with the same options, that run continues where it stopped."
        ),
    ] = None,
) -> None:
    """Measure memory transfer: run a task suite under each condition and print Pass@1 and
    Pass@K per domain (and language) with the difference to zero-shot. By default the pool
    is built fresh by a first pass over the suite (or the --pool-from suites), never your
    own pool unless --pool names it. Tasks whose toolchain is missing are skipped."""
    from mtl_tui.cli.bench import Selection, run_bench, run_oracle_cli

    if suite_arg and suite:
        raise MtlError("give the suite once: as an argument or with --suite")
    wanted_languages = {x.strip() for x in (languages or "").split(",") if x.strip()}
    selection = Selection(suite or suite_arg or "builtin", wanted_languages, limit, sample, seed)
    if oracle:
        raise typer.Exit(run_oracle_cli(selection, jobs, output))
    from mtl_tui.config import load_settings

    cfg = load_settings({"model": model, "api_base": api_base})
    wanted = [c.strip() for c in conditions.split(",") if c.strip()]
    run_bench(selection, cfg, attempts, wanted, cross_domain, pool, pack, jobs, output, pool_from)


@app.command(short_help="Restore the repository to its state before the last run.")
def undo(
    force: Annotated[
        bool, typer.Option("--force", help="Restore even if the repository changed after the run.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    list_runs: Annotated[
        bool, typer.Option("--list", help="List the runs recorded for undo, newest first.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Drop recorded runs beyond the config's count and age."),
    ] = False,
    prune_all: Annotated[
        bool, typer.Option("--prune-all", help="Drop every recorded run of this repository.")
    ] = False,
) -> None:
    """Restore the repository to its state before the last run: work tree, HEAD and
    branch, every ref, the index and the stash. What cannot be restored (hooks, git config,
    submodule contents, ignored or too-large files that changed) is named, and the exit
    code is 1. Refuses if the repository changed since the run, unless --force.

    Snapshots live on refs/mtl/runs/: a plain `git push`, --all or --tags never sends them,
    but `git push --mirror` sends every ref, these too (git has no way to exclude some),
    and so does `git bundle create x.bundle --all`: run `mtl undo --prune-all` before
    mirroring or bundling. Tool caches holding a secret, or that the secret scan cannot
    read, are never copied into a snapshot (undo names them as not restored)."""
    from mtl_tui.cli.undo import run_undo

    raise typer.Exit(run_undo(force, dry_run, as_json, list_runs, prune, prune_all))
