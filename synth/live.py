"""Live MIDI inputs: rtmidi ports as DirectMusic capture streams, one channel group each.

The rtmidi callback does one thing: a single C call (``ws_midi_push_groups``) that stamps
the message with the master clock and pushes it into the wave sink's lock-free ring, for
the channel groups the stream is routed to. The audio thread (C) drains that ring.

Inputs are opened by name (a case-insensitive substring of the port name) or all at once;
each gets its own channel group (1, 2, ... in the order opened) unless a mapping says
otherwise; a virtual input port lets other software send to dlsynth. `service` (from the
miniport's Service thread) watches the ports with ONE long-lived MIDI client: a port that
disappears (a keyboard unplugged) is closed and its channel group gets sustain-off and
all-notes-off; a port that appears is opened (with ``all``, on a new group; a named one
comes back on its old group); on JACK, when the last sender connected into the virtual
port goes away, its group is silenced the same way.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field

from native import ffi, lib

MIDI_CLIENT = "dlsynth-midi"  # the MIDI client's name (never the JACK server's: see `client_name_for`)
#: A port that appears is opened after this long (seconds), unless by then it was connected
#: into our virtual port by hand (on JACK).
NEW_PORT_GRACE_S = 0.4


class MidiInputError(Exception):
    """A MIDI input problem the user can act on (one line)."""


def default_api_name() -> str:
    if sys.platform.startswith("linux"):
        return "alsa"
    if sys.platform == "darwin":
        return "core"
    if sys.platform.startswith(("win", "cygwin")):
        return "winmm"
    return "jack"


def api_from_name(name: str | None) -> int:
    """python-rtmidi's API constant for a name (alsa, jack, core, winmm)."""
    import rtmidi

    apis = {rtmidi.get_api_name(a): a for a in rtmidi.get_compiled_api()}
    key = (name or default_api_name()).strip().lower()
    key = {"coremidi": "core", "macos": "core", "windows": "winmm", "mme": "winmm"}.get(key, key)
    if key not in apis:
        offered = ", ".join(sorted(apis)) or "none"
        raise MidiInputError(f"MIDI API {key!r} is not available in this python-rtmidi (it offers: {offered})")
    return apis[key]


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
    midi_in: object = None
    virtual: bool = False
    connected: bool = False
    reconnects: int = 0
    groups: object = None  # cdata int32_t[]: the channel groups its messages go to
    n_groups: int = 0
    stream: object = None  # its CaptureStream (DMUS_STREAM_MIDI_CAPTURE)
    senders: int = 0  # virtual port: connections seen last time


def _close_input(inp: _Input) -> None:
    m = inp.midi_in
    if m is not None:
        try:
            m.cancel_callback()
            m.close_port()
            m.delete()
        except Exception:
            pass
    inp.midi_in, inp.connected = None, False


