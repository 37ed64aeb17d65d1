"""Which optional packages change the Trainer's defaults, decided by Lightning's rule.

Lightning 2.6 picks ``RichProgressBar`` and ``RichModelSummary`` over the tqdm bar
and the plain table when the ``rich`` distribution is installed at 10.2.2 or later
(it reads the installed version, it does not import the package). The engine asks
the same question in the same way, so one environment gives both the same defaults.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re

__all__ = ["RICH_MINIMUM", "rich_available"]

RICH_MINIMUM = (10, 2, 2)


def _release(version: str) -> tuple[int, ...]:
    """The leading numeric release of a version string: ``"13.7.1"`` -> ``(13, 7, 1)``; ``()`` when there is none."""
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


@functools.lru_cache(maxsize=None)  # every Trainer asks; the installed set does not change under a running process
def rich_available() -> bool:
    """Whether ``rich`` >= 10.2.2 is installed (Lightning's ``_RICH_AVAILABLE``)."""
    try:
        version = importlib.metadata.version("rich")
    except importlib.metadata.PackageNotFoundError:
        return False
    return _release(version) >= RICH_MINIMUM
