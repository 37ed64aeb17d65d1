"""A run's data hooks: asking for the loaders, each process's share of them, and the batch-transfer hooks.

Loaders come, in this order of preference, from the entry point's arguments
(``fit(train_dataloaders=...)``), the datamodule when it overrides the loader
hook, or the model. Every batch then passes ``on_before_batch_transfer``,
``transfer_batch_to_device`` and ``on_after_batch_transfer`` (the datamodule's
when it overrides them, else the model's); a model that keeps the identity
defaults skips the calls, which would change nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from torch import Tensor
from typing_extensions import final

from loophooks.engine._combined import CombinedLoader
from loophooks.engine._dispatch import is_overridden
from loophooks.engine._errors import ConfigurationError, HookValueError, add_note
from loophooks.engine._seed import install_worker_seeding
from loophooks.spec._transfer import move_data_to_device
from loophooks.spec._hook_names import HookName

if TYPE_CHECKING:
    from loophooks.engine._dispatch import Dispatcher
    from loophooks.engine._strategy import Strategy

__all__ = ["DataConnector", "datamodule_in_place"]

_TRANSFER_HOOKS: tuple[tuple[HookName, bool], ...] = (
    ("on_before_batch_transfer", True),
    ("transfer_batch_to_device", False),
    ("on_after_batch_transfer", True),
)
_SEQUENCES = frozenset((tuple, list))  # the batch types the CPU shortcut looks into


@final
class DataConnector:
    """The loaders of the current run and the hooks each batch passes on its way to the device."""

    __slots__ = (
        "_d",
        "_cpu_only",
        "_plain_move",
        "_skip",
        "allow_zero_length",
        "given",
        "strategy",
        "transfer",
        "use_distributed_sampler",
    )

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self.given: dict[str, Any] = {}
        self.use_distributed_sampler = True
        self.allow_zero_length = False
        self._d: Dispatcher | None = None
        self._skip = (False, False, False)
        self._plain_move = self._cpu_only = False
        # what the loops call per batch: transfer_batch, or a profiled run's timed wrapper of it
        # (engine/_profiler_actions.py); a slot, so an unprofiled call costs a plain method call
        self.transfer: Callable[[Any, int], Any] = self.transfer_batch

    def start_run(self, dispatch: Dispatcher, *, use_distributed_sampler: bool, allow_zero_length: bool) -> None:
        """Bind the run's dispatcher; decide once which transfer hooks the loops may skip."""
        self._d = dispatch
        self.use_distributed_sampler = use_distributed_sampler
        self.allow_zero_length = allow_zero_length
        before, move, after = (
            dispatch.data_owner(h) == "module" and dispatch.is_default(h, identity) for h, identity in _TRANSFER_HOOKS
        )
        self._skip = (before, move, after)
        # the model's default transfer_batch_to_device, unchecked: its body is move_data_to_device
        self._plain_move = (
            dispatch.checks_off
            and dispatch.data_owner("transfer_batch_to_device") == "module"
            and (dispatch.is_builtin_default("transfer_batch_to_device"))
        )
        # all the three hooks do is move the batch to the CPU: transfer_batch's shortcut
        on_cpu = self.strategy.root_device.type == "cpu" and self.strategy.precision.module_dtype is None
        self._cpu_only = self._plain_move and on_cpu and before and after

    @property
    def running(self) -> bool:
        """Whether a run has bound its dispatcher (before the first run there is no model to ask)."""
        return self._d is not None

    def _dispatch(self) -> Dispatcher:
        d = self._d
        if d is None:
            raise RuntimeError("the Trainer has no model yet: call fit, validate, test or predict first")
        return d

    def request(self, source: HookName) -> Any:
        """The loaders for ``source`` (e.g. ``"train_dataloader"``), this process's share; None when nobody gives any."""
        given = self.given.get(source)
        if given is not None:
            return self._distribute(source, given)
        d = self._dispatch()
        dm = d.datamodule
        if dm is not None and is_overridden(dm, source):
            return self._distribute(source, d.datamodule_hook(source))
        if d.overridden(source):
            return self._distribute(source, d.module_hook(source))
        return None

    def _distribute(self, source: str, loaders: Any) -> Any:
        """Each process's share of the loaders (engine/_sampler.py); unchanged on one device."""
        if isinstance(loaders, CombinedLoader):  # each of its loaders gets its share; the nesting stays
            loaders.flattened = list(self._distribute(source, loaders.flattened))
            return loaders
        for loader in (
            loaders.values()
            if isinstance(loaders, dict)
            else (loaders if isinstance(loaders, (list, tuple)) else (loaders,))
        ):
            install_worker_seeding(loader)  # seed_everything(workers=True), engine/_seed.py
        return self.strategy.process_dataloaders(
            source,
            loaders,
            use_distributed_sampler=self.use_distributed_sampler,
            allow_zero_length=self.allow_zero_length,
        )

    def has_source(self, source: HookName) -> bool:
        """Whether loaders for ``source`` would come from somewhere (without asking for them)."""
        if self.given.get(source) is not None:
            return True
        d = self._dispatch()
        if d.datamodule is not None and is_overridden(d.datamodule, source):
            return True
        return d.overridden(source)

    def validation_enabled(self, limit_val_batches: float) -> bool:
        """Whether fit validates: a validation loader, a ``validation_step`` and a non-zero limit."""
        return self.has_source("val_dataloader") and self._dispatch().has("validation_step") and limit_val_batches > 0

    def transfer_batch(self, batch: Any, dataloader_idx: int) -> Any:
        """The three batch-transfer hooks; each must hand a batch on.

        A loader may yield None (a ``collate_fn`` dropping a whole batch): as in Lightning,
        the hooks see None and may pass it on (the training loop then skips the batch, the
        evaluation loops hand it to the step); only a hook that turns a batch into None is
        an error (the spec's contract, ``Hook.hands_on``, which its checks apply too).
        """
        if self._cpu_only and type(batch) in _SEQUENCES:
            # all the hooks do is move the batch to the CPU, and a tuple or list of CPU tensors (the common
            # batch) is already there: handed back as move_data_to_device would, without its calls
            for item in batch:
                if not (isinstance(item, Tensor) and item.is_cpu):
                    break
            else:
                return batch
        given = batch
        d = self._d
        assert d is not None  # the loops transfer only inside a run
        precision = self.strategy.precision
        if precision.module_dtype is not None:  # a "-true" precision: inputs in the model's dtype (Lightning)
            batch = precision.convert_input(batch)
        skip_before, skip_move, skip_after = self._skip
        if not skip_before:
            batch = d.data_hook("on_before_batch_transfer", batch, dataloader_idx)
            if batch is None and given is not None:
                raise HookValueError("on_before_batch_transfer", "return value", "the batch (not None)", batch)
        if self._plain_move:  # the default's body, noted as that hook on an error
            try:
                batch = move_data_to_device(batch, self.strategy.root_device)
            except BaseException as exc:
                add_note(exc, f"model hook transfer_batch_to_device at {d.state.where()}")
                raise
        elif not skip_move:
            batch = d.data_hook("transfer_batch_to_device", batch, self.strategy.root_device, dataloader_idx)
            if batch is None and given is not None:
                raise HookValueError("transfer_batch_to_device", "return value", "the batch (not None)", batch)
        if not skip_after:
            batch = d.data_hook("on_after_batch_transfer", batch, dataloader_idx)
            if batch is None and given is not None:
                raise HookValueError("on_after_batch_transfer", "return value", "the batch (not None)", batch)
        return batch


def datamodule_in_place(fn: str, name: str, loaders: Any, datamodule: Any) -> tuple[Any, Any]:
    """``fit(model, dm)``, ``test(model, dm)``...: Lightning takes a datamodule in the loaders' place too."""
    from loophooks.engine._module import LoopDataModule

    if not isinstance(loaders, LoopDataModule):
        return loaders, datamodule
    if datamodule is not None:
        raise ConfigurationError(f"{fn}: a datamodule was passed twice (as {name} and as datamodule)")
    return None, loaders
