"""``OnExceptionCheckpoint``: save a checkpoint when fit (or any entry point) raises (Lightning's)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Union

from loophooks.engine.callbacks._base import Checkpoint

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["OnExceptionCheckpoint"]


class OnExceptionCheckpoint(Checkpoint):
    """Write ``dirpath/filename.ckpt`` when an exception ends the run; remove it when a run ends normally.

    ``fit(ckpt_path="last")`` considers this file too, so a crashed run resumes from it.
    """

    FILE_EXTENSION = ".ckpt"

    def __init__(self, dirpath: Union[str, os.PathLike[str]], filename: str = "on_exception") -> None:
        if not filename:
            raise ValueError("OnExceptionCheckpoint(filename=...) cannot be empty")
        self.dirpath = dirpath
        self.filename = filename

    @property
    def ckpt_path(self) -> str:
        return os.path.join(self.dirpath, self.filename + self.FILE_EXTENSION)

    def on_exception(self, trainer: Trainer, pl_module: Any, exception: BaseException) -> None:
        trainer.save_checkpoint(self.ckpt_path)  # atomic: an older file stays whole until this one is in place

    def teardown(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        if trainer.is_global_zero:
            try:
                os.remove(self.ckpt_path)
            except FileNotFoundError:
                pass
