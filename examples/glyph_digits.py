# mypy: enable-error-code="explicit-override"
# pyright: reportImplicitOverride=true
"""Train a small classifier on synthetic 8x8 digit glyphs with loophooks' engine, save, resume, test.

No real data set ships with the installed packages (scikit-learn, torchvision and
their bundled digits/MNIST are not installed; torch ships no data), so this example
renders its own: the ten digits of a 5x7 bitmap font, placed at a random offset in
an 8x8 image, with stroke-intensity jitter, random dropped pixels and Gaussian noise.
The data is deterministic for a seed and structured like sklearn's ``digits``.

Run:  python examples/glyph_digits.py [--epochs 6] [--out DIR]

Typed as the README recommends: every override is marked ``@override`` and the two
comments at the top demand it (``enable_error_code = ["explicit-override"]`` and
``reportImplicitOverride = "error"`` in a project's settings do the same for every file).
``training_step``, ``validation_step``, ``test_step`` and ``configure_optimizers`` are the
model's own (``LoopModule`` declares none of them), so they carry no ``@override``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from typing_extensions import override

from loophooks.engine import EarlyStopping, LoopModule, ModelCheckpoint, Trainer
from loophooks.spec import OptimizerLRScheduler

# 5x7 bitmaps of the digits 0-9, one string per row.
_FONT = {
    0: ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
    1: ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    2: ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    3: ["11111", "00010", "00100", "00010", "00001", "10001", "01110"],
    4: ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
    5: ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
    6: ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
    7: ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
    8: ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
    9: ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
}


def glyph_digits(n: int, seed: int) -> TensorDataset:
    """``n`` noisy 8x8 digit images (flattened to 64 features) and their labels, reproducible from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    glyphs = torch.tensor([[[int(c) for c in row] for row in _FONT[d]] for d in range(10)], dtype=torch.float32)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = torch.zeros(n, 8, 8)
    dy = torch.randint(0, 2, (n,), generator=g)
    dx = torch.randint(0, 4, (n,), generator=g)
    for i in range(n):
        y, x = int(dy[i]), int(dx[i])
        images[i, y : y + 7, x : x + 5] = glyphs[labels[i]]
    images = images * (0.6 + 0.4 * torch.rand(n, 1, 1, generator=g))
    images = images * (torch.rand(n, 8, 8, generator=g) > 0.1)
    images = images + 0.2 * torch.randn(n, 8, 8, generator=g)
    return TensorDataset(images.reshape(n, 64), labels)


class DigitClassifier(LoopModule):
    def __init__(self, lr: float = 3e-3) -> None:
        super().__init__()
        self.lr = lr
        # A small convolutional net: the glyphs sit at random offsets, which convolutions shrug off.
        self.net = nn.Sequential(
            nn.Unflatten(1, (1, 8, 8)),
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveMaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(0.1),
            nn.Linear(128, 10),
        )

    @override
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("val_loss", nn.functional.cross_entropy(logits, y), batch_size=len(y))
        self.log("val_acc", (logits.argmax(-1) == y).float().mean(), batch_size=len(y))

    def test_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("test_acc", (self(x).argmax(-1) == y).float().mean(), batch_size=len(y))

    def configure_optimizers(self) -> OptimizerLRScheduler:  # every key of the dict below is checked
        opt = torch.optim.Adam(self.parameters(), lr=self.lr)
        return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)}


def loaders(seed: int = 0) -> tuple[DataLoader[Any], DataLoader[Any], DataLoader[Any]]:
    train = DataLoader(glyph_digits(2000, seed), batch_size=32, shuffle=True)
    val = DataLoader(glyph_digits(400, seed + 1), batch_size=100)
    test = DataLoader(glyph_digits(1000, seed + 2), batch_size=100)
    return train, val, test


def train(epochs: int, out: str, *, ckpt_path: str | None = None, seed: int = 0, progress: bool = True) -> DigitClassifier:
    """Fit for ``epochs`` epochs (resuming from ``ckpt_path`` if given), checkpointing each epoch into ``out``."""
    torch.manual_seed(seed)  # pyright: ignore[reportUnknownMemberType]  (torch leaves `seed` unannotated)
    model = DigitClassifier()
    train_dl, val_dl, _ = loaders(seed)
    trainer = Trainer(
        max_epochs=epochs,
        default_root_dir=out,
        enable_progress_bar=progress,
        callbacks=[
            ModelCheckpoint(dirpath=os.path.join(out, "checkpoints"), save_last=True),
            EarlyStopping(monitor="val_loss", patience=3),
        ],
    )
    trainer.fit(model, train_dl, val_dl, ckpt_path=ckpt_path)
    return model


def accuracy(model: DigitClassifier, seed: int = 0) -> float:
    """Test accuracy, through ``Trainer.test``."""
    _, _, test_dl = loaders(seed)
    result = Trainer(enable_progress_bar=False, enable_checkpointing=False).test(model, test_dl)
    return float(result[0]["test_acc"])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", default=None, help="folder for checkpoints (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="glyph-digits-")
    half = max(1, args.epochs // 2)
    train(half, out)
    print(f"trained {half} epochs; resuming from {os.path.join(out, 'checkpoints', 'last.ckpt')}")
    model = train(args.epochs, out, ckpt_path=os.path.join(out, "checkpoints", "last.ckpt"))
    print(f"test accuracy after {args.epochs} epochs: {accuracy(model):.3f}")


if __name__ == "__main__":
    main()
