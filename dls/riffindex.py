"""A one-pass index of the chunks of a DLS file that the reader looks into.

`RiffIndex.build(buf, root)` walks the RIFF tree breadth first: all the lists of one depth
are walked together, their chunk headers read in C (``dls_riff_children``,
native/riffwalk.c) and the columns kept in NumPy, so the cost is linear in the number of
chunks and the Python overhead is per depth, not per chunk. It descends exactly where `dls.reader` does
(``lins > ins > lrgn > rgn > lart``, ``wvpl > wave > INFO``, the INFO lists) and nowhere
else, so chunks the reader skips are never looked at.

Nodes are numbered breadth first; the children of a node are consecutive numbers, in file
order. Node 0 is the RIFF root. Anything the plain walker (`dls.riff.children`) would refuse
(a size overrunning its parent, a LIST too short for its type) stops the build with
`Unindexable`: the reader then reads the file the plain way, which names the problem
exactly as always.
"""

from __future__ import annotations

import struct

import numpy as np

from .errors import note
from .riff import MAX_DEPTH, STRAY_BYTES, Chunk


def _u32(fcc: bytes) -> int:
    return struct.unpack("<I", fcc)[0]


LIST = _u32(b"LIST")
RIFF = _u32(b"RIFF")

# What the reader makes of a list, by where it is (its parent's kind) and its form type.
K_NONE, K_ROOT, K_INFO, K_LINS, K_WVPL, K_WAVE, K_INS, K_LRGN, K_RGN, K_INS_ART, K_RGN_ART = range(11)
_RULES: dict[int, dict[int, int]] = {
    K_WVPL: {_u32(b"wave"): K_WAVE},
    K_WAVE: {_u32(b"INFO"): K_INFO},
    K_LINS: {_u32(b"ins "): K_INS},
    K_INS: {_u32(b"lrgn"): K_LRGN, _u32(b"lart"): K_INS_ART, _u32(b"lar2"): K_INS_ART, _u32(b"INFO"): K_INFO},
    K_LRGN: {_u32(b"rgn "): K_RGN, _u32(b"rgn2"): K_RGN},
    K_RGN: {_u32(b"lart"): K_RGN_ART, _u32(b"lar2"): K_RGN_ART},  # a region's INFO is skipped
}
_TYPE_INFO, _TYPE_LINS, _TYPE_WVPL = _u32(b"INFO"), _u32(b"lins"), _u32(b"wvpl")

_AR4 = np.arange(4, dtype=np.int64)


class Unindexable(Exception):
    """The file has something the plain walker refuses; read it the plain way for the message."""


