"""The text a cache file shows the secret scanner, or None when it cannot be read as text.

A UTF-8 file is its own text, scanned with every rule. A `.pyc` written by this interpreter
(its magic number) is unmarshalled and its code objects walked with `dis`: a constant stored
to a name or an attribute, a constant dict's or keyword arguments' values, become
`NAME = 'value'` lines when the name holds a secret's key word, scanned with every rule (so
`DB_PASSWORD = 'Tr0ub4dor&3xQ'` is found as in the source); every string constant is a line
of `strings`, scanned only for the formats that say "secret" by themselves (class names,
model names and docstrings set off the entropy and prose rules: 4 in 10 of a library's pycs).
Anything else (a pyc of another Python, gzip, UTF-16, a keystore, a ruff cache) cannot be
scanned: caches.py does not store it.
"""

from __future__ import annotations

import dis
import importlib.util
import itertools
import marshal
import re
import types
from collections.abc import Iterator
from functools import cache
from typing import NamedTuple

PYC_HEADER = 16  # magic, flags, then mtime and size or a source hash (PEP 552)
_STORES = {"STORE_NAME", "STORE_GLOBAL", "STORE_FAST", "STORE_ATTR", "STORE_DEREF"}
_OBJECT_LOADS = {"LOAD_FAST", "LOAD_NAME", "LOAD_GLOBAL", "LOAD_DEREF"}
_KEYS_FROM_LAST_CONST = {"BUILD_CONST_KEY_MAP", "CALL_KW"}
_NAME_LIKE = re.compile(r"[A-Za-z_]\w{0,80}")


# only names that may hold a secret make assignment lines (`__qualname__ = 'SomeA2AConfig'`
# would set off the entropy rules for nothing)
@cache
def _secret_name() -> re.Pattern[str]:
    from mtl_tui import secret_rules  # the scrubber's rules load when a cache is scanned

    return re.compile(rf"(?i){secret_rules.SECRET_KEY_WORDS}")


class CacheText(NamedTuple):
    text: str  # scanned with every rule
    strings: str = ""  # scanned for self-identifying formats only


def scannable(data: bytes) -> CacheText | None:
    """The text to scan for `data`, a cache file's exact bytes."""
    if data[:4] == importlib.util.MAGIC_NUMBER:
        return pyc_text(data)
    try:
        return CacheText(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None


def pyc_text(data: bytes) -> CacheText | None:
    try:
        code = marshal.loads(data[PYC_HEADER:])
    except Exception:  # a truncated or crafted file: marshal raises several kinds
        return None
    if not isinstance(code, types.CodeType):
        return None
    strings: list[str] = []
    try:
        assignments = list(_code_lines(code, strings))
    except Exception:  # dis on a crafted code object
        return None
    return CacheText("\n".join(assignments), "\n".join(strings))


def _code_lines(code: types.CodeType, strings: list[str]) -> Iterator[str]:
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_lines(const, strings)
        else:
            strings.extend(_strings(const))
    run: list[object] = []  # the values of the LOAD_CONSTs just before this instruction
    held: list[object] = []  # the run before an object's load (`self.password = 'x'`)
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_CONST", "RETURN_CONST"):
            run.append(ins.argval)
            continue
        if ins.opname in ("PRECALL", "CACHE"):
            continue
        if ins.opname in _STORES and (run or held):
            yield from _pairs((ins.argval,), (run or held)[-1:])
        elif ins.opname in _KEYS_FROM_LAST_CONST and run and isinstance(run[-1], tuple):
            keys = run[-1]
            yield from _pairs(keys, run[-1 - len(keys) : -1])
        elif ins.opname == "KW_NAMES":
            keys = ins.argval if isinstance(ins.argval, tuple) else code.co_consts[ins.arg]
            yield from _pairs(keys, run[-len(keys) :])
            continue  # the CALL that follows takes the same run
        if len(run) >= 2:  # os.environ.setdefault("API_TOKEN", "value"): a name then a value
            yield from (
                f"{a} = {b!r}"
                for a, b in itertools.pairwise(run)
                if isinstance(a, str)
                and isinstance(b, str)
                and _NAME_LIKE.fullmatch(a)
                and _secret_name().search(a)
            )
        held = run if ins.opname in _OBJECT_LOADS else []
        run = []


def _pairs(keys: tuple[object, ...], values: list[object]) -> Iterator[str]:
    if len(values) != len(keys):
        return
    for key, value in zip(keys, values, strict=True):
        if isinstance(key, str) and isinstance(value, (str, bytes)) and _secret_name().search(key):
            yield f"{key} = {_text(value)!r}"


def _strings(const: object) -> Iterator[str]:
    if isinstance(const, (str, bytes)):
        yield _text(const)
    elif isinstance(const, (tuple, frozenset)):
        for item in const:
            yield from _strings(item)


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "backslashreplace")
