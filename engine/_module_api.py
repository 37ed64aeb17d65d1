"""The everyday members of Lightning's ``LightningModule`` beyond the hooks, for ``LoopModule``.

``load_from_checkpoint``, ``print``, ``freeze``/``unfreeze``, ``dtype``,
``example_input_array``, ``strict_loading``, ``toggle_optimizer``/``untoggle_optimizer``
(and the ``toggled_optimizer`` context) and ``all_gather``, with Lightning 2.6's
names, defaults and meaning. ``from_datasets`` for datamodules lives here too.
"""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any, Optional, TypeVar, Union

import torch
from torch import nn
from torch.optim import Optimizer

__all__ = ["ModuleAPI", "datamodule_from_datasets"]

_M = TypeVar("_M", bound="ModuleAPI")


def _unwrap(optimizer: Any) -> Any:
    """The torch optimizer behind a ``LoopOptimizer`` (what ``self.optimizers()`` returns), or the object itself."""
    inner = getattr(type(optimizer), "optimizer", None)
    return optimizer.optimizer if isinstance(inner, property) else optimizer


class ModuleAPI(nn.Module):
    """Lightning's non-hook ``LightningModule`` members; a base of ``LoopModule``."""

    # --- loading -------------------------------------------------------------------------------------
    @classmethod
    def load_from_checkpoint(
        cls: type[_M],
        checkpoint_path: Union[str, os.PathLike[str], IO[bytes]],
        map_location: Any = None,
        hparams_file: Any = None,
        strict: Optional[bool] = None,
        weights_only: Optional[bool] = None,
        **kwargs: Any,
    ) -> _M:
        """A model built from a checkpoint: ``cls(**hyper_parameters updated with kwargs)``, then its weights.

        ``map_location`` moves the weights (a device, a string, or a dict mapping
        devices); ``strict`` defaults to the model's ``strict_loading``. The file is
        read with ``torch.load(weights_only=True)`` unless ``weights_only=False``
        (only for files you trust: unpickling can run code).
        """
        from loophooks.engine._loading import load_object

        obj: _M = load_object(
            cls,
            checkpoint_path,
            kind="module",
            map_location=map_location,
            hparams_file=hparams_file,
            strict=strict,
            weights_only=weights_only,
            **kwargs,
        )
        return obj

    @property
    def strict_loading(self) -> bool:
        """Whether the weights must match the model's keys exactly when a checkpoint loads (default True)."""
        own = self.__dict__.get("_strict_loading")
        return True if own is None else bool(own)

    @strict_loading.setter
    def strict_loading(self, strict: bool) -> None:
        self.__dict__["_strict_loading"] = strict

    # --- conveniences --------------------------------------------------------------------------------
    def print(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on the process of global rank 0 only (every process when no trainer is attached)."""
        if self._attached().is_global_zero:  # unattached: the error Lightning raises too
            builtins.print(*args, **kwargs)

    def freeze(self) -> None:
        """No gradients for any parameter, and eval mode."""
        for param in self.parameters():
            param.requires_grad = False
        self.eval()

    def unfreeze(self) -> None:
        """Gradients for every parameter again, and train mode."""
        for param in self.parameters():
            param.requires_grad = True
        self.train()

    @property
    def dtype(self) -> torch.dtype:
        """The floating-point type of the weights (the default dtype when there are none)."""
        for tensor in _floating(self):
            return tensor.dtype
        return torch.get_default_dtype()

    @property
    def example_input_array(self) -> Any:
        """An input the model accepts (for summaries and exports); None unless set."""
        return self.__dict__.get("_example_input_array")

    @example_input_array.setter
    def example_input_array(self, example: Any) -> None:
        self.__dict__["_example_input_array"] = example

    # --- several optimizers --------------------------------------------------------------------------
    def toggle_optimizer(self, optimizer: Any) -> None:
        """Leave gradients on only for ``optimizer``'s parameters; the others' ``requires_grad`` is remembered.

        For manual optimization with several optimizers over overlapping models
        (a GAN's generator and discriminator); undo with :meth:`untoggle_optimizer`.
        """
        chosen = _unwrap(optimizer)
        saved: dict[torch.Tensor, bool] = {}
        for opt in self._trainer_optimizers():
            for group in opt.param_groups:
                for param in group["params"]:
                    if param not in saved:
                        saved[param] = param.requires_grad
                        param.requires_grad = False
        for group in chosen.param_groups:
            for param in group["params"]:
                param.requires_grad = saved.get(param, param.requires_grad)
        self.__dict__["_param_requires_grad_state"] = saved

    def untoggle_optimizer(self, optimizer: Any) -> None:
        """Restore ``requires_grad`` of the parameters that :meth:`toggle_optimizer` switched off."""
        chosen = _unwrap(optimizer)
        saved: dict[torch.Tensor, bool] = self.__dict__.get("_param_requires_grad_state", {})
        for opt in self._trainer_optimizers():
            if opt is chosen:
                continue
            for group in opt.param_groups:
                for param in group["params"]:
                    if param in saved:
                        param.requires_grad = saved[param]
        self.__dict__["_param_requires_grad_state"] = {}

    @contextlib.contextmanager
    def toggled_optimizer(self, optimizer: Any) -> Iterator[None]:
        """:meth:`toggle_optimizer` for the block, :meth:`untoggle_optimizer` after it (even on an error)."""
        self.toggle_optimizer(optimizer)
        try:
            yield
        finally:
            self.untoggle_optimizer(optimizer)

    def _trainer_optimizers(self) -> list[Optimizer]:
        return list(self._attached().optimizers)

    def _attached(self) -> Any:
        trainer = self.__dict__.get("_trainer")
        if trainer is None:
            raise RuntimeError(f"{type(self).__name__} is not attached to a Trainer")
        return trainer

    # --- collectives ---------------------------------------------------------------------------------
    def all_gather(self, data: Any, group: Any = None, sync_grads: bool = False) -> Any:
        """Every process's ``data`` (tensors, numbers, or collections of them), stacked on a new first dimension.

        On one process the tensors come back unchanged (no new dimension), as in Lightning.
        ``sync_grads=True`` lets gradients flow back through the gather.
        """
        self._attached()
        first = next(iter(_floating(self)), None)
        device = first.device if first is not None else torch.device("cpu")
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        world = torch.distributed.get_world_size(group) if distributed else 1

        def gather(value: Any) -> Any:
            if isinstance(value, torch.Tensor):
                tensor = value
            elif isinstance(value, (bool, int, float)):
                tensor = torch.tensor(value, device=device)
            elif isinstance(value, Mapping):
                return type(value)({k: gather(v) for k, v in value.items()})  # type: ignore[call-arg]
            elif isinstance(value, (list, tuple)):
                items = [gather(v) for v in value]
                return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
            else:
                return value
            if world == 1:
                return tensor
            if sync_grads:
                from torch.distributed.nn.functional import all_gather as differentiable_gather

                return torch.stack(differentiable_gather(tensor.contiguous(), group=group))  # type: ignore[no-untyped-call]
            parts = [torch.empty_like(tensor) for _ in range(world)]
            torch.distributed.all_gather(parts, tensor.contiguous(), group=group)
            return torch.stack(parts)

        return gather(data)


def _floating(module: nn.Module) -> Iterator[torch.Tensor]:
    for param in module.parameters():
        if param.is_floating_point():
            yield param
    for buffer in module.buffers():
        if buffer.is_floating_point():
            yield buffer


def _loaders(dataset: Any, batch_size: int, num_workers: int, shuffle: bool) -> Any:
    from torch.utils.data import DataLoader, IterableDataset

    def one(ds: Any) -> DataLoader[Any]:
        return DataLoader(
            ds,
            batch_size=batch_size,
            num_workers=num_workers,
            shuffle=shuffle and not isinstance(ds, IterableDataset),
        )

    if isinstance(dataset, Mapping):
        return {k: one(v) for k, v in dataset.items()}
    if isinstance(dataset, Sequence):  # several datasets: one loader each (Lightning's rule)
        return [one(d) for d in dataset]
    return one(dataset)


def datamodule_from_datasets(
    cls: type[Any],
    train_dataset: Any,
    val_dataset: Any,
    test_dataset: Any,
    predict_dataset: Any,
    batch_size: int,
    num_workers: int,
    datamodule_kwargs: dict[str, Any],
) -> Any:
    """Lightning's ``LightningDataModule.from_datasets``: a ``cls`` instance with loaders for the given datasets.

    Constructor arguments of ``cls`` named in ``datamodule_kwargs`` are passed on;
    a loader method exists only for the datasets given.
    """
    import inspect

    params = inspect.signature(cls.__init__).parameters
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    accepted = {k: v for k, v in datamodule_kwargs.items() if takes_kwargs or k in params}
    unknown = sorted(set(datamodule_kwargs) - set(accepted))
    if unknown:
        raise TypeError(f"{cls.__name__}.from_datasets: {unknown} are not arguments of {cls.__name__}.__init__")
    datamodule = cls(**accepted)
    for source, dataset, shuffle in (
        ("train_dataloader", train_dataset, True),
        ("val_dataloader", val_dataset, False),
        ("test_dataloader", test_dataset, False),
        ("predict_dataloader", predict_dataset, False),
    ):
        if dataset is not None:
            setattr(datamodule, source, _bind(dataset, batch_size, num_workers, shuffle))
    return datamodule


def _bind(dataset: Any, batch_size: int, num_workers: int, shuffle: bool) -> Any:
    def loader() -> Any:
        return _loaders(dataset, batch_size, num_workers, shuffle)

    return loader
