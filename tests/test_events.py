"""synth.events and synth.allocator: kernel events, the fixed pool, chains, packages, sysex."""

from __future__ import annotations

import gc
import threading
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlsynth.synth.allocator import Allocator
from dlsynth.synth.events import (
    BYTE_POSITION_NONE,
    EVENT_COMPLETE,
    EVENT_INCOMPLETE,
    INLINE_CAPACITY,
    KERNEL_EVENT_STRUCT_SIZE,
    PACKAGE_EVENT,
    KernelEvent,
    SysexAssembler,
    iter_chain,
    midi_message_length,
)


def chain_length(evt) -> int:
    """Number of events in a chain (not counting package contents)."""
    n = 0
    while evt is not None:
        n += 1
        evt = evt.next
    return n


#: Net memory blocks a 10,000-iteration get/put loop may leave behind (tracemalloc noise).
STEADY_STATE_BLOCK_TOLERANCE = 8
#: Net bytes likewise.
STEADY_STATE_BYTE_TOLERANCE = 2048
STEADY_STATE_ITERATIONS = 10_000


def _make_chain(alloc: Allocator, n: int, group: int = 1, t: int = 0):
    head = tail = None
    for i in range(n):
        e = alloc.get_message()
        e.set_data(bytes([0x90, 60 + i % 60, 100]))
        e.channel_group = group
        e.presentation_time = t
        if tail is None:
            head = e
        else:
            tail.next = e
        tail = e
    return head


# ------------------------------------------------------------------------------------ events
def test_fresh_event_has_dmusic_defaults():
    e = KernelEvent()
    assert e.struct_size == KERNEL_EVENT_STRUCT_SIZE
    assert e.byte_count == 0
    assert e.flags == EVENT_COMPLETE
    assert e.byte_position == BYTE_POSITION_NONE == 2**64 - 1
    assert e.next is None and e.package is None and e.buffer is None
    assert (EVENT_COMPLETE, EVENT_INCOMPLETE, PACKAGE_EVENT) == (0, 1, 2)


def test_event_uses_slots():
    e = KernelEvent()
    with pytest.raises(AttributeError):
        e.some_new_attribute = 1  # type: ignore[attr-defined]


def test_flag_helpers():
    e = KernelEvent()
    assert e.is_complete() and not e.is_incomplete() and not e.is_package()
    e.flags = EVENT_INCOMPLETE
    assert not e.is_complete() and e.is_incomplete()
    e.flags = PACKAGE_EVENT
    assert e.is_package() and e.is_complete()
    e.set_data(b"\x90\x40\x40")
    assert e.is_short()
    e.set_data(bytes(range(9)))
    assert not e.is_short()


def test_set_data_inline_and_buffer_free_standing():
    e = KernelEvent()
    assert e.set_data(b"\x90\x3c\x64")
    assert e.byte_count == 3 and e.buffer is None
    assert e.to_bytes() == b"\x90\x3c\x64" and bytes(e.data) == b"\x90\x3c\x64"
    assert e.status == 0x90
    long = bytes([0xF0] + list(range(1, 20)) + [0xF7])
    assert e.set_data(long)
    assert e.byte_count == len(long) and e.buffer is not None
    assert e.to_bytes() == long
    assert e.set_data([0xC0, 5])  # ints, as python-rtmidi gives
    assert e.to_bytes() == b"\xc0\x05" and e.buffer is None


def test_set_data_exactly_inline_capacity_stays_inline():
    alloc = Allocator(events=2, buffers=1, buffer_size=16)
    e = alloc.get_message()
    assert e.set_data(bytes(range(INLINE_CAPACITY)))
    assert e.buffer is None and alloc.free_buffer_count == 1


def test_set_data_uses_allocator_buffer_and_reset_returns_it():
    alloc = Allocator(events=4, buffers=2, buffer_size=32)
    e = alloc.get_message()
    assert e.set_data(bytes(20))
    assert alloc.free_buffer_count == 1
    assert len(e.buffer) == 32
    e.set_data(b"\x80\x40\x00")  # back to inline: buffer goes back
    assert e.buffer is None and alloc.free_buffer_count == 2
    e.set_data(bytes(20))
    alloc.put_message(e)
    assert alloc.free_buffer_count == 2 and alloc.free_count == 4


