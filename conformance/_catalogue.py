"""The scenario catalogue: every run the suite makes, generated from a small table.

Nobody writes an expected hook sequence here. Each row of :data:`FEATURES` is a
named change to the default :class:`~loophooks.spec.Scenario`; :data:`COMBINED`
names features whose changes are merged into one run; every result is crossed
with every device of :data:`DEVICES`. The expected sequence of each case comes
from ``loophooks.spec.expected_calls`` and the capabilities a case needs are read
off its settings by :func:`needs`, so a new row is a new tested run and nothing
else has to be written.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from typing_extensions import final

from loophooks.spec import Fault, Resume, Scenario

__all__ = [
    "COMBINED",
    "CORE_CAPABILITIES",
    "DEVICES",
    "FEATURES",
    "Case",
    "Feature",
    "catalogue",
    "needs",
    "select",
]


@final
@dataclass(frozen=True)
class Feature:
    """One row of the table: a name, what it exercises, and its changes to the default scenario."""

    name: str
    summary: str
    changes: Mapping[str, Any]


def _f(name: str, summary: str, **changes: Any) -> Feature:
    return Feature(name, summary, MappingProxyType(changes))


# Small sizes keep the whole catalogue fast; each size is the smallest that still
# shows the behaviour (e.g. 5 batches with accumulation 2 leave a partial window).
FEATURES: Final[tuple[Feature, ...]] = (
    _f("fit", "two epochs with a sanity check", max_epochs=2, train_batches=2),
    _f("fit-no-sanity", "fit with num_sanity_val_steps=0", num_sanity_val_steps=0),
    _f("fit-no-val", "fit with validation switched off (limit_val_batches=0)", limit_val_batches=0),
    _f("fit-no-val-loader", "fit without a validation loader", val_batches=()),
    _f("limit-train", "limit_train_batches cuts the epoch short", train_batches=4, limit_train_batches=2),
    _f("accumulate", "gradient accumulation with a partial last window", accumulate_grad_batches=2, train_batches=5),
    _f("skip-epoch", "on_train_batch_start returns -1", max_epochs=2, train_batches=3, skip_epoch_at=(0, 1)),
    _f("two-val-loaders", "two validation loaders of different lengths", val_batches=(2, 3)),
    _f("val-every-2-epochs", "check_val_every_n_epoch=2", max_epochs=2, train_batches=2, check_val_every_n_epoch=2),
    _f("val-check-interval", "validation every 2 training batches", train_batches=4, val_check_interval=2),
    _f("val-check-fraction", "validation at half an epoch", train_batches=4, val_check_interval=0.5),
    _f("max-steps", "max_steps ends training in the middle of an epoch", max_epochs=2, train_batches=4, max_steps=3),
    _f("lr-step", "a learning-rate scheduler stepped every optimizer step", lr_scheduler="step"),
    _f(
        "lr-epoch", "a learning-rate scheduler stepped every epoch", max_epochs=2, train_batches=2, lr_scheduler="epoch"
    ),
    _f("clip-norm", "gradient clipping by norm", gradient_clip_val=1.0, gradient_clip_algorithm="norm"),
    _f("clip-value", "gradient clipping by value", gradient_clip_val=0.5, gradient_clip_algorithm="value"),
    _f("manual", "manual optimization", manual_optimization=True),
    _f("datamodule", "data from a datamodule", datamodule=True),
    _f("callbacks", "three callbacks, called in order", callbacks=3),
    _f("configure-callbacks", "callbacks returned by configure_callbacks", model_callbacks=2),
    _f("resume", "save at the end of epoch 0, resume and fit epoch 1", max_epochs=2, train_batches=2, resume=Resume(0)),
    _f("resume-mid-epoch", "save after batch 1, resume in the same epoch", train_batches=4, resume=Resume(0, 1)),
    _f(
        "resume-last-batch",
        "save after the epoch's last batch, resume",
        max_epochs=2,
        train_batches=2,
        resume=Resume(0, 1),
    ),
    _f(
        "resume-max-steps",
        "save at the end of epoch 0, resume a fit bounded by max_steps",
        max_epochs=-1,
        max_steps=4,
        train_batches=2,
        resume=Resume(0),
    ),
    _f("fault", "training_step raises", train_batches=3, fault=Fault("training_step", 0, 1)),
    _f("validate", "Trainer.validate", fn="validate"),
    _f("validate-two-loaders", "Trainer.validate with two loaders", fn="validate", val_batches=(2, 1)),
    _f("test", "Trainer.test", fn="test"),
    _f("test-two-loaders", "Trainer.test with two loaders", fn="test", test_batches=(2, 3)),
    _f("predict", "Trainer.predict returning predictions", fn="predict", return_predictions=True),
    _f("predict-no-return", "Trainer.predict with return_predictions=False", fn="predict", return_predictions=False),
    _f("predict-two-loaders", "Trainer.predict with two loaders", fn="predict", predict_batches=(2, 1)),
    _f("zero-train", "an empty training loader", train_batches=0),
    _f(
        "combined-train",
        "two training loaders given as a list, read together (max_size_cycle): the hooks see the combined batch",
        max_epochs=2,
        train_batches=3,
        combined_train=(3, 2),
    ),
    _f("zero-val", "an empty validation loader", val_batches=(0,)),
    _f("zero-test", "an empty test loader", fn="test", test_batches=(0,)),
    _f("custom-batch", "a batch type only transfer_batch_to_device knows how to move", custom_batch=True),
    _f("bf16", "bf16 mixed precision", precision="bf16-mixed"),
    _f(
        "restore-modes",
        "no on_validation_model_train override: the trainer restores each submodule's mode, a frozen one stays frozen",
        max_epochs=2,
        train_batches=2,
        mode_hooks=False,
        frozen_submodule=True,
    ),
    _f(
        "restore-modes-test",
        "Trainer.test without on_test_model_train override, a frozen submodule",
        fn="test",
        mode_hooks=False,
        frozen_submodule=True,
    ),
)
"""The features, one run each; the defaults of :class:`~loophooks.spec.Scenario` fill in the rest."""

COMBINED: Final[tuple[tuple[str, ...], ...]] = (
    ("accumulate", "clip-norm", "lr-step"),
    ("accumulate", "val-check-interval"),
    ("accumulate", "max-steps"),
    ("accumulate", "skip-epoch"),
    ("accumulate", "resume-mid-epoch"),
    ("accumulate", "bf16"),
    ("manual", "lr-step"),
    ("manual", "resume-mid-epoch"),
    ("skip-epoch", "lr-epoch"),
    ("two-val-loaders", "val-check-interval"),
    ("val-every-2-epochs", "val-check-interval"),
    ("datamodule", "two-val-loaders"),
    ("datamodule", "custom-batch"),
    ("callbacks", "configure-callbacks"),
    ("callbacks", "resume-mid-epoch"),
    ("callbacks", "fault"),
    ("custom-batch", "test-two-loaders"),
    ("custom-batch", "predict-two-loaders"),
)
"""Features that interact; each tuple is merged into one run.

