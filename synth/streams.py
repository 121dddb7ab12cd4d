"""MXF streams and filters, after DirectMusic's ``IMXF``.

A stream takes chains of :class:`~synth.events.KernelEvent` with :meth:`MXF.put_message` and,
when running, hands them to the one sink connected with :meth:`MXF.connect_output` (another
stream, the synth, or the allocator).  Whoever holds an event last gives it back to the
allocator: a sink that consumes an event owns it from then on.

States follow ``KSSTATE``:

- ``STOP``: events given to the stream are returned to the allocator (counted in
  ``dropped``); events held from a pause are returned too.
- ``ACQUIRE`` and ``PAUSE``: events are held, in order, in a bounded queue; when it is full,
  new events are returned to the allocator (counted in ``overflowed``).
- ``RUN``: events are processed (a filter's own work) and delivered to the sink.  On the
  transition to RUN, the held events are delivered first, in order.  With no sink connected,
  events go back to the allocator (counted in ``unconnected``).

Filters here start in RUN (they are in-line transforms); the miniport's pin streams start in
STOP, as KS pins do.

Threading: one producer thread per stream for ``put_message``; state changes and connection
changes from a control thread.  The hold queue is a deque (atomic append/popleft), and the
transition to RUN drains it both before and after the state flips so that no event is left
behind.  Recorder and save_midi allocate and are meant for the MIDI/control threads, not the
audio thread.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Callable, Mapping, Optional, Union

from .events import (
    EVENT_INCOMPLETE,
    MAX_CHANNEL_GROUP,
    PACKAGE_EVENT,
    KernelEvent,
    SysexAssembler,
    iter_chain,
)

__all__ = [
    "StreamState",
    "MXF",
    "ChannelGroupRemapper",
    "Splitter",
    "Recorder",
    "CallbackSink",
    "DEFAULT_HOLD_CAPACITY",
    "REFTIME_PER_SECOND",
]

DEFAULT_HOLD_CAPACITY = 1024
#: Reference time units (100 ns) per second.
from dlsynth.native.engine import REF_PER_SECOND as REFTIME_PER_SECOND  # noqa: E402


class StreamState(enum.IntEnum):
    """``KSSTATE``: the values match the kernel-streaming enumeration."""

    STOP = 0
    ACQUIRE = 1
    PAUSE = 2
    RUN = 3


def _as_state(state) -> StreamState:
    if isinstance(state, StreamState):
        return state
    if isinstance(state, str):
        try:
            return StreamState[state.upper()]
        except KeyError:
            pass
    elif isinstance(state, int) and not isinstance(state, bool):
        try:
            return StreamState(state)
        except ValueError:
            pass
    names = ", ".join(s.name for s in StreamState)
    raise ValueError(f"unknown stream state {state!r}; expected one of {names}")


def _check_sink(sink) -> None:
    if sink is None or not callable(getattr(sink, "put_message", None)):
        raise ValueError(f"a sink must have a put_message(event) method, got {sink!r}")


class MXF:
    """A MIDI transform stream (``IMXF``).

    Subclasses override :meth:`process` (called in RUN with one chain; it must either pass
    the chain on with :meth:`forward` or give it back with ``self.allocator.put_message``).
    """

    def __init__(
        self,
        allocator,
        *,
        hold_capacity: int = DEFAULT_HOLD_CAPACITY,
        state: Union[StreamState, int, str] = StreamState.RUN,
    ) -> None:
        _check_sink(allocator)
        if isinstance(hold_capacity, bool) or not isinstance(hold_capacity, int) or hold_capacity < 0:
            raise ValueError(f"hold_capacity must be an int >= 0, got {hold_capacity!r}")
        self.allocator = allocator
        self.hold_capacity = hold_capacity
        self._state = _as_state(state)
        self._sink = None
        self._held: deque[KernelEvent] = deque()
        self.delivered = 0
        self.dropped = 0
        self.overflowed = 0
        self.unconnected = 0
        self._reported: dict[str, int] = {}

    # --------------------------------------------------------------------------- connection
    @property
    def sink(self):
        """The connected sink, or None."""
        return self._sink

    def connect_output(self, sink) -> None:
        """``IMXF::ConnectOutput``: send this stream's events to *sink*.  A stream has one
        sink; disconnect the old one first (a :class:`Splitter` has several)."""
        _check_sink(sink)
        if sink is self:
            raise ValueError("a stream cannot be connected to itself")
        if self._sink is not None:
            raise ValueError(
                f"{type(self).__name__} is already connected to {self._sink!r}; call disconnect_output first"
            )
        self._sink = sink

    def disconnect_output(self, sink) -> None:
        """``IMXF::DisconnectOutput``.  *sink* must be the connected one."""
        if self._sink is None or self._sink is not sink:
            raise ValueError(f"{sink!r} is not connected to this {type(self).__name__}")
        self._sink = None

    # -------------------------------------------------------------------------------- state
    @property
    def state(self) -> StreamState:
        return self._state

    def set_state(self, state) -> None:
        """``IMXF::SetState``.  See the module docstring for what each state does."""
        new = _as_state(state)
        old = self._state
        if new == old:
            return
        if new == StreamState.STOP:
            self._state = new
            self._return_held()
        elif new == StreamState.RUN:
            self._drain_held()
            self._state = new
            self._drain_held()  # anything a producer held while the state flipped
        else:
            self._state = new

    def _drain_held(self) -> None:
        held = self._held
        while True:
            try:
                evt = held.popleft()
            except IndexError:
                return
            self.process(evt)

    def _return_held(self) -> None:
        held = self._held
        while True:
            try:
                evt = held.popleft()
            except IndexError:
                return
            self.dropped += 1
            self.allocator.put_message(evt)

    @property
    def held_count(self) -> int:
        return len(self._held)

    # ----------------------------------------------------------------------------- messages
    def put_message(self, evt: Optional[KernelEvent]) -> None:
        """``IMXF::PutMessage``: take a chain of events (ownership passes to the stream)."""
        if evt is None:
            return
        state = self._state
        if state == StreamState.RUN:
            self.process(evt)
        elif state == StreamState.STOP:
            self.dropped += 1
            self.allocator.put_message(evt)
        elif len(self._held) < self.hold_capacity:
            self._held.append(evt)
        else:
            self.overflowed += 1
            self.allocator.put_message(evt)

    def process(self, evt: KernelEvent) -> None:
        """A filter's work on one chain in RUN; the plain stream just forwards it."""
        self.forward(evt)

    def forward(self, evt: Optional[KernelEvent]) -> None:
        """Deliver a chain to the sink, or give it back to the allocator if none."""
        if evt is None:
            return
        sink = self._sink
        if sink is None:
            self.unconnected += 1
            self.allocator.put_message(evt)
        else:
            self.delivered += 1
            sink.put_message(evt)

    # ---------------------------------------------------------------------------- reporting
    _COUNTER_TEXT = {
        "dropped": "{name}: {n} event chains dropped while stopped",
        "overflowed": "{name}: hold queue full, {n} event chains dropped",
        "unconnected": "{name}: {n} event chains dropped (no sink connected)",
    }

    # -- the graph compiled, for events kept C-side ---------------------------------------
    def route(self, group: int) -> list[int]:
        """The channel groups a message sent into this stream on `group` reaches at the
        synth, through this stream and those after it: live inputs and the file source push
        C-side kernel events along these compiled routes (no Python object, no Python call
        per message). A stopped stream delivers nothing."""
        sink = self._sink
        if sink is None or self._state == StreamState.STOP:
            return []
        fn = getattr(sink, "route", None)
        return fn(group) if fn is not None else []

    def put_batch(self, ref_times, groups, data: bytes, offsets, lengths, tags=None) -> int:
        """``IMXF::PutMessage`` for many C-side kernel events at once (see Synth.put_batch):
        their groups are mapped along this stream's routes, then handed to the synth.
        ``tags``: each event's tag (a file's MIDI track + 1), or None.
        Returns how many of the given events were taken."""
        import numpy as np

        synth = self.terminal()
        if synth is None:
            self.unconnected += len(ref_times)
            return len(ref_times)
        g = np.asarray(groups, dtype=np.int32)
        uniq = np.flatnonzero(np.bincount(g)) if len(g) and int(g.min()) >= 0 else sorted(set(g.tolist()))
        routes = {int(u): self.route(int(u)) for u in uniq}
        if all(r == [u] for u, r in routes.items()):
            return synth.put_batch(ref_times, g, data, offsets, lengths, tags)
        counts = np.array([len(routes[int(x)]) for x in g.tolist()], dtype=np.int64)
        new_g = np.array([t for x in g.tolist() for t in routes[int(x)]], dtype=np.int32)
        rep = lambda a: np.repeat(np.asarray(a), counts)  # noqa: E731
        got = synth.put_batch(
            rep(ref_times), new_g, data, rep(offsets), rep(lengths), None if tags is None else rep(tags)
        )
        # Count whole source events taken.
        return int(np.searchsorted(np.cumsum(counts), got, side="right"))

    def terminal(self):
        """The synth this stream's events end up in (the first, through a splitter)."""
        fn = getattr(self._sink, "terminal", None)
        return fn() if fn is not None else None

    def take_warnings(self) -> list[str]:
        """Counters that grew since the last call, as sentences for a non-real-time thread."""
        out = []
        name = type(self).__name__
        for key, text in self._COUNTER_TEXT.items():
            now = getattr(self, key)
            n = now - self._reported.get(key, 0)
            if n > 0:
                self._reported[key] = now
                out.append(text.format(name=name, n=n))
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} state={self._state.name} held={len(self._held)}>"


