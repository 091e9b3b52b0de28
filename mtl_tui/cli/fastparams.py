"""Parameters that need no coercion skip typer's pydantic layer.

Typer 0.29 coerces every parameter through a pydantic TypeAdapter, built on first use,
even for an option left out: the first one imports pydantic, about 0.14 s of CPU, a sixth
of `mtl memory search`. What comes out of that adapter unchanged skips it: an option left
out (None), a plain string for a `str` parameter, a number default of its own type within
its range. Everything else (numbers typed on the command line, choices, paths, lists)
still goes through typer's own coercion and its errors."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption


def _unchanged_by_coercion(param: Any, value: Any) -> bool:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None:
        return False
    if value is None:
        return not (param.multiple or param.nargs == -1)
    info = descriptor.parameter_info
    if type(value) is not descriptor.annotation or getattr(info, "parser", None) is not None:
        return False
    if type(value) is str:
        return descriptor.file_annotation is None
    if type(value) in (int, float):  # a default: in range, or the adapter has work to do
        low, high = getattr(info, "min", None), getattr(info, "max", None)
        return (low is None or value >= low) and (high is None or value <= high)
    return False


def _skipping(process_value: Any) -> Any:
    def process_value_fast(self: Any, ctx: Any, value: Any) -> Any:
        if not _unchanged_by_coercion(self, value):
            return process_value(self, ctx, value)
        if self.required and self.value_is_missing(value):
            from typer._click.exceptions import MissingParameter

            raise MissingParameter(ctx=ctx, param=self)
        return value if self.callback is None else self.callback(ctx, self, value)

    return process_value_fast


def install() -> None:
    for cls in (TyperOption, TyperArgument):
        if hasattr(cls, "get_runtime_param") and hasattr(cls, "value_is_missing"):
            cls.process_value = _skipping(cls.process_value)  # type: ignore[method-assign]
