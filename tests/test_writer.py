"""dls.writer: byte layout checked with struct, validation, atomic writes, round trips."""

from __future__ import annotations

import os
import stat
import struct
import time
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlsynth.dls import constants as C
from dlsynth.dls.errors import DLSError
from dlsynth.dls.model import (
    CONNECTION_DTYPE,
    Articulation,
    Collection,
    Connection,
    Instrument,
    Loop,
    Region,
    Wave,
    WaveLink,
    WaveSample,
)
from dlsynth.dls.writer import write


# ------------------------------------------------------------------------------------------
# A tiny independent RIFF walker (struct only) for checking the layout
# ------------------------------------------------------------------------------------------
@dataclass
class Node:
    id: bytes
    type: bytes | None
    offset: int  # of the header
    start: int  # of the data (after the list type for LIST/RIFF)
    size: int  # bytes of data from start
    kids: list["Node"] = field(default_factory=list)

    def body(self, buf: bytes) -> bytes:
        return buf[self.start : self.start + self.size]

    @property
    def name(self) -> bytes:
        return self.id + (b":" + self.type if self.type else b"")

    def names(self) -> list[bytes]:
        return [k.name for k in self.kids]

    def get(self, name: bytes) -> "Node":
        found = [k for k in self.kids if k.name == name]
        assert len(found) == 1, (name, self.names())
        return found[0]

    def all(self, name: bytes) -> list["Node"]:
        return [k for k in self.kids if k.name == name]


def _walk(buf: bytes, start: int, end: int) -> list[Node]:
    out = []
    pos = start
    while pos < end:
        assert end - pos >= 8, f"stray bytes at {pos}"
        cid, size = struct.unpack_from("<4sI", buf, pos)
        assert pos + 8 + size <= end, f"{cid!r} at {pos} overruns its parent"
        if cid in (b"RIFF", b"LIST"):
            node = Node(cid, buf[pos + 8 : pos + 12], pos, pos + 12, size - 4)
            node.kids = _walk(buf, node.start, node.start + node.size)
        else:
            node = Node(cid, None, pos, pos + 8, size)
        if size & 1:
            assert buf[pos + 8 + size] == 0, f"pad byte after {cid!r} is not zero"
        out.append(node)
        pos += 8 + size + (size & 1)
    assert pos == end, f"children end at {pos}, parent at {end}"
    return out


def parse(buf: bytes) -> Node:
    assert len(buf) % 2 == 0
    cid, size = struct.unpack_from("<4sI", buf, 0)
    assert cid == b"RIFF"
    assert size == len(buf) - 8
    assert buf[8:12] == b"DLS "
    root = Node(b"RIFF", b"DLS ", 0, 12, size - 4)
    root.kids = _walk(buf, 12, len(buf))
    return root


def info_of(buf: bytes, node: Node) -> dict[str, bytes]:
    assert node.name == b"LIST:INFO"
    return {k.id.decode("ascii"): k.body(buf) for k in node.kids}


# ------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------
DLID_A = bytes(range(16))
DLID_B = bytes(range(100, 116))
DLID_D = bytes(range(50, 66))


def art2() -> Articulation:
    """A fresh Level 2 articulation (fresh so tests that mutate one cannot leak)."""
    return Articulation(
        2,
        [
            Connection(C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_ATTACKTIME, C.CONN_TRN_NONE, -12345678),
            Connection(
                C.CONN_SRC_KEYONVELOCITY,
                C.CONN_SRC_NONE,
                C.CONN_DST_GAIN,
                C.CONN_TRN_CONCAVE | C.TRN_SOURCE_INVERT,
                -96 * 655360,
            ),
            Connection(C.CONN_SRC_CC1, C.CONN_SRC_NONE, C.CONN_DST_FILTER_CUTOFF, 0, 0x7FFFFFFF),
        ],
    )


def art1() -> Articulation:
    return Articulation(
        1,
        [
            Connection(C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_RELEASETIME, 0, 0x80000000 - 2**32),
            Connection(C.CONN_SRC_LFO, C.CONN_SRC_NONE, C.CONN_DST_PITCH, 0, 50 * 65536),
        ],
    )


def art2_ins() -> Articulation:
    return Articulation(2, [Connection(C.CONN_SRC_NONE, 0, C.CONN_DST_PAN, 0, -500 * 65536)])


