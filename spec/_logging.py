"""The logging contract in machine-readable form: where ``self.log`` may be called, with which defaults.

``LOGGING`` maps every hook name to a :class:`LogLevels` (logging allowed there,
with the allowed and default ``on_step`` / ``on_epoch`` values) or to ``None``
(``self.log`` is refused there). Lightning 2.6 holds the same rules; the engine
reads this table, and the prose beside it is spec/METRICS.md.

``PUBLICATION`` says which metric dictionary a logged value reaches, and when.
"""

from __future__ import annotations

from typing import Final, Optional

from typing_extensions import final

__all__ = ["LOGGING", "PUBLICATION", "REDUCTIONS", "LogLevels", "logging_levels"]


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
_STEP = LogLevels((False, True), (False, True), True, False)  # training batch hooks: per step by default
_EVAL_STEP = LogLevels((False, True), (False, True), False, True)  # evaluation batch hooks: per epoch by default
_EPOCH = LogLevels((False,), (True,), False, True)  # epoch and stage hooks: epoch values only

_STEP_HOOKS = (
    "training_step",
    "on_train_batch_start",
    "on_train_batch_end",
    "on_before_backward",
    "backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "optimizer_step",
    "configure_gradient_clipping",
    "clip_gradients",
    "on_before_zero_grad",
    "optimizer_zero_grad",
)
_EVAL_STEP_HOOKS = (
    "validation_step",
    "test_step",
    "on_validation_batch_start",
    "on_validation_batch_end",
    "on_test_batch_start",
    "on_test_batch_end",
)
_EPOCH_HOOKS = (
    "on_train_start",
    "on_train_epoch_start",
    "on_train_epoch_end",
    "on_validation_start",
    "on_validation_epoch_start",
    "on_validation_epoch_end",
    "on_test_start",
    "on_test_epoch_start",
    "on_test_epoch_end",
)
# Hooks where self.log is refused: nothing would publish what they log (before or after every loop, predict,
# data and checkpoint hooks).
_REFUSED = (
    "lr_scheduler_step",
    "on_fit_start",
    "on_fit_end",
    "on_sanity_check_start",
    "on_sanity_check_end",
    "on_train_end",
    "on_validation_end",
    "on_test_end",
    "on_predict_start",
    "on_predict_end",
    "on_predict_epoch_start",
    "on_predict_epoch_end",
    "on_before_batch_transfer",
    "transfer_batch_to_device",
    "on_after_batch_transfer",
    "on_predict_batch_start",
    "on_predict_batch_end",
    "on_exception",
    "state_dict",
    "on_save_checkpoint",
    "on_load_checkpoint",
    "load_state_dict",
    "setup",
    "teardown",
    "configure_sharded_model",
    "configure_model",
    "predict_step",
    "configure_optimizers",
    "train_dataloader",
    "val_dataloader",
    "test_dataloader",
    "prepare_data",
    "configure_callbacks",
    "on_validation_model_zero_grad",
    "on_validation_model_eval",
    "on_test_model_eval",
    "on_validation_model_train",
    "on_test_model_train",
)

LOGGING: Final[dict[str, Optional[LogLevels]]] = {
    **{h: _STEP for h in _STEP_HOOKS},
    **{h: _EVAL_STEP for h in _EVAL_STEP_HOOKS},
    **{h: _EPOCH for h in _EPOCH_HOOKS},
    **{h: None for h in _REFUSED},
}
"""Every hook: its :class:`LogLevels`, or ``None`` where ``self.log`` is refused."""

REDUCTIONS: Final[tuple[str, ...]] = ("mean", "sum", "max", "min")
"""``reduce_fx`` names (``"avg"`` is ``"mean"``; ``torch.mean``/``sum``/``max``/``min`` and the builtins
``sum``/``max``/``min`` name the same reductions). Any other callable is refused."""

PUBLICATION: Final[dict[str, str]] = {
    "callback_metrics/train": (
        "after each training batch: every training value's step value under its name (and name_step when "
        "on_step and on_epoch); after the epoch's last batch and again after on_train_epoch_end: the epoch values "
        "under name and name_epoch"
    ),
    "callback_metrics/eval": (
        "after each evaluation loader: its on_epoch values (name/dataloader_idx_N with several loaders); after "
        "on_{stage}_epoch_end: the values logged in the epoch hooks. Step values never reach callback_metrics"
    ),
    "logged_metrics": "the values with logger=True, under name_step / name_epoch when both levels are on",
    "progress_bar_metrics": "the values with prog_bar=True as Python numbers, under the same keys as logged_metrics",
    "validate/test return": (
        "one dict per loader: that loader's logged epoch values plus the values logged in the epoch hooks"
    ),
    "reset": (
        "callback/logged/progress-bar dicts are emptied at the start of each fit/validate/test and after the "
        "sanity check; epoch accumulators after on_train_epoch_end is published and after on_{stage}_end"
    ),
}
"""When each metric dictionary changes (prose, checked by the conformance scenarios)."""


def logging_levels(hook: str) -> Optional[LogLevels]:
    """The :class:`LogLevels` of ``hook``; ``None`` where logging is refused; KeyError for an unknown hook."""
    return LOGGING[hook]
