"""Parameters that need no coercion skip typer's pydantic layer.

Typer 0.29 coerces every parameter through a pydantic TypeAdapter, built on first use,
even for an option left out: the first one imports pydantic, about 0.14 s of CPU, a sixth
of `mtl memory search`. An option left out (None) and a plain string for a `str`
parameter come out of that adapter unchanged, so they skip it; everything else (numbers,
ranges, choices, paths, lists) still goes through typer's own coercion and errors."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption


def _unchanged_by_coercion(param: Any, value: Any) -> bool:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None:
        return False
    if value is None:
        return not (param.multiple or param.nargs == -1)
    return (
        type(value) is str
        and descriptor.annotation is str
        and descriptor.file_annotation is None
        and getattr(descriptor.parameter_info, "parser", None) is None
    )


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
