"""The cost of one hook call through the engine's dispatcher, checks off and on, against a direct call.

pytest-benchmark runs each target ``CALLS`` times per round and divides, so the
figures are per call. Every variant is one call from the same loop, so the loop's
own cost (tens of ns) is in all of them alike. Baselines: the bound method called
directly, and a function that looks the method up in a dict and calls it (what
an unchecked dispatch should cost: one frame, one lookup, one call).
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
from _harness import SMOKE, PlainModel, engine_trainer

CALLS = 10 if SMOKE else 5_000
ROUNDS = 1 if SMOKE else 40


# The hooks' bodies store the index in a list: a body the dispatcher cannot drop as
# empty, and cheaper than setting an attribute on an nn.Module (its __setattr__ is slow).
SEEN = [0]


class HookedModel(PlainModel):
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        SEEN[0] = batch_idx


def _callback_class() -> type[Any]:
    from loophooks.engine import Callback

    class SeeingCallback(Callback):
        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            SEEN[0] = batch_idx

    return SeeingCallback


def _setup(checks: bool) -> tuple[Any, Any, Any, Any]:
    from loophooks.engine import Dispatcher, LoopState

    model = HookedModel()
    callback = _callback_class()()
    trainer = engine_trainer(check_hooks=checks)
    dispatcher = Dispatcher(trainer, model, [callback], None, LoopState(), checks=checks)
    return model, callback, trainer, dispatcher


BATCH = (torch.zeros(32, 32), torch.zeros(32, dtype=torch.long))
OUTPUTS = {"loss": torch.tensor(0.5)}


def _targets(variant: str) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    checks = variant.endswith("checked")
    model, callback, trainer, dispatcher = _setup(checks)
    if variant == "direct":
        return model.on_train_batch_start, (BATCH, 7)
    if variant == "lookup":
        table = {"on_train_batch_start": model.on_train_batch_start}

        def lookup_call(name: str, *args: Any) -> Any:
            return table[name](*args)

        return lookup_call, ("on_train_batch_start", BATCH, 7)
    if variant in ("dispatch", "dispatch_checked"):
        return dispatcher.module_hook, ("on_train_batch_start", BATCH, 7)
    if variant == "callback_direct":
        return callback.on_train_batch_end, (trainer, model, OUTPUTS, BATCH, 7)
    if variant == "callback_lookup":
        callbacks = {"on_train_batch_end": (callback.on_train_batch_end,)}

        def lookup_each(name: str, *args: Any) -> None:
            for fn in callbacks[name]:
                fn(trainer, model, *args)

        return lookup_each, ("on_train_batch_end", OUTPUTS, BATCH, 7)
    if variant in ("callback_dispatch", "callback_dispatch_checked"):
        return dispatcher.callback_hooks, ("on_train_batch_end", OUTPUTS, BATCH, 7)
    raise ValueError(variant)


@pytest.mark.parametrize(
    "variant",
    ["direct", "lookup", "dispatch", "dispatch_checked", "callback_direct", "callback_lookup", "callback_dispatch", "callback_dispatch_checked"],
)
def bench_hook_call(benchmark: Any, variant: str) -> None:
    benchmark.group = "hook-call"
    target, args = _targets(variant)
    target(*args)  # resolve and compile whatever is done lazily, outside the timing
    benchmark.extra_info["unit"] = "call"
    benchmark.pedantic(target, args=args, rounds=ROUNDS, iterations=CALLS, warmup_rounds=0 if SMOKE else 2)
