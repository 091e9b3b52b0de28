from __future__ import annotations

from pathlib import Path

import pytest

from mtl_tui import paths
from mtl_tui.config import load_settings, save_setting
from mtl_tui.errors import ConfigError
from tests.conftest import run_mtl


def write_config(text: str) -> Path:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    cfg = load_settings()
    assert cfg.model is None
    assert cfg.embedding_model == "all-MiniLM-L6-v2"
    assert cfg.memory.top_k == 3
    assert cfg.memory.kind == "insight"


def test_file_then_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    write_config('model = "from-file"\napi_base = "http://file"\n[memory]\ntop_k = 5\n')
    assert load_settings().model == "from-file"
    monkeypatch.setenv("MTL_MODEL", "from-env")
    cfg = load_settings()
    assert (cfg.model, cfg.api_base, cfg.memory.top_k) == ("from-env", "http://file", 5)
    cfg = load_settings({"model": "from-flag", "api_base": None})
    assert (cfg.model, cfg.api_base) == ("from-flag", "http://file")


def test_config_lives_under_mtl_home(mtl_home: Path) -> None:
    assert paths.config_file() == mtl_home / "config.toml"
    assert paths.pool_file() == mtl_home / "memory.sqlite"


def test_bad_value_names_file_and_key() -> None:
    path = write_config('[memory]\ntop_k = "three"\n')
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(path) in str(info.value)
    assert "memory.top_k" in str(info.value)


def test_unknown_key_is_named() -> None:
    write_config("[agent]\nstep_limt = 3\n")
    with pytest.raises(ConfigError, match=r"agent\.step_limt"):
        load_settings()


def test_invalid_toml_names_file_and_line() -> None:
    path = write_config('model = "x"\ntheme = \n')
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(path) in str(info.value)
    assert "line 2" in str(info.value)


def test_save_setting_keeps_other_keys() -> None:
    write_config('model = "m"\n[memory]\ntop_k = 4\n')
    save_setting("theme", "mtl-light")
    cfg = load_settings()
    assert (cfg.theme, cfg.model, cfg.memory.top_k) == ("mtl-light", "m", 4)
    with pytest.raises(ConfigError):
        save_setting("memory.top_k", "lots")
    assert load_settings().memory.top_k == 4


def test_cli_reports_malformed_config_in_one_line() -> None:
    path = write_config("[memory]\ntop_k = -1\n")
    result = run_mtl("memory", "list")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and "memory.top_k" in lines[0]
    assert "Traceback" not in result.stderr
