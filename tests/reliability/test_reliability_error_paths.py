"""Error paths that hold (issue 13, section 3): the user's error is the one that reaches the caller.

* Notes: whatever an exception carries in ``__notes__`` (a tuple, a string, an
  int, a property that raises), adding the engine's note never raises and never
  replaces the user's error.
* ``on_exception``: a handler that fails does not stop the others; every
  callback's and the datamodule's ``on_exception`` runs, the *original* error
  propagates, and each handler's failure is attached to it as a note (and kept
  in ``__loophooks_handler_errors__``). Lightning stops at the first failing
  handler and raises the handler's error instead.
* Causes: a bad ``training_step`` return is noted as ``training_step``'s (not
  ``optimizer_step``'s, which runs the closure); a loader that yields None is
  named, not ``transfer_batch_to_device``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

from loophooks.engine import Callback, ConfigurationError, HookValueError, LoopDataModule, LoopModule, Trainer
from loophooks.engine._errors import add_note


class Boom(RuntimeError):
    pass


class Model(LoopModule):
    def __init__(self, fail: BaseException | None = None, output: Any = "loss", batches: Any = None) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.fail = fail
        self.output = output
        self.batches = batches

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        if self.fail is not None:
            raise self.fail
        return self.layer(batch).sum() if self.output == "loss" else self.output

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> Any:
        data = self.batches if self.batches is not None else [torch.randn(2) for _ in range(4)]
        return DataLoader(data, batch_size=None)


def _fit(root: Path, model: Any, callbacks: list[Any] | None = None, **kwargs: Any) -> None:
    Trainer(
        max_epochs=1, enable_progress_bar=False, enable_checkpointing=False, default_root_dir=str(root),
        callbacks=callbacks or [],
    ).fit(model, **kwargs)


# --- notes ---------------------------------------------------------------------------------------------


class _RaisingNotes(Exception):
    @property
    def __notes__(self) -> Any:  # type: ignore[override]
        raise AttributeError("no notes here")


class _Slotted(Exception):
    __slots__ = ()


@pytest.mark.parametrize(
    ("notes", "kept"),
    [
        (("a", "b"), ["a", "b"]),
        ("one string", ["one string"]),
        (42, ["(__notes__ was int 42)"]),
        (None, []),
        (["already"], ["already"]),
    ],
    ids=["tuple", "string", "int", "none", "list"],
)
def test_any_notes_attribute_keeps_the_users_error(tmp_path: Path, notes: Any, kept: list[str]) -> None:
    error = Boom("mine")
    error.__notes__ = notes  # type: ignore[attr-defined]
    with pytest.raises(Boom) as info:
        _fit(tmp_path, Model(fail=error))
    assert info.value is error
    assert error.__notes__[: len(kept)] == kept  # type: ignore[attr-defined]
    assert any("training_step" in n for n in error.__notes__[len(kept) :])  # type: ignore[attr-defined]


def test_notes_that_cannot_be_read_or_set_do_not_raise() -> None:
    add_note(_RaisingNotes("x"), "here")  # the property raises on read and on write: no note, no error
    add_note(_Slotted("y"), "here")


# --- every on_exception runs --------------------------------------------------------------------------


class Handler(Callback):
    def __init__(self, name: str, seen: list[str], fail: BaseException | None = None) -> None:
        self.name, self.seen, self.fail = name, seen, fail

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.seen.append(self.name)
        if self.fail is not None:
            raise self.fail


def test_a_failing_on_exception_runs_the_others_and_keeps_the_original(tmp_path: Path) -> None:
    seen: list[str] = []

    class Data(LoopDataModule):
        def on_exception(self, exception: BaseException) -> None:
            seen.append("datamodule")
            raise KeyError("datamodule handler")

    original = Boom("the user's error")
    first, second = ValueError("first handler"), OSError("second handler")
    handlers = [Handler("a", seen, first), Handler("b", seen), Handler("c", seen, second)]
    model = Model(fail=original)
    with pytest.raises(Boom) as info:
        _fit(tmp_path, model, handlers, datamodule=Data())
    assert info.value is original
    assert seen == ["a", "b", "c", "datamodule"]
    notes = original.__notes__  # type: ignore[attr-defined]
    assert any("Handler.on_exception raised ValueError: first handler" in n for n in notes), notes
    assert any("Handler.on_exception raised OSError: second handler" in n for n in notes), notes
    assert any("Data.on_exception raised KeyError" in n for n in notes), notes
    handler_errors = original.__loophooks_handler_errors__  # type: ignore[attr-defined]
    assert handler_errors[:2] == [first, second] and isinstance(handler_errors[2], KeyError)
    # each handler's own error says where it came from
    assert any("on_exception" in n for n in first.__notes__)  # type: ignore[attr-defined]


def test_a_handler_that_reraises_the_error_adds_nothing(tmp_path: Path) -> None:
    class Reraise(Callback):
        def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
            raise exception

    seen: list[str] = []
    original = Boom("x")
    with pytest.raises(Boom) as info:
        _fit(tmp_path, Model(fail=original), [Reraise(), Handler("after", seen)])
    assert info.value is original and seen == ["after"]
    assert not hasattr(original, "__loophooks_handler_errors__")


@pytest.mark.lightning
def test_lightning_loses_the_original_where_the_engine_keeps_it(tmp_path: Path) -> None:
    """The comparison the rule improves on: Lightning raises the handler's error and skips the rest."""
    pl = pytest.importorskip("pytorch_lightning")
    seen: list[str] = []

    class PLHandler(pl.Callback):
        def __init__(self, name: str, fail: bool) -> None:
            self.name, self.fail = name, fail

        def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
            seen.append(self.name)
            if self.fail:
                raise ValueError("handler")

    class PLModel(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            raise Boom("original")

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def train_dataloader(self) -> Any:
            return DataLoader(torch.randn(4, 2), batch_size=2)

    trainer = pl.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=str(tmp_path),
        callbacks=[PLHandler("a", True), PLHandler("b", False)],
    )
    with pytest.raises(ValueError, match="handler"):
        trainer.fit(PLModel())
    assert seen == ["a"]


# --- the right cause -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected"),
    [("x", "a Tensor, a dict with 'loss', or None"), ({"x": 1}, "a dict with a tensor under 'loss'")],
    ids=["string", "dict-without-loss"],
)
def test_a_bad_training_step_return_is_noted_as_training_steps(tmp_path: Path, output: Any, expected: str) -> None:
    with pytest.raises(HookValueError) as info:
        _fit(tmp_path, Model(output=output))
    assert expected in str(info.value)
    notes = info.value.__notes__
    assert len(notes) == 1 and "training_step" in notes[0] and "optimizer_step" not in notes[0], notes


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("text", "str values cannot be logged"),
        (None, "NoneType values cannot be logged"),
        (torch.ones(3), "one element"),
    ],
    ids=["string", "none", "vector"],
)
def test_self_log_of_a_value_it_cannot_log_names_self_log(tmp_path: Path, value: Any, fragment: str) -> None:
    """The metrics engine's refusal (not a raw float() error, and a vector is not accepted), from fit."""

    class Logs(Model):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.log("x", value)
            return super().training_step(batch, batch_idx)

    with pytest.raises(ConfigurationError) as info:
        _fit(tmp_path, Logs())
    message = str(info.value)
    assert "self.log('x'" in message and fragment in message, message
    assert "float()" not in message
