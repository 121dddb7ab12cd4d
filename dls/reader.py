"""Reading DLS Level 1 and Level 2 files into the collection model.

`read(source)` memory-maps a file (or takes bytes) and returns a `Collection` whose sample
data and connection blocks are NumPy views into the map: nothing is copied at load. Layouts
that real files have and that can still be played (``art1`` inside ``lar2``, ``insh`` after
``lrgn``, ``data`` before ``fmt ``, ``ptbl`` after ``wvpl``, RIFF sizes that disagree with
the file) are accepted with a warning each.

What is wrong costs only the part it is in. A bad loop, wave, region or articulation is
clamped, dropped or made silent, with a warning naming its chunk path and offset; the file is
refused (`DLSError`, with the path and offset) only when its structure cannot be walked or
nothing in it can be played. Warnings are bounded (`dls.errors.Warnings`: 20 of a kind, then
one line counting the rest). Every check, and what it costs:

=============================================  ========  ==================================
check                                          costs     what happens
=============================================  ========  ==================================
file empty, < 12 bytes, not RIFF, RIFX, sfbk,  file      refused
form not ``DLS ``, RIFF size < 4
a chunk's size overruns its parent; a LIST     file      refused (the structure cannot be
too short for its type; nesting > MAX_DEPTH              walked past it)
no ``LIST lins``                               file      refused (nothing to play)
every region lost to the problems below        file      refused, naming the first problem
``colh`` short / count differs from lins       nothing   ignored / the lins count is read
``vers`` or any ``dlid`` short                 nothing   ignored
``ptbl`` short or header size wrong            nothing   ignored: waves linked in pool order
``ptbl`` cues past its end                     nothing   the cues that fit are read
``ptbl`` but no ``LIST wvpl``                  regions   every entry empty, regions skipped
a cue pointing where no wave is                regions   that entry empty, its regions skipped
wave: no ``fmt `` / ``fmt `` < 14 bytes / no   wave      unsupported: its regions are silent
``data`` / not PCM / not 8 or 16 bits /
channels 0 or > PLAYER_MAX_CHANNELS / rate 0
or > PLAYER_MAX_SAMPLE_RATE / more than
PLAYER_MAX_FRAMES frames
wave with no frames                            wave      kept, silent (warned once)
block align wrong; a partial frame at the end  nothing   the format's align; frame dropped
``wsmp`` short, header size wrong, unity > 127 wsmp      ignored: a region plays with its
                                                         wave's, a wave with the defaults
``wsmp`` loops past the chunk; a loop record   loops     the loops before it are read
< 16 bytes or running past the chunk
unknown loop type                              nothing   played as a forward loop
loop ending past its wave                      loop      clamped to the wave's end
loop starting past its wave, or length 0       loop      dropped: the region plays one-shot
``art1``/``art2`` short or header size wrong   art       ignored
connection blocks past the art chunk           blocks    the blocks that fit are read
malformed ``cdl ``                             nothing   treated as true
``rgnh`` short; no ``rgnh``; no ``wlnk``;      region    skipped
``wlnk`` short
key/velocity low end > 127 or > high end       region    skipped
key/velocity high end > 127                    nothing   clamped to 127
``rgn2`` velocity range 0-0                    nothing   read as 0-127
wave link past the pool table / to an empty    region    skipped
entry
``insh`` short or missing; program > 127       instr.    skipped
``insh`` region count differs from ``lrgn``;   nothing   the regions found are read
regions declared but no ``LIST lrgn``
more than PLAYER_MAX_REGIONS regions           regions   the first PLAYER_MAX_REGIONS kept
unexpected or unknown chunks; stray bytes      nothing   ignored
=============================================  ========  ==================================

The PLAYER_* limits (`dls.constants`) are the engine's, so that what reads also plays.

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
from .errors import DLSError, Warnings
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

_FORMAT_NAMES = {
    0x0002: "MS ADPCM",
    0x0003: "IEEE float",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0055: "MPEG layer 3",
}

# Chunks that may appear and carry nothing we use; not worth a warning.
_QUIET_TOP = {b"JUNK", b"PAD ", b"pgal", b"ISFT"}


# Kinds of warning (see dls.errors.Warnings: at most PER_KIND of each are listed).
W_SHORT = "chunk too short"
W_UNEXPECTED = "unexpected chunk ignored"
W_UNKNOWN_TOP = "unknown chunk ignored"
W_LAYOUT = "odd layout accepted"
W_CONDITION = "malformed condition"
W_WSMP = "wave sample (wsmp) ignored"
W_LOOPS = "loop records"
W_LOOP_TYPE = "unknown loop type"
W_LOOP_FIT = "loop outside its wave"
W_ART = "articulation"
W_WAVE = "wave that cannot be played"
W_EMPTY_WAVE = "empty wave"
W_WAVE_DATA = "wave data"
W_RANGE = "key or velocity range"
W_REGION = "region skipped"
W_LINK = "region linking to no wave"
W_INSTRUMENT = "instrument skipped"
W_COUNT = "count that disagrees"
W_POOL = "pool table"


class _Reader:
    def __init__(self, buf, caps: cdl_mod.Capabilities, lazy: bool = False):
        self.buf = buf
        self.caps = caps
        self.warnings = Warnings()
        self.level = 1
        self.lazy = lazy
        self.index: RiffIndex | None = None  # set when reading lazily (and the file indexes)
        self.regions: RegionTable | None = None  # the bulk check of all regions, if usable
        self.path: str | None = None
        self.first_loss: str | None = None  # the first warning about a part left out or silent

    def warn(self, kind: str, msg: str) -> None:
        self.warnings.add(kind, msg)

    def lose(self, kind: str, msg: str) -> None:
        """Warn about a part that will not sound (left out, or silent)."""
        if self.first_loss is None:
            self.first_loss = msg
        self.warnings.add(kind, msg)

    def children(self, ck: Chunk, depth: int) -> list[Chunk]:
        if self.index is not None:
            return self.index.children(ck, depth, self.warnings)
        return children(self.buf, ck, depth, self.warnings)

    # --- small chunks ---------------------------------------------------------------------
    def fits(self, ck: Chunk, size: int, consequence: str, lost: bool = False) -> bool:
        """Whether the chunk holds `size` bytes; if not, a warning saying what follows."""
        if ck.size >= size:
            return True
        (self.lose if lost else self.warn)(W_SHORT, f"{ck.where()}: size {ck.size} < {size}; {consequence}")
        return False

    def info(self, ck: Chunk, depth: int) -> dict[str, str]:
        out: dict[str, str] = {}
        buf = self.buf
        for sub in self.children(ck, depth + 1):
            if sub.type is not None:
                continue
            raw = bytes(buf[sub.data_start : sub.end])
            nul = raw.find(b"\0")
            if nul >= 0:
                raw = raw[:nul]
            out[fourcc_str(sub.id)] = raw.decode("latin-1")
        return out

    def dlid(self, ck: Chunk) -> bytes | None:
        if not self.fits(ck, 16, "ignored"):
            return None
        return bytes(self.buf[ck.data_start : ck.data_start + 16])

    def condition(self, ck: Chunk) -> Condition:
        self.level = 2
        data = bytes(self.buf[ck.data_start : ck.end])
        try:
            ops = cdl_mod.parse(data)
            result = cdl_mod.evaluate(ops, self.caps)
        except cdl_mod.CdlSyntaxError as exc:
            self.warn(W_CONDITION, f"{ck.where()}: malformed condition ({exc}); treated as true")
            return Condition([], True)
        return Condition(ops, result)

    def wave_sample(self, ck: Chunk) -> WaveSample | None:
        """A wsmp, or None where its header cannot be used (the region then plays with its
        wave's wsmp, a wave with the defaults). Loop records that do not fit are dropped."""
        if not self.fits(ck, 20, "ignored"):
            return None
        buf = self.buf
        cb, unity, fine, atten, options, nloops = _wsmp(buf, ck.data_start)
        if cb < 20 or cb > ck.size:
            self.warn(W_WSMP, f"{ck.where()}: header size {cb} outside 20..{ck.size}; ignored")
            return None
        if unity > 127:
            self.warn(W_WSMP, f"{ck.where()}: unity note {unity} > 127; ignored")
            return None
        room = (ck.size - cb) // 16
        if nloops > room:
            self.warn(
                W_LOOPS,
                f"{ck.where()}: {nloops} loops need {cb + 16 * nloops} bytes, the chunk has "
                f"{ck.size}; the {room} that fit are read",
            )
            nloops = room
        loops = []
        pos = ck.data_start + cb
        end = ck.end
        for i in range(nloops):
            if pos + 16 > end:
                self.warn(W_LOOPS, f"{ck.where()}: loop #{i + 1} runs past the chunk; it and any after it ignored")
                break
            lcb, ltype, start, length = _wloop(buf, pos)
            if lcb < 16:
                self.warn(W_LOOPS, f"{ck.where()}: loop #{i + 1} has size {lcb} < 16; it and any after it ignored")
                break
            if ltype not in (C.WLOOP_TYPE_FORWARD, C.WLOOP_TYPE_RELEASE, C.WLOOP_TYPE_RELEASE_WIN2000):
                self.warn(
                    W_LOOP_TYPE, f"{ck.where()}: loop #{i + 1} has unknown type {ltype}; played as a forward loop"
                )
                ltype = C.WLOOP_TYPE_FORWARD
            loops.append(Loop(ltype, start, length))
            pos += lcb
            if pos > end:
                self.warn(
                    W_LOOPS,
                    f"{ck.where()}: loop #{i + 1} has size {lcb}, past the chunk's end; its first 16 bytes are read",
                )
                break
        return WaveSample(unity, fine, atten, options, loops)

    def fit_loops(self, ws: WaveSample, wave: Wave, where: str) -> WaveSample:
        """ws with its loops made to lie inside the wave: one that ends past the wave's end is
        clamped to it, one that starts there (or has no length) is dropped, and the region
        plays one-shot (as DDKSynth does). Loops on an empty wave are dropped without a word
        (the wave has its own warning). Unsupported waves keep theirs (their frames are
        unknown)."""
        if not wave.supported or not ws.loops:
            return ws
        frames = wave.frames
        out = []
        for lp in ws.loops:
            if lp.length and lp.start + lp.length <= frames:
                out.append(lp)
                continue
            if not frames:
                continue
            what = (
                f"loop {lp.start}+{lp.length} lies outside the wave ({frames} frames)"
                if lp.length
                else f"loop at {lp.start} has length 0"
            )
            if lp.length and lp.start < frames:
                out.append(Loop(lp.type, lp.start, frames - lp.start))
                self.warn(W_LOOP_FIT, f"{where}: {what}; clamped to {lp.start}+{frames - lp.start}")
            else:
                self.warn(W_LOOP_FIT, f"{where}: {what}; played without it")
        return WaveSample(ws.unity_note, ws.fine_tune, ws.attenuation, ws.options, out)

    def articulation(self, ck: Chunk, level: int) -> Articulation | None:
        """An art1/art2, or None where its header cannot be used (it is then ignored);
        connection blocks that do not fit in the chunk are dropped."""
        if level == 2:
            self.level = 2
        if not self.fits(ck, 8, "ignored"):
            return None
        cb, count = _art(self.buf, ck.data_start)
        if cb < 8 or cb > ck.size:
            self.warn(W_ART, f"{ck.where()}: header size {cb} outside 8..{ck.size}; ignored")
            return None
        room = (ck.size - cb) // 12
        if count > room:
            self.warn(
                W_ART,
                f"{ck.where()}: {count} connection blocks need {cb + 12 * count} bytes, the chunk "
                f"has {ck.size}; the {room} that fit are read",
            )
            count = room
        blocks = np.frombuffer(self.buf, dtype=CONNECTION_DTYPE, count=count, offset=ck.data_start + cb)
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
                    self.warn(W_LAYOUT, f"{sub.where()}: {fourcc_str(sid)} inside LIST {fourcc_str(ck.type)}; accepted")
                if active:
                    art = self.articulation(sub, lvl)
                    if art is not None:
                        out.append(art)
                active = True
            else:
                self.warn(W_UNEXPECTED, f"{sub.where()}: unexpected chunk ignored")

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
                    self.warn(W_LAYOUT, f"{sub.where()}: data before fmt ; accepted")
            elif sid == b"wsmp":
                ws = self.wave_sample(sub)
                if ws is not None:
                    w.wave_sample = ws
            elif sid == b"dlid":
                w.dlid = self.dlid(sub)
            elif sid == b"cdl ":
                keep = keep and self.condition(sub).result
            elif sub.type == b"INFO":
                w.info = self.info(sub, depth + 1)
            elif sid in (b"guid", b"wavu", b"smpl", b"cue ", b"fact"):
                pass
            else:
                self.warn(W_UNEXPECTED, f"{sub.where()}: unexpected chunk ignored")
        buf = self.buf
        reason = None
        if fmt_ck is None:
            reason = "no fmt  chunk"
            w.format_tag, w.channels, w.sample_rate, w.avg_bytes_per_sec, w.block_align, w.bits_per_sample = (
                0,
                1,
                0,
                0,
                0,
                0,
            )
        elif fmt_ck.size < 14:
            reason = f"its fmt  chunk has {fmt_ck.size} bytes (< 14)"
            w.format_tag, w.channels, w.sample_rate, w.avg_bytes_per_sec, w.block_align, w.bits_per_sample = (
                0,
                1,
                0,
                0,
                0,
                0,
            )
        else:
            if fmt_ck.size >= 16:
                tag, ch, rate, avg, align, bits = _fmt(buf, fmt_ck.data_start)
            else:
                tag, ch, rate, avg, align = _fmt14(buf, fmt_ck.data_start)
                bits = 8 * align // max(ch, 1)
            if tag == C.WAVE_FORMAT_EXTENSIBLE and fmt_ck.size >= 40:
                sub_fmt = bytes(buf[fmt_ck.data_start + 24 : fmt_ck.data_start + 40])
                tag_eff = C.WAVE_FORMAT_PCM if sub_fmt == _KSDATAFORMAT_SUBTYPE_PCM else -1
            else:
                tag_eff = tag
            w.format_tag, w.channels, w.sample_rate = tag, ch, rate
            w.avg_bytes_per_sec, w.block_align, w.bits_per_sample = avg, align, bits
            if tag_eff != C.WAVE_FORMAT_PCM:
                reason = f"unsupported format {_FORMAT_NAMES.get(tag, f'0x{tag:04x}')}"
            elif bits not in (8, 16):
                reason = f"unsupported {bits}-bit PCM"
            elif ch < 1:
                reason = "0 channels"
            elif ch > C.PLAYER_MAX_CHANNELS:
                reason = f"{ch} channels (the player takes at most {C.PLAYER_MAX_CHANNELS})"
            elif rate < C.PLAYER_MIN_SAMPLE_RATE:
                reason = "a sample rate of 0"
            elif rate > C.PLAYER_MAX_SAMPLE_RATE:
                reason = f"a sample rate of {rate:,} Hz (the player takes at most {C.PLAYER_MAX_SAMPLE_RATE:,})"
        if reason is None and data_ck is None:
            reason = "no data chunk"
        if reason is None:
            frame_bytes = w.channels * (w.bits_per_sample // 8)
            frames = data_ck.size // frame_bytes
            if frames > C.PLAYER_MAX_FRAMES:
                reason = f"{frames:,} frames (the player takes at most {C.PLAYER_MAX_FRAMES:,})"
        if reason is not None:
            self.lose(W_WAVE, f"wave #{index} ({ck.where()}): {reason}; its regions will be silent")
            w.supported = False
            w.raw_data = bytes(buf[data_ck.data_start : data_ck.end]) if data_ck is not None else b""
            w.data = np.zeros((0, max(w.channels, 1)), dtype=np.int16)
            return w, keep
        ch, align = w.channels, w.block_align
        if align != frame_bytes:
            self.warn(
                W_WAVE_DATA, f"{fmt_ck.where()}: block align {align} should be {frame_bytes}; using {frame_bytes}"
            )
        if data_ck.size % frame_bytes:
            self.warn(
                W_WAVE_DATA,
                f"{data_ck.where()}: {data_ck.size % frame_bytes} trailing bytes of a partial frame ignored",
            )
        dtype = np.uint8 if w.bits_per_sample == 8 else np.dtype("<i2")
        w.data = np.frombuffer(buf, dtype=dtype, count=frames * ch, offset=data_ck.data_start).reshape(frames, ch)
        if not frames:
            self.lose(W_EMPTY_WAVE, f"wave #{index} ({ck.where()}): no sample data; its regions will be silent")
        if w.wave_sample is not None:
            w.wave_sample = self.fit_loops(w.wave_sample, w, f"wave #{index} ({ck.where()})")
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
                self.warn(W_UNEXPECTED, f"{sub.where()}: unexpected chunk in the wave pool ignored")
        return waves, by_offset, kept

    # --- instruments ------------------------------------------------------------------------
    def _range(self, ck: Chunk, what: str, lo: int, hi: int) -> tuple[int, int] | None:
        """A key or velocity range: a high end above 127 is clamped; a low end above 127 or
        above the high end leaves nothing to play (None)."""
        if lo <= hi <= 127:
            return lo, hi
        if lo > 127 or lo > hi:
            self.lose(
                W_REGION, f"{ck.where()}: {what} range {lo}-{hi} is not within 0-127 low to high; the region is skipped"
            )
            return None
        self.warn(W_RANGE, f"{ck.where()}: {what} range {lo}-{hi} read as {lo}-127")
        return lo, 127

    def region(self, ck: Chunk, depth: int) -> Region | None:
        """A LIST rgn/rgn2, or None if its condition is false or it cannot be played (without
        a usable rgnh or wlnk; warned)."""
        r = Region(level=2 if ck.type == b"rgn2" else 1)
        if r.level == 2:
            self.level = 2
        have_rgnh = have_wlnk = False
        keep = True
        playable = True
        for sub in self.children(ck, depth + 1):
            sid = sub.id
            if sid == b"rgnh":
                have_rgnh = True
                if not self.fits(sub, 12, "the region is skipped", lost=True):
                    playable = False
                    continue
                if sub.size >= 14:
                    kl, kh, vl, vh, opt, kg, layer = _rgnh14(self.buf, sub.data_start)
                    r.layer = layer
                    self.level = 2
                else:
                    kl, kh, vl, vh, opt, kg = _rgnh12(self.buf, sub.data_start)
                keys = self._range(sub, "key", kl, kh)
                if keys is None:
                    playable = False
                    continue
                if vl == 0 and vh == 0 and r.level == 2:
                    # Some writers leave the velocity range zero: it means "all" (Level 1
                    # players ignore the range, so there it is left as it is).
                    self.warn(W_RANGE, f"{sub.where()}: velocity range 0-0 read as 0-127")
                    vels = (0, 127)
                else:
                    vels = self._range(sub, "velocity", vl, vh)
                if vels is None:
                    playable = False
                    continue
                (r.key_low, r.key_high), (r.vel_low, r.vel_high) = keys, vels
                r.options, r.key_group = opt, kg
            elif sid == b"wsmp":
                ws = self.wave_sample(sub)
                if ws is not None:
                    r.wave_sample = ws
            elif sid == b"wlnk":
                have_wlnk = True
                if not self.fits(sub, 12, "the region is skipped", lost=True):
                    playable = False
                    continue
                opt, phase, channel, index = _wlnk(self.buf, sub.data_start)
                r.wave_link = WaveLink(index, opt, phase, channel)
            elif sub.type == b"lart" or sub.type == b"lar2":
                self.articulation_list(sub, depth + 1, r.articulations)
            elif sid == b"art1" or sid == b"art2":
                self.warn(W_LAYOUT, f"{sub.where()}: articulator outside a LIST lart/lar2; accepted")
                art = self.articulation(sub, 1 if sid == b"art1" else 2)
                if art is not None:
                    r.articulations.append(art)
            elif sid == b"cdl ":
                keep = keep and self.condition(sub).result
            elif sid == b"dlid" or sub.type == b"INFO":
                pass
            else:
                self.warn(W_UNEXPECTED, f"{sub.where()}: unexpected chunk ignored")
        if not have_rgnh:
            self.lose(W_REGION, f"{ck.where()}: no rgnh (region header) chunk; the region is skipped")
            return None
        if not have_wlnk:
            self.lose(W_REGION, f"{ck.where()}: no wlnk (wave link) chunk; the region is skipped")
            return None
        return r if keep and playable else None

    def instrument(self, ck: Chunk, depth: int) -> tuple[Instrument | None, bool, list[Chunk]]:
        """(the instrument, or None if it cannot be played (warned); whether its condition
        holds; the chunks of its regions, in step with ``regions``, when they were read now)."""
        ins = Instrument()
        declared_regions = None
        region_lists: list[Chunk] = []
        keep = True
        seen_lrgn = seen_insh = False
        for sub in self.children(ck, depth + 1):
            sid = sub.id
            if sid == b"insh":
                seen_insh = True
                if self.fits(sub, 12, "the instrument is skipped", lost=True):
                    declared_regions, ins.bank, ins.program = _insh(self.buf, sub.data_start)
                if seen_lrgn:
                    self.warn(W_LAYOUT, f"{sub.where()}: insh after lrgn; accepted")
            elif sub.type == b"lrgn":
                seen_lrgn = True
                region_lists.append(sub)
            elif sub.type == b"lart" or sub.type == b"lar2":
                self.articulation_list(sub, depth + 1, ins.articulations)
            elif sid == b"art1" or sid == b"art2":
                self.warn(W_LAYOUT, f"{sub.where()}: articulator outside a LIST lart/lar2; accepted")
                art = self.articulation(sub, 1 if sid == b"art1" else 2)
                if art is not None:
                    ins.articulations.append(art)
            elif sid == b"dlid":
                ins.dlid = self.dlid(sub)
            elif sid == b"cdl ":
                keep = keep and self.condition(sub).result
            elif sub.type == b"INFO":
                ins.info = self.info(sub, depth + 1)
                ins.name = ins.info.get("INAM", "")
            else:
                self.warn(W_UNEXPECTED, f"{sub.where()}: unexpected chunk ignored")
        if declared_regions is None:
            if not seen_insh:
                self.lose(W_INSTRUMENT, f"{ck.where()}: no insh (instrument header) chunk; the instrument is skipped")
            return None, keep, []
        if ins.program > 127:
            self.lose(W_INSTRUMENT, f"{ck.where()}: program {ins.program} > 127; the instrument is skipped")
            return None, keep, []
        table = self.regions
        if table is not None and table.plain(ck.node):
            # Every region is plain (checked in bulk): nothing to warn about, nothing that can
            # fail, so they are built on first use. The counts are checked now, as below.
            if len(region_lists) == 1:
                self.check_count(ck, declared_regions, table.regions_in(region_lists[0].node))
            if not region_lists and declared_regions:
                self.check_count(ck, declared_regions, None)
            if table.level2(ck.node):
                self.level = 2
            if keep:
                ins.defer_regions(self.region_loader(ck.node), table.kept_count(ck.node))
            return ins, keep, []
        region_cks: list[Chunk] = []
        for lrgn in region_lists:
            n_seen = 0
            for sub in self.children(lrgn, depth + 2):
                if sub.type == b"rgn " or sub.type == b"rgn2":
                    n_seen += 1
                    r = self.region(sub, depth + 2)
                    if r is not None:
                        ins.regions.append(r)
                        region_cks.append(sub)
                elif sub.id == b"cdl ":
                    self.warn(W_UNEXPECTED, f"{sub.where()}: condition directly in lrgn ignored")
                else:
                    self.warn(W_UNEXPECTED, f"{sub.where()}: unexpected chunk in lrgn ignored")
            if len(region_lists) == 1:
                self.check_count(ck, declared_regions, n_seen)
        if not region_lists and declared_regions:
            self.check_count(ck, declared_regions, None)
        return ins, keep, region_cks

    def check_count(self, ck: Chunk, declared: int, found: int | None) -> None:
        """insh's region count against what the instrument holds (the regions found count)."""
        if found is None:
            self.warn(W_COUNT, f"{ck.where()}: insh says {declared} regions, the instrument has no LIST lrgn")
        elif declared != found:
            self.warn(W_COUNT, f"{ck.where()}: insh says {declared} regions, LIST lrgn has {found}; read {found}")

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
            self.warn(
                W_LAYOUT,
                f"RIFF size {size} is larger than the file ({total - 8} bytes after the header); "
                f"read to the end of the file",
            )
            end = total
        elif end + 1 < total:
            self.warn(
                W_LAYOUT,
                f"RIFF size {size} is smaller than the file ({total - 8} bytes after the header); "
                f"the {total - end} bytes after it are ignored",
            )
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
        colh = lins = ptbl = wvpl = colh_ck = None
        order = [c.id if c.type is None else c.type for c in top]
        for ck in top:
            if ck.id == b"colh":
                colh_ck = ck
                if self.fits(ck, 4, "ignored"):
                    colh = _u32(buf, ck.data_start)[0]
            elif ck.id == b"vers":
                if self.fits(ck, 8, "ignored"):
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
                self.warn(W_UNEXPECTED, f"{ck.where()}: condition at the top level ignored")
            elif ck.id not in _QUIET_TOP and ck.type not in (b"dwpl",):
                self.warn(W_UNKNOWN_TOP, f"{ck.where()}: unknown chunk ignored")
        if b"ptbl" in order and b"wvpl" in order and order.index(b"ptbl") > order.index(b"wvpl"):
            self.warn(W_LAYOUT, "ptbl after LIST wvpl; accepted")
        if lins is None:
            raise DLSError("RIFF 'DLS ' at 0x0: no LIST lins (instrument list) in the file")
        # Wave pool and pool table.
        waves: list[Wave] = []
        by_offset: dict[int, int] = {}
        kept: list[bool] = []
        if wvpl is not None:
            waves, by_offset, kept = self.wave_pool(wvpl, 1)
        table = self.pool_table(ptbl, wvpl, waves, by_offset)
        # Waves in pool-table order, so that waves[i] is what table index i plays.
        col.waves = [waves[t] if t is not None else Wave(supported=False, raw_data=b"") for t in table]
        wave_kept = [kept[t] if t is not None else False for t in table]
        if self.index is not None:
            self.regions = self.region_table(col.waves, table, wave_kept)
        # Instruments.
        n_ins_lists = 0
        playable = False
        for ck in self.children(lins, 2):
            if ck.type == b"ins ":
                n_ins_lists += 1
                ins, keep, region_cks = self.instrument(ck, 2)
                if ins is None:
                    continue
                if not keep:
                    self.warn(W_INSTRUMENT, f"{ck.where()}: instrument skipped by its condition")
                    continue
                if not ins.regions_loaded:
                    col.instruments.append(ins)  # checked in bulk: its regions come on first use
                    playable = playable or self.regions.playable(ck.node)
                    continue
                kept_regions = []
                for r, rck in zip(ins.regions, region_cks):
                    ti = r.wave_link.table_index
                    if ti >= len(col.waves) or table[ti] is None:
                        self.lose(
                            W_LINK,
                            f"{rck.where()}: links to wave {ti}, but the pool table has "
                            f"{len(col.waves)} entries"
                            + ("" if ti >= len(col.waves) else " and that one is empty")
                            + "; the region is skipped",
                        )
                        continue
                    wave = col.waves[ti]
                    if r.wave_sample is not None:
                        r.wave_sample = self.fit_loops(r.wave_sample, wave, rck.where())
                    if not wave_kept[ti]:
                        continue
                    kept_regions.append(r)
                    playable = playable or (wave.supported and wave.frames > 0)
                if len(kept_regions) > C.PLAYER_MAX_REGIONS:
                    self.lose(
                        W_INSTRUMENT,
                        f"{ck.where()}: {len(kept_regions):,} regions; the player takes "
                        f"{C.PLAYER_MAX_REGIONS:,}, the rest are left out",
                    )
                    del kept_regions[C.PLAYER_MAX_REGIONS :]
                ins.regions = kept_regions
                col.instruments.append(ins)
            else:
                self.warn(W_UNEXPECTED, f"{ck.where()}: unexpected chunk in lins ignored")
        if colh_ck is None:
            self.warn(W_COUNT, "no colh (collection header); instrument count taken from lins")
        elif colh is not None and colh != n_ins_lists:
            self.warn(
                W_COUNT,
                f"{colh_ck.where()}: colh says {colh} instruments, LIST lins has {n_ins_lists}; read {n_ins_lists}",
            )
        if not playable and self.first_loss is not None:
            # Everything that could have sounded was lost to a problem: one error, not a silent bank.
            raise DLSError(f"nothing in the file can be played; the first problem: {self.first_loss}")
        col.warnings = self.warnings.lines()
        col.level = self.level
        return col

    def pool_table(
        self, ptbl: Chunk | None, wvpl: Chunk | None, waves: list[Wave], by_offset: dict[int, int]
    ) -> list[int | None]:
        """For each pool-table entry, the index of its wave in the pool (None: no wave)."""
        buf = self.buf
        if ptbl is not None:
            in_order = "ignored, and waves are linked in wave-pool order"
            if self.fits(ptbl, 8, in_order):
                cb, cues = struct.unpack_from("<II", buf, ptbl.data_start)
                if cb < 8 or cb > ptbl.size:
                    self.warn(W_POOL, f"{ptbl.where()}: header size {cb} outside 8..{ptbl.size}; {in_order}")
                else:
                    room = (ptbl.size - cb) // 4
                    if cues > room:
                        self.warn(
                            W_POOL,
                            f"{ptbl.where()}: {cues} cues need {cb + 4 * cues} bytes, the chunk has "
                            f"{ptbl.size}; the {room} that fit are read",
                        )
                        cues = room
                    offsets = np.frombuffer(buf, dtype="<u4", count=cues, offset=ptbl.data_start + cb).tolist()
                    return self.match_pool(offsets, by_offset, ptbl, wvpl)
        elif waves:
            self.warn(W_POOL, "no ptbl (pool table); waves are linked in wave-pool order")
        return list(range(len(waves)))

    # --- reading lazily ------------------------------------------------------------------------
    def region_table(self, waves: list[Wave], table: list[int | None], wave_kept: list[bool]) -> RegionTable | None:
        """The bulk check of every region (waves' own loops already lie inside them)."""
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
                raise DLSError(
                    f"{path + ': ' if path else ''}malformed data ({exc.__class__.__name__}: {exc})"
                ) from None
            finally:
                if gc_was_enabled:
                    gc.enable()

        return load

    def match_pool(
        self, offsets: list[int], by_offset: dict[int, int], ptbl: Chunk, wvpl: Chunk | None
    ) -> list[int | None]:
        if wvpl is None:
            if offsets:
                self.lose(
                    W_POOL,
                    f"{ptbl.where()}: the pool table lists {len(offsets)} waves but there is no "
                    f"LIST wvpl; their regions are skipped",
                )
            return [None] * len(offsets)
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
                    self.warn(W_POOL, f"{ptbl.where()}: pool table offsets count from {desc}; accepted")
                    return alt
            for i in bad:
                self.lose(
                    W_POOL,
                    f"{ptbl.where()}: cue #{i} points at offset 0x{offsets[i]:x}, where the wave pool "
                    f"has no wave; regions linking to it are skipped",
                )
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
        raise DLSError(
            f"{path}: cannot read ({exc.strerror if isinstance(exc, OSError) and exc.strerror else exc})"
        ) from None
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
    if path is not None:
        col.mapping = buf
    return col
