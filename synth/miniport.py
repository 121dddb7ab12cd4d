"""The miniport, after DirectMusic's ``IMiniportDMus``: it creates the synth's streams.

::

    mp = Miniport()
    mp.init(synth=my_synth, sample_rate=48000, voices=256, channel_groups=4)
    render = mp.new_stream("render")             # events -> synth.put_message
    capture = mp.new_stream("capture", channel_group=2)   # a MIDI input, stamped
    capture.connect_output(render)
    wave = mp.new_stream("wave")                 # the synth's audio side: wave.render(out, n)
    for s in (render, capture, wave):
        s.set_state("run")
    ...
    for line in mp.service():                    # from a non-real-time thread, now and then
        print(line)

The synth is injected: anything with ``put_message(event)`` and ``render(out, frames,
position)`` (``ISynthSinkDMus``).  It owns the events it is given and returns them to the
allocator (``mp.allocator``) when done, as DDKSynth does.  ``sink_factory`` lets the miniport
create the synth on first need, from the port parameters (a dict).
"""

from __future__ import annotations

import enum
from typing import Callable, Optional, Union

from .allocator import DEFAULT_BUFFER_SIZE, DEFAULT_BUFFERS, DEFAULT_EVENTS, Allocator
from .events import midi_message_length
from .streams import DEFAULT_HOLD_CAPACITY, MXF, StreamState

__all__ = [
    "StreamKind",
    "Miniport",
    "RenderStream",
    "CaptureStream",
    "WaveStream",
    "DMUS_PC_DLS",
    "DMUS_PC_EXTERNAL",
    "DMUS_PC_SOFTWARESYNTH",
    "DMUS_PC_MEMORYSIZEFIXED",
    "DMUS_PC_GMINHARDWARE",
    "DMUS_PC_GSINHARDWARE",
    "DMUS_PC_XGINHARDWARE",
    "DMUS_PC_DIRECTSOUND",
    "DMUS_PC_SHAREABLE",
    "DMUS_PC_DLS2",
    "DMUS_PC_AUDIOPATH",
    "DMUS_PC_WAVE",
    "DMUS_PC_SYSTEMMEMORY",
    "DMUS_PC_OUTPUTCLASS",
    "DMUS_PORT_USER_MODE_SYNTH",
    "DMUS_EFFECT_NONE",
    "DMUS_EFFECT_REVERB",
    "DMUS_EFFECT_CHORUS",
    "MAX_CHANNEL_GROUPS",
    "MAX_VOICES",
    "DEFAULT_VOICES",
    "SUPPORTED_SAMPLE_RATES",
    "DEFAULT_SAMPLE_RATE",
]

# DMUS_PORTCAPS.dwFlags (dmusicc.h)
DMUS_PC_DLS = 0x00000001
DMUS_PC_EXTERNAL = 0x00000002
DMUS_PC_SOFTWARESYNTH = 0x00000004
DMUS_PC_MEMORYSIZEFIXED = 0x00000008
DMUS_PC_GMINHARDWARE = 0x00000010
DMUS_PC_GSINHARDWARE = 0x00000020
DMUS_PC_XGINHARDWARE = 0x00000040
DMUS_PC_DIRECTSOUND = 0x00000080
DMUS_PC_SHAREABLE = 0x00000100
DMUS_PC_DLS2 = 0x00000200
DMUS_PC_AUDIOPATH = 0x00000400
DMUS_PC_WAVE = 0x00000800
#: dwMemorySize value meaning "uses system memory".
DMUS_PC_SYSTEMMEMORY = 0x7FFFFFFF
# DMUS_PORTCAPS.dwClass / dwType
DMUS_PC_INPUTCLASS = 0
DMUS_PC_OUTPUTCLASS = 1
DMUS_PORT_USER_MODE_SYNTH = 1
# DMUS_PORTCAPS.dwEffectFlags
DMUS_EFFECT_NONE = 0x0
DMUS_EFFECT_REVERB = 0x1
DMUS_EFFECT_CHORUS = 0x2

from dlsynth.native.engine import MAX_VOICES, RATE_RANGE  # noqa: E402  (the engine's limits, said once)

from .synth import DEFAULT_SAMPLE_RATE, DEFAULT_VOICES, MAX_CHANNEL_GROUPS  # noqa: E402

#: The usual rates, as DMUS_PORTCAPS would list them; any rate in RATE_RANGE works.
SUPPORTED_SAMPLE_RATES = tuple(
    r
    for r in (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000)
    if RATE_RANGE[0] <= r <= RATE_RANGE[1]
)


