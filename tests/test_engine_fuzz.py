"""Random banks and random event streams: whatever the connections, transforms, loops and
wave sizes say, the engine renders finite audio and never reads outside its pool (this is
the test to run under AddressSanitizer), and the output still does not depend on the block
size. DLSYNTH_FUZZ_EXAMPLES sets how many random cases run (default 60)."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlsynth.dls import constants as C
from dlsynth.dls.model import Articulation, Connection, Loop, Wave, WaveSample
from dlsynth.native.engine import CHANNEL_PRESSURE, CONTROL, NOTE_OFF, NOTE_ON, PITCH_BEND, POLY_PRESSURE, Engine
from dlsynth.synth.download import download_instrument
from .enginekit import RATE, instrument, region, render

SOURCES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x81, 0x87, 0x8A, 0x8B, 0xDB, 0xDD, 0x100, 0x101, 0x102, 0x99, 0x7777]
DESTS = sorted(C.DESTINATION_NAMES) + [0x9999]

i32 = st.integers(-(2**31), 2**31 - 1)
connection = st.builds(
    Connection,
    st.sampled_from(SOURCES),
    st.sampled_from(SOURCES),
    st.sampled_from(DESTS),
    st.integers(0, 0xFFFF),
    st.one_of(i32, st.integers(-3000 * 65536, 3000 * 65536)),
)


@st.composite
def waves(draw):
    frames = draw(st.integers(0, 60))
    channels = draw(st.integers(1, 2))
    eight = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    loops = (
        [
            Loop(
                draw(st.integers(0, 1)),
                draw(st.integers(0, 2**32 - 1) | st.integers(0, 70)),
                draw(st.integers(0, 2**32 - 1) | st.integers(0, 70)),
            )
        ]
        if draw(st.booleans())
        else []
    )
    ws = WaveSample(
        unity_note=draw(st.integers(0, 127)),
        fine_tune=draw(st.integers(-32768, 32767)),
        attenuation=draw(st.integers(-20000 * 65536, 200 * 65536)),
        loops=loops,
    )
    rate = draw(st.sampled_from([4000, 22050, 44100, 96000]))
    if eight:
        return Wave.from_pcm8(rng.integers(0, 256, (frames, channels), dtype=np.uint8), rate, ws)
    return Wave.from_pcm16(rng.integers(-32768, 32768, (frames, channels), dtype=np.int16), rate, ws)


event = st.tuples(
    st.integers(0, 6000),
    st.sampled_from([NOTE_ON, NOTE_OFF, CONTROL, PITCH_BEND, CHANNEL_PRESSURE, POLY_PRESSURE]),
    st.integers(0, 1),
    st.integers(0, 127),
    st.integers(0, 127),
)


@settings(
    max_examples=int(os.environ.get("DLSYNTH_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    pool=st.lists(waves(), min_size=1, max_size=3),
    arts=st.lists(st.lists(connection, max_size=12), min_size=1, max_size=3),
    events=st.lists(event, max_size=40),
    interp=st.sampled_from(["linear", "cubic", "sinc"]),
    level=st.integers(1, 2),
)
def test_random_banks_and_events(pool, arts, events, interp, level):
    regions = []
    for k, conns in enumerate(arts):
        r = region(
            k % len(pool), key=(0, 127), key_group=k % 2, articulations=[Articulation(level=level, connections=conns)]
        )
        regions.append(r)
    ins = instrument(*regions)

    def run(block):
        e = Engine(RATE, max_voices=6, interpolation=interp, effects=True)
        ids = [e.download_wave(w) for w in pool]
        iid = download_instrument(e, ins, ids)
        e.program(0, 0, iid)
        e.program(0, 1, iid)
        for t, typ, ch, a, b in events:
            if typ == PITCH_BEND:
                a = a * 129
            e.push(t, typ, ch, a, b)
        out = render(e, 8000, block=block)
        e.close()
        return out

    ref = run(None)
    assert np.all(np.isfinite(ref))
    assert np.array_equal(run(97), ref)
