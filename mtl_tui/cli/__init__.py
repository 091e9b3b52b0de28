"""The `mtl` command line. Every command is a thin face over the core."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mtl_tui import __version__
from mtl_tui.cli import memory
from mtl_tui.errors import MtlError

app = typer.Typer(
    name="mtl",
    help="A terminal coding assistant that carries what it learned in one project into the next.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,  # locals may hold API keys
    rich_markup_mode="rich",
)
app.add_typer(memory.app, name="memory")


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
    """Run it inside a git repository. Per-user state lives in MTL_HOME (default: the
    platform's user data and config directories)."""


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check sqlite-vec loading, the embedding model, the pool, and model credentials."""
    from mtl_tui.cli.doctor import run_doctor

    raise typer.Exit(run_doctor(as_json))


def main() -> None:
    try:
        app()
    except MtlError as exc:
        sys.stderr.write(f"mtl: error: {exc}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("mtl: interrupted\n")
        sys.exit(130)
