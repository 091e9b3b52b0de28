"""Tool caches are stored in refs/mtl only as the bytes that were scanned (caches.py,
cache_text.py): a `.pyc`'s constants are read as code, files the scan cannot read are not
stored, and only a CACHEDIR.TAG with the spec's signature marks a cache."""

from __future__ import annotations

import gzip
import importlib.util
import py_compile
from pathlib import Path

import pytest

from mtl_tui.repo import cache_text, caches
from mtl_tui.repo.git import GitRepo
from tests.test_undo import BASE, TOKEN, objects_holding, sh

TAG = "Signature: 8a477f597d28d172789f06886806bc55\n"
SETTINGS = '''\
"""Local settings."""
DB_PASSWORD = "Tr0ub4dor&3xQ"
AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SECRET_KEY = "django-insecure-8x#k2m!q9v@z7w$p3r%t5y^u1i&o0"
'''
CLEAN_MODULE = '''\
"""Helpers for the items API."""
import json

TIMEOUT = 30
BASE_URL = "https://api.example.com/v1"


def item_path(item_id: int) -> str:
    """The path of one item."""
    return f"/items/{item_id}"


def dump(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True)
'''


def _repo(tmp_path: Path) -> tuple[Path, GitRepo]:
    root = tmp_path / "r"
    root.mkdir()
    ignore = "__pycache__/ local_settings.py .pytest_cache/ cache-*/"
    sh(root, BASE + f"printf '%s\\n' {ignore} >> .gitignore")
    sh(root, "git add .gitignore && git commit -qm ignore")
    return root, GitRepo.find(root)  # type: ignore[return-value]


def test_a_pyc_holding_a_named_secret_is_never_stored(tmp_path: Path) -> None:
    """Review 6 #2: a constant's name and value sit apart in a `.pyc`, so the printable
    runs never showed `DB_PASSWORD = "…"`; the code objects read as code do. A module
    without secrets is still kept."""
    root, repo = _repo(tmp_path)
    (root / "local_settings.py").write_text(SETTINGS)
    (root / "helpers.py").write_text(CLEAN_MODULE)
    py_compile.compile(str(root / "local_settings.py"), doraise=True)
    py_compile.compile(str(root / "helpers.py"), doraise=True)
    snap = repo.take_snapshot("before")
    refused = snap.meta["ignored_refused"]
    assert list(refused) == ["__pycache__/"]
    assert refused["__pycache__/"].startswith("not kept for undo: __pycache__/local_settings")
    assert refused["__pycache__/"].endswith(" holds a secret")
    for value in ("Tr0ub4dor&3xQ", "wJalrXUtnFEMI", "django-insecure-8x"):
        assert objects_holding(root / ".git", value) == []

    (root / "__pycache__" / next(p.name for p in (root / "__pycache__").iterdir()
                                 if p.name.startswith("local_settings"))).unlink()  # fmt: skip
    kept = repo.take_snapshot("clean").meta["ignored_saved"]
    assert "__pycache__/" in kept and len(kept["__pycache__/"]["files"]) == 1


def test_pyc_constants_read_as_assignments() -> None:
    code = compile(
        'class C:\n    def __init__(self):\n        self.password = "Hunter2Hunter2x"\n'
        'connect(host="db", password="Zq9Lm2Vb7Nc4")\nD = {"api_token": "Qw8Er7Ty6Ui5Op4"}\n',
        "m.py",
        "exec",
    )
    import marshal

    scan = cache_text.scannable(importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code))
    assert scan is not None
    lines = set(scan.text.splitlines())
    assert "Hunter2Hunter2x" in scan.strings.splitlines()
    assert {"password = 'Hunter2Hunter2x'", "password = 'Zq9Lm2Vb7Nc4'"} <= lines
    assert "api_token = 'Qw8Er7Ty6Ui5Op4'" in lines
    truncated = importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code)[:40]
    assert cache_text.scannable(truncated) is None


