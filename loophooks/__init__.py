"""loophooks: the hooks of a PyTorch training loop as an open, checkable standard."""
