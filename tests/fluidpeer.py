"""FluidSynth as the peer a test compares with: render a MIDI file from an SF2, dry."""

from __future__ import annotations

import subprocess
from pathlib import Path

from benchmarks.peers import fluidsynth_command


def fluidsynth_render(sf2: Path, song: Path, out: Path, rate: int, timeout: float) -> None:
    """``fluidsynth -F``: reverb and chorus off, gain 1, to a WAV at ``rate``."""
    subprocess.run(
        fluidsynth_command(sf2, song, out, rate=rate, effects=False, gain=1),
        check=True,
        timeout=timeout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
