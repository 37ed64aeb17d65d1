"""Publication of logged values: ``callback_metrics``, ``logged_metrics``, ``progress_bar_metrics``, the loggers.

The loops tell the publisher where they are (:meth:`on_batch_start`, :meth:`on_batch_end`,
:meth:`epoch_end_reached`, :meth:`on_epoch_end`, ...); the publisher reads the active
loop's :class:`~._log_store.ResultStore` at step level while a batch loop runs and at
epoch level once it has ended, and merges what it reads into the three dictionaries.
Reading one of the dictionaries merges the active store's current values first, so a
callback sees epoch values in ``on_train_epoch_end`` before they are published. These
are Lightning 2.6's rules (spec/METRICS.md); the code is the engine's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

import torch
from torch import Tensor
from typing_extensions import final

from loophooks.engine._log_options import (
    LoggingError,
    LogOptions,
    LogRequest,
    resolve_levels,
    resolve_options,
    to_value,
)
from loophooks.engine._log_store import ResultStore

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["MetricsPublisher"]

Metrics = dict[str, torch.Tensor]


@final
class MetricsPublisher:
    """What ``self.log`` writes to and what ``trainer.*_metrics`` read (one per Trainer)."""

    def __init__(self, trainer: Trainer) -> None:
        self._trainer = trainer
        self._stores: dict[str, ResultStore] = {}
        self._callback: Metrics = {}
        self._logged: Metrics = {}
        self._pbar: dict[str, Any] = {}  # tensors until read (a number each read costs a device sync)
        self._current_fx: Optional[str] = None
        # None outside a batch loop; True on a loop's first batch, then False (Lightning's _first_loop_iter)
        self._first_loop_iter: Optional[bool] = None
        self.batches_that_stepped = 0  # the loggers' step during fit
        self.loggers: list[Any] = []
        self.log_every_n_steps = 50
        self._fast: dict[tuple[Any, ...], tuple[LogRequest, LogOptions]] = {}  # checked options per call site

    # --- which store is active -------------------------------------------------------------------------
    def store(self) -> Optional[ResultStore]:
        state = self._trainer.state
        stage = state.stage
        if stage == "train":
            name = "train"
        elif stage == "validate" or stage == "sanity_check":
            name = "fit_validation" if state.fn == "fit" else "validate"
        elif stage == "test":
            name = "test"
        else:
            return None
        found = self._stores.get(name)
        if found is None:
            found = self._stores[name] = ResultStore(training=name == "train")
        return found

    # --- self.log ---------------------------------------------------------------------------------------
    def log(self, module: Any, name: str, value: Any, batch_size: Optional[int], request: LogRequest) -> None:
        """One ``self.log`` call: ``request`` holds its options as given (``LoopModule.log`` builds it)."""
        trainer = self._trainer
        fx = trainer.state.hook
        store = self.store()
        if store is None:
            where = fx or "outside any hook"
            if fx is not None:
                resolve_levels(name, fx, request.on_step, request.on_epoch)  # names the hook's rule when it has one
            raise LoggingError(
                f"self.log({name!r}, ...) in {where}: logging needs a running fit, validate or test loop"
            )
        # The same call from the same place reuses its checked options: compare the options as given only.
        site = (fx, name, store.dataloader_idx)
        cached = self._fast.get(site)
        is_tensor = isinstance(value, Tensor)
        if cached is not None and cached[0] == request and (is_tensor or isinstance(value, (float, int))):
            options = cached[1]
        else:  # first call here, other options, or a metric object (its attribute is looked up each time)
            options = resolve_options(
                request,
                module=module,
                fx=fx,
                name=name,
                value=value,
                dataloader_idx=store.dataloader_idx,
                has_loggers=bool(self.loggers),
                distributed=trainer.strategy.world_size > 1,
            )
            self._fast[site] = (request, options)
        if is_tensor and value.numel() == 1:
            if value.requires_grad:
                value = value.detach()  # Lightning detaches every logged tensor, enable_graph or not
            if value.ndim:
                value = value.squeeze()
        else:
            value = to_value(name, options.fx, value, _device(module))
        if self._current_fx != fx and self._first_loop_iter in (None, True):
            # a hook's first call in a new epoch: drop its tensors from the previous one
            store.reset(tensors=True, metrics=False, fx=fx)
        sync = _sync_fn(trainer) if options.sync else None
        store.log(options, value, batch_size, sync)
        self._current_fx = fx

    # --- the three dictionaries -------------------------------------------------------------------------
    def _read(self) -> Optional[tuple[Metrics, Metrics, Metrics]]:
        store = self.store()
        if store is None:
            return None
        return store.read(on_step=self._first_loop_iter is not None)

    @property
    def callback_metrics(self) -> Metrics:
        read = self._read()
        if read is not None:
            self._callback.update(read[0])
        return self._callback

    @property
    def logged_metrics(self) -> Metrics:
        read = self._read()
        if read is not None:
            self._logged.update(read[1])
        return self._logged

    @property
    def progress_bar_metrics(self) -> dict[str, float]:
        read = self._read()
        if read is not None:
            self._pbar.update(read[2])
        pbar = self._pbar
        for key, value in pbar.items():
            if isinstance(value, torch.Tensor):
                pbar[key] = value.item()
        return pbar

    def _merge(self) -> Metrics:
        read = self._read()
        if read is None:
            return {}
        callback, logged, pbar = read
        self._pbar.update(pbar)
        self._callback.update(callback)
        self._logged.update(logged)
        return logged

    # --- what the loops call -------------------------------------------------------------------------------
    def reset_results(self) -> None:
        """Reset the active store's entries (metric objects included) and leave the batch loop."""
        store = self.store()
        if store is not None:
            store.reset()
        self._first_loop_iter = None
        self._current_fx = None

    def reset_metrics(self) -> None:
        self._callback = {}
        self._logged = {}
        self._pbar = {}

    def on_batch_start(self, store: Optional[ResultStore], batch: Any, dataloader_idx: Optional[int] = None) -> None:
        """A batch starts; ``store`` is :meth:`store`, which a loop looks up once (it stays the same all epoch)."""
        self._first_loop_iter = self._first_loop_iter is None
        if store is not None:
            store.batch = batch
            store.batch_size = None
            store.dataloader_idx = dataloader_idx

    def on_batch_end(self, store: Optional[ResultStore]) -> None:
        if store is None:
            return
        if store.entries:  # nothing logged yet: merging would change nothing (this runs every batch)
            self._merge()
        store.batch = None
        store.batch_size = None

    def epoch_end_reached(self) -> None:
        self._first_loop_iter = None

    def on_epoch_end(self) -> None:
        self._merge()
        self._current_fx = None

    @property
    def first_loop_iter(self) -> Optional[bool]:
        return self._first_loop_iter

    @first_loop_iter.setter
    def first_loop_iter(self, value: Optional[bool]) -> None:
        self._first_loop_iter = value

    # training
    def should_update_logs(self) -> bool:
        trainer = self._trainer
        n = self.log_every_n_steps
        if n == 0:
            return False
        if trainer.state.stage == "train":
            step = self.batches_that_stepped + 1
        else:
            step = trainer.state.eval_batch_idx + 1
        return step % n == 0 or trainer.should_stop

    def update_train_step_metrics(self, accumulating: bool) -> None:
        if accumulating:
            return
        if self.loggers and self.should_update_logs():
            self.log_metrics(self._read_logged())

    def update_train_epoch_metrics(self) -> None:
        self.log_metrics(self._read_logged())
        self.reset_results()

    def _read_logged(self) -> Metrics:
        read = self._read()
        return read[1] if read is not None else {}

    # evaluation
    def evaluation_epoch_end(self) -> None:
        store = self.store()
        if store is not None:
            store.dataloader_idx = None

    def update_eval_step_metrics(self, step: int) -> None:
        if self.loggers:
            self.log_metrics(self._read_logged(), step=step)

    def update_eval_epoch_metrics(self) -> Metrics:
        if self._trainer.sanity_checking:
            return {}
        return self._merge()

    def log_eval_end_metrics(self, metrics: Metrics) -> None:
        if not self._trainer.sanity_checking:
            self.log_metrics(metrics)

    # --- the loggers ----------------------------------------------------------------------------------------
    def log_metrics(self, metrics: Metrics, step: Optional[int] = None) -> None:
        """Hand ``metrics`` to every logger (Lightning adds ``epoch`` and uses the stepped batches as the step)."""
        if not self.loggers or not metrics:
            return
        self._logged.update(metrics)
        scalars: dict[str, Any] = {k: v.item() if isinstance(v, torch.Tensor) else v for k, v in metrics.items()}
        if step is None:
            given = scalars.pop("step", None)
            if given is not None:
                step = int(given)
            else:
                scalars.setdefault("epoch", self._trainer.current_epoch)
                step = self.batches_that_stepped
        for logger in self.loggers:
            logger.log_metrics(metrics=scalars, step=step)
            logger.save()

    def log_hyperparams(self, module: Any, datamodule: Any) -> None:
        """At fit start: the module's (and datamodule's) initial hyperparameters to every logger (Lightning's rule).

        Hyperparameters come from ``save_hyperparameters`` (``hparams_initial``); a key the
        module and the datamodule both hold with different values is an error, as in Lightning.
        """
        if not self.loggers:
            return
        params: Optional[dict[str, Any]] = None
        own = _initial_hparams(module)
        data = _initial_hparams(datamodule) if datamodule is not None else None
        if own is not None and data is not None:
            clash = [k for k in own.keys() & data.keys() if own[k] != data[k]]
            if clash:
                raise LoggingError(
                    f"the module and the datamodule both save the hyperparameter(s) {sorted(clash)} with different "
                    "values; logging them would lose one"
                )
            params = {**own, **data}
        else:
            params = own if own is not None else data
        for logger in self.loggers:
            if params is not None:
                logger.log_hyperparams(params)
            log_graph = getattr(logger, "log_graph", None)
            if callable(log_graph):
                log_graph(module)
            logger.save()

    def finalize(self, status: str) -> None:
        """Tell every logger the run ended (``"success"`` or ``"failed"``)."""
        for logger in self.loggers:
            logger.finalize(status)

    def teardown(self) -> None:
        """Move the published values to the CPU (the run's devices may go away)."""
        self._callback = {k: v.cpu() for k, v in self._callback.items()}
        self._logged = {k: v.cpu() for k, v in self._logged.items()}
        self._pbar = {k: v.item() if isinstance(v, torch.Tensor) else v for k, v in self._pbar.items()}


def _initial_hparams(obj: Any) -> Optional[dict[str, Any]]:
    """``hparams_initial`` when ``save_hyperparameters`` asked for logging (``logger=True``), else None."""
    if not getattr(obj, "_log_hyperparams", False):
        return None
    initial = getattr(obj, "hparams_initial", None)
    return dict(initial) if initial is not None else None


def _device(module: Any) -> torch.device:
    for p in module.parameters() if isinstance(module, torch.nn.Module) else ():
        return p.device
    return torch.device("cpu")


def _sync_fn(trainer: Trainer) -> Callable[[torch.Tensor, str, Any], torch.Tensor]:
    strategy = trainer.strategy

    def sync(value: torch.Tensor, reduce: str, group: Any) -> torch.Tensor:
        return strategy.reduce(value, reduce, group=group)  # type: ignore[no-any-return]

    return sync
