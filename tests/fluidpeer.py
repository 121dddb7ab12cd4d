"""FluidSynth as the peer a test compares with: render a MIDI file from an SF2, dry."""

from __future__ import annotations

import subprocess
from pathlib import Path


def fluidsynth_render(sf2: Path, song: Path, out: Path, rate: int, timeout: float) -> None:
    """``fluidsynth -F``: reverb and chorus off, gain 1, to a WAV at ``rate``."""
    subprocess.run(
        [
            "fluidsynth",
            "-ni",
            "-q",
            "-R",
            "0",
            "-C",
            "0",
            "-g",
            "1",
            "-F",
            str(out),
            "-r",
            str(rate),
            str(sf2),
            str(song),
        ],
        check=True,
        timeout=timeout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