class StreamKind(enum.Enum):
    """``DMUS_STREAM_TYPE``: what a stream made by :meth:`Miniport.new_stream` is for."""

    RENDER = "render"  # DMUS_STREAM_MIDI_RENDER: events into the synth
    CAPTURE = "capture"  # DMUS_STREAM_MIDI_CAPTURE: events from a MIDI input
    WAVE = "wave"  # DMUS_STREAM_WAVE_SINK: the synth's audio output side


def _as_kind(kind) -> StreamKind:
    if isinstance(kind, StreamKind):
        return kind
    if isinstance(kind, str):
        for k in StreamKind:
            if kind.lower() in (k.value, k.name.lower()):
                return k
    choices = ", ".join(repr(k.value) for k in StreamKind)
    raise ValueError(f"unknown stream kind {kind!r}; expected one of {choices}")


def _int_in(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an int in {lo}..{hi}, got {value!r}")
    return value


def _time_source(clock) -> Optional[Callable[[], int]]:
    """A clock object with get_time() (IMasterClock::GetTime) or a plain callable."""
    if clock is None:
        return None
    get = getattr(clock, "get_time", None)
    if callable(get):
        return get
    if callable(clock):
        return clock
    raise ValueError(f"clock must have get_time() or be callable, got {clock!r}")


# ------------------------------------------------------------------------------------ streams
class RenderStream(MXF):
    """``DMUS_STREAM_MIDI_RENDER``: a sink stream that delivers events to the synth.

    Created connected to the synth and stopped.  The synth owns every event it receives.
    """

    def __init__(self, miniport: "Miniport", synth, allocator, **kwargs) -> None:
        super().__init__(allocator, state=StreamState.STOP, **kwargs)
        self.miniport = miniport
        self.connect_output(synth)

    def close(self) -> None:
        self.miniport.close_stream(self)


class CaptureStream(MXF):
    """``DMUS_STREAM_MIDI_CAPTURE``: a source of events from one MIDI input.

    :meth:`submit` is what the MIDI callback calls: it stamps the message with the master
    clock (unless a time is given), wraps it in a kernel event of this stream's channel group
    and puts it on its way.  Created stopped (events submitted while stopped are dropped).
    """

    def __init__(
        self, miniport: "Miniport", allocator, channel_group: int, time_source: Optional[Callable[[], int]], **kwargs
    ) -> None:
        super().__init__(allocator, state=StreamState.STOP, **kwargs)
        self.miniport = miniport
        self.channel_group = channel_group
        self.time_source = time_source
        self.submitted = 0
        self.malformed = 0
        self.pool_dry = 0

    def submit(self, message, timestamp: Optional[int] = None) -> bool:
        """Wrap one raw MIDI message (bytes or a sequence of ints, as python-rtmidi gives)
        and send it.  Returns False if it was dropped (stream stopped, malformed, or the pool
        dry); True once the event is on its way (a later stream may still drop it)."""
        if self._state == StreamState.STOP:
            self.dropped += 1
            return False
        n = len(message)
        if n == 0 or message[0] < 0x80:
            self.malformed += 1
            return False
        if timestamp is None:
            ts = self.time_source
            timestamp = ts() if ts is not None else 0
        alloc = self.allocator
        if n <= 3 and midi_message_length(message[0]) == n:  # the common case, inline
            evt = alloc.get_message()
            if evt is None:
                self.pool_dry += 1
                return False
            evt.set_data(message)
            evt.channel_group = self.channel_group
            evt.presentation_time = timestamp
        else:
            evt = alloc.make_message(message, self.channel_group, timestamp)
            if evt is None:
                self.pool_dry += 1
                return False
        self.submitted += 1
        self.put_message(evt)
        return True

    def close(self) -> None:
        self.miniport.close_stream(self)

    _COUNTER_TEXT = dict(
        MXF._COUNTER_TEXT,
        malformed="{name}: {n} malformed MIDI messages dropped",
        pool_dry="{name}: {n} MIDI messages lost (event pool dry)",
    )


class WaveStream(MXF):
    """``DMUS_STREAM_WAVE_SINK``: the synth's audio side.

    :meth:`render` asks the synth for *frames* frames at the stream's position and advances
    it; when not running it writes silence and the position stays.  It carries no MIDI:
    events put here go back to the allocator (counted in ``unconnected``).
    """

    def __init__(self, miniport: "Miniport", synth, allocator, **kwargs) -> None:
        super().__init__(allocator, state=StreamState.STOP, **kwargs)
        self.miniport = miniport
        self.synth = synth
        self.position = 0

    def connect_output(self, sink) -> None:
        raise ValueError("a wave stream carries audio, not MIDI: it has no MIDI output")

    def process(self, evt) -> None:
        self.unconnected += 1
        self.allocator.put_message(evt)

    def render(self, out, frames: Optional[int] = None) -> int:
        """Fill *out* (``ISynthSinkDMus::Render``) and return the position it started at."""
        if frames is None:
            frames = len(out)
        pos = self.position
        if self._state != StreamState.RUN:
            out[:frames] = 0
            return pos
        self.synth.render(out, frames, pos)
        self.position = pos + frames
        return pos

    def close(self) -> None:
        self.miniport.close_stream(self)


# ----------------------------------------------------------------------------------- miniport
class Miniport:
    """``IMiniportDMus`` for a software synth.  Call :meth:`init` before anything else."""

    def __init__(self) -> None:
        self._initialized = False
        self._synth = None
        self._sink_factory = None
        self._streams: list[MXF] = []
        self._wave: Optional[WaveStream] = None
        self.port = None
        self.allocator: Optional[Allocator] = None
        self.params: dict = {}
        self._time_source: Optional[Callable[[], int]] = None

    # -------------------------------------------------------------------------------- init
    def init(
        self,
        port=None,
        *,
        synth=None,
        sink_factory: Optional[Callable[[dict], object]] = None,
        allocator: Optional[Allocator] = None,
        clock=None,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        voices: int = DEFAULT_VOICES,
        channel_groups: int = 1,
        audio_channels: int = 2,
        effects: int = DMUS_EFFECT_REVERB | DMUS_EFFECT_CHORUS,
        pool_events: int = DEFAULT_EVENTS,
        pool_buffers: int = DEFAULT_BUFFERS,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
    ) -> "Miniport":
        """``IMiniportDMus::Init``: validate the port parameters and set up the pool.

        *port* is what the miniport reports to (``IPortDMus``): an object with
        ``notify(text)`` or a callable, given each warning :meth:`service` collects.
        *synth* (an ``ISynthSinkDMus``: ``put_message`` and ``render``) or *sink_factory*
        (called once with :attr:`params` to make one) provides the synth.  *clock* (an object
        with ``get_time()`` in 100 ns, or a callable) stamps captured MIDI.
        """
        if self._initialized:
            raise RuntimeError("Miniport.init was already called")
        if synth is not None and sink_factory is not None:
            raise ValueError("give either synth or sink_factory, not both")
        if synth is not None:
            for method in ("put_message", "render"):
                if not callable(getattr(synth, method, None)):
                    raise ValueError(f"synth must have a {method}() method, got {synth!r}")
        if sink_factory is not None and not callable(sink_factory):
            raise ValueError(f"sink_factory must be callable, got {sink_factory!r}")
        if port is not None and not (callable(port) or callable(getattr(port, "notify", None))):
            raise ValueError(f"port must have notify(text) or be callable, got {port!r}")
        if (
            isinstance(sample_rate, bool)
            or not isinstance(sample_rate, int)
            or not RATE_RANGE[0] <= sample_rate <= RATE_RANGE[1]
        ):
            raise ValueError(
                f"sample_rate {sample_rate!r} is not supported; choose {RATE_RANGE[0]}..{RATE_RANGE[1]} Hz"
            )
        _int_in("voices", voices, 1, MAX_VOICES)
        _int_in("channel_groups", channel_groups, 1, MAX_CHANNEL_GROUPS)
        _int_in("audio_channels", audio_channels, 1, 2)
        _int_in("effects", effects, 0, DMUS_EFFECT_REVERB | DMUS_EFFECT_CHORUS)
        if allocator is not None:
            if not isinstance(allocator, Allocator):
                raise ValueError(f"allocator must be an Allocator, got {allocator!r}")
        else:
            allocator = Allocator(pool_events, pool_buffers, buffer_size)
        self._time_source = _time_source(clock)
        self.port = port
        self._synth = synth
        self._sink_factory = sink_factory
        self.allocator = allocator
        self.params = {
            "sample_rate": sample_rate,
            "voices": voices,
            "channel_groups": channel_groups,
            "audio_channels": audio_channels,
            "effects": effects,
        }
        self._initialized = True
        return self

    def _require_init(self) -> None:
        if not self._initialized:
            raise RuntimeError("call Miniport.init() before using the miniport")

    @property
    def synth(self):
        """The synth, created by the sink factory on first need."""
        self._require_init()
        if self._synth is None and self._sink_factory is not None:
            synth = self._sink_factory(dict(self.params))
            for method in ("put_message", "render"):
                if not callable(getattr(synth, method, None)):
                    raise ValueError(f"sink_factory returned an object without {method}(): {synth!r}")
            self._synth = synth
        return self._synth

    # ------------------------------------------------------------------------------ caps
    @property
    def caps(self) -> dict:
        """``DMUS_PORTCAPS`` as a dict (plus the facts a caller needs to pick parameters)."""
        effects = self.params.get("effects", DMUS_EFFECT_REVERB | DMUS_EFFECT_CHORUS)
        return {
            "description": "dlsynth DLS software synthesizer",
            "flags": DMUS_PC_DLS | DMUS_PC_DLS2 | DMUS_PC_SOFTWARESYNTH | DMUS_PC_SHAREABLE,
            "class": DMUS_PC_OUTPUTCLASS,
            "type": DMUS_PORT_USER_MODE_SYNTH,
            "memory_size": DMUS_PC_SYSTEMMEMORY,
            "max_channel_groups": MAX_CHANNEL_GROUPS,
            "max_voices": MAX_VOICES,
            "default_voices": DEFAULT_VOICES,
            "max_audio_channels": 2,
            "effect_flags": effects,
            "sample_rates": SUPPORTED_SAMPLE_RATES,
            "default_sample_rate": DEFAULT_SAMPLE_RATE,
            "dls1": True,
            "dls2": True,
        }

    # ---------------------------------------------------------------------------- streams
    def new_stream(
        self,
        kind: Union[StreamKind, str],
        *,
        channel_group: int = 1,
        hold_capacity: int = DEFAULT_HOLD_CAPACITY,
        clock=None,
    ) -> MXF:
        """``IMiniportDMus::NewStream``.  Streams start stopped; call ``set_state("run")``.

        - ``"render"``: a :class:`RenderStream` into the synth (any number).
        - ``"capture"``: a :class:`CaptureStream` for one MIDI input, whose events carry
          *channel_group* (1..the ``channel_groups`` given to init) and are stamped by *clock*
          (default: the miniport's).
        - ``"wave"``: the :class:`WaveStream` (one at a time: close the old one first).
        """
        self._require_init()
        k = _as_kind(kind)
        if isinstance(hold_capacity, bool) or not isinstance(hold_capacity, int) or hold_capacity < 0:
            raise ValueError(f"hold_capacity must be an int >= 0, got {hold_capacity!r}")
        if k is StreamKind.CAPTURE:
            _int_in("channel_group", channel_group, 1, self.params["channel_groups"])
            ts = _time_source(clock) if clock is not None else self._time_source
            stream: MXF = CaptureStream(self, self.allocator, channel_group, ts, hold_capacity=hold_capacity)
        else:
            synth = self.synth
            if synth is None:
                raise ValueError(f"a {k.value} stream needs a synth: pass synth= or sink_factory= to init")
            if k is StreamKind.RENDER:
                stream = RenderStream(self, synth, self.allocator, hold_capacity=hold_capacity)
            else:
                if self._wave is not None:
                    raise ValueError("a wave stream is already open; close it first")
                stream = WaveStream(self, synth, self.allocator, hold_capacity=hold_capacity)
                self._wave = stream
        self._streams.append(stream)
        return stream

    def close_stream(self, stream: MXF) -> None:
        """Stop a stream (returning held events) and forget it."""
        if not any(s is stream for s in self._streams):
            raise ValueError(f"{stream!r} is not a stream of this miniport")
        stream.set_state(StreamState.STOP)
        self._streams = [s for s in self._streams if s is not stream]
        if stream is self._wave:
            self._wave = None

    @property
    def streams(self) -> tuple:
        return tuple(self._streams)

    # ---------------------------------------------------------------------------- service
    def service(self) -> list[str]:
        """``IMiniportDMus::Service``: the non-real-time housekeeping.

        Collects the warnings of the allocator, the streams and the synth (if it has
        ``take_warnings``), passes each to the port (if any), and returns them.
        """
        self._require_init()
        out = list(self.allocator.take_warnings())
        for s in self._streams:
            out.extend(s.take_warnings())
        synth = self._synth
        take = getattr(synth, "take_warnings", None) if synth is not None else None
        if callable(take):
            out.extend(take())
        port = self.port
        if port is not None and out:
            notify = getattr(port, "notify", None)
            fn = notify if callable(notify) else port
            for line in out:
                fn(line)
        return out
