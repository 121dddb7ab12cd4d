"""Settings of the built-in bank: sample rates, levels, loop and alias limits, the levelling targets."""

from __future__ import annotations

BANK_VERSION = "dlsynth-gm-2"

SAMPLE_RATE = 22050  # melodic waves and most drums
BRIGHT_RATE = 32000  # cymbals, hats, shakers: they need the top octave
PEAK_DBFS = -3.0  # every wave is peak-normalised to this
LOUDNESS_TARGET_DBFS = -16.0  # waves louder than this (RMS) are attenuated by their wsmp
MAX_AUTO_ATTENUATION_DB = 14.0
TOP_FREQUENCY = 19000.0  # no partial above this when a sample is played at its highest key...
ALIAS_FREE_SEMITONES = 19  # ...or at most this far above its root (the top region goes on to 127)
MIN_LOOP_FRAMES = 1024  # keeps the pitch error of a loop under a cent
DECAY_FLOOR = 10.0 ** (-30.0 / 20.0)  # deepest decay of a fundamental inside a sample
TAIL_FRAMES = 8  # frames after the loop end, continuing it (for interpolators that read ahead)

# Levelling (measured at build, in the engine): every melodic program's notes at LEVEL_KEYS, and
# every drum key's hit, at velocity 100 with the default CC7 100 and CC11 127, dry, at master
# gain 0 dB, are brought to LEVEL_TARGET_DBFS RMS; a melodic note is measured over its first
# LEVEL_SECONDS, a hit over its first DRUM_LEVEL_SECONDS (FluidR3_GM measured so through the
# engine: its drums' median -25.7 dBFS, its melodic median -24.6). The target sits near that;
# at the default -12 dB master gain it leaves a dense 16-channel GM song (FluidSynth's
# Streetwise test song) peaking at -2.7 dBFS and the README demo (velocity 127, four-note
# chords) at -6.8 dBFS.
LEVEL_TARGET_DBFS = -26.0
LEVEL_KEYS = (48, 60, 72)
LEVEL_VELOCITY = 100
LEVEL_SECONDS = 1.0
DRUM_LEVEL_SECONDS = 0.1
LEVEL_RATE = 48000
