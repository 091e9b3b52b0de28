"""`mtl pack export|import`: share insight packs between machines, teammates and models."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from mtl_tui.cli.common import err, open_store, out, print_json, progress_bar
from mtl_tui.cli.memory import JsonOpt, KindOpt, LangOpt
from mtl_tui.errors import MtlError
from mtl_tui.memory import packs
from mtl_tui.records import Memory
from mtl_tui.text import plural

app = typer.Typer(help="Export and import packs of memories.", no_args_is_help=True)


class PackFormat(StrEnum):
    json = "json"
    agents_md = "agents-md"


class GroupBy(StrEnum):
    tag = "tag"
    language = "language"


def _memories(count: int) -> str:
    return f"{count} memor{'y' if count == 1 else 'ies'}"


@app.command("export")
def export(
    path: Annotated[Path, typer.Argument(help="Where to write the pack; - writes to stdout.")],
    kind: KindOpt = None,
    lang: LangOpt = None,
    min_rating: Annotated[
        int | None, typer.Option(help="Only memories with at least this many net votes.")
    ] = None,
    with_embeddings: Annotated[
        bool, typer.Option("--with-embeddings", help="Include the embeddings (base64 float32).")
    ] = False,
    fmt: Annotated[
        PackFormat, typer.Option("--format", help="json (a pack) or agents-md (Markdown).")
    ] = PackFormat.json,
    group_by: Annotated[GroupBy, typer.Option(help="agents-md: group by tag or language.")] = (
        GroupBy.tag
    ),
    name: Annotated[str | None, typer.Option(help="The pack's name (default: file name).")] = None,
    include_project: Annotated[
        bool,
        typer.Option(
            "--include-project",
            help="Also export project-scoped memories (left out by default: they belong to "
            "one repository).",
        ),
    ] = False,
) -> None:
    """Write memories from your pool to a pack file (secrets and paths scrubbed again).
    Project-scoped and superseded memories are left out, and the count is printed."""
    with open_store() as store:
        selection = packs.select(
            store, kind.value if kind else None, lang, min_rating, include_project=include_project
        )
        memories = selection.memories
        if notice := selection.notice():
            err.print(escape(notice))
        if fmt is PackFormat.agents_md:
            _name_flagged(memories)
        if str(path) == "-":
            if fmt is PackFormat.agents_md:
                text = packs.agents_md(memories, group_by.value)
            else:
                pack = packs.build(
                    store, memories, packs.safe_name(name or "pack"), with_embeddings
                )
                text = json.dumps(pack, indent=1, ensure_ascii=False) + "\n"
            sys.stdout.write(text)
            count = _in_agents_md(memories) if fmt is PackFormat.agents_md else len(memories)
            err.print(f"Exported {_memories(count)} to stdout")
            return
        if fmt is PackFormat.agents_md:
            text = packs.agents_md(memories, group_by.value)
            try:
                packs.write_atomic(path, text)
            except OSError as exc:
                raise MtlError(f"cannot write {path}: {exc.strerror or exc}") from None
            count = _in_agents_md(memories)
        else:
            try:
                count = packs.export_json(store, path, memories, with_embeddings, name)
            except OSError as exc:
                raise MtlError(f"cannot write {path}: {exc.strerror or exc}") from None
    out.print(f"Exported {_memories(count)} to {escape(str(path))}")


def _in_agents_md(memories: list[Memory]) -> int:
    return sum(m.kind == "insight" for m in memories) - len(packs.flagged(memories))


def _name_flagged(memories: list[Memory]) -> None:
    """Name each imported memory AGENTS.md leaves out for reading like an instruction."""
    for memory, why in packs.flagged(memories):
        err.print(
            f"[bold yellow]Left out #{memory.id}[/] “{escape(memory.title)}” (imported, "
            f"untrusted): reads like an instruction to the agent ({escape('; '.join(why))}); "
            "AGENTS.md would make it a standing one"
        )


@app.command("import")
def import_(
    path: Annotated[Path | None, typer.Argument(help="The pack file.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and report; write nothing.")
    ] = False,
    starter: Annotated[
        bool, typer.Option("--starter", help="Import the starter pack that ships with mtl.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Validate a whole pack, then add its memories in one transaction. Near-duplicates
    merge into what you have; importing the same pack twice adds nothing."""
    if starter:
        if path is not None:
            raise MtlError("give either a pack file or --starter, not both")
        path = packs.starter_path()
    if path is None:
        raise MtlError("give the pack file to import, or --starter")
    pack = packs.read_pack(path)  # validated before the embedding model loads
    with open_store(embed=True) as store, progress_bar("Embedding") as update:
        report = packs.import_pack(store, path, dry_run=dry_run, progress=update, pack=pack)
    if report.renamed:
        position, given, real = report.renamed[0]
        given = given if len(given) <= 40 else given[:39] + "…"
        more = f" and {len(report.renamed) - 1} more" if len(report.renamed) > 1 else ""
        err.print(
            f"note: the pack gives item {position} the id {escape(given)}{more}, not its "
            f"content id; this import names it by content id ({escape(real)})"
        )
    if report.suspicious:
        err.print(
            f"[bold yellow]warning:[/] {len(report.suspicious)} item(s) of pack "
            f"{escape(report.name)} read like instructions to the agent rather than lessons; "
            "they stay off in the insights panel until you accept them, and out of "
            "`mtl run` unless you pass --trust-imported. Review or delete them "
            "(`mtl memory show ID`, `mtl memory rm ID`):"
        )
        held = "would be #" if dry_run else "#"  # a dry run stores nothing
        for _item, title, why, memory_id in report.suspicious:
            err.print(f"  {held}{memory_id} “{escape(title)}”: {escape('; '.join(why))}")
    if as_json:
        print_json(report.to_dict())
        return
    verb = "Would add" if dry_run else "Added"
    err.print(f"pack {escape(report.name)}: {plural(len(pack.items), 'item')}"
              + (" (re-embedded with this pool's model)" if report.reembedded else ""))  # fmt: skip
    if report.untrusted:
        err.print(
            f"[dim]{plural(report.untrusted, 'item')} "
            f"{'would be' if dry_run else 'was' if report.untrusted == 1 else 'were'} "
            "added untrusted: shown marked and off until accepted; `mtl run` uses them only "
            "with --trust-imported.[/]"
        )
    out.print(f"{verb} {len(report.added)}, merged {len(report.merged)}, "
              f"skipped {len(report.skipped)}.")  # fmt: skip
    for item, into in report.merged:
        out.print(f"  merged {escape(item)} into #{into} (near-duplicate)")
    for item, existing, why in report.skipped:
        out.print(f"  skipped {escape(item)}: {why} (#{existing})")
