"""Checkpoints: bit-exact resume (end of epoch and mid-epoch), safe loading, atomic writes, clear errors."""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from loophooks.engine import Callback, CheckpointError, LoopModule, ModelCheckpoint, Trainer, load_checkpoint

N_BATCHES = 5


class Net(LoopModule):
    """Dropout, shuffled data, momentum and a scheduler: every piece of state a resume must restore."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val_loss", nn.functional.mse_loss(self.net(batch[0]), batch[1]))

    def configure_optimizers(self) -> Any:
        opt = torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.StepLR(opt, 3, 0.5), "interval": "step"}}


def _loaders() -> tuple[DataLoader[Any], DataLoader[Any]]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N_BATCHES * 4, 4, generator=g)
    data = TensorDataset(x, x.sum(1, keepdim=True))
    return DataLoader(data, batch_size=4, shuffle=True), DataLoader(data, batch_size=10)


def _trainer(tmp_path: Any, **kwargs: Any) -> Trainer:
    options: dict[str, Any] = {
        "enable_progress_bar": False,
        "enable_checkpointing": False,
        "default_root_dir": str(tmp_path),
        "max_epochs": 3,
    }
    options.update(kwargs)
    # a ModelCheckpoint needs checkpointing on (Lightning refuses the pair otherwise)
    if any(isinstance(c, ModelCheckpoint) for c in options.get("callbacks") or []):
        options["enable_checkpointing"] = True
    return Trainer(**options)


class SaveAt(Callback):
    """Save at (epoch, batch) in on_train_batch_end, or at the end of ``epoch`` when ``batch`` is None, then stop."""

    def __init__(self, path: str, epoch: int, batch: int | None) -> None:
        self.path, self.epoch, self.batch = path, epoch, batch

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.batch == batch_idx and trainer.current_epoch == self.epoch:
            trainer.save_checkpoint(self.path)
            raise KeyboardInterrupt("stop here")  # a crash right after the save

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.batch is None and trainer.current_epoch == self.epoch:
            trainer.save_checkpoint(self.path)
            raise KeyboardInterrupt("stop here")


def _uninterrupted(tmp_path: Any) -> tuple[Net, Trainer]:
    torch.manual_seed(123)
    model = Net()
    trainer = _trainer(tmp_path)
    trainer.fit(model, *_loaders())
    return model, trainer


# Not (epoch, last batch): there Lightning, and the engine with it, resumes in the next epoch without the
# saved epoch's validation and on_train_epoch_end, so the run cannot equal an uninterrupted one.
@pytest.mark.parametrize("where", [(0, None), (1, None), (1, 1), (2, 3)], ids=str)
def test_resume_is_bit_exact(tmp_path: Any, where: tuple[int, int | None]) -> None:
    expected, done = _uninterrupted(tmp_path)
    path = str(tmp_path / "crash.ckpt")
    torch.manual_seed(123)
    with pytest.raises(KeyboardInterrupt):
        _trainer(tmp_path, callbacks=[SaveAt(path, *where)]).fit(Net(), *_loaders())
    torch.manual_seed(999)  # the resumed process starts from another RNG state: the checkpoint restores it
    model = Net()
    trainer = _trainer(tmp_path)
    trainer.fit(model, *_loaders(), ckpt_path=path)
    assert (trainer.current_epoch, trainer.global_step) == (done.current_epoch, done.global_step)
    for (name, a), b in zip(expected.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name
    assert trainer.optimizers[0].state_dict()["state"].keys() == done.optimizers[0].state_dict()["state"].keys()
    assert trainer.lr_scheduler_configs[0].scheduler.state_dict() == done.lr_scheduler_configs[0].scheduler.state_dict()


def test_checkpoint_keys_follow_lightning(tmp_path: Any) -> None:
    model = Net()
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(model, *_loaders())
    path = tmp_path / "a.ckpt"
    trainer.save_checkpoint(path)
    ckpt = load_checkpoint(path)
    assert {"epoch", "global_step", "loophooks_version", "state_dict", "optimizer_states", "lr_schedulers",
            "callbacks", "loops"} <= set(ckpt)
    assert ckpt["epoch"] == 1 and ckpt["global_step"] == N_BATCHES
    weights = load_checkpoint(_save(trainer, tmp_path / "w.ckpt", weights_only=True))
    assert "optimizer_states" not in weights and "state_dict" in weights


def _save(trainer: Trainer, path: Any, **kwargs: Any) -> Any:
    trainer.save_checkpoint(path, **kwargs)
    return path


class Custom:
    """An arbitrary object a model puts in its checkpoint: weights_only loading must refuse it."""

    def __init__(self) -> None:
        self.value = 3


def test_weights_only_is_the_default_and_false_is_an_explicit_opt_in(tmp_path: Any) -> None:
    class WithObject(Net):
        def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            checkpoint["custom"] = Custom()

    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(WithObject(), *_loaders())
    path = _save(trainer, tmp_path / "obj.ckpt")
    with pytest.raises(CheckpointError, match="weights_only=False"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="weights_only=False"):
        _trainer(tmp_path, max_epochs=2).fit(WithObject(), *_loaders(), ckpt_path=str(path))
    assert load_checkpoint(path, weights_only=False)["custom"].value == 3
    trainer = _trainer(tmp_path, max_epochs=2)
    trainer.fit(WithObject(), *_loaders(), ckpt_path=str(path), weights_only=False)
    assert trainer.current_epoch == 2


def test_atomic_write_leaves_no_temporary_file_and_keeps_the_old_file_on_failure(tmp_path: Any) -> None:
    trainer = _trainer(tmp_path, max_epochs=1)
    model = Net()
    trainer.fit(model, *_loaders())
    path = _save(trainer, tmp_path / "ckpt" / "model.ckpt")
    assert os.listdir(tmp_path / "ckpt") == ["model.ckpt"]
    before = path.read_bytes()

    def unpicklable(checkpoint: dict[str, Any]) -> None:
        checkpoint["bad"] = lambda: None  # torch.save cannot pickle a lambda

    model.on_save_checkpoint = unpicklable  # type: ignore[method-assign]
    trainer._dispatch._mod["on_save_checkpoint"] = unpicklable  # the dispatcher resolved hooks at run start
    with pytest.raises(Exception):
        trainer.save_checkpoint(path)
    assert os.listdir(tmp_path / "ckpt") == ["model.ckpt"]
    assert path.read_bytes() == before


def test_missing_and_corrupt_checkpoints_are_clear_errors(tmp_path: Any) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        _trainer(tmp_path).fit(Net(), *_loaders(), ckpt_path=str(tmp_path / "nope.ckpt"))
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"\x80\x04not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(corrupt)
    truncated = tmp_path / "truncated.ckpt"
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(Net(), *_loaders())
    good = _save(trainer, tmp_path / "good.ckpt").read_bytes()
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(truncated)
    torch.save({"no": "state"}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="state_dict"):
        load_checkpoint(tmp_path / "other.ckpt")


def test_weights_only_checkpoint_cannot_resume_fit(tmp_path: Any) -> None:
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(Net(), *_loaders())
    path = _save(trainer, tmp_path / "w.ckpt", weights_only=True)
    with pytest.raises(CheckpointError, match="weights"):
        _trainer(tmp_path, max_epochs=2).fit(Net(), *_loaders(), ckpt_path=str(path))
    # but evaluation from it loads the weights
    result = _trainer(tmp_path).validate(Net(), _loaders()[1], ckpt_path=str(path))
    assert "val_loss" in result[0]


def test_checkpoint_hooks_order_and_callback_state(tmp_path: Any) -> None:
    calls: list[str] = []

    class Stateful(Callback):
        def __init__(self) -> None:
            self.count = 0

        def state_dict(self) -> dict[str, Any]:
            calls.append("callback.state_dict")
            return {"count": self.count + 7}

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            calls.append("callback.load_state_dict")
            self.count = state_dict["count"]

        def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
            calls.append("callback.on_save_checkpoint")

        def on_load_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
            calls.append("callback.on_load_checkpoint")

    class M(Net):
        def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            calls.append("model.on_save_checkpoint")

        def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            calls.append("model.on_load_checkpoint")

    trainer = _trainer(tmp_path, max_epochs=1, callbacks=[Stateful()])
    trainer.fit(M(), *_loaders())
    path = _save(trainer, tmp_path / "s.ckpt")
    assert calls == ["callback.state_dict", "callback.on_save_checkpoint", "model.on_save_checkpoint"]
    calls.clear()
    cb = Stateful()
    _trainer(tmp_path, max_epochs=2, callbacks=[cb]).fit(M(), *_loaders(), ckpt_path=str(path))
    assert calls[:3] == ["model.on_load_checkpoint", "callback.on_load_checkpoint", "callback.load_state_dict"]
    assert cb.count == 7


def test_model_checkpoint_keeps_the_best_and_resumes_from_last(tmp_path: Any) -> None:
    ckpt_cb = ModelCheckpoint(dirpath=str(tmp_path / "ck"), monitor="val_loss", save_top_k=2, save_last=True)
    trainer = _trainer(tmp_path, max_epochs=4, callbacks=[ckpt_cb])
    trainer.fit(Net(), *_loaders())
    files = sorted(os.listdir(tmp_path / "ck"))
    assert "last.ckpt" in files and len(files) == 3
    assert ckpt_cb.best_model_path.endswith(".ckpt") and os.path.exists(ckpt_cb.best_model_path)
    assert not any(f.endswith(".tmp") for f in files)
    resumed = _trainer(tmp_path, max_epochs=5)
    resumed.fit(Net(), *_loaders(), ckpt_path=ckpt_cb.last_model_path)
    assert resumed.current_epoch == 5 and resumed.global_step == 5 * N_BATCHES
    # "best" and "last" name the checkpoint callback's files
    assert "val_loss" in trainer.validate(dataloaders=_loaders()[1], ckpt_path="best")[0]
    # "last" with no last checkpoint on disk: Lightning's warning, and the model as given
    with pytest.warns(UserWarning, match="no last checkpoint available"):
        _trainer(tmp_path / "elsewhere").validate(Net(), _loaders()[1], ckpt_path="last")