def test_files_the_scan_cannot_read_are_not_stored_and_undo_says_so(tmp_path: Path) -> None:
    """Review 6 #3: a gzip or UTF-16 file, or a pyc of another Python, was stored unread.
    Now the cache is only fingerprinted and named; a CACHEDIR.TAG without the spec's
    signature does not make a directory a cache at all."""
    root, repo = _repo(tmp_path)
    secret = f"export GITHUB_TOKEN={TOKEN}\n"
    for name, data in {
        "cache-gz/blob.gz": gzip.compress(secret.encode()),
        "cache-utf16/notes.txt": secret.encode("utf-16"),
        "cache-otherpy/m.pyc": b"\x00\x00\r\n" + bytes(12) + b"\xe3" + secret.encode("utf-16"),
    }.items():
        directory = root / name.split("/")[0]
        directory.mkdir()
        (directory / "CACHEDIR.TAG").write_text(TAG)
        (directory / name.split("/")[1]).write_bytes(data)
    fake = root / "cache-untagged"
    fake.mkdir()
    (fake / "CACHEDIR.TAG").write_text("not the signature\n")
    (fake / "data.txt").write_text("plain\n")
    snap = repo.take_snapshot("before")
    refused = snap.meta["ignored_refused"]
    assert refused == {
        "cache-gz/": "not kept for undo: cache-gz/blob.gz cannot be scanned",
        "cache-utf16/": "not kept for undo: cache-utf16/notes.txt cannot be scanned",
        "cache-otherpy/": "not kept for undo: cache-otherpy/m.pyc cannot be scanned",
    }
    assert not any(e.startswith("cache-untagged") for e in snap.meta["ignored_saved"])
    assert sh(root, f"git ls-tree -r --name-only {snap.commit}").count("ignored/") == 0

    run_id = repo.mark_run(snap.commit)
    (root / "cache-gz" / "blob.gz").write_bytes(gzip.compress(b"rewritten"))
    repo.mark_run(snap.commit, repo.snapshot("after"), run_id=run_id)
    result = repo.undo()
    assert not result.complete
    assert [str(d) for d in result.not_restored] == [
        "ignored: ignored file cache-gz/ changed "
        "(not kept for undo: cache-gz/blob.gz cannot be scanned)"
    ]


def test_what_is_stored_is_the_bytes_that_were_scanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 6 #5: a tool rewriting a cache file between the scan and the copy had its new
    bytes stored unscanned."""
    root, repo = _repo(tmp_path)
    cache = root / ".pytest_cache"
    (cache / "v" / "cache").mkdir(parents=True)
    (cache / "CACHEDIR.TAG").write_text(TAG)
    lastfailed = cache / "v" / "cache" / "lastfailed"
    lastfailed.write_text('{"t.py::x": true}\n')
    scan = cache_text.scannable

    def scan_then_rewrite(data: bytes) -> cache_text.CacheText | None:
        text = scan(data)
        if data == b'{"t.py::x": true}\n':  # once scanned, a tool rewrites it
            lastfailed.write_text(f'{{"t.py::x[{TOKEN}]": true}}\n')
        return text

    monkeypatch.setattr(cache_text, "scannable", scan_then_rewrite)
    snap = repo.take_snapshot("before")
    assert ".pytest_cache/" in snap.meta["ignored_saved"]
    stored = sh(root, f"git show {snap.commit}:ignored/.pytest_cache/v/cache/lastfailed")
    assert stored == '{"t.py::x": true}\n'
    assert objects_holding(root / ".git", TOKEN) == []


def test_the_clean_verdicts_are_keyed_on_the_cache_scanner_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 6 #4: a fix to the cache scanner must reach verdicts recorded before it."""
    before = caches._detector()
    changed = tmp_path / "cache_text.py"
    changed.write_text(Path(cache_text.__file__).read_text() + "\n# a fix\n")
    monkeypatch.setattr(cache_text, "__file__", str(changed))
    caches._detector.cache_clear()
    try:
        assert caches._detector() != before
    finally:
        monkeypatch.undo()
        caches._detector.cache_clear()
    assert caches._detector() == before
