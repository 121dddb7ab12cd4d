"""Standard MIDI File reader: a ``.mid`` file as a flat, time-sorted list of MIDI messages.

``read_midi(path)`` returns a :class:`Song` whose ``events`` are
:class:`TimedMessage` tuples ``(time, channel_group, data)``:

- ``time``: presentation time in 100 ns units (REFERENCE_TIME) from the start of the song;
- ``channel_group``: DirectMusic channel group, >= 1 (see "Ports" below);
- ``data``: the bytes of one complete MIDI message the synth can use: a channel voice or
  channel mode message with its status byte (8n..En, running status expanded), or a
  complete system exclusive message ``F0 ... F7``.

Everything else in the file (meta events, system common and real-time bytes) is consumed
here and never reaches the synth. The file source (synth/filesource.py) hands each event on as a kernel event
(``DMUS_KERNEL_EVENT``: ``ullPresTime100ns``, ``dwChannelGroup``, ``cbEvent``/data).

Why this module tokenizes the track bytes itself rather than taking mido's messages
------------------------------------------------------------------------------------
mido (1.3) is used here for what it is good at:
building files (tests, benchmarks), and :func:`parse_midi` accepts a ``mido.MidiFile``
object directly. But mido's reader cannot carry the parts of the job that are about the
raw byte stream, so the SMF tokenizer below reads the track bytes itself, in one pass:

- F0 and F7 events both become mido ``sysex`` messages with the framing bytes stripped, so a
  sysex split across an F0 packet and F7 continuation packets cannot be told from several
  complete ones, and an F7 "escape" (arbitrary bytes) is misread as a sysex.
- Undefined status bytes (F4, F5, F9, FD) raise ``OSError``; the jazz-soft files that
  contain them are meant to play with those bytes ignored.
- Running status across a sysex event (test-running-status-sysex.mid) raises ``EOFError``:
  mido takes F0 as the running status.
- Alien chunks before an ``MTrk`` (test-non-midi-track.mid) raise ``OSError``, although the
  SMF specification says readers must skip chunks they do not know.
- Errors carry no track number or byte offset.
- Speed: mido builds and checks one Python object per message, about 5.5 us each; a dense
  100k-event file takes 0.55 s in ``mido.MidiFile`` alone. This tokenizer makes only the
  ``bytes`` of each message and does the whole job (timing and merge included) in about
  0.08 s on the same machine.

For every file mido does read cleanly, the events here equal mido's merged track
(same messages, same order); tests/test_midifile.py checks that on the corpus files.

Rules (what a file means here)
------------------------------
Timing: every time is exact. For a ticks-per-quarter division the reader works with the
integer numerator ``N(tick) = N(t0) + (tick - t0) * tempo_us * 10`` over the constant
denominator ``ticks_per_beat`` and rounds once per event, half up, so nothing drifts over
hours. SMPTE divisions (negative division word: -24, -25, -29 (= 30000/1001 frames/s,
drop-frame), -30 frames per second, and ticks per frame) give ``fps * ticks_per_frame``
ticks per second and ignore tempo events (the SMF rule).

Tempo: set_tempo events from any track form one global tempo map in formats 0 and 1 (at
equal ticks the later event in merged order wins); default 500000 us per quarter note.
Format 2: each track is an independent sequence with its own tempo map (starting at the
default tempo), played one after another in file order, each starting where the previous
track's end-of-track falls.

Order: events are sorted stably by time. Format 0/1 tracks are merged so that at equal
times events keep track order, then file order within a track (as mido's merge_tracks).

Ports (channel groups): a MIDI Port meta event (FF 21 01 pp) puts the following events of
its track on channel group pp + 1. A device-name meta event (FF 09 text) puts them on the
group of that device: distinct device names get groups 1, 2, ... in order of first
appearance in the file (tracks that name the same device share a group; the events of
devices past the engine's MAX_CHANNEL_GROUPS are dropped, with a warning). When a track has
both, the port wins. Without either, group 1. The first such meta event in a track also
applies to that track's events at the same tick before it (writers put the port after a
program change at tick 0); later changes apply from the event on. Channel groups can
therefore exceed 1, and a multi-port file addresses more than 16 channels.

Sysex: an F0 event whose data ends with F7 is one complete message. One that does not is
the first packet of a split message; the F7 events that follow in the same track are its
continuation packets, and the packet that ends with F7 completes it. The reassembled
message is placed at the time (and file position) of its last packet, when it would be
complete on a MIDI cable. An F7 event with no sysex pending is an "escape": its bytes are
read as a MIDI byte stream; complete channel messages and complete sysex messages in it are
kept, a lone F0 without F7 starts a split sysex, and system common/real-time bytes are
dropped and counted. Sysex bytes are passed through unchanged.

Limits (what this reader does not do):
- An unterminated sysex (a new F0, or the track's end, before the final F7) is dropped with
  a warning, not sent.
- Running status is set only by channel messages and never cancelled: meta events, sysex
  and illegal bytes in between leave it in force (tolerant; the SMF text says sysex and
  meta events cancel it, but files exist that rely on it and nothing else can be meant).
- Data bytes > 127 inside a channel message are clamped to 127 (as ``mido`` with
  ``clip=True``) and counted in one warning.
- System common and real-time messages (F1..F6, F8..FE) are not allowed in files; they are
  skipped with their defined data length (F1, F3: 1 byte, F2: 2 bytes) and counted, one
  warning line per kind.
- The SMPTE offset meta event (FF 54) is reported as ``smpte_offset_100ns`` (the SMPTE
  time at which the song starts, taken from the first track; drop-frame labels converted
  exactly) and not applied to event times: a render starts at the first tick.
- Format 0 files with more than one track are merged like format 1, with a warning.
- A file cut short inside a chunk is an error (``MidiFileError``); a count of MTrk chunks
  that disagrees with the header, bytes after the last chunk, unknown chunks and bytes
  after an end-of-track event are warnings.
- RIFF MIDI (``.rmi``: RIFF/RMID with a ``data`` chunk) is read through its ``data``
  chunk; other RMID chunks (an embedded DLS bank) are not looked at here.
- Meta events other than tempo, port, device name, track name (title), copyright, SMPTE
  offset and end of track are ignored, as are lyrics and karaoke text.
"""

