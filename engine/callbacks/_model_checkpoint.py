"""``ModelCheckpoint``: when to save, under which name, which files to keep.

Options, file names, ``best_k_models`` and the saved state follow Lightning 2.6.
Every save is a small state machine run in one order (the whole of its
reliability):

1. **decide**: the new file's name, and which file (if any) it displaces;
2. **write** the new file durably (``Trainer.save_checkpoint``: temporary file,
   fsync, rename);
3. **prune** the displaced file, only now.

A kill or a full disk at any point leaves the previous good files in place.
``last.ckpt`` is replaced by a rename, never deleted first; ``save_last="link"``
swaps the link in one rename too.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

import torch

from loophooks.engine._checkpoint import link_checkpoint_file, remove_stale_temporaries
from loophooks.engine._errors import ConfigurationError
from loophooks.engine.callbacks._base import Checkpoint
from loophooks.engine.callbacks._checkpoint_files import CheckpointFiles
from loophooks.engine.callbacks._checkpoint_options import check_checkpoint_options
from loophooks.engine.callbacks._info import info

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(Checkpoint, CheckpointFiles):
    """Save checkpoints during fit, keeping the best ``save_top_k`` by ``monitor`` (Lightning's options).

    ``filename`` may hold ``{epoch}``, ``{step}`` and any logged metric, with a
    format spec (``"{epoch:02d}-{val_loss:.2f}"``); ``auto_insert_metric_name``
    writes ``name=`` before each. ``save_last`` (``True`` or ``"link"``) keeps
    ``last.ckpt`` current. A save happens every ``every_n_epochs`` (default 1),
    every ``every_n_train_steps`` optimizer steps, or every ``train_time_interval``
    (one of the three). A monitored key that is never logged is an error naming
    the key and the keys that were logged.
    """

    def __init__(
        self,
        dirpath: Optional[Union[str, os.PathLike[str]]] = None,
        filename: Optional[str] = None,
        monitor: Optional[str] = None,
        verbose: bool = False,
        save_last: Optional[Union[bool, Literal["link"]]] = None,
        save_top_k: int = 1,
        save_on_exception: bool = False,
        save_weights_only: bool = False,
        mode: Literal["min", "max"] = "min",
        auto_insert_metric_name: bool = True,
        every_n_train_steps: Optional[int] = None,
        train_time_interval: Optional[timedelta] = None,
        every_n_epochs: Optional[int] = None,
        save_on_train_epoch_end: Optional[bool] = None,
        enable_version_counter: bool = True,
    ) -> None:
        every_n_epochs, every_n_train_steps = check_checkpoint_options(  # engine/callbacks/_checkpoint_options.py
            monitor=monitor,
            filename=filename,
            mode=mode,
            save_last=save_last,
            save_top_k=save_top_k,
            every_n_train_steps=every_n_train_steps,
            every_n_epochs=every_n_epochs,
            train_time_interval=train_time_interval,
            verbose=verbose,
            save_on_exception=save_on_exception,
            save_weights_only=save_weights_only,
            auto_insert_metric_name=auto_insert_metric_name,
            enable_version_counter=enable_version_counter,
            save_on_train_epoch_end=save_on_train_epoch_end,
        )
        self.monitor = monitor
        self.verbose = verbose
        self.save_last = save_last
        self.save_top_k = save_top_k
        self.save_on_exception = save_on_exception
        self.save_weights_only = save_weights_only
        self.auto_insert_metric_name = auto_insert_metric_name
        self._save_on_train_epoch_end = save_on_train_epoch_end
        self._enable_version_counter = enable_version_counter
        self._every_n_train_steps: int = every_n_train_steps or 0
        self._every_n_epochs: int = every_n_epochs or 0
        self._train_time_interval = train_time_interval
        self.mode = mode
        self.kth_value = torch.tensor(math.inf if mode == "min" else -math.inf)
        self.dirpath: Optional[str] = (
            os.path.realpath(os.path.expanduser(os.fspath(dirpath))) if dirpath is not None else None
        )
        self.filename = filename
        self.current_score: Optional[torch.Tensor] = None
        self.best_k_models: dict[str, torch.Tensor] = {}
        self.kth_best_model_path = ""
        self.best_model_score: Optional[torch.Tensor] = None
        self.best_model_path = ""
        self.last_model_path = ""
        self._last_global_step_saved = 0  # nothing to save before the first step
        self._last_checkpoint_saved = ""
        self._last_time_checked: Optional[float] = None
        # a step or time save whose monitored (validation) metric is not there yet waits for validation
        self._defer_save_until_validation = False
        self._validation_ran = False
        self._to_prune: list[str] = []

    # --- public members Lightning has ------------------------------------------------------------------
    @property
    def state_key(self) -> str:
        return self._generate_state_key(
            monitor=self.monitor,
            mode=self.mode,
            every_n_train_steps=self._every_n_train_steps,
            every_n_epochs=self._every_n_epochs,
            train_time_interval=self._train_time_interval,
        )

    @property
    def every_n_epochs(self) -> Optional[int]:
        return self._every_n_epochs

    def check_monitor_top_k(self, trainer: Trainer, current: Optional[torch.Tensor] = None) -> bool:
        """Whether a checkpoint scoring ``current`` belongs in the top ``save_top_k``."""
        if current is None:
            return False
        if self.save_top_k == -1 or len(self.best_k_models) < self.save_top_k:
            return True
        better = torch.lt if self.mode == "min" else torch.gt
        decision = bool(better(current, self.best_k_models[self.kth_best_model_path]))
        return trainer.strategy.reduce_boolean_decision(decision)

    # --- hooks -----------------------------------------------------------------------------------------
    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        self.dirpath = self._resolve_dirpath(trainer)
        if stage == "fit" and trainer.is_global_zero:
            # files that writers killed mid-save left here (only those whose process is gone)
            remove_stale_temporaries(self.dirpath)
            if (
                self.save_top_k != 0
                and os.path.isdir(self.dirpath)
                and any(not name.startswith(".") for name in os.listdir(self.dirpath))
            ):
                warnings.warn(f"Checkpoint directory {self.dirpath} exists and is not empty.", stacklevel=2)

    def on_train_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._last_time_checked = time.monotonic()

    def on_train_batch_end(self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        skip_batch = self._every_n_train_steps < 1 or trainer.global_step % self._every_n_train_steps != 0
        skip_time = True
        now = time.monotonic()
        if self._train_time_interval is not None:
            previous = self._last_time_checked
            skip_time = previous is None or now - previous < self._train_time_interval.total_seconds()
            broadcast = getattr(trainer.strategy, "broadcast", None)
            skip_time = broadcast(skip_time) if broadcast is not None else skip_time
        if skip_batch and skip_time:
            return
        if not skip_time:
            self._last_time_checked = now
        candidates = self._monitor_candidates(trainer)
        if self.monitor is not None and self.monitor not in candidates:
            self._defer_save_until_validation = True  # a validation metric: save when validation has run
            return
        if self.monitor is not None and not self._save_on_epoch_end(trainer) and trainer.is_last_batch:
            if self._validation_follows(trainer):
                self._defer_save_until_validation = True  # the epoch's validation is about to update the metric
                return
        if self._skip(trainer):
            return
        self._save_topk(trainer, candidates)
        self._save_last(trainer, candidates)
        self._prune(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: Any) -> None:
        if not self._skip(trainer) and self._save_on_epoch_end(trainer):
            self._epoch_save(trainer)
            self._prune(trainer)

    def on_validation_end(self, trainer: Trainer, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        self._validation_ran = True
        if not self._skip(trainer) and not self._save_on_epoch_end(trainer):
            if self._defer_save_until_validation:
                candidates = self._monitor_candidates(trainer)
                self._save_topk(trainer, candidates)
                self._save_last(trainer, candidates)
                self._defer_save_until_validation = False
            else:
                self._epoch_save(trainer)
            self._prune(trainer)

    def on_exception(self, trainer: Trainer, pl_module: Any, exception: BaseException) -> None:
        if not (
            self.save_on_exception
            and not getattr(trainer, "fast_dev_run", False)
            and not trainer.sanity_checking
            and self._last_global_step_saved != trainer.global_step
            and self.dirpath is not None
        ):
            return
        candidates = self._monitor_candidates(trainer)
        filepath = self.format_checkpoint_name(candidates)
        self._save_checkpoint(trainer, filepath)
        self._save_last(trainer, candidates)
        self._prune(trainer)
        info(
            trainer,
            f"An {type(exception).__name__} was raised with message: {exception}, saved checkpoint to {filepath}",
        )

    def on_train_end(self, trainer: Trainer, pl_module: Any) -> None:
        if self.save_last and not self._last_checkpoint_saved:
            self._save_last(trainer, self._monitor_candidates(trainer))
            self._prune(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "best_model_score": self.best_model_score,
            "best_model_path": self.best_model_path,
            "current_score": self.current_score,
            "dirpath": self.dirpath,
            "best_k_models": dict(self.best_k_models),
            "kth_best_model_path": self.kth_best_model_path,
            "kth_value": self.kth_value,
            "last_model_path": self.last_model_path,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved_dir = state_dict.get("dirpath", self.dirpath)
        if saved_dir == self.dirpath:
            self.best_model_score = state_dict.get("best_model_score")
            self.kth_best_model_path = state_dict.get("kth_best_model_path", self.kth_best_model_path)
            self.kth_value = state_dict.get("kth_value", self.kth_value)
            self.best_k_models = dict(state_dict.get("best_k_models", self.best_k_models))
            self.last_model_path = state_dict.get("last_model_path", self.last_model_path)
        else:
            warnings.warn(
                f"ModelCheckpoint: the checkpoint's dirpath {saved_dir!r} is not this callback's {self.dirpath!r}; "
                "only best_model_path is restored (not best_model_score, kth_best_model_path, kth_value, "
                "last_model_path or best_k_models)",
                stacklevel=2,
            )
        self.best_model_path = state_dict.get("best_model_path", "")

    # --- when ------------------------------------------------------------------------------------------
    def _skip(self, trainer: Trainer) -> bool:
        return (
            bool(getattr(trainer, "fast_dev_run", False))
            or trainer.state.fn != "fit"
            or trainer.sanity_checking
            or self._last_global_step_saved == trainer.global_step
        )

    def _save_on_epoch_end(self, trainer: Trainer) -> bool:
        if self._save_on_train_epoch_end is not None:
            return self._save_on_train_epoch_end
        if getattr(trainer, "_val_check_time_interval", None) is not None:
            return False
        if trainer.check_val_every_n_epoch != 1:
            return False
        if sum(trainer.num_val_batches) == 0:
            return True
        return trainer.val_check_interval == 1.0

    def _validation_follows(self, trainer: Trainer) -> bool:
        """Whether this epoch's validation runs after the current (last) batch."""
        if not trainer._ctx.data.validation_enabled(trainer.limit_val_batches) or not sum(trainer.num_val_batches):
            return False
        every = trainer.check_val_every_n_epoch
        return every is None or (trainer.current_epoch + 1) % every == 0

    def _epoch_save(self, trainer: Trainer) -> None:
        candidates = self._monitor_candidates(trainer)
        if self._every_n_epochs >= 1 and (trainer.current_epoch + 1) % self._every_n_epochs == 0:
            self._save_topk(trainer, candidates)
        if self._last_global_step_saved == trainer.global_step or (
            self.save_last == "link" and self._last_checkpoint_saved
        ):
            self._save_last(trainer, candidates)

    # --- what and where --------------------------------------------------------------------------------
    def _monitor_candidates(self, trainer: Trainer) -> dict[str, torch.Tensor]:
        candidates = {
            k: v.detach().clone() if isinstance(v, torch.Tensor) else v for k, v in trainer.callback_metrics.items()
        }
        epoch, step = candidates.get("epoch"), candidates.get("step")
        candidates["epoch"] = epoch.int() if isinstance(epoch, torch.Tensor) else torch.tensor(trainer.current_epoch)
        candidates["step"] = step.int() if isinstance(step, torch.Tensor) else torch.tensor(trainer.global_step)
        return candidates

    # --- decide, write, prune ----------------------------------------------------------------------------
    def _save_topk(self, trainer: Trainer, candidates: dict[str, torch.Tensor]) -> None:
        if self.save_top_k == 0:
            return
        if self.monitor is None:
            self._save_latest(trainer, candidates)
            return
        if self.monitor not in candidates:
            self._missing_monitor(trainer, candidates)
            return
        current = candidates[self.monitor]
        if self.check_monitor_top_k(trainer, current):
            self._update_best_and_save(current, trainer, candidates)
        elif self.verbose:
            info(
                trainer,
                f"Epoch {int(candidates['epoch']):d}, global step {int(candidates['step']):d}: "
                f"{self.monitor!r} was not in top {self.save_top_k}",
            )

    def _missing_monitor(self, trainer: Trainer, candidates: dict[str, torch.Tensor]) -> None:
        message = (
            f"ModelCheckpoint(monitor={self.monitor!r}) could not find the monitored key in the logged metrics: "
            f"{list(candidates)}. HINT: did you call self.log({self.monitor!r}, value) in the LoopModule?"
        )
        # Lightning raises once validation has run and warns before. Beyond that, a key missing at an
        # epoch's end of a fit without validation is never coming: training on would end with no
        # checkpoint at all, so that is an error too.
        if self._validation_ran or not trainer._ctx.data.validation_enabled(trainer.limit_val_batches):
            raise ConfigurationError(message)
        warnings.warn(message, stacklevel=2)

    def _save_latest(self, trainer: Trainer, candidates: dict[str, torch.Tensor]) -> None:
        """No monitor: the newest file is the best; with ``save_top_k=1`` the one before it goes."""
        filepath = self._versioned(trainer, candidates, None, self.best_model_path)
        previous, self.best_model_path = self.best_model_path, filepath
        self._save_checkpoint(trainer, filepath)
        if self.save_top_k == 1 and previous and self._should_remove(trainer, previous, filepath):
            self._remove(trainer, previous)

    def _update_best_and_save(
        self, current: torch.Tensor, trainer: Trainer, candidates: dict[str, torch.Tensor]
    ) -> None:
        k = len(self.best_k_models) + 1 if self.save_top_k == -1 else self.save_top_k
        displaced: Optional[str] = None
        if len(self.best_k_models) == k and k > 0:
            displaced = self.kth_best_model_path
            self.best_k_models.pop(displaced)
        current = current.detach().float().cpu().reshape(()) if current.numel() == 1 else current
        if bool(torch.isnan(current).any()):  # NaN ranks last, as Lightning ranks it
            current = torch.tensor(math.inf if self.mode == "min" else -math.inf)
        filepath = self._versioned(trainer, candidates, None, displaced or "")
        self.current_score = current
        self.best_k_models[filepath] = current
        if len(self.best_k_models) == k:
            worst = max if self.mode == "min" else min
            self.kth_best_model_path = worst(self.best_k_models, key=lambda p: float(self.best_k_models[p]))
            self.kth_value = self.best_k_models[self.kth_best_model_path]
        best = min if self.mode == "min" else max
        self.best_model_path = best(self.best_k_models, key=lambda p: float(self.best_k_models[p]))
        self.best_model_score = self.best_k_models[self.best_model_path]
        if self.verbose:
            info(
                trainer,
                f"Epoch {int(candidates['epoch']):d}, global step {int(candidates['step']):d}: "
                f"{self.monitor!r} reached {float(current):0.5f} (best {float(self.best_model_score):0.5f}), "
                f"saving model to {filepath!r} as top {k}",
            )
        self._save_checkpoint(trainer, filepath)  # durable before anything is pruned
        if displaced and self._should_remove(trainer, displaced, filepath):
            self._remove(trainer, displaced)

    def _save_last(self, trainer: Trainer, candidates: dict[str, torch.Tensor]) -> None:
        if not self.save_last:
            return
        filepath = self._last_name(trainer, candidates)
        previous, self.last_model_path = self.last_model_path, filepath
        if self.save_last == "link" and self._last_checkpoint_saved and self.save_top_k != 0:
            if trainer.is_global_zero and os.path.abspath(self._last_checkpoint_saved) != os.path.abspath(filepath):
                link_checkpoint_file(self._last_checkpoint_saved, filepath)
            trainer.strategy.barrier("ModelCheckpoint.save_last")
        else:
            self._save_checkpoint(trainer, filepath)
        if previous and self._should_remove(trainer, previous, filepath):
            self._remove(trainer, previous)
