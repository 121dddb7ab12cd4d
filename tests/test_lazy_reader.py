"""Opening a bank fast: the one-pass RIFF index, instruments whose regions are read on first
use, equality of the lazy and the full read, and warning paths that cost O(1) each."""

from __future__ import annotations

import copy
import os
import pickle
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from dlsynth import dls
from dlsynth.dls import constants as C
from dlsynth.dls import riff, riffindex
from dlsynth.dls.regiontable import RegionTable

from . import riffbuild as rb
from .test_fuzz_reader import _mutate
from .test_reader import _cdl_bank

DATA = Path(__file__).parent / "data"
SPEC_TEST = DATA / "sf-spec-test" / "sf_spec_test.dls"
CORPUS = sorted(DATA.rglob("*.dls"))
BENCH_CACHE = Path(__file__).parent.parent / "benchmarks" / "cache"


def _two_instrument_bank() -> bytes:
    """Two instruments, every plain region feature: loops, layer, 8-bit wave with its own loop."""
    arts2 = rb.lst(b"lar2", rb.art(b"art2", [(0, 0, C.CONN_DST_PAN, 0, 9), (0, 0, C.CONN_DST_GAIN, 0, -5)]))
    ins1 = rb.lst(
        b"ins ",
        rb.insh(2, 0, 1),
        rb.info(INAM="One"),
        rb.lst(
            b"lrgn",
            rb.lst(b"rgn2", rb.rgnh(0, 60, 1, 100), rb.wlnk(0), rb.wsmp(62, -3, -65536, 2, loops=[(1, 10, 20)]), arts2),
            rb.lst(
                b"rgn2",
                rb.rgnh(61, 127, layer=3),
                rb.wlnk(1, C.F_WAVELINK_PHASE_MASTER, 2, 2),
                rb.chunk(b"dlid", bytes(16)),
            ),
        ),
    )
    ins2 = rb.lst(
        b"ins ",
        rb.insh(1, C.F_INSTRUMENT_DRUMS, 2),
        rb.lst(b"lart", rb.art(b"art1", [(0, 0, C.CONN_DST_PAN, 0, 7)])),
        rb.lst(
            b"lrgn",
            rb.lst(
                b"rgn ",
                rb.rgnh(),
                rb.wlnk(1),
                rb.lst(b"lart", rb.art(b"art1", [(0, 0, 0x206, 0, 3)])),
                rb.lst(b"lart", rb.art(b"art1", [(0, 0, 0x206, 0, 4)])),
            ),
        ),
    )
    waves = [
        rb.wave_list(rb.fmt(), rb.chunk(b"data", rb.pcm16(100))),
        rb.wave_list(rb.fmt(bits=8), rb.wsmp(loops=[(0, 1, 2)]), rb.chunk(b"data", b"\x80" * 50)),
    ]
    ptbl, wvpl = rb.pool(waves)
    return rb.dls_file(rb.colh(2), rb.lst(b"lins", ins1, ins2), ptbl, wvpl)


def _many_instruments_bank(n_ins: int = 40, regions: int = 30) -> bytes:
    """Enough lists at each depth for the index to walk them with NumPy."""
    w = rb.wave_list(rb.fmt(), rb.chunk(b"data", rb.pcm16(200)))
    ptbl, wvpl = rb.pool([w] * 3)
    ins = []
    for i in range(n_ins):
        rg = [
            rb.lst(
                b"rgn2",
                rb.rgnh(k, k),
                rb.wlnk(k % 3),
                rb.wsmp(loops=[(0, k, 50)] if k % 2 else ()),
                rb.lst(b"lar2", rb.art(b"art2", [(0, 0, C.CONN_DST_PAN, 0, k)])),
            )
            for k in range(regions + i % 7)
        ]
        ins.append(rb.lst(b"ins ", rb.insh(len(rg), 0, i % 128), rb.info(INAM=f"I{i}"), rb.lst(b"lrgn", *rg)))
    return rb.dls_file(rb.colh(n_ins), rb.lst(b"lins", *ins), ptbl, wvpl)


