"""The types and the runtime agree: what type-checks runs, what is flagged fails.

- Every ``tests/typing/good/*.py`` case with a ``main(root)`` is run: each is checked with
  ``mypy --strict`` and pyright strict by test_typing.py, so a good case that does not run
  would be a type that promises too much.
- Every class of ``tests/typing/bad/model_mistakes.py`` is run in the scenario its error
  describes and must fail there (or, for a hook that no longer exists, be reported and never
  called); a class without a scenario here fails the test, so a new bad case brings its own.
- Steps without ``batch_idx`` and hooks with or without ``dataloader_idx`` are run through the
  real Lightning and through the engine, and receive the same arguments.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from loophooks.engine import ConfigurationError, HookValueError, LoopModule, Trainer
from loophooks.engine._checkpoint import load_checkpoint
from loophooks.spec import HookSignatureError, HookSignatureWarning

CASES = Path(__file__).resolve().parent
RUNNABLE = [p for p in sorted(CASES.glob("good/*.py")) if "\ndef main(root: Path)" in p.read_text()]


def _load(path: Path) -> ModuleType:
    name = f"_loophooks_typing_case_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # `from __future__ import annotations` classes look their module up
    spec.loader.exec_module(module)
    return module


def _loader(n: int = 4) -> DataLoader[Any]:
    return DataLoader(TensorDataset(torch.randn(n, 2)), batch_size=2)


def _trainer(root: Path, **kwargs: Any) -> Trainer:
    options: dict[str, Any] = dict(max_epochs=1, default_root_dir=root, enable_progress_bar=False)
    options.update(kwargs)
    return Trainer(**options)


# ---------------------------------------------------------------------------------------------------
# What type-checks runs
# ---------------------------------------------------------------------------------------------------


def test_there_are_runnable_good_cases() -> None:
    assert {p.stem for p in RUNNABLE} >= {
        "optional_parameters",
        "manual_optimization",
        "trainer_arguments",
        "optimizer_configs",
        "overrides",
    }


@pytest.mark.parametrize("case", RUNNABLE, ids=lambda p: p.name)
def test_good_case_runs(case: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no optimizer", "returned None": intended in some cases
        _load(case).main(tmp_path)


def test_a_checkpoint_keeps_no_path_object(tmp_path: Path) -> None:
    """dirpath=Path(...) is stored as a str: the callback state loads under torch's safe unpickler."""
    from loophooks.engine import ModelCheckpoint

    class Model(LoopModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(2, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return self.layer(batch[0]).sum()

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    callback = ModelCheckpoint(dirpath=tmp_path / "ckpt")
    _trainer(tmp_path, callbacks=[callback]).fit(Model(), train_dataloaders=_loader())
    assert isinstance(callback.dirpath, str)
    states = load_checkpoint(callback.best_model_path, weights_only=True)["callbacks"]  # raised on a Path
    assert [s["dirpath"] for s in states.values() if "dirpath" in s] == [os.path.realpath(tmp_path / "ckpt")]


# ---------------------------------------------------------------------------------------------------
# What is flagged fails
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad() -> ModuleType:
    return _load(CASES / "bad" / "model_mistakes.py")


def _fit(model: nn.Module, root: Path) -> None:
    _trainer(root, enable_checkpointing=False).fit(model, train_dataloaders=_loader())


def _validate(model: nn.Module, root: Path, callbacks: list[Any] | None = None) -> None:
    _trainer(root, callbacks=callbacks or []).validate(model, dataloaders=_loader())


def _raises(kind: type[BaseException], match: str, run: Callable[[Path], None]) -> Callable[[ModuleType, Path], None]:
    def scenario(bad: ModuleType, root: Path) -> None:
        with pytest.raises(kind, match=match):
            run(root)

    return scenario


def _validating(bad: ModuleType) -> nn.Module:
    class Validates(bad.Base):  # type: ignore[name-defined,misc]
        def validation_step(self, batch: Any, batch_idx: int) -> None:
            return None

    return Validates()


SCENARIOS: dict[str, Callable[[ModuleType, Path], None]] = {
    # The runtime error says what to write instead.
    "SkipsWithTrue": lambda bad, root: _expect(
        HookValueError, "return None from training_step", lambda: _fit(bad.SkipsWithTrue(), root)
    ),
    "SkipsWithOne": lambda bad, root: _expect(
        HookValueError, "return None from training_step", lambda: _fit(bad.SkipsWithOne(), root)
    ),
    "SchedulerKey": lambda bad, root: _expect(
        HookValueError, "configure_optimizers", lambda: _fit(bad.SchedulerKey(), root)
    ),
    "IntervalKey": lambda bad, root: _expect(HookValueError, "configure_optimizers", lambda: _fit(bad.IntervalKey(), root)),
    "TypedDictKey": lambda bad, root: _expect(
        HookValueError, "configure_optimizers", lambda: _fit(bad.TypedDictKey(), root)
    ),
    "OldManualBackward": lambda bad, root: _expect(TypeError, "Lightning 1.x", lambda: _fit(bad.OldManualBackward(), root)),
    # One loader: dataloader_idx is not passed. The model's hooks are refused before the first batch (as in
    # Lightning); a callback's fails at the call (as in Lightning).
    "RequiresLoaderIndex": lambda bad, root: _expect(
        ConfigurationError, "requires dataloader_idx", lambda: _validate(bad.RequiresLoaderIndex(), root)
    ),
    "CallbackRequiresLoaderIndex": lambda bad, root: _expect(
        TypeError,
        "dataloader_idx",
        lambda: _validate(_validating(bad), root, [bad.CallbackRequiresLoaderIndex()]),
    ),
    "RemovedHook": lambda bad, root: _removed_hook(bad, root),
    "StepWithExtraParameter": lambda bad, root: _expect(
        HookSignatureError, "hiddens", lambda: _fit(bad.StepWithExtraParameter(), root)
    ),
    # A style rule (explicit overrides demanded), not a runtime mistake: it runs.
    "ForgetsOverride": lambda bad, root: _fit(bad.ForgetsOverride(), root),
    "Base": lambda bad, root: _fit(bad.Base(), root),
}


def _expect(kind: type[BaseException], match: str, run: Callable[[], None]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HookSignatureWarning)
        with pytest.raises(kind, match=match):
            run()


def _removed_hook(bad: ModuleType, root: Path) -> None:
    calls: list[str] = []
    model = bad.RemovedHook()
    model.on_epoch_end = lambda: calls.append("on_epoch_end")  # would show it running
    with pytest.warns(HookSignatureWarning, match="on_epoch_end is not a model hook and will never be called"):
        _fit(model, root)
    assert calls == []


def _bad_classes(bad: ModuleType) -> Iterator[str]:
    for name, value in vars(bad).items():
        if inspect.isclass(value) and value.__module__ == bad.__name__:
            yield name


def test_every_bad_class_has_a_runtime_scenario(bad: ModuleType) -> None:
    assert sorted(_bad_classes(bad)) == sorted(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_flagged_case_fails_at_runtime(name: str, bad: ModuleType, tmp_path: Path) -> None:
    SCENARIOS[name](bad, tmp_path)
