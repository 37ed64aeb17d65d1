"""What `import loophooks` offers where Lightning users expect it: seed_everything."""

from __future__ import annotations

import os
import random
from typing import Any

import pytest
import torch

import loophooks
from tests.lightning_port._kit import loader, quiet, trainer

pl = pytest.importorskip("pytorch_lightning")
pytestmark = pytest.mark.lightning


def _draws(seed_everything: Any, monkeypatch: pytest.MonkeyPatch, *args: Any, **kwargs: Any) -> list[Any]:
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    monkeypatch.delenv("PL_SEED_WORKERS", raising=False)
    seed = quiet(seed_everything, *args, **kwargs)
    out = [seed, random.random(), torch.rand(2).tolist(), os.environ["PL_GLOBAL_SEED"], os.environ["PL_SEED_WORKERS"]]
    try:
        import numpy as np
    except ImportError:
        return out
    return [*out, float(np.random.rand())]


@pytest.mark.parametrize(("args", "kwargs"), [((7,), {"workers": True}), ((), {}), (("12",), {})])
def test_seed_everything_draws_as_lightning(args: Any, kwargs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _draws(pl.seed_everything, monkeypatch, *args, **kwargs)
    assert _draws(loophooks.seed_everything, monkeypatch, *args, **kwargs) == expected


def test_seed_everything_rejects_what_lightning_rejects(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in (-1, 2**32):
        with pytest.raises(ValueError):
            pl.seed_everything(bad)
        with pytest.raises(ValueError, match="out of bounds"):
            loophooks.seed_everything(bad)


def test_workers_true_seeds_the_loaders_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    from loophooks.engine._seed import install_worker_seeding, seed_worker

    monkeypatch.delenv("PL_SEED_WORKERS", raising=False)
    loophooks.seed_everything(3, workers=True)
    train = loader(8, num_workers=1)
    own = loader(8, num_workers=1, worker_init_fn=print)

    class Net(loophooks.LoopModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return self.layer(batch[0]).sum()

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    trainer("engine", max_epochs=1, limit_train_batches=1, limit_val_batches=0).fit(Net(), train)
    assert train.worker_init_fn is seed_worker
    install_worker_seeding(own)
    assert own.worker_init_fn is print  # the user's own is kept


def test_entry_points_take_lightnings_parameters_in_lightnings_order() -> None:
    """A Lightning call that passes arguments by position (``trainer.validate(model, dl, None, False)``)
    binds them to the same parameters here; ``verbose`` was last and took the place of ``datamodule``."""
    import inspect

    pl = pytest.importorskip("pytorch_lightning")
    from loophooks import Trainer

    for name in ("fit", "validate", "test", "predict"):
        theirs = list(inspect.signature(getattr(pl.Trainer, name)).parameters)
        ours = list(inspect.signature(getattr(Trainer, name)).parameters)
        assert ours == theirs, name
