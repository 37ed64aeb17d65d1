"""Several training loaders (a list, a dict, CombinedLoader) compared with Lightning 2.6 on the same jobs."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from loophooks.engine import ConfigurationError
from tests.lightning_port._kit import BOTH, api, quiet, trainer

pl = pytest.importorskip("pytorch_lightning")
pytestmark = pytest.mark.lightning


def _combined_class(kind: str) -> Any:
    if kind == "lightning":
        from pytorch_lightning.utilities.combined_loader import CombinedLoader
    else:
        from loophooks.utilities.combined_loader import CombinedLoader
    return CombinedLoader


def _iterables() -> Any:
    return {"a": range(3), "b": [range(5), range(2)], "c": (range(4),)}


@pytest.mark.parametrize("mode", ["min_size", "max_size_cycle", "max_size", "sequential"])
@pytest.mark.parametrize("limits", [None, [2, 1, 1, 3]])
def test_iteration_and_length_match_lightning(mode: str, limits: Any) -> None:
    seen = []
    for kind in BOTH:
        combined = _combined_class(kind)(_iterables(), mode)
        if limits is not None:
            combined.limits = limits
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            batches = list(combined)
        seen.append((batches, len(combined), combined.flattened == _combined_class(kind)(_iterables()).flattened))
    assert seen[1] == seen[0]


def _loader(n: int, offset: float, batch_size: int = 2) -> DataLoader[Any]:
    x = (torch.arange(n * 2, dtype=torch.float32).reshape(n, 2) + offset) / 100
    return DataLoader(TensorDataset(x, torch.ones(n, 1)), batch_size=batch_size)


def _describe(batch: Any) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch[:, 0].tolist()
    if isinstance(batch, dict):
        return {k: _describe(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return [type(batch).__name__, *(_describe(v) for v in batch)]
    return batch


def _job(kind: str, train: Any, **options: Any) -> tuple[Any, ...]:
    L = api(kind)

    class Net(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(2, 1)
            self.seen: list[Any] = []

        def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
            self.seen.append(("transfer", dataloader_idx))
            return batch

        def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
            self.seen.append(("start", batch_idx, _describe(batch)))

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            tensors = [t for t in _leaves(batch) if isinstance(t, torch.Tensor) and t.shape[-1] == 2]
            return sum(self.layer(t).pow(2).mean() for t in tensors)  # type: ignore[return-value]

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    model = Net()
    t = trainer(kind, **{"max_epochs": 2, **options})
    quiet(t.fit, model, train())
    given = t.train_dataloader
    shape = type(given).__name__ if not isinstance(given, dict) else sorted(given)
    return model.seen, t.num_training_batches, t.global_step, shape, [v for p in model.parameters() for v in p.detach().flatten().tolist()]


def _leaves(batch: Any) -> list[Any]:
    if isinstance(batch, dict):
        return [x for v in batch.values() for x in _leaves(v)]
    if isinstance(batch, (list, tuple)):
        return [x for v in batch for x in _leaves(v)]
    return [batch]


TRAIN = {
    "list": lambda kind: lambda: [_loader(8, 0), _loader(4, 100)],
    "list-of-one": lambda kind: lambda: [_loader(6, 0)],
    "dict": lambda kind: lambda: {"big": _loader(8, 0), "small": _loader(2, 100)},
    "combined-min_size": lambda kind: lambda: _combined_class(kind)([_loader(8, 0), _loader(4, 100)], "min_size"),
    "combined-max_size": lambda kind: lambda: _combined_class(kind)({"a": _loader(8, 0), "b": _loader(4, 100)}, "max_size"),
}


@pytest.mark.parametrize("name", sorted(TRAIN))
@pytest.mark.parametrize("options", [{}, {"limit_train_batches": 3}], ids=["all", "limit3"])
def test_fit_on_several_loaders_matches_lightning(name: str, options: dict[str, Any]) -> None:
    lightning = _job("lightning", TRAIN[name]("lightning"), **options)
    engine = _job("engine", TRAIN[name]("engine"), **options)
    assert engine[:4] == lightning[:4]
    assert engine[4] == pytest.approx(lightning[4], abs=1e-6)


def test_sequential_mode_is_refused_for_training_as_in_lightning() -> None:
    with pytest.raises(ValueError, match="sequential"):
        _job("lightning", lambda: _combined_class("lightning")([_loader(4, 0)], "sequential"))
    with pytest.raises(ConfigurationError, match="sequential"):
        _job("engine", lambda: _combined_class("engine")([_loader(4, 0)], "sequential"))


def test_evaluation_reads_a_sequential_combined_loader_as_a_list() -> None:
    seen = []
    for kind in BOTH:
        L = api(kind)

        class Net(L.LightningModule):
            def __init__(self) -> None:
                super().__init__()
                self.layer = torch.nn.Linear(2, 1)
                self.seen: list[Any] = []

            def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
                self.seen.append((batch_idx, dataloader_idx, batch[0][:, 0].tolist()))

        model = Net()
        loaders = _combined_class(kind)([_loader(4, 0), _loader(2, 100)], "sequential")
        quiet(trainer(kind).validate, model, loaders)
        seen.append(model.seen)
    assert seen[1] == seen[0]
