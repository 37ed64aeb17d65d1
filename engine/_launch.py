"""Where the processes of a distributed run come from, and what happens when one of them fails.

Two ways in, both ending with the same environment in every process
(``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``, ``NODE_RANK``: the ``env://`` contract of torch.distributed):

* **torchrun** (or any launcher that sets that environment, SLURM wrappers
  included): every process was started from outside; nothing is launched here.
  ``torchrun --nproc-per-node=2 script.py`` is the recommended way, and the only
  way across several nodes.
* **a plain ``python script.py``** with ``Trainer(strategy="ddp", devices=N)``:
  at the first entry point (``fit``, ``validate``...), the process becomes local
  rank 0 and :class:`ScriptLauncher` starts ``N - 1`` copies of the same command
  line (``sys.executable`` plus ``sys.argv``, or ``-m module`` when the script was
  run as a module) with the environment above. Each copy runs the script from the
  top, builds the same Trainer, reaches the same entry point, and finds its rank
  in the environment. This is Lightning's subprocess-script launcher.

Why re-running the script rather than ``torch.multiprocessing.spawn``: spawn must
pickle the model, the loaders and the callbacks into each child, and the trained
weights stay in the children (the parent's model is not the one that trained).
Re-running keeps the user's objects where they were built, works with lambdas and
local classes in the data pipeline, and is what torchrun does too, so a script
behaves the same both ways. The cost: the script must be importable and re-runnable
(guard the work with ``if __name__ == "__main__":``), and it cannot be an
interactive session or ``python -c``; those get a :class:`ConfigurationError`
telling them to use torchrun.

Failure rule, written once here: an exception on one process must not leave the
others waiting in a collective forever.

* Every collective has the process group's timeout (``DDPStrategy(timeout=...)``),
  and with gloo a dead peer is noticed at once (its sockets close).
* Under this launcher the parent watches its children. When a child exits
  non-zero, the parent terminates the other children and, if its own main thread
  has not ended by itself within :data:`FAILURE_GRACE_S` (usually it ends at once
  with the collective's error), prints which rank failed and exits with that
  child's exit code. The child printed its own traceback first, so the job's output
  ends with the original error.
* When the parent itself fails, the strategy's ``on_exception`` terminates the
  children (as Lightning's launcher ``kill`` does).
* When the parent ends normally it waits for its children (at interpreter exit)
  and exits non-zero if one of them failed.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Optional

import torch
import torch.distributed as dist
from torch._C._distributed_c10d import PrefixStore, TCPStore  # the classes torch.distributed re-exports
from typing_extensions import final

from loophooks.engine._errors import ConfigurationError

__all__ = [
    "FAILURE_GRACE_S",
    "LAUNCHED_ENV",
    "ClusterEnvironment",
    "ScriptLauncher",
    "find_free_port",
    "init_process_group",
    "launched_externally",
    "process_count",
]

LAUNCHED_ENV = "LOOPHOOKS_DDP_LAUNCHED"
"""Set in the children :class:`ScriptLauncher` starts, so that they never launch again."""

FAILURE_GRACE_S: float = float(os.environ.get("LOOPHOOKS_DDP_FAILURE_GRACE", "10"))
"""Seconds the parent's main thread gets to end by itself after a child failed, before the parent exits."""

_JOIN_TIMEOUT_S: float = float(os.environ.get("LOOPHOOKS_DDP_JOIN_TIMEOUT", "300"))
"""Seconds the parent waits at exit for children that are still running, before terminating them."""


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on ``host`` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def launched_externally() -> bool:
    """Whether this process was started with a rank (torchrun, or one of this launcher's children)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


@final
@dataclass(frozen=True)
class ClusterEnvironment:
    """This process's place in the job, read from the ``env://`` variables."""

    global_rank: int
    local_rank: int
    node_rank: int
    world_size: int
    master_addr: str
    master_port: int

    @classmethod
    def from_env(cls) -> ClusterEnvironment:
        env = os.environ
        try:
            return cls(
                global_rank=int(env["RANK"]),
                local_rank=int(env.get("LOCAL_RANK", "0")),
                node_rank=int(env.get("NODE_RANK", env.get("GROUP_RANK", "0"))),
                world_size=int(env["WORLD_SIZE"]),
                master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
                master_port=int(env["MASTER_PORT"]),
            )
        except KeyError as exc:
            raise ConfigurationError(
                f"distributed run: the environment variable {exc.args[0]} is not set; start the script with "
                "torchrun, or set MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK and LOCAL_RANK"
            ) from None
        except ValueError as exc:
            raise ConfigurationError(f"distributed run: a rank variable is not an integer: {exc}") from None


