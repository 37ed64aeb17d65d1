"""Metric conformance: scenarios that log known values, and what a conforming trainer must publish.

Every value a scenario logs comes from its data: batch means of small ranges (a short
last batch makes the batch-size weighting visible), batch indices, the epoch. The
expected metric dictionaries are computed here from those data with the rules of
spec/METRICS.md (spec/_logging.py) — arithmetic, not a recording of any trainer.

A scenario's module logs

- ``training_step``: ``t`` (batch mean, ``on_step`` and ``on_epoch``, ``prog_bar``),
  ``t_sum`` (batch index, epoch only, ``reduce_fx="sum"``), ``t_max`` (batch index, epoch only, ``"max"``);
- ``validation_step`` / ``test_step``: ``v`` / ``x`` (batch mean, the hooks' default: epoch only);
- ``on_train_epoch_end``: ``te`` (the epoch); ``on_validation_epoch_end``: ``ve`` (10.0); ``on_test_epoch_end``: ``xe`` (20.0).

A callback records ``callback_metrics`` in ``on_validation_end`` and ``on_train_epoch_end``
(it runs before the module's ``on_train_epoch_end``, so it sees ``te`` from the previous
epoch only); ``validate``/``test`` return values are checked too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Final

from typing_extensions import final

__all__ = ["METRIC_SCENARIOS", "MetricScenario", "expected_metrics", "run_metric_scenario"]

TRAIN_BATCH = 3
EVAL_BATCH = 2


@final
@dataclass(frozen=True)
class MetricScenario:
    """One metric run: the entry point, loaders and epochs; sizes are samples (batches of 3 / 2)."""

    name: str
    fn: str
    train_samples: int = 7  # 3, 3, 1: a short last batch
    eval_loaders: int = 2
    eval_samples: int = 5  # 2, 2, 1
    max_epochs: int = 1
    tags: frozenset[str] = field(default_factory=frozenset)


METRIC_SCENARIOS: Final[tuple[MetricScenario, ...]] = (
    MetricScenario("metrics-fit-two-val-loaders", "fit"),
    MetricScenario("metrics-fit-two-epochs-one-loader", "fit", eval_loaders=1, max_epochs=2),
    MetricScenario("metrics-validate-two-loaders", "validate"),
    MetricScenario("metrics-test-one-loader", "test", eval_loaders=1),
)


def _train_values(s: MetricScenario) -> list[float]:
    return [float(i) for i in range(1, s.train_samples + 1)]


def _eval_values(s: MetricScenario, loader: int) -> list[float]:
    return [float(i * (loader + 1)) for i in range(1, s.eval_samples + 1)]


def _batches(values: list[float], size: int) -> list[list[float]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def _weighted_mean(batches: list[list[float]]) -> float:
    """The epoch value of per-batch means weighted by batch size (spec/METRICS.md, ``reduce_fx="mean"``)."""
    return sum(sum(b) / len(b) * len(b) for b in batches) / sum(len(b) for b in batches)


def _eval_epoch(s: MetricScenario, key: str) -> list[dict[str, float]]:
    """One dict per loader: the loader's epoch value (suffixed with several loaders)."""
    out = []
    for i in range(s.eval_loaders):
        name = f"{key}/dataloader_idx_{i}" if s.eval_loaders > 1 else key
        out.append({name: _weighted_mean(_batches(_eval_values(s, i), EVAL_BATCH))})
    return out


