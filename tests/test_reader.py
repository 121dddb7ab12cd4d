"""The DLS reader: every chunk type, every layout oddity, every kind of broken file."""

from __future__ import annotations

import re
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from dlsynth import dls
from dlsynth.dls import constants as C
from dlsynth.dls.cdl import Capabilities, encode

from . import riffbuild as rb

CORPUS = Path(__file__).parent / "data"
LIBGIG = CORPUS / "libgig-generated" / "libgig-generated.dls"
LIBGIG_MONO = CORPUS / "libgig-generated" / "libgig-generated-mono.dls"
SPEC_TEST = CORPUS / "sf-spec-test" / "sf_spec_test.dls"

# A reader of a malformed file of this size must give up at once, not after long work.
MAX_SECONDS_FOR_A_BAD_SMALL_FILE = 2.0


def read_err(data: bytes) -> str:
    with pytest.raises(dls.DLSError) as ei:
        dls.read(data)
    return str(ei.value)


# --- real files -----------------------------------------------------------------------------


def test_libgig_bank_layouts_and_formats():
    col = dls.read(LIBGIG)
    assert col.level == 1
    assert [i.name for i in col.instruments] == ["VelLayers 8bit/16bit", "Drums 8bit/16bit", "Stereo 16bit"]
    vel, drums, stereo = col.instruments
    assert [(r.vel_low, r.vel_high) for r in vel.regions] == [(0, 63), (64, 127)]
    assert drums.is_drum and not vel.is_drum
    assert [r.key_low for r in drums.regions] == [36, 38, 42]
    assert stereo.program == 1
    assert [w.bits_per_sample for w in col.waves] == [8, 16, 8, 16, 16]
    assert col.waves[4].channels == 2 and col.waves[4].data.shape == (2000, 2)
    assert col.waves[0].data.dtype == np.uint8 and col.waves[1].data.dtype == np.int16
    # The odd order of this file (insh after lrgn, data before fmt) is accepted, with warnings.
    assert sum("insh after lrgn" in w for w in col.warnings) == 3
    assert sum("data before fmt" in w for w in col.warnings) == 5
    # Region wsmp with its loop (dlsdump reports one loop on each velocity layer).
    assert all(r.wave_sample is not None and len(r.wave_sample.loops) == 1 for r in vel.regions)


def test_sample_data_is_a_view_of_the_file_not_a_copy():
    col = dls.read(LIBGIG)
    for w in col.waves:
        assert not w.data.flags.owndata
        assert not w.data.flags.writeable
    raw = LIBGIG.read_bytes()
    w = col.waves[1]
    # The view holds exactly the bytes of the data chunk.
    assert raw.find(w.data.tobytes()) > 0


def test_spec_test_bank_is_level2():
    col = dls.read(SPEC_TEST)
    assert col.level == 2
    assert len(col.instruments) == 7
    assert sum(len(i.regions) for i in col.instruments) == 174
    assert len(col.waves) == 46
    assert col.info["INAM"].startswith("SoundFont Spec Implementation Test")
    assert all(r.level == 2 for i in col.instruments for r in i.regions)
    # Every articulation there is art2 and uses known destinations.
    dests = {c.destination for i in col.instruments for r in i.regions for a in r.articulations for c in a.connections}
    assert dests <= set(C.DESTINATION_NAMES)
    assert col.warnings == []


def _dlsdump_counts(path: Path) -> tuple[int, int, int]:
    import subprocess

    out = subprocess.run(["dlsdump", str(path)], capture_output=True, text=True, timeout=60, check=True).stdout
    samples = len(re.findall(r"^\s+Sample \d+\)", out, re.M))
    instruments = len(re.findall(r"^\s+Instrument \d+\)", out, re.M))
    regions = len(re.findall(r"^\s+Region \d+\)", out, re.M))
    return instruments, regions, samples


@pytest.mark.parametrize("path", [LIBGIG, LIBGIG_MONO, SPEC_TEST], ids=lambda p: p.name)
def test_counts_agree_with_libgig_dlsdump(path):
    import shutil

    if shutil.which("dlsdump") is None:
        pytest.skip("libgig's dlsdump is not installed (apt-get install gigtools); CI installs it")
    instruments, regions, samples = _dlsdump_counts(path)
    col = dls.read(path)
    assert len(col.instruments) == instruments
    assert sum(len(i.regions) for i in col.instruments) == regions
    assert len(col.waves) == samples


