"""Checkpoints survive kills, bad files fail clearly, and resuming is exact.

* **Atomic writes under SIGKILL.** A training process that writes checkpoints
  after every optimizer step is killed at random moments, again and again, each
  new process resuming from the newest checkpoint. After every kill every
  ``*.ckpt`` file loads, progress never goes backwards, and at the end the
  chain of resumed runs has the same weights, bit for bit, as one uninterrupted
  run. Kill delays come from a seeded RNG; a kill that lands before the first
  checkpoint must leave no checkpoint file at all. Processes are forked from one
  warm helper process, so each kill costs a fraction of a second, not a fresh
  ``import torch``. ``LOOPHOOKS_KILL_ROUNDS`` (default 10) sets the number of
  kills; ``scripts/long-properties`` runs it with many more.
* **Bad files.** A missing path, an empty, truncated or bit-flipped file, a file
  that is not a checkpoint, and a checkpoint of another model each raise
  :class:`CheckpointError` naming the file and what is wrong, before any
  training hook runs.
* **Exact resume.** N epochs == k epochs + save + resume to N, bit for bit on the
  CPU with ``deterministic=True``, for checkpoints at an epoch's end and in the
  middle of one; the training hooks after the resume point are the same calls,
  at the same epochs and batches, as in the uninterrupted run.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from loophooks.engine import Callback, CheckpointError, LoopModule, ModelCheckpoint, Trainer, load_checkpoint

KILL_ROUNDS = int(os.environ.get("LOOPHOOKS_KILL_ROUNDS", "10"))
KILL_SEED = int(os.environ.get("LOOPHOOKS_KILL_SEED", "20261129"))


@pytest.fixture(autouse=True)
def _restore_determinism() -> Iterator[None]:
    """``Trainer(deterministic=True)`` switches a process-wide torch flag; put it back."""
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


# --- the model every test here trains ------------------------------------------------------------------


class Net(LoopModule):
    """Small, but with everything a resume must restore: dropout (RNG), momentum, a scheduler, shuffling."""

    def __init__(
        self, width: int = 16, *, samples: int = 24, batch_size: int = 4, dropout: float = 0.2, lr: float = 0.05
    ) -> None:
        super().__init__()
        self.lr = lr
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(
            torch.nn.Linear(8, width), torch.nn.ReLU(), torch.nn.Dropout(dropout), torch.nn.Linear(width, 1)
        )
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(samples, 8, generator=g)
        self.y = torch.randn(samples, 1, generator=g)
        self.batch_size = batch_size

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.body(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.body(x), y)
        self.log("val_loss", loss)
        return loss

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.7)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def train_dataloader(self) -> Any:
        return DataLoader(TensorDataset(self.x, self.y), batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> Any:
        return DataLoader(TensorDataset(self.x[:8], self.y[:8]), batch_size=4)


def _trainer(root: Path, callbacks: list[Any] | None = None, **options: Any) -> Trainer:
    settings: dict[str, Any] = {
        "max_epochs": 3,
        "enable_progress_bar": False,
        "enable_checkpointing": False,
        "deterministic": True,
        "num_sanity_val_steps": 0,
    }
    settings.update(options)
    # a ModelCheckpoint needs checkpointing on (Lightning refuses the pair otherwise)
    if any(isinstance(c, ModelCheckpoint) for c in callbacks or []):
        settings["enable_checkpointing"] = True
    return Trainer(callbacks=callbacks or [], default_root_dir=str(root), **settings)


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Bit for bit; finite too, or a diverged run (NaN != NaN) would make the comparison meaningless."""
    assert a.keys() == b.keys()
    assert all(bool(torch.isfinite(v).all()) for v in a.values()), "the reference run diverged"
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert different == [], f"weights differ (not bit for bit) in {different}"


# --- exact resume --------------------------------------------------------------------------------------

_TRAIN_HOOKS = (
    "on_train_epoch_start",
    "on_train_batch_start",
    "on_before_backward",
    "on_before_optimizer_step",
    "on_train_batch_end",
    "on_train_epoch_end",
    "on_validation_epoch_start",
    "on_validation_epoch_end",
)


class Log(Callback):
    """Records (hook, epoch, batch_idx, global_step) of the training hooks; saves once where told."""

    def __init__(self, save_to: Path | None = None, at: tuple[int, int | None] | None = None) -> None:
        self.calls: list[tuple[str, int, int | None, int]] = []
        self.save_to = save_to
        self.at = at
        self.saved_after: int | None = None  # index in ``calls`` of the last call before the save

    def _log(self, trainer: Any, hook: str, batch_idx: int | None = None) -> None:
        if not trainer.sanity_checking:
            self.calls.append((hook, trainer.current_epoch, batch_idx, trainer.global_step))

    def _save(self, trainer: Any, where: tuple[int, int | None]) -> None:
        if self.save_to is not None and where == self.at:
            trainer.save_checkpoint(str(self.save_to))
            self.saved_after = len(self.calls)


