"""Plain and residual networks, their probes, data, trainer and run store (PyTorch only)."""