# --- every chunk type -------------------------------------------------------------------------


def test_every_chunk_type_of_a_level2_bank():
    conns = [
        (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_ATTACKTIME, 0, -1200 * 65536),
        (
            C.CONN_SRC_KEYONVELOCITY,
            C.CONN_SRC_NONE,
            C.CONN_DST_GAIN,
            C.TRN_SOURCE_INVERT | (C.CONN_TRN_CONCAVE << 10),
            -960 * 65536,
        ),
    ]
    region = rb.lst(
        b"rgn2",
        rb.rgnh(36, 48, 10, 100, C.F_RGN_OPTION_SELFNONEXCLUSIVE, 3, layer=2),
        rb.wsmp(50, -7, 65536 * 30, C.F_WSMP_NO_TRUNCATION, loops=[(C.WLOOP_TYPE_RELEASE, 100, 500)]),
        rb.wlnk(0, C.F_WAVELINK_PHASE_MASTER | C.F_WAVELINK_MULTICHANNEL, 4, C.WAVELINK_CHANNEL_RIGHT),
        rb.lst(b"lar2", rb.art(b"art2", conns)),
    )
    ins = rb.lst(
        b"ins ",
        rb.insh(1, (1 << 8) | 2 | C.F_INSTRUMENT_DRUMS, 17),
        rb.chunk(b"dlid", bytes(range(16))),
        rb.lst(b"lrgn", region),
        rb.lst(b"lart", rb.art(b"art1", conns[:1])),
        rb.info(INAM="Kit", ICMT="a comment"),
    )
    wave = rb.wave_list(
        rb.fmt(),
        rb.wsmp(60, 0, 0, 0, loops=[(0, 0, 1000)]),
        rb.chunk(b"data", rb.pcm16(1000)),
        rb.chunk(b"dlid", bytes(16)),
        rb.info(INAM="sine"),
    )
    ptbl, wvpl = rb.pool([wave])
    data = rb.dls_file(
        rb.colh(1),
        rb.chunk(b"vers", struct.pack("<II", 0x00010002, 0x00030004)),
        rb.chunk(b"dlid", b"\x11" * 16),
        rb.lst(b"lins", ins),
        ptbl,
        wvpl,
        rb.info(INAM="Bank", ICOP="x"),
    )
    col = dls.read(data)
    assert col.warnings == []
    assert col.level == 2
    assert col.version == (0x00010002, 0x00030004) and col.version_string() == "1.2.3.4"
    assert col.dlid == b"\x11" * 16
    assert col.info == {"INAM": "Bank", "ICOP": "x"}
    (i,) = col.instruments
    assert (i.name, i.bank_msb, i.bank_lsb, i.is_drum, i.program) == ("Kit", 1, 2, True, 17)
    assert i.dlid == bytes(range(16)) and i.info["ICMT"] == "a comment"
    assert len(i.articulations) == 1 and i.articulations[0].level == 1
    (r,) = i.regions
    assert (r.key_low, r.key_high, r.vel_low, r.vel_high, r.key_group, r.layer) == (36, 48, 10, 100, 3, 2)
    assert r.self_non_exclusive
    assert r.wave_link == dls.WaveLink(
        0, C.F_WAVELINK_PHASE_MASTER | C.F_WAVELINK_MULTICHANNEL, 4, C.WAVELINK_CHANNEL_RIGHT
    )
    assert r.wave_link.phase_master and r.wave_link.multichannel
    ws = r.wave_sample
    assert (ws.unity_note, ws.fine_tune, ws.attenuation_db, ws.options) == (50, -7, 3.0, C.F_WSMP_NO_TRUNCATION)
    assert ws.loops == [dls.Loop(C.WLOOP_TYPE_RELEASE, 100, 500)]
    (a,) = r.articulations
    assert a.level == 2
    c1 = a.connections[1]
    assert c1.source == C.CONN_SRC_KEYONVELOCITY and c1.destination == C.CONN_DST_GAIN
    assert c1.source_invert and c1.source_transform == C.CONN_TRN_CONCAVE and not c1.source_bipolar
    assert c1.scale == -960 * 65536
    (w,) = col.waves
    assert (w.channels, w.sample_rate, w.bits_per_sample, w.frames, w.name) == (1, 22050, 16, 1000, "sine")
    assert w.wave_sample.loops == [dls.Loop(0, 0, 1000)]