def _wave_variety_bank() -> bytes:
    """Waves the bulk check takes (dlid, INFO, silent chunks, a looped wsmp) and waves it
    leaves to the reader (data before fmt, odd block align, a partial frame, cdl, unknown
    chunks, stray bytes, 24-bit, extensible)."""
    import struct as st

    pcm = rb.pcm16(64)
    ext = rb.chunk(
        b"fmt ",
        st.pack("<HHIIHHHHI", 0xFFFE, 1, 22050, 44100, 2, 16, 22, 16, 0)
        + bytes.fromhex("0100000000001000800000aa00389b71"),
    )
    waves = [
        rb.wave_list(
            rb.fmt(),
            rb.chunk(b"dlid", bytes(range(16))),
            rb.chunk(b"smpl", b"\0" * 36),
            rb.chunk(b"fact", b"\0" * 4),
            rb.wsmp(61, 5, 0, 0, loops=[(0, 4, 50)]),
            rb.chunk(b"data", pcm),
            rb.info(INAM="plain", ICMT="x"),
        ),
        rb.wave_list(
            rb.fmt(channels=2), rb.chunk(b"data", pcm), rb.lst(b"INFO", rb.chunk(b"INAM", b"st\0"), rb.lst(b"junk"))
        ),
        rb.wave_list(rb.chunk(b"data", pcm), rb.fmt()),
        rb.wave_list(rb.chunk(b"fmt ", st.pack("<HHIIHH", 1, 1, 22050, 44100, 4, 16)), rb.chunk(b"data", pcm)),
        rb.wave_list(rb.fmt(), rb.chunk(b"data", pcm + b"\1")),
        rb.wave_list(rb.fmt(), rb.chunk(b"data", pcm), rb.chunk(b"zzzz", b"")),
        rb.wave_list(rb.fmt(bits=24), rb.chunk(b"data", b"\0" * 30)),
        rb.wave_list(ext, rb.chunk(b"data", pcm)),
        rb.wave_list(rb.fmt(), rb.chunk(b"data", pcm), b"\0\0\0\0"),
        rb.wave_list(rb.fmt(), rb.chunk(b"data", pcm), rb.chunk(b"cdl ", b"")),
    ]
    regions = [rb.lst(b"rgn2", rb.rgnh(k, k), rb.wlnk(k)) for k in range(len(waves))]
    ins = rb.lst(b"ins ", rb.insh(len(regions)), rb.lst(b"lrgn", *regions))
    ptbl, wvpl = rb.pool(waves)
    return rb.dls_file(rb.colh(1), rb.lst(b"lins", ins), ptbl, wvpl)


BUILT = {
    "simple": rb.simple_bank(),
    "simple-level1": rb.simple_bank(level2=False),
    "loops": rb.simple_bank(
        region_extra=rb.wsmp(loops=[(0, 10, 100)]) + rb.lst(b"lar2", rb.art(b"art2", [(0, 0, 0x206, 0, 5)]))
    ),
    "odd-region": rb.simple_bank(region_extra=rb.wsmp(loops=[(7, 5, 50)]) + rb.rgnh(1, 2)),
    "cdl": _cdl_bank(),
    "two": _two_instrument_bank(),
    "many": _many_instruments_bank(),
    "waves": _wave_variety_bank(),
}


def _same_reads(source) -> dls.Collection:
    """Read lazily and in full; both must agree on everything. Returns the lazy one, unread."""
    lazy = dls.read(source)
    full = dls.read(source, lazy=False)
    assert all(i.regions_loaded for i in full.instruments)
    warnings_at_open = list(lazy.warnings)
    assert warnings_at_open == full.warnings  # all found at open, in the full read's order
    assert lazy.level == full.level
    assert [i.region_count for i in lazy.instruments] == [len(i.regions) for i in full.instruments]
    again = dls.read(source)
    assert again == full  # (reads every instrument of `again`)
    assert again.warnings == warnings_at_open  # reading regions later adds nothing
    return lazy


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_lazy_and_full_reads_agree_on_the_corpus(path):
    _same_reads(path)


