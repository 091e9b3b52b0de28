"""Help that reads like the CLIs users know (gh, uv, ruff): `--model MODEL`, `TASK`,
`--kind insight|summary`, no metavar at all for flags, and paragraphs that wrap to the
terminal.

Typer 0.29 prints Python types instead (`<bool>`, `<list[Path]>`, `{task}`) and keeps the
docstring's own line breaks after the first paragraph (a ragged right edge at 80 columns);
it offers no setting for either, so the display functions are replaced once, here. Its
usage errors (a bad option value, a missing argument) come as a box of several lines;
`usage_error` turns them into one line and a hint, as gh, uv and ruff print them."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption

from mtl_tui.errors import MtlError


class UsageError(MtlError):
    """Bad usage: one line on stderr, then at most a one-line `hint`; exit 2."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 2) -> None:
        super().__init__(message)
        self.hint = hint
        self.exit_code = exit_code


def usage_error(exc: Any, fallback: str = "mtl") -> UsageError:
    """click's usage error (or another ClickException) as one line and a hint; `fallback`,
    the command path when click gave the error no context."""
    message = exc.format_message().strip()
    message = " ".join(message.split())  # click may wrap a long message
    message = message[:1].lower() + message[1:]
    message = message.replace(": Value error, ", ": ")  # pydantic's prefix, a bare repeat
    ctx = getattr(exc, "ctx", None)
    # the TUI is the hidden command behind `mtl` alone: its help is `mtl --help`
    path = (ctx.command_path if ctx is not None else fallback).removesuffix(" tui")
    hint = f"try '{path} --help'"
    return UsageError(message, hint, getattr(exc, "exit_code", 2))


def _option_metavar(self: TyperOption, ctx: Any) -> str | None:
    if self.is_flag or self.count:
        return None
    if self.metavar is not None:
        return self.metavar
    if self.type_descriptor.is_choice:
        return "|".join(str(getattr(c, "value", c)) for c in self.type_descriptor.choices or ())
    return (self.name or "value").upper()


def _argument_name(self: TyperArgument) -> str:
    return self.metavar or (self.name or "arg").upper()


def _argument_usage(self: TyperArgument) -> str:
    name = _argument_name(self) + ("..." if self.nargs != 1 else "")
    return name if self.required else f"[{name}]"


def _argument_type(self: TyperArgument, ctx: Any) -> str | None:
    return None


def _reflow(paragraphs: list[str], markup_mode: Any) -> str:
    """Join each paragraph's lines so the terminal wraps it; a paragraph that starts with
    \\b or holds a list or indented lines keeps its breaks."""
    kept = []
    for paragraph in paragraphs:
        lines = paragraph.splitlines()
        if paragraph.startswith("\b") or any(
            line.startswith(("  ", "- ", "* ", "• ")) for line in lines[1:]
        ):
            kept.append(paragraph)
        else:
            kept.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(kept)


def _joined_command_help(make_command_help: Any) -> Any:
    """A group's list of commands shows each one's first paragraph: joined into one line
    that the terminal wraps, not broken where the docstring's lines break."""

    def make(*, help_text: str, markup_mode: Any) -> Any:
        import inspect

        first = inspect.cleandoc(help_text).split("\n\n")[0]
        if not first.startswith("\b"):
            first = " ".join(line.strip() for line in first.splitlines())
        return make_command_help(help_text=first, markup_mode=markup_mode)

    make.joined = True  # type: ignore[attr-defined]
    return make


def _reflowing(format_help: Any) -> Any:
    def format_help_reflowed(self: Any, ctx: Any, formatter: Any) -> Any:
        from typer import rich_utils  # only when help is shown: it imports rich

        rich_utils._fix_linebreaks = _reflow
        if not getattr(rich_utils._make_command_help, "joined", False):
            rich_utils._make_command_help = _joined_command_help(rich_utils._make_command_help)
        return format_help(self, ctx, formatter)

    return format_help_reflowed


def install() -> None:
    from typer.core import TyperCommand, TyperGroup

    for command_class in (TyperCommand, TyperGroup):
        command_class.format_help = _reflowing(command_class.format_help)  # type: ignore[method-assign]
    patches: dict[Any, dict[str, Any]] = {
        TyperOption: {"display_type_rich": _option_metavar},
        TyperArgument: {
            "display_name_raw": property(_argument_name),
            "_usage_display_name": _argument_usage,
            "display_type_rich": _argument_type,
        },
    }
    for cls, methods in patches.items():
        for name, method in methods.items():
            setattr(cls, name, method)
