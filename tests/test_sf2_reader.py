"""SoundFont 2 / SF3 banks read into the DLS collection model: what each SF2 fact becomes.

Banks are built in the test (tests/sf2build.py); the two real banks are the Debian
packages' (fluid-soundfont-gm, timgm6mb-soundfont).
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from benchmarks.peers import FLUID_R3_SF2 as FLUID_R3
from benchmarks.peers import TIMGM_SF2 as TIMGM
from dlsynth import dls
from dlsynth.dls import constants as C
from dlsynth.dls.soundfont import articulation as A
from dlsynth.dls.soundfont import generators as G
from dlsynth.dls.soundfont import modulators as M

from . import sf2build as B

U = 65536


def conns(region) -> dict[tuple[int, int, int], list[tuple[int, float]]]:
    """A region's connections by (source, control, destination): [(transform, scale), ...]."""
    out: dict = {}
    for art in region.articulations:
        for c in art.connections:
            out.setdefault((c.source, c.control, c.destination), []).append((c.transform, c.scale / U))
    return out


def value(region, src, dst, ctl=C.CONN_SRC_NONE):
    """The summed scale of a region's connections of one kind (None if it has none)."""
    found = conns(region).get((src, ctl, dst))
    return None if found is None else sum(v for _, v in found)


def one(data: bytes, **kw) -> tuple[dls.Collection, dls.Region]:
    col = dls.read(data, **kw)
    assert len(col.instruments) == 1
    regions = col.instruments[0].regions
    assert len(regions) == 1
    return col, regions[0]


# --- the collection and its regions --------------------------------------------------------


def test_a_preset_is_an_instrument_with_a_region_per_zone_pair():
    col, r = one(B.one_sine_bank(program=5, bank=3))
    ins = col.instruments[0]
    assert (ins.name, ins.program, ins.bank_msb, ins.bank_lsb, ins.is_drum) == ("Sine", 5, 3, 0, False)
    assert col.info["ifil"] == "2.04" and col.name == "test bank"
    assert col.warnings == []
    assert (r.key_low, r.key_high, r.vel_low, r.vel_high) == (0, 127, 0, 127)
    assert r.wave_sample.unity_note == 69
    assert r.wave_sample.loops == [dls.Loop(C.WLOOP_TYPE_FORWARD, 0, 44100)]


def test_bank_128_is_the_drum_bank():
    col = dls.read(B.one_sine_bank(bank=128, program=0))
    assert col.instruments[0].is_drum and col.instruments[0].bank == C.F_INSTRUMENT_DRUMS


def test_sample_data_is_a_view_of_the_file():
    data = bytearray(B.one_sine_bank())
    col = dls.read(data)
    w = col.waves[0]
    assert w.data.dtype == np.int16 and w.data.shape == (44100, 1) and w.sample_rate == 44100
    assert np.shares_memory(w.data, np.frombuffer(data, dtype=np.uint8))
    assert np.array_equal(w.data[:, 0], B.sine())


def test_lazy_and_full_reads_are_equal():
    data = B.one_sine_bank({G.COARSE_TUNE: 3})
    lazy = dls.read(data)
    assert not lazy.instruments[0].regions_loaded and lazy.instruments[0].region_count == 1
    assert lazy.load_all().instruments == dls.read(data, lazy=False).instruments


# --- generators ------------------------------------------------------------------------


