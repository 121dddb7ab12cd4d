"""The fidelity benchmark's song set and its sweep file: what benchmarks/fidelity.py relies on."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest

from benchmarks import fidelity as F

MIN_SONG_S = 10.0
MAX_SONG_S = 300.0
MIN_CHANNELS = 2  # multi-instrument
SONGS_MD = F.SONG_DIR / "SONGS.md"
LICENSE_NAMES = ("LICENSE", "LICENSE.md", "COPYING", "COPYING.adoc")
TIME_TOL_S = 0.002  # a tick at the sweep's 960 ticks a second is about 1 ms


@pytest.mark.parametrize("rel", [s[0] for s in F.SONGS])
def test_song_is_a_multi_instrument_song_of_10_s_to_5_min_with_its_license(rel):
    path = F.SONG_DIR / rel
    mf = mido.MidiFile(str(path))
    assert MIN_SONG_S <= mf.length <= MAX_SONG_S
    channels = {m.channel for m in mf if m.type == "note_on" and m.velocity > 0}
    assert len(channels) >= MIN_CHANNELS
    assert any((path.parent / n).is_file() for n in LICENSE_NAMES)
    assert rel in SONGS_MD.read_text()
    assert path.name in (path.parent / "README.md").read_text()


def test_the_song_set_has_at_least_ten_songs():
    assert len(F.SONGS) >= 10


def test_sweep_midi_times_are_the_file_s(tmp_path: Path):
    presets = [(0, 0, "Piano"), (0, 40, "Violin"), (128, 0, "Standard")]
    path = tmp_path / "sweep.mid"
    notes = F.sweep_midi(presets, path)
    t, ons, programs = 0.0, [], []
    for m in mido.MidiFile(str(path)):
        t += m.time
        if m.type == "note_on" and m.velocity > 0:
            ons.append((t, m.channel, m.note, m.velocity))
        elif m.type == "program_change":
            programs.append((m.channel, m.program))
    assert len(ons) == len(notes) == 2 * len(F.SWEEP_KEYS) * len(F.SWEEP_VELOCITIES) + len(F.SWEEP_DRUM_KEYS)
    for (t_on, ch, key, vel), n in zip(ons, notes):
        assert t_on == pytest.approx(n.on_s, abs=TIME_TOL_S)
        assert ch == (9 if n.bank == 128 else 0)
        assert (key, vel) == (n.key, n.velocity)
    assert programs == [(0, 0), (0, 40), (9, 0)]


def test_sf2_presets_reads_the_preset_headers(tmp_path: Path):
    import struct

    def chunk(cid: bytes, body: bytes) -> bytes:
        return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")

    def phdr(name: str, prog: int, bank: int) -> bytes:
        return name.encode().ljust(20, b"\0") + struct.pack("<HHHIII", prog, bank, 0, 0, 0, 0)

    recs = phdr("Grand", 0, 0) + phdr("Kit", 0, 128) + phdr("EOP", 0, 0)
    pdta = chunk(b"LIST", b"pdta" + chunk(b"phdr", recs))
    riff = chunk(b"RIFF", b"sfbk" + chunk(b"LIST", b"INFO") + pdta)
    path = tmp_path / "tiny.sf2"
    path.write_bytes(riff)
    assert F.sf2_presets(path) == [(0, 0, "Grand"), (128, 0, "Kit")]
