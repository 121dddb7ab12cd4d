"""SF2 sample headers (shdr) as DLS waves: views of the ``smpl`` chunk, or decoded SF3 Vorbis.

A region plays ``smpl[start:end]`` of its sample (SF2: ``dwEnd`` is the first point after
the sample), moved by the zone's address-offset generators (``x 32768`` for the coarse
ones) and kept inside the sample's own range, as FluidSynth keeps it. Each distinct
(sample, start, end) is one `dls.model.Wave` whose data is a NumPy view of the file's
memory map (int16, shape (frames, 1)): no sample data is copied at load. Loop points are
relative to the wave; ``sampleModes`` 1 is a forward loop (DLS loop type 0), 3 loops until
the note is released and then plays on (DLS's release loop, type 1), 0 and 2 do not loop.

24-bit banks (an ``sm24`` chunk of low bytes) play their top 16 bits, which is the
``smpl`` chunk itself: the engine's sample pool is 16-bit.

SF3 (MuseScore's extension, type bit 0x10): ``dwStart``/``dwEnd`` are the byte range of an
Ogg Vorbis stream in ``smpl``, loop points count from the start of the decoded sample.
At open only each stream's headers are read (its length and channels, with libsndfile,
python-soundfile); a sample is decoded to int16 once, when a wave of it is first used (an
instrument playing it downloaded, the bank written), as DLS waves are views of the file
that the synth touches only then. A decoded sample may hold at most MAX_DECODED_FRAMES and
a file MAX_DECODED_TOTAL.

ROM samples (type bit 0x8000) live in a synthesizer's ROM, not in the file: regions using
them cannot be played and are left out, with a remark.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np

from .. import constants as C
from ..errors import DLSError
from ..model import DeferredWave, Wave, WaveSample
from . import generators as G
from .hydra import Hydra, text
from .zones import distinct

TYPE_MONO, TYPE_RIGHT, TYPE_LEFT, TYPE_LINKED = 1, 2, 4, 8
TYPE_VORBIS = 0x10
TYPE_ROM = 0x8000

MAX_SAMPLE_RATE = 1_000_000  # Hz: what the engine's wave pool takes
MAX_DECODED_FRAMES = 1 << 25  # about 12 minutes at 44.1 kHz
MAX_DECODED_TOTAL = 1 << 28  # 512 MB of 16-bit samples for a whole SF3


@dataclass
class RegionSamples:
    """Per region (pair): wave index (-1: cannot be played), loop type (-1 none, 0 forward,
    1 release), loop start and length (frames of the wave), unity note, fine tune (cents:
    the sample's pitch correction)."""

    wave: np.ndarray
    loop_type: np.ndarray
    loop_start: np.ndarray
    loop_length: np.ndarray
    unity: np.ndarray
    fine: np.ndarray


_OGG_PAGE = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, page, CRC, segments


def _ogg_vorbis_length(raw) -> tuple[int, int] | None:
    """(frames, channels) of a well-formed Ogg Vorbis stream from its pages alone: the channels
    from the identification header on the first page, the length from the granule position
    of the last page (the stream's last sample), which must end exactly where the stream
    does. None where anything is unexpected: the caller then asks libsndfile, which reads the
    same two pages (the two agree on every sample of TimGM6mb made SF3)."""
    b = bytes(raw[:64])
    if len(b) < 28 + 12:
        return None
    cap, ver, _flags, _gran, _serial, _seq, _crc, nseg = _OGG_PAGE.unpack_from(b, 0)
    body = 27 + nseg
    if cap != b"OggS" or ver != 0 or nseg < 1 or len(b) < body + 12 or b[body : body + 7] != b"\x01vorbis":
        return None
    channels = b[body + 11]
    tail = bytes(raw[-65307:])  # the largest Ogg page: 27 + 255 + 255 * 255 bytes
    k = tail.rfind(b"OggS")
    if k < 0 or len(tail) - k < 27:
        return None
    cap, ver, flags, gran, _serial, _seq, _crc, nseg = _OGG_PAGE.unpack_from(tail, k)
    if ver != 0 or not flags & 0x04 or len(tail) < k + 27 + nseg:  # 0x04: end of stream
        return None
    if k + 27 + nseg + sum(tail[k + 27 : k + 27 + nseg]) != len(tail) or gran < 1 or channels < 1:
        return None
    return int(gran), int(channels)


class _Decoder:
    """SF3 Vorbis samples: each stream's header read at open (its frame count and channels,
    nothing decoded), each sample decoded once, when a wave of it is first used."""

    def __init__(self, h: Hydra, buf):
        self.h = h
        self.buf = buf
        self.frames: dict[int, int | None] = {}  # sample -> decoded length, None: cannot be played
        self.cache: dict[int, np.ndarray] = {}
        self.total = 0
        self.errors: dict[int, str] = {}
        self.late_warnings: list[str] = []  # the collection's warnings, once it is made

    def _stream(self, sid: int):
        """The sample's Ogg bytes, or None (with the reason in errors)."""
        sh = self.h.shdr[sid]
        ck = self.h.smpl_chunk
        start, end = int(sh["start"]), int(sh["end"])
        if ck is None or not (0 <= start < end <= ck.size):
            self.errors[sid] = f"its Ogg Vorbis data ({start}..{end}) lies outside the smpl chunk"
            return None
        return memoryview(self.buf)[ck.data_start + start : ck.data_start + end]

    def probe(self, sid: int) -> int | None:
        """The sample's length in frames from its stream's headers, or None where it cannot
        be played (the reason in errors; None there: more than one channel, noted once)."""
        if sid in self.frames:
            return self.frames[sid]
        n = None
        raw = self._stream(sid)
        known = _ogg_vorbis_length(raw) if raw is not None else None
        if known is not None:
            frames, channels = known
            if frames > MAX_DECODED_FRAMES or self.total + frames * channels > MAX_DECODED_TOTAL:
                self.errors[sid] = f"it decodes to {frames} frames, more than this reader takes"
            else:
                if channels > 1:
                    self.errors[sid] = None  # type: ignore[assignment]  # not an error: noted below
                self.total += frames * channels
                n = frames
            self.frames[sid] = n
            return n
        if raw is not None:
            try:
                import soundfile as sf
            except ImportError:  # pragma: no cover - soundfile is a dependency
                self.errors[sid] = "python-soundfile is needed to decode SF3 (Ogg Vorbis) samples"
                raw = None
        if raw is not None:
            try:
                with sf.SoundFile(io.BytesIO(raw)) as f:
                    frames, channels = f.frames, f.channels
            except Exception as exc:  # libsndfile's errors are RuntimeErrors; anything else is the stream's fault
                self.errors[sid] = f"its Ogg Vorbis data does not decode ({exc.__class__.__name__})"
            else:
                if frames < 1:
                    self.errors[sid] = "its Ogg Vorbis data holds no samples"
                elif frames > MAX_DECODED_FRAMES or self.total + frames * channels > MAX_DECODED_TOTAL:
                    self.errors[sid] = f"it decodes to {frames} frames, more than this reader takes"
                else:
                    if channels > 1:
                        self.errors[sid] = None  # type: ignore[assignment]  # not an error: noted below
                    self.total += frames * channels
                    n = int(frames)
        self.frames[sid] = n
        return n

    def samples(self, sid: int) -> np.ndarray:
        """The whole decoded sample (its first channel, int16, of the probed length): decoded on
        first call. A stream whose headers read but whose audio does not decode plays
        silence, said in the collection's warnings."""
        data = self.cache.get(sid)
        if data is not None:
            return data
        n = self.frames[sid]
        out = np.zeros(n, dtype=np.int16)
        try:
            import soundfile as sf

            with sf.SoundFile(io.BytesIO(self._stream(sid))) as f:
                got = f.read(frames=n, dtype="int16", always_2d=True)
            out[: len(got)] = got[:, 0]
        except Exception as exc:
            name = text(bytes(self.h.shdr[sid]["name"]))
            self.late_warnings.append(
                f"SF3 sample #{sid} {name!r}: its Ogg Vorbis data does not decode "
                f"({exc.__class__.__name__}); played as silence"
            )
        self.cache[sid] = out
        return out

    def wave_data(self, sid: int, a: int, b: int):
        """A decode() for `dls.model.DeferredWave`: frames a..b of the sample, shape (frames, 1)."""
        return lambda: self.samples(sid)[a:b].reshape(-1, 1)


def build(h: Hydra, buf, gens: np.ndarray, sample: np.ndarray, notes_of, file_notes: list[str]):
    """Waves for the regions described by `gens` (pairs x generators) and `sample` (their
    sample header indices); `notes_of(mask, text)` files a remark for the regions in mask.
    Returns (waves, RegionSamples, the SF3 decoder or None): SF3 waves are
    `dls.model.DeferredWave`s, decoded on first use; the caller hands the decoder the
    collection's warnings list (``late_warnings``)."""
    sh = h.shdr
    n = len(sample)
    stype = sh["type"][sample].astype(np.int64)
    s_start = sh["start"][sample].astype(np.int64)
    s_end = sh["end"][sample].astype(np.int64)
    l_start = sh["loop_start"][sample].astype(np.int64)
    l_end = sh["loop_end"][sample].astype(np.int64)
    rate = sh["rate"][sample].astype(np.int64)

    def g(op: int) -> np.ndarray:
        return gens[:, op].astype(np.int64)  # the columns used, not a copy of the whole table

    d_start = g(G.START_ADDRS_OFFSET) + 32768 * g(G.START_ADDRS_COARSE_OFFSET)
    d_end = g(G.END_ADDRS_OFFSET) + 32768 * g(G.END_ADDRS_COARSE_OFFSET)
    d_lstart = g(G.STARTLOOP_ADDRS_OFFSET) + 32768 * g(G.STARTLOOP_ADDRS_COARSE_OFFSET)
    d_lend = g(G.ENDLOOP_ADDRS_OFFSET) + 32768 * g(G.ENDLOOP_ADDRS_COARSE_OFFSET)

    ok = np.ones(n, dtype=bool)
    rom = (stype & TYPE_ROM) != 0
    if n and rom.all():
        where = h.chunks["shdr"].where() if "shdr" in h.chunks else "shdr"
        raise DLSError(
            f"{where}: every sample the presets play is a ROM sample (type 0x{int(stype[0]):04x}): this bank "
            "needs the sample ROM of the synthesizer it was made for and cannot be played"
        )
    notes_of(rom, "uses ROM samples (not in the file): those zones are left out")
    ok &= ~rom
    bad_rate = ok & ((rate < 1) | (rate > MAX_SAMPLE_RATE))
    notes_of(bad_rate, f"a sample with a sample rate outside 1..{MAX_SAMPLE_RATE} Hz left out")
    ok &= ~bad_rate
    vorbis = ok & ((stype & TYPE_VORBIS) != 0)
    pcm = ok & ~vorbis

    # The sample's own range in the file's samples (PCM) or in its decoded data (Vorbis).
    base_lo = np.where(vorbis, 0, s_start)
    base_hi = np.where(vorbis, 0, s_end)
    n_smpl = len(h.smpl)
    cut = pcm & (s_start < s_end) & (s_start < n_smpl) & (s_end > n_smpl)
    if cut.any():
        notes_of(cut, "a sample running past the end of the sample data cut short")
        base_hi = np.where(cut, n_smpl, base_hi)
    past = pcm & ((s_start >= s_end) | (s_start >= n_smpl))
    if past.any():
        bad = distinct(sample[past])
        names = ", ".join(repr(text(bytes(sh["name"][s]))) for s in bad[:3])
        file_notes.append(
            f"{len(bad)} sample header(s) ({names}{', ...' if len(bad) > 3 else ''}) lie outside the "
            f"sample data ({n_smpl} samples) or are empty; their zones are left out"
        )
        notes_of(past, "zones whose sample lies outside the sample data left out")
        ok &= ~past
        pcm &= ~past
    decoder = _Decoder(h, buf) if vorbis.any() else None
    if decoder is not None:
        for sid in distinct(sample[vorbis]):
            decoder.probe(int(sid))
        length_of = np.full(len(sh), -1, dtype=np.int64)
        for sid, frames in decoder.frames.items():
            length_of[sid] = frames or -1
        lengths = length_of[sample]
        undecoded = vorbis & (lengths <= 0)
        for sid, why in decoder.errors.items():
            if why:
                file_notes.append(f"SF3 sample #{sid} {text(bytes(sh['name'][sid]))!r}: {why}; its zones are left out")
        notes_of(undecoded, "zones whose SF3 sample does not decode left out")
        ok &= ~undecoded
        vorbis &= ~undecoded
        base_hi = np.where(vorbis, lengths, base_hi)
        if any(v is None for v in decoder.errors.values()):
            file_notes.append("SF3 samples with more than one channel: their first channel is played")

    start = np.clip(base_lo + d_start, base_lo, base_hi)
    end = np.clip(base_hi + d_end, base_lo, base_hi)
    empty = ok & (end - start < 1)
    notes_of(empty, "zones whose address offsets leave no sample left out")
    ok &= ~empty

    # Loops, relative to the wave (PCM loop points count from the smpl chunk's start).
    mode = g(G.SAMPLE_MODES) & 3
    loops = ok & ((mode == 1) | (mode == 3))
    # (PCM: start is in smpl coordinates; Vorbis: in the decoded sample's, where loops count.)
    ls = l_start + d_lstart - start
    le = l_end + d_lend - start
    frames = end - start
    bad_loop = loops & ((ls < 0) | (le > frames) | (le <= ls))
    fixed_ls = np.clip(ls, 0, frames)
    fixed_le = np.clip(le, 0, frames)
    unusable = bad_loop & (fixed_le - fixed_ls < 1)
    notes_of(bad_loop & ~unusable, "loop points outside the sample moved inside it")
    notes_of(unusable, "a loop with no length played without looping")
    loops &= ~unusable
    loop_type = np.where(loops, np.where(mode == 3, C.WLOOP_TYPE_RELEASE, C.WLOOP_TYPE_FORWARD), -1)

    linked = ok & ((stype & 0xF) == TYPE_LINKED)
    notes_of(linked, "linked (non-stereo) sample chains played as separate mono samples")

    # Unity note and pitch correction.
    root = g(G.OVERRIDING_ROOT_KEY)
    orig = sh["pitch"][sample].astype(np.int64)
    odd_pitch = ok & (root < 0) & (orig > 127) & (orig != 255)
    notes_of(odd_pitch, "a sample with original pitch above 127 played as key 60")
    unity = np.where(root >= 0, root, np.where(orig <= 127, orig, 60))
    fine = sh["correction"][sample].astype(np.int64)

    # One wave per distinct (sample, start, end).
    wave_of = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(ok)
    uniq, wave_of[idx] = _distinct_rows(sample[idx], start[idx], end[idx])
    waves = _waves(h, uniq, decoder)
    return (
        waves,
        RegionSamples(
            wave=wave_of,
            loop_type=loop_type.astype(np.int64),
            loop_start=np.where(loops, fixed_ls, 0),
            loop_length=np.where(loops, fixed_le - fixed_ls, 0),
            unity=unity,
            fine=fine,
        ),
        decoder,
    )


def _distinct_rows(*cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of the columns (int64, equal lengths) in ascending lexicographic
    order, and each row's index among them: ``np.unique(np.stack(cols, 1), axis=0,
    return_inverse=True)``, without its sort of opaque rows."""
    keys = np.stack(cols, axis=1).astype(np.int64, copy=False)
    if not len(keys):
        return keys, np.zeros(0, dtype=np.int64)
    order = np.lexsort(cols[::-1])
    ranked = keys[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = (ranked[1:] != ranked[:-1]).any(axis=1)
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ranked[first], inverse


def _waves(h: Hydra, uniq: np.ndarray, decoder: _Decoder | None) -> list[Wave]:
    """One wave per row (sample header, start, end) of `uniq`: a view of ``smpl[start:end]``,
    or an SF3 sample's frames start..end, decoded on first use."""
    if not len(uniq):
        return []
    hdr = h.shdr[uniq[:, 0]]
    names: dict[bytes, str] = {}
    frames = h.smpl.reshape(-1, 1)
    pcm = C.WAVE_FORMAT_PCM
    waves: list[Wave] = []
    append = waves.append
    for (sid, a, b), r, p, fine, kind, raw in zip(
        uniq.tolist(),
        hdr["rate"].tolist(),
        hdr["pitch"].tolist(),
        hdr["correction"].tolist(),
        hdr["type"].tolist(),
        hdr["name"].tolist(),
    ):
        name = names.get(raw)
        if name is None:
            name = names[raw] = text(raw)
        ws = WaveSample(p if p <= 127 else 60, fine)
        if kind & TYPE_VORBIS:
            append(
                DeferredWave(
                    frames=b - a,
                    decode=decoder.wave_data(sid, a, b),
                    format_tag=pcm,
                    channels=1,
                    sample_rate=r,
                    bits_per_sample=16,
                    block_align=2,
                    avg_bytes_per_sec=2 * r,
                    wave_sample=ws,
                    info={"INAM": name},
                )
            )
        else:  # positional: format, channels, rate, bits, align, bytes/s, data, wsmp, dlid, info
            append(Wave(pcm, 1, r, 16, 2, 2 * r, frames[a:b], ws, None, {"INAM": name}))
    return waves
