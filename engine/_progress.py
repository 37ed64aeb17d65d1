"""Progress bars: the ``ProgressBar`` base and Lightning's ``TQDMProgressBar`` (tqdm).

(``RichProgressBar`` lives in :mod:`loophooks.engine._rich_progress`.) Both show the ``prog_bar=True`` metrics (``trainer.progress_bar_metrics``: step values
while an epoch runs, epoch values once it ends) and ``v_num``, the logger's version.
``refresh_rate`` is Lightning's: the display changes every ``refresh_rate`` batches and
on a loader's last batch; 0 disables it.

When stdout is not a terminal (a log file, CI), a redrawn bar would fill the file
with carriage returns. The bars then print plain lines instead: one at each refresh
point that is a loader's last batch or at least :attr:`LINE_INTERVAL_S` seconds after
the previous line.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Optional, Union

from loophooks.engine.callbacks import Callback

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["ProgressBar", "TQDMProgressBar"]

Number = Union[int, float]


def _total(value: Any) -> Optional[int]:
    if value is None or (isinstance(value, float) and (math.isinf(value) or math.isnan(value))):
        return None
    return int(value)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


class ProgressBar(Callback):
    """Base of progress bars (Lightning's ``ProgressBar``): the metrics shown, the refresh rule, the line mode.

    The Trainer adds one unless a ``ProgressBar`` is among the callbacks or
    ``enable_progress_bar=False``: a ``RichProgressBar`` where ``rich`` is installed,
    else a :class:`TQDMProgressBar` (Lightning's rule).
    """

    LINE_INTERVAL_S = 5.0

    def __init__(self, refresh_rate: int = 1) -> None:
        if isinstance(refresh_rate, bool) or not isinstance(refresh_rate, int) or refresh_rate < 0:
            raise ValueError(f"{type(self).__name__}(refresh_rate=...) must be an int >= 0; received {refresh_rate!r}")
        self._refresh_rate = refresh_rate
        self._enabled = True
        self._trainer: Optional[Trainer] = None
        self._current_eval_dataloader_idx: Optional[int] = None
        self._last_line = 0.0
        self._interactive: Optional[bool] = None

    @property
    def refresh_rate(self) -> int:
        return self._refresh_rate

    @property
    def is_enabled(self) -> bool:
        return self._enabled and self._refresh_rate > 0

    @property
    def is_disabled(self) -> bool:
        return not self.is_enabled

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def interactive(self) -> bool:
        """Whether stdout is a terminal (decided once per run)."""
        if self._interactive is None:
            isatty = getattr(sys.stdout, "isatty", None)
            self._interactive = bool(isatty()) if callable(isatty) else False
        return self._interactive

    def get_metrics(self, trainer: Trainer, pl_module: Any) -> dict[str, Any]:
        """``v_num`` (the first logger's version) and the ``prog_bar`` metrics, as Lightning shows them."""
        items: dict[str, Any] = {}
        version = _version(trainer.loggers)
        if version not in ("", None):
            items["v_num"] = version[-4:] if isinstance(version, str) else version
        items.update(trainer.progress_bar_metrics)
        return items

    def _should_update(self, current: int, total: Optional[int]) -> bool:
        return self.is_enabled and (current % self._refresh_rate == 0 or current == total)

    def _line(self, desc: str, n: int, total: Optional[int], metrics: Optional[dict[str, Any]], force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_line < self.LINE_INTERVAL_S:
            return
        self._last_line = now
        count = f"{n}/{total}" if total is not None else f"{n}"
        shown = ", ".join(f"{k}={_format(v)}" for k, v in (metrics or {}).items())
        print(f"{desc}: {count}" + (f" [{shown}]" if shown else ""), file=sys.stdout, flush=True)

    # --- Lightning's ProgressBar members: the trainer, the descriptions, the totals -------------------------
    @property
    def trainer(self) -> Trainer:
        if self._trainer is None:
            raise TypeError(f"The `{type(self).__name__}._trainer` reference has not been set yet.")
        return self._trainer

    sanity_check_description = "Sanity Checking"
    train_description = "Training"
    validation_description = "Validation"
    test_description = "Testing"
    predict_description = "Predicting"

    @property
    def total_train_batches(self) -> Number:
        """The training batches of this epoch (``inf`` for a loader without a length); fewer where ``max_steps``
        alone ends the run sooner (Lightning's rule)."""
        trainer = self.trainer
        if trainer.max_epochs == -1 and trainer.max_steps is not None and trainer.max_steps > 0:
            return min(trainer.num_training_batches, trainer.max_steps - trainer.global_step)
        return trainer.num_training_batches

    def _current(self, batches: list[Number]) -> Number:
        idx = self._current_eval_dataloader_idx
        return batches[idx] if idx is not None and idx < len(batches) else 0

    @property
    def total_val_batches_current_dataloader(self) -> Number:
        trainer = self.trainer
        return self._current(trainer.num_sanity_val_batches if trainer.sanity_checking else trainer.num_val_batches)

    @property
    def total_test_batches_current_dataloader(self) -> Number:
        return self._current(self.trainer.num_test_batches)

    @property
    def total_predict_batches_current_dataloader(self) -> Number:
        return self._current(self.trainer.num_predict_batches)

    def has_dataloader_changed(self, dataloader_idx: int) -> bool:
        old, self._current_eval_dataloader_idx = self._current_eval_dataloader_idx, dataloader_idx
        return old != dataloader_idx

    def reset_dataloader_idx_tracker(self) -> None:
        self._current_eval_dataloader_idx = None

    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        self._trainer = trainer
        if not trainer.is_global_zero:  # one bar per run: the other processes stay quiet (Lightning)
            self.disable()

    def on_fit_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._interactive = None

    def on_validation_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._interactive = None if trainer.state.fn != "fit" else self._interactive

    def on_test_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._interactive = None


def _version(loggers: list[Any]) -> Any:
    if not loggers:
        return None
    if len(loggers) == 1:
        return getattr(loggers[0], "version", None)
    return "_".join(dict.fromkeys(str(getattr(lg, "version", "")) for lg in loggers))


class TQDMProgressBar(ProgressBar):
    """Lightning's default progress bar: tqdm bars for sanity check, training, validation and test.

    Args:
        refresh_rate: update the bars every this many batches (and at each loader's end); 0 disables them.
        process_position: offset the bars by this many lines (several bars at once).
        leave: keep each epoch's finished bar on screen.
    """

    BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"

    def __init__(self, refresh_rate: int = 1, process_position: int = 0, leave: bool = False) -> None:
        if "TQDM_MINITERS" in os.environ and type(refresh_rate) is int:  # Lightning: tqdm's setting is a floor
            refresh_rate = max(int(os.environ["TQDM_MINITERS"]), refresh_rate)
        super().__init__(refresh_rate)
        self._process_position = process_position
        self._leave = leave
        self._train_bar: Any = None
        self._eval_bar: Any = None
        self._eval_total: Optional[int] = None
        self._eval_desc = ""
        self._dl_idx: Optional[int] = None

    @property
    def process_position(self) -> int:
        return self._process_position

    def _tqdm(self, desc: str, *, leave: bool, position: int) -> Any:
        from tqdm.auto import tqdm  # type: ignore[import-untyped]

        return tqdm(
            desc=desc,
            position=2 * self._process_position + position,
            disable=self.is_disabled,
            leave=leave,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

    # --- training ----------------------------------------------------------------------------------------
    def on_train_start(self, trainer: Trainer, pl_module: Any) -> None:
        if self.interactive and self.is_enabled:
            self._train_bar = self._tqdm("Training", leave=True, position=0)

    def on_train_epoch_start(self, trainer: Trainer, pl_module: Any) -> None:
        total = _total(trainer.num_training_batches)
        if self._train_bar is not None:
            if self._leave:
                self._train_bar.close()
                self._train_bar = self._tqdm("Training", leave=True, position=0)
            self._train_bar.reset(total=total)
            self._train_bar.initial = 0
            self._train_bar.set_description(f"Epoch {trainer.current_epoch}")

    def on_train_batch_end(self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        n = batch_idx + 1
        total = _total(trainer.num_training_batches)
        if not self._should_update(n, total):
            return
        metrics = self.get_metrics(trainer, pl_module)
        bar = self._train_bar
        if bar is not None:
            bar.n = n
            bar.set_postfix(metrics, refresh=False)
            bar.refresh()
        elif not self.interactive:
            self._line(f"Epoch {trainer.current_epoch}", n, total, metrics, force=False)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: Any) -> None:
        if not self.is_enabled:
            return
        metrics = self.get_metrics(trainer, pl_module)  # the epoch values now
        bar = self._train_bar
        if bar is not None:
            bar.set_postfix(metrics)
        elif not self.interactive:
            n = trainer.state.batches_done
            self._line(f"Epoch {trainer.current_epoch}", n, _total(trainer.num_training_batches), metrics, force=True)

    def on_train_end(self, trainer: Trainer, pl_module: Any) -> None:
        if self._train_bar is not None:
            self._train_bar.close()
            self._train_bar = None

    # --- evaluation ----------------------------------------------------------------------------------------
    def _eval_start(self, desc: str, position: int, leave: bool) -> None:
        self._eval_desc = desc
        self._dl_idx = None
        if self.interactive and self.is_enabled:
            self._eval_bar = self._tqdm(desc, leave=leave, position=position)

    def _eval_batch_start(self, trainer: Trainer, dataloader_idx: int, totals: list[Number]) -> None:
        if dataloader_idx == self._dl_idx:
            return
        self._dl_idx = dataloader_idx
        self._eval_total = _total(totals[dataloader_idx]) if dataloader_idx < len(totals) else None
        if self._eval_bar is not None:
            self._eval_bar.reset(total=self._eval_total)
            self._eval_bar.initial = 0
            self._eval_bar.set_description(f"{self._eval_desc} DataLoader {dataloader_idx}")

    def _eval_batch_end(self, batch_idx: int, dataloader_idx: int) -> None:
        n = batch_idx + 1
        if not self._should_update(n, self._eval_total):
            return
        if self._eval_bar is not None:
            self._eval_bar.n = n
            self._eval_bar.refresh()
        elif not self.interactive and n == self._eval_total:
            self._line(f"{self._eval_desc} DataLoader {dataloader_idx}", n, self._eval_total, None, force=True)

    def _eval_end(self) -> None:
        if self._eval_bar is not None:
            self._eval_bar.close()
            self._eval_bar = None
        self._dl_idx = None

    def on_sanity_check_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._eval_start("Sanity Checking", 0, leave=False)

    def on_sanity_check_end(self, trainer: Trainer, pl_module: Any) -> None:
        self._eval_end()

    def on_validation_start(self, trainer: Trainer, pl_module: Any) -> None:
        super().on_validation_start(trainer, pl_module)
        if not trainer.sanity_checking:
            in_fit = trainer.state.fn == "fit"
            self._eval_start("Validation", 1 if in_fit else 0, leave=not in_fit)

    def on_validation_batch_start(
        self, trainer: Trainer, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        totals = trainer.num_sanity_val_batches if trainer.sanity_checking else trainer.num_val_batches
        self._eval_batch_start(trainer, dataloader_idx, totals)

    def on_validation_batch_end(
        self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._eval_batch_end(batch_idx, dataloader_idx)

    def on_validation_end(self, trainer: Trainer, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        self._eval_end()
        if self._train_bar is not None and trainer.state.fn == "fit":
            self._train_bar.set_postfix(self.get_metrics(trainer, pl_module))

    def on_test_start(self, trainer: Trainer, pl_module: Any) -> None:
        super().on_test_start(trainer, pl_module)
        self._eval_start("Testing", 0, leave=True)

    def on_test_batch_start(
        self, trainer: Trainer, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._eval_batch_start(trainer, dataloader_idx, trainer.num_test_batches)

    def on_test_batch_end(
        self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._eval_batch_end(batch_idx, dataloader_idx)

    def on_test_end(self, trainer: Trainer, pl_module: Any) -> None:
        self._eval_end()

    def on_exception(self, trainer: Trainer, pl_module: Any, exception: BaseException) -> None:
        for bar in (self._train_bar, self._eval_bar):
            if bar is not None:
                bar.close()
        self._train_bar = self._eval_bar = None
