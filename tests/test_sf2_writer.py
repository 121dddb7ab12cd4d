"""The SoundFont 2 writer (dls.soundfont.writer): the file's structure as SF2 2.04 asks, and
each DLS fact as the generator or modulator that says the same, read back record by record.

Banks are built here with the DLS model; the written bytes are parsed with the SF2
reader's chunk walker (dls.soundfont.hydra), so each assertion names a record field."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from dlsynth import dls
from dlsynth.dls import constants as C
from dlsynth.dls import units as U
from dlsynth.dls.riff import Chunk
from dlsynth.dls.soundfont import generators as G
from dlsynth.dls.soundfont import modulators as M
from dlsynth.dls.soundfont.hydra import Hydra, text
from dlsynth.dls.soundfont.writer import PADDING_POINTS, convert, write_sf2

WAVE_RATE = 44100
TC_TOLERANCE = 1  # timecents: rounding of a time to the nearest timecent
N = C.CONN_SRC_NONE


def sine(frames: int = 4410, cycles: int = 100, amp: int = 12000, channels: int = 1) -> np.ndarray:
    t = np.arange(frames)
    x = np.round(amp * np.sin(2 * np.pi * cycles * t / frames)).astype(np.int16)
    return np.stack([x, -x], axis=1) if channels == 2 else x


def wave(data=None, unity=60, fine=0, loops=None, attenuation=0) -> dls.Wave:
    ws = dls.WaveSample(
        unity_note=unity,
        fine_tune=fine,
        attenuation=attenuation,
        loops=[dls.Loop(0, 0, 4410)] if loops is None else loops,
    )
    return dls.Wave.from_pcm16(sine() if data is None else data, WAVE_RATE, ws, name="sine")


def bank(regions=None, articulation=None, waves=None, **ins_kw) -> dls.Collection:
    regions = regions or [dls.Region(wave_link=dls.WaveLink(0))]
    arts = [dls.Articulation(2, articulation)] if articulation else []
    ins = dls.Instrument(name=ins_kw.pop("name", "one"), regions=regions, articulations=arts, **ins_kw)
    return dls.Collection(instruments=[ins], waves=waves or [wave()], info={"INAM": "writer test"})


def hydra(data: bytes) -> Hydra:
    size = struct.unpack_from("<I", data, 4)[0]
    warnings: list[str] = []
    h = Hydra.read(data, Chunk(b"RIFF", b"sfbk", 0, 12, size - 4, None, data), warnings)
    assert warnings == []
    return h


def zones(h: Hydra, instrument: int = 0) -> list[dict[int, int]]:
    """The generators of an instrument's zones (global zone first, if any) as dicts."""
    out = []
    for b in range(int(h.inst["bag"][instrument]), int(h.inst["bag"][instrument + 1])):
        gens = {}
        for g in range(int(h.ibag["gen"][b]), int(h.ibag["gen"][b + 1])):
            gens[int(h.igen["oper"][g])] = int(h.igen["amount"][g])
        out.append(gens)
    return out


def local(h: Hydra, instrument: int = 0) -> list[dict[int, int]]:
    """Each sounding zone's generators, its instrument's global zone's merged in."""
    zs = zones(h, instrument)
    glob = zs[0] if zs and G.SAMPLE_ID not in zs[0] else {}
    return [{**glob, **z} for z in zs if G.SAMPLE_ID in z]


def modulators(h: Hydra, instrument: int = 0) -> dict[tuple[int, int, int], int]:
    """(src, dest, amount source) -> amount over an instrument's zones (global and local)."""
    out = {}
    lo = int(h.ibag["mod"][int(h.inst["bag"][instrument])])
    hi = int(h.ibag["mod"][int(h.inst["bag"][instrument + 1])])
    for m in h.imod[lo:hi].tolist():
        out[(m[0], m[1], m[3])] = m[2]
    return out


def one_zone(articulation=None, **kw) -> dict[int, int]:
    z = local(hydra(convert(bank(articulation=articulation, **kw)).to_bytes()))
    assert len(z) == 1
    return z[0]


# --- the file ------------------------------------------------------------------------------


