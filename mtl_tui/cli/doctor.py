"""`mtl doctor`: is everything mtl needs in place on this machine?"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape

from mtl_tui import paths
from mtl_tui.agent.model import (
    SCRIPTED_PREFIX,
    ScriptedModel,
    missing_credentials,
    probe_endpoint,
    start_loading_litellm,
    unknown_provider,
    unreachable,
)
from mtl_tui.cli.common import err, notice, out, print_json
from mtl_tui.config import Settings, load_settings
from mtl_tui.errors import MtlError
from mtl_tui.memory import db as dbmod
from mtl_tui.memory.embed import (
    DefaultModelEmbedder,
    make_embedder,
    prepared_dir,
    resolve_model_path,
)
from mtl_tui.memory.scope import view_for
from mtl_tui.memory.store import MemoryStore
from mtl_tui.scrub import safe_message
from mtl_tui.text import plural


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    essential: bool = True


def _check_config(overrides: dict[str, str | None]) -> tuple[Check, Settings | None]:
    path = paths.config_file()
    try:
        cfg = load_settings(overrides)
    except MtlError as exc:
        return Check("config", False, str(exc)), None
    where = str(path) if path.exists() else f"{path} (absent, defaults used)"
    return Check("config", True, where), cfg


def _check_sqlite_vec() -> Check:
    try:
        module, name = dbmod.choose_driver()
        conn = module.connect(":memory:")
        version = dbmod.load_vec(conn)
        sqlite_version = conn.execute("SELECT sqlite_version()").fetchone()[0]
        conn.close()
    except MtlError as exc:
        return Check("sqlite-vec", False, str(exc))
    how = (
        "through Python's sqlite3"
        if name == "sqlite3"
        else "through sqlean.py (this Python's sqlite3 cannot load extensions)"
    )
    return Check("sqlite-vec", True, f"{version} loaded {how}, SQLite {sqlite_version}")


def _check_embedder(cfg: Settings) -> Check:
    embedder = make_embedder(cfg.embedding_model, notice)
    started = time.perf_counter()
    try:
        with err.status(f"Loading embedding model {embedder.name}…"):
            dim = embedder.dim
            embedder.embed(["doctor"])
    except MtlError as exc:
        return Check("embedding model", False, str(exc))
    seconds = time.perf_counter() - started
    source = resolve_model_path(cfg.embedding_model)
    how = f"from {source}"
    if isinstance(embedder, DefaultModelEmbedder):
        if embedder.backend == "onnx":
            how = f"through ONNX Runtime from {prepared_dir()} (prepared from {source})"
        else:
            how = f"through sentence-transformers (the slow path) from {source}"
    return Check(
        "embedding model",
        True,
        f"{embedder.name}, {dim} dimensions, loaded in {seconds:.1f} s {how}",
    )


def _check_pool(cfg: Settings) -> Check:
    path = paths.pool_file()
    if not path.exists():
        return Check("memory pool", True, f"{path} (not created yet)")
    try:
        store = MemoryStore.open(path)
    except MtlError as exc:
        return Check("memory pool", False, str(exc))
    try:
        info = store.stats()
        recorded = info["embedding_model"]
        detail = f"{path}, {plural(info['total'], 'memory')}, {info['size_bytes'] / 1e6:.1f} MB"
        if recorded and recorded != cfg.embedding_model:
            return Check(
                "memory pool",
                False,
                f"{detail}; embedded with '{recorded}' but '{cfg.embedding_model}' is "
                "configured: run `mtl memory reindex`",
            )
        return Check("memory pool", True, detail)
    finally:
        store.close()


_POLICY_WORDS = {
    "on": "on: global memories and this repository's own are read, lessons are stored",
    "project": "project: only memories scoped to this repository are read and written",
    "off": "off: mtl reads and writes nothing in the memory pool here",
}


def _check_repository(cfg: Settings) -> Check:
    """The current repository's `git config mtl.memory` and its identity for scopes."""
    try:
        _, policy, identity = view_for(Path.cwd(), cfg)
    except MtlError as exc:
        return Check("repository memory", False, str(exc), essential=False)
    return Check(
        "repository memory",
        True,
        f"{identity.describe()}: {_POLICY_WORDS[policy]} (git config mtl.memory)",
        essential=False,
    )


