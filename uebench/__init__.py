"""uebench: a benchmark suite for unlearnable-example protection of 3D medical segmentation data."""

__version__ = "0.1.0"