# ------------------------------------------------------------------------------------ filters
class ChannelGroupRemapper(MXF):
    """An IMXF filter that moves events from one channel group to another (what DirectMusic's
    kernel channel-group remapping filter does). The product routes inputs to groups with the
    compiled routes of `Miniport`; this filter is the MXF model of it, used by the tests.

    *mapping* is a dict ``{from_group: to_group}`` (groups not in it pass unchanged) or a
    callable ``group -> group``.  A group mapped to None (or for which the callable returns
    None) is dropped; a callable returning a group out of 0..65535 drops the event too
    (counted in ``invalid``).  Package contents are remapped as well.
    """

    def __init__(
        self,
        allocator,
        mapping: Union[Mapping[int, Optional[int]], Callable[[int], Optional[int]]],
        **kwargs,
    ) -> None:
        super().__init__(allocator, **kwargs)
        self.filtered = 0
        self.invalid = 0
        self.set_mapping(mapping)

    def set_mapping(self, mapping) -> None:
        """Replace the mapping (atomic: one attribute assignment)."""
        if callable(mapping) and not isinstance(mapping, Mapping):
            self._map_fn = mapping
            return
        if not isinstance(mapping, Mapping):
            raise ValueError(f"mapping must be a dict or a callable, got {type(mapping).__name__}")
        table: dict[int, Optional[int]] = {}
        for src, dst in mapping.items():
            for label, g in (("source", src), ("target", dst)):
                if g is None and label == "target":
                    continue
                if isinstance(g, bool) or not isinstance(g, int) or not 0 <= g <= MAX_CHANNEL_GROUP:
                    raise ValueError(
                        f"channel group {label} {g!r} in mapping {src!r}->{dst!r} "
                        f"is not an int in 0..{MAX_CHANNEL_GROUP}"
                    )
            table[src] = dst
        get = table.get
        self._map_fn = lambda g: get(g, g)

    def process(self, evt: KernelEvent) -> None:
        self.forward(self._remap_chain(evt))

    def route(self, group: int) -> list[int]:
        if self._state == StreamState.STOP:
            return []
        new = self._map_fn(group)
        if new is None or isinstance(new, bool) or not isinstance(new, int) or not 0 <= new <= MAX_CHANNEL_GROUP:
            return []
        return super().route(new)

    def _remap_chain(self, evt: Optional[KernelEvent]) -> Optional[KernelEvent]:
        """Remap every event of a chain in place; unlink and free the dropped ones."""
        fn = self._map_fn
        head: Optional[KernelEvent] = None
        tail: Optional[KernelEvent] = None
        while evt is not None:
            nxt = evt.next
            new = fn(evt.channel_group)
            keep = new is not None
            if keep and (isinstance(new, bool) or not isinstance(new, int) or not 0 <= new <= MAX_CHANNEL_GROUP):
                self.invalid += 1
                keep = False
            elif not keep:
                self.filtered += 1
            if keep and (evt.flags & PACKAGE_EVENT):
                evt.package = self._remap_chain(evt.package)
            if keep:
                evt.channel_group = new
                if tail is None:
                    head = evt
                else:
                    tail.next = evt
                tail = evt
            else:
                evt.next = None
                self.allocator.put_message(evt)
            evt = nxt
        if tail is not None:
            tail.next = None
        return head