def expected_metrics(s: MetricScenario) -> dict[str, Any]:
    """What a conforming trainer publishes in the scenario (see the module docstring)."""
    if s.fn in ("validate", "test"):
        key, end_key, end_value = ("v", "ve", 10.0) if s.fn == "validate" else ("x", "xe", 20.0)
        returns = [{**d, end_key: end_value} for d in _eval_epoch(s, key)]
        snaps: list[tuple[str, int, dict[str, float]]] = []
        if s.fn == "validate":  # callback_metrics then hold every loader's values and the epoch-end hook's
            every = {k: v for d in returns for k, v in d.items()}
            snaps.append(("on_validation_end", 0, every))
        return {"returns": returns, "snapshots": snaps}
    train = _batches(_train_values(s), TRAIN_BATCH)
    last_step = sum(train[-1]) / len(train[-1])
    indices = list(range(len(train)))
    snapshots: list[tuple[str, int, dict[str, float]]] = []
    published: dict[str, float] = {}
    for epoch in range(s.max_epochs):
        # after each training batch: step values of the on_step keys (training publishes name and name_step)
        published.update({"t": last_step, "t_step": last_step})
        # validation at the epoch's end: each loader's epoch value, then the epoch-end hook's value
        for d in _eval_epoch(s, "v"):
            published.update(d)
        published["ve"] = 10.0
        snapshots.append(("on_validation_end", epoch, dict(published)))
        # on_train_epoch_end (callbacks first): the training epoch values
        epoch_mean = _weighted_mean(train)
        published.update(
            {"t": epoch_mean, "t_epoch": epoch_mean, "t_sum": float(sum(indices)), "t_max": float(max(indices))}
        )
        snapshots.append(("on_train_epoch_end", epoch, dict(published)))
        published["te"] = float(epoch)  # the module's on_train_epoch_end logs it after the callback ran
    return {"returns": None, "snapshots": snapshots}


def _module(base: type[Any], s: MetricScenario) -> Any:
    import torch

    multi = s.eval_loaders > 1

    class Logging(base):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x = batch[0]
            self.log("t", x.mean(), on_step=True, on_epoch=True, prog_bar=True)
            self.log("t_sum", float(batch_idx), on_step=False, on_epoch=True, reduce_fx="sum")
            self.log("t_max", float(batch_idx), on_step=False, on_epoch=True, reduce_fx="max")
            return self.layer(x).sum()

        def on_train_epoch_end(self) -> None:
            self.log("te", float(self.current_epoch))

        def on_validation_epoch_end(self) -> None:
            self.log("ve", 10.0)

        def on_test_epoch_end(self) -> None:
            self.log("xe", 20.0)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    if multi:

        def validation_step(self: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            self.log("v", batch[0].mean())

        def test_step(self: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            self.log("x", batch[0].mean())
    else:

        def validation_step(self: Any, batch: Any, batch_idx: int) -> None:  # type: ignore[misc]
            self.log("v", batch[0].mean())

        def test_step(self: Any, batch: Any, batch_idx: int) -> None:  # type: ignore[misc]
            self.log("x", batch[0].mean())

    Logging.validation_step = validation_step
    Logging.test_step = test_step
    return Logging()


def _snapshotter(base: type[Any], seen: list[tuple[str, int, dict[str, float]]]) -> Any:
    def snap(name: str) -> Callable[..., None]:
        def hook(self: Any, trainer: Any, pl_module: Any) -> None:
            if getattr(trainer, "sanity_checking", False):
                return
            seen.append((name, int(trainer.current_epoch), {k: float(v) for k, v in trainer.callback_metrics.items()}))

        return hook

    return type("MetricSnapshots", (base,), {h: snap(h) for h in ("on_validation_end", "on_train_epoch_end")})()


def run_metric_scenario(adapter: Any, s: MetricScenario, root_dir: str) -> dict[str, Any]:
    """Run ``s`` through ``adapter`` (a conformance adapter); the snapshots and the returns it produced."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    def loader(values: list[float], size: int) -> DataLoader[Any]:
        return DataLoader(TensorDataset(torch.tensor(values).view(-1, 1)), batch_size=size)

    evals = [loader(_eval_values(s, i), EVAL_BATCH) for i in range(s.eval_loaders)]
    seen: list[tuple[str, int, dict[str, float]]] = []
    settings: dict[str, Any] = {"max_epochs": s.max_epochs, "num_sanity_val_steps": 0, "default_root_dir": root_dir}
    model = _module(adapter.module_base, s)
    loaders = {"train": loader(_train_values(s), TRAIN_BATCH), "val": evals, "test": evals}
    if s.eval_loaders == 1:
        loaders["val"] = loaders["test"] = evals[0]
    result = adapter.run(
        s.fn, model, settings=settings, callbacks=[_snapshotter(adapter.callback_base, seen)], dataloaders=loaders
    )
    returns = None
    if s.fn in ("validate", "test"):
        returns = [{k: float(v) for k, v in d.items()} for d in result]
    return {"returns": returns, "snapshots": seen}