def test_level1_region_and_12_byte_rgnh():
    col = dls.read(rb.simple_bank(level2=False))
    r = col.instruments[0].regions[0]
    assert r.level == 1 and r.layer is None
    assert col.level == 1


def test_wsmp_with_larger_header_size_is_honoured():
    col = dls.read(rb.simple_bank(region_extra=rb.wsmp(loops=[(0, 10, 20)], cb=24)))
    assert col.instruments[0].regions[0].wave_sample.loops == [dls.Loop(0, 10, 20)]


def test_8bit_and_stereo_waves():
    data8 = bytes([128, 255, 0, 128] * 10)
    w8 = rb.wave_list(rb.fmt(bits=8), rb.chunk(b"data", data8))
    st = np.array([[1, -1], [2, -2], [3, -3]], dtype="<i2").tobytes()
    w2 = rb.wave_list(rb.fmt(channels=2), rb.chunk(b"data", st))
    ins = rb.lst(
        b"ins ",
        rb.insh(2),
        rb.lst(b"lrgn", rb.lst(b"rgn2", rb.rgnh(0, 10), rb.wlnk(0)), rb.lst(b"rgn2", rb.rgnh(11, 20), rb.wlnk(1))),
    )
    ptbl, wvpl = rb.pool([w8, w2])
    col = dls.read(rb.dls_file(rb.colh(1), rb.lst(b"lins", ins), ptbl, wvpl))
    assert col.waves[0].data[:4, 0].tolist() == [128, 255, 0, 128]
    assert col.waves[1].data.tolist() == [[1, -1], [2, -2], [3, -3]]


def test_unsupported_formats_are_reported_with_the_wave_index():
    adpcm = rb.wave_list(rb.fmt(tag=2, bits=4), rb.chunk(b"data", b"\1" * 64))
    pcm24 = rb.wave_list(rb.fmt(bits=24), rb.chunk(b"data", b"\0" * 30))
    good = rb.wave_list(rb.fmt(), rb.chunk(b"data", rb.pcm16(100)))
    ins = rb.lst(b"ins ", rb.insh(1), rb.lst(b"lrgn", rb.lst(b"rgn2", rb.rgnh(), rb.wlnk(2))))
    ptbl, wvpl = rb.pool([adpcm, pcm24, good])
    col = dls.read(rb.dls_file(rb.colh(1), rb.lst(b"lins", ins), ptbl, wvpl))
    assert [w.supported for w in col.waves] == [False, False, True]
    assert any(w.startswith("wave #0") and "MS ADPCM" in w for w in col.warnings)
    assert any(w.startswith("wave #1") and "24-bit PCM" in w for w in col.warnings)


# --- conditional chunks -----------------------------------------------------------------------


def _cdl(ops) -> bytes:
    return rb.chunk(b"cdl ", encode(ops))


NOT_GM = [(C.DLS_CDL_QUERY, C.DLSID_GMInHardware), (C.DLS_CDL_NOT, None)]
IS_GM = [(C.DLS_CDL_QUERY, C.DLSID_GMInHardware)]


def _cdl_bank() -> bytes:
    def ins(prog, cond):
        return rb.lst(b"ins ", _cdl(cond), rb.insh(1, 0, prog), rb.lst(b"lrgn", rb.lst(b"rgn2", rb.rgnh(), rb.wlnk(0))))

    lar2 = rb.lst(
        b"lar2",
        _cdl(IS_GM),
        rb.art(b"art2", [(0, 0, C.CONN_DST_PAN, 0, 1)]),
        _cdl(NOT_GM),
        rb.art(b"art2", [(0, 0, C.CONN_DST_PAN, 0, 2)]),
    )
    both = rb.lst(
        b"ins ",
        rb.insh(2, 0, 3),
        rb.lst(
            b"lrgn",
            rb.lst(b"rgn2", _cdl(IS_GM), rb.rgnh(0, 10), rb.wlnk(0)),
            rb.lst(b"rgn2", rb.rgnh(11, 20), rb.wlnk(0), lar2),
        ),
    )
    w = rb.wave_list(rb.fmt(), rb.chunk(b"data", rb.pcm16(100)))
    ptbl, wvpl = rb.pool([w])
    return rb.dls_file(rb.colh(3), rb.lst(b"lins", ins(1, NOT_GM), ins(2, IS_GM), both), ptbl, wvpl)


