"""Settings that determine a run's exact hook sequence.

A :class:`Scenario` is the input to :func:`loophooks.spec.expected_calls`, to the
conformance catalogue, and to the adapters that turn it into a real run. Trainer
options keep Lightning's names and meanings.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from typing_extensions import final

__all__ = ["Fault", "Resume", "Scenario", "Stage"]

Stage = Literal["fit", "validate", "test", "predict"]


@final
@dataclass(frozen=True)
class Resume:
    """Save a checkpoint during a first run, then fit again from it.

    ``epoch`` and ``batch`` say where the first run saves: after the training
    batch ``batch`` (0-based) of epoch ``epoch``; ``batch=None`` means at the end
    of that epoch. A callback placed after all the others saves, as a checkpoint
    callback does: in ``on_train_batch_end`` (or ``on_train_epoch_end``), after
    the other callbacks' hook and before the module's. The first run then goes on
    to its end; the second fits the same scenario from the checkpoint.
    """

    epoch: int = 0
    batch: int | None = None


@final
@dataclass(frozen=True)
class Fault:
    """Raise ``RuntimeError`` in the module's hook ``where`` at training batch ``batch`` of epoch ``epoch``.

    The batch is the one whose ``on_train_batch_start`` ran last in that epoch
    (so ``on_train_epoch_end`` of a 4-batch epoch is at ``batch=3``); the hook is
    recorded, then raises.
    """

    where: str = "training_step"
    epoch: int = 0
    batch: int = 0


@final
@dataclass(frozen=True)
class Scenario:
    """One run: which entry point, what data, which Trainer options, which events.

    Loader sizes are batches per loader (datasets of ``n * 2`` samples with batch
    size 2). ``val_batches`` etc. hold one entry per loader; more than one entry
    means several loaders and ``dataloader_idx`` in the eval hooks.
    """

    name: str = "fit"
    fn: Stage = "fit"
    # data
    train_batches: int = 4
    # more than one entry: that many training loaders given as a list, read together (Lightning's
    # max_size_cycle: the hooks see a list of batches); train_batches is then the longest's count
    combined_train: tuple[int, ...] = ()
    val_batches: tuple[int, ...] = (2,)
    test_batches: tuple[int, ...] = (2,)
    predict_batches: tuple[int, ...] = (2,)
    datamodule: bool = False
    custom_batch: bool = False
    # Trainer options (Lightning's names)
    max_epochs: int = 1
    max_steps: int = -1
    limit_train_batches: int | float | None = None
    limit_val_batches: int | float | None = None
    limit_test_batches: int | float | None = None
    limit_predict_batches: int | float | None = None
    num_sanity_val_steps: int = 2
    check_val_every_n_epoch: int | None = 1
    val_check_interval: int | float | None = None
    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = None
    gradient_clip_algorithm: Literal["norm", "value"] = "norm"
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"
    device: Literal["cpu", "cuda"] = "cpu"
    return_predictions: bool | None = None
    # the model
    manual_optimization: bool = False
    lr_scheduler: Literal["step", "epoch"] | None = None
    skip_epoch_at: tuple[int, int] | None = None  # (epoch, batch): on_train_batch_start returns -1
    callbacks: int = 1
    model_callbacks: int = 0  # callbacks returned by configure_callbacks
    mode_hooks: bool = True  # the model overrides on_validation_model_train / on_test_model_train
    frozen_submodule: bool = False  # a submodule kept in eval mode, without gradients
    # events
    resume: Resume | None = None
    fault: Fault | None = None
    tags: frozenset[str] = field(default_factory=frozenset)

    def with_(self, **changes: object) -> Scenario:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)  # type: ignore[arg-type]