Sizes (:data:`_SIZES`) are taken from the later feature; any other setting two
features both change must agree, so a combination never silently drops one."""

_SIZES: Final = frozenset({"train_batches", "max_epochs"})

DEVICES: Final[tuple[str, ...]] = ("cpu", "cuda")

CORE_CAPABILITIES: Final[frozenset[str]] = frozenset({"fit", "validate", "test", "predict", "sanity_check"})
"""A case needing nothing beyond these is *required*: a trainer that cannot run it fails."""


@final
@dataclass(frozen=True)
class Case:
    """One entry of the catalogue: a scenario, its id and what it needs."""

    id: str
    """``<features>-<device>``, e.g. ``accumulate+clip-norm-cpu``; used by ``-k`` and deviations files."""
    scenario: Scenario
    summary: str
    needs: frozenset[str]

    @property
    def required(self) -> bool:
        """Whether every trainer must run this case (it needs only core capabilities)."""
        return self.needs <= CORE_CAPABILITIES


def needs(scenario: Scenario) -> frozenset[str]:
    """The capabilities (names from ``CAPABILITIES``) a trainer needs to run ``scenario``."""
    out: set[str] = {scenario.fn}
    fit = scenario.fn == "fit"
    validates = fit and bool(scenario.val_batches) and scenario.limit_val_batches != 0
    if validates and scenario.num_sanity_val_steps != 0:
        out.add("sanity_check")
    if fit and len(scenario.combined_train) > 1:
        out.add("multiple_train_loaders")  # a list of training loaders, read together
    if (fit or scenario.fn == "validate") and len(scenario.val_batches) > 1:
        out.add("multiple_val_loaders")
    if scenario.fn == "test" and len(scenario.test_batches) > 1:
        out.add("multiple_eval_loaders")
    if scenario.fn == "predict" and len(scenario.predict_batches) > 1:
        out.add("multiple_eval_loaders")
    if scenario.datamodule:
        out.add("datamodule")
    if scenario.model_callbacks:
        out.add("configure_callbacks")
    if fit and scenario.accumulate_grad_batches > 1:
        out.add("accumulation")
    if fit and scenario.gradient_clip_val is not None:
        out.add("gradient_clipping")
    if fit and scenario.lr_scheduler is not None:
        out.add("lr_schedulers")
    if scenario.manual_optimization:
        out.add("manual_optimization")
    if scenario.resume is not None:
        out.add("checkpoint_resume")
        if scenario.resume.batch is not None:
            out.add("mid_epoch_resume")
    if fit and scenario.val_check_interval is not None:
        out.add("val_check_interval")
    if fit and scenario.max_steps != -1:
        out.add("max_steps")
    if scenario.skip_epoch_at is not None:
        out.add("skip_epoch")
    if _has_empty_loader(scenario):
        out.add("zero_length_loaders")
    if scenario.custom_batch:
        out.add("custom_batch_transfer")
    if scenario.fault is not None:
        out.add("exceptions")
    if scenario.precision != "32-true":
        out.add(scenario.precision)
    if scenario.device == "cuda":
        out.add("cuda")
    return frozenset(out)


def _has_empty_loader(scenario: Scenario) -> bool:
    if scenario.fn == "fit":
        return scenario.train_batches == 0 or 0 in scenario.val_batches
    if scenario.fn == "validate":
        return 0 in scenario.val_batches
    if scenario.fn == "test":
        return 0 in scenario.test_batches
    return 0 in scenario.predict_batches


def _merge(features: Iterable[Feature]) -> tuple[str, str, dict[str, Any]]:
    names: list[str] = []
    summaries: list[str] = []
    changes: dict[str, Any] = {}
    for feature in features:
        for key, value in feature.changes.items():
            if key in changes and key not in _SIZES and changes[key] != value:
                raise ValueError(
                    f"catalogue: {'+'.join(names)} sets {key}={changes[key]!r} and {feature.name} sets {value!r}"
                )
        names.append(feature.name)
        summaries.append(feature.summary)
        changes.update(feature.changes)
    return "+".join(names), "; ".join(summaries), changes


def catalogue(devices: Iterable[str] = DEVICES) -> list[Case]:
    """Every case of the catalogue for ``devices``, features first, then combinations."""
    by_name = {feature.name: feature for feature in FEATURES}
    rows = [_merge([feature]) for feature in FEATURES]
    rows += [_merge(by_name[name] for name in combo) for combo in COMBINED]
    cases = []
    for device in devices:
        if device not in DEVICES:
            raise ValueError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")
        for name, summary, changes in rows:
            features = set(name.split("+"))
            scenario = Scenario(name=f"{name}-{device}", device=device, tags=frozenset(features)).with_(**changes)  # type: ignore[arg-type]
            cases.append(Case(scenario.name, scenario, summary, needs(scenario)))
    return cases


def select(cases: Iterable[Case], pattern: str | None) -> list[Case]:
    """The cases whose id contains ``pattern``, or matches it as a glob (``*``, ``?``, ``[``)."""
    if not pattern:
        return list(cases)
    if any(ch in pattern for ch in "*?["):
        return [c for c in cases if fnmatch.fnmatchcase(c.id, pattern)]
    return [c for c in cases if pattern in c.id]
