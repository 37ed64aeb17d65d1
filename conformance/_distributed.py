"""Distributed conformance: catalogue scenarios run by several processes, each rank's trace judged.

A trainer that declares the ``"distributed"`` capability is run with
``strategy="ddp"``, ``devices=world_size`` (settings with Lightning's names) in
``world_size`` processes that this module starts itself, the way ``torchrun``
does: each gets ``MASTER_ADDR=127.0.0.1``, a free ``MASTER_PORT`` chosen at run
time, ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``NODE_RANK``.
One job runs every selected scenario in turn (a new trainer each, so a trainer
must create and destroy its process group cleanly between runs), because starting
processes costs far more than the scenarios.

Each scenario of :data:`DISTRIBUTED_FEATURES` is a *per-rank* scenario: the job
gives the trainer ``world_size`` times the data (the same loaders, more batches),
so that with a distributed sampler every rank sees exactly the scenario's batches
and its trace can be compared with ``expected_calls(scenario)``. The rank rules
(:func:`rank_problems`):

* every rank finishes the same way (all without error, or all with the same error);
* ``prepare_data`` runs on local rank 0 of each node only (the default
  ``prepare_data_per_node=True``), the same number of times as on one process;
* with ``prepare_data`` left out, every rank makes the same calls in the same order;
* each rank's trace is the spec's expected trace (``strict``), or keeps the core
  rules (``core``), with ``prepare_data`` left out on the ranks that skip it.

Checkpoints (the resume scenarios) are saved through the trainer's own
``save_checkpoint`` into one folder shared by the ranks: only rank 0 writes, and
every rank resumes from that file.

Run from Python (:func:`run_distributed`) or the command line::

    python -m loophooks.conformance._distributed --adapter engine --world-size 2 [--features fit,resume]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from typing_extensions import final

from loophooks.spec import Call, Scenario

__all__ = [
    "DISTRIBUTED_FEATURES",
    "DistributedResult",
    "distributed_scenarios",
    "global_scenario",
    "rank_problems",
    "run_distributed",
]

DISTRIBUTED_FEATURES: Final[tuple[str, ...]] = (
    "fit",
    "accumulate",
    "datamodule",
    "resume",
    "resume-mid-epoch",
    "validate",
    "test",
    "predict",
    "fault",
)
"""Catalogue features (``_catalogue.FEATURES`` names) run distributed, in this order."""

Level = Literal["strict", "core"]


@final
@dataclass
class DistributedResult:
    """One scenario run by ``world_size`` processes."""

    scenario: Scenario
    world_size: int
    traces: dict[int, list[Call]] = field(default_factory=dict)
    """Each rank's recorded calls."""
    errors: dict[int, str | None] = field(default_factory=dict)
    """Each rank's error (``"TypeName: message"``), ``None`` where the run finished."""
    problems: list[str] = field(default_factory=list)
    """Rank-rule violations; empty when the scenario passed."""
    unsupported: str | None = None
    """Why the scenario did not run (the adapter lacks a capability), else ``None``."""

    @property
    def passed(self) -> bool:
        return self.unsupported is None and not self.problems


def distributed_scenarios(features: Iterable[str] | None = None) -> list[Scenario]:
    """The per-rank scenarios of ``features`` (default :data:`DISTRIBUTED_FEATURES`), named ``ddp-<feature>``."""
    from loophooks.conformance._catalogue import FEATURES

    by_name = {f.name: f for f in FEATURES}
    chosen = list(features) if features is not None else list(DISTRIBUTED_FEATURES)
    unknown = [n for n in chosen if n not in by_name]
    if unknown:
        raise ValueError(f"unknown catalogue features {unknown}; known: {sorted(by_name)}")
    return [Scenario().with_(**dict(by_name[n].changes), name=f"ddp-{n}") for n in chosen]


def global_scenario(scenario: Scenario, world_size: int) -> Scenario:
    """``scenario`` with ``world_size`` times the batches in every loader (each rank's share is the scenario's)."""
    return scenario.with_(
        train_batches=scenario.train_batches * world_size,
        val_batches=tuple(n * world_size for n in scenario.val_batches),
        test_batches=tuple(n * world_size for n in scenario.test_batches),
        predict_batches=tuple(n * world_size for n in scenario.predict_batches),
    )


def _ordered(trace: Sequence[Call]) -> list[tuple[str, str]]:
    return [(c.hook, c.target) for c in trace if c.hook != "prepare_data"]


