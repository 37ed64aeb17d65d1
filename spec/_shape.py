"""The shape of a trace: runs, training epochs, batches and evaluation runs.

A flat list of calls says little about what a trainer did; its *shape* says it in
the loops' own terms: this run of ``fit`` ran a sanity check of 2 batches, then 2
epochs of batches 0..3, zeroed and stepped in these batches, validated after
batch 3 with 2 batches per loader. :func:`shape` reads that off the module's calls
(callbacks and the datamodule repeat the same events), so the spec's own sequence
(:func:`~loophooks.spec.expected_calls`) and a recorded trace are read the same
way and can be compared loop by loop.

The core rules compare shapes for counts and cadence (``spec/_rules.py``), and the
conformance suite uses them to say "validation ran 3 batches, expected 2" instead of
"call 212 differs".
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from typing_extensions import final

from loophooks.spec._hook_names import HookName
from loophooks.spec._trace import Call

__all__ = ["COUNTED", "Batch", "Epoch", "EvalRun", "RunShape", "run_bounds", "shape"]

COUNTED: Final[frozenset[HookName]] = frozenset(
    {
        "training_step",
        "backward",
        "on_before_zero_grad",
        "optimizer_zero_grad",
        "optimizer_step",
        "on_before_optimizer_step",
        "lr_scheduler_step",
    }
)
"""Module hooks counted per training batch: the optimisation's steps."""

_EVAL_STAGES: Final = ("validation", "test", "predict")


@final
@dataclass
class EvalRun:
    """One run of an evaluation loop: ``on_<stage>_start`` to ``on_<stage>_end``."""

    stage: str
    start: int
    """Trace index of the module's ``on_<stage>_start``."""
    end: int | None = None
    batches: dict[int, int] = field(default_factory=dict)
    """Batches run per ``dataloader_idx`` (0 when the hook has none)."""
    after: int | None = None
    """In fit, the ``batch_idx`` of the training batch it followed (``None``: before any)."""

    def counts(self) -> list[int]:
        """Batches per loader, loaders in index order (a loader with no batch is 0)."""
        if not self.batches:
            return []
        return [self.batches.get(i, 0) for i in range(max(self.batches) + 1)]


@final
@dataclass
class Batch:
    """One training batch: the module's ``on_train_batch_start`` up to the next batch or epoch end."""

    batch_idx: int | None
    start: int
    end: int | None = None
    """Trace index of the module's ``on_train_batch_end``; ``None`` when it never came."""
    counts: Counter[str] = field(default_factory=Counter)
    """How often each hook of :data:`COUNTED` ran in the batch."""
    validations: list[EvalRun] = field(default_factory=list)
    """Validation runs that followed this batch inside its epoch."""


@final
@dataclass
class Epoch:
    """One training epoch: ``on_train_epoch_start`` to ``on_train_epoch_end``."""

    start: int | None
    """Trace index of the module's ``on_train_epoch_start``; ``None`` when the epoch was entered without one
    (a fit resumed mid-epoch, or a trainer that forgot it)."""
    end: int | None = None
    batches: list[Batch] = field(default_factory=list)
    validations: list[EvalRun] = field(default_factory=list)
    """Validation runs inside the epoch before its first batch (none in a conforming trace)."""

    def batch_indexes(self) -> list[int | None]:
        return [b.batch_idx for b in self.batches]


@final
@dataclass
class RunShape:
    """One entry-point run: the calls from one module ``setup`` to the next."""

    start: int
    end: int
    """``[start, end)`` in the trace."""
    stage: str | None
    """The ``stage`` the module's ``setup`` received."""
    resumed: bool
    """Whether the run restored a checkpoint (``on_load_checkpoint``)."""
    raised: bool
    """Whether the run ended by an exception (``on_exception``, or the trace of a fault scenario)."""
    setup: int | None = None
    teardown: int | None = None
    train_start: int | None = None
    train_end: int | None = None
    sanity: list[EvalRun] = field(default_factory=list)
    """Validation runs of fit before ``on_train_start``: the sanity check."""
    epochs: list[Epoch] = field(default_factory=list)
    outside: list[EvalRun] = field(default_factory=list)
    """Validation runs of fit after ``on_train_start`` but inside no training epoch."""
    evals: list[EvalRun] = field(default_factory=list)
    """The runs of ``validate``, ``test`` and ``predict``."""

    def all_batches(self) -> list[tuple[int, Batch]]:
        """Every training batch with the ordinal of its epoch."""
        return [(n, b) for n, e in enumerate(self.epochs) for b in e.batches]


_BEFORE_SETUP: Final = frozenset({"configure_callbacks", "prepare_data", "setup"})


