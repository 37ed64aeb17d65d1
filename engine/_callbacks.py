"""Callbacks that ship with the engine: the base class, checkpointing, early stopping, a progress bar.

Callbacks may be any object: the dispatcher calls the hooks a callback's class
defines and skips the rest. :class:`Callback` adds Lightning's ``state_key``,
``state_dict`` and ``load_state_dict`` defaults.
"""

from __future__ import annotations

import math
import os
import sys
from typing import TYPE_CHECKING, Any, Literal, Optional

import torch

from loophooks.spec import Callback as CallbackHooks

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "ProgressBar", "is_monitoring_callback"]


class Callback(CallbackHooks):
    """Base for callbacks: the spec's do-nothing defaults for every hook, plus Lightning's ``state_key``.

    Override the hooks you need; the dispatcher skips the ones you keep.
    """

    @property
    def state_key(self) -> str:
        """Key of this callback's state in a checkpoint's ``"callbacks"``; unique per configuration."""
        return type(self).__qualname__

    def _generate_state_key(self, **kwargs: Any) -> str:
        return f"{type(self).__qualname__}{kwargs!r}"

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        pass


def is_monitoring_callback(cb: object) -> bool:
    """Checkpointing and early stopping run after the model's ``on_train_epoch_end`` (Lightning's rule)."""
    return isinstance(cb, (ModelCheckpoint, EarlyStopping)) or bool(getattr(cb, "_loophooks_monitoring", False))


def _monitor_op(mode: str) -> Any:
    if mode == "min":
        return torch.lt
    if mode == "max":
        return torch.gt
    raise ValueError(f"mode must be 'min' or 'max'; received {mode!r}")


