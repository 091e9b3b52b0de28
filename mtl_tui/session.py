"""One task end to end: retrieve → snapshot → run the agent → decide the outcome →
distill → store, emitting events that both faces consume. Neither face holds logic."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtl_tui import events as ev
from mtl_tui import paths
from mtl_tui.agent.approval import ApprovalPolicy
from mtl_tui.agent.loop import Agent, Approver, Decision, Limits, approve_all
from mtl_tui.agent.model import (
    SCRIPTED_PREFIX,
    Model,
    ModelError,
    missing_credentials,
    model_for,
)
from mtl_tui.agent.shell import LocalShell
from mtl_tui.agent.trajectory import Trajectory
from mtl_tui.config import Settings
from mtl_tui.errors import MtlError
from mtl_tui.memory.distill import RunRecord, distill, judge
from mtl_tui.memory.edit import EditReport, apply_learning, plan_edits
from mtl_tui.memory.rank import Hit
from mtl_tui.memory.retrieve import (
    NOT_RELEVANT_ENOUGH,
    SCREEN_PREVIEW,
    LeftOut,
    Retrieval,
    Screener,
    fit_budget,
    label,
    memory_section,
    plan_query,
    retrieve,
    screener_for,
    task_query,
)

# pool_policy and view_for live in memory/scope.py (a search does not import this module).
from mtl_tui.memory.scope import pool_policy as pool_policy
from mtl_tui.memory.scope import repo_view, view_text
from mtl_tui.memory.scope import view_for as view_for
from mtl_tui.memory.screen import screening_model
from mtl_tui.memory.store import MemoryStore, View
from mtl_tui.memory.trust import trusted
from mtl_tui.prompts import render
from mtl_tui.records import Memory
from mtl_tui.repo.git import GitRepo
from mtl_tui.repo.identity import (
    MemoryPolicy,
    RepoIdentity,
    directory_identity,
    identify,
    memory_policy,
)
from mtl_tui.scrub import scrub_value

Verdict = Callable[[], str | None]  # asks the user: "success", "failure" or None (skip)
Review = Callable[[list[Memory]], list[Memory]]  # the user keeps, edits or drops memories

_NO_LEARNING = {"model_error", "interrupted"}
_RETRIEVALS_KEPT = 8


@dataclass
class RunSummary:
    status: str
    message: str
    steps: int
    cost: float
    trajectory: str
    repo: str | None
    outcome: str = "unknown"
    outcome_source: str = "none"  # verify | user | judge | status | none
    diff_stat: str = ""
    undo_available: bool = False
    retrieved: list[int] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)
    learned: list[int] = field(default_factory=list)  # stored or strengthened
    learned_new: list[int] = field(default_factory=list)  # of `learned`, the newly stored
    warnings: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    duration: float = 0.0  # seconds, from the start of the run to the stored memories
    edits: dict[str, Any] = field(default_factory=dict)  # pool edits: applied, refused
    left_out: list[dict[str, Any]] = field(default_factory=list)  # relevant, not in the prompt
    evidence: str = "none"  # what the run counted for its memories: all | rejections | none

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    def learned_line(self) -> str:
        """`learned 1 new (#48)`, `learned 0 new · 2 agreed with existing #46, #47`."""
        existing = [i for i in self.learned if i not in self.learned_new]
        return ev.learned_line(self.learned_new, existing)

    def to_dict(self) -> dict[str, Any]:
        """For --json and other faces: the final message and warnings may quote secrets."""
        return scrub_value({"completed": self.completed, **self.__dict__}, paths=False)


class Session:
    """Runs tasks in one directory with one configuration and, optionally, a memory pool."""

    def __init__(
        self,
        settings: Settings,
        cwd: Path,
        emit: ev.Emit = ev.ignore,
        approver: Approver = approve_all,
        model: Model | None = None,
        store: MemoryStore | None = None,
        yes: bool = False,
    ) -> None:
        """`yes`: --yes on the command line; no command asks, not even destructive ones."""
        self.settings = settings
        self.cwd = cwd
        self.emit = emit
        self.approver = approver
        self.store = store
        self._model = model
        self._screen_model: Model | None = None
        self.repo = GitRepo.find(cwd, settings.undo.max_untracked_bytes)
        self.root = self.repo.root if self.repo else cwd
        self.languages = self.repo.languages() if self.repo else []
        self.repo_name = self.repo.name if self.repo else cwd.name
        self.identity: RepoIdentity = (
            identify(self.repo.root) if self.repo else directory_identity(cwd)
        )
        # `git config mtl.memory off`: the pool is neither read nor written from here
        self.policy: MemoryPolicy = memory_policy(self.repo.root if self.repo else None)
        if self.policy == "off":
            self.store = None
        self.approval = ApprovalPolicy(self.root, yes=yes)
        self.cancel = threading.Event()
        self.warnings: list[str] = []
        self.agent: Agent | None = None
        self._accepted: list[Hit] = []
        self._extra_cost = 0.0
        self._retrievals: dict[str, Retrieval] = {}

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.emit(ev.Notice(message, "warning"))

    def model(self) -> Model:
        if self._model is None:
            self._model = model_for(self.settings, on_warning=self.warn)
        return self._model

    # -- before the run -------------------------------------------------------------

    def retrieve(
        self, task: str, k: int | None = None, kind: str | None = None, mode: str | None = None
    ) -> list[Hit]:
        """What the agent gets for `task`: at most top-k memories of one kind, only those
        at or above the relevance floor."""
        return self.retrieval(task, k, kind, mode).hits

    def retrieval(
        self,
        task: str,
        k: int | None = None,
        kind: str | None = None,
        mode: str | None = None,
        screen: bool | None = None,
    ) -> Retrieval:
        """The hits for `task` and the best candidates under the floor (for the panel).
        `screen`: whether the model screens the candidates (None: the config's
        memory.screen); the TUI's preview while the user types does not."""
        if self.store is None:
            return Retrieval(task)
        k = self.settings.memory.top_k if k is None else k
        kind = kind or self.settings.memory.kind
        query = task_query(task, self.languages)
        if (mode or self.settings.memory.query) == "plan":
            query, cost = plan_query(self.model(), task, self.repo_name, self.languages)
            self._extra_cost += cost
        screening = self.settings.memory.screen if screen is None else screen
        found = retrieve(
            self.store,
            query,
            k=k,
            kind=kind,
            floor=self.settings.memory.floor,
            view=self.view,
            budget_chars=self.settings.memory.budget_chars,
            screener=self._screener(task) if screening else None,
        )
        if found.screen_note:
            self.emit(ev.Notice(found.screen_note, "info" if found.screened else "warning"))
        elif self.settings.memory.screen and not screening:
            found.screen_note = SCREEN_PREVIEW
        # what a run of this task leaves out, and why (the TUI retrieves as the user types:
        # only the latest few are kept)
        self._retrievals.pop(task.strip(), None)
        self._retrievals[task.strip()] = found
        while len(self._retrievals) > _RETRIEVALS_KEPT:
            self._retrievals.pop(next(iter(self._retrievals)))
        return found

    def _screener(self, task: str) -> Screener:
        """The run's model as the screen of `task`'s candidates; its cost is the run's."""

        def spent(cost: float) -> None:
            self._extra_cost += cost

        return screener_for(self._screening_model, task, self.languages, spent)

    def _screening_model(self) -> Model:
        """The configured model with a short wait and one retry: a stalled screening falls
        back to the floor in seconds, not after the agent's minutes of patience. (A given
        or scripted model is the run's own: its replies are one script.)"""
        name = self.settings.model or ""
        if self._model is not None or name.startswith(SCRIPTED_PREFIX):
            return self.model()
        if self._screen_model is None:
            self._screen_model = screening_model(self.settings, self.warn)
        return self._screen_model

    def fit_budget(self, accepted: Sequence[Hit]) -> tuple[list[Hit], list[LeftOut]]:
        """The accepted hits that fit the prompt's memory budget, and those that do not."""
        return fit_budget(accepted, self.settings.memory.budget_chars)

    @property
    def view(self) -> View:
        return repo_view(self.identity, self.policy, self.settings)

    @property
    def view_text(self) -> str:
        """The one line a face shows to say which memories this session retrieves."""
        return view_text(self.policy, self.identity)

    # -- the run ----------------------------------------------------------------------

    def run(
        self,
        task: str,
        retrieved: Sequence[Hit] = (),
        accepted: Sequence[Hit] = (),
        verify: str | None = None,
        verdict: Verdict | None = None,
        learn: bool = True,
        review: Review | None = None,
        feedback: bool = True,
    ) -> RunSummary:
        started = time.monotonic()
        model = self.model()
        repo = self.repo
        _writable_dir(paths.trajectories_dir())  # fail before anything changes
        if repo is None:
            self.warn(f"{self.cwd} is not inside a git repository: no snapshot, no undo")
        trajectory = Trajectory.create(
            paths.trajectories_dir(),
            task=task,
            model=model.name,
            repo=self.repo_name,
            languages=self.languages,
            branch=repo.branch if repo else None,
        )
        trajectory.warnings = self.warnings
        accepted, left_out = self._left_out(task, retrieved, accepted)
        trajectory.left_out = [item.to_dict() for item in left_out]
        trajectory.retrieved = [h.memory.id for h in retrieved if h.memory.id is not None]
        trajectory.accepted = [h.memory.id for h in accepted if h.memory.id is not None]
        self._accepted = list(accepted)
        if retrieved:
            self.emit(ev.MemoriesRetrieved(shown_memories(retrieved, accepted)))
        for item in left_out:
            if item.reason not in NOT_RELEVANT_ENOUGH:
                memory = item.hit.memory
                self.emit(ev.Notice(f"left out of the prompt: #{memory.id} “{memory.title}” "
                                    f"({item.reason}: {item.detail})"))  # fmt: skip
        agent = Agent(
            model=model,
            env=LocalShell(self.root, timeout=self.settings.agent.command_timeout),
            trajectory=trajectory,
            approver=self._approve,
            limits=Limits(
                step_limit=self.settings.agent.step_limit,
                cost_limit=self.settings.agent.cost_limit,
                wall_time_limit=self.settings.agent.wall_time_limit,
            ),
            emit=self.emit,
            cancel=self.cancel,
        )
        self.agent = agent
        system = render(
            "system",
            root=self.root,
            timeout=f"{self.settings.agent.command_timeout:g}",
            memory=memory_section(accepted),
        )
        prompt = render(
            "task",
            repo=self.repo_name,
            languages=", ".join(self.languages) or "languages unknown",
            task=task,
        )
        if repo is not None:
            self._snapshot_before(repo, trajectory)
            before = trajectory.snapshot_before or ""
            self.approval.start_run(lambda path: repo.has_path(before, path))
        else:
            self.approval.start_run()
        try:
            status, message = agent.run(system, prompt)
        finally:
            self.approval.end_run()
            if repo is not None and trajectory.snapshot_before:
                self._snapshot_after(repo, trajectory)
        changed: list[str] = []
        if repo is not None and trajectory.snapshot_after and trajectory.snapshot_before:
            changed = repo.changed_paths(trajectory.snapshot_before, trajectory.snapshot_after)
            self.emit(ev.DiffReady(trajectory.diff_stat))
        if self.cancel.is_set():
            verify, verdict, learn = None, None, False  # interrupted: end promptly

        record = RunRecord(
            task=task,
            steps=[(s.reply, s.output or "") for s in trajectory.steps],
            status=status,
            diff_stat=trajectory.diff_stat,
            changed_files=changed,
            model=model.name,
            repo=self.repo_name,
            languages=self.languages,
            run_id=trajectory.id,
            repo_key=self.identity.key,
            project_only=self.policy == "project",
        )
        needs_outcome = bool(verify or verdict or (learn and self.store) or accepted)
        outcome, source = (
            self._outcome(record, verify, verdict) if needs_outcome else ("unknown", "none")
        )
        record.outcome = trajectory.outcome = outcome
        evidence = "none"
        if feedback and self.store is not None and trajectory.retrieved:
            evidence = self._record_feedback(trajectory, record, outcome, source)
        stopped = self.cancel.is_set()  # interrupted after the agent, e.g. at the verdict
        edits: dict[str, Any] = {"applied": [], "refused": []}
        learned_new: list[int] = []
        if learn and self.store is not None and status not in _NO_LEARNING and not stopped:
            learned = self._learn(record, review)
            trajectory.learned = learned.ids
            learned_new = learned.new
            edits = learned.edits.to_dict()
            trajectory.edits = edits
        trajectory.cost += self._extra_cost
        self._extra_cost = 0.0
        trajectory.save()
        return RunSummary(
            status=status,
            message=message,
            steps=len(trajectory.steps),
            cost=round(trajectory.cost, 6),
            trajectory=str(trajectory.path),
            repo=self.repo_name,
            outcome=outcome,
            outcome_source=source,
            diff_stat=trajectory.diff_stat,
            undo_available=repo is not None,
            retrieved=trajectory.retrieved,
            accepted=trajectory.accepted,
            learned=trajectory.learned,
            learned_new=learned_new,
            warnings=list(self.warnings),
            languages=list(self.languages),
            changed_files=changed,
            duration=round(time.monotonic() - started, 3),
            edits=edits,
            left_out=list(trajectory.left_out),
            evidence=evidence,
        )

    def _left_out(
        self, task: str, retrieved: Sequence[Hit], accepted: Sequence[Hit]
    ) -> tuple[list[Hit], list[LeftOut]]:
        """The accepted hits that fit the budget, and every relevant memory this run leaves
        out: over budget, and what the retrieval for this task left out (superseded,
        conflict, below floor)."""
        fitting, over = self.fit_budget(accepted)
        found = self._retrievals.get(task.strip())
        shown = {h.memory.id for h in retrieved}
        earlier = [i for i in found.left_out_all() if i.hit.memory.id not in shown] if found else []
        return fitting, [*over, *earlier]

    def _approve(self, command: str) -> Decision:
        """The policy first (auto mode, --yes); the face's approver when it must ask."""
        check = self.approval.check(command)
        if not check.ask:
            return Decision("run")
        if check.destructive:
            self.emit(ev.ApprovalNeeded(command, check.destructive))
        return self.approver(command)

    def _snapshot_before(self, repo: GitRepo, trajectory: Trajectory) -> None:
        """Snapshot and record the run at once, so that undo works even if it is killed."""
        undo = self.settings.undo
        snap = repo.take_snapshot(f"mtl: before run {trajectory.id}")
        trajectory.snapshot_before = snap.commit
        repo.mark_run(snap.commit, run_id=trajectory.id)
        repo.prune(undo.keep_runs, undo.keep_days)
        if snap.large:
            shown = ", ".join(f"{p} ({size / 1e6:.0f} MB)" for p, size in snap.large[:5])
            more = f" and {len(snap.large) - 5} more" if len(snap.large) > 5 else ""
            self.warn(
                f"not snapshotted (untracked, over {undo.max_untracked_mb:g} MB): {shown}{more}; "
                "undo cannot restore them if the agent changes them"
            )
        refused = snap.meta.get("ignored_refused", {})
        tops = [e for e in refused if not any(e != o and e.startswith(o) for o in refused)]
        from mtl_tui.repo.caches import HOLDS_SECRET, UNSCANNABLE

        for reason, kind in (
            (HOLDS_SECRET, "tool caches holding a secret"),
            (UNSCANNABLE, "tool caches the secret scan cannot read"),
        ):
            named = [e for e in tops if refused[e].endswith(reason)]
            if named:
                more = f" and {len(named) - 5} more" if len(named) > 5 else ""
                self.warn(
                    f"not snapshotted ({kind}): {', '.join(named[:5])}{more}; undo cannot "
                    "restore them if the agent changes them"
                )
        trajectory.save()

    def _snapshot_after(self, repo: GitRepo, trajectory: Trajectory) -> None:
        assert trajectory.snapshot_before
        after = repo.snapshot(f"mtl: after run {trajectory.id}")
        trajectory.snapshot_after = after
        trajectory.diff_stat = repo.diff_stat(trajectory.snapshot_before, after)
        repo.mark_run(trajectory.snapshot_before, after, run_id=trajectory.id)
        trajectory.save()

    def disregard(self, memory_id: int) -> None:
        """The user rejected an accepted memory mid-run: tell the agent to drop it."""
        for index, hit in enumerate(self._accepted):
            if hit.memory.id == memory_id and self.agent is not None:
                self.agent.add_user_message(render("disregard", label=label(index)))
                traj = self.agent.trajectory
                traj.accepted = [i for i in traj.accepted if i != memory_id]

    def interrupt(self) -> None:
        self.cancel.set()

    def last_diff(self) -> str:
        """The full diff of the last run in this session ('' if none)."""
        traj = self.agent.trajectory if self.agent else None
        if self.repo is None or traj is None or not traj.snapshot_after:
            return ""
        return self.repo.diff(traj.snapshot_before or "", traj.snapshot_after)

    def model_problem(self) -> str | None:
        """Why a task cannot start with the configured model, in words for the user."""
        name = self.settings.model
        where = paths.config_file()
        if not name:
            return (
                "No model configured. Set MTL_MODEL (any litellm model id, e.g. "
                f'openai/gpt-4o-mini), pass --model, or add `model = "…"` to {where}. '
                "Memory features work without one."
            )
        if name.startswith(SCRIPTED_PREFIX) or self.settings.api_base:
            return None
        missing = missing_credentials(name)
        if missing:
            return (
                f"Model {name} needs {', '.join(missing)} in the environment "
                "(or set api_base for a local OpenAI-compatible server)."
            )
        return None

    # -- after the run ----------------------------------------------------------------

    def _outcome(
        self, record: RunRecord, verify: str | None, verdict: Verdict | None
    ) -> tuple[str, str]:
        """In this order: the --verify command, the user's verdict, the run's own failure,
        then a strict LLM judge."""
        if record.status == "model_error" and not record.steps:
            return "failure", "status"  # the model never answered: nothing to verify or ask
        if verify:
            shell = LocalShell(self.root, timeout=self.settings.agent.verify_timeout)
            result = shell.run(verify)
            outcome = "success" if result.returncode == 0 else "failure"
            self.emit(ev.Notice(f"verify `{verify}` exited {result.returncode}: {outcome}"))
            return outcome, "verify"
        if verdict is not None and (answer := verdict()) in ("success", "failure"):
            return answer, "user"
        if self.cancel.is_set():  # the user interrupted instead of answering: no judge
            return "unknown", "none"
        if record.status != "completed":
            return "failure", "status"
        try:
            outcome, cost = judge(self.model(), record)
        except ModelError as exc:  # the task is done; only its judgement is missing
            self.warn(f"judge skipped, the outcome stays unknown: {exc}")
            return "unknown", "none"
        self._extra_cost += cost
        self.emit(ev.Notice(f"judge: {outcome}"))
        return outcome, "judge"

    def _record_feedback(
        self, trajectory: Trajectory, record: RunRecord, outcome: str, source: str
    ) -> str:
        """The run's evidence for its memories (README, "Feedback"), by `evidence_counted`,
        which it returns. A run that does not count leaves the accepted memories as they
        were, and says so."""
        assert self.store is not None
        counted = evidence_counted(record.status, len(record.steps), outcome, source)
        if counted == "all":
            self.store.record_uses(
                trajectory.id, trajectory.retrieved, trajectory.accepted, outcome
            )
            return counted
        declined = [i for i in trajectory.retrieved if i not in trajectory.accepted]
        if counted == "rejections" and declined:
            self.store.record_uses(trajectory.id, declined, [], outcome)
        if trajectory.accepted:
            ids = ", ".join(f"#{i}" for i in trajectory.accepted)
            why = (
                "the model never answered"
                if record.status == "model_error" and not record.steps
                else "the agent took no step"
                if not record.steps
                else "the model failed mid-run and nobody judged the work"
                if record.status == "model_error"
                else "the outcome is unknown"
            )
            self.emit(ev.Notice(f"{why}: not counted as a use of {ids} (evidence unchanged)"))
        return counted

    def _learn(self, record: RunRecord, review: Review | None) -> Learned:
        assert self.store is not None

        def emit(event: ev.Event) -> None:
            if isinstance(event, ev.Notice) and event.level == "warning":
                self.warn(event.message)
            else:
                self.emit(event)

        kinds = self.settings.memory.distill_kinds
        if self.policy == "project" and review is not None:
            review = _kept_in_project(review)
        try:
            learned = learn(self.model(), self.store, record, kinds, emit, review)
        except ModelError as exc:  # the task is done; only the lesson is missing
            self.warn(f"learning skipped, nothing learned from this run: {exc}")
            return Learned([], 0.0, EditReport())
        self._extra_cost += learned.cost
        return learned


