"""The miniport (IMiniportDMus) wired to the real Synth: capture -> render stream -> synth,
wave stream pulling Render; channel groups up to 1000."""

from __future__ import annotations

import numpy as np

from dlsynth.synth.miniport import Miniport
from dlsynth.synth.synth import Synth

from . import synthkit as K

PITCH_TOLERANCE_CENTS = 1.0


def test_capture_to_render_to_wave_stream():
    synth = Synth(K.RATE, channel_groups=2, effects=False, gain_db=0.0)
    synth.download(K.bank_of([K.instrument("sine", 0)]))
    ref = {"now": 0}
    mp = Miniport().init(synth=synth, channel_groups=2, clock=lambda: ref["now"])
    render = mp.new_stream("render")
    capture = mp.new_stream("capture", channel_group=2)
    capture.connect_output(render)
    wave = mp.new_stream("wave")
    for s in (render, capture, wave):
        s.set_state("run")
    synth.start(0, 0)
    assert capture.submit(bytes([0x90, 69, 100]), timestamp=10_000)  # 1 ms: frame 48
    out = np.zeros((K.RATE, 2), dtype=np.float32)
    assert wave.render(out) == 0
    x = K.mono(out)
    assert abs(K.onset(x) - 48) <= 1
    assert abs(K.cents(K.pitch(x[4800:]), K.sine_hz(100))) < PITCH_TOLERANCE_CENTS
    assert mp.allocator.in_use == 0
    assert mp.caps["max_channel_groups"] == 1000
    assert mp.service() == []
    synth.close()


def test_a_thousand_channel_groups():
    synth = Synth(K.RATE, channel_groups=1000, effects=False, gain_db=0.0)
    synth.download(K.bank_of([K.instrument("sine", 0)]))
    synth.short_message(0, 1000, 0x9F, 69, 100)  # the last channel of the last group
    synth.short_message(0, 1, 0x90, 69, 100)
    out = synth.render(frames=4800)
    assert synth.stats()["voices_active"] == 2
    assert np.abs(out).max() > 0.1
    synth.short_message(synth.position, 1001, 0x90, 60, 100)  # no such group: dropped, counted
    synth.render(frames=64)
    assert synth.counters.dropped_group == 1
    synth.close()