def _make_logging_hook(hook: str) -> Any:
    def method(self: Log, trainer: Any, pl_module: Any, *args: Any) -> None:
        batch_idx = args[-1] if hook.startswith("on_train_batch") else None
        self._log(trainer, hook, batch_idx)
        if hook == "on_train_batch_end":
            self._save(trainer, (trainer.current_epoch, batch_idx))
        elif hook == "on_train_epoch_end":
            self._save(trainer, (trainer.current_epoch, None))

    method.__name__ = hook
    return method


for _hook in _TRAIN_HOOKS:
    setattr(Log, _hook, _make_logging_hook(_hook))


RESUME_CASES = [
    pytest.param({}, (0, None), id="end-of-epoch-0"),
    pytest.param({}, (1, None), id="end-of-epoch-1"),
    pytest.param({}, (1, 2), id="mid-epoch-1"),
    pytest.param({}, (0, 0), id="after-first-batch"),
    pytest.param({"accumulate_grad_batches": 2}, (1, 3), id="accumulate-window-closed"),
    pytest.param(
        {"val_check_interval": 3},
        (0, 2),
        id="mid-epoch-validation-pending",
        marks=pytest.mark.xfail(
            strict=True,
            reason="saved at on_train_batch_end with validation due after it: the resumed run skips that "
            "validation (spec, as Lightning), and the uninterrupted run's validation loader drew a seed from "
            "the global RNG after the save, so shuffling and dropout differ afterwards",
        ),
    ),
    pytest.param({"val_check_interval": 3}, (1, 4), id="mid-epoch-between-validations"),
    pytest.param({"gradient_clip_val": 0.1}, (2, 1), id="clipping-last-epoch"),
]


@pytest.mark.parametrize(("options", "at"), RESUME_CASES)
def test_resume_is_exact(tmp_path: Path, options: dict[str, Any], at: tuple[int, int | None]) -> None:
    ckpt = tmp_path / "at.ckpt"
    full_log = Log(ckpt, at)
    full = Net()
    _trainer(tmp_path, [full_log], **options).fit(full)
    assert ckpt.is_file() and full_log.saved_after is not None

    resumed_log = Log()
    resumed = Net()
    _trainer(tmp_path, [resumed_log], **options).fit(resumed, ckpt_path=str(ckpt))

    _assert_same_weights(_weights(full), _weights(resumed))
    # after the save point, the resumed run makes the same training calls at the same positions
    assert resumed_log.calls == full_log.calls[full_log.saved_after :]


def test_resume_restores_counters_before_on_train_start(tmp_path: Path) -> None:
    ckpt = tmp_path / "mid.ckpt"
    _trainer(tmp_path, [Log(ckpt, (1, 2))]).fit(Net())

    seen: dict[str, Any] = {}

    class Probe(Callback):
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            seen["epoch"], seen["step"] = trainer.current_epoch, trainer.global_step

    _trainer(tmp_path, [Probe()]).fit(Net(), ckpt_path=str(ckpt))
    assert seen == {"epoch": 1, "step": 6 + 3}  # 6 batches per epoch; batches 0..2 of epoch 1 done


# --- bad files -----------------------------------------------------------------------------------------


class Spy(Callback):
    """Notes every hook call, to show that a bad checkpoint stops the run before training."""

    def __init__(self) -> None:
        self.hooks: list[str] = []

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self.hooks.append("setup")

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self.hooks.append("on_train_start")

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self.hooks.append("on_train_batch_start")


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("good")
    path = root / "good.ckpt"
    trainer = _trainer(root, max_epochs=1)
    trainer.fit(Net())
    trainer.save_checkpoint(str(path))
    return path


