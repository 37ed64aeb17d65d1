"""Property-based conformance: generated scenarios, the engine, the spec's order.

Hypothesis generates :class:`~loophooks.spec.Scenario` s (entry point, batches per
loader, several loaders, limits, accumulation, validation interval and
frequency, max_steps, where ``on_train_batch_start`` returns -1, where a
checkpoint is taken and resumed, where a hook raises). Each is run on the
reference engine with every hook recorded (the conformance runner, spec checks
on) and its trace must equal ``loophooks.spec.expected_calls(scenario)`` and
break no core rule. A second property raises at a generated call of a
generated run: the trace must be the expected one up to that call, then each
callback's ``on_exception`` and nothing else, and the caller must get the very
exception raised. A third trains, saves at a generated point, resumes, and
needs the same weights bit for bit as the uninterrupted run.

Scenarios the spec leaves undefined (``expected_calls`` refuses them), that
need a capability the engine lacks, or whose checkpoint or fault point is never
reached, are discarded. Divergences already known and reported are listed in
:data:`KNOWN` (each with a regression test in ``tests/regressions/``) and
discarded too, so that a new divergence fails here.

Size: ``LOOPHOOKS_PROPERTY_EXAMPLES`` examples per property (default 200 fits,
50 evaluations, 60 exceptions, 40 resumes: about 20 s on two cores); ``derandomize`` makes the
default run the same every time. ``scripts/long-properties`` runs thousands with a random seed
(``LOOPHOOKS_PROPERTY_RANDOM=1``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from loophooks.conformance import _recorder
from loophooks.conformance._catalogue import needs
from loophooks.conformance._recorder import Recorder
from loophooks.conformance._runner import judge, run_scenario
from loophooks.spec import Fault, Resume, Scenario, Stage, expected_calls

EXAMPLES = int(os.environ.get("LOOPHOOKS_PROPERTY_EXAMPLES", "0")) or None
RANDOM = os.environ.get("LOOPHOOKS_PROPERTY_RANDOM", "") not in ("", "0")


def _settings(default_examples: int) -> settings:
    return settings(
        max_examples=EXAMPLES or default_examples,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )


def _adapter() -> Any:
    from loophooks.conformance.adapters._registry import load_adapter

    return load_adapter("engine")


KNOWN: dict[str, Callable[[Scenario], bool]] = {
    # Keys name the regression test that pins each divergence (tests/regressions/).
}
"""Known divergences between the engine and the spec, by regression test name."""


# --- generating scenarios ----------------------------------------------------------------------------

FAULT_HOOKS = (
    "training_step",
    "on_train_batch_start",
    "on_train_batch_end",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "optimizer_step",
)
"""Hooks a generated fault may hit. Not the batch-transfer hooks: they run before
``on_train_batch_start``, where the recorder does not know the batch index yet but
the spec's generator does, so the two disagree about whether the fault fires."""

small = st.integers(min_value=0, max_value=3)
EVAL_FNS: tuple[Stage, ...] = ("validate", "test", "predict")


@st.composite
def fit_scenarios(draw: st.DrawFn) -> Scenario:
    train_batches = draw(st.integers(min_value=1, max_value=4) | st.just(0))
    max_epochs = draw(st.integers(min_value=1, max_value=3))
    manual = draw(st.integers(0, 4)) == 0
    accumulate = 1 if manual else draw(st.integers(min_value=1, max_value=3))
    check_every = draw(st.sampled_from([1, 1, 2, None]))
    if check_every is None:
        interval: int | float | None = draw(st.integers(min_value=1, max_value=5))
    else:
        interval = draw(st.none() | st.none() | st.integers(min_value=1, max_value=3) | st.sampled_from([0.5, 0.25]))
    scenario = Scenario(
        name="generated",
        fn="fit",
        train_batches=train_batches,
        val_batches=draw(st.lists(small, min_size=0, max_size=2).map(tuple)),
        max_epochs=max_epochs,
        max_steps=draw(st.sampled_from([-1, -1, -1]) | st.integers(min_value=0, max_value=8)),
        limit_train_batches=draw(st.none() | st.none() | st.integers(min_value=0, max_value=4) | st.just(0.5)),
        limit_val_batches=draw(st.none() | st.none() | st.sampled_from([0, 1, 0.5])),
        num_sanity_val_steps=draw(st.sampled_from([0, 1, 2, -1])),
        check_val_every_n_epoch=check_every,
        val_check_interval=interval,
        accumulate_grad_batches=accumulate,
        gradient_clip_val=None if manual else draw(st.none() | st.just(1.0)),
        gradient_clip_algorithm=draw(st.sampled_from(["norm", "value"])),
        manual_optimization=manual,
        lr_scheduler=None if manual else draw(st.sampled_from([None, None, "step", "epoch"])),
        skip_epoch_at=draw(st.none() | st.none() | st.tuples(st.integers(0, 2), st.integers(0, 3))),
        callbacks=draw(st.integers(min_value=0, max_value=2)),
        datamodule=draw(st.booleans()),
        custom_batch=draw(st.integers(0, 5)) == 0,
    )
    event = draw(st.sampled_from(["none", "none", "resume", "fault"]))
    if event == "resume":
        batch = draw(st.none() | st.integers(min_value=0, max_value=3))
        scenario = scenario.with_(resume=Resume(draw(st.integers(0, max_epochs - 1)), batch))
    elif event == "fault":
        scenario = scenario.with_(
            fault=Fault(draw(st.sampled_from(FAULT_HOOKS)), draw(st.integers(0, max_epochs - 1)), draw(small))
        )
    else:
        scenario = scenario.with_(model_callbacks=draw(st.integers(min_value=0, max_value=1)))
    return scenario


