"""The event pool, after DirectMusic's ``IAllocatorMXF``.

Every :class:`~synth.events.KernelEvent` and every long-message buffer is created once, when the
:class:`Allocator` is built.  Afterwards :meth:`Allocator.get_message` and
:meth:`Allocator.put_message` only move objects between the pool and their users, so the
real-time threads (the MIDI callback that stamps and sends, the audio thread that consumes and
gives back) allocate nothing.

Thread safety: the free lists are :class:`collections.deque` objects, whose ``append`` and
``pop`` are atomic under the GIL, so single get/put operations may be called from two threads
at once (say the MIDI thread getting while the audio thread puts back).  The statistics
counters are plain ints; a lost increment under contention is possible and harmless.

Running dry never raises and never logs on the hot path: the call returns None and the failure
is counted.  A non-real-time thread calls :meth:`Allocator.take_warnings` now and then to print
what happened.
"""

from __future__ import annotations

from collections import deque
from typing import Optional

from .events import (
    EVENT_COMPLETE,
    EVENT_INCOMPLETE,
    PACKAGE_EVENT,
    KernelEvent,
)

__all__ = ["Allocator", "DEFAULT_EVENTS", "DEFAULT_BUFFERS", "DEFAULT_BUFFER_SIZE"]

DEFAULT_EVENTS = 4096
DEFAULT_BUFFERS = 256
DEFAULT_BUFFER_SIZE = 256


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


