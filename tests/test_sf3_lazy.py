"""SF3 banks open without decoding: each Ogg Vorbis sample is decoded when an instrument
playing it is first downloaded (or the bank is written), and the render is the same as with
every sample decoded at open (``lazy=False``)."""

from __future__ import annotations

import io
import pickle

import mido
import numpy as np
import pytest
import soundfile as sf

from dlsynth import dls
from dlsynth.dls.model import DeferredWave
from dlsynth.dls.soundfont import generators as G

from . import sf2build as B
from . import synthkit as K

RATE = 48000
TONES = (440.0, 660.0, 990.0)  # one sample (and one preset, programs 0, 1, 2) each
SAMPLE_FRAMES = 44100
PITCH_CENTS = 5.0  # a decoded, played sample's pitch, within this of its tone


def _ogg(freq: float) -> bytes:
    t = np.arange(SAMPLE_FRAMES) / 44100.0
    bio = io.BytesIO()
    sf.write(bio, (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 44100, format="OGG", subtype="VORBIS")
    return bio.getvalue()


def _sf3() -> bytes:
    samples = [
        B.Sample(f"tone{i}", None, root=69, type=1 | 0x10, vorbis=_ogg(f), loop=(441, SAMPLE_FRAMES - 441))
        for i, f in enumerate(TONES)
    ]
    return B.sf2(
        [B.Preset(f"P{i}", 0, i, zones=[B.Zone({}, i)]) for i in range(len(TONES))],
        [B.Instrument(f"I{i}", [B.Zone({G.SAMPLE_MODES: 1}, i)]) for i in range(len(TONES))],
        samples,
        version=(3, 1),
    )


def _song(path, program: int) -> None:
    mf = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    tr += [
        mido.Message("program_change", program=program, time=0),
        mido.Message("note_on", note=69, velocity=100, time=0),
        mido.Message("note_off", note=69, velocity=0, time=480),
    ]
    mf.tracks.append(tr)
    mf.save(str(path))


def _render(col, midi, out) -> np.ndarray:
    from dlsynth.apps.render import render_file

    render_file(str(midi), str(out), [col], rate=RATE, fmt="float", effects=False, max_length=3.0)
    return sf.read(str(out), dtype="float32")[0]


def _wave_of(col, program: int) -> DeferredWave:
    ins = next(i for i in col.instruments if i.program == program)
    return col.waves[ins.regions[0].wave_link.table_index]


def test_opening_an_sf3_decodes_no_sample():
    col = dls.read(_sf3())
    assert len(col.waves) == len(TONES)
    assert all(isinstance(w, DeferredWave) and not w.decoded for w in col.waves)
    # what building the regions needs is known without decoding: lengths and loops
    assert all(abs(w.frames - SAMPLE_FRAMES) < 2048 for w in col.waves)
    regions = [r for ins in col.instruments for r in ins.regions]
    assert all(r.wave_sample.loops == [dls.Loop(0, 441, SAMPLE_FRAMES - 882)] for r in regions)
    assert not any(w.decoded for w in col.waves)


def test_playing_one_preset_decodes_only_its_sample_and_sounds_as_decoded_at_open(tmp_path):
    data = _sf3()
    lazy = dls.read(data)
    eager = dls.read(data, lazy=False)
    assert all(w.decoded for w in eager.waves)
    midi = tmp_path / "one.mid"
    _song(midi, 2)
    y_lazy = _render(lazy, midi, tmp_path / "lazy.wav")
    # only the song's preset is downloaded (program 0, every channel's power-on patch, plays
    # no note here)
    assert [w.decoded for w in (_wave_of(lazy, p) for p in range(len(TONES)))] == [False, False, True]
    y_eager = _render(eager, midi, tmp_path / "eager.wav")
    assert np.abs(y_lazy).max() > 0.01
    assert np.array_equal(y_lazy, y_eager)
    # it is the decoded tone that plays
    x = y_lazy[int(0.1 * RATE) : int(0.45 * RATE), 0].astype(np.float64)
    assert abs(K.cents(K.pitch(x, RATE), TONES[2])) < PITCH_CENTS
    # the data is what libsndfile decodes, first used or decoded at open
    for p in range(len(TONES)):
        assert np.array_equal(_wave_of(lazy, p).data, _wave_of(eager, p).data)


def test_writing_and_pickling_decode_what_they_need(tmp_path):
    col = dls.read(_sf3())
    back = pickle.loads(pickle.dumps(col.waves[0]))
    assert col.waves[0].decoded and np.array_equal(back.data, col.waves[0].data)
    dls.write(col, tmp_path / "out.dls")
    assert all(w.decoded for w in col.waves)
    assert dls.read(tmp_path / "out.dls").waves == col.waves


def test_a_stream_that_fails_when_first_used_plays_silence_with_a_warning(monkeypatch):
    col = dls.read(_sf3())
    assert not any("played as silence" in w for w in col.warnings)

    def broken(self, *a, **k):
        raise RuntimeError("corrupt page")

    monkeypatch.setattr(sf.SoundFile, "read", broken)
    w = col.waves[2]
    assert w.data.shape == (w.frames, 1) and not w.data.any()
    assert sum("tone2" in x and "played as silence" in x for x in col.warnings) == 1


@pytest.mark.parametrize("stream", [b"OggS" + bytes(200), b""])
def test_a_stream_whose_headers_do_not_read_is_left_out_at_open(stream):
    bad = B.Sample("bad", None, type=1 | 0x10, vorbis=stream or b"\0\0")
    ok = B.Sample("ok", B.sine(4410, 100))
    col = dls.read(
        B.sf2([B.Preset("P", zones=[B.Zone({}, 0)])], [B.Instrument("I", [B.Zone({}, 0), B.Zone({}, 1)])], [bad, ok])
    )
    assert len(col.instruments[0].regions) == 1
    assert any("SF3 sample #0 'bad'" in w for w in col.warnings)


@pytest.mark.parametrize("channels,frames", [(1, SAMPLE_FRAMES), (2, 1000), (1, 1), (1, 300_000)])
def test_the_length_read_from_the_pages_is_libsndfiles(channels, frames):
    from dlsynth.dls.soundfont.samples import _ogg_vorbis_length

    t = np.arange(frames) / 44100.0
    x = np.stack([0.3 * np.sin(2 * np.pi * 440.0 * (c + 1) * t) for c in range(channels)], axis=1)
    bio = io.BytesIO()
    sf.write(bio, x.astype(np.float32), 44100, format="OGG", subtype="VORBIS")
    raw = bio.getvalue()
    with sf.SoundFile(io.BytesIO(raw)) as f:
        assert _ogg_vorbis_length(raw) == (f.frames, f.channels) == (frames, channels)
    # anything unexpected is left to libsndfile: a cut stream, bytes after it, not Vorbis
    assert _ogg_vorbis_length(raw[:-1]) is None
    assert _ogg_vorbis_length(raw + b"\0") is None
    assert _ogg_vorbis_length(b"OggS" + bytes(200)) is None