@pytest.mark.parametrize("name", sorted(BUILT))
def test_lazy_and_full_reads_agree_on_built_banks(name):
    _same_reads(BUILT[name])


def test_lazy_and_full_reads_agree_on_the_default_bank():
    from dlsynth.gmbank import default_bank_path

    lazy = _same_reads(default_bank_path())
    assert not any(i.regions_loaded for i in lazy.instruments)


def test_index_walks_agree_with_the_plain_walker():
    """Every list the index walked (in C) has exactly the children `riff.children` finds."""
    for data in [SPEC_TEST.read_bytes(), *BUILT.values()]:
        root = riff.Chunk(b"RIFF", b"DLS ", 0, 12, len(data) - 12, None, data)
        index = riffindex.RiffIndex.build(data, root)
        root.node = 0
        walked = np.flatnonzero(index.count >= 0)
        assert len(walked) > 1
        nodes = {0: root}
        for node in walked.tolist():
            ck = nodes[node]
            got = index.children(ck, 1, [])
            want = riff.children(data, ck, 1, [])
            assert [(c.id, c.type, c.offset, c.data_start, c.size) for c in got] == [
                (c.id, c.type, c.offset, c.data_start, c.size) for c in want
            ]
            for c in got:
                nodes[c.node] = c
        col = dls.read(data)
        assert col == dls.read(data, lazy=False)


# --- regions on first use -----------------------------------------------------------------------


def test_regions_are_read_on_first_use_only(monkeypatch):
    calls: list[int] = []
    real = RegionTable.regions_of

    def counting(self, node):
        calls.append(node)
        return real(self, node)

    monkeypatch.setattr(RegionTable, "regions_of", counting)
    col = dls.read(SPEC_TEST)
    assert calls == []
    assert [i.regions_loaded for i in col.instruments] == [False] * 7
    # The header is there without reading regions.
    assert all(i.name for i in col.instruments)
    counts = [i.region_count for i in col.instruments]
    assert sum(counts) == 174 and calls == []
    third = col.instruments[2]
    regions = third.regions
    assert len(calls) == 1 and len(regions) == counts[2]
    assert [i.regions_loaded for i in col.instruments] == [False, False, True, False, False, False, False]
    assert third.regions is regions and len(calls) == 1  # read once
    col.load_all()
    assert len(calls) == 7 and all(i.regions_loaded for i in col.instruments)
    col.load_all()
    assert len(calls) == 7


def test_concurrent_first_use_reads_once(monkeypatch):
    calls: list[int] = []
    real = RegionTable.regions_of

    def slow_counting(self, node):
        calls.append(node)
        threading.Event().wait(0.02)
        return real(self, node)

    monkeypatch.setattr(RegionTable, "regions_of", slow_counting)
    col = dls.read(SPEC_TEST)
    ins = col.instruments[0]
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(ins.regions)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert all(s is seen[0] for s in seen)


def test_unread_instruments_copy_pickle_write_and_compare():
    col = dls.read(SPEC_TEST)
    full = dls.read(SPEC_TEST, lazy=False)
    ins = col.instruments[1]
    assert not ins.regions_loaded
    assert "not read yet" in repr(ins)
    dup = copy.deepcopy(ins)
    assert dup.regions_loaded and dup == full.instruments[1]
    back = pickle.loads(pickle.dumps(col.instruments[3]))
    assert back == full.instruments[3]
    # Writing an unread collection reads what it needs; the file reads back equal.
    again = dls.read(SPEC_TEST)
    assert dls.read(dls.write(again)) == full
    # Setting regions replaces what would have been read.
    fresh = dls.read(SPEC_TEST)
    fresh.instruments[0].regions = []
    assert fresh.instruments[0].regions_loaded and fresh.instruments[0].regions == []


