"""Handing the frames to training: leakage-safe splits and the PyTorch Dataset."""
