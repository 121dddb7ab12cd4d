"""The `dlsynth` command-line application (render, play, bench, info, devices)."""

__version__ = "0.1.0"