def test_cdl_conditions_with_default_capabilities():
    col = dls.read(_cdl_bank())
    assert [i.program for i in col.instruments] == [1, 3]
    (r,) = col.instruments[1].regions
    assert r.key_low == 11
    assert [a.connections[0].scale for a in r.articulations] == [2]


def test_cdl_conditions_with_gm_in_hardware():
    col = dls.read(_cdl_bank(), capabilities=Capabilities(gm_in_hardware=True))
    assert [i.program for i in col.instruments] == [2, 3]
    assert len(col.instruments[1].regions) == 2
    assert [a.connections[0].scale for a in col.instruments[1].regions[1].articulations] == [1]


@pytest.mark.parametrize(
    "ops,expected",
    [
        ([(C.DLS_CDL_CONST, 5), (C.DLS_CDL_CONST, 3), (C.DLS_CDL_GT, None)], True),
        ([(C.DLS_CDL_CONST, 5), (C.DLS_CDL_CONST, 3), (C.DLS_CDL_LT, None)], False),
        (
            [
                (C.DLS_CDL_CONST, 6),
                (C.DLS_CDL_CONST, 3),
                (C.DLS_CDL_DIVIDE, None),
                (C.DLS_CDL_CONST, 2),
                (C.DLS_CDL_EQ, None),
            ],
            True,
        ),
        ([(C.DLS_CDL_QUERY, C.DLSID_SampleMemorySize), (C.DLS_CDL_CONST, 1 << 20), (C.DLS_CDL_GE, None)], True),
        ([(C.DLS_CDL_QUERYSUPPORTED, b"\x99" * 16)], False),
        ([(C.DLS_CDL_QUERYSUPPORTED, C.DLSID_SupportsDLS2)], True),
        (
            [
                (C.DLS_CDL_QUERY, C.DLSID_SupportsDLS1),
                (C.DLS_CDL_QUERY, C.DLSID_XGInHardware),
                (C.DLS_CDL_LOGICAL_OR, None),
            ],
            True,
        ),
        (
            [
                (C.DLS_CDL_QUERY, C.DLSID_SupportsDLS1),
                (C.DLS_CDL_QUERY, C.DLSID_XGInHardware),
                (C.DLS_CDL_LOGICAL_AND, None),
            ],
            False,
        ),
        ([(C.DLS_CDL_CONST, 0xF0), (C.DLS_CDL_CONST, 0x0F), (C.DLS_CDL_AND, None)], False),
        ([(C.DLS_CDL_CONST, 7), (C.DLS_CDL_CONST, 0), (C.DLS_CDL_DIVIDE, None)], False),
    ],
)
def test_cdl_stack_machine(ops, expected):
    from dlsynth.dls.cdl import evaluate, parse

    assert evaluate(parse(encode(ops))) is expected


def test_malformed_cdl_is_a_warning_and_holds():
    col = dls.read(rb.simple_bank(region_extra=rb.chunk(b"cdl ", struct.pack("<H", C.DLS_CDL_AND))))
    assert len(col.instruments[0].regions) == 1
    assert any("malformed condition" in w for w in col.warnings)


# --- odd but playable layouts ------------------------------------------------------------------


def test_art1_inside_lar2_and_cdl_inside_lart_are_accepted():
    extra = rb.lst(b"lar2", rb.art(b"art1", [(0, 0, C.CONN_DST_PAN, 0, 5)])) + rb.lst(
        b"lart", _cdl([(C.DLS_CDL_CONST, 1)]), rb.art(b"art1", [(0, 0, C.CONN_DST_PAN, 0, 6)])
    )
    col = dls.read(rb.simple_bank(region_extra=extra))
    arts = col.instruments[0].regions[0].articulations
    assert [(a.level, a.connections[0].scale) for a in arts] == [(1, 5), (1, 6)]
    assert any("art1 inside LIST lar2" in w for w in col.warnings)


