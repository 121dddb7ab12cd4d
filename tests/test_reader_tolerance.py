"""A fault costs only its part: every per-part check of the reader, one at a time, in one
instrument of a bank whose other instrument must still play; every per-file check still
refuses, naming the path and offset. Also: warnings bounded per kind, reading time linear
in the chunks, and the reader agreeing with the engine on what a wave may be.

The decisions are the table in the docstring of `dls.reader`; each row has a case here.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dlsynth import dls
from dlsynth.dls import constants as C
from dlsynth.dls.errors import Warnings
from dlsynth.synth.synth import Synth

from . import riffbuild as rb
from . import synthkit as K

ROOT = Path(__file__).parent.parent
PITCH_TOLERANCE_CENTS = 1.0
MIN_LEVEL_DB = -40.0  # a sine note at velocity 100 is about -12 dB; silence is below -200
SILENCE_DB = -120.0
GOOD_PROGRAM, FAULTY_PROGRAM = 0, 1
KEY_1000HZ = 69  # the test sine plays 1000 Hz at key 69

# --- banks ------------------------------------------------------------------------------------

SINE_FRAMES, SINE_CYCLES, SINE_RATE = 4410, 100, 44100  # 1000 Hz at its unity note


def sine_data(frames: int = SINE_FRAMES, cycles: int = SINE_CYCLES) -> bytes:
    t = np.arange(frames)
    return np.round(np.sin(2 * np.pi * cycles * t / frames) * 16000).astype("<i2").tobytes()


def sine_wave(*extra: bytes, fmt: bytes | None = None, data: bytes | None = None) -> bytes:
    """A looped 1000 Hz sine (unity note 69), with extra chunks before its data."""
    return rb.wave_list(
        rb.fmt(rate=SINE_RATE) if fmt is None else fmt,
        rb.wsmp(unity=69, loops=[(0, 0, SINE_FRAMES)]),
        *extra,
        rb.chunk(b"data", sine_data() if data is None else data),
    )


def region(*parts: bytes, wave: int = 1, header: bytes | None = None) -> bytes:
    return rb.lst(b"rgn2", rb.rgnh() if header is None else header, rb.wlnk(wave), *parts)


def instrument(
    *regions: bytes, program: int = FAULTY_PROGRAM, header: bytes | None = None, extra: bytes = b""
) -> bytes:
    hdr = rb.insh(len(regions), 0, program) if header is None else header
    return rb.lst(b"ins ", hdr, rb.lst(b"lrgn", *regions), extra, rb.info(INAM="faulty"))


GOOD_INSTRUMENT = rb.lst(b"ins ", rb.insh(1, 0, GOOD_PROGRAM), rb.lst(b"lrgn", region(wave=0)), rb.info(INAM="good"))


def bank(
    faulty: bytes | None = None,
    waves: list[bytes] | None = None,
    top: bytes = b"",
    *,
    ptbl: bytes | None = None,
    colh: bytes | None = None,
) -> bytes:
    """The good instrument (program 0, wave 0) and a faulty one (program 1, by default on
    wave 1, a second good sine unless `waves` says otherwise)."""
    pool_waves = [sine_wave()] + (waves if waves is not None else [sine_wave()])
    table, wvpl = rb.pool(pool_waves)
    faulty = instrument(region()) if faulty is None else faulty
    return rb.dls_file(
        rb.colh(2) if colh is None else colh,
        top,
        rb.lst(b"lins", GOOD_INSTRUMENT, faulty),
        table if ptbl is None else ptbl,
        wvpl,
    )


# --- measuring -----------------------------------------------------------------------------------


def render_note(col: dls.Collection, program: int, key: int = KEY_1000HZ, channel: int = 0) -> np.ndarray:
    """Half a second of one note (mono sum), through the Synth."""
    s = Synth(K.RATE, effects=False, gain_db=0.0)
    try:
        s.download(col)
        s.short_message(0, 1, 0xC0 | channel, program, 0, 2)
        s.short_message(0, 1, 0x90 | channel, key, 100)
        return K.mono(s.render(frames=K.RATE // 2))
    finally:
        s.close()


def assert_plays_1000hz(col: dls.Collection, program: int = GOOD_PROGRAM) -> None:
    out = render_note(col, program)
    assert K.rms_db(out) > MIN_LEVEL_DB
    assert abs(K.cents(K.pitch(out[2400:]), 1000.0)) < PITCH_TOLERANCE_CENTS


_WHERE = re.compile(r"(?:^|\(|: )([^>():]+(?: > [^>():]+)*) at 0x([0-9a-f]+)")


def named_chunk(msg: str, data: bytes) -> tuple[str, bytes]:
    """The chunk path a message names, and the id (and list type) found at its offset."""
    m = _WHERE.search(msg)
    assert m, msg
    off = int(m.group(2), 16)
    cid = data[off : off + 4]
    return m.group(1), cid + (b" " + data[off + 8 : off + 12] if cid == b"LIST" else b"")


def read_both(data: bytes) -> dls.Collection:
    """Lazy and full reads: equal collections, the same warnings. Returns the lazy one."""
    lazy = dls.read(data)
    full = dls.read(data, lazy=False)
    assert lazy.warnings == full.warnings
    assert lazy == full
    return lazy


# --- per-part checks ---------------------------------------------------------------------------------

INS2 = "LIST lins > LIST ins  #2"
RGN = f"{INS2} > LIST lrgn > LIST rgn2"
WAVE1 = "LIST wvpl > LIST wave #2"


def _fmt_raw(tag=1, ch=1, rate=SINE_RATE, bits=16, align=None, size=16) -> bytes:
    align = ch * bits // 8 if align is None else align
    return rb.chunk(b"fmt ", struct.pack("<HHIIHH", tag, ch, rate, rate * align, align, bits)[:size])


def _wsmp_raw(cb=20, unity=69, nloops=0, loops=b"", size=None) -> bytes:
    body = struct.pack("<IHhiII", cb, unity, 0, 0, 0, nloops) + b"\0" * max(0, cb - 20) + loops
    return rb.chunk(b"wsmp", body if size is None else body[:size])


def _loop(cb=16, ltype=0, start=0, length=100) -> bytes:
    return struct.pack("<IIII", cb, ltype, start, length)


def _art_raw(cb=8, count=1, blocks=1) -> bytes:
    body = (
        struct.pack("<II", cb, count)
        + b"\0" * max(0, cb - 8)
        + struct.pack("<HHHHi", 0, 0, C.CONN_DST_PAN, 0, 5) * blocks
    )
    return rb.chunk(b"art2", body)


def _ptbl(*offsets: int, cb: int = 8, count: int | None = None) -> bytes:
    n = len(offsets) if count is None else count
    return rb.chunk(
        b"ptbl", struct.pack("<II", cb, n) + b"\0" * max(0, cb - 8) + b"".join(struct.pack("<I", o) for o in offsets)
    )


def _good_pool_offsets() -> tuple[int, int]:
    return 0, len(sine_wave())


def _faulty_region_sounds(col: dls.Collection) -> None:
    assert_plays_1000hz(col, FAULTY_PROGRAM)


def _faulty_region_gone(col: dls.Collection) -> None:
    ins = col.find_instrument(0, FAULTY_PROGRAM)
    assert ins is not None and ins.regions == []


def _faulty_instrument_gone(col: dls.Collection) -> None:
    assert [i.program for i in col.instruments] == [GOOD_PROGRAM]


def _faulty_wave_silent(col: dls.Collection) -> None:
    assert not col.waves[1].supported or col.waves[1].frames == 0
    assert K.rms_db(render_note(col, FAULTY_PROGRAM)) < SILENCE_DB


def _loops_of_region(col):
    return col.find_instrument(0, FAULTY_PROGRAM).regions[0].wave_sample.loops


# Each case: the bank's bytes, text the warning holds, the chunk path it names (and the id at
# the offset it gives), and what became of the faulty part.
PER_PART = {
    # top level
    "colh short": (lambda: bank(colh=rb.chunk(b"colh", b"\1\0")), "size 2 < 4; ignored", "colh", b"colh", None),
    "colh count differs": (
        lambda: bank(colh=rb.colh(5)),
        "colh says 5 instruments, LIST lins has 2; read 2",
        "colh",
        b"colh",
        None,
    ),
    "vers short": (
        lambda: bank(top=rb.chunk(b"vers", b"\0" * 4)),
        "size 4 < 8; ignored",
        "vers",
        b"vers",
        lambda col: col.version is None,
    ),
    "dlid short": (
        lambda: bank(top=rb.chunk(b"dlid", b"\0" * 8)),
        "size 8 < 16; ignored",
        "dlid",
        b"dlid",
        lambda col: col.dlid is None,
    ),
    "unknown top-level chunk": (
        lambda: bank(top=rb.chunk(b"zzzz", b"")),
        "unknown chunk ignored",
        "zzzz",
        b"zzzz",
        None,
    ),
    # pool table
    "ptbl short": (
        lambda: bank(ptbl=rb.chunk(b"ptbl", b"\0" * 4)),
        "size 4 < 8; ignored, and waves are linked in wave-pool order",
        "ptbl",
        b"ptbl",
        _faulty_region_sounds,
    ),
    "ptbl header size": (
        lambda: bank(ptbl=_ptbl(*_good_pool_offsets(), cb=4)),
        "header size 4 outside 8..16; ignored, and waves are linked in wave-pool order",
        "ptbl",
        b"ptbl",
        _faulty_region_sounds,
    ),
    "ptbl cues past its end": (
        lambda: bank(ptbl=_ptbl(*_good_pool_offsets(), count=9)),
        "9 cues need 44 bytes, the chunk has 16; the 2 that fit are read",
        "ptbl",
        b"ptbl",
        _faulty_region_sounds,
    ),
    "cue pointing at no wave": (
        lambda: bank(ptbl=_ptbl(0, 3)),
        "cue #1 points at offset 0x3, where the wave pool has no wave",
        "ptbl",
        b"ptbl",
        _faulty_region_gone,
    ),
    # waves (the faulty instrument's wave, #1)
    "wave without fmt": (
        lambda: bank(waves=[rb.wave_list(rb.chunk(b"data", sine_data()))]),
        "no fmt  chunk; its regions will be silent",
        WAVE1,
        b"LIST wave",
        _faulty_wave_silent,
    ),
    "fmt short": (
        lambda: bank(waves=[sine_wave(fmt=_fmt_raw(size=12))]),
        "its fmt  chunk has 12 bytes (< 14); its regions will be silent",
        WAVE1,
        b"LIST wave",
        _faulty_wave_silent,
    ),
    "wave without data": (
        lambda: bank(waves=[rb.wave_list(rb.fmt())]),
        "no data chunk; its regions will be silent",
        WAVE1,
        b"LIST wave",
        _faulty_wave_silent,
    ),
    "compressed format": (
        lambda: bank(waves=[sine_wave(fmt=_fmt_raw(tag=2, bits=4))]),
        "unsupported format MS ADPCM; its regions will be silent",
        WAVE1,
        b"LIST wave",
        _faulty_wave_silent,
    ),
    "24-bit PCM": (
        lambda: bank(waves=[sine_wave(fmt=_fmt_raw(bits=24))]),
        "unsupported 24-bit PCM",
        WAVE1,
        b"LIST wave",
        _faulty_wave_silent,
    ),
    "0 channels": (
        lambda: bank(waves=[sine_wave(fmt=_fmt_raw(ch=0, align=2))]),
        "0 channels; its regions will be silent",
        WAVE1,
        b"LIST wave",
        _faulty_wave_silent,
    ),
    "more channels than the player takes": (
        lambda: bank(
            waves=[sine_wave(fmt=_fmt_raw(ch=C.PLAYER_MAX_CHANNELS + 1), data=b"\0" * 2 * (C.PLAYER_MAX_CHANNELS + 1))]
        ),
        f"{C.PLAYER_MAX_CHANNELS + 1} channels (the player takes at most {C.PLAYER_MAX_CHANNELS}); its regions will be silent",
        WAVE1,
        b"LIST wave",
        _faulty_wave_silent,
    ),
    "sample rate 0": (
        lambda: bank(waves=[sine_wave(fmt=_fmt_raw(rate=0))]),
        "a sample rate of 0; its regions will be silent",
        WAVE1,
        b"LIST wave",
        _faulty_wave_silent,
    ),
    "sample rate above the player's": (
        lambda: bank(waves=[sine_wave(fmt=_fmt_raw(rate=2147483647))]),
        "a sample rate of 2,147,483,647 Hz (the player takes at most 1,000,000); its regions will be silent",
        WAVE1,
        b"LIST wave",
        _faulty_wave_silent,
    ),
    "no frames": (
        lambda: bank(waves=[sine_wave(data=b"")]),
        "no sample data; its regions will be silent",
        WAVE1,
        b"LIST wave",
        _faulty_wave_silent,
    ),
    "block align wrong": (
        lambda: bank(waves=[sine_wave(fmt=_fmt_raw(align=4))]),
        "block align 4 should be 2; using 2",
        f"{WAVE1} > fmt ",
        b"fmt ",
        _faulty_region_sounds,
    ),
    "partial frame": (
        lambda: bank(waves=[sine_wave(data=sine_data() + b"\1")]),
        "1 trailing bytes of a partial frame ignored",
        f"{WAVE1} > data",
        b"data",
        _faulty_region_sounds,
    ),
    "unexpected chunk in a wave": (
        lambda: bank(waves=[sine_wave(rb.chunk(b"zzzz", b""))]),
        "unexpected chunk ignored",
        f"{WAVE1} > zzzz",
        b"zzzz",
        _faulty_region_sounds,
    ),
    "wave's loop past its end": (
        lambda: bank(
            waves=[
                rb.wave_list(
                    rb.fmt(rate=SINE_RATE), rb.wsmp(69, loops=[(0, 4000, 1000)]), rb.chunk(b"data", sine_data())
                )
            ]
        ),
        "loop 4000+1000 lies outside the wave (4410 frames); clamped to 4000+410",
        WAVE1,
        b"LIST wave",
        lambda col: col.waves[1].wave_sample.loops == [dls.Loop(0, 4000, 410)],
    ),
    # wave samples
    "wsmp short": (
        lambda: bank(instrument(region(_wsmp_raw(size=12)))),
        "size 12 < 20; ignored",
        f"{RGN} > wsmp",
        b"wsmp",
        _faulty_region_sounds,
    ),
    "wsmp header size": (
        lambda: bank(instrument(region(_wsmp_raw(cb=10)))),
        "header size 10 outside 20..20; ignored",
        f"{RGN} > wsmp",
        b"wsmp",
        _faulty_region_sounds,
    ),
    "unity note above 127": (
        lambda: bank(instrument(region(_wsmp_raw(unity=300)))),
        "unity note 300 > 127; ignored",
        f"{RGN} > wsmp",
        b"wsmp",
        _faulty_region_sounds,
    ),
    "wsmp loops past the chunk": (
        lambda: bank(instrument(region(_wsmp_raw(nloops=3, loops=_loop(length=4410))))),
        "3 loops need 68 bytes, the chunk has 36; the 1 that fit are read",
        f"{RGN} > wsmp",
        b"wsmp",
        lambda col: _loops_of_region(col) == [dls.Loop(0, 0, 4410)],
    ),
    "loop record too small": (
        lambda: bank(instrument(region(_wsmp_raw(nloops=1, loops=_loop(cb=8))))),
        "loop #1 has size 8 < 16; it and any after it ignored",
        f"{RGN} > wsmp",
        b"wsmp",
        lambda col: _loops_of_region(col) == [],
    ),
    "loop record past the chunk": (
        lambda: bank(instrument(region(_wsmp_raw(nloops=1, loops=_loop(cb=40, length=4410))))),
        "loop #1 has size 40, past the chunk's end; its first 16 bytes are read",
        f"{RGN} > wsmp",
        b"wsmp",
        lambda col: _loops_of_region(col) == [dls.Loop(0, 0, 4410)],
    ),
    "unknown loop type": (
        lambda: bank(instrument(region(rb.wsmp(69, loops=[(7, 0, 4410)])))),
        "loop #1 has unknown type 7; played as a forward loop",
        f"{RGN} > wsmp",
        b"wsmp",
        lambda col: _loops_of_region(col) == [dls.Loop(0, 0, 4410)],
    ),
    "loop ending past the wave": (
        lambda: bank(instrument(region(rb.wsmp(69, loops=[(0, 4000, 1000)])))),
        "loop 4000+1000 lies outside the wave (4410 frames); clamped to 4000+410",
        RGN,
        b"LIST rgn2",
        lambda col: _loops_of_region(col) == [dls.Loop(0, 4000, 410)],
    ),
    "loop starting past the wave": (
        lambda: bank(instrument(region(rb.wsmp(69, loops=[(0, 5000, 100)])))),
        "loop 5000+100 lies outside the wave (4410 frames); played without it",
        RGN,
        b"LIST rgn2",
        lambda col: _loops_of_region(col) == [],
    ),
    "loop of length 0": (
        lambda: bank(instrument(region(rb.wsmp(69, loops=[(0, 10, 0)])))),
        "loop at 10 has length 0; played without it",
        RGN,
        b"LIST rgn2",
        lambda col: _loops_of_region(col) == [],
    ),
    # articulation
    "art short": (
        lambda: bank(instrument(region(rb.lst(b"lar2", rb.chunk(b"art2", b"\0" * 4))))),
        "size 4 < 8; ignored",
        f"{RGN} > LIST lar2 > art2",
        b"art2",
        _faulty_region_sounds,
    ),
    "art header size": (
        lambda: bank(instrument(region(rb.lst(b"lar2", _art_raw(cb=4))))),
        "header size 4 outside 8..20; ignored",
        f"{RGN} > LIST lar2 > art2",
        b"art2",
        _faulty_region_sounds,
    ),
    "connection blocks past the chunk": (
        lambda: bank(instrument(region(rb.lst(b"lar2", _art_raw(count=50))))),
        "50 connection blocks need 608 bytes, the chunk has 20; the 1 that fit are read",
        f"{RGN} > LIST lar2 > art2",
        b"art2",
        lambda col: len(col.find_instrument(0, 1).regions[0].articulations[0]) == 1,
    ),
    "malformed condition": (
        lambda: bank(instrument(region(rb.chunk(b"cdl ", struct.pack("<H", C.DLS_CDL_AND))))),
        "malformed condition",
        f"{RGN} > cdl ",
        b"cdl ",
        _faulty_region_sounds,
    ),
    # regions
    "rgnh short": (
        lambda: bank(instrument(region(header=rb.chunk(b"rgnh", b"\0" * 8)))),
        "size 8 < 12; the region is skipped",
        f"{RGN} > rgnh",
        b"rgnh",
        _faulty_region_gone,
    ),
    "no rgnh": (
        lambda: bank(instrument(rb.lst(b"rgn2", rb.wlnk(1)))),
        "no rgnh (region header) chunk; the region is skipped",
        RGN,
        b"LIST rgn2",
        _faulty_region_gone,
    ),
    "no wlnk": (
        lambda: bank(instrument(rb.lst(b"rgn2", rb.rgnh()))),
        "no wlnk (wave link) chunk; the region is skipped",
        RGN,
        b"LIST rgn2",
        _faulty_region_gone,
    ),
    "wlnk short": (
        lambda: bank(instrument(rb.lst(b"rgn2", rb.rgnh(), rb.chunk(b"wlnk", b"\0" * 6)))),
        "size 6 < 12; the region is skipped",
        f"{RGN} > wlnk",
        b"wlnk",
        _faulty_region_gone,
    ),
    "key range low above high": (
        lambda: bank(instrument(region(header=rb.rgnh(80, 60)))),
        "key range 80-60 is not within 0-127 low to high; the region is skipped",
        f"{RGN} > rgnh",
        b"rgnh",
        _faulty_region_gone,
    ),
    "key range above 127": (
        lambda: bank(instrument(region(header=rb.rgnh(0, 300)))),
        "key range 0-300 read as 0-127",
        f"{RGN} > rgnh",
        b"rgnh",
        _faulty_region_sounds,
    ),
    "velocity range low above high": (
        lambda: bank(instrument(region(header=rb.rgnh(0, 127, 100, 20)))),
        "velocity range 100-20 is not within 0-127 low to high; the region is skipped",
        f"{RGN} > rgnh",
        b"rgnh",
        _faulty_region_gone,
    ),
    "velocity range above 127": (
        lambda: bank(instrument(region(header=rb.rgnh(0, 127, 0, 200)))),
        "velocity range 0-200 read as 0-127",
        f"{RGN} > rgnh",
        b"rgnh",
        _faulty_region_sounds,
    ),
    "velocity range 0-0": (
        lambda: bank(instrument(region(header=rb.rgnh(0, 127, 0, 0)))),
        "velocity range 0-0 read as 0-127",
        f"{RGN} > rgnh",
        b"rgnh",
        _faulty_region_sounds,
    ),
    "wave link past the pool table": (
        lambda: bank(instrument(region(wave=7))),
        "links to wave 7, but the pool table has 2 entries; the region is skipped",
        RGN,
        b"LIST rgn2",
        _faulty_region_gone,
    ),
    "wave link to an empty entry": (
        lambda: bank(ptbl=_ptbl(0, C.POOL_CUE_NULL)),
        "links to wave 1, but the pool table has 2 entries and that one is empty; the region is skipped",
        RGN,
        b"LIST rgn2",
        _faulty_region_gone,
    ),
    "unexpected chunk in a region": (
        lambda: bank(instrument(region(rb.chunk(b"zzzz", b"")))),
        "unexpected chunk ignored",
        f"{RGN} > zzzz",
        b"zzzz",
        _faulty_region_sounds,
    ),
    # instruments
    "insh short": (
        lambda: bank(instrument(region(), header=rb.chunk(b"insh", b"\0" * 8))),
        "size 8 < 12; the instrument is skipped",
        f"{INS2} > insh",
        b"insh",
        _faulty_instrument_gone,
    ),
    "no insh": (
        lambda: bank(rb.lst(b"ins ", rb.lst(b"lrgn", region()))),
        "no insh (instrument header) chunk; the instrument is skipped",
        INS2,
        b"LIST ins ",
        _faulty_instrument_gone,
    ),
    "program above 127": (
        lambda: bank(instrument(region(), program=200)),
        "program 200 > 127; the instrument is skipped",
        INS2,
        b"LIST ins ",
        _faulty_instrument_gone,
    ),
    "region count differs": (
        lambda: bank(instrument(region(), header=rb.insh(4, 0, FAULTY_PROGRAM))),
        "insh says 4 regions, LIST lrgn has 1; read 1",
        INS2,
        b"LIST ins ",
        _faulty_region_sounds,
    ),
    "regions declared, no lrgn": (
        lambda: bank(rb.lst(b"ins ", rb.insh(3, 0, FAULTY_PROGRAM))),
        "insh says 3 regions, the instrument has no LIST lrgn",
        INS2,
        b"LIST ins ",
        _faulty_region_gone,
    ),
    "unexpected chunk in an instrument": (
        lambda: bank(instrument(region(), extra=rb.chunk(b"zzzz", b""))),
        "unexpected chunk ignored",
        f"{INS2} > zzzz",
        b"zzzz",
        _faulty_region_sounds,
    ),
    "stray bytes in a list": (
        lambda: bank(instrument(region(b"\0\0\0\0"))),
        "4 stray bytes after the last chunk ignored",
        RGN,
        b"LIST rgn2",
        _faulty_region_sounds,
    ),
}


@pytest.mark.parametrize("name", sorted(PER_PART))
def test_one_fault_costs_only_its_part(name):
    make, text, path, cid, effect = PER_PART[name]
    data = make()
    col = read_both(data)
    hits = [w for w in col.warnings if text in w]
    assert len(hits) == 1, col.warnings
    assert named_chunk(hits[0], data) == (path, cid)
    assert_plays_1000hz(col)
    if effect is not None:
        assert effect(col) is not False


def test_more_regions_than_the_player_takes(monkeypatch):
    monkeypatch.setattr(C, "PLAYER_MAX_REGIONS", 2)
    data = bank(instrument(region(), region(), region()))
    col = read_both(data)
    (msg,) = [w for w in col.warnings if "regions; the player takes" in w]
    assert named_chunk(msg, data) == (INS2, b"LIST ins ")
    assert "3 regions; the player takes 2, the rest are left out" in msg
    assert len(col.find_instrument(0, FAULTY_PROGRAM).regions) == 2
    assert_plays_1000hz(col)


def test_more_frames_than_the_player_takes(monkeypatch):
    monkeypatch.setattr(C, "PLAYER_MAX_FRAMES", 2 * SINE_FRAMES - 1)
    data = bank(waves=[sine_wave(data=sine_data(2 * SINE_FRAMES, 2 * SINE_CYCLES))])
    col = read_both(data)
    (msg,) = col.warnings
    assert named_chunk(msg, data) == (WAVE1, b"LIST wave")
    assert msg.endswith("8,820 frames (the player takes at most 8,819); its regions will be silent")
    _faulty_wave_silent(col)
    assert_plays_1000hz(col)


# --- per-file checks ------------------------------------------------------------------------------


def _refusal(data: bytes) -> str:
    msgs = []
    for lazy in (True, False):
        with pytest.raises(dls.DLSError) as ei:
            dls.read(data, lazy=lazy)
        msgs.append(str(ei.value))
    assert msgs[0] == msgs[1]
    return msgs[0]


def test_a_chunk_overrunning_its_parent_refuses_with_path_and_offset():
    data = bytearray(bank())
    pos = data.rfind(b"wlnk")
    struct.pack_into("<I", data, pos + 4, 10_000)
    assert f"{RGN} > wlnk at 0x{pos:x}: size 10000 overruns its parent" in _refusal(bytes(data))


def test_a_list_too_short_for_its_type_refuses_with_path_and_offset():
    data = bytearray(bank())
    pos = data.find(b"LIST", data.find(b"lrgn"))  # the first region's LIST
    struct.pack_into("<I", data, pos + 4, 2)
    assert f"LIST lins > LIST ins  > LIST lrgn > LIST at 0x{pos:x}: size 2 < 4 (no list type)" in _refusal(bytes(data))


def test_nesting_deeper_than_the_walker_follows_refuses():
    from dlsynth.dls.riff import MAX_DEPTH, Chunk, children

    data = rb.lst(b"lrgn", b"")
    root = Chunk(b"RIFF", b"DLS ", 0, 0, len(data), None, data)
    with pytest.raises(dls.DLSError, match=f"RIFF at 0x0: chunks nested deeper than {MAX_DEPTH} levels"):
        children(data, root, MAX_DEPTH + 1)


@pytest.mark.parametrize(
    "data,text",
    [
        (b"", "the file is empty"),
        (b"RIFF", "too short for a RIFF header"),
        (b"RIFX\x04\x00\x00\x00DLS ", "big-endian RIFX files are not DLS"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02", "not a RIFF file"),
        (b"RIFF\x04\x00\x00\x00sfbk", "SoundFont 2"),
        (b"RIFF\x04\x00\x00\x00WAVE", "is not 'DLS '"),
        (b"RIFF\x02\x00\x00\x00DLS ", "RIFF at 0x0: size 2 < 4"),
        (rb.dls_file(rb.colh(0)), "RIFF 'DLS ' at 0x0: no LIST lins"),
    ],
    ids=["empty", "short", "rifx", "midi", "sf2", "wave", "riff-size", "no-lins"],
)
def test_files_that_are_not_dls_banks_are_refused_with_the_path(tmp_path, data, text):
    p = tmp_path / "bank.dls"
    p.write_bytes(data)
    with pytest.raises(dls.DLSError) as ei:
        dls.read(p)
    assert str(ei.value).startswith(f"{p}: ") and text in str(ei.value)


NOTHING_PLAYABLE = {
    "every wave unplayable": (
        rb.simple_bank().replace(rb.fmt(), rb.fmt(rate=0)),
        "LIST wvpl > LIST wave",
        b"LIST wave",
    ),
    "the only region unplayable": (
        rb.simple_bank().replace(rb.rgnh(), rb.rgnh(90, 10)),
        "LIST lins > LIST ins  > LIST lrgn > LIST rgn2 > rgnh",
        b"rgnh",
    ),
    "the only instrument unplayable": (
        rb.simple_bank().replace(rb.insh(1, 0, 5), rb.insh(1, 0, 500)),
        "LIST lins > LIST ins ",
        b"LIST ins ",
    ),
    "a pool table but no wave pool": (
        rb.dls_file(
            rb.colh(1),
            rb.lst(b"lins", rb.lst(b"ins ", rb.insh(1), rb.lst(b"lrgn", rb.lst(b"rgn2", rb.rgnh(), rb.wlnk(0))))),
            _ptbl(0),
        ),
        "ptbl",
        b"ptbl",
    ),
}


@pytest.mark.parametrize("name", sorted(NOTHING_PLAYABLE))
def test_a_bank_with_nothing_playable_is_refused_naming_the_first_problem(name):
    data, path, cid = NOTHING_PLAYABLE[name]
    msg = _refusal(data)
    assert msg.startswith("nothing in the file can be played; the first problem: ")
    assert named_chunk(msg, data) == (path, cid)


def test_an_empty_but_sound_bank_still_reads():
    """Nothing lost to a problem: a bank with no regions is read (it is not broken)."""
    col = read_both(rb.dls_file(rb.colh(1), rb.lst(b"lins", rb.lst(b"ins ", rb.insh(0)))))
    assert len(col.instruments) == 1 and col.instruments[0].regions == []


# --- the instrument FluidSynth's test bank had refused ------------------------------------------------

DRUMS = C.F_INSTRUMENT_DRUMS


def _kit_like_vintage_dreams() -> bytes:
    """A drum kit shaped like VintageDreamsWaves-v2.dls's CR-78 kit (LIST ins #130), whose
    regions on keys 62-64 link an empty wave with a loop 69+66 (in the wave's wsmp and their
    own): one bad region must not refuse the file. Keys 60 and 65 play the 1000 Hz sine with unity
    notes 60 and 72 (so 1000 Hz and 1000 * 2^(-7/12) Hz)."""
    empty = rb.wave_list(
        rb.fmt(rate=SINE_RATE), rb.wsmp(61, loops=[(0, 69, 66)]), rb.chunk(b"data", b""), rb.info(INAM="SineWave")
    )
    regions = [rb.lst(b"rgn2", rb.rgnh(60, 60), rb.wsmp(60, loops=[(0, 0, SINE_FRAMES)]), rb.wlnk(0))]
    for key, unity in ((62, 61), (63, 74), (64, 84)):
        regions.append(rb.lst(b"rgn2", rb.rgnh(key, key), rb.wsmp(unity, loops=[(0, 69, 66)]), rb.wlnk(1)))
    regions.append(rb.lst(b"rgn2", rb.rgnh(65, 65), rb.wsmp(72, loops=[(0, 0, SINE_FRAMES)]), rb.wlnk(0)))
    kit = rb.lst(b"ins ", rb.insh(len(regions), DRUMS, 1), rb.lst(b"lrgn", *regions), rb.info(INAM="CR-78 Drumset"))
    ptbl, wvpl = rb.pool([sine_wave(), empty])
    return rb.dls_file(rb.colh(1), rb.lst(b"lins", kit), ptbl, wvpl)


def test_the_refused_kit_now_plays_in_tune():
    data = _kit_like_vintage_dreams()
    col = read_both(data)
    (msg,) = col.warnings  # said once, for the wave: its regions need no words of their own
    assert named_chunk(msg, data) == ("LIST wvpl > LIST wave #2", b"LIST wave")
    assert msg.startswith("wave #1 (") and msg.endswith("no sample data; its regions will be silent")
    kit = col.instruments[0]
    assert [r.wave_sample.loops for r in kit.regions[1:4]] == [[], [], []]  # nothing to loop
    for key, hz in ((60, 1000.0), (65, 1000.0 * 2 ** (-7 / 12))):
        out = render_note(col, 1, key, channel=9)
        assert K.rms_db(out) > MIN_LEVEL_DB
        assert abs(K.cents(K.pitch(out[2400:]), hz)) < PITCH_TOLERANCE_CENTS
    for key in (62, 63, 64):
        assert K.rms_db(render_note(col, 1, key, channel=9)) < SILENCE_DB


# --- warnings bounded, reading linear ---------------------------------------------------------


def _bank_with_top_chunks(n: int, cid: bytes) -> bytes:
    base = rb.simple_bank()
    return rb.dls_file(b"".join(rb.chunk(cid, b"\0\0") for _ in range(n)) + base[12:])


def _best_time(data: bytes, lazy: bool, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        dls.read(data, lazy=lazy)
        best = min(best, time.perf_counter() - t0)
    return best


# Reading 8,000 chunks that each warn against 8,000 that are passed over in silence (JUNK),
# the same size: the warnings may cost this many times the silent read, no more (naming each
# chunk by re-walking its siblings made it thousands of times slower).
WARNING_COST_RATIO = 10.0


@pytest.mark.parametrize("lazy", [True, False])
def test_thousands_of_unknown_chunks_read_fast_with_bounded_warnings(lazy):
    n = 8000
    noisy = _bank_with_top_chunks(n, b"zzzz")
    quiet = _bank_with_top_chunks(n, b"JUNK")
    assert len(noisy) == len(quiet)
    col = dls.read(noisy, lazy=lazy)
    per_kind = Warnings.PER_KIND
    assert len(col.warnings) == per_kind + 1
    assert col.warnings[-1] == f"and {n - per_kind:,} more like this (unknown chunk ignored)"
    assert dls.read(quiet, lazy=lazy).warnings == []
    assert _best_time(noisy, lazy) < WARNING_COST_RATIO * _best_time(quiet, lazy) + 0.01


def test_warnings_of_different_kinds_are_bounded_separately():
    extra = b"".join(rb.chunk(b"zzzz", b"") for _ in range(30)) + rb.wsmp(69, loops=[(9, 0, 10)] * 25)
    col = read_both(rb.simple_bank(region_extra=extra))
    assert sum("unexpected chunk ignored" in w and not w.startswith("and ") for w in col.warnings) == Warnings.PER_KIND
    assert sum("unknown type 9" in w for w in col.warnings) == Warnings.PER_KIND
    assert col.warnings[-2:] == [
        "and 10 more like this (unexpected chunk ignored)",
        "and 5 more like this (unknown loop type)",
    ]


# --- the reader and the engine agree on what a wave may be ---------------------------------------------


def _engine():
    from dlsynth.native.engine import Engine

    return Engine(48000, max_voices=4, effects=False)


def _pcm_wave(channels: int = 1, rate: int = 44100, frames: int = 4) -> dls.Wave:
    return dls.Wave.from_pcm16(np.zeros((frames, channels), dtype=np.int16), rate)


def test_the_players_wave_limits_are_the_engines():
    from dlsynth.native.engine import EngineError

    eng = _engine()
    try:
        for ok in (
            _pcm_wave(C.PLAYER_MAX_CHANNELS),
            _pcm_wave(rate=C.PLAYER_MAX_SAMPLE_RATE),
            _pcm_wave(rate=C.PLAYER_MIN_SAMPLE_RATE),
            _pcm_wave(frames=0),
        ):
            eng.free_wave(eng.download_wave(ok))
        for bad in (
            _pcm_wave(C.PLAYER_MAX_CHANNELS + 1),
            _pcm_wave(rate=C.PLAYER_MAX_SAMPLE_RATE + 1),
            _pcm_wave(rate=C.PLAYER_MIN_SAMPLE_RATE - 1),
        ):
            with pytest.raises(EngineError, match="invalid argument"):
                eng.download_wave(bad)
    finally:
        eng.close()
    # The frame limit cannot be tried without gigabytes: it is the header's.
    header = (ROOT / "native" / "voice.h").read_text()
    m = re.search(r"#define ENG_MAX_FRAMES \(\(int64_t\)1 << (\d+)\)", header)
    assert m and 1 << int(m.group(1)) == C.PLAYER_MAX_FRAMES


def test_the_players_region_limit_is_the_engines():
    from dlsynth.native.engine import REGION_DTYPE, EngineError

    eng = _engine()
    try:
        wid = eng.download_wave(_pcm_wave(frames=100))
        for n, ok in ((C.PLAYER_MAX_REGIONS, True), (C.PLAYER_MAX_REGIONS + 1, False)):
            regions = np.zeros(n, dtype=REGION_DTYPE)
            regions["key_hi"] = regions["vel_hi"] = 127
            regions["wave_id"] = (wid, -1)
            compiled = SimpleNamespace(
                regions=regions, connections=np.zeros(0, dtype=[("x", "u1")]), wave_ids={wid}, warnings=[]
            )
            if ok:
                eng.download_compiled(compiled)
            else:
                with pytest.raises(EngineError, match="invalid argument"):
                    eng.download_compiled(compiled)
    finally:
        eng.close()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dlsynth", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def _song(path: Path) -> Path:
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    for prog, key in ((FAULTY_PROGRAM, KEY_1000HZ), (GOOD_PROGRAM, KEY_1000HZ)):
        tr.append(mido.Message("program_change", program=prog, time=0))
        tr.append(mido.Message("note_on", note=key, velocity=100, time=0))
        tr.append(mido.Message("note_off", note=key, velocity=0, time=480))
    mid.save(path)
    return path


@pytest.mark.parametrize("fault", ["rate", "channels"])
def test_a_wave_the_engine_cannot_take_renders_silent_with_a_warning(tmp_path, fault):
    import soundfile as sf

    fmt = _fmt_raw(rate=2147483647) if fault == "rate" else _fmt_raw(ch=C.PLAYER_MAX_CHANNELS + 1)
    bank_path = tmp_path / "bank.dls"
    bank_path.write_bytes(bank(waves=[sine_wave(fmt=fmt)]))
    info = _cli("info", str(bank_path))
    assert info.returncode == 0, info.stderr
    assert info.stdout.count("its regions will be silent") == 1
    out = tmp_path / "out.wav"
    res = _cli("render", str(_song(tmp_path / "song.mid")), "--bank", str(bank_path), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "internal error" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if "its regions will be silent" in ln]
    assert len(lines) == 1 and f"{WAVE1} at 0x" in lines[0]
    audio, rate = sf.read(out)
    faulty, good = K.mono(audio[: rate // 2]), K.mono(audio[rate // 2 : rate])
    assert K.rms_db(faulty) < SILENCE_DB  # the wave the engine cannot take is silent
    assert K.rms_db(good) > MIN_LEVEL_DB  # and the good instrument sounds


def test_the_refused_kit_renders_from_the_command_line(tmp_path):
    bank_path = tmp_path / "kit.dls"
    bank_path.write_bytes(_kit_like_vintage_dreams())
    import mido

    song = tmp_path / "kit.mid"
    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.Message("program_change", channel=9, program=1, time=0))
    for key in (60, 62, 65):
        tr.append(mido.Message("note_on", channel=9, note=key, velocity=100, time=0))
        tr.append(mido.Message("note_off", channel=9, note=key, velocity=0, time=480))
    mid.save(song)
    res = _cli("render", str(song), "--bank", str(bank_path), "-o", str(tmp_path / "kit.wav"))
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("no sample data; its regions will be silent") == 1
