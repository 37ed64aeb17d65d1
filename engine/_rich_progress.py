"""``RichProgressBar``: Lightning's rich bar, drawn with rich (``pip install 'loophooks[rich]'``).

Rows (see :mod:`loophooks.engine._rich_columns`): ``Epoch N/M`` with the metrics
of ``prog_bar=True`` values and ``v_num`` on the right, ``Validation``, ``Testing``,
``Predicting``; the sanity check's row is hidden when it ends, the validation row
when a validation run inside fit ends, as Lightning does.

``refresh_rate`` is Lightning's meaning here: redraws per second at most (100 by
default; 0 turns the bar off). Lightning redraws from a thread; this bar redraws
from the callback hooks instead, when at least ``1/refresh_rate`` s have passed
and at each loader's last batch, so what it shows is the same without a thread.

On a terminal (rich's console says so; ``console_kwargs={"force_terminal": True}``
forces it) the rows are redrawn in place. Elsewhere (a log file, CI) nothing is
redrawn: the row of the running task is printed as a line of its own at a loader's
end, at each training epoch's end, and otherwise at most every ``LINE_INTERVAL_S``.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Optional, Union

import torch

from loophooks.engine import _extras
from loophooks.engine._progress import ProgressBar
from loophooks.engine._rich_theme import RichProgressBarTheme, check_console_kwargs, check_theme

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["RichProgressBar", "RichProgressBarTheme"]

_LINE_WIDTH = 10_000


class RichProgressBar(ProgressBar):
    """Lightning's ``RichProgressBar``: ``refresh_rate`` (redraws per second, 0: off), ``leave`` (keep each
    epoch's finished row), ``theme`` (:class:`RichProgressBarTheme`), ``console_kwargs`` (passed to
    ``rich.reconfigure``, so they set rich's global console, as in Lightning; without them the global console is
    used as it is, where Lightning's bar resets it to rich's defaults at each run).

    Subclasses may override ``configure_columns(trainer)`` to return other rich ``ProgressColumn`` objects; the
    metrics column is added after them.
    """

    def __init__(
        self,
        refresh_rate: int = 100,
        leave: bool = False,
        theme: Any = None,
        console_kwargs: Optional[dict[str, Any]] = None,
    ) -> None:
        if not _extras.rich_available():
            raise ModuleNotFoundError(
                "RichProgressBar needs the 'rich' package (>= 10.2.2): pip install 'loophooks[rich]' "
                "(or use TQDMProgressBar)"
            )
        super().__init__(refresh_rate)
        self.theme = RichProgressBarTheme() if theme is None else theme
        check_theme(self.theme)
        self._leave = bool(leave)
        self._console_kwargs = check_console_kwargs(console_kwargs)
        self._console: Any = None
        self.progress: Any = None  # rich.progress.Progress while a run shows
        self._stopped = False
        self._live = False  # redrawn in place (a terminal), or printed line by line
        self._last_draw = -math.inf
        self.train_progress_bar_id: Optional[int] = None
        self.val_sanity_progress_bar_id: Optional[int] = None
        self.val_progress_bar_id: Optional[int] = None
        self.test_progress_bar_id: Optional[int] = None
        self.predict_progress_bar_id: Optional[int] = None
        self._totals: dict[int, Union[int, float]] = {}  # each task's total, without a search per batch

    # --- Lightning's members ------------------------------------------------------------------------------
    def _task(self, task_id: Optional[int]) -> Any:
        if self.progress is None or task_id is None:
            raise AttributeError(f"{type(self).__name__}: that progress bar is not shown now")
        return next(task for task in self.progress.tasks if task.id == task_id)

    @property
    def train_progress_bar(self) -> Any:
        return self._task(self.train_progress_bar_id)

    @property
    def val_sanity_check_bar(self) -> Any:
        return self._task(self.val_sanity_progress_bar_id)

    @property
    def val_progress_bar(self) -> Any:
        return self._task(self.val_progress_bar_id)

    @property
    def test_progress_bar(self) -> Any:
        return self._task(self.test_progress_bar_id)

    def configure_columns(self, trainer: Trainer) -> list[Any]:
        """The row's columns before the metrics: description, bar, batch counts, time, speed (Lightning's)."""
        from loophooks.engine import _rich_columns as columns

        theme = self.theme
        return [
            columns.DescriptionColumn(),
            columns.BarColumn(theme.progress_bar, theme.progress_bar_finished, theme.progress_bar_pulse),
            columns.CountColumn(theme.batch_progress),
            columns.TimeColumn(theme.time),
            columns.SpeedColumn(theme.processing_speed),
        ]

    def get_metrics(self, trainer: Trainer, pl_module: Any) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        return {k: v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v for k, v in items.items()}

    def _train_description(self, trainer: Trainer) -> str:
        text = f"Epoch {trainer.current_epoch}"
        if trainer.max_epochs is not None:
            text += f"/{trainer.max_epochs - 1}"
        # as wide as "Validation", so the rows' columns do not shift when the validation row appears
        return f"{text:{len(self.validation_description)}}"

    # --- the rich display ---------------------------------------------------------------------------------
    def _init_progress(self, trainer: Trainer) -> None:
        if not self.is_enabled or (self.progress is not None and not self._stopped):
            return
        import rich
        from rich.progress import Progress

        from loophooks.engine._rich_columns import MetricsColumn

        self._reset_ids()
        if self._console_kwargs:
            rich.reconfigure(**self._console_kwargs)
        console = self._console = rich.get_console()
        self._live = bool((console.is_terminal and not console.is_dumb_terminal) or console.is_jupyter)
        self.progress = Progress(
            *self.configure_columns(trainer),
            MetricsColumn(self.theme.metrics),
            console=console,
            auto_refresh=False,  # redrawn from the hooks (_draw), at most refresh_rate times a second
            refresh_per_second=self.refresh_rate,
        )
        if self._live:
            self.progress.start()
        self._stopped = False
        # a terminal shows the first batch at once; a file gets its first line after an interval or at an end
        self._last_draw = -math.inf if self._live else time.monotonic()

    def _stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self._stopped = True

    def _reset_ids(self) -> None:
        self.train_progress_bar_id = self.val_sanity_progress_bar_id = self.val_progress_bar_id = None
        self.test_progress_bar_id = self.predict_progress_bar_id = None
        self._totals = {}

    def _add_task(self, total: Union[int, float], description: str, visible: bool = True) -> int:
        style = self.theme.description
        label = f"[{style}]{description}" if style else description
        shown = total if isinstance(total, float) and math.isinf(total) else int(total)
        task_id = int(self.progress.add_task(label, total=shown, visible=visible))
        self._totals[task_id] = shown
        return task_id

    def _hide(self, task_id: Optional[int]) -> None:
        if self.progress is not None and task_id is not None:
            self.progress.update(task_id, advance=0, visible=False)

    def _due(self, force: bool) -> bool:
        """Whether to draw now: forced, or the interval since the last drawing has passed."""
        now = time.monotonic()
        interval = 1.0 / self.refresh_rate if self._live else self.LINE_INTERVAL_S
        if force or now - self._last_draw >= interval:
            self._last_draw = now
            return True
        return False

    def _draw(self, task_id: Optional[int]) -> None:
        """Redraw the display (terminal), or print the row of ``task_id`` as a line (anything else)."""
        if self.progress is None:
            return
        if self._live:
            self.progress.refresh()
        elif task_id is not None:
            from rich.console import Console

            # one line, however wide: at the console's width a long metrics text would wrap into a narrow column
            console = self._console
            wide = Console(file=console.file, width=_LINE_WIDTH, color_system=console.color_system, highlight=False)
            wide.print(self.progress.make_tasks_table([self._task(task_id)]))

    def _advance(self, task_id: Optional[int], current: int) -> bool:
        """Move a row to ``current`` batches (which shows it); whether that is its loader's last batch."""
        if self.progress is None or self.is_disabled or task_id is None:
            return False
        self.progress.update(task_id, completed=current, visible=True)
        return bool(current == self._totals.get(task_id))

    def _eval_batch_end(self, task_id: Optional[int], current: int, *, line: bool = True) -> None:
        last = self._advance(task_id, current)
        if not line and not self._live:  # the sanity check's row is not printed to a file
            return
        if task_id is not None and self.progress is not None and self._due(force=last):
            self._draw(task_id)

    def _update_metrics(self, trainer: Trainer, pl_module: Any) -> None:
        if self.progress is None or self.is_disabled or self.train_progress_bar_id is None:
            return
        theme = self.theme
        texts = []
        for name, value in self.get_metrics(trainer, pl_module).items():
            if not isinstance(value, str):
                try:
                    value = f"{value:{theme.metrics_format}}"
                except (TypeError, ValueError):
                    value = str(value)
            texts.append(f"{name}: {value}")
        self.progress.update(self.train_progress_bar_id, metrics=theme.metrics_text_delimiter.join(texts))

    # --- hooks ----------------------------------------------------------------------------------------------
    def on_train_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._init_progress(trainer)

    def on_validation_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._init_progress(trainer)

    def on_test_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._init_progress(trainer)

    def on_predict_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._init_progress(trainer)

    def on_sanity_check_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._init_progress(trainer)

    def on_sanity_check_end(self, trainer: Trainer, pl_module: Any) -> None:
        self._hide(self.val_sanity_progress_bar_id)
        self._draw(None)

    def on_train_epoch_start(self, trainer: Trainer, pl_module: Any) -> None:
        if self.is_disabled:
            return
        if self.train_progress_bar_id is not None and self._leave:  # the finished epoch's row stays on screen
            self._stop()
            self._init_progress(trainer)
        total, description = self.total_train_batches, self._train_description(trainer)
        if self.progress is not None:
            if self.train_progress_bar_id is None:
                self.train_progress_bar_id = self._add_task(total, description)
            else:
                shown = total if math.isinf(total) else int(total)
                self.progress.reset(self.train_progress_bar_id, total=shown, description=description, visible=True)
                self._totals[self.train_progress_bar_id] = shown
        self._draw(None)

    def on_train_batch_end(self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.is_disabled or self.progress is None:
            return
        if self.train_progress_bar_id is None:  # resumed in the middle of an epoch: no epoch start came
            self.train_progress_bar_id = self._add_task(self.total_train_batches, self._train_description(trainer))
        last = self._advance(self.train_progress_bar_id, batch_idx + 1)
        if self._due(force=last and self._live):  # in a file, the epoch's end prints the finished row
            self._update_metrics(trainer, pl_module)
            self._draw(self.train_progress_bar_id)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: Any) -> None:
        self._update_metrics(trainer, pl_module)  # the epoch values now
        if self.is_enabled and self._due(force=True):
            self._draw(self.train_progress_bar_id)

    def on_validation_batch_start(
        self, trainer: Trainer, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.is_disabled or self.progress is None or not self.has_dataloader_changed(dataloader_idx):
            return
        total = self.total_val_batches_current_dataloader
        if trainer.sanity_checking:
            self._hide(self.val_sanity_progress_bar_id)
            self.val_sanity_progress_bar_id = self._add_task(total, self.sanity_check_description, visible=False)
        else:
            self._hide(self.val_progress_bar_id)
            self.val_progress_bar_id = self._add_task(total, self.validation_description, visible=False)
        self._draw(None)

    def on_validation_batch_end(
        self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if trainer.sanity_checking:
            self._eval_batch_end(self.val_sanity_progress_bar_id, batch_idx + 1, line=False)
        else:
            self._eval_batch_end(self.val_progress_bar_id, batch_idx + 1)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: Any) -> None:
        if self.is_enabled and self.val_progress_bar_id is not None and trainer.state.fn == "fit":
            self._hide(self.val_progress_bar_id)
            self._draw(None)

    def on_validation_end(self, trainer: Trainer, pl_module: Any) -> None:
        if trainer.state.fn == "fit":
            self._update_metrics(trainer, pl_module)
        self.reset_dataloader_idx_tracker()

    def on_test_batch_start(
        self, trainer: Trainer, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.is_disabled or self.progress is None or not self.has_dataloader_changed(dataloader_idx):
            return
        self._hide(self.test_progress_bar_id)
        self.test_progress_bar_id = self._add_task(self.total_test_batches_current_dataloader, self.test_description)
        self._draw(None)

    def on_test_batch_end(
        self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._eval_batch_end(self.test_progress_bar_id, batch_idx + 1)

    def on_test_end(self, trainer: Trainer, pl_module: Any) -> None:
        self.reset_dataloader_idx_tracker()

    def on_predict_batch_start(
        self, trainer: Trainer, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.is_disabled or self.progress is None or not self.has_dataloader_changed(dataloader_idx):
            return
        self._hide(self.predict_progress_bar_id)
        total = self.total_predict_batches_current_dataloader
        self.predict_progress_bar_id = self._add_task(total, self.predict_description)
        self._draw(None)

    def on_predict_batch_end(
        self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._eval_batch_end(self.predict_progress_bar_id, batch_idx + 1)

    def on_predict_end(self, trainer: Trainer, pl_module: Any) -> None:
        self.reset_dataloader_idx_tracker()

    def teardown(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        self._stop()  # on a terminal, rich leaves the last frame on screen

    def on_exception(self, trainer: Trainer, pl_module: Any, exception: BaseException) -> None:
        self._stop()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["progress"] = state["_console"] = None  # both hold locks, which do not pickle
        return state