class Splitter(MXF):
    """An IMXF splitter (DirectMusic's kernel splitter filter): one source, several sinks;
    each sink gets its own copy of every chain (taken from the allocator); the original goes
    back to the pool.  When the pool runs dry for a sink, that
    sink misses the chain (counted in ``copy_failed``)."""

    def __init__(self, allocator, **kwargs) -> None:
        super().__init__(allocator, **kwargs)
        self._sinks: tuple = ()
        self.copy_failed = 0

    @property
    def sinks(self) -> tuple:
        return self._sinks

    @property
    def sink(self):
        return self._sinks[0] if self._sinks else None

    def connect_output(self, sink) -> None:
        _check_sink(sink)
        if sink is self:
            raise ValueError("a stream cannot be connected to itself")
        if any(s is sink for s in self._sinks):
            raise ValueError(f"{sink!r} is already connected to this Splitter")
        self._sinks = self._sinks + (sink,)  # a new tuple: readers see old or new, never half

    def disconnect_output(self, sink) -> None:
        if not any(s is sink for s in self._sinks):
            raise ValueError(f"{sink!r} is not connected to this Splitter")
        self._sinks = tuple(s for s in self._sinks if s is not sink)

    def route(self, group: int) -> list[int]:
        if self._state == StreamState.STOP:
            return []
        return [g for sink in self._sinks for g in (getattr(sink, "route", None) or (lambda _g: []))(group)]

    def terminal(self):
        for sink in self._sinks:
            fn = getattr(sink, "terminal", None)
            t = fn() if fn is not None else None
            if t is not None:
                return t
        return None

    def process(self, evt: KernelEvent) -> None:
        sinks = self._sinks
        if not sinks:
            self.unconnected += 1
            self.allocator.put_message(evt)
            return
        clone = self.allocator.clone
        for sink in sinks:
            copy = clone(evt)
            if copy is None:
                self.copy_failed += 1
            else:
                sink.put_message(copy)
        self.delivered += 1
        self.allocator.put_message(evt)

    _COUNTER_TEXT = dict(MXF._COUNTER_TEXT, copy_failed="{name}: {n} copies failed (pool dry)")


