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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from typing_extensions import final

from loophooks.spec._scenario import Scenario
from loophooks.spec._trace import Call

__all__ = ["RULES", "Rule", "core_violations"]

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
    starts = [i for i, c in _module(trace) if c.hook == "setup"] or [0]
    starts[0] = 0
    return [(s, e) for s, e in zip(starts, [*starts[1:], len(trace)])]


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


_BRACKETS: Final = {
    "on_fit_start": "on_fit_end",
    "on_sanity_check_start": "on_sanity_check_end",
    "on_train_start": "on_train_end",
    "on_train_epoch_start": "on_train_epoch_end",
    "on_validation_start": "on_validation_end",
    "on_validation_epoch_start": "on_validation_epoch_end",
    "on_test_start": "on_test_end",
    "on_test_epoch_start": "on_test_epoch_end",
    "on_predict_start": "on_predict_end",
    "on_predict_epoch_start": "on_predict_epoch_end",
}
_CLOSERS: Final = {end: start for start, end in _BRACKETS.items()}


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
                if hook not in ("on_sanity_check_start", "on_sanity_check_end"):
                    continue
                if i - 1 in seen_sanity_cb and trace[i - 1].hook == hook:
                    seen_sanity_cb.add(i)
                    continue
                seen_sanity_cb.add(i)
            elif call.target != "module" or hook in ("on_sanity_check_start", "on_sanity_check_end"):
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
            if c.hook in ("on_fit_start", "on_train_batch_start", "training_step") and (
                configured is None or configured > i
            ):
                problems.append(f"optimizers-first: [{i}] {c.hook} before configure_optimizers")
                break
    return problems


def _callbacks_first(trace: Trace, scenario: Scenario) -> list[str]:
    """For one event heard by callbacks and the module, the callbacks hear it first,
    except ``on_load_checkpoint``, where the module restores first (Lightning #7535)."""
    problems: list[str] = []
    for i, call in enumerate(trace):
        if call.target != "module" or i + 1 >= len(trace):
            continue
        nxt = trace[i + 1]
        if nxt.target == "callback" and nxt.hook == call.hook and call.hook != "on_load_checkpoint":
            problems.append(f"callbacks-first: [{i + 1}] callback.{call.hook} after the module's [{i}]")
        if call.hook == "on_load_checkpoint" and i > 0:
            prev = trace[i - 1]
            if prev.target == "callback" and prev.hook == "on_load_checkpoint":
                problems.append(f"callbacks-first: [{i - 1}] callback.on_load_checkpoint before the module's [{i}]")
    return problems


def _train_batches(trace: Trace) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of each training batch: from the module's
    ``on_train_batch_start`` to its ``on_train_batch_end`` (or whatever ends the
    batch early: the next batch, the epoch's end, an exception)."""
    stops = ("on_train_batch_end", "on_train_batch_start", "on_train_epoch_end", "on_exception")
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


_SKIP_ALLOWED_AFTER: Final = frozenset(
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


_TRANSFER: Final = ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")


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
        elif c.hook in ("validation_step", "test_step", "predict_step"):
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
        if not (h.endswith(("_batch_start", "_batch_end")) or h in ("validation_step", "test_step", "predict_step")):
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
)
"""Every core rule, in the order :func:`core_violations` reports them."""


def core_violations(trace: Sequence[Call], scenario: Scenario) -> list[str]:
    """Every broken core rule in ``trace`` (a run of ``scenario``), as
    ``"<rule>: [<index>] <what>"`` strings; empty when the trace conforms."""
    problems: list[str] = []
    for rule in RULES:
        problems.extend(rule.check(trace, scenario))
    return problems
