"""Where mtl keeps per-user state.

`MTL_HOME`, when set, holds everything (config, pool, trajectories, themes); otherwise
the platform's user config and data directories are used.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "mtl"


def _home() -> Path | None:
    value = os.environ.get("MTL_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    return _home() or Path(platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    return _home() or Path(platformdirs.user_data_dir(APP_NAME))


def config_file() -> Path:
    return config_dir() / "config.toml"


def pool_file() -> Path:
    return data_dir() / "memory.sqlite"


def trajectories_dir() -> Path:
    return data_dir() / "trajectories"


def user_themes_dir() -> Path:
    return config_dir() / "themes"