def test_info_names_the_version_engine_and_bank():
    col = bank()
    col.info.update({"ICOP": "nobody", "ISBJ": "a subject", "ISFT": "maker"})
    h = hydra(convert(col).to_bytes())
    assert h.version == (2, 4)
    assert h.info["isng"] == "EMU8000"
    assert h.info["INAM"] == "writer test"
    assert h.info["ICOP"] == "nobody"
    assert h.info["ICMT"] == "ISBJ: a subject"  # SF2 has no ISBJ: kept in the comment
    assert h.info["ISFT"] == "maker:dlsynth"


def test_a_bank_without_a_name_takes_the_one_given():
    col = bank()
    col.info = {}
    assert hydra(convert(col, name="from file").to_bytes()).info["INAM"] == "from file"


def test_lists_end_in_their_terminal_records():
    h = hydra(convert(bank()).to_bytes())
    assert text(bytes(h.phdr["name"][-1])) == "EOP"
    assert text(bytes(h.inst["name"][-1])) == "EOI"
    assert text(bytes(h.shdr["name"][-1])) == "EOS"
    assert int(h.phdr["bag"][-1]) == len(h.pbag) - 1 and int(h.inst["bag"][-1]) == len(h.ibag) - 1
    assert h.pgen[-1].tolist() == (0, 0) and h.igen[-1].tolist() == (0, 0)
    assert h.imod[-1].tolist() == (0, 0, 0, 0, 0) and h.pmod[-1].tolist() == (0, 0, 0, 0, 0)
    assert int(h.pbag["gen"][-1]) == len(h.pgen) - 1 and int(h.ibag["gen"][-1]) == len(h.igen) - 1


def test_samples_are_the_waves_followed_by_46_zero_points_and_8_bit_is_widened():
    w16 = wave(sine(3000))
    u8 = (np.arange(2000) % 256).astype(np.uint8)
    w8 = dls.Wave.from_pcm8(u8, 22050, dls.WaveSample(unity_note=60), name="eight")
    regions = [dls.Region(key_high=59, wave_link=dls.WaveLink(0)), dls.Region(key_low=60, wave_link=dls.WaveLink(1))]
    h = hydra(convert(bank(regions, waves=[w16, w8])).to_bytes())
    s0, s1 = h.shdr[0], h.shdr[1]
    assert np.array_equal(h.smpl[s0["start"] : s0["end"]], w16.data[:, 0])
    assert np.array_equal(h.smpl[s1["start"] : s1["end"]], (u8.astype(np.int16) - 128) << 8)
    for s in (s0, s1):
        assert not h.smpl[s["end"] : s["end"] + PADDING_POINTS].any()
    assert int(s1["start"]) == int(s0["end"]) + PADDING_POINTS
    assert len(h.smpl) == int(s1["end"]) + PADDING_POINTS
    assert (int(s0["rate"]), int(s1["rate"])) == (WAVE_RATE, 22050)


def test_zone_generators_come_in_the_order_sf2_asks():
    r = dls.Region(key_low=40, key_high=50, vel_low=10, vel_high=90, key_group=3, wave_link=dls.WaveLink(0))
    h = hydra(convert(bank([r], articulation=[(N, N, C.CONN_DST_PAN, 0, U.percent_to_pan(20))])).to_bytes())
    opers = [int(o) for o in h.igen["oper"][:-1]]
    assert opers[0] == G.KEY_RANGE and opers[1] == G.VEL_RANGE and opers[-1] == G.SAMPLE_ID
    z = local(h)[0]
    assert (z[G.KEY_RANGE] & 0xFF, z[G.KEY_RANGE] >> 8) == (40, 50)
    assert (z[G.VEL_RANGE] & 0xFF, z[G.VEL_RANGE] >> 8) == (10, 90)
    assert z[G.EXCLUSIVE_CLASS] == 3
    assert z[G.PAN] == 200
    assert h.pgen[:-1].tolist() == [(G.INSTRUMENT, 0)]


def test_a_stereo_wave_is_two_linked_samples_panned_apart():
    st = dls.Wave.from_pcm16(sine(4410, channels=2), WAVE_RATE, dls.WaveSample(unity_note=60), name="pair")
    sf2 = convert(bank(waves=[st]))
    h = hydra(sf2.to_bytes())
    assert sf2.samples == 2 and sf2.zones == 2  # one zone per side
    left, right = h.shdr[0], h.shdr[1]
    assert (int(left["type"]), int(left["link"]), int(right["type"]), int(right["link"])) == (4, 1, 2, 0)
    assert np.array_equal(h.smpl[left["start"] : left["end"]], st.data[:, 0])
    assert np.array_equal(h.smpl[right["start"] : right["end"]], st.data[:, 1])
    pans = sorted((z[G.SAMPLE_ID], z[G.PAN]) for z in local(h))
    assert pans == [(0, -500), (1, 500)]


