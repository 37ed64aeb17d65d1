"""Malformed checkpoint files always end in a CheckpointError naming the file (issue 13, section 3).

* **Byte-level fuzzing.** A good checkpoint is damaged a few hundred ways with a
  seeded RNG: bytes flipped anywhere (pickle, tensor data, zip headers, central
  directory), cut short, or followed by garbage. Loading each one either gives
  back the same checkpoint (the byte was padding nothing reads) or raises
  :class:`CheckpointError` whose message holds the path: never a raw
  ``IndexError``/``ValueError``/``struct.error`` from the zip reader or the
  unpickler.
* **Shape-level corruption.** A file that unpickles but holds the wrong shapes
  (a string where the epoch goes, an RNG state of the wrong size, a list where
  the weights go) is refused when it is read, before any hook runs, naming the
  entry.
* **Bounded integrity check.** Verifying CRCs reads at most the file's own bytes:
  a small archive whose extra compressed record declares a huge size, or whose
  records overlap, is not inflated (Lightning loads such a file at once; the
  engine must not spend seconds on it).
"""

from __future__ import annotations

import io
import os
import random
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

from loophooks.engine import Callback, CheckpointError, LoopModule, Trainer, load_checkpoint

FUZZ_CASES = int(os.environ.get("LOOPHOOKS_FUZZ_CASES", "150"))


class Net(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(3, 2)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        return self.layer(batch).sum()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        pass

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.StepLR(optimizer, 2)}

    def train_dataloader(self) -> Any:
        return DataLoader(torch.randn(8, 3), batch_size=2)

    def val_dataloader(self) -> Any:
        return DataLoader(torch.randn(2, 3), batch_size=2)


class Spy(Callback):
    def __init__(self) -> None:
        self.hooks: list[str] = []

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self.hooks.append("setup")


class SaveMid(Callback):
    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if trainer.current_epoch == 0 and batch_idx == 1:
            trainer.save_checkpoint(str(self.path))


def _trainer(root: Path, callbacks: list[Any] | None = None) -> Trainer:
    return Trainer(
        max_epochs=2, enable_progress_bar=False, enable_checkpointing=False, num_sanity_val_steps=0,
        default_root_dir=str(root), callbacks=callbacks or [],
    )


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("good")
    path = root / "mid.ckpt"
    _trainer(root, [SaveMid(path)]).fit(Net())
    return path


# --- byte-level fuzzing --------------------------------------------------------------------------------


def _damage(data: bytes, rng: random.Random) -> bytes:
    kind = rng.choice(("flip", "flip", "flip", "zero-run", "truncate", "append", "splice"))
    out = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
    elif kind == "zero-run":
        i = rng.randrange(len(out))
        out[i : i + rng.randint(1, 64)] = bytes(min(64, len(out) - i))
    elif kind == "truncate":
        del out[rng.randrange(1, len(out)) :]
    elif kind == "append":
        out += rng.randbytes(rng.randint(1, 300))
    else:  # a slice of the file copied over another place
        i, j = rng.randrange(len(out)), rng.randrange(len(out))
        n = rng.randint(1, 200)
        chunk = bytes(out[i : i + n])
        out[j : j + len(chunk)] = chunk
    return bytes(out)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def test_damaged_bytes_always_raise_checkpoint_error_or_load_unchanged(good: Path, tmp_path: Path) -> None:
    data = good.read_bytes()
    original = load_checkpoint(good)
    rng = random.Random(20261201)
    outcomes: dict[str, int] = {"refused": 0, "unchanged": 0}
    for case in range(FUZZ_CASES):
        path = tmp_path / f"damaged-{case}.ckpt"
        path.write_bytes(_damage(data, rng))
        try:
            loaded = load_checkpoint(path)
        except CheckpointError as exc:
            assert str(path) in str(exc), f"case {case}: the path is not named: {exc}"
            outcomes["refused"] += 1
            continue
        except Exception as exc:  # pragma: no cover - the failure this test looks for
            raise AssertionError(f"case {case}: raw {type(exc).__name__}: {exc}") from exc
        # Loaded: the damage hit bytes nothing reads (zip padding, an unused header field).
        assert _same(original, loaded), f"case {case}: damaged file loaded with different contents"
        outcomes["unchanged"] += 1
    assert outcomes["refused"] > FUZZ_CASES // 2, outcomes


