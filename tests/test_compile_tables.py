"""synth.compile_tables: compile_instrument over whole tables gives, bit for bit, what the
region-by-region compile gave (tests/compile_reference.py): regions, connection lists and
their sharing, wave ids and warnings, on real banks and on fuzzed instruments that hit
every rule (level-1 transforms and LFO, the gain and key-time fixes, the side-pan rule,
stereo pairs, missing waves, wsmp fallback, loops, empty velocity ranges, drums, SF2
defaults), plus the paths taken only when hashes collide or a list splits two ways."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlsynth import dls
from dlsynth.dls import constants as C
from dlsynth.dls.model import Articulation, Connection, Instrument, Loop, Region, Wave, WaveLink, WaveSample
from dlsynth.synth import compile_tables as T
from dlsynth.synth.download import (
    DEFAULT_CONNECTIONS,
    DEFAULT_CONNECTIONS_SF2_ORIGIN,
    compile_instrument,
    sf2_origin,
)

from .compile_reference import reference_compile

DATA = Path(__file__).parent / "data"
BANKS = [
    DATA / "sf-spec-test" / "sf_spec_test.dls",
    DATA / "libgig-generated" / "libgig-generated.dls",
    DATA / "libgig-generated" / "libgig-generated-mono.dls",
]


def assert_same(ins: Instrument, wave_ids, wave_of, sf2: bool) -> None:
    new = compile_instrument(ins, wave_ids, wave_of, sf2)
    old = reference_compile(ins, wave_ids, wave_of, sf2)
    assert new.regions.dtype == old.regions.dtype and new.connections.dtype == old.connections.dtype
    assert new.regions.tobytes() == old.regions.tobytes()
    assert new.connections.tobytes() == old.connections.tobytes()
    assert new.wave_ids == old.wave_ids
    assert new.warnings == old.warnings


def every_way(ins: Instrument, waves: list[Wave]) -> None:
    """All waves there, every other one missing (a dict), both kinds of defaults."""
    for sf2 in (False, True):
        assert_same(ins, list(range(len(waves))), lambda i: waves[i], sf2)
        assert_same(ins, {i: i for i in range(0, len(waves), 2)}, lambda i: waves[i], sf2)


@pytest.mark.parametrize("path", BANKS, ids=lambda p: p.name)
def test_matches_reference_on_test_banks(path):
    bank = dls.read(str(path))
    for ins in bank.instruments:
        every_way(ins, bank.waves)
        assert_same(ins, list(range(len(bank.waves))), lambda i: bank.waves[i], sf2_origin(bank.info))


def test_matches_reference_on_default_bank():
    from dlsynth.gmbank import load_default_bank

    bank = load_default_bank()
    for ins in bank.instruments:
        every_way(ins, bank.waves)


# ------------------------------------------------------------------------------ fuzzing
_KINDS = [
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_LFO_FREQUENCY),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_LFO_STARTDELAY),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_PAN),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_PITCH),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_DECAYTIME),
    (C.CONN_SRC_KEYONVELOCITY, C.CONN_SRC_NONE, C.CONN_DST_GAIN),
    (C.CONN_SRC_CC7, C.CONN_SRC_NONE, C.CONN_DST_GAIN),
    (C.CONN_SRC_CC11, C.CONN_SRC_NONE, C.CONN_DST_GAIN),
    (C.CONN_SRC_KEYNUMBER, C.CONN_SRC_NONE, C.CONN_DST_EG1_DECAYTIME),
    (C.CONN_SRC_KEYNUMBER, C.CONN_SRC_NONE, C.CONN_DST_EG2_HOLDTIME),
    (C.CONN_SRC_LFO, C.CONN_SRC_CC1, C.CONN_DST_PITCH),
    (C.CONN_SRC_NONE, C.CONN_SRC_CC1, C.CONN_DST_PITCH),
    (C.CONN_SRC_CC93, C.CONN_SRC_NONE, C.CONN_DST_CHORUS),
    (C.CONN_SRC_RPN2, C.CONN_SRC_NONE, C.CONN_DST_KEYNUMBER),
]
_TRANSFORMS = [
    0,
    C.TRN_SOURCE_BIPOLAR,
    C.CONN_TRN_CONCAVE << C.TRN_SOURCE_SHIFT,
    (C.CONN_TRN_CONCAVE << C.TRN_SOURCE_SHIFT) | C.TRN_SOURCE_INVERT,
    C.CONN_TRN_CONVEX,  # an output transform (level 1 moves it)
    C.CONN_TRN_CONCAVE | C.TRN_SOURCE_BIPOLAR,
]
_SCALES = [0, 1, -1, 500 << 16, -(500 << 16), 600 << 16, -(960 << 16), 1000 << 16, -32768 << 16, 12345678]


def _connection(rng) -> Connection:
    if rng.random() < 0.1:  # a default, exactly
        s, c, d, t, v = DEFAULT_CONNECTIONS[rng.integers(len(DEFAULT_CONNECTIONS))]
        return Connection(s, c, d, t, int(v * 65536))
    s, c, d = _KINDS[rng.integers(len(_KINDS))]
    return Connection(s, c, d, _TRANSFORMS[rng.integers(len(_TRANSFORMS))], _SCALES[rng.integers(len(_SCALES))])


def _articulations(rng) -> list[Articulation]:
    return [
        Articulation(level=int(rng.integers(1, 3)), connections=[_connection(rng) for _ in range(rng.integers(0, 6))])
        for _ in range(rng.integers(0, 3))
    ]


def _wave_sample(rng) -> WaveSample | None:
    if rng.random() < 0.3:
        return None
    n = rng.choice([0, 1, 1, 2])
    loops = [
        Loop(int(rng.choice([0, 1, 2, 7])), int(rng.integers(-5, 1000)), int(rng.integers(0, 1000))) for _ in range(n)
    ]
    return WaveSample(
        int(rng.integers(0, 200)), int(rng.integers(-50, 50)), int(rng.choice([0, -65536, 123456])), 0, loops
    )


def _waves(rng) -> list[Wave]:
    out = []
    for _ in range(6):
        ch = int(rng.choice([1, 1, 2]))
        w = Wave.from_pcm16(
            np.zeros((int(rng.choice([100, 200])), ch), dtype=np.int16), int(rng.choice([22050, 44100]))
        )
        w.wave_sample = _wave_sample(rng)
        w.supported = bool(rng.random() < 0.9)
        out.append(w)
    return out


def _region(rng, n_waves: int) -> Region:
    return Region(
        key_low=int(rng.integers(0, 140)),
        key_high=int(rng.integers(0, 140)),
        vel_low=int(rng.integers(0, 128)),
        vel_high=int(rng.choice([127, int(rng.integers(0, 128))])),
        options=int(rng.integers(0, 2)),
        key_group=int(rng.integers(0, 3)),
        wave_link=WaveLink(
            table_index=int(rng.integers(0, n_waves + 1)),
            options=int(rng.choice([0, C.F_WAVELINK_MULTICHANNEL])),
            phase_group=int(rng.integers(0, 2)),
            channel=int(rng.choice([C.WAVELINK_CHANNEL_LEFT, C.WAVELINK_CHANNEL_RIGHT, 4])),
        ),
        wave_sample=_wave_sample(rng),
        articulations=_articulations(rng) if rng.random() < 0.7 else [],
    )


def _stereo_pair(rng, n_waves: int) -> list[Region]:
    """A LEFT and a RIGHT region alike but for wave, side and (sometimes) a side pan."""
    base = _region(rng, n_waves)
    pan = [Connection(C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_PAN, 0, int(rng.choice([400, 500, 600])) << 16)]
    out = []
    for channel, sign in ((C.WAVELINK_CHANNEL_LEFT, -1), (C.WAVELINK_CHANNEL_RIGHT, 1)):
        own = [Connection(*p[:4], sign * p.scale) for p in pan] if rng.random() < 0.7 else []
        arts = [Articulation(2, connections=[c for a in base.articulations for c in a.connections] + own)]
        out.append(
            Region(
                base.key_low,
                base.key_high,
                base.vel_low,
                base.vel_high,
                base.options,
                base.key_group,
                None,
                WaveLink(int(rng.integers(0, n_waves)), C.F_WAVELINK_MULTICHANNEL, base.wave_link.phase_group, channel),
                base.wave_sample,
                arts,
            )
        )
    return out


def _instrument(rng, n_waves: int) -> Instrument:
    regions: list[Region] = []
    for _ in range(rng.integers(0, 10)):
        if rng.random() < 0.3:
            regions.extend(_stereo_pair(rng, n_waves))
        elif regions and rng.random() < 0.2:
            regions.append(regions[rng.integers(len(regions))])  # the same region again
        else:
            regions.append(_region(rng, n_waves))
    order = rng.permutation(len(regions))
    return Instrument(
        name=str(rng.choice(["", "fuzz"])),
        bank=int(rng.choice([0, C.F_INSTRUMENT_DRUMS])),
        program=int(rng.integers(0, 128)),
        regions=[regions[i] for i in order],
        articulations=_articulations(rng),
    )


@pytest.mark.parametrize("seed", range(8))
def test_matches_reference_fuzzed(seed):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        waves = _waves(rng)
        every_way(_instrument(rng, len(waves)), waves)


def test_hash_collisions_fall_back_to_exact_comparison(monkeypatch):
    """Every list hashing alike: the check finds the lists differ and compares bytes."""
    monkeypatch.setattr(T, "_mix", lambda x: np.zeros_like(x))
    rng = np.random.default_rng(99)
    for _ in range(40):
        waves = _waves(rng)
        every_way(_instrument(rng, len(waves)), waves)


def test_a_list_read_two_ways_is_shared():
    """A region whose own first row repeats the last default exactly has the same list as
    a region that keeps that default: the two share one list."""
    last = DEFAULT_CONNECTIONS[-1]
    again = Articulation(2, connections=[Connection(*last[:4], int(last[4] * 65536))])
    wave = Wave.from_pcm16(np.zeros(100, dtype=np.int16), 44100)
    ins = Instrument(regions=[Region(articulations=[again]), Region()])
    assert_same(ins, [0], lambda i: wave, False)
    ci = compile_instrument(ins, [0], lambda i: wave)
    assert ci.regions["conn_offset"].tolist() == [0, 0]
    assert len(ci.connections) == len(DEFAULT_CONNECTIONS)


def test_values_beyond_64_bits():
    """Fields of a hand-built model far beyond 64 bits: masked ones keep their low bits,
    loops are clipped, as int() and & do."""
    big = 1 << 70
    wave = Wave.from_pcm16(np.zeros(100, dtype=np.int16), 44100)
    ws = WaveSample(big + 60, 0, 0, 0, [Loop(0, big, big + 5)])
    ins = Instrument(regions=[Region(key_low=big + 3, key_high=big + 100, key_group=big + 1, wave_sample=ws)])
    assert_same(ins, [0], lambda i: wave, False)


def test_no_default_is_a_constant_pan():
    """The side-pan rule looks at own rows only: no default connection is a constant pan."""
    static = (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_PAN)
    for defaults in (DEFAULT_CONNECTIONS, DEFAULT_CONNECTIONS_SF2_ORIGIN):
        assert not [m for m in defaults if tuple(m[:3]) == static]
        assert len(defaults) <= 64


def test_empty_instrument_and_no_waves():
    wave = Wave.from_pcm16(np.zeros(100, dtype=np.int16), 44100)
    assert_same(Instrument(), [0], lambda i: wave, False)
    assert_same(Instrument(regions=[Region(), Region()]), [], lambda i: wave, True)
