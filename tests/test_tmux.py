from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.skipif(not shutil.which("tmux") or not shutil.which("mtl"),
                    reason="needs tmux and the installed mtl")  # fmt: skip
def test_the_installed_tui_in_a_real_terminal(prepared_model: Path) -> None:
    script = Path(__file__).with_name("tmux_drive.py")
    result = subprocess.run(
        [sys.executable, str(script), str(prepared_model)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    assert "OK: the TUI worked in a real terminal" in result.stdout
