"""Live MIDI inputs: MIDI ports as DirectMusic capture streams, one channel group each.

No Python stands between a MIDI message and the wave sink's ring:

- on JACK, dlsynth's own JACK MIDI client in C (native/jackmidi.c): its process callback
  stamps each event with the master time of its exact frame and pushes it for its port's
  route. (python-rtmidi would call Python from the JACK graph's real-time thread.)
- on the other APIs (ALSA, CoreMIDI), RtMidi through its C API (native/rtmidi_in.c, librtmidi):
  its callback is C, on RtMidi's thread, and stamps and pushes. (python-rtmidi's callback takes
  the GIL there, and closing an input while notes arrive then hangs or crashes.)

Inputs are opened by name (a case-insensitive substring of the port name) or all at once;
each gets its own channel group (1, 2, ... in the order opened) unless a mapping says
otherwise; a virtual input port lets other software send to dlsynth. Each input is a
capture stream of the miniport connected to its render stream, and its messages follow that
graph's compiled route. `service` (from the miniport's Service thread) watches the ports
with the one long-lived MIDI client: a port that disappears (a keyboard unplugged) has its
group sent sustain-off and all-notes-off; a port that appears is opened (with ``all``, on a
new group; a named one comes back on its old group); when the last sender connected into
the virtual port goes away (JACK), its group is silenced the same way.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field

from dlsynth.native import ffi, lib

MIDI_CLIENT = "dlsynth-midi"  # the MIDI client's name (never the JACK server's: see `client_name_for`)
#: A port that appears is opened after this long (seconds), unless by then it was connected
#: into one of our ports by hand.
NEW_PORT_GRACE_S = 0.4


class MidiInputError(Exception):
    """A MIDI input problem the user can act on (one line)."""


def _route(groups: list[int]):
    """The C form of an input's route, for jm_set_route and rm_set_route: an int32 array of
    the channel groups (at most MIDI_IN_MAX_ROUTE, the rest left out) and its length."""
    groups = groups[: lib.MIDI_IN_MAX_ROUTE]
    return ffi.new("int32_t[]", groups or [0]), len(groups)


def default_api_name() -> str:
    if sys.platform.startswith("linux"):
        return "alsa"
    if sys.platform == "darwin":
        return "core"
    if sys.platform.startswith(("win", "cygwin")):
        return "winmm"
    return "jack"


def api_name(name: str | None) -> str:
    """The MIDI API asked for, checked against what python-rtmidi offers (alsa, jack, core,
    winmm)."""
    import rtmidi

    apis = {rtmidi.get_api_name(a) for a in rtmidi.get_compiled_api()} | {"jack"}
    key = (name or default_api_name()).strip().lower()
    key = {"coremidi": "core", "macos": "core", "windows": "winmm", "mme": "winmm"}.get(key, key)
    if key not in apis:
        offered = ", ".join(sorted(apis)) or "none"
        raise MidiInputError(f"MIDI API {key!r} is not available here (it offers: {offered})")
    return key


def client_name_for(name: str) -> str:
    """A client name that cannot be the JACK server's own (a JACK client named like its
    server takes the server's socket)."""
    server = os.environ.get("JACK_DEFAULT_SERVER", "default")
    return name if name != server else f"{name}-client"


def silence_messages() -> list[bytes]:
    """Sustain off and all notes off on the 16 channels of a group (release, not cut)."""
    out = []
    for ch in range(16):
        out.append(bytes([0xB0 | ch, 64, 0]))
        out.append(bytes([0xB0 | ch, 123, 0]))
    return out


@dataclass
class _Input:
    name: str
    group: int
    port_name: str | None = None
    virtual: bool = False
    connected: bool = False
    reconnects: int = 0
    handle: object = None  # the backend's: a jack port index, or an rtmidi MidiIn
    route: list = field(default_factory=list)  # channel groups its messages go to
    stream: object = None  # its CaptureStream (DMUS_STREAM_MIDI_CAPTURE)
    senders: int = 0  # virtual port: connections seen last time


