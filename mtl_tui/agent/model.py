"""Language models behind one small protocol: litellm for real ones, a scripted one for
tests and demos. litellm is imported lazily (about 3.5 s) and only here."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mtl_tui.config import Settings
from mtl_tui.errors import MtlError
from mtl_tui.text import plural

SCRIPTED_PREFIX = "scripted/"

TokenSink = Callable[[str], None]
RetrySink = Callable[[int, float, str], None]  # attempt, delay, reason


class ModelError(MtlError):
    """The model cannot be used: bad credentials, unknown model, context overflow,
    or an endpoint that kept failing. Not retried further."""

    exit_code = 1


@dataclass
class ModelReply:
    content: str
    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Model(Protocol):
    name: str

    def query(
        self,
        messages: list[dict[str, str]],
        on_token: TokenSink | None = None,
        on_retry: RetrySink | None = None,
    ) -> ModelReply: ...


def make_model(
    name: str | None,
    api_base: str | None = None,
    timeout: float = 120.0,
    retries: int = 4,
    stream: bool = True,
    on_warning: Callable[[str], None] | None = None,
) -> Model:
    if not name:
        raise MtlError(
            "no model configured: pass --model, set MTL_MODEL, or set `model` in the config "
            "file (any litellm model id, e.g. openai/gpt-4o-mini; `scripted/FILE` replays "
            "replies from a JSON file)"
        )
    if name.startswith(SCRIPTED_PREFIX):
        return ScriptedModel.from_file(Path(name.removeprefix(SCRIPTED_PREFIX)))
    return LitellmModel(
        name, api_base, timeout=timeout, retries=retries, stream=stream, on_warning=on_warning
    )


def model_for(
    settings: Settings,
    on_warning: Callable[[str], None] | None = None,
    stream: bool | None = None,
) -> Model:
    """The configured model with the configured timeouts, retries and streaming."""
    agent = settings.agent
    return make_model(
        settings.model,
        settings.api_base,
        timeout=agent.model_timeout,
        retries=agent.model_retries,
        stream=agent.stream if stream is None else stream,
        on_warning=on_warning,
    )


# -- scripted ---------------------------------------------------------------------


@dataclass
class ScriptedModel:
    """Plays fixed replies in order; records what it was sent."""

    replies: list[ModelReply]
    name: str = "scripted"
    calls: list[list[dict[str, str]]] = field(default_factory=list)

    @classmethod
    def from_file(cls, path: Path) -> ScriptedModel:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MtlError(f"cannot read scripted replies from {path}: {exc}") from None
        if not isinstance(data, list):
            raise MtlError(f"{path}: expected a JSON list of replies")
        replies = []
        for i, item in enumerate(data):
            if isinstance(item, str):
                replies.append(ModelReply(item))
            elif isinstance(item, dict) and isinstance(item.get("content"), str):
                replies.append(ModelReply(item["content"], float(item.get("cost", 0.0))))
            else:
                raise MtlError(f"{path}: reply {i} must be a string or {{'content', 'cost'}}")
        return cls(replies, name=f"{SCRIPTED_PREFIX}{path.name}")

    def query(
        self,
        messages: list[dict[str, str]],
        on_token: TokenSink | None = None,
        on_retry: RetrySink | None = None,
    ) -> ModelReply:
        self.calls.append([dict(m) for m in messages])
        if len(self.calls) > len(self.replies):
            raise ModelError(
                f"the scripted model has no reply left ({len(self.replies)} given; they are "
                "read in order by the task's steps, then the judge and the learning step)"
            )
        reply = self.replies[len(self.calls) - 1]
        if on_token:
            for piece in reply.content.splitlines(keepends=True):
                on_token(piece)
        return reply


# -- litellm ----------------------------------------------------------------------


def import_litellm() -> Any:
    # The price map is read from the installed package, never fetched at import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True
    return litellm


def start_loading_litellm() -> None:
    """Import litellm in a background thread, so that a later `import_litellm()` (which waits
    for that import) finds it loaded or nearly so."""
    import threading

    threading.Thread(target=_import_quietly, name="mtl-litellm-import", daemon=True).start()


def _import_quietly() -> None:
    with contextlib.suppress(Exception):
        import_litellm()


def unknown_provider(model: str) -> str | None:
    """Why litellm cannot route `model` (no provider in the id), or None when it can."""
    litellm = import_litellm()
    try:
        litellm.get_llm_provider(model)
    except Exception:
        return (
            f"litellm knows no provider for model '{model}': name it as provider/model, "
            "e.g. openai/gpt-4o-mini or ollama/qwen2.5-coder (docs.litellm.ai/docs/providers)"
        )
    return None


def missing_credentials(model: str) -> list[str]:
    """Environment variables the model's provider needs and that are not set."""
    litellm = import_litellm()
    try:
        env = litellm.validate_environment(model=model)
    except Exception:
        return []
    return [key for key in env.get("missing_keys") or [] if not os.environ.get(key)]


