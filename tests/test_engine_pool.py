"""The sample pool keeps 16-bit samples (int16, with guard frames and loop seam images) and
the interpolators convert them to float as they read them. Since s / 32768 is exact in
float32, the output is what the float32 pool gave, bit for bit:

* every interpolation, on every kind of playback buffer (no loop, loops from 1 frame to
  long ones, loops from frame 0, 8-bit and stereo waves) and at phase increments on both
  sides of the kernels' path changes (6/7 and 1 frame per output), matches a float64
  NumPy model of the interpolator on the float samples within POOL_REF_TOL_DB;
* a busy render of all three interpolations hashes to the digest recorded with the float32
  pool (the engine before the int16 pool), with the AVX2 kernels and with the SSE2 ones;
* ``sample_bytes`` counts 2 bytes a sample: each channel's frames plus 16 guard frames, plus
  a 32-sample seam image per channel of a long loop (two full images for a short one);
* downloading from dls.read's file mapping gives the mapping's pages back (they would
  otherwise be resident next to the pool), and never touches a private or writable map;
  once a background download has put every instrument in the engine, none of the file's
  pages (chunk headers and articulation included) stay resident;
* the engine's fixed tables (sized for its limits: megabytes) cost memory only where they
  are written: a new engine adds less than NEW_ENGINE_MAX_BYTES to the RSS.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlsynth.dls import constants as C
from dlsynth.dls.model import Loop, Wave, WaveSample
from dlsynth.synth.download import download_instrument
from .enginekit import RATE, instrument, region, render, setup

# A correct pool and kernel differ from the float64 model only by float32 rounding (about
# -140 dB); one wrong sample in a tap is a 16-bit step, -90 dB or more.
POOL_REF_TOL_DB = -120.0
# What a new engine (256 voices, 16 channel groups, default limits) may add to the RSS: its
# voices, buses and tables, sized for the limits, come to more than 10 MB, but only the
# parts written at creation (channel state, the sinc table, the effects' lines) are resident
# (0.28 MB measured; 2.8 MB when they came from calloc).
NEW_ENGINE_MAX_BYTES = 1_000_000
# Frames skipped before comparing: the gains ramp in over the first plan after note-on.
SETTLE = 256
FRAMES = 6000

# sha256 of float_pool_render(), recorded with the engine whose pool held float32 samples
# (commit b799814). The int16 pool must reproduce it exactly, on both SIMD paths. If a
# deliberate change to the engine's arithmetic changes it, re-record it and say why.
# Re-recorded once: two-channel voices send both channels at the full reverb and chorus send
# (no longer half; the busy engine's stereo wave plays with effects on). With the old halving
# put back, the engine of this commit reproduces the float32 pool's hash a6ecff9a...7f.
# Re-recorded again (was fc8d589e...af): voices are mixed in fixed groups of eight, each
# summed on its own and the groups then summed in order (so that any number of render
# threads gives the same output), which changes the rounding of the busy engine's sums of
# more than eight voices (by at most 1.2e-7); the single-voice renders hash as before.
# Re-recorded a third time (was d7b029c2...eb): the active list sheds its ended voices at
# multiples of ENG_RUN and before events, not at every control tick (so that mix groups
# render whole runs of ticks between hand-outs), which regroups the busy engine's sums
# again (by at most 1.2e-7, measured); the single-voice renders hash as before.
# Re-recorded a fourth time (was 3f8ed6d4...fd8): the reverb and chorus sum their eight lines
# and taps in the order an eight-lane vector reduces them (fx_sum8, for their AVX2 forms),
# which changes the busy engine's effect returns by at most 6.0e-8 (-143 dB below its peak,
# measured); the dry renders hash as before.
FLOAT_POOL_SHA256 = "b5f44c95b8c16f3a62d0e5b9fb075cfe748608f077cc9e13207761172210124a"

GUARD = 8  # ENG_GUARD: frames either side of every buffer; the phase starts at GUARD
SEAM = 8  # ENG_SEAM
SEAM_MIN_LOOP = 32  # ENG_SEAM_MIN_LOOP

# (name, loop (start, length) or None): every way a voice reads its buffers
LOOPS = [
    ("no-loop", None),
    ("long", (700, 1500)),
    ("long-from-0", (0, 900)),
    ("seam-min", (400, SEAM_MIN_LOOP)),
    ("short-31", (400, SEAM_MIN_LOOP - 1)),
    ("short-5", (300, 5)),
    ("short-1", (250, 1)),
    ("short-from-0", (0, 20)),
    ("to-the-end", (1000, 2000)),
]
# wave rates at a 48 kHz engine: phase increments of 0.459, 0.854 (< 6/7), 0.919, exactly
# 1, 1.083, exactly 2 and 14.7 frames per output
WAVE_RATES = [22050, 41000, 44100, 48000, 52000, 96000, 705600]


def _data(frames: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(-32768, 32768, size=(frames, channels), dtype=np.int64)
    x[:, 0] = np.clip(x[:, 0] // 2 + (np.arange(frames) % 97) * 300 - 14000, -32768, 32767)  # not only noise
    return x.astype(np.int16)


def make_wave(loop, rate: int, channels: int = 1, bits: int = 16, frames: int = 3000, seed: int = 1) -> Wave:
    loops = [Loop(C.WLOOP_TYPE_FORWARD, loop[0], loop[1])] if loop else []
    ws = WaveSample(unity_note=60, loops=loops)
    data = _data(frames, channels, seed)
    if bits == 8:
        return Wave.from_pcm8(((data.astype(np.int32) >> 8) + 128).astype(np.uint8), rate, ws)
    return Wave.from_pcm16(data, rate, ws)


def float_samples(w: Wave) -> np.ndarray:
    d = np.asarray(w.data)
    if d.dtype == np.uint8:
        d = (d.astype(np.int32) - 128) * 256
    return d.astype(np.float64) / 32768.0


def sinc_table() -> np.ndarray:
    """eng_sinc_table: 1024 rows of 8 Kaiser-windowed sinc taps (offsets -3..4)."""
    beta, cutoff, taps, phases = 6.0, 0.94, 8, 1024
    f = np.arange(phases)[:, None] / phases
    x = np.arange(taps)[None, :] - 3.0 - f
    s = np.sinc(cutoff * x)
    wx = x / (taps / 2.0)
    w = np.where(np.abs(wx) >= 1.0, 0.0, np.i0(beta * np.sqrt(np.clip(1.0 - wx * wx, 0.0, None))) / np.i0(beta))
    row = s * w
    return (row / row.sum(axis=1, keepdims=True)).astype(np.float32).astype(np.float64)


def reference(x: np.ndarray, loop, inc: int, n: int, interp: str, tab: np.ndarray) -> np.ndarray:
    """The engine's playback of one channel x (float samples) at phase increment inc
    (32.32 frames per output), n outputs from note-on: the float64 model."""
    frames = len(x)
    one = 1 << 32
    if loop is None:
        state, lim = "end", frames * one
    elif loop[0] == 0:
        state, lim = "loop", loop[1] * one
    else:
        state, lim = "pre", loop[0] * one
    start, length = loop or (0, 0)
    wrapped = False
    p = 0
    out = np.zeros(n)

    def tap(j: int) -> float:
        if state != "loop":
            return x[j] if 0 <= j < frames else 0.0
        if not wrapped and j < 0:
            return x[start + j] if start + j >= 0 else 0.0
        return x[start + j % length]

    for k in range(n):
        while p >= lim and state != "done":
            if state == "pre":
                p -= start * one
                state, lim, wrapped = "loop", length * one, False
            elif state == "loop":
                p -= length * one
                if p >= lim:
                    p %= length * one
                wrapped = True
            else:
                state = "done"
        if state == "done":
            break
        i = p >> 32
        fr = ((p & 0xFFFFFFFF) >> 8) / 16777216.0
        if interp == "linear":
            y = tap(i) + fr * (tap(i + 1) - tap(i))
        elif interp == "cubic":
            xm1, x0, x1, x2 = tap(i - 1), tap(i), tap(i + 1), tap(i + 2)
            c1 = 0.5 * (x1 - xm1)
            c2 = xm1 - 2.5 * x0 + 2.0 * x1 - 0.5 * x2
            c3 = 0.5 * (x2 - xm1) + 1.5 * (x0 - x1)
            y = ((c3 * fr + c2) * fr + c1) * fr + x0
        else:
            c = tab[(p & 0xFFFFFFFF) >> 22]
            y = float(sum(c[t] * tap(i - 3 + t) for t in range(8)))
        out[k] = y
        p += inc
    return out


def play(wave: Wave, interp: str, frames: int = FRAMES) -> np.ndarray:
    ins = instrument(region(0))
    e, _ = setup(ins, [wave], interpolation=interp)
    e.note_on(0, 0, 60, 127)
    out = render(e, frames, block=61)
    e.close()
    return out


def check_against_reference(out: np.ndarray, refs: list[np.ndarray]) -> None:
    for ch in range(2):
        y = out[SETTLE:, ch].astype(np.float64)
        r = refs[ch][SETTLE : len(out)]
        if not r.any():  # the voice ended before SETTLE (a short wave played fast)
            assert not y.any()
            continue
        g = float(np.dot(y, r) / np.dot(r, r))
        assert g > 0.0
        err = np.abs(y - g * r).max() / np.abs(y).max()
        err_db = 20 * np.log10(max(err, 1e-30))
        assert err_db <= POOL_REF_TOL_DB, f"channel {ch}: {err_db:.1f} dB"


@pytest.mark.parametrize("interp", ["linear", "cubic", "sinc"])
@pytest.mark.parametrize("name,loop", LOOPS, ids=[n for n, _ in LOOPS])
def test_mono_16_bit_matches_the_float_reference(interp, name, loop):
    tab = sinc_table()
    for rate in WAVE_RATES:
        w = make_wave(loop, rate)
        inc = int(rate / RATE * 4294967296.0 + 0.5)
        ref = reference(float_samples(w)[:, 0], loop, inc, FRAMES, interp, tab)
        check_against_reference(play(w, interp), [ref, ref])


@pytest.mark.parametrize("interp", ["linear", "cubic", "sinc"])
def test_8_bit_and_stereo_waves_match_the_float_reference(interp):
    tab = sinc_table()
    for rate in (22050, 44100, 52000):
        for loop in ((700, 1500), (300, 5), None):
            inc = int(rate / RATE * 4294967296.0 + 0.5)
            w8 = make_wave(loop, rate, bits=8, seed=2)
            ref = reference(float_samples(w8)[:, 0], loop, inc, FRAMES, interp, tab)
            check_against_reference(play(w8, interp), [ref, ref])
            st = make_wave(loop, rate, channels=2, seed=3)
            x = float_samples(st)
            refs = [reference(x[:, c], loop, inc, FRAMES, interp, tab) for c in range(2)]
            check_against_reference(play(st, interp), refs)


def test_sample_bytes_counts_int16_samples_guards_and_seams():
    from dlsynth.native.engine import Engine

    e = Engine(RATE, effects=False)
    expected = 0
    waves = []
    for (name, loop), ch in zip(LOOPS, [1, 2, 1, 1, 2, 1, 1, 1, 1]):
        w = make_wave(loop, 44100, channels=ch)
        waves.append((w, loop))
        e.download_wave(w)
        expected += 2 * (3000 + 2 * GUARD) * ch
    assert e.stats()["sample_bytes"] == expected
    ids = list(range(len(waves)))
    for i, (w, loop) in enumerate(waves):
        download_instrument(e, instrument(region(i)), ids)
        if loop is not None:
            ch = w.data.shape[1]
            if loop[1] >= SEAM_MIN_LOOP:
                expected += 2 * 2 * (SEAM + GUARD) * ch
            else:
                expected += 2 * 2 * (loop[1] + 2 * GUARD) * ch
    assert e.stats()["sample_bytes"] == expected
    e.close()


def float_pool_render() -> bytes:
    """The renders FLOAT_POOL_SHA256 was recorded from: the busy engine of
    test_engine_blocks (every time-varying feature, stereo and mono, odd blocks) and every
    loop kind at three phase increments, for each interpolation."""
    from .test_engine_blocks import TOTAL, busy_engine

    h = hashlib.sha256()
    for interp in ("linear", "cubic", "sinc"):
        h.update(render(busy_engine(interp, True), TOTAL, block=77).tobytes())
        for rate in (22050, 44100, 96000):
            for _, loop in LOOPS:
                h.update(play(make_wave(loop, rate), interp, 3000).tobytes())
            h.update(play(make_wave((300, 5), rate, bits=8, seed=2), interp, 3000).tobytes())
            h.update(play(make_wave((700, 1500), rate, channels=2, seed=3), interp, 3000).tobytes())
    return h.digest()


def test_output_is_the_float_pools_bit_for_bit_on_both_simd_paths():
    code = "from tests.test_engine_pool import float_pool_render\nprint(float_pool_render().hex())\n"
    root = Path(__file__).resolve().parent.parent
    for no_avx2 in (False, True):
        env = dict(os.environ)
        env.pop("DLSYNTH_NO_AVX2", None)
        if no_avx2:
            env["DLSYNTH_NO_AVX2"] = "1"
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == FLOAT_POOL_SHA256, f"DLSYNTH_NO_AVX2={int(no_avx2)}"


def _resident_pages(arr: np.ndarray) -> int:
    """How many of the pages under arr are mapped in this process (/proc/self/pagemap)."""
    import mmap as _mmap

    page = _mmap.PAGESIZE
    addr = arr.__array_interface__["data"][0]
    first, last = addr // page, (addr + arr.nbytes - 1) // page
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(first * 8)
        raw = f.read((last - first + 1) * 8)
    return int(np.count_nonzero(np.frombuffer(raw, "<u8") >> 63))


@pytest.mark.skipif(not os.path.exists("/proc/self/pagemap"), reason="needs Linux /proc/self/pagemap")
def test_download_gives_back_the_file_pages_of_a_mapped_bank(tmp_path):
    """dls.read maps the file; after a download the pool holds the samples and the map's
    pages under the wave are no longer resident in the process, while the data still reads
    back the same (from the page cache)."""
    from dlsynth import dls
    from dlsynth.dls.model import Collection
    from dlsynth.native.engine import Engine

    data = _data(400_000, 1, 5)[:, 0]
    col = Collection(instruments=[instrument(region(0))], waves=[Wave.from_pcm16(data, 44100, WaveSample())])
    path = tmp_path / "big.dls"
    path.write_bytes(dls.write(col))
    got = dls.read(str(path))
    w = got.waves[0]
    assert int(np.abs(w.data[:, 0].astype(np.int64)).sum()) > 0  # touch every page
    before = _resident_pages(w.data)
    assert before > 0
    e = Engine(RATE, effects=False)
    e.download_wave(w)
    assert _resident_pages(w.data) < max(1, before // 20)
    assert np.array_equal(w.data[:, 0], data)
    e.close()


def test_download_leaves_private_or_writable_mappings_alone(tmp_path):
    """Only a read-only shared file mapping is released: a copy-on-write map's changes stay."""
    import mmap as _mmap

    from dlsynth.native.engine import Engine

    path = tmp_path / "raw.bin"
    path.write_bytes(_data(200_000, 1, 6).tobytes())
    with open(path, "r+b") as f:
        mm = _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_COPY)
    arr = np.frombuffer(mm, np.int16)
    arr[::1000] = 1234  # private changes, in this process only
    ro = np.frombuffer(memoryview(mm).toreadonly(), np.int16)
    e = Engine(RATE, effects=False)
    for view in (arr, ro):
        e.download_wave(Wave.from_pcm16(np.zeros(1, np.int16), 44100, WaveSample()))  # the pool works as usual
        w = Wave.from_pcm16(np.zeros(1, np.int16), 44100, WaveSample())
        w.data = view[:, None]
        e.download_wave(w)
        assert (view[::1000] == 1234).all()
    e.close()
    del arr, ro


