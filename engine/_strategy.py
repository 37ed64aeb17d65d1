"""Where the model runs: device placement, backward, optimizer steps.

:class:`Strategy` is the single-device strategy. A distributed strategy
subclasses it and overrides ``setup`` (wrap ``model``), ``barrier``,
``reduce`` and ``is_global_zero``; the loops only talk to this interface.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Optional

import torch
from torch import nn
from torch.optim import Optimizer

from loophooks.engine._optimization import LoopOptimizer, LRSchedulerConfig
from loophooks.engine._precision import Precision
from loophooks.engine._step import backward, optimizer_step

if TYPE_CHECKING:
    from loophooks.engine._dispatch import Dispatcher

__all__ = ["Strategy"]


class Strategy:
    """Runs one model on one device."""

    def __init__(self, device: torch.device, precision: Precision) -> None:
        self.root_device = device
        self.precision = precision
        self.module: Any = None
        self.model: Any = None
        self.optimizers: list[Optimizer] = []
        self.loop_optimizers: list[LoopOptimizer] = []
        self.lr_scheduler_configs: list[LRSchedulerConfig] = []
        self.dispatch: Optional[Dispatcher] = None
        self.automatic = True
        # Whether configure_gradient_clipping must be called: automatic optimization, and either the model
        # overrides it or there is something to clip (the default with nothing to clip does nothing).
        self.clip_hook = True

    # --- lifecycle -----------------------------------------------------------------------------------
    def connect(self, module: Any, dispatch: Dispatcher) -> None:
        self.module = module
        self.model = module
        self.dispatch = dispatch
        self.automatic = bool(getattr(module, "automatic_optimization", True))
        trainer = dispatch.trainer
        self.clip_hook = self.automatic and (
            not dispatch.is_builtin_default("configure_gradient_clipping") or bool(trainer.gradient_clip_val)
        )

    def model_to_device(self) -> None:
        if isinstance(self.module, nn.Module):
            self.module.to(self.root_device)
            if self.precision.module_dtype is not None:  # "64-true", "bf16-true", "16-true"
                self.module.to(self.precision.module_dtype)

    def set_optimizers(self, optimizers: list[Optimizer], schedulers: list[LRSchedulerConfig]) -> None:
        self.optimizers = optimizers
        self.loop_optimizers = [LoopOptimizer(o, self) for o in optimizers]
        self.lr_scheduler_configs = schedulers

    def teardown(self) -> None:
        if self.root_device.type != "cpu" and isinstance(self.module, nn.Module):
            self.module.cpu()

    @property
    def is_global_zero(self) -> bool:
        return True

    @property
    def world_size(self) -> int:
        return 1

    def barrier(self, name: str = "") -> None:
        pass

    def reduce(self, value: Any, reduce_op: str = "mean", group: Any = None) -> Any:
        """``value`` combined over the processes (``mean``/``sum``/``max``/``min``); itself on one process."""
        return value

    # --- the distributed interface: one process here; engine/_ddp.py's DDPStrategy overrides -----------
    @property
    def global_rank(self) -> int:
        return 0

    @property
    def local_rank(self) -> int:
        return 0

    @property
    def node_rank(self) -> int:
        return 0

    def setup_environment(self) -> None:
        """Before ``prepare_data``: start processes, join a process group (nothing on one device)."""

    def prepare_data_barrier(self) -> ContextManager[None]:
        """``prepare_data`` runs inside; a distributed strategy makes the other processes wait after it."""
        return contextlib.nullcontext()

    def block_backward_sync(self) -> ContextManager[None]:
        """Around a batch that accumulates without stepping: no gradient synchronisation inside."""
        return contextlib.nullcontext()

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        return decision

    def process_dataloaders(
        self, source: str, loaders: Any, *, use_distributed_sampler: bool, allow_zero_length: bool
    ) -> Any:
        """The loaders this process iterates (a distributed strategy gives each process its share)."""
        return loaders

    def on_exception(self, exc: BaseException) -> None:
        """Called when an entry point fails, before ``teardown``."""

    # --- steps ---------------------------------------------------------------------------------------
    @property
    def direct_steps(self) -> bool:
        """Whether the loops may call ``training_step`` themselves instead of through :meth:`step`.

        False under autocast, and for a strategy whose :meth:`step` routes the call
        (DDPStrategy: through DistributedDataParallel's forward, or gradients are not averaged).
        """
        return self.precision.autocast is None

    def step(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a step method under the precision's autocast."""
        autocast = self.precision.autocast
        if autocast is None:
            return fn(*args)
        with autocast:
            return fn(*args)

    def backward(self, loss: torch.Tensor, optimizer: Optional[Optimizer], *args: Any, **kwargs: Any) -> None:
        """``on_before_backward``, ``backward``, ``on_after_backward`` (engine/_step.py)."""
        backward(self, loss, *args, **kwargs)

    def optimizer_step(self, optimizer: Optimizer, closure: Optional[Callable[[], Any]], **kwargs: Any) -> Any:
        """The closure, the hooks between backward and the step, the step (engine/_step.py)."""
        return optimizer_step(self, optimizer, closure, **kwargs)