def test_generators_become_dls_connections_in_dls_units():
    _, r = one(
        B.one_sine_bank(
            {
                G.ATTACK_VOL_ENV: -1200,
                G.HOLD_VOL_ENV: 0,
                G.DECAY_VOL_ENV: 1200,
                G.SUSTAIN_VOL_ENV: 480,
                G.RELEASE_VOL_ENV: 2400,
                G.SUSTAIN_MOD_ENV: 250,
                G.FREQ_VIB_LFO: 1200,
                G.VIB_LFO_TO_PITCH: 30,
                G.MOD_LFO_TO_VOLUME: -60,
                G.PAN: 250,
                G.REVERB_EFFECTS_SEND: 300,
                G.INITIAL_FILTER_FC: 9000,
                G.INITIAL_FILTER_Q: 100,
            }
        )
    )
    N = C.CONN_SRC_NONE
    assert value(r, N, C.CONN_DST_EG1_ATTACKTIME) == -1200  # timecents both sides
    assert value(r, N, C.CONN_DST_EG1_HOLDTIME) == 0
    assert value(r, N, C.CONN_DST_EG1_DECAYTIME) == 1200
    assert value(r, N, C.CONN_DST_EG1_SUSTAINLEVEL) == pytest.approx(500.0, abs=1e-3)  # 48 dB of 96
    assert value(r, N, C.CONN_DST_EG1_RELEASETIME) == 2400
    assert value(r, N, C.CONN_DST_EG2_SUSTAINLEVEL) == 750.0  # 25 % down
    assert value(r, N, C.CONN_DST_VIB_FREQUENCY) == 1200  # 16.35 Hz, in absolute cents both sides
    assert value(r, C.CONN_SRC_VIBRATO, C.CONN_DST_PITCH) == 30
    assert value(r, C.CONN_SRC_LFO, C.CONN_DST_GAIN) == -60
    assert value(r, N, C.CONN_DST_PAN) == 250
    assert value(r, N, C.CONN_DST_REVERB) == 300
    assert value(r, N, C.CONN_DST_FILTER_CUTOFF) == 9000
    assert value(r, N, C.CONN_DST_FILTER_Q) == 100
    # SF2's defaults where DLS2's differ: LFOs at 8.176 Hz (0 cents) after 1 ms, 1 ms envelopes
    assert value(r, N, C.CONN_DST_LFO_FREQUENCY) == 0 and value(r, N, C.CONN_DST_LFO_STARTDELAY) == -12000
    assert value(r, N, C.CONN_DST_EG2_ATTACKTIME) == -12000


def test_open_filter_at_13500_cents_is_no_filter_unless_modulated_or_resonant():
    _, r = one(B.one_sine_bank())
    assert value(r, C.CONN_SRC_NONE, C.CONN_DST_FILTER_CUTOFF) is None  # the DLS2 default: off
    _, r = one(B.one_sine_bank({G.MOD_ENV_TO_FILTER_FC: -2400}))
    assert value(r, C.CONN_SRC_NONE, C.CONN_DST_FILTER_CUTOFF) == 13500
    _, r = one(B.one_sine_bank({G.INITIAL_FILTER_Q: 50}))
    assert value(r, C.CONN_SRC_NONE, C.CONN_DST_FILTER_CUTOFF) == 13500


def test_initial_attenuation_takes_the_emu_factor():
    _, r = one(B.one_sine_bank({G.INITIAL_ATTENUATION: 60}))
    assert value(r, C.CONN_SRC_NONE, C.CONN_DST_GAIN) == pytest.approx(-60 * A.EMU_ATTENUATION_FACTOR)


def test_tuning_scale_tuning_and_root_key():
    _, r = one(
        B.one_sine_bank({G.COARSE_TUNE: 12, G.FINE_TUNE: -20, G.SCALE_TUNING: 50, G.OVERRIDING_ROOT_KEY: 57}, root=69)
    )
    assert value(r, C.CONN_SRC_NONE, C.CONN_DST_PITCH) == 1180
    assert value(r, C.CONN_SRC_KEYNUMBER, C.CONN_DST_PITCH) == 6400  # 50 cents per key
    assert r.wave_sample.unity_note == 57


def test_keynum_to_envelope_times_act_around_key_60():
    _, r = one(B.one_sine_bank({G.DECAY_VOL_ENV: 1000, G.KEYNUM_TO_VOL_ENV_DECAY: 50}))
    base = value(r, C.CONN_SRC_NONE, C.CONN_DST_EG1_DECAYTIME)
    per_key = value(r, C.CONN_SRC_KEYNUMBER, C.CONN_DST_EG1_DECAYTIME) / 128
    for key in (36, 60, 84):
        assert base + per_key * key == pytest.approx(1000 + 50 * (60 - key))


