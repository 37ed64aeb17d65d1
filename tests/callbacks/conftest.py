"""One tiny job, run through the real Lightning 2.6 and through the engine with the same callbacks.

The metrics the callbacks watch are scripted (a value per epoch, a value per
step), not learned, so what the callbacks decide depends on their logic alone and
the two runs can be compared exactly: files written, best and k-th paths and
scores, the epoch a run stopped at. The weights still train, so the checkpoints
hold a real run.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

# val_loss per epoch: better, worse, best, ties, NaN-free; long enough for every case here
VAL_LOSS = [0.9, 0.7, 0.8, 0.5, 0.6, 0.55, 0.65, 0.3, 0.4, 0.45]
N_BATCHES = 4


def step_metric(step: int) -> float:
    """A per-step training metric that goes up and down: (7 * step) mod 5, scaled."""
    return ((7 * step) % 5) / 10 + 0.05


def module_class(
    base: type,
    *,
    val_loss: list[float] | None = None,
    extra: Callable[..., Any] | None = None,
    optimizers: Callable[[Any], Any] | None = None,
) -> type:
    """The job's module on ``base`` (``pl.LightningModule`` or ``LoopModule``)."""
    schedule = list(VAL_LOSS if val_loss is None else val_loss)

    class Job(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_metric", step_metric(self.trainer.global_step))
            self.log("train_epoch_metric", schedule[self.trainer.current_epoch % len(schedule)], on_step=False,
                     on_epoch=True)
            if extra is not None:
                extra(self, batch_idx)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            value = schedule[self.trainer.current_epoch % len(schedule)]
            self.log("val_loss", value)
            self.log("val/acc", 1.0 - value)

        def configure_optimizers(self) -> Any:
            if optimizers is not None:
                return optimizers(self)
            return torch.optim.SGD(self.parameters(), lr=0.01)

        def train_dataloader(self) -> Any:
            g = torch.Generator().manual_seed(0)
            x = torch.randn(4 * N_BATCHES, 4, generator=g)
            return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)

        def val_dataloader(self) -> Any:
            x = torch.ones(4, 4)
            return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)

    return Job


class Run:
    """What one run left: the trainer, its callbacks, the files in its checkpoint folder."""

    def __init__(self, trainer: Any, callbacks: list[Any], folder: Path, error: BaseException | None) -> None:
        self.trainer = trainer
        self.callbacks = callbacks
        self.folder = folder
        self.error = error

    def files(self) -> list[str]:
        if not self.folder.exists():
            return []
        return sorted(p.name for p in self.folder.iterdir())

    def rel(self, path: str) -> str:
        """A path the callback reported, relative to the checkpoint folder (the two runs use two folders)."""
        return os.path.relpath(path, self.folder) if path else ""


def run_job(
    framework: str,
    root: Path,
    make_callbacks: Callable[[Any, Path], list[Any]],
    *,
    val_loss: list[float] | None = None,
    extra: Callable[..., Any] | None = None,
    fit_kwargs: dict[str, Any] | None = None,
    post_init: Callable[[Any], None] | None = None,
    optimizers: Callable[[Any], Any] | None = None,
    **trainer_options: Any,
) -> Run:
    """Fit the job with ``framework`` ("lightning" or "engine"); ``make_callbacks(callbacks_module, folder)``."""
    folder = root / framework / "ckpt"
    if framework == "lightning":
        import pytorch_lightning as pl
        import pytorch_lightning.callbacks as callbacks_module

        base: type = pl.LightningModule
        options: dict[str, Any] = {"logger": False, "enable_model_summary": False, "accelerator": "cpu",
                                   "devices": 1}
        trainer_cls: Any = pl.Trainer
    else:
        import loophooks.callbacks as callbacks_module  # type: ignore[no-redef]
        from loophooks.engine import LoopModule, Trainer

        base = LoopModule
        options = {"logger": False, "enable_model_summary": False}  # as the Lightning side's
        trainer_cls = Trainer
    callbacks = make_callbacks(callbacks_module, folder)
    settings: dict[str, Any] = {
        "max_epochs": 4,
        "enable_progress_bar": False,
        "default_root_dir": str(root / framework),
        "num_sanity_val_steps": 0,
    }
    settings.update(options)
    settings.update(trainer_options)
    if not any(type(c).__name__ in ("ModelCheckpoint", "OnExceptionCheckpoint") for c in callbacks):
        settings.setdefault("enable_checkpointing", False)
    trainer = trainer_cls(callbacks=callbacks, **settings)
    if post_init is not None:
        post_init(trainer)
    torch.manual_seed(0)
    model = module_class(base, val_loss=val_loss, extra=extra, optimizers=optimizers)()
    error: BaseException | None = None
    try:
        trainer.fit(model, **(fit_kwargs or {}))
    except Exception as exc:  # the caller compares the two runs' errors
        error = exc
    return Run(trainer, callbacks, folder, error)


@pytest.fixture
def both(tmp_path: Path) -> Callable[..., tuple[Run, Run]]:
    """``both(make_callbacks, **options)``: (lightning run, engine run) of the same job."""
    pytest.importorskip("pytorch_lightning")

    def go(make_callbacks: Callable[[Any, Path], list[Any]], **options: Any) -> tuple[Run, Run]:
        return run_job("lightning", tmp_path, make_callbacks, **options), run_job(
            "engine", tmp_path, make_callbacks, **options
        )

    return go


@pytest.fixture
def one(tmp_path: Path) -> Callable[..., Run]:
    """``one(framework, make_callbacks, **options)``: a single run of the job."""

    def go(framework: str, make_callbacks: Callable[[Any, Path], list[Any]], **options: Any) -> Run:
        if framework == "lightning":
            pytest.importorskip("pytorch_lightning")
        return run_job(framework, tmp_path, make_callbacks, **options)

    return go


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.getMessage()))


@contextlib.contextmanager
def collect_logs(*names: str) -> Iterator[list[tuple[str, str]]]:
    """(logger name, message) of the INFO records of these loggers, however other tests left logging configured."""
    handler = _Collect()
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.disabled))
        logger.setLevel(logging.INFO)
        logger.disabled = False
        logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        for logger, level, disabled in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.disabled = disabled


@pytest.fixture
def logs() -> Callable[..., Any]:
    return collect_logs
