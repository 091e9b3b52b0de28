"""A small OpenAI-compatible chat server on 127.0.0.1 for end-to-end tests.

Each request takes the next planned behaviour: a reply (streamed or not, as the client
asks), an HTTP error status, or a hang. Requests are recorded for assertions."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Plan:
    kind: str  # reply | status | hang
    text: str = ""
    status: int = 200
    seconds: float = 0.0
    answer: Callable[[str], str] | None = None  # a reply made from the request's last message


def reply(text: str) -> Plan:
    return Plan("reply", text=text)


def status(code: int, text: str = "planned failure") -> Plan:
    return Plan("status", text=text, status=code)


def answer(make: Callable[[str], str]) -> Plan:
    """A reply computed from the request (its last message's text), for replies that
    must name what the client showed, such as labels."""
    return Plan("reply", answer=make)


def hang(seconds: float = 30.0) -> Plan:
    return Plan("hang", seconds=seconds)


@dataclass
class FakeOpenAI:
    plans: list[Plan] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeOpenAI:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                owner.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                plan = owner.plans.pop(0) if owner.plans else status(500, "no plan left")
                if plan.kind == "hang":
                    owner.stop_event.wait(plan.seconds)
                    return
                if plan.kind == "status":
                    self._json(
                        plan.status,
                        {
                            "error": {
                                "message": plan.text,
                                "type": "invalid_request_error",
                                "code": str(plan.status),
                            }
                        },
                    )
                    return
                text = plan.text
                if plan.answer is not None:
                    text = plan.answer(str(body["messages"][-1].get("content", "")))
                if body.get("stream"):
                    self._stream(text, body)
                else:
                    self._json(200, _completion(text, body))

            def _json(self, code: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, text: str, body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                words = [w + " " for w in text.split(" ")]
                words[-1] = words[-1][:-1]
                for i, piece in enumerate(words):
                    delta = {"content": piece} if i else {"role": "assistant", "content": piece}
                    self._event(_chunk(body, delta, None))
                self._event(_chunk(body, {}, "stop"))
                if (body.get("stream_options") or {}).get("include_usage"):
                    usage_chunk = _chunk(body, {}, None)
                    usage_chunk["choices"] = []
                    usage_chunk["usage"] = _usage(body, text)
                    self._event(usage_chunk)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _event(self, payload: dict[str, Any]) -> None:
                self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def system_prompts(self) -> list[str]:
        return [r["body"]["messages"][0]["content"] for r in self.requests]


def _usage(body: dict[str, Any], text: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    completion = len(text.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(text: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-local",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "local"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": _usage(body, text),
    }


def _chunk(body: dict[str, Any], delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-local",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "local"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