def test_global_zones_local_zones_preset_offsets_and_range_intersection():
    s = B.Sample("s", B.sine(4410, 100), root=60)
    data = B.sf2(
        [
            B.Preset(
                "P",
                zones=[
                    B.Zone({G.COARSE_TUNE: 2, G.SAMPLE_MODES: 1, G.OVERRIDING_ROOT_KEY: 30}),  # global (no instrument)
                    B.Zone({G.KEY_RANGE: (50, 100), G.FINE_TUNE: 7}, target=0),
                ],
            )
        ],
        [
            B.Instrument(
                "I",
                zones=[
                    B.Zone({G.KEY_RANGE: (0, 70), G.COARSE_TUNE: 5, G.DECAY_VOL_ENV: 100}),  # global
                    B.Zone({G.COARSE_TUNE: 1}, target=0),  # takes the global key range 0-70
                    B.Zone({G.KEY_RANGE: (90, 127), G.DECAY_VOL_ENV: 200}, target=0),
                    B.Zone({G.KEY_RANGE: (0, 10)}, target=0),  # outside the preset zone's range: no region
                ],
            )
        ],
        [s],
    )
    col = dls.read(data)
    rs = col.instruments[0].regions
    assert [(r.key_low, r.key_high) for r in rs] == [(50, 70), (90, 100)]
    # instrument local over global over default, plus the preset offsets (global and local)
    assert value(rs[0], C.CONN_SRC_NONE, C.CONN_DST_PITCH) == 100 * (1 + 2) + 7
    assert value(rs[1], C.CONN_SRC_NONE, C.CONN_DST_PITCH) == 100 * (5 + 2) + 7
    assert value(rs[0], C.CONN_SRC_NONE, C.CONN_DST_EG1_DECAYTIME) == 100
    assert value(rs[1], C.CONN_SRC_NONE, C.CONN_DST_EG1_DECAYTIME) == 200
    # instrument-level-only generators in a preset zone are ignored
    assert all(r.wave_sample.loops == [] and r.wave_sample.unity_note == 60 for r in rs)


def test_values_are_clamped_to_the_generator_ranges_after_adding():
    _, r = one(B.one_sine_bank({G.COARSE_TUNE: 100}, {G.COARSE_TUNE: 100}))
    assert value(r, C.CONN_SRC_NONE, C.CONN_DST_PITCH) == 12000  # coarseTune range -120..120


@pytest.mark.parametrize("mode,loop_type", [(0, None), (1, C.WLOOP_TYPE_FORWARD), (2, None), (3, C.WLOOP_TYPE_RELEASE)])
def test_sample_modes_are_loop_types(mode, loop_type):
    _, r = one(
        B.sf2(
            [B.Preset("P", zones=[B.Zone({}, 0)])],
            [B.Instrument("I", [B.Zone({G.SAMPLE_MODES: mode}, 0)])],
            [B.Sample("s", B.sine(4410, 100), loop=(100, 4000))],
        )
    )
    assert r.wave_sample.loops == ([] if loop_type is None else [dls.Loop(loop_type, 100, 3900)])


def test_address_offsets_move_the_wave_and_the_loop():
    gens = {
        G.SAMPLE_MODES: 1,
        G.START_ADDRS_OFFSET: 10,
        G.END_ADDRS_OFFSET: -20,
        G.STARTLOOP_ADDRS_OFFSET: 5,
        G.ENDLOOP_ADDRS_OFFSET: -5,
    }
    col, r = one(
        B.sf2(
            [B.Preset("P", zones=[B.Zone({}, 0)])],
            [B.Instrument("I", [B.Zone(gens, 0)])],
            [B.Sample("s", B.sine(4410, 100), loop=(100, 4000))],
        )
    )
    w = col.waves[r.wave_link.table_index]
    assert w.frames == 4410 - 10 - 20
    assert np.array_equal(w.data[:, 0], B.sine(4410, 100)[10:4390])
    assert r.wave_sample.loops == [dls.Loop(0, 100 + 5 - 10, 4000 - 5 - 100 - 5)]