def test_ptbl_after_wvpl_is_accepted():
    w = rb.wave_list(rb.fmt(), rb.chunk(b"data", rb.pcm16(100)))
    ptbl, wvpl = rb.pool([w])
    ins = rb.lst(b"ins ", rb.insh(1), rb.lst(b"lrgn", rb.lst(b"rgn2", rb.rgnh(), rb.wlnk(0))))
    col = dls.read(rb.dls_file(rb.colh(1), rb.lst(b"lins", ins), wvpl, ptbl))
    assert col.waves[0].frames == 100
    assert any("ptbl after LIST wvpl" in w for w in col.warnings)


def test_riff_size_larger_than_the_file_is_accepted():
    data = rb.simple_bank()
    data = data[:4] + struct.pack("<I", len(data) + 5000) + data[8:]
    col = dls.read(data)
    assert len(col.instruments) == 1
    assert any("larger than the file" in w for w in col.warnings)


def test_riff_size_smaller_than_the_file_is_accepted():
    data = rb.simple_bank() + b"\0" * 64
    col = dls.read(data)
    assert len(col.instruments) == 1
    assert any("smaller than the file" in w for w in col.warnings)


def test_pool_offsets_counted_from_the_list_header_are_accepted():
    w = rb.wave_list(rb.fmt(), rb.chunk(b"data", rb.pcm16(100)))
    w2 = rb.wave_list(rb.fmt(), rb.chunk(b"data", rb.pcm16(50)))
    _, wvpl = rb.pool([w, w2])
    ptbl = rb.chunk(b"ptbl", struct.pack("<IIII", 8, 2, 12, 12 + len(w)))
    ins = rb.lst(b"ins ", rb.insh(1), rb.lst(b"lrgn", rb.lst(b"rgn2", rb.rgnh(), rb.wlnk(1))))
    col = dls.read(rb.dls_file(rb.colh(1), rb.lst(b"lins", ins), ptbl, wvpl))
    assert [w.frames for w in col.waves] == [100, 50]
    assert any("count from the LIST wvpl header" in w for w in col.warnings)


def test_pool_table_order_differs_from_wave_order():
    w_a = rb.wave_list(rb.fmt(), rb.chunk(b"data", rb.pcm16(100)))
    w_b = rb.wave_list(rb.fmt(), rb.chunk(b"data", rb.pcm16(30)))
    _, wvpl = rb.pool([w_a, w_b])
    ptbl = rb.chunk(b"ptbl", struct.pack("<IIII", 8, 2, len(w_a), 0))
    ins = rb.lst(b"ins ", rb.insh(1), rb.lst(b"lrgn", rb.lst(b"rgn2", rb.rgnh(), rb.wlnk(0))))
    col = dls.read(rb.dls_file(rb.colh(1), rb.lst(b"lins", ins), ptbl, wvpl))
    assert [w.frames for w in col.waves] == [30, 100]


# --- broken files: one exception type, a message with path and offset ---------------------------


def test_wsmp_too_small_names_path_and_offset():
    # A region wsmp that cannot be read is ignored (the region plays with its wave's).
    short = rb.chunk(b"wsmp", b"\0" * 12)
    data = rb.simple_bank(region_extra=short)
    col = dls.read(data)
    off = data.find(b"wsmp")
    assert col.warnings == [f"LIST lins > LIST ins  > LIST lrgn > LIST rgn2 > wsmp at 0x{off:x}: size 12 < 20; ignored"]
    assert col.instruments[0].regions[0].wave_sample is None


