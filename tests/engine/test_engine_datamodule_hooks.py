"""The datamodule's hooks come from ``loophooks.spec.DATAMODULE_HOOKS``: only those are ever called, and with
checks on each call is checked against the datamodule's table entry (arguments and returned value)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from loophooks.spec import DATAMODULE_HOOKS, HOOKS, HookContractError

from ..lightning_port._kit import BOTH, api, loader, pl, trainer

# Methods a datamodule may define that are model hooks or steps, not datamodule hooks.
_NOT_DATAMODULE_HOOKS = (
    "on_fit_start",
    "on_train_batch_start",
    "on_train_epoch_end",
    "training_step",
    "configure_optimizers",
    "on_before_backward",
    "optimizer_step",
)


def test_the_chosen_methods_are_outside_the_datamodule_table() -> None:
    for name in _NOT_DATAMODULE_HOOKS:
        assert name in HOOKS and name not in DATAMODULE_HOOKS


def _job(kind: str, calls: list[str]) -> tuple[Any, Any]:
    ns = api(kind)

    class Model(ns.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1])

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    def recording(name: str) -> Any:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return None

        return method

    methods = {name: recording(name) for name in _NOT_DATAMODULE_HOOKS}
    methods["train_dataloader"] = lambda self: loader(8, 4)
    Data = type("Data", (ns.LightningDataModule,), methods)
    return Model(), Data()


@pytest.mark.skipif(pl is None, reason="needs pytorch_lightning")
@pytest.mark.parametrize("kind", BOTH)
def test_a_datamodule_method_that_is_not_a_datamodule_hook_is_never_called(kind: str) -> None:
    calls: list[str] = []
    model, dm = _job(kind, calls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the engine warns that these methods are never called
        trainer(kind, max_epochs=1).fit(model, datamodule=dm)
    assert calls == []


def _engine_trainer(checks: bool, tmp_path: Path) -> Any:
    return trainer("engine", max_epochs=1, check_hooks=checks, default_root_dir=str(tmp_path))


def _datamodule(**methods: Any) -> Any:
    ns = api("engine")
    methods.setdefault("train_dataloader", lambda self: loader(8, 4))
    return type("Data", (ns.LightningDataModule,), methods)()


def _model() -> Any:
    model, _ = _job("engine", [])
    return model


def test_a_wrong_return_from_a_datamodule_hook_is_caught_with_checks_on(tmp_path: Path) -> None:
    dm = _datamodule(state_dict=lambda self: ["not", "a", "dict"])
    t = _engine_trainer(True, tmp_path)
    t.fit(_model(), datamodule=dm)
    with pytest.raises(HookContractError, match=r"Data\.state_dict returned list .*dict\[str, Any\]") as caught:
        t.save_checkpoint(tmp_path / "a.ckpt")
    assert (caught.value.hook, caught.value.parameter) == ("state_dict", "return")
    assert any("datamodule hook state_dict" in note for note in getattr(caught.value, "__notes__", []))
    # checks off: the engine hands the value on as it came (a non-empty state is saved under the class name)
    t = _engine_trainer(False, tmp_path)
    t.fit(_model(), datamodule=dm)
    t.save_checkpoint(tmp_path / "b.ckpt")
    assert torch.load(tmp_path / "b.ckpt", weights_only=False)["Data"] == ["not", "a", "dict"]


def test_a_wrong_argument_to_a_datamodule_hook_is_caught_with_checks_on(tmp_path: Path) -> None:
    received: list[Any] = []
    dm = _datamodule(
        state_dict=lambda self: {"seen": 1}, load_state_dict=lambda self, state_dict: received.append(state_dict)
    )
    t = _engine_trainer(False, tmp_path)
    t.fit(_model(), datamodule=dm)
    path = tmp_path / "dm.ckpt"
    t.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=False)
    checkpoint["Data"] = ("a", "tuple")  # load_state_dict's state_dict is a dict[str, Any]
    torch.save(checkpoint, path)
    with pytest.raises(HookContractError, match=r"Data\.load_state_dict: argument `state_dict` expected dict"):
        _engine_trainer(True, tmp_path).fit(_model(), datamodule=dm, ckpt_path=str(path))
    assert received == []
    _engine_trainer(False, tmp_path).fit(_model(), datamodule=dm, ckpt_path=str(path))
    assert received == [("a", "tuple")]


def test_a_datamodule_data_hook_is_checked_against_its_table_entry(tmp_path: Path) -> None:
    # transfer_batch_to_device must hand a batch on: None breaks the contract the datamodule's entry states
    dm = _datamodule(transfer_batch_to_device=lambda self, batch, device, dataloader_idx: None)
    with pytest.raises(HookContractError, match=r"Data\.transfer_batch_to_device returned NoneType"):
        _engine_trainer(True, tmp_path).fit(_model(), datamodule=dm)