def _kept_in_project(review: Review) -> Review:
    """With `mtl.memory project`, what the user keeps stays scoped to the repository."""

    def reviewed(memories: list[Memory]) -> list[Memory]:
        kept = review(memories)
        for memory in kept:
            if memory.repo_key:
                memory.scope = "project"
        return kept

    return reviewed


def evidence_counted(status: str, steps: int, outcome: str, source: str) -> str:
    """What a run tells about the memories shown for it: "all" (accepted ones gain a use,
    and a win on success; declined ones a reject), "rejections" (only the user's declines
    count) or "none". A run counts only when the agent worked and the outcome judges that
    work: not when the model or endpoint failed before the first step, nor when a model
    error ended the run and only that status called it a failure, nor when the outcome is
    unknown (interrupted, judge unavailable)."""
    if steps == 0:
        return "none"
    if outcome not in ("success", "failure"):
        return "rejections"
    if status == "model_error" and source == "status":
        return "rejections"
    return "all"


def accepted_by_default(hits: Sequence[Hit], trust_imported: bool = False) -> list[Hit]:
    """The hits that start accepted, in every face: all but memories imported from packs
    other than the shipped starter, which need the user's accept or `trust_imported`."""
    return [h for h in hits if trust_imported or h.trusted]


def shown_memories(retrieved: Sequence[Hit], accepted: Sequence[Hit]) -> list[ev.ShownMemory]:
    """The retrieved memories as faces show them, with their labels in the prompt."""
    labels = {hit.memory.id: label(i) for i, hit in enumerate(accepted)}
    return [
        ev.ShownMemory(
            id=hit.memory.id,
            kind=hit.memory.kind,
            title=hit.memory.title,
            languages=list(hit.memory.languages),
            similarity=hit.similarity,
            origin=hit.memory.origin,
            accepted=hit.memory.id in labels,
            trusted=trusted(hit.memory),
            label=labels.get(hit.memory.id),
            conflict=hit.conflict,
            relevance=hit.relevance,
        )
        for hit in retrieved
    ]


