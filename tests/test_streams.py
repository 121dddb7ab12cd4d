"""synth.streams and synth.miniport: the MXF state machine, filters, the recorder's MIDI file,
and the miniport's streams, caps and validation."""

from __future__ import annotations

import os

import mido
import numpy as np
import pytest

from dlsynth.synth.allocator import Allocator
from dlsynth.synth.events import EVENT_INCOMPLETE, PACKAGE_EVENT, KernelEvent, iter_chain
from dlsynth.synth.miniport import (
    DMUS_PC_DLS,
    DMUS_PC_DLS2,
    DMUS_PC_SOFTWARESYNTH,
    CaptureStream,
    Miniport,
    RenderStream,
    StreamKind,
    WaveStream,
)
from dlsynth.synth.streams import (
    MXF,
    CallbackSink,
    ChannelGroupRemapper,
    Recorder,
    Splitter,
    StreamState,
)

#: Recorded times must come back from the MIDI file within this many ticks.
MIDI_TIME_TOLERANCE_TICKS = 1
REF_PER_SECOND = 10_000_000


class Collect:
    """A sink that keeps what it gets (as plain tuples) and returns events to the pool."""

    def __init__(self, alloc):
        self.alloc = alloc
        self.got: list[tuple[int, int, bytes]] = []
        self.chains = 0

    def put_message(self, evt):
        self.chains += 1
        for e in iter_chain(evt, True):
            self.got.append((e.presentation_time, e.channel_group, e.to_bytes()))
        self.alloc.put_message(evt)


class FakeSynth(Collect):
    def __init__(self, alloc=None):
        super().__init__(alloc)
        self.rendered: list[tuple[int, int]] = []

    def put_message(self, evt):
        if self.alloc is None:  # learn the pool from the event
            self.alloc = evt.owner
        super().put_message(evt)

    def render(self, out, frames, position):
        out[:frames] = 0.25
        self.rendered.append((frames, position))


def note(alloc, key=60, t=0, group=1, status=0x90, vel=100):
    e = alloc.get_message()
    e.set_data(bytes([status, key, vel]))
    e.presentation_time = t
    e.channel_group = group
    return e


# ---------------------------------------------------------------------------- state machine
def test_stream_states_are_ksstate_values():
    assert [int(s) for s in (StreamState.STOP, StreamState.ACQUIRE, StreamState.PAUSE, StreamState.RUN)] == [0, 1, 2, 3]


def test_running_stream_delivers_in_order():
    alloc = Allocator(events=16)
    sink = Collect(alloc)
    s = MXF(alloc)
    s.connect_output(sink)
    for k in range(5):
        s.put_message(note(alloc, key=60 + k, t=k))
    assert [g[2][1] for g in sink.got] == [60, 61, 62, 63, 64]
    assert alloc.free_count == 16


def test_stopped_stream_drops_and_returns_events():
    alloc = Allocator(events=8)
    sink = Collect(alloc)
    s = MXF(alloc, state=StreamState.STOP)
    s.connect_output(sink)
    head = note(alloc)
    head.next = note(alloc, key=62)
    s.put_message(head)
    assert sink.got == [] and s.dropped == 1 and alloc.free_count == 8
    assert any("stopped" in w for w in s.take_warnings())


@pytest.mark.parametrize("hold_state", [StreamState.ACQUIRE, StreamState.PAUSE])
def test_paused_stream_holds_then_delivers_in_order_on_run(hold_state):
    alloc = Allocator(events=16)
    sink = Collect(alloc)
    s = MXF(alloc, state=hold_state)
    s.connect_output(sink)
    for k in range(4):
        s.put_message(note(alloc, key=40 + k))
    assert sink.got == [] and s.held_count == 4
    s.set_state(StreamState.RUN)
    assert [g[2][1] for g in sink.got] == [40, 41, 42, 43]
    assert s.held_count == 0 and alloc.free_count == 16


