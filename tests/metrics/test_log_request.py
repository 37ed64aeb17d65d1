"""``self.log``/``self.log_dict`` hand their options on as one ``LogRequest``, field for field.

``LoopModule.log`` builds the request positionally, without NamedTuple's own
constructor (it is on every call's path), so nothing but this test ties the order of
the values to the order of the fields.
"""

from __future__ import annotations

import inspect
from typing import Any

from loophooks.engine import LoopModule
from loophooks.engine._log_options import LogRequest


class _Capture:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Any, LogRequest]] = []

    def log(self, module: Any, name: str, value: Any, batch_size: Any, request: LogRequest) -> None:
        self.calls.append((name, value, batch_size, request))


class _Trainer:
    def __init__(self) -> None:
        self._metrics = _Capture()


def _attached() -> tuple[LoopModule, _Capture]:
    module = LoopModule()
    trainer = _Trainer()
    module._trainer = trainer  # type: ignore[assignment]
    return module, trainer._metrics


def _distinct_options(method: Any) -> dict[str, object]:
    """A value of its own for every option of ``method`` except the name, value and batch size."""
    skip = {"self", "name", "value", "dictionary", "batch_size"}
    return {p: object() for p in inspect.signature(method).parameters if p not in skip}


def test_the_request_has_one_field_per_option_of_self_log() -> None:
    options = _distinct_options(LoopModule.log)
    assert list(options) == list(LogRequest._fields)


def test_self_log_puts_each_option_in_its_own_field() -> None:
    module, capture = _attached()
    options = _distinct_options(LoopModule.log)
    module.log("key", 1.0, batch_size=7, **options)  # type: ignore[arg-type]
    ((name, value, batch_size, request),) = capture.calls
    assert (name, value, batch_size) == ("key", 1.0, 7)
    assert all(getattr(request, field) is options[field] for field in LogRequest._fields)


def test_log_dict_shares_one_request_without_metric_attribute() -> None:
    module, capture = _attached()
    options = _distinct_options(LoopModule.log_dict)
    assert set(options) == set(LogRequest._fields) - {"metric_attribute"}
    module.log_dict({"a": 1.0, "b": 2.0}, batch_size=3, **options)  # type: ignore[arg-type]
    assert [(n, v, b) for n, v, b, _ in capture.calls] == [("a", 1.0, 3), ("b", 2.0, 3)]
    request = capture.calls[0][3]
    assert capture.calls[1][3] is request
    assert request.metric_attribute is None
    assert all(getattr(request, f) is options[f] for f in LogRequest._fields if f != "metric_attribute")