def _with_program(ins, program: int):
    ins.program = program
    return ins


@pytest.mark.skipif(not os.path.exists("/proc/self/pagemap"), reason="needs Linux /proc/self/pagemap")
@pytest.mark.parametrize("how", ["background", "prepare"])
def test_a_synths_downloads_leave_none_of_the_banks_pages_resident(tmp_path, how):
    """A render's prepare and live play's background download both end with every page of
    the bank's file mapping given back (chunk headers and articulation included), in one
    call per bank after each batch."""
    from dlsynth import dls
    from dlsynth.dls.model import Collection
    from dlsynth.synth.synth import Synth

    col = Collection(
        instruments=[_with_program(instrument(region(0)), 0), _with_program(instrument(region(1)), 1)],
        waves=[Wave.from_pcm16(_data(100_000, 1, s)[:, 0], 44100, WaveSample()) for s in (7, 8)],
    )
    path = tmp_path / "bank.dls"
    path.write_bytes(dls.write(col))
    got = dls.read(str(path))
    whole = np.frombuffer(got.mapping, np.uint8)
    assert int(whole.sum(dtype=np.int64)) > 0  # touch every page
    assert _resident_pages(whole) > 0
    synth = Synth(effects=False)
    if how == "background":
        synth.download_in_background(got)
        while not synth.download_some(0.1):
            pass
    else:
        synth.download(got, lazy=True)
        assert int(whole.sum(dtype=np.int64)) > 0  # touched again after the download's own release
        synth.prepare([0, 1])  # the patch keys of programs 0 and 1, bank 0
        assert synth.engine.stats()["instruments"] == 2
    assert _resident_pages(whole) == 0
    assert np.array_equal(got.waves[1].data[:, 0], col.waves[1].data[:, 0])  # still reads, from the cache
    synth.close()