class CallbackSink(MXF):
    """An IMXF sink that hands each event to ``callback(event)`` and then returns it to the
    allocator (IAllocatorMXF::PutMessage).

    With ``expand_packages`` (the default) the callback sees the events inside packages, not
    the package events.  The callback must not keep the event: it is reused once returned.
    An exception from the callback is counted (``errors``) and the events still go back.
    """

    def __init__(
        self, allocator, callback: Callable[[KernelEvent], object], *, expand_packages: bool = True, **kwargs
    ) -> None:
        if not callable(callback):
            raise ValueError(f"callback must be callable, got {callback!r}")
        super().__init__(allocator, **kwargs)
        self.callback = callback
        self.expand_packages = expand_packages
        self.errors = 0

    def process(self, evt: KernelEvent) -> None:
        try:
            for e in iter_chain(evt, self.expand_packages):
                self.callback(e)
        except Exception:
            self.errors += 1
        finally:
            self.delivered += 1
            self.allocator.put_message(evt)

    _COUNTER_TEXT = dict(MXF._COUNTER_TEXT, errors="{name}: the callback raised {n} times")


class Recorder(MXF):
    """Records ``(presentation_time, channel_group, bytes)`` for every complete message that
    passes, in arrival order, in :attr:`events`.

    Sysex fragments are reassembled (the time recorded is that of the last fragment); package
    contents are recorded one by one.  With ``passthrough`` the chains go on to the sink (or
    back to the allocator if none is connected); without it they go back to the allocator.
    Allocates (tuples, bytes): use it on the MIDI or control side, not in the audio thread.
    """

    def __init__(self, allocator, passthrough: bool = True, *, max_sysex: int = 64 * 1024, **kwargs) -> None:
        super().__init__(allocator, **kwargs)
        self.passthrough = passthrough
        self.events: list[tuple[int, int, bytes]] = []
        self._assembler = SysexAssembler(max_sysex)

    def clear(self) -> None:
        self.events = []
        self._assembler.reset()

    def process(self, evt: KernelEvent) -> None:
        append = self.events.append
        feed = self._assembler.feed
        pending = self._assembler.pending
        for e in iter_chain(evt, True):
            if e.byte_count == 0:
                continue
            if (e.flags & EVENT_INCOMPLETE) or pending(e.channel_group) or e.status == 0xF0:
                msg = feed(e)
            else:
                msg = e.to_bytes()
            if msg:
                append((e.presentation_time, e.channel_group, msg))
        if self.passthrough:
            self.forward(evt)
        else:
            self.delivered += 1
            self.allocator.put_message(evt)

    # ----------------------------------------------------------------------------- MIDI file
    def save_midi(self, path, ticks_per_beat: int = 960, tempo: int = 500000, origin: Optional[int] = None) -> dict:
        """Write the recording as a standard MIDI file (type 1): one track per channel group,
        written atomically (`smf.writer.write_midi`). Returns ``tracks``, ``messages`` and
        ``skipped``."""
        from dlsynth.smf.writer import write_midi

        return write_midi(self.events, path, ticks_per_beat, tempo, origin)