def test_a_dls2_stereo_pair_of_mono_waves_is_linked():
    mc = C.F_WAVELINK_MULTICHANNEL
    regions = [
        dls.Region(wave_link=dls.WaveLink(0, mc, 1, C.WAVELINK_CHANNEL_LEFT)),
        dls.Region(wave_link=dls.WaveLink(1, mc, 1, C.WAVELINK_CHANNEL_RIGHT)),
    ]
    h = hydra(convert(bank(regions, waves=[wave(), wave(-sine())])).to_bytes())
    assert [(int(s["type"]), int(s["link"])) for s in h.shdr[:-1]] == [(4, 1), (2, 0)]
    assert sorted(z[G.PAN] for z in local(h)) == [-500, 500]


@pytest.mark.parametrize(
    "loop_type,mode",
    [(C.WLOOP_TYPE_FORWARD, 1), (C.WLOOP_TYPE_RELEASE, 3), (C.WLOOP_TYPE_RELEASE_WIN2000, 3), (None, 0)],
)
def test_loop_types_become_sample_modes(loop_type, mode):
    loops = [] if loop_type is None else [dls.Loop(loop_type, 441, 2205)]
    h = hydra(convert(bank(waves=[wave(loops=loops)])).to_bytes())
    z = local(h)[0]
    s = h.shdr[0]
    assert z.get(G.SAMPLE_MODES, 0) == mode
    if mode:
        assert (int(s["loop_start"]) - int(s["start"]), int(s["loop_end"]) - int(s["start"])) == (441, 441 + 2205)
    else:  # "no loop" as SF2 banks mark it: a loop of length 0 at the sample's start
        assert int(s["loop_start"]) == int(s["loop_end"]) == int(s["start"])


def test_a_region_looping_elsewhere_moves_the_headers_loop_by_offsets():
    w = wave(sine(100000), loops=[dls.Loop(0, 1000, 4410)])
    far = dls.WaveSample(unity_note=60, loops=[dls.Loop(0, 1000 + 40000, 4410 + 5)])
    regions = [
        dls.Region(key_high=59, wave_link=dls.WaveLink(0)),
        dls.Region(key_low=60, wave_link=dls.WaveLink(0), wave_sample=far),
    ]
    h = hydra(convert(bank(regions, waves=[w])).to_bytes())
    near_z, far_z = local(h)
    assert not any(op in near_z for op in G.ADDRESS_GENERATORS)
    start = far_z.get(G.STARTLOOP_ADDRS_OFFSET, 0) + 32768 * far_z.get(G.STARTLOOP_ADDRS_COARSE_OFFSET, 0)
    end = far_z.get(G.ENDLOOP_ADDRS_OFFSET, 0) + 32768 * far_z.get(G.ENDLOOP_ADDRS_COARSE_OFFSET, 0)
    assert (start, end) == (40000, 40005)
    assert far_z[G.STARTLOOP_ADDRS_COARSE_OFFSET] == 1


def test_root_key_and_tuning_from_the_wsmp():
    w = wave(unity=69, fine=-20)
    other = dls.WaveSample(unity_note=57, fine_tune=30, loops=[dls.Loop(0, 0, 4410)])
    regions = [
        dls.Region(key_high=59, wave_link=dls.WaveLink(0)),
        dls.Region(key_low=60, wave_link=dls.WaveLink(0), wave_sample=other),
    ]
    pitch = [(N, N, C.CONN_DST_PITCH, 0, U.cents_to_rel_pitch(-250))]
    h = hydra(convert(bank(regions, waves=[w], articulation=pitch)).to_bytes())
    s = h.shdr[0]
    assert (int(s["pitch"]), int(s["correction"])) == (69, -20)
    own, moved = local(h)
    assert G.OVERRIDING_ROOT_KEY not in own
    assert 100 * own.get(G.COARSE_TUNE, 0) + own.get(G.FINE_TUNE, 0) == -250
    assert moved[G.OVERRIDING_ROOT_KEY] == 57
    assert 100 * moved.get(G.COARSE_TUNE, 0) + moved.get(G.FINE_TUNE, 0) == -250 + 50  # 30 - (-20) cents more
    assert abs(moved.get(G.FINE_TUNE, 0)) <= 50


