"""`mtl memory …`: look after the per-user pool."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mtl_tui.cli.choices import KindChoice
from mtl_tui.cli.common import (
    err,
    notice,
    open_store,
    out,
    print_json,
    progress_bar,
    settings,
)
from mtl_tui.cli.numbers import number
from mtl_tui.errors import MtlError
from mtl_tui.memory.embed import make_embedder
from mtl_tui.memory.rank import Hit
from mtl_tui.memory.retrieve import Screener, fit_budget, retrieve, screener_for
from mtl_tui.memory.scope import WHOLE_POOL_VIEW, pool_policy, view_for, view_text
from mtl_tui.memory.screen import screening_model
from mtl_tui.records import Memory
from mtl_tui.text import noun, plural

if TYPE_CHECKING:
    from mtl_tui.config import Settings

app = typer.Typer(
    help="Search, list, show, add, rate, rescope, prune and delete memories in your pool "
    "(these work on the whole pool, wherever you run them).",
    no_args_is_help=True,
)


class Direction(StrEnum):
    up = "up"
    down = "down"


KindOpt = Annotated[KindChoice | None, typer.Option("--kind", help="Only this kind.")]
LangOpt = Annotated[
    str | None, typer.Option("--lang", help="Only memories from this language, e.g. python.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _kind(value: KindChoice | None) -> str | None:
    return value.value if value else None


def _votes(memory: Memory) -> str:
    net = memory.net_votes
    style = "green" if net > 0 else "red" if net < 0 else "dim"
    return f"[{style}]{net:+d}[/] ({memory.up}↑ {memory.down}↓)"


def _table(rows: list[Memory] | list[Hit], title: str) -> Table:
    table = Table(title=title, title_justify="left", expand=out.is_terminal)
    table.add_column("id", justify="right", style="bold", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("title", ratio=1)
    table.add_column("lang", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("votes", no_wrap=True)
    has_score = bool(rows) and isinstance(rows[0], Hit)
    if has_score:
        table.add_column("relevance", justify="right", no_wrap=True)
        table.add_column("score", justify="right", no_wrap=True)  # the order (ORDER_RULE)
    else:
        table.add_column("origin", no_wrap=True)
    for row in rows:
        memory = row.memory if isinstance(row, Hit) else row
        last = (
            [f"{row.relevance or 0.0:.2f}", f"{row.score:.2f}"]
            if isinstance(row, Hit)
            else [escape(memory.origin)]
        )
        imported = isinstance(row, Hit) and not row.trusted
        conflict = row.conflict if isinstance(row, Hit) else None
        table.add_row(
            str(memory.id),
            memory.kind,
            escape(memory.title)
            + (f" [yellow](imported: {escape(memory.origin)})[/]" if imported else "")
            + (f" [magenta]({conflict})[/]" if conflict else ""),
            ", ".join(memory.languages) or "any",
            memory.outcome,
            _votes(memory),
            *last,
        )
    return table


@app.command("list")
def list_(
    kind: KindOpt = None,
    lang: LangOpt = None,
    limit: Annotated[int, typer.Option(min=0, help="At most this many; 0 for all.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List memories, newest first: the whole pool, every repository's."""
    with open_store() as store:
        rows = store.list(_kind(kind), lang, limit or None)
        total = store.count(_kind(kind), lang)
    err.print(escape(WHOLE_POOL_VIEW), highlight=False)
    if as_json:
        print_json([m.to_dict() for m in rows])
        return
    if not rows:
        out.print("No memories yet." if total == 0 else "Nothing matches.")
        return
    shown = f"{len(rows)} of {total}" if len(rows) < total else str(total)
    out.print(_table(rows, f"Memories ({shown})"))


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What you are looking for, in plain words.")],
    kind: KindOpt = None,
    lang: LangOpt = None,
    top_k: Annotated[
        int | None,
        typer.Option(
            "--top-k",
            "-k",
            min=1,
            max=100,
            help="Most results (default: the config's memory.top_k, what a run uses).",
        ),
    ] = None,
    floor: Annotated[
        float | None,
        typer.Option(
            parser=number(-1.0, 1.0),
            help="Least relevance shown (default: the config's memory.floor, what a run "
            "uses; -1 shows everything).",
        ),
    ] = None,
    screen: Annotated[
        bool | None,
        typer.Option(
            "--screen/--no-screen",
            help="Let the model pick which candidates apply, in place of the floor, as a run "
            "does with memory.screen on (default: the config's memory.screen; off when --floor "
            "is given).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search memories as a run retrieves them for this task.

    Meaning and words, votes, wins and conflicts, cut at the relevance floor. A run also
    keeps its prompt within the memory budget (memory.budget_chars); the search names
    what that leaves out.

    Rows come best first by score: relevance (what the floor cuts) nudged by votes and
    past outcomes; both are shown, and --json gives relevance, score and similarity. The
    first line on stderr says which memories were searched (with git config mtl.memory
    project: this repository's own only)."""
    cfg = settings()
    given_floor = floor
    floor = cfg.memory.floor if floor is None else floor
    top_k = cfg.memory.top_k if top_k is None else top_k
    view, policy, identity = view_for(Path.cwd(), cfg)
    if policy == "off":
        raise MtlError(
            "memory is off for this repository (git config mtl.memory off): a run here "
            "retrieves nothing; `mtl memory list` shows the pool"
        )
    # an explicit --floor asks for the floor's view, unless --screen is given too
    screening = (cfg.memory.screen and given_floor is None) if screen is None else screen
    with open_store(cfg, embed=True) as store:
        found = retrieve(store, query, top_k, _kind(kind), floor=floor, language=lang, view=view,
                         budget_chars=cfg.memory.budget_chars,
                         screener=_screener(cfg, query, lang) if screening else None)  # fmt: skip
    hits = found.hits
    err.print(escape(view_text(policy, identity)), highlight=False)
    if found.screen_note:
        (err.print if found.screened else notice)(found.screen_note)
    if as_json:
        print_json([hit.to_dict() for hit in hits])
        return
    below = (
        f" ({len(found.below)} held back: under the floor {floor:.2f} or far below the best;"
        " --floor -1 shows them)"
        if not found.screened
        else f" ({len(found.below)} screened out by the model; --no-screen shows the floor's)"
    )
    if not hits:
        out.print("Nothing relevant found." + (below if found.below else ""))
        return
    at = f" (relevance ≥ {found.cut:.2f})" if found.cut is not None else ""
    table = _table(hits, f"Best {len(hits)} for “{escape(query)}”{at}")
    table.caption, table.caption_justify = found.order_rule, "left"
    out.print(table)
    over = fit_budget(hits, cfg.memory.budget_chars)[1]  # as `mtl run` takes every hit
    for item in [*found.left_out, *over]:
        err.print(f"Left out: #{item.hit.memory.id} {escape(item.hit.memory.title)} "
                  f"({item.reason}: {escape(item.detail)})")  # fmt: skip
    if found.below:
        err.print(below.strip(" ()").capitalize() + ".")


def _screener(cfg: Settings, query: str, lang: str | None) -> Screener:
    """The configured model's screening of the search's candidates (retrieve.screener_for)."""

    ask = screener_for(lambda: screening_model(cfg, notice), query, [lang] if lang else [])

    def pick(candidates: Sequence[Hit]) -> list[int]:
        with err.status(f"The model screens {plural(len(candidates), 'candidate')}…"):
            return ask(candidates)

    return pick


@app.command()
def show(
    memory_id: Annotated[int, typer.Argument(metavar="ID")],
    as_json: JsonOpt = False,
) -> None:
    """Show one memory in full, with its history: the runs that added, agreed with,
    refined or contradicted it."""
    with open_store() as store:
        memory = store.get(memory_id)
        links = [link.to_dict() for link in store.links_of(memory_id)]
    if as_json:
        print_json({**memory.to_dict(), "links": links})
        return
    out.print(f"[bold]#{memory.id}[/] {memory.kind}  {_votes(memory)}")
    for name, value in memory.fields.items():
        if isinstance(value, list):
            value = "\n".join(f"  - {v['command'] if isinstance(v, dict) else v}" for v in value)
            out.print(f"[bold]{name}[/]:\n{escape(value)}")
        else:
            out.print(f"[bold]{name}[/]: {escape(str(value))}")
    facts = [
        ("tags", ", ".join(memory.tags) or "-"),
        ("languages", ", ".join(memory.languages) or "any"),
        ("repository", memory.repo or "-"),
        ("model", memory.model or "-"),
        ("outcome", memory.outcome),
        ("origin", memory.origin),
        ("used", f"{plural(memory.uses, 'time')}, {memory.wins} in successful runs"),
        ("support", str(memory.support)),
        ("scope", _scope_text(memory)),
        ("last retrieved", memory.last_retrieved_at or "never"),
        ("last accepted", memory.last_accepted_at or "never"),
        ("last helpful", memory.last_helpful_at or "never"),
        ("created", memory.created_at),
        ("updated", memory.updated_at),
    ]
    for name, value in facts:
        out.print(f"[dim]{name}:[/] {escape(value)}")
    for link in links:
        out.print(f"[dim]history:[/] {escape(_link_text(link, memory_id))}")


def _link_text(link: dict[str, object], memory_id: int) -> str:
    """One line of a memory's history from its links (what runs did to it)."""
    src, dst, run = link["src"], link["dst"], link["run"] or "?"
    mine = src == memory_id
    match link["relation"]:
        case "adds":
            text = "added"
        case "agrees":
            text = "a run agreed (support +1)"
        case "refines":
            text = f"refines #{dst} (which it supersedes)" if mine else f"superseded by #{src}"
        case _:
            text = f"contradicts #{dst}" if mine else f"contradicted by #{src}"
    return f"{text} · run {run} · {link['created_at']}"


def _scope_text(memory: Memory) -> str:
    if memory.scope == "project":
        return f"project ({memory.repo or 'its repository'} only, {memory.repo_key})"
    return "global"


class ScopeChoice(StrEnum):
    global_ = "global"
    project = "project"


@app.command()
def rescope(
    memory_id: Annotated[int, typer.Argument(metavar="ID", help="The memory's id (memory list).")],
    scope: Annotated[ScopeChoice, typer.Argument(help="global or project")],
) -> None:
    """Make a memory global (any repository) or scoped to one project.

    Project: the repository it was learned in, or, for a memory that records none, the
    current one. Retrieval never shows a project's memories in another repository."""
    from mtl_tui.repo.git import GitRepo

    here = None
    if scope is ScopeChoice.project:
        _, _, identity = view_for(Path.cwd(), settings())
        here = identity if GitRepo.find(Path.cwd()) else None
    with open_store() as store:
        memory = store.get(memory_id)
        if scope is ScopeChoice.project and not memory.repo_key and here is None:
            raise MtlError(
                f"memory {memory_id} records no repository and {Path.cwd()} is not in a git "
                "repository: run this from inside the repository it belongs to"
            )
        key = memory.repo_key or (here.key if here else None)
        if memory.scope == scope.value and (scope is ScopeChoice.global_ or memory.repo_key):
            out.print(f"#{memory.id} is already {escape(_scope_text(memory))}: nothing changed")
            return
        memory = store.rescope(memory_id, scope.value, key)
    out.print(f"#{memory.id} is now {escape(_scope_text(memory))}")
    if here is not None and here.how == "path" and key == here.key:
        err.print(
            "[yellow]This repository has no commit and no origin remote, so it is known by "
            "its path: moving it loses the memory's scope.[/]"
        )


@app.command()
def prune(
    months: Annotated[
        float | None,
        typer.Option(
            parser=number(0.1),
            help="Months unused that make a candidate (default: the setting "
            "memory.prune_unused_months, 6).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list the candidates (the default).")
    ] = False,
    delete: Annotated[
        bool, typer.Option("--delete", help="Delete the candidates after asking to confirm.")
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Delete the candidates without asking (implies --delete)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List memories that no longer earn their place, each with its reason.

    Reasons: not accepted into any run for months; accepted in at least 5 finished runs
    but helped in at most a third of them; voted down; superseded by a refinement;
    contradicted by a memory with more evidence. Nothing is deleted unless you pass
    --delete (and confirm) or --yes; deletion is one transaction."""
    from mtl_tui.memory.prune import candidates

    if dry_run and (delete or yes):
        raise MtlError("--dry-run cannot go with --delete or --yes")
    cfg = settings()
    months = cfg.memory.prune_unused_months if months is None else months
    with open_store(cfg) as store:
        report = candidates(store, months, cfg.memory.half_life_days)
        ids = [c.memory.id for c in report.candidates if c.memory.id is not None]
        deleting = bool(ids) and (delete or yes)
        if not as_json or not deleting:
            _print_prune(report, as_json and not deleting)
        if deleting and not yes:
            if not sys.stdin.isatty():
                raise MtlError(
                    f"--delete asks before deleting {len(ids)} memor"
                    f"{'y' if len(ids) == 1 else 'ies'} and there is no terminal: pass --yes to "
                    "delete without asking"
                )
            if not typer.confirm(
                f"Delete {'this memory' if len(ids) == 1 else f'these {len(ids)} memories'}?",
                err=True,
            ):
                err.print("Nothing deleted.")
                raise typer.Exit(1)
        if deleting:
            store.delete(ids)
    if as_json and deleting:
        print_json({**report.to_dict(), "dry_run": False, "deleted": ids})
    elif deleting:
        out.print(f"Deleted {plural(len(ids), 'memory')}: {', '.join(f'#{i}' for i in ids)}")
    elif not as_json and ids:
        these = "it" if len(ids) == 1 else f"these {len(ids)}"
        out.print(
            f"Dry run: nothing deleted. `mtl memory prune --delete` deletes {these} "
            "after asking (`--yes` without asking)."
        )
    for what in report.not_checked:
        err.print(f"[yellow]not checked: {escape(what)}[/]")


def _print_prune(report: Any, as_json: bool) -> None:
    if as_json:
        print_json({**report.to_dict(), "dry_run": True, "deleted": []})
        return
    if not report.candidates:
        out.print(f"No prune candidates among {plural(report.checked, 'memory')}.")
        return
    table = Table(
        title=f"Prune candidates ({len(report.candidates)} of {report.checked})",
        title_justify="left",
        expand=out.is_terminal,
    )
    table.add_column("id", justify="right", style="bold", no_wrap=True)
    table.add_column("title", ratio=1)
    table.add_column("why", ratio=1)
    for found in report.candidates:
        table.add_row(
            str(found.memory.id), escape(found.memory.title), escape("; ".join(found.reasons))
        )
    out.print(table)


def _read_memory_file(source: str) -> Memory:
    from mtl_tui.files import MAX_MEMORY_FILE, loads_bounded, read_text_bounded

    try:
        text = (
            sys.stdin.read(MAX_MEMORY_FILE + 1)
            if source == "-"
            else read_text_bounded(Path(source), MAX_MEMORY_FILE, "memory file")
        )
    except (OSError, UnicodeDecodeError) as exc:
        raise MtlError(f"cannot read a memory from {source}: {exc}") from None
    if len(text) > MAX_MEMORY_FILE:
        raise MtlError(f"{source}: more than {MAX_MEMORY_FILE:,} characters")
    data = loads_bounded(text, source)
    if not isinstance(data, dict) or "fields" not in data:
        raise MtlError(f"{source}: expected a JSON object with 'kind' and 'fields'")
    try:
        return Memory(
            kind=data.get("kind", "insight"),
            fields=data["fields"],
            tags=data.get("tags", []),
            languages=data.get("languages", []),
            outcome=data.get("outcome", "unknown"),
        )
    except (TypeError, ValueError) as exc:
        raise MtlError(f"{source}: {exc}") from None


@app.command()
def add(
    title: Annotated[
        str | None,
        typer.Option(help="Insight title, one line (embedded with the description and content)."),
    ] = None,
    description: Annotated[str | None, typer.Option(help="Insight, one sentence.")] = None,
    content: Annotated[str | None, typer.Option(help="Insight body, 1-3 sentences.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="A tag; repeat for more.")] = None,
    lang: Annotated[list[str] | None, typer.Option(help="A language; repeat for more.")] = None,
    from_file: Annotated[
        str | None,
        typer.Option(
            "--from-file",
            help='A JSON memory of any kind ({"kind", "fields", "tags", "languages"}); '
            "- reads stdin.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a memory by hand: an insight from flags, or any kind from a JSON file."""
    if from_file:
        memory = _read_memory_file(from_file)
        memory.tags += tag or []
        memory.languages += lang or []
    else:
        if title is None:
            raise MtlError("give --title (with --description and --content) or --from-file")
        for name, value in (("title", title), ("description", description), ("content", content)):
            if value is not None and not value.strip():
                raise MtlError(f"--{name} is empty: give the insight's {name} as text")
        memory = Memory(
            kind="insight",
            fields={
                "title": title,
                "description": description or title,
                "content": content or description or title,
            },
            tags=tag or [],
            languages=lang or [],
        )
    try:
        memory = Memory(**{**memory.__dict__})  # re-normalise tags and languages
    except ValueError as exc:
        raise MtlError(str(exc)) from None
    with open_store(embed=True) as store:
        try:
            result = store.add(memory)
        except ValueError as exc:
            raise MtlError(str(exc)) from None
        stored = store.get(result.id)
    if as_json:
        print_json({"created": result.created, **stored.to_dict()})
    elif result.created:
        out.print(f"Added #{stored.id}: {escape(stored.title)}")
    else:
        out.print(f"Already stored as #{stored.id}: {escape(stored.title)}")
    if stored.scope != "project" and pool_policy(Path.cwd()) == "project":
        err.print(
            f"#{stored.id} is global, and this repository reads only its own memories (git "
            f"config mtl.memory project): `mtl memory rescope {stored.id} project` scopes it here"
        )


@app.command()
def rate(
    memory_id: Annotated[int, typer.Argument(metavar="ID")],
    direction: Annotated[Direction, typer.Argument(help="up or down")],
) -> None:
    """Vote a memory up or down. Net votes of -2 or less keep it out of retrieval."""
    with open_store() as store:
        memory = store.vote(memory_id, direction is Direction.up)
    hidden = "  (hidden from retrieval)" if memory.net_votes <= -2 else ""
    out.print(f"#{memory.id} now has {_votes(memory)}{hidden}")


@app.command("rm")
def remove(
    memory_ids: Annotated[list[int], typer.Argument(metavar="ID...", help="Ids to delete.")],
) -> None:
    """Delete memories (all of them, or none if an id is unknown)."""
    with open_store() as store:
        store.delete(memory_ids)
    out.print(f"Deleted {', '.join(f'#{i}' for i in memory_ids)}")


@app.command()
def stats(as_json: JsonOpt = False) -> None:
    """Counts by kind, outcome, origin and language; the pool's file and model."""
    with open_store() as store:
        info = store.stats()
    if as_json:
        print_json(info)
        return
    out.print(
        f"[bold]{info['total']}[/] {noun(info['total'], 'memory')} in {escape(info['path'])} "
        f"({info['size_bytes'] / 1e6:.1f} MB)"
    )
    model = info["embedding_model"] or "none yet"
    if info["embedding_dim"]:
        model += f" ({info['embedding_dim']} dimensions)"
    out.print(f"embedding model: {escape(model)}")
    for key in ("by_kind", "by_outcome", "by_origin", "by_language"):
        parts = ", ".join(f"{escape(k)} {v}" for k, v in info[key].items()) or "-"
        out.print(f"{key.removeprefix('by_')}: {parts}")
    out.print(
        f"votes: {info['votes_up']} up, {info['votes_down']} down; "
        f"{info['hidden']} hidden; used {plural(info['uses'], 'time')}, "
        f"{plural(info['wins'], 'win')}"
    )


@app.command()
def reindex() -> None:
    """Re-embed every memory with the configured embedding model (after changing it)."""
    cfg = settings()
    embedder = make_embedder(cfg.embedding_model, notice)
    with open_store(cfg) as store:
        with err.status(f"Loading embedding model {embedder.name}…"):
            embedder.load()
        with progress_bar("Re-embedding") as update:
            count = store.reindex(embedder, update)
    out.print(f"Re-embedded {plural(count, 'memory')} with {escape(embedder.name)}.")