class _JackBackend:
    """dlsynth's own JACK MIDI client (C): one client, one input port per input."""

    def __init__(self, sink, client_name: str):
        err = ffi.new("char[256]")
        ptr = lib.jm_create(sink, client_name_for(client_name).encode(), err, 256)
        if ptr == ffi.NULL:
            raise MidiInputError(
                f"cannot open the jack MIDI API: {ffi.string(err).decode()}; "
                "try --midi-api with another API (see `dlsynth devices`)"
            )
        self.ptr = ptr
        name = ffi.new("char[512]")
        lib.jm_client_name(ptr, name, 512)
        self.client = ffi.string(name).decode()
        self._buf = ffi.new("char[]", 1 << 16)
        self._seen_changes = -1

    def changed(self) -> bool:
        """The graph changed since the last call (JACK tells us: no polling of the server,
        which would disturb this client's real-time cycle)."""
        n = lib.jm_graph_changes(self.ptr)
        if n == self._seen_changes:
            return False
        self._seen_changes = n
        return True

    def ports(self) -> list[str]:
        n = lib.jm_list_sources(self.ptr, self._buf, len(self._buf))
        if n < 0:
            raise MidiInputError("the JACK server went away")
        return [p for p in ffi.string(self._buf).decode(errors="replace").split("\n") if p]

    def ours(self, port: str) -> bool:
        return port.startswith(self.client + ":")

    def _port(self, inp: _Input, name: str) -> int:
        if inp.handle is None:
            idx = lib.jm_add_port(self.ptr, name.encode())
            if idx < 0:
                raise MidiInputError(f"cannot create the JACK MIDI port {name!r}")
            inp.handle = idx
            self.set_route(inp, inp.route)  # routed before anyone can connect to it
        return inp.handle

    def open(self, inp: _Input, port: str) -> None:
        idx = self._port(inp, f"in {inp.group}")
        self.set_route(inp, inp.route)
        if lib.jm_connect(self.ptr, port.encode(), idx) != 0:
            raise MidiInputError(f"cannot connect MIDI input {port!r}")

    def virtual(self, inp: _Input) -> None:
        self._port(inp, inp.name)

    def set_route(self, inp: _Input, groups: list[int]) -> None:
        if inp.handle is None:
            return
        lib.jm_set_route(self.ptr, inp.handle, *_route(groups))

    def close(self, inp: _Input) -> None:
        if inp.handle is not None:
            lib.jm_set_route(self.ptr, inp.handle, ffi.NULL, 0)  # the port stays, idle, for its return

    def connections(self, inp: _Input) -> int | None:
        n = lib.jm_port_connections(self.ptr, inp.handle)
        return None if n < 0 else int(n)

    def feeds_us(self, port: str) -> bool:
        return lib.jm_feeds_us(self.ptr, port.encode()) == 1

    def use_as_frame_clock(self, sink) -> None:
        """The wave sink plays into this JACK graph: take its DAC times from JACK's frame
        clock, the clock these MIDI stamps come from (exact frames, no wake-up jitter)."""
        self._clocked = sink
        lib.ws_set_frame_clock(sink, self.ptr)

    def shutdown(self) -> None:
        if self.ptr is None:
            return
        sink = getattr(self, "_clocked", None)
        if sink is not None:
            # The audio callback may be reading this client right now: let two callbacks
            # pass (or 100 ms, if the stream is not running) before freeing it.
            lib.ws_set_frame_clock(sink, ffi.NULL)
            st = ffi.new("ws_stats *")
            lib.ws_get_stats(sink, st)
            first = st.callbacks
            t_end = time.monotonic() + 0.1
            while time.monotonic() < t_end:
                lib.ws_get_stats(sink, st)
                if st.callbacks >= first + 2:
                    break
                time.sleep(0.002)
        lib.jm_destroy(self.ptr)
        self.ptr = None


