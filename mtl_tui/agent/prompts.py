"""Prompt templates, kept as files beside this module."""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template


@cache
def _template(name: str) -> Template:
    text = resources.files("mtl_tui.agent").joinpath("prompts", f"{name}.md").read_text("utf-8")
    return Template(text)


def render(name: str, **values: object) -> str:
    return _template(name).safe_substitute({k: str(v) for k, v in values.items()})
