"""``loophooks.utilities.combined_loader``: Lightning's import path for ``CombinedLoader``."""

from loophooks.engine._combined import MODES, CombinedLoader

__all__ = ["MODES", "CombinedLoader"]