class _RtMidiBackend:
    """RtMidi (ALSA, CoreMIDI): one RtMidiIn per input through RtMidi's C API with a C
    callback, plus one long-lived python-rtmidi client that lists the ports."""

    def __init__(self, sink, api: str, client_name: str):
        import rtmidi

        self.sink = sink
        self.api = next(a for a in rtmidi.get_compiled_api() if rtmidi.get_api_name(a) == api)
        self.api_name = api
        self.client_name = client_name_for(client_name)
        err = ffi.new("char[256]")
        if not lib.rm_available(err, 256):
            raise MidiInputError(f"cannot open the {api} MIDI API: {ffi.string(err).decode()}")
        self.lister = self._new_in("-watch")

    def _new_in(self, suffix: str = ""):
        import rtmidi

        try:
            m = rtmidi.MidiIn(self.api, name=self.client_name + suffix)
        except rtmidi.SystemError as exc:  # no ALSA sequencer...
            api = rtmidi.get_api_name(self.api)
            hint = " (no ALSA sequencer: /dev/snd/seq missing?)" if api == "alsa" else ""
            raise MidiInputError(
                f"cannot open the {api} MIDI API{hint}: {' '.join(str(exc).split())}; "
                "try --midi-api with another API (see `dlsynth devices`)"
            ) from None
        return m

    def ports(self) -> list[str]:
        return list(self.lister.get_ports())

    def ours(self, port: str) -> bool:
        return port.startswith(self.client_name)

    def open(self, inp: _Input, port: str) -> None:
        if port not in self.ports():
            raise MidiInputError(f"MIDI input {port!r} is gone")
        self._open(inp, port, f"in {inp.group}", f"cannot open MIDI input {port!r}")

    def virtual(self, inp: _Input) -> None:
        self._open(inp, None, inp.name, f"cannot create the virtual MIDI port {inp.name!r}")

    def _open(self, inp: _Input, source: str | None, port_name: str, failure: str) -> None:
        """An RtMidiIn whose callback is C (native/rtmidi_in.c): RtMidi's thread stamps and
        queues without the interpreter, so closing it never waits on a callback that waits
        for the GIL."""
        err = ffi.new("char[512]")
        ptr = lib.rm_open(
            self.sink,
            self.api_name.encode(),
            self.client_name.encode(),
            ffi.NULL if source is None else source.encode(),
            port_name.encode(),
            err,
            512,
        )
        if ptr == ffi.NULL:
            raise MidiInputError(f"{failure}: {ffi.string(err).decode(errors='replace')}")
        inp.handle = ptr
        self.set_route(inp, inp.route or [inp.group])

    def set_route(self, inp: _Input, groups: list[int]) -> None:
        if inp.handle is None:
            return
        lib.rm_set_route(inp.handle, *_route(groups))

    def close(self, inp: _Input) -> None:
        if inp.handle is not None:
            lib.rm_close(inp.handle)  # RtMidi's thread is stopped when it returns
            inp.handle = None

    def connections(self, inp: _Input) -> int | None:
        return None  # rtmidi cannot tell who is connected to a virtual port

    def changed(self) -> bool:
        return True  # no notifications: look every round (ALSA's port list is local and cheap)

    def feeds_us(self, port: str) -> bool:
        return False

    def shutdown(self) -> None:
        try:
            self.lister.delete()
        except Exception:
            pass


