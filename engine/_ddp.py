"""Data-parallel training with torch.distributed: one process per device, gradients averaged.

``Trainer(strategy="ddp", accelerator="cpu" | "cuda", devices=N, num_nodes=M)``
selects :class:`DDPStrategy`; so does passing an instance,
``Trainer(strategy=DDPStrategy(timeout=timedelta(seconds=60)), devices=2)``.

What each process does, in the Trainer's frame (``_trainer.py``):

    setup_environment      # start the other local processes (plain script only, _launch.py),
                           # then join the process group: env://, gloo on CPU, nccl on CUDA
    prepare_data           # local rank 0 of each node (global rank 0 with prepare_data_per_node=False);
                           # the others wait at a barrier until it returns
    setup, configure_model # every process
    model to device        # fit: the module is wrapped in DistributedDataParallel (rank 0's
                           # weights are broadcast); validate/test/predict: rank 0's weights are
                           # broadcast without a wrapper, as there are no gradients to average
    configure_optimizers, on_fit_start, the loops, teardown   # every process, in the same order
    teardown               # the wrapper is removed; the process group is destroyed if this
                           # strategy created it

Gradient synchronisation: ``training_step`` runs through DDP's ``forward`` (so DDP
knows a backward follows); a batch that only accumulates (it does not step the
optimizer) runs under ``DistributedDataParallel.no_sync``. Hence, with
``accumulate_grad_batches=k``: ``on_after_backward`` of an accumulating batch sees
this process's own gradients; on the batch that steps, backward all-reduces the
accumulated gradients, so ``on_after_backward`` of that batch and
``on_before_optimizer_step`` see gradients averaged over the processes, identical
on every process.

Checkpoints: every process runs the checkpoint hooks (``on_save_checkpoint``);
only global rank 0 writes the file (atomically), then all meet at a barrier, so a
file exists for everyone once ``save_checkpoint`` returns. Every process loads the
same file to resume.

Process group re-use: each process group this strategy creates gets its own key
prefix in a rendezvous store kept for the life of the process, so a script can
run several entry points (fit, then test) or several Trainers one after another,
each creating and destroying its group, without stale keys from the previous one.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Callable, ContextManager, Optional

import torch
import torch.distributed as dist
from torch import nn
from typing_extensions import final

from loophooks.engine._errors import ConfigurationError, append_note
from loophooks.engine._launch import (
    ClusterEnvironment,
    ScriptLauncher,
    find_free_port,
    init_process_group,
    launched_externally,
    process_count,
)
from loophooks.engine._precision import Precision
from loophooks.engine._sampler import check_lengths_across_ranks, distribute_loaders
from loophooks.engine._strategy import Strategy

__all__ = ["DEFAULT_TIMEOUT", "DDPStrategy", "resolve_strategy"]

DEFAULT_TIMEOUT = timedelta(minutes=30)
"""The process group's timeout for every collective (torch's and Lightning's default)."""

_launcher: Optional[ScriptLauncher] = None
"""The launcher of this process, when it started the other local processes (at most one per process)."""

_solo_port: Optional[int] = None
"""The rendezvous port of groups of one (``devices=1`` without a launcher), chosen once per process."""


@final
class _StepWrapper(nn.Module):
    """What DDP wraps: its ``forward`` runs a step method through the dispatcher (hooks stay recorded/checked)."""

    def __init__(self, module: nn.Module, call: Callable[..., Any]) -> None:
        super().__init__()
        self.module = module
        self._call = call

    def forward(self, name: str, *args: Any) -> Any:
        return self._call(name, *args)


