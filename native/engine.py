"""The voice engine, seen from Python: `Engine`.

DirectMusic names: the engine is the software synth's voice mixer behind ISynthSinkDMus;
`render` is the work of ``ISynthSinkDMus::Render``, `download_wave` and
`download_instrument` are ``IDirectMusicSynth::Download`` of DMUS_DOWNLOADINFO_WAVE and
DMUS_DOWNLOADINFO_INSTRUMENT2, `unload_instrument` is ``Unload`` (the engine hands the id
back through `collect` once the render thread is done with it, after the model of
FluidSynth's finished-voice queue).

Threads: `render` runs on the audio thread and takes no lock; everything else is the
producer side and is serialised by a lock, so several Python threads may push events.
Events carry an absolute sample time and apply at exactly that frame (`position` is the
frame the next render starts at); an event whose time has passed is applied at the start of
the next block and counted in ``stats()["late_events"]``.
"""

from __future__ import annotations

import threading
from typing import Iterable

import numpy as np

from dlsynth import options

from . import ffi, lib

__all__ = [
    "Engine",
    "EngineError",
    "EVENT_DTYPE",
    "REGION_DTYPE",
    "ENGINE_CONN_DTYPE",
    "REPORT_DTYPE",
    "NOTE_ON",
    "NOTE_OFF",
    "CONTROL",
    "PITCH_BEND",
    "CHANNEL_PRESSURE",
    "POLY_PRESSURE",
    "PROGRAM",
    "PARAM",
    "MASTER_VOLUME",
    "RESET_ALL",
    "UNLOAD_INSTRUMENT",
    "PATCH",
    "RESELECT",
    "PARAM_BEND_RANGE",
    "PARAM_FINE_TUNE",
    "PARAM_COARSE_TUNE",
    "PARAM_PRIORITY",
]

#: DirectMusic REFERENCE_TIME units (100 ns) per second: the master clock's unit everywhere
REF_PER_SECOND = int(lib.ENG_REF_PER_SECOND)
#: channel groups an engine can have (16 channels each)
MAX_CHANNEL_GROUPS = int(lib.ENG_CHANNELS_MAX) // 16
#: instruments and waves an engine holds at once (its slot tables: a pointer each)
MAX_INSTRUMENTS = 1 << 16
MAX_WAVES = 1 << 18

NOTE_ON = lib.ENG_EV_NOTE_ON
NOTE_OFF = lib.ENG_EV_NOTE_OFF
CONTROL = lib.ENG_EV_CONTROL
PITCH_BEND = lib.ENG_EV_PITCH_BEND
CHANNEL_PRESSURE = lib.ENG_EV_CHANNEL_PRESSURE
POLY_PRESSURE = lib.ENG_EV_POLY_PRESSURE
PROGRAM = lib.ENG_EV_PROGRAM
PARAM = lib.ENG_EV_PARAM
MASTER_VOLUME = lib.ENG_EV_MASTER_VOLUME
RESET_ALL = lib.ENG_EV_RESET_ALL
UNLOAD_INSTRUMENT = lib.ENG_EV_UNLOAD_INSTRUMENT
PATCH = lib.ENG_EV_PATCH
RESELECT = lib.ENG_EV_RESELECT
REPORT_MISSING = lib.ENG_REPORT_MISSING
REPORT_FALLBACK = lib.ENG_REPORT_FALLBACK

PARAM_BEND_RANGE = lib.ENG_PARAM_BEND_RANGE
PARAM_FINE_TUNE = lib.ENG_PARAM_FINE_TUNE
PARAM_COARSE_TUNE = lib.ENG_PARAM_COARSE_TUNE
PARAM_PRIORITY = lib.ENG_PARAM_PRIORITY

#: What eng_create accepts (engine.h): the most voices, and the sample rates in Hz.
MAX_VOICES = int(lib.ENG_VOICES_MAX)
#: Render threads an engine can use (eng_set_threads).
MAX_THREADS = 64
RATE_RANGE = (int(lib.ENG_RATE_MIN), int(lib.ENG_RATE_MAX))

#: interpolation name (dlsynth.options.INTERPOLATIONS) -> its ENG_INTERP_ code
INTERPOLATION = {name: getattr(lib, f"ENG_INTERP_{name.upper()}") for name in options.INTERPOLATIONS}

