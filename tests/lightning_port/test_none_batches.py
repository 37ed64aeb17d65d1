"""A loader that yields ``None`` (a ``collate_fn`` that drops a whole batch), run through both trainers.

Lightning 2.6.6 passes the None through the transfer hooks; in training it then warns
once ("train_dataloader yielded None"), skips ``on_train_batch_start`` and the
optimization (no ``training_step``, no step: ``global_step`` does not count it), steps
'step' schedulers and ends the batch (``on_train_batch_end`` with outputs None). The
evaluation loops have no special case: the batch hooks and the step receive None.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from ._kit import api, pl, trainer

pytestmark = pytest.mark.skipif(pl is None, reason="needs pytorch_lightning")


def _collate(items: list[tuple[torch.Tensor]]) -> Any:
    xs = torch.stack([x for (x,) in items])
    return None if bool(xs[0, 0] < -100) else (xs,)


def _loader() -> DataLoader[Any]:
    x = torch.randn(8, 2)
    x[2, 0] = -1000.0  # the second batch (batch_size 2) collates to None
    return DataLoader(TensorDataset(x), batch_size=2, collate_fn=_collate)


def _job(kind: str) -> tuple[Any, Any]:
    ns = api(kind)

    def seen(batch: Any) -> str:
        return "None" if batch is None else "batch"

    class Recorder(ns.Callback):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            self.calls: list[tuple[Any, ...]] = []

        def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> None:
            self.calls.append(("on_train_batch_start", batch_idx, seen(batch)))

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            self.calls.append(("on_train_batch_end", batch_idx, seen(batch), seen(outputs), trainer.global_step))

        def on_validation_batch_start(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> None:
            self.calls.append(("on_validation_batch_start", batch_idx, seen(batch)))

        def on_validation_batch_end(self, trainer: Any, module: Any, out: Any, batch: Any, batch_idx: int) -> None:
            self.calls.append(("on_validation_batch_end", batch_idx, seen(batch)))

        def on_test_batch_end(self, trainer: Any, module: Any, out: Any, batch: Any, batch_idx: int) -> None:
            self.calls.append(("on_test_batch_end", batch_idx, seen(batch)))

    class Model(ns.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)
            self.calls: list[tuple[Any, ...]] = []

        def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
            self.calls.append(("on_before_batch_transfer", seen(batch)))
            return batch

        def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
            self.calls.append(("on_after_batch_transfer", seen(batch)))
            return batch

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.calls.append(("training_step", batch_idx))
            return self.layer(batch[0]).sum()

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.calls.append(("validation_step", batch_idx, seen(batch)))

        def test_step(self, batch: Any, batch_idx: int) -> None:
            self.calls.append(("test_step", batch_idx, seen(batch)))

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.SGD(self.parameters(), lr=1.0)
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    return Model(), Recorder()


def _run(kind: str, **options: Any) -> dict[str, Any]:
    model, recorder = _job(kind)
    t = trainer(kind, max_epochs=2, callbacks=[recorder], num_sanity_val_steps=0, **options)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t.fit(model, _loader(), _loader())
        t.test(model, _loader(), verbose=False)
    return {
        "model": model.calls,
        "callback": recorder.calls,
        "global_step": t.global_step,
        "lr": t.optimizers[0].param_groups[0]["lr"],
        "warnings": sum("train_dataloader yielded None" in str(w.message) for w in caught),
    }


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return _run("lightning")


@pytest.mark.parametrize("check_hooks", [False, True], ids=["checks-off", "checks-on"])
def test_none_batches_run_as_in_lightning(expected: dict[str, Any], check_hooks: bool) -> None:
    # With the spec's checks on too: a transfer hook handed None may hand None on (Hook.hands_on).
    assert ("on_train_batch_end", 1, "None", "None", 1) in expected["callback"]  # the reference skipped batch 1
    assert expected["warnings"] == 1
    got = _run("engine", check_hooks=check_hooks)
    assert got == expected


def test_a_hook_that_turns_a_batch_into_none_is_still_refused() -> None:
    from loophooks.engine import HookValueError

    model, _ = _job("engine")
    model.on_after_batch_transfer = lambda batch, dataloader_idx: None  # type: ignore[method-assign]
    with pytest.raises(HookValueError, match="on_after_batch_transfer"):
        trainer("engine", max_epochs=1).fit(model, DataLoader(TensorDataset(torch.randn(4, 2)), batch_size=2))


def test_with_the_checks_on_a_hook_that_turns_a_batch_into_none_breaks_the_contract() -> None:
    from loophooks.spec import HookContractError

    model, _ = _job("engine")
    model.on_before_batch_transfer = lambda batch, dataloader_idx: None  # type: ignore[method-assign]
    loader = DataLoader(TensorDataset(torch.randn(4, 2)), batch_size=2)
    with pytest.raises(HookContractError, match="on_before_batch_transfer"):
        trainer("engine", max_epochs=1, check_hooks=True).fit(model, loader)
