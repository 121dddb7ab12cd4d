"""Hand-built RIFF/DLS bytes for reader tests: layouts a writer would never produce.

Each function returns bytes; `chunk` pads odd sizes, `lst` makes a LIST, `dls_file` wraps
chunks in RIFF 'DLS '. The helpers at the bottom build the usual small pieces.
"""

from __future__ import annotations

import struct

import numpy as np


def chunk(cid: bytes, data: bytes, size: int | None = None) -> bytes:
    n = len(data) if size is None else size
    pad = b"\0" if len(data) & 1 else b""
    return cid + struct.pack("<I", n) + data + pad


def lst(ltype: bytes, *parts: bytes) -> bytes:
    return chunk(b"LIST", ltype + b"".join(parts))


def dls_file(*parts: bytes, riff_size: int | None = None) -> bytes:
    body = b"DLS " + b"".join(parts)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def colh(n: int) -> bytes:
    return chunk(b"colh", struct.pack("<I", n))


def insh(regions: int, bank: int = 0, program: int = 0) -> bytes:
    return chunk(b"insh", struct.pack("<III", regions, bank, program))


def rgnh(kl=0, kh=127, vl=0, vh=127, options=0, key_group=0, layer=None) -> bytes:
    data = struct.pack("<HHHHHH", kl, kh, vl, vh, options, key_group)
    if layer is not None:
        data += struct.pack("<H", layer)
    return chunk(b"rgnh", data)


def wlnk(index: int, options=0, phase_group=0, channel=1) -> bytes:
    return chunk(b"wlnk", struct.pack("<HHII", options, phase_group, channel, index))


def wsmp(unity=60, fine=0, atten=0, options=0, loops=(), cb=20) -> bytes:
    data = struct.pack("<IHhiII", cb, unity, fine, atten, options, len(loops)) + b"\0" * (cb - 20)
    for t, s, n in loops:
        data += struct.pack("<IIII", 16, t, s, n)
    return chunk(b"wsmp", data)


def art(cid: bytes, conns) -> bytes:
    data = struct.pack("<II", 8, len(conns))
    for c in conns:
        data += struct.pack("<HHHHi", *c)
    return chunk(cid, data)


def fmt(channels=1, rate=22050, bits=16, tag=1) -> bytes:
    align = channels * bits // 8
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits))


def pcm16(frames: int, freq: float = 440.0, rate: int = 22050) -> bytes:
    t = np.arange(frames) / rate
    return (np.sin(2 * np.pi * freq * t) * 20000).astype("<i2").tobytes()


def info(**kw: str) -> bytes:
    return lst(b"INFO", *(chunk(k.encode().ljust(4)[:4], v.encode("latin-1") + b"\0") for k, v in kw.items()))


def wave_list(*parts: bytes) -> bytes:
    return lst(b"wave", *parts)


def pool(waves: list[bytes]) -> tuple[bytes, bytes]:
    """(ptbl, LIST wvpl) for the given LIST wave chunks, offsets from after 'wvpl'."""
    offs, pos = [], 0
    for w in waves:
        offs.append(pos)
        pos += len(w)
    ptbl = chunk(b"ptbl", struct.pack("<II", 8, len(offs)) + b"".join(struct.pack("<I", o) for o in offs))
    return ptbl, lst(b"wvpl", *waves)


def simple_bank(region_extra: bytes = b"", wave_extra: bytes = b"", frames: int = 1000, level2: bool = True) -> bytes:
    """One instrument with one region linking wave 0, in the usual order."""
    rg = b"rgn2" if level2 else b"rgn "
    ins = lst(b"ins ", insh(1, 0, 5), lst(b"lrgn", lst(rg, rgnh(), wlnk(0), region_extra)), info(INAM="Test"))
    w = wave_list(fmt(), wave_extra, chunk(b"data", pcm16(frames)))
    ptbl, wvpl = pool([w])
    return dls_file(colh(1), lst(b"lins", ins), ptbl, wvpl)
