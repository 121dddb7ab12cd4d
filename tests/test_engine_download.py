"""synth.download: the articulation merge (DLS2 defaults, each overridden by any connection of
the same source, control and destination; then the region's own articulation or else the
instrument's, whose connections all apply), level-1 transforms, the fixes for real-file
mistakes (non-inverted concave gain, SpessaSynth's bipolar key-to-EG-time),
wsmp precedence, stereo pairing, and what is left out with a warning. Plus the struct
layouts shared with C."""

from __future__ import annotations

import numpy as np

from dlsynth.dls import constants as C
from dlsynth.dls.model import Loop, WaveSample
from dlsynth.native import ffi
from dlsynth.synth.download import (
    DEFAULT_CONNECTIONS,
    ENGINE_CONN_DTYPE,
    REGION_DTYPE,
    compile_instrument,
    merge_articulation,
)
from .enginekit import art, conn, dc_wave, instrument, region, render, setup, sine_wave, tc


def find(conns, src, ctl, dst):
    hits = [c for c in conns if (c[0], c[1], c[2]) == (src, ctl, dst)]
    assert len(hits) <= 1
    return hits[0] if hits else None


def compiled(ins, waves):
    return compile_instrument(ins, list(range(len(waves))), lambda i: waves[i])


def region_conns(ci, k):
    r = ci.regions[k]
    rows = ci.connections[r["conn_offset"] : r["conn_offset"] + r["conn_count"]]
    return [tuple(x) for x in rows.tolist()]


def test_layouts_match_c():
    assert REGION_DTYPE.itemsize == ffi.sizeof("eng_region_desc")
    assert ENGINE_CONN_DTYPE.itemsize == ffi.sizeof("eng_conn")


def test_defaults_are_all_there():
    merged = merge_articulation([])
    assert merged == DEFAULT_CONNECTIONS
    assert find(merged, C.CONN_SRC_KEYONVELOCITY, 0, C.CONN_DST_GAIN)[4] == -960.0
    assert find(merged, C.CONN_SRC_PITCHWHEEL, C.CONN_SRC_RPN0, C.CONN_DST_PITCH)[4] == 12800.0
    assert find(merged, C.CONN_SRC_CC91, 0, C.CONN_DST_REVERB)[4] == 1000.0
    assert find(merged, C.CONN_SRC_CC93, 0, C.CONN_DST_CHORUS)[4] == 1000.0


def test_same_source_control_destination_replaces_the_default():
    a = art(conn(C.CONN_DST_GAIN, -480, src=C.CONN_SRC_CC7, trn=(C.CONN_TRN_CONVEX << C.TRN_SOURCE_SHIFT)))
    merged = merge_articulation([a])
    hit = find(merged, C.CONN_SRC_CC7, 0, C.CONN_DST_GAIN)
    assert hit[4] == -480.0 and hit[3] == C.CONN_TRN_CONVEX << C.TRN_SOURCE_SHIFT
    assert len(merged) == len(DEFAULT_CONNECTIONS)


def test_articulation_connections_of_the_same_kind_add():
    # SpessaSynth's pair: both override the one default and both stay (they add)
    lin = conn(C.CONN_DST_GAIN, -960, src=C.CONN_SRC_KEYONVELOCITY, trn=C.TRN_SOURCE_INVERT)
    cav = conn(
        C.CONN_DST_GAIN,
        0,
        src=C.CONN_SRC_KEYONVELOCITY,
        trn=(C.CONN_TRN_CONCAVE << C.TRN_SOURCE_SHIFT) | C.TRN_SOURCE_INVERT,
    )
    for order in ((lin, cav), (cav, lin)):
        merged = merge_articulation([art(*order)])
        hits = [c for c in merged if (c[0], c[1], c[2]) == (C.CONN_SRC_KEYONVELOCITY, 0, C.CONN_DST_GAIN)]
        assert sorted((c[3], c[4]) for c in hits) == sorted((x.transform, x.scale / 65536) for x in order)
        assert len(merged) == len(DEFAULT_CONNECTIONS) + 1
    # the same in two art chunks of one list, and two static connections to one destination
    merged = merge_articulation([art(lin), art(cav, conn(C.CONN_DST_PITCH, 10), conn(C.CONN_DST_PITCH, 5))])
    assert sum(c[4] for c in merged if c[:3] == (0, 0, C.CONN_DST_PITCH)) == 15.0
    assert len([c for c in merged if c[:3] == (C.CONN_SRC_KEYONVELOCITY, 0, C.CONN_DST_GAIN)]) == 2


def test_bipolar_key_to_eg_time_is_read_as_key_over_128():
    bip = C.TRN_SOURCE_BIPOLAR
    dests = (C.CONN_DST_EG1_DECAYTIME, C.CONN_DST_EG1_HOLDTIME, C.CONN_DST_EG2_DECAYTIME, C.CONN_DST_EG2_HOLDTIME)
    a = art(
        *[conn(d, -12928, src=C.CONN_SRC_KEYNUMBER, trn=bip) for d in dests],
        conn(C.CONN_DST_PAN, 100, src=C.CONN_SRC_KEYNUMBER, trn=bip),
    )
    warnings = []
    merged = merge_articulation([a], warnings, "x")
    for d in dests:
        assert find(merged, C.CONN_SRC_KEYNUMBER, 0, d)[3] == 0
    assert find(merged, C.CONN_SRC_KEYNUMBER, 0, C.CONN_DST_PAN)[3] == bip  # other destinations keep it
    assert len(warnings) == len(dests)


