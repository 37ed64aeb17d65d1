"""Resume is bit-exact where the README says so, and warns at save time where it cannot be (issue 13, section 2).

N epochs == save at a point + resume to N, bit for bit, when the checkpoint falls

* inside an accumulation window (the gradients gathered so far are saved),
* in a loader that shuffles with its own ``torch.Generator`` (built anew by each
  ``train_dataloader`` call, as scripts do),
* in a pipeline that draws from Python's ``random`` and NumPy's global generator
  in ``Dataset.__getitem__``,

each mid-epoch and at an epoch's end. What a checkpoint cannot hold is named by a
warning when it is saved: loaders with persistent workers, and the other ranks'
accumulated gradients under DDP.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from loophooks.engine import Callback, LoopModule, Trainer
from loophooks.engine._resume_state import save_time_warnings


@pytest.fixture(autouse=True)
def _restore_determinism() -> Iterator[None]:
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


class Noisy(Dataset[torch.Tensor]):
    """Augments each sample with Python's and NumPy's global generators (a common data pipeline)."""

    def __init__(self, data: torch.Tensor, python: bool, numpy: bool) -> None:
        self.data, self.python, self.numpy = data, python, numpy

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> torch.Tensor:
        x = self.data[i].clone()
        if self.python:
            x = x + random.gauss(0.0, 0.1)
        if self.numpy:
            x = x * float(np.random.uniform(0.9, 1.1))
        return x


class Net(LoopModule):
    def __init__(self, *, generator: bool = False, python: bool = False, numpy: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.2), torch.nn.Linear(8, 1))
        self.data = torch.randn(24, 4, generator=torch.Generator().manual_seed(1))
        self.generator, self.python, self.numpy = generator, python, numpy

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        return self.body(batch).pow(2).mean()

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)

    def train_dataloader(self) -> Any:
        generator = torch.Generator().manual_seed(7) if self.generator else None
        return DataLoader(Noisy(self.data, self.python, self.numpy), batch_size=4, shuffle=True, generator=generator)


class SaveAt(Callback):
    def __init__(self, path: Path | None, at: tuple[int, int | None]) -> None:
        self.path, self.at = path, at

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.path is not None and (trainer.current_epoch, batch_idx) == self.at:
            trainer.save_checkpoint(str(self.path))

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.path is not None and (trainer.current_epoch, None) == self.at:
            trainer.save_checkpoint(str(self.path))


def _trainer(root: Path, callbacks: list[Any], **options: Any) -> Trainer:
    return Trainer(
        max_epochs=3, enable_progress_bar=False, enable_checkpointing=False, deterministic=True,
        num_sanity_val_steps=0, default_root_dir=str(root), callbacks=callbacks, **options,
    )


def _seed_pipeline() -> None:
    """Both runs start from the same global states, as two runs of one seeded script do."""
    random.seed(3)
    np.random.seed(3)


CASES = [
    pytest.param({"accumulate_grad_batches": 3}, {}, (1, 1), id="accumulation-window-open"),
    pytest.param({"accumulate_grad_batches": 4}, {}, (0, 4), id="accumulation-window-open-late"),
    pytest.param({}, {"generator": True}, (1, 2), id="loader-generator-mid-epoch"),
    pytest.param({}, {"generator": True}, (0, None), id="loader-generator-epoch-end"),
    pytest.param({}, {"python": True, "numpy": True}, (1, 3), id="python-numpy-mid-epoch"),
    pytest.param({}, {"python": True, "numpy": True}, (1, None), id="python-numpy-epoch-end"),
    pytest.param(
        {"accumulate_grad_batches": 2}, {"generator": True, "python": True, "numpy": True}, (2, 2), id="all-at-once"
    ),
]


@pytest.mark.parametrize(("options", "model", "at"), CASES)
def test_resume_is_bit_exact(tmp_path: Path, options: dict[str, Any], model: dict[str, Any], at: Any) -> None:
    ckpt = tmp_path / "at.ckpt"
    _seed_pipeline()
    full = Net(**model)
    _trainer(tmp_path, [SaveAt(ckpt, at)], **options).fit(full)
    assert ckpt.is_file()

    _seed_pipeline()  # the resumed script seeds the same way; the checkpoint must override what matters
    resumed = Net(**model)
    _trainer(tmp_path, [SaveAt(None, at)], **options).fit(resumed, ckpt_path=str(ckpt))

    a, b = full.state_dict(), resumed.state_dict()
    assert all(bool(torch.isfinite(v).all()) for v in a.values())
    assert [k for k in a if not torch.equal(a[k], b[k])] == [], "weights differ after the resume"


def test_the_saved_states_load_with_weights_only(tmp_path: Path) -> None:
    from loophooks.engine import load_checkpoint

    ckpt = tmp_path / "mid.ckpt"
    _trainer(tmp_path, [SaveAt(ckpt, (0, 1))], accumulate_grad_batches=3).fit(Net(generator=True, python=True))
    loop = load_checkpoint(ckpt)["loops"]["fit_loop"]  # weights_only=True
    assert set(loop["accumulated_grads"]) == {"body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias"}
    assert len(loop["random"]["generators"]) == 1 and loop["random"]["python"][0] == 3


# --- what a checkpoint cannot hold is named when it is saved -------------------------------------------


class _PersistentLoader:
    """Stands in for DataLoader(num_workers=2, persistent_workers=True) without starting worker processes."""

    num_workers = 2
    persistent_workers = True


def test_persistent_workers_are_warned_about_at_save_time() -> None:
    with pytest.warns(UserWarning, match="persistent workers"):
        save_time_warnings(_PersistentLoader(), window_open=False, world_size=1)


def test_an_accumulation_window_under_ddp_is_warned_about_at_save_time() -> None:
    with pytest.warns(UserWarning, match="accumulation window under DDP"):
        save_time_warnings(None, window_open=True, world_size=2)


def test_nothing_is_warned_about_when_the_resume_is_exact(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        save_time_warnings(DataLoader(torch.zeros(4)), window_open=True, world_size=1)
