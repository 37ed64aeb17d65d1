"""What every regression test asks: does an adapter's run of the shrunk scenario conform?"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from loophooks.conformance import judge, load_adapter, run_scenario
from loophooks.spec import Scenario


def _conforms(adapter: str, scenario: Scenario, level: str) -> None:
    if adapter == "lightning":
        pytest.importorskip("pytorch_lightning")
    run = run_scenario(load_adapter(adapter), scenario)
    verdict = judge(run, scenario, level)  # type: ignore[arg-type]
    assert verdict.ok, verdict.message


@pytest.fixture
def assert_conforms() -> Callable[[str, Scenario, str], None]:
    """``assert_conforms(adapter, scenario, level)`` fails with the first divergence when the run does not conform."""
    return _conforms
