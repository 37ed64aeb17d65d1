"""Workloads, baselines and the in-loop clock shared by the benchmarks.

How a per-step time is measured
-------------------------------
Every loop under test (the hand-written one, the engine, Lightning) pulls its
batches from the same kind of ``DataLoader``, whose ``collate_fn`` notes the time
(:class:`StepClock`). Each loop fetches exactly one batch per step, so the time
between two fetches is one whole step: fetch, transfer, hooks, forward, loss,
backward, optimizer step, zero_grad. A round's figure is the mean interval between
the fetches after ``warmup`` steps, leaving out intervals over three times the
median (the process descheduled on a busy machine; see :meth:`StepClock.per_step`).

This leaves out what a fit does once (Trainer set-up, ``configure_optimizers``,
creating the iterator, the first steps' lazy allocations, the end of the fit),
adds no hook to any loop, and costs every loop the same (one clock reading per
batch). Lightning fetches one batch ahead; its stamps are shifted by one
step, which does not change the interval between them.

pytest-benchmark times what it is handed (a whole fit); :func:`measure` replaces
its samples with the in-loop figures (one per round), so its table, its JSON and
``report.py`` all show the per-step time. The whole round's time (both sides of a
pair, with their set-up) stays in ``extra_info["round_s"]``.
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset, default_collate

SMOKE = os.environ.get("LOOPHOOKS_BENCH_SMOKE", "") not in ("", "0")
"""Smoke mode (``tests/package/test_benchmarks_smoke.py``): every benchmark once, on a few steps."""


_CLOCK: list[Callable[[], float]] = [time.process_time]


def clock() -> float:
    """The benchmarks' clock: the process's CPU time unless ``set_clock`` chose another.

    The loops under test run on one thread (``torch.set_num_threads(1)``, no loader
    workers, no logger), so on an idle machine their CPU time is their wall time; on a
    busy one CPU time leaves out the time spent waiting for a core, which is not
    theirs. ``--benchmark-timer`` chooses it (``conftest.py``), for pytest-benchmark's
    own timings too.
    """
    return _CLOCK[0]()


def set_clock(fn: Callable[[], float]) -> None:
    _CLOCK[0] = fn


def clock_name() -> str:
    fn = _CLOCK[0]
    return f"{getattr(fn, '__module__', None) or 'time'}.{getattr(fn, '__name__', repr(fn))}"


def pin_allocator() -> bool:
    """Fix glibc malloc's trim and mmap thresholds for the session; False where there is no glibc.

    By default glibc gives freed memory back to the OS and decides from recent history
    whether a large block is mapped afresh; the page faults that follow made the MLP's
    step take 14 or 22 ms depending on what ran before it, whichever loop it was.
    With fixed thresholds every loop sees the same allocator.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_trim_threshold, 1 << 30)) and bool(mallopt(m_mmap_threshold, 64 << 20))


MEMORY: dict[str, dict[str, Any]] = {}
"""``bench_memory``'s readings, by test id; ``conftest`` adds them to the JSON."""


def scaled(full: int, smoke: int) -> int:
    return smoke if SMOKE else full


# --- the in-loop clock ---------------------------------------------------------------------------------


class StepClock:
    """A ``collate_fn`` that stamps the time of every batch it makes."""

    __slots__ = ("stamps",)

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def __call__(self, items: list[Any]) -> Any:
        self.stamps.append(clock())
        return default_collate(items)

    def per_step(self, warmup: int) -> float:
        """Mean seconds between fetches after the first ``warmup`` steps, preemptions left out.

        An interval over ``OUTLIER`` times the median is the process waiting for a
        core (milliseconds, on a loaded machine), not the loop working; it is dropped.
        Garbage collection and any other cost a loop pays now and then stay in.
        """
        stamps = self.stamps[warmup:]
        if len(stamps) < 3:
            raise RuntimeError(f"only {len(self.stamps)} batches were fetched; need more than {warmup + 2}")
        intervals = [b - a for a, b in zip(stamps, stamps[1:])]
        limit = OUTLIER * statistics.median(intervals)
        return statistics.fmean(i for i in intervals if i <= limit)


