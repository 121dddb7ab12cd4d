"""The wave pool checked and decoded in bulk, in NumPy, from the RIFF index.

A ``LIST wave`` is *plain* when it holds exactly one 16-byte-or-longer PCM ``fmt `` (8 or
16 bits, channels and sample rate within what the player takes (`dls.constants`
PLAYER_*), the block align its format implies), one ``data`` after it holding whole frames
(at least one, at most PLAYER_MAX_FRAMES), at most one plain ``wsmp`` whose loop lies inside
the wave, at most one ``dlid`` and one ``LIST INFO``, and otherwise only the chunks the
reader passes over in silence (``guid``, ``wavu``, ``smpl``, ``cue ``, ``fact``). Such a
wave can neither fail nor warn, so `WaveTable.wave` builds it straight from the decoded
columns, as `dls.reader` would; every other wave goes through the reader's own code.
"""

from __future__ import annotations

import sys

import numpy as np

from . import constants as C
from .model import Loop, Wave, WaveSample
from .regiontable import _fields, decode_wsmp
from .riff import fourcc_str
from .riffindex import K_WAVE, RiffIndex


def _u32(fcc: bytes) -> int:
    return int.from_bytes(fcc, "little")


_FMT, _DATA, _WSMP, _DLID, _INFO = (_u32(x) for x in (b"fmt ", b"data", b"wsmp", b"dlid", b"INFO"))
_SILENT = np.array([_u32(x) for x in (b"guid", b"wavu", b"smpl", b"cue ", b"fact")], dtype=np.uint32)