class RiffIndex:
    """Flat NumPy arrays, one entry per chunk (see the module docstring).

    cid, ctype: the fourcc and (lists only) the form type as little-endian uint32.
    islist: RIFF or LIST. offset: of the header; data/size: the data after the header (after
    the form type for lists). parent: node number (-1 for the root). kind: K_* for the lists
    the reader walks, K_NONE otherwise. first/count: the children of a walked node (count -1
    if not walked). stray: bytes left after its last child (fewer than 8, not a chunk).
    """

    def __init__(self, buf, cols: dict[str, np.ndarray]):
        self.buf = buf
        self.cid = cols["cid"]
        self.ctype = cols["ctype"]
        self.islist = cols["islist"]
        self.offset = cols["offset"]
        self.data = cols["data"]
        self.size = cols["size"]
        self.parent = cols["parent"]
        self.kind = cols["kind"]
        self.first = cols["first"]
        self.count = cols["count"]
        self.stray = cols["stray"]

    def __len__(self) -> int:
        return len(self.cid)

    # -------------------------------------------------------------------- the reader's view
    def children(self, parent: Chunk, depth: int, warnings) -> list[Chunk]:
        """What `dls.riff.children` returns for an indexed chunk, warnings included."""
        if depth > MAX_DEPTH:
            raise parent.error(f"chunks nested deeper than {MAX_DEPTH} levels")
        node = parent.node
        count = int(self.count[node])
        if count < 0:
            raise AssertionError(f"{parent.where()} was not indexed")  # a reader/index mismatch: a bug
        a = int(self.first[node])
        b = a + count
        buf = self.buf
        out = []
        append = out.append
        if count:
            for k, off, ds, size, islist in zip(
                range(a, b),
                self.offset[a:b].tolist(),
                self.data[a:b].tolist(),
                self.size[a:b].tolist(),
                self.islist[a:b].tolist(),
            ):
                if islist:
                    append(
                        Chunk(bytes(buf[off : off + 4]), bytes(buf[off + 8 : off + 12]), off, ds, size, parent, None, k)
                    )
                else:
                    append(Chunk(bytes(buf[off : off + 4]), None, off, ds, size, parent, None, k))
        stray = int(self.stray[node])
        if stray > 1 and warnings is not None:
            note(warnings, STRAY_BYTES, f"{parent.where()}: {stray} stray bytes after the last chunk ignored")
        return out

    def children_of(self, nodes: np.ndarray) -> np.ndarray:
        """All children of the given (walked) nodes, as node numbers in index order."""
        nodes = nodes[self.count[nodes] > 0]
        if not len(nodes):
            return np.zeros(0, dtype=np.int64)
        counts = self.count[nodes]
        starts = self.first[nodes]
        # ranges [start, start + count) concatenated
        total = int(counts.sum())
        offs = np.repeat(starts - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        return offs + np.arange(total, dtype=np.int64)

    def gather(self, pos: np.ndarray, nbytes: int) -> np.ndarray:
        """nbytes bytes at each position, as a (len(pos), nbytes) uint8 array."""
        b8 = np.frombuffer(self.buf, dtype=np.uint8)
        return b8[pos[:, None] + np.arange(nbytes, dtype=np.int64)]

    # -------------------------------------------------------------------------- building
    @classmethod
    def build(cls, buf, root: Chunk) -> "RiffIndex":
        b8 = np.frombuffer(buf, dtype=np.uint8)
        levels = [
            {
                "cid": np.array([RIFF], dtype=np.uint32),
                "ctype": np.array([_u32(b"DLS ")], dtype=np.uint32),
                "islist": np.array([True]),
                "offset": np.array([root.offset], dtype=np.int64),
                "data": np.array([root.data_start], dtype=np.int64),
                "size": np.array([root.size], dtype=np.int64),
                "parent": np.array([-1], dtype=np.int64),
                "kind": np.array([K_ROOT], dtype=np.int8),
            }
        ]
        base = 0  # node number of the first node of the current level
        firsts: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        strays: list[np.ndarray] = []
        while True:
            lv = levels[-1]
            n = len(lv["cid"])
            walk = np.flatnonzero(lv["kind"] != K_NONE)
            first = np.full(n, 0, dtype=np.int64)
            count = np.full(n, -1, dtype=np.int64)
            stray = np.zeros(n, dtype=np.int64)
            next_base = base + n
            if len(walk):
                kids, kid_stray = _walk_lists(b8, buf, lv["data"][walk], lv["data"][walk] + lv["size"][walk])
                stray[walk] = kid_stray
                local_parent = kids.pop("parent")  # index into walk
                kid_counts = np.bincount(local_parent, minlength=len(walk))
                count[walk] = kid_counts
                first[walk] = next_base + np.concatenate(([0], np.cumsum(kid_counts)[:-1]))
                parent_nodes = walk[local_parent]
                kids["parent"] = parent_nodes + base
                kids["kind"] = _kinds(lv["kind"][parent_nodes], kids["ctype"], kids["islist"])
            firsts.append(first)
            counts.append(count)
            strays.append(stray)
            if not len(walk) or not len(kids["cid"]):
                break
            levels.append(kids)
            base = next_base
        cols = {k: np.concatenate([lv[k] for lv in levels]) for k in levels[0]}
        cols["first"] = np.concatenate(firsts)
        cols["count"] = np.concatenate(counts)
        cols["stray"] = np.concatenate(strays)
        return cls(buf, cols)


def _kinds(parent_kind: np.ndarray, ctype: np.ndarray, islist: np.ndarray) -> np.ndarray:
    """What the reader makes of each child list, from its parent's kind and its form type."""
    kind = np.zeros(len(ctype), dtype=np.int8)
    for pk in sorted(set(parent_kind.tolist())):  # (np.unique would import numpy.ma)
        sel = parent_kind == pk
        if pk == K_ROOT:
            # The reader reads every top-level INFO, but only the last lins and the last wvpl.
            kind[sel & islist & (ctype == _TYPE_INFO)] = K_INFO
            for t, k in ((_TYPE_LINS, K_LINS), (_TYPE_WVPL, K_WVPL)):
                hits = np.flatnonzero(sel & islist & (ctype == t))
                if len(hits):
                    kind[hits[-1]] = k
            continue
        rules = _RULES.get(pk)
        if not rules:
            continue
        for t, k in rules.items():
            kind[sel & islist & (ctype == t)] = k
    return kind


def _walk_lists(b8: np.ndarray, buf, start: np.ndarray, end: np.ndarray) -> tuple[dict, np.ndarray]:
    """The children of the lists whose data spans [start, end), all lists at once (in C:
    ``dls_riff_children``, one pass to count them, one to fill the columns).

    Returns the children's columns (parent = position in start/end), sorted by parent and
    then by offset, and the stray byte count of each list.
    """
    from dlsynth.native._engine import ffi, lib

    nlists = len(start)
    start = np.ascontiguousarray(start, dtype=np.int64)
    end = np.ascontiguousarray(end, dtype=np.int64)
    stray = np.zeros(nlists, dtype=np.int64)
    src = ffi.from_buffer(b8)
    i64 = "int64_t *"
    args = (src, len(b8), ffi.cast(i64, ffi.from_buffer(start)), ffi.cast(i64, ffi.from_buffer(end)), nlists)
    k = lib.dls_riff_children(*args, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, 0)
    if k >= 0:
        par = np.empty(k, dtype=np.int64)
        pos = np.empty(k, dtype=np.int64)
        cid = np.empty(k, dtype=np.uint32)
        size = np.empty(k, dtype=np.int64)
        k = lib.dls_riff_children(
            *args,
            ffi.cast(i64, ffi.from_buffer(par)),
            ffi.cast(i64, ffi.from_buffer(pos)),
            ffi.cast("uint32_t *", ffi.from_buffer(cid)),
            ffi.cast(i64, ffi.from_buffer(size)),
            ffi.cast(i64, ffi.from_buffer(stray)),
            len(par),
        )
    if k == lib.DLS_RIFF_OVERRUN:
        raise Unindexable("a chunk overruns its parent")
    if k == lib.DLS_RIFF_SHORT_LIST:
        raise Unindexable("a list too short for its type")
    if k < 0:
        raise Unindexable("the file changed while it was read")
    islist = (cid == LIST) | (cid == RIFF)
    ctype = np.zeros(len(cid), dtype=np.uint32)
    li = np.flatnonzero(islist)
    if len(li):
        ctype[li] = b8[(pos[li] + 8)[:, None] + _AR4].view("<u4")[:, 0]
    off4 = np.where(islist, 4, 0)
    cols = {
        "cid": cid,
        "ctype": ctype,
        "islist": islist,
        "offset": pos,
        "data": pos + 8 + off4,
        "size": size - off4,
        "parent": par,
    }
    return cols, stray
