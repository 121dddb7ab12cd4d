"""All regions of a bank checked and decoded at once, in NumPy, from the RIFF index.

`RegionTable.build` looks at every ``LIST rgn``/``rgn2`` the reader would read and decides,
region by region, whether it is *plain*: exactly one ``rgnh`` and one ``wlnk``, at most one
``wsmp`` with at most one loop, articulation lists holding only art chunks of their own
level, nothing the reader would warn about and nothing it would refuse (every check of
`dls.reader` is done here over whole columns: sizes, header sizes, counts, key and velocity
ranges (a rgn2's velocity range of 0-0 is read as 0-127, with a warning), unity note, loop type,
loop inside its wave, wave link inside the pool table, no more regions than the player takes).

An instrument all of whose regions are plain cannot fail and has nothing to say, so the
reader leaves its regions unread until first use and then builds them straight from the
decoded columns (`regions_of`), which gives what the full parse gives. Instruments with any
other region are parsed at open by the ordinary code, with its warnings and errors.
"""

from __future__ import annotations

import numpy as np

from . import constants as C
from .model import CONNECTION_DTYPE, Articulation, Loop, Region, WaveLink, WaveSample
from .riffindex import K_LRGN, K_RGN, RiffIndex


def _u32(fcc: bytes) -> int:
    return int.from_bytes(fcc, "little")


_RGNH, _WSMP, _WLNK, _CDL, _DLID = (_u32(x) for x in (b"rgnh", b"wsmp", b"wlnk", b"cdl ", b"dlid"))
_ART1, _ART2 = _u32(b"art1"), _u32(b"art2")
_LART, _LAR2, _INFO, _RGN2 = _u32(b"lart"), _u32(b"lar2"), _u32(b"INFO"), _u32(b"rgn2")

# Columns of the decoded region table.
(
    C_KL,
    C_KH,
    C_VL,
    C_VH,
    C_OPT,
    C_KG,
    C_LAYER,
    C_LEVEL,
    C_WOPT,
    C_WPHASE,
    C_WCHAN,
    C_WTI,
    C_HASWS,
    C_UNITY,
    C_FINE,
    C_ATTEN,
    C_WSOPT,
    C_NLOOPS,
    C_LTYPE,
    C_LSTART,
    C_LLEN,
    C_ARTFIRST,
    C_ARTCOUNT,
    C_KEPT,
) = range(24)
_NCOLS = 24

#: How the table keeps each column once built: the field's type in the file (so every value
#: fits as it is), a fraction of the int64 columns it is built in (FluidR3_GM: 3.2 -> 1.0 MB).
#: Rows read back (``tolist``) as tuples of Python ints in column order.
_ROW_DTYPE = np.dtype(
    [
        ("key_lo", "<u2"),
        ("key_hi", "<u2"),
        ("vel_lo", "<u2"),
        ("vel_hi", "<u2"),
        ("options", "<u2"),
        ("key_group", "<u2"),
        ("layer", "<i4"),  # -1: none
        ("level", "u1"),
        ("wlnk_options", "<u2"),
        ("phase_group", "<u2"),
        ("channel", "<u4"),
        ("table_index", "<u4"),
        ("has_wsmp", "u1"),
        ("unity", "<u2"),
        ("fine", "<i2"),
        ("atten", "<i4"),
        ("wsmp_options", "<u4"),
        ("loops", "<u4"),
        ("loop_type", "<u4"),
        ("loop_start", "<u4"),
        ("loop_length", "<u4"),
        ("art_first", "<i4"),  # an index into the art table (below), and how many
        ("art_count", "<i4"),
        ("kept", "u1"),
    ]
)
assert len(_ROW_DTYPE.names) == _NCOLS
#: The art chunks' table as kept: Level, offset of the blocks in the file, block count.
_ART_DTYPE = np.dtype([("level", "u1"), ("offset", "<i8"), ("count", "<u4")])


