"""A tiny SoundFont 2 writer for tests: banks built in the test, generator by generator.

    data = sf2build.sf2(
        presets=[Preset("Sine", zones=[Zone({KEY_RANGE: (60, 72), COARSE_TUNE: 12}, target=0)])],
        instruments=[Instrument("sine", zones=[Zone({SAMPLE_MODES: 1}, target=0)])],
        samples=[Sample("sine", sine_int16, rate=44100, root=69, loop=(0, 441))],
    )

A zone's ``gens`` maps generator numbers (dls.soundfont.generators) to amounts (a
(low, high) pair for the key and velocity ranges); ``target`` is the instrument (preset
zones) or sample (instrument zones) index, None for a global zone. ``mods`` are
(src, dest, amount, amount_src, transform) tuples. Records are written in the order the
specification asks (ranges first, the index generator last), each list closed by its
terminal record; ``raw_*`` arguments replace a chunk's bytes for tests of broken files.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from dlsynth.dls.soundfont import generators as G


@dataclass
class Zone:
    gens: dict = field(default_factory=dict)
    target: int | None = None
    mods: list = field(default_factory=list)


@dataclass
class Preset:
    name: str
    bank: int = 0
    program: int = 0
    zones: list = field(default_factory=list)


@dataclass
class Instrument:
    name: str
    zones: list = field(default_factory=list)


@dataclass
class Sample:
    name: str
    data: np.ndarray  # int16 (or, with vorbis=True, the Ogg bytes and frames in `frames`)
    rate: int = 44100
    root: int = 60
    correction: int = 0
    loop: tuple[int, int] | None = None  # (start, end) frames of the sample, end exclusive
    type: int = 1
    link: int = 0
    vorbis: bytes | None = None  # SF3: the Ogg Vorbis stream stored instead of PCM


def _chunk(cid: bytes, data: bytes) -> bytes:
    return cid + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 else b"")


def _list(ltype: bytes, *parts: bytes) -> bytes:
    return _chunk(b"LIST", ltype + b"".join(parts))


def _name(s: str) -> bytes:
    return s.encode("latin-1")[:19].ljust(20, b"\0")


def _gen_records(z: Zone, terminal: int) -> bytes:
    out = b""
    order = sorted(z.gens, key=lambda op: (op != G.KEY_RANGE, op != G.VEL_RANGE, op))
    for op in order:
        v = z.gens[op]
        if isinstance(v, tuple):
            out += struct.pack("<HBB", op, v[0], v[1])
        elif v < 0:
            out += struct.pack("<Hh", op, v)
        else:
            out += struct.pack("<HH", op, v & 0xFFFF)
    if z.target is not None:
        out += struct.pack("<HH", terminal, z.target)
    return out


def _level(items, terminal: int, kind: str):
    """(headers, bags, mods, gens) bytes for presets or instruments."""
    hdrs, bags, mods, gens = b"", b"", b"", b""
    n_bag = n_gen = n_mod = 0
    for it in items:
        if kind == "p":
            hdrs += _name(it.name) + struct.pack("<HHHIII", it.program, it.bank, n_bag, 0, 0, 0)
        else:
            hdrs += _name(it.name) + struct.pack("<H", n_bag)
        for z in it.zones:
            bags += struct.pack("<HH", n_gen, n_mod)
            n_bag += 1
            g = _gen_records(z, terminal)
            gens += g
            n_gen += len(g) // 4
            for m in z.mods:
                mods += struct.pack("<HHhHH", *m)
                n_mod += 1
    if kind == "p":
        hdrs += _name("EOP") + struct.pack("<HHHIII", 0, 0, n_bag, 0, 0, 0)
    else:
        hdrs += _name("EOI") + struct.pack("<H", n_bag)
    bags += struct.pack("<HH", n_gen, n_mod)
    mods += b"\0" * 10
    gens += b"\0" * 4
    return hdrs, bags, mods, gens


def sf2(
    presets,
    instruments,
    samples,
    *,
    version=(2, 4),
    name="test bank",
    sm24: bool = False,
    raw: dict[str, bytes] | None = None,
    info_extra: bytes = b"",
) -> bytes:
    """The bytes of an SF2 file (SF3 when a sample has ``vorbis`` data)."""
    raw = raw or {}
    smpl = bytearray()
    shdr = b""
    for s in samples:
        if s.vorbis is not None:
            start = len(smpl)
            smpl += s.vorbis
            end = len(smpl)
            ls, le = s.loop if s.loop else (0, 0)
            if len(smpl) & 1:
                smpl += b"\0"
        else:
            d = np.asarray(s.data, dtype="<i2")
            start = len(smpl) // 2
            smpl += d.tobytes() + b"\0" * 92  # 46 zero points after each sample
            end = start + len(d)
            ls, le = (start + s.loop[0], start + s.loop[1]) if s.loop else (start, start)
        shdr += _name(s.name) + struct.pack(
            "<IIIIIBbHH", start, end, ls, le, s.rate, s.root, s.correction, s.link, s.type
        )
    shdr += _name("EOS") + b"\0" * 26
    phdr, pbag, pmod, pgen = _level(presets, G.INSTRUMENT, "p")
    inst, ibag, imod, igen = _level(instruments, G.SAMPLE_ID, "i")
    parts = dict(phdr=phdr, pbag=pbag, pmod=pmod, pgen=pgen, inst=inst, ibag=ibag, imod=imod, igen=igen, shdr=shdr)
    parts.update({k: v for k, v in raw.items() if k in parts})
    info = _list(
        b"INFO",
        _chunk(b"ifil", struct.pack("<HH", *version)),
        _chunk(b"isng", b"EMU8000\0"),
        _chunk(b"INAM", name.encode() + b"\0"),
        info_extra,
    )
    sdta_parts = [_chunk(b"smpl", bytes(smpl))]
    if sm24:
        n = len(smpl) // 2
        sdta_parts.append(_chunk(b"sm24", bytes(n)))
    sdta = _list(b"sdta", *sdta_parts)
    pdta = _list(b"pdta", *(_chunk(k.encode(), v) for k, v in parts.items()))
    body = b"sfbk" + info + sdta + pdta
    return b"RIFF" + struct.pack("<I", len(body)) + body


def sine(frames: int = 44100, cycles: int = 1000, amp: int = 16000) -> np.ndarray:
    """A sine of `cycles` whole cycles in `frames`: loopable over the whole length."""
    t = np.arange(frames)
    return np.round(amp * np.sin(2 * np.pi * cycles * t / frames)).astype(np.int16)


def one_sine_bank(
    izone_gens=None,
    pzone_gens=None,
    *,
    frames=44100,
    cycles=1000,
    root=69,
    amp=16000,
    mods=(),
    pmods=(),
    program=0,
    bank=0,
    rate=44100,
    loop=True,
    **kw,
) -> bytes:
    """One preset of one instrument of one looped sine sample (by default 1000 Hz at key 69)."""
    ig = {G.SAMPLE_MODES: 1} if loop else {}
    ig.update(izone_gens or {})
    s = Sample("sine", sine(frames, cycles, amp), rate=rate, root=root, loop=(0, frames) if loop else None)
    return sf2(
        [Preset("Sine", bank, program, [Zone(dict(pzone_gens or {}), 0, list(pmods))])],
        [Instrument("sine", [Zone(ig, 0, list(mods))])],
        [s],
        **kw,
    )
