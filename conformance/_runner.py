"""Running one case through an adapter, and judging it.

:func:`run_case` is the whole life of one case: skip it when the trainer lacks a
capability, build the recording model, callbacks and data on the adapter's base
classes, run the entry point (twice for a resume: a fit that saves, a fit from
the checkpoint), then hand the trace and the probes to the validator and turn
the verdict into a :class:`~loophooks.conformance.CaseResult`, taking declared
deviations into account.

The spec's runtime checks are on for every run (:func:`loophooks.spec.set_checks`),
so a trainer that hands a hook a wrong argument fails with the check's message.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import torch
from typing_extensions import final

from loophooks.conformance._adapter import Adapter
from loophooks.conformance._catalogue import DEVICES, Case, catalogue, select
from loophooks.conformance._data import batch_sources
from loophooks.conformance._deviations import Deviations, Level, load_deviations
from loophooks.conformance._report import CaseResult, Report
from loophooks.conformance._validator import LossProbe, ModeProbe, OutputsProbe, Probes, StepProbe, Verdict, validate
from loophooks.spec import CALLBACK_HOOKS, HOOKS, Call, Scenario, check_args, checks_enabled, set_checks

__all__ = ["Observer", "Run", "check", "judge", "run_case", "run_cases", "run_scenario", "unsupported_reason"]

_FAULT_MARK: Final = "loophooks: fault injected"
_CHECKS_ENV: Final = "LOOPHOOKS_CHECKS"


@final
@dataclass
class Run:
    """What one scenario's run left behind."""

    trace: list[Call] = field(default_factory=list)
    error: BaseException | None = None
    error_text: str = ""
    """Where the error was raised (its innermost frame)."""
    probes: Probes = field(default_factory=Probes)
    fault_fired: bool = False
    """Whether the scenario's planted fault raised (``None``-fault scenarios: ``False``)."""


Observer = Callable[[Case, "Run | None", "Verdict | None", CaseResult], None]
"""Called with each case, its run and verdict (both ``None`` for an unsupported case) and its
result, as soon as the case is judged: how trace dumps and the HTML report see the traces that
:class:`CaseResult` does not keep."""


def unsupported_reason(case: Case, adapter: Adapter) -> str | None:
    """``"unsupported: needs X, Y"`` when ``adapter`` lacks what ``case`` needs (or the machine
    lacks the device), else ``None``."""
    missing = sorted(case.needs - set(adapter.capabilities))
    if missing:
        return f"unsupported: needs {', '.join(missing)}"
    if case.scenario.device == "cuda" and not torch.cuda.is_available():
        return "unsupported: needs a CUDA device (none available)"
    if case.scenario.precision == "bf16-mixed" and case.scenario.device == "cuda" and torch.cuda.is_available():
        if not torch.cuda.is_bf16_supported():
            return "unsupported: needs a CUDA device with bf16"
    return None


@contextmanager
def _checks_on() -> Iterator[None]:
    """The spec's runtime checks on for one run: the setting, and its variable for
    trainers that read ``LOOPHOOKS_CHECKS`` when they are built."""
    before, before_env = checks_enabled(), os.environ.get(_CHECKS_ENV)
    set_checks(True)
    os.environ[_CHECKS_ENV] = "1"
    try:
        yield
    finally:
        set_checks(before)
        if before_env is None:
            del os.environ[_CHECKS_ENV]
        else:
            os.environ[_CHECKS_ENV] = before_env


def _scalar(value: Any) -> float | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach().float().cpu())
    return None


def _value(loss: Any) -> float:
    value = _scalar(loss)
    return float("nan") if value is None else value


def _step_loss(output: Any) -> Any:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, dict):
        return output.get("loss")
    return None


def _params(model: Any) -> torch.Tensor:
    """Every parameter of ``model`` in one flat copy (the reference model has a dozen)."""
    return torch.cat([p.detach().reshape(-1).float() for p in model.parameters()])


def _wrong_modes(model: Any, expected: Callable[[str], bool]) -> tuple[str, ...]:
    return tuple(
        f"{name or 'the model'}: {'train' if module.training else 'eval'}"
        for name, module in model.named_modules()
        if module.training != expected(name)
    )


def _in_training(name: str) -> bool:
    """The mode of submodule ``name`` in ``training_step``: the frozen one in eval, the rest training."""
    return not (name == "frozen" or name.startswith("frozen."))