def test_hold_queue_is_bounded_overflow_dropped_and_counted():
    alloc = Allocator(events=16)
    s = MXF(alloc, state=StreamState.PAUSE, hold_capacity=3)
    s.connect_output(Collect(alloc))
    for k in range(5):
        s.put_message(note(alloc, key=k))
    assert s.held_count == 3 and s.overflowed == 2
    assert alloc.free_count == 13


def test_stop_returns_held_events():
    alloc = Allocator(events=8)
    s = MXF(alloc, state="pause")
    s.connect_output(Collect(alloc))
    s.put_message(note(alloc))
    s.put_message(note(alloc))
    s.set_state("stop")
    assert s.held_count == 0 and alloc.free_count == 8


def test_unconnected_running_stream_returns_events():
    alloc = Allocator(events=4)
    s = MXF(alloc)
    s.put_message(note(alloc))
    assert s.unconnected == 1 and alloc.free_count == 4


def test_connect_and_disconnect_validation():
    alloc = Allocator(events=4)
    s = MXF(alloc)
    a, b = Collect(alloc), Collect(alloc)
    s.connect_output(a)
    with pytest.raises(ValueError, match="already connected"):
        s.connect_output(b)
    with pytest.raises(ValueError, match="not connected"):
        s.disconnect_output(b)
    s.disconnect_output(a)
    s.connect_output(b)
    with pytest.raises(ValueError, match="put_message"):
        s.connect_output(object())
    s.disconnect_output(b)
    with pytest.raises(ValueError, match="itself"):
        s.connect_output(s)


def test_set_state_validation():
    s = MXF(Allocator(events=1))
    with pytest.raises(ValueError, match="unknown stream state"):
        s.set_state("playing")
    with pytest.raises(ValueError, match="unknown stream state"):
        s.set_state(7)
    s.set_state(0)
    assert s.state is StreamState.STOP


def test_streams_chain_to_allocator_as_final_sink():
    alloc = Allocator(events=4)
    s = MXF(alloc)
    s.connect_output(alloc)  # the allocator is an MXF sink, as in DirectMusic
    s.put_message(note(alloc))
    assert alloc.free_count == 4


# ---------------------------------------------------------------------------------- filters
def test_remapper_with_dict():
    alloc = Allocator(events=16)
    sink = Collect(alloc)
    r = ChannelGroupRemapper(alloc, {1: 5, 2: 1})
    r.connect_output(sink)
    head = note(alloc, group=1)
    head.next = note(alloc, group=2)
    head.next.next = note(alloc, group=3)
    r.put_message(head)
    assert [g[1] for g in sink.got] == [5, 1, 3]
    assert alloc.free_count == 16


def test_remapper_drops_groups_mapped_to_none_and_remaps_packages():
    alloc = Allocator(events=16)
    sink = Collect(alloc)
    r = ChannelGroupRemapper(alloc, lambda g: None if g == 2 else g + 10)
    r.connect_output(sink)
    inner = note(alloc, group=1)
    inner.next = note(alloc, group=2)
    pkg = alloc.make_package(inner, channel_group=1)
    first = note(alloc, group=2)
    first.next = pkg
    r.put_message(first)
    assert [g[1] for g in sink.got] == [11]
    assert r.filtered == 2 and alloc.free_count == 16


def test_remapper_callable_returning_bad_group_drops_and_counts():
    alloc = Allocator(events=4)
    r = ChannelGroupRemapper(alloc, lambda g: 70000)
    sink = Collect(alloc)
    r.connect_output(sink)
    r.put_message(note(alloc))
    assert sink.got == [] and r.invalid == 1 and alloc.free_count == 4


def test_remapper_validates_mapping():
    alloc = Allocator(events=1)
    with pytest.raises(ValueError, match="not an int"):
        ChannelGroupRemapper(alloc, {1: -3})
    with pytest.raises(ValueError, match="dict or a callable"):
        ChannelGroupRemapper(alloc, [1, 2])


