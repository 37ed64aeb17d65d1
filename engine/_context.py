"""What the loops work with: the run's state, dispatcher, strategy, metrics and data hooks.

The Trainer owns one :class:`LoopContext` and binds each run's dispatcher to it
when the run starts; the loops read the Trainer's public options
(``max_steps``, ``limit_*_batches``...) through ``trainer`` and everything else
through the context, never through the Trainer's private members.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from typing_extensions import final

from loophooks.engine._data_hooks import DataConnector
from loophooks.engine._log_publish import MetricsPublisher
from loophooks.engine._signals import SignalGuard
from loophooks.engine._state import LoopState
from loophooks.engine._strategy import Strategy

if TYPE_CHECKING:
    from loophooks.engine._dispatch import Dispatcher
    from loophooks.engine._trainer import Trainer

__all__ = ["LoopContext"]


@final
class LoopContext:
    """The Trainer's working parts, shared by the loops, the run frame and checkpointing.

    Attributes:
        trainer: the Trainer, for its public options and properties.
        state: counters and stage (:class:`LoopState`).
        strategy: where the model runs, how it steps.
        metrics: what ``self.log`` writes to and the loggers read (engine/_log_publish.py).
        data: loaders and batch-transfer hooks (:class:`DataConnector`).
        signals: the run's SIGTERM handling; the loops check it between batches.
        dispatch: the current run's dispatcher; None before the first run.
    """

    __slots__ = ("data", "dispatch", "metrics", "signals", "state", "strategy", "trainer")

    def __init__(self, trainer: Trainer, strategy: Strategy) -> None:
        self.trainer = trainer
        self.state = LoopState()
        self.strategy = strategy
        self.metrics = MetricsPublisher(trainer)  # self.log's store and the metric dicts
        self.data = DataConnector(strategy)
        self.signals = SignalGuard()  # SIGTERM becomes SIGTERMException between batches (engine/_signals.py)
        self.dispatch: Optional[Dispatcher] = None

    def dispatcher(self) -> Dispatcher:
        """The current run's dispatcher (the loops run only inside a run)."""
        d = self.dispatch
        if d is None:
            raise RuntimeError("the Trainer has no model yet: call fit, validate, test or predict first")
        return d

    def __repr__(self) -> str:
        state: Any = self.state
        return f"LoopContext(state={state!r}, strategy={type(self.strategy).__name__})"
