"""Reading DLS Level 1 and Level 2 files into the collection model.

`read(source)` memory-maps a file (or takes bytes) and returns a `Collection` whose sample
data and connection blocks are NumPy views into the map: nothing is copied at load. Layouts
that real files have and that can still be played (``art1`` inside ``lar2``, ``insh`` after
``lrgn``, ``data`` before ``fmt ``, ``ptbl`` after ``wvpl``, RIFF sizes that disagree with
the file) are accepted with a warning each. Anything that cannot be played raises
`DLSError` naming the chunk path and byte offset.

Opening is lazy by default: `dls.riffindex` indexes the chunks in one NumPy pass,
`dls.wavetable` and `dls.regiontable` check and decode every wave and region in bulk (plain
waves are built from that at once, without the one-chunk-at-a-time code), and an
instrument whose regions
are all plain (nothing to warn about, nothing that can fail) gets them built on first use of
``Instrument.regions``. Everything else (the file's top level, the wave pool, instrument
headers, any instrument with an odd region) goes through the same one-chunk-at-a-time code
as ``read(..., lazy=False)``, at open, so both reads give equal collections, the same
warnings in the same order, and the same errors, all from `read` itself.
"""

from __future__ import annotations

import gc
import mmap
import os
import struct

import numpy as np

from . import cdl as cdl_mod
from . import constants as C
from .errors import DLSError
from .model import (
    CONNECTION_DTYPE,
    Articulation,
    Collection,
    Condition,
    Instrument,
    Loop,
    Region,
    Wave,
    WaveLink,
    WaveSample,
)
from .regiontable import RegionTable
from .riff import Chunk, children, fourcc_str
from .riffindex import RiffIndex, Unindexable
from .wavetable import WaveTable

_u32 = struct.Struct("<I").unpack_from
_insh = struct.Struct("<III").unpack_from
_rgnh12 = struct.Struct("<HHHHHH").unpack_from
_rgnh14 = struct.Struct("<HHHHHHH").unpack_from
_wlnk = struct.Struct("<HHII").unpack_from
_wsmp = struct.Struct("<IHhiII").unpack_from
_wloop = struct.Struct("<IIII").unpack_from
_fmt = struct.Struct("<HHIIHH").unpack_from
_fmt14 = struct.Struct("<HHIIH").unpack_from
_art = struct.Struct("<II").unpack_from

_KSDATAFORMAT_SUBTYPE_PCM = bytes.fromhex("0100000000001000800000aa00389b71")

_FORMAT_NAMES = {0x0002: "MS ADPCM", 0x0003: "IEEE float", 0x0006: "A-law", 0x0007: "mu-law", 0x0011: "IMA ADPCM", 0x0055: "MPEG layer 3"}

# Chunks that may appear and carry nothing we use; not worth a warning.
_QUIET_TOP = {b"JUNK", b"PAD ", b"pgal", b"ISFT"}

# A DLS region or wave link cannot sensibly exceed these; larger counts mean corruption.
MAX_COUNT = 1 << 24