def test_splitter_gives_each_sink_its_own_copy():
    alloc = Allocator(events=32, buffers=8, buffer_size=32)
    sp = Splitter(alloc)
    seen: list[list[int]] = []

    class IdSink:
        def __init__(self):
            self.ids = []
            self.data = []
            seen.append(self.ids)

        def put_message(self, evt):
            for e in iter_chain(evt):
                self.ids.append(id(e))
                self.data.append(e.to_bytes())
            alloc.put_message(evt)

    a, b = IdSink(), IdSink()
    sp.connect_output(a)
    sp.connect_output(b)
    with pytest.raises(ValueError, match="already connected"):
        sp.connect_output(a)
    head = note(alloc, key=61)
    head.next = alloc.make_message(bytes([0xF0] + [3] * 20 + [0xF7]), 1, 0)
    original_ids = {id(e) for e in iter_chain(head)}
    sp.put_message(head)
    assert a.data == b.data == [bytes([0x90, 61, 100]), bytes([0xF0] + [3] * 20 + [0xF7])]
    assert not set(a.ids) & original_ids and not set(b.ids) & original_ids
    assert alloc.free_count == 32 and alloc.free_buffer_count == 8
    sp.disconnect_output(a)
    assert sp.sinks == (b,)


def test_splitter_with_dry_pool_counts_failed_copies():
    alloc = Allocator(events=2)
    sp = Splitter(alloc)
    sinks = [Collect(alloc) for _ in range(3)]
    for s in sinks:
        sp.connect_output(s)
    sp.put_message(note(alloc))  # one event left for copies: sinks get one each in turn
    assert sp.copy_failed == 0 and all(len(s.got) == 1 for s in sinks)
    a = note(alloc)
    b = note(alloc)  # pool now empty
    sp.put_message(a)
    assert sp.copy_failed == 3
    alloc.put_message(b)
    assert alloc.free_count == 2


def test_callback_sink_sees_each_event_and_returns_them():
    alloc = Allocator(events=8)
    seen = []
    cb = CallbackSink(alloc, lambda e: seen.append((e.channel_group, e.to_bytes())))
    inner = note(alloc, group=4)
    pkg = alloc.make_package(inner, channel_group=4)
    head = note(alloc, group=3)
    head.next = pkg
    cb.put_message(head)
    assert seen == [(3, bytes([0x90, 60, 100])), (4, bytes([0x90, 60, 100]))]
    assert alloc.free_count == 8


def test_callback_sink_survives_a_raising_callback():
    alloc = Allocator(events=2)

    def boom(e):
        raise RuntimeError("no")

    cb = CallbackSink(alloc, boom)
    cb.put_message(note(alloc))
    assert cb.errors == 1 and alloc.free_count == 2


# ---------------------------------------------------------------------------------- recorder
def test_recorder_records_and_passes_through():
    alloc = Allocator(events=32, buffers=8, buffer_size=16)
    sink = Collect(alloc)
    rec = Recorder(alloc)
    rec.connect_output(sink)
    rec.put_message(note(alloc, t=100, group=1))
    sysex = bytes([0xF0, 0x7E, 0x7F, 0x09, 0x01] + [0] * 20 + [0xF7])  # fragmented (16-byte buffers)
    rec.put_message(alloc.make_message(sysex, 2, 200))
    assert rec.events == [(100, 1, bytes([0x90, 60, 100])), (200, 2, sysex)]
    assert len(sink.got) == 1 + 2  # passthrough keeps the fragments as they were
    assert alloc.free_count == 32


def test_recorder_without_passthrough_returns_events():
    alloc = Allocator(events=4)
    rec = Recorder(alloc, passthrough=False)
    sink = Collect(alloc)
    rec.connect_output(sink)
    rec.put_message(note(alloc))
    assert sink.got == [] and len(rec.events) == 1 and alloc.free_count == 4


def _read_back(path, tempo):
    mid = mido.MidiFile(path)
    tracks = {}
    for track in mid.tracks[1:]:
        name = next(m.name for m in track if m.type == "track_name")
        port = next(m.port for m in track if m.type == "midi_port")
        t = 0
        msgs = []
        for m in track:
            t += m.time
            if not m.is_meta:
                msgs.append((t, bytes(m.bytes())))
        tracks[name] = (port, msgs)
    return mid, tracks


