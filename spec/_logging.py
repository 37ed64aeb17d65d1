"""The logging contract in machine-readable form: where ``self.log`` may be called, with which defaults.

``LOGGING`` maps every hook name to a :class:`LogLevels` (logging allowed there,
with the allowed and default ``on_step`` / ``on_epoch`` values) or to ``None``
(``self.log`` is refused there), from the hook table's ``Hook.log``. Lightning 2.6
holds the same rules; the engine reads this map, and the prose beside it is
spec/METRICS.md.

``PUBLICATION`` says which metric dictionary a logged value reaches, and when.
"""

from __future__ import annotations

from typing import Final, Optional

from loophooks.spec._log_levels import LOG_STEP, LogLevels
from loophooks.spec._table import EVERY_HOOK

__all__ = ["LOGGING", "PUBLICATION", "REDUCTIONS", "LogLevels", "logging_levels"]


# The hook table holds each hook's rule (``Hook.log``); ``clip_gradients`` is a LightningModule method, not a
# hook, but Lightning lets it log as the optimisation's hooks do (it runs inside configure_gradient_clipping).
_METHODS: Final[dict[str, LogLevels]] = {"clip_gradients": LOG_STEP}

LOGGING: Final[dict[str, Optional[LogLevels]]] = {
    **{name: hook.log if isinstance(hook.log, LogLevels) else None for name, hook in EVERY_HOOK.items() if hook.log},
    **_METHODS,
}
"""Every hook with a rule (the table's ``Hook.log``): its :class:`LogLevels`, or ``None`` where ``self.log`` is
refused. A hook without a rule is absent (Lightning's validator does not know it either)."""

REDUCTIONS: Final[tuple[str, ...]] = ("mean", "sum", "max", "min")
"""``reduce_fx`` names (``"avg"`` is ``"mean"``; ``torch.mean``/``sum``/``max``/``min`` and the builtins
``sum``/``max``/``min`` name the same reductions). Any other callable is refused."""

PUBLICATION: Final[dict[str, str]] = {
    "callback_metrics/train": (
        "after each training batch: every training value's step value under its name (and name_step when "
        "on_step and on_epoch); after the epoch's last batch and again after on_train_epoch_end: the epoch values "
        "under name and name_epoch"
    ),
    "callback_metrics/eval": (
        "after each evaluation loader: its on_epoch values (name/dataloader_idx_N with several loaders); after "
        "on_{stage}_epoch_end: the values logged in the epoch hooks. Step values never reach callback_metrics"
    ),
    "logged_metrics": "the values with logger=True, under name_step / name_epoch when both levels are on",
    "progress_bar_metrics": "the values with prog_bar=True as Python numbers, under the same keys as logged_metrics",
    "validate/test return": (
        "one dict per loader: that loader's logged epoch values plus the values logged in the epoch hooks"
    ),
    "reset": (
        "callback/logged/progress-bar dicts are emptied at the start of each fit/validate/test and after the "
        "sanity check; epoch accumulators after on_train_epoch_end is published and after on_{stage}_end"
    ),
}
"""When each metric dictionary changes (prose, checked by the conformance scenarios)."""


def logging_levels(hook: str) -> Optional[LogLevels]:
    """The :class:`LogLevels` of ``hook``; ``None`` where logging is refused; KeyError for an unknown hook."""
    return LOGGING[hook]