class WaveTable:
    """Plain waves of the pool, ready to build (see the module docstring)."""

    def __init__(self, index: RiffIndex, rows: dict[int, tuple], infos: dict[int, dict[str, str]]):
        self.index = index
        self._rows = rows  # wave node -> decoded fields, for plain waves only
        self._infos = infos  # wave node -> its INFO dict

    def wave(self, node: int) -> Wave | None:
        """The wave at this node if it is plain, else None (for the reader to read)."""
        row = self._rows.get(node)
        if row is None:
            return None
        (
            ch,
            rate,
            avg,
            align,
            bits,
            data_at,
            frames,
            has_ws,
            unity,
            fine,
            atten,
            options,
            nloops,
            ltype,
            lstart,
            llen,
            dlid_at,
        ) = row
        dtype = np.uint8 if bits == 8 else np.dtype("<i2")
        buf = self.index.buf
        return Wave(
            format_tag=C.WAVE_FORMAT_PCM,
            channels=ch,
            sample_rate=rate,
            bits_per_sample=bits,
            block_align=align,
            avg_bytes_per_sec=avg,
            # one array straight over the map (frombuffer(...).reshape makes two: 560 B a
            # wave against 140 B, 0.6 MB for FluidR3_GM's 1,418 waves)
            data=np.ndarray((frames, ch), dtype=dtype, buffer=buf, offset=data_at),
            wave_sample=WaveSample(unity, fine, atten, options, [Loop(ltype, lstart, llen)] if nloops else [])
            if has_ws
            else None,
            dlid=bytes(buf[dlid_at : dlid_at + 16]) if dlid_at >= 0 else None,
            info=self._infos.get(node, {}),
        )

    @classmethod
    def build(cls, index: RiffIndex) -> "WaveTable":
        kind, parent, cid, ctype, islist = index.kind, index.parent, index.cid, index.ctype, index.islist
        size, data, stray = index.size, index.data, index.stray
        wv = np.flatnonzero(kind == K_WAVE)
        nw = len(wv)
        if not nw:
            return cls(index, {}, {})
        ok = stray[wv] <= 1
        ch = index.children_of(wv)
        cpos = np.searchsorted(wv, parent[ch])
        c_list, c_cid = islist[ch], cid[ch]
        is_fmt = ~c_list & (c_cid == _FMT)
        is_data = ~c_list & (c_cid == _DATA)
        is_wsmp = ~c_list & (c_cid == _WSMP)
        is_dlid = ~c_list & (c_cid == _DLID)
        is_info = c_list & (ctype[ch] == _INFO)
        silent = ~c_list & np.isin(c_cid, _SILENT)
        other = ~(is_fmt | is_data | is_wsmp | is_dlid | is_info | silent)  # cdl, unknown: not plain

        def per_wave(mask):
            return np.bincount(cpos[mask], minlength=nw)

        ok &= (per_wave(is_fmt) == 1) & (per_wave(is_data) == 1) & (per_wave(is_wsmp) <= 1)
        ok &= (per_wave(is_dlid) <= 1) & (per_wave(is_info) <= 1) & (per_wave(other) == 0)

        # --- fmt (the one of each wave that has exactly one; others are not plain anyway)
        fmt_node = np.full(nw, -1, dtype=np.int64)
        fmt_node[cpos[is_fmt]] = ch[is_fmt]
        data_node = np.full(nw, -1, dtype=np.int64)
        data_node[cpos[is_data]] = ch[is_data]
        ok &= (fmt_node >= 0) & (data_node > fmt_node)  # data before fmt: a warning
        fmt_c = np.where(fmt_node >= 0, fmt_node, 0)
        ok &= size[fmt_c] >= 16
        rows = np.flatnonzero(ok)
        f = np.zeros((nw, 8), dtype=np.int64)
        f[rows] = _fields(index, data[fmt_c[rows]], 16, "<u2").astype(np.int64)
        tag, chans, bits, align = f[:, 0], f[:, 1], f[:, 7], f[:, 6]
        rate = f[:, 2] | (f[:, 3] << 16)
        avg = f[:, 4] | (f[:, 5] << 16)
        frame_bytes = chans * (bits // 8)
        ok &= (tag == C.WAVE_FORMAT_PCM) & ((bits == 8) | (bits == 16))
        ok &= (chans >= 1) & (chans <= C.PLAYER_MAX_CHANNELS)
        ok &= (rate >= C.PLAYER_MIN_SAMPLE_RATE) & (rate <= C.PLAYER_MAX_SAMPLE_RATE)
        ok &= align == frame_bytes
        data_c = np.where(data_node >= 0, data_node, 0)
        dsize = size[data_c]
        fb = np.maximum(frame_bytes, 1)
        ok &= dsize % fb == 0
        frames = dsize // fb
        ok &= (frames > 0) & (frames <= C.PLAYER_MAX_FRAMES)  # an empty wave: a warning

        # --- wsmp, whose loop must lie inside the wave
        s = ch[is_wsmp]
        sr = cpos[is_wsmp]
        ws = decode_wsmp(index, s)
        good = ws["good"] & ((ws["nloops"] == 0) | ((ws["start"] + ws["length"] <= frames[sr]) & (ws["length"] != 0)))
        ok[sr[~good]] = False
        wcols = np.zeros((nw, 9), dtype=np.int64)
        wcols[sr, 0] = 1
        for j, k in enumerate(("unity", "fine", "atten", "options", "nloops", "type", "start", "length"), 1):
            wcols[sr, j] = ws[k]

        # --- dlid
        dl = ch[is_dlid]
        dlr = cpos[is_dlid]
        ok[dlr[size[dl] < 16]] = False
        dlid_at = np.full(nw, -1, dtype=np.int64)
        dlid_at[dlr] = data[dl]

        # --- INFO: no stray bytes; its chunks become the info dict
        inf = ch[is_info]
        infr = cpos[is_info]
        ok[infr[stray[inf] > 1]] = False
        infos: dict[int, dict[str, str]] = {}
        keep_info = ok[infr]
        inf, infr = inf[keep_info], infr[keep_info]
        if len(inf):
            sub = index.children_of(inf)
            sub = sub[~islist[sub]]  # the reader skips lists inside INFO
            owner = wv[infr[np.searchsorted(inf, parent[sub])]]
            buf = index.buf
            for w, off, ds, n in zip(
                owner.tolist(), index.offset[sub].tolist(), data[sub].tolist(), size[sub].tolist()
            ):
                raw = bytes(buf[ds : ds + n])
                nul = raw.find(b"\0")
                if nul >= 0:
                    raw = raw[:nul]
                d = infos.get(w)
                if d is None:
                    d = infos[w] = {}
                d[sys.intern(fourcc_str(bytes(buf[off : off + 4])))] = raw.decode("latin-1")  # one "INAM" for all

        plain = np.flatnonzero(ok)
        table = np.stack([chans, rate, avg, align, bits, data[data_c], frames, *wcols.T, dlid_at], axis=1)[
            plain
        ].tolist()
        return cls(index, dict(zip(wv[plain].tolist(), map(tuple, table))), infos)