# --- shape-level corruption ----------------------------------------------------------------------------


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(checkpoint: dict[str, Any]) -> None:
        node = checkpoint
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _drop(path: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    def edit(checkpoint: dict[str, Any]) -> None:
        node = checkpoint
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return edit


SHAPE_CASES = [
    ("not-a-dict", None, "holds list"),
    ("state-dict-a-list", _set(("state_dict",), [1, 2]), "'state_dict' must be a dict of tensors"),
    ("weight-a-string", _set(("state_dict", "layer.weight"), "w"), "'state_dict'['layer.weight'] must be a tensor"),
    ("epoch-a-string", _set(("epoch",), "3"), "'epoch' must be an int >= 0"),
    ("global-step-negative", _set(("global_step",), -4), "'global_step' must be an int >= 0"),
    ("optimizer-states-a-dict", _set(("optimizer_states",), {"a": 1}), "'optimizer_states' must be a list"),
    ("schedulers-of-ints", _set(("lr_schedulers",), [5]), "'lr_schedulers' must be a list of state dicts"),
    ("loops-a-string", _set(("loops",), "x"), "'loops' must be a dict"),
    ("fit-loop-a-list", _set(("loops", "fit_loop"), [1]), "'loops'['fit_loop'] must be a dict"),
    ("batches-done-negative", _set(("loops", "fit_loop", "batches_done"), -1), "['batches_done'] must be an int"),
    ("epoch-missing", _drop(("loops", "fit_loop", "epoch")), "has no 'epoch'"),
    ("mid-epoch-a-string", _set(("loops", "fit_loop", "mid_epoch"), "yes"), "['mid_epoch'] must be True or False"),
    ("rng-too-short", _set(("loops", "fit_loop", "rng"), torch.zeros(8, dtype=torch.uint8)), "['rng'] must be None"),
    ("epoch-rng-floats", _set(("loops", "fit_loop", "epoch_rng"), torch.zeros(5056)), "['epoch_rng'] must be None"),
    ("callbacks-a-list", _set(("callbacks",), [1]), "'callbacks' must be a dict"),
    ("python-state-short", _set(("loops", "fit_loop", "random", "python"), [3, [1, 2], None]), "['python'] must be"),
    ("grads-a-list", _set(("loops", "fit_loop", "accumulated_grads"), [1]), "['accumulated_grads'] must be a dict"),
]


@pytest.mark.parametrize(("name", "edit", "fragment"), SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES])
def test_wrong_shapes_are_refused_before_any_hook(
    good: Path, tmp_path: Path, name: str, edit: Any, fragment: str
) -> None:
    checkpoint: Any = torch.load(good, weights_only=True)
    if edit is None:
        checkpoint = [checkpoint]
    else:
        edit(checkpoint)
    path = tmp_path / f"{name}.ckpt"
    torch.save(checkpoint, path)
    spy = Spy()
    with pytest.raises(CheckpointError) as info:
        _trainer(tmp_path, [spy]).fit(Net(), ckpt_path=str(path))
    assert str(path) in str(info.value) and fragment in str(info.value), str(info.value)
    assert spy.hooks == []


def test_a_scheduler_state_of_another_scheduler_is_a_checkpoint_error(good: Path, tmp_path: Path) -> None:
    checkpoint = torch.load(good, weights_only=True)
    checkpoint["lr_schedulers"] = [{"not": "a StepLR state"}, {"extra": 1}]
    path = tmp_path / "sched.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="2 scheduler states; configure_optimizers returned 1"):
        _trainer(tmp_path).fit(Net(), ckpt_path=str(path))


def test_a_directory_is_named_as_a_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is a directory, not a checkpoint file"):
        load_checkpoint(tmp_path)


# --- the integrity check reads no more than the file ---------------------------------------------------


class _CountingReads:
    """Counts the bytes zipfile hands out while the engine verifies an archive."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.total = 0
        original = zipfile.ZipExtFile.read

        def read(ext: Any, n: int = -1) -> bytes:
            data = original(ext, n)
            self.total += len(data)
            return data

        monkeypatch.setattr(zipfile.ZipExtFile, "read", read)


def test_a_compressed_bomb_record_is_not_inflated(good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An extra deflated record of 64 MiB of zeros (about 64 KiB in the file) that torch never reads."""
    path = tmp_path / "bomb.ckpt"
    path.write_bytes(good.read_bytes())
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        folder = archive.namelist()[0].split("/")[0]
        archive.writestr(f"{folder}/extra/bomb", bytes(64 << 20))
    size = path.stat().st_size
    assert size < 1 << 20
    counter = _CountingReads(monkeypatch)
    loaded = load_checkpoint(path)  # torch reads only the records it needs, as Lightning does
    assert _same(loaded, load_checkpoint(good))
    assert counter.total <= 2 * size, f"read {counter.total} bytes for a {size}-byte file"


def test_overlapping_records_are_refused_without_reading_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Central-directory entries that all point at one big stored record: the declared bytes exceed the file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("x/data.pkl", bytes(100_000))
    data = bytearray(buffer.getvalue())
    central = data.index(b"PK\x01\x02")
    end = data.index(b"PK\x05\x06")
    entry = bytes(data[central:end])
    copies = 50
    record = bytes(data[:central]) + entry * copies
    eocd = bytearray(data[end:])
    eocd[8:10] = copies.to_bytes(2, "little")
    eocd[10:12] = copies.to_bytes(2, "little")
    eocd[12:16] = (len(entry) * copies).to_bytes(4, "little")
    path = tmp_path / "overlap.ckpt"
    path.write_bytes(record + bytes(eocd))
    counter = _CountingReads(monkeypatch)
    with pytest.raises(CheckpointError, match=r"declare \d+ bytes, more than the file's"):
        load_checkpoint(path)
    assert counter.total == 0