def test_set_data_too_long_for_pool_buffer_raises_value_error():
    alloc = Allocator(events=2, buffers=1, buffer_size=16)
    e = alloc.get_message()
    with pytest.raises(ValueError, match="make_message"):
        e.set_data(bytes(17))


def test_set_data_buffer_pool_dry_returns_false():
    alloc = Allocator(events=4, buffers=1, buffer_size=16)
    a, b = alloc.get_message(), alloc.get_message()
    assert a.set_data(bytes(12))
    assert not b.set_data(bytes(12))
    assert b.byte_count == 0
    assert alloc.buffer_dropped == 1


def test_midi_message_length():
    assert midi_message_length(0x90) == 3
    assert midi_message_length(0xC3) == 2
    assert midi_message_length(0xD0) == 2
    assert midi_message_length(0xE5) == 3
    assert midi_message_length(0xF0) == 0
    assert midi_message_length(0xF2) == 3
    assert midi_message_length(0xF3) == 2
    assert midi_message_length(0xF8) == 1
    assert midi_message_length(0x40) == 0


def test_iter_chain_and_packages():
    alloc = Allocator(events=16)
    inner = _make_chain(alloc, 3, group=2)
    pkg = alloc.make_package(inner, channel_group=2)
    first = _make_chain(alloc, 1)
    last = _make_chain(alloc, 1)
    first.next = pkg
    pkg.next = last
    assert chain_length(first) == 3
    assert [e for e in iter_chain(first)] == [first, pkg, last]
    expanded = list(iter_chain(first, expand_packages=True))
    assert len(expanded) == 5 and pkg not in expanded
    assert list(first) == [first, pkg, last]


# --------------------------------------------------------------------------------- allocator
def test_allocator_validates_arguments():
    with pytest.raises(ValueError, match="events"):
        Allocator(events=0)
    with pytest.raises(ValueError, match="buffer_size"):
        Allocator(buffer_size=8)
    with pytest.raises(ValueError, match="buffers"):
        Allocator(buffers=-1)


def test_allocator_defaults():
    alloc = Allocator()
    assert alloc.capacity == 4096 and alloc.free_count == 4096
    assert alloc.buffer_capacity == 256 and alloc.get_buffer_size() == 256


def test_chain_is_returned_whole_to_pool():
    alloc = Allocator(events=32, buffers=4, buffer_size=64)
    head = _make_chain(alloc, 10)
    head.next.set_data(bytes(40))  # one with a buffer
    assert alloc.free_count == 22 and alloc.free_buffer_count == 3
    alloc.put_message(head)
    assert alloc.free_count == 32 and alloc.free_buffer_count == 4
    # every returned event is clean
    for _ in range(32):
        e = alloc.get_message()
        assert e.next is None and e.byte_count == 0 and e.buffer is None
        assert e.flags == EVENT_COMPLETE and e.channel_group == 0 and e.package is None


def test_package_chain_is_returned_whole_to_pool():
    alloc = Allocator(events=32)
    inner = _make_chain(alloc, 4)
    nested = alloc.make_package(_make_chain(alloc, 3))
    inner.next.next.next.next = nested  # a package inside a package
    pkg = alloc.make_package(inner)
    tail = _make_chain(alloc, 2)
    pkg.next = tail
    assert alloc.in_use == 4 + 3 + 1 + 1 + 2
    alloc.put_message(pkg)
    assert alloc.free_count == 32 and alloc.double_free == 0


def test_pool_exhaustion_drops_and_counts_never_raises():
    alloc = Allocator(events=3)
    got = [alloc.get_message() for _ in range(5)]
    assert got[3] is None and got[4] is None
    assert alloc.dropped == 2
    warnings = alloc.take_warnings()
    assert any("ran dry 2 times" in w for w in warnings)
    assert alloc.take_warnings() == []  # reported once
    for e in got[:3]:
        alloc.put_message(e)
    assert alloc.free_count == 3


def test_make_message_with_dry_pool_returns_none_and_leaks_nothing():
    alloc = Allocator(events=2, buffers=8, buffer_size=16)
    assert alloc.make_message(bytes([0xF0] + [1] * 60 + [0xF7])) is None  # needs 4 events
    assert alloc.free_count == 2 and alloc.free_buffer_count == 8