def _writable_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MtlError(
            f"cannot use {directory} for trajectories: {exc.strerror or exc} "
            "(set MTL_HOME to a writable directory)"
        ) from None
    if not os.access(directory, os.W_OK):
        raise MtlError(f"{directory} is not writable (set MTL_HOME to a writable directory)")


def learn(
    model: Model,
    store: MemoryStore,
    record: RunRecord,
    kinds: Sequence[str],
    emit: ev.Emit = ev.ignore,
    review: Review | None = None,
    learned_from: str | None = None,
) -> Learned:
    """Distill memories from one run and store them: insights as the model's edits of
    the pool (memory/edit.py), other kinds and the user's edits as plain adds
    (near-duplicates merge). Everything is written in one transaction, together with
    the mark that session `learned_from` was learned from. Returns the stored ids, the
    cost of the model calls and the pool edits applied and refused."""
    result = distill(model, record, kinds)
    for warning in result.warnings:
        emit(ev.Notice(warning, "warning"))
    memories = review(result.memories) if review else result.memories
    # What the user edited is stored as edited: it never merges into an older memory.
    distilled = {id(m) for m in result.memories}
    to_edit = [m for m in memories if id(m) in distilled and m.kind == "insight"]
    plain = [m for m in memories if id(m) in distilled and m.kind != "insight"]
    plain += [m for m in memories if id(m) not in distilled]  # edited ones after
    plan = plan_edits(model, store, to_edit, record)  # the model call, before any write
    # A session is marked learned when learning worked, or truly found nothing; a reply
    # that was not the JSON asked for, with nothing stored, leaves it to try again.
    failed = (result.unusable or plan.unusable) and not plain and not plan.operations
    if failed and learned_from is not None:
        emit(ev.Notice("not marked as learned: the model's reply was unusable and nothing "
                       "was stored; `mtl learn` tries this session again", "warning"))  # fmt: skip
    results, edits = apply_learning(
        store, plain, [id(m) in distilled for m in plain], plan, record.run_id,
        None if failed else learned_from,
    )  # fmt: skip
    stored = {id(m): r for m, r in zip(plain, results, strict=True)}
    learned: list[ev.LearnedMemory] = []
    for applied in edits.applied:
        emit(ev.Notice(applied.describe()))
        learned.append(ev.LearnedMemory(applied.id, applied.title, applied.how))
    for refusal in edits.refused:
        what = f"operation '{refusal.op}'" if refusal.op else "pool edit"
        emit(ev.Notice(f"{what} refused, nothing changed: {refusal.reason}", "warning"))
    ids = list(edits.ids)
    for memory in memories:
        if id(memory) not in stored:
            continue
        outcome = stored[id(memory)]
        verb = "merged into" if outcome.merged else "stored as" if outcome.created else "same as"
        mark = ", your edit" if id(memory) not in distilled else ""
        said = "learned" if outcome.created else "known already"
        emit(ev.Notice(f"{said}: “{memory.title}” ({verb} #{outcome.id}{mark})"))
        how = "merged" if outcome.merged else "stored" if outcome.created else "same"
        learned.append(ev.LearnedMemory(outcome.id, memory.title, how))
        ids.append(outcome.id)
    emit(ev.MemoriesLearned(learned))
    new = list(dict.fromkeys(m.id for m in learned if m.how in ev.NEW_HOWS))
    return Learned(list(dict.fromkeys(ids)), result.cost + edits.cost, edits, new, failed)


@dataclass
class Learned:
    ids: list[int]  # every memory the run stored or strengthened
    cost: float
    edits: EditReport
    new: list[int] = field(default_factory=list)  # of those, the newly stored
    retry: bool = False  # the reply was unusable and nothing stored: not marked learned
