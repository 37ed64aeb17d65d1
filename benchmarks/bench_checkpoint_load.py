"""Reading a checkpoint: the engine's verified load against torch.load, the loader Lightning uses.

``load_checkpoint`` checks every stored record's CRC-32 before unpickling, which
``torch.load`` does not do; the cost of that check must stay bounded by the file's
own size (issue 13). Two files, each round paired with ``torch.load(weights_only=True)``
of the same file (``extra_info["ratios"]``: engine / torch):

* ``plain``: a checkpoint of a 1M-parameter model, as ``Trainer.save_checkpoint`` writes it;
* ``crafted``: the same file with one extra deflated record of 256 MiB of zeros (a few
  hundred KiB on disk) that torch never reads. Verifying it by inflating every record
  used to cost seconds; reading stored records only keeps the ratio near the plain one.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
import torch
from _harness import SMOKE, clock, measure

from loophooks.engine import load_checkpoint

ROUNDS = 3 if SMOKE else 9
BOMB_BYTES = (1 << 20) if SMOKE else (256 << 20)


def _files() -> dict[str, str]:
    folder = tempfile.mkdtemp(prefix="loophooks-bench-ckpt-")
    plain = os.path.join(folder, "plain.ckpt")
    model = torch.nn.Sequential(torch.nn.Linear(1000, 1000), torch.nn.Linear(1000, 10))
    torch.save({"state_dict": model.state_dict(), "epoch": 0, "global_step": 0}, plain)
    crafted = os.path.join(folder, "crafted.ckpt")
    with open(plain, "rb") as src, open(crafted, "wb") as dst:
        dst.write(src.read())
    with zipfile.ZipFile(crafted, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        top = archive.namelist()[0].split("/")[0]
        archive.writestr(f"{top}/extra/unread", bytes(BOMB_BYTES))
    return {"plain": plain, "crafted": crafted}


_FILES: dict[str, str] = {}


def _run(load: Callable[[str], Any], path: str) -> Callable[[], float]:
    def run() -> float:
        start = clock()
        load(path)
        return clock() - start

    return run


@pytest.mark.parametrize("kind", ["plain", "crafted"])
def bench_checkpoint_load(benchmark: Any, kind: str) -> None:
    if not _FILES:
        _FILES.update(_files())
    path = _FILES[kind]
    benchmark.group = "checkpoint-load"
    measure(
        benchmark,
        lambda: _run(load_checkpoint, path),
        baseline=lambda: _run(lambda p: torch.load(p, map_location="cpu", weights_only=True), path),
        rounds=ROUNDS,
        unit="load",
    )
