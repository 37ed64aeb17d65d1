"""``self.log(..., sync_dist=True)`` over two processes (gloo, CPU): every reduction, against arithmetic.

One job, run as a plain script with ``Trainer(strategy="ddp", devices=2)`` (the engine's
script launcher starts rank 1). Rank ``r`` logs ``10 * r + batch_idx`` for each of its two
batches of two samples, so every expected value is a line of arithmetic:

- mean: (0 + 1 + 10 + 11) / 4 = 5.5 (equal batch sizes); the last step's synced value (1 + 11) / 2 = 6
- sum: 0 + 1 + 10 + 11 = 22; max 11; min 0
- without sync_dist each rank keeps its own mean: 0.5 and 10.5
- rank_zero_only=True with sync_dist: no reduction (each rank its own value), as in Lightning
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

WORLD = 2
JOB_TIMEOUT_S = 120


def _worker(out: Path) -> None:
    from loophooks.engine import LoopModule, Trainer

    class Logging(LoopModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def _value(self, batch_idx: int) -> float:
            return float(10 * self.trainer.global_rank + batch_idx)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            v = self._value(batch_idx)
            self.log("mean", v, on_step=True, on_epoch=True, sync_dist=True)
            self.log("sum", v, on_epoch=True, reduce_fx="sum", sync_dist=True)
            self.log("max", v, on_epoch=True, reduce_fx="max", sync_dist=True)
            self.log("min", v, on_epoch=True, reduce_fx="min", sync_dist=True)
            self.log("local", v, on_epoch=True)
            self.log("rank_zero", v, on_epoch=True, sync_dist=True, rank_zero_only=True)
            return self.layer(batch[0]).sum()

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.log("val", self._value(batch_idx), sync_dist=True)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    data = TensorDataset(torch.arange(8.0).view(-1, 1))
    trainer = Trainer(
        strategy="ddp",
        accelerator="cpu",
        devices=WORLD,
        max_epochs=1,
        enable_progress_bar=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        logger=False,
        default_root_dir=str(out),
    )
    model = Logging()
    trainer.fit(model, DataLoader(data, batch_size=2), DataLoader(data, batch_size=2))
    fit_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    validated = trainer.validate(model, DataLoader(data, batch_size=2), verbose=False)
    torch.save({"rank": trainer.global_rank, "fit": fit_metrics, "validate": validated}, out / f"rank{trainer.global_rank}.pt")


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    out = tmp_path_factory.mktemp("ddp-sync")
    env = dict(os.environ)
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT", "LOCAL_WORLD_SIZE", "NODE_RANK"):
        env.pop(key, None)
    env["MASTER_ADDR"] = "127.0.0.1"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, __file__, str(out)], env=env, capture_output=True, text=True, timeout=JOB_TIMEOUT_S)
    assert proc.returncode == 0, f"the job failed after {time.monotonic() - start:.1f}s:\n{proc.stdout}\n{proc.stderr}"
    return {r: torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)}


@pytest.mark.parametrize("rank", range(WORLD))
def test_synced_epoch_values_are_global(job: dict[int, dict[str, Any]], rank: int) -> None:
    m = job[rank]["fit"]
    assert m["mean_epoch"] == pytest.approx(5.5) and m["mean"] == pytest.approx(5.5)
    assert m["mean_step"] == pytest.approx(6.0)
    assert m["sum"] == pytest.approx(22.0)
    assert m["max"] == pytest.approx(11.0)
    assert m["min"] == pytest.approx(0.0)
    assert m["val"] == pytest.approx(5.5)
    assert job[rank]["validate"] == [pytest.approx({"val": 5.5})]


@pytest.mark.parametrize("rank", range(WORLD))
def test_unsynced_and_rank_zero_only_values_stay_local(job: dict[int, dict[str, Any]], rank: int) -> None:
    m = job[rank]["fit"]
    assert m["local"] == pytest.approx(10 * rank + 0.5)
    assert m["rank_zero"] == pytest.approx(10 * rank + 0.5)


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