def _check_model(cfg: Settings) -> Check:
    if not cfg.model:
        missing = (
            "no model configured: set MTL_MODEL, pass --model, or set `model` in "
            f"{paths.config_file()}"
        )
        if cfg.api_base:  # the endpoint can be checked without one
            where = safe_message(cfg.api_base)
            with err.status(f"Trying {where}…"):
                problem = probe_endpoint(cfg.api_base)
            answer = f"cannot reach {where}: {problem}" if problem else f"{where} answers"
            missing = f"{missing} (e.g. --model openai/NAME for this server); {answer}"
        return Check("model", False, missing, essential=False)
    if cfg.model.startswith(SCRIPTED_PREFIX):  # replies from a file: is it readable?
        try:
            replies = ScriptedModel.from_file(Path(cfg.model.removeprefix(SCRIPTED_PREFIX)))
        except MtlError as exc:
            return Check("model", False, str(exc), essential=False)
        count = plural(len(replies.replies), "scripted reply", "scripted replies")
        return Check("model", True, f"{cfg.model}: {count}", essential=False)
    with err.status("Loading litellm…"):
        problem = unknown_provider(cfg.model)
    if problem:
        return Check("model", False, problem, essential=False)
    if cfg.api_base:  # a server of the user's own: does it answer at all?
        where = safe_message(cfg.api_base)
        with err.status(f"Trying {where}…"):
            problem = probe_endpoint(cfg.api_base)
        if problem:
            return Check("model", False, unreachable(cfg.model, cfg.api_base, problem),
                         essential=False)  # fmt: skip
        return Check("model", True, f"{cfg.model} at {where}, which answers", essential=False)
    with err.status("Loading litellm…"):
        missing = missing_credentials(cfg.model)
    if missing:
        return Check(
            "model",
            False,
            f"{cfg.model}: credentials missing, set {', '.join(missing)}",
            essential=False,
        )
    return Check("model", True, f"{cfg.model}, credentials found", essential=False)


def _check_bench_languages() -> list[Check]:
    """Which languages' bench tasks can run here (cheap: PATH and file lookups only)."""
    from mtl_tui.bench.toolchains import TOOLCHAINS, missing

    checks = []
    for language, toolchain in TOOLCHAINS.items():
        reason = missing(language)
        detail = (
            "tests can run here"
            if reason is None
            else f"{reason}; its bench tasks are skipped. Install: {toolchain.install}"
        )
        label = "javascript (polyglot, jest)" if language == "javascript-jest" else language
        checks.append(Check(f"bench {label}", reason is None, detail, essential=False))
    return checks


def run_doctor(as_json: bool, overrides: dict[str, str | None] | None = None) -> int:
    """`overrides`: --model and --api-base, as for `mtl run` (None: not given)."""
    config_check, cfg = _check_config(overrides or {})
    if cfg is not None and cfg.model and not cfg.model.startswith(SCRIPTED_PREFIX):
        start_loading_litellm()  # ~3.5 s of imports, overlapped with the other checks
    checks = [config_check, _check_sqlite_vec()]
    if cfg is not None:
        checks += [_check_embedder(cfg), _check_pool(cfg), _check_repository(cfg)]
        checks.append(_check_model(cfg))
    checks += _check_bench_languages()
    if as_json:
        print_json([c.__dict__ for c in checks])
    else:
        for check in checks:
            mark = (
                "[green]ok[/]" if check.ok else "[red]✗[/]" if check.essential else "[yellow]![/]"
            )
            out.print(f"{mark}  [bold]{check.name}[/]: {escape(check.detail)}")
    return 0 if all(c.ok for c in checks if c.essential) else 1
