"""The live tests' analysis (tests/liveanalysis.py) proven on synthetic signals: what the
end-to-end tests of `dlsynth play` judge the capture by must itself be right."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests import liveanalysis as A

FS = 48_000


def tone(hz, seconds, fs=FS, amp=0.3, harmonics=(1.0,), phase=0.3):
    t = np.arange(int(seconds * fs)) / fs
    return sum(a * amp * np.sin(2 * np.pi * hz * (k + 1) * t + phase * (k + 1)) for k, a in enumerate(harmonics))


# ----------------------------------------------------------------------------- pitch
def test_key_hz_is_equal_temperament_from_a440():
    assert A.key_hz(69) == 440.0
    assert A.key_hz(81) == pytest.approx(880.0)
    assert A.key_hz(60) == pytest.approx(261.6256, abs=1e-4)
    assert A.cents(A.key_hz(70), A.key_hz(69)) == pytest.approx(100.0)


@pytest.mark.parametrize("key", [36, 48, 60, 69, 76, 84, 96])
@pytest.mark.parametrize("offset_cents", [-7.0, -2.5, 0.0, 1.3, 4.9])
def test_pitch_within_a_fraction_of_a_cent_on_a_short_note(key, offset_cents):
    hz = A.key_hz(key) * 2 ** (offset_cents / 1200)
    x = tone(hz, 0.12)  # as short as the steady part of a plucked note in the live tests
    assert A.pitch_cents(x, FS, key) == pytest.approx(offset_cents, abs=0.3)


def test_pitch_of_a_harmonic_tone_whose_fundamental_is_not_the_strongest_partial():
    # Partials 2 and 3 stronger than the fundamental: still the fundamental's pitch.
    x = tone(A.key_hz(57) * 2 ** (3 / 1200), 0.2, harmonics=(0.3, 1.0, 0.8, 0.4))
    assert A.pitch_cents(x, FS, 57) == pytest.approx(3.0, abs=0.3)


def test_pitch_of_a_decaying_stereo_note_with_noise():
    rng = np.random.default_rng(5)
    n = int(0.15 * FS)
    x = tone(A.key_hz(64) * 2 ** (-4 / 1200), 0.15, harmonics=(1.0, 0.5, 0.25)) * np.exp(-np.arange(n) / (0.05 * FS))
    st = np.stack([x, 0.7 * x], axis=1) + 1e-3 * rng.standard_normal((n, 2))
    assert A.pitch_cents(st, FS, 64) == pytest.approx(-4.0, abs=0.5)


def test_a_note_an_octave_or_a_semitone_off_is_not_taken_for_the_expected_one():
    assert math.isnan(A.pitch_cents(tone(A.key_hz(57), 0.2), FS, 69))  # an octave low
    assert math.isnan(A.pitch_cents(tone(A.key_hz(81), 0.2), FS, 69))  # an octave high
    c = A.pitch_cents(tone(A.key_hz(70), 0.2), FS, 69, search_cents=150)  # a semitone sharp
    assert c == pytest.approx(100.0, abs=0.5)


def test_pitch_of_silence_is_not_a_number_or_zero_level():
    hz, rel = A.pitch_near(np.zeros(4800), FS, 440.0)
    assert rel <= 0.0 and hz > 0


# ----------------------------------------------------------------------------- onsets
def _notes(starts, length=4000, fs=FS, attack=0, seed=1):
    """Silence with decaying notes starting exactly at ``starts``; the first sample of each
    is tiny (a ramp from zero, as the engine's envelopes start) and the note decays to
    exact zero before the next."""
    rng = np.random.default_rng(seed)
    x = np.zeros((max(starts) + length + 2000, 2), np.float32)
    for s in starts:
        n = np.arange(length)
        env = np.minimum(1.0, (n + 1) / max(attack, 1)) * np.exp(-n / 800.0)
        env[-200:] = 0.0
        sig = env * np.sin(2 * np.pi * rng.uniform(100, 2000) * n / fs + rng.uniform(0, 1e-3))
        x[s : s + length, 0] = 0.2 * sig
        x[s : s + length, 1] = 0.1 * sig
    return x


def test_onsets_after_silence_are_sample_accurate():
    starts = [3000, 9000, 17001, 25511, 40000]
    x = _notes(starts, attack=48)
    x[starts[2], :] = 0.0  # a note whose first sample is exactly zero starts one later
    got = A.onsets_after_silence(x, 0.0, silence=2000)
    assert list(got) == [3000, 9000, 17002, 25511, 40000]


def test_onset_threshold_ignores_quiet_signals_and_needs_a_silent_gap():
    x = _notes([2000, 12000], attack=1)
    x[500:600, 0] = 1e-6  # below the threshold: not an onset
    got = A.onsets_after_silence(x, 1e-5, silence=2000)
    assert list(got) == [2000, 12000]
    # No gap of 2000 quiet frames between two notes 3000 apart (the first lasts 4000): one onset.
    y = _notes([2000, 5000], attack=1)
    assert list(A.onsets_after_silence(y, 0.0, silence=2000)) == [2000]
    # A signal loud from frame 0 has no onset at 0 unless silence came first.
    z = np.ones(100)
    assert list(A.onsets_after_silence(z, 0.5, silence=10)) == []
    assert list(A.onsets_after_silence(np.concatenate([np.zeros(10), z]), 0.5, silence=10)) == [10]


def test_first_above_and_sounding_regions():
    x = np.zeros(48000)
    x[10000:20000] = 0.5
    x[30000:30100] = 0.5  # a click: shorter than min_len
    assert A.first_above(x, 0.1) == 10000
    assert A.first_above(x, 0.1, start=20000) == 30000
    assert A.first_above(x, 0.9) is None
    regions = A.sounding_regions(x, 0.1, hop=240, min_len=1000)
    assert len(regions) == 1 and abs(regions[0][0] - 10000) < 240 and abs(regions[0][1] - 20000) < 240


# ----------------------------------------------------------------------------- dropouts, levels
def test_longest_zero_run_finds_a_dropout_in_a_sounding_signal():
    x = np.stack([tone(440, 1.0), tone(440, 1.0)], axis=1).astype(np.float32)
    n0 = A.longest_zero_run(x)[0]
    assert n0 <= 2  # a sine crosses zero, it does not sit on it
    x[20000:20016, 1] = 0.0
    assert A.longest_zero_run(x) == (16, 20000)
    x[30000:30256, :] = 0.0  # a lost block
    assert A.longest_zero_run(x) == (256, 30000)
    assert A.longest_zero_run(x, 0, 25000) == (16, 20000)
    assert A.longest_zero_run(np.ones(10)) == (0, -1)


def test_level_db_and_release_drop():
    fs = FS
    n = 3 * fs
    x = 0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / fs)
    release = fs
    t = np.arange(n - release) / fs
    x[release:] *= 10 ** (-60 * t / 1.0 / 20)  # 60 dB per second after the release
    lv = A.level_db(x, 4800)
    assert lv[0] == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.05)
    drop, ref, late = A.release_drop_db(x, release, fs, within=1.0, window=0.05)
    assert ref == pytest.approx(-9.03, abs=0.05)
    assert drop == pytest.approx(58.5, abs=1.0)  # the window ends at 1.0 s: its RMS is ~1.5 dB above the end
    held = 0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / fs)
    assert A.release_drop_db(held, release, fs, within=1.5)[0] == pytest.approx(0.0, abs=0.1)
    assert A.level_db(np.zeros(4800), 480)[0] == A.FLOOR_DB
    with pytest.raises(ValueError):
        A.release_drop_db(x, n - 100, fs, within=1.5)


def test_cycle_gaps():
    f = np.arange(100) * 256 + 12345
    assert A.cycle_gaps(f, 256) == []
    g = np.delete(f, [40])  # a missed cycle
    assert A.cycle_gaps(g, 256) == [(40, 512)]
    h = np.insert(f, 60, f[59])  # a repeated frame time
    assert A.cycle_gaps(h, 256) == [(60, 0)]
