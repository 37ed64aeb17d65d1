"""Bad input: every row of ``docs/ERRORS.md`` is built, run, and its error checked.

The table is read from the document, so the document and the test cannot drift:
a row without a builder here, or a builder without a row, fails
:func:`test_every_row_has_a_case_and_every_case_a_row`. Each case must raise the
class in the row (or warn, for a warning row), with every fragment of the row in
the message, and at the moment the row names:

* ``init``: building the ``Trainer`` raises;
* ``start``: the entry point raises before any hook runs;
* ``setup``: no training hook (``on_train_start`` onwards) has run;
* ``batch``: raised when the hook returns, at the first batch.

The spec's runtime checks are off for these runs (the engine checks what it acts
on regardless); a second test runs the ``batch`` rows with checks on and expects
an error naming the same hook.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from loophooks import spec
from loophooks.engine import Callback, LoopModule, Trainer

CHECK_HOOKS = False
"""Whether the runs here ask for the spec's checks (the last test turns them on)."""
ERRORS_MD = Path(__file__).resolve().parents[2] / "docs" / "ERRORS.md"


@dataclass(frozen=True)
class Row:
    case: str
    when: str
    raises: str
    fragments: tuple[str, ...]
    mentions_path: bool


def _rows() -> list[Row]:
    rows = []
    # only the section "## The table" (the file has other tables, such as "## Every raise")
    text = ERRORS_MD.read_text(encoding="utf-8").split("\n## The table", 1)[1].split("\n## ", 1)[0]
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        case, _situation, when, raises, contains = cells
        rows.append(
            Row(
                case=case.strip("`"),
                when=when,
                raises=re.findall(r"`([^`]+)`", raises)[0],
                fragments=tuple(re.findall(r"`([^`]+)`", contains)),
                mentions_path="(the path)" in contains,
            )
        )
    assert rows, f"no table rows found in {ERRORS_MD}"
    return rows


ROWS = _rows()


@pytest.fixture(autouse=True)
def _checks_off() -> Iterator[None]:
    before = spec.checks_enabled()
    spec.set_checks(False)
    yield
    spec.set_checks(before)


# --- the model and the spy -------------------------------------------------------------------------


def _loader(n: int = 8) -> DataLoader[Any]:
    return DataLoader(TensorDataset(torch.randn(n, 2)), batch_size=2)


class Model(LoopModule):
    """A working model; ``change`` swaps one behaviour for a bad one."""

    def __init__(self, **change: Any) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.change = change

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        if "loss" in self.change:
            return self.change["loss"](self, batch)
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch: Any, batch_idx: int) -> Any:
        return self.layer(batch[0]).sum()

    def configure_optimizers(self) -> Any:
        if "optimizers" in self.change:
            return self.change["optimizers"](self)
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> Any:
        return self.change.get("train", _loader())

    def val_dataloader(self) -> Any:
        return self.change.get("val", _loader(4))

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> Any:
        return self.change.get("batch_start")

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return self.change.get("before_transfer", batch)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if "transfer" in self.change:
            return self.change["transfer"]
        return super().transfer_batch_to_device(batch, device, dataloader_idx)


class SkipsClosure(Model):
    def optimizer_step(self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None) -> None:
        pass  # never calls optimizer_closure: nothing would train


class NoLoaders(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def validation_step(self, batch: Any, batch_idx: int) -> Any:
        return self.layer(batch[0]).sum()


def _wrong_shape(root: Path) -> Path:
    checkpoint = torch.load(_good_checkpoint(root), weights_only=True)
    checkpoint["state_dict"] = [1, 2]
    torch.save(checkpoint, root / "shape.ckpt")
    return root / "shape.ckpt"


class RequiresLoaderIndex(Model):
    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int) -> Any:  # no default
        return self.layer(batch[0]).sum()


