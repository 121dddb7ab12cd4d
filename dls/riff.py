"""A strict RIFF chunk walker over a buffer (a memory map or bytes), with no copies.

Every chunk knows its path from the root (for error messages such as
``LIST lins > LIST ins #12 > LIST lrgn > rgn2 #3 > wsmp at 0x1a2c``) and its byte offset.
Sizes that overrun their parent, and nesting deeper than MAX_DEPTH, raise DLSError.
"""

from __future__ import annotations

import struct

from .errors import DLSError

MAX_DEPTH = 16  # DLS nests at most 6 deep; deeper is a recursion bomb

_HDR = struct.Struct("<4sI")
_unpack_hdr = _HDR.unpack_from


def fourcc_str(fcc: bytes) -> str:
    return fcc.decode("latin-1")


class Chunk:
    """One chunk: id, form type (for RIFF/LIST), data offset and size, and its path."""

    __slots__ = ("id", "type", "offset", "data_start", "size", "parent_path", "index")

    def __init__(self, cid: bytes, ctype: bytes | None, offset: int, data_start: int, size: int, parent_path: str, index: int):
        self.id = cid
        self.type = ctype
        self.offset = offset  # of the chunk header
        self.data_start = data_start  # first byte of the data (after the form type for LISTs)
        self.size = size  # bytes of data from data_start
        self.parent_path = parent_path
        self.index = index  # 1-based position among siblings of the same name

    @property
    def name(self) -> str:
        if self.type is not None:
            return f"{fourcc_str(self.id)} {fourcc_str(self.type)}"
        return fourcc_str(self.id)

    @property
    def path(self) -> str:
        me = self.name if self.index <= 1 else f"{self.name} #{self.index}"
        return f"{self.parent_path} > {me}" if self.parent_path else me

    def where(self) -> str:
        return f"{self.path} at 0x{self.offset:x}"

    def error(self, msg: str) -> DLSError:
        return DLSError(f"{self.where()}: {msg}")

    @property
    def end(self) -> int:
        return self.data_start + self.size


def children(buf, parent: Chunk, depth: int, warnings: list[str] | None = None, path: str | None = None) -> list[Chunk]:
    """The chunks directly inside a RIFF or LIST chunk, checked against its bounds."""
    if depth > MAX_DEPTH:
        raise parent.error(f"chunks nested deeper than {MAX_DEPTH} levels")
    out: list[Chunk] = []
    pos = parent.data_start
    end = parent.end
    counts: dict[bytes, int] = {}
    if path is None:
        path = parent.path
    while pos < end:
        if end - pos < 8:
            # Fewer than 8 bytes left: a pad byte or trailing junk, not a chunk.
            if end - pos > 1 and warnings is not None:
                warnings.append(f"{path} at 0x{pos:x}: {end - pos} stray bytes after the last chunk ignored")
            break
        cid, size = _unpack_hdr(buf, pos)
        data_start = pos + 8
        if size > end - data_start:
            name = fourcc_str(cid)
            raise DLSError(
                f"{path} > {name} at 0x{pos:x}: size {size} overruns its parent "
                f"(only {end - data_start} bytes left)"
            )
        ctype = None
        if cid == b"LIST" or cid == b"RIFF":
            if size < 4:
                raise DLSError(f"{path} > {fourcc_str(cid)} at 0x{pos:x}: size {size} < 4 (no list type)")
            ctype = bytes(buf[data_start:data_start + 4])
            key = cid + ctype
            data_start += 4
            csize = size - 4
        else:
            key = cid
            csize = size
        n = counts.get(key, 0) + 1
        counts[key] = n
        out.append(Chunk(cid, ctype, pos, data_start, csize, path, n))
        pos = pos + 8 + size + (size & 1)
    return out
