"""What a training framework implements to be checked by the suite.

An adapter is a small object that runs one entry point of its trainer on a model,
data and callbacks that the suite builds. The suite builds the model on the
adapter's own base classes (``module_base``, ``callback_base``,
``datamodule_base``) and records every hook call, so the adapter never sees the
recorder.

Settings use Lightning's Trainer names; an adapter maps them to its own.
An adapter declares what its trainer supports in ``capabilities``: a scenario
that needs a missing capability is reported as *unsupported*, never as passed.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

from loophooks.spec import Stage

__all__ = ["CAPABILITIES", "Adapter", "TrainerSettings"]

CAPABILITIES: frozenset[str] = frozenset(
    {
        "fit",
        "validate",
        "test",
        "predict",
        "sanity_check",
        "multiple_val_loaders",
        "multiple_train_loaders",
        "multiple_eval_loaders",
        "datamodule",
        "configure_callbacks",
        "accumulation",
        "gradient_clipping",
        "lr_schedulers",
        "manual_optimization",
        "checkpoint_resume",
        "mid_epoch_resume",
        "val_check_interval",
        "max_steps",
        "skip_epoch",
        "zero_length_loaders",
        "custom_batch_transfer",
        "exceptions",
        "bf16-mixed",
        "16-mixed",
        "cuda",
        "distributed",
    }
)
"""Every capability name the suite knows; a scenario needs a subset of these."""


class TrainerSettings(TypedDict, total=False):
    """Trainer options, with Lightning's names and meanings."""

    max_epochs: int
    max_steps: int
    limit_train_batches: int | float
    limit_val_batches: int | float
    limit_test_batches: int | float
    limit_predict_batches: int | float
    num_sanity_val_steps: int
    check_val_every_n_epoch: int | None
    val_check_interval: int | float | None
    accumulate_grad_batches: int
    gradient_clip_val: float | None
    gradient_clip_algorithm: Literal["norm", "value"]
    precision: str
    accelerator: str
    devices: int
    strategy: str
    """``"ddp"`` for the distributed scenarios (``conformance/_distributed.py``)."""
    num_nodes: int
    enable_checkpointing: bool
    default_root_dir: str


@runtime_checkable
class Adapter(Protocol):
    """A trainer under test."""

    name: str
    """Short name shown in the report header and table."""

    capabilities: frozenset[str]
    """What the trainer supports: a subset of :data:`CAPABILITIES`."""

    module_base: type[Any]
    """Base class of models for this trainer (``LightningModule``, ``loophooks.LoopModule``)."""

    callback_base: type[Any]
    """Base class of callbacks for this trainer."""

    datamodule_base: type[Any] | None
    """Base class of datamodules, or ``None`` where datamodules are unsupported."""

    def run(
        self,
        fn: Stage,
        model: Any,
        *,
        settings: TrainerSettings,
        callbacks: list[Any],
        dataloaders: dict[str, Any] | None = None,
        datamodule: Any | None = None,
        ckpt_path: str | None = None,
        return_predictions: bool | None = None,
    ) -> Any:
        """Build a trainer with ``settings`` and ``callbacks`` and run ``fn``.

        ``dataloaders`` maps ``"train"``, ``"val"``, ``"test"``, ``"predict"`` to a
        loader or list of loaders, for the entry point's own arguments
        (``fit(model, train_dataloaders=..., val_dataloaders=...)``); it is
        ``None`` when a datamodule provides them. Returns what the entry point
        returns (predictions for ``predict``).
        """
        ...
