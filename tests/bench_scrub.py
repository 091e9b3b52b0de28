"""Recall of the scrubbing boundary on every path a secret can take to disk or to others.

    python tests/bench_scrub.py [--split report|tune] [--timing] [--steps N] [--path P]...
    PYTHONPATH=/path/to/a/main/checkout python tests/bench_scrub.py   # the scrubber before

For each synthetic secret of tests/data/secrets/secrets-<split>.jsonl, the text holding it
goes down each path with the real parts (SQLite pool, embedding model, agent loop with a
scripted model and a real shell); the secret counts as caught on a path when no 12-character
piece of it (case-insensitively) is left in what that path wrote. Benign sentences
(benign-<split>.txt) go the same ways and must come out unchanged.

Paths: memory add (every field of a memory), pack import (every field of an item), pack
export (json and agents-md, from a pool holding unscrubbed rows as an older mtl left them),
agent run (the trajectory file: task, replies, commands, outputs, final message, warnings),
learned insights (distilled by a scripted model from a run). Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtl_tui.agent.loop import Agent
from mtl_tui.agent.model import ModelReply, ScriptedModel
from mtl_tui.agent.shell import LocalShell
from mtl_tui.agent.trajectory import Trajectory
from mtl_tui.memory import packs
from mtl_tui.memory.distill import RunRecord
from mtl_tui.memory.embed import SentenceTransformerEmbedder
from mtl_tui.memory.store import MemoryStore
from mtl_tui.records import EMBEDDING_SCHEME, Memory
from mtl_tui.session import learn

DATA = Path(__file__).parent / "data" / "secrets"
WORDS = [
    "check",
    "inspect",
    "validate",
    "reproduce",
    "isolate",
    "compare",
    "measure",
    "document",
    "pin",
    "revert",
    "retry",
    "schema",
    "cache",
    "build",
    "test",
    "fixture",
    "parser",
    "config",
    "network",
    "timeout",
    "encoding",
    "locale",
    "clock",
    "before",
    "after",
    "when",
    "unless",
    "first",
    "always",
    "never",
    "quickly",
    "carefully",
    "small",
    "large",
    "stale",
    "fresh",
]


def load(split: str) -> tuple[list[dict[str, str]], list[str]]:
    secrets = [json.loads(line) for line in (DATA / f"secrets-{split}.jsonl").open()]
    benign = [
        line.strip()
        for line in (DATA / f"benign-{split}.txt").open()
        if line.strip() and not line.startswith("#")
    ]
    return secrets, benign


def leaked(secret: str, written: str) -> bool:
    haystack = written.lower()
    for piece in secret.lower().split("\n"):
        width = min(len(piece), 12)
        if any(piece[i : i + width] in haystack for i in range(len(piece) - width + 1)):
            return True
    return False


def titles(n: int) -> list[str]:
    """Distinct made-up titles: nothing merges as a near-duplicate and hides a leak."""
    rng = random.Random(5)
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    word = lambda: "".join(rng.sample(syllables, rng.randint(2, 3)))  # noqa: E731
    return [f"{' '.join(word() for _ in range(6))} {i}" for i in range(n)]


def words(text: str, limit: int) -> str:
    """The first words of `text` within `limit` characters (a tag cuts no token in two)."""
    kept = ""
    for word in text.split():
        if len(kept) + len(word) + 1 > limit:
            break
        kept = f"{kept} {word}".strip()
    return kept or "tag"


def insight(title: str, text: str, **extra: object) -> Memory:
    return Memory(
        kind="insight",
        fields={"title": title, "description": text[:500], "content": text[:2000]},
        **extra,  # type: ignore[arg-type]
    )


def strings(value: object) -> list[str]:
    """Every string inside decoded JSON (JSON escapes would hide a leak or a change)."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return [value]
        return strings(decoded) if isinstance(decoded, (dict, list)) else [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [str(value)]


def dump(store: MemoryStore) -> dict[int, str]:
    rows = store.db.execute("SELECT * FROM memories").fetchall()
    return {int(row[0]): "\n".join(strings(list(row))) for row in rows}


# -- the paths: each takes texts and returns what it wrote for each ---------------------------


def memory_add(store: MemoryStore, texts: list[str]) -> list[str]:
    names = titles(len(texts))
    memories = [
        insight(
            f"{name}: {text}" if len(name) + len(text) < 190 else name,
            text,
            tags=[text],
            languages=[text],
            repo=text,
            model=text,
        )
        for name, text in zip(names, texts, strict=True)
    ]
    results = store.add_many(memories, dedup=False)
    rows = dump(store)
    return [rows[r.id] for r in results]


def pack_import(store: MemoryStore, texts: list[str], tmp: Path) -> list[str]:
    items = [
        {
            "id": f"item-{i}",
            "kind": "insight",
            "fields": {"title": name, "description": text[:500], "content": text[:2000]},
            "tags": [words(text, 40)],
            "languages": [w for w in text.split()[:1] if len(w) <= 40],
            "provenance": {"model": text[:300], "outcome": "success", "origin": "starter"},
        }
        for i, (name, text) in enumerate(zip(titles(len(texts)), texts, strict=True))
    ]
    # random directions as embeddings of this pool's model: nothing merges, nothing embeds
    import numpy as np

    vectors = np.random.default_rng(3).normal(size=(len(items), store.embedder.dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for item, vector in zip(items, vectors, strict=True):
        item["embedding"] = packs.encode_vector(vector)
    path = tmp / "incoming.json"
    path.write_text(
        json.dumps(
            {
                "format": "mtl-insight-pack",
                "version": 1,
                "name": "incoming",
                "created_at": "2026-11-01T00:00:00+00:00",
                "mtl_version": "0",
                "embedding": {
                    "model": store.embedder.name,
                    "dim": store.embedder.dim,
                    "scheme": EMBEDDING_SCHEME,  # as this pool embeds: nothing re-embedded
                },
                "items": items,
            }
        )
    )
    report = packs.import_pack(store, path)
    assert len(report.added) == len(texts), "merged items would hide leaks"
    assert not report.reembedded
    rows = dump(store)
    return [rows[i] for i in report.added]


def _raw_pool(store: MemoryStore, texts: list[str]) -> list[int]:
    """Rows written straight into the table, unscrubbed (as an older mtl left them)."""
    ids = []
    with store.db.write() as conn:
        for name, text in zip(titles(len(texts)), texts, strict=True):
            fields = {"title": name, "description": text, "content": text}
            cursor = conn.execute(
                "INSERT INTO memories (kind, fields, content_hash, tags, languages, repo, "
                "model, outcome, origin, created_at, updated_at) "
                "VALUES ('insight', ?, ?, ?, ?, ?, ?, 'unknown', 'run', '', '')",
                (json.dumps(fields), name, json.dumps([text]), json.dumps([text]), text, text),
            )
            ids.append(int(cursor.lastrowid))
    return ids


def export_json(store: MemoryStore, texts: list[str], tmp: Path) -> list[str]:
    ids = _raw_pool(store, texts)
    path = tmp / "out.json"
    packs.export_json(store, path, [store.get(i) for i in ids])
    data = json.loads(path.read_text())
    head = "\n".join(strings({k: v for k, v in data.items() if k != "items"}))
    return [head + "\n" + "\n".join(strings(item)) for item in data["items"]]


def export_agents_md(store: MemoryStore, texts: list[str], tmp: Path) -> list[str]:
    ids = _raw_pool(store, texts)
    text = packs.agents_md([store.get(i) for i in ids])
    return [text] * len(texts)  # the whole document, for each


def agent_run(texts: list[str], tmp: Path, per_run: int = 25) -> list[str]:
    written: list[str] = []
    work = tmp / "work"
    work.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(texts), per_run):
        chunk = texts[start : start + per_run]
        replies = []
        for i, text in enumerate(chunk):
            (work / f"s{i}.txt").write_text(text + "\n")
            replies.append(ModelReply(f"Looking at this: {text}\n```bash\ncat s{i}.txt\n```"))
        replies.append(
            ModelReply(f"Done.\n```bash\necho MTL_TASK_COMPLETE; cat s{len(chunk) - 1}.txt\n```")
        )
        trajectory = Trajectory.create(
            tmp / "trajectories", task=f"Deploy with {chunk[0]}", model="scripted", repo="app"
        )
        trajectory.warnings = list(chunk[:3])
        Agent(ScriptedModel(replies), LocalShell(work, timeout=10), trajectory).run(
            "You run bash.", f"Deploy with {chunk[0]}"
        )
        trajectory.save()
        saved = "\n".join(strings(json.loads(trajectory.path.read_text())))
        written += [saved] * len(chunk)
    return written


def learned(store: MemoryStore, texts: list[str]) -> list[str]:
    out: list[str] = []
    for name, text in zip(titles(len(texts)), texts, strict=True):
        reply = json.dumps(
            {
                "insights": [
                    {
                        "title": name,
                        "description": text[:500],
                        "content": text[:2000],
                        "tags": [words(text, 60)],
                    }
                ]
            }
        )
        record = RunRecord(
            task=f"Deploy with {text}",
            steps=[("cat .env", text)],
            outcome="success",
            model="scripted",
            repo=text[:80],
            languages=[w for w in text.split()[:1] if len(w) <= 40],
        )
        add = ModelReply('{"operations": [{"op": "add", "lesson": "C1"}]}')  # if neighbours
        ids = learn(ScriptedModel([ModelReply(reply), add]), store, record, ["insight"]).ids
        assert store.count() == len(out) + 1, "a merge would hide a leak"
        rows = dump(store)
        out.append(" ".join(rows[i] for i in ids) if ids else "")
    return out


def _fresh_store(tmp: Path, label: str, embedder: SentenceTransformerEmbedder) -> MemoryStore:
    os.environ["MTL_HOME"] = str(tmp / label)
    return MemoryStore.open(embedder=embedder)


def adversarial(shape: str, size: int, seed: int = 0) -> str:
    """Inputs that made the scrubber's time grow with the square of their size (review of
    issue #12): a hash column, one long run, non-ASCII runs, dotted and dashed runs,
    wrapped base64, scheme-like runs, and invisible characters every few letters."""
    rng = random.Random(f"{shape}-{seed}")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    if shape == "git log --format=%H":
        text = "\n".join(f"{rng.getrandbits(160):040x}" for _ in range(size // 41 + 1))
    elif shape == "wrapped base64":
        text = "\n".join("".join(rng.choices(alphabet, k=76)) for _ in range(size // 77 + 1))
    elif shape == "invisible every 12":
        run = "".join(rng.choices(alphabet, k=size))
        text = "\u2066".join(run[i : i + 12] for i in range(0, size, 12))
    else:
        unit = {"A*n": "A", "é*n": "é", "a.a.": "a.", "a-a-": "a-", "http://a:": "http://a:"}
        text = unit[shape] * (size // len(unit[shape]) + 1)
    return text[:size]


SHAPES = ("git log --format=%H", "A*n", "é*n", "a.a.", "a-a-", "http://a:", "wrapped base64",
          "invisible every 12")  # fmt: skip


def timing(steps: int) -> None:
    from mtl_tui.scrub import scrub

    scrub("warm up: password=Xy7Qz9Lm2Kp4")
    for size in (20_000, 100_000):
        for shape in SHAPES:
            text = adversarial(shape, size)
            wall, cpu = time.perf_counter(), time.process_time()
            scrub(text)
            print(
                f"scrub {size // 1000:>3} KB {shape:22} {time.perf_counter() - wall:6.2f} s wall"
                f" {time.process_time() - cpu:6.2f} s CPU",
                flush=True,
            )
    wall, cpu = time.perf_counter(), time.process_time()
    for step in range(steps):  # one 20 KB output per step, the shapes in turn, all different
        scrub(adversarial(SHAPES[step % len(SHAPES)], 20_000, seed=step))
    print(
        f"trajectory of {steps} steps x 20 KB (adversarial outputs): "
        f"{time.perf_counter() - wall:.1f} s wall {time.process_time() - cpu:.1f} s CPU",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("report", "tune"), default="report")
    parser.add_argument("--timing", action="store_true", help="only the scrub-time lines")
    parser.add_argument("--steps", type=int, default=500, help="steps of the timed trajectory")
    parser.add_argument(
        "--path", action="append", help="run only this path (repeatable), e.g. 'memory add'"
    )
    args = parser.parse_args()
    if args.timing:
        timing(args.steps)
        return
    secrets, benign = load(args.split)
    texts = [s["text"] for s in secrets]
    print(
        f"{len(secrets)} secrets of {len({s['provider'] for s in secrets})} providers and "
        f"kinds, {len(benign)} benign sentences ({args.split} set); scrubber from "
        f"{Path(packs.__file__).parents[1]}",
        flush=True,
    )
    embedder = SentenceTransformerEmbedder()
    embedder.load()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        os.environ["MTL_HOME"] = str(tmp / "home")
        paths: list[tuple[str, Callable[[list[str], Path, str], list[str]]]] = [
            ("memory add", lambda t, d, k: memory_add(_fresh_store(d, k, embedder), t)),
            ("pack import", lambda t, d, k: pack_import(_fresh_store(d, k, embedder), t, d)),
            ("pack export json", lambda t, d, k: export_json(_fresh_store(d, k, embedder), t, d)),
            (
                "pack export agents-md",
                lambda t, d, k: export_agents_md(_fresh_store(d, k, embedder), t, d),
            ),
            ("agent run trajectory", lambda t, d, k: agent_run(t, d)),
            ("learned insights", lambda t, d, k: learned(_fresh_store(d, k, embedder), t)),
        ]
        if args.path:
            unknown = set(args.path) - {label for label, _ in paths}
            if unknown:
                parser.error(f"unknown path: {', '.join(sorted(unknown))}")
            paths = [(label, run) for label, run in paths if label in args.path]
        for label, run in paths:
            started = time.perf_counter()
            written = run(texts, tmp / label.replace(" ", "-"), "secrets")
            misses = [
                s["provider"]
                for s, w in zip(secrets, written, strict=True)
                if leaked(s["secret"], w)
            ]
            kept = run(benign, tmp / (label.replace(" ", "-") + "-benign"), "benign")
            changed = [b for b, w in zip(benign, kept, strict=True) if b not in w]
            recall = 1 - len(misses) / len(secrets)
            print(
                f"{label:24} recall {recall:6.1%} ({len(secrets) - len(misses)}/{len(secrets)})"
                f"  benign changed {len(changed)}/{len(benign)}"
                f"  [{time.perf_counter() - started:.1f} s]",
                flush=True,
            )
            if misses:
                names = sorted(set(misses))
                more = f" and {len(names) - 12} more" if len(names) > 12 else ""
                print(f"{'':24} missed: {', '.join(names[:12])}{more}", flush=True)
            for sentence in changed:
                print(f"{'':24} changed: {sentence}", flush=True)
    if not args.path:
        timing(args.steps)


if __name__ == "__main__":
    main()