from __future__ import annotations

import gc
import os
import struct
from dataclasses import dataclass, field
from itertools import repeat
from typing import NamedTuple, Sequence

import numpy as np

from dlsynth.native.engine import MAX_CHANNEL_GROUPS

__all__ = [
    "MidiFileError",
    "TimedMessage",
    "TrackInfo",
    "Song",
    "read_midi",
    "parse_midi",
    "DEFAULT_TEMPO",
]

DEFAULT_TEMPO = 500_000  # microseconds per quarter note (120 bpm), the SMF default
from dlsynth.native.engine import REF_PER_SECOND as _HUNDRED_NS_PER_SECOND  # noqa: E402

# Names of the system messages that a Standard MIDI File may not contain.
_SYSTEM_NAMES = {
    0xF1: "MTC quarter frame",
    0xF2: "song position pointer",
    0xF3: "song select",
    0xF4: "undefined system common",
    0xF5: "undefined system common",
    0xF6: "tune request",
    0xF8: "timing clock",
    0xF9: "undefined real-time",
    0xFA: "start",
    0xFB: "continue",
    0xFC: "stop",
    0xFD: "undefined real-time",
    0xFE: "active sensing",
    0xFF: "system reset",
}
# Data bytes that follow a system common status byte.
_SYSTEM_DATA_LEN = {0xF1: 1, 0xF2: 2, 0xF3: 1}

# SMPTE frame rates (frames per second) by the SMPTE offset meta event's rate code.
_SMPTE_OFFSET_RATES = {0: (24, 1), 1: (25, 1), 2: (30000, 1001), 3: (30, 1)}  # frames per second, as a fraction


class MidiFileError(ValueError):
    """A MIDI file that cannot be read. ``str(err)`` is one line: "FILE: problem"."""


class TimedMessage(NamedTuple):
    """One MIDI message at its presentation time (the payload of a DMUS_KERNEL_EVENT)."""

    time: int  #: presentation time, 100 ns units from the start of the song
    channel_group: int  #: DirectMusic channel group, >= 1
    data: bytes  #: one complete MIDI message: channel message with status, or F0 ... F7


@dataclass
class TrackInfo:
    """What one MTrk chunk contributed."""

    index: int  #: 0-based position among the file's MTrk chunks
    name: str | None  #: first track-name meta event, if any
    events: int  #: messages kept for the synth
    end_tick: int  #: tick of the end-of-track event (or of the last event if it is missing)
    channel_groups: frozenset[int]  #: groups its kept events use
    port: int | None = None  #: first MIDI Port meta value, if any
    device: str | None = None  #: first device-name meta text, if any


