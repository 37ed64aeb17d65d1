"""Models and options the Trainer cannot run: caught where the Trainer is called."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from loophooks.engine import LoopModule, Trainer
from loophooks.spec import ConfigureOptimizers, TrainingStep


class NoTrainingStep(nn.Module):
    def configure_optimizers(self) -> Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class NoOptimizers(LoopModule):
    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        return torch.zeros(())


class OptimizerAsString(LoopModule):
    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        return torch.zeros(())

    def configure_optimizers(self) -> str:
        return "adam"


class ExplicitOptimizerAsString(nn.Module, ConfigureOptimizers):
    def configure_optimizers(self) -> str:  # E: [override] Return type "str" of "configure_optimizers"
        return "adam"


class StepWithoutLoss(nn.Module, TrainingStep):
    pass


class NotAModule:
    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        return torch.zeros(())

    def configure_optimizers(self) -> None:
        return None


class OnlyTrains(LoopModule):
    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        return torch.zeros(())

    def configure_optimizers(self) -> None:
        return None


def run() -> None:
    trainer = Trainer()
    trainer.fit(NoTrainingStep())  # E: [arg-type] "NoTrainingStep"
    trainer.fit(NoOptimizers())  # E: [arg-type] "NoOptimizers"
    trainer.fit(OptimizerAsString())  # E: [arg-type] "OptimizerAsString"
    trainer.fit(NotAModule())  # E: [arg-type] "NotAModule"
    StepWithoutLoss()  # E: [abstract] Cannot instantiate abstract class "StepWithoutLoss"
    trainer.validate(OnlyTrains())  # E: [arg-type] "OnlyTrains"
    trainer.fit(OnlyTrains(), train_dataloaders=3)  # E: [arg-type] "int"
    predictions: list[Any] = trainer.predict(OnlyTrains(), return_predictions=False)  # E: [assignment] "None"
    metrics: dict[str, float] = trainer.test(OnlyTrains())  # E: [arg-type] # E: [assignment]
    print(predictions, metrics)


def options() -> None:
    Trainer(max_epochs="3")  # E: [arg-type] "max_epochs"
    Trainer(precision="8-true")  # E: [arg-type] "precision"
    Trainer(accelerator="tpu")  # E: [arg-type] "accelerator"
    Trainer(gradient_clip_algorithm="l2")  # E: [arg-type] "gradient_clip_algorithm"
    Trainer(limit_train_batches="all")  # E: [arg-type] "limit_train_batches"
    Trainer(callbacks=[object()])  # E: [list-item]
    Trainer(max_epoch=3)  # E: [call-arg] Unexpected keyword argument "max_epoch"
