"""Key-to-screen latency and quit time of the installed `mtl`, in a real terminal (tmux).

    python tests/bench_tmux.py [--size 80x24] [--keys 20] [--prepared DIR]

--prepared links a prepared embedding model into the fresh MTL_HOME, as a user has it after
the first run (default: the one the tests keep in .pytest_cache, when there is one).

Prints figures; asserts nothing (speed depends on the machine). Latency: from `send-keys`
until `capture-pane` shows the typed character in the prompt (polled every 5 ms, so the
figures include up to ~5 ms of polling and the capture itself). Quit: from the second
ctrl+c until the shell after `mtl` prints a marker. CPU: the `mtl` process's own CPU time
(user + system, from /proc) while the keys were typed, per key, and up to "ready" (wall
figures depend on what else the machine runs; CPU figures much less)."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SESSION = "mtl-bench-keys"


def tmux(*args: str) -> str:
    command = ["tmux", "-L", SESSION, "-f", "/dev/null", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait_for(predicate, timeout: float = 120, poll: float = 0.005) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if predicate(screen()):
            return time.perf_counter() - start
        time.sleep(poll)
    raise SystemExit(f"timed out; last screen:\n{screen()}")


def mtl_cpu() -> float | None:
    """CPU seconds used so far by the python process under the pane's shell (Linux)."""
    try:
        shell = tmux("list-panes", "-t", SESSION, "-F", "#{pane_pid}").split()[0]
        children = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
        for pid in children:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks = os.sysconf("SC_CLK_TCK")
            return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, IndexError, ValueError, subprocess.CalledProcessError):
        return None
    return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="80x24")
    parser.add_argument("--keys", type=int, default=20)
    cached = Path(__file__).parents[1] / ".pytest_cache/d/mtl-embedding/all-MiniLM-L6-v2-onnx"
    parser.add_argument("--prepared", type=Path, default=cached if cached.is_dir() else None)
    args = parser.parse_args()
    mtl = shutil.which("mtl")
    if not mtl or not shutil.which("tmux"):
        print("needs the installed `mtl` and tmux on PATH")
        return 2
    width, height = args.size.split("x")
    with tempfile.TemporaryDirectory() as tmp:
        repo, home = Path(tmp) / "repo", Path(tmp) / "home"
        repo.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        if args.prepared:
            from mtl_tui.memory.embed import PREPARED_DIR

            (home / PREPARED_DIR).parent.mkdir(parents=True)
            (home / PREPARED_DIR).symlink_to(args.prepared.resolve(), target_is_directory=True)
        replies = Path(tmp) / "replies.json"
        replies.write_text("[]")
        command = (
            f"cd {repo} && env -u COLUMNS -u LINES MTL_HOME={home} {mtl} "
            f"--model scripted/{replies}; echo MTL_EXITED; sleep 60"
        )
        tmux("new-session", "-d", "-s", SESSION, "-x", width, "-y", height, command)
        try:
            started = wait_for(lambda s: "ready" in s)
            cpu_ready = mtl_cpu()
            cpu_text = f" ({cpu_ready:.2f} s CPU)" if cpu_ready is not None else ""
            print(f"{args.size}: ready after {started:.2f} s{cpu_text}")
            time.sleep(0.5)  # the starter pack's offer follows the pool's count
            if "Import the starter pack" in screen():
                # It takes no focus from the prompt: shift+tab reaches it (its "To answer"
                # line goes once it has the focus), n says not now.
                tmux("send-keys", "-t", SESSION, "BTab")
                wait_for(lambda s: "To answer" not in s, timeout=10)
                tmux("send-keys", "-t", SESSION, "n")
                wait_for(lambda s: "Import the starter pack" not in s)
            latencies = []
            cpu_before = mtl_cpu()
            for i in range(args.keys):
                letter = "abcdefghijklmnopqrstuvwxyz"[i % 26]
                typed = "q" + "".join("abcdefghijklmnopqrstuvwxyz"[j % 26] for j in range(i + 1))
                before = time.perf_counter()
                tmux("send-keys", "-t", SESSION, "-l", letter if i else "qa")
                wait_for(lambda s, t=typed: t in s)
                latencies.append((time.perf_counter() - before) * 1000)
                time.sleep(0.05)
            cpu_after = mtl_cpu()
            latencies.sort()
            if cpu_before is not None and cpu_after is not None:
                per_key = (cpu_after - cpu_before) / args.keys * 1000
                print(f"CPU of mtl while typing: {per_key:.0f} ms per key (incl. the 50 ms gaps)")
            print(
                f"key to screen: median {statistics.median(latencies):.0f} ms, "
                f"p90 {latencies[int(len(latencies) * 0.9) - 1]:.0f} ms, "
                f"max {latencies[-1]:.0f} ms over {len(latencies)} keys"
            )
            tmux("send-keys", "-t", SESSION, "C-c")
            time.sleep(0.3)
            before = time.perf_counter()
            tmux("send-keys", "-t", SESSION, "C-c")
            wait_for(lambda s: "MTL_EXITED" in s)
            print(f"quit (second ctrl+c to the shell prompt): {time.perf_counter() - before:.2f} s")
            print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        finally:
            subprocess.run(["tmux", "-L", SESSION, "kill-server"], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