class NoStep(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> Any:
        return _loader()


class NoOptimizers(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        return self.layer(batch[0]).sum()

    def train_dataloader(self) -> Any:
        return _loader()


class Other(Model):
    """Same layer names as :class:`Model`, other sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 3)


class Spy(Callback):
    """Which hooks ran: to show when an error came."""

    def __init__(self) -> None:
        self.hooks: list[str] = []

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self.hooks.append("setup")

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self.hooks.append("on_train_start")

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self.hooks.append("on_train_batch_start")

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self.hooks.append("on_validation_start")


def _trainer(spy: Spy, root: Path, **options: Any) -> Trainer:
    settings: dict[str, Any] = {
        "max_epochs": 1,
        "enable_progress_bar": False,
        "enable_checkpointing": False,
        "check_hooks": CHECK_HOOKS,
        "num_sanity_val_steps": 0,
        "default_root_dir": str(root),
    }
    settings.update(options)
    return Trainer(callbacks=[spy], **settings)


# --- checkpoint files ------------------------------------------------------------------------------


def _good_checkpoint(root: Path, *, weights_only: bool = False) -> Path:
    path = root / "good.ckpt"
    trainer = _trainer(Spy(), root)
    trainer.fit(Model())
    trainer.save_checkpoint(str(path), weights_only=weights_only)
    return path


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def _checkpoint_case(make: Callable[[Path], Path], model: Callable[[], Any] = Model) -> Callable[[Spy, Path], Any]:
    def run(spy: Spy, root: Path) -> Any:
        path = make(root)
        run.path = str(path)  # type: ignore[attr-defined]
        return _trainer(spy, root).fit(model(), ckpt_path=str(path))

    return run


def _empty(root: Path) -> Path:
    (root / "empty.ckpt").write_bytes(b"")
    return root / "empty.ckpt"


def _truncated(root: Path) -> Path:
    data = _good_checkpoint(root).read_bytes()
    (root / "cut.ckpt").write_bytes(data[: len(data) // 2])
    return root / "cut.ckpt"


def _bit_flipped(root: Path) -> Path:
    import zipfile

    good = _good_checkpoint(root)
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    data[info.header_offset + 30 + name_len + extra_len + info.file_size // 2] ^= 0x01
    (root / "flipped.ckpt").write_bytes(bytes(data))
    return root / "flipped.ckpt"


def _json(root: Path) -> Path:
    (root / "x.ckpt").write_text('{"state_dict": {}}')
    return root / "x.ckpt"


def _runs_code(root: Path) -> Path:
    path = root / "evil.ckpt"
    torch.save({"state_dict": Model().state_dict(), "payload": _Payload(root / "PWNED")}, path)
    return path


# --- the cases -------------------------------------------------------------------------------------


def _init(**options: Any) -> Callable[[Spy, Path], Any]:
    return lambda spy, root: _trainer(spy, root, **options)


def _fit(model: Callable[[], Any], **options: Any) -> Callable[[Spy, Path], Any]:
    return lambda spy, root: _trainer(spy, root, **options).fit(model())


def _sgd_and_string(model: Any) -> Any:
    return [torch.optim.SGD(model.parameters(), lr=0.1), "x"]


CASES: dict[str, Callable[[Spy, Path], Any]] = {
    "max-epochs-negative": _init(max_epochs=-2),
    "max-epochs-not-int": _init(max_epochs="3"),
    "max-steps-negative": _init(max_steps=-5),
    "limit-nan": _init(limit_train_batches=float("nan")),
    "callback-class": lambda spy, root: Trainer(callbacks=[Callback]),
    "devices-several-without-ddp": _init(accelerator="cpu", devices=2),
    "closure-not-called": _fit(SkipsClosure),
    "validate-without-loader": lambda spy, root: _trainer(spy, root).validate(NoLoaders()),
    "fit-datamodule-not-a-datamodule": lambda spy, root: _trainer(spy, root).fit(Model(), datamodule=5),
    "checkpoint-directory": _checkpoint_case(lambda root: root),
    "checkpoint-wrong-shape": _checkpoint_case(_wrong_shape),
    "accumulate-zero": _init(accumulate_grad_batches=0),
    "limit-negative": _init(limit_train_batches=-1),
    "limit-fraction-above-one": _init(limit_val_batches=1.5),
    "val-check-interval-fraction": _init(val_check_interval=1.5),
    "val-check-interval-zero": _init(val_check_interval=0),
    "val-check-interval-beyond-epoch": _fit(Model, val_check_interval=10),
    "check-val-every-zero": _init(check_val_every_n_epoch=0),
    "sanity-steps-negative": _init(num_sanity_val_steps=-2),
    "clip-negative": _init(gradient_clip_val=-1.0),
    "clip-algorithm-unknown": _init(gradient_clip_algorithm="l3"),
    "precision-unknown": _init(precision="8-true"),
    "accelerator-unknown": _init(accelerator="tpu"),
    "accelerator-cuda-missing": _init(accelerator="cuda"),
    "model-not-a-module": _fit(object),
    "fit-without-training-step": _fit(NoStep),
    "fit-without-configure-optimizers": _fit(NoOptimizers),
    "validate-without-validation-step": lambda spy, root: _trainer(spy, root).validate(NoStep(), _loader()),
    "test-without-test-step": lambda spy, root: _trainer(spy, root).test(Model(), _loader()),
    "optimizers-string": _fit(lambda: Model(optimizers=lambda m: "adam")),
    "optimizers-dict-without-optimizer": _fit(lambda: Model(optimizers=lambda m: {"lr_scheduler": None})),
    "optimizers-list-with-a-string": _fit(lambda: Model(optimizers=_sgd_and_string)),
    "train-loader-not-iterable": _fit(lambda: Model(train=5)),
    "train-loader-none": _fit(lambda: Model(train=None)),
    "val-loader-not-iterable": lambda spy, root: _trainer(spy, root).validate(Model(val=5)),
    "train-loader-empty": _fit(lambda: Model(train=DataLoader(TensorDataset(torch.randn(0, 2)), batch_size=2))),
    "batch-start-returns-skip": _fit(lambda: Model(batch_start="skip")),
    "step-requires-loader-idx": lambda spy, root: _trainer(spy, root).validate(RequiresLoaderIndex()),
    "batch-start-returns-true": _fit(lambda: Model(batch_start=True)),
    "before-transfer-returns-none": _fit(lambda: Model(before_transfer=None)),
    "transfer-returns-none": _fit(lambda: Model(transfer=None)),
    "training-step-returns-string": _fit(lambda: Model(loss=lambda m, b: "x")),
    "training-step-dict-without-loss": _fit(lambda: Model(loss=lambda m, b: {"x": 1})),
    "loss-not-scalar": _fit(lambda: Model(loss=lambda m, b: m.layer(b[0]).squeeze(1))),
    "loss-without-grad": _fit(lambda: Model(loss=lambda m, b: torch.tensor(1.0))),
    "loss-detached": _fit(lambda: Model(loss=lambda m, b: m.layer(b[0]).sum().detach())),
    "loss-nan": _fit(lambda: Model(loss=lambda m, b: m.layer(b[0]).sum() * float("nan")), terminate_on_nan=True),
    "loss-inf": _fit(lambda: Model(loss=lambda m, b: m.layer(b[0]).sum() + float("inf")), terminate_on_nan=True),
    "checkpoint-missing": _checkpoint_case(lambda root: root / "no" / "such.ckpt"),
    "checkpoint-empty": _checkpoint_case(_empty),
    "checkpoint-truncated": _checkpoint_case(_truncated),
    "checkpoint-bit-flipped": _checkpoint_case(_bit_flipped),
    "checkpoint-not-a-checkpoint": _checkpoint_case(_json),
    "checkpoint-runs-code": _checkpoint_case(_runs_code),
    "checkpoint-other-model": _checkpoint_case(_good_checkpoint, Other),
    "checkpoint-weights-only-for-fit": _checkpoint_case(lambda root: _good_checkpoint(root, weights_only=True)),
}


def test_every_row_has_a_case_and_every_case_a_row() -> None:
    names = [row.case for row in ROWS]
    assert len(names) == len(set(names)), "a case appears twice in docs/ERRORS.md"
    assert sorted(set(names) - set(CASES)) == [], "rows of docs/ERRORS.md without a case here"
    assert sorted(set(CASES) - set(names)) == [], "cases here without a row in docs/ERRORS.md"
    assert {row.when for row in ROWS} <= {"init", "start", "setup", "batch"}


def _expected_class(name: str) -> type[BaseException]:
    import builtins

    from loophooks import engine

    cls = getattr(engine, name, None) or getattr(builtins, name)
    assert isinstance(cls, type) and issubclass(cls, BaseException), name
    return cls


def _assert_when(row: Row, spy: Spy) -> None:
    if row.when in ("init", "start"):
        assert spy.hooks == [], f"{row.case}: hooks ran before the error: {spy.hooks}"
    elif row.when == "setup":
        assert not {"on_train_start", "on_train_batch_start", "on_validation_start"} & set(spy.hooks), spy.hooks
    else:
        assert spy.hooks.count("on_train_batch_start") <= 1, "raised later than the first batch"


@pytest.mark.parametrize("row", ROWS, ids=[row.case for row in ROWS])
def test_error(row: Row, tmp_path: Path) -> None:
    if row.case == "accelerator-cuda-missing" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    run = CASES[row.case]
    spy = Spy()
    expected = _expected_class(row.raises)
    if issubclass(expected, Warning):
        with pytest.warns(expected) as caught:
            run(spy, tmp_path)
        message = " | ".join(str(w.message) for w in caught if issubclass(w.category, expected))
        assert spy.hooks == ["setup"], "the zero-length rule: no training hook runs"
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # signature warnings about the test's models are not the subject
            with pytest.raises(expected) as info:
                run(spy, tmp_path)
        message = str(info.value)
        _assert_when(row, spy)
    for fragment in row.fragments:
        assert fragment in message, f"{row.case}: {fragment!r} not in {message!r}"
    if row.mentions_path:
        assert getattr(run, "path") in message, f"{row.case}: the path is not in {message!r}"
    if row.case == "checkpoint-runs-code":
        assert not (tmp_path / "PWNED").exists()


BATCH_ROWS = [row for row in ROWS if row.when == "batch"]


@pytest.mark.parametrize("row", BATCH_ROWS, ids=[row.case for row in BATCH_ROWS])
def test_batch_errors_with_checks_on(row: Row, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the spec's checks on the same values are refused (by the check or the engine), naming the hook."""
    spec.set_checks(True)
    monkeypatch.setattr(sys.modules[__name__], "CHECK_HOOKS", True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((TypeError, ValueError)) as info:
            CASES[row.case](Spy(), tmp_path)
    hook = row.fragments[0].split(":")[0]
    assert hook in str(info.value)
