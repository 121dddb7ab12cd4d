"""Banks bigger than the engine's slot tables: what fits plays, the rest is one warning,
never an internal error (the old limit of 4,096 instruments stopped `play` on a big stack)."""

from __future__ import annotations

import functools

import numpy as np

from dlsynth import dls
from dlsynth.dls.model import Collection, Instrument, Region, Wave, WaveLink, WaveSample
from dlsynth.native.engine import MAX_INSTRUMENTS, Engine
from dlsynth.synth import synth as synth_mod
from dlsynth.synth.synth import Synth

RATE = 48000


def many_instruments(n: int) -> Collection:
    tone = (np.sin(2 * np.pi * 440 * np.arange(4800) / RATE) * 8000).astype(np.int16)[:, None]
    wave = Wave.from_pcm16(tone, RATE, WaveSample(unity_note=69))
    ins = [
        Instrument(
            name=f"i{i}",
            bank=Instrument.make_bank(msb=(i // 128) % 128, lsb=i // 16384),
            program=i % 128,
            regions=[Region(wave_link=WaveLink(table_index=0))],
        )
        for i in range(n)
    ]
    return Collection(instruments=ins, waves=[wave])


def test_five_thousand_instruments_all_download():
    assert MAX_INSTRUMENTS >= 65536
    col = dls.read(dls.write(many_instruments(5000)))
    with Synth(RATE) as s:
        s.download(col)
        assert s.engine.stats()["instruments"] == 5000
        assert not s.warnings


def test_past_the_engine_s_tables_the_rest_is_one_warning(monkeypatch):
    monkeypatch.setattr(synth_mod, "Engine", functools.partial(Engine, max_instruments=40))
    col = many_instruments(100)
    with Synth(RATE) as s:
        s.download(col)
        assert s.engine.stats()["instruments"] == 40
        full = [w for w in s.warnings if "more than the engine's" in w]
        assert len(full) == 1, s.warnings
        # what did fit plays: program 0 of bank 0
        s.message(0, 1, bytes([0x90, 69, 100]))
        out = s.render(frames=RATE // 10)
        assert float(np.sqrt(np.mean(out[RATE // 20 :, 0] ** 2))) > 0.01
