"""An exception on one process of a distributed run ends the whole job, with the original error, in bounded time.

Each case runs this file as a script (the worker at the bottom) and bounds the
job with a timeout: a hang fails the test instead of stalling the suite. Most
cases fail inside ``Trainer.validate``, which has no DistributedDataParallel
wrapper and so starts fast; one fails in ``training_step`` of a real fit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

BOUND_S = 60.0  # start-up of two processes included; a hang would run to the group timeout or forever


def _worker(case: str) -> None:
    from loophooks.engine import LoopModule, Trainer
    from loophooks.engine import DDPStrategy

    fail_rank = 0 if case == "rank0-fails" else 1

    class Model(LoopModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def setup(self, stage: str) -> None:
            if case == "parent-busy":
                if self.trainer.global_rank == fail_rank:
                    raise RuntimeError(f"original error on rank {fail_rank} in setup")
                time.sleep(120)  # rank 0 works without collectives; the launcher must end it

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            if batch_idx == 1 and self.trainer.global_rank == fail_rank:
                raise RuntimeError(f"original error on rank {fail_rank} in training_step")
            return self.layer(batch[0]).pow(2).mean()

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            if batch_idx == 1 and self.trainer.global_rank == fail_rank:
                raise RuntimeError(f"original error on rank {fail_rank} in validation_step")

        def on_validation_epoch_end(self) -> None:
            self.trainer.strategy.barrier("user")  # the survivors wait here for the failed process

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = DataLoader(TensorDataset(torch.randn(16, 2)), batch_size=2)
    trainer = Trainer(
        strategy=DDPStrategy(timeout=timedelta(seconds=20)),
        accelerator="cpu",
        devices=2,
        max_epochs=1,
        enable_progress_bar=False,
        enable_checkpointing=False,
    )
    if case == "fit":
        trainer.fit(Model(), data)
    else:
        trainer.validate(Model(), data)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT", "NODE_RANK")}
    env["MASTER_ADDR"] = "127.0.0.1"
    return env


def _run_script(case: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, __file__, case], env=env, capture_output=True, text=True, timeout=BOUND_S + 60
    )
    return proc, time.monotonic() - start


def test_a_child_failing_in_training_step_ends_the_job_with_its_error() -> None:
    proc, took = _run_script("fit", _clean_env())
    assert proc.returncode != 0
    assert "original error on rank 1 in training_step" in proc.stderr
    assert "process rank 1 failed first (exit code 1)" in proc.stderr  # the parent's own error names it
    assert took < BOUND_S, f"took {took:.1f}s"


def test_a_child_failing_while_the_parent_works_without_collectives_ends_the_job() -> None:
    env = _clean_env()
    env["LOOPHOOKS_DDP_FAILURE_GRACE"] = "2"
    proc, took = _run_script("parent-busy", env)
    assert proc.returncode != 0
    assert "original error on rank 1 in setup" in proc.stderr
    assert "process rank 1 exited with code 1" in proc.stderr
    assert took < BOUND_S, f"took {took:.1f}s (rank 0 sleeps 120s: the launcher did not end it)"


def test_the_parent_failing_stops_its_children_and_ends_with_its_own_error() -> None:
    proc, took = _run_script("rank0-fails", _clean_env())
    assert proc.returncode == 1
    assert "original error on rank 0 in validation_step" in proc.stderr
    assert "exited with code" not in proc.stderr  # the children it stopped are not reported as failures
    assert took < BOUND_S, f"took {took:.1f}s"


@pytest.mark.parametrize("failing", [0, 1])
def test_under_an_external_launcher_the_survivor_fails_instead_of_hanging(failing: int) -> None:
    """Processes started as torchrun starts them (rank variables set); the survivor waits in a barrier."""
    from loophooks.engine._launch import find_free_port

    env = _clean_env()
    env.update({"MASTER_PORT": str(find_free_port()), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "NODE_RANK": "0"})
    case = "rank0-fails" if failing == 0 else "validate"
    start = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, case],
            env=dict(env, RANK=str(r), LOCAL_RANK=str(r)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(2)
    ]
    outputs = [p.communicate(timeout=BOUND_S + 60) for p in procs]
    took = time.monotonic() - start
    codes = [p.returncode for p in procs]
    assert codes[failing] != 0 and f"original error on rank {failing} in validation_step" in outputs[failing][1]
    survivor = 1 - failing
    assert codes[survivor] != 0, outputs[survivor][1]  # it noticed the lost peer and failed
    assert took < BOUND_S, f"took {took:.1f}s"


if __name__ == "__main__":
    _worker(sys.argv[1])