#: The kernels' SIMD variants (eng_set_simd), and the kernels (eng_kernel_variant).
SIMD_VARIANTS = {
    "scalar": lib.ENG_SIMD_SCALAR,
    "sse2": lib.ENG_SIMD_SSE2,
    "avx2": lib.ENG_SIMD_AVX2,
    "avx512": lib.ENG_SIMD_AVX512,
}
KERNELS = {
    "linear": lib.ENG_KERNEL_LINEAR,
    "cubic": lib.ENG_KERNEL_CUBIC,
    "sinc": lib.ENG_KERNEL_SINC,
    "filter": lib.ENG_KERNEL_FILTER,
    "mix": lib.ENG_KERNEL_MIX,
    "reverb": lib.ENG_KERNEL_REVERB,
    "chorus": lib.ENG_KERNEL_CHORUS,
}
_SIMD_NAMES = {v: k for k, v in SIMD_VARIANTS.items()}


def simd_available() -> list[str]:
    """The SIMD variants this build and this CPU can run, scalar first."""
    bits = lib.eng_simd_available()
    return [name for name, v in SIMD_VARIANTS.items() if bits >> v & 1]


# One eng_event: a batch of these can be pushed with Engine.push_events.
EVENT_DTYPE = np.dtype([("time", "<u8"), ("type", "<i4"), ("channel", "<i4"), ("a", "<i4"), ("b", "<i4")])
# Mirrors of the C structs eng_region_desc and eng_conn (engine.h), checked against cffi's
# sizes and offsets at import. synth.download compiles instruments into these.
REGION_DTYPE = np.dtype(
    [
        ("key_lo", "u1"),
        ("key_hi", "u1"),
        ("vel_lo", "u1"),
        ("vel_hi", "u1"),
        ("key_group", "<u2"),
        ("flags", "<u2"),
        ("wave_id", "<i4", (2,)),
        ("wave_channel", "<i4", (2,)),
        ("out_mask", "<i4"),
        ("unity_note", "<i4"),
        ("fine_tune", "<f4"),
        ("attenuation", "<f4"),
        ("loop_type", "<i4"),
        ("loop_start", "<u4"),
        ("loop_length", "<u4"),
        ("conn_offset", "<i4"),
        ("conn_count", "<i4"),
    ]
)
ENGINE_CONN_DTYPE = np.dtype(
    [("source", "<u2"), ("control", "<u2"), ("destination", "<u2"), ("transform", "<u2"), ("scale", "<f4")]
)
REPORT_DTYPE = np.dtype([("kind", "<i4"), ("channel", "<i4"), ("requested", "<u4"), ("used", "<u4")])
#: One eng_label (engine.h): a note-on, a note-off or a voice's end, as the engine played it.
LABEL_DTYPE = np.dtype(
    [
        ("frame", "<u8"),
        ("note", "<u4"),
        ("kind", "<i4"),
        ("channel", "<i4"),
        ("patch", "<u4"),
        ("track", "<i4"),
        ("key", "<i2"),
        ("velocity", "<i2"),
        ("voices", "<i4"),
        ("reason", "<i4"),
        ("stem", "<i4"),
        ("pad", "<i4"),
    ]
)
LABEL_NOTE = lib.ENG_LABEL_NOTE
LABEL_KEY_OFF = lib.ENG_LABEL_KEY_OFF
LABEL_END = lib.ENG_LABEL_END
#: why a voice ended (eng_label.reason), as words
END_REASONS = {
    lib.ENG_END_RELEASED: "released",
    lib.ENG_END_FINISHED: "finished",
    lib.ENG_END_STOLEN: "stolen",
    lib.ENG_END_KEY_GROUP: "key_group",
    lib.ENG_END_RETRIGGERED: "retriggered",
    lib.ENG_END_SOUND_OFF: "sound_off",
    lib.ENG_END_END_OF_FILE: "end_of_file",
}
#: what a stem is keyed by (dlsynth.options.STEMS_BY) -> its ENG_STEMS_BY_ code (eng_set_stems)
STEMS_BY = {name: getattr(lib, f"ENG_STEMS_BY_{name.upper()}") for name in options.STEMS_BY}
MAX_STEMS = int(lib.ENG_STEMS_MAX)

_ERRORS = {
    lib.ENG_ERR_ARG: "invalid argument",
    lib.ENG_ERR_NOMEM: "out of memory",
    lib.ENG_ERR_FULL: "no free slot",
    lib.ENG_ERR_WAVE: "a region names a wave that is not downloaded",
    lib.ENG_ERR_BUSY: "still in use",
}

