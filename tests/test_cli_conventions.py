"""The command line behaves like the CLIs users know: typos, terminals, help, pipes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mtl_tui import paths
from mtl_tui.memory.store import MemoryStore
from tests.conftest import DONE, bash, insight, run_mtl, script_file


def test_a_mistyped_command_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    result = run_mtl("doctr")
    assert result.returncode == 2
    assert result.stderr.startswith("mtl: error: no such command 'doctr'. Did you mean 'doctor'?")
    assert "Traceback" not in result.stderr and not paths.trajectories_dir().exists()
    # the same two lines as a mistyped subcommand: the error, then the hint
    sub = run_mtl("memory", "serch")
    assert (
        [line.split(" '")[0] for line in result.stderr.splitlines()]
        == [line.split(" '")[0] for line in sub.stderr.splitlines()]
        == ["mtl: error: no such command", "try"]
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "task", "--cost-limit", "nan"], "'--cost-limit': 'nan' is not a number"),
        (["run", "task", "--time-limit", "inf"], "'--time-limit': 'inf' is not a number"),
        (["run", "task", "--cost-limit", "-1"], "'--cost-limit': -1 is below 0"),
        (["memory", "search", "q", "--floor", "nan"], "'--floor': 'nan' is not a number"),
        (["memory", "add", "--title", ""], "--title is empty"),
        (["memory", "add", "--title", "t", "--content", " "], "--content is empty"),
    ],
)
def test_bad_values_are_named_for_what_they_are(args: list[str], words: str) -> None:
    result = run_mtl(*args)
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_rescope_to_the_scope_a_memory_has_says_so(store: MemoryStore) -> None:
    added = store.add(insight("Read the evaluator before writing the solution"))
    store.close()
    result = run_mtl("memory", "rescope", str(added.id), "global")
    assert result.returncode == 0, result.stderr
    assert f"#{added.id} is already global: nothing changed" in result.stdout


def test_no_tui_without_a_terminal() -> None:
    result = run_mtl("fix the tests")  # stdin and stdout are pipes here
    assert result.returncode == 2
    assert "the TUI needs a terminal" in result.stderr and "mtl run" in result.stderr
    assert "\x1b[" not in result.stdout  # no escape codes into a pipe


def test_an_unknown_theme_is_refused_before_anything_is_saved() -> None:
    result = run_mtl("--theme", "nope")
    assert result.returncode == 2 and "no theme named 'nope'" in result.stderr
    assert "mtl-dark" in result.stderr
    assert not paths.config_file().exists() or "nope" not in paths.config_file().read_text()


def test_help_says_what_mtl_alone_does_with_examples_and_clean_metavars() -> None:
    root = run_mtl("--help").stdout
    assert "alone opens the TUI" in root and "Examples" in root and 'mtl "fix the' in root
    learn = run_mtl("learn", "--help").stdout
    run = run_mtl("run", "--help").stdout
    for text in (root, learn, run):
        assert "<bool>" not in text and "<str>" not in text and "list[" not in text
    assert "PATHS..." in learn and "{paths}" not in learn
    assert "TASK" in run and "{task}" not in run and "MODEL" in run
    assert "insight|summary|workflow|trajectory" in run.replace(" ", "").replace("│", "")
    # a group's command list wraps each summary where the terminal ends, not where the
    # docstring's lines break
    pack = run_mtl("pack", "--help").stdout  # 200 columns
    assert "in one transaction. Near-duplicates merge into what you have" in pack


def test_output_to_a_pipe_is_not_wrapped(store: MemoryStore) -> None:
    title = "Quote shell variables so that paths with spaces in them never split into words"
    store.add(insight(title, ["shell"]))
    store.close()
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    result = subprocess.run(
        [sys.executable, "-m", "mtl_tui", "memory", "list"],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0
    assert any(title in line for line in result.stdout.splitlines())


def test_pack_export_dash_writes_to_stdout(store: MemoryStore, tmp_path: Path) -> None:
    store.add(insight("Read the evaluator before writing the solution", ["python"]))
    store.close()
    result = subprocess.run(
        [sys.executable, "-m", "mtl_tui", "pack", "export", "-"],
        capture_output=True, text=True, cwd=tmp_path, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    pack = json.loads(result.stdout)
    assert pack["format"] == "mtl-insight-pack" and len(pack["items"]) == 1
    assert not (tmp_path / "-").exists()


def test_run_json_summary_is_complete_and_undo_counts_right(git_repo: Path) -> None:
    model = script_file(git_repo.parent, [bash("echo more >> src/util.py"), DONE])
    result = subprocess.run(
        [sys.executable, "-m", "mtl_tui", "run", "--yes", "--json", "--no-memory", "--no-learn",
         "--model", model, "add a line"],
        capture_output=True, text=True, cwd=git_repo, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["changed_files"] == ["src/util.py"]
    assert "python" in summary["languages"] and summary["duration"] > 0
    for key in ("status", "steps", "cost", "retrieved", "accepted", "learned", "trajectory"):
        assert key in summary
    undo = subprocess.run([sys.executable, "-m", "mtl_tui", "undo"], cwd=git_repo,
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert undo.returncode == 0 and "(1 file restored, 0 removed)" in undo.stdout


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["memory", "search", "x", "--top-k", "abc"], "invalid value for '--top-k'",
         "try 'mtl memory search --help'"),
        (["--theme"], "option '--theme' requires an argument", "try 'mtl --help'"),
        (["run", "--max-steps", "-1", "x"], "no such option: --max-steps", "try 'mtl run --help'"),
        (["run", "--step-limit", "-1", "x"], "invalid value for '--step-limit'",
         "try 'mtl run --help'"),
        (["memory", "show", "abc"], "invalid value for 'ID'", "try 'mtl memory show --help'"),
        (["pack", "export"], "missing argument 'PATH'", "try 'mtl pack export --help'"),
        # click gives this error no context: the hint still names the command
        (["run", "x", "--top-k"], "option '--top-k' requires an argument", "try 'mtl run --help'"),
        (["memory", "rate", "1", "sideways"],
         "invalid value for 'DIRECTION': 'sideways' is not one of", "try 'mtl memory rate --help'"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)  # fmt: skip
def test_a_usage_error_is_one_line_and_a_hint(args: list[str], message: str, hint: str) -> None:
    """As gh, uv and ruff print them: no usage block, no box, exit 2."""
    result = run_mtl(*args)
    assert result.returncode == 2, result.stderr
    first, *rest = result.stderr.splitlines()
    assert first.startswith(f"mtl: error: {message}") and rest == [hint]
    assert "╭" not in result.stderr and "Usage:" not in result.stderr and not result.stdout


def test_undo_modes_that_do_not_go_together_are_refused() -> None:
    result = run_mtl("undo", "--prune", "--list")
    assert result.returncode == 2 and not result.stdout
    assert result.stderr.splitlines() == [
        "mtl: error: --list and --prune do not go together: --list, --prune and --prune-all "
        "each go alone (with --json)"
    ]


def test_doctor_checks_the_model_a_run_would_use(tmp_path: Path, fake_openai: Any) -> None:
    """--model as for `mtl run`: a model id litellm cannot route, or a scripted model's file,
    is checked, not called fine because no credential is missing. An --api-base without a
    model is tried anyway."""
    import socket

    from mtl_tui.cli.doctor import _check_model
    from mtl_tui.config import load_settings

    replies = tmp_path / "replies.json"
    replies.write_text('["one", "two"]')
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    for flags, ok, words in [
        ({"api_base": closed}, False, "no model configured: set MTL_MODEL"),
        ({"api_base": closed}, False, f"cannot reach {closed}: connection refused"),
        ({"api_base": fake_openai.base_url}, False, f"; {fake_openai.base_url} answers"),
        ({"model": "x/y"}, False, "litellm knows no provider for model 'x/y'"),
        # a local server's model id without its provider (openai/qwen): not even tried
        ({"model": "qwen", "api_base": "http://127.0.0.1:9/v1"}, False, "no provider"),
        ({"model": f"scripted/{replies}"}, True, "2 scripted replies"),
        ({"model": f"scripted/{tmp_path / 'gone.json'}"}, False, "cannot read scripted"),
    ]:
        check = _check_model(load_settings(flags))  # doctor's model line
        assert check.ok is ok and words in check.detail, check


def _every_option() -> dict[str, str]:
    """Every long option of every mtl command, with the command it belongs to."""
    import typer
    from typer._click import Context

    from mtl_tui.cli.root import app

    found: dict[str, str] = {}

    def walk(command: Any, path: str, ctx: Any) -> None:
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                walk(sub, f"{path} {name}", Context(sub, parent=ctx))
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--") and "completion" not in opt and opt != "--help":
                    found.setdefault(opt, path)

    root = typer.main.get_command(app)
    walk(root, "mtl", Context(root))
    return found


def test_the_readme_synopsis_lists_every_option_and_messages_suggest_only_real_ones() -> None:
    import re

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    synopsis = next(
        b for b in re.findall(r"```[a-z]*\n(.*?)```", readme, re.S) if "mtl run TASK" in b
    )
    options = _every_option()
    assert "--floor" in options  # the walk reaches subcommands
    assert [f"{where} {o}" for o, where in options.items() if o not in synopsis] == []
    # what mtl's messages tell the user to run (`mtl … --x`) names options that exist
    sources = Path(__file__).parents[1] / "mtl_tui"
    suggested = {
        opt
        for path in sources.rglob("*.py")
        for command in re.findall(r"`mtl [^`]*`", path.read_text())
        for opt in re.findall(r"(?<![\w-])--[a-z][a-z-]+", command)
    }
    assert suggested and suggested - set(options) - {"--help"} == set()
