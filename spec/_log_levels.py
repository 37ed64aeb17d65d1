"""Where ``self.log`` may be called, as values the hook table (``Hook.log``) holds.

A hook either allows logging with one of three shapes of :class:`LogLevels`, or
refuses it (:data:`REFUSED`), or has no rule at all (``None`` in the table: Lightning
2.6's validator does not know the hook). ``spec/_logging.py`` turns the table's
entries into ``LOGGING``, the per-hook map the engine reads.
"""

from __future__ import annotations

from typing import Final, Literal

from typing_extensions import final

__all__ = ["LOG_EPOCH", "LOG_EVAL_STEP", "LOG_STEP", "REFUSED", "LogLevels", "LogRule"]


@final
class LogLevels:
    """What ``self.log`` may do inside one hook.

    Attributes:
        allowed_on_step: the values ``on_step`` may take there.
        allowed_on_epoch: the values ``on_epoch`` may take there.
        default_on_step: ``on_step`` when the call leaves it ``None``.
        default_on_epoch: ``on_epoch`` when the call leaves it ``None``.
    """

    __slots__ = ("allowed_on_epoch", "allowed_on_step", "default_on_epoch", "default_on_step")

    def __init__(
        self,
        allowed_on_step: tuple[bool, ...],
        allowed_on_epoch: tuple[bool, ...],
        default_on_step: bool,
        default_on_epoch: bool,
    ) -> None:
        self.allowed_on_step = allowed_on_step
        self.allowed_on_epoch = allowed_on_epoch
        self.default_on_step = default_on_step
        self.default_on_epoch = default_on_epoch

    def __repr__(self) -> str:
        return (
            f"LogLevels(on_step={self.allowed_on_step} default {self.default_on_step}, "
            f"on_epoch={self.allowed_on_epoch} default {self.default_on_epoch})"
        )


# Three shapes cover every hook that may log:
LOG_STEP: Final = LogLevels((False, True), (False, True), True, False)
"""Training batch hooks and the optimisation's methods: per step by default."""
LOG_EVAL_STEP: Final = LogLevels((False, True), (False, True), False, True)
"""Evaluation batch hooks and steps: per epoch by default."""
LOG_EPOCH: Final = LogLevels((False,), (True,), False, True)
"""Epoch and stage hooks: epoch values only."""

REFUSED: Final = "refused"
"""``self.log`` is refused in the hook: nothing would publish what it logs."""

LogRule = LogLevels | Literal["refused"] | None
"""A hook's logging rule in the table: its levels, :data:`REFUSED`, or ``None`` for no rule."""
