"""Broken, truncated and hostile SoundFonts: only DLSError, never another exception, a hang
or a crash; and what reads also plays, without NaN or Inf.

A bounded fuzz run (FUZZ_CASES mutations of small banks built here, fixed seed, so CI sees
the same cases every time) and hypothesis properties: random bytes behind an sfbk header,
single byte changes, and banks whose structure is right but whose every generator and
modulator amount is arbitrary. Set DLSYNTH_SF2_FUZZ_CASES to run longer locally.
"""

from __future__ import annotations

import io
import os
import struct
import time
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlsynth import dls
from dlsynth.dls.soundfont import generators as G

from . import sf2build as B

FUZZ_CASES = int(os.environ.get("DLSYNTH_SF2_FUZZ_CASES", "400"))
MAX_SECONDS_PER_CASE = 1.0  # to read (or refuse) one small mutated bank
PLAY_KEYS = (36, 60, 96)
PLAY_VELOCITIES = (1, 100, 127)
PLAY_FRAMES = 480  # 10 ms a note at 48 kHz
MAX_PLAYED_INSTRUMENTS = 4


def _ogg(n: int = 4410) -> bytes:
    import soundfile as sf

    bio = io.BytesIO()
    sf.write(bio, (B.sine(n, 50).astype(np.float32) / 32768.0), 44100, format="OGG", subtype="VORBIS")
    return bio.getvalue()


def _seeds() -> list[bytes]:
    short = B.Sample("s", B.sine(300, 10), root=60, loop=(20, 280))
    left = B.Sample("L", B.sine(300, 10), type=4, link=2, loop=(0, 300))
    right = B.Sample("R", B.sine(300, 10), type=2, link=1, loop=(0, 300))
    mods = [
        (0x0081, G.VIB_LFO_TO_PITCH, 0, 0, 0),
        (0x0502, G.INITIAL_FILTER_FC, -1000, 0, 0),
        (0x0082, G.INITIAL_ATTENUATION, 200, 0x0102, 2),
        (0x000D, G.MOD_LFO_TO_PITCH, 20, 0, 0),
    ]
    rich = B.sf2(
        [
            B.Preset("P0", 0, 0, [B.Zone({G.COARSE_TUNE: 1, G.PAN: 100}), B.Zone({G.KEY_RANGE: (0, 80)}, 0, mods[:1])]),
            B.Preset("Drums", 128, 0, [B.Zone({}, 1)]),
            B.Preset("P5", 0, 5, [B.Zone({G.VEL_RANGE: (10, 100)}, 0), B.Zone({}, 1)]),
        ],
        [
            B.Instrument(
                "I0",
                [
                    B.Zone({G.SAMPLE_MODES: 1, G.DECAY_VOL_ENV: 100, G.SUSTAIN_VOL_ENV: 300}),
                    B.Zone({G.KEY_RANGE: (0, 60), G.INITIAL_FILTER_FC: 5000, G.INITIAL_FILTER_Q: 120}, 0, mods),
                    B.Zone({G.KEY_RANGE: (61, 127), G.SAMPLE_MODES: 3, G.START_ADDRS_OFFSET: 5}, 0),
                ],
            ),
            B.Instrument("I1", [B.Zone({G.PAN: -500, G.EXCLUSIVE_CLASS: 1}, 1), B.Zone({G.PAN: 500, G.KEYNUM: 60}, 2)]),
        ],
        [short, left, right],
    )
    sf3 = B.sf2(
        [B.Preset("P", 0, 0, [B.Zone({}, 0)])],
        [B.Instrument("I", [B.Zone({G.SAMPLE_MODES: 1}, 0)])],
        [B.Sample("ogg", None, type=0x11, vorbis=_ogg(), loop=(0, 4000))],
        version=(3, 1),
    )
    return [rich, B.one_sine_bank(frames=441, cycles=10), sf3, B.one_sine_bank(frames=441, cycles=10, sm24=True)]


