"""The synth: ISynthSinkDMus over the native engine.

`Synth` is the DirectMusic software synth as the port driver sees it: an MXF sink that
takes kernel events (``IMXF::PutMessage``), holds downloaded DLS collections, and renders
wave data for the wave sink (``ISynthSinkDMus::Render``), with the map between reference
time and sample time (``RefTimeToSample``, ``SampleToRefTime``, ``SyncToMaster``).

Every event is converted once, here, into an engine event stamped with the absolute frame
its presentation time maps to; the engine applies it at exactly that frame inside whatever
block is being rendered, so the sound does not depend on block sizes or on which sink pulls.

Collections: several may be downloaded at once; for a given patch (bank, program, drum
flag) the collection downloaded LAST wins. Instruments reach the engine the first time a
channel selects them (or all at once with ``preload=True``): downloading never happens on
the render thread.

Channel groups are numbered from 1; an event for group 0 goes to every group, as in
DirectMusic. The engine channel of (group g, MIDI channel c) is ``(g - 1) * 16 + c``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

import dls
from dls.model import Collection, Instrument
from native.engine import Engine

from . import channels as chmod
from .events import EVENT_INCOMPLETE, PACKAGE_EVENT, SysexAssembler
from .timebase import TimeMap

# Engine event types (mirrors of ENG_EV_* in native/engine.h).
from native import lib as _lib

EV_NOTE_ON = _lib.ENG_EV_NOTE_ON
EV_NOTE_OFF = _lib.ENG_EV_NOTE_OFF
EV_CONTROL = _lib.ENG_EV_CONTROL
EV_PITCH_BEND = _lib.ENG_EV_PITCH_BEND
EV_CHANNEL_PRESSURE = _lib.ENG_EV_CHANNEL_PRESSURE
EV_POLY_PRESSURE = _lib.ENG_EV_POLY_PRESSURE
EV_PROGRAM = _lib.ENG_EV_PROGRAM
EV_PARAM = _lib.ENG_EV_PARAM
EV_MASTER_VOLUME = _lib.ENG_EV_MASTER_VOLUME
EV_RESET_ALL = _lib.ENG_EV_RESET_ALL
PARAM_BEND_RANGE = _lib.ENG_PARAM_BEND_RANGE
PARAM_FINE_TUNE = _lib.ENG_PARAM_FINE_TUNE
PARAM_COARSE_TUNE = _lib.ENG_PARAM_COARSE_TUNE

MAX_CHANNEL_GROUPS = 1000
DEFAULT_SAMPLE_RATE = 48000
# Headroom for polyphony: a GM bank's single notes peak near full scale, so the mix is
# turned down as FluidSynth does (its synth.gain 0.2 is -14 dB). Users change it with gain_db.
DEFAULT_GAIN_DB = -12.0

_DRUM_FLAG = dls.constants.F_INSTRUMENT_DRUMS


@dataclass
class CollectionHandle:
    """A downloaded collection (what IDirectMusicPort::DownloadInstrument works on)."""

    id: int
    collection: Collection
    wave_ids: list[int | None] = field(default_factory=list)  # pool index -> engine wave id
    engine_ids: dict[int, int] = field(default_factory=dict)  # instrument index -> engine id
    loaded: bool = True

    @property
    def name(self) -> str:
        return self.collection.name or (self.collection.source or f"collection {self.id}")


@dataclass
class SynthCounters:
    """What went wrong, counted (never raised on the event path)."""

    events: int = 0
    malformed: int = 0
    unknown_sysex: int = 0
    dropped_group: int = 0  # events for a channel group that is not open
    ring_full: int = 0
    missing_patches: dict[tuple[int, int], int] = field(default_factory=dict)
    fallbacks: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)


def patch_text(bank: int, program: int) -> str:
    kind = "drum kit" if bank & _DRUM_FLAG else "program"
    return f"{kind} {program} (bank MSB {(bank >> 8) & 0x7F}, LSB {bank & 0x7F})"


class Synth:
    """ISynthSinkDMus: the DLS synth behind a DirectMusic port.

    sample_rate: output rate (Hz). channel_groups: how many groups of 16 channels (1..1000).
    voices: polyphony (default 256, up to 4096). interpolation: 'linear', 'cubic' (default)
    or 'sinc'. effects: reverb and chorus on. gain_db: master gain (default -12 dB of
    headroom for polyphony).
    """

    def __init__(self, sample_rate: int = DEFAULT_SAMPLE_RATE, channel_groups: int = 1, voices: int = 256,
                 interpolation: str = "cubic", effects: bool = True, *, gain_db: float = DEFAULT_GAIN_DB,
                 event_capacity: int = 1 << 16):
        if not 1 <= int(channel_groups) <= MAX_CHANNEL_GROUPS:
            raise ValueError(f"channel_groups must be 1..{MAX_CHANNEL_GROUPS}, got {channel_groups}")
        self.engine = Engine(sample_rate, voices, int(channel_groups), interpolation, effects,
                             event_capacity=event_capacity)
        self.engine.master_gain = 10.0 ** (float(gain_db) / 20.0)
        self.sample_rate = int(sample_rate)
        self.channel_groups = int(channel_groups)
        self.time_map = TimeMap(self.sample_rate)
        self.channels = [chmod.ChannelState(i) for i in range(self.channel_groups * 16)]
        self.sysex = SysexAssembler()
        self.counters = SynthCounters()
        self._handles: list[CollectionHandle] = []
        self._next_handle = 1
        self._patches: dict[tuple[int, int], tuple[CollectionHandle, int]] = {}
        self._lock = threading.RLock()  # producer-side state (never taken by render)
        self._warned: set[str] = set()
        self.warnings: list[str] = []
        self._reported = 0
        self._push = self.engine.push

    # ------------------------------------------------------------------ collections
    def download(self, collection: Collection, *, preload: bool = False) -> CollectionHandle:
        """Download a DLS collection; later downloads take precedence per patch.

        With ``preload`` every instrument (and its waves) goes to the engine now; otherwise
        each instrument goes the first time a channel selects it.
        """
        with self._lock:
            h = CollectionHandle(self._next_handle, collection, [None] * len(collection.waves))
            self._next_handle += 1
            self._handles.append(h)
            self._rebuild_patches()
            if preload:
                for i in range(len(collection.instruments)):
                    self._engine_instrument(h, i)
            self._reselect_all()
            return h

    def download_file(self, path, *, preload: bool = False) -> CollectionHandle:
        return self.download(dls.read(path), preload=preload)

    def unload(self, handle: CollectionHandle) -> None:
        """Unload a collection while rendering: its voices fade; channels fall back to what
        the remaining collections offer for their patch."""
        with self._lock:
            if not handle.loaded:
                return
            handle.loaded = False
            self._handles.remove(handle)
            self._rebuild_patches()
            self._reselect_all()
            t = self.engine.position
            for iid in handle.engine_ids.values():
                self.engine.unload_instrument(iid, t)
            handle.engine_ids.clear()

    def service(self) -> None:
        """Free what the render thread has finished with (IMiniportDMus::Service)."""
        with self._lock:
            self.engine.collect()

    def take_warnings(self) -> list[str]:
        """Warnings not yet reported (for Miniport.service); also frees finished instruments."""
        self.service()
        n = self._reported
        self._reported = len(self.warnings)
        return self.warnings[n:]

    @property
    def collections(self) -> list[CollectionHandle]:
        return list(self._handles)

    def _rebuild_patches(self) -> None:
        table: dict[tuple[int, int], tuple[CollectionHandle, int]] = {}
        for h in self._handles:  # later handles overwrite earlier ones
            for i, ins in enumerate(h.collection.instruments):
                table[(ins.bank, ins.program)] = (h, i)
        self._patches = table

    def _engine_instrument(self, h: CollectionHandle, index: int) -> int:
        iid = h.engine_ids.get(index)
        if iid is not None:
            return iid
        ins: Instrument = h.collection.instruments[index]
        for r in ins.regions:
            ti = r.wave_link.table_index
            if ti < len(h.wave_ids) and h.wave_ids[ti] is None:
                w = h.collection.waves[ti]
                h.wave_ids[ti] = self.engine.download_wave(w) if w.supported else -1
        iid = self.engine.download_instrument(ins, [(-1 if w is None else w) for w in h.wave_ids])
        h.engine_ids[index] = iid
        for msg in self.engine.instrument_warnings(iid):
            self._warn_once(f"{ins.name or patch_text(ins.bank, ins.program)}: {msg}")
        return iid

    def resolve(self, bank: int, program: int) -> tuple[int, tuple[int, int] | None]:
        """The engine instrument for a patch, with GM fallbacks: a missing variation falls
        back to bank 0 of the same program, a missing drum kit to the standard kit (0).
        Returns (engine id or -1, the patch actually used or None)."""
        hit = self._patches.get((bank, program))
        used = (bank, program)
        if hit is None:
            drum = bank & _DRUM_FLAG
            for fb in ((drum, program), (drum, 0)) if drum else ((0, program),):
                hit = self._patches.get(fb)
                if hit is not None:
                    used = fb
                    break
        if hit is None:
            return -1, None  # said when a note is played on it (_missing_note)
        if used != (bank, program) and (bank, program) not in self.counters.fallbacks:
            self.counters.fallbacks[(bank, program)] = used
            self._warn_once(f"no instrument for {patch_text(bank, program)}; using {patch_text(*used)}")
        h, index = hit
        return self._engine_instrument(h, index), used

    def _select(self, sample: int, ch: chmod.ChannelState) -> None:
        bank_raw = ((ch.bank_msb & 0x7F) << 8) | (ch.bank_lsb & 0x7F)
        if ch.is_drum_bank():
            # A rhythm bank select (GM2 120, XG 126/127) names a kit, not a GS/DLS bank.
            if ch.bank_msb in (chmod.GM2_RHYTHM_MSB,) + chmod.XG_DRUM_MSBS:
                bank_raw = 0
            bank_raw |= _DRUM_FLAG
        elif ch.bank_msb == chmod.GM2_MELODY_MSB:
            bank_raw = ch.bank_lsb & 0x7F  # GM2 variation number as the LSB
        patch = (bank_raw, ch.program)
        with self._lock:
            iid, _ = self.resolve(*patch)
        ch.patch = patch
        ch.instrument_id = iid
        self._send(sample, EV_PROGRAM, ch.index, iid, 0)

    def _reselect_all(self) -> None:
        """Select (again) every channel's patch: after a download or unload the best
        instrument for a patch may have changed. Channels start on program 0, bank 0
        (channel 10 of every group on the standard drum kit), as on a GM synth."""
        t = self.engine.position
        for ch in self.channels:
            self._select(t, ch)

    def _missing_note(self, ch: chmod.ChannelState) -> None:
        patch = ch.patch or (0, 0)
        n = self.counters.missing_patches.get(patch, 0)
        self.counters.missing_patches[patch] = n + 1
        if n == 0:
            self._warn_once(f"no instrument for {patch_text(*patch)} in any bank: its notes are silent")

    def _warn_once(self, msg: str) -> None:
        if msg not in self._warned:
            self._warned.add(msg)
            self.warnings.append(msg)

    # ------------------------------------------------------------------ time
    def ref_time_to_sample(self, ref_time: int) -> int:
        """ISynthSinkDMus::RefTimeToSample."""
        return self.time_map.ref_time_to_sample(ref_time)

    def sample_to_ref_time(self, sample_time: int) -> int:
        """ISynthSinkDMus::SampleToRefTime."""
        return self.time_map.sample_to_ref_time(sample_time)

    def sync_to_master(self, ref_time: int, sample_time: int) -> float:
        """ISynthSinkDMus::SyncToMaster: the wave sink saw master time ``ref_time`` at frame
        ``sample_time``; returns the mapping error in samples."""
        return self.time_map.sync_to_master(ref_time, sample_time)

    def start(self, ref_time: int, sample_time: int | None = None) -> None:
        """Anchor the time map: master time ``ref_time`` is frame ``sample_time`` (default:
        the engine's position)."""
        self.time_map.start(ref_time, self.engine.position if sample_time is None else sample_time)

    # ------------------------------------------------------------------ events
    def put_message(self, evt) -> None:
        """IMXF::PutMessage: take a kernel event (or chain), act on it, hand it back to its
        allocator."""
        self._consume_chain(evt)
        owner = evt.owner
        if owner is not None:
            owner.put_message(evt)

    def _consume_chain(self, evt) -> None:
        """Act on every event of a chain, unpacking packages (DMUS_KEF_PACKAGE_EVENT)."""
        e = evt
        while e is not None:
            if e.flags & PACKAGE_EVENT:
                if e.package is not None:
                    self._consume_chain(e.package)
            else:
                self._consume(e)
            e = e.next

    def _consume(self, e) -> None:
        self.counters.events += 1
        n = e.byte_count
        sample = self.time_map.ref_time_to_sample(e.presentation_time)
        if n <= 3 and not (e.flags & EVENT_INCOMPLETE) and n > 0 and e.inline[0] != 0xF0:
            raw = e.inline
            self.short_message(sample, e.channel_group, raw[0], raw[1] if n > 1 else 0, raw[2] if n > 2 else 0, n)
            return
        msg = self.sysex.feed(e)
        if msg is not None:
            self.message(sample, e.channel_group, msg)

    def message(self, sample: int, group: int, data: bytes) -> None:
        """One complete MIDI message (bytes) at an absolute frame, for a channel group."""
        n = len(data)
        if n == 0:
            self.counters.malformed += 1
            return
        if data[0] == 0xF0:
            self.sysex_message(sample, group, bytes(data))
        elif n <= 3:
            self.short_message(sample, group, data[0], data[1] if n > 1 else 0, data[2] if n > 2 else 0, n)
        else:
            self.counters.malformed += 1

    def _group_bases(self, group: int):
        if group == 0:
            return range(0, self.channel_groups * 16, 16)
        if 1 <= group <= self.channel_groups:
            return ((group - 1) * 16,)
        self.counters.dropped_group += 1
        return ()

    def _send(self, sample: int, typ: int, ch: int, a: int, b: int) -> None:
        if not self._push(sample, typ, ch, a, b):
            self.counters.ring_full += 1

    def short_message(self, sample: int, group: int, status: int, d1: int, d2: int, n: int = 3) -> None:
        """A channel voice message (status, data1, data2) at an absolute frame."""
        kind = status & 0xF0
        if status < 0x80 or status >= 0xF0 or d1 > 127 or d2 > 127:
            self.counters.malformed += 1
            return
        need = 2 if kind in (0xC0, 0xD0) else 3
        if n < need:
            self.counters.malformed += 1
            return
        c = status & 0x0F
        send = self._send
        for base in self._group_bases(group):
            ci = base + c
            if kind == 0x90:
                if d2 and self.channels[ci].instrument_id < 0:
                    self._missing_note(self.channels[ci])
                send(sample, EV_NOTE_ON, ci, d1, d2)
            elif kind == 0x80:
                send(sample, EV_NOTE_OFF, ci, d1, 0)
            elif kind == 0xB0:
                self._control(sample, self.channels[ci], d1, d2)
            elif kind == 0xC0:
                ch = self.channels[ci]
                ch.program = d1
                self._select(sample, ch)
            elif kind == 0xE0:
                send(sample, EV_PITCH_BEND, ci, d1 | (d2 << 7), 0)
            elif kind == 0xD0:
                send(sample, EV_CHANNEL_PRESSURE, ci, d1, 0)
            else:  # 0xA0
                send(sample, EV_POLY_PRESSURE, ci, d1, d2)

    def _control(self, sample: int, ch: chmod.ChannelState, cc: int, value: int) -> None:
        ci = ch.index
        if cc == 0:
            ch.bank_msb = value
        elif cc == 32:
            ch.bank_lsb = value
        elif cc == 101:
            ch.rpn_msb, ch.nrpn = value, False
        elif cc == 100:
            ch.rpn_lsb, ch.nrpn = value, False
        elif cc in (99, 98):
            ch.nrpn = True  # NRPNs are not defined for DLS: their data entries are ignored
        elif cc == 6 or cc == 38 or cc == 96 or cc == 97:
            self._data_entry(sample, ch, cc, value)
        elif cc == 121:
            ch.reset_rpn()
            self._send(sample, EV_CONTROL, ci, cc, value)
        elif 124 <= cc <= 127:
            # Omni/mono/poly mode messages imply all notes off.
            self._send(sample, EV_CONTROL, ci, 123, 0)
        else:
            self._send(sample, EV_CONTROL, ci, cc, value)

    def _data_entry(self, sample: int, ch: chmod.ChannelState, cc: int, value: int) -> None:
        if ch.nrpn or (ch.rpn_msb, ch.rpn_lsb) == chmod.RPN_NULL:
            return
        if cc == 6:
            ch.data_msb = value
            ch.data_lsb = 0
        elif cc == 38:
            ch.data_lsb = value
        else:
            v14 = (ch.data_msb << 7) | ch.data_lsb
            v14 = min(16383, v14 + 1) if cc == 96 else max(0, v14 - 1)
            ch.data_msb, ch.data_lsb = v14 >> 7, v14 & 0x7F
        rpn = (ch.rpn_msb, ch.rpn_lsb)
        ci = ch.index
        if rpn == chmod.RPN_BEND_RANGE:
            self._send(sample, EV_PARAM, ci, PARAM_BEND_RANGE, ch.data_msb * 100 + min(ch.data_lsb, 99))
        elif rpn == chmod.RPN_FINE_TUNE:
            v14 = (ch.data_msb << 7) | ch.data_lsb
            self._send(sample, EV_PARAM, ci, PARAM_FINE_TUNE, int(round((v14 - 8192) * 100 / 8192)))
        elif rpn == chmod.RPN_COARSE_TUNE:
            self._send(sample, EV_PARAM, ci, PARAM_COARSE_TUNE, ch.data_msb - 64)

    def sysex_message(self, sample: int, group: int, msg: bytes) -> None:
        kind, arg = chmod.classify_sysex(msg)
        if kind is None:
            self.counters.unknown_sysex += 1
            return
        if kind == "reset":
            self.reset(sample, group)
        elif kind == "master_volume":
            self._send(sample, EV_MASTER_VOLUME, 0, chmod.master_volume_millibels(arg), 0)
        elif kind == "gs_rhythm":
            c, drum = arg
            for base in self._group_bases(group):
                ch = self.channels[base + c]
                ch.drum = drum
                self._select(sample, ch)

    def reset(self, sample: int, group: int = 0) -> None:
        """GM/GS/XG reset: every channel back to its defaults (drums on channel 10)."""
        self._send(sample, EV_RESET_ALL, 0, 0, 0)
        for ch in self.channels:
            ch.reset()
        # Channels start on program 0 of bank 0 (drums: the standard kit).
        for ch in self.channels:
            self._select(sample, ch)

    # ------------------------------------------------------------------ render
    def render(self, out: np.ndarray | None = None, frames: int | None = None, position: int | None = None) -> np.ndarray:
        """ISynthSinkDMus::Render: the next ``frames`` frames (or ``len(out)``) as interleaved
        stereo float32 of shape (frames, 2). ``position`` is where the sink believes the
        stream is; the engine's own position is authoritative."""
        return self.engine.render(frames, out)

    @property
    def position(self) -> int:
        """The absolute frame the next render starts at."""
        return self.engine.position

    def stats(self) -> dict:
        s = self.engine.stats()
        s.update(
            events=self.counters.events, malformed=self.counters.malformed,
            unknown_sysex=self.counters.unknown_sysex, dropped_group=self.counters.dropped_group,
            ring_full=self.counters.ring_full,
        )
        return s

    def close(self) -> None:
        self.engine.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