@dataclass
class MidiInputs:
    """The MIDI inputs of a live session (DirectMusic capture streams, one group each).

    sink: the wave sink's C handle (``WaveSink.handle``) the callbacks push into.
    miniport, render: when given, each input is a capture stream of the miniport connected to
    `render` (or through filters), and its messages follow that graph's compiled route.
    api: an rtmidi API name (default: the platform's usual one). names: substrings of the
    port names to open; ``None`` or ``["all"]`` opens every port, now and as they appear.
    virtual: a name for a virtual input port. groups: optional {substring: channel group}.
    max_group: the highest channel group the synth has.
    """

    sink: object
    miniport: object = None
    render: object = None  # the miniport's render stream the capture streams connect to
    api: str | None = None
    names: list[str] | None = None
    virtual: str | None = None
    groups: dict[str, int] = field(default_factory=dict)
    client_name: str = MIDI_CLIENT
    max_group: int = 16
    record: list | None = None  # when a list, (stamp, group, bytes) of every message too
    inputs: list[_Input] = field(default_factory=list)
    _api: int = -1
    _lister: object = None
    _jack: object = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_group: int = 1
    _seen: dict = field(default_factory=dict)  # new port -> when first seen

    @property
    def open_all(self) -> bool:
        return self.names is None or any(w.lower() == "all" for w in self.names)

    def _new_in(self, suffix: str = ""):
        import rtmidi

        try:
            m = rtmidi.MidiIn(self._api, name=client_name_for(self.client_name + suffix))
        except rtmidi.SystemError as exc:  # no ALSA sequencer, no JACK server...
            api = rtmidi.get_api_name(self._api)
            hint = " (is a JACK server running?)" if api == "jack" else (
                " (no ALSA sequencer: /dev/snd/seq missing?)" if api == "alsa" else "")
            raise MidiInputError(f"cannot open the {api} MIDI API{hint}: {' '.join(str(exc).split())}; "
                                 "try --midi-api with another API (see `dlsynth devices`)") from None
        m.ignore_types(sysex=False, timing=True, active_sense=True)
        return m

    def _ports(self) -> list[str]:
        return list(self._lister.get_ports())

    def _ours(self, port: str) -> bool:
        base = client_name_for(self.client_name)
        return port.startswith(base) or port.startswith(self.client_name)

    def open(self) -> "MidiInputs":
        """Open the ports asked for, and the long-lived client that watches them."""
        self._api = api_from_name(self.api)
        self._lister = self._new_in("-watch")
        ports = self._ports()
        if self.open_all:
            chosen = [(p, p) for p in ports if not self._ours(p)]
        else:
            chosen = []
            for w in self.names:
                hits = [p for p in ports if w.lower() in p.lower()]
                if not hits:
                    listing = "; ".join(ports) if ports else "none"
                    raise MidiInputError(f"no MIDI input matches {w!r} (ports: {listing})")
                chosen.append((w, hits[0]))
        for label, port in chosen:
            self._add(label, port, ports)
        if self.virtual:
            group = self._take_group(self.virtual, self.virtual)
            inp = _Input(self.virtual, group, virtual=True)
            self._route(inp)
            m = self._new_in()
            try:
                m.open_virtual_port(self.virtual)
            except Exception as exc:
                m.delete()
                raise MidiInputError(f"cannot create the virtual MIDI port {self.virtual!r}: {exc}") from None
            m.set_callback(self._callback, inp)
            inp.midi_in, inp.connected = m, True
            self.inputs.append(inp)
        if self._api_name() == "jack":
            self._jack = _jack_watcher()
        return self

    def _api_name(self) -> str:
        import rtmidi

        return rtmidi.get_api_name(self._api)

    def _take_group(self, label: str, port: str) -> int:
        for key, g in self.groups.items():
            if key.lower() in port.lower() or key.lower() == label.lower():
                self._next_group = max(self._next_group, int(g) + 1)
                return int(g)
        g = self._next_group
        self._next_group += 1
        return g

    def _route(self, inp: _Input) -> None:
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
        if inp.groups is None or list(inp.groups)[:inp.n_groups] != groups:
            arr = ffi.new("int32_t[]", max(1, len(groups)))
            for i, g in enumerate(groups):
                arr[i] = g
            inp.groups, inp.n_groups = arr, len(groups)  # one reference swap: the callback sees old or new

    def _add(self, label: str, port: str, ports: list[str]) -> _Input | None:
        group = self._take_group(label, port)
        if group > self.max_group:
            print(f"dlsynth play: MIDI input {port!r} not opened: all {self.max_group} channel groups are in use",
                  file=sys.stderr)
            return None
        inp = _Input(label, group, port)
        self._route(inp)
        self._connect(inp, ports)
        self.inputs.append(inp)
        return inp

    def _connect(self, inp: _Input, ports: list[str]) -> bool:
        idx = next((i for i, p in enumerate(ports) if p == inp.port_name), None)
        if idx is None:
            idx = next((i for i, p in enumerate(ports) if inp.name.lower() in p.lower()), None)
        if idx is None:
            return False
        m = self._new_in()
        try:
            m.open_port(idx, name=f"in {inp.group}")
        except Exception as exc:
            m.delete()
            raise MidiInputError(f"cannot open MIDI input {ports[idx]!r}: {exc}") from None
        m.set_callback(self._callback, inp)
        inp.midi_in, inp.port_name, inp.connected = m, ports[idx], True
        return True

    def _callback(self, event, inp) -> None:
        """rtmidi's thread: one C call that stamps and queues; nothing else."""
        data = bytes(event[0])
        lib.ws_midi_push_groups(self.sink, inp.groups, inp.n_groups, data, len(data))
        if self.record is not None:
            self.record.append((int(lib.ws_clock_now()), inp.group, data))

    def silence_group(self, group: int) -> None:
        """Sustain off and all notes off on every channel of a group (a vanished input)."""
        for msg in silence_messages():
            lib.ws_midi_push(self.sink, int(group), msg, len(msg))

    def service(self) -> list[str]:
        """Notice inputs that vanished or appeared; returns what changed, for the status line.
        Called from the Service thread (never the audio thread)."""
        notes: list[str] = []
        with self._lock:
            try:
                ports = self._ports()
            except Exception:
                return notes
            for inp in self.inputs:
                self._compile(inp)  # the stream graph may have changed
                if inp.virtual:
                    self._watch_virtual(inp, notes)
                    continue
                present = inp.port_name in ports
                if inp.connected and not present:
                    _close_input(inp)
                    self.silence_group(inp.group)
                    notes.append(f"MIDI input {inp.port_name!r} disappeared: its notes were stopped")
                elif not inp.connected and present:
                    try:
                        if self._connect(inp, ports):
                            inp.reconnects += 1
                            notes.append(f"MIDI input {inp.port_name!r} is back (channel group {inp.group})")
                    except MidiInputError as exc:
                        notes.append(str(exc))
            if self.open_all:
                self._open_new(ports, notes)
        return notes

    def _routed_to_us(self, port: str) -> bool:
        """A sender the user connected into our virtual port (JACK): it already plays
        through that port's group, so opening it too would double every note."""
        return self._jack is not None and self._jack.connected_to_client(port, client_name_for(self.client_name))

    def _open_new(self, ports: list[str], notes: list[str]) -> None:
        import time

        now = time.monotonic()
        known = {i.port_name for i in self.inputs}
        for p in list(self._seen):
            if p not in ports:
                del self._seen[p]
        for p in ports:
            if p in known or self._ours(p):
                continue
            first = self._seen.setdefault(p, now)
            if now - first < NEW_PORT_GRACE_S or self._routed_to_us(p):
                continue
            try:
                inp = self._add(p, p, ports)
            except MidiInputError as exc:
                notes.append(str(exc))
                continue
            if inp is not None and inp.connected:
                notes.append(f"MIDI input {p!r} opened (channel group {inp.group})")

    def _watch_virtual(self, inp: _Input, notes: list[str]) -> None:
        if self._jack is None:
            return
        n = self._jack.connections_to(f":{inp.name}", client=client_name_for(self.client_name))
        if n is None:
            return
        if inp.senders and n < inp.senders:
            self.silence_group(inp.group)
            if n == 0:
                notes.append(f"the last sender into {inp.name!r} went away: its notes were stopped")
        inp.senders = n

    def close(self) -> None:
        with self._lock:
            for inp in self.inputs:
                _close_input(inp)
            if self._lister is not None:
                try:
                    self._lister.delete()
                except Exception:
                    pass
                self._lister = None
            if self._jack is not None:
                self._jack.close()
                self._jack = None

    @property
    def channel_groups(self) -> int:
        return max([1, *(i.group for i in self.inputs)])


class _JackConnections:
    """One long-lived JACK client (never activated: no process thread) that counts the
    connections into our virtual MIDI port."""

    def __init__(self, client) -> None:
        self.client = client

    def connections_to(self, suffix: str, client: str) -> int | None:
        try:
            ports = [p for p in self.client.get_ports(is_midi=True, is_input=True)
                     if p.name.endswith(suffix) and p.name.startswith(client)]
            if not ports:
                return None
            return sum(len(self.client.get_all_connections(p)) for p in ports)
        except Exception:
            return None

    def connected_to_client(self, port: str, client: str) -> bool:
        try:
            return any(c.name.startswith(client) for c in self.client.get_all_connections(port))
        except Exception:
            return False

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass


def _jack_watcher() -> _JackConnections | None:
    try:
        import jack

        return _JackConnections(jack.Client(client_name_for("dlsynth-watch"), no_start_server=True))
    except Exception:  # JACK-Client missing or no server: the virtual port is not watched
        return None
