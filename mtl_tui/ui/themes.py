"""Themes as TOML files, parsed into Textual themes.

Shipped themes live in the top-level `themes/` folder, which the wheel carries as
`mtl_tui/themes/`; user themes live in `themes/` under the config directory (MTL_HOME)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta
from textual.color import Color, ColorParseError
from textual.theme import Theme

from mtl_tui import paths
from mtl_tui.config import error_key

DEFAULT_THEME = "mtl-dark"
_COLOURS = (
    "primary", "secondary", "accent", "foreground", "background", "surface", "panel", "boost",
    "success", "warning", "error",
)  # fmt: skip


class ThemeFile(msgspec.Struct, forbid_unknown_fields=True):
    primary: str
    name: Annotated[str, Meta(min_length=1, max_length=60)]
    dark: bool = True
    secondary: str | None = None
    accent: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None
    success: str | None = None
    warning: str | None = None
    error: str | None = None
    luminosity_spread: Annotated[float, Meta(ge=0, le=1)] = 0.15
    text_alpha: Annotated[float, Meta(ge=0, le=1)] = 0.95
    variables: dict[str, str] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in _COLOURS:
            value = getattr(self, key)
            if value is not None:
                try:
                    Color.parse(value)
                except ColorParseError:
                    raise ValueError(f"'{value}' is not a colour - at `$.{key}`") from None


@dataclass
class ThemeSet:
    themes: list[Theme]
    errors: list[str]


def bundled_dir() -> Path:
    """The shipped themes: inside the package when installed from a wheel, else the
    checkout's top-level folder (editable installs)."""
    packaged = Path(str(resources.files("mtl_tui"))) / "themes"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "themes"


def load_theme_file(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        spec = msgspec.convert(data, ThemeFile)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"theme file {path}: {exc}") from None
    except msgspec.ValidationError as exc:
        key, message = error_key(exc)
        raise ValueError(f"theme file {path}: key '{key}': {message}") from None
    return Theme(**msgspec.structs.asdict(spec))


def load_themes(extra_dirs: list[Path] | None = None) -> ThemeSet:
    """Every theme file found, user themes overriding shipped ones of the same name.
    A broken file is reported, not fatal."""
    found: dict[str, Theme] = {}
    errors: list[str] = []
    for directory in [bundled_dir(), paths.user_themes_dir(), *(extra_dirs or [])]:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ValueError as exc:
                errors.append(str(exc))
                continue
            found[theme.name] = theme
    return ThemeSet(list(found.values()), errors)


def theme_names() -> set[str]:
    """Every theme the app can show: Textual's own and the loadable theme files."""
    from textual.theme import BUILTIN_THEMES

    return set(BUILTIN_THEMES) | {theme.name for theme in load_themes().themes}
