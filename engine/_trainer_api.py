"""Trainer members Lightning users read: the loop's counters and flags, loaders in use, checkpoint callbacks, print.

A base class of :class:`~loophooks.engine.Trainer`, so the Trainer's own module
keeps to running the loops.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from loophooks.engine._eval_loop import EvalLoop
    from loophooks.engine._fit_loop import FitLoop
    from loophooks.engine._predict_loop import PredictLoop
    from loophooks.engine._state import LoopState

__all__ = ["TrainerAPI"]


def _as_given(loaders: Optional[list[Any]]) -> Any:
    """One loader as itself, several as a list; None when the stage has not asked for loaders (Lightning's shape)."""
    if loaders is None:
        return None
    return loaders[0] if len(loaders) == 1 else list(loaders)


class TrainerAPI:
    """The state's counters and flags (``training``, ``validating``, ``should_stop``, ...),
    ``train_dataloader``, ``val_dataloaders``, ``test_dataloaders``, ``predict_dataloaders``,
    ``checkpoint_callbacks`` and ``print``, as Lightning 2.6 defines them."""

    # Like Lightning, each entry point forgets the loaders of the previous ones: only the last run's show.
    _fit_loop: FitLoop
    _eval_loop: Optional[EvalLoop]
    _predict_loop: Optional[PredictLoop]
    state: LoopState
    callbacks: list[Any]

    if TYPE_CHECKING:

        @property
        def local_rank(self) -> int: ...

    # --- the loop state's counters and flags, under Lightning's names ---------------------------------
    @property
    def training(self) -> bool:
        return self.state.stage == "train"

    @property
    def validating(self) -> bool:
        return self.state.stage == "validate"

    @property
    def testing(self) -> bool:
        return self.state.stage == "test"

    @property
    def predicting(self) -> bool:
        return self.state.stage == "predict"

    @property
    def num_predict_batches(self) -> list[Any]:
        """Each predict loader's batches (after ``limit_predict_batches``) in the latest or running ``predict``."""
        return list(self._predict_loop.max_batches) if self._predict_loop is not None else []

    @property
    def sanity_checking(self) -> bool:
        return self.state.stage == "sanity_check"

    @property
    def evaluating(self) -> bool:
        return self.state.stage in ("validate", "test")

    @property
    def should_stop(self) -> bool:
        return self.state.should_stop

    @should_stop.setter
    def should_stop(self, value: bool) -> None:
        self.state.should_stop = bool(value)

    @property
    def is_last_batch(self) -> bool:
        return self.state.is_last_batch

    # --- loaders in use, checkpoint callbacks, print ------------------------------------------------
    @property
    def train_dataloader(self) -> Any:
        """The training loader ``fit`` uses (None before fit has asked for it, or after another entry point ran)."""
        loader = self._fit_loop.loader if self.state.fn == "fit" else None
        return getattr(loader, "iterables", loader)  # several loaders: as given (a list or dict), as Lightning

    @property
    def val_dataloaders(self) -> Any:
        """The validation loader(s) of fit or validate: one, a list, or None before they are requested."""
        fn = self.state.fn
        if fn == "fit":
            return _as_given(self._fit_loop.val_loop.loaders)
        loop = self._eval_loop
        return _as_given(loop.loaders) if fn == "validate" and loop is not None else None

    @property
    def test_dataloaders(self) -> Any:
        loop = self._eval_loop
        return _as_given(loop.loaders) if self.state.fn == "test" and loop is not None else None

    @property
    def predict_dataloaders(self) -> Any:
        loop = self._predict_loop
        return _as_given(loop.loaders) if self.state.fn == "predict" and loop is not None else None

    @property
    def checkpoint_callbacks(self) -> list[Any]:
        """Every ModelCheckpoint among the callbacks, in their order."""
        from loophooks.engine._callbacks import ModelCheckpoint

        return [c for c in self.callbacks if isinstance(c, ModelCheckpoint)]

    def print(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on local rank 0 only (once per machine), as Lightning's ``Trainer.print``."""
        if self.local_rank == 0:
            builtins.print(*args, **kwargs)
