"""Order code (spec/_order.py's writer) naming hooks: a misspelled name is a mypy error where it is written."""

from __future__ import annotations

from loophooks.spec import Call, HookName, hook_name
from loophooks.spec._order import Writer


def write_epoch(w: Writer, stage: str) -> None:
    w.event("on_train_epoch_start")
    w.event("on_train_epoch_strat")  # E: [arg-type] Argument 1 to "event" of "Writer" has incompatible type
    w.module("training_step", batch=None, batch_idx=0)
    w.module("training_steps", batch=None, batch_idx=0)  # E: [arg-type] Argument 1 to "module" of "Writer"
    w.callbacks("on_sanity_check_start")
    w.callbacks("on_sanity_check_begin")  # E: [arg-type] Argument 1 to "callbacks" of "Writer"
    w.datamodule("setup", stage="fit")
    w.data("train_dataloaders")  # E: [arg-type] Argument 1 to "data" of "Writer"
    w.event(hook_name(f"on_{stage}_epoch_end"))  # a name built at run time is checked when it is built
    w.event(f"on_{stage}_epoch_end")  # E: [arg-type] Argument 1 to "event" of "Writer" has incompatible type "str"
    name: HookName = "on_validation_epoch_ends"  # E: [assignment] Incompatible types in assignment
    w.event(name)


def rule(call: Call) -> bool:
    """The core rules (spec/_rules.py) compare recorded calls with hook names: Call.hook is a HookName."""
    misspelled = call.hook == "on_exceptoin"  # E: [comparison-overlap] Non-overlapping equality check
    return misspelled or Call("on_train_strat") != call  # E: [arg-type] Argument 1 to "Call"
