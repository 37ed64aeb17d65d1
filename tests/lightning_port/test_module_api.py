"""LoopModule / LoopDataModule members beyond the hooks, compared with Lightning's on the same code."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.lightning_port._kit import BOTH, api, loader, quiet, trainer

pytest.importorskip("pytorch_lightning")
pytestmark = pytest.mark.lightning


def _classes(kind: str) -> dict[str, Any]:
    L = api(kind)

    class Net(L.LightningModule):
        def __init__(self, lr: float = 0.1, hidden: int = 3, net: Any = None, **extra: Any) -> None:
            super().__init__()
            self.save_hyperparameters(ignore="net")
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer(x)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return torch.nn.functional.mse_loss(self(batch[0]), batch[1])

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    class Child(Net):
        def __init__(self, depth: int = 2, lr: float = 0.5) -> None:
            super().__init__(lr=lr, extra=1)

    class Named(L.LightningModule):
        def __init__(self, cfg: Any) -> None:
            super().__init__()
            self.save_hyperparameters(cfg)

    class Some(L.LightningModule):
        def __init__(self, a: int = 1, b: int = 2, c: int = 3) -> None:
            super().__init__()
            self.save_hyperparameters("a", "c", logger=False)

    class Data(L.LightningDataModule):
        def __init__(self, batch_size: int = 4) -> None:
            super().__init__()
            self.save_hyperparameters()

        def train_dataloader(self) -> Any:
            return loader(16, self.hparams.batch_size)

    return {"Net": Net, "Child": Child, "Named": Named, "Some": Some, "Data": Data}


def _hparams_view(kind: str) -> list[Any]:
    c = _classes(kind)
    net = c["Net"](net=torch.nn.Linear(1, 1), foo=3)
    named_ns = c["Named"](argparse.Namespace(a=1, b=2))
    named_dict = c["Named"]({"a": 1})
    named_dict.hparams.a = 5
    some = c["Some"](b=9)
    return [
        (type(net.hparams).__name__, dict(net.hparams), net._hparams_name, net.hparams.lr),
        (dict(c["Child"]().hparams), c["Child"]()._hparams_name),
        (dict(named_ns.hparams), named_ns._hparams_name),
        (dict(named_dict.hparams), dict(named_dict.hparams_initial), named_dict._hparams_name),
        (dict(some.hparams), some._log_hyperparams),
        dict(c["Data"](batch_size=8).hparams),
    ]


def test_save_hyperparameters_matches_lightning() -> None:
    assert quiet(_hparams_view, "engine") == quiet(_hparams_view, "lightning")


def _conveniences(kind: str, capsys: pytest.CaptureFixture[str]) -> list[Any]:
    net = _classes(kind)["Net"]()
    seen: list[Any] = [net.dtype, net.example_input_array, net.strict_loading]
    net.example_input_array = torch.zeros(2, 2)
    seen.append(net.example_input_array.shape)
    net.freeze()
    seen.append((net.training, [p.requires_grad for p in net.parameters()]))
    net.unfreeze()
    seen.append((net.training, [p.requires_grad for p in net.parameters()]))
    seen.append(net.double().dtype)
    net.float()
    with pytest.raises(RuntimeError, match="not attached"):
        net.print("unattached")
    t = trainer(kind, max_epochs=1, limit_train_batches=1)
    quiet(t.fit, net, loader())
    capsys.readouterr()
    net.print("hello", 1, sep="|")
    seen.append(capsys.readouterr().out)
    gathered = net.all_gather({"t": torch.ones(2), "n": 3, "l": [1.5]})
    seen.append({k: (v.tolist() if isinstance(v, torch.Tensor) else [x.tolist() for x in v]) for k, v in gathered.items()})
    return seen


def test_print_freeze_dtype_example_input_all_gather_match_lightning(capsys: pytest.CaptureFixture[str]) -> None:
    assert _conveniences("engine", capsys) == _conveniences("lightning", capsys)


def _fit_and_save(kind: str, path: Path) -> list[float]:
    c = _classes(kind)
    net = c["Net"](lr=0.2)
    t = trainer(kind, max_epochs=2)
    quiet(t.fit, net, c["Data"](batch_size=8))  # the datamodule passed by position
    t.save_checkpoint(str(path))
    return net.layer.weight.flatten().tolist()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[float]]]:
    root = tmp_path_factory.mktemp("ckpt")
    return {kind: (root / f"{kind}.ckpt", _fit_and_save(kind, root / f"{kind}.ckpt")) for kind in BOTH}


def test_fit_with_a_positional_datamodule_trains_as_lightning(files: dict[str, tuple[Path, list[float]]]) -> None:
    assert files["engine"][1] == pytest.approx(files["lightning"][1], abs=1e-6)


@pytest.mark.parametrize("reader", BOTH)
@pytest.mark.parametrize("writer", BOTH)
def test_load_from_checkpoint_both_ways(reader: str, writer: str, files: dict[str, tuple[Path, list[float]]]) -> None:
    path, weights = files[writer]
    c = _classes(reader)
    extra = {"weights_only": False} if reader == "lightning" else {}
    net = quiet(c["Net"].load_from_checkpoint, str(path), map_location="cpu", hidden=7, **extra)
    assert dict(net.hparams) == {"lr": 0.2, "hidden": 7}  # saved values, overridden by the keyword
    assert net.layer.weight.flatten().tolist() == pytest.approx(weights, abs=0)
    assert net.training  # a fresh instance's mode, as Lightning leaves it
    data = quiet(c["Data"].load_from_checkpoint, str(path), **extra)
    assert dict(data.hparams) == {"batch_size": 8}


def test_load_from_checkpoint_is_safe_by_default_and_strict(tmp_path: Path, files: dict[str, tuple[Path, list[float]]]) -> None:
    from loophooks.engine import CheckpointError

    Net = _classes("engine")["Net"]
    bad = tmp_path / "pickled.ckpt"
    checkpoint = torch.load(files["engine"][0], weights_only=True)
    checkpoint["hyper_parameters"]["net"] = argparse.Namespace(x=1)  # an arbitrary object: weights_only refuses
    torch.save(checkpoint, bad)
    with pytest.raises(CheckpointError, match="weights_only"):
        Net.load_from_checkpoint(str(bad))
    assert isinstance(Net.load_from_checkpoint(str(bad), weights_only=False), Net)
    checkpoint = torch.load(files["engine"][0], weights_only=True)
    checkpoint["state_dict"]["extra.weight"] = torch.zeros(1)
    torch.save(checkpoint, bad)
    with pytest.raises(CheckpointError, match="extra.weight"):
        Net.load_from_checkpoint(str(bad))
    with pytest.warns(UserWarning, match="extra.weight"):
        Net.load_from_checkpoint(str(bad), strict=False)


def _toggle_trace(kind: str) -> list[Any]:
    L = api(kind)

    class Two(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False
            torch.manual_seed(0)
            self.a = torch.nn.Linear(2, 1)
            self.b = torch.nn.Linear(2, 1)
            self.b.bias.requires_grad = False
            self.trace: list[Any] = []

        def training_step(self, batch: Any, batch_idx: int) -> None:
            opt_a, opt_b = self.optimizers()
            for opt, layer in ((opt_a, self.a), (opt_b, self.b)):
                self.toggle_optimizer(opt)
                self.trace.append([p.requires_grad for p in self.parameters()])
                loss = torch.nn.functional.mse_loss(layer(batch[0]), batch[1])
                self.manual_backward(loss)
                opt.step()
                opt.zero_grad()
                self.untoggle_optimizer(opt)
                self.trace.append([p.requires_grad for p in self.parameters()])

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.a.parameters(), lr=0.1), torch.optim.SGD(self.b.parameters(), lr=0.1)

    model = Two()
    quiet(trainer(kind, max_epochs=1, limit_train_batches=2).fit, model, loader())
    return model.trace + [p.detach().flatten().tolist() for p in model.parameters()]


def test_toggle_optimizer_matches_lightning() -> None:
    assert _toggle_trace("engine") == _toggle_trace("lightning")


def _from_datasets(kind: str) -> list[Any]:
    from tests.lightning_port._kit import data

    dm = api(kind).LightningDataModule.from_datasets(train_dataset=data(8), val_dataset=[data(4), data(6)], batch_size=2)
    train = dm.train_dataloader()
    vals = dm.val_dataloader()
    return [
        type(train.sampler).__name__, train.batch_size, [len(v) for v in vals], [type(v.sampler).__name__ for v in vals],
        hasattr(dm, "test_dataloader") and _raises(dm.test_dataloader),
    ]


def _raises(fn: Any) -> bool:
    try:
        fn()
    except Exception:
        return True
    return False


def test_from_datasets_matches_lightning() -> None:
    assert quiet(_from_datasets, "engine")[:4] == quiet(_from_datasets, "lightning")[:4]
