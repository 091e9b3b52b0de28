"""The one scrubbing boundary: secrets and absolute paths leave text before it is stored
in the pool, written to a pack or a trajectory, or printed in an error.

Detection: detect-secrets' provider patterns and its Shannon entropy, plus the formats in
secret_rules.py (provider token prefixes, private-key blocks, credentials in URLs, flags
and config lines, high-entropy values). Text with nothing secret-like in it (most prose)
is let through after one cheap regex search.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import cache, lru_cache
from typing import Any

from mtl_tui.errors import MtlError


class _Lazy:
    """secret_rules compiles a few hundred patterns when imported (secret_views a few more):
    that happens the first time some text needs them, not in every command that merely
    imports this module. Each name is looked up once, then kept on the instance."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        import importlib

        value = getattr(importlib.import_module(self._module), name)
        setattr(self, name, value)
        return value


rules: Any = _Lazy("mtl_tui.secret_rules")
views: Any = _Lazy("mtl_tui.secret_views")

REDACTED = "[REDACTED]"


class ScrubError(MtlError):
    """A text or value the boundary could not scrub completely: nothing is written."""


# Whatever any rule needs, at least one of these is in the text: a secret-sounding word, a
# URL, a command-line flag, a tool with a password flag of its own, a key block, or a long
# run of characters. Plain substring tests and str.split run in C: most prose is let
# through in microseconds (faster than one regex of alternatives).
_TRIGGERS = (
    "pass", "pwd", "secret", "token", "key", "auth", "cred", "bearer", "basic", "salt",
    "dsn", "cookie", "sig=", "://", "-----begin", "private-", " -p", " -u", " -a", " -k",
    " -w", " -n", "-user", "/user:", "login", "identified", "hooks.", "webhook", "redis-cli",
    "openssl", "sudo", "@tcp(", "@unix(", "@udp(",
    "user", "log in", "log-in", "sign in", "sign-in", "signed in", "account",  # prose pairs
    "kennwort", "contrase", "senha", "wachtwoord", "hasło", "haslo", "zugangsdaten",
    "nutzer", "utilisateur", "identifiant", "usuario", "usuário",  # other languages
    "пароль", "密码", "密碼", "パスワード", "heslo", "lösenord", "şifre", "sifre",
)  # fmt: skip
_LONG_WORD = 16


def _candidate(text: str) -> bool:
    lowered = text.lower()
    if any(trigger in lowered for trigger in _TRIGGERS):
        return True
    return max(map(len, text.split()), default=0) >= _LONG_WORD


# Entropy (bits per character) above which a long value is taken for a random secret.
# Tuned on tests/data/secrets/*-tune.* only (see tests/bench_scrub.py).
ENTROPY_ASSIGNED = 3.5  # `name = value`, value of 16+ characters
ENTROPY_BARE = 4.0  # a token standing alone in text, 24+ characters


def _entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


