"""Rendering on several threads: the render thread and persistent workers share out each
segment's voices (eng_set_threads), and the output is the same, bit for bit, for every
thread count and every block size: a dense arrangement (dozens of voices, stealing,
pedals, bends, controllers, effects), random banks and event streams, and a real song
through the whole render path. Most tests make the engine share out every segment (even a
one-frame one, which it would normally render alone); on a busy machine the render thread
may still end up doing most of the work itself, so a few tests also make each thread run
exactly its own share (strict sharing) and check that the workers did their part."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlsynth.dls import constants as C
from dlsynth.dls.model import Articulation, Loop, Wave, WaveSample
from dlsynth.native.engine import CONTROL, MAX_THREADS, NOTE_OFF, NOTE_ON, PITCH_BEND, Engine
from dlsynth.synth.download import download_instrument
from .test_engine_fuzz import connection, waves
from .enginekit import RATE, WAVE_RATE, art, conn, instrument, region, render, sine_data, tc

THREADS = [1, 2, 3, 4]
BLOCKS = [1, 63, 64, 65, 4096]
DENSE_FRAMES = RATE // 2  # long enough for every voice to start, steal and end


def dense_engine(
    threads: int, effects: bool = True, interp: str = "cubic", share_all: bool = True, strict: bool = False
) -> Engine:
    """Sixteen channels of fast notes on looped mono and stereo waves with both envelopes,
    LFOs and a sweeping filter: 40 to 64 voices at once (five to eight mix groups), voices
    stolen (the limit is 64), sustain pedal, pitch bends and controller changes."""
    mono = Wave.from_pcm16(
        sine_data(0.3) // 2 + sine_data(0.3, freq=1323.0) // 4,
        WAVE_RATE,
        WaveSample(unity_note=69, loops=[Loop(0, 1000, 9000)]),
    )
    pair = np.stack([sine_data(0.25), sine_data(0.25, freq=882.0)], axis=1)
    stereo = Wave.from_pcm16(pair, 32000, WaveSample(unity_note=64, loops=[Loop(1, 500, 6000)]))
    a = art(
        conn(C.CONN_DST_FILTER_CUTOFF, 7000),
        conn(C.CONN_DST_FILTER_Q, 60),
        conn(C.CONN_DST_FILTER_CUTOFF, -2400, src=C.CONN_SRC_EG2),
        conn(C.CONN_DST_EG2_ATTACKTIME, tc(0.03), raw=True),
        conn(C.CONN_DST_EG2_DECAYTIME, tc(0.3), raw=True),
        conn(C.CONN_DST_PITCH, 30, src=C.CONN_SRC_VIBRATO, ctl=C.CONN_SRC_CC1),
        conn(C.CONN_DST_GAIN, 30, src=C.CONN_SRC_LFO),
        conn(C.CONN_DST_LFO_FREQUENCY, 600),
        conn(C.CONN_DST_EG1_ATTACKTIME, tc(0.005), raw=True),
        conn(C.CONN_DST_EG1_DECAYTIME, tc(1.0), raw=True),
        conn(C.CONN_DST_EG1_SUSTAINLEVEL, 600),
        conn(C.CONN_DST_EG1_RELEASETIME, tc(0.15), raw=True),
    )
    ins = instrument(region(0, key=(0, 63), articulations=[a]), region(1, key=(64, 127)))
    e = Engine(RATE, max_voices=64, effects=effects, interpolation=interp, threads=threads)
    if share_all:
        e.set_sharing(0, strict=strict)
    ids = [e.download_wave(w) for w in (mono, stereo)]
    iid = download_instrument(e, ins, ids)
    for ch in range(16):
        e.program(0, ch, iid)
    rng = np.random.default_rng(11)
    t = 0
    while t < DENSE_FRAMES - 2000:
        t += int(rng.integers(0, 120))
        ch = int(rng.integers(0, 16))
        key = int(rng.integers(30, 100))
        e.note_on(t, ch, key, int(rng.integers(20, 128)))
        e.note_off(t + int(rng.integers(200, 12000)), ch, key)
        if rng.random() < 0.1:
            e.control(t + 5, ch, 1, int(rng.integers(0, 128)))
            e.pitch_bend(t + 9, ch, int(rng.integers(0, 16384)))
            e.control(t + 13, ch, 11, int(rng.integers(40, 128)))
        if rng.random() < 0.03:
            e.control(t + 1, ch, 64, 127)
            e.control(t + int(rng.integers(500, 5000)), ch, 64, 0)
    return e


def dense(threads: int, block: int | None, **kw) -> tuple[np.ndarray, dict]:
    e = dense_engine(threads, **kw)
    out = render(e, DENSE_FRAMES, block=block)
    stats = e.stats()
    e.close()
    return out, stats


@pytest.fixture(scope="module")
def dense_reference():
    out, stats = dense(1, None)
    return out, stats


def test_dense_reference_is_dense(dense_reference):
    out, stats = dense_reference
    assert stats["peak_voices"] >= 40, stats
    assert stats["stolen_voices"] > 0, stats
    assert np.abs(out).max() > 0.05
    assert np.isfinite(out).all()


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("block", BLOCKS)
def test_dense_identical_for_every_thread_count_and_block(dense_reference, threads, block):
    ref, _ = dense_reference
    got, stats = dense(threads, block)
    assert got.tobytes() == ref.tobytes()
    if threads > 1:
        assert stats["parallel_segments"] > 0


@pytest.mark.parametrize("threads, block", [(2, 4096), (3, 65), (4, 64)])
def test_dense_identical_when_every_thread_runs_its_share(dense_reference, threads, block):
    ref, _ = dense_reference
    got, stats = dense(threads, block, strict=True)
    assert got.tobytes() == ref.tobytes()
    assert stats["worker_items"] > 0, "the workers never ran a piece of a segment"


@pytest.mark.parametrize("interp", ["linear", "sinc"])
@pytest.mark.parametrize("effects", [False, True])
def test_dense_identical_other_settings(interp, effects):
    ref, _ = dense(1, 4096, interp=interp, effects=effects)
    for threads, block in ((2, 65), (3, 4096), (4, 1)):
        got, _ = dense(threads, block, interp=interp, effects=effects)
        assert got.tobytes() == ref.tobytes(), (threads, block)


def test_default_sharing_threshold_gives_the_same_output(dense_reference):
    """With the normal threshold small segments render on the render thread alone and the
    others are shared out: the same bytes again."""
    ref, _ = dense_reference
    for threads, block in ((2, 4096), (4, 63)):
        got, stats = dense(threads, block, share_all=False)
        assert got.tobytes() == ref.tobytes(), (threads, block)
        assert stats["parallel_segments"] > 0


def test_thread_count_can_change_between_renders(dense_reference):
    ref, _ = dense_reference
    e = dense_engine(1)
    parts = []
    for k, n in enumerate([3000, 5000, 4096, 1, 7000]):
        assert e.set_threads([1, 3, 2, 4, 2][k]) == [1, 3, 2, 4, 2][k]
        assert e.threads == [1, 3, 2, 4, 2][k]
        parts.append(e.render(n).copy())
    parts.append(render(e, DENSE_FRAMES - sum(len(p) for p in parts), block=777))
    e.close()
    assert np.concatenate(parts).tobytes() == ref.tobytes()


def test_which_build_runs():
    """The engine under test is the build dev/sanitize.sh says it is: the TSan build (2) in
    its ThreadSanitizer pass, the ASan build (1) in its AddressSanitizer pass (which runs
    this file too), else the plain build (0)."""
    from dlsynth.native import lib

    expected = {"thread": 2, "1": 1}.get(os.environ.get("DLSYNTH_UNDER_SANITIZER", ""), 0)
    assert lib.dls_built_with_sanitizer() == expected


def test_thread_count_is_checked():
    e = Engine(RATE)
    assert e.threads == 1
    for bad in (0, -1, MAX_THREADS + 1):
        with pytest.raises(ValueError):
            e.set_threads(bad)
    assert e.set_threads(MAX_THREADS) == MAX_THREADS
    assert e.set_threads(1) == 1
    e.close()


def test_idle_engine_with_workers_renders_silence_and_closes():
    """No voices: nothing to share out; closing stops the workers (several engines)."""
    engines = [Engine(RATE, threads=4) for _ in range(3)]
    for e in engines:
        out = render(e, 5000, block=64)
        assert not out.any()
    for e in engines:
        e.close()


@settings(
    max_examples=int(os.environ.get("DLSYNTH_THREADS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    pool=st.lists(waves(), min_size=1, max_size=3),
    arts=st.lists(st.lists(connection, max_size=10), min_size=1, max_size=3),
    seed=st.integers(0, 2**31),
    interp=st.sampled_from(["linear", "cubic", "sinc"]),
    effects=st.booleans(),
)
def test_random_banks_identical_for_every_thread_count(pool, arts, seed, interp, effects):
    """Random waves, connections and loops, a random dense event stream on four channels
    (up to 40 voices): the same output for 1, 2, 3 and 4 threads and odd blocks."""
    regions = [
        region(k % len(pool), key=(0, 127), key_group=0, articulations=[Articulation(level=2, connections=conns)])
        for k, conns in enumerate(arts)
    ]
    ins = instrument(*regions)
    rng = np.random.default_rng(seed)
    events = []
    for _ in range(120):
        t = int(rng.integers(0, 7000))
        ch = int(rng.integers(0, 4))
        kind = rng.random()
        if kind < 0.6:
            events.append((t, NOTE_ON, ch, int(rng.integers(0, 128)), int(rng.integers(1, 128))))
        elif kind < 0.8:
            events.append((t, NOTE_OFF, ch, int(rng.integers(0, 128)), 0))
        elif kind < 0.9:
            events.append((t, PITCH_BEND, ch, int(rng.integers(0, 16384)), 0))
        else:
            events.append((t, CONTROL, ch, int(rng.choice([1, 7, 10, 11, 64, 91, 93])), int(rng.integers(0, 128))))

    def run(threads, block, strict=False):
        e = Engine(RATE, max_voices=40, interpolation=interp, effects=effects, threads=threads)
        e.set_sharing(0, strict=strict)
        ids = [e.download_wave(w) for w in pool]
        iid = download_instrument(e, ins, ids)
        for ch in range(4):
            e.program(0, ch, iid)
        for ev in events:
            e.push(*ev)
        out = render(e, 8000, block=block)
        e.close()
        return out

    ref = run(1, 64)
    assert np.isfinite(ref).all()
    for threads, block, strict in ((2, 1, False), (3, 63, False), (4, 65, False), (2, 4096, True)):
        assert run(threads, block, strict).tobytes() == ref.tobytes(), (threads, block, strict)


SONG = os.path.join(os.path.dirname(__file__), "data", "midi", "freedoom", "d_e1m1.mid")


def test_song_through_the_render_path_identical_for_every_thread_count(tmp_path):
    """A real song on the built-in bank through render_file (the command's path): the WAV
    data is the same for 1 to 4 threads."""
    import soundfile as sf

    from dlsynth.apps.render import load_banks, render_file

    banks = load_banks([])
    ref = None
    for threads, block in ((1, 4096), (2, 4096), (3, 65), (4, 1000)):
        out = tmp_path / f"t{threads}.wav"
        r = render_file(SONG, str(out), banks, fmt="float", max_length=6.0, threads=threads, block=block)
        assert r.error is None
        data, rate = sf.read(out, dtype="float32")
        if ref is None:
            ref = data
            assert r.peak_voices >= 8
            assert np.abs(ref).max() > 0.01
        else:
            assert data.tobytes() == ref.tobytes(), threads


def test_live_callback_identical_with_workers():
    """The live wave sink's callback (native/wavesink.c, run without a device) renders the
    engine on the audio thread; with workers (as `play --threads N` sets up) the output is
    the same as with one thread: 40 notes stamped and pushed before the first callback."""
    from dlsynth.native import ffi, lib
    from dlsynth.synth.synth import Synth

    from . import synthkit as K

    ref_time = 10_000_000  # master time of frame 0, 100 ns

    def session(threads: int, block: int) -> np.ndarray:
        synth = Synth(RATE, channel_groups=2, effects=True, gain_db=-24.0, threads=threads)
        synth.engine.set_sharing(0, strict=threads > 1)
        synth.download(K.bank_of([K.instrument("sine", 0)]))
        sink = lib.ws_create(synth.engine._ptr, 4096, 1024, 1024)
        assert sink != ffi.NULL
        lib.ws_set_mode(sink, 1, 50_000)
        lib.ws_set_time_map(sink, ref_time, 0.0, float(RATE))
        for k in range(40):  # note k on at k * 2 ms, all off at 300 ms (pushed in time order)
            assert lib.ws_midi_push_at(sink, ref_time + k * 20_000, 1, bytes([0x90 | (k % 9), 40 + k, 100]), 3)
        for k in range(40):
            assert lib.ws_midi_push_at(sink, ref_time + 3_000_000, 1, bytes([0x80 | (k % 9), 40 + k, 0]), 3)
        out, done = [], 0
        while done < 24000:
            buf = np.zeros((block, 2), dtype=np.float32)
            lib.ws_run_callback(sink, ffi.cast("float *", ffi.from_buffer(buf)), block, 0.0, 0.0)
            out.append(buf)
            done += block
        peak = synth.engine.stats()["peak_voices"]
        lib.ws_destroy(sink)
        synth.close()
        assert peak >= 30
        return np.concatenate(out)

    ref = session(1, 256)
    assert np.abs(ref).max() > 0.01
    for threads, block in ((2, 256), (3, 100)):
        got = session(threads, block)
        n = min(len(got), len(ref))
        assert got[:n].tobytes() == ref[:n].tobytes(), (threads, block)


def _cli(*args: str):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    return subprocess.run(
        [sys.executable, "-m", "dlsynth", *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_render_command_threads_option(tmp_path):
    """`dlsynth render --threads N`: the same WAV data for 1 and 3 threads; out of range,
    one line and exit status 2 (play too)."""
    import soundfile as sf

    outs = []
    for threads in (1, 3):
        out = tmp_path / f"t{threads}.wav"
        r = _cli("render", SONG, "-o", str(out), "--max-length", "3", "--threads", str(threads), "-q")
        assert r.returncode == 0, r.stderr
        outs.append(sf.read(out, dtype="int16")[0])
    assert outs[0].tobytes() == outs[1].tobytes()
    assert np.abs(outs[0]).max() > 100
    for cmd in (
        ["render", SONG, "-o", str(tmp_path / "x.wav"), "--threads", str(MAX_THREADS + 1)],
        ["play", "--no-midi-in", "--threads", "0"],
    ):
        r = _cli(*cmd)
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "--threads" in lines[0], r.stderr