def _probed(base: type[Any], probes: Probes, scenario: Scenario) -> type[Any]:
    """``base`` measuring what the trainer hands it and what the trainer's steps do to it.

    The recorder wraps this class, so its hooks run inside the recording ones and
    see exactly the objects the trainer passed. Per training batch it keeps the
    parameters at the batch's start and at ``on_before_optimizer_step``, to tell
    at the batch's end whether the optimizer step (or an accumulating batch)
    moved them; it checks the gradients at ``on_before_optimizer_step`` and each
    submodule's mode in ``training_step``.
    """
    state: dict[str, Any] = {"step_loss": None, "start": None, "at_step": None, "grads": (0, 0), "modes": 0}

    def fix_manual(first_before: int, first_backward: int) -> None:
        # under manual optimization the backward ran inside the step, on the loss it then returned
        for probes_list, first in ((probes.before_backward, first_before), (probes.backward, first_backward)):
            for i in range(first, len(probes_list)):
                p = probes_list[i]
                probes_list[i] = LossProbe(p.ndim, p.requires_grad, p.value, state["step_loss"])

    def loss_probe(loss: Any) -> LossProbe:
        return LossProbe(
            ndim=loss.ndim if isinstance(loss, torch.Tensor) else -1,
            requires_grad=bool(getattr(loss, "requires_grad", False)),
            value=_value(loss),
            step_loss=None if scenario.manual_optimization else state["step_loss"],
        )

    class Probed(base):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._probe_initial_modes = {name: m.training for name, m in self.named_modules()}

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if state["modes"] < 1:
                wrong = _wrong_modes(self, _in_training)
                if wrong:
                    state["modes"] += 1
                    where = f"training_step (epoch {self.current_epoch}, batch {batch_idx})"
                    probes.modes.append(ModeProbe(where, wrong))
            first = (len(probes.before_backward), len(probes.backward))
            output = super().training_step(batch, batch_idx)
            state["step_loss"] = _scalar(_step_loss(output))
            if scenario.manual_optimization:
                fix_manual(*first)
            return output

        def on_train_batch_start(self, batch: Any, batch_idx: int) -> Any:
            state["start"], state["at_step"] = _params(self), None
            return super().on_train_batch_start(batch, batch_idx)

        def on_before_backward(self, loss: torch.Tensor) -> None:
            probes.before_backward.append(loss_probe(loss))
            super().on_before_backward(loss)

        def backward(self, loss: torch.Tensor, *args: Any, **kwargs: Any) -> None:
            probes.backward.append(loss_probe(loss))
            super().backward(loss, *args, **kwargs)

        def on_before_optimizer_step(self, optimizer: Any) -> None:
            trainable = [p for p in self.parameters() if p.requires_grad]
            missing = sum(p.grad is None for p in trainable)
            nonfinite = sum(int(not bool(torch.isfinite(p.grad).all())) for p in trainable if p.grad is not None)
            state["grads"] = (missing, nonfinite)
            state["at_step"] = _params(self)
            super().on_before_optimizer_step(optimizer)

        def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
            loss = _step_loss(outputs)
            probes.train_batch_end.append(
                OutputsProbe(
                    has_loss=isinstance(loss, torch.Tensor),
                    requires_grad=bool(getattr(loss, "requires_grad", False)),
                    value=_value(loss),
                    step_loss=state["step_loss"],
                )
            )
            before = state["at_step"] if state["at_step"] is not None else state["start"]
            if before is not None:
                stepped = state["at_step"] is not None
                missing, nonfinite = state["grads"] if stepped else (0, 0)
                changed = not torch.equal(before, _params(self))
                probes.steps.append(StepProbe(self.current_epoch, batch_idx, stepped, missing, nonfinite, changed))
            state["start"] = state["at_step"] = None
            super().on_train_batch_end(outputs, batch, batch_idx)

    Probed.__name__ = Probed.__qualname__ = f"Probed{base.__name__}"
    return Probed


def _final_modes(model: Any, probes: Probes, fn: str) -> None:
    """After a run that finished, every submodule is back in the mode it had before it."""
    initial = getattr(model, "_probe_initial_modes", None)
    if not isinstance(model, torch.nn.Module) or initial is None:
        return
    wrong = _wrong_modes(model, lambda name: bool(initial.get(name, True)))
    if wrong:
        probes.modes.append(ModeProbe(f"after {fn}() returned, expected the modes from before it", wrong))