def _fails_before_training(tmp_path: Path, path: Path, fragments: tuple[str, ...], model: Any = None) -> None:
    spy = Spy()
    model = model if model is not None else Net()
    before = _weights(model)
    with pytest.raises(CheckpointError) as info:
        _trainer(tmp_path, [spy]).fit(model, ckpt_path=str(path))
    message = str(info.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"
    assert "on_train_start" not in spy.hooks and "on_train_batch_start" not in spy.hooks
    if "does not fit" not in message:  # a file-level problem: nothing ran, nothing changed
        assert spy.hooks == []
        _assert_same_weights(before, _weights(model))


def test_missing_path(tmp_path: Path) -> None:
    _fails_before_training(tmp_path, tmp_path / "no" / "such.ckpt", ("not found",))


def test_directory_instead_of_file(tmp_path: Path) -> None:
    _fails_before_training(tmp_path, tmp_path, ("is a directory",))


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.ckpt"
    path.write_bytes(b"")
    _fails_before_training(tmp_path, path, ("empty",))


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated_file(tmp_path: Path, good_checkpoint: Path, keep: float) -> None:
    data = good_checkpoint.read_bytes()
    path = tmp_path / "truncated.ckpt"
    path.write_bytes(data[: int(len(data) * keep)])
    _fails_before_training(tmp_path, path, ("truncated",))


def _records(path: Path) -> dict[str, tuple[int, int]]:
    """Each zip record's (data offset, size)."""
    out = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with open(path, "rb") as f:
                f.seek(info.header_offset + 26)
                name_len = int.from_bytes(f.read(2), "little")
                extra_len = int.from_bytes(f.read(2), "little")
            out[info.filename] = (info.header_offset + 30 + name_len + extra_len, info.file_size)
    return out


def test_bit_flip_in_tensor_data(tmp_path: Path, good_checkpoint: Path) -> None:
    """``torch.load`` alone would load the flipped weight silently; the record's CRC catches it."""
    data = bytearray(good_checkpoint.read_bytes())
    tensors = [(name, rec) for name, rec in _records(good_checkpoint).items() if "/data/" in name and rec[1] > 0]
    name, (offset, size) = max(tensors, key=lambda item: item[1][1])
    data[offset + size // 2] ^= 0x10
    path = tmp_path / "flipped.ckpt"
    path.write_bytes(bytes(data))
    _fails_before_training(tmp_path, path, ("corrupted", name))


def test_bit_flip_in_pickle(tmp_path: Path, good_checkpoint: Path) -> None:
    data = bytearray(good_checkpoint.read_bytes())
    name, (offset, size) = next((n, r) for n, r in _records(good_checkpoint).items() if n.endswith("data.pkl"))
    data[offset + size // 3] ^= 0xFF
    path = tmp_path / "flipped.ckpt"
    path.write_bytes(bytes(data))
    _fails_before_training(tmp_path, path, ("corrupted",))


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        pytest.param(b'{"state_dict": {}}', "not a checkpoint", id="json"),
        pytest.param(bytes(range(256)) * 4, "not a checkpoint", id="random-bytes"),
    ],
)
def test_not_a_checkpoint(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "other.ckpt"
    path.write_bytes(content)
    _fails_before_training(tmp_path, path, (fragment,))


def test_a_tensor_file_is_not_a_training_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "tensor.pt"
    torch.save([torch.ones(2)], path)
    _fails_before_training(tmp_path, path, ("not a training checkpoint", "state_dict"))


def test_missing_keys(tmp_path: Path, good_checkpoint: Path) -> None:
    class Bigger(Net):
        def __init__(self) -> None:
            super().__init__()
            self.extra = torch.nn.Linear(2, 2)

    _fails_before_training(tmp_path, good_checkpoint, ("does not fit Bigger", "Missing key", "extra.weight"), Bigger())


def test_unexpected_keys(tmp_path: Path, good_checkpoint: Path) -> None:
    class Smaller(Net):
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Linear(8, 16))

    _fails_before_training(tmp_path, good_checkpoint, ("does not fit Smaller", "Unexpected key", "body.3.weight"), Smaller())


def test_wrong_shapes(tmp_path: Path, good_checkpoint: Path) -> None:
    _fails_before_training(tmp_path, good_checkpoint, ("does not fit Net", "size mismatch", "body.0.weight"), Net(width=32))


def test_weights_only_checkpoint_cannot_resume_fit(tmp_path: Path) -> None:
    path = tmp_path / "weights.ckpt"
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(Net())
    trainer.save_checkpoint(str(path), weights_only=True)
    _fails_before_training(tmp_path, path, ("only weights",))
    # ...but it serves validation, which needs only the weights
    model = Net()
    _trainer(tmp_path).validate(model, ckpt_path=str(path))
    _assert_same_weights(_weights(model), load_checkpoint(path)["state_dict"])


# --- SIGKILL while writing -----------------------------------------------------------------------------

_WORKER = textwrap.dedent(
    r'''
    """Forks one training process per line "go MODE ROOT" on stdin; each resumes from the newest checkpoint in ROOT."""
    import os, sys
    sys.path[:0] = [os.environ["LOOPHOOKS_TEST_DIR"]]
    import torch
    from loophooks.engine import Callback, CheckpointError, ModelCheckpoint, Trainer, load_checkpoint
    from test_reliability_checkpoints import Net, newest_checkpoint

    ROOT = MODE = ""  # set per line
    # Pay torch's lazy first-use imports (the first optimizer imports torch._dynamo, seconds) once, here,
    # not in every forked process. Nothing here starts a thread pool, so forking stays safe.
    torch.set_num_threads(1)
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


    class Announce(Callback):
        def on_train_start(self, trainer, pl_module):
            print(f"started {os.getpid()} {trainer.global_step}", flush=True)


    class Last(Callback):
        """Overwrites last.ckpt after every step: os.replace over an existing file, again and again."""
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            trainer.save_checkpoint(os.path.join(ROOT, "last.ckpt"))


    class Scored(Net):
        """Logs a score that goes up and down with the step, for monitored top-k."""
        def training_step(self, batch, batch_idx):
            self.log("score", float((7 * self.trainer.global_step) % 5))
            return super().training_step(batch, batch_idx)


    # the ModelCheckpoint paths under test (issue 13): each replaces or prunes files as it saves
    SAVERS = {
        "base": lambda: [Last(), ModelCheckpoint(dirpath=ROOT, filename="step={step}", every_n_train_steps=1,
                                                 save_top_k=1)],
        "topk": lambda: [ModelCheckpoint(dirpath=ROOT, filename="{step}-{score:.0f}", monitor="score", mode="max",
                                         every_n_train_steps=1, save_top_k=2)],
        "last": lambda: [ModelCheckpoint(dirpath=ROOT, every_n_train_steps=1, save_top_k=0, save_last=True)],
        "steps": lambda: [ModelCheckpoint(dirpath=ROOT, every_n_train_steps=3, save_top_k=1, save_last=True)],
        "link": lambda: [ModelCheckpoint(dirpath=ROOT, every_n_train_steps=1, save_top_k=1, save_last="link")],
    }


    def train():
        torch.set_num_threads(1)
        ckpt = newest_checkpoint(ROOT)
        trainer = Trainer(
            max_epochs=-1, max_steps=1_000_000, callbacks=[Announce(), *SAVERS[MODE]()], default_root_dir=ROOT,
            enable_progress_bar=False, enable_checkpointing=True, deterministic=True, num_sanity_val_steps=0,
            limit_val_batches=0, enable_model_summary=False,  # stdout carries the protocol; rich's summary prints there
        )
        trainer.fit(Scored(width=256, lr=0.002), ckpt_path=ckpt)


    for line in sys.stdin:
        words = line.split()
        if len(words) != 3 or words[0] != "go":
            break
        MODE, ROOT = words[1], words[2]
        pid = os.fork()
        if pid == 0:
            try:
                train()
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        print(f"exited {pid} {status}", flush=True)
    '''
)


def newest_checkpoint(root: str | Path) -> str | None:
    """The checkpoint in ``root`` with the highest global step; every ``*.ckpt`` there must load."""
    best: tuple[int, str] | None = None
    for path in sorted(Path(root).glob("*.ckpt")):
        step = int(load_checkpoint(path)["global_step"])  # raises on a torn file: the test fails
        if best is None or step > best[0]:
            best = (step, str(path))
    return None if best is None else best[1]


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"the worker said nothing for {timeout} s")
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"the worker ended: {proc.stderr.read() if proc.stderr else ''}")
    return line.strip()


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[str]]:
    """One warm helper process for every kill test of this module (it forks the training processes)."""
    script = tmp_path_factory.mktemp("worker") / "worker.py"
    script.write_text(_WORKER)
    env = dict(os.environ, LOOPHOOKS_TEST_DIR=str(Path(__file__).parent), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )
    try:
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)


