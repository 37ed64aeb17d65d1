"""The cost of ``self.log``: three logged values per step, and CSV logging.

Every loop runs the same step body (``LogSteps.forward_loss``: forward, loss and a
batch accuracy) and keeps three epoch means: the loss (``on_step`` and ``on_epoch``,
``prog_bar``), the accuracy and the batch's mean logit (``on_epoch`` only).

- ``hand``: the hand-written loop keeps the three running means itself (weighted
  sums and a count, as tensors: no sync per step), and averages them at the end.
- ``engine`` / ``lightning``: ``self.log`` three times per step (no logger, no bar).
- ``engine_csv``: the engine with a ``CSVLogger`` at ``log_every_n_steps=50``,
  paired with ``engine`` (``extra_info["ratio_median"]`` is the CSV logger's share).

Targets (issue 11): engine / hand <= 1.20; engine / Lightning <= 0.25 (the quotient
of their paired ratios to the hand loop); CSV adds < 2%.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
from _harness import StepClock, engine_trainer, lightning_trainer, make_loader, make_net, measure, scaled
from torch import nn
from torch.nn import functional as F

STEPS = scaled(300, 12)
WARMUP = scaled(20, 2)
ROUNDS = 20


class LogSteps:
    net: nn.Module

    def forward_loss(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, y = batch
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        with torch.no_grad():
            acc = (logits.argmax(1) == y).float().mean()
            mean_logit = logits.mean()
        return loss, acc, mean_logit

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss, acc, mean_logit = self.forward_loss(batch)
        self.log("loss", loss, on_step=True, on_epoch=True, prog_bar=True)  # type: ignore[attr-defined]
        self.log("acc", acc, on_step=False, on_epoch=True)  # type: ignore[attr-defined]
        self.log("logit", mean_logit, on_step=False, on_epoch=True)  # type: ignore[attr-defined]
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.net.parameters(), lr=0.01)


class HandModel(LogSteps, nn.Module):
    def __init__(self) -> None:
        nn.Module.__init__(self)
        self.net = make_net("tiny")


def hand_fit_with_means(model: HandModel, loader: Any) -> dict[str, float]:
    """The baseline: the step, backward, step, zero_grad, and three running means kept by hand."""
    optimizer = model.configure_optimizers()
    model.train()
    sums = [torch.zeros(()), torch.zeros(()), torch.zeros(())]
    count = 0
    last_loss = torch.zeros(())
    with torch.enable_grad():
        for batch in loader:
            loss, acc, mean_logit = model.forward_loss(batch)
            n = batch[0].shape[0]
            last_loss = loss.detach()
            sums[0] = sums[0] + last_loss * n
            sums[1] = sums[1] + acc * n
            sums[2] = sums[2] + mean_logit * n
            count += n
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    return {"loss_step": float(last_loss), **{k: float(s / count) for k, s in zip(("loss_epoch", "acc", "logit"), sums)}}


def log_run(loop: str) -> Callable[[], float]:
    clock = StepClock()
    loader = make_loader(STEPS, 32, 2, clock=clock)
    if loop == "hand":
        model: Any = HandModel()

        def run() -> float:
            hand_fit_with_means(model, loader)
            return clock.per_step(WARMUP)

        return run
    if loop == "lightning":
        import pytorch_lightning as pl

        model = type("LitLog", (LogSteps, pl.LightningModule), {"__init__": _init(pl.LightningModule)})()
        trainer = lightning_trainer()
    else:
        from loophooks.engine import LoopModule

        model = type("LoopLog", (LogSteps, LoopModule), {"__init__": _init(LoopModule)})()
        options: dict[str, Any] = {}
        if loop == "engine_csv":
            import tempfile

            from loophooks.loggers import CSVLogger

            options = {"logger": CSVLogger(tempfile.mkdtemp(prefix="loophooks-bench-csv-")), "log_every_n_steps": 50}
        trainer = engine_trainer(check_hooks=False, **options)

    def run_trainer() -> float:
        trainer.fit(model, train_dataloaders=loader)
        return clock.per_step(WARMUP)

    return run_trainer


def _init(base: type[Any]) -> Callable[[Any], None]:
    def __init__(self: Any) -> None:
        base.__init__(self)
        self.net = make_net("tiny")

    return __init__


@pytest.mark.parametrize("loop", ["hand", "engine", pytest.param("lightning", marks=pytest.mark.lightning)])
def bench_log_step(benchmark: Any, request: pytest.FixtureRequest, loop: str) -> None:
    if loop == "lightning":
        pytest.importorskip("pytorch_lightning")
    benchmark.group = "log-step"
    measure(benchmark, lambda: log_run(loop), baseline=lambda: log_run("hand"), rounds=ROUNDS)


def bench_csv_logger(benchmark: Any) -> None:
    benchmark.group = "log-csv"
    measure(benchmark, lambda: log_run("engine_csv"), baseline=lambda: log_run("engine"), rounds=ROUNDS)


def test_the_loops_compute_the_same_means() -> None:
    """The hand loop's means are the engine's epoch values: the benchmark compares equal work."""
    from loophooks.engine import LoopModule

    torch.manual_seed(0)
    hand = HandModel()
    torch.manual_seed(0)
    engine_model = type("LoopLog", (LogSteps, LoopModule), {"__init__": _init(LoopModule)})()
    engine_model.net.load_state_dict(hand.net.state_dict())
    want = hand_fit_with_means(hand, make_loader(8, 32, 2))
    trainer = engine_trainer(check_hooks=False)
    trainer.fit(engine_model, train_dataloaders=make_loader(8, 32, 2))
    got = {k: float(v) for k, v in trainer.callback_metrics.items()}
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-5), key
