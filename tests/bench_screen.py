"""Benchmark screening (mtl_tui/memory/screen.py): the model picks which retrieved
candidates apply, in place of the relevance floor.

    python tests/bench_screen.py --candidates
    python tests/bench_screen.py --file SET --prompts OUT.json
    python tests/bench_screen.py --file SET --answers ANSWERS.json
    python tests/bench_screen.py --file SET --model NAME [--api-base URL] --save ANSWERS.json

Every condition runs the product path: a real pool file (the starter pack and the
distractors of tests/data/retrieval), MemoryStore and retrieve().

- `--candidates`: on the seen task sets (bench_retrieval's five and blind4), how often a
  wanted lesson is among the candidates for each candidate floor and count, and how many
  candidates a task gets: what CANDIDATE_FLOOR and CANDIDATES were chosen on.
- `--prompts`: the screening prompt of each task (what the model would be sent), with its
  candidates, for a model to answer offline.
- `--answers`: scores recorded answers (a JSON object: "answers" maps "set:id" to
  {"candidates": [titles], "reply": the model's first line}); a task whose candidates
  differ from what retrieve() gathers now is counted stale and not scored.
- `--model`: asks a live model through litellm (never run by the test suite), and
  `--save` records its answers in the same format.

Printed beside the screened figures: the shipped floor alone on the same tasks, with
bench_retrieval's metrics (hit@1, hit@3, MRR, precision of what reaches the prompt,
"nothing relevant" tasks that get nothing).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench_retrieval import (
    DATA,
    HEADER,
    K,
    Task,
    load_tasks,
    product_check,
    row,
)

from mtl_tui.agent.model import Model
from mtl_tui.config import DEFAULT_FLOOR
from mtl_tui.errors import MtlError
from mtl_tui.memory import packs
from mtl_tui.memory.embed import DefaultModelEmbedder
from mtl_tui.memory.rank import Hit
from mtl_tui.memory.retrieve import item_text, retrieve, screener_for, task_query
from mtl_tui.memory.screen import CANDIDATE_FLOOR, CANDIDATES, parse_picks, screen_prompt
from mtl_tui.memory.store import MemoryStore
from mtl_tui.records import Memory

Screener = Callable[[Sequence[Hit]], list[int]]


def key(task: Task) -> str:
    return f"{task.split}:{task.id}"


def open_pool(tmp: Path) -> MemoryStore:
    embedder = DefaultModelEmbedder()
    embedder.load()
    store = MemoryStore.open(tmp / "pool.sqlite", embedder=embedder)
    packs.import_starter(store)
    extra = json.loads((DATA / "distractors.json").read_text())["insights"]
    store.add_many([Memory(kind="insight", fields=item["fields"]) for item in extra])
    return store


def titles(hits: Sequence[Hit]) -> list[str]:
    return [hit.memory.fields["title"] for hit in hits]


def candidate_table(store: MemoryStore, tasks: list[Task]) -> None:
    """Recall of the candidate stage for each candidate floor and count."""
    ranked = []
    for task in tasks:
        got = retrieve(store, task_query(task.text, [task.language]), 10, floor=-1)
        ranked.append([(h.memory.fields["title"], h.relevance or 0.0) for h in got.hits])
    wanted = [i for i, t in enumerate(tasks) if t.relevant]
    print(f"{len(tasks)} seen tasks, {len(wanted)} with a wanted lesson")
    print(f"{'floor':>6} {'count':>5} {'recall':>7} {'per task':>9}")
    for floor in (0.25, 0.30, 0.35, 0.40, 0.45):
        for count in (4, 5, 6, 8):
            kept = [[t for t, r in found[:count] if r >= floor] for found in ranked]
            recall = sum(any(t in tasks[i].relevant for t in kept[i]) for i in wanted)
            mean = sum(map(len, kept)) / len(tasks)
            print(f"{floor:6.2f} {count:5d} {recall / len(wanted):7.3f} {mean:9.2f}")


def recorded(answers: dict[str, dict], task: Task, stale: list[str]) -> Screener:
    def pick(candidates: Sequence[Hit]) -> list[int]:
        entry = answers.get(key(task))
        if entry is None or entry["candidates"] != titles(candidates):
            stale.append(key(task))
            return []
        return parse_picks(entry["reply"], len(candidates))

    return pick


def asking(model: Model, task: Task, saved: dict[str, dict]) -> Screener:
    """The product's screener (retrieve.screener_for) on a live model, its answers saved."""
    ask = screener_for(lambda: model, task.text, [task.language])

    def pick(candidates: Sequence[Hit]) -> list[int]:
        picked = ask(candidates)
        saved[key(task)] = {"candidates": titles(candidates),
                            "reply": json.dumps([i + 1 for i in picked])}  # fmt: skip
        return picked

    return pick


