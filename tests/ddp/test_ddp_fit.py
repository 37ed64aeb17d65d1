"""Two-process data-parallel fits on the CPU (gloo): the hook rules on every rank, the weights, resuming.

One job does it all, to pay the processes' start-up (torch, and torch._dynamo that
DistributedDataParallel imports) once: this file, run as a plain script with
``Trainer(strategy="ddp", devices=2)``, so the engine's script launcher starts
rank 1 by running it again. Each rank

1. fits 2 epochs with ``accumulate_grad_batches=2`` and a checkpoint each epoch,
   recording every hook (the conformance recorder) and the gradients that
   ``on_after_backward`` and ``on_before_optimizer_step`` see;
2. fits again from ``last.ckpt`` to 3 epochs (a new Trainer, a new process group);

and writes what it saw to ``rank{r}.pt``. The test compares the ranks with each
other and with one process fitting the same global batches.
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

SAMPLES, FEATURES, PER_RANK_BATCH, WORLD, ACCUMULATE = 32, 4, 2, 2, 2
ACCELERATOR = os.environ.get("LOOPHOOKS_DDP_ACCELERATOR", "cpu")  # scripts/gpu-check sets "cuda" (nccl)
JOB_TIMEOUT_S = 120  # generous: a hang fails the test instead of the CI job


def dataset() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(SAMPLES, FEATURES, generator=g)
    return TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(SAMPLES, 1, generator=g))


def model_class() -> type[Any]:
    from loophooks.engine import LoopModule

    class Regression(LoopModule):
        def __init__(self, seed: int = 0) -> None:
            super().__init__()
            torch.manual_seed(seed)  # ranks start from different weights: DDP must broadcast rank 0's
            self.layer = torch.nn.Linear(FEATURES, 1)
            self.prepared: list[int] = []
            self.grads: list[tuple[str, int, list[float]]] = []

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)

        def prepare_data(self) -> None:
            self.prepared.append(int(os.environ.get("RANK", "0")))

        def on_after_backward(self) -> None:
            grad = self.layer.weight.grad
            assert grad is not None
            self.grads.append(("after_backward", self.trainer.state.batch_idx, grad.flatten().tolist()))

        def on_before_optimizer_step(self, optimizer: Any) -> None:
            grad = self.layer.weight.grad
            assert grad is not None
            self.grads.append(("before_optimizer_step", self.trainer.state.batch_idx, grad.flatten().tolist()))

    return Regression


def _worker(out: Path) -> None:
    from loophooks.conformance import Recorder, dump_trace
    from loophooks.engine import Callback, LoopModule, ModelCheckpoint, Trainer

    rank = int(os.environ.get("RANK", "0"))  # unset in the process the user started: it becomes rank 0
    recorder = Recorder()
    model = recorder.model_class(model_class(), LoopModule)(seed=100 + rank)
    saved: list[int] = []

    class SaveSeen(Callback):
        def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
            saved.append(trainer.global_step)

    def trainer(epochs: int) -> Any:
        return Trainer(
            strategy="ddp",
            accelerator=ACCELERATOR,
            devices=WORLD,
            max_epochs=epochs,
            accumulate_grad_batches=ACCUMULATE,
            enable_progress_bar=False,
            num_sanity_val_steps=0,
            callbacks=[SaveSeen(), ModelCheckpoint(dirpath=str(out / "ckpt"), save_last=True, save_top_k=-1)],
            default_root_dir=str(out),
        )

    loader = DataLoader(dataset(), batch_size=PER_RANK_BATCH)
    first = trainer(2)
    first.fit(model, loader)
    rank = first.global_rank
    after_two = [p.detach().cpu().clone() for p in model.parameters()]
    fit_trace = list(recorder.calls)
    grads = list(model.grads)
    sampler = type(first._fit_loop.loader.sampler).__name__
    second = trainer(3)
    second.fit(model, loader, ckpt_path=str(out / "ckpt" / "last.ckpt"))
    torch.save(
        {
            "rank": rank,
            "world": second.world_size,
            "trace": dump_trace(fit_trace),
            "resume_trace": dump_trace(recorder.calls[len(fit_trace) :]),
            "grads": grads,
            "prepared": model.prepared,
            "saved": saved,
            "after_two": after_two,
            "final": [p.detach().cpu().clone() for p in model.parameters()],
            "sampler": sampler,
            "pid": os.getpid(),
        },
        out / f"rank{rank}.pt",
    )


def _reference(epochs: int) -> list[torch.Tensor]:
    """One process, the same global batches: rank r's k-th batch holds samples 2k*W + r + W*j (shuffle off)."""
    from loophooks.engine import Trainer

    model = model_class()(seed=100)
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        accumulate_grad_batches=ACCUMULATE,
        enable_progress_bar=False,
        enable_checkpointing=False,
    )
    trainer.fit(model, DataLoader(dataset(), batch_size=PER_RANK_BATCH * WORLD))
    return [p.detach().clone() for p in model.parameters()]


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    out = tmp_path_factory.mktemp("ddp-fit")
    env = dict(os.environ)
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT", "LOCAL_WORLD_SIZE", "NODE_RANK"):
        env.pop(key, None)
    env["MASTER_ADDR"] = "127.0.0.1"
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, __file__, str(out)], env=env, capture_output=True, text=True, timeout=JOB_TIMEOUT_S
    )
    assert proc.returncode == 0, f"the job failed after {time.monotonic() - start:.1f}s:\n{proc.stdout}\n{proc.stderr}"
    results = {}
    for r in range(WORLD):
        results[r] = torch.load(out / f"rank{r}.pt", weights_only=False)
    results[-1] = {"out": out}
    return results