def _is_transient(exc: Exception) -> bool:
    """Connection trouble, timeouts, 408, 429 and 5xx are worth retrying; nothing else.
    The HTTP status decides first: litellm sometimes wraps a 500 in BadRequestError."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status > 0:
        return status in (408, 429) or status >= 500
    litellm = import_litellm()
    transient = (
        litellm.APIConnectionError,
        litellm.Timeout,
        litellm.RateLimitError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
    )
    return isinstance(exc, transient)


#: A refused connection or an unknown host is not going to change in a few seconds:
#: at most this many quick retries, after QUICK_RETRY seconds (429, 5xx and timeouts
#: keep the configured retries with backoff).
REFUSED_RETRIES = 1
QUICK_RETRY = 0.5
_REFUSED_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH}


def _refused(exc: BaseException) -> bool:
    """Whether nothing listens at the endpoint or its host does not resolve (from the
    innermost network error under litellm's wrapping)."""
    import socket

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror | ConnectionRefusedError):
            return True
        if isinstance(current, OSError) and current.errno in _REFUSED_ERRNOS:
            return True
        current = current.__cause__ or current.__context__
    return False


def _connection_failure(exc: BaseException) -> str | None:
    """Why the endpoint could not be reached (refused, unknown host…), from the innermost
    network error under litellm's wrapping; None when the endpoint did answer."""
    seen: set[int] = set()
    reason = None
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if isinstance(current, OSError) and current.strerror:
            reason = current.strerror
        elif name in ("ConnectError", "APIConnectionError", "ConnectTimeout") and not reason:
            reason = str(current)
        current = current.__cause__ or current.__context__
    return " ".join(reason.lower().split()) if reason else None


def endpoint_text(model: str, api_base: str | None) -> str:
    """`model 'M' at URL` (the URL scrubbed: it may carry credentials)."""
    if not api_base:
        return f"model '{model}'"
    from mtl_tui.scrub import safe_message

    return f"model '{model}' at {safe_message(api_base)}"


def unreachable(model: str, api_base: str | None, reason: str) -> str:
    if api_base:
        from mtl_tui.scrub import safe_message

        return f"cannot reach {safe_message(api_base)} (model '{model}'): {reason}"
    return f"cannot reach the provider of model '{model}': {reason}"


def probe_endpoint(api_base: str, timeout: float = 3.0) -> str | None:
    """Whether an OpenAI-compatible endpoint answers at all (any HTTP status counts):
    None if it does, else why not. No litellm, no credentials sent."""
    import urllib.error
    import urllib.parse
    import urllib.request

    try:
        parts = urllib.parse.urlsplit(api_base.rstrip("/") + "/models")
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        netloc = host + (f":{parts.port}" if parts.port else "")  # user:password@ left out
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
        with urllib.request.urlopen(url, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answered
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, OSError) and reason.strerror:
            return reason.strerror.lower()
        return " ".join(str(reason).lower().split())
    except TimeoutError:
        return f"no answer in {timeout:.0f} s"
    except (OSError, ValueError) as exc:
        return " ".join(str(exc).lower().split()) or type(exc).__name__