def test_errors_and_warnings_still_come_from_read():
    """Instruments whose regions are not plain are read at open, so read() warns (and
    refuses) as the full read does."""
    bad = rb.lst(b"rgn2", rb.rgnh(), rb.wlnk(0), rb.chunk(b"wsmp", b"\0" * 8))
    good = rb.lst(b"rgn2", rb.rgnh(), rb.wlnk(0))
    w = rb.wave_list(rb.fmt(), rb.chunk(b"data", rb.pcm16(100)))
    ptbl, wvpl = rb.pool([w])
    data = rb.dls_file(
        rb.colh(2),
        rb.lst(
            b"lins",
            rb.lst(b"ins ", rb.insh(1), rb.lst(b"lrgn", good)),
            rb.lst(b"ins ", rb.insh(2, 0, 1), rb.lst(b"lrgn", good, bad)),
        ),
        ptbl,
        wvpl,
    )
    lazy = dls.read(data)
    assert lazy.warnings == dls.read(data, lazy=False).warnings
    assert len(lazy.warnings) == 1
    assert "LIST lins > LIST ins  #2 > LIST lrgn > LIST rgn2 #2 > wsmp at 0x" in lazy.warnings[0]
    assert [i.regions_loaded for i in lazy.instruments] == [False, True]
    # The only region unplayable: the same refusal both ways.
    broken = rb.simple_bank().replace(rb.wlnk(0), rb.wlnk(9))
    with pytest.raises(dls.DLSError) as lazy_err:
        dls.read(broken)
    with pytest.raises(dls.DLSError) as full_err:
        dls.read(broken, lazy=False)
    assert str(lazy_err.value) == str(full_err.value)
    assert "LIST lins > LIST ins  > LIST lrgn > LIST rgn2 at 0x" in str(lazy_err.value)
    # A warning inside one instrument's regions: that instrument is read at open.
    odd = rb.simple_bank(region_extra=rb.chunk(b"zzzz", b"12"))
    col = dls.read(odd)
    assert col.instruments[0].regions_loaded
    assert any("zzzz at 0x" in w and "unexpected chunk ignored" in w for w in col.warnings)


def test_a_structural_error_deep_inside_is_named_as_before():
    data = bytearray(_many_instruments_bank(30, 20))
    pos = data.rfind(b"wlnk")
    struct.pack_into("<I", data, pos + 4, 5000)
    msgs = []
    for lazy in (True, False):
        with pytest.raises(dls.DLSError) as ei:
            dls.read(bytes(data), lazy=lazy)
        msgs.append(str(ei.value))
    assert msgs[0] == msgs[1]
    assert f"wlnk at 0x{pos:x}: size 5000 overruns its parent" in msgs[0]


def test_bounded_fuzz_lazy_and_full_agree():
    """Mutated banks: the same error text, or equal collections and equal warnings."""
    seeds = [BUILT["two"], BUILT["cdl"], BUILT["loops"], BUILT["simple-level1"], BUILT["waves"]]
    rng = np.random.default_rng(20261201)
    cases = int(os.environ.get("DLSYNTH_FUZZ_CASES", "1500"))
    for case in range(cases):
        data = seeds[case % len(seeds)]
        for _ in range(int(rng.integers(1, 4))):
            data = _mutate(rng, data)
        out = []
        for lazy in (True, False):
            try:
                col = dls.read(data, lazy=lazy)
            except dls.DLSError as exc:
                out.append(("error", str(exc)))
            else:
                at_open = list(col.warnings)
                col.load_all()
                out.append(("ok", col, at_open, list(col.warnings), col.level))
        assert out[0][0] == out[1][0], (case, out)
        if out[0][0] == "error":
            assert out[0][1] == out[1][1], case
        else:
            assert out[0][1] == out[1][1], case
            assert out[0][2:] == out[1][2:], case


def _big_bank() -> Path | None:
    env = os.environ.get("DLSYNTH_BIG_BANK")
    for cand in ([Path(env)] if env else []) + [BENCH_CACHE / "FluidR3_GM.dls"]:
        if cand.is_file():
            return cand
    return None