def test_loops_outside_the_sample_are_moved_inside_with_a_warning():
    col, r = one(
        B.sf2(
            [B.Preset("P", zones=[B.Zone({}, 0)])],
            [B.Instrument("I", [B.Zone({G.SAMPLE_MODES: 1}, 0)])],
            [B.Sample("s", B.sine(4410, 100), loop=(100, 9000))],
        )
    )
    assert r.wave_sample.loops == [dls.Loop(0, 100, 4310)]
    assert any("loop points outside the sample" in w for w in col.warnings)


def test_exclusive_class_is_the_key_group():
    _, r = one(B.one_sine_bank({G.EXCLUSIVE_CLASS: 3}))
    assert r.key_group == 3


def test_a_stereo_pair_panned_to_its_sides_becomes_a_multichannel_wave_link():
    left = B.Sample("L", B.sine(4410, 100), type=4, link=1)
    right = B.Sample("R", B.sine(4410, 100), type=2, link=0)
    data = B.sf2(
        [B.Preset("P", zones=[B.Zone({}, 0)])],
        [B.Instrument("I", [B.Zone({G.PAN: -500}, 0), B.Zone({G.PAN: 500}, 1)])],
        [left, right],
    )
    rs = dls.read(data).instruments[0].regions
    assert [(r.wave_link.channel, r.wave_link.multichannel) for r in rs] == [
        (C.WAVELINK_CHANNEL_LEFT, True),
        (C.WAVELINK_CHANNEL_RIGHT, True),
    ]
    assert rs[0].wave_link.phase_group == rs[1].wave_link.phase_group
    # the pan stays beside the link, for DLS readers that place nothing by ulChannel
    # (SpessaSynth: without it the pair plays centred, 3 dB louder)
    assert value(rs[0], C.CONN_SRC_NONE, C.CONN_DST_PAN) == -500
    assert value(rs[1], C.CONN_SRC_NONE, C.CONN_DST_PAN) == 500
    # and the synth still plays the two halves as one stereo voice
    from dlsynth.synth.download import compile_instrument

    col = dls.read(data)
    ins = col.instruments[0]
    compiled = compile_instrument(ins, list(range(len(col.waves))), lambda i: col.waves[i], sf2_defaults=True)
    assert len(compiled.regions) == 1 and compiled.regions[0]["out_mask"] == 0
    # panned elsewhere, the halves stay mono voices with their pan
    data = B.sf2(
        [B.Preset("P", zones=[B.Zone({}, 0)])],
        [B.Instrument("I", [B.Zone({G.PAN: -200}, 0), B.Zone({G.PAN: 200}, 1)])],
        [left, right],
    )
    rs = dls.read(data).instruments[0].regions
    assert [r.wave_link.multichannel for r in rs] == [False, False]
    assert value(rs[0], C.CONN_SRC_NONE, C.CONN_DST_PAN) == -200


def test_fixed_velocity_turns_velocity_connections_into_constants():
    _, r = one(B.one_sine_bank({G.VELOCITY: 127}))
    c = conns(r)
    # the DLS2 default velocity curve is cancelled and its value at 127 (0 dB) is a constant
    assert c[(C.CONN_SRC_KEYONVELOCITY, C.CONN_SRC_NONE, C.CONN_DST_GAIN)] == [(0, 0.0)]
    assert value(r, C.CONN_SRC_NONE, C.CONN_DST_GAIN) in (None, pytest.approx(0.0, abs=1e-3))


def test_fixed_key_plays_one_pitch():
    _, r = one(B.one_sine_bank({G.KEYNUM: 81}, root=69))
    assert value(r, C.CONN_SRC_NONE, C.CONN_DST_PITCH) == pytest.approx(1200.0, abs=0.01)
    c = conns(r)
    assert c[(C.CONN_SRC_KEYNUMBER, C.CONN_SRC_NONE, C.CONN_DST_PITCH)] == [(0, 0.0)]


# --- modulators ------------------------------------------------------------------------


