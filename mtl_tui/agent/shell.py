"""Run one command in a fresh subprocess; never leave a process behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MAX_OUTPUT = 10_000
_GRACE_AFTER_EXIT = 0.5  # seconds background children get to close the pipe


@dataclass
class CommandResult:
    command: str
    returncode: int
    output: str
    duration: float
    timed_out: bool = False
    interrupted: bool = False
    elided: int = 0


class _Capture:
    """Keeps the head and the tail of a stream, whatever its size."""

    def __init__(self, limit: int, on_output: Callable[[str], None] | None) -> None:
        self.half = limit // 2
        self.limit = limit
        self.head = ""
        self.tail = ""
        self.total = 0
        self.on_output = on_output

    def feed(self, text: str) -> None:
        if self.on_output:
            self.on_output(text)
        self.total += len(text)
        if len(self.head) < self.limit:
            room = self.limit - len(self.head)
            self.head += text[:room]
            text = text[room:]
        if text:
            self.tail = (self.tail + text)[-self.limit :]

    def result(self) -> tuple[str, int]:
        if self.total <= self.limit:
            return self.head + self.tail, 0
        whole = self.head + self.tail
        if len(whole) <= self.limit:
            return whole, 0
        head, tail = self.head[: self.half], whole[-self.half :]
        elided = self.total - len(head) - len(tail)
        return f"{head}\n[… {elided} characters elided …]\n{tail}", elided


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class LocalShell:
    """Each command in `bash -c`, in its own process group, at `cwd`."""

    def __init__(self, cwd: Path, timeout: float = 60.0, env: dict[str, str] | None = None):
        self.cwd = cwd
        self.timeout = timeout
        self.env = {**os.environ, "PAGER": "cat", "GIT_PAGER": "cat", **(env or {})}

    def run(
        self,
        command: str,
        on_output: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> CommandResult:
        started = time.monotonic()
        proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        capture = _Capture(MAX_OUTPUT, on_output)
        assert proc.stdout is not None
        stdout = proc.stdout

        def pump() -> None:
            import codecs

            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            while chunk := stdout.read1(65536):
                capture.feed(decoder.decode(chunk))
            capture.feed(decoder.decode(b"", final=True))

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timed_out = interrupted = False
        deadline = started + self.timeout
        exited_at: float | None = None
        try:
            # The pipe closes when the command and everything it started are done; joining
            # the reader wakes at once then, with no polling delay.
            while reader.is_alive():
                reader.join(0.05)
                now = time.monotonic()
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if exited_at is not None and now - exited_at > _GRACE_AFTER_EXIT:
                    break  # background children hold the pipe: they go with the group
                if now > deadline:
                    timed_out = True
                    break
                if cancel is not None and cancel.is_set():
                    interrupted = True
                    break
        except KeyboardInterrupt:
            interrupted = True
            _kill_group(proc)
            raise
        finally:
            if not (timed_out or interrupted):
                # The pipe can close before the command has exited (tools close stdout
                # in their exit handlers): let it finish before the group is killed.
                try:
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    timed_out = True
            _kill_group(proc)  # timeout, interrupt, or children left running in background
            proc.wait()
            reader.join(2)
            stdout.close()
        output, elided = capture.result()
        returncode = proc.returncode
        if timed_out:
            output += f"\n[command timed out after {self.timeout:g} s and was killed]"
            returncode = -9 if returncode >= 0 else returncode
        elif interrupted:
            output += "\n[command interrupted by the user]"
        return CommandResult(
            command=command,
            returncode=returncode,
            output=output,
            duration=time.monotonic() - started,
            timed_out=timed_out,
            interrupted=interrupted,
            elided=elided,
        )