@pytest.mark.skipif(not os.path.exists("/proc/self/pagemap"), reason="needs Linux /proc/self/pagemap")
def test_reading_an_instrument_whose_wave_is_in_the_pool_gives_the_pages_back_too(tmp_path):
    """An instrument whose only wave another one brought into the pool copies no samples, but
    its regions and articulation are read from the file: the pages are given back then too
    (0.6 MB of FluidR3's map stayed resident after a full download when only copies did)."""
    from dlsynth import dls
    from dlsynth.dls.model import Collection
    from dlsynth.synth.synth import Synth

    col = Collection(
        instruments=[_with_program(instrument(region(0)), 0), _with_program(instrument(region(0)), 1)],
        waves=[Wave.from_pcm16(_data(100_000, 1, 9)[:, 0], 44100, WaveSample())],
    )
    path = tmp_path / "bank.dls"
    path.write_bytes(dls.write(col))
    got = dls.read(str(path))
    whole = np.frombuffer(got.mapping, np.uint8)
    synth = Synth(effects=False)
    synth.download(got, lazy=True)
    synth.prepare([0])
    assert synth.engine.stats()["waves"] == 1
    assert int(whole.sum(dtype=np.int64)) > 0  # resident again (as any read of the file leaves it)
    assert _resident_pages(whole) > 0
    synth.prepare([1])  # program 1: the same wave, already in the pool
    assert synth.engine.stats()["instruments"] == 2 and synth.engine.stats()["waves"] == 1
    assert _resident_pages(whole) == 0
    synth.close()


def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc/self/status")
def test_a_new_engines_tables_cost_memory_only_where_written():
    from dlsynth.native.engine import Engine

    Engine(RATE, channel_groups=16).close()  # the code paths and their first allocations
    before = _rss_bytes()
    engines = [Engine(RATE, channel_groups=16) for _ in range(4)]
    grown = (_rss_bytes() - before) / len(engines)
    for e in engines:
        e.close()
    assert grown < NEW_ENGINE_MAX_BYTES, f"a new engine took {grown / 1e6:.2f} MB of RSS"