def test_double_free_is_ignored_and_counted():
    alloc = Allocator(events=4)
    e = alloc.get_message()
    alloc.put_message(e)
    alloc.put_message(e)
    assert alloc.double_free == 1 and alloc.free_count == 4
    assert len({id(alloc.get_message()) for _ in range(4)}) == 4


def test_cyclic_chain_does_not_hang():
    alloc = Allocator(events=4)
    a, b = alloc.get_message(), alloc.get_message()
    a.next, b.next = b, a
    alloc.put_message(a)
    assert alloc.free_count == 4


def test_free_standing_event_put_to_allocator_is_not_adopted():
    alloc = Allocator(events=2)
    alloc.put_message(KernelEvent())
    assert alloc.free_count == 2 and alloc.foreign == 1


def test_event_of_another_allocator_goes_home():
    a1, a2 = Allocator(events=2), Allocator(events=2)
    e = a1.get_message()
    a2.put_message(e)
    assert a1.free_count == 2 and a2.free_count == 2


def test_make_message_fragments_long_sysex():
    alloc = Allocator(events=16, buffers=16, buffer_size=16)
    sysex = bytes([0xF0, 0x7E, 0x7F] + list(range(50)) + [0xF7])
    head = alloc.make_message(sysex, channel_group=3, presentation_time=1234)
    frags = list(iter_chain(head))
    assert len(frags) == -(-len(sysex) // 16)
    assert all(f.flags == EVENT_INCOMPLETE for f in frags[:-1])
    assert frags[-1].flags == EVENT_COMPLETE
    assert b"".join(f.to_bytes() for f in frags) == sysex
    assert {f.channel_group for f in frags} == {3}
    assert {f.presentation_time for f in frags} == {1234}
    alloc.put_message(head)
    assert alloc.free_count == 16 and alloc.free_buffer_count == 16


def test_clone_is_deep_and_independent():
    alloc = Allocator(events=32, buffers=8, buffer_size=32)
    head = _make_chain(alloc, 2, group=5, t=77)
    head.next.set_data(bytes(range(20)))
    head.next.next = alloc.make_package(_make_chain(alloc, 2, group=6))
    copy = alloc.clone(head)
    orig = list(iter_chain(head, True))
    dup = list(iter_chain(copy, True))
    assert [(e.to_bytes(), e.channel_group, e.presentation_time, e.flags) for e in orig] == [
        (e.to_bytes(), e.channel_group, e.presentation_time, e.flags) for e in dup
    ]
    assert not {id(e) for e in orig} & {id(e) for e in dup}
    assert head.next.buffer is not copy.next.buffer
    alloc.put_message(head)
    alloc.put_message(copy)
    assert alloc.free_count == 32 and alloc.free_buffer_count == 8


def test_clone_with_dry_pool_returns_none_and_leaks_nothing():
    alloc = Allocator(events=5)
    head = _make_chain(alloc, 3)
    assert alloc.clone(head) is None
    assert alloc.free_count == 2
    alloc.put_message(head)
    assert alloc.free_count == 5


def test_steady_state_allocates_nothing():
    alloc = Allocator(events=64, buffers=8, buffer_size=64)
    short = b"\x90\x3c\x64"
    long = bytes(40)

    def loop(n):
        get, put = alloc.get_message, alloc.put_message
        for _ in range(n):
            e = get()
            e.set_data(short)
            e.channel_group = 1
            e.presentation_time = 123456789
            f = get()
            f.set_data(long)
            e.next = f
            put(e)

    loop(1000)  # warm-up
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        loop(STEADY_STATE_ITERATIONS)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    stats = after.filter_traces(filters).compare_to(before.filter_traces(filters), "filename")
    net_blocks = sum(s.count_diff for s in stats)
    net_bytes = sum(s.size_diff for s in stats)
    assert net_blocks <= STEADY_STATE_BLOCK_TOLERANCE, stats[:5]
    assert net_bytes <= STEADY_STATE_BYTE_TOLERANCE, stats[:5]
    assert alloc.free_count == 64 and alloc.dropped == 0


def test_two_threads_get_and_put_without_loss():
    alloc = Allocator(events=256)
    handoff: list = []
    n = 20_000
    done = threading.Event()

    def producer():
        sent = 0
        while sent < n:
            e = alloc.get_message()
            if e is None:
                continue
            e.set_data(b"\x90\x40\x40")
            handoff.append(e)
            sent += 1
        done.set()

    def consumer():
        got = 0
        while got < n:
            try:
                e = handoff.pop()
            except IndexError:
                continue
            alloc.put_message(e)
            got += 1

    threads = [threading.Thread(target=producer), threading.Thread(target=consumer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert done.is_set()
    assert alloc.free_count == 256 and alloc.double_free == 0


# ------------------------------------------------------------------------------------- sysex
def test_sysex_fragments_reassembled():
    alloc = Allocator(events=64, buffers=64, buffer_size=16)
    asm = SysexAssembler()
    sysex = bytes([0xF0, 0x41, 0x10, 0x42, 0x12] + list(range(40)) + [0xF7])
    head = alloc.make_message(sysex, channel_group=2)
    results = [asm.feed(e) for e in iter_chain(head)]
    assert results[:-1] == [None] * (len(results) - 1)
    assert results[-1] == sysex
    assert asm.completed == 1 and not asm.pending(2)
    alloc.put_message(head)


def test_sysex_interleaved_groups_reassembled_separately():
    alloc = Allocator(events=64, buffers=64, buffer_size=16)
    asm = SysexAssembler()
    s1 = bytes([0xF0] + [1] * 30 + [0xF7])
    s2 = bytes([0xF0] + [2] * 40 + [0xF7])
    f1 = list(iter_chain(alloc.make_message(s1, 1)))
    f2 = list(iter_chain(alloc.make_message(s2, 2)))
    out = []
    for i in range(max(len(f1), len(f2))):
        for frags in (f1, f2):
            if i < len(frags):
                r = asm.feed(frags[i])
                if r is not None:
                    out.append(r)
    assert sorted(out) == sorted([s1, s2])


def test_sysex_oversize_dropped_and_counted():
    alloc = Allocator(events=64, buffers=64, buffer_size=16)
    asm = SysexAssembler(max_size=32)
    big = bytes([0xF0] + [5] * 60 + [0xF7])
    assert all(asm.feed(e) is None for e in iter_chain(alloc.make_message(big, 1)))
    assert asm.oversize_dropped == 1 and not asm.pending(1)
    small = bytes([0xF0, 1, 2, 0xF7])
    e = alloc.make_message(small, 1)
    assert asm.feed(e) == small  # the next one is fine


def test_sysex_restart_aborts_unfinished_and_orphans_are_dropped():
    asm = SysexAssembler()
    a = KernelEvent()
    a.set_data(bytes([0xF0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
    a.flags = EVENT_INCOMPLETE
    a.channel_group = 1
    assert asm.feed(a) is None and asm.pending(1)
    b = KernelEvent()
    b.set_data(bytes([0xF0, 9, 0xF7]))
    b.channel_group = 1
    assert asm.feed(b) == bytes([0xF0, 9, 0xF7])
    assert asm.aborted == 1
    c = KernelEvent()
    c.set_data(bytes([1, 2, 3]))
    c.flags = EVENT_INCOMPLETE
    c.channel_group = 4
    assert asm.feed(c) is None and asm.orphaned == 1 and not asm.pending(4)


@settings(max_examples=60, deadline=None)
@given(
    payload=st.binary(min_size=0, max_size=600).map(lambda b: bytes(x & 0x7F for x in b)),
    size=st.integers(min_value=9, max_value=64),
)
def test_sysex_roundtrip_any_fragmentation(payload, size):
    alloc = Allocator(events=128, buffers=128, buffer_size=size)
    sysex = b"\xf0" + payload + b"\xf7"
    head = alloc.make_message(sysex, 7, 99)
    asm = SysexAssembler()
    out = [r for r in (asm.feed(e) for e in iter_chain(head)) if r is not None]
    assert out == [sysex]
    alloc.put_message(head)
    assert alloc.free_count == 128 and alloc.free_buffer_count == 128
