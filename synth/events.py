"""Kernel events: one timed MIDI message, after DirectMusic's ``DMUS_KERNEL_EVENT``.

A :class:`KernelEvent` carries one MIDI message (or one fragment of a long system-exclusive
message, or a *package*: a chain of events to be handled as one) for one channel group, with a
presentation time in 100 ns units of the master clock.

Field names are Pythonic; each one says which ``DMUS_KERNEL_EVENT`` member it stands for:

====================  ==================  =====================================================
here                  DMUS_KERNEL_EVENT   meaning
====================  ==================  =====================================================
struct_size           cbStruct            size of the C structure (40 on 64-bit Windows)
byte_count            cbEvent             bytes of MIDI data in this event
channel_group         usChannelGroup      channel group; 0 means "every group"
flags                 usFlags             EVENT_COMPLETE / EVENT_INCOMPLETE / PACKAGE_EVENT
presentation_time     ullPresTime100ns    when the event sounds, 100 ns master-clock units
byte_position         ullBytePosition     position in a byte stream, or BYTE_POSITION_NONE
next                  pNextEvt            next event of a chain (same time stamp), or None
inline                uData.abData        the data when byte_count <= INLINE_CAPACITY
buffer                uData.pbData        the data when longer (a bytearray from the pool)
package               uData.pPackageEvt   the chain carried by a PACKAGE_EVENT
====================  ==================  =====================================================

Events are not created on the real-time path: they come from an
:class:`synth.allocator.Allocator`'s fixed pool (``IAllocatorMXF::GetMessage``) and go back to it
(``PutMessage``), which calls :meth:`KernelEvent.reset`.  Nothing here allocates Python objects
in steady state except where said (``to_bytes``, ``data``, the sysex assembler's result).

Hot-path reading for a short message (what the synth should do)::

    if evt.byte_count <= INLINE_CAPACITY:   # evt.is_short()
        raw = evt.inline                    # a bytearray(8); only the first byte_count count
        status, d1, d2 = raw[0], raw[1], raw[2]
"""

from __future__ import annotations

from typing import Iterator, Optional

__all__ = [
    "EVENT_COMPLETE",
    "EVENT_INCOMPLETE",
    "PACKAGE_EVENT",
    "BYTE_POSITION_NONE",
    "INLINE_CAPACITY",
    "KERNEL_EVENT_STRUCT_SIZE",
    "MAX_CHANNEL_GROUP",
    "SYSEX_MAX_SIZE",
    "KernelEvent",
    "SysexAssembler",
    "iter_chain",
    "midi_message_length",
]

#: ``DMUS_KEF_EVENT_COMPLETE``: the event holds a whole message.
EVENT_COMPLETE = 0x0000
#: ``DMUS_KEF_EVENT_INCOMPLETE``: a fragment of a sysex (or package) that continues in a later
#: event of the same channel group.  Do not interpret it alone.
EVENT_INCOMPLETE = 0x0001
#: ``DMUS_KEF_PACKAGE_EVENT``: ``package`` holds a chain of events to be dealt with atomically.
PACKAGE_EVENT = 0x0002

#: ``kBytePositionNone``: the event has no meaningful byte position.
BYTE_POSITION_NONE = (1 << 64) - 1
#: ``sizeof(PBYTE)`` on 64-bit Windows: messages this short live inline (``SHORT_EVT``).
INLINE_CAPACITY = 8
#: ``sizeof(DMUS_KERNEL_EVENT)`` on 64-bit Windows (``cbStruct``).
KERNEL_EVENT_STRUCT_SIZE = 40
#: ``usChannelGroup`` is a USHORT.
MAX_CHANNEL_GROUP = 0xFFFF
#: Default bound on a reassembled system-exclusive message.
SYSEX_MAX_SIZE = 64 * 1024