class DDPStrategy(Strategy):
    """DistributedDataParallel over ``devices * num_nodes`` processes (see the module docstring).

    Args:
        process_group_backend: ``"gloo"`` or ``"nccl"``; by default gloo on CPU, nccl on CUDA.
        timeout: the process group's timeout: a collective waiting longer for a
            process that never arrives fails with an error instead of hanging.
        **ddp_kwargs: passed to ``DistributedDataParallel`` (``find_unused_parameters``,
            ``static_graph``, ``gradient_as_bucket_view``...).

    The device and the precision come from the Trainer's ``accelerator``,
    ``devices``, ``num_nodes`` and ``precision`` (:meth:`configure`).
    """

    def __init__(
        self,
        *,
        process_group_backend: Optional[str] = None,
        timeout: timedelta = DEFAULT_TIMEOUT,
        **ddp_kwargs: Any,
    ) -> None:
        super().__init__(torch.device("cpu"), Precision("32-true", torch.device("cpu")))
        if process_group_backend not in (None, "gloo", "nccl"):
            raise ConfigurationError(
                f"DDPStrategy(process_group_backend=...) must be 'gloo' or 'nccl'; received {process_group_backend!r}"
            )
        if not isinstance(timeout, timedelta):
            raise ConfigurationError(f"DDPStrategy(timeout=...) must be a datetime.timedelta; received {timeout!r}")
        self.process_group_backend = process_group_backend
        self.timeout = timeout
        self.ddp_kwargs = ddp_kwargs
        self.num_processes = 1
        self.num_nodes = 1
        self.accelerator = "cpu"
        self._device_ids: Optional[list[int]] = None
        self._cluster: Optional[ClusterEnvironment] = None
        self._owns_group = False
        self._excepthook: Optional[Callable[..., Any]] = None
        self._failing = False
        self._ddp: Optional[nn.parallel.DistributedDataParallel] = None

    # --- configuration (Trainer.__init__) -------------------------------------------------------------
    def configure(self, *, accelerator: str, devices: Any, num_nodes: int, precision: str | int) -> None:
        """Decide this process's device and precision from the Trainer's options and the environment."""
        if accelerator == "auto":
            accelerator = "cuda" if torch.cuda.is_available() else "cpu"
        if accelerator == "gpu":
            accelerator = "cuda"
        if accelerator not in ("cpu", "cuda"):
            raise ConfigurationError(
                f"Trainer(accelerator=...) must be 'cpu', 'cuda' or 'auto'; received {accelerator!r}"
            )
        if accelerator == "cuda" and not torch.cuda.is_available():
            raise ConfigurationError("Trainer(strategy='ddp', accelerator='cuda') but no CUDA device is available")
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
            raise ConfigurationError(f"Trainer(num_nodes=...) must be a positive int; received {num_nodes!r}")
        self.accelerator = accelerator
        self.num_processes = process_count(accelerator, devices)
        self.num_nodes = num_nodes
        if self.process_group_backend is None:
            self.process_group_backend = "nccl" if accelerator == "cuda" else "gloo"
        if launched_externally():
            env = ClusterEnvironment.from_env()
            if env.world_size != self.world_size:
                raise ConfigurationError(
                    f"Trainer(devices={devices!r}, num_nodes={num_nodes}) makes {self.world_size} processes, but the "
                    f"job was started with WORLD_SIZE={env.world_size}; make them agree (torchrun --nproc-per-node "
                    "sets the processes per node, --nnodes the nodes)"
                )
            self._cluster = env
        local = self.local_rank
        if accelerator == "cuda":
            ids = [int(d) for d in devices] if isinstance(devices, (list, tuple)) else list(range(self.num_processes))
            if local >= len(ids):
                raise ConfigurationError(f"local rank {local} has no device in Trainer(devices={devices!r})")
            index = ids[local]
            if index >= torch.cuda.device_count():
                raise ConfigurationError(f"Trainer(devices={devices!r}): cuda:{index} does not exist")
            self.root_device = torch.device("cuda", index)
            self._device_ids = [index]
        else:
            self.root_device = torch.device("cpu")
            self._device_ids = None
        self.precision = Precision(precision, self.root_device)

    # --- ranks ----------------------------------------------------------------------------------------
    @property
    def world_size(self) -> int:
        return self._cluster.world_size if self._cluster is not None else self.num_processes * self.num_nodes

    @property
    def global_rank(self) -> int:
        return self._cluster.global_rank if self._cluster is not None else 0

    @property
    def local_rank(self) -> int:
        return self._cluster.local_rank if self._cluster is not None else 0

    @property
    def node_rank(self) -> int:
        return self._cluster.node_rank if self._cluster is not None else 0

    @property
    def is_global_zero(self) -> bool:
        return self.global_rank == 0

    @property
    def distributed(self) -> bool:
        """Whether collectives run (a process group of this job exists)."""
        return dist.is_available() and dist.is_initialized()

    # --- environment (before prepare_data) ------------------------------------------------------------
    def setup_environment(self) -> None:
        """Start the other local processes if nobody did, then join (or create) the process group."""
        global _launcher, _solo_port
        if launched_externally():
            self._cluster = ClusterEnvironment.from_env()
        elif self.world_size > 1:
            _launcher = ScriptLauncher(self.num_processes, self.num_nodes)
            _launcher.launch()  # sets this process's rank variables too
            self._cluster = ClusterEnvironment.from_env()
        else:  # a group of one, left out of os.environ so that later runs in this process are not "launched"
            addr = os.environ.get("MASTER_ADDR", "127.0.0.1")
            if _solo_port is None:  # one store for every group of one in this process
                _solo_port = int(os.environ.get("MASTER_PORT") or find_free_port(addr))
            self._cluster = ClusterEnvironment(0, 0, 0, 1, addr, _solo_port)
        if self._cluster.world_size != self.num_processes * self.num_nodes:
            raise ConfigurationError(
                f"this job has WORLD_SIZE={self._cluster.world_size} but the Trainer asks for "
                f"{self.num_processes * self.num_nodes} processes"
            )
        if self.root_device.type == "cuda":
            torch.cuda.set_device(self.root_device)
        if not dist.is_initialized():
            self._excepthook = sys.excepthook  # init_process_group wraps it to prefix "[rank<r>]: "
            init_process_group(self._cluster, self.process_group_backend, self.timeout)
            self._owns_group = True
        elif dist.get_world_size() != self._cluster.world_size:
            raise ConfigurationError(
                f"a process group of {dist.get_world_size()} processes already exists; this run needs "
                f"{self._cluster.world_size}"
            )

    # --- the model ------------------------------------------------------------------------------------
    def model_to_device(self) -> None:
        super().model_to_device()
        module = self.module
        if not isinstance(module, nn.Module) or not self.distributed:
            return
        d = self.dispatch
        assert d is not None
        if d.trainer.state.fn == "fit":
            wrapper = _StepWrapper(module, d.module_hook)
            self._ddp = nn.parallel.DistributedDataParallel(wrapper, device_ids=self._device_ids, **self.ddp_kwargs)
            self.model = self._ddp
        else:  # no gradients to average: give every process rank 0's weights, as the wrapper would
            for tensor in list(module.parameters()) + list(module.buffers()):
                with torch.no_grad():
                    dist.broadcast(tensor.data, src=0)

    @property
    def direct_steps(self) -> bool:
        return self._ddp is None and super().direct_steps

    def step(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._ddp is not None and args and args[0] == "training_step":
            # through DDP's forward, so that its reducer expects this step's backward
            return super().step(self._ddp, *args)
        return super().step(fn, *args)

    def block_backward_sync(self) -> ContextManager[None]:
        """No gradient all-reduce inside: for batches that accumulate without stepping."""
        if self._ddp is None:
            return contextlib.nullcontext()
        return self._ddp.no_sync()

    def teardown(self) -> None:
        if self._ddp is not None:
            self.model = self.module
            self._ddp = None
        super().teardown()
        if self._owns_group and dist.is_initialized():
            dist.destroy_process_group()
            if self._excepthook is not None and not self._failing:  # else each later group adds a prefix
                sys.excepthook = self._excepthook  # (kept when failing: the traceback names the rank)
        self._owns_group = False
        self._excepthook = None
        self._failing = False

    def on_exception(self, exc: BaseException) -> None:
        """Stop the processes this one started; name the first one that failed, if it was not this one."""
        self._failing = True
        launcher = _launcher
        if launcher is None or not launcher.launched:
            return
        note = launcher.failure_note()
        if note is not None:
            append_note(exc, f"loophooks: {note}")
        launcher.kill()

    # --- collectives ----------------------------------------------------------------------------------
    def barrier(self, name: str = "") -> None:
        if not self.distributed or dist.get_world_size() == 1:
            return
        if self.process_group_backend == "nccl" and self._device_ids is not None:
            dist.barrier(device_ids=self._device_ids)
        else:
            dist.barrier()

    def reduce(self, value: Any, reduce_op: str = "mean", group: Any = None) -> Any:
        """``value`` combined over the processes (of ``group``, default all): ``mean``, ``sum``, ``max`` or ``min``."""
        if not self.distributed or not isinstance(value, (torch.Tensor, int, float)) or isinstance(value, bool):
            return value
        op = "mean" if reduce_op == "avg" else reduce_op
        if op not in ("mean", "sum", "max", "min"):
            raise ConfigurationError(f"reduce_op must be 'mean', 'sum', 'max' or 'min'; received {reduce_op!r}")
        given = value if isinstance(value, torch.Tensor) else torch.tensor(float(value))
        tensor = given.detach().clone().to(self.root_device)
        if not tensor.is_floating_point():
            tensor = tensor.double()
        dist_op = {"max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}.get(op, dist.ReduceOp.SUM)
        dist.all_reduce(tensor, op=dist_op, group=group)
        if op == "mean":
            tensor = tensor / dist.get_world_size(group)
        if isinstance(value, torch.Tensor):
            return tensor.to(value.device)
        return float(tensor)

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        """``all``: true only where every process decided true; otherwise true where any did."""
        if not self.distributed:
            return decision
        votes = torch.tensor(int(bool(decision)), device=self.root_device)
        dist.all_reduce(votes, op=dist.ReduceOp.SUM)
        count = int(votes.item())
        return count == dist.get_world_size() if all else count > 0

    def broadcast(self, obj: Any, src: int = 0) -> Any:
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=src)
        return box[0]

    def all_gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        if not self.distributed:
            return [tensor]
        local = tensor.detach().to(self.root_device)
        out = [torch.empty_like(local) for _ in range(dist.get_world_size())]
        dist.all_gather(out, local)
        return [t.cpu() for t in out]

    @contextlib.contextmanager
    def prepare_data_barrier(self) -> Iterator[None]:
        """``prepare_data`` runs inside; the processes that skip it wait at the barrier after it.

        The barrier has the process group's timeout: raise ``DDPStrategy(timeout=...)``
        when ``prepare_data`` downloads for longer than that.
        """
        yield
        self.barrier("prepare_data")

    # --- data -----------------------------------------------------------------------------------------
    def process_dataloaders(
        self, source: str, loaders: Any, *, use_distributed_sampler: bool, allow_zero_length: bool
    ) -> Any:
        """Each process's share of the loaders (``_sampler.py``), checked for empty shares across processes."""
        if self.world_size == 1 or loaders is None:
            return loaders
        if use_distributed_sampler:
            loaders = distribute_loaders(loaders, source, num_replicas=self.world_size, rank=self.global_rank)
        if self.distributed and source != "predict_dataloader":
            from loophooks.engine._data import as_loader_list

            check_lengths_across_ranks(
                as_loader_list(loaders, source),
                source,
                self.all_gather,
                allow_zero_length=allow_zero_length,
                rank=self.global_rank,
            )
        return loaders


def resolve_strategy(
    strategy: Any, *, accelerator: str, devices: Any, num_nodes: int, precision: str | int
) -> Optional[DDPStrategy]:
    """The DDPStrategy ``Trainer(strategy=...)`` asks for, configured; None when it asks for another strategy.

    ``"ddp"`` or an instance ask for it; so does ``"auto"`` in a process started by
    torchrun (rank variables set) with ``WORLD_SIZE > 1``.
    """
    if isinstance(strategy, DDPStrategy):
        chosen = strategy
    elif isinstance(strategy, str) and strategy.lower() == "ddp":
        chosen = DDPStrategy()
    elif strategy in ("auto", None) and launched_externally() and int(os.environ["WORLD_SIZE"]) > 1:
        # started by torchrun (or the like) with several processes: data parallel, as Lightning chooses
        chosen = DDPStrategy()
    else:
        return None
    chosen.configure(accelerator=accelerator, devices=devices, num_nodes=num_nodes, precision=precision)
    return chosen
