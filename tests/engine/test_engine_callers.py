"""Who hears a hook, and in what order, comes from the table (``loophooks.spec.CALLERS``): the dispatcher's
``event`` follows it for every hook the model, the datamodule and the callbacks share, and ``hook`` (the loops'
common call) agrees with it. A monitoring callback placed first in the list shows the order is the table's,
not the list's."""

from __future__ import annotations

from typing import Any

import pytest

from loophooks.engine import Callback, Dispatcher, LoopDataModule, LoopModule, LoopState, Trainer
from loophooks.spec import CALLBACK_HOOKS, CALLERS

_TRAINER_FIRST = ("trainer", "pl_module")
CASES = sorted(
    name
    for name, callers in CALLERS.items()
    if len(set(callers)) > 1
    and "datamodule_or_module" not in callers
    and (name not in CALLBACK_HOOKS or CALLBACK_HOOKS[name].param_names[:2] == _TRAINER_FIRST)
)


def _dispatcher(name: str, heard: list[str]) -> Dispatcher:
    def recorder(label: str) -> Any:
        def method(self: Any, *args: Any, **kwargs: Any) -> None:
            heard.append(label)

        return method

    model = type("Model", (LoopModule,), {name: recorder("module")})()
    datamodule = type("Data", (LoopDataModule,), {name: recorder("datamodule")})()
    monitoring = type("Monitor", (Callback,), {name: recorder("monitoring"), "_loophooks_monitoring": True})()
    ordinary = type("Ordinary", (Callback,), {name: recorder("ordinary")})()
    trainer = Trainer(enable_checkpointing=False, enable_progress_bar=False, logger=False)
    return Dispatcher(trainer, model, [monitoring, ordinary], datamodule, LoopState(), checks=False)


def _expected(name: str) -> list[str]:
    callers = CALLERS[name]
    expected: list[str] = []
    for caller in callers:
        if caller == "callbacks":  # in list order; without monitoring_callbacks of their own, all of them
            expected += ["ordinary"] if "monitoring_callbacks" in callers else ["monitoring", "ordinary"]
        elif caller == "monitoring_callbacks":
            expected.append("monitoring")
        else:
            expected.append(caller)
    return expected


def test_the_cases_cover_every_order_the_table_gives_shared_hooks() -> None:
    orders = {CALLERS[name] for name in CASES}
    assert ("callbacks", "module", "monitoring_callbacks") in orders  # on_train_epoch_end
    assert ("datamodule", "callbacks", "module") in orders  # setup, teardown
    assert ("callbacks", "module") in orders and ("module", "callbacks") in orders


@pytest.mark.parametrize("name", CASES)
def test_event_follows_the_table(name: str) -> None:
    heard: list[str] = []
    _dispatcher(name, heard).event(name, "stage" if name in ("setup", "teardown") else None)  # type: ignore[arg-type]
    assert heard == _expected(name)


@pytest.mark.parametrize("name", [n for n in CASES if "datamodule" not in CALLERS[n] and CALLERS[n][0] == "callbacks"])
def test_hook_agrees_with_the_table(name: str) -> None:
    heard: list[str] = []
    _dispatcher(name, heard).hook(name)  # type: ignore[arg-type]
    assert heard == _expected(name)