def test_wsmp_attenuation_is_initial_attenuation_through_emu_04():
    """A gain of -6 dB is 60 cB; SF2 players scale initialAttenuation by 0.4 (the reader
    reads it so), so the generator holds 150."""
    z = one_zone(waves=[wave(attenuation=U.db_to_gain(-6.0))])
    assert z[G.INITIAL_ATTENUATION] == 150
    z = one_zone([(N, N, C.CONN_DST_GAIN, 0, U.db_to_gain(-3.0))], waves=[wave(attenuation=U.db_to_gain(-6.0))])
    assert z[G.INITIAL_ATTENUATION] == 225


def test_a_gain_above_unity_is_moved_into_the_sample_as_far_as_its_peak_allows():
    """SF2 cannot play louder than the sample (initialAttenuation >= 0): the sample is
    scaled up by the loudest zone's gain, the others attenuated by as much more; what the
    sample's peak leaves no room for is said."""
    w = wave(sine(4410, amp=8000))
    regions = [
        dls.Region(
            key_high=59,
            wave_link=dls.WaveLink(0),
            articulations=[dls.Articulation(2, [(N, N, C.CONN_DST_GAIN, 0, U.db_to_gain(6.0))])],
        ),
        dls.Region(key_low=60, wave_link=dls.WaveLink(0)),
    ]
    sf2 = convert(bank(regions, waves=[w]))
    h = hydra(sf2.to_bytes())
    s = h.shdr[0]
    data = h.smpl[s["start"] : s["end"]].astype(np.float64)
    assert abs(20 * np.log10(np.abs(data).max() / 8000.0) - 6.0) < 0.02
    loud, plain = local(h)
    assert loud.get(G.INITIAL_ATTENUATION, 0) == 0 and plain[G.INITIAL_ATTENUATION] == 150  # 6 dB / 0.4
    assert sf2.warnings == []
    # +18 dB: the sample's peak (8000) leaves 12.2 dB
    regions[0].articulations = [dls.Articulation(2, [(N, N, C.CONN_DST_GAIN, 0, U.db_to_gain(18.0))])]
    sf2 = convert(bank(regions, waves=[w]))
    h = hydra(sf2.to_bytes())
    s = h.shdr[0]
    assert 32600 < np.abs(h.smpl[s["start"] : s["end"]]).max() <= 32767
    assert len(sf2.warnings) == 1 and "up to 5.8 dB" in sf2.warnings[0] and "SF2 cannot amplify" in sf2.warnings[0]


# --- articulation -----------------------------------------------------------------------


def tc(seconds: float) -> int:
    return round(1200 * math.log2(seconds))


def test_eg1_is_the_volume_envelope_in_timecents_and_centibels():
    art = [
        (N, N, C.CONN_DST_EG1_DELAYTIME, 0, U.seconds_to_timecents(0.05)),
        (N, N, C.CONN_DST_EG1_ATTACKTIME, 0, U.seconds_to_timecents(0.2)),
        (N, N, C.CONN_DST_EG1_HOLDTIME, 0, U.seconds_to_timecents(0.1)),
        (N, N, C.CONN_DST_EG1_DECAYTIME, 0, U.seconds_to_timecents(1.5)),
        (N, N, C.CONN_DST_EG1_SUSTAINLEVEL, 0, U.percent_to_sustain(50.0)),
        (N, N, C.CONN_DST_EG1_RELEASETIME, 0, U.seconds_to_timecents(0.7)),
    ]
    z = one_zone(art)
    assert abs(z[G.DELAY_VOL_ENV] - tc(0.05)) <= TC_TOLERANCE
    assert abs(z[G.ATTACK_VOL_ENV] - tc(0.2)) <= TC_TOLERANCE
    assert abs(z[G.HOLD_VOL_ENV] - tc(0.1)) <= TC_TOLERANCE
    assert abs(z[G.DECAY_VOL_ENV] - tc(1.5)) <= TC_TOLERANCE
    assert abs(z[G.RELEASE_VOL_ENV] - tc(0.7)) <= TC_TOLERANCE
    assert z[G.SUSTAIN_VOL_ENV] == 480  # half the 96 dB envelope scale the reader reads it on


