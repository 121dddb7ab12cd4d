"""Shared helpers for the engine tests (tests/test_engine_*.py): small banks built inline from
dls.model objects, rendering helpers and measurements. Holds no tests itself."""

from __future__ import annotations

import math

import numpy as np

from dlsynth.dls import constants as C
from dlsynth.dls.model import Articulation, Connection, Instrument, Loop, Region, Wave, WaveLink, WaveSample
from dlsynth.native.engine import Engine
from dlsynth.synth.download import download_instrument

RATE = 48000
WAVE_RATE = 44100
F0 = 441.0  # 100 samples per cycle at 44.1 kHz: loops of whole cycles are seamless

# Tolerances named once for every engine test.
PITCH_TOL_CENTS = 1.0
TIME_TOL_S = 0.001  # envelope segment times: within 1 ms ...
TIME_TOL_REL = 0.01  # ... or 1 %
LEVEL_TOL_DB = 0.1
FRAME_TOL = 1  # events start within one frame


def time_ok(measured: float, expected: float) -> bool:
    return abs(measured - expected) <= max(TIME_TOL_S, TIME_TOL_REL * expected)


def tc(seconds: float) -> int:
    """Seconds as a DLS 32-bit time value (timecents * 65536)."""
    if seconds <= 0:
        return -0x80000000
    return int(round(1200.0 * math.log2(seconds) * 65536))


def abs_cents(hz: float) -> int:
    """Hz as a DLS 32-bit absolute pitch."""
    return int(round((6900.0 + 1200.0 * math.log2(hz / 440.0)) * 65536))


def conn(dst: int, value: float, src: int = 0, ctl: int = 0, trn: int = 0, raw: bool = False) -> Connection:
    """A connection; value in the destination's units (multiplied by 65536) unless raw."""
    return Connection(src, ctl, dst, trn, int(value) if raw else int(round(value * 65536)))


def art(*conns: Connection, level: int = 2) -> Articulation:
    return Articulation(level=level, connections=list(conns))


def sine_data(seconds: float = 1.0, freq: float = F0, amp: float = 0.5, rate: int = WAVE_RATE) -> np.ndarray:
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    return np.round(np.sin(2 * np.pi * freq * t) * amp * 32767).astype(np.int16)


def sine_wave(seconds: float = 1.0, unity: int = 69, loop: bool = True, amp: float = 0.5, fine: int = 0) -> Wave:
    data = sine_data(seconds, amp=amp)
    loops = [Loop(C.WLOOP_TYPE_FORWARD, 1000, len(data) - 2000)] if loop else []
    return Wave.from_pcm16(data, WAVE_RATE, WaveSample(unity_note=unity, fine_tune=fine, loops=loops))


def dc_wave(
    seconds: float = 1.0,
    value: int = 16384,
    loop_type: int | None = C.WLOOP_TYPE_FORWARD,
    loop: tuple[int, int] | None = None,
    tail: int | None = None,
) -> Wave:
    """A constant wave: the output is the envelope times the gains. tail: a different value
    after the loop (to see a release loop play on)."""
    n = int(round(seconds * WAVE_RATE))
    data = np.full(n, value, dtype=np.int16)
    loops = []
    if loop_type is not None:
        start, length = loop if loop else (100, n - 200)
        loops = [Loop(loop_type, start, length)]
        if tail is not None:
            data[start + length :] = tail
    return Wave.from_pcm16(data, WAVE_RATE, WaveSample(unity_note=60, loops=loops))


def instrument(*regions: Region, articulations=None, name: str = "test") -> Instrument:
    return Instrument(name=name, regions=list(regions) or [Region()], articulations=list(articulations or []))


def region(
    table_index: int = 0,
    key=(0, 127),
    vel=(0, 127),
    articulations=None,
    wave_sample=None,
    key_group=0,
    options=0,
    channel=C.WAVELINK_CHANNEL_LEFT,
    link_options=0,
    phase_group=0,
) -> Region:
    return Region(
        key_low=key[0],
        key_high=key[1],
        vel_low=vel[0],
        vel_high=vel[1],
        options=options,
        key_group=key_group,
        wave_link=WaveLink(table_index=table_index, options=link_options, phase_group=phase_group, channel=channel),
        wave_sample=wave_sample,
        articulations=list(articulations or []),
    )


def setup(ins: Instrument, waves: list[Wave], channels=(0,), effects: bool = False, **kw) -> tuple[Engine, int]:
    e = Engine(RATE, effects=effects, **kw)
    ids = [e.download_wave(w) for w in waves]
    iid = download_instrument(e, ins, ids)
    for ch in channels:
        e.program(0, ch, iid)
    return e, iid


def render(e: Engine, frames: int, block: int | None = None) -> np.ndarray:
    if not block:
        return e.render(frames)
    parts = []
    done = 0
    while done < frames:
        k = min(block, frames - done)
        parts.append(e.render(k).copy())
        done += k
    return np.concatenate(parts) if parts else np.zeros((0, 2), np.float32)


def peak_freq(x: np.ndarray, rate: int = RATE) -> float:
    """Frequency of the strongest component: windowed, zero-padded FFT with a Gaussian
    (parabolic in log magnitude) peak fit."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    n = 1 << int(math.ceil(math.log2(len(x) * 8)))
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    k = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-300)
    d = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + d) * rate / n


def cents(f: float, ref: float) -> float:
    return 1200.0 * math.log2(f / ref)


def db(x: float) -> float:
    return 20.0 * math.log10(x)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


# The compliance test's bank (SpessaSynth's DLS conversion of an SF2 test bank).
SPEC_BANK = "tests/data/sf-spec-test/sf_spec_test.dls"
_spec_cache: dict = {}


def spec_bank():
    """The sf_spec_test DLS collection, read once."""
    if "col" not in _spec_cache:
        import pathlib

        from dlsynth.dls.reader import read

        _spec_cache["col"] = read(pathlib.Path(__file__).resolve().parent.parent / SPEC_BANK)
    return _spec_cache["col"]


def setup_spec(program: int, effects: bool = False, **kw) -> tuple[Engine, int]:
    """An engine with program `program` (bank 0) of the sf_spec_test bank on channel 0."""
    col = spec_bank()
    e = Engine(RATE, effects=effects, **kw)
    ids = e.download_waves(col.waves)
    iid = download_instrument(e, col.find_instrument(0, program), ids)
    e.program(0, 0, iid)
    return e, iid
