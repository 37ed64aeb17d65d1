"""The one object that holds a run's counters and stage.

Loops read and advance these fields; nothing else keeps a copy. The names
follow Lightning's Trainer properties: ``epoch`` is ``current_epoch`` (the
number of finished epochs; it advances after ``on_train_epoch_end``),
``global_step`` counts optimizer steps.
"""

from __future__ import annotations

from typing import Literal

from typing_extensions import final

from loophooks.spec import Stage
from loophooks.spec._hook_names import HookName

__all__ = ["LoopState", "RunningStage", "Status"]

RunningStage = Literal["train", "sanity_check", "validate", "test", "predict"]
"""What the loop is doing right now (Lightning's ``RunningStage``)."""

Status = Literal["initializing", "running", "finished", "interrupted"]


@final
class LoopState:
    """Counters and stage of the current run.

    Attributes:
        fn: the entry point running (``"fit"``, ``"validate"``, ``"test"``, ``"predict"``), or None.
        stage: what the loop is doing now; validation inside fit is ``"validate"``.
        status: ``initializing`` before the first run, then running / finished / interrupted.
        epoch: finished training epochs (Lightning's ``current_epoch``).
        global_step: optimizer steps taken (manual optimization: ``optimizer.step()`` calls).
        batch_idx: index of the current training batch within its epoch (-1 before the first).
        total_batch_idx: index of the current training batch across epochs.
        batches_done: training batches whose ``on_train_batch_end`` has finished this epoch.
        epoch_open: ``on_train_epoch_start`` ran for ``epoch`` and the epoch has not ended.
        is_last_batch: the current training batch is the epoch's last.
        eval_batch_idx: index of the current evaluation (or predict) batch within its loader.
        dataloader_idx: index of the current evaluation (or predict) loader.
        should_stop: a callback or the model asked training to stop.
        hook: name of the hook running now, for error notes (None between hooks).
    """

    __slots__ = (
        "batch_idx",
        "batches_done",
        "dataloader_idx",
        "epoch",
        "epoch_open",
        "eval_batch_idx",
        "fn",
        "global_step",
        "hook",
        "is_last_batch",
        "should_stop",
        "stage",
        "status",
        "total_batch_idx",
    )

    def __init__(self) -> None:
        self.fn: Stage | None = None
        self.stage: RunningStage | None = None
        self.status: Status = "initializing"
        self.epoch = 0
        self.global_step = 0
        self.batch_idx = -1
        self.total_batch_idx = -1
        self.batches_done = 0
        self.epoch_open = False
        self.is_last_batch = False
        self.eval_batch_idx = -1
        self.dataloader_idx = 0
        self.should_stop = False
        self.hook: HookName | None = None

    def where(self) -> str:
        """Where the run is, for error notes."""
        parts = [f"stage {self.stage or self.fn or 'none'}", f"epoch {self.epoch}", f"global step {self.global_step}"]
        if self.stage == "train":
            parts.append(f"batch {self.batch_idx}")
        elif self.stage is not None:
            parts.append(f"batch {self.eval_batch_idx} of loader {self.dataloader_idx}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in sorted(self.__slots__))
        return f"LoopState({fields})"
