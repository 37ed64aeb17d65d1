"""Nothing lost above the single write (issue 13, section 1): what ModelCheckpoint does to the files around it.

* top-k keeps the file it displaces until the new one is written (a failing save
  leaves the previous best in place);
* ``save_last=True`` with ``every_n_train_steps`` writes ``last.ckpt``;
* temporary files name their writer, and only files of writers that are gone are
  ever removed: two fits into one folder at once both finish with their own files,
  and the user's files that look like temporaries are never touched;
* files follow the umask, as Lightning's do;
* ``fit(ckpt_path="last")`` in a new process resumes from the ``last.ckpt`` on disk.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from loophooks.engine import LoopModule, ModelCheckpoint, Trainer, load_checkpoint
from loophooks.engine._checkpoint import _temporary_path, remove_stale_temporaries

ROOT = Path(__file__).resolve().parents[2]


class Net(LoopModule):
    def __init__(self, fail_at_save: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(4, 1)
        self.fail_at_save = fail_at_save
        self.saves = 0

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        # better every step, so top-1 displaces its file at every save
        self.log("score", float(self.trainer.global_step))
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self) -> Any:
        x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
        return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.saves += 1
        if self.saves == self.fail_at_save:
            raise OSError(28, "No space left on device (injected)")


def _fit(root: Path, callback: ModelCheckpoint, model: Net | None = None, **options: Any) -> Trainer:
    settings: dict[str, Any] = {"max_epochs": 1, "enable_progress_bar": False, "default_root_dir": str(root)}
    settings.update(options)
    trainer = Trainer(callbacks=[callback], **settings)
    trainer.fit(model or Net())
    return trainer


def test_a_failing_top_k_save_keeps_the_previous_best(tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    callback = ModelCheckpoint(dirpath=str(folder), monitor="score", mode="max", every_n_train_steps=1,
                               filename="{step}")
    with pytest.raises(OSError, match="No space left"):
        _fit(tmp_path, callback, Net(fail_at_save=3))
    # saves 1 and 2 happened; save 3 (which displaces step=2) failed: step=2 is still there and loads
    assert sorted(os.listdir(folder)) == ["step=2.ckpt"]
    assert load_checkpoint(folder / "step=2.ckpt")["global_step"] == 2


def test_save_last_with_step_saves_writes_last(tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    _fit(tmp_path, ModelCheckpoint(dirpath=str(folder), every_n_train_steps=3, save_last=True))
    assert sorted(os.listdir(folder)) == ["epoch=0-step=3.ckpt", "last.ckpt"]
    assert load_checkpoint(folder / "last.ckpt")["global_step"] == 3


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        _fit(tmp_path, ModelCheckpoint(dirpath=str(tmp_path / "ck"), save_last=True))
    finally:
        os.umask(old)
    for path in (tmp_path / "ck").iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path  # what open() gives any new file


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_temporaries_of_writers_that_are_gone_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    folder.mkdir()
    target = str(folder / "epoch=0-step=4.ckpt")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mine = Path(_temporary_path(target))  # this process's own in-flight name
        theirs = Path(_temporary_path(target).replace(f"-{os.getpid()}-", f"-{alive.pid}-"))
        gone = Path(_temporary_path(target).replace(f"-{os.getpid()}-", f"-{_dead_pid()}-"))
        user = [folder / ".notes.ckpt.1234.tmp", folder / ".x.ckpt.abc.tmp", folder / "mine.tmp"]
        for path in (mine, theirs, gone, *user):
            path.write_bytes(b"partial")
        _fit(tmp_path, ModelCheckpoint(dirpath=str(folder)))
        left = set(os.listdir(folder))
        assert gone.name not in left  # its writer is gone: a leftover of a kill
        assert {mine.name, theirs.name, *(p.name for p in user)} <= left  # in flight, or not ours
    finally:
        alive.kill()
        alive.wait()
    assert remove_stale_temporaries(folder) == [theirs.name]  # once its writer is gone, it goes too


_RUN = textwrap.dedent(
    r'''
    import os, sys, time
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from loophooks.engine import Callback, LoopModule, ModelCheckpoint, Trainer

    folder, tag, stop = sys.argv[1], sys.argv[2], sys.argv[3]
    torch.set_num_threads(1)

    class Big(LoopModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(256, 256)  # a 256 kB file: each save spends real time writing
        def training_step(self, batch, batch_idx):
            self.log("score", float((7 * self.trainer.global_step) % 5))
            return self.layer(batch[0]).pow(2).mean()
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=1e-3)
        def train_dataloader(self):
            return DataLoader(TensorDataset(torch.randn(64, 256)), batch_size=4)

    class Until(Callback):
        def on_train_start(self, trainer, pl_module):
            print("started", flush=True)
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step >= 8 and os.path.exists(stop):
                trainer.should_stop = True

    saver = ModelCheckpoint(dirpath=folder, filename=tag + "-{step}", monitor="score", mode="max", save_top_k=2,
                            every_n_train_steps=1)
    # no model summary: with rich installed it prints to stdout, which carries this script's protocol
    trainer = Trainer(max_epochs=-1, max_steps=2000, callbacks=[Until(), saver], enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=os.path.dirname(folder))
    trainer.fit(Big())
    print("kept", *sorted(os.path.basename(p) for p in saver.best_k_models), flush=True)
    '''
)


def test_two_fits_share_a_folder(tmp_path: Path) -> None:
    """Each start-up cleans the folder while the other run writes into it: neither loses a file or crashes."""
    folder = tmp_path / "shared"
    script = tmp_path / "run.py"
    script.write_text(_RUN)
    stop = tmp_path / "stop"
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def start(tag: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, str(script), str(folder), tag, str(stop)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)

    first = start("a")
    assert first.stdout is not None and first.stdout.readline().strip() == "started"
    runs = [first, start("b")]  # b's start-up cleans the folder while "a" saves every step
    for run in runs[1:]:
        assert run.stdout is not None and run.stdout.readline().strip() == "started"
    time.sleep(0.5)
    stop.write_text("")
    results = [run.communicate(timeout=300) for run in runs]
    for run, (out, err) in zip(runs, results):
        assert run.returncode == 0, err
    for tag, (out, _) in zip("ab", results):
        kept = out.split("kept", 1)[1].split()
        assert len(kept) == 2 and all(name.startswith(f"{tag}-") for name in kept)
        for name in kept:  # each run's own best files are there, complete
            assert load_checkpoint(folder / name)["global_step"] >= 1
    own = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert len(own) == 4, own  # nobody pruned anybody else's files
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # every temporary file was published


_RESUME = textwrap.dedent(
    r'''
    import sys
    sys.path.insert(0, sys.argv[2])
    from loophooks.engine import ModelCheckpoint, Trainer
    from test_reliability_callback_files import Net

    trainer = Trainer(max_epochs=int(sys.argv[3]), enable_progress_bar=False, default_root_dir=sys.argv[1],
                      callbacks=[ModelCheckpoint(save_last=True)], logger=False, enable_model_summary=False)
    trainer.fit(Net(), ckpt_path="last")
    print(trainer.ckpt_path, trainer.global_step)
    '''
)


def test_fit_ckpt_path_last_in_a_new_process(tmp_path: Path) -> None:
    script = tmp_path / "resume.py"
    script.write_text(_RESUME)

    def run(epochs: int) -> list[str]:
        result = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "root"), str(Path(__file__).parent), str(epochs)],
            capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"),
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    with pytest.warns(UserWarning, match="no last checkpoint available"):  # nothing on disk yet: a fresh start
        # logger=False: checkpoints in root/checkpoints (with a logger each process would get its own version_N)
        trainer = Trainer(max_epochs=1, enable_progress_bar=False, default_root_dir=str(tmp_path / "root"),
                          callbacks=[ModelCheckpoint(save_last=True)], logger=False)
        trainer.fit(Net(), ckpt_path="last")
    assert trainer.ckpt_path is None and trainer.global_step == 4
    # a new process: the last.ckpt the first run left is found on disk, and training continues from it
    assert run(2) == [str(tmp_path / "root" / "checkpoints" / "last.ckpt"), "8"]