class _Returning:
    """An adapter that keeps what the wrapped adapter's ``run`` returned (the predictions)."""

    def __init__(self, adapter: Adapter) -> None:
        self._adapter = adapter
        self.name = adapter.name
        self.capabilities = adapter.capabilities
        self.returned: Any = None

    def __getattr__(self, name: str) -> Any:  # module_base, callback_base, datamodule_base, extras
        return getattr(self._adapter, name)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        self.returned = self._adapter.run(*args, **kwargs)
        return self.returned


def _probing_recorder(scenario: Scenario, probes: Probes) -> Any:
    """A recorder whose model classes carry the probes under the recording layer."""
    from loophooks.conformance._recorder import Recorder

    class ProbingRecorder(Recorder):
        def model_class(self, base: type[Any], framework_base: type[Any] | None = None) -> type[Any]:
            return super().model_class(_probed(base, probes, scenario), framework_base)

        def _record(self, name: str, target: Any, bound: dict[str, Any], owner: Any, pl_module: Any) -> None:
            super()._record(name, target, bound, owner, pl_module)
            # The spec's runtime checks on what the trainer hands each hook, whatever the
            # trainer: the call is in the trace first, so the failure shows where it happened.
            hook = (CALLBACK_HOOKS if target == "callback" else HOOKS).get(name)
            if hook is not None and checks_enabled():
                check_args(hook, bound, owner=owner)

    return ProbingRecorder(fault=scenario.fault, sources=batch_sources(scenario))


def run_scenario(adapter: Adapter, scenario: Scenario, *, workdir: str | None = None) -> Run:
    """Run ``scenario`` through ``adapter`` with every hook recorded, the spec's checks on.

    The model, callbacks and data are the recorder's (``_recorder._one_run``), so
    the suite runs exactly what the spec's expected calls describe. A ``resume``
    scenario runs twice into one trace: a fit that saves the checkpoint where the
    scenario says, then a fit from it. The run's exception, if any, is kept rather
    than raised: the trace up to it is the result.
    """
    from loophooks.conformance._recorder import _one_run

    probes = Probes()
    recorder = _probing_recorder(scenario, probes)
    run = Run(trace=recorder.calls, probes=probes)
    target = _Returning(adapter)
    with _checks_on(), tempfile.TemporaryDirectory(dir=workdir) as tmp:
        ckpt = Path(tmp) / "resume.ckpt"
        try:
            error = _one_run(target, scenario, recorder, tmp, saver_path=ckpt if scenario.resume else None)
            if scenario.resume is not None and error is None:
                if not ckpt.exists():
                    raise RuntimeError(
                        f"the first run saved no checkpoint at {scenario.resume} "
                        "(trainer.save_checkpoint was called and wrote nothing)"
                    )
                error = _one_run(target, scenario, recorder, tmp, ckpt_path=str(ckpt))
        except Exception as raised:  # building the run failed, or no checkpoint came
            error = raised
        run.fault_fired = recorder.fault_fired
        if error is None:
            probes.returned, probes.returned_set = target.returned, True
            _final_modes(recorder.model, probes, scenario.fn)
        else:
            run.error = error
            frames = traceback.extract_tb(error.__traceback__)
            if frames:
                last = frames[-1]
                run.error_text = f"  raised at {last.filename}:{last.lineno} in {last.name}"
    return run


def _error_problems(run: Run, scenario: Scenario) -> list[str]:
    """The run's exception measured against the scenario's fault, if any."""
    error = run.error
    if scenario.fault is not None:
        fault = scenario.fault
        if not run.fault_fired:
            # nothing was raised: say so, rather than judge a re-raise that could not happen
            ended = f"raised {type(error).__name__}: {error}" if error is not None else "returned normally"
            return [
                f"the planted fault never fired: {fault.where} was never called at epoch {fault.epoch}, "
                f"batch {fault.batch} (the run {ended} before reaching it)"
            ]
        if error is None:
            return [
                f"{scenario.fault.where} raised RuntimeError, but {scenario.fn}() returned normally: "
                "the exception must reach the caller after on_exception"
            ]
        if not (isinstance(error, RuntimeError) and _FAULT_MARK in str(error)):
            return [
                f"{scenario.fault.where} raised RuntimeError, but {scenario.fn}() raised "
                f"{type(error).__name__}: {error} instead of re-raising it"
            ]
        return []
    if error is None:
        return []
    return [f"the run raised {type(error).__name__}: {error}\n{run.error_text.rstrip()}"]


