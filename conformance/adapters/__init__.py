"""Adapters that put real trainers under the suite.

Each adapter module imports its trainer lazily, so importing it never fails;
using it without the trainer installed raises a clear error.
"""

from loophooks.conformance.adapters.lightning import LightningAdapter, LightningUnavailableError

__all__ = ["LightningAdapter", "LightningUnavailableError"]