@dataclass
class Song:
    """A MIDI file read into timed messages.

    ``events`` is a plain list of :class:`TimedMessage` (named tuples), sorted by time;
    ``times`` holds the same times as an ``int64`` NumPy array for vectorised look-ups
    (``np.searchsorted(song.times, block_end)``).
    """

    source: str
    format: int
    ticks_per_beat: int | None  #: None for an SMPTE division
    smpte_division: tuple[int, int] | None  #: (frames per second 24/25/29/30, ticks per frame)
    events: list[TimedMessage]
    times: np.ndarray
    duration_100ns: int  #: time of the last event, end-of-track events included
    tracks: list[TrackInfo]
    channel_groups: set[int]
    tempo_changes: list[tuple[int, int]]  #: (time in 100 ns, microseconds per quarter)
    warnings: list[str] = field(default_factory=list)
    title: str | None = None
    copyright: str | None = None
    smpte_offset_100ns: int | None = None
    #: the MTrk index (TrackInfo.index) of each event, int32, in the order of ``events``
    event_tracks: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.events)


def _distinct(groups: np.ndarray) -> list[int]:
    """The distinct channel groups (>= 0) of an array, ascending (np.unique imports numpy.ma)."""
    if not len(groups):
        return []
    return np.flatnonzero(np.bincount(groups)).tolist()


def read_midi(path: str | os.PathLike) -> Song:
    """Read a Standard MIDI File (format 0, 1 or 2) or a RIFF MIDI (.rmi) file.

    Raises :class:`MidiFileError` (one line naming the file) for a missing, unreadable,
    empty, non-MIDI or corrupt file.
    """
    name = os.fspath(path)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:4] not in (b"MThd", b"RIFF"):
                _raise_not_midi(name, head)
            data = head + f.read()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise MidiFileError(f"{name}: cannot read: {reason}") from None
    return _Parser(data, name).parse()


def parse_midi(data, name: str = "<bytes>") -> Song:
    """Read a MIDI file from memory: ``bytes``/``bytearray``/``memoryview`` holding the
    file, or a ``mido.MidiFile`` object (written to bytes with mido, then read here)."""
    if hasattr(data, "save") and hasattr(data, "tracks"):  # a mido.MidiFile
        import io

        buf = io.BytesIO()
        try:
            data.save(file=buf)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise MidiFileError(f"{name}: mido cannot write this MidiFile: {_one_line(e)}") from None
        data = buf.getvalue()
    data = bytes(data)
    if data[:4] not in (b"MThd", b"RIFF"):
        _raise_not_midi(name, data)
    return _Parser(data, name).parse()


# --------------------------------------------------------------------------------------
# internals


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _raise_not_midi(name: str, head: bytes):
    if not head:
        raise MidiFileError(f"{name}: empty file")
    raise MidiFileError(f"{name}: not a Standard MIDI File (starts with {bytes(head[:4])!r}, expected b'MThd')")


def _decode_text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return _one_line(text.replace("\x00", " "))


class _TrackResult:
    __slots__ = ("index", "ticks", "datas", "marks", "tempos", "end_tick", "has_eot", "name", "port", "device")

    def __init__(self, index: int):
        self.index = index
        self.ticks: list[int] = []
        self.datas: list[bytes] = []
        self.marks: list[tuple[int, int]] = [(0, 1)]  # (first event index, channel group)
        self.tempos: list[tuple[int, int]] = []  # (tick, us per quarter)
        self.end_tick = 0
        self.has_eot = False
        self.name: str | None = None
        self.port: int | None = None
        self.device: str | None = None

    def group_array(self) -> np.ndarray:
        n = len(self.ticks)
        starts = [m[0] for m in self.marks] + [n]
        counts = np.diff(np.asarray(starts, dtype=np.int64))
        values = np.asarray([m[1] for m in self.marks], dtype=np.int64)
        return np.repeat(values, counts)


