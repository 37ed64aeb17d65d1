"""loophooks.loggers: where logged metrics and hyperparameters go (Lightning's logger interface).

``CSVLogger`` needs nothing; ``TensorBoardLogger`` needs ``pip install loophooks[tensorboard]``.
Subclass :class:`Logger` for your own sink.
"""

from loophooks.engine._loggers import CSVLogger, Logger, TensorBoardLogger

__all__ = ["CSVLogger", "Logger", "TensorBoardLogger"]