@cache
def _detect_secrets_patterns() -> list[re.Pattern[str]]:
    """The provider patterns of detect-secrets' regex plugins (not its keyword, entropy
    and IP plugins: those are slower or noisier than the rules here)."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector

    skip = {"KeywordDetector", "IPPublicDetector"}
    patterns: list[re.Pattern[str]] = []
    for plugin in get_mapping_from_secret_type_to_class().values():
        if issubclass(plugin, RegexBasedDetector) and plugin.__name__ not in skip:
            patterns.extend(plugin.denylist)
    return patterns


@cache
def _own_patterns() -> list[re.Pattern[str]]:
    return [
        *rules.STRUCTURED,
        re.compile(rules.prefix_pattern()),
        rules.URL_CREDENTIALS,
        rules.AUTH_HEADER,
        rules.BEARER,
    ]


def _span(match: re.Match[str]) -> tuple[int, int]:
    if "s" in match.re.groupindex and match.group("s") is not None:
        return match.span("s")
    start, end = match.span()
    text = match.group(0)
    if text.startswith("://") and text.endswith("@"):
        # detect-secrets' URL rule takes `://user:pass@`: only the userinfo goes, so the
        # URL keeps its shape (`http://[REDACTED]@host`), as rules.URL_CREDENTIALS does
        return start + 3, end - 1
    if match.lastindex:  # detect-secrets: `aws_secret_access_key = "(value)"` keeps its name
        widest = max(range(1, match.lastindex + 1), key=lambda g: len(match.group(g) or ""))
        g_start, g_end = match.span(widest)
        if g_end - g_start >= 16 and end - g_end <= 2:
            return g_start, g_end
    # detect-secrets patterns may take a delimiter on either side
    stripped = text.strip(" \t\n=:\"'")
    if stripped and stripped != text:
        start += text.index(stripped)
        end = start + len(stripped)
    return start, end


def _plain(segment: str) -> bool:
    """A path segment or file name: one case (or Capitalised), as people name things."""
    letters = re.sub(r"[^A-Za-z]", "", segment)
    return letters == letters.lower() or letters == letters.capitalize()


def _path_like(value: str) -> bool:
    """`/tmp/run-20261122/x.traj.json`, `src/app/main.py`, `a-b.c.json`: names people make.
    Random tokens in base64 carry mixed case in their segments."""
    if "/" in value or "\\" in value:
        segments = [s for s in re.split(r"[/\\]", value) if s]
        return len(segments) >= 2 and all(_plain(s) for s in segments)
    return bool(re.search(r"\.[a-z][a-z0-9]{0,5}$", value)) and _plain(value)


# A name people write: lower or Capitalised words of 2+ letters, short acronyms, numbers,
# one letter before a number (v2, L6). Random base64 breaks this within a few characters.
_NAME_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_NAME_SEPARATORS = re.compile(r"[/\\.\-_:@+]+")


def _name_piece(piece: str) -> bool:
    words = _NAME_WORD.findall(piece)
    if "".join(words) != piece:
        return False
    for i, word in enumerate(words):
        lower = word.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        followed_by_number = i + 1 < len(words) and words[i + 1].isdigit()
        if word.isdigit():
            if len(word) > 4:
                return False
        elif word.isupper():
            if len(word) > 5 and not (len(words) == 1 and len(word) <= 10):
                return False
            if len(word) == 1 and not followed_by_number and i + 1 < len(words):
                return False  # a lone capital between words: XyZ
        elif len(lower) < 2 and not followed_by_number:
            return False
    return True


def _name_like(value: str) -> bool:
    """`src/components/UserProfileCard.tsx`, `all-MiniLM-L6-v2`, `org.apache.StringUtils`,
    `0.4.18-python3.12-bookworm`: CamelCase and dotted names, not random characters."""
    pieces = [p for p in _NAME_SEPARATORS.split(value) if p]
    return len(pieces) >= 2 and all(_name_piece(p) for p in pieces)


def _looks_random(value: str, threshold: float, min_len: int, mixed_case: bool = False) -> bool:
    core = value.strip("=.-_~")
    if len(core) < min_len or rules.UUID_ONLY.match(core) or rules.HEX_ONLY.match(core):
        return False
    if _path_like(core) or _name_like(core):
        return False
    classes = sum(bool(re.search(p, core)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[+/_\-=.~]"))
    if classes < 3 and not re.search(r"\d", core):
        return False  # words_joined_like_this, CamelCaseNames
    if mixed_case and not (re.search(r"[a-z]", core) and re.search(r"[A-Z]", core)):
        return False  # a bare lower-case run: names and ids, not base62/base64 secrets
    if re.fullmatch(r"[A-Za-z]+(?:[_.\-][A-Za-z]+)*\d{0,4}", core):
        return False  # an identifier or a dotted name
    return _entropy(core) >= threshold


def _is_basic_credential(value: str) -> bool:
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


def _plausible(value: str, text: str, end: int) -> bool:
    """Could `value`, given for a credential and ending at `end`, be one? Not when it is
    empty-ish, a placeholder, a lookup or call, or a word in a sentence."""
    quoted = value[:1] in "\"'`"
    bare = value.strip("\"'` ")
    if len(bare) < 4 or bare.lower() in rules.NOT_SECRET_VALUES:
        return False
    if rules.INDIRECT_VALUE.match(bare):
        return False
    prose = rules.PROSE_AFTER.match(text, end)
    return quoted or not (bare.isalpha() and bare.islower() and prose)  # "password: never do"


_VERSION = re.compile(r"v?\d+(?:\.\d+)+")
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_PICKED_MARK = re.compile(r"\d|[!@#$%^&*+=~?]|[a-z][A-Z]")


def _picked_password(value: str) -> bool:
    """After a user name in prose: a value someone picked as a password (a digit, a
    symbol or a case change in it), not a word of the sentence, a path, a version, an
    address or a placeholder: "hunter2" is, "policy", "root" and "v1.2" are not."""
    if value.lower() in rules.NOT_SECRET_VALUES or rules.INDIRECT_VALUE.match(value):
        return False
    if _path_like(value) or _VERSION.fullmatch(value) or _EMAIL.fullmatch(value):
        return False
    return bool(_PICKED_MARK.search(value))


def _credential_pair(match: re.Match[str]) -> bool:
    """A prose pair that names an account, not two nouns or a verb: "user input / Output2",
    "pass --force2 to overwrite" and "login time / 2.5s" are prose."""
    value = match.group("s")
    if rules.FIGURE_VALUE.fullmatch(value):
        return False
    if (
        match.group("pw")
        and match.group("pw").lower() == "pass"
        and not match.group("pwsep").strip()
    ):
        return not rules.PASS_VERB_VALUE.match(value)
    bare = match.group("slash") and not match.group("lead").strip()
    if bare and rules.PAIR_BARE_WORD.fullmatch(match.group("word")):
        user = match.group("user")
        return user.lower() in rules.ACCOUNT_NAMES or bool(re.search(r"[\d_.@\-]", user))
    return True


def _quoted_password(match: re.Match[str]) -> bool:
    """`password='x y'`, `password is "hunter2"`: any value not a placeholder; after a bare
    blank (`the password "reset" link`) only one that looks picked."""
    value = match.group("s")[1:-1]
    if not value.strip() or value.strip().lower() in rules.NOT_SECRET_VALUES:
        return False
    if rules.INDIRECT_VALUE.match(value.strip()):
        return False
    if match.group("sep").strip():
        return True
    return all(_picked_password(word) for word in value.split())


_TRAILING_MARKS = re.compile(r"[.!?]+(?=\s|$)")


def _with_trailing_marks(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """A prose password's `!`/`?`/`.` at the end of the sentence go with it: they may be its
    last characters (`Winter2024!`); judged without them, so "hunter." is not "picked"."""
    mark = _TRAILING_MARKS.match(text, span[1])
    return (span[0], mark.end()) if mark else span


_DIRECTORY_WORDS = {"home", "etc", "var", "usr", "bin", "tmp", "opt", "src", "lib", "srv", "root"}


def _directory_word(value: str) -> bool:
    """After `user/`: a file name, a plural noun or a usual directory, not a password."""
    word = value.lower()
    plural = value.isalpha() and value.islower() and len(value) >= 4 and word.endswith("s")
    named = bool(re.fullmatch(r"[A-Za-z][\w\-]*\.[a-z]{1,5}|[A-Z]{3,}", value))  # README.md
    return plural or named or word in _DIRECTORY_WORDS or _path_like(value)


def _password_word_spans(text: str) -> Iterable[tuple[int, int]]:
    """Prose around a password word (F5 of the round 4 review): a quoted value, the value
    before "for user Y", after "password for user Y is", and `creds: user/password`."""
    for match in rules.QUOTED_PASSWORD.finditer(text):
        if _quoted_password(match):
            yield match.span("s")
    for pattern in (rules.REVERSED_PAIR, rules.PASSWORD_FOR_USER):
        for match in pattern.finditer(text):
            if _picked_password(match.group("s")):
                yield _with_trailing_marks(text, match.span("s"))
    for match in rules.CREDS_SLASH.finditer(text):
        value, user = match.group("s"), match.group("user")
        if _directory_word(value):
            continue  # `Credentials: admin/users`, `creds: root/home`: a path, not a pair
        if _picked_password(value) or (
            user.lower() in rules.ACCOUNT_NAMES
            and value.lower() not in rules.NOT_SECRET_VALUES
            and not rules.INDIRECT_VALUE.match(value)
        ):
            yield match.span("s")


def _cli_spans(text: str) -> Iterable[tuple[int, int]]:
    lowered = text.lower()
    for pattern in (*rules.CLI_PATTERNS, *rules.COMMAND_PATTERNS):
        literal = _gate(pattern)
        if literal and literal not in (lowered if pattern.flags & re.IGNORECASE else text):
            continue
        for match in pattern.finditer(text):
            if _plausible(match.group("s"), text, match.end()):
                yield match.span("s")
    for match in rules.XML_ELEMENT.finditer(text):
        if _plausible(match.group("s"), text, match.end()):
            yield match.span("s")
    for match in rules.NAMED_VALUE.finditer(text):
        value = match.group("s")
        if _plausible(match.group("q") + value, text, match.end()) and not (
            rules.NOT_SECRET_KEY_SUFFIX.search(match.group("key"))
        ):
            yield match.span("s")
    for pattern in (rules.PROSE_PASSWORD, rules.GO_DSN):
        for match in pattern.finditer(text):
            if _looks_random(match.group("s"), 3.0, 8, mixed_case=True):
                yield match.span("s")
    if any(word in lowered for word in rules.PAIR_WORDS):
        for match in rules.PROSE_PAIR.finditer(text):
            if _picked_password(match.group("s")) and _credential_pair(match):
                yield _with_trailing_marks(text, match.span("s"))
    if any(word in lowered for word in rules.PASSWORD_WORDS):
        yield from _password_word_spans(text)
    for match in rules.USER_FLAG.finditer(text):
        user, password = match.group("user"), match.group("pw")
        if user.isdigit() and password.isdigit():
            continue  # -u 1000:1000, a uid and gid
        line = text[text.rfind("\n", 0, match.start()) + 1 : match.start()]
        if rules.USER_GROUP_COMMAND.search(line):
            continue  # docker run -u app:staff: a user and a group
        if _plausible(password, text, match.end()):
            yield match.span("s")
    for match in rules.PGPASS.finditer(text):
        line = match.group(0)
        if not re.fullmatch(r"[0-9A-Fa-f:]+", line) and _plausible(match.group("s"), text, 0):
            yield match.span("s")


_YAML_KEY = re.compile(r"[\w.\-]+:")
_NUMERIC_SECRET_KEY = re.compile(r"(?i)pass|pwd|pin|secret|otp|code")


def _in_userinfo(
    span: tuple[int, int], userinfo: list[tuple[int, int]], text: str
) -> tuple[int, int]:
    """`https://x-access-token:ghs_…@github.com/o/r`: a value found inside a URL's userinfo
    ends at its `@` (the last one of the authority, rules.URL_CREDENTIALS); the host and
    path after it are not the secret."""
    start, end = span
    for u_start, u_end in userinfo:
        if u_start <= start < u_end < end:
            return start, u_end
    return span


def _assignment_spans(text: str) -> Iterable[tuple[int, int]]:
    userinfo = [m.span("s") for m in rules.URL_CREDENTIALS.finditer(text)] if "://" in text else []
    for match in rules.ASSIGNMENT.finditer(text):
        key, value = match.group("key"), match.group("s")
        bare = value.strip()
        between = text[match.end("key") : match.start("s")]
        if key.startswith("$") and "=" not in between:
            continue  # "$PWD:/src": a lookup followed by a colon (PHP's `$password =` counts)
        if not any(c in between for c in "=:") and bare.rstrip(".,;:!?").isalpha():
            continue  # "no token is configured.": a word in a sentence
        if not _plausible(match.group("q") + value, text, match.end()):
            continue
        if not match.group("q") and _YAML_KEY.fullmatch(bare):
            continue  # `secretKeyRef:` then `name: db-creds`: the next key, not a value
        if bare.isdigit() and len(bare) <= 12 and not _NUMERIC_SECRET_KEY.search(key):
            continue  # max_tokens = 4096, tokens: 1234
        strong = rules.STRONG_KEY.search(key) and not (
            rules.NOT_SECRET_KEY_SUFFIX.search(key) and not key.lower().endswith("_url")
        )
        keyish = key.lower().endswith("key") and (
            (rules.HEX_ONLY.match(bare) and len(bare) >= 20) or rules.UUID_ONLY.match(bare)
        )
        if not strong and not (
            keyish or _looks_random(bare, ENTROPY_ASSIGNED, 8) or _is_basic_credential(bare)
        ):
            continue
        yield _in_userinfo(match.span("s"), userinfo, text)


_PRINTABLE = re.compile(r"[\x20-\x7e\t\r\n]+")
_USER_PASSWORD = re.compile(r"[\x21-\x39\x3b-\x7e]{1,64}:[\x20-\x7e]{4,}")


def _decoded_runs(text: str) -> Iterator[tuple[re.Match[str], str]]:
    """Base64 and hex runs of `text` with the text they decode to (UTF-8 only)."""
    for match in rules.BASE64_RUN.finditer(text):
        value = match.group("s")
        if len(value) % 4 == 1:
            continue
        try:
            raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
            yield match, raw.decode("utf-8")
        except (binascii.Error, ValueError):
            continue
    for match in rules.HEX_RUN.finditer(text):
        try:
            yield match, bytes.fromhex(match.group("s")).decode("utf-8")
        except ValueError:
            continue


def _base64_spans(text: str, depth: int) -> Iterable[tuple[int, int]]:
    """Base64 (or hex) runs that decode to text holding a secret: `user:password` (a Basic
    credential without its header), a config or key file, a Docker auths object."""
    for match, decoded in _decoded_runs(text):
        if len(decoded) < 6 or not _PRINTABLE.fullmatch(decoded):
            continue
        if _USER_PASSWORD.fullmatch(decoded) or (
            depth < 2 and _candidate(decoded) and _find(decoded, depth + 1)
        ):
            yield match.span("s")


def _after_scheme(text: str, match: re.Match[str]) -> tuple[int, int]:
    """The span of `s`, less a URL's `//` when the token follows `scheme:` (`https://tok@h`
    keeps its shape as `https://[REDACTED]@h`; the token itself still goes)."""
    start, end = match.span("s")
    if text.startswith("//", start) and text[start - 1 : start] == ":":
        start += 2
    return start, end


def _entropy_spans(text: str) -> Iterable[tuple[int, int]]:
    for match in rules.ANY_ASSIGNMENT.finditer(text):
        if _looks_random(match.group("s"), ENTROPY_ASSIGNED, 16):
            yield _after_scheme(text, match)
    for match in rules.BARE_TOKEN.finditer(text):
        if _looks_random(match.group("s"), ENTROPY_BARE, 24, mixed_case=True):
            yield _after_scheme(text, match)
    for match in rules.BASIC.finditer(text):
        if _is_basic_credential(match.group("s")):
            yield match.span("s")


def _required_literal(pattern: re.Pattern[str]) -> str:
    """The longest run of literal characters every match of `pattern` holds ("" when it
    has none), read from the parsed pattern: a pattern is scanned only in texts holding
    it, as most of the few hundred provider patterns have a fixed prefix or infix."""
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    best = ""

    def walk(items: Any) -> None:
        nonlocal best
        run = ""
        for op, arg in items:
            if op is c.LITERAL:
                run += chr(arg)
                continue
            best = max(best, run, key=len)
            run = ""
            if op is c.SUBPATTERN and not arg[1] and not arg[2]:  # no local (?i:…) flags
                walk(arg[-1])
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and arg[0] >= 1:
                walk(arg[2])
            elif op not in (c.AT, c.ASSERT, c.ASSERT_NOT):
                continue
        best = max(best, run, key=len)

    try:
        walk(_parser.parse(pattern.pattern, pattern.flags))
    except Exception:  # an internal module changed: no gate, every text is scanned
        return ""
    return best.lower() if pattern.flags & re.IGNORECASE else best


@cache
def _gate(pattern: re.Pattern[str]) -> str:
    return _required_literal(pattern)


@cache
def _gated_patterns() -> list[tuple[str, bool, re.Pattern[str]]]:
    return [
        (_gate(p), bool(p.flags & re.IGNORECASE), p)
        for p in (*_own_patterns(), *_detect_secrets_patterns())
    ]


def _find(text: str, depth: int = 0) -> list[tuple[int, int]]:
    """Where the rules find secrets in `text` as it reads (unmerged)."""
    spans: list[tuple[int, int]] = []
    lowered = text.lower()
    for literal, folded, pattern in _gated_patterns():
        if literal and literal not in (lowered if folded else text):
            continue
        spans.extend(_span(m) for m in pattern.finditer(text))
    spans.extend(_cli_spans(text))
    spans.extend(_assignment_spans(text))
    spans.extend(_entropy_spans(text))
    spans.extend(_base64_spans(text, depth))
    return spans


def secret_spans(text: str, reading: views.Reading | None = None) -> list[tuple[int, int]]:
    """Where the secrets in `text` are, merged and in order: as it reads, and as it reads
    decoded, with look-alike characters folded and wrapped lines joined (secret_views)."""
    spans = _find(text)
    reading = reading or views.reading(text)
    if reading is not None:
        spans += [
            reading.original(start, end)
            for start, end in _find(reading.text)
            if end > start and reading.counts(start, end)
        ]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _redact(text: str, spans: list[tuple[int, int]]) -> str:
    out, last = [], 0
    for start, end in spans:
        if text.startswith(REDACTED[-1], end) and text[start:end].endswith(REDACTED[:-1]):
            end += 1  # `admin/[REDACTED` then `]`: the marker goes whole, no stray `]`
        piece = text[start:end]
        if piece.strip("\"'").startswith(REDACTED[:-1]) or piece in REDACTED:
            continue  # already redacted (an earlier pass)
        quote = piece[0] if piece[:1] in "\"'" and piece[-1:] == piece[:1] else ""
        out += [text[last:start], f"{quote}{REDACTED}{quote}"]
        last = end
    out.append(text[last:])
    return "".join(out)


# Invisible characters inside a token would hide it from every pattern; lessons need none.
# They are told by Unicode category, not by a list: every format character (Cf: zero-width
# and bidi controls, tag characters, the Arabic letter mark, soft hyphen), variation
# selectors (Mn, FE00-FE0F and E0100-E01EF, Mongolian ones) and the blank "fillers" that
# print as nothing (Hangul fillers, the combining grapheme joiner, Khmer inherent vowels,
# the braille blank).
_BLANK_NON_FORMAT = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x2800, 0x3164,
     0xFFA0, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]
)  # fmt: skip


class _InvisibleTable(dict[int, int | None]):
    """A str.translate table deleting invisible characters, filled as characters come."""

    def __missing__(self, code: int) -> int | None:
        gone = code in _BLANK_NON_FORMAT or unicodedata.category(chr(code)) == "Cf"
        self[code] = None if gone else code
        return self[code]


_INVISIBLE = _InvisibleTable()


def strip_invisible(text: str) -> str:
    return text if text.isascii() else text.translate(_INVISIBLE)


def has_invisible(text: str) -> bool:
    return not text.isascii() and len(strip_invisible(text)) != len(text)


# A redaction can expose a new match next to it (a key block inside a URL), so scrubbing
# runs until nothing changes (twice in practice); a text still changing after this many
# passes is refused rather than stored half-scrubbed.
_PASSES = 8


# Short texts (tags, languages, model and repository names, titles) come back again and
# again on an import: their results are kept.
_CACHED_UP_TO = 300


def scrub_secrets(text: str) -> str:
    if len(text) <= _CACHED_UP_TO:
        return _scrub_short(text)
    return _scrub_secrets(text)


@lru_cache(maxsize=16384)
def _scrub_short(text: str) -> str:
    return _scrub_secrets(text)


# Scanning time grows with the size of a text (every pattern is linear); past this size
# a single text would take minutes, and is refused rather than stored unscanned. An agent's
# output is cut at 10,000 characters; a pack exported as agents-md is one text.
MAX_SCAN = 5_000_000


def _scrub_secrets(text: str) -> str:
    if len(text) > MAX_SCAN:
        raise ScrubError(
            f"cannot scan a text of {len(text):,} characters for secrets (at most "
            f"{MAX_SCAN:,} in one text); nothing was written"
        )
    text = strip_invisible(text)
    reading = views.reading(text)
    if not _candidate(text) and not (reading and _candidate(reading.text)):
        return text  # nothing secret-like, as it reads or decoded
    for _ in range(_PASSES):
        cleaned = _redact(text, secret_spans(text, reading))
        if cleaned == text:
            return text
        text = cleaned
        reading = views.reading(text)
    raise ScrubError(f"could not scrub a text of {len(text):,} characters: it kept changing")


def holds_secret(text: str, tokens_only: bool = False) -> bool:
    """Whether the boundary's detector finds a secret in `text` (for bytes that cannot be
    scrubbed, only kept or refused whole: undo's copies of tool caches). `tokens_only`:
    only the formats that say "secret" by themselves (provider tokens, key blocks,
    credentials in URLs, auth headers), for the printable runs of a binary file, where
    entropy and prose rules mostly find noise."""
    if len(text) > MAX_SCAN:  # in pieces that overlap by more than a token's length
        step = MAX_SCAN - 1_000
        return any(
            holds_secret(text[i : i + MAX_SCAN], tokens_only) for i in range(0, len(text), step)
        )
    if tokens_only:
        lowered = text.lower()
        return any(
            pattern.search(text)
            for literal, folded, pattern in _gated_patterns()
            if not literal or literal in (lowered if folded else text)
        )
    text = strip_invisible(text)
    reading = views.reading(text)
    if not _candidate(text) and not (reading and _candidate(reading.text)):
        return False
    return bool(secret_spans(text, reading))


def safe_message(text: str) -> str:
    """`text` with its secrets scrubbed, for an error message or a log line; when it cannot
    be scrubbed, it is withheld rather than printed as it is."""
    try:
        return scrub_secrets(text)
    except Exception:  # an error path must not raise a second error
        return "(details withheld: they could not be scrubbed)"


def describe_exception(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {safe_message(str(exc))}"


# -- absolute paths -------------------------------------------------------------------------

_HOME = re.compile(
    r"(?:/home/|/Users/)[^/\s'\"`(){}\[\]<>,;]*|/root\b|[A-Za-z]:\\Users\\[^\\\s'\"`]+"
)
_SYSTEM_PREFIXES = ("/dev/", "/usr/", "/bin/", "/sbin/", "/etc/", "/proc/", "/sys/", "/lib")
_ABS_PATH = re.compile(r"(?<![\w.~:/\\-])(/[\w.@+-]+(?:/[\w.@+-]+)+)/?")
# First directories of file-system paths; anything else (`/api/v1/users`) is a route.
_FS_ROOTS = {
    "home", "Users", "root", "srv", "opt", "var", "tmp", "mnt", "media", "data", "workspace",
    "workspaces", "work", "private", "Volumes", "app", "code", "builds", "build", "src",
    "projects", "repos", "git", "github", "runner", "usr", "etc", "nix", "snap", "scratch",
}  # fmt: skip
_FILE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,6}$")


def _abs_path(match: re.Match[str]) -> str:
    path = match.group(1)
    if path.startswith(_SYSTEM_PREFIXES) or path.startswith("~"):
        return match.group(0)
    first = path.split("/", 2)[1]
    if first not in _FS_ROOTS and not _FILE_SUFFIX.search(path):
        return match.group(0)  # an API route or URL path, not a place on someone's disk
    return "…/" + path.rstrip("/").rsplit("/", 1)[-1]


def scrub_paths(text: str) -> str:
    """Home directories become `~`; other absolute paths keep only their last part."""
    if "/" not in text and "\\" not in text:
        return text
    text = _HOME.sub("~", text)
    return _ABS_PATH.sub(_abs_path, text)


def scrub(text: str) -> str:
    if len(text) <= _CACHED_UP_TO:
        return _scrub_short_all(text)
    return scrub_paths(scrub_secrets(text))


@lru_cache(maxsize=16384)
def _scrub_short_all(text: str) -> str:
    return scrub_paths(scrub_secrets(text))


_SCALARS = (int, float, bool, type(None))


def _strings(value: Any) -> Iterator[str]:
    """Every string inside `value`; a ScrubError for anything that cannot be scanned (bytes,
    objects): it would otherwise pass the boundary unread."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, *_SCALARS)):
                raise _CannotScan
            yield from _strings(item)
    elif not isinstance(value, _SCALARS):
        raise _CannotScan


