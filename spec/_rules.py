"""The core rules: the partial order every conforming trainer keeps.

:func:`expected_calls` fixes one total order, Lightning's. A trainer may differ in
details the spec leaves free (when ``val_dataloader`` is first requested, whether
a no-op default is called at all, the model's mode around the loops) and still
keep these rules; :func:`core_violations` checks a trace against them and names
each broken rule with the index of the call that breaks it.

Each rule is one small function over the trace; the rules are listed once, in
:data:`RULES`, with the sentence that states them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

from typing_extensions import final

from loophooks.spec._scenario import Scenario
from loophooks.spec._hook_names import HookName, hook_name
from loophooks.spec._table import EVERY_HOOK
from loophooks.spec._shape import Batch, Epoch, EvalRun, RunShape, run_bounds, shape
from loophooks.spec._trace import Call

__all__ = ["RULES", "Rule", "core_violations", "shape_differences"]

Trace = Sequence[Call]


@final
@dataclass(frozen=True)
class Rule:
    """One rule of the core order: a name, the sentence stating it, and its check."""

    name: str
    statement: str
    check: Callable[[Trace, Scenario], list[str]]


def _module(trace: Trace) -> list[tuple[int, Call]]:
    return [(i, c) for i, c in enumerate(trace) if c.target == "module"]


def _stage(hook: str) -> str:
    """``validation`` for ``on_validation_batch_start`` and the like."""
    return hook[3:].split("_", 1)[0]


def _runs(trace: Trace) -> list[tuple[int, int]]:
    """``[start, end)`` index ranges of the entry-point runs in ``trace``: a run
    begins at each module ``setup`` (a resume scenario has two)."""
    return run_bounds(trace)


def _ended_by_exception(trace: Trace, scenario: Scenario | None = None) -> int | None:
    for i, call in enumerate(trace):
        if call.hook == "on_exception":
            return i
    if scenario is not None and scenario.fault is not None:
        # no callback (nor datamodule) to hear on_exception: the trace stops at the hook that raised
        return max(len(trace) - 1, 0)
    return None


def _loaded_checkpoint(trace: Trace, start: int, end: int) -> bool:
    return any(c.hook == "on_load_checkpoint" for c in trace[start:end])


# --- the rules ---------------------------------------------------------------------------


# Start hook -> its end hook, from the table's ``closes``.
_BRACKETS: Final[dict[HookName, HookName]] = {
    hook_name(hook.closes): hook_name(name) for name, hook in EVERY_HOOK.items() if hook.closes
}
_CLOSERS: Final = {end: start for start, end in _BRACKETS.items()}

# Names the rules test calls against, typed so that mypy flags a misspelled one.
_SANITY_CHECK: Final[tuple[HookName, ...]] = ("on_sanity_check_start", "on_sanity_check_end")
_NEED_OPTIMIZERS: Final[tuple[HookName, ...]] = ("on_fit_start", "on_train_batch_start", "training_step")
_EVAL_STEPS: Final[tuple[HookName, ...]] = ("validation_step", "test_step", "predict_step")
_TRAINING_ENDS: Final[tuple[HookName, ...]] = ("on_train_epoch_end", "on_train_end")

# Hooks the model hears before the callbacks (``on_load_checkpoint``), from the table's ``callers``.
_MODULE_FIRST: Final[frozenset[HookName]] = frozenset(
    hook_name(name)
    for name, hook in EVERY_HOOK.items()
    if "callbacks" in hook.callers
    and "module" in hook.callers
    and hook.callers.index("module") < hook.callers.index("callbacks")
)


def _brackets(trace: Trace, scenario: Scenario) -> list[str]:
    """Start/end pairs nest like parentheses, on the module (callbacks for the
    sanity check, which only they hear). A run resumed mid-epoch may close the
    epoch it reopened without a start; a run ending in an exception may leave
    brackets open."""
    problems: list[str] = []
    fault = _ended_by_exception(trace, scenario)
    for start, end in _runs(trace):
        stack: list[tuple[str, int]] = []
        resumed = _loaded_checkpoint(trace, start, end)
        seen_sanity_cb: set[int] = set()
        for i in range(start, end):
            call = trace[i]
            hook = call.hook
            if call.target == "callback":
                # each sanity check bracket counts once, however many callbacks hear it
                if hook not in _SANITY_CHECK:
                    continue
                if i - 1 in seen_sanity_cb and trace[i - 1].hook == hook:
                    seen_sanity_cb.add(i)
                    continue
                seen_sanity_cb.add(i)
            elif call.target != "module" or hook in _SANITY_CHECK:
                continue
            if hook in _BRACKETS:
                stack.append((hook, i))
            elif hook in _CLOSERS:
                opener = _CLOSERS[hook]
                if stack and stack[-1][0] == opener:
                    stack.pop()
                elif resumed and hook == "on_train_epoch_end" and stack and stack[-1][0] == "on_train_start":
                    resumed = False  # the epoch interrupted by the checkpoint ends here
                else:
                    top = stack[-1][0] if stack else "nothing"
                    problems.append(f"brackets: [{i}] {hook} closes {top}, expected it to close {opener}")
        if stack and (fault is None or fault >= end):
            names = ", ".join(f"{h} [{i}]" for h, i in stack)
            problems.append(f"brackets: run ending at [{end - 1}] leaves open: {names}")
    return problems


def _setup_first(trace: Trace, scenario: Scenario) -> list[str]:
    """Within a run, the module's ``setup`` precedes every data loader request,
    every batch and ``configure_optimizers``; ``teardown`` follows them all."""
    problems: list[str] = []
    for start, end in _runs(trace):
        module_calls = [(i, trace[i].hook) for i in range(start, end) if trace[i].target == "module"]
        setup_at = next((i for i, hook in module_calls if hook == "setup"), None)
        teardown_at = next((i for i, hook in module_calls if hook == "teardown"), None)
        for i in range(start, end):
            hook = trace[i].hook
            if hook.endswith("_dataloader") or hook.endswith("_step") or hook == "configure_optimizers":
                if setup_at is None or i < setup_at:
                    problems.append(f"setup-first: [{i}] {hook} before the module's setup")
                elif teardown_at is not None and i > teardown_at:
                    problems.append(f"setup-first: [{i}] {hook} after the module's teardown [{teardown_at}]")
    return problems


def _optimizers_first(trace: Trace, scenario: Scenario) -> list[str]:
    """``configure_optimizers`` runs before ``on_fit_start`` (Lightning #16170) and
    before any training batch."""
    problems: list[str] = []
    for start, end in _runs(trace):
        calls = [(i, trace[i]) for i in range(start, end) if trace[i].target == "module"]
        configured = next((i for i, c in calls if c.hook == "configure_optimizers"), None)
        for i, c in calls:
            if c.hook in _NEED_OPTIMIZERS and (configured is None or configured > i):
                problems.append(f"optimizers-first: [{i}] {c.hook} before configure_optimizers")
                break
    return problems


def _callbacks_first(trace: Trace, scenario: Scenario) -> list[str]:
    """For one event heard by callbacks and the module, the callbacks hear it first,
    except where the table's ``callers`` puts the module first (``on_load_checkpoint``:
    the module restores first, Lightning #7535)."""
    problems: list[str] = []
    for i, call in enumerate(trace):
        if call.target != "module" or i + 1 >= len(trace):
            continue
        nxt = trace[i + 1]
        module_first = call.hook in _MODULE_FIRST
        if nxt.target == "callback" and nxt.hook == call.hook and not module_first:
            problems.append(f"callbacks-first: [{i + 1}] callback.{call.hook} after the module's [{i}]")
        if module_first and i > 0:
            prev = trace[i - 1]
            if prev.target == "callback" and prev.hook == call.hook:
                problems.append(f"callbacks-first: [{i - 1}] callback.{call.hook} before the module's [{i}]")
    return problems


def _train_batches(trace: Trace) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of each training batch: from the module's
    ``on_train_batch_start`` to its ``on_train_batch_end`` (or whatever ends the
    batch early: the next batch, the epoch's end, an exception)."""
    stops: tuple[HookName, ...] = ("on_train_batch_end", "on_train_batch_start", "on_train_epoch_end", "on_exception")
    bounds: list[tuple[int, int]] = []
    for s, call in _module(trace):
        if call.hook != "on_train_batch_start":
            continue
        e = s + 1
        while e < len(trace) and not (trace[e].target == "module" and trace[e].hook in stops):
            e += 1
        bounds.append((s, e))
    return bounds


def _batch_pairs(trace: Trace, scenario: Scenario) -> list[str]:
    """Every ``on_*_batch_start`` of the module is matched by its ``on_*_batch_end``
    (same batch_idx, same dataloader_idx) before the next batch starts; a training
    batch whose ``on_train_batch_start`` returned -1 has no end, no step, and is the
    epoch's last (validation included: Lightning #4481)."""
    problems: list[str] = []
    fault = _ended_by_exception(trace, scenario)
    open_batch: tuple[int, Call] | None = None
    for i, call in _module(trace):
        hook = call.hook
        if hook.endswith("_batch_start"):
            if open_batch is not None:
                j, prev = open_batch
                if not _skipped_ok(trace, j, i, scenario):
                    problems.append(f"batch-pairs: [{j}] {prev.hook} has no {prev.hook[:-5]}end before [{i}] {hook}")
            open_batch = (i, call)
        elif hook.endswith("_batch_end"):
            if open_batch is None or open_batch[1].hook[:-5] != hook[:-3]:
                problems.append(f"batch-pairs: [{i}] {hook} without a matching start")
            elif {k: v for k, v in open_batch[1].args.items() if k != "batch"} != {
                k: v for k, v in call.args.items() if k not in ("batch", "outputs")
            }:
                problems.append(f"batch-pairs: [{i}] {hook} arguments differ from its start [{open_batch[0]}]")
            open_batch = None
        elif hook == "on_train_epoch_end" and open_batch is not None:
            j, prev = open_batch
            if prev.hook == "on_train_batch_start" and not _skipped_ok(trace, j, i, scenario):
                problems.append(f"batch-pairs: [{j}] on_train_batch_start has no end before the epoch ends [{i}]")
            open_batch = None
    if open_batch is not None and fault is None:
        problems.append(f"batch-pairs: [{open_batch[0]}] {open_batch[1].hook} never ends")
    return problems


_SKIP_ALLOWED_AFTER: Final[frozenset[HookName]] = frozenset(
    {
        "on_train_batch_start",
        "lr_scheduler_step",
        "on_train_epoch_end",
        "on_exception",
        # a checkpoint callback saving in its on_train_epoch_end, which runs before the module's
        "state_dict",
        "on_save_checkpoint",
    }
)


def _skipped_ok(trace: Trace, start: int, stop: int, scenario: Scenario) -> bool:
    """A training batch may stay open only when -1 skipped it: then nothing but
    scheduler steps follows until the epoch ends."""
    if trace[start].hook != "on_train_batch_start":
        return False
    if any(c.hook == "on_exception" for c in trace[start:stop]):
        return True
    if scenario.skip_epoch_at is None:
        return False
    for c in trace[start + 1 : stop + 1]:
        if c.hook == "on_train_epoch_end":
            return True
        if c.hook not in _SKIP_ALLOWED_AFTER:
            return False
    return False


def _optimization_order(trace: Trace, scenario: Scenario) -> list[str]:
    """Within a training batch: zeroing (``on_before_zero_grad``) comes before
    ``on_before_backward`` < ``backward`` < ``on_after_backward``, and
    ``on_before_optimizer_step`` follows a completed backward with no zeroing in
    between; gradients are
    clipped (``configure_gradient_clipping``) after ``on_before_optimizer_step``
    (Lightning #10248), and ``lr_scheduler_step`` comes after the optimizer step."""
    problems: list[str] = []
    for start, end in _train_batches(trace):
        state = "idle"
        stepped = False
        backward_done = False
        for i in range(start, end):
            c = trace[i]
            if c.target != "module":
                continue
            h = c.hook
            if h == "on_before_zero_grad" and state != "idle":
                problems.append(f"optimization: [{i}] on_before_zero_grad inside a backward pass")
            elif h == "on_before_zero_grad" and backward_done and not stepped:
                # Zeroing between a backward and the step throws away the gradients just computed.
                problems.append(f"optimization: [{i}] gradients zeroed after backward, before the optimizer step")
            elif h == "on_before_backward":
                if state != "idle":
                    problems.append(f"optimization: [{i}] on_before_backward before the previous backward ended")
                state = "before"
            elif h == "backward":
                if state != "before":
                    problems.append(f"optimization: [{i}] backward without on_before_backward")
                state = "backward"
            elif h == "on_after_backward":
                if state not in ("before", "backward"):
                    problems.append(f"optimization: [{i}] on_after_backward without on_before_backward")
                state = "idle"
                backward_done = True
            elif h == "on_before_optimizer_step":
                if not backward_done or state != "idle":
                    problems.append(f"optimization: [{i}] on_before_optimizer_step before a completed backward")
                stepped = True
            elif h == "configure_gradient_clipping" and not stepped:
                problems.append(f"optimization: [{i}] configure_gradient_clipping before on_before_optimizer_step")
            elif h == "lr_scheduler_step" and state != "idle":
                problems.append(f"optimization: [{i}] lr_scheduler_step inside a backward pass")
    return problems


_TRANSFER: Final[tuple[HookName, HookName, HookName]] = (
    "on_before_batch_transfer",
    "transfer_batch_to_device",
    "on_after_batch_transfer",
)


def _transfer_before_batch(trace: Trace, scenario: Scenario) -> list[str]:
    """Each batch is transferred (``on_before_batch_transfer`` <
    ``transfer_batch_to_device`` < ``on_after_batch_transfer``) before its
    ``on_*_batch_start``."""
    problems: list[str] = []
    done = 0  # how many of the three transfer hooks this batch has seen
    for i, c in enumerate(trace):
        if c.target == "callback":
            continue
        if c.hook in _TRANSFER:
            if done < 3 and c.hook == _TRANSFER[done]:
                done += 1
            else:
                expected = _TRANSFER[done] if done < 3 else "on_*_batch_start"
                problems.append(f"transfer: [{i}] {c.hook} out of order, expected {expected}")
                done = 1 if c.hook == _TRANSFER[0] else 0
        elif c.hook.endswith("_batch_start") and c.target == "module":
            if done != 3:
                problems.append(f"transfer: [{i}] {c.hook} before its batch was transferred")
            done = 0
    return problems


def _modes(trace: Trace, scenario: Scenario) -> list[str]:
    """The model is in training mode with autograd on in ``training_step``; in
    eval mode, with autograd off, in ``validation_step``, ``test_step`` and
    ``predict_step`` (Lightning #2551, #20177); under ``inference_mode`` outside fit."""
    problems: list[str] = []
    for i, c in _module(trace):
        if c.hook == "training_step":
            if c.training is False or c.grad not in (None, "enabled"):
                problems.append(f"modes: [{i}] training_step with training={c.training}, grad={c.grad}")
        elif c.hook in _EVAL_STEPS:
            if c.training is True or c.grad == "enabled":
                problems.append(f"modes: [{i}] {c.hook} with training={c.training}, grad={c.grad}")
            if scenario.fn != "fit" and c.grad not in (None, "inference"):
                problems.append(f"modes: [{i}] {c.hook} outside fit with grad={c.grad}, expected inference")
    return problems


def _loader_index(trace: Trace, scenario: Scenario) -> list[str]:
    """``dataloader_idx`` reaches the evaluation batch hooks and steps only when the
    stage has several loaders (see Lightning #10315, #11719 for why users trip on it)."""
    problems: list[str] = []
    counts = {
        "validation": len(scenario.val_batches),
        "test": len(scenario.test_batches),
        "predict": len(scenario.predict_batches),
    }
    for i, c in enumerate(trace):
        h = c.hook
        if not (h.endswith(("_batch_start", "_batch_end")) or h in _EVAL_STEPS):
            continue
        stage = h.split("_")[0] if h.endswith("_step") else _stage(h)
        if stage not in counts:
            continue
        several = counts[stage] > 1
        if several and "dataloader_idx" not in c.args:
            problems.append(f"loader-index: [{i}] {h} without dataloader_idx, the stage has {counts[stage]} loaders")
        if not several and "dataloader_idx" in c.args:
            problems.append(f"loader-index: [{i}] {h} with dataloader_idx, the stage has one loader")
    return problems


def _exception_ends(trace: Trace, scenario: Scenario) -> list[str]:
    """After a hook raised, callbacks (and the datamodule) hear ``on_exception`` and
    nothing else runs: no ``teardown`` (Lightning #19594)."""
    at = _ended_by_exception(trace)
    if at is None:
        return []
    return [
        f"exception-ends: [{i}] {c.hook} after on_exception [{at}]"
        for i, c in enumerate(trace[at:], at)
        if c.hook != "on_exception"
    ]


# --- containment, tear-down, counts and cadence: the trace's shape against the spec's --------

_MAX_REPORTED: Final = 3
"""Problems one counting rule reports: the first few say what is wrong, the rest repeat it."""

_BEFORE_SETUP: Final[frozenset[HookName]] = frozenset({"configure_callbacks", "prepare_data", "setup"})


def _containment(trace: Trace, scenario: Scenario) -> list[str]:
    """Validation in fit runs inside a training epoch (after its batch, before its
    ``on_train_epoch_end``) or in the sanity check, before ``on_train_start``; every
    hook of a run but ``configure_callbacks``, ``prepare_data`` and ``setup`` comes
    after the module's ``setup``, and nothing after its ``teardown``."""
    problems: list[str] = []
    for run in _shape_of(trace, scenario):
        for ev in run.outside:
            closed = next(
                (
                    j
                    for j in range(ev.start - 1, run.start - 1, -1)
                    if trace[j].target == "module" and trace[j].hook in _TRAINING_ENDS
                ),
                None,
            )
            why = (
                f"{trace[closed].hook} [{closed}] already closed the epoch"
                if closed is not None
                else "no epoch is open"
            )
            problems.append(
                f"containment: [{ev.start}] on_validation_start outside any training epoch: {why}; "
                "validation belongs inside the epoch, before its on_train_epoch_end"
            )
        if run.setup is not None:
            for i in range(run.start, run.setup):
                if trace[i].hook not in _BEFORE_SETUP:
                    problems.append(f"containment: [{i}] {_who(trace[i])} before the module's setup [{run.setup}]")
                    break
        if run.teardown is not None:
            for i in range(run.teardown + 1, run.end):
                problems.append(f"containment: [{i}] {_who(trace[i])} after the module's teardown [{run.teardown}]")
                break
    return problems


def _teardown(trace: Trace, scenario: Scenario) -> list[str]:
    """Every run that did not raise ends with the module's ``teardown``, with the
    stage its ``setup`` received."""
    problems: list[str] = []
    for run in _shape_of(trace, scenario):
        if run.raised or run.setup is None:
            continue
        if run.teardown is None:
            problems.append(
                f"teardown: the {run.stage or 'entry point'} run from setup [{run.setup}] to [{run.end - 1}] "
                "ended without calling teardown (it is skipped only when the run raised)"
            )
            continue
        stage = trace[run.teardown].args.get("stage")
        if stage != run.stage:
            problems.append(f"teardown: [{run.teardown}] teardown(stage={stage!r}) after setup(stage={run.stage!r})")
    return problems


def _who(call: Call) -> str:
    return call.hook if call.target == "module" else f"{call.target}.{call.hook}"


_SHAPES: ContextVar[dict[int, list[RunShape]] | None] = ContextVar("_SHAPES", default=None)
"""The trace's shape, read once per :func:`core_violations` call for all the rules that need it."""


def _shape_of(trace: Trace, scenario: Scenario) -> list[RunShape]:
    cache = _SHAPES.get()
    if cache is None:
        return shape(trace, fault=scenario.fault is not None)
    if id(trace) not in cache:
        cache[id(trace)] = shape(trace, fault=scenario.fault is not None)
    return cache[id(trace)]


@functools.lru_cache(maxsize=64)
def _expected_shape(scenario: Scenario) -> list[RunShape] | None:
    """The shape of the spec's own sequence for ``scenario``; ``None`` where the spec
    defines no order for it (``expected_calls`` rejects the scenario)."""
    from loophooks.spec._order import expected_calls  # the order imports nothing from the rules

    try:
        return shape(expected_calls(scenario), fault=scenario.fault is not None)
    except ValueError:
        return None


def _settings(scenario: Scenario, *names: str) -> str:
    """The scenario settings that decide a count, for the message."""
    return ", ".join(f"{name}={getattr(scenario, name)!r}" for name in names)


def _epochs_of(run: RunShape) -> list[Epoch]:
    """The epochs compared: a resumed run may open or close the epoch it re-entered
    without running a batch (ORDER.md deviations 1 and 2), so batchless epochs of a
    resumed run are left out."""
    return [e for e in run.epochs if e.batches or not run.resumed]


def _label(run: RunShape, n: int) -> str:
    return f"resumed run's epoch {n}" if run.resumed else f"epoch {n}"


def _compared_batches(run: RunShape, epoch: Epoch, last: bool) -> list[Batch]:
    """An epoch's batches, less the one that raised (its steps were cut short)."""
    if run.raised and last and epoch.batches:
        return epoch.batches[:-1]
    return epoch.batches


def _epoch_diffs(actual: list[RunShape], expected: list[RunShape], scenario: Scenario) -> list[str]:
    """A trace has the spec's entry-point runs; a fit has the epochs ``max_epochs``
    and ``max_steps`` allow, each with the batches ``limit_train_batches`` (and a -1
    from ``on_train_batch_start``) leave, between ``on_train_epoch_start`` and
    ``on_train_epoch_end``."""
    problems: list[str] = []
    if len(actual) != len(expected) and not (actual and actual[-1].raised):
        problems.append(f"epochs: the trace holds {len(actual)} entry-point run(s), expected {len(expected)}")
    limits = _settings(scenario, "train_batches", "limit_train_batches", "max_epochs", "max_steps")
    for run, want in zip(actual, expected):
        got_epochs, want_epochs = _epochs_of(run), _epochs_of(want)
        if len(got_epochs) != len(want_epochs) and not run.raised:
            problems.append(
                f"epochs: the {run.stage} run from [{run.start}] ran {len(got_epochs)} training epoch(s), "
                f"expected {len(want_epochs)} ({limits})"
            )
        for n, (got, exp) in enumerate(zip(got_epochs, want_epochs)):
            last = n == len(got_epochs) - 1
            first_at = got.batches[0].start if got.batches else got.end
            if got.start is None and exp.start is not None and not (run.resumed and n == 0):
                problems.append(
                    f"epochs: {_label(run, n)} has no on_train_epoch_start (its first batch is at [{first_at}])"
                )
            if got.end is None and not (run.raised and last):
                problems.append(f"epochs: {_label(run, n)} is missing on_train_epoch_end")
            got_idx = [b.batch_idx for b in _compared_batches(run, got, last)]
            exp_idx = [b.batch_idx for b in _compared_batches(want, exp, last and run.raised)]
            if run.raised and last:
                exp_idx = exp_idx[: len(got_idx)]
            if got_idx != exp_idx:
                problems.append(
                    f"epochs: {_label(run, n)} ran training batches {_span(got_idx)}, expected {_span(exp_idx)} ({limits}"
                    + (f", skip_epoch_at={scenario.skip_epoch_at}" if scenario.skip_epoch_at else "")
                    + ")"
                )
    return problems[:_MAX_REPORTED]


def _span(indexes: Sequence[int | None]) -> str:
    """Batch indexes for a message, without square brackets (those mark trace indexes)."""
    if not indexes:
        return "none"
    ints = [i for i in indexes if isinstance(i, int)]
    if len(ints) == len(indexes) > 2 and ints == list(range(ints[0], ints[0] + len(ints))):
        return f"{ints[0]}..{ints[-1]} ({len(ints)})"
    return ", ".join(str(i) for i in indexes)


def _batch_pairs_of(
    actual: list[RunShape], expected: list[RunShape]
) -> list[tuple[RunShape, int, Batch, Batch, Epoch]]:
    """Each training batch of the trace with the spec's batch at the same place
    (same run, same epoch, same ``batch_idx``)."""
    out: list[tuple[RunShape, int, Batch, Batch, Epoch]] = []
    for run, want in zip(actual, expected):
        got_epochs, want_epochs = _epochs_of(run), _epochs_of(want)
        for n, (got, exp) in enumerate(zip(got_epochs, want_epochs)):
            last = n == len(got_epochs) - 1
            by_idx = {b.batch_idx: b for b in exp.batches}
            for b in _compared_batches(run, got, last):
                if b.batch_idx in by_idx:
                    out.append((run, n, b, by_idx[b.batch_idx], exp))
    return out


_OPTIMIZER_HOOKS: Final[tuple[HookName, ...]] = (
    "training_step",
    "on_before_zero_grad",
    "optimizer_zero_grad",
    "backward",
    "optimizer_step",
    "on_before_optimizer_step",
)


def _optimizer_diffs(actual: list[RunShape], expected: list[RunShape], scenario: Scenario) -> list[str]:
    """Each training batch runs one ``training_step`` and one backward; gradients are
    zeroed in the first batch of each accumulation window and the optimizer steps
    in its last (``accumulate_grad_batches``; the epoch's last batch closes a
    window), once each."""
    problems: list[str] = []
    for run, n, got, exp, epoch in _batch_pairs_of(actual, expected):
        for hook in _OPTIMIZER_HOOKS:
            have, want = got.counts[hook], exp.counts[hook]
            if have != want:
                where = [b.batch_idx for b in epoch.batches if b.counts[hook]]
                problems.append(
                    f"optimizer-cadence: {_label(run, n)}, batch {got.batch_idx} [{got.start}]: {hook} ran "
                    f"{have} time(s), expected {want} (accumulate_grad_batches={scenario.accumulate_grad_batches}: "
                    f"the spec runs it in batches {_span(where)} of this epoch)"
                )
                break
        if len(problems) >= _MAX_REPORTED:
            break
    return problems


def _scheduler_diffs(actual: list[RunShape], expected: list[RunShape], scenario: Scenario) -> list[str]:
    """A per-step scheduler steps once in each batch where the optimizer stepped; a
    per-epoch one once, in the epoch's last batch (the -1 batch included)."""
    problems: list[str] = []
    for run, n, got, exp, epoch in _batch_pairs_of(actual, expected):
        have, want = got.counts["lr_scheduler_step"], exp.counts["lr_scheduler_step"]
        if have != want:
            where = [b.batch_idx for b in epoch.batches if b.counts["lr_scheduler_step"]]
            problems.append(
                f"scheduler-cadence: {_label(run, n)}, batch {got.batch_idx} [{got.start}]: lr_scheduler_step ran "
                f"{have} time(s), expected {want} (interval={scenario.lr_scheduler!r}: the spec steps it in batches "
                f"{_span(where)} of this epoch)"
            )
            if len(problems) >= _MAX_REPORTED:
                break
    return problems


def _eval_counts(runs: Sequence[EvalRun]) -> list[list[int]]:
    return [ev.counts() for ev in runs]


def _validation_diffs(actual: list[RunShape], expected: list[RunShape], scenario: Scenario) -> list[str]:
    """Validation in fit runs after the batches ``val_check_interval`` and
    ``check_val_every_n_epoch`` select, each run with the batches
    ``limit_val_batches`` leaves per loader; the sanity check runs
    ``num_sanity_val_steps`` batches per loader (a resumed fit may skip it); a
    ``validate``, ``test`` or ``predict`` run has the batches its ``limit_*_batches``
    leaves per loader."""
    problems: list[str] = []
    cadence = _settings(scenario, "val_check_interval", "check_val_every_n_epoch")
    sizes = _settings(scenario, "val_batches", "limit_val_batches")
    for run, want in zip(actual, expected):
        got_sanity, want_sanity = _eval_counts(run.sanity), _eval_counts(want.sanity)
        if got_sanity != want_sanity and not (run.resumed and (not got_sanity or not want_sanity)):
            at = f" [{run.sanity[0].start}]" if run.sanity else ""
            problems.append(
                f"validation-cadence: the sanity check{at} ran {_per_loader(got_sanity)}, expected "
                f"{_per_loader(want_sanity)} ({_settings(scenario, 'num_sanity_val_steps')}, {sizes})"
            )
        got_epochs, want_epochs = _epochs_of(run), _epochs_of(want)
        for n, (got, exp) in enumerate(zip(got_epochs, want_epochs)):
            last = n == len(got_epochs) - 1
            got_b = _compared_batches(run, got, last)
            exp_b = [b for b in exp.batches if b.batch_idx in {g.batch_idx for g in got_b}]
            got_after = [b.batch_idx for b in got_b if b.validations]
            exp_after = [b.batch_idx for b in exp_b if b.validations]
            if got.validations:
                problems.append(
                    f"validation-cadence: {_label(run, n)} validated at [{got.validations[0].start}] before its first batch"
                )
            if got_after != exp_after:
                problems.append(
                    f"validation-cadence: {_label(run, n)} validated after batches: {_span(got_after)}, expected "
                    f"after: {_span(exp_after)} ({cadence})"
                )
                continue
            for g, e in zip(got_b, exp_b):
                gc, ec = _eval_counts(g.validations), _eval_counts(e.validations)
                if gc != ec:
                    problems.append(
                        # a batch that should have validated and did not has no run to point at
                        f"validation-cadence: validation [{g.validations[0].start if g.validations else '-'}] after {_label(run, n)}, batch "
                        f"{g.batch_idx} ran {_per_loader(gc)}, expected {_per_loader(ec)} ({sizes})"
                    )
        got_ev, want_ev = _eval_counts(run.evals), _eval_counts(want.evals)
        if got_ev != want_ev and not run.raised:
            stage = run.evals[0].stage if run.evals else (want.evals[0].stage if want.evals else "the loop")
            limit = {"validation": "val", "test": "test", "predict": "predict"}.get(stage, stage)
            problems.append(
                f"validation-cadence: {stage} ran {_per_loader(got_ev)}, expected {_per_loader(want_ev)} "
                f"({_settings(scenario, f'{limit}_batches', f'limit_{limit}_batches')})"
            )
    return problems[:_MAX_REPORTED]


def _per_loader(runs: list[list[int]]) -> str:
    if not runs:
        return "no batch"
    parts = [
        " + ".join(f"{n} batch{'es' * (n != 1)} of loader {i}" for i, n in enumerate(r))
        if len(r) > 1
        else f"{r[0] if r else 0} batch{'es' * ((r[0] if r else 0) != 1)}"
        for r in runs
    ]
    return parts[0] if len(parts) == 1 else f"{len(parts)} runs: " + "; ".join(parts)


_SOURCE_STAGE: Final = {"train": "train", "validation": "val", "test": "test", "predict": "predict"}
_SOURCE_NAME: Final = {"train": "training", "val": "validation", "test": "test", "predict": "predict"}


def _loader_source(trace: Trace, scenario: Scenario) -> list[str]:
    """A batch hook's ``dataloader_idx`` names the loader that really produced the
    batch, and an evaluation batch's ``batch_idx`` is its position in that loader
    (where the recorder knows the batch's source: ``Call.source``)."""
    problems: list[str] = []
    for i, c in _module(trace):
        if c.source is None or not c.hook.endswith("_batch_start"):
            continue
        stage = _stage(c.hook)
        src_stage, loader, position = c.source
        if _SOURCE_STAGE.get(stage) != src_stage:
            problems.append(
                f"loader-source: [{i}] {c.hook} received batch {position} of the {_SOURCE_NAME[src_stage]} loader {loader}"
            )
        elif stage != "train":
            idx = c.args.get("dataloader_idx", 0)
            if idx != loader:
                problems.append(
                    f"loader-source: [{i}] {c.hook}(dataloader_idx={idx}) received a batch of "
                    f"{_SOURCE_NAME[src_stage]} loader {loader}"
                )
            elif c.args.get("batch_idx") != position:
                problems.append(
                    f"loader-source: [{i}] {c.hook}(batch_idx={c.args.get('batch_idx')}) received batch {position} "
                    f"of {_SOURCE_NAME[src_stage]} loader {loader}"
                )
        if len(problems) >= _MAX_REPORTED:
            break
    return problems


_Diff = Callable[[list[RunShape], list[RunShape], Scenario], list[str]]


def _against_spec(diff: _Diff) -> Callable[[Trace, Scenario], list[str]]:
    """A core rule from a shape comparison: the trace's shape against the spec's for the scenario."""

    def check(trace: Trace, scenario: Scenario) -> list[str]:
        expected = _expected_shape(scenario)
        if expected is None:
            return []
        return diff(_shape_of(trace, scenario), expected, scenario)

    check.__doc__ = diff.__doc__
    check.__name__ = diff.__name__
    return check


_SHAPE_DIFFS: Final[tuple[_Diff, ...]] = (_epoch_diffs, _optimizer_diffs, _scheduler_diffs, _validation_diffs)


def shape_differences(actual: Sequence[Call], expected: Sequence[Call], scenario: Scenario) -> list[str]:
    """How ``actual`` differs from ``expected`` (both traces of ``scenario``) in runs,
    epochs, batches, optimizer and scheduler steps and validation runs, loop by loop:
    ``"validation-cadence: validation [212] after epoch 0, batch 3 ran 3 batches, expected 2 ..."``."""
    fault = scenario.fault is not None
    a, e = shape(actual, fault=fault), shape(expected, fault=fault)
    return [problem for diff in _SHAPE_DIFFS for problem in diff(a, e, scenario)]


RULES: Final[tuple[Rule, ...]] = (
    Rule("brackets", "start/end hooks nest like parentheses", _brackets),
    Rule("setup-first", "setup precedes data, steps and optimizers; teardown follows them", _setup_first),
    Rule("optimizers-first", "configure_optimizers precedes on_fit_start and training", _optimizers_first),
    Rule("callbacks-first", "callbacks hear an event before the module, except on_load_checkpoint", _callbacks_first),
    Rule("batch-pairs", "each batch start has its end unless -1 skipped the rest of the epoch", _batch_pairs),
    Rule("optimization", "zero_grad < backward hooks < on_before_optimizer_step < clipping", _optimization_order),
    Rule("transfer", "a batch is transferred before its batch hooks", _transfer_before_batch),
    Rule("modes", "training_step in train mode with autograd; the other steps in eval mode without", _modes),
    Rule("loader-index", "dataloader_idx is passed only with several loaders", _loader_index),
    Rule("exception-ends", "after on_exception nothing else runs", _exception_ends),
    Rule(
        "containment",
        "validation inside a training epoch or the sanity check; hooks inside setup..teardown",
        _containment,
    ),
    Rule("teardown", "every run that did not raise ends with teardown", _teardown),
    Rule("loader-source", "dataloader_idx and batch_idx name the batch's real loader and position", _loader_source),
    Rule("epochs", "the runs, epochs and batches the settings allow", _against_spec(_epoch_diffs)),
    Rule("optimizer-cadence", "zeroing and stepping once per accumulation window", _against_spec(_optimizer_diffs)),
    Rule("scheduler-cadence", "lr_scheduler_step per optimizer step or per epoch", _against_spec(_scheduler_diffs)),
    Rule(
        "validation-cadence",
        "validation when due, with the batches the limits allow; the sanity batches",
        _against_spec(_validation_diffs),
    ),
)
"""Every core rule, in the order :func:`core_violations` reports them."""


def core_violations(trace: Sequence[Call], scenario: Scenario) -> list[str]:
    """Every broken core rule in ``trace`` (a run of ``scenario``), as
    ``"<rule>: [<index>] <what>"`` strings; empty when the trace conforms."""
    problems: list[str] = []
    token = _SHAPES.set({})
    try:
        for rule in RULES:
            problems.extend(rule.check(trace, scenario))
    finally:
        _SHAPES.reset(token)
    return problems
