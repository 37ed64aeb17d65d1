"""``ModelSummary``: the table of layers, parameters and modes printed when fit starts (Lightning's table).

``Trainer(enable_model_summary=True)`` (the default, as in Lightning) adds one
with ``max_depth=1``. The table goes to the ``loophooks`` logger at INFO, as
Lightning's goes to its own. With ``example_input_array`` on the model, one
forward pass (eval mode, no grad) fills in the input and output sizes and the
FLOPs; without it nothing runs.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Optional, Union

import torch
from torch import nn

from loophooks.engine._errors import ConfigurationError
from loophooks.engine.callbacks._base import Callback
from loophooks.engine.callbacks._info import info

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["ModelSummary", "Summary", "summarize"]

_UNITS = [" ", "K", "M", "B", "T"]
_UNKNOWN = "?"
_NA = "n/a"
_BITS = {"64": 64, "32": 32, "16": 16, "bf16": 16, "16-true": 16, "bf16-true": 16, "32-true": 32, "64-true": 64}


def human_count(number: int) -> str:
    """``123  ``, ``1.2 K``, ``2.0 M``, ... (Lightning's abbreviation)."""
    digits = int(math.floor(math.log10(number)) + 1) if number > 0 else 1
    groups = min(int(math.ceil(digits / 3)), len(_UNITS))
    scaled = number * 10 ** (-3 * (groups - 1))
    if groups - 1 < 1 or scaled >= 100:
        return f"{int(scaled):,d} {_UNITS[groups - 1]}"
    return f"{scaled:,.1f} {_UNITS[groups - 1]}"


def _shape(value: Any) -> Union[str, list[Any]]:
    if hasattr(value, "shape"):
        return list(value.shape)
    if isinstance(value, (list, tuple)):
        return [_shape(v) for v in value]
    return _UNKNOWN


def _numel(p: torch.Tensor) -> int:
    from torch.nn.parameter import UninitializedParameter

    return 0 if isinstance(p, UninitializedParameter) else p.numel()


class _Layer:
    """One row: a submodule, and the sizes its first forward pass saw."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.in_size: Union[str, list[Any]] = _UNKNOWN
        self.out_size: Union[str, list[Any]] = _UNKNOWN
        self._handle: Any = None
        if not isinstance(module, torch.jit.ScriptModule):
            self._handle = module.register_forward_hook(self._record, with_kwargs=True)

    def _record(self, _: nn.Module, args: Any, kwargs: Any, out: Any) -> None:
        inputs = (*args, *kwargs.values()) if kwargs else args
        self.in_size = _shape(inputs[0] if len(inputs) == 1 else inputs) or _UNKNOWN
        self.out_size = _shape(out) or _UNKNOWN
        self.detach()

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    @property
    def params(self) -> int:
        return sum(_numel(p) for p in self.module.parameters())


class Summary:
    """The summary of a module to ``max_depth`` levels (-1: all; 0: totals only); ``str()`` is the table."""

    def __init__(self, model: nn.Module, max_depth: int = 1) -> None:
        if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < -1:
            raise ConfigurationError(f"ModelSummary(max_depth=...) must be -1, 0 or an int > 0; received {max_depth!r}")
        self._model = model
        self._max_depth = max_depth
        self.total_flops = 0
        if max_depth == 0:
            named: list[tuple[str, nn.Module]] = []
        elif max_depth == 1:
            named = list(model.named_children())
        else:
            named = list(model.named_modules())[1:]
        self._layers: OrderedDict[str, _Layer] = OrderedDict((name, _Layer(m)) for name, m in named)
        self._flops_by_layer: dict[str, int] = {}
        try:
            if getattr(model, "example_input_array", None) is not None:
                self._forward_example()
        finally:
            for layer in self._layers.values():
                layer.detach()
        if max_depth >= 1:
            for name in [n for n in self._layers if n.count(".") >= max_depth]:
                del self._layers[name]
        try:  # a module outside a run may have no trainer, or a property that raises without one
            trainer = getattr(model, "trainer", None)
        except Exception:
            trainer = None
        precision = getattr(trainer, "precision", "32-true") if trainer is not None else "32-true"
        self._megabytes_per_param = _BITS.get(str(precision), 32) / 8 * 1e-6

    def _forward_example(self) -> None:
        from torch.utils.flop_counter import FlopCounterMode

        model = self._model
        example = model.example_input_array
        try:
            trainer = getattr(model, "trainer", None)
        except Exception:
            trainer = None
        device = getattr(getattr(trainer, "strategy", None), "root_device", None)
        if device is not None:
            from loophooks.spec._transfer import move_data_to_device

            example = move_data_to_device(example, device)
        modes = [(m, m.training) for m in model.modules()]
        counter = FlopCounterMode(display=False, depth=self._max_depth + 1)
        model.eval()
        try:
            with torch.no_grad(), counter:
                if isinstance(example, (list, tuple)):
                    model(*example)
                elif isinstance(example, dict):
                    model(**example)
                else:
                    model(example)
        finally:
            for m, training in modes:
                m.training = training
        self.total_flops = int(counter.get_total_flops())
        counts = counter.get_flop_counts()
        prefix = type(model).__name__
        self._flops_by_layer = {name: int(sum(counts.get(f"{prefix}.{name}", {}).values())) for name in self._layers}

    @property
    def total_parameters(self) -> int:
        return sum(_numel(p) for p in self._model.parameters())

    @property
    def trainable_parameters(self) -> int:
        return sum(_numel(p) for p in self._model.parameters() if p.requires_grad)

    @property
    def model_size(self) -> float:
        """Megabytes at the run's precision."""
        return self.total_parameters * self._megabytes_per_param

    @property
    def total_training_modes(self) -> dict[str, int]:
        modes = [m.training for m in self._model.modules()][1:]
        return {"train": modes.count(True), "eval": modes.count(False)}

    def columns(self) -> list[tuple[str, list[str]]]:
        layers = list(self._layers.items())
        columns: list[tuple[str, list[str]]] = [
            (" ", [str(i) for i in range(len(layers))]),
            ("Name", [name for name, _ in layers]),
            ("Type", [type(layer.module).__name__ for _, layer in layers]),
            ("Params", [human_count(layer.params) for _, layer in layers]),
            ("Mode", ["train" if layer.module.training else "eval" for _, layer in layers]),
            ("FLOPs", [human_count(self._flops_by_layer.get(name, 0)) for name, _ in layers]),
        ]
        if getattr(self._model, "example_input_array", None) is not None:
            columns.append(("In sizes", [str(layer.in_size) for _, layer in layers]))
            columns.append(("Out sizes", [str(layer.out_size) for _, layer in layers]))
        leftover = self.total_parameters - sum(layer.params for _, layer in layers)
        if leftover > 0:  # parameters held by the module itself, not by a listed layer
            extra = {" ": " ", "Name": "other params", "Params": human_count(leftover)}
            for title, values in columns:
                values.append(extra.get(title, _NA))
        return columns

    def __str__(self) -> str:
        return format_table(
            self.columns(),
            self.total_parameters,
            self.trainable_parameters,
            self.model_size,
            self.total_training_modes,
            self.total_flops,
        )

    __repr__ = __str__


def format_table(
    columns: list[tuple[str, list[str]]],
    total: int,
    trainable: int,
    megabytes: float,
    modes: dict[str, int],
    flops: int,
) -> str:
    """Lightning's table: the columns left-aligned under a rule, then the totals."""
    rows = len(columns[0][1])
    widths = [max([len(title), *(len(v) for v in values)]) if rows else len(title) for title, values in columns]
    rule = "-" * (sum(widths) + 3 * (1 + len(columns)))
    lines = [" | ".join(f"{title:<{w}}" for (title, _), w in zip(columns, widths)), rule]
    for i in range(rows):
        lines.append(" | ".join(f"{values[i]:<{w}}" for (_, values), w in zip(columns, widths)))
    lines.append(rule)
    totals = [
        (human_count(trainable), "Trainable params"),
        (human_count(total - trainable), "Non-trainable params"),
        (human_count(total), "Total params"),
        (f"{megabytes:,.3f}", "Total estimated model params size (MB)"),
        (str(modes["train"]), "Modules in train mode"),
        (str(modes["eval"]), "Modules in eval mode"),
        (human_count(flops), "Total Flops"),
    ]
    lines.extend(f"{value:<10}{label}" for value, label in totals)
    return "\n".join(lines)


def summarize(module: nn.Module, max_depth: int = 1) -> Summary:
    """The summary of ``module`` (Lightning's ``utilities.model_summary.summarize``)."""
    return Summary(module, max_depth=max_depth)


class ModelSummary(Callback):
    """Logs the summary table of the model when fit starts; ``max_depth=0`` turns it off.

    ``summarize`` is Lightning's extension point: a subclass that overrides it
    receives the table's columns and totals (and any keyword arguments given here)
    and shows them its own way, as :class:`RichModelSummary` does.
    """

    # the keyword arguments this class's own ``summarize`` reads; the rest are refused unless a subclass
    # overrides ``summarize`` (Lightning hands them to ``summarize``, whose default ignores them)
    _SUMMARIZE_KEYWORDS: frozenset[str] = frozenset()

    def __init__(self, max_depth: int = 1, **summarize_kwargs: Any) -> None:
        if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < -1:
            raise ConfigurationError(
                f"{type(self).__name__}(max_depth=...) must be -1, 0 or an int > 0; received {max_depth!r}"
            )
        unknown = sorted(set(summarize_kwargs) - self._SUMMARIZE_KEYWORDS)
        if unknown and not _overrides_summarize(type(self)):
            accepted = sorted(self._SUMMARIZE_KEYWORDS)
            raise ConfigurationError(
                f"{type(self).__name__}: the keyword arguments {unknown} are not supported (they would go to its "
                f"summarize, which reads {accepted if accepted else 'none'}; RichModelSummary reads header_style)"
            )
        self._max_depth = max_depth
        self._summarize_kwargs: dict[str, Any] = dict(summarize_kwargs)
        self.summary: Optional[Summary] = None

    def on_fit_start(self, trainer: Trainer, pl_module: Any) -> None:
        if not self._max_depth:
            return
        summary = self.summary = summarize(pl_module, max_depth=self._max_depth)
        if trainer.is_global_zero:
            self.summarize(
                summary.columns(),
                summary.total_parameters,
                summary.trainable_parameters,
                summary.model_size,
                summary.total_training_modes,
                total_flops=summary.total_flops,
                **self._summarize_kwargs,
            )

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        """Show the table (Lightning's signature): here, log it at INFO on the ``loophooks`` logger."""
        table = format_table(
            summary_data, total_parameters, trainable_parameters, model_size, total_training_modes, total_flops
        )
        info(None, "\n" + table)  # on_fit_start calls this on global rank 0 only


def _overrides_summarize(cls: type) -> bool:
    """Whether a user's subclass replaced ``summarize`` (then it, not this module, decides what its keywords mean)."""
    owner = next(klass for klass in cls.__mro__ if "summarize" in klass.__dict__)
    return not owner.__module__.startswith("loophooks.engine.")