def rank_problems(
    result: DistributedResult, *, level: Level = "strict", local_world_size: int | None = None
) -> list[str]:
    """The rank rules of the module docstring, checked on ``result``'s traces; an empty list when all hold."""
    from loophooks.conformance._validator import first_divergence
    from loophooks.spec import core_violations, expected_calls

    world = result.world_size
    per_node = local_world_size or world
    problems: list[str] = []
    missing = [r for r in range(world) if r not in result.traces]
    if missing:
        return [f"no trace from rank(s) {missing}"]
    errors = {r: result.errors.get(r) for r in range(world)}
    if len({(e or "").split(":")[0] for e in errors.values()}) > 1:
        problems.append(f"the ranks ended differently: {errors}")
    expected = list(expected_calls(result.scenario))
    prepares = sum(1 for c in expected if c.hook == "prepare_data")
    reference = _ordered(result.traces[0])
    for rank in range(world):
        trace = result.traces[rank]
        count = sum(1 for c in trace if c.hook == "prepare_data")
        should = prepares if rank % per_node == 0 else 0
        if count != should:
            problems.append(f"rank {rank}: prepare_data ran {count} times; expected {should} (local rank 0 only)")
        if rank and _ordered(trace) != reference:
            mine = _ordered(trace)
            i = next((k for k, (a, b) in enumerate(zip(mine, reference)) if a != b), min(len(mine), len(reference)))
            problems.append(
                f"rank {rank}: call {i} differs from rank 0: {mine[i] if i < len(mine) else 'end of trace'} "
                f"vs {reference[i] if i < len(reference) else 'end of trace'}"
            )
        want = expected if rank % per_node == 0 else [c for c in expected if c.hook != "prepare_data"]
        if level == "strict":
            divergence = first_divergence(want, trace)
            if divergence is not None:
                problems.append(f"rank {rank}: {divergence.problem}")
        else:
            problems += [f"rank {rank}: {p}" for p in core_violations(list(trace), result.scenario)]
    return problems


# --- the parent ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_distributed(
    adapter: str = "engine",
    features: Iterable[str] | None = None,
    *,
    world_size: int = 2,
    device: Literal["cpu", "cuda"] = "cpu",
    level: Level = "strict",
    timeout_s: float = 180.0,
    workdir: str | None = None,
) -> list[DistributedResult]:
    """Run the distributed scenarios of ``features`` through the adapter named ``adapter`` in ``world_size`` processes.

    ``adapter`` is a name or ``module:attribute`` as for ``loophooks check
    --adapter``; each process loads it. The job ends within ``timeout_s``: when
    it runs longer, or a process dies, the other processes are killed and every
    scenario without traces is reported with the reason. An adapter without the
    ``"distributed"`` capability gets every scenario reported unsupported, and no
    process is started.
    """
    from loophooks.conformance._normalize import load_trace
    from loophooks.conformance.adapters._registry import load_adapter

    scenarios = distributed_scenarios(features)
    if device == "cuda":
        scenarios = [s.with_(device="cuda") for s in scenarios]
    loaded = load_adapter(adapter)
    if "distributed" not in loaded.capabilities:
        reason = f"adapter {loaded.name!r} does not declare the 'distributed' capability"
        return [DistributedResult(s, world_size, unsupported=reason) for s in scenarios]
    names = [s.name[len("ddp-") :] for s in scenarios]
    with tempfile.TemporaryDirectory(prefix="loophooks-ddp-", dir=workdir) as tmp:
        out = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "GROUP_RANK")}
        env.update(
            {
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(_free_port()),
                "WORLD_SIZE": str(world_size),
                "LOCAL_WORLD_SIZE": str(world_size),
                "NODE_RANK": "0",
            }
        )
        command = [
            sys.executable, "-m", "loophooks.conformance._distributed", "--worker", "--adapter", adapter,
            "--features", ",".join(names), "--device", device, "--out", str(out),
        ]  # fmt: skip
        procs = []
        for rank in range(world_size):
            rank_env = dict(env, RANK=str(rank), LOCAL_RANK=str(rank))
            log = open(out / f"rank{rank}.log", "wb")  # noqa: SIM115 - closed below
            procs.append((subprocess.Popen(command, env=rank_env, stdout=log, stderr=subprocess.STDOUT), log))
        failure = _wait_all([p for p, _ in procs], timeout_s)
        for _, log in procs:
            log.close()
        results = []
        for scenario, name in zip(scenarios, names):
            result = DistributedResult(scenario, world_size)
            for rank in range(world_size):
                path = out / name / f"rank{rank}.json"
                if path.exists():
                    doc = json.loads(path.read_text())
                    result.traces[rank] = load_trace(doc["trace"])
                    result.errors[rank] = doc["error"]
            if len(result.traces) < world_size and failure is not None:
                logs = "\n".join(
                    f"--- rank {r} ---\n{(out / f'rank{r}.log').read_text(errors='replace')[-3000:]}"
                    for r in range(world_size)
                )
                result.problems = [f"{failure}\n{logs}"]
            else:
                result.problems = rank_problems(result, level=level)
            results.append(result)
        return results


