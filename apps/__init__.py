"""The `dlsynth` command-line application (render, play, bench, info, devices, convert)."""