class KernelEvent:
    """One timed MIDI event (``DMUS_KERNEL_EVENT``).  See the module docstring for the fields.

    Events normally come from an :class:`~synth.allocator.Allocator` (their *owner*), which
    gives long messages a buffer from its pool.  A free-standing event (``KernelEvent()``, no
    owner) is fine for tests and non-real-time code: it allocates its own buffer when needed.
    """

    __slots__ = (
        "struct_size",
        "byte_count",
        "channel_group",
        "flags",
        "presentation_time",
        "byte_position",
        "next",
        "inline",
        "buffer",
        "package",
        "_owner",
        "_in_pool",
    )

    def __init__(self, owner=None) -> None:
        self.struct_size = KERNEL_EVENT_STRUCT_SIZE
        self.byte_count = 0
        self.channel_group = 0
        self.flags = EVENT_COMPLETE
        self.presentation_time = 0
        self.byte_position = BYTE_POSITION_NONE
        self.next: Optional[KernelEvent] = None
        self.inline = bytearray(INLINE_CAPACITY)
        self.buffer: Optional[bytearray] = None
        self.package: Optional[KernelEvent] = None
        self._owner = owner
        self._in_pool = False

    # ---------------------------------------------------------------- flags (dmusicks.h macros)
    def is_short(self) -> bool:
        """``SHORT_EVT``: the data fits inline (``byte_count <= INLINE_CAPACITY``)."""
        return self.byte_count <= INLINE_CAPACITY

    def is_package(self) -> bool:
        """``PACKAGE_EVT``: the event carries a chain in ``package``."""
        return bool(self.flags & PACKAGE_EVENT)

    def is_complete(self) -> bool:
        """``COMPLETE_EVT``: not a fragment (the INCOMPLETE flag is clear)."""
        return not (self.flags & EVENT_INCOMPLETE)

    def is_incomplete(self) -> bool:
        """``INCOMPLETE_EVT``."""
        return bool(self.flags & EVENT_INCOMPLETE)

    # ---------------------------------------------------------------------------- life cycle
    @property
    def owner(self):
        """The allocator this event belongs to, or None for a free-standing event."""
        return self._owner

    def reset(self) -> None:
        """Clear every field for reuse.

        A buffer goes back to the owner's buffer pool, and a carried package chain to the
        owner's event pool (a free-standing event simply lets go of them).  The ``next`` link
        is cleared but the event it pointed to is *not* freed: freeing a whole chain is
        :meth:`Allocator.put_message`'s job.
        """
        buf = self.buffer
        if buf is not None:
            self.buffer = None
            if self._owner is not None:
                self._owner.put_buffer(buf)
        pkg = self.package
        if pkg is not None:
            self.package = None
            if self._owner is not None:
                self._owner.put_message(pkg)
        self.struct_size = KERNEL_EVENT_STRUCT_SIZE
        self.byte_count = 0
        self.channel_group = 0
        self.flags = EVENT_COMPLETE
        self.presentation_time = 0
        self.byte_position = BYTE_POSITION_NONE
        self.next = None

    # ---------------------------------------------------------------------------------- data
    def set_data(self, data) -> bool:
        """Copy *data* (bytes, bytearray, memoryview or a sequence of ints) into the event.

        Up to :data:`INLINE_CAPACITY` bytes go inline (and any buffer held is given back);
        longer data goes into a buffer from the owner's pool (``IAllocatorMXF::GetBuffer``).
        Sets ``byte_count``.  Returns False, leaving the event empty (``byte_count`` 0), when
        the owner's buffer pool is dry; that is counted by the allocator, never raised.

        Raises ValueError if the data is longer than one pool buffer: long sysex must be split
        into INCOMPLETE fragments (:meth:`Allocator.make_message` does that).
        """
        n = len(data)
        if n <= INLINE_CAPACITY:
            if self.buffer is not None:
                buf = self.buffer
                self.buffer = None
                if self._owner is not None:
                    self._owner.put_buffer(buf)
            self.inline[:n] = data
            self.byte_count = n
            return True
        buf = self.buffer
        owner = self._owner
        if buf is None:
            if owner is None:
                buf = bytearray(n)
            else:
                if n > owner.buffer_size:
                    raise ValueError(
                        f"message of {n} bytes is longer than an allocator buffer "
                        f"({owner.buffer_size} bytes); split it with Allocator.make_message"
                    )
                buf = owner.get_buffer()
                if buf is None:
                    self.byte_count = 0
                    return False
            self.buffer = buf
        elif n > len(buf):
            if owner is not None:
                raise ValueError(
                    f"message of {n} bytes is longer than an allocator buffer "
                    f"({len(buf)} bytes); split it with Allocator.make_message"
                )
            buf = bytearray(n)
            self.buffer = buf
        buf[:n] = data
        self.byte_count = n
        return True

    def set_short(self, status: int, data1: int = 0, data2: int = 0, length: int = 3) -> None:
        """Fast path for a channel message: write up to three bytes inline.  Nothing is checked
        but the length (1..3); the synth validates the message."""
        if self.buffer is not None:
            buf = self.buffer
            self.buffer = None
            if self._owner is not None:
                self._owner.put_buffer(buf)
        raw = self.inline
        raw[0] = status
        raw[1] = data1
        raw[2] = data2
        self.byte_count = length

    @property
    def data(self) -> memoryview:
        """A view of the valid bytes (inline or buffer).  Allocates a view: not for hot loops."""
        n = self.byte_count
        if n <= INLINE_CAPACITY:
            return memoryview(self.inline)[:n]
        buf = self.buffer
        if buf is None:  # inconsistent event (byte_count set by hand); show nothing
            return memoryview(b"")
        return memoryview(buf)[:n]

    def to_bytes(self) -> bytes:
        """The valid bytes as a new ``bytes`` object (allocates)."""
        n = self.byte_count
        if n <= INLINE_CAPACITY:
            return bytes(self.inline[:n])
        buf = self.buffer
        return b"" if buf is None else bytes(buf[:n])

    @property
    def status(self) -> int:
        """The first data byte (the MIDI status), or -1 for an empty event."""
        n = self.byte_count
        if n == 0:
            return -1
        if n <= INLINE_CAPACITY:
            return self.inline[0]
        return -1 if self.buffer is None else self.buffer[0]

    def __iter__(self) -> Iterator["KernelEvent"]:
        """Iterate over the chain starting at this event (``pNextEvt`` links)."""
        return iter_chain(self)

    def __repr__(self) -> str:  # not for the hot path
        kind = "package" if self.is_package() else ("fragment" if self.is_incomplete() else "event")
        return (
            f"KernelEvent({kind}, group={self.channel_group}, t={self.presentation_time}, "
            f"data={self.to_bytes().hex(' ')}, next={'yes' if self.next is not None else 'no'})"
        )


