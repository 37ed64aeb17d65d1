"""The version of the standard, separate from the distribution's version."""

from typing import Final

SPEC_VERSION: Final = "1.0"
"""Bumped in its minor part for additions (new hooks, scenarios) and its major part for changes."""
