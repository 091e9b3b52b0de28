"""`mtl learn PATH...`: seed the pool from runs you already have."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from mtl_tui import events as ev
from mtl_tui.agent.model import model_for
from mtl_tui.cli.common import err, open_store, out, print_json
from mtl_tui.config import Settings
from mtl_tui.memory.distill import judge
from mtl_tui.memory.learn import load_run
from mtl_tui.session import learn


def _notice(event: ev.Event) -> None:
    if isinstance(event, ev.Notice):
        style = "yellow" if event.level == "warning" else "dim"
        err.print(f"[{style}]{escape(event.message)}[/]")


def learn_from(
    paths: list[Path],
    cfg: Settings,
    kinds: list[str],
    outcome: str | None,
    repo: str | None,
    languages: list[str],
    as_json: bool,
) -> list[dict[str, object]]:
    runs = [(path, load_run(path)) for path in paths]  # every file checked before any call
    model = model_for(cfg, on_warning=lambda message: err.print(f"[yellow]{escape(message)}[/]"))
    report: list[dict[str, object]] = []
    with open_store(cfg, embed=True) as store:
        for path, record in runs:
            record.repo = repo or record.repo
            record.languages = languages or record.languages
            cost = 0.0
            if outcome:
                record.outcome, source = outcome, "given"
            elif record.outcome in ("success", "failure"):
                source = "recorded"
            else:
                record.outcome, cost = judge(model, record)
                source = "judge"
            err.print(f"[bold]{escape(path.name)}[/]: {record.outcome} ({source})")
            ids, distill_cost = learn(model, store, record, kinds, _notice)
            report.append({
                "path": str(path), "outcome": record.outcome, "outcome_source": source,
                "learned": ids, "cost": round(cost + distill_cost, 6),
            })  # fmt: skip
    if as_json:
        print_json(report)
    else:
        total = sorted({i for item in report for i in item["learned"]})  # type: ignore[attr-defined]
        out.print(f"Learned {len(total)} memories from {len(runs)} trajectories"
                  + (f": {', '.join(f'#{i}' for i in total)}" if total else "."))  # fmt: skip
    return report