OUTLIER = 3.0


def measure(
    benchmark: Any,
    make_run: Callable[[], Callable[[], float]],
    *,
    rounds: int,
    baseline: Callable[[], Callable[[], float]] | None = None,
    warmup_rounds: int = 1,
    unit: str = "step",
) -> list[float]:
    """Run ``make_run()()`` once per round; pytest-benchmark's samples become the figures it returns.

    ``make_run`` builds the round (model, loader, Trainer); the callable it returns runs
    the round and returns its figure in seconds per ``unit``. With ``baseline``, every
    round also runs the baseline's round, before the measured one on even rounds and
    after it on odd ones, so both see the same machine load; the per-round ratios go to
    ``extra_info["ratios"]``. This pairing is what makes the ratios usable on a shared
    2-core machine, where the load drifts between one benchmark and the next. With
    ``--benchmark-disable`` one round runs and nothing is recorded.

    Both sides of a pair are run the same way: built, run and dropped in turn, each
    after ``gc.collect()``, inside the one call pytest-benchmark times. A Trainer and its
    model form reference cycles (the model keeps its trainer, as in Lightning) that
    torch's allocations do not prompt the collector to free; and a side built in
    pytest-benchmark's ``setup`` stayed alive through the other side's run. Either way
    one side ran beside tens of MiB the other did not, which on the MLP moved the
    figures by several percent (the hand loop paired with itself read 0.96).
    """
    figures: list[float] = []
    base_figures: list[float] = []
    count = [0]

    def target() -> None:
        measured_first = baseline is None or count[0] % 2 == 1
        count[0] += 1
        if measured_first:
            figures.append(_one_round(make_run, unit))
        if baseline is not None:
            base_figures.append(_one_round(baseline, unit))
            if not measured_first:
                figures.append(_one_round(make_run, unit))

    rounds = 1 if SMOKE else rounds
    warmup_rounds = 0 if SMOKE else warmup_rounds
    benchmark.pedantic(target, rounds=rounds, warmup_rounds=warmup_rounds)
    kept = figures[-rounds:]
    metadata = getattr(benchmark, "stats", None)
    if metadata is not None:  # None when benchmarks are disabled
        benchmark.extra_info["round_s"] = statistics.median(metadata.stats.data)
        benchmark.extra_info["unit"] = unit
        metadata.stats.data[:] = kept
        if baseline is not None:
            base = base_figures[-rounds:]
            ratios = [t / b for t, b in zip(kept, base)]
            benchmark.extra_info["baseline_s"] = base
            benchmark.extra_info["ratios"] = ratios
            benchmark.extra_info["ratio_median"] = statistics.median(ratios)
    return kept


def _one_round(make_run: Callable[[], Callable[[], float]], unit: str) -> float:
    """Build one side's round, run it and drop it, from a collected heap."""
    gc.collect()
    return _checked_figure(make_run()(), unit)


def _checked_figure(figure: float, unit: str) -> float:
    if not figure > 0:
        raise RuntimeError(f"a round measured {figure!r} s per {unit}")
    return figure


# --- data ----------------------------------------------------------------------------------------------