def test_recorder_saves_midi_file_mido_reads_back(tmp_path):
    alloc = Allocator(events=64, buffers=8, buffer_size=32)
    rec = Recorder(alloc, passthrough=False)
    ticks_per_beat, tempo = 960, 500000  # 1920 ticks per second
    t0 = 5 * REF_PER_SECOND  # recording starts at an arbitrary master time
    raw = [
        (t0, 1, bytes([0x90, 60, 100])),
        (t0 + 1_234_567, 1, bytes([0x80, 60, 0])),
        (t0 + 2_500_000, 3, bytes([0xC9, 5])),
        (t0 + 2_500_001, 3, bytes([0xE0, 0, 64])),
        (t0 + 10_000_000, 1, bytes([0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7])),
        (t0 + 33_333_333, 3, bytes([0xB0, 7, 90])),
    ]
    for t, g, data in raw:
        rec.put_message(alloc.make_message(data, g, t))
    path = tmp_path / "take.mid"
    summary = rec.save_midi(path, ticks_per_beat=ticks_per_beat, tempo=tempo)
    assert summary == {"tracks": 3, "messages": len(raw), "skipped": 0}
    assert not [p for p in os.listdir(tmp_path) if p != "take.mid"]  # no temp file left

    mid, tracks = _read_back(path, tempo)
    assert mid.type == 1 and mid.ticks_per_beat == ticks_per_beat
    assert set(tracks) == {"channel group 1", "channel group 3"}
    assert tracks["channel group 1"][0] == 0 and tracks["channel group 3"][0] == 2
    ticks_per_ref = ticks_per_beat / (tempo * 10)
    for name, group in (("channel group 1", 1), ("channel group 3", 3)):
        expected = [(t, d) for t, g, d in raw if g == group]
        got = tracks[name][1]
        assert [d for _, d in got] == [d for _, d in expected]
        for (tick, _), (t, _) in zip(got, expected):
            assert abs(tick - (t - t0) * ticks_per_ref) <= MIDI_TIME_TOLERANCE_TICKS
        seconds = [mido.tick2second(tick, ticks_per_beat, tempo) for tick, _ in got]
        for s, (t, _) in zip(seconds, expected):
            assert abs(s - (t - t0) / REF_PER_SECOND) <= MIDI_TIME_TOLERANCE_TICKS / 1920


def test_recorder_save_replaces_atomically_and_validates(tmp_path):
    alloc = Allocator(events=4)
    rec = Recorder(alloc, passthrough=False)
    rec.put_message(note(alloc, t=0))
    path = tmp_path / "x.mid"
    path.write_bytes(b"old")
    rec.save_midi(path)
    assert path.read_bytes().startswith(b"MThd")
    with pytest.raises(ValueError, match="ticks_per_beat"):
        rec.save_midi(path, ticks_per_beat=0)
    with pytest.raises(ValueError, match="tempo"):
        rec.save_midi(path, tempo=0)
    with pytest.raises(OSError):
        rec.save_midi(tmp_path / "missing-dir" / "y.mid")
    assert sorted(os.listdir(tmp_path)) == ["x.mid"]


@pytest.mark.parametrize("fails", ["write", "fsync", "replace", "interrupt"])
def test_recorder_save_that_fails_half_way_leaves_the_old_file(tmp_path, monkeypatch, fails):
    """A failure (or Ctrl-C) while saving: the old file is untouched and no temporary file
    is left beside it."""
    from dlsynth.dls import atomicfile

    alloc = Allocator(events=4)
    rec = Recorder(alloc, passthrough=False)
    rec.put_message(note(alloc, t=0))
    path = tmp_path / "x.mid"
    path.write_bytes(b"old")
    err = KeyboardInterrupt if fails == "interrupt" else OSError

    def broken(*a, **k):
        raise err("injected")

    if fails == "write":
        monkeypatch.setattr(mido.MidiFile, "save", broken)
    elif fails in ("fsync", "interrupt"):
        monkeypatch.setattr(atomicfile.os, "fsync", broken)
    else:
        monkeypatch.setattr(atomicfile.os, "replace", broken)
    with pytest.raises(err):
        rec.save_midi(path)
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["x.mid"]


