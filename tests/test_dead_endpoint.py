"""A dead `--api-base` (a real closed port on 127.0.0.1): one line naming the endpoint and
the model, scrubbed (a URL may carry credentials), in `mtl run`, `mtl doctor` and the TUI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mtl_tui.config import load_settings
from mtl_tui.ui.app import MtlApp
from tests.tuikit import until

MODEL = "openai/gpt-4o-mini"
SECRET = "hunter2-not-a-real-password-0042"


@pytest.fixture
def dead_base(mtl_home: Path) -> str:
    """A port nothing listens on (bound, then closed), with credentials in the URL; the
    model is tried once (no retries: the point is the message, not the backoff)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (mtl_home / "config.toml").write_text("[agent]\nmodel_retries = 0\n")
    return f"http://mtl:{SECRET}@127.0.0.1:{port}/v1"


def mtl(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mtl_tui", *args]
    environment = {**os.environ, **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=180,
                          env=environment)  # fmt: skip


def port_of(url: str) -> str:
    return url.rsplit(":", 1)[1]  # "PORT/v1"


def test_mtl_run_names_the_endpoint_and_the_model(git_repo: Path, dead_base: str) -> None:
    result = mtl(git_repo, "run", "--yes", "--no-memory", "--no-learn", "--model", MODEL,
                 "--api-base", dead_base, "say hello")  # fmt: skip
    assert result.returncode == 1
    [line] = [x for x in result.stderr.splitlines() if "cannot reach" in x]
    assert f"127.0.0.1:{port_of(dead_base)}" in line and f"model '{MODEL}'" in line
    assert "connection refused" in line
    assert SECRET not in result.stderr + result.stdout


@pytest.mark.parametrize("how", ["environment", "flags"])
def test_doctor_tries_the_endpoint(git_repo: Path, dead_base: str, how: str) -> None:
    if how == "flags":  # as for `mtl run`: --model and --api-base
        result = mtl(git_repo, "doctor", "--model", MODEL, "--api-base", dead_base)
    else:
        result = mtl(git_repo, "doctor", env={"MTL_MODEL": MODEL, "MTL_API_BASE": dead_base})
    [line] = [x for x in result.stdout.splitlines() if "model:" in x and "embedding" not in x]
    assert "cannot reach" in line and f"127.0.0.1:{port_of(dead_base)}" in line
    assert f"model '{MODEL}'" in line and "connection refused" in line
    assert SECRET not in result.stdout + result.stderr


async def test_the_tui_names_the_endpoint_and_the_model(git_repo: Path, dead_base: str) -> None:
    cfg = load_settings({"model": MODEL, "api_base": dead_base})
    app = MtlApp(cfg, git_repo, task="say hello")
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.last_summary is not None, timeout=120)
        notes = [str(n.render()) for n in app.query(".note")]
        [line] = [n for n in notes if "cannot reach" in n]
        assert f"127.0.0.1:{port_of(dead_base)}" in line and f"model '{MODEL}'" in line
        assert "connection refused" in line and "\n" not in line
        assert not any(SECRET in n for n in notes)


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "no-such-host.invalid"])
def test_a_refused_connection_fails_after_one_quick_retry(host: str) -> None:
    """Nothing listens there (a real closed port) or the host does not resolve: one quick
    retry, not the backoff meant for 429, 5xx and timeouts (five tries, about 24 s)."""
    from mtl_tui.agent.model import QUICK_RETRY, LitellmModel, ModelError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://{host.format(port=port)}/v1"
    model = LitellmModel(MODEL, base, timeout=5, retries=4, backoff=1.0)
    retries: list[tuple[int, float]] = []
    with pytest.raises(ModelError, match="gave up after 2 attempts") as raised:
        model.query(
            [{"role": "user", "content": "hi"}],
            on_retry=lambda attempt, delay, why: retries.append((attempt, delay)),
        )
    assert retries == [(1, QUICK_RETRY)] and QUICK_RETRY <= 1.0
    assert "cannot reach" in str(raised.value)
