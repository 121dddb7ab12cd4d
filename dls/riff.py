"""A strict RIFF chunk walker over a buffer (a memory map or bytes), with no copies.

Every chunk can name its path from the root (for messages such as
``LIST lins > LIST ins #12 > LIST lrgn > LIST rgn2 #3 > wsmp at 0x1a2c``) and its byte
offset; the path is worked out only when a message needs it, so reading never pays for it,
and then in O(1) per message: each chunk keeps its path once built, and a parent numbers
all its children in one walk the first time one of them needs its ``#n``.
Sizes that overrun their parent, and nesting deeper than MAX_DEPTH, raise DLSError. Every
chunk header is at least 8 bytes, so a walk ends after at most size/8 steps: no hangs.
"""

from __future__ import annotations

import struct

from .errors import DLSError, note

MAX_DEPTH = 16  # DLS nests at most 6 deep; deeper is a recursion bomb
STRAY_BYTES = "stray bytes after the last chunk"  # the kind of that warning (see dls.errors.Warnings)

_unpack_hdr = struct.Struct("<4sI").unpack_from
_unpack_type = struct.Struct("<4s").unpack_from


def fourcc_str(fcc: bytes) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in fcc.decode("latin-1"))


class Chunk:
    """One chunk: id, form type (for RIFF/LIST), data offset and size, and its parent.

    ``node`` is the chunk's number in a `dls.riffindex.RiffIndex` when it was made from
    one (-1 otherwise). The path is built once per chunk and the sibling numbers once per
    parent, so naming N chunks costs O(N), however many siblings they have.
    """

    __slots__ = ("id", "type", "offset", "data_start", "size", "parent", "buf", "node", "_path", "_ordinals")

    def __init__(
        self,
        cid: bytes,
        ctype: bytes | None,
        offset: int,
        data_start: int,
        size: int,
        parent: "Chunk | None",
        buf=None,
        node: int = -1,
    ):
        self.id = cid
        self.type = ctype
        self.offset = offset  # of the chunk header
        self.data_start = data_start  # first byte of the data (after the form type for LISTs)
        self.size = size  # bytes of data from data_start
        self.parent = parent  # None for the root RIFF chunk
        self.buf = buf  # set on the root only
        self.node = node
        self._path: str | None = None
        self._ordinals: dict[int, int] | None = None  # on a parent: child offset -> index

    @property
    def name(self) -> str:
        if self.type is not None:
            return f"{fourcc_str(self.id)} {fourcc_str(self.type)}"
        return fourcc_str(self.id)

    def _root_buf(self):
        node = self
        while node.parent is not None:
            node = node.parent
        return node.buf

    def _child_ordinals(self) -> dict[int, int]:
        """Offset -> 1-based index among same-named siblings, for all children (one walk)."""
        table = self._ordinals
        if table is None:
            table = {}
            buf = self._root_buf()
            if buf is not None:
                seen: dict[tuple[bytes, bytes | None], int] = {}
                try:
                    kids = children(buf, self, 0)
                except DLSError:  # cannot happen for a parent already walked; as before: #1
                    kids = []
                for sib in kids:
                    key = (sib.id, sib.type)
                    n = seen.get(key, 0) + 1
                    seen[key] = n
                    table[sib.offset] = n
            self._ordinals = table
        return table

    @property
    def index(self) -> int:
        """1-based position among the siblings with the same id and type."""
        if self.parent is None:
            return 1
        return self.parent._child_ordinals().get(self.offset, 1)

    @property
    def path(self) -> str:
        """The chunk path from below the RIFF root, e.g. ``LIST lins > LIST ins #12``."""
        path = self._path
        if path is None:
            if self.parent is None:
                path = ""
            else:
                ppath = self.parent.path
                idx = self.index
                me = self.name if idx <= 1 else f"{self.name} #{idx}"
                path = f"{ppath} > {me}" if ppath else me
            self._path = path
        return path

    def where(self) -> str:
        return f"{self.path or 'RIFF'} at 0x{self.offset:x}"

    def error(self, msg: str) -> DLSError:
        return DLSError(f"{self.where()}: {msg}")

    @property
    def end(self) -> int:
        return self.data_start + self.size


class WalkCounters:
    """How many chunk headers `children` has read (for tests of how reading scales)."""

    __slots__ = ("headers",)

    def __init__(self) -> None:
        self.headers = 0

    def reset(self) -> None:
        self.headers = 0


counters = WalkCounters()


def children(buf, parent: Chunk, depth: int, warnings=None) -> list[Chunk]:
    """The chunks directly inside a RIFF or LIST chunk, checked against its bounds."""
    if depth > MAX_DEPTH:
        raise parent.error(f"chunks nested deeper than {MAX_DEPTH} levels")
    out: list[Chunk] = []
    append = out.append
    pos = parent.data_start
    end = parent.data_start + parent.size
    while pos < end:
        if end - pos < 8:
            # Fewer than 8 bytes left: a pad byte or trailing junk, not a chunk.
            if end - pos > 1 and warnings is not None:
                note(warnings, STRAY_BYTES, f"{parent.where()}: {end - pos} stray bytes after the last chunk ignored")
            break
        cid, size = _unpack_hdr(buf, pos)
        ds = pos + 8
        if size > end - ds:
            name = fourcc_str(cid)
            if (cid == b"LIST" or cid == b"RIFF") and end - ds >= 4:
                name += " " + fourcc_str(_unpack_type(buf, ds)[0])
            prefix = parent.path
            raise DLSError(
                f"{prefix + ' > ' if prefix else ''}{name} at 0x{pos:x}: size {size} overruns its parent "
                f"(only {end - ds} bytes left)"
            )
        if cid == b"LIST" or cid == b"RIFF":
            if size < 4:
                prefix = parent.path
                raise DLSError(
                    f"{prefix + ' > ' if prefix else ''}{fourcc_str(cid)} at 0x{pos:x}: size {size} < 4 (no list type)"
                )
            append(Chunk(cid, _unpack_type(buf, ds)[0], pos, ds + 4, size - 4, parent))
        else:
            append(Chunk(cid, None, pos, ds, size, parent))
        pos = ds + size + (size & 1)
    counters.headers += len(out)
    return out