class Allocator:
    """A fixed pool of kernel events and data buffers (``IAllocatorMXF``).

    It is also an MXF sink: streams that drop or finish with events hand them back with
    :meth:`put_message`, as DirectMusic streams do with their allocator.

    Counters (read them any time): ``dropped`` (get_message found the pool dry),
    ``buffer_dropped`` (get_buffer found no buffer), ``double_free`` (an event already in the
    pool was put back again; ignored), ``foreign`` (an event of another allocator or of none
    was put here; passed to its owner, or just let go).
    """

    def __init__(
        self,
        events: int = DEFAULT_EVENTS,
        buffers: int = DEFAULT_BUFFERS,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
    ) -> None:
        _positive_int("events", events)
        _positive_int("buffers", buffers, 0)
        _positive_int("buffer_size", buffer_size, 9)  # longer than the 8 inline bytes
        self._capacity = events
        self._buffer_capacity = buffers
        self._buffer_size = buffer_size
        self._free: deque[KernelEvent] = deque()
        self._free_buffers: deque[bytearray] = deque()
        for _ in range(events):
            evt = KernelEvent(self)
            evt._in_pool = True
            self._free.append(evt)
        for _ in range(buffers):
            self._free_buffers.append(bytearray(buffer_size))
        self.dropped = 0
        self.buffer_dropped = 0
        self.double_free = 0
        self.foreign = 0
        self._reported = {"dropped": 0, "buffer_dropped": 0, "double_free": 0, "foreign": 0}

    # ------------------------------------------------------------------------------ sizes
    @property
    def capacity(self) -> int:
        """Number of events the pool was built with."""
        return self._capacity

    @property
    def buffer_capacity(self) -> int:
        return self._buffer_capacity

    @property
    def buffer_size(self) -> int:
        return self._buffer_size

    def get_buffer_size(self) -> int:
        """``IAllocatorMXF::GetBufferSize``: bytes in each long-message buffer."""
        return self._buffer_size

    @property
    def free_count(self) -> int:
        """Events now in the pool."""
        return len(self._free)

    @property
    def free_buffer_count(self) -> int:
        return len(self._free_buffers)

    @property
    def in_use(self) -> int:
        """Events handed out and not yet returned."""
        return self._capacity - len(self._free)

    # ------------------------------------------------------------------------------ events
    def get_message(self) -> Optional[KernelEvent]:
        """``IAllocatorMXF::GetMessage``: a clean event from the pool, or None when dry
        (counted in ``dropped``)."""
        try:
            evt = self._free.pop()
        except IndexError:
            self.dropped += 1
            return None
        evt._in_pool = False
        return evt

    def put_message(self, evt: Optional[KernelEvent]) -> None:
        """``IMXF::PutMessage`` on the allocator: take back a whole chain.

        Follows ``next`` links; package chains are returned too (by :meth:`KernelEvent.reset`),
        and so are buffers.  Each event is reset.  Putting back an event that is already in the
        pool is ignored and counted (``double_free``), and stops the walk (which also makes a
        cyclic chain safe).
        """
        free = self._free
        while evt is not None:
            if evt._in_pool:
                self.double_free += 1
                return
            nxt = evt.next
            owner = evt._owner
            if owner is not self:
                self.foreign += 1
                evt.next = None
                if owner is not None:
                    owner.put_message(evt)
                else:
                    evt.reset()
                evt = nxt
                continue
            evt._in_pool = True  # before reset: a package chain pointing back here stops
            evt.reset()
            free.append(evt)
            evt = nxt

    # ----------------------------------------------------------------------------- buffers
    def get_buffer(self) -> Optional[bytearray]:
        """``IAllocatorMXF::GetBuffer``: a bytearray of :attr:`buffer_size` bytes, or None when
        dry (counted in ``buffer_dropped``)."""
        try:
            return self._free_buffers.pop()
        except IndexError:
            self.buffer_dropped += 1
            return None

    def put_buffer(self, buf: bytearray) -> None:
        """``IAllocatorMXF::PutBuffer``.  Buffers of another size are not taken (let go)."""
        if len(buf) == self._buffer_size and len(self._free_buffers) < self._buffer_capacity:
            self._free_buffers.append(buf)

    # --------------------------------------------------------------------------- helpers
    def make_message(
        self,
        data,
        channel_group: int = 1,
        presentation_time: int = 0,
    ) -> Optional[KernelEvent]:
        """An event (or chain) holding *data*, stamped with group and time.

        Data longer than one buffer (a long sysex) becomes a chain of fragments, each but the
        last flagged INCOMPLETE, as DirectMusic delivers long sysex.  Returns None, with nothing
        taken from the pool, when events or buffers run out (counted).
        """
        n = len(data)
        size = self._buffer_size
        if n <= size:
            evt = self.get_message()
            if evt is None:
                return None
            if not evt.set_data(data):
                self.put_message(evt)
                return None
            evt.channel_group = channel_group
            evt.presentation_time = presentation_time
            return evt
        head: Optional[KernelEvent] = None
        tail: Optional[KernelEvent] = None
        view = memoryview(data) if not isinstance(data, (list, tuple)) else data
        for start in range(0, n, size):
            evt = self.get_message()
            if evt is None or not evt.set_data(view[start : start + size]):
                if evt is not None:
                    self.put_message(evt)
                self.put_message(head)
                return None
            evt.channel_group = channel_group
            evt.presentation_time = presentation_time
            evt.flags = EVENT_INCOMPLETE if start + size < n else EVENT_COMPLETE
            if tail is None:
                head = evt
            else:
                tail.next = evt
            tail = evt
        return head

    def make_package(
        self, chain: Optional[KernelEvent], channel_group: int = 0, presentation_time: Optional[int] = None
    ) -> Optional[KernelEvent]:
        """A PACKAGE event carrying *chain*.  On failure the chain is returned to the pool."""
        evt = self.get_message()
        if evt is None:
            self.put_message(chain)
            return None
        evt.flags = PACKAGE_EVENT
        evt.package = chain
        evt.channel_group = channel_group
        if presentation_time is None and chain is not None:
            presentation_time = chain.presentation_time
        evt.presentation_time = presentation_time or 0
        return evt

    def clone(self, evt: Optional[KernelEvent]) -> Optional[KernelEvent]:
        """A deep copy of a chain (packages and data included) from this pool, or None if the
        pool ran dry (the partial copy is returned)."""
        head: Optional[KernelEvent] = None
        tail: Optional[KernelEvent] = None
        while evt is not None:
            new = self.get_message()
            if new is None:
                self.put_message(head)
                return None
            new.struct_size = evt.struct_size
            new.channel_group = evt.channel_group
            new.flags = evt.flags
            new.presentation_time = evt.presentation_time
            new.byte_position = evt.byte_position
            if evt.flags & PACKAGE_EVENT:
                if evt.package is not None:
                    pkg = self.clone(evt.package)
                    if pkg is None:
                        self.put_message(new)
                        self.put_message(head)
                        return None
                    new.package = pkg
                new.byte_count = evt.byte_count
            elif not new.set_data(evt.data):
                self.put_message(new)
                self.put_message(head)
                return None
            if tail is None:
                head = new
            else:
                tail.next = new
            tail = new
            evt = evt.next
        return head

    # --------------------------------------------------------------------- MXF-sink duck type
    def set_state(self, state) -> None:
        """An allocator accepts events in every state."""

    # ---------------------------------------------------------------------------- reporting
    def take_warnings(self) -> list[str]:
        """What went wrong since the last call, as sentences to print from a non-real-time
        thread (the hot path never logs)."""
        out: list[str] = []
        texts = {
            "dropped": "allocator ran dry {n} times (events dropped; pool of {cap} events)",
            "buffer_dropped": "allocator ran out of buffers {n} times (long messages dropped)",
            "double_free": "an event was returned to the allocator twice ({n} times; ignored)",
            "foreign": "{n} events were returned to an allocator that does not own them",
        }
        for key, text in texts.items():
            now = getattr(self, key)
            n = now - self._reported[key]
            if n > 0:
                self._reported[key] = now
                out.append(text.format(n=n, cap=self._capacity))
        return out

    def __repr__(self) -> str:
        return (
            f"Allocator(free={self.free_count}/{self._capacity} events, "
            f"{self.free_buffer_count}/{self._buffer_capacity} buffers of {self._buffer_size})"
        )