_STAT_FIELDS = (
    "position",
    "voices_active",
    "peak_voices",
    "late_events",
    "stolen_voices",
    "dropped_events",
    "dropped_notes",
    "instruments",
    "waves",
    "sample_bytes",
    "instrument_bytes",
    "midi_events",
    "malformed_midi",
    "dropped_group",
    "ignored_sysex",
    "reports_lost",
    "parallel_segments",
    "worker_items",
    "voice_frames",
    "plans_skipped",
)


class EngineError(RuntimeError):
    """A call into the native engine failed."""


class EngineFull(EngineError):
    """The engine's wave or instrument slot table is full (ENG_ERR_FULL)."""


def _check_layout() -> None:
    for dt, cname in (
        (REGION_DTYPE, "eng_region_desc"),
        (ENGINE_CONN_DTYPE, "eng_conn"),
        (EVENT_DTYPE, "eng_event"),
        (REPORT_DTYPE, "eng_report"),
        (LABEL_DTYPE, "eng_label"),
    ):
        if dt.itemsize != ffi.sizeof(cname):
            raise ImportError(f"{cname}: C size {ffi.sizeof(cname)} != NumPy {dt.itemsize}")
        for name in dt.names:
            if dt.fields[name][1] != ffi.offsetof(cname, name):
                raise ImportError(f"{cname}.{name}: C offset differs from NumPy's")


_check_layout()


def _err(code: int, what: str) -> EngineError:
    cls = EngineFull if code == lib.ENG_ERR_FULL else EngineError
    return cls(f"{what}: {_ERRORS.get(code, f'error {code}')}")


