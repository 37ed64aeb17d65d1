"""Checkpoints go both ways: Lightning 2.6 resumes the engine's files, the engine resumes Lightning's.

One job (4 batches per epoch, unshuffled) saves at three points, under Lightning and under the engine:
inside epoch 1 at batch 1's on_train_batch_end, in epoch 0's on_train_epoch_end, and after fit. Each file
is then resumed by both. Expected positions (epoch, batch_idx, global_step of each batch trained after the
resume) come from Lightning resuming its own file.

After a mid-epoch resume the two differ on purpose in *which* data the rest of the epoch sees: Lightning
restarts a plain DataLoader from its first batch, the engine skips the batches already done (spec/ORDER.md,
"Where the resumed fit continues"), so only the engine ends with the uninterrupted run's weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from tests.lightning_port._kit import BOTH, api, quiet, trainer

pytest.importorskip("pytorch_lightning")
pytestmark = pytest.mark.lightning

POINTS = ("batch", "epoch", "post")
X = torch.arange(32.0).reshape(16, 2) / 16


def _loader() -> DataLoader[Any]:
    return DataLoader(TensorDataset(X, torch.ones(16, 1)), batch_size=4)


def _kit(kind: str) -> tuple[Any, Any]:
    L = api(kind)

    class Net(L.LightningModule):
        def __init__(self, lr: float = 0.1) -> None:
            super().__init__()
            self.save_hyperparameters()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(2, 1)
            self.seen: list[tuple[int, int, int]] = []

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            self.seen.append((self.current_epoch, batch_idx, self.global_step))
            return torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1])

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    class Save(L.Callback):
        def __init__(self, point: str, path: str) -> None:
            self.point, self.path = point, path

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            if self.point == "batch" and trainer.current_epoch == 1 and batch_idx == 1:
                trainer.save_checkpoint(self.path)

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            if self.point == "epoch" and trainer.current_epoch == 0:
                trainer.save_checkpoint(self.path)

    return Net, Save


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    root = tmp_path_factory.mktemp("interchange")
    out = {}
    for point in POINTS:
        for kind in BOTH:
            Net, Save = _kit(kind)
            path = root / f"{kind}-{point}.ckpt"
            t = trainer(kind, max_epochs=2 if point == "post" else 3, callbacks=[Save(point, str(path))], num_sanity_val_steps=0)
            quiet(t.fit, Net(), _loader())
            if point == "post":
                t.save_checkpoint(str(path))
            out[(kind, point)] = path
    return out


def _resume(kind: str, path: Path) -> tuple[list[tuple[int, int, int]], int, list[float]]:
    Net, _ = _kit(kind)
    net = Net()
    t = trainer(kind, max_epochs=3, num_sanity_val_steps=0)
    extra = {"weights_only": False} if kind == "lightning" else {}
    quiet(t.fit, net, _loader(), ckpt_path=str(path), **extra)
    return net.seen, t.global_step, net.layer.weight.flatten().tolist()


@pytest.fixture(scope="module")
def uninterrupted() -> list[float]:
    Net, _ = _kit("engine")
    net = Net()
    quiet(trainer("engine", max_epochs=3).fit, net, _loader())
    return net.layer.weight.flatten().tolist()


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("writer", BOTH)
def test_each_resumes_the_others_file_where_lightning_resumes_its_own(
    point: str, writer: str, files: dict[tuple[str, str], Path], uninterrupted: list[float]
) -> None:
    expected, expected_step, lightning_weights = _resume("lightning", files[("lightning", point)])
    assert expected  # the resumed fit trains something in every case
    for reader in BOTH:
        seen, step, weights = _resume(reader, files[(writer, point)])
        assert (seen, step) == (expected, expected_step), f"{reader} resuming {writer}'s {point} file"
        if reader == "engine":
            assert weights == pytest.approx(uninterrupted, abs=1e-6)  # as if never interrupted
        else:
            assert weights == pytest.approx(lightning_weights, abs=1e-6)


def test_the_engine_writes_lightnings_keys(files: dict[tuple[str, str], Path]) -> None:
    ours = torch.load(files[("engine", "batch")], weights_only=True)
    theirs = torch.load(files[("lightning", "batch")], weights_only=False)
    assert ours["pytorch-lightning_version"] == theirs["pytorch-lightning_version"]
    assert ours["hyper_parameters"] == theirs["hyper_parameters"] == {"lr": 0.1}
    assert ours["hparams_name"] == theirs["hparams_name"]
    mine, lightning = ours["loops"]["fit_loop"], theirs["loops"]["fit_loop"]
    for key, value in lightning.items():  # every counter Lightning wrote, with the same value
        assert mine[key] == value, key
    assert set(ours["loops"]) == set(theirs["loops"])


def test_a_lightning_file_without_loop_state_is_refused(files: dict[tuple[str, str], Path], tmp_path: Path) -> None:
    from loophooks.engine import CheckpointError

    checkpoint = torch.load(files[("lightning", "epoch")], weights_only=False)
    del checkpoint["loops"]
    checkpoint.pop("callbacks")
    bad = tmp_path / "no-loops.ckpt"
    torch.save(checkpoint, bad)
    Net, _ = _kit("engine")
    with pytest.raises(CheckpointError, match="loop state"):
        trainer("engine", max_epochs=3).fit(Net(), _loader(), ckpt_path=str(bad))
