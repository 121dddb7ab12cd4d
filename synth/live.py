"""Live MIDI inputs: rtmidi ports as DirectMusic capture streams, one channel group each.

The rtmidi callback does one thing: stamp the message with the master clock and put
``(ref_time, channel_group, bytes)`` on a bounded queue (`EventQueue`); the audio callback
drains that queue before it renders (`sink.wavesink`). So only the audio thread ever
pushes into the engine, and nothing here touches the synth.

Inputs are opened by name (a case-insensitive substring of the port name) or all at once;
each gets its own channel group (1, 2, ... in the order opened) unless a mapping says
otherwise; a virtual input port lets other software send to dlsynth. A port that
disappears (a keyboard unplugged) is closed and its channel group gets all-notes-off and
sustain-off; when it comes back it is opened again on the same group (`watch`, from a
non-real-time thread).
"""

from __future__ import annotations

import collections
import sys
import threading
from dataclasses import dataclass, field

QUEUE_CAPACITY = 4096


class MidiInputError(Exception):
    """A MIDI input problem the user can act on (one line)."""


class EventQueue:
    """A bounded FIFO of (ref_time, channel_group, bytes), safe between the MIDI threads and
    the audio thread under the GIL (deque append/popleft are atomic). When full, the newest
    event is dropped and counted: never blocking, never growing."""

    def __init__(self, capacity: int = QUEUE_CAPACITY):
        self._q: collections.deque = collections.deque()
        self.capacity = int(capacity)
        self.dropped = 0
        self.received = 0

    def put(self, ref_time: int, group: int, data: bytes) -> None:
        if len(self._q) >= self.capacity:
            self.dropped += 1
            return
        self._q.append((ref_time, group, data))
        self.received += 1

    def get(self):
        """The oldest event, or None."""
        try:
            return self._q.popleft()
        except IndexError:
            return None

    def __len__(self) -> int:
        return len(self._q)


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


def _close_input(inp) -> None:
    """Stop an input's callback and close its port; a port already gone is fine."""
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
class _Input:
    name: str
    group: int
    port_name: str | None = None
    midi_in: object = None
    virtual: bool = False
    connected: bool = False
    reconnects: int = 0


@dataclass
class MidiInputs:
    """The MIDI inputs of a live session (DirectMusic capture streams, one group each).

    api: an rtmidi API name (default: the platform's usual one). names: substrings of the
    port names to open; ``None`` or ``["all"]`` opens every port. virtual: a name for a
    virtual input port. groups: optional {substring: channel group}.
    """

    queue: EventQueue
    clock: object
    api: str | None = None
    names: list[str] | None = None
    virtual: str | None = None
    groups: dict[str, int] = field(default_factory=dict)
    client_name: str = "dlsynth"
    record: list | None = None  # when a list, every stamped message is appended too
    inputs: list[_Input] = field(default_factory=list)
    _api: int = -1
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _watcher: threading.Thread | None = None

    def _new_in(self):
        import rtmidi

        try:
            m = rtmidi.MidiIn(self._api, name=self.client_name)
        except rtmidi.SystemError as exc:  # no ALSA sequencer, no JACK server...
            api = rtmidi.get_api_name(self._api)
            hint = " (is a JACK server running?)" if api == "jack" else (
                " (no ALSA sequencer: /dev/snd/seq missing?)" if api == "alsa" else "")
            raise MidiInputError(f"cannot open the {api} MIDI API{hint}: {' '.join(str(exc).split())}; "
                                 "try --midi-api with another API (see `dlsynth devices`)") from None
        m.ignore_types(sysex=False, timing=True, active_sense=True)
        return m

    def available_ports(self) -> list[str]:
        m = self._new_in()
        try:
            return list(m.get_ports())
        finally:
            m.delete()

    def open(self) -> "MidiInputs":
        """Open the ports asked for (before the audio stream starts: see RIG.md)."""
        self._api = api_from_name(self.api)
        ports = self.available_ports()
        wanted = self.names
        next_group = 1
        if wanted is None or any(w.lower() == "all" for w in wanted):
            chosen = [(p, p) for p in ports if not p.startswith(self.client_name)]
        else:
            chosen = []
            for w in wanted:
                hits = [p for p in ports if w.lower() in p.lower()]
                if not hits:
                    listing = "; ".join(ports) if ports else "none"
                    raise MidiInputError(f"no MIDI input matches {w!r} (ports: {listing})")
                chosen.append((w, hits[0]))
        for label, port in chosen:
            group = self._group_for(label, port, next_group)
            next_group = max(next_group, group + 1)
            inp = _Input(label, group, port)
            self._connect(inp, ports)
            self.inputs.append(inp)
        if self.virtual:
            group = self._group_for(self.virtual, self.virtual, next_group)
            inp = _Input(self.virtual, group, virtual=True)
            m = self._new_in()
            try:
                m.open_virtual_port(self.virtual)
            except Exception as exc:
                m.delete()
                raise MidiInputError(f"cannot create the virtual MIDI port {self.virtual!r}: {exc}") from None
            m.set_callback(self._callback, group)
            inp.midi_in, inp.connected = m, True
            self.inputs.append(inp)
        return self

    def _group_for(self, label: str, port: str, default: int) -> int:
        for key, g in self.groups.items():
            if key.lower() in port.lower() or key.lower() == label.lower():
                return int(g)
        return default

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
        m.set_callback(self._callback, inp.group)
        inp.midi_in, inp.port_name, inp.connected = m, ports[idx], True
        return True

    def _callback(self, event, group) -> None:
        """rtmidi's thread: stamp and queue, nothing else."""
        t = self.clock.get_time()
        data = bytes(event[0])
        self.queue.put(t, group, data)
        if self.record is not None:
            self.record.append((t, group, data))

    def silence_group(self, group: int) -> None:
        """All notes off and sustain off on every channel of a group (a vanished input)."""
        t = self.clock.get_time()
        for ch in range(16):
            self.queue.put(t, group, bytes([0xB0 | ch, 64, 0]))
            self.queue.put(t, group, bytes([0xB0 | ch, 123, 0]))

    def check(self) -> list[str]:
        """Notice inputs that vanished or came back; returns what changed, for the status line."""
        notes = []
        with self._lock:
            try:
                ports = self.available_ports()
            except MidiInputError:
                return notes
            for inp in self.inputs:
                if inp.virtual:
                    continue
                present = inp.port_name in ports
                if inp.connected and not present:
                    _close_input(inp)
                    self.silence_group(inp.group)
                    notes.append(f"MIDI input {inp.port_name!r} disappeared: its notes were stopped")
                elif not inp.connected and present:
                    if self._connect(inp, ports):
                        inp.reconnects += 1
                        notes.append(f"MIDI input {inp.port_name!r} is back (channel group {inp.group})")
        return notes

    def watch(self, interval: float = 1.0, on_change=None) -> None:
        """Check for vanished or returning inputs every `interval` seconds, in a thread."""
        def loop():
            while not self._stop.wait(interval):
                for note in self.check():
                    if on_change:
                        on_change(note)

        self._watcher = threading.Thread(target=loop, name="dlsynth-midi-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        with self._lock:
            for inp in self.inputs:
                _close_input(inp)

    @property
    def channel_groups(self) -> int:
        return max([1, *(i.group for i in self.inputs)])
