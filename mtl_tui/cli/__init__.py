"""The `mtl` command line. Every command is a thin face over the core.

This module is the entry point and the one error boundary; it imports almost nothing, so
`mtl --version` costs little more than Python's start-up. The commands live in
`mtl_tui.cli.root`, and each command's module is imported only when that command runs."""

from __future__ import annotations

import sys

from mtl_tui.errors import MtlError


def main() -> None:
    """The one error boundary: no traceback reaches the user, whatever went wrong."""
    try:
        if sys.argv[1:] == ["--version"]:  # the one answer that needs no command line parser
            from mtl_tui import __version__

            sys.stdout.write(f"mtl {__version__}\n")
            return
        from mtl_tui.cli.early import preload_before_parsing

        preload_before_parsing(sys.argv[1:])  # before typer: the model loads meanwhile
        from mtl_tui.cli.root import app

        app()
    except MtlError as exc:
        from mtl_tui.scrub import safe_message

        hint = getattr(exc, "hint", None)
        _fail(safe_message(str(exc)), exc.exit_code, hint and safe_message(hint))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except RecursionError:
        _fail("input nested too deeply", 2)
    except OSError as exc:
        _fail(describe_os_error(exc), 1)
    except Exception as exc:  # the last line of defence
        from mtl_tui.scrub import describe_exception

        _fail(f"unexpected {describe_exception(exc)} (please report this)", 1)


def describe_os_error(exc: OSError) -> str:
    import errno

    where = f": {exc.filename}" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"no space left on device{where}"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"permission denied{where} (is MTL_HOME writable?)"
    return f"{exc.strerror or exc}{where}"


def _fail(message: str, code: int, hint: str | None = None) -> None:
    try:
        sys.stderr.write(f"mtl: error: {message}\n" + (f"{hint}\n" if hint else ""))
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # the terminal is gone (SIGHUP): the exit code still tells
    sys.exit(code)