@st.composite
def eval_scenarios(draw: st.DrawFn) -> Scenario:
    fn = draw(st.sampled_from(EVAL_FNS))
    loaders = st.lists(small, min_size=1, max_size=3).map(tuple)
    limit = st.none() | st.none() | st.sampled_from([0, 1, 2, 0.5])
    return Scenario(
        name="generated",
        fn=fn,
        val_batches=draw(loaders),
        test_batches=draw(loaders),
        predict_batches=draw(loaders),
        limit_val_batches=draw(limit),
        limit_test_batches=draw(limit),
        limit_predict_batches=draw(limit),
        callbacks=draw(st.integers(min_value=0, max_value=2)),
        model_callbacks=draw(st.integers(min_value=0, max_value=1)),
        datamodule=draw(st.booleans()),
        custom_batch=draw(st.integers(0, 4)) == 0,
        return_predictions=draw(st.sampled_from([None, True, False])) if fn == "predict" else None,
    )


def _defined(scenario: Scenario) -> list[Any] | None:
    """The spec's expected calls, or None where the spec leaves the scenario undefined.

    A fault can hide a scenario the generator rejects only when it gets there (a
    validation limit that selects no batch): the scenario without the fault decides.
    See tests/regressions/test_regression_fault_hides_undefined.py.
    """
    try:
        if scenario.fault is not None:
            expected_calls(scenario.with_(fault=None))
        return expected_calls(scenario)
    except ValueError:
        return None


def _reaches_its_events(scenario: Scenario, expected: list[Any]) -> bool:
    """A resume whose checkpoint is never saved, or a fault that never fires, tests nothing."""
    if scenario.resume is not None and not any(c.hook == "on_load_checkpoint" for c in expected):
        return False
    if scenario.fault is not None and any(c.hook == "teardown" for c in expected):
        return False
    return True


def check_conforms(scenario: Scenario) -> None:
    """Run ``scenario`` on the engine and fail with the divergence when it does not conform."""
    adapter = _adapter()
    expected = _defined(scenario)
    assume(expected is not None)
    assert expected is not None
    assume(needs(scenario) <= set(adapter.capabilities))
    assume(_reaches_its_events(scenario, expected))
    known = [name for name, matches in KNOWN.items() if matches(scenario)]
    assume(not known)
    note(f"scenario: {scenario!r}")
    run = run_scenario(adapter, scenario)
    for level in ("strict", "core"):
        verdict = judge(run, scenario, level)
        assert verdict.ok, f"{level}: {verdict.message}\n{scenario!r}"


@_settings(200)
@given(fit_scenarios())
def test_generated_fits_conform(scenario: Scenario) -> None:
    check_conforms(scenario)


@_settings(50)
@given(eval_scenarios())
def test_generated_evaluations_conform(scenario: Scenario) -> None:
    check_conforms(scenario)


# --- an exception anywhere ----------------------------------------------------------------------------


class _Raised(RuntimeError):
    pass