def _release_source_pages(arr: np.ndarray) -> None:
    """Give back the pages a download read from a bank's file mapping.

    When arr is a view of a read-only file mapping (``dls.read`` maps the file and its waves'
    data are views into it), the copy into the sample pool made the process map every page of
    the wave: resident twice, as pool and as file pages. madvise(MADV_DONTNEED) on that range
    drops the mapping's pages from this process (they stay in the page cache, and are read
    again if anything touches the data later), which is safe only on a shared read-only
    mapping: there are no private changes to lose. Anything else is left alone. The range is
    rounded out to 64 KiB, the kernel's fault-around window: reading a wave maps the aligned
    64 KiB around each page it faults on, so the next wave's first read maps this one's tail
    again, and this wave's read mapped the previous one's; releasing the aligned blocks
    takes those back too (pages of neighbours are only read again if used).
    """
    import mmap

    if arr.flags.writeable or arr.nbytes == 0 or not hasattr(mmap, "MADV_DONTNEED"):
        return
    base = arr
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    if not isinstance(base, mmap.mmap) or base.closed:
        return
    try:
        if not memoryview(base).readonly:  # ACCESS_WRITE or ACCESS_COPY: not ours to drop
            return
        origin = int(ffi.cast("uintptr_t", ffi.from_buffer(base)))
        start = arr.__array_interface__["data"][0] - origin
        end = start + arr.nbytes
        if start < 0 or end > len(base):
            return
        block = max(mmap.PAGESIZE, 1 << 16)
        lo = start // block * block
        hi = min(-(-end // block) * block, len(base))
        base.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
    except (OSError, ValueError, TypeError, BufferError):
        pass  # only an optimisation


class Engine:
    """The native voice engine: sample pool, instruments, channels, voices, mixer.

    sample_rate: output rate in Hz. max_voices: polyphony (1..MAX_VOICES; stolen voices fade in
    1/70 s in extra slots). channel_groups: 16 channels each (DirectMusic channel groups),
    channel index = group * 16 + MIDI channel. interpolation: 'linear', 'cubic' or 'sinc'.
    effects: reverb and chorus on the send buses. threads: how many threads render a block
    (the render thread plus workers, see `set_threads`).
    """

    def __init__(
        self,
        sample_rate: int = options.DEFAULT_SAMPLE_RATE,
        max_voices: int = options.DEFAULT_VOICES,
        channel_groups: int = 1,
        interpolation: str = options.DEFAULT_INTERPOLATION,
        effects: bool = True,
        *,
        event_capacity: int = 16384,
        max_instruments: int = MAX_INSTRUMENTS,
        max_waves: int = MAX_WAVES,
        threads: int = 1,
    ):
        interpolation = options.interpolation(interpolation)
        if not 1 <= channel_groups <= MAX_CHANNEL_GROUPS:
            raise ValueError(f"channel_groups must be 1..{MAX_CHANNEL_GROUPS}")
        if not 1 <= max_voices <= MAX_VOICES:
            raise ValueError(f"max_voices must be 1..{MAX_VOICES}")
        self.max_instruments, self.max_waves = int(max_instruments), int(max_waves)
        ptr = lib.eng_create(
            int(sample_rate),
            int(max_voices),
            int(channel_groups) * 16,
            INTERPOLATION[interpolation],
            int(event_capacity),
            int(max_instruments),
            int(max_waves),
        )
        if ptr == ffi.NULL:
            raise EngineError("eng_create failed (bad arguments or out of memory)")
        self._ptr = ptr
        self.sample_rate = int(sample_rate)
        self.max_voices = int(max_voices)
        self.channel_groups = int(channel_groups)
        self.channels = int(channel_groups) * 16
        self.interpolation = interpolation
        self._lock = threading.Lock()
        self._waves: dict[int, object] = {}  # engine wave id -> dls.model.Wave
        self._wave_users: dict[int, int] = {}  # wave id -> live instruments using it
        self._instruments: dict[int, dict] = {}  # id -> {"state", "waves", "warnings", "instrument"}
        self._out = None
        self._out_ptr = None
        self._stems_out = None
        self._stems_max = 0
        self._out_frames = 0
        self._stats = ffi.new("eng_stats *")
        self._event = ffi.new("eng_event *")
        self.effects = effects
        if threads != 1:
            self.set_threads(threads)

    # --- threads -------------------------------------------------------------------------
    def set_threads(self, threads: int) -> int:
        """Render each block on `threads` threads (1..64): the render thread and persistent
        workers that share out the voices. The output is the same, bit for bit, for every
        count. Call while no render runs; returns the count in effect (1 where the
        platform has no threads)."""
        if not 1 <= int(threads) <= MAX_THREADS:
            raise ValueError(f"threads must be 1..{MAX_THREADS}")
        with self._lock:
            n = lib.eng_set_threads(self._ptr, int(threads))
        if n < 0:
            raise _err(n, "set_threads")
        return n

    @property
    def threads(self) -> int:
        """Threads rendering each block."""
        return lib.eng_threads(self._ptr)

    def set_sharing(self, min_work: int = 1024, strict: bool = False) -> None:
        """How runs (the frames between events, up to 1024) are shared out among the threads
        (eng_set_sharing): only those whose frames times voices reach `min_work` (0: every
        one); `strict`: each thread runs exactly its own share, never the others' (for
        tests: slower on a busy machine). The output does not depend on either."""
        with self._lock:
            lib.eng_set_sharing(self._ptr, int(min_work), 1 if strict else 0)

    # --- SIMD variants -------------------------------------------------------------------
    @property
    def simd(self) -> str:
        """The kernels' SIMD variant: "scalar", "sse2", "avx2" or "avx512" (at creation the best
        this CPU has). Every variant gives the same output, bit for bit."""
        return _SIMD_NAMES[lib.eng_simd(self._ptr)]

    def set_simd(self, variant: str) -> None:
        """Run the kernels' `variant` (one of simd_available()); call while no render runs."""
        if variant not in SIMD_VARIANTS:
            raise ValueError(f"SIMD variant must be one of {', '.join(SIMD_VARIANTS)}")
        with self._lock:
            r = lib.eng_set_simd(self._ptr, SIMD_VARIANTS[variant])
        if r < 0:
            raise EngineError(f"set_simd: this CPU or build has no {variant} kernels")

    def kernel_variant(self, kernel: str) -> str:
        """The variant `kernel` (a key of KERNELS) runs at the engine's setting."""
        return _SIMD_NAMES[lib.eng_kernel_variant(self._ptr, KERNELS[kernel])]

    # --- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        """Free the engine (no render may be running)."""
        if self._ptr is not None:
            lib.eng_destroy(self._ptr)
            self._ptr = None

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- waves ---------------------------------------------------------------------------
    def download_wave(self, wave, release_pages: bool = True) -> int:
        """Copy a `dls.model.Wave` (8- or 16-bit PCM) into the sample pool; returns its id.

        The pool holds 16-bit samples: 8-bit data is widened ((u - 128) * 256), and any other
        dtype is cast to int16 as NumPy's astype does. When the data is a view of a read-only
        file mapping (``dls.read``'s), the mapping's pages it covers are released afterwards
        (see _release_source_pages), so the bank is not resident both in the file's pages
        and in the pool; ``release_pages=False`` leaves that to the caller (the Synth gives
        back a whole collection's pages, in one call, after each batch of downloads)."""
        if not getattr(wave, "supported", True):
            raise ValueError("the wave's format is not PCM and cannot be played")
        source = data = np.asarray(wave.data)
        if data.ndim == 1:
            data = data[:, None]
        if data.dtype == np.uint8:
            from . import u8_to_s16

            data = u8_to_s16(np.ascontiguousarray(data))
        elif data.dtype != np.int16:
            data = data.astype(np.int16)
        data = np.ascontiguousarray(data)
        frames, channels = int(data.shape[0]), int(data.shape[1])
        ptr = ffi.cast("int16_t *", ffi.from_buffer(data)) if data.size else ffi.NULL
        with self._lock:
            wid = lib.eng_wave_create(self._ptr, ptr, frames, channels, float(wave.sample_rate))
            if wid < 0:
                raise _err(wid, "download_wave")
            self._waves[wid] = wave
            self._wave_users[wid] = 0
        if release_pages:
            _release_source_pages(source)
        return wid

    def download_waves(self, waves: Iterable) -> list[int]:
        """Download each wave (e.g. a collection's pool); unplayable ones map to -1."""
        ids = []
        for w in waves:
            ids.append(self.download_wave(w) if getattr(w, "supported", True) else -1)
        return ids

    def free_wave(self, wave_id: int) -> None:
        """Release a wave that no live instrument uses."""
        with self._lock:
            rc = lib.eng_wave_destroy(self._ptr, int(wave_id))
            if rc < 0:
                raise _err(rc, "free_wave")
            self._waves.pop(wave_id, None)
            self._wave_users.pop(wave_id, None)

    # --- instruments ---------------------------------------------------------------------
    def wave(self, wave_id: int):
        """The `dls.model.Wave` behind a downloaded wave id (None if unknown)."""
        return self._waves.get(wave_id)

    def download_compiled(self, compiled, instrument=None) -> int:
        regions = np.ascontiguousarray(compiled.regions)
        conns = np.ascontiguousarray(compiled.connections)
        rptr = ffi.cast("eng_region_desc *", ffi.from_buffer(regions)) if len(regions) else ffi.NULL
        cptr = ffi.cast("eng_conn *", ffi.from_buffer(conns)) if len(conns) else ffi.NULL
        with self._lock:
            iid = lib.eng_instrument_create(self._ptr, rptr, len(regions), cptr, len(conns))
            if iid < 0:
                raise _err(iid, "download_instrument")
            for w in compiled.wave_ids:
                self._wave_users[w] = self._wave_users.get(w, 0) + 1
            self._instruments[iid] = {
                "state": "live",
                "waves": set(compiled.wave_ids),
                "warnings": list(compiled.warnings),
                "instrument": instrument,
            }
        return iid

    def instrument_warnings(self, instrument_id: int) -> list[str]:
        return list(self._instruments[instrument_id]["warnings"])

    def unload_instrument(self, instrument_id: int, time: int | None = None) -> None:
        """Ask the render thread to let go of an instrument: its voices fade quickly and
        channels playing it fall silent. Its memory is freed by `collect` once the engine
        reports it finished (after a render)."""
        with self._lock:
            info = self._instruments.get(instrument_id)
            if info is None or info["state"] != "live":
                raise ValueError(f"instrument {instrument_id} is not loaded")
            info["state"] = "unloading"
            t = self.position if time is None else int(time)
            if not lib.eng_push(self._ptr, t, UNLOAD_INSTRUMENT, 0, int(instrument_id), 0):
                info["state"] = "live"
                raise EngineError("event ring full")

    def collect(self) -> list[int]:
        """Free the instruments whose unload the render thread has finished; returns their ids."""
        done = []
        with self._lock:
            while True:
                iid = lib.eng_poll_finished(self._ptr)
                if iid < 0:
                    break
                rc = lib.eng_instrument_destroy(self._ptr, iid)
                if rc < 0:
                    raise _err(rc, "collect")
                info = self._instruments.pop(iid, None)
                if info:
                    for w in info["waves"]:
                        self._wave_users[w] = self._wave_users.get(w, 1) - 1
                done.append(iid)
        return done

    def instrument_state(self, instrument_id: int) -> str | None:
        """'live', 'unloading', or None when freed (or never loaded)."""
        info = self._instruments.get(instrument_id)
        return info["state"] if info else None

    # --- events --------------------------------------------------------------------------
    def push(self, time: int, type: int, channel: int = 0, a: int = 0, b: int = 0) -> bool:
        """Queue one event for absolute frame `time`; False if the ring was full."""
        with self._lock:
            return bool(lib.eng_push(self._ptr, int(time), int(type), int(channel), int(a), int(b)))

    def push_events(self, events: np.ndarray) -> int:
        """Queue a batch (an EVENT_DTYPE array); returns how many were queued."""
        ev = np.ascontiguousarray(events, dtype=EVENT_DTYPE)
        if not len(ev):
            return 0
        with self._lock:
            return int(lib.eng_push_events(self._ptr, ffi.cast("eng_event *", ffi.from_buffer(ev)), len(ev)))

    # --- MIDI (given meaning on the render thread: native/midi.c) --------------------------
    def push_midi(self, time: int, group: int, data) -> bool:
        """Queue one complete MIDI message (bytes) for channel group `group` (0 = all) at
        frame `time`; False if it was ignored, malformed or the ring was full (counted)."""
        buf = bytes(data)
        with self._lock:
            return bool(lib.eng_push_midi(self._ptr, int(time), int(group), buf, len(buf)))

    def push_midi_batch(
        self,
        times: np.ndarray,
        groups: np.ndarray,
        data: bytes,
        offsets: np.ndarray,
        lengths: np.ndarray,
        tags: np.ndarray | None = None,
    ) -> int:
        """Queue messages ``data[offsets[i]:offsets[i] + lengths[i]]`` at frames ``times[i]``
        for ``groups[i]``; returns how many were consumed (the ring may fill). ``tags[i]``
        (a file's MIDI track + 1) goes with the notes a channel message starts (stems by
        track, note labels)."""
        n = len(times)
        if not n:
            return 0
        t = np.ascontiguousarray(times, dtype=np.uint64)
        g = np.ascontiguousarray(groups, dtype=np.int32)
        o = np.ascontiguousarray(offsets, dtype=np.int64)
        ln = np.ascontiguousarray(lengths, dtype=np.int32)
        tg = ffi.NULL
        if tags is not None:
            tags = np.ascontiguousarray(tags, dtype=np.int32)
            tg = ffi.cast("int32_t *", ffi.from_buffer(tags))
        with self._lock:
            return int(
                lib.eng_push_midi_batch(
                    self._ptr,
                    ffi.cast("uint64_t *", ffi.from_buffer(t)),
                    ffi.cast("int32_t *", ffi.from_buffer(g)),
                    ffi.from_buffer(data),
                    ffi.cast("int64_t *", ffi.from_buffer(o)),
                    ffi.cast("int32_t *", ffi.from_buffer(ln)),
                    tg,
                    n,
                )
            )

    def set_patch(self, time: int, key: int, instrument_id: int) -> bool:
        """Patch table: `key` (patch_key) plays engine instrument `instrument_id` (-1: none)."""
        return self.push(time, PATCH, 0, int(key), int(instrument_id))

    def reselect(self, time: int) -> bool:
        """Every channel selects its patch again (after downloads or unloads)."""
        return self.push(time, RESELECT, 0, 0, 0)

    def poll_reports(self) -> np.ndarray:
        """Reports from the render thread (REPORT_DTYPE), oldest first."""
        out = np.empty(256, dtype=REPORT_DTYPE)
        parts = []
        while True:
            n = int(lib.eng_poll_reports(self._ptr, ffi.cast("eng_report *", ffi.from_buffer(out)), len(out)))
            if n:
                parts.append(out[:n].copy())
            if n < len(out):
                break
        return np.concatenate(parts) if parts else out[:0].copy()

    def _chan(self, channel: int) -> int:
        if not 0 <= channel < self.channels:
            raise ValueError(f"channel {channel} out of range 0..{self.channels - 1}")
        return channel

    def note_on(self, time: int, channel: int, key: int, velocity: int) -> bool:
        return self.push(time, NOTE_ON, self._chan(channel), key, velocity)

    def note_off(self, time: int, channel: int, key: int) -> bool:
        return self.push(time, NOTE_OFF, self._chan(channel), key, 0)

    def control(self, time: int, channel: int, controller: int, value: int) -> bool:
        return self.push(time, CONTROL, self._chan(channel), controller, value)

    def pitch_bend(self, time: int, channel: int, value: int) -> bool:
        """value: 14-bit, 8192 = centre."""
        return self.push(time, PITCH_BEND, self._chan(channel), value, 0)

    def channel_pressure(self, time: int, channel: int, value: int) -> bool:
        return self.push(time, CHANNEL_PRESSURE, self._chan(channel), value, 0)

    def poly_pressure(self, time: int, channel: int, key: int, value: int) -> bool:
        return self.push(time, POLY_PRESSURE, self._chan(channel), key, value)

    def program(self, time: int, channel: int, instrument_id: int | None) -> bool:
        """Select a downloaded instrument on a channel (None: no instrument)."""
        iid = -1 if instrument_id is None else int(instrument_id)
        if iid >= 0:
            info = self._instruments.get(iid)
            if info is None or info["state"] != "live":
                raise ValueError(f"instrument {iid} is not loaded")
        return self.push(time, PROGRAM, self._chan(channel), iid, 0)

    def param(self, time: int, channel: int, param: int, value: int) -> bool:
        return self.push(time, PARAM, self._chan(channel), param, value)

    def bend_range(self, time: int, channel: int, cents: int) -> bool:
        """RPN 0: pitch-bend range in cents."""
        return self.param(time, channel, PARAM_BEND_RANGE, cents)

    def fine_tune(self, time: int, channel: int, cents: int) -> bool:
        """RPN 1: channel fine tune in cents (-100..100)."""
        return self.param(time, channel, PARAM_FINE_TUNE, cents)

    def coarse_tune(self, time: int, channel: int, semitones: int) -> bool:
        """RPN 2: channel coarse tune in semitones (-64..63)."""
        return self.param(time, channel, PARAM_COARSE_TUNE, semitones)

    def channel_priority(self, time: int, channel: int, priority: int) -> bool:
        """DirectMusic channel priority (DAUD_*_VOICE_PRIORITY values, unsigned 32-bit)."""
        p = int(priority) & 0xFFFFFFFF
        return self.param(time, channel, PARAM_PRIORITY, p - (1 << 32) if p >= 1 << 31 else p)

    def master_volume(self, time: int, millibels: int) -> bool:
        """GM master volume as gain in 1/100 dB (0 = full)."""
        return self.push(time, MASTER_VOLUME, 0, int(millibels), 0)

    def reset_all(self, time: int) -> bool:
        """GM reset: all voices fade out, all channels back to their defaults."""
        return self.push(time, RESET_ALL, 0, 0, 0)

    # --- render --------------------------------------------------------------------------
    # --- stems and note labels (native/eng_stems.c) ----------------------------------------
    def set_stems(self, by: str | None, max_stems: int = 256) -> None:
        """Mix every voice into a stem of its own as well (by "channel": channel and
        patch, "program": patch, "track": the note-on's tag; None: off), at most
        ``max_stems`` stems with the effects' return (stem 0). While no render runs."""
        code = lib.ENG_STEMS_OFF if by is None else STEMS_BY[by]
        with self._lock:
            rc = int(lib.eng_set_stems(self._ptr, code, int(max_stems)))
        if rc < 0:
            raise _err(rc, "set_stems")
        self._stems_out = None
        self._stems_max = 0 if by is None else int(max_stems)

    @property
    def stem_count(self) -> int:
        """Stems so far, the effects' return (stem 0) included; 0 with stems off."""
        return int(lib.eng_stem_count(self._ptr))

    def stem_info(self, stem: int) -> dict:
        """channel, patch, track, overflow and first_frame of stem >= 1."""
        info = ffi.new("eng_stem_info *")
        if lib.eng_get_stem_info(self._ptr, int(stem), info) < 0:
            raise IndexError(f"no stem {stem}")
        return {
            "channel": int(info.channel),
            "patch": int(info.patch),
            "track": int(info.track),
            "overflow": bool(info.overflow),
            "first_frame": int(info.first_frame),
        }

    def set_labels(self, capacity: int) -> None:
        """Record note labels in a ring of ``capacity`` records (0: off); drain it with
        `poll_labels` between renders. While no render runs."""
        with self._lock:
            rc = int(lib.eng_set_labels(self._ptr, int(capacity)))
        if rc < 0:
            raise _err(rc, "set_labels")

    def poll_labels(self) -> np.ndarray:
        """The label records written since the last call (LABEL_DTYPE), oldest first."""
        out = np.empty(4096, dtype=LABEL_DTYPE)
        parts = []
        while True:
            n = int(lib.eng_poll_labels(self._ptr, ffi.cast("eng_label *", ffi.from_buffer(out)), len(out)))
            if n:
                parts.append(out[:n].copy())
            if n < len(out):
                break
        return np.concatenate(parts) if parts else out[:0].copy()

    def finish_labels(self) -> None:
        """After the last render: an END record for every voice still there."""
        lib.eng_labels_finish(self._ptr)

    @property
    def labels_lost(self) -> int:
        return int(lib.eng_labels_lost(self._ptr))

    def render(
        self, frames: int | None = None, out: np.ndarray | None = None, stems: np.ndarray | None = None
    ) -> np.ndarray:
        """Render the next block (``ISynthSinkDMus::Render``): a (frames, 2) float32 array.

        With `out` (a C-contiguous writable float32 (n, 2) array) nothing is allocated; the
        array is checked once and its pointer reused while the same array is passed.
        ``stems`` (stems on): a C-contiguous float32 (max_stems, m, 2) array, m >= frames,
        that gets stems 0 .. stem_count - 1 of the block in ``stems[s, :frames]``.
        """
        if stems is not None:
            if (
                not isinstance(stems, np.ndarray)
                or stems.dtype != np.float32
                or stems.ndim != 3
                or stems.shape[2] != 2
                or not stems.flags.c_contiguous
                or not stems.flags.writeable
            ):
                raise ValueError("stems must be a writable C-contiguous float32 array of shape (stems, frames, 2)")
            n = len(out) if out is not None else frames
            if stems.shape[0] < self._stems_max:
                raise ValueError(f"stems must have room for the {self._stems_max} stems set")
            if n is None or stems.shape[1] < n:
                raise ValueError("stems holds fewer frames than the block")
            if stems is not getattr(self, "_stems_out", None):
                lib.eng_set_stem_output(self._ptr, ffi.cast("float *", ffi.from_buffer(stems)), int(stems.shape[1]))
                self._stems_out = stems
        if out is not None:
            if out is not self._out:
                if (
                    not isinstance(out, np.ndarray)
                    or out.dtype != np.float32
                    or out.ndim != 2
                    or out.shape[1] != 2
                    or not out.flags.c_contiguous
                    or not out.flags.writeable
                ):
                    raise ValueError("out must be a writable C-contiguous float32 array of shape (frames, 2)")
                self._out_ptr = ffi.cast("float *", ffi.from_buffer(out)) if out.size else None
                self._out_frames = int(out.shape[0])
                self._out = out
            if frames is not None and frames != self._out_frames:
                raise ValueError("frames does not match out")
            if self._out_ptr is not None:
                lib.eng_render(self._ptr, self._out_ptr, self._out_frames)
            return out
        if frames is None or frames < 0:
            raise ValueError("give frames or out")
        buf = np.empty((int(frames), 2), dtype=np.float32)
        if frames:
            lib.eng_render(self._ptr, ffi.cast("float *", ffi.from_buffer(buf)), int(frames))
        return buf

    @property
    def position(self) -> int:
        """Absolute frame at which the next render starts."""
        return int(lib.eng_position(self._ptr))

    def stats(self) -> dict[str, int]:
        lib.eng_get_stats(self._ptr, self._stats)
        return {f: int(getattr(self._stats, f)) for f in _STAT_FIELDS}

    # --- mixer settings ------------------------------------------------------------------
    @property
    def effects(self) -> bool:
        return self._effects

    @effects.setter
    def effects(self, on: bool) -> None:
        self._effects = bool(on)
        lib.eng_set_effects(self._ptr, 1 if on else 0)

    @property
    def master_gain(self) -> float:
        return getattr(self, "_master_gain", 1.0)

    @master_gain.setter
    def master_gain(self, gain: float) -> None:
        self._master_gain = float(gain)
        lib.eng_set_master_gain(self._ptr, float(gain))