class _TempoMap:
    """Piecewise-linear tick -> time map in exact integers.

    time_100ns(tick) = round(N(tick) / den), N(tick) = num[k] + (tick - tick[k]) * rate[k]
    for the segment k holding ``tick``; ``den`` is constant for the whole file.
    """

    def __init__(self, den: int, rate0: int, changes: Sequence[tuple[int, int]] = (), base: int = 0):
        self.den = den
        ticks = [0]
        nums = [base]
        rates = [rate0]
        for tick, rate in changes:  # sorted by tick
            if tick == ticks[-1]:
                rates[-1] = rate
                continue
            nums.append(nums[-1] + (tick - ticks[-1]) * rates[-1])
            ticks.append(tick)
            rates.append(rate)
        self.ticks, self.nums, self.rates = ticks, nums, rates

    def num(self, tick: int) -> int:
        k = 0
        for i, t in enumerate(self.ticks):
            if t <= tick:
                k = i
            else:
                break
        return self.nums[k] + (tick - self.ticks[k]) * self.rates[k]

    def nums_of(self, ticks: np.ndarray, max_tick: int):
        """Numerators for an int64 array of ticks (an object array if int64 could overflow)."""
        bound = self.num(max_tick) if len(ticks) else 0
        exact_int64 = 2 * bound + self.den < (1 << 62) and max(self.rates) < (1 << 40)
        seg_ticks = np.asarray(self.ticks, dtype=np.int64)
        if len(self.ticks) == 1:
            idx = np.zeros(len(ticks), dtype=np.intp)
        else:
            idx = np.searchsorted(seg_ticks, ticks, side="right") - 1
        if exact_int64:
            nums = np.asarray(self.nums, dtype=np.int64)
            rates = np.asarray(self.rates, dtype=np.int64)
            return nums[idx] + (ticks - seg_ticks[idx]) * rates[idx]
        nums = np.asarray(self.nums, dtype=object)
        rates = np.asarray(self.rates, dtype=object)
        return nums[idx] + (ticks.astype(object) - seg_ticks[idx].astype(object)) * rates[idx]


