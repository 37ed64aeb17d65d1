"""Every documented form of configure_optimizers satisfies the spec's ConfigureOptimizers."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau, StepLR
from typing_extensions import assert_type

from loophooks.spec import ConfigureOptimizers


def _params() -> list[nn.Parameter]:
    return [nn.Parameter(torch.zeros(1))]


class Single(ConfigureOptimizers):
    def configure_optimizers(self) -> Optimizer:
        return torch.optim.SGD(_params(), lr=0.1)


class Several(ConfigureOptimizers):
    def configure_optimizers(self) -> list[Optimizer]:
        return [torch.optim.SGD(_params(), lr=0.1), torch.optim.Adam(_params())]


class TwoLists(ConfigureOptimizers):
    def configure_optimizers(self) -> tuple[list[Optimizer], list[LRScheduler]]:
        optimizer = torch.optim.SGD(_params(), lr=0.1)
        return [optimizer], [StepLR(optimizer, step_size=10)]


class Dict(ConfigureOptimizers):
    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.SGD(_params(), lr=0.1)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": ReduceLROnPlateau(optimizer), "monitor": "val_loss", "interval": "epoch"},
        }


class DictList(ConfigureOptimizers):
    def configure_optimizers(self) -> list[dict[str, Any]]:
        return [{"optimizer": torch.optim.SGD(_params(), lr=0.1)}, {"optimizer": torch.optim.Adam(_params())}]


class Nothing(ConfigureOptimizers):
    def configure_optimizers(self) -> None:
        return None


def forms() -> None:
    assert_type(Single().configure_optimizers(), Optimizer)
    assert_type(TwoLists().configure_optimizers(), tuple[list[Optimizer], list[LRScheduler]])
    assert_type(Nothing().configure_optimizers(), None)
    for model in (Single(), Several(), TwoLists(), Dict(), DictList(), Nothing()):
        accepts(model)


def accepts(model: ConfigureOptimizers) -> None:
    model.configure_optimizers()