def test_a_sustain_of_zero_is_full_attenuation():
    assert one_zone([(N, N, C.CONN_DST_EG1_SUSTAINLEVEL, 0, 0)])[G.SUSTAIN_VOL_ENV] == 1000


def test_times_the_dls_defaults_leave_at_zero_are_sf2s_shortest():
    z = one_zone()
    for op in (G.DELAY_VOL_ENV, G.ATTACK_VOL_ENV, G.HOLD_VOL_ENV, G.DECAY_VOL_ENV, G.RELEASE_VOL_ENV, G.ATTACK_MOD_ENV):
        assert op not in z  # SF2's default, -12000 timecents
    # DLS2's LFO defaults (5 Hz after 10 ms) are not SF2's (8.176 Hz after 1 ms): written
    five_hz = round(U.hz_to_cents(5.0))
    assert (z[G.FREQ_MOD_LFO], z[G.FREQ_VIB_LFO]) == (five_hz, five_hz)
    assert abs(z[G.DELAY_MOD_LFO] - tc(0.01)) <= TC_TOLERANCE and abs(z[G.DELAY_VIB_LFO] - tc(0.01)) <= TC_TOLERANCE


def test_eg2_lfos_filter_and_sends_become_their_generators():
    art = [
        (N, N, C.CONN_DST_EG2_ATTACKTIME, 0, U.seconds_to_timecents(0.3)),
        (N, N, C.CONN_DST_EG2_SUSTAINLEVEL, 0, U.percent_to_sustain(25.0)),
        (C.CONN_SRC_EG2, N, C.CONN_DST_FILTER_CUTOFF, 0, U.cents_to_rel_pitch(2400)),
        (C.CONN_SRC_EG2, N, C.CONN_DST_PITCH, 0, U.cents_to_rel_pitch(-100)),
        (N, N, C.CONN_DST_LFO_FREQUENCY, 0, U.hz_to_abs_pitch(6.0)),
        (N, N, C.CONN_DST_LFO_STARTDELAY, 0, U.seconds_to_timecents(0.25)),
        (C.CONN_SRC_LFO, N, C.CONN_DST_PITCH, 0, U.cents_to_rel_pitch(30)),
        (C.CONN_SRC_LFO, N, C.CONN_DST_FILTER_CUTOFF, 0, U.cents_to_rel_pitch(200)),
        (C.CONN_SRC_LFO, N, C.CONN_DST_GAIN, 0, U.db_to_gain(1.5)),
        (C.CONN_SRC_VIBRATO, N, C.CONN_DST_PITCH, 0, U.cents_to_rel_pitch(15)),
        (N, N, C.CONN_DST_VIB_FREQUENCY, 0, U.hz_to_abs_pitch(4.5)),
        (N, N, C.CONN_DST_FILTER_CUTOFF, 0, U.hz_to_abs_pitch(2000.0)),
        (N, N, C.CONN_DST_FILTER_Q, 0, U.db_to_gain(6.0)),
        (N, N, C.CONN_DST_REVERB, 0, U.percent_to_pan(40.0)),
        (N, N, C.CONN_DST_CHORUS, 0, U.percent_to_pan(10.0)),
    ]
    z = one_zone(art)
    assert abs(z[G.ATTACK_MOD_ENV] - tc(0.3)) <= TC_TOLERANCE
    assert z[G.SUSTAIN_MOD_ENV] == 750  # 0.1 % of decrease
    assert (z[G.MOD_ENV_TO_FILTER_FC], z[G.MOD_ENV_TO_PITCH]) == (2400, -100)
    assert z[G.FREQ_MOD_LFO] == round(U.hz_to_cents(6.0)) and abs(z[G.DELAY_MOD_LFO] - tc(0.25)) <= TC_TOLERANCE
    assert (z[G.MOD_LFO_TO_PITCH], z[G.MOD_LFO_TO_FILTER_FC], z[G.MOD_LFO_TO_VOLUME]) == (30, 200, 15)
    assert (z[G.VIB_LFO_TO_PITCH], z[G.FREQ_VIB_LFO]) == (15, round(U.hz_to_cents(4.5)))
    assert z[G.INITIAL_FILTER_FC] == round(U.hz_to_cents(2000.0)) and z[G.INITIAL_FILTER_Q] == 60
    assert (z[G.REVERB_EFFECTS_SEND], z[G.CHORUS_EFFECTS_SEND]) == (400, 100)