class _Parser:
    def __init__(self, data: bytes, name: str):
        self.buf = data
        self.name = name
        self.base = 0  # offset of the SMF inside the file (RMID), for messages
        self.warnings: list[str] = []
        self.illegal: dict[int, int] = {}
        self.clamped = 0
        self.escape_junk = 0
        self.devices: dict[str, int] = {}
        self.title: str | None = None
        self.copyright: str | None = None
        self.smpte_offset: int | None = None

    # -- errors -------------------------------------------------------------------------
    def fail(self, problem: str):
        raise MidiFileError(f"{self.name}: {_one_line(problem)}")

    def warn(self, text: str):
        self.warnings.append(_one_line(text))

    # -- file structure -----------------------------------------------------------------
    def parse(self) -> Song:
        # The parse makes one or two containers per event and frees none: the cyclic
        # garbage collector would rescan the growing heap over and over for nothing.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._parse()
        except MidiFileError:
            raise
        except (IndexError, ValueError, KeyError, struct.error, OverflowError, EOFError) as e:
            # A safety net: every known malformation is reported by name above.
            self.fail(f"malformed file ({type(e).__name__}: {e})")
        finally:
            if gc_was_enabled:
                gc.enable()

    def _unwrap_riff(self, buf: bytes) -> bytes:
        if len(buf) < 12 or buf[8:12] != b"RMID":
            self.fail(f"not a Standard MIDI File (RIFF form {bytes(buf[8:12])!r}, expected b'RMID')")
        pos, end = 12, min(len(buf), 8 + struct.unpack_from("<I", buf, 4)[0])
        while pos + 8 <= end:
            cid = buf[pos : pos + 4]
            clen = struct.unpack_from("<I", buf, pos + 4)[0]
            if cid == b"data":
                if pos + 8 + clen > len(buf):
                    self.fail(f"truncated RMID data chunk at byte {pos:#x}")
                self.base = pos + 8
                return buf[pos + 8 : pos + 8 + clen]
            pos += 8 + clen + (clen & 1)
        self.fail("RIFF MIDI file without a data chunk")

    def _parse(self) -> Song:
        buf = self.buf
        if buf[:4] == b"RIFF":
            buf = self._unwrap_riff(buf)
        if not buf:
            self.fail("empty file")
        if buf[:4] != b"MThd":
            self.fail(f"not a Standard MIDI File (starts with {bytes(buf[:4])!r}, expected b'MThd')")
        if len(buf) < 14:
            self.fail(f"truncated header chunk ({len(buf)} bytes)")
        hlen = struct.unpack_from(">I", buf, 4)[0]
        if hlen < 6:
            self.fail(f"header chunk too short ({hlen} bytes, need 6)")
        if 8 + hlen > len(buf):
            self.fail(f"truncated header chunk (declares {hlen} bytes)")
        fmt, ntracks, division = struct.unpack_from(">HHH", buf, 8)
        if fmt > 2:
            self.fail(f"unknown SMF format {fmt} (must be 0, 1 or 2)")
        if hlen > 6:
            self.warn(f"header chunk has {hlen - 6} extra bytes (ignored)")

        tpb: int | None = None
        smpte: tuple[int, int] | None = None
        if division & 0x8000:
            fps = 256 - (division >> 8)
            tpf = division & 0xFF
            if tpf == 0:
                self.fail("SMPTE division with zero ticks per frame")
            if fps not in (24, 25, 29, 30):
                self.warn(f"unusual SMPTE frame rate {fps} frames per second")
            smpte = (fps, tpf)
            from fractions import Fraction  # (only here: imported when a file needs it)

            frame_rate = Fraction(30000, 1001) if fps == 29 else Fraction(fps)
            ticks_per_second = frame_rate * tpf
            # one tick = 10^7 / ticks_per_second (100 ns) = rate / den
            den = ticks_per_second.numerator
            rate0 = _HUNDRED_NS_PER_SECOND * ticks_per_second.denominator
        else:
            if division == 0:
                self.fail("division of zero ticks per quarter note")
            tpb = division
            den = tpb
            rate0 = DEFAULT_TEMPO * 10

        # chunks
        tracks: list[_TrackResult] = []
        pos = 8 + hlen
        n = len(buf)
        while pos + 8 <= n:
            cid = buf[pos : pos + 4]
            clen = struct.unpack_from(">I", buf, pos + 4)[0]
            body = pos + 8
            if cid == b"MTrk":
                tracks.append(self._scan_track(buf, body, body + clen, len(tracks)))
                pos = body + clen
                continue
            if all(0x20 <= c < 0x7F for c in cid) and body + clen <= n:
                self.warn(f"skipped unknown chunk {cid.decode('ascii')!r} at byte {self.base + pos:#x}")
                pos = body + clen
                continue
            break  # not a chunk: trailing garbage
        if pos < n:
            self.warn(f"ignored {n - pos} byte{'s' if n - pos != 1 else ''} after the last chunk")
        if len(tracks) != ntracks:
            self.warn(f"header declares {ntracks} tracks, file has {len(tracks)}")
        if not tracks:
            self.warn("file has no tracks")
        if fmt == 0 and len(tracks) > 1:
            self.warn(f"format 0 file has {len(tracks)} tracks; merged as format 1")
        self._summarise_dropped()

        # timing
        use_tempo = tpb is not None  # an SMPTE division ignores tempo events
        events_times: list[np.ndarray] = []
        tempo_points: list[tuple[int, int]] = []  # (numerator of the time, us per quarter)
        bad_tempo = 0

        def tempo_rates(pairs) -> list[tuple[int, int]]:
            nonlocal bad_tempo
            out = []
            for tick, tempo in pairs:
                if tempo <= 0:
                    bad_tempo += 1
                elif use_tempo:
                    out.append((tick, tempo * 10))
            return out

        if fmt == 2:
            # independent sequences, one after another
            base = 0
            for tr in tracks:
                tmap = _TempoMap(den, rate0, tempo_rates(tr.tempos), base)
                if use_tempo:
                    tempo_points.extend(zip(tmap.nums, (r // 10 for r in tmap.rates)))
                if tr.ticks:
                    events_times.append(self._times(tmap, tr.ticks))
                base = tmap.num(tr.end_tick)
            end_num = base
        else:
            merged = [(tick, tr.index, tempo) for tr in tracks for tick, tempo in tr.tempos]
            merged.sort(key=lambda x: (x[0], x[1]))  # stable: file order within a track
            tmap = _TempoMap(den, rate0, tempo_rates((t, v) for t, _, v in merged))
            if use_tempo:
                tempo_points = list(zip(tmap.nums, (r // 10 for r in tmap.rates)))
            all_ticks = [t for tr in tracks for t in tr.ticks]
            if all_ticks:
                events_times.append(self._times(tmap, all_ticks))
            end_num = tmap.num(max((tr.end_tick for tr in tracks), default=0))
        duration = (2 * end_num + den) // (2 * den)
        tempo_by_time: dict[int, int] = {}
        for num, tempo in tempo_points:  # at one time the last change wins
            tempo_by_time[(2 * num + den) // (2 * den)] = tempo
        tempo_changes = sorted(tempo_by_time.items())
        if bad_tempo:
            self.warn(f"ignored {bad_tempo} tempo event{'s' if bad_tempo != 1 else ''} of zero tempo")
        if duration >= (1 << 63):
            self.fail("event times out of range (song longer than 29000 years)")

        # merge
        if events_times:
            times = np.concatenate(events_times) if len(events_times) > 1 else events_times[0]
        else:
            times = np.zeros(0, dtype=np.int64)
        groups = np.concatenate([tr.group_array() for tr in tracks]) if tracks else np.zeros(0, dtype=np.int64)
        datas = [d for tr in tracks for d in tr.datas]
        track_of = (
            np.concatenate([np.full(len(tr.datas), tr.index, dtype=np.int32) for tr in tracks])
            if tracks
            else np.zeros(0, dtype=np.int32)
        )
        if len(times) > 1 and np.any(times[1:] < times[:-1]):
            order = np.argsort(times, kind="stable")
            times = times[order]
            groups = groups[order]
            track_of = track_of[order]
            datas = [datas[i] for i in order.tolist()]
        if len(groups) and int(groups.max()) > MAX_CHANNEL_GROUPS:
            keep = groups <= MAX_CHANNEL_GROUPS
            over = len(self.devices) - MAX_CHANNEL_GROUPS
            self.warn(
                f"{len(self.devices)} device names: the first {MAX_CHANNEL_GROUPS} get channel groups; "
                f"the {int((~keep).sum())} events of the {over} more are dropped"
            )
            times, groups, track_of = times[keep], groups[keep], track_of[keep]
            datas = [d for d, k in zip(datas, keep.tolist()) if k]
            for tr in tracks:
                tr.marks = [(i, g if g <= MAX_CHANNEL_GROUPS else 0) for i, g in tr.marks]
        times = np.ascontiguousarray(times, dtype=np.int64)
        # tuple.__new__ skips the named tuple's Python-level __new__: 3x faster here.
        events = list(map(tuple.__new__, repeat(TimedMessage), zip(times.tolist(), groups.tolist(), datas)))
        if not events:
            self.warn("no playable events")

        infos = []
        for tr in tracks:
            g = tr.group_array()
            infos.append(
                TrackInfo(tr.index, tr.name, len(tr.ticks), tr.end_tick, frozenset(_distinct(g)), tr.port, tr.device)
            )
        return Song(
            source=self.name,
            format=fmt,
            ticks_per_beat=tpb,
            smpte_division=smpte,
            events=events,
            times=times,
            duration_100ns=int(duration),
            tracks=infos,
            channel_groups=set(_distinct(groups)),
            tempo_changes=tempo_changes,
            warnings=self.warnings,
            event_tracks=track_of,
            title=self.title,
            copyright=self.copyright,
            smpte_offset_100ns=self.smpte_offset,
        )

    def _times(self, tmap: _TempoMap, ticks: list[int]) -> np.ndarray:
        # Ticks fit int64 (< 2^28 per delta, < 2^32 events in a file); the numerators may
        # not, and then the arithmetic runs on Python integers.
        arr = np.asarray(ticks, dtype=np.int64)
        nums = tmap.nums_of(arr, max(ticks))
        den = tmap.den
        times = (2 * nums + den) // (2 * den)
        if nums.dtype == object:
            if max(times) >= (1 << 63):
                self.fail("event times out of range (song longer than 29000 years)")
            times = times.astype(np.int64)
        return times

    def _summarise_dropped(self):
        for status in sorted(self.illegal):
            count = self.illegal[status]
            self.warn(
                f"dropped {count} {_SYSTEM_NAMES.get(status, 'system')} message"
                f"{'s' if count != 1 else ''} (0x{status:02X}): not allowed in a MIDI file"
            )
        if self.clamped:
            self.warn(f"clamped {self.clamped} data byte{'s' if self.clamped != 1 else ''} > 127 to 127")
        if self.escape_junk:
            self.warn(
                f"dropped {self.escape_junk} undecodable byte{'s' if self.escape_junk != 1 else ''} in F7 escape events"
            )

    # -- one track ----------------------------------------------------------------------
    def _scan_track(self, buf: bytes, pos: int, declared_end: int, index: int) -> _TrackResult:
        tr = _TrackResult(index)
        tno = index + 1
        n = len(buf)
        end = declared_end
        if end > n:
            end = n

        def truncated(at: int):
            where = "end of file" if at >= n else "end of chunk"
            self.fail(f"truncated track {tno} at byte {self.base + at:#x} ({where} inside an event)")

        ticks = tr.ticks
        datas = tr.datas
        add_tick = ticks.append
        add_data = datas.append
        tick = 0
        running = 0
        pending: bytearray | None = None  # a split sysex waiting for its F7 continuation
        first_group_tick: int | None = None
        cur_port: int | None = None
        clamped = 0

        while pos < end:
            # delta time (variable-length quantity)
            b = buf[pos]
            pos += 1
            if b & 0x80:
                delta = b & 0x7F
                while True:
                    if pos >= end:
                        truncated(pos)
                    b = buf[pos]
                    pos += 1
                    delta = (delta << 7) | (b & 0x7F)
                    if not b & 0x80:
                        break
                tick += delta
            else:
                tick += b
            if pos >= end:
                truncated(pos)
            status = buf[pos]

            if status < 0xF0:  # channel message, the common case
                if status & 0x80:
                    running = status
                    pos += 1
                elif running:
                    status = running
                else:
                    self.fail(
                        f"track {tno}: data byte 0x{status:02X} without a status byte at byte {self.base + pos:#x}"
                    )
                if (status & 0xE0) == 0xC0:  # program change, channel pressure
                    if pos >= end:
                        truncated(pos)
                    d1 = buf[pos]
                    if d1 & 0x80:
                        d1 = 0x7F
                        clamped += 1
                    pos += 1
                    add_data(bytes((status, d1)))
                else:
                    if pos + 2 > end:
                        truncated(end)
                    d1 = buf[pos]
                    d2 = buf[pos + 1]
                    if (d1 | d2) & 0x80:
                        if d1 & 0x80:
                            d1 = 0x7F
                            clamped += 1
                        if d2 & 0x80:
                            d2 = 0x7F
                            clamped += 1
                    pos += 2
                    add_data(bytes((status, d1, d2)))
                add_tick(tick)
                continue

            pos += 1
            if status == 0xFF or status == 0xF0 or status == 0xF7:
                if status == 0xFF:
                    if pos >= end:
                        truncated(pos)
                    mtype = buf[pos]
                    pos += 1
                # length (variable-length quantity)
                length = 0
                while True:
                    if pos >= end:
                        truncated(pos)
                    b = buf[pos]
                    pos += 1
                    length = (length << 7) | (b & 0x7F)
                    if not b & 0x80:
                        break
                if pos + length > end:
                    truncated(end)
                payload = buf[pos : pos + length]
                pos += length

                if status == 0xFF:
                    if mtype == 0x2F:  # end of track
                        tr.has_eot = True
                        break
                    if mtype == 0x51:
                        if length == 3:
                            tr.tempos.append((tick, (payload[0] << 16) | (payload[1] << 8) | payload[2]))
                        else:
                            self.warn(f"track {tno}: tempo event of {length} bytes ignored")
                    elif mtype == 0x21 or mtype == 0x09:
                        if mtype == 0x21:
                            if length < 1:
                                self.warn(f"track {tno}: empty MIDI port event ignored")
                                continue
                            cur_port = payload[0]
                            if tr.port is None:
                                tr.port = cur_port
                            group = cur_port + 1
                        else:
                            device = _decode_text(payload)
                            if tr.device is None:
                                tr.device = device
                            group = self.devices.setdefault(device, len(self.devices) + 1)
                            if cur_port is not None:
                                continue  # within one track the port wins over the device
                        self._set_group(tr, tick, group, first_group_tick)
                        if first_group_tick is None:
                            first_group_tick = tick
                    elif mtype == 0x03:
                        if tr.name is None:
                            tr.name = _decode_text(payload)
                            if index == 0 and self.title is None:
                                self.title = tr.name
                    elif mtype == 0x02:
                        if self.copyright is None:
                            self.copyright = _decode_text(payload)
                    elif mtype == 0x54:
                        if index == 0 and self.smpte_offset is None and length >= 5:
                            self.smpte_offset = _smpte_offset_100ns(payload)
                    continue

                if status == 0xF0:
                    if pending is not None:
                        self.warn(
                            f"track {tno}: unterminated sysex dropped (new F0 at byte "
                            f"{self.base + pos - length - 1:#x})"
                        )
                        pending = None
                    if payload[:1] == b"\xf0":  # some writers repeat the F0
                        payload = payload[1:]
                    if payload[-1:] == b"\xf7":
                        add_data(b"\xf0" + payload)
                        add_tick(tick)
                    else:
                        pending = bytearray(b"\xf0")
                        pending += payload
                    continue

                # F7: continuation packet, or escape
                if pending is not None:
                    pending += payload
                    if payload[-1:] == b"\xf7":
                        add_data(bytes(pending))
                        add_tick(tick)
                        pending = None
                    continue
                msgs, pending = self._split_escape(payload)
                for m in msgs:
                    add_data(m)
                    add_tick(tick)
                continue

            # F1..F6, F8..FE: not allowed in a file; skip it and its data bytes
            self.illegal[status] = self.illegal.get(status, 0) + 1
            for _ in range(_SYSTEM_DATA_LEN.get(status, 0)):
                if pos < end and buf[pos] < 0x80:
                    pos += 1

        self.clamped += clamped
        if pending is not None:
            self.warn(f"track {tno}: unterminated sysex at the end of the track dropped")
        if tr.has_eot:
            if pos < end:
                self.warn(f"track {tno}: {end - pos} bytes after end-of-track ignored")
        else:
            self.warn(f"track {tno}: no end-of-track event")
        if declared_end > n and not tr.has_eot:
            truncated(n)
        elif declared_end > n:
            self.warn(f"track {tno}: chunk length runs past the end of the file")
        tr.end_tick = tick
        return tr

    @staticmethod
    def _set_group(tr: _TrackResult, tick: int, group: int, first_group_tick: int | None):
        ticks = tr.ticks
        idx = len(ticks)
        if first_group_tick is None or first_group_tick == tick:
            # the track's first assignment also covers events at its own tick before it
            while idx and ticks[idx - 1] == tick:
                idx -= 1
            marks = tr.marks
            while marks and marks[-1][0] >= idx:
                marks.pop()
            marks.append((idx, group))
        else:
            tr.marks.append((idx, group))

    def _split_escape(self, payload: bytes) -> tuple[list[bytes], bytearray | None]:
        """Read the bytes of an F7 escape event as a MIDI byte stream."""
        msgs: list[bytes] = []
        i, n = 0, len(payload)
        while i < n:
            b = payload[i]
            if b == 0xF0:
                j = payload.find(b"\xf7", i + 1)
                if j < 0:
                    return msgs, bytearray(payload[i:])
                msgs.append(bytes(payload[i : j + 1]))
                i = j + 1
            elif 0x80 <= b < 0xF0:
                size = 2 if (b & 0xE0) == 0xC0 else 3
                body = payload[i + 1 : i + size]
                if len(body) == size - 1 and all(c < 0x80 for c in body):
                    msgs.append(bytes(payload[i : i + size]))
                    i += size
                else:
                    self.escape_junk += 1
                    i += 1
            elif b >= 0xF1 and b != 0xF7:
                self.illegal[b] = self.illegal.get(b, 0) + 1
                i += 1
                for _ in range(_SYSTEM_DATA_LEN.get(b, 0)):
                    if i < n and payload[i] < 0x80:
                        i += 1
            else:  # data byte without status, or a lone F7
                self.escape_junk += 1
                i += 1
        return msgs, None


def _smpte_offset_100ns(payload: bytes) -> int:
    """SMPTE offset meta event (FF 54 05 hr mn se fr ff) as 100 ns from 00:00:00:00."""
    hr, mn, se, fr, ff = payload[:5]
    rate_code = (hr >> 5) & 3
    hours = hr & 0x1F
    from fractions import Fraction

    rate = Fraction(*_SMPTE_OFFSET_RATES[rate_code])
    if rate_code == 2:
        # 29.97 drop-frame labels skip frame numbers 0 and 1 at every minute but each
        # tenth: turn the label into a frame count, then frames into time.
        minutes = hours * 60 + mn
        frames = (minutes * 60 + se) * 30 + fr - 2 * (minutes - minutes // 10)
        seconds = (frames + Fraction(ff, 100)) / rate
    else:
        seconds = hours * 3600 + mn * 60 + se + (fr + Fraction(ff, 100)) / rate
    value = seconds * _HUNDRED_NS_PER_SECOND
    return int((2 * value.numerator + value.denominator) // (2 * value.denominator))
