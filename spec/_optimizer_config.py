"""What ``configure_optimizers`` may return, as types a checker can hold a model to.

Lightning's dict forms are ``TypedDict``s here, so a misspelled key
(``"scheduler"`` for ``"lr_scheduler"``, ``"intervall"``) in a dict returned where
the return type is :data:`OptimizerLRScheduler` or :class:`OptimizerLRSchedulerConfig`
is a type error.

An override annotated ``-> dict[str, Any]`` must still satisfy the spec's
``configure_optimizers``: the union also holds :data:`UntypedOptimizerConfig`,
``Mapping[str, Never]``. A ``dict[str, Any]`` is assignable to it (``Any`` is
compatible with every type, ``Never`` included), while a dict *literal* is not:
its values have real types, and none is assignable to ``Never``. So the untyped
annotation passes and the misspelled literal is still caught. What a
``dict[str, Any]`` holds is checked at run time, when the loop parses it.

:data:`OPTIMIZER_FORMS_AT_RUNTIME` is the same set of forms without the key-level
detail: the runtime contract the checks apply (beartype reads a ``TypedDict`` as a
plain mapping, and ``Never`` accepts nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from typing_extensions import Never, NotRequired, Required, TypeAlias, TypedDict

__all__ = [
    "OPTIMIZER_FORMS_AT_RUNTIME",
    "LRSchedulerConfigType",
    "OptimizerLRScheduler",
    "OptimizerLRSchedulerConfig",
    "UntypedOptimizerConfig",
]

LRSchedulerTypeUnion: TypeAlias = Union[LRScheduler, ReduceLROnPlateau]


class LRSchedulerConfigType(TypedDict, total=False):
    """A scheduler with when to step it: the ``"lr_scheduler"`` value's dict form (Lightning's name)."""

    scheduler: Required[LRSchedulerTypeUnion]
    name: Optional[str]
    interval: str  # "epoch" or "step"; a str, as in Lightning, so a str-typed variable passes
    frequency: int
    reduce_on_plateau: bool
    monitor: Optional[str]
    strict: bool


class OptimizerLRSchedulerConfig(TypedDict):
    """``{"optimizer": ..., "lr_scheduler": ..., "monitor": ...}``: one optimizer with its scheduler, if any."""

    optimizer: Optimizer
    lr_scheduler: NotRequired[Union[LRSchedulerTypeUnion, LRSchedulerConfigType]]
    monitor: NotRequired[str]


UntypedOptimizerConfig: TypeAlias = Mapping[str, Never]
"""A dict the checker knows nothing about (``dict[str, Any]``), and no dict literal: see the module docstring."""

OptimizerLRScheduler: TypeAlias = Union[
    Optimizer,
    Sequence[Optimizer],
    tuple[
        Sequence[Optimizer],
        Sequence[Union[LRSchedulerTypeUnion, LRSchedulerConfigType, UntypedOptimizerConfig]],
    ],
    OptimizerLRSchedulerConfig,
    Sequence[OptimizerLRSchedulerConfig],
    UntypedOptimizerConfig,
    Sequence[UntypedOptimizerConfig],
    None,
]
"""What ``configure_optimizers`` returns: an optimizer, several, (optimizers, schedulers), the dict form
``{"optimizer": ..., "lr_scheduler": scheduler or {"scheduler": ..., "interval": ..., "frequency": ...,
"monitor": ...}}`` alone or in a list; ``None`` for no optimization."""

OPTIMIZER_FORMS_AT_RUNTIME: TypeAlias = Union[
    Optimizer,
    Sequence[Optimizer],
    tuple[Sequence[Optimizer], Sequence[Union[LRScheduler, Mapping[str, Any]]]],
    Mapping[str, Any],
    Sequence[Mapping[str, Any]],
    None,
]
"""The forms of :data:`OptimizerLRScheduler` as the runtime checks see them (dict keys are the loop's to check)."""
