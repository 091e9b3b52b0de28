"""Other readings of a text for secret detection: what an encoding, a look-alike character or
a line-wrap hides from the rules. A secret found in a reading is redacted in the original
text, over the original characters it came from.

- decoded: terminal colour codes dropped, JSON/C string escapes (`\\/`, `\\"`, `\\n`,
  `\\u0041`, `\\x41`), URL percent-encoding (twice, for double encoding) and HTML
  character references;
- folded: compatibility forms and look-alike letters taken to the ASCII letter they pass
  for (NFKD with combining marks dropped, then Unicode's confusables data as shipped by
  confusable-homoglyphs), so that `ghр_` with a Cyrillic `р` or a full-width `ｇｈｐ_` reads
  as `ghp_`;
- joined: a run of token characters broken by a newline (a wrapped key or base64 body,
  a `\\` continuation, adjacent string literals) read as one run.

A finding counts only where the reading made the difference: it crosses a joined break, or
it is on a line where decoding or folding changed something. So a joined view cannot turn
two ordinary words into a "token" unless the token crosses the break.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

_TOKEN_CHAR = r"A-Za-z0-9+/=_\-.~"
_TOKEN_SET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-.~")

_ESCAPE = re.compile(r'\\(?:u(?P<u>[0-9a-fA-F]{4})|x(?P<x>[0-9a-fA-F]{2})|(?P<c>["\\/bfnrt\']))')
_ESCAPED = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_PERCENT = re.compile(r"%(?P<h>[2-7][0-9a-fA-F])")
# Numeric references work without their `;` in browsers (`&#103&#104`); named ones need it.
_ENTITY = re.compile(r"&(?:#(?P<d>\d{2,5});?|#[xX](?P<x>[0-9a-fA-F]{2,4});?|(?P<n>[a-zA-Z]{2,6});)")
_NAMED = {
    "amp": "&", "quot": '"', "apos": "'", "lt": "<", "gt": ">", "colon": ":", "sol": "/",
    "commat": "@", "equals": "=", "percnt": "%", "num": "#", "plus": "+", "lowbar": "_",
}  # fmt: skip
# A break inside a token: token character, an optional closing quote and `+` or `\`
# (adjacent literals, shell continuation), the newline, indentation, an optional `+` and
# opening quote, and a token character again.
_BREAK_BODY = r"(?:[\"']?[ \t]*\+?[ \t]*)?\\?[ \t]*\r?\n[ \t]*\+?[ \t]*[\"']?"
_BREAK = re.compile(rf"(?<=[{_TOKEN_CHAR}]){_BREAK_BODY}(?=[{_TOKEN_CHAR}])")
# Other line breaks (a lone CR, form feed, vertical tab, NEL, U+2028/2029) read as newlines.
_OTHER_BREAK = re.compile("\r(?!\n)|[\f\v\x85\u2028\u2029]")
# Adjacent string literals on one line: `"ghp_abc" "def"`, `'a' + 'b'`.
_LITERAL_BREAK = re.compile(rf"(?<=[{_TOKEN_CHAR}])([\"'])[ \t]*\+?[ \t]*\1(?=[{_TOKEN_CHAR}])")
_RUN_BEFORE = re.compile(rf"[{_TOKEN_CHAR}]*$")
_RUN_AFTER = re.compile(rf"[{_TOKEN_CHAR}]*")
# Together, the runs on both sides of a break are at least this long: shorter ones are
# words on two lines, not a wrapped secret.
_JOIN_MIN = 20


@dataclass
class Reading:
    """`text` with, for each of its characters, the range of the original it came from."""

    text: str
    starts: list[int]
    ends: list[int]
    changed: list[int] = field(default_factory=list)  # positions decoding or folding changed
    joins: list[int] = field(default_factory=list)  # positions right after a joined break

    @classmethod
    def of(cls, text: str) -> Reading:
        return cls(text, list(range(len(text))), list(range(1, len(text) + 1)))

    def original(self, start: int, end: int) -> tuple[int, int]:
        return self.starts[start], self.ends[end - 1]

    def counts(self, start: int, end: int) -> bool:
        """Did this reading make the difference for a finding at [start, end)?"""
        i = bisect_left(self.joins, start + 1)
        if i < len(self.joins) and self.joins[i] < end:
            return True
        if not self.changed:
            return False
        line_start = self.text.rfind("\n", 0, start) + 1
        line_end = self.text.find("\n", end)
        line_end = len(self.text) if line_end < 0 else line_end
        i = bisect_left(self.changed, line_start)
        return i < len(self.changed) and self.changed[i] < line_end


def _rewrite(
    reading: Reading,
    pattern: re.Pattern[str],
    replace: Callable[[re.Match[str]], str | None],
    join: bool = False,
) -> Reading:
    """`reading` with each match of `pattern` replaced by `replace(match)` (kept when it
    returns None). Replacement characters map to the whole original range of the match."""
    text, starts, ends = reading.text, reading.starts, reading.ends
    pieces: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    changed: list[int] = []
    joins: list[int] = []
    size = last = 0

    def keep(a: int, b: int) -> None:
        nonlocal size
        pieces.append(text[a:b])
        new_starts.extend(starts[a:b])
        new_ends.extend(ends[a:b])
        for old, new in ((reading.changed, changed), (reading.joins, joins)):
            first, stop = bisect_left(old, a), bisect_left(old, b)
            new.extend(p - a + size for p in old[first:stop])
        size += b - a

    for match in pattern.finditer(text):
        a, b = match.span()
        replacement = replace(match)
        if replacement is None or a == b:
            continue
        keep(last, a)
        if join:
            joins.append(size)
        pieces.append(replacement)
        changed.extend(range(size, size + len(replacement)) if replacement else [size])
        new_starts.extend([starts[a]] * len(replacement))
        new_ends.extend([ends[b - 1]] * len(replacement))
        size += len(replacement)
        last = b
    if not pieces:
        return reading
    keep(last, len(text))
    return Reading("".join(pieces), new_starts, new_ends, changed, joins)


def _unescape(match: re.Match[str]) -> str | None:
    if match.group("u"):
        return chr(int(match.group("u"), 16))
    if match.group("x"):
        return chr(int(match.group("x"), 16))
    char = match.group("c")
    return _ESCAPED.get(char, char)


def _unpercent(match: re.Match[str]) -> str | None:
    return chr(int(match.group("h"), 16))


def _unentity(match: re.Match[str]) -> str | None:
    if match.group("n"):
        return _NAMED.get(match.group("n").lower())
    code = int(match.group("d")) if match.group("d") else int(match.group("x"), 16)
    return chr(code) if 0x20 <= code < 0x110000 and not 0xD800 <= code < 0xE000 else None


@cache
def _confusable_ascii() -> dict[str, str]:
    """Each non-ASCII character that Unicode's confusables data lists as looking like an
    ASCII letter or digit, with that character (a letter of the same case preferred)."""
    from confusable_homoglyphs.confusables import confusables_data

    table: dict[str, str] = {}
    for char, glyphs in confusables_data.items():
        group = {char, *(g["c"] for g in glyphs)}
        ascii_ = sorted(c for c in group if len(c) == 1 and c.isascii() and c.isalnum())
        if not ascii_:
            continue
        for other in group:
            if len(other) != 1 or other.isascii():
                continue
            same_case = [c for c in ascii_ if c.isalpha() and c.isupper() == other.isupper()]
            letters = [c for c in ascii_ if c.isalpha()]
            table.setdefault(other, (same_case or letters or ascii_)[0])
    return table


@cache
def fold_char(char: str) -> str:
    """What a non-ASCII character passes for: its compatibility decomposition without
    combining marks, each remaining character taken to its ASCII look-alike if it has one."""
    if unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return ""  # a combining mark or format character inside a token hides it
    decomposed = unicodedata.normalize("NFKD", char)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c)) or char
    table = _confusable_ascii()
    return "".join(c if c.isascii() else table.get(c, c) for c in kept)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _fold(match: re.Match[str]) -> str | None:
    folded = fold_char(match.group(0))
    return None if folded == match.group(0) else folded


_HEREDOC = re.compile(r"<<-?[ \t]*[\"']?(\w+)")


def _join_break(match: re.Match[str]) -> str | None:
    text = match.string
    before = _RUN_BEFORE.search(text, max(0, match.start() - _JOIN_MIN), match.start())
    after = _RUN_AFTER.match(text, match.end())
    size = (before.end() - before.start() if before else 0) + (after.end() - after.start())
    if size < _JOIN_MIN:
        return None
    if "<<" in text and after.group(0) in _HEREDOC.findall(text, 0, match.start()):
        return None  # the end of a here-document, not the rest of a token
    return ""


# A chain of joined lines stops at this size: longer is a column of tokens (`git log
# --format=%H`, a hex dump), not one wrapped secret, and one giant run would make the
# rules' work grow with its square.
_JOIN_MAX = 1024


class _Joiner:
    """`_join_break` that keeps each chain of joined lines under _JOIN_MAX characters."""

    def __init__(self) -> None:
        self.chain_end = -1  # where the run after the last joined break starts
        self.chain = 0

    def __call__(self, match: re.Match[str]) -> str | None:
        if _join_break(match) is None:
            return None
        text, start = match.string, match.start()
        if self.chain_end >= 0 and _RUN_AFTER.match(text, self.chain_end).end() == start:
            self.chain += start - self.chain_end
        else:
            self.chain = len(_RUN_BEFORE.search(text, max(0, start - _JOIN_MIN), start).group(0))
        if self.chain >= _JOIN_MAX:
            self.chain_end = -1
            return None
        self.chain_end = match.end()
        return ""


def _has_join(text: str) -> bool:
    """Is any newline of `text` a break to join? Each newline is found by str.find and
    looked at in a small window (a scan of the whole text for breaks costs more)."""
    newline = text.find("\n")
    while newline != -1:
        start = newline
        while start > 0 and newline - start < 8 and text[start - 1] in " \t\r\\+\"'":
            start -= 1
        if start > 0 and text[start - 1] in _TOKEN_SET:
            match = _BREAK.match(text, start)
            if match and _join_break(match) is not None:
                return True
        newline = text.find("\n", newline + 1)
    return False


def _has_literal_join(text: str) -> bool:
    return any(_join_break(match) is not None for match in _LITERAL_BREAK.finditer(text))


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def reading(text: str) -> Reading | None:
    """The text as the rules should also see it, or None when it reads the same."""
    decodes = not text.isascii() or any(c in text for c in "\\%&\x1b\r\f\v")
    literals = ('"' in text or "'" in text) and _has_literal_join(text)
    if not decodes and not literals and ("\n" not in text or not _has_join(text)):
        return None
    view = Reading.of(text)
    if _OTHER_BREAK.search(text):
        view = _rewrite(view, _OTHER_BREAK, lambda match: "\n")
    if "\x1b" in text:  # terminal colours (grep --color) split a key from its value
        view = _rewrite(view, _ANSI, lambda match: "")
    if "\\" in text:
        view = _rewrite(view, _ESCAPE, _unescape)
    if "%" in view.text:
        view = _rewrite(view, _PERCENT, _unpercent)
        if "%" in view.text:
            view = _rewrite(view, _PERCENT, _unpercent)
    if "&" in view.text and (";" in view.text or "&#" in view.text):
        view = _rewrite(view, _ENTITY, _unentity)
    if not view.text.isascii():
        view = _rewrite(view, _NON_ASCII, _fold)
    if "\n" in view.text:
        view = _rewrite(view, _BREAK, _Joiner(), join=True)
    if literals:
        view = _rewrite(view, _LITERAL_BREAK, _Joiner(), join=True)
    return None if view.text == text and not view.joins else view
