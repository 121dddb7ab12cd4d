"""The synth: ISynthSinkDMus over the native engine.

`Synth` is the DirectMusic software synth as the port driver sees it: an MXF sink that
takes kernel events (``IMXF::PutMessage``), holds downloaded DLS collections, and renders
wave data for the wave sink (``ISynthSinkDMus::Render``), with the map between reference
time and sample time (``RefTimeToSample``, ``SampleToRefTime``, ``SyncToMaster``).

MIDI meaning (bank select, program change, RPNs, GM/GS/XG resets, drum parts) lives in C
(native/midi.c) and is applied on the render thread in time order; this class stamps each
message with the absolute frame its presentation time maps to and queues it, so the sound
does not depend on block sizes, on which sink pulls, or on which thread pushed.

Collections: several may be downloaded at once; for a given patch (bank, program, drum
flag) the collection downloaded LAST wins. Instruments reach the engine at download (all of
them), or with ``lazy=True`` only those a song will select (`prepare`, from a scan of its
messages in C): downloading never happens on the render thread.

Channel groups are numbered from 1; an event for group 0 goes to every group, as in
DirectMusic. The engine channel of (group g, MIDI channel c) is ``(g - 1) * 16 + c``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from dlsynth import dls
from dlsynth.dls.model import Collection, Instrument
from dlsynth.native import ffi as _ffi
from dlsynth.native import lib as _lib
from dlsynth.native.engine import MAX_CHANNEL_GROUPS, REPORT_FALLBACK, REPORT_MISSING, Engine, EngineFull
from dlsynth.options import DEFAULT_GAIN_DB, DEFAULT_INTERPOLATION, DEFAULT_SAMPLE_RATE, DEFAULT_VOICES

from .download import download_instrument, sf2_origin
from .events import EVENT_INCOMPLETE, PACKAGE_EVENT, SysexAssembler
from .timebase import TimeMap

_DRUM_FLAG = dls.constants.F_INSTRUMENT_DRUMS
_KEY_DRUM = 1 << 21


def patch_key(bank: int, program: int) -> int:
    """The engine's patch key (eng_patch_key) of a DLS ulBank and program."""
    return int(_lib.eng_patch_key(1 if bank & _DRUM_FLAG else 0, (bank >> 8) & 0x7F, bank & 0x7F, program & 0x7F))


def _load_order(key: int) -> tuple[int, int]:
    """Background downloads: GM's bank 0 programs and the standard kits first, then
    variations, in program order."""
    return ((key >> 7) & 0x3FFF != 0, key & ~(1 << 21))


def _collapse_regions(messages: list[str]) -> list[str]:
    """One line per kind of region warning: "NAME region 3: X", "NAME region 4: X" become
    "NAME regions 3, 4: X" (a bank converted from SF2 repeats one oddity region after region)."""
    import re

    groups: dict[tuple[str, str], list[str]] = {}
    order: list[tuple[str, str]] = []
    for m in messages:
        hit = re.match(r"(.*?)region (\d+): (.*)$", m)
        key = (hit.group(1), hit.group(3)) if hit else (m, "")
        if key not in groups:
            groups[key] = []
            order.append(key)
        if hit:
            groups[key].append(hit.group(2))
    out = []
    for key in order:
        nums = groups[key]
        if not nums:
            out.append(key[0])
        elif len(nums) == 1:
            out.append(f"{key[0]}region {nums[0]}: {key[1]}")
        else:
            shown = ", ".join(nums[:4]) + (f" and {len(nums) - 4} more" if len(nums) > 4 else "")
            out.append(f"{key[0]}regions {shown}: {key[1]}")
    return out


def patch_of_key(key: int) -> tuple[int, int]:
    """(ulBank, program) of a patch key."""
    bank = (((key >> 14) & 0x7F) << 8) | ((key >> 7) & 0x7F) | (_DRUM_FLAG if key & _KEY_DRUM else 0)
    return bank, key & 0x7F