def iter_chain(evt: Optional[KernelEvent], expand_packages: bool = False) -> Iterator[KernelEvent]:
    """Yield the events of a chain, following ``next``.

    With ``expand_packages`` a package event is replaced by the events of its package
    (recursively), so only message-bearing events are yielded.  The next link is read before
    yielding, so the consumer may unlink the yielded event.
    """
    while evt is not None:
        nxt = evt.next
        if expand_packages and (evt.flags & PACKAGE_EVENT):
            yield from iter_chain(evt.package, True)
        else:
            yield evt
        evt = nxt


def midi_message_length(status: int) -> int:
    """Length in bytes of a MIDI message starting with *status*; 0 for sysex (variable) and for
    a data byte (no status)."""
    if status < 0x80:
        return 0
    if status < 0xF0:
        hi = status & 0xF0
        return 2 if hi in (0xC0, 0xD0) else 3
    if status == 0xF0:
        return 0
    if status in (0xF1, 0xF3):
        return 2
    if status == 0xF2:
        return 3
    return 1  # F4..F7 (undefined, EOX) and F8..FF (real time)


class SysexAssembler:
    """Reassembles system-exclusive messages that arrive in INCOMPLETE fragments.

    One assembly per channel group.  Feed every event that may belong to a sysex (an event that
    starts with 0xF0, an INCOMPLETE event, or any event of a group for which :meth:`pending` is
    true); :meth:`feed` returns the whole message as ``bytes`` when its last (COMPLETE)
    fragment arrives, else None.

    Rules:
    - A fragment starting with 0xF0 begins a new message; an unfinished one in the same group
      is dropped and counted in ``aborted``.
    - An INCOMPLETE fragment with nothing pending that does not start with 0xF0 is dropped
      (``orphaned``).  A COMPLETE event with nothing pending is returned as it is.
    - A message longer than ``max_size`` is dropped whole (``oversize_dropped``): its later
      fragments are swallowed up to its last one.

    Not for the audio thread's steady state: results are new ``bytes`` objects and buffers grow
    as needed (sysex is rare; the synth handles it outside the per-sample path).
    """

    def __init__(self, max_size: int = SYSEX_MAX_SIZE) -> None:
        if not isinstance(max_size, int) or max_size < 2:
            raise ValueError(f"max_size must be an int >= 2, got {max_size!r}")
        self.max_size = max_size
        self._parts: dict[int, bytearray] = {}
        self._overflowing: set[int] = set()
        self.completed = 0
        self.aborted = 0
        self.orphaned = 0
        self.oversize_dropped = 0

    def pending(self, channel_group: int) -> bool:
        """True if a message of this group is being assembled."""
        return channel_group in self._parts or channel_group in self._overflowing

    def reset(self, channel_group: Optional[int] = None) -> None:
        """Forget unfinished messages (of one group, or of all)."""
        if channel_group is None:
            self._parts.clear()
            self._overflowing.clear()
        else:
            self._parts.pop(channel_group, None)
            self._overflowing.discard(channel_group)

    def feed(self, evt: KernelEvent) -> Optional[bytes]:
        group = evt.channel_group
        data = evt.data
        n = len(data)
        starts_new = n > 0 and data[0] == 0xF0
        incomplete = bool(evt.flags & EVENT_INCOMPLETE)
        parts = self._parts.get(group)
        overflowing = group in self._overflowing

        if starts_new and (parts is not None or overflowing):
            self.aborted += 1
            self._parts.pop(group, None)
            self._overflowing.discard(group)
            parts = None
            overflowing = False

        if parts is None and not overflowing:
            if not starts_new:
                if incomplete:
                    self.orphaned += 1
                    return None
                return bytes(data)  # an ordinary complete message
            if not incomplete:  # a whole sysex in one event
                if n > self.max_size:
                    self.oversize_dropped += 1
                    return None
                self.completed += 1
                return bytes(data)
            if n > self.max_size:
                self._overflowing.add(group)
                return None
            self._parts[group] = bytearray(data)
            return None

        if overflowing:
            if not incomplete:
                self._overflowing.discard(group)
                self.oversize_dropped += 1
            return None

        if len(parts) + n > self.max_size:
            del self._parts[group]
            if incomplete:
                self._overflowing.add(group)
            else:
                self.oversize_dropped += 1
            return None
        parts += data
        if incomplete:
            return None
        del self._parts[group]
        self.completed += 1
        return bytes(parts)
