"""Hook overrides that break the spec's signatures: each is caught where the class is defined."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from loophooks.spec import Callback, DataHooks, ModelHooks


class WrongParameterType(nn.Module, ModelHooks):
    def on_train_batch_start(self, batch: Any, batch_idx: str) -> None:  # E: [override] Argument 2 of "on_train_batch_start"
        pass


class MissingParameter(nn.Module, ModelHooks):
    def on_validation_batch_end(self, outputs: Any, batch: Any) -> None:  # E: [override] Signature of "on_validation_batch_end"
        pass


class ExtraRequiredParameter(nn.Module, ModelHooks):
    def on_before_backward(self, loss: Tensor, scale: float) -> None:  # E: [override] Signature of "on_before_backward"
        pass


class SkipWithText(nn.Module, ModelHooks):
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> str:  # E: [override] Return type "str"
        return "skip"


class StageAsInt(nn.Module, DataHooks):
    def setup(self, stage: int) -> None:  # E: [override] Argument 1 of "setup"
        self.stage = stage


class LoaderIsNotIterable(nn.Module, DataHooks):
    def train_dataloader(self) -> int:  # E: [override] Return type "int" of "train_dataloader"
        return 8


class ForgetsToReturnTheBatch(nn.Module, DataHooks):
    # Declared `-> None` outright, the override is accepted: the spec says `-> Any`. Annotating the batch
    # type is what lets mypy see the missing return.
    def on_before_batch_transfer(self, batch: dict[str, Tensor], dataloader_idx: int) -> dict[str, Tensor]:  # E: [return] Missing return statement
        batch["x"] = batch["x"].float()


class CallbackWithoutTrainer(Callback):
    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:  # E: [override] Signature of "on_train_batch_end"
        pass


class CallbackWrongLoss(Callback):
    def on_before_backward(self, trainer: Any, pl_module: Any, loss: float) -> None:  # E: [override] Argument 3 of "on_before_backward"
        pass