def test_sf2_default_modulators_are_in_effect():
    _, r = one(B.one_sine_bank())
    c = conns(r)
    assert c[(C.CONN_SRC_VIBRATO, C.CONN_SRC_CC1, C.CONN_DST_PITCH)] == [(0, 50.0)]
    assert c[(C.CONN_SRC_VIBRATO, C.CONN_SRC_CHANNELPRESSURE, C.CONN_DST_PITCH)] == [(0, 50.0)]
    assert c[(C.CONN_SRC_CC10, C.CONN_SRC_NONE, C.CONN_DST_PAN)] == [(C.TRN_SOURCE_BIPOLAR, 500.0)]
    assert c[(C.CONN_SRC_CC91, C.CONN_SRC_NONE, C.CONN_DST_REVERB)] == [(0, 200.0)]
    assert c[(C.CONN_SRC_CC93, C.CONN_SRC_NONE, C.CONN_DST_CHORUS)] == [(0, 200.0)]
    # velocity / CC7 / CC11 to attenuation and the pitch wheel are exactly DLS2's defaults,
    # which the synth applies: they are not repeated
    for key in (
        (C.CONN_SRC_KEYONVELOCITY, 0, C.CONN_DST_GAIN),
        (C.CONN_SRC_CC7, 0, C.CONN_DST_GAIN),
        (C.CONN_SRC_PITCHWHEEL, C.CONN_SRC_RPN0, C.CONN_DST_PITCH),
    ):
        assert key not in c and key in A.DLS2_DEFAULTS
    modulator_rows, _ = M.to_connections(list(M.DEFAULT_MODULATORS), set())
    as_dict = {tuple(row[:3]): tuple(row[3:]) for row in modulator_rows.tolist()}
    for key in (
        (C.CONN_SRC_KEYONVELOCITY, 0, C.CONN_DST_GAIN),
        (C.CONN_SRC_PITCHWHEEL, C.CONN_SRC_RPN0, C.CONN_DST_PITCH),
    ):
        assert as_dict[key] == A.DLS2_DEFAULTS[key]


def test_the_dls2_defaults_the_reader_relies_on_are_the_synths():
    from dlsynth.synth.download import DEFAULT_CONNECTIONS

    synth = {
        (s, c, d): (t, int(round(v * U)) if d != C.CONN_DST_FILTER_CUTOFF else 0x7FFFFFFF)
        for s, c, d, t, v in DEFAULT_CONNECTIONS
    }
    assert synth == A.DLS2_DEFAULTS


def test_a_zone_modulator_replaces_an_identical_default_and_preset_modulators_add():
    cc1_vib = (0x0081, G.VIB_LFO_TO_PITCH, 0, 0, 0)
    _, r = one(B.one_sine_bank(mods=[cc1_vib]))
    # replaced by an amount of 0: a connection of scale 0 cancels the synth's default
    assert conns(r)[(C.CONN_SRC_VIBRATO, C.CONN_SRC_CC1, C.CONN_DST_PITCH)] == [(0, 0.0)]
    cc2_cutoff = (0x0082 | 0x0100, G.INITIAL_FILTER_FC, -1200, 0, 0)  # CC2, linear, negative
    _, r = one(B.one_sine_bank(mods=[cc2_cutoff], pmods=[cc2_cutoff[:2] + (-600,) + cc2_cutoff[3:]]))
    assert conns(r)[(0x82, 0, C.CONN_DST_FILTER_CUTOFF)] == [(C.TRN_SOURCE_INVERT, -1800.0)]
    assert value(r, C.CONN_SRC_NONE, C.CONN_DST_FILTER_CUTOFF) == 13500  # a modulated cutoff: the filter runs


def test_modulator_source_fields_map_onto_dls_transforms():
    # velocity, convex, bipolar, negative -> key number, switch: to the mod envelope's pitch depth
    src = 2 | (2 << 10) | 0x0200 | 0x0100
    _, r = one(B.one_sine_bank(mods=[(src, G.MOD_ENV_TO_PITCH, 300, 0, 0)]))
    t = (C.CONN_TRN_CONVEX << C.TRN_CONTROL_SHIFT) | C.TRN_CONTROL_BIPOLAR | C.TRN_CONTROL_INVERT
    assert conns(r)[(C.CONN_SRC_EG2, C.CONN_SRC_KEYONVELOCITY, C.CONN_DST_PITCH)] == [(t, 300.0)]


