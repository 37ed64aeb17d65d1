"""loophooks.spec: the hooks of a PyTorch training loop, as a checkable standard."""

from loophooks.spec._scenario import Fault, Resume, Scenario, Stage
from loophooks.spec._trace import ANY, Call, GradMode, Target

__all__ = ["ANY", "Call", "Fault", "GradMode", "Resume", "Scenario", "Stage", "Target"]