def patch_fallbacks(key: int) -> list[int]:
    """The keys a select of `key` tries, in order: the exact select, its GM2/XG reading, then
    GM fallbacks (decided in C, eng_patch_fallbacks)."""
    out = _ffi.new("uint32_t[]", _lib.ENG_PATCH_TRIES_MAX)
    n = _lib.eng_patch_fallbacks(int(key), out)
    return [int(out[i]) for i in range(n)]


@dataclass
class CollectionHandle:
    """A downloaded collection (what IDirectMusicPort::DownloadInstrument works on)."""

    id: int
    collection: Collection
    wave_ids: list[int | None] = field(default_factory=list)  # pool index -> engine wave id
    engine_ids: dict[int, int] = field(default_factory=dict)  # instrument index -> engine id
    loaded: bool = True
    lazy: bool = False

    @property
    def name(self) -> str:
        return self.collection.name or (self.collection.source or f"collection {self.id}")


@dataclass
class SynthCounters:
    """What went wrong, counted (never raised on the event path). The MIDI counts are the
    engine's (native/midi.c counts them where it decodes)."""

    engine: Engine
    events: int = 0
    out_of_range: int = 0  # short_message arguments that are not bytes
    #: patch -> how many selects of it had notes that found no instrument
    missing_patches: dict[tuple[int, int], int] = field(default_factory=dict)
    fallbacks: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)

    @property
    def malformed(self) -> int:
        return self.engine.stats()["malformed_midi"] + self.out_of_range

    @property
    def unknown_sysex(self) -> int:
        return self.engine.stats()["ignored_sysex"]

    @property
    def dropped_group(self) -> int:
        return self.engine.stats()["dropped_group"]


def patch_text(bank: int, program: int) -> str:
    kind = "drum kit" if bank & _DRUM_FLAG else "program"
    return f"{kind} {program} (bank MSB {(bank >> 8) & 0x7F}, LSB {bank & 0x7F})"