def test_what_dls_cannot_hold_is_one_warning_for_the_preset():
    linked = (127, G.PAN, 100, 0, 0)
    three = (0x0081, G.VIB_LFO_TO_PITCH, 10, 0x0082, 0)
    to_root = (0x0081, G.OVERRIDING_ROOT_KEY, 10, 0, 0)
    col, r = one(B.one_sine_bank(mods=[linked, three, to_root]))
    lines = [w for w in col.warnings if w.startswith("preset 0:0 'Sine'")]
    assert len(lines) == 1
    assert "linked modulators" in lines[0] and "two sources" in lines[0] and "overridingRootKey" in lines[0]


def test_fluidsynths_velocity_to_cutoff_identity_is_silent():
    mod = (M.SILENCED_IDENTITY[0], M.SILENCED_IDENTITY[1], -2400, M.SILENCED_IDENTITY[2], 0)
    _, r = one(B.one_sine_bank({G.INITIAL_FILTER_FC: 8000}, mods=[mod]))
    assert (C.CONN_SRC_KEYONVELOCITY, C.CONN_SRC_KEYONVELOCITY, C.CONN_DST_FILTER_CUTOFF) not in conns(r)


# --- samples ----------------------------------------------------------------------------


def test_sm24_plays_its_top_16_bits_with_a_warning():
    col, r = one(B.one_sine_bank(sm24=True))
    assert any("24-bit" in w for w in col.warnings)
    assert np.array_equal(col.waves[0].data[:, 0], B.sine())


def test_rom_samples_are_left_out_and_a_rom_only_bank_is_refused():
    rom = B.Sample("rom", np.zeros(10, np.int16), type=0x8001)
    ram = B.Sample("ram", B.sine(4410, 100))
    data = B.sf2(
        [B.Preset("P", zones=[B.Zone({}, 0)])], [B.Instrument("I", [B.Zone({}, 0), B.Zone({}, 1)])], [rom, ram]
    )
    col = dls.read(data)
    assert len(col.instruments[0].regions) == 1
    assert any("ROM samples" in w for w in col.warnings)
    data = B.sf2([B.Preset("P", zones=[B.Zone({}, 0)])], [B.Instrument("I", [B.Zone({}, 0)])], [rom])
    with pytest.raises(dls.DLSError, match=r"shdr at 0x[0-9a-f]+: every sample .* ROM"):
        dls.read(data)


def _ogg(samples: np.ndarray, rate: int) -> bytes:
    import soundfile as sf

    bio = io.BytesIO()
    sf.write(bio, samples.astype(np.float32) / 32768.0, rate, format="OGG", subtype="VORBIS")
    return bio.getvalue()


def test_sf3_vorbis_samples_are_decoded():
    pcm = B.sine(44100, 1000, 12000)
    s = B.Sample("ogg", None, root=69, type=1 | 0x10, vorbis=_ogg(pcm, 44100), loop=(441, 44100 - 441))
    col, r = one(
        B.sf2(
            [B.Preset("P", zones=[B.Zone({}, 0)])],
            [B.Instrument("I", [B.Zone({G.SAMPLE_MODES: 1}, 0)])],
            [s],
            version=(3, 1),
        )
    )
    w = col.waves[r.wave_link.table_index]
    assert w.data.dtype == np.int16 and abs(w.frames - 44100) < 2048
    assert r.wave_sample.loops == [dls.Loop(0, 441, 44100 - 882)]
    # the decoded sine: 1000 Hz within a cent, level within 0.5 dB
    x = w.data[2000:40000, 0].astype(np.float64)
    from . import synthkit as K

    assert abs(K.cents(K.pitch(x, 44100), 1000.0)) < 1.0
    assert abs(K.rms_db(x) - K.rms_db(pcm[2000:40000].astype(np.float64))) < 0.5


