"""loophooks.conformance: the suite a training framework runs to prove its trainer keeps the hooks.

- :class:`Adapter`: what a framework writes so the suite can drive its trainer.
- :func:`catalogue`: every case the suite runs, generated from a table of features.
- :func:`run_scenario` / :func:`run_case` / :func:`check`: run cases through an
  adapter and judge them; :func:`validate` judges a recorded trace.
- :class:`Report`: results as a table or JSON; :func:`load_deviations`: declared
  differences, reported as deviations rather than failures.
- The pytest plugin (``pytest --pyargs loophooks.conformance``) and the
  ``loophooks check`` command use all of the above.

Names are imported on first use: this package is loaded by pytest's plugin
machinery in every session, and most sessions never touch the suite.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from loophooks.conformance._adapter import CAPABILITIES, Adapter, TrainerSettings
    from loophooks.conformance._catalogue import (
        COMBINED,
        CORE_CAPABILITIES,
        DEVICES,
        FEATURES,
        Case,
        Feature,
        catalogue,
        needs,
    )
    from loophooks.conformance._deviations import Deviation, Deviations, Level, load_deviations
    from loophooks.conformance._normalize import dump_trace, load_trace, normalize
    from loophooks.conformance._recorder import Recorder
    from loophooks.conformance._report import CaseResult, Outcome, Report
    from loophooks.conformance._runner import Run, check, judge, run_case, run_cases, run_scenario, unsupported_reason
    from loophooks.conformance._validator import (
        CHECKPOINT_KEYS,
        Divergence,
        Probes,
        Verdict,
        first_divergence,
        semantic_problems,
        validate,
    )
    from loophooks.conformance.adapters._registry import BUILTIN_ADAPTERS, AdapterError, load_adapter

__all__ = [
    "BUILTIN_ADAPTERS",
    "CAPABILITIES",
    "CHECKPOINT_KEYS",
    "COMBINED",
    "CORE_CAPABILITIES",
    "DEVICES",
    "FEATURES",
    "Adapter",
    "AdapterError",
    "Case",
    "CaseResult",
    "Deviation",
    "Deviations",
    "Divergence",
    "Feature",
    "Level",
    "Outcome",
    "Probes",
    "Recorder",
    "Report",
    "Run",
    "TrainerSettings",
    "Verdict",
    "catalogue",
    "check",
    "dump_trace",
    "first_divergence",
    "judge",
    "load_adapter",
    "load_deviations",
    "load_trace",
    "needs",
    "normalize",
    "run_case",
    "run_cases",
    "run_scenario",
    "semantic_problems",
    "unsupported_reason",
    "validate",
]

_HOME: Final[dict[str, str]] = {
    **dict.fromkeys(("CAPABILITIES", "Adapter", "TrainerSettings"), "_adapter"),
    **dict.fromkeys(
        ("COMBINED", "CORE_CAPABILITIES", "DEVICES", "FEATURES", "Case", "Feature", "catalogue", "needs"), "_catalogue"
    ),
    **dict.fromkeys(("Deviation", "Deviations", "Level", "load_deviations"), "_deviations"),
    **dict.fromkeys(("dump_trace", "load_trace", "normalize"), "_normalize"),
    "Recorder": "_recorder",
    **dict.fromkeys(("CaseResult", "Outcome", "Report"), "_report"),
    **dict.fromkeys(
        ("Run", "check", "judge", "run_case", "run_cases", "run_scenario", "unsupported_reason"), "_runner"
    ),
    **dict.fromkeys(
        ("CHECKPOINT_KEYS", "Divergence", "Probes", "Verdict", "first_divergence", "semantic_problems", "validate"),
        "_validator",
    ),
    **dict.fromkeys(("BUILTIN_ADAPTERS", "AdapterError", "load_adapter"), "adapters._registry"),
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'loophooks.conformance' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"loophooks.conformance.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