def test_an_open_filter_is_sf2s_default():
    assert G.INITIAL_FILTER_FC not in one_zone([(N, N, C.CONN_DST_FILTER_CUTOFF, 0, U.FILTER_CUTOFF_OFF)])


def test_key_number_to_decay_is_keynum_to_vol_env_decay_around_key_60():
    """DLS: decay = base + scale x key/128; SF2: decay + keynumToVolEnvDecay x (60 - key)."""
    art = [
        (N, N, C.CONN_DST_EG1_DECAYTIME, 0, U.seconds_to_timecents(2.0)),
        (C.CONN_SRC_KEYNUMBER, N, C.CONN_DST_EG1_DECAYTIME, 0, -128 * 50 * 65536),
    ]
    z = one_zone(art)
    assert z[G.KEYNUM_TO_VOL_ENV_DECAY] == 50
    for key in (0, 60, 127):
        dls_tc = 1200 * math.log2(2.0) - 50 * key
        assert abs(z[G.DECAY_VOL_ENV] + 50 * (60 - key) - dls_tc) <= TC_TOLERANCE


def test_key_to_pitch_is_scale_tuning():
    z = one_zone([(C.CONN_SRC_KEYNUMBER, N, C.CONN_DST_PITCH, 0, U.cents_to_rel_pitch(6400))])
    assert z[G.SCALE_TUNING] == 50


# --- modulators ---------------------------------------------------------------------------

_DEFAULT = {(m.src, m.dest, m.amount_src): m.amount for m in M.DEFAULT_MODULATORS}
_VEL_ATT = (0x0502, G.INITIAL_ATTENUATION, 0)  # velocity, concave, negative -> attenuation
_CC1_VIB = (0x0081, G.VIB_LFO_TO_PITCH, 0)
_PRESSURE_VIB = (0x000D, G.VIB_LFO_TO_PITCH, 0)


def mods_of(col) -> dict:
    return modulators(hydra(convert(col).to_bytes()))


def test_dls2_defaults_override_sf2s_where_they_differ():
    """DLS2 has no mod-wheel or pressure vibrato, sends CC91/CC93 at 100 % and pans by 508:
    each becomes a modulator identical to SF2's default with the DLS amount; velocity,
    CC7, CC11 and the pitch wheel are SF2's defaults already and are not written."""
    m = mods_of(bank())
    assert m[_CC1_VIB] == 0 and m[_PRESSURE_VIB] == 0
    assert m[(0x00DB, G.REVERB_EFFECTS_SEND, 0)] == 1000 and m[(0x00DD, G.CHORUS_EFFECTS_SEND, 0)] == 1000
    assert m[(0x028A, G.PAN, 0)] == 508
    assert _VEL_ATT not in m and (0x0587, G.INITIAL_ATTENUATION, 0) not in m and (0x020E, G.FINE_TUNE, 16) not in m
    assert m[M.SILENCED_IDENTITY] == 0  # velocity to cutoff, silent in the reader: cancelled


def test_a_bank_converted_from_sf2_needs_no_modulators():
    col = bank()
    col.info["isng"] = "EMU8000"  # synth.download.sf2_origin: played with SF2's defaults
    assert mods_of(col) == {M.SILENCED_IDENTITY: 0}


def test_a_linear_velocity_curve_replaces_the_default():
    vel = C.CONN_SRC_KEYONVELOCITY
    art = [(vel, N, C.CONN_DST_GAIN, C.TRN_SOURCE_INVERT, U.db_to_gain(-30.0))]
    m = mods_of(bank(articulation=art))
    assert m[_VEL_ATT] == 0  # the default concave curve cancelled
    assert m[(vel | 0x0100, G.INITIAL_ATTENUATION, 0)] == 300  # linear, negative: 30 dB at velocity 0


