"""Where Lightning users import utilities from (``lightning.pytorch.utilities``): ``CombinedLoader``."""

from loophooks.engine._combined import CombinedLoader

__all__ = ["CombinedLoader"]