def test_a_vorbis_stream_that_does_not_decode_is_left_out_with_a_warning():
    s = B.Sample("bad", None, type=1 | 0x10, vorbis=b"OggS" + bytes(200))
    ok = B.Sample("ok", B.sine(4410, 100))
    col = dls.read(
        B.sf2([B.Preset("P", zones=[B.Zone({}, 0)])], [B.Instrument("I", [B.Zone({}, 0), B.Zone({}, 1)])], [s, ok])
    )
    assert len(col.instruments[0].regions) == 1
    assert any("does not decode" in w for w in col.warnings)


# --- broken files: one DLSError with the chunk path and offset --------------------------------


def _errors(data: bytes) -> str:
    with pytest.raises(dls.DLSError) as e:
        dls.read(data)
    return str(e.value)


def test_structural_errors_name_the_chunk_and_offset():
    good = B.one_sine_bank()
    assert "LIST pdta > pbag at 0x" in _errors(B.one_sine_bank(raw={"pbag": struct.pack("<HHHH", 1, 0, 0, 0)}))
    msg = _errors(B.one_sine_bank(raw={"phdr": b"\0" * 37}))
    assert "LIST pdta > phdr at 0x" in msg and "38-byte records" in msg
    msg = _errors(B.one_sine_bank(raw={"ibag": struct.pack("<HHHH", 0, 0, 900, 0)}))
    assert "LIST pdta > ibag at 0x" in msg and "igen" in msg
    no_pdta = good[: good.index(b"LIST", good.index(b"pdta") - 8)]
    no_pdta = b"RIFF" + struct.pack("<I", len(no_pdta) - 8) + no_pdta[8:]
    assert "no LIST pdta" in _errors(no_pdta)
    assert "size" in _errors(good[:-30])  # truncated: a chunk overruns its parent


def test_a_product_of_zones_too_large_for_a_real_bank_is_refused():
    zones = [B.Zone({}, 0)] * 600
    data = B.sf2(
        [B.Preset("P", zones=zones)], [B.Instrument("I", [B.Zone({}, 0)] * 600)], [B.Sample("s", B.sine(100, 1))]
    )
    assert "more than" in _errors(data)


def test_it_writes_as_dls_and_reads_back_equal():
    col = dls.read(B.one_sine_bank({G.COARSE_TUNE: 2, G.INITIAL_ATTENUATION: 30}), lazy=False)
    back = dls.read(dls.write(col), lazy=False)
    assert back.instruments == col.instruments


# --- the real banks ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [FLUID_R3, TIMGM], ids=["FluidR3_GM", "TimGM6mb"])
def test_real_banks_read_whole_with_every_gm_program(path):
    col = dls.read(path)
    melodic = {i.program for i in col.instruments if i.bank == 0}
    assert melodic == set(range(128))
    assert any(i.is_drum and i.program == 0 for i in col.instruments)
    col.load_all()
    for ins in col.instruments:
        for r in ins.regions:
            w = col.waves[r.wave_link.table_index]
            for lp in r.wave_sample.loops:
                assert 0 <= lp.start and lp.length >= 1 and lp.start + lp.length <= w.frames


def test_regions_are_self_non_exclusive_as_sf2_has_no_same_key_cut():
    _, r = one(B.one_sine_bank())
    assert r.self_non_exclusive


def test_info_describes_a_soundfont(tmp_path, capsys):
    from dlsynth.apps.cli import main

    path = tmp_path / "bank.sf2"
    path.write_bytes(B.one_sine_bank(mods=[(127, G.PAN, 100, 0, 0)]))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert 'SoundFont 2.04 "test bank": 1 instruments, 1 regions, 1 waves' in out
    assert "Sine" in out and "1 warning(s)" in out and "preset 0:0 'Sine': " in out
    assert main(["info", "--json", str(path)]) == 0
    import json

    d = json.loads(capsys.readouterr().out)
    assert d["format"] == "SoundFont 2.04" and d["instruments"][0]["name"] == "Sine"