def judge(run: Run, scenario: Scenario, level: Level) -> Verdict:
    """The verdict on ``run``: the exception first (it usually explains the trace), then the trace."""
    verdict = validate(run.trace, scenario, level=level, probes=run.probes)
    errors = _error_problems(run, scenario)
    if not errors:
        return verdict
    return Verdict(
        level,
        tuple(errors) + verdict.problems,
        verdict.divergence,
        verdict.expected_len,
        verdict.actual_len,
        verdict.contexts,
    )


def run_case(
    case: Case,
    adapter: Adapter,
    *,
    level: Level = "strict",
    deviations: Deviations | None = None,
    workdir: str | None = None,
    observe: Observer | None = None,
) -> CaseResult:
    """Run and judge one case: passed, failed, deviation, xpassed or unsupported."""
    reason = unsupported_reason(case, adapter)
    if reason is not None:
        result = CaseResult(case.id, "unsupported", case.required, reason)
        if observe is not None:
            observe(case, None, None, result)
        return result
    start = time.perf_counter()
    run = run_scenario(adapter, case.scenario, workdir=workdir)
    verdict = judge(run, case.scenario, level)
    seconds = time.perf_counter() - start
    result = _result(case, verdict, seconds, level, deviations)
    if observe is not None:
        observe(case, run, verdict, result)
    return result


def _result(case: Case, verdict: Verdict, seconds: float, level: Level, deviations: Deviations | None) -> CaseResult:
    declared = deviations.find(case.id, level) if deviations is not None else None
    if declared is not None:
        if verdict.ok:
            return CaseResult(
                case.id,
                "xpassed",
                case.required,
                f"declared a deviation ({declared.reason}) but conforms: remove it from {declared.source or 'the deviations'}",
                seconds,
            )
        return CaseResult(case.id, "deviation", case.required, f"{declared.reason}\n{verdict.message}", seconds)
    if verdict.ok:
        return CaseResult(case.id, "passed", case.required, "", seconds)
    return CaseResult(case.id, "failed", case.required, verdict.message, seconds)


def run_cases(
    cases: Sequence[Case],
    adapter: Adapter,
    *,
    level: Level = "strict",
    deviations: Deviations | None = None,
    observe: Observer | None = None,
) -> list[CaseResult]:
    """:func:`run_case` for each of ``cases``, in order."""
    return [run_case(c, adapter, level=level, deviations=deviations, observe=observe) for c in cases]


def check(
    adapter: Adapter | str | None = None,
    *,
    devices: Sequence[str] = DEVICES,
    level: Level = "strict",
    deviations: Deviations | str | Path | None = None,
    pattern: str | None = None,
    observe: Observer | None = None,
) -> Report:
    """Run the catalogue (or the cases whose id matches ``pattern``) through ``adapter``.

    ``adapter`` is an adapter, a name for :func:`~loophooks.conformance.load_adapter`,
    or ``None`` for ``$LOOPHOOKS_ADAPTER`` / the engine. A built-in adapter brings
    its shipped deviations file unless ``deviations`` is given. ``observe`` sees each
    case's run (see :data:`Observer`).
    """
    from loophooks.conformance.adapters._registry import builtin_deviations, load_adapter
    from loophooks.spec import SPEC_VERSION

    if adapter is None or isinstance(adapter, str):
        adapter = load_adapter(adapter)
    if deviations is None:
        shipped = builtin_deviations(adapter)
        deviations = load_deviations(shipped) if shipped is not None else Deviations()
    elif not isinstance(deviations, Deviations):
        deviations = load_deviations(deviations)
    every = catalogue(devices)
    results = run_cases(select(every, pattern), adapter, level=level, deviations=deviations, observe=observe)
    unused = deviations.unused([c.id for c in catalogue()], level)
    return Report(
        adapter=adapter.name,
        capabilities=tuple(sorted(adapter.capabilities)),
        device=", ".join(devices),
        level=level,
        spec_version=SPEC_VERSION,
        results=tuple(results),
        extra={"unused_deviations": [d.id for d in unused]} if unused else {},
    )