def test_path_names_the_nth_sibling():
    good = rb.lst(b"rgn2", rb.rgnh(), rb.wlnk(0))
    bad = rb.lst(b"rgn2", rb.rgnh(), rb.wlnk(0), rb.chunk(b"wsmp", b"\0" * 8))
    ins = rb.lst(b"ins ", rb.insh(3), rb.lst(b"lrgn", good, good, bad))
    w = rb.wave_list(rb.fmt(), rb.chunk(b"data", rb.pcm16(100)))
    ptbl, wvpl = rb.pool([w])
    col = dls.read(rb.dls_file(rb.colh(2), rb.lst(b"lins", ins, ins), ptbl, wvpl))
    assert len(col.warnings) == 2
    assert col.warnings[0].startswith("LIST lins > LIST ins  > LIST lrgn > LIST rgn2 #3 > wsmp at 0x")
    assert col.warnings[1].startswith("LIST lins > LIST ins  #2 > LIST lrgn > LIST rgn2 #3 > wsmp at 0x")


@pytest.mark.parametrize("cut", [13, 40, 100, 500, 1200])
def test_truncated_files(cut):
    data = rb.simple_bank()
    assert cut < len(data)
    msg = read_err(data[:cut])
    assert "at 0x" in msg or "too short" in msg or "no LIST lins" in msg


def test_size_overrunning_parent():
    data = bytearray(rb.simple_bank())
    pos = data.find(b"rgnh")
    struct.pack_into("<I", data, pos + 4, 10_000)
    msg = read_err(bytes(data))
    assert f"rgnh at 0x{pos:x}: size 10000 overruns its parent" in msg


def test_counts_that_disagree():
    # The counts are redundant: what the lists hold is read, with a warning.
    data = rb.simple_bank()
    col = dls.read(data.replace(rb.colh(1), rb.colh(2)))
    assert col.warnings == ["colh at 0xc: colh says 2 instruments, LIST lins has 1; read 1"]
    assert len(col.instruments) == 1
    col = dls.read(data.replace(rb.insh(1, 0, 5), rb.insh(4, 0, 5)))
    assert len(col.warnings) == 1 and "insh says 4 regions, LIST lrgn has 1; read 1" in col.warnings[0]
    assert len(col.instruments[0].regions) == 1


def test_wave_link_pointing_nowhere():
    # The bank's only region cannot be played: nothing can, and the error names the region.
    data = rb.simple_bank().replace(rb.wlnk(0), rb.wlnk(7))
    msg = read_err(data)
    assert msg.startswith(
        "nothing in the file can be played; the first problem: LIST lins > LIST ins  > LIST lrgn > LIST rgn2 at 0x"
    )
    assert "links to wave 7, but the pool table has 1 entries" in msg


def test_pool_table_pointing_nowhere():
    data = rb.simple_bank()
    pos = data.find(b"ptbl")
    data = data[: pos + 16] + struct.pack("<I", 3) + data[pos + 20 :]
    assert "cue #0 points at offset 0x3" in read_err(data)


def test_loop_outside_the_wave():
    # A loop running past the wave's end is clamped to it; one starting past it is dropped.
    data = rb.simple_bank(region_extra=rb.wsmp(loops=[(0, 900, 200)]), frames=1000)
    col = dls.read(data)
    assert col.instruments[0].regions[0].wave_sample.loops == [dls.Loop(0, 900, 100)]
    assert (
        len(col.warnings) == 1
        and "loop 900+200 lies outside the wave (1000 frames); clamped to 900+100" in col.warnings[0]
    )
    data = rb.simple_bank(wave_extra=rb.wsmp(loops=[(0, 1000, 5000)]), frames=1000)
    col = dls.read(data)
    assert col.waves[0].wave_sample.loops == []
    assert col.warnings[0].startswith("wave #0 (LIST wvpl > LIST wave at 0x")
    assert "loop 1000+5000 lies outside the wave (1000 frames); played without it" in col.warnings[0]


def test_huge_counts_fail_fast_without_memory():
    # Counts larger than their chunk: what fits is read, quickly, with a warning.
    conns = rb.chunk(b"art2", struct.pack("<II", 8, 0x7FFFFFFF))
    t0 = time.perf_counter()
    col = dls.read(rb.simple_bank(region_extra=rb.lst(b"lar2", conns)))
    assert "2147483647 connection blocks need" in col.warnings[0] and "the 0 that fit are read" in col.warnings[0]
    assert len(col.instruments[0].regions[0].articulations[0]) == 0
    col = dls.read(rb.simple_bank(region_extra=rb.chunk(b"wsmp", struct.pack("<IHhiII", 20, 60, 0, 0, 0, 0xFFFFFFFF))))
    assert "4294967295 loops need" in col.warnings[0]
    assert col.instruments[0].regions[0].wave_sample.loops == []
    assert time.perf_counter() - t0 < MAX_SECONDS_FOR_A_BAD_SMALL_FILE


