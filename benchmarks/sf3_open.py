#!/usr/bin/env python3
"""How long opening an SF3 bank takes (``dls.read``), and the first use of one preset.

The SF3 is made from an SF2 (default TimGM6mb.sf2) here: every sample encoded to Ogg
Vorbis with libsndfile (python-soundfile, quality its default), stored as SF3 stores it
(MuseScore's extension: ``dwStart``/``dwEnd`` the byte range of the stream in ``smpl``,
loop points counted from the sample's start, sample type bit 0x10), everything else of
the SF2 kept. It is cached under benchmarks/cache/ (git-ignored).

Timed, best of ``--runs`` in this process, for the dlsynth checkout on PYTHONPATH:

* ``dls.read(path)``: opening the bank;
* the first download of program 0's regions and waves (``Instrument.regions`` and each
  wave's ``data``): with lazy SF3 decoding that is where its samples are decoded;
* ``dls.read(path, lazy=False)``: everything read and decoded at open.

Usage::

    PYTHONPATH=CHECKOUT python benchmarks/sf3_open.py [--sf2 X.sf2] [--runs N] [--json OUT]
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import sys
import time
from pathlib import Path

import numpy as np
from peers import TIMGM_SF2  # benchmarks/peers.py, beside this script

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"
DEFAULT_SF2 = TIMGM_SF2
SHDR = struct.Struct("<20sIIIIIBbHH")  # 46 bytes a record
TYPE_VORBIS = 0x10


def _chunks(data: bytes, start: int, end: int):
    off = start
    while off + 8 <= end:
        cid, size = data[off : off + 4], struct.unpack_from("<I", data, off + 4)[0]
        yield cid, off, size
        off += 8 + size + (size & 1)


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def sf2_to_sf3(data: bytes) -> bytes:
    """The SF2 `data` with its samples as Ogg Vorbis streams (one per sample header)."""
    import soundfile as sf

    lists = {}
    for cid, off, size in _chunks(data, 12, len(data)):
        if cid == b"LIST":
            lists[data[off + 8 : off + 12]] = (off, size)
    sdta_off, sdta_size = lists[b"sdta"]
    pdta_off, pdta_size = lists[b"pdta"]
    smpl = None
    for cid, off, size in _chunks(data, sdta_off + 12, sdta_off + 8 + sdta_size):
        if cid == b"smpl":
            smpl = np.frombuffer(data, dtype="<i2", count=size // 2, offset=off + 8)
    pdta_parts = []
    out_smpl = bytearray()
    for cid, off, size in _chunks(data, pdta_off + 12, pdta_off + 8 + pdta_size):
        body = data[off + 8 : off + 8 + size]
        if cid == b"shdr":
            recs = []
            made: dict[tuple[int, int], tuple[int, int]] = {}
            n = size // SHDR.size
            for i in range(n):
                name, start, end, ls, le, rate, pitch, corr, link, typ = SHDR.unpack_from(body, i * SHDR.size)
                if i == n - 1 or end <= start or typ & 0x8000:  # EOS, empty or ROM: as they are
                    recs.append(SHDR.pack(name, start, end, ls, le, rate, pitch, corr, link, typ))
                    continue
                if (start, end) not in made:
                    bio = io.BytesIO()
                    sf.write(
                        bio, smpl[start:end].astype(np.float32) / 32768.0, max(rate, 1), format="OGG", subtype="VORBIS"
                    )
                    a = len(out_smpl)
                    out_smpl += bio.getvalue()
                    made[(start, end)] = (a, len(out_smpl))
                    if len(out_smpl) & 1:
                        out_smpl += b"\0"
                a, b = made[(start, end)]
                recs.append(SHDR.pack(name, a, b, ls - start, le - start, rate, pitch, corr, link, typ | TYPE_VORBIS))
            body = b"".join(recs)
        pdta_parts.append(_chunk(cid, body))
    info = data[lists[b"INFO"][0] : lists[b"INFO"][0] + 8 + lists[b"INFO"][1]] if b"INFO" in lists else b""
    sdta = _chunk(b"LIST", b"sdta" + _chunk(b"smpl", bytes(out_smpl)))
    pdta = _chunk(b"LIST", b"pdta" + b"".join(pdta_parts))
    body = b"sfbk" + info + sdta + pdta
    return b"RIFF" + struct.pack("<I", len(body)) + body


def ensure_sf3(sf2: Path) -> Path:
    out = CACHE / (sf2.stem + ".sf3")
    if not out.is_file() or out.stat().st_mtime < sf2.stat().st_mtime:
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"encoding {sf2} as SF3 ...", file=sys.stderr)
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(sf2_to_sf3(sf2.read_bytes()))
        tmp.replace(out)
    return out


def best(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sf2", type=Path, default=DEFAULT_SF2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if not args.sf2.is_file():
        print(f"sf3_open: {args.sf2}: no such file", file=sys.stderr)
        return 2
    from dlsynth import dls

    path = ensure_sf3(args.sf2)

    def first_use():
        col = dls.read(path)
        ins = next(i for i in col.instruments if i.program == 0 and not i.is_drum)
        t0 = time.perf_counter()
        for r in ins.regions:
            col.waves[r.wave_link.table_index].data
        return time.perf_counter() - t0

    res = {
        "sf3": str(path),
        "bytes": path.stat().st_size,
        "dlsynth": dls.__file__,
        "open_s": best(lambda: dls.read(path), args.runs),
        "first_use_program0_s": min(first_use() for _ in range(args.runs)),
        "open_lazy_false_s": best(lambda: dls.read(path, lazy=False), max(1, args.runs // 2)),
    }
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
