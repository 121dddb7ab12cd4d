"""The peer dlsynth is compared with (FluidSynth) and the SoundFonts the comparisons use.

Imported by the benchmarks (run as scripts, with this folder on ``sys.path``: ``import
peers``) and by the tests (``from benchmarks import peers``, through tests/fluidpeer.py), so
it imports nothing beyond the standard library. Each caller keeps its own FluidSynth
settings (effects on or off, gain, polyphony, sample format); the command line is built here.
"""

from __future__ import annotations

from pathlib import Path

#: General MIDI SoundFonts as Debian installs them (packages fluid-soundfont-gm, timgm6mb-soundfont)
FLUID_R3_SF2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
TIMGM_SF2 = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")

#: a FluidSynth start-up command file: 4-point (cubic) interpolation on every channel, as dlsynth's default
FLUID_CUBIC_COMMANDS = "interp 4\n"


def fluidsynth_cubic_config(folder: Path) -> Path:
    """A file of FLUID_CUBIC_COMMANDS in folder, for ``fluidsynth_command(config=...)``."""
    path = Path(folder) / "fluid-interp4.cfg"
    path.write_text(FLUID_CUBIC_COMMANDS)
    return path


def fluidsynth_command(
    sf2,
    midi,
    out,
    *,
    rate: int,
    effects: bool,
    gain: float | str | None = None,
    voices: int | None = None,
    sample_format: str | None = None,
    config=None,
) -> list[str]:
    """``fluidsynth -F``: render midi with sf2 into the WAV out, no shell, no audio driver.

    rate: Hz. effects: FluidSynth's reverb and chorus on, or off (-R 0 -C 0). gain:
    synth.gain (None: FluidSynth's 0.2). voices: synth.polyphony (None: its 256).
    sample_format: -O, e.g. 's16' or 'float' (None: its s16). config: a command file run at
    start (-f), e.g. from `fluidsynth_cubic_config`.
    """
    cmd = ["fluidsynth", "-ni", "-q", "-F", str(out)]
    if config is not None:
        cmd += ["-f", str(config)]
    cmd += ["-r", str(rate)]
    if not effects:
        cmd += ["-R", "0", "-C", "0"]
    if gain is not None:
        cmd += ["-g", str(gain)]
    if voices is not None:
        cmd += ["-o", f"synth.polyphony={voices}"]
    if sample_format is not None:
        cmd += ["-O", sample_format]
    return cmd + [str(sf2), str(midi)]
