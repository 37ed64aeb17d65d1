"""Property: any set of Trainer options either runs or is refused with a documented error, before any work.

Hypothesis draws option sets mixing valid values with invalid ones (NaN,
infinities, negatives, zero, wrong types, classes instead of instances). For
each, building the ``Trainer`` and fitting a tiny model must either finish, or
raise one of the engine's documented errors (``ConfigurationError``,
``HookValueError``, ``CheckpointError``; docs/ERRORS.md) before the first
training batch: never a raw ``TypeError``/``ValueError``/``ZeroDivisionError``
from deep inside.

The default run draws ``LOOPHOOKS_OPTION_EXAMPLES`` (default 60) option sets with
a fixed seed, to keep CI time small; ``scripts/long-properties`` raises the count
and randomises the seed.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from loophooks.engine import Callback, CheckpointError, ConfigurationError, HookValueError, LoopModule, Trainer

EXAMPLES = int(os.environ.get("LOOPHOOKS_OPTION_EXAMPLES", "60"))
RANDOM = os.environ.get("LOOPHOOKS_PROPERTY_RANDOM") == "1"
DOCUMENTED = (ConfigurationError, HookValueError, CheckpointError)

_NAN, _INF = math.nan, math.inf
_ODD = [None, _NAN, _INF, -_INF, -1, -2, 0, 1.5, -0.5, "3", "", [], {}, True, object(), Callback]

# Per option: values Lightning accepts, then the odd ones every option also gets.
_VALUES: dict[str, list[Any]] = {
    "max_epochs": [None, -1, 0, 1, 2],
    "max_steps": [-1, 0, 1, 3],
    "limit_train_batches": [None, 1, 2, 0, 0.5, 1.0, 0.0],
    "limit_val_batches": [None, 0, 1, 0.5, 1.0],
    "limit_test_batches": [None, 1, 0.5],
    "limit_predict_batches": [None, 1, 0.5],
    "num_sanity_val_steps": [None, -1, 0, 1],
    "check_val_every_n_epoch": [None, 1, 2],
    "val_check_interval": [None, 1, 2, 0.5, 1.0],
    "accumulate_grad_batches": [1, 2, 3],
    "gradient_clip_val": [None, 0, 0.5, 1],
    "gradient_clip_algorithm": [None, "norm", "value"],
    "precision": ["32-true", 32, "32", "bf16-mixed"],
    "accelerator": ["cpu", "auto"],
    "devices": ["auto", 1, "1"],
    "num_nodes": [1, 2],
    "strategy": ["auto", "single_device"],
    "deterministic": [None, False, "warn"],
    "enable_progress_bar": [False, True],
    "enable_checkpointing": [False, True],
    "enable_model_summary": [False, True],
    "terminate_on_nan": [False, True],
    "check_hooks": [None, False, True],
    "use_distributed_sampler": [True, False],
    "callbacks": [None, []],
    "log_every_n_steps": [None, 1, 50],
    "max_time": [None, "00:00:01:00", {"minutes": 1}],
    "fast_dev_run": [False, True, 1, 2],
    "min_epochs": [None, 0, 1],
    "min_steps": [None, 0, 2],
    "overfit_batches": [0, 0.0, 1, 0.5],
    "benchmark": [None, False, True],
    "inference_mode": [True, False],
    "detect_anomaly": [False, True],
    "reload_dataloaders_every_n_epochs": [0, 1],
}


# Values of the right type that the engine refuses (unknown names, several devices without ddp, ...).
_SPECIFIC_BAD: list[tuple[str, Any]] = [
    ("gradient_clip_algorithm", "l3"),
    ("precision", "8-true"),
    ("precision", "64-true"),
    ("accelerator", "tpu"),
    ("devices", 2),
    ("devices", [0]),
    ("devices", "0,1"),
    ("strategy", "fsdp"),
]

_valid = st.fixed_dictionaries({}, optional={name: st.sampled_from(values) for name, values in _VALUES.items()})
_odd = st.lists(
    st.one_of(st.tuples(st.sampled_from(sorted(_VALUES)), st.sampled_from(_ODD)), st.sampled_from(_SPECIFIC_BAD)),
    max_size=2,
)


@st.composite
def options_strategy(draw: st.DrawFn) -> dict[str, Any]:
    """Valid options, with zero to two of them replaced by an odd value (so that most sets reach fit)."""
    options = draw(_valid)
    options.update(draw(_odd))
    return options


class Model(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        return self.layer(batch).sum()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("v", self.layer(batch).sum())

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self) -> Any:
        return DataLoader(torch.randn(4, 2), batch_size=2)

    def val_dataloader(self) -> Any:
        return DataLoader(torch.randn(2, 2), batch_size=2)


class Watch(Callback):
    """Notes whether training work started, and keeps runs short (a default max_epochs is 1000)."""

    def __init__(self) -> None:
        self.batches = 0

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self.batches += 1

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.batches >= 3:
            trainer.should_stop = True


@pytest.fixture(autouse=True)
def _restore_determinism() -> Iterator[None]:
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def _check(options: dict[str, Any], root: Path) -> None:
    options = dict(options)
    watch = Watch()
    user_callbacks = options.pop("callbacks", None)
    if isinstance(user_callbacks, list):
        callbacks: Any = [*user_callbacks, watch]
    elif user_callbacks is None:
        callbacks = [watch]
    else:
        callbacks = user_callbacks  # an odd value: the Trainer must refuse it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            base = {"enable_checkpointing": False, "enable_progress_bar": False, "max_epochs": 2}
            trainer = Trainer(default_root_dir=str(root), callbacks=callbacks, **{**base, **options})
        except DOCUMENTED:
            return
        except Exception as exc:  # pragma: no cover - the failure this property looks for
            raise AssertionError(f"Trainer({options!r}) raised an undocumented {type(exc).__name__}: {exc}") from exc
        try:
            trainer.fit(Model())
        except DOCUMENTED:
            assert watch.batches == 0, f"{options!r}: refused after {watch.batches} training batches"
        except Exception as exc:  # pragma: no cover
            raise AssertionError(f"fit with {options!r} raised an undocumented {type(exc).__name__}: {exc}") from exc


_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not RANDOM,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@_settings
@given(options=options_strategy())
def test_any_option_set_runs_or_is_refused_before_work(options: dict[str, Any], tmp_path: Path) -> None:
    _check(options, tmp_path)


def test_every_option_with_every_odd_value(tmp_path: Path) -> None:
    """The exhaustive sweep the random property samples from: one odd value at a time, every option."""
    failures = []
    singles = [(name, odd) for name in sorted(_VALUES) for odd in _ODD] + _SPECIFIC_BAD
    for name, odd in singles:
        try:
            _check({name: odd}, tmp_path)
        except AssertionError as exc:
            failures.append(str(exc))
    assert failures == []


@pytest.mark.parametrize(
    "options",
    [
        {"limit_train_batches": _NAN},
        {"limit_val_batches": _INF},
        {"val_check_interval": _NAN},
        {"gradient_clip_val": _INF},
        {"gradient_clip_val": _NAN},
        {"max_epochs": 2.0},
        {"num_nodes": 0},
        {"devices": -3},
        {"devices": [0, 0]},
        {"accumulate_grad_batches": 2.0},
        {"deterministic": "yes"},
        {"enable_checkpointing": "no"},
        {"default_root_dir": 5},
        {"precision": 16.0},
    ],
    ids=lambda o: "-".join(f"{k}={v!r}" for k, v in o.items()),
)
def test_each_bad_number_or_type_is_refused_when_the_trainer_is_built(options: dict[str, Any]) -> None:
    name = next(iter(options))
    with pytest.raises(ConfigurationError, match=rf"Trainer\({name}=\.\.\.\) must be"):
        Trainer(**options)


def test_a_callback_class_instead_of_an_instance_is_named() -> None:
    class Saver(Callback):
        pass

    with pytest.raises(ConfigurationError, match=r"the class Saver, not an instance: pass Saver\(\)"):
        Trainer(callbacks=[Saver])


def test_a_device_list_on_the_cpu_is_refused_for_what_it_is() -> None:
    with pytest.raises(ConfigurationError, match="not a list of device indices"):
        Trainer(accelerator="cpu", devices=[0])


@pytest.mark.parametrize("devices", [2, "2"])
def test_several_devices_point_at_ddp(devices: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        Trainer(accelerator="cpu", devices=devices)
    assert "strategy='ddp'" in str(info.value) and "one device" not in str(info.value).split("without")[0]



@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_several_gpus_without_ddp_are_refused_not_cut_to_the_first() -> None:
    with pytest.raises(ConfigurationError, match="strategy='ddp'"):
        Trainer(accelerator="cuda", devices=[0, 1])
    Trainer(accelerator="cuda", devices=[0])  # one named GPU is one device


class _Tiny(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        return self.layer(batch).sum()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        pass

    def predict_step(self, batch: Any, batch_idx: int) -> Any:
        return self.layer(batch)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> Any:
        return DataLoader(torch.randn(4, 2), batch_size=2)


ENTRY_CASES = [
    ("fit", {"ckpt_path": 5}, r"fit\(ckpt_path=\.\.\.\) must be None, a str or an os.PathLike"),
    ("fit", {"weights_only": "no"}, r"fit\(weights_only=\.\.\.\) must be True or False"),
    ("fit", {"datamodule": 5}, r"fit\(datamodule=\.\.\.\) must be a datamodule"),
    ("fit", {"train_dataloaders": 5}, r"fit\(train_dataloaders=\.\.\.\) must be a DataLoader"),
    ("fit", {"model": _Tiny}, r"received the class _Tiny, not an instance"),
    ("validate", {"verbose": 5}, r"validate\(verbose=\.\.\.\) must be True or False"),
    ("validate", {"dataloaders": 3.5}, r"validate\(dataloaders=\.\.\.\) must be a DataLoader"),
    ("predict", {"return_predictions": "x"}, r"predict\(return_predictions=\.\.\.\) must be True or False"),
]


@pytest.mark.parametrize(("fn", "arguments", "pattern"), ENTRY_CASES, ids=[f"{c[0]}-{next(iter(c[1]))}" for c in ENTRY_CASES])
def test_entry_point_arguments_are_checked_before_any_work(
    tmp_path: Path, fn: str, arguments: dict[str, Any], pattern: str
) -> None:
    watch = Watch()
    trainer = Trainer(enable_progress_bar=False, enable_checkpointing=False, default_root_dir=str(tmp_path), callbacks=[watch])
    arguments = {"model": _Tiny(), **arguments}
    with pytest.raises(ConfigurationError, match=pattern):
        getattr(trainer, fn)(**arguments)
    assert watch.batches == 0


def test_save_checkpoint_needs_a_path(tmp_path: Path) -> None:
    trainer = Trainer(max_epochs=1, enable_progress_bar=False, enable_checkpointing=False, default_root_dir=str(tmp_path))
    trainer.fit(_Tiny())
    with pytest.raises(ConfigurationError, match=r"save_checkpoint\(filepath=\.\.\.\) must be a str or an os.PathLike"):
        trainer.save_checkpoint(5)  # type: ignore[arg-type]