def _hooks(trace_json: str) -> list[tuple[str, str]]:
    from loophooks.conformance import load_trace

    return [(c.hook, c.target) for c in load_trace(trace_json)]


def test_each_rank_ran_in_its_own_process(job: dict[int, dict[str, Any]]) -> None:
    assert {job[r]["rank"] for r in range(WORLD)} == set(range(WORLD))
    assert job[0]["pid"] != job[1]["pid"]
    assert job[0]["world"] == job[1]["world"] == WORLD
    assert job[0]["sampler"] == job[1]["sampler"] == "DistributedSampler"


def test_prepare_data_runs_on_rank_zero_only(job: dict[int, dict[str, Any]]) -> None:
    assert job[0]["prepared"] == [0, 0]  # once per fit, on local rank 0
    assert job[1]["prepared"] == []
    assert ("prepare_data", "module") in _hooks(job[0]["trace"])
    assert ("prepare_data", "module") not in _hooks(job[1]["trace"])


def test_hooks_run_in_the_same_order_on_every_rank(job: dict[int, dict[str, Any]]) -> None:
    for key in ("trace", "resume_trace"):
        zero = [h for h in _hooks(job[0][key]) if h[0] != "prepare_data"]
        one = _hooks(job[1][key])
        assert zero == one, key
        names = [h for h, _ in one]
        assert names.count("setup") == 1 and names.count("teardown") == 1
        assert names.count("training_step") == (SAMPLES // WORLD // PER_RANK_BATCH) * (2 if key == "trace" else 1)


def test_accumulating_batches_see_local_gradients_and_stepping_batches_averaged_ones(
    job: dict[int, dict[str, Any]],
) -> None:
    g0, g1 = job[0]["grads"], job[1]["grads"]
    assert [(k, b) for k, b, _ in g0] == [(k, b) for k, b, _ in g1]
    local = [i for i, (k, b, _) in enumerate(g0) if k == "after_backward" and b % ACCUMULATE == 0]
    synced = [i for i, (k, b, _) in enumerate(g0) if k == "before_optimizer_step" or b % ACCUMULATE == 1]
    assert local and synced
    for i in local:  # no_sync: each rank's own gradient of its own batch
        assert not torch.allclose(torch.tensor(g0[i][2]), torch.tensor(g1[i][2]))
    for i in synced:  # all-reduced on the stepping batch: the same everywhere
        assert torch.allclose(torch.tensor(g0[i][2]), torch.tensor(g1[i][2]), atol=1e-6)


def test_weights_are_identical_across_ranks_and_equal_to_one_process(job: dict[int, dict[str, Any]]) -> None:
    for a, b in zip(job[0]["final"], job[1]["final"]):
        assert torch.equal(a, b)
    for got, want in zip(job[0]["after_two"], _reference(2)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_only_rank_zero_writes_checkpoints_and_every_rank_resumes(job: dict[int, dict[str, Any]]) -> None:
    out: Path = job[-1]["out"]
    files = sorted(p.name for p in (out / "ckpt").iterdir())
    assert "last.ckpt" in files and not [f for f in files if f.endswith(".tmp")]
    assert job[0]["saved"] == job[1]["saved"] and job[0]["saved"]  # the hooks ran on every rank
    resumed = [h for h, _ in _hooks(job[1]["resume_trace"])]
    assert "on_load_checkpoint" in resumed
    assert resumed.count("on_train_epoch_start") == 1  # epochs 0-1 restored, only epoch 2 runs
    # resuming equals fitting 3 epochs straight through in one process
    for got, want in zip(job[0]["final"], _reference(3)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