def make_loader(
    steps: int, features: int, classes: int, *, batch_size: int = 32, clock: StepClock | None = None
) -> DataLoader[Any]:
    """``steps`` batches of ``batch_size`` random rows with integer labels, in a plain ``DataLoader``."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(steps * batch_size, features, generator=generator)
    y = torch.randint(0, classes, (steps * batch_size,), generator=generator)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False, collate_fn=clock or default_collate)


class Repeat:
    """The same batch ``n`` times, with a length: a loader that costs (almost) nothing.

    With a ``clock``, each batch handed out is stamped, as :class:`StepClock` does
    for a ``DataLoader``.
    """

    def __init__(self, batch: Any, n: int, clock: StepClock | None = None) -> None:
        self.batch = batch
        self.n = n
        self.clock = clock

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Any]:
        batch = self.batch
        stamps = self.clock.stamps if self.clock is not None else None
        for _ in range(self.n):
            if stamps is not None:
                stamps.append(clock())
            yield batch


def repeat_loader(
    steps: int, features: int, classes: int, *, batch_size: int = 32, clock: StepClock | None = None
) -> Repeat:
    """``steps`` times one pre-made batch: the loop's own cost is not hidden behind the DataLoader's."""
    generator = torch.Generator().manual_seed(0)
    batch = (
        torch.randn(batch_size, features, generator=generator),
        torch.randint(0, classes, (batch_size,), generator=generator),
    )
    return Repeat(batch, steps, clock)


# --- models --------------------------------------------------------------------------------------------
# One body for every loop: the step methods live in a mixin that the plain nn.Module,
# the LoopModule and the LightningModule versions share.

TINY = {"features": 32, "classes": 2}
MLP = {"features": 1024, "classes": 10}
SIZES = {"tiny": TINY, "mlp": MLP}


def make_net(size: str) -> nn.Module:
    """``tiny``: ``Linear(32, 2)``. ``mlp``: 1024 -> 2048 -> 1024 -> 10, about 4.2 M parameters."""
    if size == "tiny":
        return nn.Linear(32, 2)
    if size == "mlp":
        return nn.Sequential(nn.Linear(1024, 2048), nn.ReLU(), nn.Linear(2048, 1024), nn.ReLU(), nn.Linear(1024, 10))
    raise ValueError(size)


class Steps:
    """``training_step``, ``validation_step`` and ``configure_optimizers`` over ``self.net``."""

    net: nn.Module

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.net.parameters(), lr=0.01)


class PlainModel(Steps, nn.Module):
    """A plain ``nn.Module`` with the step methods: what the hand loop and the engine run."""

    def __init__(self, size: str = "tiny") -> None:
        nn.Module.__init__(self)
        self.net = make_net(size)


def loop_model_class() -> type[Any]:
    from loophooks.engine import LoopModule

    class LoopModel(Steps, LoopModule):
        def __init__(self, size: str = "tiny") -> None:
            LoopModule.__init__(self)
            self.net = make_net(size)

    return LoopModel


def lightning_model_class() -> type[Any]:
    import pytorch_lightning as pl

    class LitModel(Steps, pl.LightningModule):
        def __init__(self, size: str = "tiny") -> None:
            pl.LightningModule.__init__(self)
            self.net = make_net(size)

    return LitModel


# --- the three loops -----------------------------------------------------------------------------------


def hand_fit(model: Any, loader: Any) -> None:
    """The baseline: forward and loss (``training_step``), backward, step, zero_grad; nothing else."""
    optimizer = model.configure_optimizers()
    model.train()
    with torch.enable_grad():
        for batch_idx, batch in enumerate(loader):
            loss = model.training_step(batch, batch_idx)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()


def hand_fit_lightning_order(model: Any, loader: Any) -> None:
    """The hand-written loop with its calls in the order the standard fixes (Lightning's): forward and loss,
    zero_grad, backward, step. Gradients are cleared after the forward, not after the step: on the MLP that
    alone costs several percent (the freed gradients are not there for the forward to reuse), a cost no
    trainer that keeps the hooks' order can avoid, so it is the fair baseline for the engine's own cost."""
    optimizer = model.configure_optimizers()
    model.train()
    with torch.enable_grad():
        for batch_idx, batch in enumerate(loader):
            loss = model.training_step(batch, batch_idx)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def engine_trainer(*, check_hooks: bool, **options: Any) -> Any:
    from loophooks.engine import Trainer

    return Trainer(**{**_bare_settings(), "check_hooks": check_hooks, **options})


def lightning_trainer(**options: Any) -> Any:
    """Lightning's Trainer with everything a bare loop lacks switched off."""
    import pytorch_lightning as pl

    return pl.Trainer(**{**_bare_settings(), **options})


def _bare_settings() -> dict[str, Any]:
    """Both Trainers' settings: everything a bare loop lacks switched off (loggers are measured in
    bench_logging.py), on one CPU, one epoch."""
    return {
        "accelerator": "cpu",
        "devices": 1,
        "max_epochs": 1,
        "logger": False,
        "enable_progress_bar": False,
        "enable_checkpointing": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "default_root_dir": _scratch(),
    }


_SCRATCH: list[str] = []


def _scratch() -> str:
    if not _SCRATCH:
        _SCRATCH.append(tempfile.mkdtemp(prefix="loophooks-bench-"))
    return _SCRATCH[0]


def quiet() -> None:
    """Lightning's advice about workers and logging is noise here."""
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
    warnings.filterwarnings("ignore", message=".*log_every_n_steps.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="pytorch_lightning.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="lightning_fabric.*")
    import logging

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


def step_run(loop: str, size: str, steps: int, warmup: int, **engine_options: Any) -> Callable[[], float]:
    """One round of a per-step benchmark: ``loop`` is ``hand``, ``hand_lightning_order``, ``engine``,
    ``engine_checked`` or ``lightning``."""
    shape = SIZES[size]
    clock = StepClock()
    loader = make_loader(steps, shape["features"], shape["classes"], clock=clock)
    if loop in ("hand", "hand_lightning_order"):
        model: Any = PlainModel(size)
        fit = hand_fit if loop == "hand" else hand_fit_lightning_order

        def run() -> float:
            fit(model, loader)
            return clock.per_step(warmup)

    elif loop in ("engine", "engine_checked"):
        model = PlainModel(size)
        trainer = engine_trainer(check_hooks=loop == "engine_checked", **engine_options)

        def run() -> float:
            trainer.fit(model, train_dataloaders=loader)
            return clock.per_step(warmup)

    elif loop == "lightning":
        model = lightning_model_class()(size)
        trainer = lightning_trainer()

        def run() -> float:
            trainer.fit(model, train_dataloaders=loader)
            return clock.per_step(warmup)

    else:
        raise ValueError(loop)
    return run


# --- start-up ------------------------------------------------------------------------------------------


class FirstStep:
    """A mixin whose ``training_step`` notes when it is first entered."""

    first: list[float]

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if not self.first:
            self.first.append(clock())
        return super().training_step(batch, batch_idx)  # type: ignore[misc, no-any-return]


def startup_run(loop: str) -> Callable[[], float]:
    """One round of the start-up benchmark: seconds from ``Trainer(...)`` to the first ``training_step``.

    The model and the loader are made before the clock starts; the run is a one-step fit.
    """
    loader = make_loader(4, TINY["features"], TINY["classes"])
    if loop == "lightning":
        model: Any = type("FirstStepLit", (FirstStep, lightning_model_class()), {})()
    elif loop == "loop_module":
        model = type("FirstStepLoop", (FirstStep, loop_model_class()), {})()
    else:
        model = type("FirstStepPlain", (FirstStep, PlainModel), {})()
    model.first = []

    def run() -> float:
        start = clock()
        if loop == "hand":
            hand_fit(model, loader)
        elif loop == "lightning":
            lightning_trainer(max_steps=1).fit(model, train_dataloaders=loader)
        else:
            engine_trainer(check_hooks=loop == "engine_checked", max_steps=1).fit(model, train_dataloaders=loader)
        return model.first[0] - start  # type: ignore[no-any-return]

    return run


# --- scale ---------------------------------------------------------------------------------------------


class ObserverHooks:
    """Per-step hooks with small bodies: overriding them adds calls, not work."""

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        COUNT[0] += 1

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        COUNT[0] += 1

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        COUNT[0] += 1
        return batch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        COUNT[0] += 1
        return batch

    def on_before_zero_grad(self, optimizer: Any) -> None:
        COUNT[0] += 1

    def on_before_backward(self, loss: torch.Tensor) -> None:
        COUNT[0] += 1

    def on_after_backward(self) -> None:
        COUNT[0] += 1

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        COUNT[0] += 1


COUNT = [0]
OBSERVERS = [name for name in vars(ObserverHooks) if name.startswith("on_")]


def observer_model(k: int, size: str = "tiny") -> Any:
    """A ``LoopModule`` model overriding the first ``k`` of :data:`OBSERVERS`."""
    base = loop_model_class()
    methods = {name: vars(ObserverHooks)[name] for name in OBSERVERS[:k]}
    return type(f"Observing{k}", (base,), methods)(size)


def observer_callbacks(k: int) -> list[Any]:
    """``k`` engine callbacks, each with ``on_train_batch_start`` and ``on_train_batch_end``."""
    from loophooks.engine import Callback

    class Observer(Callback):
        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
            COUNT[0] += 1

        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            COUNT[0] += 1

    return [Observer() for _ in range(k)]


def scale_run(
    *, hooks: int = 0, callbacks: int = 0, steps: int, warmup: int, checks: bool = False
) -> Callable[[], float]:
    """A round of an engine fit with ``hooks`` overridden observer hooks and ``callbacks`` observers."""
    clock = StepClock()
    loader = repeat_loader(steps, TINY["features"], TINY["classes"], clock=clock)
    model = observer_model(hooks)
    trainer = engine_trainer(check_hooks=checks, callbacks=observer_callbacks(callbacks))

    def run() -> float:
        trainer.fit(model, train_dataloaders=loader)
        return clock.per_step(warmup)

    return run


def loaders_run(loaders: int, batches: int, warmup: int) -> Callable[[], float]:
    """A round of ``validate`` over ``loaders`` loaders sharing ``batches`` batches; seconds per batch."""
    clock = StepClock()
    each = batches // loaders
    dataloaders = [repeat_loader(each, TINY["features"], TINY["classes"], clock=clock) for _ in range(loaders)]
    model = loop_model_class()("tiny")
    trainer = engine_trainer(check_hooks=False)

    def run() -> float:
        trainer.validate(model, dataloaders=dataloaders)
        return clock.per_step(warmup)

    return run


# --- conformance ---------------------------------------------------------------------------------------


def conformance_run(adapter: str, extra: dict[str, Any]) -> Callable[[], float]:
    """A round of the conformance benchmark: wall seconds for the whole CPU catalogue through ``adapter``.

    Uses ``loophooks.conformance.check``; where that API is missing, times
    ``loophooks check`` as a subprocess instead (and says so in ``extra``).
    """
    try:
        from loophooks.conformance import check
    except ImportError:
        check = None

    def run() -> float:
        start = clock()
        if check is not None:
            report = check(adapter, devices=("cpu",), pattern="fit-cpu" if SMOKE else None)
            seconds = clock() - start
            outcomes: dict[str, int] = {}
            for result in report.results:
                outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
            extra["outcomes"] = outcomes
            extra["cases"] = len(report.results)
            extra["how"] = "loophooks.conformance.check"
            return seconds
        import subprocess
        import sys

        subprocess.run(
            [sys.executable, "-m", "loophooks.conformance", "check", "--adapter", adapter],
            check=False,
            capture_output=True,
        )
        extra["how"] = "loophooks check (subprocess)"
        return clock() - start

    return run


def recorder_run(recording: bool, steps: int, warmup: int) -> Callable[[], float]:
    """A round of an engine fit of the tiny ``LoopModule`` model, with or without the conformance recorder."""
    from loophooks.conformance import Recorder

    clock = StepClock()
    loader = make_loader(steps, TINY["features"], TINY["classes"], clock=clock)
    base = loop_model_class()
    cls = Recorder().model_class(base) if recording else base
    model = cls("tiny")
    # The recorder wraps every hook, val_dataloader included, which makes it look
    # overridden; no validation keeps the two runs alike.
    trainer = engine_trainer(check_hooks=False, limit_val_batches=0)

    def run() -> float:
        trainer.fit(model, train_dataloaders=loader)
        return clock.per_step(warmup)

    return run