def test_recorder_skips_messages_mido_cannot_encode(tmp_path):
    alloc = Allocator(events=4)
    rec = Recorder(alloc, passthrough=False)
    rec.put_message(alloc.make_message(bytes([0x90, 200, 100]), 1, 0))  # data byte > 127
    rec.put_message(note(alloc, t=10))
    summary = rec.save_midi(tmp_path / "s.mid")
    assert summary["skipped"] == 1 and summary["messages"] == 1


# ---------------------------------------------------------------------------------- miniport
def test_miniport_caps():
    caps = Miniport().init().caps
    assert caps["max_channel_groups"] == 1000
    assert caps["max_voices"] >= 1000 and caps["default_voices"] == 256
    assert caps["flags"] & DMUS_PC_DLS and caps["flags"] & DMUS_PC_DLS2
    assert caps["flags"] & DMUS_PC_SOFTWARESYNTH
    assert 44100 in caps["sample_rates"] and 48000 in caps["sample_rates"]
    assert caps["dls1"] and caps["dls2"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sample_rate": 4000}, "sample_rate"),
        ({"voices": 0}, "voices"),
        ({"voices": 5000}, "voices"),
        ({"channel_groups": 1001}, "channel_groups"),
        ({"audio_channels": 3}, "audio_channels"),
        ({"synth": object()}, "put_message"),
        ({"sink_factory": 3}, "sink_factory"),
        ({"port": 3}, "port"),
        ({"allocator": "pool"}, "allocator"),
    ],
)
def test_miniport_init_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Miniport().init(**kwargs)


def test_miniport_requires_init_and_validates_new_stream():
    mp = Miniport()
    with pytest.raises(RuntimeError, match="init"):
        mp.new_stream("render")
    mp.init(channel_groups=2)
    with pytest.raises(ValueError, match="unknown stream kind"):
        mp.new_stream("video")
    with pytest.raises(ValueError, match="needs a synth"):
        mp.new_stream("render")
    with pytest.raises(ValueError, match="channel_group"):
        mp.new_stream("capture", channel_group=3)
    with pytest.raises(RuntimeError, match="already"):
        mp.init()


def test_miniport_capture_to_render_to_synth():
    synth = FakeSynth()
    clock = iter(range(1000, 10**9, 1000))
    mp = Miniport().init(synth=synth, channel_groups=4, clock=lambda: next(clock))
    render = mp.new_stream(StreamKind.RENDER)
    cap = mp.new_stream("capture", channel_group=3)
    assert isinstance(render, RenderStream) and isinstance(cap, CaptureStream)
    cap.connect_output(render)
    assert render.state is StreamState.STOP and cap.state is StreamState.STOP
    assert not cap.submit([0x90, 60, 100])  # dropped while stopped
    assert cap.dropped == 1
    assert synth.got == []
    render.set_state("pause")
    cap.set_state("run")
    assert cap.submit([0x90, 60, 100])
    assert cap.submit(bytes([0x80, 60, 0]), timestamp=55)
    assert cap.submit([0xF0] + [1] * 300 + [0xF7])  # long sysex: fragmented
    assert not cap.submit([0x40, 1])  # no status byte
    assert synth.got == []  # held by the paused render stream
    render.set_state("run")
    groups = {g for _, g, _ in synth.got}
    assert groups == {3}
    assert synth.got[0][0] == 1000 and synth.got[0][2] == bytes([0x90, 60, 100])
    assert synth.got[1][0] == 55
    assert b"".join(d for _, _, d in synth.got[2:]) == bytes([0xF0] + [1] * 300 + [0xF7])
    assert cap.malformed == 1
    assert mp.allocator.free_count == mp.allocator.capacity
    warnings = mp.service()
    assert any("malformed" in w for w in warnings)