class _CannotScan(Exception):
    pass


def _unscannable(value: Any, where: str = "value") -> ScrubError | None:
    """The error naming what could not be scanned (looked for only when there is one)."""
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if (error := _unscannable(item, f"{where}[{index}]")) is not None:
                return error
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, *_SCALARS)):
                return ScrubError(f"cannot scan {where} for secrets: it has a key of type "
                                  f"{type(key).__name__}; nothing was written")  # fmt: skip
            if (error := _unscannable(item, f"{where}.{key}")) is not None:
                return error
    elif not isinstance(value, (str, *_SCALARS)):
        return ScrubError(
            f"cannot scan {where} for secrets: it holds {type(value).__name__}, not text; "
            "nothing was written"
        )
    return None


def scrub_value(value: Any, paths: bool = True) -> Any:
    """`scrub` (or `scrub_secrets` when not `paths`) applied to every string inside nested
    dicts, lists and tuples (dict keys are field names of ours and stay). A structure with
    nothing to scrub anywhere is returned as it is, after one check of all its text."""
    if not isinstance(value, str):
        try:
            joined = "\n\n".join(_strings(value))  # a blank line: no field runs into the next
        except _CannotScan:
            raise _unscannable(value) or ScrubError("cannot scan a value for secrets") from None
        if (
            not _candidate(joined)
            and not (paths and ("/" in joined or "\\" in joined))
            and not has_invisible(joined)
            and not ((reading := views.reading(joined)) and _candidate(reading.text))
        ):
            return value
    return _scrub_each(value, paths)


def _scrub_each(value: Any, paths: bool) -> Any:
    if isinstance(value, str):
        return scrub(value) if paths else scrub_secrets(value)
    if isinstance(value, (list, tuple)):
        return [_scrub_each(v, paths) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_each(v, paths) for k, v in value.items()}
    return value