class Synth:
    """ISynthSinkDMus: the DLS synth behind a DirectMusic port.

    sample_rate: output rate (Hz). channel_groups: how many groups of 16 channels (1..1000).
    voices: polyphony (default DEFAULT_VOICES, up to the engine's MAX_VOICES). interpolation:
    one of dlsynth.options.INTERPOLATIONS (default DEFAULT_INTERPOLATION). effects: reverb
    and chorus on. gain_db: master gain (default DEFAULT_GAIN_DB: headroom for polyphony). threads: threads rendering each block (the output is the same
    for every count).
    """

    def __init__(
        self,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        channel_groups: int = 1,
        voices: int = DEFAULT_VOICES,
        interpolation: str = DEFAULT_INTERPOLATION,
        effects: bool = True,
        *,
        gain_db: float = DEFAULT_GAIN_DB,
        event_capacity: int = 1 << 16,
        threads: int = 1,
    ):
        if not 1 <= int(channel_groups) <= MAX_CHANNEL_GROUPS:
            raise ValueError(f"channel_groups must be 1..{MAX_CHANNEL_GROUPS}, got {channel_groups}")
        self.engine = Engine(
            sample_rate,
            voices,
            int(channel_groups),
            interpolation,
            effects,
            event_capacity=event_capacity,
            threads=threads,
        )
        self.engine.master_gain = 10.0 ** (float(gain_db) / 20.0)
        self.sample_rate = int(sample_rate)
        self.channel_groups = int(channel_groups)
        self.time_map = TimeMap(self.sample_rate)
        self.sysex = SysexAssembler()
        self.counters = SynthCounters(self.engine)
        self._handles: list[CollectionHandle] = []
        self._next_handle = 1
        self._patches: dict[int, tuple[CollectionHandle, int]] = {}  # patch key -> (handle, index)
        self._published: dict[int, int] = {}  # patch key -> engine id in the engine's patch table
        self._lock = threading.RLock()  # producer-side state (never taken by render)
        self._warned: set[str] = set()
        self._warnings: list[str] = []
        self._reported = 0
        self._loading = False
        #: drop the Python regions of instruments once in the engine (a big bank's live play)
        self._release_regions = False
        self._read_from: set[int] = set()  # handles whose file mapping was read since the last release

    # ------------------------------------------------------------------ collections
    def download(self, collection: Collection, *, lazy: bool = False, preload: bool | None = None) -> CollectionHandle:
        """Download a DLS collection; later downloads take precedence per patch.

        Every instrument (and its waves) goes to the engine now, unless ``lazy``: then only
        those `prepare` is asked for (a render downloads what its song selects).
        ``preload=True`` is the old spelling of the default.
        """
        if preload:
            lazy = False
        with self._lock:
            h = CollectionHandle(self._next_handle, collection, [None] * len(collection.waves), lazy=lazy)
            self._next_handle += 1
            self._handles.append(h)
            self._rebuild_patches()
            self._publish(None if not lazy else set(self._published))
            return h

    def download_in_background(self, collection: Collection) -> CollectionHandle:
        """Download a collection so that it is playable now: the patches every channel
        selects at power-on first (program 0, the standard drum kit), the rest by
        `download_some` (the Service thread's job)."""
        h = self.download(collection, lazy=True)
        with self._lock:
            self._loading = True
            self._release_regions = True
            self.prepare([patch_key(0, 0), patch_key(_DRUM_FLAG, 0)])
        return h

    def unload(self, handle: CollectionHandle) -> None:
        """Unload a collection while rendering: its voices fade; channels fall back to what
        the remaining collections offer for their patch."""
        with self._lock:
            if not handle.loaded:
                return
            handle.loaded = False
            self._handles.remove(handle)
            self._rebuild_patches()
            self._publish(set(self._published))
            t = self.engine.position
            for iid in handle.engine_ids.values():
                self.engine.unload_instrument(iid, t)
            handle.engine_ids.clear()

    def prepare(self, keys) -> None:
        """Make sure the instruments that selects of these patch keys will play are in the
        engine (with their GM fallbacks), then have every channel select again."""
        with self._lock:
            want = set(self._published)
            for key in keys:
                for k in patch_fallbacks(int(key)):
                    if k in self._patches:
                        want.add(k)
                        break
            self._publish(want)

    def download_some(self, seconds: float) -> bool:
        """Download instruments of lazy collections that are not in the engine yet, for about
        `seconds` (at least one); True when none is left. Live play calls this from the
        Service thread after the stream has started, so a big bank is playable at once; while
        any is left, notes on patches still loading are silent without a warning."""
        import time

        t_end = time.monotonic() + seconds
        with self._lock:
            for key in sorted(self._patches, key=_load_order):
                if key in self._published:
                    continue
                self._publish({key}, reselect=False)
                if time.monotonic() >= t_end:
                    break
            done = all(k in self._published for k in self._patches)
            self.engine.reselect(self.engine.position)
            if done and self._loading:
                self._loading = False
                self.engine.reselect(self.engine.position)
            return done

    @property
    def loading(self) -> bool:
        """Instruments are still being downloaded in the background (`download_some`)."""
        return self._loading

    def prepare_messages(self, groups: np.ndarray, data: bytes, offsets: np.ndarray, lengths: np.ndarray) -> None:
        """`prepare` for the patches a stream of messages selects (scanned in C)."""
        n = len(groups)
        g = np.ascontiguousarray(groups, dtype=np.int32)
        o = np.ascontiguousarray(offsets, dtype=np.int64)
        ln = np.ascontiguousarray(lengths, dtype=np.int32)
        cap = 4096
        keys = np.zeros(cap, dtype=np.uint32)
        got = _lib.eng_scan_patches(
            _ffi.cast("int32_t *", _ffi.from_buffer(g)),
            _ffi.from_buffer(data) if data else _ffi.NULL,
            _ffi.cast("int64_t *", _ffi.from_buffer(o)),
            _ffi.cast("int32_t *", _ffi.from_buffer(ln)),
            n,
            self.engine.channels,
            _ffi.cast("uint32_t *", _ffi.from_buffer(keys)),
            cap,
        )
        if got < 0:  # more distinct patches than that: take them all
            self.prepare(list(self._patches))
        else:
            self.prepare(keys[:got].tolist())

    def _publish(self, keys: set[int] | None, reselect: bool = True) -> None:
        """Bring the engine's patch table in line with the collections for `keys` (None: all
        patches), downloading what is needed, then reselect every channel."""
        t = self.engine.position
        if keys is None:
            keys = set(self._patches) | set(self._published)
        for key in sorted(keys):
            hit = self._patches.get(key)
            iid = self._engine_instrument(*hit) if hit is not None else -1
            if self._published.get(key, -1) != iid:
                self.engine.set_patch(t, key, iid)
                if iid >= 0:
                    self._published[key] = iid
                else:
                    self._published.pop(key, None)
        self._release_read_pages()
        if reselect:
            self.engine.reselect(t)

    def _release_read_pages(self) -> None:
        """The waves just downloaded are in the pool and the regions just read are compiled:
        give back the pages of their banks' file mappings (one call per bank, not one per
        wave; see Collection.release_pages)."""
        if self._read_from:
            for h in self._handles:
                if h.id in self._read_from:
                    h.collection.release_pages()
            self._read_from.clear()

    def service(self) -> None:
        """Free what the render thread has finished with, and turn its reports into
        warnings (IMiniportDMus::Service)."""
        with self._lock:
            if self.engine.closed:
                return
            self.engine.collect()
            reports = self.engine.poll_reports()
            if self._loading:
                return  # patches still loading: what is missing now may not be missing soon
            for r in reports:
                req = patch_of_key(int(r["requested"]))
                if r["kind"] == REPORT_MISSING:
                    n = self.counters.missing_patches.get(req, 0)
                    self.counters.missing_patches[req] = n + 1
                    self._warn_once(f"no instrument for {patch_text(*req)} in any bank: its notes are silent")
                elif r["kind"] == REPORT_FALLBACK:
                    used = patch_of_key(int(r["used"]))
                    if req not in self.counters.fallbacks:
                        self.counters.fallbacks[req] = used
                    self._warn_once(f"no instrument for {patch_text(*req)}; using {patch_text(*used)}")

    @property
    def warnings(self) -> list[str]:
        """Every warning so far (downloads, and the render thread's reports up to now)."""
        self.service()
        return self._warnings

    def take_warnings(self) -> list[str]:
        """Warnings not yet reported (for Miniport.service); also frees finished instruments."""
        self.service()
        n = self._reported
        self._reported = len(self._warnings)
        return self._warnings[n:]

    @property
    def collections(self) -> list[CollectionHandle]:
        return list(self._handles)

    def _rebuild_patches(self) -> None:
        table: dict[int, tuple[CollectionHandle, int]] = {}
        for h in self._handles:  # later handles overwrite earlier ones
            for i, ins in enumerate(h.collection.instruments):
                table[patch_key(ins.bank, ins.program)] = (h, i)
        self._patches = table

    def _engine_instrument(self, h: CollectionHandle, index: int) -> int:
        iid = h.engine_ids.get(index)
        if iid is not None:
            return iid
        ins: Instrument = h.collection.instruments[index]
        self._read_from.add(h.id)  # a lazy collection's regions are read from its file now
        try:
            for r in ins.regions:
                ti = r.wave_link.table_index
                if ti < len(h.wave_ids) and h.wave_ids[ti] is None:
                    w = h.collection.waves[ti]
                    h.wave_ids[ti] = self.engine.download_wave(w, release_pages=False) if w.supported else -1
            iid = download_instrument(
                self.engine,
                ins,
                [(-1 if w is None else w) for w in h.wave_ids],
                sf2_defaults=sf2_origin(h.collection.info),
            )
        except EngineFull:
            # More instruments (or waves) than the engine's slot tables hold: the rest of
            # the banks stay out, said once; what is in plays on.
            e = self.engine
            self._warn_once(
                f"the banks hold more than the engine's {e.max_instruments:,} instruments or "
                f"{e.max_waves:,} waves: the rest are not loaded (their notes are silent)"
            )
            h.engine_ids[index] = -1
            return -1
        h.engine_ids[index] = iid
        for msg in _collapse_regions(self.engine.instrument_warnings(iid)):
            self._warn_once(f"{ins.name or patch_text(ins.bank, ins.program)}: {msg}")
        if self._release_regions:
            ins.release_regions()  # compiled now: the file can give them again if asked
        return iid

    def _warn_once(self, msg: str) -> None:
        if msg not in self._warned:
            self._warned.add(msg)
            self._warnings.append(msg)

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
        if 0 < n <= 3 and not (e.flags & EVENT_INCOMPLETE) and e.inline[0] != 0xF0:
            self.message(sample, e.channel_group, bytes(e.inline[:n]))
            return
        msg = self.sysex.feed(e)
        if msg is not None:
            self.message(sample, e.channel_group, msg)

    def route(self, group: int) -> list[int]:
        """The end of every stream's route (MXF.route): a group this synth has, or 0 (all)."""
        return [group] if 0 <= group <= self.channel_groups else []

    def terminal(self):
        return self

    def put_batch(
        self,
        ref_times: np.ndarray,
        groups: np.ndarray,
        data: bytes,
        offsets: np.ndarray,
        lengths: np.ndarray,
        tags: np.ndarray | None = None,
    ) -> int:
        """IMXF::PutMessage for many kernel events kept in arrays (message i is
        ``data[offsets[i]:offsets[i] + lengths[i]]`` at presentation time ``ref_times[i]``
        for ``groups[i]``, tagged ``tags[i]``: a file's MIDI track + 1, which the notes it
        starts carry); returns how many were taken (the engine's queue may fill)."""
        frames = self.time_map.ref_times_to_samples(ref_times)
        np.maximum(frames, 0, out=frames)
        got = self.engine.push_midi_batch(frames, groups, data, offsets, lengths, tags)
        self.counters.events += got
        return got

    def message(self, sample: int, group: int, data: bytes) -> None:
        """One complete MIDI message (bytes) at an absolute frame, for a channel group."""
        self.engine.push_midi(max(0, int(sample)), int(group), data)

    def short_message(self, sample: int, group: int, status: int, d1: int, d2: int, n: int = 3) -> None:
        """A channel voice message (status, data1, data2) at an absolute frame."""
        if not (0 <= status <= 255 and 0 <= d1 <= 255 and 0 <= d2 <= 255):
            self.counters.out_of_range += 1
            return
        self.message(sample, group, bytes([status, d1, d2][: max(1, min(3, n))]))

    def reset(self, sample: int, group: int = 0) -> None:
        """GM reset: every channel back to its defaults (drums on channel 10)."""
        self.message(sample, group, bytes([0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7]))

    # ------------------------------------------------------------------ render
    def render(
        self,
        out: np.ndarray | None = None,
        frames: int | None = None,
        position: int | None = None,
        stems: np.ndarray | None = None,
    ) -> np.ndarray:
        """ISynthSinkDMus::Render: the next ``frames`` frames (or ``len(out)``) as interleaved
        stereo float32 of shape (frames, 2). ``position`` is where the sink believes the
        stream is; the engine's own position is authoritative. ``stems``: where the block's
        stems go, with stems on (`Engine.render`)."""
        return self.engine.render(frames, out, stems)

    @property
    def position(self) -> int:
        """The absolute frame the next render starts at."""
        return self.engine.position

    def stats(self) -> dict:
        s = self.engine.stats()
        s.update(
            events=self.counters.events,
            malformed=s["malformed_midi"] + self.counters.out_of_range,
            unknown_sysex=s["ignored_sysex"],
            ring_full=s["dropped_events"],
        )
        return s

    def close(self) -> None:
        self.engine.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
