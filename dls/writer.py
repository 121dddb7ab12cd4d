"""Serialise a :class:`dls.model.Collection` to a DLS (``RIFF 'DLS '``) file.

``write(collection)`` returns the file's bytes; ``write(collection, path)`` also stores them
atomically (temporary file in the same directory, fsync, ``os.replace``), so a failed write
never leaves a partial file under the final name.

The layout is the one ``dls.reader.read`` expects, so ``read(write(c)) == c``::

    RIFF 'DLS '
      colh                      cInstruments
      vers                      (if collection.version)
      dlid                      (if collection.dlid)
      LIST 'lins'
        LIST 'ins '
          insh                  cRegions, ulBank, ulInstrument
          dlid                  (if any)
          LIST 'lrgn'
            LIST 'rgn2' | 'rgn '
              rgnh              key range, velocity range, fusOptions, usKeyGroup[, usLayer]
              wsmp              (if region.wave_sample)
              wlnk
              LIST 'lar2'{art2...} | LIST 'lart'{art1...}   one list per run of
                                articulations of one level
          LIST 'lar2' | 'lart'  instrument articulations
          LIST 'INFO'           INAM from instrument.name, other keys from instrument.info
      ptbl                      cbSize=8, cCues, offsets of each LIST wave from the first
                                byte after the 'wvpl' list type
      LIST 'wvpl'
        LIST 'wave'
          fmt                   16-byte PCMWAVEFORMAT (40-byte WAVEFORMATEXTENSIBLE with the
                                PCM sub-format for a supported WAVE_FORMAT_EXTENSIBLE wave)
          wsmp                  (if wave.wave_sample)
          data
          dlid                  (if any)
          LIST 'INFO'           (if wave.info)
      LIST 'INFO'               (if collection.info)

Everything is validated before a byte is produced; a model that cannot be written raises
:class:`dls.errors.DLSError` naming the offending object.

The bytes are gathered as a list of pieces (sample data as zero-copy views of the NumPy
arrays) and joined once, so writing is linear in the output size.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from . import constants as C
from .atomicfile import atomic_write
from .errors import DLSError
from .model import CONNECTION_DTYPE, Articulation, Collection, Instrument, Region, Wave, WaveSample

__all__ = ["write"]

_U16 = 0xFFFF
_U32 = 0xFFFFFFFF
_I16 = (-0x8000, 0x7FFF)
_I32 = (-0x80000000, 0x7FFFFFFF)

_HDR = struct.Struct("<4sI")
_COLH = struct.Struct("<4sII")  # header + cInstruments
_INSH = struct.Struct("<4sIIII")  # header + cRegions, ulBank, ulInstrument
_RGNH12 = struct.Struct("<4sIHHHHHH")
_RGNH14 = struct.Struct("<4sIHHHHHHH")
_WLNK = struct.Struct("<4sIHHII")
_WSMP = struct.Struct("<4sIIHhiII")  # header + cbSize, usUnityNote, sFineTune, lAttenuation, fulOptions, cSampleLoops
_WLOOP = struct.Struct("<IIII")  # cbSize, ulType, ulStart, ulLength
_ART = struct.Struct("<4sIII")  # header + cbSize, cConnectionBlocks
_FMT = struct.Struct("<4sIHHIIHH")
_VERS = struct.Struct("<4sIII")
_FMT_EXT = struct.Struct("<HHI16s")  # cbSize, wValidBitsPerSample, dwChannelMask, SubFormat

# KSDATAFORMAT_SUBTYPE_PCM {00000001-0000-0010-8000-00AA00389B71} as stored (little-endian GUID)
_KSDATAFORMAT_SUBTYPE_PCM = bytes.fromhex("0100000000001000800000aa00389b71")

_MAX_RIFF = _U32  # the RIFF size field is 32 bits


# ------------------------------------------------------------------------------------------
# Output builder
# ------------------------------------------------------------------------------------------
class _Out:
    """An append-only list of byte pieces with its running length; LIST sizes are patched in."""

    __slots__ = ("parts", "size", "_open")

    def __init__(self) -> None:
        self.parts: list = []
        self.size = 0
        self._open: list[tuple[int, int]] = []

    def raw(self, b) -> None:
        self.parts.append(b)
        self.size += len(b)

    def chunk(self, ckid: bytes, body) -> None:
        """A chunk with header, body (any 1-D byte buffer) and pad byte when odd."""
        n = len(body)
        self.parts.append(_HDR.pack(ckid, n))
        self.parts.append(body)
        if n & 1:
            self.parts.append(b"\0")
            self.size += 9 + n
        else:
            self.size += 8 + n

    def packed(self, packed_chunk: bytes) -> None:
        """A whole chunk already packed with its header (its body length must be even)."""
        self.parts.append(packed_chunk)
        self.size += len(packed_chunk)

    def begin(self, list_type: bytes) -> None:
        self._open.append((len(self.parts), self.size + 8))
        self.parts.append(b"")  # placeholder for 'LIST' + size
        self.parts.append(list_type)
        self.size += 12

    def end(self) -> None:
        idx, start = self._open.pop()
        self.parts[idx] = _HDR.pack(b"LIST", self.size - start)

    def extend(self, other: "_Out") -> None:
        self.parts.extend(other.parts)
        self.size += other.size


# ------------------------------------------------------------------------------------------
# Validation helpers
# ------------------------------------------------------------------------------------------
def _int(value, what: str, field: str, lo: int, hi: int) -> int:
    """``value`` as an int within lo..hi, else DLSError naming ``what`` and ``field``."""
    if type(value) is int and lo <= value <= hi:  # the fast path: no message is built
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DLSError(f"{what} {field}: expected an integer, got {value!r}")
    v = int(value)
    if not lo <= v <= hi:
        raise DLSError(f"{what} {field}: {v} is outside {lo}..{hi}")
    return v


def _dlid(value, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)) or len(value) != 16:
        raise DLSError(f"{what}: a DLSID must be 16 bytes, got {value!r}")
    return bytes(value)


def _fourcc(key, what: str) -> bytes:
    if not isinstance(key, str) or len(key) != 4:
        raise DLSError(f"{what}: INFO key {key!r} must be a 4-character string")
    try:
        b = key.encode("ascii")
    except UnicodeEncodeError:
        raise DLSError(f"{what}: INFO key {key!r} must be ASCII") from None
    if not all(0x20 <= c < 0x7F for c in b):
        raise DLSError(f"{what}: INFO key {key!r} must be printable ASCII")
    return b


def _text(value, what: str) -> bytes:
    """An INFO string: latin-1 (unencodable characters become '?'), NUL-terminated."""
    if not isinstance(value, str):
        raise DLSError(f"{what}: INFO value must be a str, got {type(value).__name__}")
    if "\0" in value:
        raise DLSError(f"{what}: INFO value {value!r} contains a NUL character")
    return value.encode("latin-1", errors="replace") + b"\0"


def _info_list(out: _Out, items: list[tuple[str, str]], what: str) -> None:
    """LIST 'INFO' from (key, value) pairs; nothing when there are none."""
    if not items:
        return
    encoded = [(_fourcc(k, what), _text(v, f"{what} INFO {k!r}")) for k, v in items]
    out.begin(b"INFO")
    for ckid, body in encoded:
        out.chunk(ckid, body)
    out.end()


def _level(obj_level, forced: int | None, what: str) -> int:
    lvl = forced if forced is not None else obj_level
    if lvl not in (1, 2):
        raise DLSError(f"{what}: level must be 1 or 2, got {lvl!r}")
    return lvl


# ------------------------------------------------------------------------------------------
# Pieces
# ------------------------------------------------------------------------------------------
def _wsmp(ws: WaveSample, frames: int | None, what: str) -> bytes:
    """A packed wsmp chunk; loops are checked against ``frames`` when it is known."""
    if not isinstance(ws, WaveSample):
        raise DLSError(f"{what}: wave_sample must be a WaveSample, got {type(ws).__name__}")
    loops = list(ws.loops)
    head = _WSMP.pack(
        b"wsmp",
        20 + 16 * len(loops),
        20,
        _int(ws.unity_note, what, "wsmp unity_note", 0, 127),
        _int(ws.fine_tune, what, "wsmp fine_tune", *_I16),
        _int(ws.attenuation, what, "wsmp attenuation", *_I32),
        _int(ws.options, what, "wsmp options", 0, _U32),
        len(loops),
    )
    if not loops:
        return head
    body = [head]
    for i, loop in enumerate(loops):
        lw = f"{what} wsmp loop {i}"
        try:
            ltype, start, length = loop
        except (TypeError, ValueError):
            raise DLSError(f"{lw}: expected a Loop(type, start, length), got {loop!r}") from None
        ltype = _int(ltype, lw, "type", 0, _U32)
        start = _int(start, lw, "start", 0, _U32)
        length = _int(length, lw, "length", 1, _U32)  # a zero-length loop cannot play
        if frames is not None and start + length > frames:
            raise DLSError(f"{lw}: frames {start}..{start + length} lie outside the wave ({frames} frames)")
        body.append(_WLOOP.pack(16, ltype, start, length))
    return b"".join(body)


def _articulations(out: _Out, arts, forced: int | None, what: str) -> None:
    """The articulations as LIST lar2 {art2...} / LIST lart {art1...}: consecutive ones of
    the same level share one list, as the DLS grammar has it (``<lar2-list> -> LIST 'lar2'
    { <art2-ck>... }``, one optional list per region or instrument). Readers that take only
    the first list of a kind (SpessaSynth) then see every connection."""
    open_level = None
    for i, art in enumerate(arts):
        aw = f"{what} articulation {i}"
        if not isinstance(art, Articulation):
            raise DLSError(f"{aw}: expected an Articulation, got {type(art).__name__}")
        lvl = _level(art.level, forced, aw)
        blocks = _blocks_bytes(art.blocks, aw)
        n = len(blocks) // CONNECTION_DTYPE.itemsize
        if lvl != open_level:
            if open_level is not None:
                out.end()
            out.begin(b"lar2" if lvl == 2 else b"lart")
            open_level = lvl
        out.raw(_ART.pack(b"art2" if lvl == 2 else b"art1", 8 + len(blocks), 8, n))
        out.raw(blocks)  # 12 bytes a block: always even
    if open_level is not None:
        out.end()


_BLOCK_LIMITS = {
    "source": (0, _U16),
    "control": (0, _U16),
    "destination": (0, _U16),
    "transform": (0, _U16),
    "scale": _I32,
}


def _blocks_bytes(blocks, what: str) -> bytes:
    if not isinstance(blocks, np.ndarray):
        raise DLSError(f"{what}: blocks must be a NumPy array of CONNECTION_DTYPE")
    if blocks.dtype == CONNECTION_DTYPE:
        return blocks.reshape(-1).tobytes()
    names = blocks.dtype.names
    if names is None or set(names) != set(CONNECTION_DTYPE.names):
        raise DLSError(f"{what}: blocks have dtype {blocks.dtype}, expected fields {CONNECTION_DTYPE.names}")
    flat = blocks.reshape(-1)
    for name, (lo, hi) in _BLOCK_LIMITS.items():
        col = flat[name]
        if col.dtype.kind not in "iu":
            raise DLSError(f"{what}: connection field {name!r} must be integer, got {col.dtype}")
        if len(col) and (int(col.min()) < lo or int(col.max()) > hi):
            raise DLSError(f"{what}: connection field {name!r} has values outside {lo}..{hi}")
    # Copy field by field: structured astype matches fields by position, not by name.
    conv = np.empty(len(flat), dtype=CONNECTION_DTYPE)
    for name in CONNECTION_DTYPE.names:
        conv[name] = flat[name]
    return conv.tobytes()


def _wave_data(wave: Wave, what: str):
    """The data chunk's body: a 1-D uint8 view of the samples (no copy when they are
    contiguous little-endian), or the raw bytes of an unsupported wave."""
    if not wave.supported:
        raw = wave.raw_data
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            raise DLSError(f"{what}: an unsupported wave needs raw_data bytes to be written")
        return bytes(raw)
    if wave.format_tag not in (C.WAVE_FORMAT_PCM, C.WAVE_FORMAT_EXTENSIBLE):
        raise DLSError(
            f"{what}: format tag 0x{wave.format_tag:04x} with supported=True; only PCM "
            "sample data (WAVE_FORMAT_PCM, or WAVE_FORMAT_EXTENSIBLE with the PCM sub-format) "
            "can be written"
        )
    channels = wave.channels
    data = wave.data
    if not isinstance(data, np.ndarray):
        raise DLSError(f"{what}: data must be a NumPy array, got {type(data).__name__}")
    if data.ndim == 1 and channels == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[1] != channels:
        raise DLSError(
            f"{what}: data of shape {data.shape} does not match {channels} channel(s); expected (frames, channels)"
        )
    bits = wave.bits_per_sample
    if bits == 8:
        if data.dtype != np.uint8:
            raise DLSError(f"{what}: 8-bit wave data must be uint8 (unsigned), got {data.dtype}")
    elif bits == 16:
        if data.dtype.kind != "i" or data.dtype.itemsize != 2:
            raise DLSError(f"{what}: 16-bit wave data must be int16, got {data.dtype}")
        if data.dtype.byteorder == ">" or (data.dtype.byteorder == "=" and not _LITTLE):
            data = data.astype("<i2")
    else:
        raise DLSError(f"{what}: {bits}-bit PCM cannot be written (8 or 16 bits only)")
    data = np.ascontiguousarray(data)
    return data.reshape(-1).view(np.uint8)


_LITTLE = np.little_endian


def _wave(out: _Out, wave: Wave, what: str) -> None:
    if not isinstance(wave, Wave):
        raise DLSError(f"{what}: expected a Wave, got {type(wave).__name__}")
    body = _wave_data(wave, what)
    tag = _int(wave.format_tag, what, "format_tag", 0, _U16)
    bits = _int(wave.bits_per_sample, what, "bits_per_sample", 0, _U16)
    extensible = wave.supported and tag == C.WAVE_FORMAT_EXTENSIBLE
    fmt = _FMT.pack(
        b"fmt ",
        40 if extensible else 16,
        tag,
        _int(wave.channels, what, "channels", 1, _U16),
        _int(wave.sample_rate, what, "sample_rate", 0, _U32),
        _int(wave.avg_bytes_per_sec, what, "avg_bytes_per_sec", 0, _U32),
        _int(wave.block_align, what, "block_align", 0, _U16),
        bits,
    )
    if extensible:
        # WAVEFORMATEXTENSIBLE: cbSize 22, valid bits, channel mask (0: not assigned), PCM GUID.
        fmt += _FMT_EXT.pack(22, bits, 0, _KSDATAFORMAT_SUBTYPE_PCM)
    frames = wave.frames if wave.supported else None
    wsmp = _wsmp(wave.wave_sample, frames, what) if wave.wave_sample is not None else None
    dlid = _dlid(wave.dlid, f"{what} dlid") if wave.dlid is not None else None
    out.begin(b"wave")
    out.packed(fmt)
    if wsmp is not None:
        out.packed(wsmp)
    out.chunk(b"data", body)
    if dlid is not None:
        out.chunk(b"dlid", dlid)
    _info_list(out, list(wave.info.items()), what)
    out.end()


def _region(out: _Out, rgn: Region, waves: list[Wave], forced: int | None, what: str) -> None:
    if not isinstance(rgn, Region):
        raise DLSError(f"{what}: expected a Region, got {type(rgn).__name__}")
    lvl = _level(rgn.level, forced, what)
    klo = _int(rgn.key_low, what, "key_low", 0, 127)
    khi = _int(rgn.key_high, what, "key_high", 0, 127)
    vlo = _int(rgn.vel_low, what, "vel_low", 0, 127)
    vhi = _int(rgn.vel_high, what, "vel_high", 0, 127)
    if klo > khi:
        raise DLSError(f"{what}: key range {klo}..{khi} is empty (low > high)")
    if vlo > vhi:
        raise DLSError(f"{what}: velocity range {vlo}..{vhi} is empty (low > high)")
    if vhi == 0:
        # Velocity 0 is a note-off, so 0..0 never sounds; readers (ours included) take a
        # 0..0 range from old Level 1 writers to mean 0..127.
        raise DLSError(f"{what}: velocity range 0..0 can never sound (readers take it as 0..127)")
    options = _int(rgn.options, what, "options", 0, _U16)
    key_group = _int(rgn.key_group, what, "key_group", 0, _U16)
    # The layer is written whenever the model has one, except when Level 1 is forced.
    layer = None if forced == 1 or rgn.layer is None else _int(rgn.layer, what, "layer", 0, _U16)

    wl = rgn.wave_link
    index = _int(wl.table_index, what, "wave link table_index", 0, _U32)
    if index >= len(waves):
        raise DLSError(f"{what}: wave link table_index {index} is out of range (the pool has {len(waves)} waves)")
    wlnk = _WLNK.pack(
        b"wlnk",
        12,
        _int(wl.options, what, "wave link options", 0, _U16),
        _int(wl.phase_group, what, "wave link phase_group", 0, _U16),
        _int(wl.channel, what, "wave link channel", 0, _U32),
        index,
    )
    wsmp = None
    if rgn.wave_sample is not None:
        target = waves[index]
        frames = target.frames if getattr(target, "supported", False) else None
        wsmp = _wsmp(rgn.wave_sample, frames, what)

    out.begin(b"rgn2" if lvl == 2 else b"rgn ")
    if layer is None:
        out.packed(_RGNH12.pack(b"rgnh", 12, klo, khi, vlo, vhi, options, key_group))
    else:
        # 14-byte body: even, no pad.
        out.packed(_RGNH14.pack(b"rgnh", 14, klo, khi, vlo, vhi, options, key_group, layer))
    if wsmp is not None:
        out.packed(wsmp)
    out.packed(wlnk)
    _articulations(out, rgn.articulations, forced, what)
    out.end()


def _instrument(out: _Out, ins: Instrument, waves: list[Wave], forced: int | None, what: str) -> None:
    if not isinstance(ins, Instrument):
        raise DLSError(f"{what}: expected an Instrument, got {type(ins).__name__}")
    if not isinstance(ins.name, str):
        raise DLSError(f"{what}: name must be a str, got {type(ins.name).__name__}")
    what = f"{what} {ins.name!r}" if ins.name else what
    # ulBank is kept raw (bits other than 31, 8-14 and 0-6 are reserved but seen in files).
    bank = _int(ins.bank, what, "bank", 0, _U32)
    program = _int(ins.program, what, "program", 0, 127)
    regions = ins.regions
    out.begin(b"ins ")
    out.packed(_INSH.pack(b"insh", 12, len(regions), bank, program))
    if ins.dlid is not None:
        out.chunk(b"dlid", _dlid(ins.dlid, f"{what} dlid"))
    out.begin(b"lrgn")
    for j, rgn in enumerate(regions):
        _region(out, rgn, waves, forced, f"{what} region {j}")
    out.end()
    _articulations(out, ins.articulations, forced, what)
    # INAM comes from the name; when the name is empty an explicit info['INAM'] is kept.
    items: list[tuple[str, str]] = []
    if ins.name:
        items.append(("INAM", ins.name))
    elif "INAM" in ins.info:
        items.append(("INAM", ins.info["INAM"]))
    items.extend((k, v) for k, v in ins.info.items() if k != "INAM")
    _info_list(out, items, what)
    out.end()


def _build(col: Collection, forced: int | None) -> list:
    if not isinstance(col, Collection):
        raise DLSError(f"write() needs a dls.model.Collection, got {type(col).__name__}")
    if forced is not None and forced not in (1, 2):
        raise DLSError(f"level must be 1, 2 or None, got {forced!r}")
    waves = list(col.waves)
    instruments = list(col.instruments)

    # Wave pool first: the pool table before it needs each wave's offset.
    pool = _Out()
    offsets = []
    for i, wave in enumerate(waves):
        offsets.append(pool.size)
        what = f"wave {i}"
        if isinstance(wave, Wave) and wave.name:
            what += f" {wave.name!r}"
        _wave(pool, wave, what)

    out = _Out()
    out.raw(b"")  # placeholder for 'RIFF' + size
    out.raw(b"DLS ")
    out.size += 8
    out.packed(_COLH.pack(b"colh", 4, len(instruments)))
    if col.version is not None:
        try:
            ms, ls = col.version
        except (TypeError, ValueError):
            raise DLSError(f"collection version must be a pair (ms, ls), got {col.version!r}") from None
        out.packed(
            _VERS.pack(
                b"vers", 8, _int(ms, "collection", "version ms", 0, _U32), _int(ls, "collection", "version ls", 0, _U32)
            )
        )
    if col.dlid is not None:
        out.chunk(b"dlid", _dlid(col.dlid, "collection dlid"))
    out.begin(b"lins")
    for i, ins in enumerate(instruments):
        _instrument(out, ins, waves, forced, f"instrument {i}")
    out.end()
    ptbl = np.empty(2 + len(offsets), dtype="<u4")
    ptbl[0] = 8
    ptbl[1] = len(offsets)
    ptbl[2:] = offsets
    out.chunk(b"ptbl", ptbl.tobytes())
    out.begin(b"wvpl")
    out.extend(pool)
    out.end()
    _info_list(out, list(col.info.items()), "collection")

    riff_size = out.size - 8
    if riff_size > _MAX_RIFF:
        raise DLSError(f"collection too large for a RIFF file ({out.size} bytes; the limit is 4 GiB)")
    out.parts[0] = _HDR.pack(b"RIFF", riff_size)
    return out.parts


# ------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------
def write(collection: Collection, path=None, *, level: int | None = None) -> bytes:
    """Serialise ``collection`` to DLS bytes; store them atomically at ``path`` if given.

    level: None writes each region and articulation at its own ``level`` (``rgn2``/``lar2``/
    ``art2`` for 2, ``rgn ``/``lart``/``art1`` for 1). 1 or 2 forces every region and
    articulation to that level; forcing 1 also drops each region's DLS2 ``usLayer``
    (a 12-byte ``rgnh``). Connection blocks are written as they are in either case.

    Raises :class:`dls.errors.DLSError` when the model cannot be written (a wave link past
    the pool, a loop outside its wave or of length 0, a key or velocity range outside 0..127
    or reversed, a velocity range of 0..0, sample data not matching channels and bits, a
    malformed INFO entry, a field too wide for its chunk, ...) or the file cannot be stored;
    a failed write leaves nothing new under ``path`` (an existing file is left as it was).

    INFO strings are written as latin-1 (characters outside it become '?') with a closing
    NUL; a NUL inside a string is an error. An instrument's INAM is its ``name`` (or, when the
    name is empty, ``info['INAM']`` if present); its other INFO keys come from ``info``.
    """
    data = b"".join(_build(collection, level))
    if path is not None:
        _store(os.fspath(path), data)
    return data


def _store(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (dls.atomicfile); failures become DLSError."""

    def write(f) -> None:
        view = memoryview(data)
        written = 0
        while written < len(view):
            written += f.write(view[written:])

    try:
        atomic_write(path, write)
    except (OSError, ValueError) as exc:
        raise DLSError(f"cannot write DLS file {os.fspath(path)!r}: {exc}") from exc