def _kill_again_and_again(
    proc: subprocess.Popen[str], tmp_path: Path, mode: str, rounds: int
) -> tuple[Path, list[int], int]:
    """Start, kill, resume ``rounds`` times with the savers of ``mode``; check the files after every kill."""
    root = tmp_path / "run"
    root.mkdir()
    rng = random.Random(f"{KILL_SEED}-{mode}")
    assert proc.stdin is not None
    steps: list[int] = []
    leftovers = 0
    try:
        for _ in range(rounds):
            proc.stdin.write(f"go {mode} {root}\n")
            proc.stdin.flush()
            line = _read_line(proc, 60)
            assert line.startswith("started "), line
            _, pid, start_step = line.split()
            # a third of the kills in the first ~40 ms (often before the first save), the rest up to ~20 saves later
            time.sleep(rng.uniform(0.0, 0.04) if rng.random() < 1 / 3 else rng.uniform(0.04, 0.4))
            os.kill(int(pid), signal.SIGKILL)
            line = _read_line(proc, 60)
            assert line.startswith(f"exited {pid}"), line

            newest = newest_checkpoint(root)  # every *.ckpt loads, or this raises
            if newest is None:
                assert steps == [] and int(start_step) == 0
                assert [p.name for p in root.iterdir() if p.suffix == ".ckpt"] == []
            else:
                step = int(load_checkpoint(newest)["global_step"])
                assert step >= int(start_step), "a kill lost progress that a complete checkpoint had"
                steps.append(step)
            # each process removes what earlier kills left before it saves, and saves one file at a time
            leftovers = sum(1 for p in root.iterdir() if p.name.endswith(".tmp"))
            assert leftovers <= 1, sorted(p.name for p in root.iterdir())
    except BaseException:
        proc.kill()  # the module's other kill tests must not talk to a worker in an unknown state
        raise
    assert steps == sorted(steps)
    # every .tmp left is hidden (dot-prefixed): nothing that looks like a checkpoint is half-written
    assert all(p.name.startswith(".") for p in root.iterdir() if p.name.endswith(".tmp"))
    return root, steps, leftovers


