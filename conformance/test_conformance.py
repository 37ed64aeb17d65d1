"""The conformance suite: one test per case of the catalogue, against the chosen trainer.

Run it with ``pytest --pyargs loophooks.conformance`` (options: see
``loophooks.conformance._plugin``). The cases come from the catalogue, the
expected calls from the spec; nothing here names a hook.
"""

from __future__ import annotations

import pytest

from loophooks.conformance._catalogue import Case
from loophooks.conformance._plugin import SuiteConfig
from loophooks.conformance._runner import judge, run_scenario, unsupported_reason


def test_case(loophooks_case: Case, loophooks_suite: SuiteConfig, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The trainer's hook calls for this case are the spec's (``strict``) or keep its rules (``core``)."""
    reason = unsupported_reason(loophooks_case, loophooks_suite.adapter)
    if reason is not None:
        # only required cases get here: every trainer must run them
        pytest.fail(f"required case, {reason}", pytrace=False)
    run = run_scenario(loophooks_suite.adapter, loophooks_case.scenario, workdir=str(tmp_path_factory.getbasetemp()))
    verdict = judge(run, loophooks_case.scenario, loophooks_suite.level)
    if not verdict.ok:
        pytest.fail(verdict.message, pytrace=False)