@dataclass
class MidiInputs:
    """The MIDI inputs of a live session (DirectMusic capture streams, one group each).

    sink: the wave sink's C handle (``WaveSink.handle``) messages are pushed into.
    miniport, render: when given, each input is a capture stream of the miniport connected to
    `render` (or through filters), and its messages follow that graph's compiled route.
    api: a MIDI API name (default: the platform's usual one). names: substrings of the port
    names to open; ``None`` or ``["all"]`` opens every port, now and as they appear.
    virtual: a name for a virtual input port. groups: optional {substring: channel group}.
    max_group: the highest channel group the synth has.
    """

    sink: object
    miniport: object = None
    render: object = None
    api: str | None = None
    names: list[str] | None = None
    virtual: str | None = None
    groups: dict[str, int] = field(default_factory=dict)
    client_name: str = MIDI_CLIENT
    max_group: int = 16
    inputs: list[_Input] = field(default_factory=list)
    backend: object = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_group: int = 1
    _seen: dict = field(default_factory=dict)  # new port -> when first seen
    fallback_note: str | None = None  # said once when the usual MIDI API was not there

    @property
    def open_all(self) -> bool:
        return self.names is None or any(w.lower() == "all" for w in self.names)

    def open(self) -> "MidiInputs":
        """Open the MIDI client, the ports asked for and the virtual port."""
        api = api_name(self.api)
        try:
            if self.backend is not None:  # given (tests drive python-rtmidi over JACK this way)
                pass
            else:
                self.backend = (
                    _JackBackend(self.sink, self.client_name)
                    if api == "jack"
                    else _RtMidiBackend(self.sink, api, self.client_name)
                )
        except MidiInputError as exc:
            first = exc
            if self.api is not None or api == "jack":
                raise
            # No --midi-api and the usual one is not there (no ALSA sequencer): a running
            # JACK server will do; otherwise say why the usual one failed.
            try:
                self.backend = _JackBackend(self.sink, self.client_name)
            except MidiInputError:
                raise first from None
            self.fallback_note = f"no {api} MIDI here; using JACK MIDI"
        ports = self.backend.ports()
        if self.open_all:
            chosen = [(p, p) for p in ports if not self.backend.ours(p)]
        else:
            chosen = []
            for w in self.names:
                hits = [p for p in ports if w.lower() in p.lower()]
                if not hits:
                    listing = "; ".join(ports) if ports else "none"
                    raise MidiInputError(f"no MIDI input matches {w!r} (ports: {listing})")
                chosen.append((w, hits[0]))
        for label, port in chosen:
            self._add(label, port)
        if self.virtual:
            inp = _Input(self.virtual, self._take_group(self.virtual, self.virtual), virtual=True)
            self._stream(inp)
            self.backend.virtual(inp)
            inp.connected = True
            self.inputs.append(inp)
        return self

    def _take_group(self, label: str, port: str) -> int:
        for key, g in self.groups.items():
            if key.lower() in port.lower() or key.lower() == label.lower():
                self._next_group = max(self._next_group, int(g) + 1)
                return int(g)
        g = self._next_group
        self._next_group += 1
        return g

    def _stream(self, inp: _Input) -> None:
        """Give the input its capture stream (IMiniportDMus::NewStream, connected to the
        render stream) and compile the route its messages take to the synth."""
        if self.miniport is not None and inp.stream is None:
            cap = self.miniport.new_stream("capture", channel_group=inp.group)
            cap.connect_output(self.render)
            cap.set_state("run")
            inp.stream = cap
        self._compile(inp)

    def _compile(self, inp: _Input) -> None:
        groups = inp.stream.route(inp.group) if inp.stream is not None else [inp.group]
        if groups != inp.route:
            inp.route = groups
            self.backend.set_route(inp, groups)

    def _add(self, label: str, port: str) -> _Input | None:
        group = self._take_group(label, port)
        if group > self.max_group:
            print(
                f"dlsynth play: MIDI input {port!r} not opened: all {self.max_group} channel groups are in use",
                file=sys.stderr,
            )
            return None
        inp = _Input(label, group, port)
        self._stream(inp)
        self.backend.open(inp, port)
        inp.connected = True
        self.inputs.append(inp)
        return inp

    def silence_group(self, group: int) -> None:
        """Sustain off and all notes off on every channel of a group (a vanished input)."""
        for msg in silence_messages():
            lib.ws_midi_push(self.sink, int(group), msg, len(msg))

    def service(self) -> list[str]:
        """Notice inputs that vanished or appeared; returns what changed, for the status line.
        Called from the Service thread (never the audio thread)."""
        notes: list[str] = []
        with self._lock:
            if not self.backend.changed() and not self._seen:
                return notes  # nothing plugged, unplugged or connected since the last look
            try:
                ports = self.backend.ports()
            except Exception:
                return notes
            for inp in self.inputs:
                if inp.connected or inp.virtual:
                    self._compile(inp)  # the stream graph may have changed
                if inp.virtual:
                    self._watch_virtual(inp, notes)
                    continue
                present = inp.port_name in ports
                if inp.connected and not present:
                    self.backend.close(inp)
                    inp.connected, inp.route = False, []
                    self.silence_group(inp.group)
                    notes.append(f"MIDI input {inp.port_name!r} disappeared: its notes were stopped")
                elif not inp.connected and present:
                    inp.route = inp.stream.route(inp.group) if inp.stream is not None else [inp.group]
                    try:
                        self.backend.open(inp, inp.port_name)
                    except MidiInputError as exc:
                        notes.append(str(exc))
                        continue
                    inp.connected = True
                    inp.reconnects += 1
                    self._compile(inp)
                    notes.append(f"MIDI input {inp.port_name!r} is back (channel group {inp.group})")
            if self.open_all:
                self._open_new(ports, notes)
        return notes

    def _open_new(self, ports: list[str], notes: list[str]) -> None:
        now = time.monotonic()
        known = {i.port_name for i in self.inputs}
        for p in list(self._seen):
            if p not in ports:
                del self._seen[p]
        for p in ports:
            if p in known or self.backend.ours(p):
                continue
            first = self._seen.setdefault(p, now)
            # A sender the user connected into our virtual port already plays through that
            # port's group: opening it too would double every note.
            if now - first < NEW_PORT_GRACE_S or self.backend.feeds_us(p):
                continue
            try:
                inp = self._add(p, p)
            except MidiInputError as exc:
                notes.append(str(exc))
                continue
            if inp is not None:
                notes.append(f"MIDI input {p!r} opened (channel group {inp.group})")

    def _watch_virtual(self, inp: _Input, notes: list[str]) -> None:
        n = self.backend.connections(inp)
        if n is None:
            return
        if inp.senders and n < inp.senders:
            self.silence_group(inp.group)
            if n == 0:
                notes.append(f"the last sender into {inp.name!r} went away: its notes were stopped")
        inp.senders = n

    def follow_sink_clock(self, sink) -> bool:
        """When `sink` (a WaveSink) plays through PortAudio into the JACK graph these inputs
        read, its DAC times come from JACK's frame clock, the clock the MIDI stamps come from:
        a key is scheduled by exact frames, not by when the audio callback happened to wake
        (a wake-up later than the schedule margin would make every key late). True if so."""
        backend = self.backend
        if sink.jack is not None or not hasattr(backend, "use_as_frame_clock") or not sink.plays_into_jack:
            return False
        backend.use_as_frame_clock(sink.handle)
        return True

    def close(self) -> None:
        with self._lock:
            if self.backend is None:
                return
            for inp in self.inputs:
                self.backend.close(inp)
                inp.connected = False
            self.backend.shutdown()
            self.backend = None

    @property
    def channel_groups(self) -> int:
        return max([1, *(i.group for i in self.inputs)])