_SIGKILL = pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="needs fork and SIGKILL")


@_SIGKILL
def test_checkpoints_survive_sigkill(worker: subprocess.Popen[str], tmp_path: Path) -> None:
    root, steps, leftovers = _kill_again_and_again(worker, tmp_path, "base", KILL_ROUNDS)

    # the chain of killed runs and one uninterrupted run end with the same weights
    newest = newest_checkpoint(root)
    if newest is None:
        pytest.skip(f"all {KILL_ROUNDS} kills landed before the first checkpoint (seed {KILL_SEED})")
    target = int(load_checkpoint(newest)["global_step"]) + 3
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workers: a matmul's summation order depends on the thread count
    try:
        resumed = Net(width=256, lr=0.002)
        _trainer(tmp_path, max_epochs=-1, max_steps=target, limit_val_batches=0).fit(resumed, ckpt_path=newest)
        straight = Net(width=256, lr=0.002)
        _trainer(tmp_path, max_epochs=-1, max_steps=target, limit_val_batches=0).fit(straight)
    finally:
        torch.set_num_threads(threads)
    _assert_same_weights(_weights(straight), _weights(resumed))
    print(f"kills: {KILL_ROUNDS}, steps reached: {steps}, temporary files left by the last kill: {leftovers}")


# Each ModelCheckpoint path that replaces or prunes files: monitored top-k, save_last every step, step-interval
# saves with save_last, save_last="link". After every kill at least one complete checkpoint loads and no
# progress a complete checkpoint had is lost (checked inside _kill_again_and_again).
CALLBACK_KILL_ROUNDS = int(os.environ.get("LOOPHOOKS_CALLBACK_KILL_ROUNDS", "3"))
_PATHS = ["topk", "last", "steps", "link"]


def _check_callback_path(proc: subprocess.Popen[str], tmp_path: Path, mode: str, rounds: int) -> None:
    root, steps, _ = _kill_again_and_again(proc, tmp_path, mode, rounds)
    if not steps:
        pytest.skip(f"all {rounds} kills landed before the first checkpoint (seed {KILL_SEED})")
    names = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
    if mode in ("last", "steps", "link"):
        assert "last.ckpt" in names, names  # save_last with every_n_train_steps writes last.ckpt
    if mode == "topk":
        assert 1 <= len(names) <= 3, names  # the best two, and at most one not yet pruned by a kill
    if mode == "link":
        assert os.path.islink(root / "last.ckpt") and load_checkpoint(root / "last.ckpt")


@_SIGKILL
@pytest.mark.parametrize("mode", _PATHS)
def test_callback_checkpoints_survive_sigkill(worker: subprocess.Popen[str], tmp_path: Path, mode: str) -> None:
    _check_callback_path(worker, tmp_path, mode, CALLBACK_KILL_ROUNDS)


@_SIGKILL
@pytest.mark.slow
@pytest.mark.parametrize("mode", _PATHS)
def test_callback_checkpoints_survive_many_sigkills(worker: subprocess.Popen[str], tmp_path: Path, mode: str) -> None:
    _check_callback_path(worker, tmp_path, mode, max(10, int(os.environ.get("LOOPHOOKS_KILL_ROUNDS", "10"))))
