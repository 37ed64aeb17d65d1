"""No silent no-ops: where Lightning raises, the engine raises too (issue 13, section 2).

* an ``optimizer_step`` override that never calls the closure trains nothing:
  Lightning raises, and so does the engine, before ``global_step`` moves;
* ``validate``/``test``/``predict`` with no loader anywhere: Lightning raises
  "`val_dataloader` must be implemented ..."; the engine raises the same words,
  before any hook that does work; with the stage's limit at 0 neither raises;
* ``loophooks.spec.set_checks(True)`` after a Trainer was built applies to its
  next run.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

from loophooks.engine import ConfigurationError, LoopModule, Trainer

_STAGES = (
    ("validate", "val_dataloader", "validation_step", "limit_val_batches"),
    ("test", "test_dataloader", "test_step", "limit_test_batches"),
    ("predict", "predict_dataloader", "predict_step", "limit_predict_batches"),
)


def _model_class(base: type, *, skip_closure: bool = False, loaders: bool = True) -> type:
    """The same small model over LoopModule or LightningModule."""

    def __init__(self: Any) -> None:
        base.__init__(self)
        self.layer = torch.nn.Linear(2, 1)
        self.steps_run = 0

    def training_step(self: Any, batch: Any, batch_idx: int) -> Any:
        self.steps_run += 1
        return self.layer(batch).sum()

    def validation_step(self: Any, batch: Any, batch_idx: int) -> None:
        self.layer(batch)

    def test_step(self: Any, batch: Any, batch_idx: int) -> None:
        self.layer(batch)

    def predict_step(self: Any, batch: Any, batch_idx: int) -> Any:
        return self.layer(batch)

    def configure_optimizers(self: Any) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self: Any) -> Any:
        return DataLoader(torch.randn(6, 2), batch_size=2)

    body: dict[str, Any] = {
        "__init__": __init__,
        "training_step": training_step,
        "validation_step": validation_step,
        "test_step": test_step,
        "predict_step": predict_step,
        "configure_optimizers": configure_optimizers,
        "train_dataloader": train_dataloader,
    }
    if not loaders:
        del body["train_dataloader"]
    if skip_closure:

        def optimizer_step(self: Any, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None) -> None:
            pass  # forgets optimizer.step(closure=optimizer_closure)

        body["optimizer_step"] = optimizer_step
    return type("Model", (base,), body)


def _engine(root: Path, **options: Any) -> Trainer:
    return Trainer(
        max_epochs=1, enable_progress_bar=False, enable_checkpointing=False, default_root_dir=str(root), **options
    )


def _lightning(root: Path, **options: Any) -> Any:
    pl = pytest.importorskip("pytorch_lightning")
    return pl.Trainer(
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        default_root_dir=str(root),
        **options,
    )


@pytest.fixture(scope="module")
def lightning_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BaseException | None]:
    """What Lightning does in each case, run once for the module."""
    pl = pytest.importorskip("pytorch_lightning")
    root = tmp_path_factory.mktemp("pl")
    outcomes: dict[str, BaseException | None] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _lightning(root).fit(_model_class(pl.LightningModule, skip_closure=True)())
            outcomes["closure"] = None
        except Exception as exc:
            outcomes["closure"] = exc
        for fn, _, _, limit in _STAGES:
            try:
                getattr(_lightning(root), fn)(_model_class(pl.LightningModule)())
                outcomes[fn] = None
            except Exception as exc:
                outcomes[fn] = exc
            getattr(_lightning(root, **{limit: 0}), fn)(_model_class(pl.LightningModule)())  # no error
    return outcomes


# --- optimizer_step without the closure ----------------------------------------------------------------


@pytest.mark.lightning
def test_optimizer_step_that_skips_the_closure_raises_as_in_lightning(
    tmp_path: Path, lightning_outcomes: dict[str, BaseException | None]
) -> None:
    assert "closure hasn't been executed" in str(lightning_outcomes["closure"])
    model = _model_class(LoopModule, skip_closure=True)()
    trainer = _engine(tmp_path)
    with pytest.raises(ConfigurationError) as info:
        trainer.fit(model)
    message = str(info.value)
    assert "optimizer_step" in message and "optimizer_closure" in message and "trained nothing" in message
    assert model.steps_run == 0 and trainer.global_step == 0  # stopped at the first step, before counting it
    assert any("optimizer_step" in n for n in info.value.__notes__)


def test_optimizer_step_that_calls_the_closure_through_the_optimizer_runs(tmp_path: Path) -> None:
    class Stepping(_model_class(LoopModule)):  # type: ignore[misc]
        def optimizer_step(self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None) -> None:
            optimizer.step(closure=optimizer_closure)

    model = Stepping()
    trainer = _engine(tmp_path)
    trainer.fit(model)
    assert trainer.global_step == 3 and model.steps_run == 3


def test_accumulating_batches_run_the_closure_without_optimizer_step(tmp_path: Path) -> None:
    """Batches inside an accumulation window never reach optimizer_step: nothing to check there."""
    model = _model_class(LoopModule)()
    trainer = _engine(tmp_path, accumulate_grad_batches=2)
    trainer.fit(model)
    assert (trainer.global_step, model.steps_run) == (2, 3)


# --- evaluation without a loader -----------------------------------------------------------------------


@pytest.mark.lightning
@pytest.mark.parametrize(("fn", "source", "step", "limit"), _STAGES, ids=[s[0] for s in _STAGES])
def test_evaluation_without_a_loader_raises_as_in_lightning(
    tmp_path: Path, lightning_outcomes: dict[str, BaseException | None], fn: str, source: str, step: str, limit: str
) -> None:
    expected = f"`{source}` must be implemented to be used with the"
    assert expected in str(lightning_outcomes[fn])
    calls: list[str] = []

    class Model(_model_class(LoopModule)):  # type: ignore[misc]
        def setup(self, stage: str) -> None:
            calls.append("setup")

    with pytest.raises(ConfigurationError) as info:
        getattr(_engine(tmp_path), fn)(Model())
    assert expected in str(info.value) and fn in str(info.value)
    assert calls == []  # refused before any setup work


@pytest.mark.parametrize(("fn", "source", "step", "limit"), _STAGES, ids=[s[0] for s in _STAGES])
def test_evaluation_without_a_loader_but_limit_zero_runs_as_in_lightning(
    tmp_path: Path, fn: str, source: str, step: str, limit: str
) -> None:
    result = getattr(_engine(tmp_path, **{limit: 0}), fn)(_model_class(LoopModule)())
    assert result in ([], None)


@pytest.mark.parametrize(("fn", "source", "step", "limit"), _STAGES, ids=[s[0] for s in _STAGES])
def test_evaluation_with_a_datamodule_loader_runs(tmp_path: Path, fn: str, source: str, step: str, limit: str) -> None:
    from loophooks.engine import LoopDataModule

    data = type("Data", (LoopDataModule,), {source: lambda self: DataLoader(torch.randn(4, 2), batch_size=2)})()
    result = getattr(_engine(tmp_path), fn)(_model_class(LoopModule)(), datamodule=data)
    assert len(result) == (2 if fn == "predict" else 1)  # predict: one output per batch; else one dict per loader


# --- set_checks after the Trainer exists ---------------------------------------------------------------


def test_set_checks_after_the_trainer_exists_applies_to_its_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loophooks.spec import HookContractError, set_checks

    monkeypatch.delenv("LOOPHOOKS_CHECKS", raising=False)

    class BadStart(_model_class(LoopModule)):  # type: ignore[misc]
        def on_train_start(self) -> Any:
            return 3  # the spec says None; only the spec's runtime checks notice

    trainer = _engine(tmp_path)
    set_checks(True)
    try:
        assert trainer.check_hooks is True
        with pytest.raises(HookContractError, match="on_train_start"):
            trainer.fit(BadStart())
    finally:
        set_checks(False)
    assert trainer.check_hooks is False
    _engine(tmp_path).fit(BadStart())  # checks off again: the same model runs


def test_an_explicit_check_hooks_wins_over_set_checks(tmp_path: Path) -> None:
    from loophooks.spec import set_checks

    trainer = _engine(tmp_path, check_hooks=False)
    set_checks(True)
    try:
        assert trainer.check_hooks is False
    finally:
        set_checks(False)
