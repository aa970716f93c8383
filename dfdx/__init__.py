"""dfdx: deepfake video datasets → exact, resumable, training-ready frame datasets."""

__version__ = "0.1.0"