class _Reader:
    def __init__(self, buf, caps: cdl_mod.Capabilities, lazy: bool = False):
        self.buf = buf
        self.caps = caps
        self.warnings: list[str] = []
        self.level = 1
        self.lazy = lazy
        self.index: RiffIndex | None = None  # set when reading lazily (and the file indexes)
        self.regions: RegionTable | None = None  # the bulk check of all regions, if usable
        self.path: str | None = None

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)

    def children(self, ck: Chunk, depth: int) -> list[Chunk]:
        if self.index is not None:
            return self.index.children(ck, depth, self.warnings)
        return children(self.buf, ck, depth, self.warnings)

    # --- small chunks ---------------------------------------------------------------------
    def need(self, ck: Chunk, size: int) -> None:
        if ck.size < size:
            raise ck.error(f"size {ck.size} < {size}")

    def info(self, ck: Chunk, depth: int) -> dict[str, str]:
        out: dict[str, str] = {}
        buf = self.buf
        for sub in self.children(ck, depth + 1):
            if sub.type is not None:
                continue
            raw = bytes(buf[sub.data_start:sub.end])
            nul = raw.find(b"\0")
            if nul >= 0:
                raw = raw[:nul]
            out[fourcc_str(sub.id)] = raw.decode("latin-1")
        return out

    def dlid(self, ck: Chunk) -> bytes:
        self.need(ck, 16)
        return bytes(self.buf[ck.data_start:ck.data_start + 16])

    def condition(self, ck: Chunk) -> Condition:
        self.level = 2
        data = bytes(self.buf[ck.data_start:ck.end])
        try:
            ops = cdl_mod.parse(data)
            result = cdl_mod.evaluate(ops, self.caps)
        except cdl_mod.CdlSyntaxError as exc:
            self.warn(f"{ck.where()}: malformed condition ({exc}); treated as true")
            return Condition([], True)
        return Condition(ops, result)

    def wave_sample(self, ck: Chunk) -> WaveSample:
        self.need(ck, 20)
        buf = self.buf
        cb, unity, fine, atten, options, nloops = _wsmp(buf, ck.data_start)
        if cb < 20 or cb > ck.size:
            raise ck.error(f"header size {cb} outside 20..{ck.size}")
        if nloops > (ck.size - cb) // 16:
            raise ck.error(f"{nloops} loops need {cb + 16 * nloops} bytes, the chunk has {ck.size}")
        loops = []
        pos = ck.data_start + cb
        for i in range(nloops):
            lcb, ltype, start, length = _wloop(buf, pos)
            if lcb < 16:
                raise ck.error(f"loop #{i + 1} has size {lcb} < 16")
            if ltype not in (C.WLOOP_TYPE_FORWARD, C.WLOOP_TYPE_RELEASE):
                self.warn(f"{ck.where()}: loop #{i + 1} has unknown type {ltype}; played as a forward loop")
                ltype = C.WLOOP_TYPE_FORWARD
            loops.append(Loop(ltype, start, length))
            pos += 16 if lcb == 16 else lcb
            if pos > ck.end:
                raise ck.error(f"loop #{i + 1} runs past the chunk")
        if unity > 127:
            raise ck.error(f"unity note {unity} > 127")
        return WaveSample(unity, fine, atten, options, loops)

    def articulation(self, ck: Chunk, level: int) -> Articulation:
        self.need(ck, 8)
        cb, count = _art(self.buf, ck.data_start)
        if cb < 8 or cb > ck.size:
            raise ck.error(f"header size {cb} outside 8..{ck.size}")
        if count > (ck.size - cb) // 12:
            raise ck.error(f"{count} connection blocks need {cb + 12 * count} bytes, the chunk has {ck.size}")
        blocks = np.frombuffer(self.buf, dtype=CONNECTION_DTYPE, count=count, offset=ck.data_start + cb)
        if level == 2:
            self.level = 2
        return Articulation(level=level, blocks=blocks)

    def articulation_list(self, ck: Chunk, depth: int, out: list[Articulation]) -> None:
        """A LIST lart or LIST lar2: its art1/art2 chunks, each guarded by a preceding cdl."""
        list_level = 2 if ck.type == b"lar2" else 1
        if list_level == 2:
            self.level = 2
        active = True
        for sub in self.children(ck, depth + 1):
            sid = sub.id
            if sid == b"cdl ":
                active = self.condition(sub).result
            elif sid == b"art1" or sid == b"art2":
                lvl = 1 if sid == b"art1" else 2
                if lvl != list_level:
                    self.warn(f"{sub.where()}: {fourcc_str(sid)} inside LIST {fourcc_str(ck.type)}; accepted")
                if active:
                    out.append(self.articulation(sub, lvl))
                active = True
            else:
                self.warn(f"{sub.where()}: unexpected chunk ignored")

    # --- waves ---------------------------------------------------------------------------
    def wave(self, ck: Chunk, depth: int, index: int) -> tuple[Wave, bool]:
        fmt_ck = data_ck = None
        w = Wave()
        keep = True
        for sub in self.children(ck, depth + 1):
            sid = sub.id
            if sid == b"fmt ":
                fmt_ck = sub
            elif sid == b"data":
                data_ck = sub
                if fmt_ck is None:
                    self.warn(f"{sub.where()}: data before fmt ; accepted")
            elif sid == b"wsmp":
                w.wave_sample = self.wave_sample(sub)
            elif sid == b"dlid":
                w.dlid = self.dlid(sub)
            elif sid == b"cdl ":
                keep = keep and self.condition(sub).result
            elif sub.type == b"INFO":
                w.info = self.info(sub, depth + 1)
            elif sid in (b"guid", b"wavu", b"smpl", b"cue ", b"fact"):
                pass
            else:
                self.warn(f"{sub.where()}: unexpected chunk ignored")
        if fmt_ck is None:
            raise ck.error(f"wave #{index} has no fmt  chunk")
        if data_ck is None:
            raise ck.error(f"wave #{index} has no data chunk")
        buf = self.buf
        if fmt_ck.size >= 16:
            tag, ch, rate, avg, align, bits = _fmt(buf, fmt_ck.data_start)
        elif fmt_ck.size >= 14:
            tag, ch, rate, avg, align = _fmt14(buf, fmt_ck.data_start)
            bits = 8 * align // max(ch, 1)
        else:
            raise fmt_ck.error(f"size {fmt_ck.size} < 14")
        if tag == C.WAVE_FORMAT_EXTENSIBLE and fmt_ck.size >= 40:
            sub_fmt = bytes(buf[fmt_ck.data_start + 24:fmt_ck.data_start + 40])
            if sub_fmt == _KSDATAFORMAT_SUBTYPE_PCM:
                tag_eff = C.WAVE_FORMAT_PCM
            else:
                tag_eff = -1
        else:
            tag_eff = tag
        w.format_tag, w.channels, w.sample_rate = tag, ch, rate
        w.avg_bytes_per_sec, w.block_align, w.bits_per_sample = avg, align, bits
        reason = None
        if tag_eff != C.WAVE_FORMAT_PCM:
            reason = f"format {_FORMAT_NAMES.get(tag, f'0x{tag:04x}')}"
        elif bits not in (8, 16):
            reason = f"{bits}-bit PCM"
        elif ch < 1:
            reason = "0 channels"
        elif rate < 1:
            reason = "a sample rate of 0"
        if reason is not None:
            self.warn(f"wave #{index} ({ck.where()}): unsupported {reason}; its regions will be silent")
            w.supported = False
            w.raw_data = bytes(buf[data_ck.data_start:data_ck.end])
            w.data = np.zeros((0, max(ch, 1)), dtype=np.int16)
            return w, keep
        frame_bytes = ch * (bits // 8)
        if align != frame_bytes:
            self.warn(f"{fmt_ck.where()}: block align {align} should be {frame_bytes}; using {frame_bytes}")
        frames = data_ck.size // frame_bytes
        if data_ck.size % frame_bytes:
            self.warn(f"{data_ck.where()}: {data_ck.size % frame_bytes} trailing bytes of a partial frame ignored")
        dtype = np.uint8 if bits == 8 else np.dtype("<i2")
        w.data = np.frombuffer(buf, dtype=dtype, count=frames * ch, offset=data_ck.data_start).reshape(frames, ch)
        return w, keep

    def wave_pool(self, ck: Chunk, depth: int) -> tuple[list[Wave], dict[int, int], list[bool]]:
        """All waves of the LIST wvpl, and the map from their pool offset to their index."""
        waves: list[Wave] = []
        by_offset: dict[int, int] = {}
        kept: list[bool] = []
        base = ck.data_start  # ptbl offsets count from the first byte after 'wvpl'
        plain = WaveTable.build(self.index) if self.index is not None else None
        for sub in self.children(ck, depth + 1):
            if sub.type == b"wave":
                w = plain.wave(sub.node) if plain is not None else None  # checked in bulk
                if w is None:
                    w, keep = self.wave(sub, depth + 1, len(waves))
                else:
                    keep = True
                by_offset[sub.offset - base] = len(waves)
                waves.append(w)
                kept.append(keep)
            else:
                self.warn(f"{sub.where()}: unexpected chunk in the wave pool ignored")
        return waves, by_offset, kept

    # --- instruments ------------------------------------------------------------------------
    def region(self, ck: Chunk, depth: int) -> Region | None:
        r = Region(level=2 if ck.type == b"rgn2" else 1)
        if r.level == 2:
            self.level = 2
        have_rgnh = have_wlnk = False
        keep = True
        for sub in self.children(ck, depth + 1):
            sid = sub.id
            if sid == b"rgnh":
                self.need(sub, 12)
                if sub.size >= 14:
                    kl, kh, vl, vh, opt, kg, layer = _rgnh14(self.buf, sub.data_start)
                    r.layer = layer
                    self.level = 2
                else:
                    kl, kh, vl, vh, opt, kg = _rgnh12(self.buf, sub.data_start)
                if kl > 127 or kh > 127 or kl > kh:
                    raise sub.error(f"key range {kl}-{kh} is not within 0-127 low to high")
                if vl > 127 or vh > 127 or vl > vh:
                    if vl == 0 and vh == 0:
                        # Some Level 1 writers leave the velocity range zero: it means "all".
                        self.warn(f"{sub.where()}: velocity range 0-0 read as 0-127")
                        vl, vh = 0, 127
                    else:
                        raise sub.error(f"velocity range {vl}-{vh} is not within 0-127 low to high")
                r.key_low, r.key_high, r.vel_low, r.vel_high = kl, kh, vl, vh
                r.options, r.key_group = opt, kg
                have_rgnh = True
            elif sid == b"wsmp":
                r.wave_sample = self.wave_sample(sub)
            elif sid == b"wlnk":
                self.need(sub, 12)
                opt, phase, channel, index = _wlnk(self.buf, sub.data_start)
                r.wave_link = WaveLink(index, opt, phase, channel)
                have_wlnk = True
            elif sub.type == b"lart" or sub.type == b"lar2":
                self.articulation_list(sub, depth + 1, r.articulations)
            elif sid == b"art1" or sid == b"art2":
                self.warn(f"{sub.where()}: articulator outside a LIST lart/lar2; accepted")
                r.articulations.append(self.articulation(sub, 1 if sid == b"art1" else 2))
            elif sid == b"cdl ":
                keep = keep and self.condition(sub).result
            elif sid == b"dlid" or sub.type == b"INFO":
                pass
            else:
                self.warn(f"{sub.where()}: unexpected chunk ignored")
        if not have_rgnh:
            raise ck.error("region has no rgnh chunk")
        if not have_wlnk:
            raise ck.error("region has no wlnk (wave link) chunk")
        return r if keep else None

    def instrument(self, ck: Chunk, depth: int) -> tuple[Instrument | None, int | None, list[Chunk]]:
        ins = Instrument()
        declared_regions = None
        region_lists: list[Chunk] = []
        keep = True
        seen_lrgn = False
        for sub in self.children(ck, depth + 1):
            sid = sub.id
            if sid == b"insh":
                self.need(sub, 12)
                declared_regions, ins.bank, ins.program = _insh(self.buf, sub.data_start)
                if seen_lrgn:
                    self.warn(f"{sub.where()}: insh after lrgn; accepted")
            elif sub.type == b"lrgn":
                seen_lrgn = True
                region_lists.append(sub)
            elif sub.type == b"lart" or sub.type == b"lar2":
                self.articulation_list(sub, depth + 1, ins.articulations)
            elif sid == b"art1" or sid == b"art2":
                self.warn(f"{sub.where()}: articulator outside a LIST lart/lar2; accepted")
                ins.articulations.append(self.articulation(sub, 1 if sid == b"art1" else 2))
            elif sid == b"dlid":
                ins.dlid = self.dlid(sub)
            elif sid == b"cdl ":
                keep = keep and self.condition(sub).result
            elif sub.type == b"INFO":
                ins.info = self.info(sub, depth + 1)
                ins.name = ins.info.get("INAM", "")
            else:
                self.warn(f"{sub.where()}: unexpected chunk ignored")
        if declared_regions is None:
            raise ck.error("instrument has no insh chunk")
        if ins.program > 127:
            raise ck.error(f"program {ins.program} > 127")
        table = self.regions
        if table is not None and table.plain(ck.node):
            # Every region is plain (checked in bulk): nothing to warn about, nothing that can
            # fail, so they are built on first use. The counts are checked now, as below.
            if len(region_lists) == 1 and declared_regions != table.regions_in(region_lists[0].node):
                raise ck.error(
                    f"insh says {declared_regions} regions, LIST lrgn has {table.regions_in(region_lists[0].node)}"
                )
            if not region_lists and declared_regions:
                raise ck.error(f"insh says {declared_regions} regions, the instrument has no LIST lrgn")
            if table.level2(ck.node):
                self.level = 2
            if keep:
                ins.defer_regions(self.region_loader(ck.node), table.kept_count(ck.node))
            return (ins if keep else None), declared_regions, region_lists
        for lrgn in region_lists:
            n_seen = 0
            for sub in self.children(lrgn, depth + 2):
                if sub.type == b"rgn " or sub.type == b"rgn2":
                    n_seen += 1
                    r = self.region(sub, depth + 2)
                    if r is not None:
                        ins.regions.append(r)
                elif sub.id == b"cdl ":
                    self.warn(f"{sub.where()}: condition directly in lrgn ignored")
                else:
                    self.warn(f"{sub.where()}: unexpected chunk in lrgn ignored")
            declared_regions_found = n_seen
            if len(region_lists) == 1 and declared_regions != declared_regions_found:
                raise ck.error(
                    f"insh says {declared_regions} regions, LIST lrgn has {declared_regions_found}"
                )
        if not region_lists and declared_regions:
            raise ck.error(f"insh says {declared_regions} regions, the instrument has no LIST lrgn")
        return (ins if keep else None), declared_regions, region_lists

    # --- the file ----------------------------------------------------------------------------
    def collection(self) -> Collection:
        buf = self.buf
        total = len(buf)
        if total == 0:
            raise DLSError("the file is empty")
        if total < 12:
            raise DLSError(f"the file is {total} bytes long, too short for a RIFF header")
        magic, size = struct.unpack_from("<4sI", buf, 0)
        form = bytes(buf[8:12])
        if magic != b"RIFF":
            if magic == b"RIFX":
                raise DLSError("big-endian RIFX files are not DLS")
            raise DLSError(f"not a RIFF file (it starts with {bytes(magic)!r})")
        if form == b"sfbk":
            from .soundfont import read_sfbk  # SoundFont 2 / SF3: read into the same model

            return read_sfbk(buf, lazy=self.lazy)
        if form != b"DLS ":
            raise DLSError(f"RIFF form {form!r} is not 'DLS '")
        end = 8 + size
        if end > total:
            self.warn(f"RIFF size {size} is larger than the file ({total - 8} bytes after the header); read to the end of the file")
            end = total
        elif end + 1 < total:
            self.warn(f"RIFF size {size} is smaller than the file ({total - 8} bytes after the header); the {total - end} bytes after it are ignored")
        if size < 4:
            raise DLSError(f"RIFF at 0x0: size {size} < 4")
        root = Chunk(b"RIFF", b"DLS ", 0, 12, end - 12, None, buf)
        if self.lazy:
            try:
                self.index = RiffIndex.build(buf, root)
                root.node = 0
            except Unindexable:
                self.index = None  # read the plain way, which names what is wrong
        col = Collection()
        top = self.children(root, 1)
        colh = lins = ptbl = wvpl = None
        order = [c.id if c.type is None else c.type for c in top]
        for ck in top:
            if ck.id == b"colh":
                self.need(ck, 4)
                colh = _u32(buf, ck.data_start)[0]
            elif ck.id == b"vers":
                self.need(ck, 8)
                col.version = struct.unpack_from("<II", buf, ck.data_start)
            elif ck.id == b"dlid":
                col.dlid = self.dlid(ck)
            elif ck.id == b"ptbl":
                ptbl = ck
            elif ck.type == b"lins":
                lins = ck
            elif ck.type == b"wvpl":
                wvpl = ck
            elif ck.type == b"INFO":
                col.info = self.info(ck, 1)
            elif ck.id == b"cdl ":
                self.warn(f"{ck.where()}: condition at the top level ignored")
            elif ck.id not in _QUIET_TOP and ck.type not in (b"dwpl",):
                self.warn(f"{ck.where()}: unknown chunk ignored")
        if b"ptbl" in order and b"wvpl" in order and order.index(b"ptbl") > order.index(b"wvpl"):
            self.warn("ptbl after LIST wvpl; accepted")
        if lins is None:
            raise DLSError("no LIST lins (instrument list) in the file")
        # Wave pool and pool table.
        waves: list[Wave] = []
        by_offset: dict[int, int] = {}
        kept: list[bool] = []
        if wvpl is not None:
            waves, by_offset, kept = self.wave_pool(wvpl, 1)
        table: list[int | None]
        if ptbl is not None:
            self.need(ptbl, 8)
            cb, cues = struct.unpack_from("<II", buf, ptbl.data_start)
            if cb < 8 or cb > ptbl.size:
                raise ptbl.error(f"header size {cb} outside 8..{ptbl.size}")
            if cues > (ptbl.size - cb) // 4:
                raise ptbl.error(f"{cues} cues need {cb + 4 * cues} bytes, the chunk has {ptbl.size}")
            offsets = np.frombuffer(buf, dtype="<u4", count=cues, offset=ptbl.data_start + cb).tolist()
            table = self.match_pool(offsets, by_offset, ptbl, wvpl)
        else:
            if waves:
                self.warn("no ptbl (pool table); waves are linked in wave-pool order")
            table = list(range(len(waves)))
        # Waves in pool-table order, so that waves[i] is what table index i plays.
        col.waves = [waves[t] if t is not None else Wave(supported=False, raw_data=b"") for t in table]
        wave_kept = [kept[t] if t is not None else False for t in table]
        if self.index is not None:
            self.regions = self.region_table(col.waves, table, wave_kept)
        # Instruments.
        n_ins_lists = 0
        for ck in self.children(lins, 2):
            if ck.type == b"ins ":
                n_ins_lists += 1
                ins, _, _ = self.instrument(ck, 2)
                if ins is None:
                    self.warn(f"{ck.where()}: instrument skipped by its condition")
                    continue
                if not ins.regions_loaded:
                    col.instruments.append(ins)  # checked in bulk: its regions come on first use
                    continue
                kept_regions = []
                for ri, r in enumerate(ins.regions):
                    ti = r.wave_link.table_index
                    if ti >= len(col.waves) or table[ti] is None:
                        raise DLSError(
                            f"{ck.where()}: region #{ri + 1} links to wave {ti}, "
                            f"but the pool table has {len(col.waves)} entries"
                            + ("" if ti >= len(col.waves) else " and that one is empty")
                        )
                    wave = col.waves[ti]
                    self.check_loops(r.wave_sample or wave.wave_sample, wave, ck, ri)
                    if not wave_kept[ti]:
                        continue
                    kept_regions.append(r)
                ins.regions = kept_regions
                col.instruments.append(ins)
            else:
                self.warn(f"{ck.where()}: unexpected chunk in lins ignored")
        if colh is None:
            self.warn("no colh (collection header); instrument count taken from lins")
        elif colh != n_ins_lists:
            raise DLSError(f"colh says {colh} instruments, LIST lins has {n_ins_lists}")
        for i, w in enumerate(col.waves):
            if w.supported and w.wave_sample is not None:
                self.check_loops(w.wave_sample, w, None, i)
        col.warnings = self.warnings
        col.level = self.level
        return col

    # --- reading lazily ------------------------------------------------------------------------
    def region_table(self, waves: list[Wave], table: list[int | None], wave_kept: list[bool]) -> RegionTable | None:
        """The bulk check of every region, or None where instruments must be read at once."""
        for i, w in enumerate(waves):
            if w.supported and w.wave_sample is not None:
                ws = w.wave_sample
                if any(lp.start + lp.length > w.frames or lp.length == 0 for lp in ws.loops):
                    # A wave's own loop is bad: the full read names the first region using it.
                    return None
        return RegionTable.build(
            self.index,
            table_ok=np.array([t is not None for t in table], dtype=bool),
            frames=np.array([w.frames for w in waves], dtype=np.int64),
            supported=np.array([w.supported for w in waves], dtype=bool),
            kept=np.array(wave_kept, dtype=bool),
        )

    def region_loader(self, node: int):
        table = self.regions
        path = self.path

        def load() -> list[Region]:
            gc_was_enabled = gc.isenabled()
            gc.disable()
            try:
                return table.regions_of(node)
            except (struct.error, ValueError, IndexError, OverflowError, MemoryError) as exc:  # defensive
                raise DLSError(f"{path + ': ' if path else ''}malformed data ({exc.__class__.__name__}: {exc})") from None
            finally:
                if gc_was_enabled:
                    gc.enable()

        return load

    def check_loops(self, ws: WaveSample | None, wave: Wave, ins_ck: Chunk | None, index: int) -> None:
        if ws is None or not wave.supported:
            return
        frames = wave.frames
        for lp in ws.loops:
            if lp.start + lp.length > frames or lp.length == 0:
                where = (
                    f"{ins_ck.where()}: region #{index + 1}" if ins_ck is not None else f"wave #{index}"
                )
                raise DLSError(
                    f"{where}: loop {lp.start}+{lp.length} lies outside the wave ({frames} frames)"
                    if lp.length else f"{where}: loop at {lp.start} has length 0"
                )

    def match_pool(self, offsets: list[int], by_offset: dict[int, int], ptbl: Chunk, wvpl: Chunk | None) -> list[int | None]:
        if wvpl is None:
            if offsets:
                raise ptbl.error(f"the pool table lists {len(offsets)} waves but there is no LIST wvpl")
            return []
        out: list[int | None] = []
        bad = []
        for i, off in enumerate(offsets):
            if off == C.POOL_CUE_NULL:
                out.append(None)
                continue
            idx = by_offset.get(off)
            if idx is None:
                bad.append(i)
            out.append(idx)
        if bad:
            # Some writers count from the LIST header or from the file start: try those bases.
            base = wvpl.data_start
            for delta, desc in ((-12, "the LIST wvpl header"), (-4, "the wvpl list type"), (-base, "the file start")):
                alt = [None if off == C.POOL_CUE_NULL else by_offset.get(off + delta) for off in offsets]
                if all(a is not None or off == C.POOL_CUE_NULL for a, off in zip(alt, offsets)):
                    self.warn(f"{ptbl.where()}: pool table offsets count from {desc}; accepted")
                    return alt
            i = bad[0]
            raise ptbl.error(f"cue #{i} points at offset 0x{offsets[i]:x}, where the wave pool has no wave")
        return out


def _open(source) -> tuple[object, str | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return memoryview(source).cast("B") if isinstance(source, memoryview) else memoryview(source), None
    path = os.fspath(source)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise DLSError(f"{path}: the file is empty")
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except DLSError:
        raise
    except IsADirectoryError:
        raise DLSError(f"{path}: is a directory, not a DLS file") from None
    except FileNotFoundError:
        raise DLSError(f"{path}: no such file") from None
    except PermissionError:
        raise DLSError(f"{path}: permission denied") from None
    except (OSError, ValueError) as exc:
        raise DLSError(f"{path}: cannot read ({exc.strerror if isinstance(exc, OSError) and exc.strerror else exc})") from None
    return mm, path


def read(source, capabilities: cdl_mod.Capabilities | None = None, *, lazy: bool = True) -> Collection:
    """Read a DLS collection from a path or from bytes.

    ``capabilities`` answers the DLSID queries of ``cdl `` chunks (default:
    `dls.cdl.DEFAULT_CAPABILITIES`). Raises `DLSError` for anything that cannot be played.

    By default (``lazy=True``) the file is indexed in one pass and every region is checked
    in bulk, so that everything that can fail fails here and every warning is in
    ``warnings`` when this returns; instruments whose regions are all plain then build
    their ``regions`` on first use (`Instrument.regions_loaded`), the others are read at
    once. ``lazy=False`` reads every chunk the plain way, one by one; both give equal
    collections, warnings and errors. `Collection.load_all` reads whatever is still unread.
    """
    buf, path = _open(source)
    reader = _Reader(buf, capabilities or cdl_mod.DEFAULT_CAPABILITIES, lazy=lazy)
    reader.path = path
    # Reading makes many small acyclic objects; the cyclic collector only slows it down.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        col = reader.collection()
    except DLSError as exc:
        if path is not None and not str(exc).startswith(path):
            raise DLSError(f"{path}: {exc}") from None
        raise
    except (struct.error, ValueError, IndexError, OverflowError, MemoryError) as exc:  # defensive: never a traceback
        raise DLSError(f"{path + ': ' if path else ''}malformed data ({exc.__class__.__name__}: {exc})") from None
    finally:
        if gc_was_enabled:
            gc.enable()
    col.source = path
    return col
