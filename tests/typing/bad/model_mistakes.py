# mypy: enable-error-code="explicit-override"
# pyright: reportImplicitOverride=true
"""Mistakes in models and callbacks that types catch, each with its error; test_runtime_agrees.py runs each
flagged class and checks that it fails (or, for a hook that no longer exists, is never called)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import StepLR
from typing_extensions import override

from loophooks import LoopModule, Trainer
from loophooks.engine import Callback
from loophooks.spec import STEP_OUTPUT, OptimizerLRScheduler, OptimizerLRSchedulerConfig


class Base(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor | None:
        return self.layer(batch[0]).sum()  # type: ignore[no-any-return]

    def configure_optimizers(self) -> OptimizerLRScheduler:
        return torch.optim.SGD(self.parameters(), lr=0.1)


# --- on_train_batch_start: annotated `Literal[-1] | None`, "skip this batch" is caught --------------------
class SkipsWithTrue(Base):
    @override
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> Literal[-1] | None:
        return True  # E: [return-value] Incompatible return value type


class SkipsWithOne(Base):
    @override
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> Literal[-1] | None:
        return 1  # E: [return-value] Incompatible return value type


# --- configure_optimizers' dicts: misspelled keys ------------------------------------------------------
class SchedulerKey(Base):
    @override
    def configure_optimizers(self) -> OptimizerLRScheduler:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        return {"optimizer": optimizer, "scheduler": StepLR(optimizer, 1)}  # E: [dict-item] Dict entry


class IntervalKey(Base):
    @override
    def configure_optimizers(self) -> OptimizerLRScheduler:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": StepLR(optimizer, 1), "intervall": "step"}}  # E: [dict-item] Dict entry


class TypedDictKey(Base):
    @override
    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        return {"optimizer": optimizer, "lr_schedulers": StepLR(optimizer, 1)}  # E: [typeddict-unknown-key] "lr_schedulers"


# --- manual_backward with Lightning 1.x's optimizer argument -------------------------------------------
class OldManualBackward(Base):
    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    @override
    def training_step(self, batch: list[Tensor], batch_idx: int) -> None:
        opt = self.optimizers(as_list=True)[0]
        self.manual_backward(self.layer(batch[0]).sum(), opt)  # E: [arg-type] Argument 2 to "manual_backward"
        opt.step()


# --- dataloader_idx required: it is passed only when there are several loaders -------------------------
class RequiresLoaderIndex(Base):
    def validation_step(self, batch: list[Tensor], batch_idx: int) -> None:
        return None

    @override
    def on_validation_batch_end(self, outputs: STEP_OUTPUT, batch: Any, batch_idx: int, dataloader_idx: int) -> None:  # E: [override] Signature of "on_validation_batch_end"
        pass


class CallbackRequiresLoaderIndex(Callback):
    @override
    def on_validation_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int) -> None:  # E: [override] Signature of "on_validation_batch_start"
        self.last = (batch_idx, dataloader_idx)


# --- a hook that no longer exists: only @override catches it --------------------------------------------
class RemovedHook(Base):
    @override
    def on_epoch_end(self) -> None:  # E: [misc] marked as an override, but no base method
        pass


# --- with explicit overrides demanded (the comments at the top), a forgotten @override ------------------
class ForgetsOverride(Base):
    def on_train_epoch_start(self) -> None:  # E: [explicit-override] is not using @override
        pass


# --- a step that requires more than the loop passes: caught where the Trainer is called -----------------
class StepWithExtraParameter(LoopModule):
    def training_step(self, batch: Any, batch_idx: int, hiddens: Tensor) -> Tensor:
        return hiddens

    def configure_optimizers(self) -> Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def run() -> None:
    Trainer().fit(StepWithExtraParameter())  # E: [arg-type] "StepWithExtraParameter"