def _wait_all(procs: list[subprocess.Popen[bytes]], timeout_s: float) -> str | None:
    """Wait for every process; kill the rest when one fails or time runs out. Returns what went wrong, if anything."""
    deadline = time.monotonic() + timeout_s
    problem = None
    while True:
        codes = [p.poll() for p in procs]
        bad = [(r, c) for r, c in enumerate(codes) if c not in (None, 0)]
        if bad:
            problem = f"rank {bad[0][0]} exited with code {bad[0][1]}"
            break
        if all(c == 0 for c in codes):
            return None
        if time.monotonic() > deadline:
            problem = f"the job ran longer than {timeout_s:.0f}s"
            break
        time.sleep(0.05)
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
    return problem


# --- the worker ------------------------------------------------------------------------------------


@final
class _Distributed:
    """An adapter that runs its trainer with the distributed settings added (Lightning's option names)."""

    def __init__(self, adapter: Any, world_size: int, device: str) -> None:
        self._adapter = adapter
        self._extra = {
            "strategy": "ddp",
            "devices": world_size,
            "num_nodes": 1,
            "accelerator": "cuda" if device == "cuda" else "cpu",
        }

    def __getattr__(self, name: str) -> Any:  # name, capabilities, module_base, callback_base...
        return getattr(self._adapter, name)

    def run(self, fn: Any, model: Any, *, settings: Any, **kwargs: Any) -> Any:
        return self._adapter.run(fn, model, settings={**settings, **self._extra}, **kwargs)


def _worker(adapter_name: str, features: list[str], device: str, out: Path) -> None:
    from loophooks.conformance._normalize import dump_trace
    from loophooks.conformance._recorder import Recorder, _one_run
    from loophooks.conformance.adapters._registry import load_adapter

    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    adapter = _Distributed(load_adapter(adapter_name), world, device)
    for scenario in distributed_scenarios(features):
        if device == "cuda":
            scenario = scenario.with_(device="cuda")
        job = global_scenario(scenario, world)
        folder = out / scenario.name[len("ddp-") :]
        folder.mkdir(parents=True, exist_ok=True)
        root = folder / "root"  # shared by the ranks: rank 0 writes the checkpoint, every rank reads it
        root.mkdir(exist_ok=True)
        ckpt = root / "resume.ckpt"
        recorder = Recorder(fault=job.fault)
        error = _one_run(adapter, job, recorder, str(root), saver_path=ckpt if job.resume else None)
        if job.resume is not None and error is None:
            if not ckpt.exists():
                error = RuntimeError(f"rank {rank}: no checkpoint at {ckpt} after the first run")
            else:
                error = _one_run(adapter, job, recorder, str(root), ckpt_path=str(ckpt))
        doc = {
            "trace": dump_trace(recorder.calls, scenario=scenario.name, meta={"rank": rank, "world_size": world}),
            "error": None if error is None else f"{type(error).__name__}: {error}",
        }
        (folder / f"rank{rank}.json").write_text(json.dumps(doc))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loophooks.conformance._distributed", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--adapter", default="engine")
    parser.add_argument("--features", default=",".join(DISTRIBUTED_FEATURES))
    parser.add_argument("--world-size", type=int, default=2)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--level", choices=("strict", "core"), default="strict")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    features = [f for f in args.features.split(",") if f]
    if args.worker:
        _worker(args.adapter, features, args.device, Path(args.out))
        return 0
    results = run_distributed(
        args.adapter, features, world_size=args.world_size, device=args.device, level=args.level, timeout_s=args.timeout
    )
    failed = 0
    for r in results:
        status = "unsupported" if r.unsupported else ("passed" if r.passed else "FAILED")
        print(f"{r.scenario.name:24} {status}")
        for p in r.problems:
            print(f"    {p}")
        failed += not r.passed and r.unsupported is None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