def _explain(exc: Exception, model: str, api_base: str | None = None) -> str:
    litellm = import_litellm()
    if (reason := _connection_failure(exc)) is not None:
        return unreachable(model, api_base, reason)
    if "LLM Provider NOT provided" in str(exc) and (problem := unknown_provider(model)):
        return problem
    text = " ".join(str(getattr(exc, "message", exc)).split())[:300]
    status = getattr(exc, "status_code", None)
    where = endpoint_text(model, api_base)
    if isinstance(exc, litellm.AuthenticationError) or status in (401, 403):
        return f"the model provider rejected the credentials for {where}: {text}"
    if isinstance(exc, litellm.ContextWindowExceededError) or "context_length" in text:
        return f"the conversation no longer fits the context window of {where}: {text}"
    if isinstance(exc, litellm.NotFoundError) or status == 404:
        return f"{where} was not found by its provider: {text}"
    if isinstance(exc, litellm.Timeout):
        return f"{where} did not answer in time: {text}"
    return f"{where} failed: {text}"


class LitellmModel:
    def __init__(
        self,
        name: str,
        api_base: str | None = None,
        timeout: float = 120.0,
        retries: int = 4,
        backoff: float = 1.0,
        stream: bool = True,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.api_base = api_base
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.stream = stream
        self.on_warning = on_warning
        self._warned_price = False

    def _kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"timeout": self.timeout, "num_retries": 0}
        if self.api_base:
            kwargs["api_base"] = self.api_base
            if not os.environ.get(self._key_variable()):
                # Local OpenAI-compatible servers take any key; the client insists on one.
                kwargs["api_key"] = "mtl-local"
        return kwargs

    def _key_variable(self) -> str:
        litellm = import_litellm()
        try:
            provider = litellm.get_llm_provider(self.name)[1]
        except Exception:
            provider = self.name.split("/", 1)[0]
        return f"{provider.upper()}_API_KEY"

    def query(
        self,
        messages: list[dict[str, str]],
        on_token: TokenSink | None = None,
        on_retry: RetrySink | None = None,
    ) -> ModelReply:
        for attempt in range(self.retries + 1):
            try:
                return self._query_once(messages, on_token)
            except ModelError:
                raise
            except Exception as exc:
                why = _explain(exc, self.name, self.api_base)
                if not _is_transient(exc):
                    raise ModelError(why) from exc
                refused = _refused(exc)
                if attempt >= (min(self.retries, REFUSED_RETRIES) if refused else self.retries):
                    tries = plural(attempt + 1, "attempt")
                    raise ModelError(f"{why} (gave up after {tries})") from exc
                delay = QUICK_RETRY if refused else self.backoff * 2**attempt
                if on_retry:
                    on_retry(attempt + 1, delay, why)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _query_once(self, messages: list[dict[str, str]], on_token: TokenSink | None) -> ModelReply:
        litellm = import_litellm()
        kwargs = self._kwargs()
        if not self.stream:
            response = litellm.completion(model=self.name, messages=messages, **kwargs)
            content = response.choices[0].message.content or ""
            if on_token and content:
                on_token(content)
            return self._reply(content, response)
        chunks = []
        pieces: list[str] = []
        stream = litellm.completion(
            model=self.name,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            **kwargs,
        )
        for chunk in stream:
            chunks.append(chunk)
            if chunk.choices and (text := chunk.choices[0].delta.content):
                pieces.append(text)
                if on_token:
                    on_token(text)
        response = litellm.stream_chunk_builder(chunks, messages=messages)
        return self._reply("".join(pieces), response)

    def _reply(self, content: str, response: Any) -> ModelReply:
        usage = getattr(response, "usage", None)
        return ModelReply(
            content=content,
            cost=self._cost(response),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        )

    def _cost(self, response: Any) -> float:
        litellm = import_litellm()
        try:
            return float(litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:
            if not self._warned_price and self.on_warning:
                self.on_warning(
                    f"no price known for model '{self.name}': its cost counts as 0 "
                    "and --cost-limit cannot stop it"
                )
            self._warned_price = True
            return 0.0
