"""``HookName``: every hook name of the table (spec/_table.py's ``HOOKS`` and ``CALLBACK_HOOKS``) as a Literal.

Engine code that names a hook (``Dispatcher.hook("on_train_start")``) takes a
``HookName``, so ``mypy --strict`` flags a misspelled name where it is written
instead of a run silently calling nothing. A name built at run time (an f-string)
goes through :func:`hook_name`, which checks it against the table.
``tests/spec/test_hook_names.py`` keeps this list equal to the table's names, in the table's order.
"""

from __future__ import annotations

from typing import Final, Literal, cast, get_args

__all__ = ["HOOK_NAMES", "HookName", "hook_name"]

HookName = Literal[
    "on_fit_start",
    "on_fit_end",
    "on_train_start",
    "on_train_end",
    "on_validation_start",
    "on_validation_end",
    "on_test_start",
    "on_test_end",
    "on_predict_start",
    "on_predict_end",
    "on_train_batch_start",
    "on_train_batch_end",
    "on_validation_batch_start",
    "on_validation_batch_end",
    "on_test_batch_start",
    "on_test_batch_end",
    "on_predict_batch_start",
    "on_predict_batch_end",
    "on_validation_model_zero_grad",
    "on_validation_model_eval",
    "on_validation_model_train",
    "on_test_model_eval",
    "on_test_model_train",
    "on_predict_model_eval",
    "on_train_epoch_start",
    "on_train_epoch_end",
    "on_validation_epoch_start",
    "on_validation_epoch_end",
    "on_test_epoch_start",
    "on_test_epoch_end",
    "on_predict_epoch_start",
    "on_predict_epoch_end",
    "on_before_zero_grad",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "configure_sharded_model",
    "configure_model",
    "prepare_data",
    "setup",
    "teardown",
    "train_dataloader",
    "test_dataloader",
    "val_dataloader",
    "predict_dataloader",
    "transfer_batch_to_device",
    "on_before_batch_transfer",
    "on_after_batch_transfer",
    "on_load_checkpoint",
    "on_save_checkpoint",
    "training_step",
    "validation_step",
    "test_step",
    "predict_step",
    "configure_optimizers",
    "configure_callbacks",
    "backward",
    "optimizer_step",
    "optimizer_zero_grad",
    "lr_scheduler_step",
    "configure_gradient_clipping",
    "on_sanity_check_start",
    "on_sanity_check_end",
    "on_exception",
    "state_dict",
    "load_state_dict",
]

HOOK_NAMES: Final[frozenset[str]] = frozenset(get_args(HookName))


def hook_name(name: str) -> HookName:
    """``name`` as a :data:`HookName`, after checking that the table has it (ValueError otherwise)."""
    if name not in HOOK_NAMES:
        raise ValueError(f"{name!r} is not a hook of loophooks.spec's table (HOOKS or CALLBACK_HOOKS)")
    return cast(HookName, name)  # checked above: the one conversion from str
