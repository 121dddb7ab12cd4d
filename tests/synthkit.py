"""Small banks and measurements for synth tests: sine instruments whose pitch tells which
instrument sounded, a pitch meter, onset finder and level meter."""

from __future__ import annotations

import numpy as np

from dlsynth import dls

RATE = 48000
WAVE_RATE = 44100


def sine_wave(cycles: int = 100, frames: int = 4410, rate: int = WAVE_RATE, amp: int = 16000) -> dls.Wave:
    """A looped sine: `cycles` whole cycles in `frames` (100 in 4410 at 44.1 kHz = 1000 Hz
    at its unity note... with unity note 69 it plays 1000 Hz at key 69)."""
    t = np.arange(frames)
    data = np.round(np.sin(2 * np.pi * cycles * t / frames) * amp).astype(np.int16)
    return dls.Wave.from_pcm16(data, rate, dls.WaveSample(unity_note=69, loops=[dls.Loop(0, 0, frames)]))


def sine_hz(cycles: int = 100, frames: int = 4410, rate: int = WAVE_RATE) -> float:
    return cycles * rate / frames


def instrument(
    name: str,
    wave_index: int,
    bank: int = 0,
    program: int = 0,
    key_range=(0, 127),
    fine_tune: int = 0,
    articulation=None,
    key_group: int = 0,
) -> dls.Instrument:
    ws = None
    if fine_tune:
        ws = dls.WaveSample(unity_note=69, fine_tune=fine_tune, loops=[dls.Loop(0, 0, 4410)])
    r = dls.Region(
        key_low=key_range[0],
        key_high=key_range[1],
        key_group=key_group,
        wave_link=dls.WaveLink(wave_index),
        wave_sample=ws,
    )
    arts = [dls.Articulation(2, articulation)] if articulation else []
    return dls.Instrument(name=name, bank=bank, program=program, regions=[r], articulations=arts)


def bank_of(instruments, cycles=(100,)) -> dls.Collection:
    waves = [sine_wave(c) for c in cycles]
    return dls.Collection(instruments=list(instruments), waves=waves, info={"INAM": "test bank"})


def pitch(x: np.ndarray, rate: int = RATE) -> float:
    """Frequency of the strongest partial, refined by parabolic interpolation of the
    log-magnitude spectrum (good to well under a cent for a clean sine of a second)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.hanning(len(x))
    n = 1 << int(np.ceil(np.log2(len(x) * 4)))
    mag = np.abs(np.fft.rfft(x * w, n))
    k = int(np.argmax(mag[1:])) + 1
    a, b, c = np.log(mag[k - 1 : k + 2] + 1e-30)
    p = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + p) * rate / n


def cents(f: float, ref: float) -> float:
    return 1200.0 * np.log2(f / ref)


def onset(x: np.ndarray, threshold: float = 1e-4) -> int:
    """First frame whose absolute value exceeds threshold (-1 if none)."""
    idx = np.nonzero(np.abs(x) > threshold)[0]
    return int(idx[0]) if len(idx) else -1


def rms_db(x: np.ndarray) -> float:
    r = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20 * np.log10(r) if r > 0 else -np.inf


def mono(out: np.ndarray) -> np.ndarray:
    return out[:, 0].astype(np.float64) + out[:, 1].astype(np.float64)
