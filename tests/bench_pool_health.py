"""Simulate a pool fed by 2,000 runs over many repositories and count what unhealthy
memories retrieval still serves at the end, with and without the pool-health rules.

    python tests/bench_pool_health.py [--runs 2000] [--seed 7] [--vote-rate 0.15]
                                      [--only-ends]

Material (real texts, real model, real store):
- lessons: the shipped starter pack plus the retrieval eval's near-neighbour distractors
  (tests/data/retrieval/distractors.json), 90 insights;
- tasks: the 80 real task statements of tests/data/retrieval/tasks.json (each records its
  public source), with their hand labels of which lessons are worth reading for them;
- 16 simulated repositories of five tasks each (grouped by language).
Every retrieval is the product path: a real sqlite-vec pool on disk, all-MiniLM-L6-v2
through ONNX Runtime, MemoryStore.search_vector_split (what retrieve() calls after
embedding the query; the 80 queries are embedded once), the default floor and top-3.

What is simulated (the ground truth no data set gives; seeded):
- lessons arrive over the first quarter of the runs, each learned in one repository (a repository
  with a task it fits, for lessons labelled relevant anywhere);
- roles among the lessons labelled relevant: 6 go STALE at run 1,000 (they help before,
  mislead after), 5 are PROJECT-ONLY (help in the repository they were learned in,
  mislead in any other); the rest stay useful. LOSING: a third of the lessons that the
  floor lets through for some task but that are labelled relevant to none mislead;
- a run's success probability is 0.5 + 0.15 per accepted lesson that helps it
  - 0.2 per accepted lesson that misleads it; every retrieved lesson is accepted (the
  default), and each run's use is recorded with the run's time (two years in all);
- after a failed run, the user votes each misleading accepted lesson down with
  probability --vote-rate (0.15; in every condition: votes existed before, and two down
  votes already hide a memory);
- with scopes, distillation proposes project scope for a project-only lesson with
  probability 0.8, and wrongly for any other lesson with probability 0.05;
- with prune, `mtl memory prune --yes` runs every 30 days (all candidates deleted).

At the end every task is retrieved for once, in its own repository. Printed per
condition: the retrieved items that are useful, stale, losing (misleading from the
start) or out of scope (another repository's project-only lesson), the distinct
memories behind the unhealthy ones, the success rate of the last 500 runs, and time.
Contradictions are not simulated: this branch has no memory_links table (the
distillation-as-operations change adds it; prune reads it when present).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mtl_tui.config import DEFAULT_FLOOR, DEFAULT_HALF_LIFE_DAYS
from mtl_tui.memory import packs, prune
from mtl_tui.memory.embed import make_embedder
from mtl_tui.memory.retrieve import task_query
from mtl_tui.memory.store import MemoryStore, View
from mtl_tui.records import Memory

DATA = Path(__file__).parent / "data" / "retrieval"
K = 3
REPOS = 16
STALE_AT = 0.5  # of the runs
DAYS = 730  # the runs span two years
HELP, HARM = 0.15, -0.2


@dataclass
class Task:
    id: str
    text: str
    language: str
    relevant: set[str]
    repo: int = 0


@dataclass
class Lesson:
    fields: dict
    role: str = "neutral"  # useful | stale | project | losing | neutral
    home: int = 0  # the repository it is learned in
    arrives: int = 0  # the run after which it is in the pool
    proposed_project: bool = False  # what distillation proposes (with scopes)

    @property
    def title(self) -> str:
        return self.fields["title"]


@dataclass
class Condition:
    name: str
    decay: bool
    prune: bool
    scopes: bool


CONDITIONS = [
    Condition("without (before #19)", False, False, False),
    Condition("decay", True, False, False),
    Condition("decay + prune", True, True, False),
    Condition("decay + prune + scopes", True, True, True),
]


@dataclass
class Result:
    served: Counter = field(default_factory=Counter)
    unhealthy: dict[str, set[str]] = field(default_factory=dict)
    late_wins: int = 0
    late_runs: int = 0
    deleted: int = 0
    deleted_for: Counter = field(default_factory=Counter)  # reasons, and roles of lessons
    pool: int = 0
    wall: float = 0.0
    cpu: float = 0.0


def load() -> tuple[list[Task], list[Lesson]]:
    starter = json.loads(packs.starter_path().read_text())["items"]
    extra = json.loads((DATA / "distractors.json").read_text())["insights"]
    lessons = [Lesson(item["fields"]) for item in starter + extra]
    raw = json.loads((DATA / "tasks.json").read_text())["tasks"]
    tasks = [Task(t["id"], t["task"], t["language"], set(t["relevant"])) for t in raw]
    tasks.sort(key=lambda t: (t.language, t.id))
    for index, task in enumerate(tasks):  # 16 repositories of 5, grouped by language
        task.repo = index * REPOS // len(tasks)
    return tasks, lessons


def assign_roles(
    tasks: list[Task],
    lessons: list[Lesson],
    passes: dict[str, set[str]],
    rng: random.Random,
    arrive_within: int,
) -> None:
    """`passes`: lesson title -> ids of the tasks it reaches the prompt for (no evidence)."""
    relevant = sorted({title for t in tasks for title in t.relevant})
    rng.shuffle(relevant)
    roles = {title: "stale" for title in relevant[:6]}
    roles |= {title: "project" for title in relevant[6:11]}
    roles |= {title: "useful" for title in relevant[11:]}
    served_only = sorted(title for title, ids in passes.items() if ids and title not in roles)
    rng.shuffle(served_only)
    roles |= {title: "losing" for title in served_only[: len(served_only) // 3]}
    order = list(range(len(lessons)))
    rng.shuffle(order)
    for position, index in enumerate(order):
        lesson = lessons[index]
        lesson.role = roles.get(lesson.title, "neutral")
        lesson.arrives = position * arrive_within // len(lessons)
        homes = [t.repo for t in tasks if lesson.title in t.relevant]
        lesson.home = rng.choice(homes) if homes else rng.randrange(REPOS)
        chance = 0.8 if lesson.role == "project" else 0.05
        lesson.proposed_project = rng.random() < chance


def effect(lesson: Lesson, task: Task, run: int, runs: int) -> float:
    stale_now = lesson.role == "stale" and run >= runs * STALE_AT
    if lesson.role == "losing" or stale_now:
        return HARM
    if lesson.role == "project" and lesson.home != task.repo:
        return HARM
    return HELP if lesson.title in task.relevant else 0.0


def classify(lesson: Lesson, task: Task) -> str:
    """What an item served at the end (after the stale point) is."""
    if lesson.role == "project" and lesson.home != task.repo:
        return "out of scope"
    if lesson.role in ("stale", "losing"):
        return lesson.role
    return "useful" if lesson.title in task.relevant else "neutral"


def key(repo: int) -> str:
    return f"repo:sim{repo:02d}"


def simulate(
    condition: Condition,
    tasks: list[Task],
    lessons: list[Lesson],
    vectors: dict[str, object],
    lesson_vectors: dict[str, object],
    plan: list[tuple[int, float, list[float]]],
    embedder: object,
    vote_rate: float,
) -> Result:
    result = Result()
    started, cpu = time.perf_counter(), time.process_time()
    start = datetime(2024, 1, 1, tzinfo=UTC)
    runs = len(plan)
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore.open(Path(tmp) / "pool.db", embedder=embedder)  # type: ignore[arg-type]
        now = [start]
        store.clock = lambda: now[0].isoformat()
        by_title = {lesson.title: lesson for lesson in lessons}
        arrivals = sorted(lessons, key=lambda lesson: lesson.arrives)
        next_lesson, last_prune = 0, start
        for run, (task_index, draw, vote_draws) in enumerate(plan):
            now[0] = start + timedelta(days=DAYS * run / runs)
            while next_lesson < len(arrivals) and arrivals[next_lesson].arrives <= run:
                lesson = arrivals[next_lesson]
                next_lesson += 1
                memory = Memory(
                    kind="insight", fields=dict(lesson.fields), repo=f"sim{lesson.home}"
                )
                memory.created_at = memory.updated_at = store.clock()
                memory.repo_key = key(lesson.home)
                if condition.scopes and lesson.proposed_project:
                    memory.scope = "project"
                store.add_many([memory], vectors=[lesson_vectors[lesson.title]])
            task = tasks[task_index]
            hits = search(store, condition, task, vectors)
            ids = [h.memory.id for h in hits if h.memory.id is not None]
            p = 0.5 + sum(effect(by_title[h.memory.title], task, run, runs) for h in hits)
            success = draw < min(max(p, 0.05), 0.95)
            store.record_uses(f"run-{run}", ids, ids, "success" if success else "failure")
            if not success:
                for hit, vote in zip(hits, vote_draws, strict=False):
                    harmful = effect(by_title[hit.memory.title], task, run, runs) < 0
                    if harmful and vote < vote_rate:
                        store.vote(hit.memory.id, up=False)  # type: ignore[arg-type]
            if run >= runs - 500:
                result.late_runs += 1
                result.late_wins += success
            if condition.prune and now[0] - last_prune >= timedelta(days=30):
                last_prune = now[0]
                report = prune.candidates(store, 6.0, DEFAULT_HALF_LIFE_DAYS)
                doomed = [c.memory.id for c in report.candidates if c.memory.id is not None]
                for c in report.candidates:
                    result.deleted_for["+".join(c.codes)] += 1
                    result.deleted_for["role " + by_title[c.memory.title].role] += 1
                if doomed:
                    store.delete(doomed)
                    result.deleted += len(doomed)
        for task in tasks:  # the end: every task once, in its own repository
            for hit in search(store, condition, task, vectors):
                kind = classify(by_title[hit.memory.title], task)
                result.served[kind] += 1
                if kind not in ("useful", "neutral"):
                    result.unhealthy.setdefault(kind, set()).add(hit.memory.title)
        result.pool = store.count()
        store.close()
    result.wall = time.perf_counter() - started
    result.cpu = time.process_time() - cpu
    return result


def search(store: MemoryStore, condition: Condition, task: Task, vectors: dict) -> list:
    view = View(
        key(task.repo) if condition.scopes else None,
        half_life_days=DEFAULT_HALF_LIFE_DAYS if condition.decay else None,
    )
    query = task_query(task.text, [task.language])
    hits, _ = store.search_vector_split(
        vectors[task.id], K, "insight", None, DEFAULT_FLOOR, query, view
    )
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--vote-rate", type=float, default=0.15)
    parser.add_argument(
        "--only-ends", action="store_true", help="only 'without' and all rules (no ablations)"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tasks, lessons = load()
    embedder = make_embedder("all-MiniLM-L6-v2")
    embedder.load()
    queries = [task_query(t.text, [t.language]) for t in tasks]
    vectors = dict(zip([t.id for t in tasks], embedder.embed(queries), strict=True))
    texts = [Memory(kind="insight", fields=lesson.fields).embedded_text for lesson in lessons]
    lesson_vectors = dict(zip([x.title for x in lessons], embedder.embed(texts), strict=True))

    passes = reach(tasks, lessons, vectors, lesson_vectors, embedder)
    assign_roles(tasks, lessons, passes, rng, max(args.runs // 4, 1))
    # a run picks a repository, then one of its tasks
    by_repo = [[i for i, t in enumerate(tasks) if t.repo == r] for r in range(REPOS)]
    plan = [
        (rng.choice(by_repo[rng.randrange(REPOS)]), rng.random(), [rng.random() for _ in range(K)])
        for _ in range(args.runs)
    ]
    roles = Counter(lesson.role for lesson in lessons)
    print(
        f"{args.runs} runs over {REPOS} repositories and {DAYS} days; {len(tasks)} real tasks, "
        f"{len(lessons)} real lessons: {dict(roles)}; seed {args.seed}; floor "
        f"{DEFAULT_FLOOR}, top-{K}, half-life {DEFAULT_HALF_LIFE_DAYS:g} days, "
        f"vote rate {args.vote_rate:g}"
    )
    header = (
        f"{'condition':<24} {'useful':>6} {'stale':>6} {'losing':>6} {'out-sc':>6} "
        f"{'neutral':>7} {'unhealthy memories':>19} {'late win':>8} {'pruned':>6} "
        f"{'pool':>4} {'wall s':>7} {'cpu s':>6}"
    )
    print(header)
    conditions = [CONDITIONS[0], CONDITIONS[-1]] if args.only_ends else CONDITIONS
    for condition in conditions:
        r = simulate(
            condition, tasks, lessons, vectors, lesson_vectors, plan, embedder, args.vote_rate
        )
        distinct = sum(len(titles) for titles in r.unhealthy.values())
        print(
            f"{condition.name:<24} {r.served['useful']:>6} {r.served['stale']:>6} "
            f"{r.served['losing']:>6} {r.served['out of scope']:>6} {r.served['neutral']:>7} "
            f"{distinct:>19} {r.late_wins / max(r.late_runs, 1):>8.3f} {r.deleted:>6} "
            f"{r.pool:>4} {r.wall:>7.1f} {r.cpu:>6.1f}"
        )
        if r.deleted_for:
            print(f"{'':24} pruned for: {dict(sorted(r.deleted_for.items()))}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"served items at the end: {len(tasks)} tasks x top-{K} above the floor; "
        f"'late win' = success rate of the last 500 runs; peak RSS {peak:.0f} MB"
    )


def reach(
    tasks: list[Task],
    lessons: list[Lesson],
    vectors: dict,
    lesson_vectors: dict,
    embedder: object,
) -> dict[str, set[str]]:
    """Which tasks each lesson reaches the prompt for in a pool of all lessons with no
    evidence (the real store and floor): the candidates for 'losing'."""
    reached: dict[str, set[str]] = {lesson.title: set() for lesson in lessons}
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore.open(Path(tmp) / "pool.db", embedder=embedder)  # type: ignore[arg-type]
        memories = [Memory(kind="insight", fields=dict(x.fields)) for x in lessons]
        store.add_many(memories, vectors=[lesson_vectors[x.title] for x in lessons])
        for task in tasks:
            for hit in search(store, CONDITIONS[0], task, vectors):
                reached.setdefault(hit.memory.title, set()).add(task.id)
        store.close()
    return reached


if __name__ == "__main__":
    main()
