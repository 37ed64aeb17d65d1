"""``Timer``: time the stages and stop fit when a time budget is spent (Lightning's; ``Trainer(max_time=...)``)."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Optional, Union

from loophooks.engine._errors import ConfigurationError
from loophooks.engine.callbacks._base import Callback
from loophooks.engine.callbacks._info import info

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["Timer", "parse_duration"]

# Lightning's RunningStage values, the keys of the times a Timer keeps and saves
_STAGES = ("train", "sanity_check", "validate", "test", "predict")


def parse_duration(duration: Union[str, timedelta, dict[str, int], None], owner: str) -> Optional[timedelta]:
    """``"DD:HH:MM:SS"``, a ``timedelta`` or ``timedelta``'s keywords as a dict; ``owner`` names the option."""
    if duration is None or isinstance(duration, timedelta):
        return duration
    if isinstance(duration, str):
        match = re.fullmatch(r"(\d+):(\d\d):(\d\d):(\d\d)", duration.strip())
        if not match:
            raise ConfigurationError(f"{owner}={duration!r} is not a valid duration; expected a string DD:HH:MM:SS")
        days, hours, minutes, seconds = (int(g) for g in match.groups())
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if isinstance(duration, dict):
        try:
            return timedelta(**duration)
        except TypeError as exc:
            raise ConfigurationError(f"{owner}={duration!r}: not timedelta's keywords ({exc})") from exc
    raise ConfigurationError(
        f"{owner}={duration!r}: expected None, a 'DD:HH:MM:SS' string, a datetime.timedelta or a dict of its keywords"
    )


class Timer(Callback):
    """Measures the time spent in each stage; with ``duration``, stops fit once training has taken that long.

    ``interval="step"`` checks after every training batch, ``"epoch"`` after each
    training epoch. The elapsed training time is saved in checkpoints, so a resumed
    run keeps counting from where it stopped.
    """

    def __init__(
        self,
        duration: Union[str, timedelta, dict[str, int], None] = None,
        interval: str = "step",
        verbose: bool = True,
    ) -> None:
        parsed = parse_duration(duration, "Timer(duration")
        if interval not in ("step", "epoch"):
            raise ConfigurationError(f"Timer(interval=...) must be 'step' or 'epoch'; received {interval!r}")
        self._duration = parsed.total_seconds() if parsed is not None else None
        self._interval = interval
        self._verbose = verbose
        self._start_time: dict[str, Optional[float]] = dict.fromkeys(_STAGES)
        self._end_time: dict[str, Optional[float]] = dict.fromkeys(_STAGES)
        self._offset = 0.0

    def start_time(self, stage: str = "train") -> Optional[float]:
        return self._start_time[_stage(stage)]

    def end_time(self, stage: str = "train") -> Optional[float]:
        return self._end_time[_stage(stage)]

    def time_elapsed(self, stage: str = "train") -> float:
        stage = _stage(stage)
        start, end = self._start_time[stage], self._end_time[stage]
        offset = self._offset if stage == "train" else 0.0
        if start is None:
            return offset
        if end is None:
            return time.monotonic() - start + offset
        return end - start + offset

    def time_remaining(self, stage: str = "train") -> Optional[float]:
        return None if self._duration is None else self._duration - self.time_elapsed(stage)

    # --- hooks -----------------------------------------------------------------------------------------
    def on_train_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._start_time["train"] = time.monotonic()

    def on_train_end(self, trainer: Trainer, pl_module: Any) -> None:
        self._end_time["train"] = time.monotonic()

    def on_validation_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._start_time["validate"] = time.monotonic()

    def on_validation_end(self, trainer: Trainer, pl_module: Any) -> None:
        self._end_time["validate"] = time.monotonic()

    def on_test_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._start_time["test"] = time.monotonic()

    def on_test_end(self, trainer: Trainer, pl_module: Any) -> None:
        self._end_time["test"] = time.monotonic()

    def on_fit_start(self, trainer: Trainer, pl_module: Any) -> None:
        if self._duration is not None:
            self._check(trainer)

    def on_train_batch_end(self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._interval == "step" and self._duration is not None:
            self._check(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: Any) -> None:
        if self._interval == "epoch" and self._duration is not None:
            self._check(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {"time_elapsed": {stage: self.time_elapsed(stage) for stage in _STAGES}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._offset = float(state_dict.get("time_elapsed", {}).get("train", 0.0))

    def _check(self, trainer: Trainer) -> None:
        assert self._duration is not None
        should_stop = self.time_elapsed() >= self._duration
        # every process must stop at the same step: rank 0's clock decides
        broadcast = getattr(trainer.strategy, "broadcast", None)
        should_stop = bool(broadcast(should_stop)) if broadcast is not None else should_stop
        trainer.should_stop = trainer.should_stop or should_stop
        if should_stop and self._verbose:
            elapsed = timedelta(seconds=int(self.time_elapsed("train")))
            info(trainer, f"Time limit reached. Elapsed time is {elapsed}. Signaling Trainer to stop.")


def _stage(stage: str) -> str:
    if stage not in _STAGES:
        raise ValueError(f"Timer: unknown stage {stage!r}; expected one of {list(_STAGES)}")
    return stage