def _packed(cols: np.ndarray) -> np.ndarray:
    """The (regions, _NCOLS) int64 columns as rows of _ROW_DTYPE (the same values)."""
    rows = np.empty(len(cols), dtype=_ROW_DTYPE)
    for i, name in enumerate(_ROW_DTYPE.names):
        rows[name] = cols[:, i]
    return rows


def _packed_arts(arts: np.ndarray) -> np.ndarray:
    out = np.empty(len(arts), dtype=_ART_DTYPE)
    for i, name in enumerate(_ART_DTYPE.names):
        out[name] = arts[:, i]
    return out


def _fields(index: RiffIndex, pos: np.ndarray, nbytes: int, dtype: str) -> np.ndarray:
    """Little-endian fields at each position: shape (len(pos), nbytes // itemsize)."""
    if not len(pos):
        return np.zeros((0, nbytes // np.dtype(dtype).itemsize), dtype=dtype)
    return np.ascontiguousarray(index.gather(pos, nbytes)).view(dtype)


def decode_wsmp(index: RiffIndex, nodes: np.ndarray) -> dict[str, np.ndarray]:
    """The fields of ``wsmp`` chunks and whether each is plain: a size and header size the
    reader accepts, unity note <= 127, at most one loop, of a known type, inside the chunk.
    (Whether the loop lies inside its wave is for the caller.) Fields of chunks that are not
    plain are unspecified; ``nloops`` is 0 or 1 where plain."""
    n = len(nodes)
    out = {
        k: np.zeros(n, dtype=np.int64)
        for k in ("unity", "fine", "atten", "options", "nloops", "type", "start", "length")
    }
    ssize = index.size[nodes]
    good = ssize >= 20
    fit = np.flatnonzero(good)
    f = np.zeros((n, 5), dtype=np.int64)
    f[fit] = _fields(index, index.data[nodes[fit]], 20, "<u4").astype(np.int64)
    cb, nloops = f[:, 0], f[:, 4]
    unity = f[:, 1] & 0xFFFF
    fine = f[:, 1] >> 16
    out["unity"] = unity
    out["fine"] = np.where(fine >= 0x8000, fine - 0x10000, fine)
    out["atten"] = np.where(f[:, 2] >= 0x80000000, f[:, 2] - 0x100000000, f[:, 2])
    out["options"] = f[:, 3]
    good &= (cb >= 20) & (cb <= ssize) & (nloops <= 1) & (unity <= 127)
    good &= nloops <= (ssize - np.minimum(cb, ssize)) // 16
    out["nloops"] = np.where(good, nloops, 0)
    lp = np.flatnonzero(good & (nloops == 1))
    if len(lp):
        lf = _fields(index, index.data[nodes[lp]] + cb[lp], 16, "<u4").astype(np.int64)
        lcb, ltype = lf[:, 0], lf[:, 1]
        good[lp] &= (lcb >= 16) & (cb[lp] + lcb <= ssize[lp]) & (ltype <= 2)  # forward, release, Windows 2000 release
        out["type"][lp] = ltype
        out["start"][lp] = lf[:, 2]
        out["length"][lp] = lf[:, 3]
    out["good"] = good
    return out


class RegionTable:
    """Per-region checks and decoded fields for a whole bank (see the module docstring)."""

    def __init__(
        self,
        buf,
        cols: np.ndarray,
        arts: np.ndarray,
        plain_ins: np.ndarray,
        span: dict[int, tuple[int, int]],
        level2_ins: np.ndarray,
        rgn_count: np.ndarray,
        playable: np.ndarray,
    ):
        self.buf = buf  # (not the index: it is not needed once the table is built)
        self.rows = _packed(cols)  # per region, _ROW_DTYPE
        self.arts = _packed_arts(arts)  # per art chunk, _ART_DTYPE
        # Kept by node number, only for the few nodes they say something of (per-node arrays
        # of the whole tree cost 0.7 MB for a 150 MB bank):
        self._not_plain = set(np.flatnonzero(~plain_ins).tolist())  # instruments with a region not plain
        self._span = span  # instrument node -> (first, end) rows of cols
        self._level2_ins = set(np.flatnonzero(level2_ins).tolist())  # instruments whose regions make them Level 2
        has = np.flatnonzero(rgn_count)
        self._rgn_count = dict(zip(has.tolist(), rgn_count[has].tolist()))  # lrgn node -> rgn/rgn2 children
        self._playable = playable  # per region: kept, and linking a wave that can sound
        self._views: list[np.ndarray] | None = None

    # ---------------------------------------------------------------------------- queries
    def plain(self, ins_node: int) -> bool:
        return ins_node not in self._not_plain

    def level2(self, ins_node: int) -> bool:
        return ins_node in self._level2_ins

    def regions_in(self, lrgn_node: int) -> int:
        """How many rgn/rgn2 lists a LIST lrgn holds."""
        return self._rgn_count.get(lrgn_node, 0)

    def playable(self, ins_node: int) -> bool:
        """Whether any region of the instrument is kept and links a wave that can sound."""
        a, b = self._span.get(ins_node, (0, 0))
        return bool(self._playable[a:b].any())

    def kept_count(self, ins_node: int) -> int:
        """How many regions the instrument will have (those whose wave is kept)."""
        a, b = self._span.get(ins_node, (0, 0))
        return int(self.rows["kept"][a:b].sum())

    def _block_views(self) -> list[np.ndarray]:
        """The whole file as connection blocks, one view per start offset modulo 12: an
        articulation's blocks are then a slice of one of them (cheaper than a new view)."""
        views = self._views
        if views is None:
            buf = self.buf
            n = len(buf)
            views = [
                np.frombuffer(buf, dtype=CONNECTION_DTYPE, count=max(0, (n - r) // 12), offset=r)
                if n > r
                else np.zeros(0, dtype=CONNECTION_DTYPE)
                for r in range(12)
            ]
            self._views = views
        return views

    def regions_of(self, ins_node: int) -> list[Region]:
        """The instrument's regions, built from the decoded columns (only for plain ones)."""
        a, b = self._span.get(ins_node, (0, 0))
        if a == b:
            return []
        rows = self.rows[a:b]
        art0 = int(rows["art_first"][0])
        arts = self.arts[art0 : int(rows["art_first"][-1] + rows["art_count"][-1])].tolist()
        views = self._block_views()
        new_art = Articulation.__new__
        out = []
        append = out.append
        for (
            kl,
            kh,
            vl,
            vh,
            opt,
            kg,
            layer,
            level,
            wopt,
            wphase,
            wchan,
            wti,
            has_ws,
            unity,
            fine,
            atten,
            wsopt,
            nloops,
            ltype,
            lstart,
            llen,
            art_first,
            art_count,
            kept,
        ) in rows.tolist():
            if not kept:
                continue
            ws = (
                WaveSample(unity, fine, atten, wsopt, [Loop(ltype, lstart, llen)] if nloops else []) if has_ws else None
            )
            articulations = []
            for lvl, off, count in arts[art_first - art0 : art_first - art0 + art_count]:
                art = new_art(Articulation)
                art.level = lvl
                first = off // 12
                art.blocks = views[off - 12 * first][first : first + count]
                articulations.append(art)
            append(
                Region(
                    kl,
                    kh,
                    vl,
                    vh,
                    opt,
                    kg,
                    None if layer < 0 else layer,
                    WaveLink(wti, wopt, wphase, wchan),
                    ws,
                    articulations,
                    level,
                )
            )
        return out

    # ---------------------------------------------------------------------------- building
    @classmethod
    def build(
        cls, index: RiffIndex, table_ok: np.ndarray, frames: np.ndarray, supported: np.ndarray, kept: np.ndarray
    ) -> "RegionTable":
        """table_ok, frames, supported, kept: per pool-table entry (what `Collection.waves` holds)."""
        n_nodes = len(index)
        kind, parent, cid, ctype, islist = index.kind, index.parent, index.cid, index.ctype, index.islist
        size, data, count, stray = index.size, index.data, index.count, index.stray

        rgn = np.flatnonzero(kind == K_RGN)
        nr = len(rgn)
        ok = np.ones(nr, dtype=bool)
        ok &= stray[rgn] <= 1

        # --- the chunks inside the regions
        ch = index.children_of(rgn)
        cpos = np.searchsorted(rgn, parent[ch])  # region row of each child
        c_list = islist[ch]
        c_cid = cid[ch]
        c_type = ctype[ch]
        is_rgnh = ~c_list & (c_cid == _RGNH)
        is_wsmp = ~c_list & (c_cid == _WSMP)
        is_wlnk = ~c_list & (c_cid == _WLNK)
        is_artl = c_list & ((c_type == _LART) | (c_type == _LAR2))
        is_ignored = (~c_list & (c_cid == _DLID)) | (c_list & (c_type == _INFO))
        other = ~(is_rgnh | is_wsmp | is_wlnk | is_artl | is_ignored)  # art outside a list, cdl, unknown

        def per_region(mask):
            return np.bincount(cpos[mask], minlength=nr)

        n_rgnh, n_wsmp, n_wlnk = per_region(is_rgnh), per_region(is_wsmp), per_region(is_wlnk)
        ok &= (n_rgnh == 1) & (n_wlnk == 1) & (n_wsmp <= 1) & (per_region(other) == 0)

        cols = np.zeros((nr, _NCOLS), dtype=np.int64)
        cols[:, C_LEVEL] = np.where(ctype[rgn] == _RGN2, 2, 1)
        cols[:, C_LAYER] = -1
        level2 = cols[:, C_LEVEL] == 2

        # --- rgnh (where there are several, the region is not plain and these are unused)
        h = ch[is_rgnh]
        hr = cpos[is_rgnh]
        hsize = size[h]
        good = hsize >= 12
        ok[hr[~good]] = False
        h, hr, hsize = h[good], hr[good], hsize[good]
        f = _fields(index, data[h], 12, "<u2").astype(np.int64)
        kl, kh, vl, vh = f[:, 0], f[:, 1], f[:, 2], f[:, 3]
        bad = (kl > 127) | (kh > 127) | (kl > kh) | (vl > 127) | (vh > 127) | (vl > vh)
        bad |= (vl == 0) & (vh == 0) & (cols[hr, C_LEVEL] == 2)  # read as 0-127, with a warning
        ok[hr[bad]] = False
        cols[hr, C_KL : C_KG + 1] = f
        long = hsize >= 14
        if long.any():
            cols[hr[long], C_LAYER] = _fields(index, data[h[long]] + 12, 2, "<u2")[:, 0]
            level2[hr[long]] = True

        # --- wlnk
        w = ch[is_wlnk]
        wr = cpos[is_wlnk]
        good = size[w] >= 12
        ok[wr[~good]] = False
        w, wr = w[good], wr[good]
        f = _fields(index, data[w], 12, "<u4").astype(np.int64)
        cols[wr, C_WOPT] = f[:, 0] & 0xFFFF
        cols[wr, C_WPHASE] = f[:, 0] >> 16
        cols[wr, C_WCHAN] = f[:, 1]
        ti = f[:, 2]
        cols[wr, C_WTI] = ti
        n_table = len(table_ok)
        inside = ti < n_table
        ti_c = np.where(inside, ti, 0)
        good_link = inside & (table_ok[ti_c] if n_table else False)
        ok[wr[~good_link]] = False
        playable = np.zeros(nr, dtype=bool)  # kept, and its wave has frames the engine takes
        if n_table:
            cols[wr, C_KEPT] = np.where(good_link, kept[ti_c], False)
            playable[wr] = good_link & kept[ti_c] & supported[ti_c] & (frames[ti_c] > 0)

        # --- wsmp (with its one loop, if any)
        s = ch[is_wsmp]
        sr = cpos[is_wsmp]
        ws = decode_wsmp(index, s)
        good = ws["good"]
        # The loop must lie inside its wave (when that wave can be played).
        lti = cols[sr, C_WTI]
        linside = lti < n_table
        lti_c = np.where(linside, lti, 0)
        if n_table:
            checked = linside & supported[lti_c] & (ws["nloops"] == 1)
            good &= ~checked | ((ws["start"] + ws["length"] <= frames[lti_c]) & (ws["length"] != 0))
        ok[sr[~good]] = False
        cols[sr, C_HASWS] = 1
        cols[sr, C_UNITY] = ws["unity"]
        cols[sr, C_FINE] = ws["fine"]
        cols[sr, C_ATTEN] = ws["atten"]
        cols[sr, C_WSOPT] = ws["options"]
        cols[sr, C_NLOOPS] = ws["nloops"]
        cols[sr, C_LTYPE] = ws["type"]
        cols[sr, C_LSTART] = ws["start"]
        cols[sr, C_LLEN] = ws["length"]

        # --- articulation lists and their art chunks
        al = ch[is_artl]
        alr = cpos[is_artl]
        ok[alr[stray[al] > 1]] = False
        level2[alr[ctype[al] == _LAR2]] = True
        a = index.children_of(al)
        a_list = np.searchsorted(al, parent[a])  # which list
        a_r = alr[a_list]  # which region
        a_cid = cid[a]
        want = np.where(ctype[al[a_list]] == _LAR2, _ART2, _ART1)
        a_good = ~islist[a] & (a_cid == want)  # art1 in lar2, cdl, anything else: not plain
        asize = size[a]
        a_good &= asize >= 8
        f = np.zeros((len(a), 2), dtype=np.int64)
        fit = asize >= 8
        f[fit] = _fields(index, data[a[fit]], 8, "<u4").astype(np.int64)
        acb, acount = f[:, 0], f[:, 1]
        a_good &= (acb >= 8) & (acb <= asize)
        a_good &= acount <= (asize - np.minimum(acb, asize)) // 12
        ok[a_r[~a_good]] = False
        level2[a_r[a_cid == _ART2]] = True
        arts = np.stack([np.where(a_cid == _ART2, 2, 1), data[a] + acb, acount], axis=1).astype(np.int64)
        if not len(a):
            arts = np.zeros((0, 3), dtype=np.int64)
        art_count = np.bincount(a_r, minlength=nr)
        cols[:, C_ARTCOUNT] = art_count
        cols[:, C_ARTFIRST] = np.concatenate(([0], np.cumsum(art_count)[:-1])) if nr else 0

        # --- per LIST lrgn and per instrument
        lrgn_of = parent[rgn]
        rgn_count = np.bincount(lrgn_of, minlength=n_nodes)
        bad_rgn = np.bincount(lrgn_of[~ok], minlength=n_nodes)
        lrgn = np.flatnonzero(kind == K_LRGN)
        lrgn_ok = (stray[lrgn] <= 1) & (rgn_count[lrgn] == count[lrgn]) & (bad_rgn[lrgn] == 0)
        plain_ins = np.ones(n_nodes, dtype=bool)
        plain_ins[parent[lrgn[~lrgn_ok]]] = False
        ins_of = parent[lrgn_of]
        level2_ins = np.zeros(n_nodes, dtype=bool)
        level2_ins[ins_of[level2]] = True
        span: dict[int, tuple[int, int]] = {}
        if nr:
            # Regions are in node order, which groups them by instrument.
            change = np.flatnonzero(np.diff(ins_of)) + 1
            starts = np.concatenate(([0], change))
            ends = np.concatenate((change, [nr]))
            span = dict(zip(ins_of[starts].tolist(), zip(starts.tolist(), ends.tolist())))
            # More regions than the player takes: the reader keeps the first ones, with a warning.
            plain_ins[ins_of[starts[ends - starts > C.PLAYER_MAX_REGIONS]]] = False
        return cls(index.buf, cols, arts, plain_ins, span, level2_ins, rgn_count, playable)
