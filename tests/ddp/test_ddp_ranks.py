"""Rank rules that need real processes but no training: ``prepare_data`` per node, empty shares of a loader.

Two processes started the way torchrun starts them (rank variables set), posing as
two nodes of one process each, run ``Trainer.validate`` a few times (validate has
no DistributedDataParallel wrapper, so the job starts fast) and write what they
saw to ``rank{r}.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

JOB_TIMEOUT_S = 90


def _worker(out: Path) -> None:
    from loophooks.engine import ConfigurationError, LoopDataModule, LoopModule, Trainer

    rank = int(os.environ["RANK"])
    seen: dict[str, Any] = {"model_prepared": 0, "datamodule_prepared": 0}

    class Model(LoopModule):
        def __init__(self, sync: bool = True) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)
            self.batches = 0
            self.sync = sync

        def prepare_data(self) -> None:  # prepare_data_per_node=True: local rank 0 of every node
            seen["model_prepared"] += 1

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.batches += 1
            if self.sync:  # a collective: a process without batches would leave the others waiting
                self.log("mean_synced", batch[0].mean(), sync_dist=True, batch_size=len(batch[0]))
            self.log("mean_local", batch[0].mean(), batch_size=len(batch[0]))

    class Data(LoopDataModule):
        prepare_data_per_node = False  # global rank 0 only

        def prepare_data(self) -> None:
            seen["datamodule_prepared"] += 1

        def val_dataloader(self) -> Any:
            return DataLoader(TensorDataset(torch.arange(8.0).unsqueeze(1)), batch_size=2)

    def trainer(**kwargs: Any) -> Any:
        return Trainer(
            strategy="ddp", accelerator="cpu", devices=1, num_nodes=2, enable_progress_bar=False, **kwargs
        )

    model = Model()
    first = trainer(enable_checkpointing=False)
    first.validate(model, datamodule=Data())
    seen["metrics"] = {k: float(v) for k, v in first.callback_metrics.items()}
    seen["batches"] = model.batches  # 8 samples over 2 ranks: 2 batches each
    seen["prepared_once"] = [seen["model_prepared"], seen["datamodule_prepared"]]
    seen["ranks"] = [trainer().global_rank, trainer().local_rank, trainer().node_rank]

    # a sampler of the user's own that gives rank 1 nothing
    own = DataLoader(TensorDataset(torch.zeros(4, 1)), batch_size=2, sampler=list(range(4)) if rank == 0 else [])
    try:
        trainer().validate(Model(), own)
        seen["zero_length"] = "no error"
    except ConfigurationError as exc:
        seen["zero_length"] = str(exc)
    allowed = Model(sync=False)
    trainer(allow_zero_length_dataloader_with_multiple_devices=True).validate(allowed, own)
    seen["allowed_batches"] = allowed.batches
    (out / f"rank{rank}.json").write_text(json.dumps(seen))


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    from loophooks.engine._launch import find_free_port

    out = tmp_path_factory.mktemp("ddp-ranks")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK")}
    env.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(find_free_port()), "WORLD_SIZE": "2"})
    env["LOCAL_WORLD_SIZE"] = "1"
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(out)],
            env=dict(env, RANK=str(r), LOCAL_RANK="0", NODE_RANK=str(r)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(2)
    ]
    try:
        logs = [p.communicate(timeout=JOB_TIMEOUT_S)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n".join(logs)
    return {r: json.loads((out / f"rank{r}.json").read_text()) for r in range(2)}


def test_ranks_of_two_nodes(seen: dict[int, dict[str, Any]]) -> None:
    assert seen[0]["ranks"] == [0, 0, 0] and seen[1]["ranks"] == [1, 0, 1]


def test_prepare_data_runs_once_per_node_or_once_in_total(seen: dict[int, dict[str, Any]]) -> None:
    # in the first validate: the model's per node (local rank 0 of each), the datamodule's on global rank 0
    assert [seen[r]["prepared_once"] for r in range(2)] == [[1, 1], [1, 0]]
    assert [seen[r]["model_prepared"] for r in range(2)] == [3, 3]  # once per entry point, 3 entry points


def test_each_rank_validates_its_share(seen: dict[int, dict[str, Any]]) -> None:
    assert seen[0]["batches"] == seen[1]["batches"] == 2


def test_sync_dist_averages_over_every_rank(seen: dict[int, dict[str, Any]]) -> None:
    # rank 0 sees 0, 2, 4, 6 and rank 1 sees 1, 3, 5, 7 (stride split): means 3 and 4, 3.5 over both
    assert [seen[r]["metrics"]["mean_local"] for r in range(2)] == [3.0, 4.0]
    assert [seen[r]["metrics"]["mean_synced"] for r in range(2)] == [3.5, 3.5]


def test_an_empty_share_is_the_same_error_on_every_rank_unless_allowed(seen: dict[int, dict[str, Any]]) -> None:
    for r in range(2):
        assert "zero length on process rank(s) [1]" in seen[r]["zero_length"]
    assert [seen[r]["allowed_batches"] for r in range(2)] == [2, 0]


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