class ModelCheckpoint(Callback):
    """Save checkpoints during fit: each epoch (or every ``every_n_train_steps``), keeping the best ``save_top_k``.

    Saves at the end of validation when validation runs once per epoch,
    otherwise at the end of the training epoch, as Lightning does.
    """

    def __init__(
        self,
        dirpath: Optional[str] = None,
        filename: Optional[str] = None,
        monitor: Optional[str] = None,
        mode: Literal["min", "max"] = "min",
        save_top_k: int = 1,
        save_last: Optional[bool] = None,
        save_weights_only: bool = False,
        every_n_train_steps: Optional[int] = None,
        every_n_epochs: Optional[int] = None,
        save_on_train_epoch_end: Optional[bool] = None,
    ) -> None:
        self.dirpath = dirpath
        self.filename = filename or "epoch={epoch}-step={step}"
        self.monitor = monitor
        self.mode = mode
        self._op = _monitor_op(mode)
        self.save_top_k = save_top_k
        self.save_last = save_last
        self.save_weights_only = save_weights_only
        self._every_n_train_steps = every_n_train_steps or 0
        self._every_n_epochs = 1 if every_n_epochs is None else every_n_epochs
        if every_n_train_steps and every_n_epochs is None:
            self._every_n_epochs = 0
        self._save_on_train_epoch_end = save_on_train_epoch_end
        self.best_model_path = ""
        self.best_model_score: Optional[torch.Tensor] = None
        self.best_k_models: dict[str, torch.Tensor] = {}
        self.last_model_path = ""
        self._last_global_step_saved = -1

    @property
    def state_key(self) -> str:
        return self._generate_state_key(
            monitor=self.monitor,
            mode=self.mode,
            every_n_train_steps=self._every_n_train_steps,
            every_n_epochs=self._every_n_epochs,
        )

    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        if self.dirpath is None:
            self.dirpath = os.path.join(trainer.default_root_dir, "checkpoints")
        if stage == "fit" and trainer.is_global_zero:
            # a run killed while saving leaves its temporary file; this callback owns the folder
            from loophooks.engine._checkpoint import remove_stale_temporaries

            remove_stale_temporaries(self.dirpath)

    def on_train_batch_end(self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._skip(trainer) or self._every_n_train_steps < 1:
            return
        if trainer.global_step % self._every_n_train_steps != 0:
            return
        self._save_topk(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: Any) -> None:
        if not self._skip(trainer) and self._save_on_epoch_end(trainer):
            if self._every_n_epochs >= 1 and (trainer.current_epoch + 1) % self._every_n_epochs == 0:
                self._save_topk(trainer)
            self._save_last(trainer)

    def on_validation_end(self, trainer: Trainer, pl_module: Any) -> None:
        if not self._skip(trainer) and not self._save_on_epoch_end(trainer):
            if self._every_n_epochs >= 1 and (trainer.current_epoch + 1) % self._every_n_epochs == 0:
                self._save_topk(trainer)
            self._save_last(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "best_model_score": self.best_model_score,
            "best_model_path": self.best_model_path,
            "dirpath": self.dirpath,
            "best_k_models": dict(self.best_k_models),
            "last_model_path": self.last_model_path,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_model_path = state_dict.get("best_model_path", "")
        if state_dict.get("dirpath", self.dirpath) == self.dirpath:
            self.best_model_score = state_dict.get("best_model_score")
            self.best_k_models = dict(state_dict.get("best_k_models", {}))
            self.last_model_path = state_dict.get("last_model_path", "")

    # --- internals ---------------------------------------------------------------------------------
    def _skip(self, trainer: Trainer) -> bool:
        return (
            trainer.state.fn != "fit"
            or bool(getattr(trainer, "fast_dev_run", False))  # Lightning writes no checkpoint in a dev run
            or trainer.sanity_checking
            or self._last_global_step_saved == trainer.global_step
        )

    def _save_on_epoch_end(self, trainer: Trainer) -> bool:
        if self._save_on_train_epoch_end is not None:
            return self._save_on_train_epoch_end
        if trainer.check_val_every_n_epoch != 1:
            return False
        if sum(trainer.num_val_batches) == 0:
            return True
        return trainer.val_check_interval == 1.0

    def _path(self, trainer: Trainer) -> str:
        assert self.dirpath is not None
        name = self.filename.format(epoch=trainer.current_epoch, step=trainer.global_step)
        return os.path.join(self.dirpath, name + ".ckpt")

    def _save_topk(self, trainer: Trainer) -> None:
        if self.save_top_k == 0:
            return
        path = self._path(trainer)
        if self.monitor is None:
            self._write(trainer, path)
            if self.save_top_k != -1 and self.best_model_path and self.best_model_path != path:
                _remove(trainer, self.best_model_path)
            self.best_model_path = path
            return
        current = trainer.callback_metrics.get(self.monitor)
        if current is None:
            return
        current = torch.as_tensor(current).detach().float().cpu()
        if math.isnan(float(current)):
            current = torch.tensor(float("inf") if self.mode == "min" else float("-inf"))
        full = self.save_top_k != -1 and len(self.best_k_models) >= self.save_top_k
        if full:
            worst = max(self.best_k_models, key=lambda p: float(self.best_k_models[p])) if self.mode == "min" else min(
                self.best_k_models, key=lambda p: float(self.best_k_models[p])
            )
            if not bool(self._op(current, self.best_k_models[worst])):
                return
            del self.best_k_models[worst]
            _remove(trainer, worst)
        self.best_k_models[path] = current
        self._write(trainer, path)
        pick = min if self.mode == "min" else max
        self.best_model_path = pick(self.best_k_models, key=lambda p: float(self.best_k_models[p]))
        self.best_model_score = self.best_k_models[self.best_model_path]

    def _save_last(self, trainer: Trainer) -> None:
        if not self.save_last:
            return
        assert self.dirpath is not None
        path = os.path.join(self.dirpath, "last.ckpt")
        trainer.save_checkpoint(path, weights_only=self.save_weights_only)
        self.last_model_path = path

    def _write(self, trainer: Trainer, path: str) -> None:
        trainer.save_checkpoint(path, weights_only=self.save_weights_only)
        self._last_global_step_saved = trainer.global_step


def _remove(trainer: Trainer, path: str) -> None:
    if not trainer.is_global_zero:  # only global rank 0 writes (and removes) checkpoint files
        return
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


class EarlyStopping(Callback):
    """Stop fit when ``monitor`` has not improved by ``min_delta`` for ``patience`` checks."""

    def __init__(
        self,
        monitor: str,
        min_delta: float = 0.0,
        patience: int = 3,
        mode: Literal["min", "max"] = "min",
        strict: bool = True,
        check_finite: bool = True,
        stopping_threshold: Optional[float] = None,
        divergence_threshold: Optional[float] = None,
        check_on_train_epoch_end: Optional[bool] = None,
    ) -> None:
        self.monitor = monitor
        self.mode = mode
        self._op = _monitor_op(mode)
        self.min_delta = torch.tensor(abs(min_delta) if mode == "max" else -abs(min_delta))
        self.patience = patience
        self.strict = strict
        self.check_finite = check_finite
        self.stopping_threshold = stopping_threshold
        self.divergence_threshold = divergence_threshold
        self._check_on_train_epoch_end = check_on_train_epoch_end
        self.wait_count = 0
        self.stopped_epoch = 0
        self.best_score = torch.tensor(float("inf") if mode == "min" else float("-inf"))

    @property
    def state_key(self) -> str:
        return self._generate_state_key(monitor=self.monitor, mode=self.mode)

    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        if self._check_on_train_epoch_end is None:
            self._check_on_train_epoch_end = trainer.val_check_interval == 1.0 and trainer.check_val_every_n_epoch == 1

    def on_train_epoch_end(self, trainer: Trainer, pl_module: Any) -> None:
        if self._check_on_train_epoch_end:
            self._check(trainer)

    def on_validation_end(self, trainer: Trainer, pl_module: Any) -> None:
        if not self._check_on_train_epoch_end and not trainer.sanity_checking:
            self._check(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {
            "wait_count": self.wait_count,
            "stopped_epoch": self.stopped_epoch,
            "best_score": self.best_score,
            "patience": self.patience,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.wait_count = state_dict["wait_count"]
        self.stopped_epoch = state_dict["stopped_epoch"]
        self.best_score = state_dict["best_score"]
        self.patience = state_dict["patience"]

    def _check(self, trainer: Trainer) -> None:
        if getattr(trainer, "fast_dev_run", False):  # Lightning's EarlyStopping does nothing in a dev run
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            if self.strict:
                raise RuntimeError(
                    f"EarlyStopping could not find the monitored metric {self.monitor!r}; "
                    f"available: {sorted(trainer.callback_metrics)}"
                )
            return
        current = torch.as_tensor(value).detach().float().cpu().squeeze()
        stop = False
        if self.check_finite and not torch.isfinite(current):
            stop = True
        elif self.stopping_threshold is not None and bool(self._op(current, torch.tensor(self.stopping_threshold))):
            stop = True
        elif self.divergence_threshold is not None and bool(
            self._op(-current, -torch.tensor(self.divergence_threshold))
        ):
            stop = True
        elif bool(self._op(current - self.min_delta, self.best_score)):
            self.best_score = current
            self.wait_count = 0
        else:
            self.wait_count += 1
            stop = self.wait_count >= self.patience
        # every process must stop at the same batch, or the others wait in a collective: any process's stop wins
        stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            trainer.should_stop = True
            self.stopped_epoch = trainer.current_epoch


class ProgressBar(Callback):
    """A tqdm bar per epoch showing the loss; the Trainer adds it only when stdout is a terminal."""

    def __init__(self) -> None:
        self._bar: Any = None

    @staticmethod
    def wanted() -> bool:
        return sys.stdout.isatty()

    def on_train_epoch_start(self, trainer: Trainer, pl_module: Any) -> None:
        from tqdm.auto import tqdm  # type: ignore[import-untyped]

        total = trainer.num_training_batches
        self._bar = tqdm(
            total=None if total == float("inf") else int(total),
            desc=f"Epoch {trainer.current_epoch}",
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
        )

    def on_train_batch_end(self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        bar = self._bar
        if bar is None:
            return
        bar.update(1)
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and (batch_idx % 10 == 0 or trainer.is_last_batch):
            bar.set_postfix(loss=f"{float(loss) * trainer.accumulate_grad_batches:.4g}", refresh=False)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: Any) -> None:
        self._close()

    def on_train_end(self, trainer: Trainer, pl_module: Any) -> None:
        self._close()

    def on_exception(self, trainer: Trainer, pl_module: Any, exception: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _register() -> None:
    from loophooks.spec import register_base

    register_base(Callback)


_register()