def init_process_group(env: ClusterEnvironment, backend: Optional[str], timeout: timedelta) -> None:
    """Join (or create) the process group of ``env``, through a rendezvous store kept for the process's life.

    Each group gets its own key prefix in the store, so that groups created one after
    another in one process (fit, then test) never see each other's stale keys.
    """
    global _generation
    key = (env.master_addr, env.master_port)
    store = _stores.get(key)
    if store is None:
        # torchrun's agent hosts the store; otherwise global rank 0 does (torch's env:// rule)
        agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true"
        store = TCPStore(
            env.master_addr,
            env.master_port,
            env.world_size,
            is_master=env.global_rank == 0 and not agent,
            timeout=timeout,
            multi_tenant=True,
            wait_for_workers=False,
        )
        _stores[key] = store
    _generation += 1
    assert backend is not None
    dist.init_process_group(
        backend,
        store=PrefixStore(f"loophooks/{_generation}", store),
        rank=env.global_rank,
        world_size=env.world_size,
        timeout=timeout,
    )


_stores: dict[tuple[str, int], Any] = {}
"""Rendezvous stores by (address, port), kept for the process's life."""

_generation = 0
"""How many process groups this process has created; names each group's key prefix."""


def process_count(accelerator: str, devices: Any) -> int:
    """Processes per node that ``Trainer(devices=...)`` asks for."""
    if isinstance(devices, (list, tuple)):
        if not devices:
            raise ConfigurationError("Trainer(devices=[]) names no device")
        return len(devices)
    if devices in (None, "auto", -1, "-1"):
        if "LOCAL_WORLD_SIZE" in os.environ and launched_externally():
            return int(os.environ["LOCAL_WORLD_SIZE"])
        if accelerator == "cuda":
            return max(1, torch.cuda.device_count())
        return 1
    try:
        count = int(devices)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"Trainer(devices=...) must be an int, a list of indices or 'auto'; received {devices!r}"
        ) from None
    if count < 1:
        raise ConfigurationError(f"Trainer(devices=...) must be >= 1; received {devices!r}")
    return count


def _script_command() -> list[str]:
    """The command line that runs this process's script again, or a ConfigurationError saying why it cannot."""
    import __main__

    spec = getattr(__main__, "__spec__", None)
    argv0 = sys.argv[0] if sys.argv else ""
    main_file = getattr(__main__, "__file__", None)
    why = None
    if main_file is None or argv0 in ("", "-c", "-"):
        why = "this is an interactive session or `python -c`"
    elif spec is not None and spec.name.split(".")[0] in ("pytest", "_pytest", "IPython", "ipykernel"):
        why = f"the running program is {spec.name!r}, not a training script"
    elif os.path.basename(argv0).startswith(("pytest", "py.test", "ipython", "jupyter")):
        why = f"the running program is {os.path.basename(argv0)!r}, not a training script"
    if why is not None:
        raise ConfigurationError(
            f"Trainer(strategy='ddp', devices>1) starts its other processes by running the script again, but {why}. "
            "Run a script (`python train.py`), or start every process yourself: `torchrun --nproc-per-node=N train.py`"
        )
    if spec is not None and spec.name != "__main__":
        name = spec.name[: -len(".__main__")] if spec.name.endswith(".__main__") else spec.name
        return [sys.executable, "-m", name, *sys.argv[1:]]
    return [sys.executable, os.path.abspath(argv0), *sys.argv[1:]]


