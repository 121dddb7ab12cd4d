"""The built-in GM bank is levelled: every program and every drum key about as loud as the
others, and the README's demo renders without clipping at the default gain.

Measured here independently of the build's own levelling: the bank as the renderer reads it
(the cache file), played by the synth at keys other than those the build measures.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dlsynth import gmbank as db
from dlsynth.synth.synth import Synth

RATE = 48000
VELOCITY = 100
MELODIC_KEYS = (45, 57, 69)  # A2, A3, A4: not the build's keys
NOTE_SECONDS = 1.0  # a melodic note's loudness: RMS over its first second
HIT_SECONDS = 0.1  # a drum hit's: RMS over its first 100 ms
LEVEL_TOLERANCE_DB = 3.0  # every program, and every drum key, within this of the median
PEAK_LIMIT_DBFS = -0.1
DEMO = Path(__file__).parent / "data" / "midi" / "jazz-soft" / "test-all-gm-sounds.mid"
PERCUSSION = Path(__file__).parent / "data" / "midi" / "jazz-soft" / "test-all-gm-percussion.mid"


def rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)))


def play(s: Synth, channel: int, key: int, seconds: float) -> np.ndarray:
    s.short_message(s.position, 1, 0x90 | channel, key, VELOCITY)
    out = s.render(frames=int(seconds * RATE)).copy()
    s.short_message(s.position, 1, 0xB0 | channel, 120, 0)
    for _ in range(100):
        if not s.stats()["voices_active"]:
            break
        s.render(frames=480)
    assert not s.stats()["voices_active"]
    return out


def measure_levels():
    """dBFS of each melodic program (power mean over MELODIC_KEYS) and of each drum key, at
    velocity 100 with the default controllers (CC7 100, CC11 127), dry, master gain 0 dB."""
    s = Synth(RATE, effects=False, gain_db=0.0)
    s.download(db.load_default_bank())
    melodic = {}
    for program in range(128):
        s.short_message(s.position, 1, 0xC0, program, 0, 2)
        powers = [10 ** (rms_db(play(s, 0, k, NOTE_SECONDS)) / 10) for k in MELODIC_KEYS]
        melodic[program] = 10 * np.log10(np.mean(powers))
    drums = {k: rms_db(play(s, 9, k, HIT_SECONDS)) for k in range(35, 82)}
    s.close()
    return melodic, drums


@pytest.fixture(scope="module")
def levels():
    return measure_levels()


def test_every_program_within_3_db_of_the_median(levels):
    melodic, _ = levels
    median = np.median(list(melodic.values()))
    off = {
        db.GM_PROGRAM_NAMES[p]: round(v - median, 1) for p, v in melodic.items() if abs(v - median) > LEVEL_TOLERANCE_DB
    }
    assert not off, f"programs more than {LEVEL_TOLERANCE_DB} dB from the median {median:.1f} dBFS: {off}"


def test_every_drum_within_3_db_of_the_kit_median_and_the_kit_of_the_melodic_median(levels):
    melodic, drums = levels
    median = np.median(list(drums.values()))
    off = {db.GM_DRUM_NAMES[k]: round(v - median, 1) for k, v in drums.items() if abs(v - median) > LEVEL_TOLERANCE_DB}
    assert not off, f"drum keys more than {LEVEL_TOLERANCE_DB} dB from the kit's median {median:.1f} dBFS: {off}"
    assert abs(median - np.median(list(melodic.values()))) <= LEVEL_TOLERANCE_DB


def render(tmp_path, midi: Path) -> tuple[float, str]:
    """The README's command: render with the built-in bank at the default gain."""
    out = tmp_path / (midi.stem + ".wav")
    p = subprocess.run(
        [sys.executable, "-m", "dlsynth", "render", str(midi), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    x, _ = sf.read(out)
    summary = p.stderr.splitlines()[0]
    return 20 * np.log10(np.abs(x).max()), summary


def test_the_readme_demo_does_not_clip(tmp_path):
    peak, summary = render(tmp_path, DEMO)
    assert peak < PEAK_LIMIT_DBFS, summary
    assert "clipped" not in summary
    reported = float(re.search(r"peak (-?[0-9.]+) dBFS", summary).group(1))
    assert reported < PEAK_LIMIT_DBFS


def test_every_gm_drum_sound_does_not_clip(tmp_path):
    peak, summary = render(tmp_path, PERCUSSION)
    assert peak < PEAK_LIMIT_DBFS and "clipped" not in summary, summary
