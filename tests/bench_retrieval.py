"""Benchmark retrieval quality on real task statements (tests/data/retrieval).

    python tests/bench_retrieval.py [--split tune|report|blind|blind2|blind3|all] [--misses]
    python tests/bench_retrieval.py --file PATH [--misses]

Five sets of tasks: 'tune' and 'report' (tasks.json), 'blind', 'blind2' and 'blind3'
(blind.json, blind2.json, blind3.json, each labelled and committed before any retrieval
ran on it). All five have been seen: the shipped fusion weight, clause weight and floor
were chosen on the first four, with leave-one-set-out (printed below). blind4.json and
blind5.json were run once each with `--file` (rounds 6 and 7) and are not loaded here;
blind5 was also the fresh set for screening (tests/bench_screen.py), which the shipped
default puts in the floor's place. Also printed:
the cost per query of embedding the query's clauses with the product's embedder.
`--file PATH` reads any set in the same format
(`{"tasks": [{"id", "task", "language", "relevant": [titles]}]}`, labels naming insights
of the eval pool) and reports all its tasks as one split, with the shipped defaults and
nothing chosen on it.

The eval pool is the starter pack plus near-neighbour distractors; each task is labelled
by hand with the insights worth reading for it (or none). Prints, per condition:

- hit@1, hit@3: share of tasks with a relevant insight whose first / first three
  retrieved items include one (items cut by the floor do not count);
- MRR over those tasks (reciprocal rank of the first relevant item among the returned);
- precision: relevant items among everything that would reach the prompt, all tasks;
- empty: "nothing relevant" tasks that get nothing, of how many;
- per task: mean number of items injected.

The PRODUCT line checks the product path itself (MemoryStore + retrieve() with the
shipped floor and the shipped starter pack) on a real pool file. Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtl_tui.config import DEFAULT_FLOOR
from mtl_tui.memory import packs
from mtl_tui.memory.embed import DefaultModelEmbedder, SentenceTransformerEmbedder
from mtl_tui.memory.rank import CLAUSE_WEIGHT, LEX_SCALE, LEX_WEIGHT, RELATIVE_CUT
from mtl_tui.memory.retrieve import retrieve, task_query
from mtl_tui.memory.segments import query_segments
from mtl_tui.memory.store import MemoryStore, fts_query
from mtl_tui.records import Memory, retrieval_text

DATA = Path(__file__).parent / "data" / "retrieval"
JUDGEMENT = Path(__file__).parent / "data" / "starter_judgement.json"
K = 3
SPLITS = ("tune", "report", "blind", "blind2", "blind3")
# What shipped before the blind set was seen (the PREVIOUS lines).
PREVIOUS_WEIGHT, PREVIOUS_FLOOR = 0.2, 0.44
# Emptiness the floor rule asks of the "nothing relevant" tasks it is chosen on (config.py).
EMPTY_SHARE = 0.85


@dataclass
class Task:
    id: str
    text: str
    language: str
    relevant: set[str]
    split: str


def load_pool() -> list[dict]:
    starter = json.loads(packs.starter_path().read_text())["items"]
    extra = json.loads((DATA / "distractors.json").read_text())["insights"]
    return [item["fields"] for item in starter] + [item["fields"] for item in extra]


def previous_wording(pool: list[dict]) -> list[dict]:
    """The pool with the starter items reworded after the blind set was seen put back as
    they were (their earlier text is recorded in the starter judgement)."""
    changes = json.loads(JUDGEMENT.read_text())["round3_changes"]["pack_items_changed"]
    before: dict[str, dict[str, str]] = {}
    for change in changes:
        before.setdefault(change["title"], {})[change["field"]] = change["before"]
    return [{**fields, **before.get(fields["title"], {})} for fields in pool]


def load_tasks(file: Path | None = None) -> list[Task]:
    """tasks.json (tune and report halves) and blind.json (split 'blind'); or only the
    tasks of `file`, as one split named after it."""
    if file is not None:
        rows = [{**r, "split": file.stem} for r in json.loads(file.read_text())["tasks"]]
    else:
        rows = json.loads((DATA / "tasks.json").read_text())["tasks"]
        for name in ("blind", "blind2", "blind3"):
            blind = json.loads((DATA / f"{name}.json").read_text())["tasks"]
            rows += [{**r, "split": name} for r in blind]
    return [Task(r["id"], r["task"], r["language"], set(r["relevant"]), r["split"]) for r in rows]


# -- what is embedded ---------------------------------------------------------------


def text_title(f: dict) -> str:
    return f["title"]


def text_lesson(f: dict) -> str:
    return retrieval_text("insight", {k: v for k, v in f.items() if k != "applies_when"})


def text_lesson_applies(f: dict) -> str:
    return retrieval_text("insight", f)  # the shipped scheme


def text_everything(f: dict) -> str:
    return f"{text_lesson_applies(f)} Not when {f.get('not_when', '')}"


def text_applies(f: dict) -> str:
    return f"{f['title']}. Applies when {f.get('applies_when', '')}"


TEXTS: dict[str, Callable[[dict], str]] = {
    "title": text_title,
    "lesson": text_lesson,
    "lesson+applies": text_lesson_applies,
    "lesson+applies+not": text_everything,
    "title+applies": text_applies,
}
QUERIES: dict[str, Callable[[Task], str]] = {
    "task": lambda t: t.text,
    "task+lang": lambda t: task_query(t.text, [t.language]),
}


def bm25_scores(
    docs: Sequence[str | tuple[str, ...]], queries: list[str], weights: Sequence[float] = ()
) -> np.ndarray:
    """BM25 of every doc for every query by SQLite FTS5 (higher is better, 0 = no match);
    a doc given as a tuple is one column per field, `weights` weighing the columns."""
    rows = [(d,) if isinstance(d, str) else d for d in docs]
    columns = ", ".join(f"c{i}" for i in range(len(rows[0])))
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE VIRTUAL TABLE d USING fts5({columns}, tokenize='porter')")
    marks = ", ".join("?" * len(rows[0]))
    conn.executemany(
        f"INSERT INTO d (rowid, {columns}) VALUES (?, {marks})",
        [(i, *r) for i, r in enumerate(rows)],
    )
    weighed = "".join(f", {w}" for w in weights)
    out = np.zeros((len(queries), len(rows)))
    for qi, query in enumerate(queries):
        match = fts_query(query)
        if not match:
            continue
        for rowid, score in conn.execute(
            f"SELECT rowid, bm25(d{weighed}) FROM d WHERE d MATCH ?", (match,)
        ).fetchall():
            out[qi, rowid] = -score  # FTS5 bm25 is lower-is-better
    return out


@dataclass
class Result:
    hit1: float
    hit3: float
    mrr: float
    precision: float
    empty: int
    nothing: int
    per_task: float
    with_relevant: int


def evaluate(
    tasks: list[Task],
    titles: list[str],
    scores: np.ndarray,
    sims: np.ndarray,
    floor: float | None,
    cut: float | None = None,
) -> Result:
    """`scores` order the pool per task; `sims` (relevance) decide the floor and the
    relative cut (items more than `cut` below the task's best are dropped)."""
    hits1 = hits3 = rr = 0.0
    injected = relevant_injected = empty = 0
    with_rel = [i for i, t in enumerate(tasks) if t.relevant]
    nothing = [i for i, t in enumerate(tasks) if not t.relevant]
    for i, task in enumerate(tasks):
        order = np.argsort(-scores[i])
        if floor is not None:
            least = floor if cut is None else max(floor, float(sims[i].max()) - cut)
            order = [j for j in order if sims[i, j] >= least]
        top = [titles[j] for j in list(order)[:K]]
        injected += len(top)
        relevant_injected += sum(title in task.relevant for title in top)
        if not task.relevant:
            empty += not top
            continue
        ranks = [r for r, title in enumerate(top) if title in task.relevant]
        hits1 += bool(ranks) and ranks[0] == 0
        hits3 += bool(ranks)
        rr += 1 / (ranks[0] + 1) if ranks else 0
    n = max(len(with_rel), 1)
    return Result(
        hits1 / n,
        hits3 / n,
        rr / n,
        relevant_injected / injected if injected else 0.0,
        empty,
        len(nothing),
        injected / max(len(tasks), 1),
        len(with_rel),
    )


def row(name: str, r: Result) -> str:
    return (
        f"{name:<48} {r.hit1:5.2f} {r.hit3:5.2f} {r.mrr:5.2f} {r.precision:6.2f} "
        f"{r.empty:>3}/{r.nothing:<3} {r.per_task:5.2f}"
    )


HEADER = (
    f"{'condition':<48} {'hit@1':>5} {'hit@3':>5} {'MRR':>5} {'prec':>6} {'empty':>7} {'items':>5}"
)


def fuse(sims: np.ndarray, bm: np.ndarray, weight: float = LEX_WEIGHT) -> np.ndarray:
    """rank.relevance() for whole matrices."""
    return sims + weight * bm / (bm + LEX_SCALE)


def choose_floor(
    tasks: list[Task],
    titles: list[str],
    relevance: np.ndarray,
    share: float = EMPTY_SHARE,
    cut: float | None = RELATIVE_CUT,
    lowest: float = 0.20,
    highest: float = 0.70,
) -> float:
    """The lowest floor (step 0.005) at which at least `share` of the "nothing relevant"
    tasks of `tasks` get nothing: a lower floor loses fewer wanted items, and a
    misleading item costs more than a missing one, so emptiness is the constraint."""
    for floor in np.arange(lowest, highest, 0.005):
        r = evaluate(tasks, titles, relevance, relevance, float(floor), cut)
        if r.empty >= share * r.nothing:
            return float(round(floor, 3))
    return highest


def product_lists(
    tasks: list[Task], embedder: SentenceTransformerEmbedder
) -> list[list[tuple[str, float]]]:
    """The shipped path: a real pool file, MemoryStore, retrieve() with the default floor;
    the (title, relevance) pairs it returns for each task."""
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore.open(Path(tmp) / "pool.sqlite", embedder=embedder)
        packs.import_starter(store)
        extra = json.loads((DATA / "distractors.json").read_text())["insights"]
        store.add_many([Memory(kind="insight", fields=item["fields"]) for item in extra])
        found: list[list[tuple[str, float]]] = []
        for task in tasks:
            got = retrieve(store, task_query(task.text, [task.language]), K, floor=DEFAULT_FLOOR)
            found.append([(h.memory.fields["title"], h.relevance or 0.0) for h in got.hits])
        store.close()
    return found


def query_cost(tasks: list[Task]) -> str:
    """Per query, the product's embedder (ONNX when prepared): CPU and wall milliseconds
    to encode the whole query alone, then with its clauses (segments.py)."""
    embedder = DefaultModelEmbedder()
    embedder.load()
    queries = [task_query(t.text, [t.language]) for t in tasks]
    embedder.embed(queries[:2])  # warm up
    spent: dict[str, tuple[float, float]] = {}
    for label in ("whole", "clauses"):
        cpu, wall = time.process_time(), time.perf_counter()
        for query in queries:
            embedder.embed([query])
            clauses = query_segments(query) if label == "clauses" else []
            if clauses:  # as store.search_ranked does: apart from the whole query
                embedder.embed(clauses)
        spent[label] = (time.process_time() - cpu, time.perf_counter() - wall)
    n = len(queries)
    sizes = [len(query_segments(q)) for q in queries]
    return (
        f"per query ({n} tasks, {embedder.backend}): whole query alone "
        f"{spent['whole'][0] / n * 1000:.1f} ms CPU / {spent['whole'][1] / n * 1000:.1f} ms wall; "
        f"with its clauses (mean {sum(sizes) / n:.1f}, max {max(sizes)}) "
        f"{spent['clauses'][0] / n * 1000:.1f} ms CPU / "
        f"{spent['clauses'][1] / n * 1000:.1f} ms wall"
    )


def product_check(tasks: list[Task], titles: list[list[str]]) -> Result:
    """Scores the product's lists (`titles`, one per task) with the same metrics."""
    every = sorted({t for ts in titles for t in ts} | {r for t in tasks for r in t.relevant})
    index = {t: j for j, t in enumerate(every)}
    scores = np.full((len(tasks), len(every)), -1.0)
    for i, found in enumerate(titles):
        for rank, title in enumerate(found):
            scores[i, index[title]] = 10.0 - rank
    return evaluate(tasks, every, scores, scores, 0.0)


@dataclass
class Scores:
    """Relevance matrices (tasks x pool) for the conditions the bench compares."""

    titles: list[str]
    sims: dict[tuple[str, str], np.ndarray]
    bm: np.ndarray  # BM25 of the shipped retrieval text, task+lang queries
    previous: np.ndarray  # fused relevance with the earlier wording and weight
    queries: list[str]
    pool: list[dict]
    clauses: np.ndarray  # best clause cosine (segments.py); the whole query's when one

    @property
    def whole(self) -> np.ndarray:
        """Round 3's relevance: the whole query's cosine alone, fused."""
        return fuse(self.sims[("lesson+applies", "task+lang")], self.bm)

    def blended(self, weight: float = CLAUSE_WEIGHT) -> np.ndarray:
        """rank.blend() for whole matrices."""
        cosine = self.sims[("lesson+applies", "task+lang")]
        return (1 - weight) * cosine + weight * np.maximum(cosine, self.clauses)

    @property
    def shipped(self) -> np.ndarray:
        return fuse(self.blended(), self.bm)


def score_all(
    pool: list[dict], tasks: list[Task], embedder: SentenceTransformerEmbedder, full: bool
) -> Scores:
    texts = TEXTS if full else {k: TEXTS[k] for k in ("title", "lesson+applies")}
    queries = QUERIES if full else {"task+lang": QUERIES["task+lang"]}
    docs = {name: embedder.embed([fn(f) for f in pool]) for name, fn in texts.items()}
    asked = {name: embedder.embed([fn(t) for t in tasks]) for name, fn in queries.items()}
    sims = {(d, q): asked[q] @ docs[d].T for d in docs for q in asked}
    query_text = [QUERIES["task+lang"](t) for t in tasks]
    bm = bm25_scores([text_lesson_applies(f) for f in pool], query_text)
    earlier = previous_wording(pool)
    old_docs = embedder.embed([text_lesson_applies(f) for f in earlier])
    old_bm = bm25_scores([text_lesson_applies(f) for f in earlier], query_text)
    previous = fuse(asked["task+lang"] @ old_docs.T, old_bm, PREVIOUS_WEIGHT)
    whole = sims[("lesson+applies", "task+lang")]
    clauses = whole.copy()
    pieces = [query_segments(q) for q in query_text]
    flat = [piece for parts in pieces for piece in parts]
    vectors = embedder.embed(flat) if flat else np.zeros((0, docs["lesson+applies"].shape[1]))
    start = 0
    for i, parts in enumerate(pieces):
        if parts:
            chunk = vectors[start : start + len(parts)] @ docs["lesson+applies"].T
            clauses[i] = chunk.max(axis=0)
            start += len(parts)
    return Scores([f["title"] for f in pool], sims, bm, previous, query_text, pool, clauses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=[*SPLITS, "all"], default="all")
    parser.add_argument(
        "--file",
        type=Path,
        help="a task set in the same format: all its tasks reported as one split, with "
        "the shipped defaults (nothing is chosen on it)",
    )
    parser.add_argument(
        "--misses", action="store_true", help="list each task the product path misses"
    )
    args = parser.parse_args()
    started = time.process_time()
    pool = load_pool()
    titles = [f["title"] for f in pool]
    try:
        tasks = load_tasks(args.file)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        sys.exit(f"cannot read the task set {args.file}: {exc}")
    missing = {r for t in tasks for r in t.relevant} - set(titles)
    if missing:
        sys.exit(f"labels naming no insight of the eval pool: {sorted(missing)}")

    embedder = SentenceTransformerEmbedder()
    embedder.load()
    s = score_all(pool, tasks, embedder, full=args.file is None)
    product = product_lists(tasks, embedder)

    if args.file is not None:
        splits = [args.file.stem]
    else:
        splits = list(SPLITS) if args.split == "all" else [args.split]
    print(
        f"pool: {len(pool)} insights; k={K}; shipped: fusion weight {LEX_WEIGHT}, "
        f"floor {DEFAULT_FLOOR:.2f}, relative cut {RELATIVE_CUT:.2f}"
    )
    for split in splits:
        idx = [i for i, t in enumerate(tasks) if t.split == split]
        shown = [tasks[i] for i in idx]
        print(
            f"\n== split '{split}': {len(shown)} tasks, "
            f"{sum(not t.relevant for t in shown)} with nothing relevant"
        )
        print(HEADER)

        def show(name: str, rel: np.ndarray, floor: float | None, cut: float | None) -> None:
            result = evaluate(shown, titles, rel[idx], rel[idx], floor, cut)  # noqa: B023
            print(row(name, result))

        base = s.sims[("title", "task+lang")]
        show("BEFORE #11: title, task+lang, no floor", base, None, None)
        show(
            f"PREVIOUS: w {PREVIOUS_WEIGHT}, floor {PREVIOUS_FLOOR}, cut {RELATIVE_CUT:.2f}",
            s.previous,
            PREVIOUS_FLOOR,
            RELATIVE_CUT,
        )
        old_fused = fuse(s.sims[("lesson+applies", "task+lang")], s.bm, PREVIOUS_WEIGHT)
        show("  same, reworded starter items", old_fused, PREVIOUS_FLOOR, RELATIVE_CUT)
        show("ROUND 3: whole query only, w 0.3, floor 0.45", s.whole, 0.45, RELATIVE_CUT)
        show(
            f"SHIPPED: + clauses {CLAUSE_WEIGHT}, w {LEX_WEIGHT}, floor {DEFAULT_FLOOR}",
            s.shipped,
            DEFAULT_FLOOR,
            RELATIVE_CUT,
        )
        lists = [[title for title, _ in product[i]] for i in idx]
        print(row("PRODUCT: MemoryStore + retrieve()", product_check(shown, lists)))
        if args.misses:
            print_misses(shown, [product[i] for i in idx])
    if args.file is None and args.split == "all":
        cross_validation(tasks, s)
        ablations(tasks, s)
    print(f"\n{query_cost(tasks)}")
    print(f"\nCPU {time.process_time() - started:.1f} s")


def print_misses(tasks: list[Task], found: list[list[tuple[str, float]]]) -> None:
    """Each task whose first item is not a wanted one, or that gets something while
    nothing is relevant: what was wanted, what came and its relevance."""
    print("-- misses of the product path (* = labelled relevant)")
    for task, got in zip(tasks, found, strict=True):
        if task.relevant and got and got[0][0] in task.relevant:
            continue
        if not task.relevant and not got:
            continue
        kind = "NOT EMPTY" if not task.relevant else (
            "hit@3 only" if any(t in task.relevant for t, _ in got) else "MISS")  # fmt: skip
        print(f"  {task.id} [{task.language}] {kind}: {task.text[:110]}")
        for title in sorted(task.relevant):
            print(f"      wanted: {title}")
        for title, relevance in got:
            print(f"      got {relevance:.3f}{'*' if title in task.relevant else ' '} {title}")


def cross_validation(tasks: list[Task], s: Scores) -> None:
    """Leave one set out: the floor (and, second, the fusion weight with it) chosen on two
    sets by the rule of config.py, reported on the third; in-sample beside it."""
    titles = s.titles
    idx = {split: [i for i, t in enumerate(tasks) if t.split == split] for split in SPLITS}
    cosine = s.blended()
    weights = (0.1, 0.2, 0.3, 0.4, 0.5)
    fused = {w: fuse(cosine, s.bm, w) for w in weights}
    everything = [i for split in SPLITS for i in idx[split]]
    every_task = [tasks[i] for i in everything]
    print(
        f"\n-- leave one set out: floor = lowest with >= {EMPTY_SHARE:.0%} of the choosing "
        f"sets' nothing-relevant tasks empty; cut {RELATIVE_CUT:.2f}"
    )
    print(HEADER)
    clause_weights = (0.0, 0.3, 0.5, 0.7, 1.0)
    by_clause = {w: fuse(s.blended(w), s.bm) for w in clause_weights}
    for label, options, matrices in (
        (f"the fusion weight fixed at {LEX_WEIGHT}", [LEX_WEIGHT], fused),
        ("the fusion weight chosen too, 0.1-0.5", list(weights), fused),
        ("the clause weight (as w) chosen instead, 0-1", list(clause_weights), by_clause),
    ):
        print(f"  {label}:")
        pooled: list[tuple[Result, int]] = []
        for held in SPLITS:
            choose = [i for split in SPLITS if split != held for i in idx[split]]
            chosen = [tasks[i] for i in choose]
            best: tuple[float, float, float] | None = None
            for w in options:
                floor = choose_floor(chosen, titles, matrices[w][choose])
                r = evaluate(chosen, titles, matrices[w][choose], matrices[w][choose], floor,
                             RELATIVE_CUT)  # fmt: skip
                if best is None or r.hit1 + r.hit3 > best[0] + 1e-9:
                    best = (r.hit1 + r.hit3, w, floor)
            assert best is not None
            _, w, floor = best
            rel = matrices[w][idx[held]]
            out = evaluate([tasks[i] for i in idx[held]], titles, rel, rel, floor, RELATIVE_CUT)
            pooled.append((out, out.with_relevant))
            print(row(f"    {held} (w {w}, floor {floor:.3f})", out))
        n = sum(k for _, k in pooled)
        print(
            "    out of sample, pooled: hit@1 "
            f"{sum(r.hit1 * k for r, k in pooled) / n:.2f}, hit@3 "
            f"{sum(r.hit3 * k for r, k in pooled) / n:.2f}, empty "
            f"{sum(r.empty for r, _ in pooled)}/{sum(r.nothing for r, _ in pooled)}"
        )
    floor = choose_floor(every_task, titles, s.shipped[everything])
    print(f"  in sample: the rule on all seen sets gives floor {floor:.3f} (shipped "
          f"{DEFAULT_FLOOR}):")  # fmt: skip
    for split in SPLITS:
        rel = s.shipped[idx[split]]
        r = evaluate([tasks[i] for i in idx[split]], titles, rel, rel, DEFAULT_FLOOR, RELATIVE_CUT)
        print(row(f"    {split}", r))
    rel = s.shipped[everything]
    print(
        row(
            "    all seen sets", evaluate(every_task, titles, rel, rel, DEFAULT_FLOOR, RELATIVE_CUT)
        )
    )


def ablations(tasks: list[Task], s: Scores) -> None:
    """What else was tried, on all seen sets together, each condition at the
    floor the rule gives it, so that conditions on different scales compare fairly."""
    titles = s.titles
    cosine = s.sims[("lesson+applies", "task+lang")]

    def show(name: str, rel: np.ndarray, floor: float | str | None = "rule",
             cut: float = RELATIVE_CUT) -> None:  # fmt: skip
        """`floor`: a value, None (no floor, no cut) or "rule" (choose_floor's)."""
        at = choose_floor(tasks, titles, rel, cut=cut) if floor == "rule" else floor
        assert at is None or isinstance(at, float)
        label = name if at is None else f"{name} @ {at:.3f}"
        print(row(label, evaluate(tasks, titles, rel, rel, at, cut)))

    print(f"\n== ablations on all {len(tasks)} tasks; each at its own floor (rule above)")
    print(HEADER)
    print("-- ranking alone (no floor): what is embedded, query format, fusion")
    for d in TEXTS:
        sim = s.sims[(d, "task+lang")]
        show(f"  embed {d}", sim, None)
    show("  query = task alone (no languages)", s.sims[("lesson+applies", "task")], None)
    show("  BM25 alone", s.bm, None)
    ranks_cos = np.argsort(np.argsort(-cosine, axis=1), axis=1)
    ranks_bm = np.argsort(np.argsort(-s.bm, axis=1), axis=1)
    show("  reciprocal rank fusion (60)", 1 / (60 + ranks_cos) + 1 / (60 + ranks_bm), None)
    show("  shipped fused", s.shipped, None)
    print("-- query clauses (segments.py) blended into the cosine: none, no floor, shipped floor")
    for weight in (0.0, 0.3, 0.5, 0.7, 1.0):
        mark = " (shipped)" if weight == CLAUSE_WEIGHT else ""
        fused = fuse(s.blended(weight), s.bm)
        show(f"  clause weight {weight}{mark}", fused, None)
        show(f"  clause weight {weight}{mark}", fused, DEFAULT_FLOOR)
    print("-- with the floor")
    show("  cosine alone", cosine)
    for w in (0.1, 0.2, 0.3, 0.4, 0.5):
        mark = " (shipped)" if w == LEX_WEIGHT else ""
        show(f"  cosine + {w} x bm25/(bm25+{LEX_SCALE:g}){mark}", fuse(cosine, s.bm, w))
    show("  cosine + 0.4 x bm25/(bm25+20)", cosine + 0.4 * s.bm / (s.bm + 20))
    applies = s.sims[("title+applies", "task+lang")]
    show("  max(whole lesson, title+applies) cosine", fuse(np.maximum(cosine, applies), s.bm))
    fields = [(f["title"], f["description"], f["content"], f.get("applies_when") or "")
              for f in s.pool]  # fmt: skip
    for weights in ((2.0, 1.0, 1.0, 2.0), (2.0, 1.0, 0.0, 2.0), (1.0, 0.0, 0.0, 1.0)):
        bm = bm25_scores(fields, s.queries, weights)
        show(f"  BM25 fields title/desc/content/applies {weights}", fuse(cosine, bm))
    task_only = bm25_scores([text_lesson_applies(f) for f in s.pool], [t.text for t in tasks])
    show("  BM25 of the task without its languages", fuse(cosine, task_only))
    print("-- second-stage rules on the shipped relevance")
    for cut in (0.06, 0.10, 0.15, 0.20):
        mark = " (shipped)" if cut == RELATIVE_CUT else ""
        show(f"  relative cut {cut:.2f}{mark}", s.shipped, cut=cut)
    standout = s.shipped.copy()
    for i, row_ in enumerate(s.shipped):
        first, second = np.sort(row_)[::-1][:2]
        if DEFAULT_FLOOR > first >= DEFAULT_FLOOR - 0.06 and first - second >= 0.08:
            standout[i, int(np.argmax(row_))] = DEFAULT_FLOOR  # a lone standout passes
    show(f"  + a lone standout >= {DEFAULT_FLOOR - 0.06:.2f} passes", standout, DEFAULT_FLOOR)
    not_bm = bm25_scores([f.get("not_when") or "" for f in s.pool], s.queries)
    penalised = s.shipped - 0.1 * not_bm / (not_bm + LEX_SCALE)
    show("  - 0.1 x bm25(query, not_when) penalty", penalised)


if __name__ == "__main__":
    main()
