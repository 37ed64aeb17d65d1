"""The meta tests share helper modules (``_mini_trainer.py``) that live beside them."""

from __future__ import annotations

import sys
from pathlib import Path

# pytest imports test modules with --import-mode=importlib, which puts no folder on sys.path
sys.path.insert(0, str(Path(__file__).parent))
