"""The engine's hook sequence equals the real Lightning Trainer's, over a range of settings.

Both trainers run the same scenario through the conformance recorder
(``loophooks.conformance``): same model, data, callbacks and settings. The
recorded traces (hook, target, normalised arguments, model mode, grad mode)
must be equal, and both runs must fail or succeed together. Nothing here is
recorded from the engine and pasted back: Lightning is the reference.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

pytest.importorskip("pytorch_lightning")

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from loophooks.conformance._catalogue import catalogue  # noqa: E402
from loophooks.conformance._runner import run_scenario  # noqa: E402
from loophooks.conformance.adapters.engine import EngineAdapter  # noqa: E402
from loophooks.conformance.adapters.lightning import LightningAdapter  # noqa: E402
from loophooks.spec import Fault, Resume, Scenario  # noqa: E402

pytestmark = pytest.mark.lightning

_VERSION_KEYS = ("pytorch-lightning_version", "loophooks_version")


def _normal(args: Any) -> dict[str, Any]:
    """A recorded call's arguments, with the intended differences erased: the version key's name, and the
    class of configuration errors (Lightning's ``MisconfigurationException``/``ValueError``, the engine's
    ``ConfigurationError``); the injected faults' ``RuntimeError`` stays as it is."""
    out = dict(args)
    exc = out.get("exception")
    if isinstance(exc, dict) and exc.get("exception") != "RuntimeError":
        out["exception"] = "<configuration error>"
    ckpt = out.get("checkpoint")
    if isinstance(ckpt, dict) and "keys" in ckpt:
        # the engine writes Lightning's version key beside its own (checkpoint interchange): one "<version>"
        out["checkpoint"] = {"keys": sorted({"<version>" if k in _VERSION_KEYS else k for k in ckpt["keys"]})}
    return out


def _trace(adapter: Any, scenario: Scenario) -> tuple[list[Any], bool]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = run_scenario(adapter, scenario)
    calls = [(c.hook, c.target, _normal(c.args), c.training, c.grad) for c in run.trace]
    return calls, run.error is not None


def _first_difference(a: list[Any], b: list[Any]) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"call {i}:\n  lightning: {x}\n  engine:    {y}"
    longer, name = (a, "lightning") if len(a) > len(b) else (b, "engine")
    return f"{name} has {abs(len(a) - len(b))} more calls, from {longer[min(len(a), len(b))]}"


def assert_same_as_lightning(scenario: Scenario) -> None:
    expected, lightning_failed = _trace(LightningAdapter(), scenario)
    actual, engine_failed = _trace(EngineAdapter(), scenario)
    assert lightning_failed == engine_failed, f"{scenario}: lightning failed={lightning_failed}, engine={engine_failed}"
    assert actual == expected, f"{scenario}\n{_first_difference(expected, actual)}"


def _train_batches(s: Scenario) -> int:
    limit = s.limit_train_batches
    if limit is None:
        return s.train_batches
    return min(s.train_batches, limit) if isinstance(limit, int) else int(s.train_batches * limit)


def declared_deviation(s: Scenario) -> bool:
    """The spec's two declared deviations from Lightning (spec/ORDER.md, conformance/deviations/lightning.json):
    resuming after an epoch's last batch, and resuming at an epoch's end under max_steps. The engine follows
    the spec there; the conformance suite checks it."""
    if s.resume is None or s.fn != "fit":
        return False
    if s.resume.batch is None:
        return s.max_steps != -1
    if s.skip_epoch_at is not None and s.skip_epoch_at[0] < s.resume.epoch and s.skip_epoch_at[1] < _train_batches(s):
        # Lightning replays the saved batch when an earlier epoch was cut short by on_train_batch_start
        # returning -1 (its progress counters disagree); the spec and the engine continue after it.
        return True
    return s.resume.batch >= _train_batches(s) - 1


@pytest.mark.parametrize("case", catalogue(("cpu",)), ids=lambda c: c.id)
def test_catalogue_matches_lightning(case: Any) -> None:
    if declared_deviation(case.scenario):
        pytest.skip("a declared deviation of the spec from Lightning")
    assert_same_as_lightning(case.scenario)


@st.composite
def scenarios(draw: Any) -> Scenario:
    """Scenarios across the settings that shape the hook sequence, valid or not."""
    fn = draw(st.sampled_from(["fit", "fit", "fit", "validate", "test", "predict"]))
    manual = draw(st.booleans()) if fn == "fit" else False
    loaders = st.lists(st.integers(0, 3), min_size=1, max_size=2).map(tuple)
    max_epochs = draw(st.integers(1, 3))
    train_batches = draw(st.integers(0, 5))
    resume = None
    fault = None
    if fn == "fit" and train_batches > 0 and draw(st.integers(0, 3)) == 0:
        epoch = draw(st.integers(0, max_epochs - 1))
        batch = draw(st.one_of(st.none(), st.integers(0, train_batches - 1)))
        resume = Resume(epoch, batch)
    elif fn == "fit" and train_batches > 0 and draw(st.integers(0, 5)) == 0:
        where = draw(st.sampled_from(["training_step", "on_train_batch_end", "on_before_backward", "optimizer_step"]))
        fault = Fault(where, 0, draw(st.integers(0, train_batches - 1)))
    check_every = draw(st.sampled_from([1, 1, 2, None]))
    return Scenario(
        name="generated",
        fn=fn,  # type: ignore[arg-type]
        train_batches=train_batches,
        val_batches=draw(loaders),
        test_batches=draw(loaders),
        predict_batches=draw(loaders),
        datamodule=draw(st.booleans()),
        custom_batch=draw(st.booleans()),
        max_epochs=max_epochs,
        max_steps=draw(st.sampled_from([-1, -1, 1, 3, 5])),
        limit_train_batches=draw(st.sampled_from([None, None, 0, 1, 3, 0.5, 1.0])),
        limit_val_batches=draw(st.sampled_from([None, None, 0, 1, 0.5])),
        limit_test_batches=draw(st.sampled_from([None, 1, 0])),
        limit_predict_batches=draw(st.sampled_from([None, 1])),
        num_sanity_val_steps=draw(st.sampled_from([0, 1, 2, -1])),
        check_val_every_n_epoch=check_every,
        val_check_interval=draw(
            st.sampled_from([None, 1, 2] if check_every is None else [None, None, 1, 2, 0.5, 1.0])
        ),
        accumulate_grad_batches=1 if manual else draw(st.sampled_from([1, 1, 2, 3])),
        gradient_clip_val=None if manual else draw(st.sampled_from([None, 0.5])),
        gradient_clip_algorithm=draw(st.sampled_from(["norm", "value"])),
        precision=draw(st.sampled_from(["32-true", "32-true", "bf16-mixed"])),
        return_predictions=draw(st.sampled_from([None, False])),
        manual_optimization=manual,
        lr_scheduler=draw(st.sampled_from([None, "step", "epoch"])),
        skip_epoch_at=draw(st.one_of(st.none(), st.tuples(st.integers(0, 2), st.integers(0, 4)))),
        callbacks=draw(st.integers(0, 2)),
        model_callbacks=draw(st.integers(0, 1)),
        resume=resume,
        fault=fault,
    )


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_generated_scenarios_match_lightning(scenario: Scenario) -> None:
    assume(not declared_deviation(scenario))
    assert_same_as_lightning(scenario)