def test_region_articulation_replaces_the_instruments():
    ins_art = art(conn(C.CONN_DST_PITCH, 100))
    rgn_art = art(conn(C.CONN_DST_GAIN, -60))
    ins = instrument(region(articulations=[rgn_art]), region(), articulations=[ins_art])
    ci = compiled(ins, [dc_wave()])
    r0, r1 = region_conns(ci, 0), region_conns(ci, 1)
    assert find(r0, 0, 0, C.CONN_DST_GAIN) and not find(r0, 0, 0, C.CONN_DST_PITCH)
    assert find(r1, 0, 0, C.CONN_DST_PITCH) and not find(r1, 0, 0, C.CONN_DST_GAIN)


def test_level1_transform_moves_to_the_source_and_lfo_drives_vibrato():
    a = art(
        conn(C.CONN_DST_GAIN, -960, src=C.CONN_SRC_KEYONVELOCITY, trn=C.CONN_TRN_CONCAVE),
        conn(C.CONN_DST_LFO_FREQUENCY, -1000),
        conn(C.CONN_DST_LFO_STARTDELAY, tc(0.2), raw=True),
        level=1,
    )
    warnings = []
    merged = merge_articulation([a], warnings)
    vel = find(merged, C.CONN_SRC_KEYONVELOCITY, 0, C.CONN_DST_GAIN)
    # concave on the source, and (negative scale) read as inverted
    assert vel[3] == (C.CONN_TRN_CONCAVE << C.TRN_SOURCE_SHIFT) | C.TRN_SOURCE_INVERT
    assert warnings
    assert find(merged, 0, 0, C.CONN_DST_VIB_FREQUENCY)[4] == -1000.0
    assert find(merged, 0, 0, C.CONN_DST_VIB_STARTDELAY)[4] == tc(0.2) / 65536


def test_level1_region_keeps_the_velocity_range():
    # FluidSynth, SpessaSynth, Wine and Sonivox honour a Level 1 region's velocity range
    r = region(vel=(10, 90))
    r.level = 1
    ci = compiled(instrument(r), [dc_wave()])
    assert (ci.regions[0]["vel_lo"], ci.regions[0]["vel_hi"]) == (10, 90)


def test_region_wsmp_overrides_the_waves():
    ws = WaveSample(unity_note=48, fine_tune=-20, attenuation=-100 * 65536, loops=[Loop(1, 10, 500)])
    ci = compiled(instrument(region(wave_sample=ws), region()), [sine_wave(unity=69, fine=5)])
    a, b = ci.regions
    assert (a["unity_note"], a["fine_tune"], a["attenuation"], a["loop_type"], a["loop_start"], a["loop_length"]) == (
        48,
        -20,
        100.0,
        1,
        10,
        500,
    )
    assert (b["unity_note"], b["fine_tune"], b["attenuation"], b["loop_type"]) == (69, 5, 0.0, 0)


def test_missing_waves_leave_the_region_out_with_a_warning():
    ins = instrument(region(0), region(5))
    ci = compile_instrument(ins, [0], lambda i: dc_wave() if i == 0 else None)
    assert len(ci.regions) == 1 and ci.warnings


def test_stereo_pair_needs_matching_regions():
    multi = C.F_WAVELINK_MULTICHANNEL
    left = region(0, channel=C.WAVELINK_CHANNEL_LEFT, link_options=multi, phase_group=1)
    right = region(1, channel=C.WAVELINK_CHANNEL_RIGHT, link_options=multi, phase_group=1)
    ci = compiled(instrument(left, right), [dc_wave(), dc_wave()])
    assert len(ci.regions) == 1 and tuple(ci.regions[0]["wave_id"]) == (0, 1)
    # different key ranges: two voices, hard left and hard right
    right2 = region(1, key=(0, 60), channel=C.WAVELINK_CHANNEL_RIGHT, link_options=multi, phase_group=1)
    ci = compiled(instrument(left, right2), [dc_wave(), dc_wave()])
    assert len(ci.regions) == 2 and sorted(ci.regions["out_mask"].tolist()) == [1, 2]


def test_a_downloaded_instrument_plays_its_defaults():
    # CC7 default 100 and the concave curve: -4.15 dB against CC7 127
    e, _ = setup(instrument(region()), [dc_wave()])
    e.note_on(0, 0, 60, 127)
    a = render(e, 2000)[-1, 0]
    e.control(e.position, 0, 7, 127)
    b = render(e, 2000)[-1, 0]
    assert abs(20 * np.log10(a / b) - 40 * np.log10(100 / 127)) < 0.1
