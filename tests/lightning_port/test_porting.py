"""The mechanical rename that ports a Lightning script (loophooks.porting.rename_imports)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from loophooks.porting import rename_imports


def test_package_and_class_names_are_renamed() -> None:
    source = (
        "import pytorch_lightning as pl\n"
        "import lightning as L\n"
        "import lightning.pytorch as lp\n"
        "from lightning.pytorch.callbacks import ModelCheckpoint\n"
        "from pytorch_lightning import LightningModule, LightningDataModule, Trainer, seed_everything\n"
        "class M(pl.LightningModule):\n"
        "    pass\n"
        "class D(L.LightningDataModule): pass\n"
    )
    assert rename_imports(source) == (
        "import loophooks as pl\n"
        "import loophooks as L\n"
        "import loophooks as lp\n"
        "from loophooks.callbacks import ModelCheckpoint\n"
        "from loophooks import LoopModule, LoopDataModule, Trainer, seed_everything\n"
        "class M(pl.LoopModule):\n"
        "    pass\n"
        "class D(L.LoopDataModule): pass\n"
    )


def test_strings_comments_and_other_names_stay() -> None:
    source = (
        "x = 'pytorch_lightning LightningModule'  # lightning.pytorch stays in a comment\n"
        "my_lightning = obj.lightning + obj.pytorch_lightning\n"
        "LightningModuleX = 1\n"
    )
    assert rename_imports(source) == source


def test_layout_is_kept_across_lines_and_tabs() -> None:
    source = "import \\\n    pytorch_lightning\n\tfrom lightning.pytorch import (\n  LightningModule)\n"
    assert rename_imports(source) == "import \\\n    loophooks\n\tfrom loophooks import (\n  LoopModule)\n"


def test_the_command_prints_the_ported_file(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("import pytorch_lightning as pl\n")
    result = subprocess.run(
        [sys.executable, "-m", "loophooks.porting", str(script)], capture_output=True, text=True, check=True
    )
    assert result.stdout == "import loophooks as pl\n"