@final
class ScriptLauncher:
    """Starts the other local processes of a job by re-running the script (see the module docstring).

    Call :meth:`launch` once, in the process started by the user, before any
    process group exists. Afterwards this process is local rank 0 of its node.
    """

    def __init__(self, num_processes: int, num_nodes: int = 1) -> None:
        if num_processes < 1 or num_nodes < 1:
            raise ConfigurationError(f"devices and num_nodes must be >= 1; received {num_processes} and {num_nodes}")
        self.num_processes = num_processes
        self.num_nodes = num_nodes
        self.children: list[subprocess.Popen[bytes]] = []
        self.failed: Optional[tuple[int, int]] = None  # (rank, exit code) of the first child that failed
        self._main_done = threading.Event()
        self._lock = threading.Lock()
        self._killed = False  # this process stopped its children (its own failure, or a child's)

    @property
    def launched(self) -> bool:
        return bool(self.children)

    def launch(self) -> None:
        """Set this process's rank variables and start the other local ranks."""
        env = os.environ
        node_rank = int(env.get("NODE_RANK", "0"))
        if self.num_nodes > 1 and ("MASTER_ADDR" not in env or "MASTER_PORT" not in env or "NODE_RANK" not in env):
            raise ConfigurationError(
                f"Trainer(num_nodes={self.num_nodes}) without torchrun needs MASTER_ADDR, MASTER_PORT and NODE_RANK "
                "set on every node; or start the job with torchrun"
            )
        command = _script_command()
        env.setdefault("MASTER_ADDR", "127.0.0.1")
        env.setdefault("MASTER_PORT", str(find_free_port(env["MASTER_ADDR"])))
        world = self.num_processes * self.num_nodes
        common = {
            "WORLD_SIZE": str(world),
            "LOCAL_WORLD_SIZE": str(self.num_processes),
            "NODE_RANK": str(node_rank),
            "GROUP_RANK": str(node_rank),
        }
        env.update(common)
        env.update({"RANK": str(node_rank * self.num_processes), "LOCAL_RANK": "0"})
        for local in range(1, self.num_processes):
            child_env = dict(env)
            child_env.update({"RANK": str(node_rank * self.num_processes + local), "LOCAL_RANK": str(local)})
            child_env[LAUNCHED_ENV] = "1"
            # stdout/stderr are inherited: each child's traceback reaches the job's output as it happens
            self.children.append(subprocess.Popen(command, env=child_env))
        threading.Thread(target=self._watch, name="loophooks-ddp-watchdog", daemon=True).start()
        atexit.register(self._at_exit)

    # --- failure handling -----------------------------------------------------------------------------
    def _rank_of(self, index: int) -> int:
        return int(os.environ.get("NODE_RANK", "0")) * self.num_processes + index + 1

    def _watch(self) -> None:
        while not self._main_done.is_set():
            for i, child in enumerate(self.children):
                code = child.poll()
                if code is not None and code != 0 and not self._killed:  # not a child this process stopped
                    self._on_child_failure(self._rank_of(i), code)
                    return
            if all(c.poll() is not None for c in self.children):
                return
            time.sleep(0.1)

    def _on_child_failure(self, rank: int, code: int) -> None:
        with self._lock:
            if self.failed is None:
                self.failed = (rank, code)
        self.kill()
        # The main thread usually fails by itself now (its collective lost a peer); if it is stuck in a
        # collective that cannot notice (or in work without collectives), end the job from here.
        if self._main_done.wait(FAILURE_GRACE_S):
            return
        sys.stderr.write(
            f"loophooks: process rank {rank} exited with code {code} (its traceback is above); ending the job\n"
        )
        sys.stderr.flush()
        os._exit(code if 0 < code < 256 else 1)

    def kill(self, sig: int = signal.SIGTERM) -> None:
        """Stop every child still running: ``sig`` first, SIGKILL for those still alive after a second."""
        self._killed = True
        for child in self.children:
            if child.poll() is None:
                try:
                    child.send_signal(sig)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 1.0
        for child in self.children:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def failure_note(self) -> Optional[str]:
        """A line naming the child that failed first, for the parent's own exception; None if none failed."""
        deadline = time.monotonic() + 2.0
        while self.failed is None and time.monotonic() < deadline:  # the watchdog polls every 0.1 s
            for i, child in enumerate(self.children):
                code = child.poll()
                if code not in (None, 0):
                    with self._lock:
                        if self.failed is None:
                            self.failed = (self._rank_of(i), int(code or 1))
                    break
            else:
                time.sleep(0.05)
        if self.failed is None:
            return None
        rank, code = self.failed
        return f"process rank {rank} failed first (exit code {code}); its traceback is in the job's output"

    def _at_exit(self) -> None:
        self._main_done.set()
        if self._killed and self.failed is None:
            return  # this process failed first and stopped the others; its own error is the job's
        deadline = time.monotonic() + _JOIN_TIMEOUT_S
        worst = 0
        for i, child in enumerate(self.children):
            try:
                code = child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill()
                code = child.wait()
            if code != 0 and worst == 0:
                worst = code if 0 < code < 256 else 1
                sys.stderr.write(f"loophooks: process rank {self._rank_of(i)} exited with code {code}\n")
        if self.failed is not None:  # the first failure decides the job's exit code
            code = self.failed[1]
            worst = code if 0 < code < 256 else 1
        if worst:
            sys.stderr.flush()
            os._exit(worst)
