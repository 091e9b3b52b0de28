"""Validated user configuration: TOML file < environment variables < command-line flags."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import tomli_w
from msgspec import Meta, field

from mtl_tui import paths
from mtl_tui.errors import ConfigError
from mtl_tui.files import MAX_CONFIG_FILE, InputError, read_text_bounded
from mtl_tui.records import Kind

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"

# The relevance floor: a memory whose relevance to the query (cosine similarity of its
# retrieval text plus a small full-text bonus, memory/rank.py) is below this never reaches
# the prompt, so retrieval may return fewer than top_k memories, or none. A misleading
# memory costs more than a missing one (the study's negative transfer), so emptiness is
# the constraint: the lowest floor at which at least 85% of the tasks with nothing
# relevant in the pool get nothing, on all 132 tasks of tests/data/retrieval (tune,
# report and blind) with all-MiniLM-L6-v2 (tests/bench_retrieval.py). 85%, not the
# issue's 80%, for a margin: chosen on two sets, an 80% floor left the third set's
# nothing-relevant tasks empty only 21 times in 28. The floor sits in a gap: 24 of those
# 28 tasks top out at 0.444 or less, while 98 of the 104 tasks with a wanted lesson have
# one at 0.456 or more; floors from 0.43 to 0.47 give hit@3 0.92-0.93 alike. (The
# earlier 0.44, chosen on the tune split alone with a weaker full-text bonus, held back
# the best lesson of 8 of 40 blind tasks at 0.39-0.44.) Another embedding model needs
# its own floor; -1 turns the floor off, and with it the relative cut of memory/rank.py.
# Kept at 0.45 when blind2 (66 tasks, 16 with nothing relevant) became a fourth seen set
# and query clauses joined the similarity: the rule on all four sets gives 0.52, because
# five of blind2's nothing-relevant tasks top out at 0.51-0.67 (a pagination feature
# beside the pagination lesson), and 0.52 would cost hit@3 0.92 -> 0.85 to empty five more;
# left out of the choice, blind2 itself asks 0.435-0.445 (tests/bench_retrieval.py).
DEFAULT_FLOOR = 0.45

# Screening (memory/screen.py): the run's model reads the candidates retrieval gathers
# (relevance >= 0.30, at most 6) and picks those that bear on the task; its picks replace
# the floor. No floor can tell "nothing applies" from "applies only by reasoning" with one
# small embedding model: on the fresh blind sets the floor alone gave hit@1 0.68-0.74,
# hit@3 0.73-0.80 and emptied 8-9 of 17-20 nothing-relevant tasks. Screened, with the
# prompt, candidate floor and count fixed before blind5 existed (blind3 and blind4 were
# seen by then): blind5, the one fresh set, 0.91 / 0.91, 14 of 17 empty, 0.86 of what
# reaches the prompt wanted (blind3+blind4: 0.88 / 0.88, 35 of 38, 0.95). The answers were
# recorded from one capable model (tests/bench_screen.py); a weaker one may screen worse,
# and task success with screening is not measured. It costs one short model call (30 s
# at most, one retry) before a run that has candidates. The
# study found LLM *reranking* (always three items, reordered) below plain similarity end
# to end; screening may return nothing, which is what the floor could not do well.
DEFAULT_SCREEN = True

# The memory section's size budget, in characters of memory items (about 4 characters a
# token: ~1,000 tokens). Three typical insights take 600-1,500 characters, so the default
# top_k never meets it; larger top_k or long lessons do. What does not fit is left out and
# named (panel, trajectory, `mtl run` output), never cut silently. 0 turns it off.
DEFAULT_BUDGET_CHARS = 4000

# Evidence decay in the ranking (memory/rank.py): a use of a memory this many days ago
# counts half as much as one today. Slow on purpose: a lesson used every few weeks keeps
# its record, one that stopped helping a season ago loses it.
DEFAULT_HALF_LIFE_DAYS = 90.0

# Environment variable -> top-level setting it overrides.
ENV_OVERRIDES = {
    "MTL_MODEL": "model",
    "MTL_API_BASE": "api_base",
    "MTL_EMBEDDING_MODEL": "embedding_model",
}


class _Section(msgspec.Struct, forbid_unknown_fields=True):
    """A settings section. msgspec validates it (pydantic's import and model building took
    a fifth of `mtl memory search`); the few pydantic methods callers use are kept."""

    @classmethod
    def model_validate(cls, data: Any) -> Any:
        return msgspec.convert(data, cls)

    def model_dump(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]

    def model_copy(self, update: dict[str, Any] | None = None) -> Any:
        """A shallow copy, with `update` applied as given (not validated)."""
        return msgspec.structs.replace(self, **(update or {}))


def _num(low: float | None = None, high: float | None = None, above: float | None = None,
         doc: str | None = None) -> Meta:  # fmt: skip
    return Meta(ge=low, le=high, gt=above, description=doc)


class AgentSettings(_Section):
    step_limit: Annotated[int, _num(1, doc="most model turns in one run")] = 50
    cost_limit: Annotated[float, _num(0, doc="USD; 0 means no limit")] = 3.0
    command_timeout: Annotated[float, _num(above=0, doc="seconds one command may run")] = 60.0
    wall_time_limit: Annotated[float, _num(above=0, doc="seconds one run may take")] = 3600.0
    model_timeout: Annotated[float, _num(above=0, doc="seconds to wait for the model")] = 120.0
    model_retries: Annotated[int, _num(0, 20, doc="retries of transient errors")] = 4
    verify_timeout: Annotated[float, _num(above=0, doc="seconds --verify may run")] = 600.0
    stream: Annotated[bool, Meta(description="stream the model's tokens as they come")] = True


class MemorySettings(_Section):
    top_k: Annotated[int, _num(0, 50)] = 3
    kind: Kind = "insight"
    distill_kinds: list[Kind] = field(default_factory=lambda: ["insight"])
    query: Annotated[
        Literal["task", "plan"],
        Meta(description="retrieve by the task text, or by a plan the model writes first"),
    ] = "task"
    floor: Annotated[
        float,
        _num(-1.0, 1.0, doc="least relevance a memory needs to reach the prompt (-1: no floor, "
             "no cut)"),
    ] = DEFAULT_FLOOR  # fmt: skip
    screen: Annotated[
        bool,
        Meta(description="the model picks which retrieved candidates apply, in place of the "
             "floor: one short model call before each run and search (memory/screen.py)"),
    ] = DEFAULT_SCREEN  # fmt: skip
    budget_chars: Annotated[
        int, _num(0, doc="most characters of memory items in the prompt; 0 means no budget")
    ] = DEFAULT_BUDGET_CHARS
    half_life_days: Annotated[
        float, _num(0, doc="days after which a use's evidence counts half in the ranking; 0: "
                    "no decay"),
    ] = DEFAULT_HALF_LIFE_DAYS  # fmt: skip
    prune_unused_months: Annotated[
        float, _num(above=0, doc="`mtl memory prune` lists memories not used for this long")
    ] = 6.0


class UndoSettings(_Section):
    max_untracked_mb: Annotated[
        float, _num(0, doc="untracked files larger than this are not snapshotted")
    ] = 10.0
    keep_runs: Annotated[int, _num(1, doc="recorded runs kept per repository")] = 20
    keep_days: Annotated[float, _num(above=0, doc="recorded runs older than this are dropped")] = (
        30.0
    )

    @property
    def max_untracked_bytes(self) -> int:
        return int(self.max_untracked_mb * 1024 * 1024)


class Settings(_Section):
    model: str | None = None
    api_base: str | None = None
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    theme: str = "mtl-dark"
    agent: AgentSettings = field(default_factory=AgentSettings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    undo: UndoSettings = field(default_factory=UndoSettings)
    keymap: dict[str, str] = field(default_factory=dict)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists() and not path.is_symlink():
        return {}
    try:
        text = read_text_bounded(path, MAX_CONFIG_FILE, "config file")
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


_WHERE = re.compile(r"^(?P<msg>.*) - at `\$(?P<path>[^`]*)`$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`$", re.S)


def error_key(exc: msgspec.ValidationError) -> tuple[str, str]:
    """msgspec's `Expected `int` >= 1 - at `$.agent.step_limit`` as the dotted key
    (`agent.step_limit`) and the message (`expected `int` >= 1`)."""
    text = str(exc)
    match = _WHERE.match(text)
    msg, key = (match["msg"], match["path"]) if match else (text, "")
    if unknown := _UNKNOWN.match(msg):
        msg, key = "unknown key", f"{key}.{unknown['name']}"
    key = re.sub(r"\[(\d+)\]", r".\1", key).replace("[...]", "").strip(".") or "(top level)"
    return key, msg[:1].lower() + msg[1:]


def _describe(exc: msgspec.ValidationError, path: Path | None) -> str:
    key, msg = error_key(exc)
    where = f"config file {path}" if path else "settings"
    return f"{where}: key '{key}': {msg}"


def load_settings(overrides: dict[str, Any] | None = None, path: Path | None = None) -> Settings:
    """Settings from the config file, then `MTL_*` variables, then explicit overrides.

    `overrides` holds command-line flags; a value of None means "flag not given".
    """
    path = path or paths.config_file()
    data = _read_toml(path)
    try:
        settings = Settings.model_validate(data)
    except msgspec.ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    layered: dict[str, Any] = {}
    for var, key in ENV_OVERRIDES.items():
        if os.environ.get(var):
            layered[key] = os.environ[var]
    layered.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if not layered:
        return settings
    try:
        return Settings.model_validate(settings.model_dump() | layered)
    except msgspec.ValidationError as exc:
        raise ConfigError(_describe(exc, None)) from None


def save_setting(key: str, value: Any, path: Path | None = None) -> None:
    """Persist one dotted key (e.g. `theme`, `memory.top_k`) without touching the others."""
    path = path or paths.config_file()
    data = _read_toml(path)
    node = data
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    try:
        Settings.model_validate(data)
    except msgspec.ValidationError as exc:
        raise ConfigError(_describe(exc, None)) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    tmp.replace(path)