def run_bounds(trace: Sequence[Call]) -> list[tuple[int, int]]:
    """``[start, end)`` index ranges of the entry-point runs in ``trace`` (a resume
    scenario has two): a run begins with the calls that precede the module's
    ``setup`` (``configure_callbacks``, ``prepare_data``, the other ``setup`` s)."""
    starts: list[int] = []
    for i, c in enumerate(trace):
        if c.target == "module" and c.hook == "setup":
            while i > 0 and trace[i - 1].hook in _BEFORE_SETUP and not (starts and i - 1 < starts[-1]):
                i -= 1
            starts.append(i)
    if not starts:
        starts = [0]
    starts[0] = 0
    return list(zip(starts, [*starts[1:], len(trace)]))


@functools.lru_cache(maxsize=512)
def _classify(hook: str) -> tuple[str, str]:
    """What a module hook means to the shape: ``("start" | "batch_start" | "end", stage)`` for an
    evaluation loop's hooks, ``("counted", "")`` for :data:`COUNTED`, ``(hook, "")`` otherwise."""
    if hook in COUNTED:
        return "counted", ""
    for kind in ("batch_start", "start", "end"):
        suffix = f"_{kind}"
        if hook.startswith("on_") and hook.endswith(suffix) and hook[3 : -len(suffix)] in _EVAL_STAGES:
            return kind, hook[3 : -len(suffix)]
    return hook, ""


def shape(trace: Sequence[Call], *, fault: bool = False) -> list[RunShape]:
    """The runs of ``trace``, each read into epochs, batches and evaluation runs.

    ``fault``: the trace belongs to a scenario whose fault stops it, so its last run
    counts as raised even when no callback heard ``on_exception``.
    """
    bounds = run_bounds(trace)
    runs: list[RunShape] = []
    for n, (start, end) in enumerate(bounds):
        segment = range(start, end)
        raised = any(trace[i].hook == "on_exception" for i in segment) or (fault and n == len(bounds) - 1)
        resumed = any(trace[i].hook == "on_load_checkpoint" for i in segment)
        run = RunShape(start, end, None, resumed, raised)
        _read_run(trace, run)
        runs.append(run)
    return runs


def _read_run(trace: Sequence[Call], run: RunShape) -> None:
    epoch: Epoch | None = None
    batch: Batch | None = None
    current: EvalRun | None = None
    for i in range(run.start, run.end):
        call = trace[i]
        if call.target != "module":
            continue
        hook = call.hook
        if hook == "setup" and run.setup is None:
            run.setup = i
            stage = call.args.get("stage")
            run.stage = stage if isinstance(stage, str) else None
        elif hook == "teardown" and run.teardown is None:
            run.teardown = i
        elif hook == "on_train_start":
            run.train_start = i
        elif hook == "on_train_end":
            run.train_end = i
            epoch, batch = None, None  # an epoch left open keeps end=None
        elif hook == "on_train_epoch_start":
            epoch, batch = Epoch(start=i), None
            run.epochs.append(epoch)
        elif hook == "on_train_epoch_end":
            if epoch is None:
                epoch = Epoch(start=None)
                run.epochs.append(epoch)
            epoch.end = i
            epoch, batch = None, None
        elif hook == "on_train_batch_start":
            if epoch is None:
                epoch = Epoch(start=None)
                run.epochs.append(epoch)
            idx = call.args.get("batch_idx")
            batch = Batch(idx if isinstance(idx, int) else None, i)
            epoch.batches.append(batch)
        elif hook == "on_train_batch_end":
            if batch is not None:
                batch.end = i
        else:
            kind, stage = _classify(hook)
            if kind == "counted":
                if batch is not None:
                    batch.counts[hook] += 1
            elif kind == "start":
                current = EvalRun(stage, i)
                _place(run, epoch, batch, current)
            elif kind == "batch_start":
                if current is not None and current.stage == stage:
                    loader = call.args.get("dataloader_idx", 0)
                    key = loader if isinstance(loader, int) else -1
                    current.batches[key] = current.batches.get(key, 0) + 1
            elif kind == "end" and current is not None and current.stage == stage:
                current.end = i
                current = None


def _place(run: RunShape, epoch: Epoch | None, batch: Batch | None, ev: EvalRun) -> None:
    """Where an evaluation run belongs: the sanity check, a training epoch, or outside."""
    if run.stage != "fit" or ev.stage != "validation":
        run.evals.append(ev)
    elif run.train_start is None:
        run.sanity.append(ev)
    elif epoch is None:
        run.outside.append(ev)
    elif batch is None:
        epoch.validations.append(ev)
    else:
        ev.after = batch.batch_idx
        batch.validations.append(ev)