def test_controller_connections_become_modulators():
    art = [
        (C.CONN_SRC_LFO, C.CONN_SRC_CC1, C.CONN_DST_PITCH, 0, U.cents_to_rel_pitch(40)),
        (C.CONN_SRC_VIBRATO, C.CONN_SRC_CHANNELPRESSURE, C.CONN_DST_PITCH, 0, U.cents_to_rel_pitch(25)),
        (C.CONN_SRC_CC1 + 1, N, C.CONN_DST_FILTER_CUTOFF, C.TRN_SOURCE_BIPOLAR, U.cents_to_rel_pitch(-1200)),
        (C.CONN_SRC_KEYONVELOCITY, N, C.CONN_DST_EG1_ATTACKTIME, 0, -1200 * 65536),
        (C.CONN_SRC_KEYNUMBER, N, C.CONN_DST_FILTER_CUTOFF, 0, U.cents_to_rel_pitch(6400)),
    ]
    m = mods_of(bank(articulation=art))
    assert m[(0x0081, G.MOD_LFO_TO_PITCH, 0)] == 40
    assert m[_PRESSURE_VIB] == 25 and m[_CC1_VIB] == 0
    assert m[(0x0282, G.INITIAL_FILTER_FC, 0)] == -1200  # CC2, bipolar
    assert m[(0x0002, G.ATTACK_VOL_ENV, 0)] == -1200
    assert m[(0x0003, G.INITIAL_FILTER_FC, 0)] == 6400


def test_the_pitch_wheel_range_is_sf2s_default_scaled_by_127_128():
    m = mods_of(
        bank(articulation=[(C.CONN_SRC_PITCHWHEEL, C.CONN_SRC_RPN0, C.CONN_DST_PITCH, 0, U.cents_to_rel_pitch(6400))])
    )
    assert m[(0x020E, G.FINE_TUNE, 0x0010)] == 6350


def test_what_sf2_cannot_say_is_one_warning_line_per_instrument():
    art = [
        (C.CONN_SRC_EG1, N, C.CONN_DST_PITCH, 0, U.cents_to_rel_pitch(100)),
        (C.CONN_SRC_VIBRATO, N, C.CONN_DST_GAIN, 0, U.db_to_gain(3.0)),
        (C.CONN_SRC_CC1, N, C.CONN_DST_LEFT, 0, U.db_to_gain(-3.0)),
    ]
    col = bank(articulation=art)
    col.instruments.append(dls.Instrument(name="fine", program=1, regions=[dls.Region(wave_link=dls.WaveLink(0))]))
    sf2 = convert(col)
    assert len(sf2.warnings) == 1
    line = sf2.warnings[0]
    assert line.startswith("instrument MSB 0 LSB 0 program 0 'one': ")
    for what in ("eg1 to pitch", "vibrato to gain", "cc1 to left"):
        assert what in line


# --- presets --------------------------------------------------------------------------------


def test_banks_as_fluidsynth_selects_them_and_drums_at_128():
    mk = dls.Instrument.make_bank
    col = dls.Collection(
        waves=[wave()],
        info={"INAM": "banks"},
        instruments=[
            dls.Instrument("melodic", mk(0, 0), 5, [dls.Region()]),
            dls.Instrument("msb", mk(8, 0), 5, [dls.Region()]),
            dls.Instrument("msb+lsb", mk(1, 2), 5, [dls.Region()]),
            dls.Instrument("drums", mk(0, 0, drum=True), 16, [dls.Region()]),
            dls.Instrument("same again", mk(0, 0), 5, [dls.Region()]),
        ],
    )
    sf2 = convert(col)
    h = hydra(sf2.to_bytes())
    got = [(text(bytes(p["name"])), int(p["bank"]), int(p["preset"])) for p in h.phdr[:-1]]
    assert got == [("melodic", 0, 5), ("msb", 8, 5), ("msb+lsb", 130, 5), ("drums", 128, 16)]
    assert sf2.presets == 4
    assert any("'same again'" in w and "left out" in w for w in sf2.warnings)
    assert any("'msb+lsb'" in w and "130" in w for w in sf2.warnings)


