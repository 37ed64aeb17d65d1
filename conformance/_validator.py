"""Judging a recorded run: its trace against the spec, and its arguments against their meaning.

Two levels, chosen per run:

- ``strict``: the trace must equal ``loophooks.spec.expected_calls(scenario)``
  call for call (hook, receiver, arguments, model mode, autograd state, device).
  The first divergence is shown as a short diff with the calls around it and a
  one-line diagnosis (a call missing, an extra call, two calls swapped, an
  argument that differs).
- ``core``: only the rules every trainer must keep, from
  ``loophooks.spec.core_violations``; a trainer may order the rest its own way.

At both levels the *semantic* checks run: properties of the arguments that
equality of normalised values cannot see (see :func:`semantic_problems`), fed by
:class:`Probes` that the runner collects from the live objects during the run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from typing_extensions import final

from loophooks.conformance._deviations import Level
from loophooks.spec import Call, Scenario
from loophooks.spec._arith import eval_batches  # the spec's own batch arithmetic, not a copy

__all__ = [
    "CHECKPOINT_KEYS",
    "Divergence",
    "LossProbe",
    "ModeProbe",
    "OutputsProbe",
    "Probes",
    "StepProbe",
    "Verdict",
    "first_divergence",
    "render_divergence",
    "semantic_problems",
    "validate",
]

CHECKPOINT_KEYS: Final = frozenset(
    {"epoch", "global_step", "state_dict", "loops", "optimizer_states", "lr_schedulers", "callbacks"}
)
"""Keys the checkpoint dict already holds when ``on_save_checkpoint`` runs (``CheckpointHooks``' contract)."""

_CONTEXT: Final = 3
"""Calls shown on each side of a divergence."""
_WIDTH: Final = 110
"""Longest rendered call; longer ones are cut (batch arguments can be long)."""
_LOOKAHEAD: Final = 6
"""How far a missing or extra call is searched for when diagnosing a divergence."""
_LATE: Final = 12
"""A call found at most this many calls later came late; further away, it belongs to a later batch."""


# --- what the runner measures on the live objects --------------------------------------------


@final
@dataclass(frozen=True)
class LossProbe:
    """The ``loss`` one ``on_before_backward`` call of the model received."""

    ndim: int
    requires_grad: bool
    value: float
    step_loss: float | None
    """The loss the latest ``training_step`` returned (``None`` if none ran), to check the division."""


@final
@dataclass(frozen=True)
class OutputsProbe:
    """The ``outputs`` one ``on_train_batch_end`` call of the model received."""

    has_loss: bool
    requires_grad: bool
    value: float
    step_loss: float | None


@final
@dataclass(frozen=True)
class StepProbe:
    """What one training batch did to the model: gradients at ``on_before_optimizer_step``
    and whether the parameters moved."""

    epoch: int
    batch_idx: int
    stepped: bool
    """Whether ``on_before_optimizer_step`` ran in the batch."""
    missing_grads: int
    """Trainable parameters without a gradient at ``on_before_optimizer_step``."""
    nonfinite_grads: int
    changed: bool
    """Stepped: whether the parameters changed between ``on_before_optimizer_step`` and the batch's end;
    accumulating: whether they changed at all during the batch."""


@final
@dataclass(frozen=True)
class ModeProbe:
    """Submodules whose ``training`` flag was wrong at one point of the run."""

    where: str
    wrong: tuple[str, ...]
    """``"<name>: train"`` / ``"<name>: eval"``, the mode found."""


@final
@dataclass
class Probes:
    """Facts about arguments and effects, collected while the run happens."""

    before_backward: list[LossProbe] = field(default_factory=list)
    backward: list[LossProbe] = field(default_factory=list)
    """The loss the model's ``backward`` hook received."""
    train_batch_end: list[OutputsProbe] = field(default_factory=list)
    steps: list[StepProbe] = field(default_factory=list)
    modes: list[ModeProbe] = field(default_factory=list)
    returned: Any = None
    """What the entry point returned (the predictions of ``predict``)."""
    returned_set: bool = False


# --- the strict comparison ------------------------------------------------------------------


@final
@dataclass(frozen=True)
class Divergence:
    """Where a trace first leaves the expected sequence."""

    index: int
    expected: Call | None
    actual: Call | None
    problem: str
    """One line naming what went wrong, e.g. ``missing call: on_before_zero_grad(...)``."""
    diff: str
    """The calls around ``index``: shared ones, then the expected (``-``) and the actual (``+``)."""

    def __str__(self) -> str:
        return f"{self.problem}\n{self.diff}"


def _short(call: Call) -> str:
    text = str(call)
    return text if len(text) <= _WIDTH else text[: _WIDTH - 3] + "..."


def _field_differences(expected: Call, actual: Call) -> list[str]:
    """What differs between two calls of the same hook on the same receiver."""
    out = []
    for name, value in expected.args.items():
        if name not in actual.args:
            out.append(f"argument {name!r} missing (expected {value!r})")
        elif not (value == actual.args[name]):
            out.append(f"argument {name!r}: expected {value!r}, got {actual.args[name]!r}")
    if expected.training is not None and expected.training != actual.training:
        mode = {True: "train", False: "eval", None: "unknown"}
        out.append(f"model mode: expected {mode[expected.training]}, got {mode[actual.training]}")
    if expected.grad is not None and expected.grad != actual.grad:
        out.append(f"autograd: expected {expected.grad}, got {actual.grad}")
    if expected.device is not None and expected.device != actual.device:
        out.append(f"batch device: expected {expected.device}, got {actual.device}")
    return out


def _name(call: Call) -> str:
    return call.hook if call.target == "module" else f"{call.target}.{call.hook}"


def _diagnose(expected: Sequence[Call], actual: Sequence[Call], i: int) -> str:
    exp = expected[i] if i < len(expected) else None
    act = actual[i] if i < len(actual) else None
    if act is None:
        assert exp is not None
        left = len(expected) - i
        return f"the trace ends early: expected {_name(exp)} next ({left} expected call{'s' * (left != 1)} missing)"
    if exp is None:
        extra = len(actual) - i
        return f"{extra} unexpected call{'s' * (extra != 1)} after the expected end, first {_name(act)}"
    if exp.hook == act.hook and exp.target == act.target:
        return f"{_name(exp)}: " + "; ".join(_field_differences(exp, act))
    nxt_e = expected[i + 1] if i + 1 < len(expected) else None
    nxt_a = actual[i + 1] if i + 1 < len(actual) else None
    if nxt_e is not None and nxt_a is not None and nxt_e.matches(act) and exp.matches(nxt_a):
        return f"swapped: {_name(act)} came before {_name(exp)}"
    for k in range(1, _LOOKAHEAD):
        # a call missing: what came is what was expected k calls later
        if i + k < len(expected) and expected[i + k].matches(act):
            names = ", ".join(_name(c) for c in expected[i : i + k])
            later = next((j for j in range(i + 1, len(actual)) if exp.matches(actual[j])), None)
            if later is not None and later - i <= _LATE:
                return f"out of order: {names} expected before {_name(act)}, came later (at call {later})"
            return f"missing call{'s' * (k > 1)}: {names} (expected before {_name(act)})"
        # an extra call: what was expected comes k calls later
        if i + k < len(actual) and exp.matches(actual[i + k]):
            names = ", ".join(_name(c) for c in actual[i : i + k])
            return f"unexpected call{'s' * (k > 1)}: {names} (before {_name(exp)})"
    later = next((j for j in range(i + 1, min(len(actual), i + _LATE + 1)) if exp.matches(actual[j])), None)
    if later is not None:
        return f"out of order: expected {_name(exp)} at call {i}, it came at call {later}; got {_name(act)} instead"
    return f"expected {_name(exp)}, got {_name(act)}"


def render_divergence(expected: Sequence[Call], actual: Sequence[Call], i: int, context: int = _CONTEXT) -> str:
    """The calls around index ``i`` as a small diff: ``  `` shared, ``- `` expected, ``+ `` actual."""
    lines = []
    for j in range(max(0, i - context), i):
        lines.append(f"    {j:>4}  {_short(actual[j])}")
    for j in range(i, min(len(expected), i + context + 1)):
        lines.append(f"  - {j:>4}  {_short(expected[j])}")
    if i >= len(expected):
        lines.append("  -       (end of the expected calls)")
    for j in range(i, min(len(actual), i + context + 1)):
        lines.append(f"  + {j:>4}  {_short(actual[j])}")
    if i >= len(actual):
        lines.append("  +       (end of the trace)")
    return "\n".join(lines)


def first_divergence(expected: Sequence[Call], actual: Sequence[Call], context: int = _CONTEXT) -> Divergence | None:
    """The first index where ``actual`` does not match ``expected``, diagnosed; ``None`` when they match."""
    n = min(len(expected), len(actual))
    i = next((k for k in range(n) if not expected[k].matches(actual[k])), n)
    if i == len(expected) == len(actual):
        return None
    return Divergence(
        index=i,
        expected=expected[i] if i < len(expected) else None,
        actual=actual[i] if i < len(actual) else None,
        problem=f"call {i}: {_diagnose(expected, actual, i)}",
        diff=render_divergence(expected, actual, i, context),
    )


# --- semantic checks --------------------------------------------------------------------------


def _close(a: float, b: float) -> bool:
    # bf16 autocast rounds the loss to 8 bits of mantissa
    return math.isclose(a, b, rel_tol=2e-2, abs_tol=1e-6)


def _module_calls(trace: Sequence[Call], hook: str) -> list[Call]:
    return [c for c in trace if c.hook == hook and c.target == "module"]


def _check_batch_counting(trace: Sequence[Call], scenario: Scenario) -> list[str]:
    """``batch_idx`` counts 0, 1, 2... per loader in every run of a loop; ``dataloader_idx`` is in range."""
    problems: list[str] = []
    loaders = {
        "validation": len(scenario.val_batches),
        "test": len(scenario.test_batches),
        "predict": len(scenario.predict_batches),
    }
    # The module's batch-start calls only: callbacks receive the same arguments.
    next_idx: dict[tuple[str, int], int | None] = {}
    runs = 0
    for n, call in enumerate(trace):
        if call.target != "module":
            continue
        hook = call.hook
        if hook == "setup":
            # a new entry-point run (a resume has two); a resumed fit may start mid-epoch
            runs += 1
            next_idx = {("train", 0): None} if runs > 1 else {}
            continue
        if hook.endswith("_epoch_start"):
            stage = hook[3 : -len("_epoch_start")]
            for key in [k for k in next_idx if k[0] == stage]:
                # a resumed epoch may start anywhere: only the first batch of a fresh epoch is pinned
                next_idx[key] = 0
            continue
        if not (hook.startswith("on_") and hook.endswith("_batch_start")):
            continue
        stage = hook[3 : -len("_batch_start")]
        batch_idx = call.args.get("batch_idx")
        loader = call.args.get("dataloader_idx", 0)
        if stage in loaders:
            if not isinstance(loader, int) or not 0 <= loader < max(loaders[stage], 1):
                problems.append(
                    f"call {n}: {hook}: dataloader_idx={loader!r} out of range: "
                    f"there {'is' if loaders[stage] == 1 else 'are'} {loaders[stage]} {stage} loader(s)"
                )
                continue
        if not isinstance(batch_idx, int):
            continue
        key = (stage, loader)
        want = next_idx.get(key, 0)
        if want is not None and batch_idx != want:
            problems.append(
                f"call {n}: {hook}: batch_idx={batch_idx} but {stage} loader {loader} "
                f"{'starts at 0' if want == 0 else f'had reached {want - 1}'}: batch_idx counts per loader"
            )
        next_idx[key] = batch_idx + 1
    return problems


def _check_skip(trace: Sequence[Call], scenario: Scenario) -> list[str]:
    """After ``on_train_batch_start`` returns -1, no further training batch of that epoch runs."""
    if scenario.skip_epoch_at is None or scenario.resume is not None:
        return []
    epoch = -1
    skipped = False
    for n, call in enumerate(trace):
        if call.target != "module":
            continue
        if call.hook == "on_train_epoch_start":
            epoch += 1
            skipped = False
        elif call.hook == "on_train_epoch_end":
            skipped = False
        elif call.hook == "on_train_batch_start":
            if skipped:
                return [
                    f"call {n}: on_train_batch_start returned -1 in epoch {scenario.skip_epoch_at[0]} "
                    f"at batch {scenario.skip_epoch_at[1]}, but training went on with "
                    f"batch_idx={call.args.get('batch_idx')!r} in the same epoch"
                ]
            if (epoch, call.args.get("batch_idx")) == scenario.skip_epoch_at:
                skipped = True
        elif skipped and call.hook in ("training_step", "on_train_batch_end", "optimizer_step"):
            return [
                f"call {n}: on_train_batch_start returned -1 in epoch {epoch} at batch "
                f"{scenario.skip_epoch_at[1]}, but {call.hook} still ran for that batch"
            ]
    return []


def _check_optimizers(trace: Sequence[Call], scenario: Scenario) -> list[str]:
    """Every optimizer a hook receives is one ``configure_optimizers`` returned."""
    for n, call in enumerate(trace):
        value = call.args.get("optimizer")
        if isinstance(value, dict) and "optimizer" in value and value["optimizer"] == -1:
            return [
                f"call {n}: {_name(call)} received an optimizer that configure_optimizers did not return "
                "(a copy or a different instance)"
            ]
    return []


def _check_checkpoint(trace: Sequence[Call], scenario: Scenario) -> list[str]:
    """The dict ``on_save_checkpoint`` receives already holds the trainer's keys, and so
    does the one ``on_load_checkpoint`` receives (it is what was saved)."""
    for n, call in enumerate(trace):
        if call.hook not in ("on_save_checkpoint", "on_load_checkpoint"):
            continue
        value = call.args.get("checkpoint")
        if isinstance(value, dict) and isinstance(value.get("keys"), list):
            missing = sorted(CHECKPOINT_KEYS - set(value["keys"]))
            if missing:
                return [f"call {n}: {_name(call)}: the checkpoint dict lacks {', '.join(missing)}"]
    return []


def _loss_problems(n: int, p: LossProbe, divide: int) -> list[str]:
    out = []
    if p.ndim != 0:
        out.append(f"on_before_backward #{n}: loss has {p.ndim} dimensions, expected a scalar")
    if not p.requires_grad:
        out.append(f"on_before_backward #{n}: loss does not require grad (it was detached)")
    if p.step_loss is not None and not _close(p.value, p.step_loss / divide):
        if divide != 1 and _close(p.value, p.step_loss):
            out.append(
                f"on_before_backward #{n}: loss {p.value:.6g} is training_step's loss undivided; "
                f"expected it divided by accumulate_grad_batches={divide} ({p.step_loss / divide:.6g})"
            )
        else:
            out.append(
                f"on_before_backward #{n}: loss {p.value:.6g}, expected training_step's loss "
                f"{p.step_loss:.6g} / {divide} = {p.step_loss / divide:.6g}"
            )
    return out


def _outputs_problems(n: int, o: OutputsProbe, divide: int) -> list[str]:
    if not o.has_loss:
        return [f"on_train_batch_end #{n}: outputs hold no 'loss'"]
    if o.requires_grad:
        return [f"on_train_batch_end #{n}: outputs['loss'] still requires grad; it must be detached"]
    if o.step_loss is not None and not _close(o.value, o.step_loss / divide):
        return [
            f"on_train_batch_end #{n}: outputs['loss'] is {o.value:.6g}, expected training_step's loss "
            f"divided by accumulate_grad_batches={divide} ({o.step_loss / divide:.6g})"
        ]
    return []


def _check_losses(probes: Probes, scenario: Scenario) -> list[str]:
    """The loss at ``on_before_backward`` and at ``backward`` is a scalar that requires grad,
    the one ``training_step`` returned divided for accumulation; ``on_train_batch_end``
    receives it detached. Only the first wrong call of each is reported: the rest repeat it."""
    divide = 1 if scenario.manual_optimization else scenario.accumulate_grad_batches
    before = (_loss_problems(n, p, divide) for n, p in enumerate(probes.before_backward))
    handed = (
        [q.replace("on_before_backward", "backward", 1) for q in _loss_problems(n, p, divide)]
        for n, p in enumerate(probes.backward)
    )
    after = (_outputs_problems(n, o, divide) for n, o in enumerate(probes.train_batch_end))
    return (
        next((found for found in before if found), [])
        + next((found for found in handed if found), [])
        + next((found for found in after if found), [])
    )


def _check_steps(probes: Probes, scenario: Scenario) -> list[str]:
    """Gradients exist and are finite when ``on_before_optimizer_step`` runs; the
    parameters change across the optimizer step and stay put in a batch that only
    accumulates. The first wrong batch of each kind is reported."""
    found: dict[str, str] = {}
    for p in probes.steps:
        where = f"epoch {p.epoch}, batch {p.batch_idx}"
        if p.stepped and p.missing_grads and "grads" not in found:
            found["grads"] = (
                f"effects: {where}: {p.missing_grads} trainable parameter(s) had no gradient at "
                "on_before_optimizer_step (zeroed with set_to_none, or backward never ran)"
            )
        if p.stepped and p.nonfinite_grads and "finite" not in found:
            found["finite"] = (
                f"effects: {where}: {p.nonfinite_grads} gradient(s) not finite at on_before_optimizer_step"
            )
        if p.stepped and not p.changed and "step" not in found:
            found["step"] = (
                f"effects: {where}: the parameters did not change across the optimizer step "
                "(gradients zeroed between backward and the update, or no update at all)"
            )
        if not p.stepped and p.changed and "accumulate" not in found:
            found["accumulate"] = (
                f"effects: {where}: the parameters changed in a batch without an optimizer step "
                f"(accumulate_grad_batches={scenario.accumulate_grad_batches}: this batch only accumulates)"
            )
    return list(found.values())


def _check_modes(probes: Probes, scenario: Scenario) -> list[str]:
    """Every submodule is in the mode it should be: training in ``training_step`` except
    one frozen in eval mode, and after the run as before it (the trainer restores each
    submodule's own mode, Lightning #2551, #20177). The first wrong point is reported."""
    for p in probes.modes:
        if p.wrong:
            return [f"modes: {p.where}: {', '.join(p.wrong)}"]
    return []


def _check_predictions(probes: Probes, scenario: Scenario) -> list[str]:
    """``predict`` returns the predictions (one list per loader with several loaders) or ``None``."""
    if scenario.fn != "predict" or not probes.returned_set:
        return []
    returned = probes.returned
    if scenario.return_predictions is False:
        return (
            []
            if returned is None
            else [f"predict(return_predictions=False) returned {type(returned).__name__}, expected None"]
        )
    counts = eval_batches(scenario.predict_batches, scenario.limit_predict_batches)
    if sum(counts) == 0:
        return []
    if not isinstance(returned, list):
        return [f"predict returned {type(returned).__name__}, expected a list of predictions"]
    if len(counts) == 1:
        if len(returned) != counts[0]:
            return [f"predict returned {len(returned)} predictions, expected {counts[0]}"]
        return []
    got = [len(r) if isinstance(r, list) else None for r in returned]
    if got != counts:
        return [f"predict returned per-loader prediction counts {got}, expected {counts} (a list per loader)"]
    return []


_TRACE_CHECKS: Final[tuple[Callable[[Sequence[Call], Scenario], list[str]], ...]] = (
    _check_batch_counting,
    _check_skip,
    _check_optimizers,
    _check_checkpoint,
)


def semantic_problems(trace: Sequence[Call], scenario: Scenario, probes: Probes | None = None) -> list[str]:
    """What the arguments mean, beyond equality: batch and loader indices, the optimizer's
    identity, the checkpoint's keys, the loss's shape, grad and division, the predictions."""
    problems: list[str] = []
    for check in _TRACE_CHECKS:
        problems += check(trace, scenario)
    if probes is not None:
        problems += _check_losses(probes, scenario)
        problems += _check_steps(probes, scenario)
        problems += _check_modes(probes, scenario)
        problems += _check_predictions(probes, scenario)
    return problems


# --- the verdict ------------------------------------------------------------------------------


@final
@dataclass(frozen=True)
class Verdict:
    """The judgement of one run."""

    level: Level
    problems: tuple[str, ...]
    """Every problem found, the first divergence (strict) or rule violations (core) first."""
    divergence: Divergence | None = None
    expected_len: int | None = None
    actual_len: int = 0
    contexts: Mapping[str, str] = field(default_factory=dict)
    """For a core violation, the calls around the first trace index it names (``[n]``)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def message(self) -> str:
        """The problems, with the diff of the first divergence under its line."""
        if self.ok:
            return "conforms"
        lines = []
        for problem in self.problems:
            lines.append(problem)
            if self.divergence is not None and problem == self.divergence.problem:
                lines.append(self.divergence.diff)
            elif problem in self.contexts:
                lines.append(self.contexts[problem])
        return "\n".join(lines)


def _core_violations(trace: Sequence[Call], scenario: Scenario) -> list[str]:
    from loophooks.spec import core_violations  # type: ignore[attr-defined,unused-ignore]

    return list(core_violations(list(trace), scenario))


def _expected(scenario: Scenario) -> list[Call]:
    from loophooks.spec import expected_calls  # type: ignore[attr-defined,unused-ignore]

    return list(expected_calls(scenario))


def validate(
    trace: Sequence[Call],
    scenario: Scenario,
    *,
    level: Level = "strict",
    probes: Probes | None = None,
    expected: Sequence[Call] | None = None,
) -> Verdict:
    """Judge ``trace``, the calls recorded for ``scenario``, at ``level``.

    ``expected`` overrides the spec's sequence (for tests of the validator itself).
    """
    problems: list[str] = []
    divergence = None
    expected_len = None
    contexts: dict[str, str] = {}
    if level == "strict":
        want = list(expected) if expected is not None else _expected(scenario)
        expected_len = len(want)
        divergence = first_divergence(want, trace)
        if divergence is not None:
            divergence = _in_loop_terms(divergence, want, trace, scenario)
            problems.append(divergence.problem)
    elif level == "core":
        violations = _core_violations(trace, scenario)
        problems += violations
        for problem in violations[:_CONTEXTS]:
            contexts.setdefault(problem, _context(trace, problem))
    else:
        raise ValueError(f"level: expected 'strict' or 'core', got {level!r}")
    problems += semantic_problems(trace, scenario, probes)
    return Verdict(
        level, tuple(problems), divergence, expected_len, len(trace), {k: v for k, v in contexts.items() if v}
    )


_LOOP_RULES: Final = ("epochs:", "validation-cadence:")
"""Shape differences that span whole batches or runs: a call-by-call diagnosis of those
only sees their first call, so the loop-level sentence goes first."""
_CONTEXTS: Final = 5
"""Core violations shown with the calls around them; the rest usually repeat the first."""
_INDEX: Final = re.compile(r"\[(\d+)\]")


def _in_loop_terms(
    divergence: Divergence, want: Sequence[Call], trace: Sequence[Call], scenario: Scenario
) -> Divergence:
    """The divergence said in the loops' terms when a whole batch, epoch or validation run
    differs ("validation ran 3 batches, expected 2"), the call-level diagnosis after it."""
    from loophooks.spec import shape_differences  # type: ignore[attr-defined,unused-ignore]

    exp, act = divergence.expected, divergence.actual
    if exp is not None and act is not None and (exp.hook, exp.target) == (act.hook, act.target):
        return divergence  # the same call with other arguments: the call-level diagnosis says it exactly
    try:
        loops = [p for p in shape_differences(trace, want, scenario) if p.startswith(_LOOP_RULES)]
    except Exception:  # a trace too broken to read as loops keeps the call-level diagnosis
        return divergence
    if not loops:
        return divergence
    head, _, local = divergence.problem.partition(": ")
    return replace(divergence, problem=f"{head}: {loops[0]}; first differing call: {local}")


def _context(trace: Sequence[Call], problem: str, around: int = 2, span: int = 12) -> str:
    """The calls around the trace indexes ``problem`` names (``[n]``), each named one marked
    ``>``: from the first to the last when they are close, else around the first."""
    named = sorted({int(m.group(1)) for m in _INDEX.finditer(problem)} & set(range(len(trace))))
    if not named:
        return ""
    first, last = named[0], named[-1] if named[-1] - named[0] <= span else named[0]
    return "\n".join(
        f"  {'>' if j in named else ' '} {j:>4}  {_short(trace[j])}"
        for j in range(max(0, first - around), min(len(trace), last + around + 1))
    )
