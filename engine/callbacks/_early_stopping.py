"""``EarlyStopping``: stop fit when a monitored metric stops improving, crosses a threshold or is not finite.

Options, order of the tests, messages and saved state follow Lightning 2.6.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, Optional

import torch

from loophooks.engine._errors import ConfigurationError
from loophooks.engine.callbacks._base import Callback
from loophooks.engine.callbacks._info import info

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["EarlyStopping", "EarlyStoppingReason"]


class EarlyStoppingReason(Enum):
    """Why :class:`EarlyStopping` stopped the run (Lightning's values)."""

    NOT_STOPPED = 0
    STOPPING_THRESHOLD = 1
    DIVERGENCE_THRESHOLD = 2
    PATIENCE_EXHAUSTED = 3
    NON_FINITE_METRIC = 4


def _number(name: str, value: Any, *, none_ok: bool) -> None:
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ConfigurationError(
            f"EarlyStopping({name}=...) must be {'None or ' if none_ok else ''}a number; received {value!r}"
        )


class EarlyStopping(Callback):
    """Stop fit when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` checks.

    Checks run at the end of each training epoch when validation runs once per
    epoch (``check_on_train_epoch_end``), else after each validation. Stops at
    once when the value is not finite (``check_finite``), better than
    ``stopping_threshold`` or worse than ``divergence_threshold``.
    """

    mode_dict = {"min": torch.lt, "max": torch.gt}
    order_dict = {"min": "<", "max": ">"}

    def __init__(
        self,
        monitor: str,
        min_delta: float = 0.0,
        patience: int = 3,
        verbose: bool = False,
        mode: Literal["min", "max"] = "min",
        strict: bool = True,
        check_finite: bool = True,
        stopping_threshold: Optional[float] = None,
        divergence_threshold: Optional[float] = None,
        check_on_train_epoch_end: Optional[bool] = None,
        log_rank_zero_only: bool = False,
    ) -> None:
        if not isinstance(monitor, str):
            raise ConfigurationError(f"EarlyStopping(monitor=...) must be a metric name; received {monitor!r}")
        if mode not in self.mode_dict:
            raise ConfigurationError(f"EarlyStopping(mode=...) must be 'min' or 'max'; received {mode!r}")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ConfigurationError(f"EarlyStopping(patience=...) must be an int >= 0; received {patience!r}")
        _number("min_delta", min_delta, none_ok=False)
        _number("stopping_threshold", stopping_threshold, none_ok=True)
        _number("divergence_threshold", divergence_threshold, none_ok=True)
        for name, value in (
            ("verbose", verbose),
            ("strict", strict),
            ("check_finite", check_finite),
            ("log_rank_zero_only", log_rank_zero_only),
        ):
            if not isinstance(value, bool):
                raise ConfigurationError(f"EarlyStopping({name}=...) must be True or False; received {value!r}")
        if check_on_train_epoch_end is not None and not isinstance(check_on_train_epoch_end, bool):
            raise ConfigurationError(
                f"EarlyStopping(check_on_train_epoch_end=...) must be None, True or False; "
                f"received {check_on_train_epoch_end!r}"
            )
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.strict = strict
        self.check_finite = check_finite
        self.stopping_threshold = stopping_threshold
        self.divergence_threshold = divergence_threshold
        self.log_rank_zero_only = log_rank_zero_only
        self._check_on_train_epoch_end = check_on_train_epoch_end
        # an improvement must beat the best by min_delta in the right direction
        self.min_delta = float(min_delta) * (1 if mode == "max" else -1)
        self.wait_count = 0
        self.stopped_epoch = 0
        self.stopping_reason = EarlyStoppingReason.NOT_STOPPED
        self.stopping_reason_message: Optional[str] = None
        self.best_score = torch.tensor(math.inf if mode == "min" else -math.inf)

    @property
    def monitor_op(self) -> Any:
        return self.mode_dict[self.mode]

    @property
    def state_key(self) -> str:
        return self._generate_state_key(monitor=self.monitor, mode=self.mode)

    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        if self._check_on_train_epoch_end is None:
            self._check_on_train_epoch_end = trainer.val_check_interval == 1.0 and trainer.check_val_every_n_epoch == 1

    def on_train_epoch_end(self, trainer: Trainer, pl_module: Any) -> None:
        if self._check_on_train_epoch_end and not self._skip(trainer):
            self._run_check(trainer)

    def on_validation_end(self, trainer: Trainer, pl_module: Any) -> None:
        if not self._check_on_train_epoch_end and not self._skip(trainer):
            self._run_check(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {
            "wait_count": self.wait_count,
            "stopped_epoch": self.stopped_epoch,
            "best_score": self.best_score,
            "patience": self.patience,
            "stopping_reason": self.stopping_reason.value,
            "stopping_reason_message": self.stopping_reason_message,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.wait_count = state_dict["wait_count"]
        self.stopped_epoch = state_dict["stopped_epoch"]
        self.best_score = state_dict["best_score"]
        self.patience = state_dict["patience"]
        self.stopping_reason = EarlyStoppingReason(state_dict.get("stopping_reason", 0))
        self.stopping_reason_message = state_dict.get("stopping_reason_message")

    # --- internals ---------------------------------------------------------------------------------
    @staticmethod
    def _skip(trainer: Trainer) -> bool:
        return trainer.state.fn != "fit" or trainer.sanity_checking

    def _run_check(self, trainer: Trainer) -> None:
        logs = trainer.callback_metrics
        if getattr(trainer, "fast_dev_run", False):
            return
        value = logs.get(self.monitor)
        if value is None:
            message = (
                f"Early stopping conditioned on metric {self.monitor!r} which is not available. Pass in or modify "
                f"your EarlyStopping callback to use any of the following: {list(logs)}"
            )
            if self.strict:
                raise RuntimeError(message)
            if self.verbose:
                import warnings

                warnings.warn(message, RuntimeWarning, stacklevel=2)
            return
        current = torch.as_tensor(value).detach().cpu().squeeze()
        should_stop, reason = self._evaluate(current)
        # every process must stop at the same batch, or the others wait in a collective: any process's stop wins
        should_stop = trainer.strategy.reduce_boolean_decision(should_stop, all=False)
        trainer.should_stop = trainer.should_stop or should_stop
        if should_stop:
            self.stopped_epoch = trainer.current_epoch
            self.stopping_reason_message = reason
        if reason and self.verbose:
            self._log_info(trainer, reason)

    def _evaluate(self, current: torch.Tensor) -> tuple[bool, Optional[str]]:
        op, order = self.monitor_op, self.order_dict[self.mode]
        if self.check_finite and not bool(torch.isfinite(current)):
            self.stopping_reason = EarlyStoppingReason.NON_FINITE_METRIC
            return True, (
                f"Monitored metric {self.monitor} = {current} is not finite. Previous best value was "
                f"{float(self.best_score):.3f}. Signaling Trainer to stop."
            )
        if self.stopping_threshold is not None and bool(op(current, self.stopping_threshold)):
            self.stopping_reason = EarlyStoppingReason.STOPPING_THRESHOLD
            return True, (
                f"Stopping threshold reached: {self.monitor} = {current} {order} {self.stopping_threshold}."
                " Signaling Trainer to stop."
            )
        if self.divergence_threshold is not None and bool(op(-current, -self.divergence_threshold)):
            self.stopping_reason = EarlyStoppingReason.DIVERGENCE_THRESHOLD
            return True, (
                f"Divergence threshold reached: {self.monitor} = {current} {order} "
                f"{self.divergence_threshold}. Signaling Trainer to stop."
            )
        if bool(op(current - self.min_delta, self.best_score.to(current.device))):
            if bool(torch.isfinite(self.best_score)):
                reason = (
                    f"Metric {self.monitor} improved by {float(abs(self.best_score - current)):.3f} >= "
                    f"min_delta = {abs(self.min_delta)}. New best score: {float(current):.3f}"
                )
            else:
                reason = f"Metric {self.monitor} improved. New best score: {float(current):.3f}"
            self.best_score = current
            self.wait_count = 0
            return False, reason
        self.wait_count += 1
        if self.wait_count >= self.patience:
            self.stopping_reason = EarlyStoppingReason.PATIENCE_EXHAUSTED
            return True, (
                f"Monitored metric {self.monitor} did not improve in the last {self.wait_count} records. "
                f"Best score: {float(self.best_score):.3f}. Signaling Trainer to stop."
            )
        return False, None

    def _log_info(self, trainer: Trainer, message: str) -> None:
        rank = trainer.global_rank if trainer.world_size > 1 else None
        if rank is not None:
            message = f"[rank: {rank}] {message}"
        if rank is None or not self.log_rank_zero_only or rank == 0:
            info(trainer, message, rank_zero_only=False)
