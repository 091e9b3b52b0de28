"""How long a model call takes to give up on an endpoint that refuses the connection (a real
closed port on 127.0.0.1) or whose host does not resolve, with the default retries.

    python tests/bench_refused.py [--runs 3]

Prints, per case, min / median wall and CPU seconds of one `LitellmModel.query` from the call
to the error, with the refused-connection rule (one quick retry) and without it (the
backoff meant for 429, 5xx and timeouts: 1 + 2 + 4 + 8 s). litellm is imported first, so
its import cost is not counted. Not part of the test run.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time
from unittest import mock

from mtl_tui.agent import model as model_module
from mtl_tui.agent.model import LitellmModel, ModelError, import_litellm


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one(base: str) -> tuple[float, float, str]:
    model = LitellmModel("openai/bench", base)  # the defaults: 4 retries, backoff 1 s
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        model.query([{"role": "user", "content": "hi"}])
    except ModelError as exc:
        message = str(exc)
    else:
        message = "answered?"
    return time.perf_counter() - wall, time.process_time() - cpu, message


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import_litellm()
    one(f"http://127.0.0.1:{closed_port()}/v1")  # warm litellm's lazy imports
    cases = {
        "refused": lambda: f"http://127.0.0.1:{closed_port()}/v1",
        "unknown host": lambda: "http://no-such-host.invalid/v1",
    }
    for rule in ("one quick retry", "old backoff"):
        for name, base in cases.items():
            walls, cpus = [], []
            for _ in range(args.runs):
                if rule == "old backoff":
                    with mock.patch.object(model_module, "_refused", lambda exc: False):
                        wall, cpu, message = one(base())
                else:
                    wall, cpu, message = one(base())
                walls.append(wall)
                cpus.append(cpu)
            wall_text = f"{min(walls):6.2f} / {statistics.median(walls):6.2f} s"
            cpu_text = f"{min(cpus):5.2f} / {statistics.median(cpus):5.2f} s"
            print(f"{rule:16} {name:13} wall {wall_text}  cpu {cpu_text}  ({message[-30:]})")


if __name__ == "__main__":
    main()
