"""SIGTERM and SIGINT during fit, in a real child process (issue 13, section 3; engine/_signals.py).

* SIGTERM stops fit at the next batch boundary with ``SIGTERMException`` (a
  ``SystemExit``), which runs ``on_exception`` first: a callback there saves a
  checkpoint that loads, and from which fit resumes. The exit status is 143.
  Lightning 2.6 does the same (``on_exception`` with its ``SIGTERMException``),
  exiting with status 0.
* SIGINT raises ``KeyboardInterrupt``; ``on_exception`` runs, and a second SIGINT
  sent while it runs is ignored, so the clean-up finishes.
* In process: the handlers found before a run are back after it, and a SIGTERM
  handler installed before the run is still called.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

from loophooks.engine import Callback, LoopModule, SIGTERMException, Trainer, load_checkpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

_CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    import torch
    from torch.utils.data import DataLoader

    lightning = sys.argv[1] == "lightning"
    folder, sig = sys.argv[2], sys.argv[3]
    if lightning:
        import pytorch_lightning as pl
        Base, CallbackBase = pl.LightningModule, pl.Callback
    else:
        from loophooks.engine import LoopModule as Base, Callback as CallbackBase

    class Slow(Base):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            time.sleep(0.02)
            return self.layer(batch).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

        def train_dataloader(self):
            return DataLoader(torch.randn(4000, 2), batch_size=2)

    class Saver(CallbackBase):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if batch_idx == 2:
                print("ready", flush=True)

        def on_exception(self, trainer, pl_module, exception):
            print("on_exception", type(exception).__name__, isinstance(exception, SystemExit), flush=True)
            if sig == "INT":
                os.kill(os.getpid(), signal.SIGINT)  # an impatient second Ctrl+C, while cleaning up
                time.sleep(0.2)
            trainer.save_checkpoint(os.path.join(folder, "on_exception.ckpt"))
            print("saved", trainer.global_step, flush=True)

    options = dict(max_epochs=1, enable_progress_bar=False, enable_checkpointing=False, callbacks=[Saver()],
                   default_root_dir=folder)
    if lightning:
        options.update(logger=False, enable_model_summary=False)
        trainer = pl.Trainer(**options)
    else:
        from loophooks.engine import Trainer
        trainer = Trainer(**options)
    trainer.fit(Slow())
    print("finished without a signal", flush=True)
    """
)


def _run_child(tmp_path: Path, which: str, sig: signal.Signals) -> tuple[int, str]:
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, str(script), which, str(tmp_path), "TERM" if sig == signal.SIGTERM else "INT"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until training runs, then send the signal
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.strip() == "ready":
                proc.send_signal(sig)
                break
    try:
        rest, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # pragma: no cover - a hang is the failure
        proc.kill()
        rest, _ = proc.communicate()
    return proc.returncode, "".join(lines) + rest


def _no_temporaries(folder: Path) -> None:
    assert [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")] == []


class _Slow(LoopModule):
    """The child's model, for resuming in this process."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        return self.layer(batch).sum()

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self) -> Any:
        return DataLoader(torch.randn(4000, 2), batch_size=2)


def test_sigterm_runs_on_exception_at_a_batch_boundary_and_the_checkpoint_resumes(tmp_path: Path) -> None:
    code, output = _run_child(tmp_path, "engine", signal.SIGTERM)
    assert "on_exception SIGTERMException True" in output, output
    assert "finished without a signal" not in output
    assert code == 143, output
    saved = [line for line in output.splitlines() if line.startswith("saved")]
    assert len(saved) == 1, output
    step = int(saved[0].split()[1])
    checkpoint = load_checkpoint(tmp_path / "on_exception.ckpt", weights_only=False)
    assert checkpoint["global_step"] == step >= 3
    assert checkpoint["loops"]["fit_loop"]["batches_done"] == step  # stopped between batches, none half-done
    _no_temporaries(tmp_path)
    resumed = Trainer(
        max_steps=step + 2, enable_progress_bar=False, enable_checkpointing=False, default_root_dir=str(tmp_path)
    )
    resumed.fit(_Slow(), ckpt_path=str(tmp_path / "on_exception.ckpt"))
    assert resumed.global_step == step + 2


@pytest.mark.lightning
def test_lightning_turns_sigterm_into_an_exception_for_on_exception_too(tmp_path: Path) -> None:
    pytest.importorskip("pytorch_lightning")
    code, output = _run_child(tmp_path, "lightning", signal.SIGTERM)
    assert "on_exception SIGTERMException True" in output, output
    assert "saved" in output and "finished without a signal" not in output
    assert code == 0  # Lightning's SIGTERMException carries no status; the engine's says 143


def test_sigint_runs_on_exception_and_a_second_sigint_does_not_cut_it_short(tmp_path: Path) -> None:
    code, output = _run_child(tmp_path, "engine", signal.SIGINT)
    assert "on_exception KeyboardInterrupt False" in output, output
    assert "saved" in output, output  # the second SIGINT, sent inside on_exception, was ignored
    assert "finished without a signal" not in output
    assert code != 0
    load_checkpoint(tmp_path / "on_exception.ckpt", weights_only=False)
    _no_temporaries(tmp_path)


# --- in process ----------------------------------------------------------------------------------------


def _tiny_fit(root: Path, callbacks: list[Any]) -> Trainer:
    trainer = Trainer(
        max_epochs=1, enable_progress_bar=False, enable_checkpointing=False, default_root_dir=str(root),
        callbacks=callbacks, limit_train_batches=6,
    )
    trainer.fit(_Slow())
    return trainer


def test_handlers_are_restored_after_a_run(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    _tiny_fit(tmp_path, [])
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_a_sigterm_handler_installed_before_the_run_is_still_called(tmp_path: Path) -> None:
    heard: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: heard.append(signum))

    class Kill(Callback):
        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            if batch_idx == 1:
                os.kill(os.getpid(), signal.SIGTERM)

    seen: list[BaseException] = []

    class Listen(Callback):
        def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
            seen.append(exception)

    try:
        with pytest.raises(SIGTERMException) as info:
            _tiny_fit(tmp_path, [Kill(), Listen()])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert heard == [signal.SIGTERM]
    assert seen == [info.value] and info.value.code == 143
