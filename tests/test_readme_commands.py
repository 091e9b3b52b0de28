"""Every `mtl ...` command README.md shows names commands and options that exist: each line
of its code blocks and each inline `mtl ...` span is resolved against the real command tree
(typer's click commands), and the concrete ones (no placeholders) are parsed whole, as the
shell would hand them over, without running anything."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

try:  # typer 0.29 parses with its own copy of click
    from typer import _click as click
except ImportError:  # pragma: no cover - older typer
    import click  # type: ignore[no-redef]

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_commands() -> list[tuple[str, bool]]:
    """The `mtl ...` commands README.md shows, each with whether it is meant whole: the
    lines of its code blocks (a synopsis line's description, after two spaces, dropped),
    then inline code spans (which may name a command without its arguments)."""
    text = README.read_text(encoding="utf-8")
    found: dict[str, bool] = {}
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("mtl ") or line == "mtl":
                found.setdefault(re.split(r"\s{2,}", line)[0], True)
    for span in re.findall(r"`(mtl(?: [^`]*)?)`", text):
        found.setdefault(" ".join(span.split()), False)
    return list(found.items())


def root() -> Any:
    from mtl_tui.cli.root import app

    return typer.main.get_command(app)


def resolve(tokens: list[str]) -> tuple[Any, list[str], str]:
    """(the command the tokens name, the tokens after its name, its path)."""
    command, path = root(), "mtl"
    while hasattr(command, "list_commands") and tokens:
        ctx = click.Context(command, info_name=path)
        names = command.list_commands(ctx)
        if tokens[0] in ("…", "...") or (
            tokens[0].startswith("-") and tokens[0] in options_of(command)
        ):
            break
        if tokens[0] not in names:
            if path == "mtl":  # `mtl [TASK]`: the TUI
                return command.get_command(ctx, "tui"), tokens, "mtl"
            raise AssertionError(f"{path} has no command {tokens[0]!r} (has: {names})")
        command = command.get_command(ctx, tokens[0])
        path, tokens = f"{path} {tokens[0]}", tokens[1:]
    return command, tokens, path


def options_of(command: Any) -> set[str]:
    names = {"--help"}
    for param in command.params:
        names.update(param.opts + param.secondary_opts)
    if hasattr(command, "list_commands"):
        names.update(command.list_commands(click.Context(command)))
    return names


CONCRETE = re.compile(r"[\[\]|…A-Z]|\.\.\.")


@pytest.mark.parametrize(("line", "whole"), readme_commands())
def test_a_readme_command_parses(line: str, whole: bool) -> None:
    try:
        tokens = shlex.split(line)[1:]
    except ValueError:
        tokens = line.split()[1:]
    command, rest, path = resolve(tokens)
    known = options_of(command)
    for token in rest:
        for piece in token.strip("[]").split("|"):
            name = piece.split("=", 1)[0].rstrip(".…")
            if re.fullmatch(r"-{1,2}[a-z][a-z0-9-]*", name):
                assert name in known, f"README: `{line}`: {path} has no option {name}"
    if not whole or CONCRETE.search(line) or "--help" in rest or "--version" in rest:
        return  # a synopsis with placeholders: its names were checked above
    with command.make_context(path, list(rest)) as ctx:  # parses, runs nothing
        assert ctx.command is command


def help_examples() -> list[str]:
    """The example commands `mtl --help` shows (before their descriptions)."""
    epilog = root().epilog or ""
    return [re.split(r"\s{2,}", line.strip())[0] for line in epilog.splitlines()
            if line.strip().startswith("mtl")]  # fmt: skip


@pytest.mark.parametrize("line", help_examples())
def test_an_example_in_mtl_help_parses(line: str) -> None:
    test_a_readme_command_parses(line.replace(" > team.json", ""), True)


def test_the_readme_shows_the_commands_a_new_user_tries() -> None:
    assert len(help_examples()) >= 4
    lines = [line for line, _ in readme_commands()]
    assert "mtl doctor" in lines and "mtl memory stats" in lines
    assert any(line.startswith("mtl run TASK") for line in lines)
    assert len(lines) > 40