def test_capture_submit_returns_false_when_pool_dry():
    mp = Miniport().init(pool_events=1)
    cap = mp.new_stream("capture")
    cap.set_state("pause")
    assert cap.submit([0x90, 1, 1], timestamp=0)
    assert not cap.submit([0x90, 2, 1], timestamp=0)
    assert cap.pool_dry == 1
    assert any("ran dry" in w for w in mp.service())


def test_wave_stream_renders_only_when_running():
    synth = FakeSynth()
    mp = Miniport().init(synth=synth)
    wave = mp.new_stream("wave")
    assert isinstance(wave, WaveStream)
    with pytest.raises(ValueError, match="already open"):
        mp.new_stream("wave")
    out = np.ones((64, 2), dtype=np.float32)
    wave.render(out)
    assert not out.any() and synth.rendered == [] and wave.position == 0
    wave.set_state("run")
    assert wave.render(out, 64) == 0
    assert wave.render(out, 32) == 64
    assert synth.rendered == [(64, 0), (32, 64)] and wave.position == 96
    wave.close()
    assert mp.new_stream("wave") is not wave


def test_sink_factory_called_once_with_params():
    calls = []

    def factory(params):
        calls.append(params)
        return FakeSynth()

    mp = Miniport().init(sink_factory=factory, sample_rate=44100, voices=512)
    mp.new_stream("render")
    mp.new_stream("wave")
    assert len(calls) == 1 and calls[0]["sample_rate"] == 44100 and calls[0]["voices"] == 512


def test_service_reports_to_port():
    lines = []
    mp = Miniport().init(lines.append, pool_events=1)
    mp.allocator.get_message()
    mp.allocator.get_message()
    assert mp.service() == lines and lines and "ran dry" in lines[0]


def test_close_stream_returns_held_events():
    synth = FakeSynth()
    mp = Miniport().init(synth=synth)
    render = mp.new_stream("render")
    render.set_state("pause")
    render.put_message(note(mp.allocator))
    render.close()
    assert mp.allocator.free_count == mp.allocator.capacity and render not in mp.streams
    with pytest.raises(ValueError, match="not a stream"):
        mp.close_stream(render)


def test_event_flags_survive_the_stream_path():
    alloc = Allocator(events=8, buffers=4, buffer_size=16)
    sink = []

    class Keep:
        def put_message(self, evt):
            sink.extend((e.flags, e.byte_count) for e in iter_chain(evt))
            alloc.put_message(evt)

    s = MXF(alloc)
    s.connect_output(Keep())
    s.put_message(alloc.make_message(bytes([0xF0] + [0] * 20 + [0xF7]), 1, 0))
    assert sink[0][0] == EVENT_INCOMPLETE and sink[-1][0] == 0
    pkg = alloc.make_package(note(alloc))
    s.put_message(pkg)
    assert sink[-1][0] == PACKAGE_EVENT
    assert isinstance(KernelEvent(), KernelEvent)


def test_routes_compile_the_graph_for_c_side_events():
    """Live inputs and the file source push C-side events along compiled routes: a
    remapper moves a group, a splitter fans out, a stopped stream delivers nothing."""
    from dlsynth.synth.streams import ChannelGroupRemapper, Splitter
    from dlsynth.synth.synth import Synth

    synth = Synth(48000, channel_groups=4, effects=False)
    mp = Miniport().init(synth=synth, channel_groups=4)
    render = mp.new_stream("render")
    cap = mp.new_stream("capture", channel_group=1)
    remap = ChannelGroupRemapper(mp.allocator, {1: 3})
    split = Splitter(mp.allocator)
    cap.connect_output(split)
    split.connect_output(remap)
    split.connect_output(render)
    remap.connect_output(render)
    assert cap.route(1) == []  # streams start stopped
    for s in (cap, split, remap, render):
        s.set_state("run")
    assert sorted(cap.route(1)) == [1, 3]
    assert cap.route(2) == [2, 2]
    assert cap.terminal() is synth
    render.set_state("stop")
    assert cap.route(1) == []
    synth.close()