def prompting(task: Task, prompts: dict[str, dict]) -> Screener:
    def pick(candidates: Sequence[Hit]) -> list[int]:
        texts = [item_text(hit.memory) for hit in candidates]
        prompt = screen_prompt(task.text, [task.language], texts)
        prompts[key(task)] = {"candidates": titles(candidates), "prompt": prompt}
        return []

    return pick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, action="append", help="a task set (repeatable)")
    parser.add_argument("--candidates", action="store_true")
    parser.add_argument("--prompts", type=Path)
    parser.add_argument("--answers", type=Path)
    parser.add_argument("--model")
    parser.add_argument("--api-base")
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    started = time.process_time()
    if args.candidates:
        tasks = load_tasks() + load_tasks(DATA / "blind4.json")
    elif args.file:
        tasks = [task for file in args.file for task in load_tasks(file)]
    else:
        sys.exit("give --candidates, or --file with --prompts, --answers or --model")
    with tempfile.TemporaryDirectory() as tmp:
        store = open_pool(Path(tmp))
        if args.candidates:
            candidate_table(store, tasks)
        else:
            run(store, tasks, args)
        store.close()
    print(f"\nCPU {time.process_time() - started:.1f} s")


def run(store: MemoryStore, tasks: list[Task], args: argparse.Namespace) -> None:
    prompts: dict[str, dict] = {}
    answers: dict[str, dict] = {}
    model: Model | None = None
    if args.answers:
        answers = json.loads(args.answers.read_text())["answers"]
    elif args.model:
        from mtl_tui.agent.model import make_model

        model = make_model(args.model, api_base=args.api_base, stream=False)
    elif not args.prompts:
        sys.exit("give --prompts, --answers or --model")
    floor_lists: list[list[str]] = []
    screened: list[list[str]] = []
    in_order: list[list[str]] = []
    stale: list[str] = []
    fallbacks: list[str] = []  # the screening failed and the floor decided
    saved: dict[str, dict] = {}
    for task in tasks:
        query = task_query(task.text, [task.language])
        floor_lists.append(titles(retrieve(store, query, K, floor=DEFAULT_FLOOR).hits))
        if args.prompts:
            screener = prompting(task, prompts)
        elif model is not None:
            screener = asking(model, task, saved)
        else:
            screener = recorded(answers, task, stale)
        try:
            found = retrieve(store, query, K, floor=DEFAULT_FLOOR, screener=screener)
        except MtlError as exc:
            sys.exit(f"{key(task)}: {exc}")
        if found.screen_note and not found.screened:
            fallbacks.append(f"{key(task)} ({found.screen_note})")
        screened.append(titles(found.hits))
        candidates = titles([*found.hits, *found.below])
        order = sorted(found.hits, key=lambda hit: -hit.score)
        in_order.append(titles(order) if candidates else [])
    if args.prompts:
        args.prompts.write_text(json.dumps(prompts, indent=1))
        print(f"{len(prompts)} prompts written to {args.prompts}")
        return
    if args.save:
        args.save.write_text(json.dumps({"model": args.model, "answers": saved}, indent=1))
    scored = [i for i, task in enumerate(tasks) if key(task) not in stale]
    shown = [tasks[i] for i in scored]
    print(f"{len(shown)} tasks scored ({sum(not t.relevant for t in shown)} with nothing "
          f"relevant); {len(stale)} stale answers: {', '.join(stale) or 'none'}")  # fmt: skip
    print(f"candidates: relevance >= {CANDIDATE_FLOOR:.2f}, at most {CANDIDATES}; k={K}")
    print(f"{len(fallbacks)} screenings failed (the floor decided, counted in the screened "
          f"rows): {'; '.join(fallbacks) or 'none'}")  # fmt: skip
    print(HEADER)
    for name, lists in (
        (f"floor {DEFAULT_FLOOR:.2f} alone (shipped without screening)", floor_lists),
        ("screened: the model's picks, its order", screened),
        ("screened, picks in score order", in_order),
    ):
        print(row(name, product_check(shown, [lists[i] for i in scored])))


if __name__ == "__main__":
    main()