def test_recursion_bomb_is_not_followed():
    # The reader descends only where DLS nests (lins > ins > lrgn > rgn > lar2); lists
    # nested anywhere else are skipped whole, so depth costs nothing.
    inner = b""
    for _ in range(20000):
        inner = rb.lst(b"lrgn", inner)
    ins = rb.lst(b"ins ", rb.insh(0), rb.lst(b"lrgn", inner))
    t0 = time.perf_counter()
    col = dls.read(rb.dls_file(rb.colh(1), rb.lst(b"lins", ins)))
    assert time.perf_counter() - t0 < MAX_SECONDS_FOR_A_BAD_SMALL_FILE
    assert col.instruments[0].regions == []
    assert any("unexpected chunk in lrgn ignored" in w for w in col.warnings)


def test_walker_refuses_deep_nesting():
    from dlsynth.dls.riff import MAX_DEPTH, Chunk, children

    data = rb.lst(b"lrgn", b"")
    root = Chunk(b"RIFF", b"DLS ", 0, 0, len(data), None, data)
    with pytest.raises(dls.DLSError, match="nested deeper than"):
        children(data, root, MAX_DEPTH + 1)


def test_not_dls_files():
    assert "SoundFont 2" in read_err(b"RIFF\x04\x00\x00\x00sfbk")
    assert "not a RIFF file" in read_err(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x00\x60")
    assert "is not 'DLS '" in read_err(b"RIFF\x04\x00\x00\x00WAVE")
    assert "empty" in read_err(b"")
    assert "too short" in read_err(b"RIFF")


def test_missing_and_unreadable_paths(tmp_path):
    with pytest.raises(dls.DLSError, match="no such file"):
        dls.read(tmp_path / "nope.dls")
    with pytest.raises(dls.DLSError, match="is a directory"):
        dls.read(tmp_path)
    empty = tmp_path / "empty.dls"
    empty.write_bytes(b"")
    with pytest.raises(dls.DLSError, match="empty"):
        dls.read(empty)


def test_error_from_a_path_names_the_file(tmp_path):
    p = tmp_path / "bad.dls"
    p.write_bytes(rb.simple_bank()[:200])
    with pytest.raises(dls.DLSError) as ei:
        dls.read(p)
    assert str(ei.value).startswith(str(p) + ": ")


def test_region_without_wave_link_or_header():
    ins = rb.lst(b"ins ", rb.insh(1), rb.lst(b"lrgn", rb.lst(b"rgn2", rb.rgnh())))
    w = rb.wave_list(rb.fmt(), rb.chunk(b"data", rb.pcm16(10)))
    ptbl, wvpl = rb.pool([w])
    assert "no wlnk" in read_err(rb.dls_file(rb.colh(1), rb.lst(b"lins", ins), ptbl, wvpl))
    ins = rb.lst(b"ins ", rb.insh(1), rb.lst(b"lrgn", rb.lst(b"rgn2", rb.wlnk(0))))
    assert "no rgnh" in read_err(rb.dls_file(rb.colh(1), rb.lst(b"lins", ins), ptbl, wvpl))


def test_bad_key_range():
    data = rb.simple_bank().replace(rb.rgnh(), rb.rgnh(80, 60))
    assert "key range 80-60" in read_err(data)


def test_wave_without_fmt_or_data():
    ins = rb.lst(b"ins ", rb.insh(1), rb.lst(b"lrgn", rb.lst(b"rgn2", rb.rgnh(), rb.wlnk(0))))
    for w, what in ((rb.wave_list(rb.chunk(b"data", b"\0\0")), "no fmt"), (rb.wave_list(rb.fmt()), "no data")):
        ptbl, wvpl = rb.pool([w])
        assert what in read_err(rb.dls_file(rb.colh(1), rb.lst(b"lins", ins), ptbl, wvpl))
