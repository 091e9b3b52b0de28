"""Drive the installed `mtl` in a real terminal (tmux) in a temporary repository.

    python tests/tmux_drive.py          # prints the screens it saw; exit 1 on a failed check
    python tests/tmux_drive.py PREPARED  # the same, with a prepared embedding model linked in

It adds memories with `mtl memory add`, opens the TUI with a scripted model, types a task,
rejects and votes in the insights panel, tabs out to the prompt, runs the task (approving
one command, then `Y` for the rest of the task), answers the verdict, stores what was
learned, starts a second task and sees its first command asked again (ctrl+z there says
why it cannot undo now), and checks each step on the screen (capture-pane)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SESSION = "mtl-drive"


def tmux(*args: str) -> str:
    # A server of its own (-L), with no user config: nothing from other sessions leaks in.
    command = ["tmux", "-L", SESSION, "-f", "/dev/null", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait_for(text: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = screen()
        if text in shown:
            return shown
        time.sleep(0.2)
    raise SystemExit(f"FAILED: '{text}' never appeared. Last screen:\n{screen()}")


def keys(*names: str, pause: float = 0.4) -> None:
    for name in names:
        tmux("send-keys", "-t", SESSION, name)
        time.sleep(pause)


def main() -> int:
    mtl = shutil.which("mtl")
    if not mtl or not shutil.which("tmux"):
        print("needs the installed `mtl` and tmux on PATH")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        home, repo = Path(tmp) / "home", Path(tmp) / "calc"
        env = {**os.environ, "MTL_HOME": str(home)}
        repo.mkdir()
        if len(sys.argv) > 1:  # as a user has it after the first run (tests/conftest.py)
            from mtl_tui.memory.embed import PREPARED_DIR

            (home / PREPARED_DIR).parent.mkdir(parents=True)
            (home / PREPARED_DIR).symlink_to(Path(sys.argv[1]), target_is_directory=True)
        (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
        for args in (
            ["init", "-q"],
            ["add", "."],
            ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"],
        ):
            subprocess.run(["git", *args], cwd=repo, check=True)  # fmt: skip
        for title, lang in [
            ("Run a one-line check of a function after fixing it", "python"),
            ("Quote shell variables so paths with spaces do not split", "shell"),
            ("Profile before optimising a slow database query", "sql"),
        ]:
            subprocess.run([mtl, "memory", "add", "--title", title, "--lang", lang],
                           env=env, check=True, capture_output=True)  # fmt: skip
        # Three lessons, not all of them relevant: this drive is about the panel's keys, so
        # the relevance floor is off (its own tests are in test_retrieval.py).
        (Path(home) / "config.toml").write_text("[memory]\nfloor = -1.0\n")
        replies = Path(tmp) / "replies.json"
        replies.write_text(json.dumps([
            "Look first.\n```bash\ncat calc.py\n```",
            "Fix and check.\n```bash\nsed -i 's/a - b/a + b/' calc.py && "
            "python3 -c 'import calc; print(calc.add(2, 3))'\n```",
            "Checked.\n```bash\necho MTL_TASK_COMPLETE\n```",
            json.dumps({"insights": [{
                "title": "Check operators when a function returns wrong values",
                "description": "Operator slips give plausible but wrong results.",
                "content": "Read the body, then run a one-line check with known inputs.",
                "tags": ["debugging"]}]}),
            # the pool holds a neighbour of that lesson (the one-line check): the pool edit
            json.dumps({"operations": [{"op": "add", "lesson": "C1"}]}),
            "List the files.\n```bash\nls\n```",
        ]))  # fmt: skip
        # Textual sizes itself from COLUMNS/LINES when set: let the tmux window decide.
        command = (
            f"cd {repo} && env -u COLUMNS -u LINES MTL_HOME={home} {mtl} --model scripted/{replies}"
        )
        tmux("new-session", "-d", "-s", SESSION, "-x", "130", "-y", "40", command)
        try:
            wait_for("ready")
            keys("add returns the wrong sum, fix it", pause=1.0)
            shown = wait_for("Insights (3)")
            assert "[M1]" in shown and "✓ accepted" in shown, shown
            keys("Tab", "x", "+")
            shown = wait_for("✗ rejected")
            assert "votes +1" in shown, shown
            assert "relevance" in shown and "sim " not in shown, shown  # what the floor cuts on
            print(shown)
            keys("Tab", "Enter")  # Tab out of the panel lands on the prompt, nothing unseen
            wait_for("$ step 1")
            wait_for("Run it?")
            keys("y")  # the next step's block appears only after this answer
            wait_for("$ step 2")
            wait_for("Run it?")
            keys("Y")  # this one and the rest of this task
            shown = wait_for("Did it succeed?")
            assert "calc.py" in shown, shown  # the diff stat
            assert "Run it?" not in shown, shown  # step 3 ran without a question
            keys("y")
            wait_for("Learned from this run")
            keys("Enter")
            shown = wait_for("learned 1")
            print(shown)
            assert "auto: this run" not in shown, shown  # Y ended with its task
            assert (repo / "calc.py").read_text().endswith("a + b\n")
            keys("list the files", "Enter", pause=1.0)
            shown = wait_for("Run it?")  # the next task asks again
            print(shown)
            assert "$ step 1" in shown and "ls" in shown, shown
            keys("C-z")  # ctrl+z from the question: says why it cannot undo now
            wait_for("A run is in progress")
            keys("C-c", "C-c")
        except BaseException:
            log = sorted((home / "trajectories").glob("*.traj.json"))
            if log:
                print("last trajectory:", log[-1].read_text()[-2000:])
            raise
        finally:
            subprocess.run(["tmux", "-L", SESSION, "kill-server"], capture_output=True)
    print("OK: the TUI worked in a real terminal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
