"""Every stored and exported field passes the scrubbing boundary. The fields are enumerated
from the data models and the database columns, so that a field added later is covered (or
this test fails until it is)."""

from __future__ import annotations

import dataclasses
import json
import random
import string
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mtl_tui.agent.trajectory import Step, Trajectory
from mtl_tui.memory import packs
from mtl_tui.memory import store as store_module
from mtl_tui.memory.store import MemoryStore
from mtl_tui.records import Memory
from mtl_tui.session import RunSummary

_rng = random.Random(3)
_made: list[str] = []


def secret() -> str:
    """A fresh GitHub-token-shaped secret (a documented format, random body)."""
    body = "".join(_rng.choice(string.ascii_letters + string.digits) for _ in range(36))
    _made.append(f"ghp_{body}")
    return _made[-1]


def aws_key_id() -> str:
    """Case matters to this format: lower-cased first, it would no longer be recognised."""
    body = "".join(_rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    _made.append(f"AKIA{body}")
    return _made[-1]


def leaks(text: str) -> list[str]:
    return [s for s in _made if s[4:20] in text or s[4:20].lower() in text.lower()]


def insight_fields() -> dict[str, str]:
    return {"title": f"Use {secret()}", "description": secret(), "content": secret()}


def every_text_attribute(memory: Memory) -> list[str]:
    names = []
    for attribute in dataclasses.fields(memory):
        if attribute.name in store_module._MADE_HERE or attribute.name == "fields":
            continue
        value = getattr(memory, attribute.name)
        if isinstance(value, str) or (value is None and "str" in str(attribute.type)):
            setattr(memory, attribute.name, f"x {secret()}")
            names.append(attribute.name)
        elif isinstance(value, list):
            setattr(memory, attribute.name, [f"Tag {aws_key_id()}", secret()])
            names.append(attribute.name)
    return names


def test_only_validated_choices_and_timestamps_skip_the_memory_scrub() -> None:
    # scope is a validated choice, repo_key a hash mtl computes (repo/identity.py), the
    # last_*_at timestamps are written by the store
    evidence = {"last_retrieved_at", "last_accepted_at", "last_helpful_at"}
    made = {"kind", "outcome", "created_at", "updated_at", "scope", "repo_key"} | evidence
    assert made == store_module._MADE_HERE


def test_every_memory_attribute_and_column_is_scrubbed_when_stored(store: MemoryStore) -> None:
    memory = Memory("insight", insight_fields())
    filled = every_text_attribute(memory)
    assert {"tags", "languages", "repo", "model", "origin"} <= set(filled)
    memory = Memory(**memory.__dict__)  # tags and languages lower-cased, as at construction
    store.add(memory)
    columns = [row[1] for row in store.db.execute("PRAGMA table_info(memories)").fetchall()]
    attributes = {a.name for a in dataclasses.fields(Memory)}
    assert set(columns) - attributes == {"content_hash"}  # every column holds an attribute
    rows = store.db.execute("SELECT * FROM memories").fetchall()
    text = json.dumps([list(r) for r in rows])
    assert leaks(text) == [] and "[REDACTED]" in text


def fill_model(model: type[BaseModel]) -> dict[str, Any]:
    """A pack object with a secret in every string the model allows."""
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        kind = info.annotation
        args = typing.get_args(kind)
        if kind is str or (str in args and type(None) in args):
            data[name] = secret()
        elif typing.get_origin(kind) is list:
            data[name] = [secret()]
        elif isinstance(kind, type) and issubclass(kind, BaseModel):
            data[name] = fill_model(kind)
    return data


def test_every_pack_item_field_is_scrubbed_on_import(store: MemoryStore, tmp_path: Path) -> None:
    item = fill_model(packs.PackItem) | {"kind": "insight", "fields": insight_fields()}
    item.pop("embedding")
    item["provenance"]["outcome"] = "success"
    pack = fill_model(packs.Pack) | {"format": "mtl-insight-pack", "version": 1}
    pack |= {"items": [item], "embedding": None}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(pack))
    report = packs.import_pack(store, path)
    rows = store.db.execute("SELECT * FROM memories").fetchall()
    text = json.dumps([list(r) for r in rows]) + json.dumps(report.to_dict())
    assert leaks(text) == [] and report.added


def test_every_column_is_scrubbed_on_export(store: MemoryStore, tmp_path: Path) -> None:
    columns = store.db.execute("PRAGMA table_info(memories)").fetchall()
    values: dict[str, Any] = {}
    for _, name, kind, *_ in columns:
        if name == "id" or kind.upper() != "TEXT":
            continue
        values[name] = secret()
    values |= {"kind": "insight", "outcome": "unknown", "fields": json.dumps(insight_fields())}
    values["scope"] = "global"  # a validated choice (CHECK)
    values |= {"tags": json.dumps([secret()]), "languages": json.dumps([secret()])}
    values["origin"] = f"pack:{secret()}"
    marks = ", ".join("?" * len(values))
    with store.db.write() as conn:  # as an older mtl might have left it
        names = ", ".join(values)
        conn.execute(f"INSERT INTO memories ({names}) VALUES ({marks})", [*values.values()])
    memories = packs.select(store).memories
    out = tmp_path / "out.json"
    packs.export_json(store, out, memories, name=secret())
    markdown = packs.agents_md(memories) + packs.agents_md(memories, "language")
    assert leaks(out.read_text() + markdown) == []


def test_every_trajectory_field_is_scrubbed_when_saved(tmp_path: Path) -> None:
    trajectory = Trajectory.create(tmp_path, task=secret(), model=secret())
    for holder in (trajectory,):
        for attribute in dataclasses.fields(holder):
            value = getattr(holder, attribute.name)
            if attribute.name.startswith("_") or attribute.name in ("path", "id"):
                continue
            if isinstance(value, str) or (value is None and "str" in str(attribute.type)):
                setattr(holder, attribute.name, f"note {secret()}")
            elif isinstance(value, list) and attribute.name not in ("messages", "steps"):
                setattr(holder, attribute.name, [f"{secret()}"])
    trajectory.messages.append({"role": "assistant", "content": secret()})
    step = Step(1, secret(), secret(), 0.1, 0.0)
    for attribute in dataclasses.fields(step):
        if isinstance(getattr(step, attribute.name), str) or "str" in str(attribute.type):
            setattr(step, attribute.name, f"out {secret()}")
    trajectory.steps.append(step)
    trajectory.finish("completed", f"MTL_TASK_COMPLETE printed {secret()}")
    assert leaks(trajectory.path.read_text()) == []


def test_every_run_summary_field_is_scrubbed_for_faces() -> None:
    values = {
        f.name: (f"x {secret()}" if "str" in str(f.type) and "list" not in str(f.type) else [])
        for f in dataclasses.fields(RunSummary)
    }
    values |= {"steps": 1, "cost": 0.0, "undo_available": False}
    values["warnings"] = [secret()]
    summary = RunSummary(**values)
    assert leaks(json.dumps(summary.to_dict())) == []