def test_velocity_layers_over_key_splits_are_factored_into_preset_zones():
    """9 velocity layers x 6 key splits, the layers differing by a cutoff and an attack
    offset (an SF2 preset of velocity zones over a split instrument, read into DLS): one
    instrument of 6 zones and 9 preset zones, which give back every region."""
    regions = []
    for layer in range(9):
        vlo, vhi = layer * 14, min(127, layer * 14 + 13)
        for split in range(6):
            art = [
                (N, N, C.CONN_DST_FILTER_CUTOFF, 0, U.cents_to_abs_pitch(8000 + 300 * layer + 10 * split)),
                (N, N, C.CONN_DST_EG1_ATTACKTIME, 0, (-6000 + 100 * layer) * 65536),
                (N, N, C.CONN_DST_PAN, 0, U.percent_to_pan(-40 + 15 * split)),
            ]
            regions.append(
                dls.Region(
                    key_low=20 * split,
                    key_high=20 * split + 19,
                    vel_low=vlo,
                    vel_high=vhi,
                    wave_link=dls.WaveLink(0),
                    articulations=[dls.Articulation(2, art)],
                )
            )
    sf2 = convert(bank(regions))
    h = hydra(sf2.to_bytes())
    assert sf2.zones == 54
    assert len(h.pbag) - 1 == 9
    assert len(local(h)) == 6
    # each (preset zone, instrument zone) pair, summed, is the region it came from
    izones = local(h)
    for p in range(9):
        pz = {int(o): int(a) for o, a in h.pgen[int(h.pbag["gen"][p]) : int(h.pbag["gen"][p + 1])].tolist()}
        vel = pz.get(G.VEL_RANGE, 0x7F00)
        for iz in izones:
            key = iz[G.KEY_RANGE]
            src = next(
                r
                for r in regions
                if (r.key_low, r.key_high) == (key & 0xFF, key >> 8)
                and (r.vel_low, r.vel_high) == (vel & 0xFF, (vel >> 8) & 0xFF)
            )
            want = {c.destination: c.scale / 65536 for c in src.articulations[0].connections}
            fc = iz.get(G.INITIAL_FILTER_FC, 13500) + pz.get(G.INITIAL_FILTER_FC, 0)
            attack = iz.get(G.ATTACK_VOL_ENV, -12000) + pz.get(G.ATTACK_VOL_ENV, 0)
            assert fc == round(want[C.CONN_DST_FILTER_CUTOFF])
            assert attack == round(want[C.CONN_DST_EG1_ATTACKTIME])
            assert iz[G.PAN] == round(want[C.CONN_DST_PAN])


def test_zones_sharing_a_value_keep_it_in_the_global_zone():
    regions = [dls.Region(key_low=k, key_high=k, wave_link=dls.WaveLink(0)) for k in range(60, 64)]
    art = [(N, N, C.CONN_DST_EG1_RELEASETIME, 0, U.seconds_to_timecents(0.5))]
    h = hydra(convert(bank(regions, articulation=art)).to_bytes())
    zs = zones(h)
    assert G.SAMPLE_ID not in zs[0] and abs(zs[0][G.RELEASE_VOL_ENV] - tc(0.5)) <= TC_TOLERANCE
    assert all(G.RELEASE_VOL_ENV not in z for z in zs[1:])
    lo = int(h.ibag["mod"][0])
    assert int(h.ibag["mod"][1]) > lo and int(h.ibag["mod"][1]) == int(h.ibag["mod"][len(zs)])  # modulators global too


def test_unplayable_waves_and_missing_waves_are_left_out_with_a_warning():
    bad = dls.Wave(format_tag=0x0055, supported=False, raw_data=b"\0" * 16)
    regions = [
        dls.Region(key_high=40, wave_link=dls.WaveLink(0)),
        dls.Region(key_low=41, key_high=80, wave_link=dls.WaveLink(1)),
        dls.Region(key_low=81, wave_link=dls.WaveLink(7)),
    ]
    sf2 = convert(bank(regions, waves=[wave(), bad]))
    assert (sf2.zones, sf2.samples) == (1, 1)
    assert "wave 1, which cannot be played" in sf2.warnings[0] and "wave 7 is not in the pool" in sf2.warnings[0]


def test_write_is_atomic_and_the_file_reads_back(tmp_path):
    out = tmp_path / "bank.sf2"
    out.write_bytes(b"old")
    sf2 = write_sf2(bank(), out)
    assert out.stat().st_size == sf2.size and sorted(p.name for p in tmp_path.iterdir()) == ["bank.sf2"]
    col = dls.read(out)
    assert [i.name for i in col.instruments] == ["one"] and col.warnings == []