def sine16(frames: int, channels: int = 1) -> np.ndarray:
    t = np.arange(frames)
    col = (np.sin(2 * np.pi * t / 50) * 20000).astype(np.int16)
    return np.stack([col // (c + 1) for c in range(channels)], axis=1)


def make_waves() -> list[Wave]:
    w0 = Wave.from_pcm16(
        sine16(1000),
        44100,
        WaveSample(60, -5, -65536 * 3, C.F_WSMP_NO_TRUNCATION, [Loop(C.WLOOP_TYPE_FORWARD, 100, 800)]),
        name="sine",
    )
    w0.dlid = DLID_D
    w1 = Wave.from_pcm8((np.arange(101) * 5 % 256).astype(np.uint8), 22050)  # odd data size: padded
    w2 = Wave.from_pcm16(
        sine16(500, 2), 32000, WaveSample(72, 10, 0, 0, [Loop(C.WLOOP_TYPE_RELEASE, 10, 400)]), name="stereo"
    )
    w2.info["ICMT"] = "two channels"
    w3 = Wave.from_pcm8(np.full((64, 2), 128, np.uint8), 11025, name="8-bit stereo")
    return [w0, w1, w2, w3]


def make_collection() -> Collection:
    """A mixed Level 1 / Level 2 collection exercising every chunk the writer knows."""
    waves = make_waves()
    piano = Instrument(
        name="Grand Piano",
        bank=Instrument.make_bank(1, 2),
        program=5,
        regions=[
            Region(
                0,
                59,
                0,
                63,
                C.F_RGN_OPTION_SELFNONEXCLUSIVE,
                0,
                1,
                WaveLink(0, C.F_WAVELINK_PHASE_MASTER, 3, 1),
                WaveSample(48, 3, 65536, 0, [Loop(0, 0, 1000)]),
                [art2()],
                2,
            ),
            Region(60, 127, 64, 127, 0, 0, None, WaveLink(2, C.F_WAVELINK_MULTICHANNEL, 0, 3), None, [], 2),
            Region(60, 127, 0, 63, 0, 0, 7, WaveLink(1), None, [art1(), art2()], 2),
        ],
        articulations=[art2_ins()],
        dlid=DLID_B,
        info={"INAM": "Grand Piano", "ICMT": "a comment"},
    )
    drums = Instrument(
        name="Standard Kit",
        bank=Instrument.make_bank(0, 0, drum=True),
        program=0,
        regions=[
            Region(35, 36, 0, 127, 0, 1, None, WaveLink(1), None, [art1()], 1),
            Region(38, 38, 0, 127, 0, 1, None, WaveLink(3), WaveSample(38, 0, 0, 0, []), [], 1),
        ],
        articulations=[art1()],
        info={"INAM": "Standard Kit"},
    )
    bare = Instrument(name="", bank=0, program=127, regions=[])
    return Collection(
        instruments=[piano, drums, bare],
        waves=waves,
        version=(0x00010002, 0x00030004),
        dlid=DLID_A,
        info={"INAM": "Test Bank", "ICOP": "(c) nobody", "ISFT": "dlsynth"},
    )


def make_level1_collection() -> Collection:
    waves = [
        Wave.from_pcm8(
            (np.arange(300) % 256).astype(np.uint8), 22050, WaveSample(60, 0, 0, 0, [Loop(0, 20, 200)]), name="saw8"
        ),
        Wave.from_pcm16(sine16(256), 22050, name="sine16"),
    ]
    ins = [
        Instrument(
            name="Lead",
            bank=0,
            program=80,
            regions=[Region(0, 127, 0, 127, 0, 0, None, WaveLink(0), None, [], 1)],
            articulations=[art1()],
            info={"INAM": "Lead"},
        ),
        Instrument(
            name="Kit",
            bank=C.F_INSTRUMENT_DRUMS,
            program=0,
            regions=[
                Region(36, 36, 0, 127, 0, 0, None, WaveLink(1), WaveSample(36, 0, 0, 0, [Loop(1, 0, 256)]), [art1()], 1)
            ],
            info={"INAM": "Kit"},
        ),
    ]
    return Collection(instruments=ins, waves=waves, info={"INAM": "L1"})


def all_regions(col: Collection):
    for ins in col.instruments:
        yield from ins.regions


# ------------------------------------------------------------------------------------------
# Byte layout
# ------------------------------------------------------------------------------------------
def test_top_level_order_and_sizes():
    col = make_collection()
    buf = write(col)
    root = parse(buf)
    assert root.names() == [b"colh", b"vers", b"dlid", b"LIST:lins", b"ptbl", b"LIST:wvpl", b"LIST:INFO"]
    assert struct.unpack("<I", root.get(b"colh").body(buf)) == (3,)
    assert struct.unpack("<II", root.get(b"vers").body(buf)) == (0x00010002, 0x00030004)
    assert root.get(b"dlid").body(buf) == DLID_A
    assert info_of(buf, root.get(b"LIST:INFO")) == {
        "INAM": b"Test Bank\0",
        "ICOP": b"(c) nobody\0",
        "ISFT": b"dlsynth\0",
    }
    assert [k.name for k in root.get(b"LIST:lins").kids] == [b"LIST:ins "] * 3
    assert [k.name for k in root.get(b"LIST:wvpl").kids] == [b"LIST:wave"] * 4


def test_optional_top_level_chunks_omitted():
    buf = write(Collection())
    root = parse(buf)
    assert root.names() == [b"colh", b"LIST:lins", b"ptbl", b"LIST:wvpl"]
    assert struct.unpack("<I", root.get(b"colh").body(buf)) == (0,)
    assert struct.unpack("<II", root.get(b"ptbl").body(buf)) == (8, 0)
    assert root.get(b"LIST:lins").size == 0 and root.get(b"LIST:wvpl").size == 0
    assert len(buf) == 12 + 12 + 12 + 16 + 12


def test_pool_table_offsets_point_at_wave_lists():
    col = make_collection()
    buf = write(col)
    root = parse(buf)
    ptbl = root.get(b"ptbl")
    cb, cues = struct.unpack_from("<II", buf, ptbl.start)
    assert (cb, cues) == (8, len(col.waves))
    assert ptbl.size == 8 + 4 * cues
    offsets = struct.unpack_from(f"<{cues}I", buf, ptbl.start + 8)
    wvpl = root.get(b"LIST:wvpl")
    base = wvpl.start  # first byte after the 'wvpl' list type
    assert buf[base - 4 : base] == b"wvpl"
    assert offsets[0] == 0
    for off, node in zip(offsets, wvpl.kids):
        pos = base + off
        assert pos == node.offset
        assert buf[pos : pos + 4] == b"LIST"
        assert buf[pos + 8 : pos + 12] == b"wave"
        (size,) = struct.unpack_from("<I", buf, pos + 4)
        assert size == node.size + 4


def test_wave_chunks():
    col = make_collection()
    buf = write(col)
    waves = parse(buf).get(b"LIST:wvpl").kids
    assert waves[0].names() == [b"fmt ", b"wsmp", b"data", b"dlid", b"LIST:INFO"]
    assert waves[1].names() == [b"fmt ", b"data"]
    assert waves[2].names() == [b"fmt ", b"wsmp", b"data", b"LIST:INFO"]
    assert waves[3].names() == [b"fmt ", b"data", b"LIST:INFO"]

    fmt = waves[2].get(b"fmt ")
    assert fmt.size == 16
    assert struct.unpack("<HHIIHH", fmt.body(buf)) == (1, 2, 32000, 128000, 4, 16)
    assert struct.unpack("<HHIIHH", waves[1].get(b"fmt ").body(buf)) == (1, 1, 22050, 22050, 1, 8)

    # 16-bit stereo: interleaved little-endian frames
    data = waves[2].get(b"data")
    assert data.size == 500 * 4
    assert np.array_equal(np.frombuffer(data.body(buf), "<i2").reshape(-1, 2), col.waves[2].data)

    # 8-bit, odd size: pad byte not counted, next chunk starts after it
    data8 = waves[1].get(b"data")
    assert data8.size == 101
    assert data8.body(buf) == col.waves[1].data.tobytes()
    assert buf[data8.start + 101] == 0
    assert waves[1].offset + 8 + waves[1].size + 4 == data8.start + 102

    assert waves[0].get(b"dlid").body(buf) == DLID_D
    assert info_of(buf, waves[2].get(b"LIST:INFO")) == {"INAM": b"stereo\0", "ICMT": b"two channels\0"}


def test_wsmp_layout():
    col = make_collection()
    buf = write(col)
    wsmp = parse(buf).get(b"LIST:wvpl").kids[0].get(b"wsmp")
    assert wsmp.size == 20 + 16
    assert struct.unpack_from("<IHhiII", buf, wsmp.start) == (20, 60, -5, -65536 * 3, C.F_WSMP_NO_TRUNCATION, 1)
    assert struct.unpack_from("<IIII", buf, wsmp.start + 20) == (16, 0, 100, 800)
    wsmp2 = parse(buf).get(b"LIST:wvpl").kids[2].get(b"wsmp")
    assert struct.unpack_from("<IIII", buf, wsmp2.start + 20) == (16, 1, 10, 400)


def test_instrument_layout():
    col = make_collection()
    buf = write(col)
    ins = parse(buf).get(b"LIST:lins").kids
    assert ins[0].names() == [b"insh", b"dlid", b"LIST:lrgn", b"LIST:lar2", b"LIST:INFO"]
    assert ins[1].names() == [b"insh", b"LIST:lrgn", b"LIST:lart", b"LIST:INFO"]
    assert ins[2].names() == [b"insh", b"LIST:lrgn"]  # no name, no info: no INFO list
    assert struct.unpack("<III", ins[0].get(b"insh").body(buf)) == (3, (1 << 8) | 2, 5)
    assert struct.unpack("<III", ins[1].get(b"insh").body(buf)) == (2, 0x80000000, 0)
    assert struct.unpack("<III", ins[2].get(b"insh").body(buf)) == (0, 0, 127)
    assert ins[0].get(b"dlid").body(buf) == DLID_B
    assert info_of(buf, ins[0].get(b"LIST:INFO")) == {"INAM": b"Grand Piano\0", "ICMT": b"a comment\0"}
    assert [k.name for k in ins[0].get(b"LIST:lrgn").kids] == [b"LIST:rgn2"] * 3
    assert [k.name for k in ins[1].get(b"LIST:lrgn").kids] == [b"LIST:rgn "] * 2


def test_region_layout():
    col = make_collection()
    buf = write(col)
    ins = parse(buf).get(b"LIST:lins").kids
    r0, r1, r2 = ins[0].get(b"LIST:lrgn").kids
    assert r0.names() == [b"rgnh", b"wsmp", b"wlnk", b"LIST:lar2"]
    assert r1.names() == [b"rgnh", b"wlnk"]
    assert r2.names() == [b"rgnh", b"wlnk", b"LIST:lart", b"LIST:lar2"]
    # rgnh: 14 bytes with a layer, 12 without
    assert r0.get(b"rgnh").size == 14
    assert struct.unpack("<7H", r0.get(b"rgnh").body(buf)) == (0, 59, 0, 63, 1, 0, 1)
    assert r1.get(b"rgnh").size == 12
    assert struct.unpack("<6H", r1.get(b"rgnh").body(buf)) == (60, 127, 64, 127, 0, 0)
    assert struct.unpack("<7H", r2.get(b"rgnh").body(buf))[-1] == 7
    # wlnk
    assert r0.get(b"wlnk").size == 12
    assert struct.unpack("<HHII", r0.get(b"wlnk").body(buf)) == (C.F_WAVELINK_PHASE_MASTER, 3, 1, 0)
    assert struct.unpack("<HHII", r1.get(b"wlnk").body(buf)) == (C.F_WAVELINK_MULTICHANNEL, 0, 3, 2)
    # region wsmp override
    assert struct.unpack_from("<IHhiII", buf, r0.get(b"wsmp").start) == (20, 48, 3, 65536, 0, 1)
    assert struct.unpack_from("<IIII", buf, r0.get(b"wsmp").start + 20) == (16, 0, 0, 1000)
    # drum regions: Level 1, key group, wsmp with no loops
    d0, d1 = ins[1].get(b"LIST:lrgn").kids
    assert d0.name == b"LIST:rgn " and d0.get(b"rgnh").size == 12
    assert struct.unpack("<6H", d0.get(b"rgnh").body(buf)) == (35, 36, 0, 127, 0, 1)
    assert d1.names() == [b"rgnh", b"wsmp", b"wlnk"]
    assert d1.get(b"wsmp").size == 20


def test_articulation_layout():
    col = make_collection()
    buf = write(col)
    ins = parse(buf).get(b"LIST:lins").kids
    r2 = ins[0].get(b"LIST:lrgn").kids[2]
    lart, lar2 = r2.kids[2:]
    assert lart.names() == [b"art1"] and lar2.names() == [b"art2"]
    a1 = lart.get(b"art1")
    assert a1.size == 8 + 12 * len(art1())
    assert struct.unpack_from("<II", buf, a1.start) == (8, len(art1()))
    blocks = np.frombuffer(buf, CONNECTION_DTYPE, len(art1()), a1.start + 8)
    assert np.array_equal(blocks, art1().blocks)
    a2 = lar2.get(b"art2")
    assert struct.unpack_from("<II", buf, a2.start) == (8, len(art2()))
    row = struct.unpack_from("<HHHHi", buf, a2.start + 8 + 12)
    assert row == tuple(art2().connections[1])
    inst_art = ins[0].get(b"LIST:lar2").get(b"art2")
    assert struct.unpack_from("<IIHHHHi", buf, inst_art.start) == (8, 1) + tuple(art2_ins().connections[0])


def test_articulations_of_one_level_share_one_list(read):
    """A region's articulations of one level go in one LIST (DLS2: <lar2-list> -> LIST 'lar2'
    { <art2-ck>... }, one list per region): a reader that reads only a region's first lar2
    list, as SpessaSynth does, sees every connection; reading the file back gives them all
    again, in order."""
    col = make_level1_collection()
    second = Articulation(2, [Connection(C.CONN_SRC_CC1, C.CONN_SRC_NONE, C.CONN_DST_PITCH, 0, 50 * 65536)])
    col.instruments[0].regions[0].articulations = [art2(), second, art1()]
    buf = write(col)
    rgn = parse(buf).get(b"LIST:lins").kids[0].get(b"LIST:lrgn").kids[0]
    assert rgn.names() == [b"rgnh", b"wlnk", b"LIST:lar2", b"LIST:lart"]
    assert rgn.get(b"LIST:lar2").names() == [b"art2", b"art2"]
    assert rgn.get(b"LIST:lart").names() == [b"art1"]
    back = read(buf).instruments[0].regions[0].articulations
    assert [a.level for a in back] == [2, 2, 1]
    for got, want in zip(back, [art2(), second, art1()]):
        assert np.array_equal(got.blocks, want.blocks)


def test_empty_articulation():
    col = make_level1_collection()
    col.instruments[0].articulations = [Articulation(2)]
    buf = write(col)
    art = parse(buf).get(b"LIST:lins").kids[0].get(b"LIST:lar2").get(b"art2")
    assert art.size == 8 and struct.unpack("<II", art.body(buf)) == (8, 0)


def test_articulation_blocks_other_field_order_converted():
    other = np.dtype(
        [("scale", "<i8"), ("source", "<u4"), ("control", "u2"), ("destination", "i4"), ("transform", "u2")]
    )
    blocks = np.zeros(2, other)
    blocks["scale"] = [-5, 7]
    blocks["destination"] = [3, 4]
    col = make_level1_collection()
    col.instruments[0].articulations = [Articulation(2, blocks=blocks)]
    buf = write(col)
    art = parse(buf).get(b"LIST:lins").kids[0].get(b"LIST:lar2").get(b"art2")
    assert struct.unpack_from("<HHHHiHHHHi", buf, art.start + 8) == (0, 0, 3, 0, -5, 0, 0, 4, 0, 7)


def test_force_level_1():
    col = make_collection()
    buf = write(col, level=1)
    for ins in parse(buf).get(b"LIST:lins").kids:
        assert b"LIST:lar2" not in ins.names()
        for rgn in ins.get(b"LIST:lrgn").kids:
            assert rgn.name == b"LIST:rgn "
            assert rgn.get(b"rgnh").size == 12  # layer dropped
            for lst in rgn.kids[1:]:
                if lst.id == b"LIST":
                    assert lst.type == b"lart" and set(lst.names()) == {b"art1"}
    piano = parse(buf).get(b"LIST:lins").kids[0]
    assert piano.get(b"LIST:lart").names() == [b"art1"]
    r2 = piano.get(b"LIST:lrgn").kids[2]
    # the region's two articulations, both Level 1 now, share one list (DLS: <lart-list>
    # -> LIST 'lart' { <art1-ck>... }, one list per region)
    assert r2.names() == [b"rgnh", b"wlnk", b"LIST:lart"]
    assert r2.kids[2].names() == [b"art1", b"art1"]
    # the connection blocks themselves are unchanged
    art = r2.kids[2].kids[1]
    assert np.array_equal(np.frombuffer(buf, CONNECTION_DTYPE, len(art2()), art.start + 8), art2().blocks)
    # the model is not modified
    assert col.instruments[0].regions[0].layer == 1 and col.instruments[0].regions[0].level == 2


def test_force_level_2():
    col = make_collection()
    buf = write(col, level=2)
    for ins in parse(buf).get(b"LIST:lins").kids:
        assert b"LIST:lart" not in ins.names()
        for rgn in ins.get(b"LIST:lrgn").kids:
            assert rgn.name == b"LIST:rgn2"
            assert all(k.name != b"LIST:lart" for k in rgn.kids)
    drums = parse(buf).get(b"LIST:lins").kids[1]
    # Level 2 forcing does not invent a layer: the 12-byte header stays 12 bytes
    assert drums.get(b"LIST:lrgn").kids[0].get(b"rgnh").size == 12
    assert drums.get(b"LIST:lar2").names() == [b"art2"]


def test_level1_region_with_layer_unforced_keeps_layer():
    col = make_level1_collection()
    col.instruments[0].regions[0].layer = 3
    buf = write(col)
    rgn = parse(buf).get(b"LIST:lins").kids[0].get(b"LIST:lrgn").kids[0]
    assert rgn.name == b"LIST:rgn " and rgn.get(b"rgnh").size == 14
    assert parse(write(col, level=1)).get(b"LIST:lins").kids[0].get(b"LIST:lrgn").kids[0].get(b"rgnh").size == 12


def test_name_wins_over_info_inam_and_info_text_encoding():
    col = make_level1_collection()
    ins = col.instruments[0]
    ins.name = "Real Name"
    ins.info = {"INAM": "Stale", "ICMT": "héllo ☃", "IENG": "ab"}
    buf = write(col)
    info = parse(buf).get(b"LIST:lins").kids[0].get(b"LIST:INFO")
    assert info.names() == [b"INAM", b"ICMT", b"IENG"]
    assert info_of(buf, info) == {"INAM": b"Real Name\0", "ICMT": "héllo ?".encode("latin-1") + b"\0", "IENG": b"ab\0"}
    icmt = info.get(b"ICMT")
    assert icmt.size == 8 and not icmt.size & 1
    ieng = info.get(b"IENG")
    assert ieng.size == 3 and buf[ieng.start + 3] == 0  # odd: padded
    # no name: an explicit info['INAM'] is written
    ins.name = ""
    buf = write(col)
    assert info_of(buf, parse(buf).get(b"LIST:lins").kids[0].get(b"LIST:INFO"))["INAM"] == b"Stale\0"


def test_unsupported_wave_written_raw():
    col = make_level1_collection()
    col.waves.append(
        Wave(
            format_tag=2,
            channels=1,
            sample_rate=8000,
            bits_per_sample=4,
            block_align=256,
            avg_bytes_per_sec=4096,
            data=np.zeros((0, 1), np.int16),
            supported=False,
            raw_data=b"\x01\x02\x03",
        )
    )
    buf = write(col)
    wave = parse(buf).get(b"LIST:wvpl").kids[-1]
    assert wave.names() == [b"fmt ", b"data"]
    assert struct.unpack("<HHIIHH", wave.get(b"fmt ").body(buf)) == (2, 1, 8000, 4096, 256, 4)
    assert wave.get(b"data").body(buf) == b"\x01\x02\x03"


KSDATAFORMAT_SUBTYPE_PCM = bytes.fromhex("0100000000001000800000aa00389b71")


def extensible_wave() -> Wave:
    w = Wave.from_pcm16(sine16(40, 2), 48000, name="ext")
    w.format_tag = C.WAVE_FORMAT_EXTENSIBLE
    return w


def test_extensible_pcm_wave_gets_40_byte_fmt():
    col = Collection(waves=[extensible_wave()])
    buf = write(col)
    fmt = parse(buf).get(b"LIST:wvpl").kids[0].get(b"fmt ")
    assert fmt.size == 40
    assert struct.unpack_from("<HHIIHHHHI16s", buf, fmt.start) == (
        0xFFFE,
        2,
        48000,
        192000,
        4,
        16,
        22,
        16,
        0,
        KSDATAFORMAT_SUBTYPE_PCM,
    )


def test_raw_bank_bits_are_kept():
    col = make_level1_collection()
    col.instruments[0].bank = 0x7FFF_FFFF
    buf = write(col)
    insh = parse(buf).get(b"LIST:lins").kids[0].get(b"insh")
    assert struct.unpack("<III", insh.body(buf))[1] == 0x7FFF_FFFF


def test_big_endian_and_non_contiguous_data():
    base = sine16(300, 2)
    big = base.astype(">i2")
    w_big = Wave.from_pcm16(base)
    w_big.data = big
    w_strided = Wave.from_pcm16(base)
    w_strided.data = np.asfortranarray(base)
    w_mono1d = Wave.from_pcm16(base[:, 0])
    w_mono1d.data = np.ascontiguousarray(base[:, 0])  # 1-D mono is accepted
    col = Collection(waves=[w_big, w_strided, w_mono1d])
    buf = write(col)
    waves = parse(buf).get(b"LIST:wvpl").kids
    for node in waves[:2]:
        assert node.get(b"data").body(buf) == base.astype("<i2").tobytes()
    assert waves[2].get(b"data").body(buf) == base[:, 0].astype("<i2").tobytes()


def test_returns_bytes_and_is_deterministic():
    col = make_collection()
    a = write(col)
    assert isinstance(a, bytes)
    assert a == write(col)


# ------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------
def _bad(mutate):
    col = make_collection()
    mutate(col)
    return col


BAD = {
    "table index out of range": lambda c: setattr(c.instruments[0].regions[1].wave_link, "table_index", 4),
    "negative table index": lambda c: setattr(c.instruments[0].regions[1].wave_link, "table_index", -1),
    "wave loop past the end": lambda c: setattr(c.waves[0].wave_sample, "loops", [Loop(0, 900, 101)]),
    "wave loop negative start": lambda c: setattr(c.waves[0].wave_sample, "loops", [Loop(0, -1, 10)]),
    "region loop past the linked wave": lambda c: setattr(
        c.instruments[0].regions[0].wave_sample, "loops", [Loop(1, 0, 1001)]
    ),
    "key high > 127": lambda c: setattr(c.instruments[0].regions[0], "key_high", 128),
    "key low > high": lambda c: setattr(c.instruments[0].regions[0], "key_low", 60),
    "vel low 128": lambda c: setattr(c.instruments[0].regions[1], "vel_low", 128),
    "vel reversed": lambda c: (
        setattr(c.instruments[0].regions[0], "vel_low", 64),
        setattr(c.instruments[0].regions[0], "vel_high", 10),
    ),
    "negative key": lambda c: setattr(c.instruments[1].regions[0], "key_low", -1),
    "channels mismatch": lambda c: setattr(c.waves[2], "channels", 1),
    "8-bit with int16 data": lambda c: setattr(c.waves[0], "bits_per_sample", 8),
    "16-bit with uint8 data": lambda c: setattr(c.waves[1], "bits_per_sample", 16),
    "24-bit": lambda c: setattr(c.waves[0], "bits_per_sample", 24),
    "float data": lambda c: setattr(c.waves[0], "data", c.waves[0].data.astype(np.float32)),
    "3-D data": lambda c: setattr(c.waves[0], "data", c.waves[0].data[:, :, None]),
    "supported non-PCM": lambda c: setattr(c.waves[0], "format_tag", 3),
    "unsupported without raw data": lambda c: setattr(c.waves[1], "supported", False),
    "NUL in name": lambda c: setattr(c.instruments[0], "name", "bad\0name"),
    "name not a str": lambda c: setattr(c.instruments[0], "name", b"bytes"),
    "info key too long": lambda c: c.info.__setitem__("INAME", "x"),
    "info key not ascii": lambda c: c.instruments[0].info.__setitem__("IN\u00c4M", "x"),
    "info value not str": lambda c: c.waves[0].info.__setitem__("ICMT", 5),
    "short dlid": lambda c: setattr(c.instruments[0], "dlid", b"\0" * 15),
    "collection dlid str": lambda c: setattr(c, "dlid", "0123456789abcdef"),
    "program 128": lambda c: setattr(c.instruments[0], "program", 128),
    "bank > 32 bits": lambda c: setattr(c.instruments[0], "bank", 2**32),
    "zero-length loop": lambda c: setattr(c.waves[0].wave_sample, "loops", [Loop(0, 10, 0)]),
    "velocity 0..0": lambda c: setattr(c.instruments[0].regions[0], "vel_high", 0),
    "unity note 128": lambda c: setattr(c.waves[0].wave_sample, "unity_note", 128),
    "fine tune too big": lambda c: setattr(c.waves[0].wave_sample, "fine_tune", 40000),
    "key group not int": lambda c: setattr(c.instruments[0].regions[0], "key_group", 1.5),
    "layer too big": lambda c: setattr(c.instruments[0].regions[0], "layer", 70000),
    "region level 3": lambda c: setattr(c.instruments[0].regions[0], "level", 3),
    "articulation list": lambda c: setattr(c.instruments[0], "articulations", [[1, 2, 3, 4, 5]]),
    "articulation plain array": lambda c: setattr(
        c.instruments[0].articulations[0], "blocks", np.zeros((1, 5), np.int32)
    ),
    "articulation scale too big": lambda c: setattr(
        c.instruments[0].articulations[0],
        "blocks",
        np.array(
            [(0, 0, 1, 0, 2**31)],
            [("source", "u2"), ("control", "u2"), ("destination", "u2"), ("transform", "u2"), ("scale", "i8")],
        ),
    ),
    "version not a pair": lambda c: setattr(c, "version", (1, 2, 3)),
    "version negative": lambda c: setattr(c, "version", (-1, 0)),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_invalid_models_raise(case, tmp_path):
    col = _bad(BAD[case])
    with pytest.raises(DLSError):
        write(col)
    target = tmp_path / "out.dls"
    with pytest.raises(DLSError):
        write(col, target)
    assert list(tmp_path.iterdir()) == []


def test_error_messages_name_the_object():
    col = make_collection()
    col.instruments[1].regions[1].wave_link.table_index = 9
    with pytest.raises(DLSError, match=r"instrument 1 'Standard Kit' region 1.*table_index 9.*4 waves"):
        write(col)
    col = make_collection()
    col.waves[2].wave_sample.loops = [Loop(0, 400, 200)]
    with pytest.raises(DLSError, match=r"wave 2 'stereo'.*loop 0.*500 frames"):
        write(col)


def test_bad_level_argument():
    with pytest.raises(DLSError):
        write(make_collection(), level=3)
    with pytest.raises(DLSError):
        write("not a collection")


def test_forcing_level_1_accepts_large_layer_it_drops():
    col = make_collection()
    col.instruments[0].regions[0].layer = 2**20
    with pytest.raises(DLSError):
        write(col)
    write(col, level=1)


# ------------------------------------------------------------------------------------------
# Atomic writes
# ------------------------------------------------------------------------------------------
def test_write_to_path(tmp_path):
    target = tmp_path / "bank.dls"
    data = write(make_collection(), target)
    assert target.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.dls"]
    # str paths too, and an existing file is replaced keeping its permissions
    os.chmod(target, 0o640)
    data2 = write(make_level1_collection(), str(target))
    assert target.read_bytes() == data2
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.dls"]


def test_new_file_gets_umask_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        write(Collection(), tmp_path / "x.dls")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "x.dls").st_mode) == 0o640


def test_missing_directory_raises(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "bank.dls"
    with pytest.raises(DLSError, match="cannot write"):
        write(make_collection(), target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_target_is_a_directory(tmp_path):
    target = tmp_path / "adir"
    target.mkdir()
    with pytest.raises(DLSError):
        write(make_collection(), target)
    assert target.is_dir() and list(target.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["adir"]  # no temporary left behind


@pytest.mark.parametrize("failing", ["replace", "fsync", "write"])
def test_failure_leaves_no_file_and_no_temp(tmp_path, monkeypatch, failing):
    import dlsynth.dls.writer as W

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    if failing == "write":
        real_fdopen = os.fdopen

        class Failing:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, b):
                raise OSError(28, "No space left on device")

            def __getattr__(self, name):
                return getattr(self.f, name)

        monkeypatch.setattr(W.os, "fdopen", lambda fd, mode: Failing(real_fdopen(fd, mode)))
    else:
        monkeypatch.setattr(W.os, failing, boom)

    new = tmp_path / "new.dls"
    with pytest.raises(DLSError, match="No space left"):
        write(make_collection(), new)
    assert list(tmp_path.iterdir()) == []

    monkeypatch.undo()
    old = tmp_path / "old.dls"
    old.write_bytes(b"previous contents")
    if failing == "write":
        monkeypatch.setattr(W.os, "fdopen", lambda fd, mode: Failing(real_fdopen(fd, mode)))
    else:
        monkeypatch.setattr(W.os, failing, boom)
    with pytest.raises(DLSError):
        write(make_collection(), old)
    monkeypatch.undo()
    assert old.read_bytes() == b"previous contents"
    assert [p.name for p in tmp_path.iterdir()] == ["old.dls"]


def test_invalid_model_does_not_touch_existing_file(tmp_path):
    old = tmp_path / "old.dls"
    old.write_bytes(b"previous contents")
    col = make_collection()
    col.instruments[0].regions[0].key_high = 200
    with pytest.raises(DLSError):
        write(col, old)
    assert old.read_bytes() == b"previous contents"
    assert [p.name for p in tmp_path.iterdir()] == ["old.dls"]


# ------------------------------------------------------------------------------------------
# Speed
# ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_large_collection_is_fast():
    """17,000 regions and 150 MB of samples in well under 2 s."""
    rng = np.random.default_rng(1)
    nwaves = 500
    frames = 150_000_000 // 2 // nwaves
    waves = [
        Wave.from_pcm16(
            rng.integers(-1000, 1000, frames, dtype=np.int16),
            wave_sample=WaveSample(loops=[Loop(0, 10, 1000)]),
            name=f"w{i}",
        )
        for i in range(nwaves)
    ]
    art = Articulation(2, [(0, 0, C.CONN_DST_EG1_ATTACKTIME, 0, 1000)] * 6)
    instruments = []
    for p in range(256):
        regions = [
            Region(
                k,
                k,
                wave_link=WaveLink(table_index=(p * 7 + k) % nwaves),
                wave_sample=WaveSample(unity_note=k, loops=[Loop(0, 5, 50)]),
                articulations=[art],
            )
            for k in range(67)
        ]
        instruments.append(
            Instrument(
                name=f"ins {p}",
                bank=Instrument.make_bank(p // 128),
                program=p % 128,
                regions=regions,
                articulations=[art],
                info={"INAM": f"ins {p}"},
            )
        )
    col = Collection(instruments=instruments, waves=waves)
    assert sum(len(i.regions) for i in instruments) >= 17000
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        buf = write(col)
        best = min(best, time.perf_counter() - t0)
    assert len(buf) > 150_000_000
    assert best < 2.0, f"writing took {best:.2f} s"  # typically 0.3 s


# ------------------------------------------------------------------------------------------
# Round trips through dls.reader
# ------------------------------------------------------------------------------------------
@pytest.fixture
def read():
    from dlsynth.dls.reader import read

    return read


def test_round_trip_mixed(read, tmp_path):
    col = make_collection()
    buf = write(col)
    back = read(buf)
    assert back == col
    # same through a file
    write(col, tmp_path / "a.dls")
    back2 = read(str(tmp_path / "a.dls"))
    assert back2 == col
    # and writing what was read gives the same bytes
    assert write(back2) == buf


def test_rewrite_in_place(read, tmp_path):
    """A collection read from a file (views into its map) can be written back over it."""
    target = tmp_path / "bank.dls"
    first = write(make_collection(), target)
    col = read(str(target))
    col.instruments[0].program = 9
    second = write(col, target)
    assert second != first and target.read_bytes() == second
    back = read(str(target))
    assert back.instruments[0].program == 9 and back.waves == make_collection().waves
    assert [p.name for p in tmp_path.iterdir()] == ["bank.dls"]


def test_round_trip_level1(read):
    col = make_level1_collection()
    back = read(write(col))
    assert back == col
    assert back.instruments[1].is_drum
    assert back.waves[0].data.dtype == np.uint8 and back.waves[0].bits_per_sample == 8


def test_round_trip_forced_levels(read):
    col = make_collection()
    back = read(write(col, level=1))
    for rgn in all_regions(back):
        assert rgn.level == 1 and rgn.layer is None
        assert all(a.level == 1 for a in rgn.articulations)
    assert all(a.level == 1 for ins in back.instruments for a in ins.articulations)
    # everything else is unchanged
    for rgn in all_regions(col):
        rgn.level, rgn.layer = 1, None
        rgn.articulations = [Articulation(1, blocks=a.blocks) for a in rgn.articulations]
    for ins in col.instruments:
        ins.articulations = [Articulation(1, blocks=a.blocks) for a in ins.articulations]
    assert back == col

    col = make_collection()
    back = read(write(col, level=2))
    assert all(r.level == 2 for r in all_regions(back))
    assert all(a.level == 2 for r in all_regions(back) for a in r.articulations)


def test_round_trip_extensible_and_raw_bank(read):
    col = make_level1_collection()
    col.waves.append(extensible_wave())
    col.instruments[0].bank = 0x7FFF_FFFF
    back = read(write(col))
    assert back == col
    assert back.waves[-1].supported and back.waves[-1].format_tag == C.WAVE_FORMAT_EXTENSIBLE


def test_round_trip_unsupported_wave(read):
    col = make_level1_collection()
    col.waves.append(
        Wave(
            format_tag=2,
            channels=1,
            sample_rate=8000,
            bits_per_sample=4,
            block_align=256,
            avg_bytes_per_sec=4096,
            data=np.zeros((0, 1), np.int16),
            supported=False,
            raw_data=b"\x01\x02\x03\x04",
            info={"INAM": "adpcm"},
        )
    )
    back = read(write(col))
    assert back.waves[-1].supported is False
    assert back.waves[-1].raw_data == b"\x01\x02\x03\x04"
    assert back.waves[:-1] == col.waves[:-1]
    assert back.instruments == col.instruments


# --- property test ---------------------------------------------------------------------------
_TEXT = st.text(alphabet="abcXYZ019 -_é", min_size=1, max_size=10).map(lambda s: "x" + s.strip() + "y")
_INFO_KEYS = st.sampled_from(["ICMT", "ICOP", "IENG", "ISBJ", "ISFT", "ICRD"])
_DLID = st.none() | st.binary(min_size=16, max_size=16)
_I32 = st.integers(-(2**31), 2**31 - 1)


@st.composite
def wave_samples(draw, frames: int):
    loops = []
    for _ in range(draw(st.integers(0, 2))):
        start = draw(st.integers(0, frames - 1))
        length = draw(st.integers(1, frames - start))
        loops.append(Loop(draw(st.sampled_from([0, 1])), start, length))
    return WaveSample(
        draw(st.integers(0, 127)), draw(st.integers(-32768, 32767)), draw(_I32), draw(st.integers(0, 3)), loops
    )


@st.composite
def waves(draw):
    bits = draw(st.sampled_from([8, 16]))
    channels = draw(st.integers(1, 2))
    frames = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if bits == 8:
        data = rng.integers(0, 256, (frames, channels), dtype=np.uint8)
        w = Wave.from_pcm8(data, draw(st.integers(4000, 96000)))
    else:
        data = rng.integers(-32768, 32768, (frames, channels), dtype=np.int16)
        w = Wave.from_pcm16(data, draw(st.integers(4000, 96000)))
    if draw(st.booleans()):
        w.wave_sample = draw(wave_samples(frames))
    w.dlid = draw(_DLID)
    w.info = draw(st.dictionaries(st.sampled_from(["INAM", "ICMT"]), _TEXT, max_size=2))
    return w


@st.composite
def articulations(draw):
    n = draw(st.integers(0, 4))
    conns = [
        Connection(
            draw(st.integers(0, 0xFFFF)),
            draw(st.integers(0, 0xFFFF)),
            draw(st.integers(0, 0xFFFF)),
            draw(st.integers(0, 0xFFFF)),
            draw(_I32),
        )
        for _ in range(n)
    ]
    return Articulation(draw(st.sampled_from([1, 2])), conns)


@st.composite
def regions(draw, pool: list[Wave]):
    k = sorted(draw(st.lists(st.integers(0, 127), min_size=2, max_size=2)))
    v_high = draw(st.integers(1, 127))  # 0..0 is refused (readers take it as 0..127)
    v = (draw(st.integers(0, v_high)), v_high)
    level = draw(st.sampled_from([1, 2]))
    index = draw(st.integers(0, len(pool) - 1))
    wl = WaveLink(index, draw(st.integers(0, 3)), draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFFFFFF)))
    ws = draw(st.none() | wave_samples(pool[index].frames))
    return Region(
        k[0],
        k[1],
        v[0],
        v[1],
        draw(st.integers(0, 1)),
        draw(st.integers(0, 15)),
        draw(st.none() | st.integers(0, 0xFFFF)) if level == 2 else None,
        wl,
        ws,
        draw(st.lists(articulations(), max_size=2)),
        level,
    )


@st.composite
def collections(draw):
    pool = draw(st.lists(waves(), max_size=4))
    instruments = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.just("") | _TEXT)
        info = draw(st.dictionaries(_INFO_KEYS, _TEXT, max_size=2))
        if name:
            info["INAM"] = name
        instruments.append(
            Instrument(
                name=name,
                bank=Instrument.make_bank(draw(st.integers(0, 127)), draw(st.integers(0, 127)), draw(st.booleans())),
                program=draw(st.integers(0, 127)),
                regions=draw(st.lists(regions(pool), max_size=3)) if pool else [],
                articulations=draw(st.lists(articulations(), max_size=2)),
                dlid=draw(_DLID),
                info=info,
            )
        )
    version = draw(st.none() | st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)))
    info = draw(st.dictionaries(st.sampled_from(["INAM", "ICOP", "ICMT"]), _TEXT, max_size=3))
    return Collection(instruments=instruments, waves=pool, version=version, dlid=draw(_DLID), info=info)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(collections())
def test_layout_property(col):
    """Any valid model writes a well-formed RIFF tree whose pool table matches the wave lists."""
    buf = write(col)
    root = parse(buf)
    ptbl = root.get(b"ptbl")
    offsets = struct.unpack_from(f"<{len(col.waves)}I", buf, ptbl.start + 8)
    wvpl = root.get(b"LIST:wvpl")
    assert [wvpl.start + o for o in offsets] == [k.offset for k in wvpl.kids]
    ins_nodes = root.get(b"LIST:lins").kids
    assert len(ins_nodes) == len(col.instruments)
    for node, ins in zip(ins_nodes, col.instruments):
        rgns = node.get(b"LIST:lrgn").kids
        assert [r.type for r in rgns] == [b"rgn2" if r.level == 2 else b"rgn " for r in ins.regions]
        assert [r.get(b"rgnh").size for r in rgns] == [12 if r.layer is None else 14 for r in ins.regions]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(collections())
def test_round_trip_property(col):
    from dlsynth.dls.reader import read

    buf = write(col)
    back = read(buf)
    assert back == col
    assert write(back) == buf