BIG_BANK_INSTRUMENTS = 400  # built-in bank instruments copied under other patches


def _built_big_bank(tmp_path) -> Path:
    """A bank of a few thousand regions written by dls.write: the built-in bank's
    instruments copied under other bank numbers (what a GS/XG bank's variations look like)."""
    import copy as _copy

    from dlsynth.gmbank import load_default_bank

    base = load_default_bank()
    col = _copy.deepcopy(base)
    extra = []
    for k in range(BIG_BANK_INSTRUMENTS):
        ins = _copy.deepcopy(base.instruments[k % len(base.instruments)])
        ins.bank = dls.Instrument.make_bank(1 + k // 128, 0) | (ins.bank & C.F_INSTRUMENT_DRUMS)
        ins.program = k % 128
        extra.append(ins)
    col.instruments = list(col.instruments) + extra
    path = tmp_path / "big.dls"
    dls.write(col, path)
    return path


@pytest.mark.slow
def test_lazy_and_full_reads_agree_on_a_big_bank(tmp_path):
    """On the FluidR3 conversion where one is at hand (DLSYNTH_BIG_BANK, or the one
    benchmarks/bank_load.py builds); otherwise on a big bank written here."""
    path = _big_bank() or _built_big_bank(tmp_path)
    lazy = _same_reads(path)
    assert len(lazy.instruments) > 100
    assert not any(i.regions_loaded for i in lazy.instruments)


# --- warning paths -----------------------------------------------------------------------------


def _bank_with_unknown_chunks(n: int) -> bytes:
    """simple_bank with n unknown top-level chunks (each one a warning naming '#k')."""
    base = rb.simple_bank()
    junk = b"".join(rb.chunk(b"zzzz", b"\0\0") for _ in range(n))
    return rb.dls_file(junk + base[12:])


@pytest.mark.parametrize("lazy", [True, False])
def test_warning_paths_are_linear_in_the_number_of_warnings(lazy):
    headers = {}
    for n in (250, 1000, 4000):
        data = _bank_with_unknown_chunks(n)
        riff.counters.reset()
        col = dls.read(data, lazy=lazy)
        unknown = [w for w in col.warnings if "unknown chunk ignored" in w]
        per_kind = dls.errors.Warnings.PER_KIND
        assert len(unknown) == per_kind + 1  # and the count of the rest
        assert unknown[0].startswith("zzzz at 0xc:")
        assert unknown[per_kind - 1].startswith(f"zzzz #{per_kind} at 0x")
        assert unknown[-1] == f"and {n - per_kind:,} more like this (unknown chunk ignored)"
        headers[n] = riff.counters.headers
    # Reading n siblings and naming each of them: a constant number of header reads per chunk
    # (the old walker re-read all siblings for every name: n * n).
    assert headers[4000] <= 4 * headers[1000] + 64
    assert headers[1000] <= 4 * headers[250] + 64
    assert headers[4000] < 3 * 4000


def test_warning_paths_inside_regions_are_linear():
    """Thousands of warnings among the children of one region, in the full read."""
    headers = {}
    for n in (500, 2000):
        extra = b"".join(rb.chunk(b"zzzz", b"") for _ in range(n))
        riff.counters.reset()
        col = dls.read(rb.simple_bank(region_extra=extra))
        msgs = [w for w in col.warnings if "unexpected chunk ignored" in w]
        per_kind = dls.errors.Warnings.PER_KIND
        assert len(msgs) == per_kind + 1
        assert msgs[per_kind - 1].startswith(f"LIST lins > LIST ins  > LIST lrgn > LIST rgn2 > zzzz #{per_kind} at 0x")
        assert msgs[-1] == f"and {n - per_kind:,} more like this (unexpected chunk ignored)"
        headers[n] = riff.counters.headers
    assert headers[2000] <= 4 * headers[500] + 64