class _FaultAt(Recorder):
    """The conformance recorder, raising once right after recording call number ``index``."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index
        self.raised: BaseException | None = None

    def _record(self, *args: Any, **kwargs: Any) -> None:
        super()._record(*args, **kwargs)
        if self.raised is None and len(self.calls) == self.index + 1:
            self.raised = _Raised(f"raised at call {self.index}")
            raise self.raised


@_settings(60)
@given(scenario=fit_scenarios() | eval_scenarios(), where=st.floats(min_value=0.0, max_value=1.0))
def test_generated_exception_anywhere(tmp_path_factory: pytest.TempPathFactory, scenario: Scenario, where: float) -> None:
    """Raise at any call of a generated run: the trace is the expected one up to there, then
    ``on_exception`` for each callback and the datamodule, nothing else; the caller gets the same exception."""
    adapter = _adapter()
    assume(scenario.resume is None and scenario.fault is None)
    expected = _defined(scenario)
    assume(expected is not None and len(expected) > 0)
    assert expected is not None
    assume(needs(scenario) <= set(adapter.capabilities))
    index = min(int(where * len(expected)), len(expected) - 1)
    note(f"raising at call {index}: {expected[index]}")
    recorder = _FaultAt(index)
    error = _recorder._one_run(adapter, scenario, recorder, str(tmp_path_factory.mktemp("fault")))
    trace = recorder.calls
    for i, (want, got) in enumerate(zip(expected[: index + 1], trace)):
        assert want.matches(got), f"call {i}: expected {want}, got {got}\n{scenario!r}"
    assert recorder.raised is not None and error is recorder.raised, f"{error!r}\n{scenario!r}"
    callbacks = scenario.callbacks + (scenario.model_callbacks if index > 0 else 0)
    after = ["callback.on_exception"] * callbacks + (["datamodule.on_exception"] if scenario.datamodule else [])
    assert [f"{c.target}.{c.hook}" for c in trace[index + 1 :]] == after


# --- exact resume ------------------------------------------------------------------------------------


class _ResumeNet(torch.nn.Module):
    def __init__(self, samples: int, batch_size: int, dropout: float) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(dropout), torch.nn.Linear(8, 1))
        g = torch.Generator().manual_seed(3)
        self.data = torch.utils.data.TensorDataset(torch.randn(samples, 4, generator=g), torch.randn(samples, 1, generator=g))
        self.batch_size = batch_size

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.body(x), y)

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=0.01)
        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.StepLR(optimizer, 2, 0.5)}

    def train_dataloader(self) -> Any:
        return torch.utils.data.DataLoader(self.data, batch_size=self.batch_size, shuffle=True)


@_settings(40)
@given(
    epochs=st.integers(min_value=1, max_value=3),
    samples=st.integers(min_value=2, max_value=10),
    batch_size=st.integers(min_value=1, max_value=3),
    accumulate=st.integers(min_value=1, max_value=2),
    dropout=st.sampled_from([0.0, 0.5]),
    save_epoch=st.integers(min_value=0, max_value=2),
    save_batch=st.none() | st.integers(min_value=0, max_value=9),
)
def test_resume_anywhere_is_exact(
    tmp_path_factory: pytest.TempPathFactory,
    epochs: int,
    samples: int,
    batch_size: int,
    accumulate: int,
    dropout: float,
    save_epoch: int,
    save_batch: int | None,
) -> None:
    from loophooks.engine import Callback, Trainer

    batches = -(-samples // batch_size)
    assume(save_epoch < epochs)
    assume(save_batch is None or save_batch < batches)
    # a checkpoint inside an accumulation window cannot hold the gradients accumulated so far
    assume(save_batch is None or (save_batch + 1) % accumulate == 0 or save_batch == batches - 1)
    root = tmp_path_factory.mktemp("resume")
    path = root / "at.ckpt"

    class SaveAt(Callback):
        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            if (trainer.current_epoch, batch_idx) == (save_epoch, save_batch):
                trainer.save_checkpoint(str(path))

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if save_batch is None and trainer.current_epoch == save_epoch:
                trainer.save_checkpoint(str(path))

    def trainer(callbacks: list[Any]) -> Trainer:
        return Trainer(
            max_epochs=epochs,
            accumulate_grad_batches=accumulate,
            callbacks=callbacks,
            default_root_dir=str(root),
            enable_progress_bar=False,
            enable_checkpointing=False,
            deterministic=True,
            check_hooks=False,
        )

    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        full = _ResumeNet(samples, batch_size, dropout)
        trainer([SaveAt()]).fit(full)
        assert path.is_file()
        resumed = _ResumeNet(samples, batch_size, dropout)
        trainer([]).fit(resumed, ckpt_path=str(path))
    finally:
        torch.use_deterministic_algorithms(deterministic)
    a, b = full.state_dict(), resumed.state_dict()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