SEEDS = _seeds()


def _mutate(rng: np.random.Generator, data: bytes) -> bytes:
    b = bytearray(data)
    n = len(b)
    if n < 16:
        return bytes(b) + rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    pdta = data.rfind(b"pdta")
    lo = min(pdta, n - 8) if pdta > 0 and rng.random() < 0.7 else 0  # most mutations hit the preset data
    kind = int(rng.integers(0, 7))
    if kind == 0:  # flip bits
        for _ in range(int(rng.integers(1, 8))):
            i = int(rng.integers(lo, n))
            b[i] ^= 1 << int(rng.integers(0, 8))
    elif kind == 1:  # an extreme 16- or 32-bit value (indices, amounts, sizes)
        i = int(rng.integers(lo, max(lo + 1, n - 4)))
        if rng.random() < 0.5:
            struct.pack_into("<H", b, i, int(rng.choice([0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF])))
        else:
            struct.pack_into("<I", b, i, int(rng.choice([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, n, n * 2])))
    elif kind == 2:  # truncate
        del b[int(rng.integers(0, n)) :]
    elif kind == 3:  # a chunk size
        spots = [i for i in range(0, n - 8) if all(32 <= c < 127 for c in b[i : i + 4])]
        if spots:
            i = spots[int(rng.integers(0, len(spots)))]
            old = struct.unpack_from("<I", b, i + 4)[0]
            struct.pack_into("<I", b, i + 4, max(0, old + int(rng.integers(-40, 40))) & 0xFFFFFFFF)
    elif kind == 4:  # duplicate a slice
        i = int(rng.integers(lo, n))
        b[i:i] = b[i : min(n, i + int(rng.integers(1, 64)))]
    elif kind == 5:  # garbage
        i = int(rng.integers(lo, n))
        b[i : i + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    else:  # a generator record: random operator and amount
        i = lo + 4 * int(rng.integers(0, max(1, (n - lo) // 4)))
        if i + 4 <= n:
            struct.pack_into("<HH", b, i, int(rng.integers(0, 70)), int(rng.integers(0, 65536)))
    return bytes(b)


def _play(col: dls.Collection) -> None:
    """A few keys and velocities of the first instruments: every sample finite."""
    from dlsynth.synth.synth import Synth

    s = Synth(48000, effects=True, gain_db=0.0)
    try:
        s.download(col, lazy=False)
        for ins in col.instruments[:MAX_PLAYED_INSTRUMENTS]:
            ch = 9 if ins.is_drum else 0
            t = s.position
            s.short_message(t, 1, 0xB0 | ch, 0, ins.bank_msb)
            s.short_message(t, 1, 0xB0 | ch, 32, ins.bank_lsb)
            s.short_message(t, 1, 0xC0 | ch, ins.program, 0, 2)
            for key in PLAY_KEYS:
                for vel in PLAY_VELOCITIES:
                    t = s.position
                    s.short_message(t, 1, 0x90 | ch, key, vel)
                    out = s.render(frames=PLAY_FRAMES)
                    s.short_message(s.position, 1, 0x80 | ch, key, 0)
                    out2 = s.render(frames=PLAY_FRAMES)
                    assert np.all(np.isfinite(out)) and np.all(np.isfinite(out2)), (ins.name, key, vel)
    finally:
        s.close()


def _read_only_dlserror(data: bytes, play: bool = False) -> dls.Collection | None:
    t0 = time.perf_counter()
    try:
        col = dls.read(data)
    except dls.DLSError as exc:
        assert str(exc) and "\n" not in str(exc)
        col = None
    else:
        from dlsynth.dls.describe import describe

        describe(col)
        col.load_all()
    assert time.perf_counter() - t0 < MAX_SECONDS_PER_CASE
    if col is not None and play:
        _play(col)
    return col


def test_seeds_read_and_play():
    for data in SEEDS:
        col = _read_only_dlserror(data, play=True)
        assert col is not None and col.instruments


def test_bounded_fuzz_run():
    rng = np.random.default_rng(20261201)
    read = 0
    for case in range(FUZZ_CASES):
        data = SEEDS[case % len(SEEDS)]
        for _ in range(int(rng.integers(1, 4))):
            data = _mutate(rng, data)
        try:
            col = _read_only_dlserror(data, play=case % 2 == 0)
            read += col is not None
        except AssertionError:
            raise
        except Exception as exc:  # pragma: no cover - the failure report
            path = Path(os.environ.get("TMPDIR", "/tmp")) / f"dlsynth-sf2-fuzz-case-{case}.sf2"
            path.write_bytes(data)
            raise AssertionError(f"case {case}: {exc.__class__.__name__}: {exc} (input saved to {path})") from exc
    assert read > FUZZ_CASES // 10  # the run exercises the reader, not only its first check


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_behind_an_sfbk_header(body):
    _read_only_dlserror(b"RIFF" + struct.pack("<I", len(body) + 4) + b"sfbk" + body)


@settings(max_examples=200, deadline=None)
@given(seed=st.sampled_from(range(len(SEEDS))), pos=st.integers(0, 10**6), value=st.integers(0, 255))
def test_any_single_byte_change(seed, pos, value):
    data = bytearray(SEEDS[seed])
    data[pos % len(data)] = value
    _read_only_dlserror(bytes(data))


_amount = st.integers(-32768, 32767)
_gens = st.dictionaries(
    st.integers(0, 60).filter(lambda g: g not in (G.INSTRUMENT, G.SAMPLE_ID, G.KEY_RANGE, G.VEL_RANGE)),
    _amount,
    max_size=12,
)
_range = st.tuples(st.integers(0, 255), st.integers(0, 255))
_mod = st.tuples(st.integers(0, 65535), st.integers(0, 65535), _amount, st.integers(0, 65535), st.integers(0, 65535))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    igens=_gens,
    pgens=_gens,
    krange=_range,
    vrange=_range,
    mods=st.lists(_mod, max_size=4),
    pmods=st.lists(_mod, max_size=3),
)
def test_any_generator_and_modulator_amounts_read_and_play(igens, pgens, krange, vrange, mods, pmods):
    igens = {**igens, G.KEY_RANGE: krange}
    pgens = {**pgens, G.VEL_RANGE: vrange}
    data = B.one_sine_bank(igens, pgens, frames=441, cycles=10, mods=mods, pmods=pmods)
    col = _read_only_dlserror(data, play=True)
    if col is None:
        return
    for ins in col.instruments:
        for r in ins.regions:
            assert 0 <= r.key_low <= r.key_high <= 127 and 0 <= r.vel_low <= r.vel_high <= 127
            w = col.waves[r.wave_link.table_index]
            assert w.frames >= 1
            for lp in r.wave_sample.loops:
                assert lp.start >= 0 and lp.length >= 1 and lp.start + lp.length <= w.frames


def test_huge_chunks_beyond_what_the_indices_reach_cost_nothing():
    """A pbag or igen of millions of records no index points into: read in no time, no memory."""
    import tracemalloc

    big = 4 * 2_000_000
    data = B.one_sine_bank(
        raw={
            "pbag": struct.pack("<HHHH", 0, 0, 1, 0) + bytes(big),
            "igen": struct.pack("<HH", G.SAMPLE_MODES, 1) + struct.pack("<HH", G.SAMPLE_ID, 0) + bytes(big),
        }
    )
    tracemalloc.start()
    t0 = time.perf_counter()
    col = dls.read(data)
    col.load_all()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(col.instruments[0].regions) == 1
    assert time.perf_counter() - t0 < MAX_SECONDS_PER_CASE
    assert peak < 20_000_000  # bytes: far less than the chunks' 16 MB, let alone a table per record
