"""`dlsynth render`: MIDI in, WAV out, exact onsets, identical bytes, clean failures."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import mido

import numpy as np
import pytest
import soundfile as sf

from dlsynth import dls
from dlsynth.apps.render import load_banks, render_file

from . import synthkit as K

DATA = Path(__file__).parent / "data"
JAZZ = DATA / "midi" / "jazz-soft"
ONSET_TOLERANCE_FRAMES = 1
PITCH_TOLERANCE_CENTS = 1.0


def cosine_bank(path: Path) -> Path:
    """A bank whose instrument starts at full amplitude (a cosine) so onsets are sharp."""
    frames = 4410
    t = np.arange(frames)
    data = np.round(np.cos(2 * np.pi * 100 * t / frames) * 16000).astype(np.int16)
    wave = dls.Wave.from_pcm16(data, 44100, dls.WaveSample(unity_note=69, loops=[dls.Loop(0, 0, frames)]))
    ins = [dls.Instrument(name=f"cos{p}", program=p, regions=[dls.Region(wave_link=dls.WaveLink(0))]) for p in range(2)]
    dls.write(dls.Collection(instruments=ins, waves=[wave]), path)
    return path


def song(path: Path, notes, tempo=500000, tpb=480) -> Path:
    """notes: (tick_on, tick_off, key, channel) — a format 1 file with a tempo track."""
    mf = mido.MidiFile(type=1, ticks_per_beat=tpb)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0)])
    mf.tracks.append(meta)
    evs = []
    for on, off, key, ch in notes:
        evs.append((on, mido.Message("note_on", note=key, velocity=100, channel=ch)))
        evs.append((off, mido.Message("note_off", note=key, velocity=0, channel=ch)))
    evs.sort(key=lambda e: e[0])
    tr = mido.MidiTrack()
    last = 0
    for tick, msg in evs:
        tr.append(msg.copy(time=tick - last))
        last = tick
    mf.tracks.append(tr)
    mf.save(path)
    return path


def cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dlsynth", "render", *map(str, args)], capture_output=True, text=True, timeout=300, **kw
    )


def test_onsets_are_exact_and_output_is_identical_across_block_sizes(tmp_path):
    bank = load_banks([str(cosine_bank(tmp_path / "cos.dls"))])
    tpb, tempo = 480, 500000  # 480 ticks per 0.5 s: 1 tick = 1/960 s = 50 frames at 48 kHz
    ticks = [0, 121, 247, 480, 733, 999, 1501]  # odd ticks, gaps of silence between the notes
    midi = song(tmp_path / "s.mid", [(t, t + 100, 69, i % 16) for i, t in enumerate(ticks)], tempo, tpb)
    outs = []
    for block in (63, 4096, 8193):
        out = tmp_path / f"b{block}.wav"
        render_file(str(midi), str(out), bank, effects=False, tail=0.5, block=block, fmt="float", gain_db=0.0)
        outs.append(sf.read(out, dtype="float32")[0])
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])
    x = outs[0][:, 0]
    for t in ticks:
        frame = round(t * tempo * 48000 / (tpb * 1e6))
        w0 = max(0, frame - 20)
        got = K.onset(x[w0 : frame + 20], 1e-3) + w0
        assert abs(got - frame) <= ONSET_TOLERANCE_FRAMES, (t, frame, got)


def test_render_cli_default_bank_and_identical_bytes(tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    p1 = cli(JAZZ / "test-c-major-scale.mid", "-o", a)
    p2 = cli(JAZZ / "test-c-major-scale.mid", "-o", b, "-q")
    assert p1.returncode == 0, p1.stderr
    assert p2.returncode == 0 and p2.stderr == ""
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    info = sf.info(a)
    assert (info.samplerate, info.channels, info.subtype) == (48000, 2, "PCM_16")
    assert "realtime" in p1.stderr and "voices: peak" in p1.stderr
    x, _ = sf.read(a)
    assert np.abs(x).max() > 0.01
    assert not list(tmp_path.glob("*.part"))
    mask = os.umask(0)
    os.umask(mask)
    assert a.stat().st_mode & 0o777 == 0o666 & ~mask  # an ordinary file, not mkstemp's 0600


def test_float_renders_a_second_apart_are_identical_bytes(tmp_path):
    """A float WAV carries no PEAK chunk: libsndfile's holds the time of writing."""
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    assert cli(JAZZ / "test-c-major-scale.mid", "-o", a, "--format", "float", "-q", "--max-length", "1").returncode == 0
    time.sleep(1.1)
    assert cli(JAZZ / "test-c-major-scale.mid", "-o", b, "--format", "float", "-q", "--max-length", "1").returncode == 0
    assert a.read_bytes() == b.read_bytes()
    assert b"PEAK" not in a.read_bytes()[:512]


@pytest.mark.parametrize("fmt,subtype", [("pcm24", "PCM_24"), ("float", "FLOAT")])
def test_formats_and_rate(tmp_path, fmt, subtype):
    out = tmp_path / "o.wav"
    p = cli(JAZZ / "test-c-major-scale.mid", "-o", out, "--format", fmt, "--rate", "44100", "-q", "--tail", "1")
    assert p.returncode == 0, p.stderr
    info = sf.info(out)
    assert info.subtype == subtype and info.samplerate == 44100


def test_pitch_of_a_rendered_note(tmp_path):
    bank = cosine_bank(tmp_path / "cos.dls")
    midi = song(tmp_path / "s.mid", [(0, 960, 69, 0)])
    out = tmp_path / "o.wav"
    p = cli(midi, "-o", out, "--bank", bank, "--no-effects", "-q", "--format", "float")
    assert p.returncode == 0, p.stderr
    x, rate = sf.read(out)
    assert abs(K.cents(K.pitch(x[4800:40000, 0], rate), K.sine_hz(100))) < PITCH_TOLERANCE_CENTS


@pytest.mark.parametrize(
    "name", ["test-corrupt-file-missing-byte.mid", "test-not-a-midi-file.mid", "test-empty-file.mid"]
)
def test_bad_midi_one_line_exit_2_no_file(tmp_path, name):
    out = tmp_path / "o.wav"
    p = cli(JAZZ / name, "-o", out)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "bad", [["--gain", "10000"], ["--gain=-1e9"], ["--gain", "nan"], ["--voices", "0"]], ids=lambda a: " ".join(a)
)
def test_an_option_out_of_range_is_one_line_exit_2_no_file(tmp_path, bad):
    out = tmp_path / "o.wav"
    p = cli(JAZZ / "test-c-major-scale.mid", "-o", out, *bad)
    assert p.returncode == 2, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert bad[0].split("=")[0] in p.stderr
    assert not out.exists()


def test_bad_bank_is_an_error_not_replaced_by_the_default(tmp_path):
    bad = tmp_path / "bad.dls"
    bad.write_bytes(b"RIFF\x04\x00\x00\x00sfbk")
    out = tmp_path / "o.wav"
    p = cli(JAZZ / "test-c-major-scale.mid", "-o", out, "--bank", bad)
    assert p.returncode == 2 and "SoundFont 2" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not out.exists()
    p = cli(JAZZ / "test-c-major-scale.mid", "-o", out, "--bank", tmp_path / "nope.dls")
    assert p.returncode == 2 and "no such file" in p.stderr


def test_unwritable_output(tmp_path):
    p = cli(JAZZ / "test-c-major-scale.mid", "-o", tmp_path / "no" / "such" / "dir" / "o.wav")
    assert p.returncode == 2 and "does not exist" in p.stderr
    # An existing folder as -o takes the input's name, as cp does.
    p = cli(JAZZ / "test-c-major-scale.mid", "-o", tmp_path, "-q")
    assert p.returncode == 0 and (tmp_path / "test-c-major-scale.wav").exists()


def test_full_disk_leaves_nothing_behind(tmp_path):
    out = tmp_path / "o.wav"

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    p = cli(JAZZ / "test-c-major-scale.mid", "-o", out, preexec_fn=small_files)
    assert p.returncode == 2, p.stderr
    assert "write failed" in p.stderr or "cannot finish" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.iterdir())


def test_missing_instruments_render_with_a_warning(tmp_path):
    bank = cosine_bank(tmp_path / "cos.dls")
    mf = mido.MidiFile(type=0)
    tr = mido.MidiTrack(
        [
            mido.Message("program_change", program=40, time=0),
            mido.Message("note_on", note=60, velocity=100, time=0),
            mido.Message("note_on", note=60, velocity=0, time=480),
        ]
    )
    mf.tracks.append(tr)
    midi = tmp_path / "m.mid"
    mf.save(midi)
    out = tmp_path / "o.wav"
    p = cli(midi, "-o", out, "--bank", bank)
    assert p.returncode == 0, p.stderr
    assert "missing instruments (1)" in p.stderr and "program 40" in p.stderr
    assert out.exists()


def test_several_inputs_into_a_folder_in_parallel(tmp_path):
    outdir = tmp_path / "out"
    outdir.mkdir()
    files = [JAZZ / "test-c-major-scale.mid", JAZZ / "test-note-on-velocity.mid", JAZZ / "test-2-tracks-type-2.mid"]
    p = cli(*files, "-o", str(outdir) + os.sep, "-j", "2", "-q", "--tail", "0.5")
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in outdir.iterdir()) == sorted(f.stem + ".wav" for f in files)


def test_a_missing_output_folder_is_made_a_missing_file_folder_is_refused(tmp_path):
    """-o DIR/ names an output folder: made when missing, parents too (as --stems DIR is);
    the folder of a single output FILE is not made (one line, status 2, nothing written)."""
    bank = str(cosine_bank(tmp_path / "cos.dls"))
    files = [JAZZ / "test-c-major-scale.mid", JAZZ / "test-note-on-velocity.mid"]
    outdir = tmp_path / "made" / "deeper"
    p = cli(*files, "-o", str(outdir) + os.sep, "--bank", bank, "-q", "--tail", "0")
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in outdir.iterdir()) == sorted(f.stem + ".wav" for f in files)
    single = tmp_path / "one" / "two"
    p = cli(files[0], "-o", str(single) + os.sep, "--bank", bank, "-q", "--tail", "0")
    assert p.returncode == 0, p.stderr
    assert [f.name for f in single.iterdir()] == [files[0].stem + ".wav"]
    p = cli(files[0], "-o", tmp_path / "absent" / "x.wav", "--bank", bank, "-q")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert f"the folder {tmp_path / 'absent'} does not exist" in p.stderr
    assert not (tmp_path / "absent").exists()
    (tmp_path / "a-file").write_bytes(b"")
    p = cli(*files, "-o", str(tmp_path / "a-file") + os.sep, "--bank", bank, "-q")
    assert p.returncode == 2 and p.stderr.strip().endswith("a-file/: not a folder"), p.stderr
    # A refused option makes no folder either.
    p = cli(*files, "-o", str(tmp_path / "never") + os.sep, "--bank", bank, "--rate", "5")
    assert p.returncode == 2 and "--rate" in p.stderr and not (tmp_path / "never").exists()


def test_several_inputs_one_bad(tmp_path):
    outdir = tmp_path / "out"
    outdir.mkdir()
    p = cli(JAZZ / "test-c-major-scale.mid", JAZZ / "test-not-a-midi-file.mid", "-o", str(outdir) + os.sep, "-q")
    assert p.returncode == 2
    assert (outdir / "test-c-major-scale.wav").exists()
    assert not (outdir / "test-not-a-midi-file.wav").exists()
    assert "test-not-a-midi-file.mid" in p.stderr


def test_multi_port_file_uses_more_than_16_channels(tmp_path):
    bank = load_banks([str(cosine_bank(tmp_path / "cos.dls"))])
    mf = mido.MidiFile(type=1, ticks_per_beat=480)
    for port, key in ((0, 69), (1, 81)):
        mf.tracks.append(
            mido.MidiTrack(
                [
                    mido.MetaMessage("midi_port", port=port, time=0),
                    mido.Message("note_on", note=key, velocity=100, channel=0, time=0),
                    mido.Message("note_off", note=key, velocity=0, channel=0, time=960),
                ]
            )
        )
    midi = tmp_path / "ports.mid"
    mf.save(midi)
    out = tmp_path / "o.wav"
    r = render_file(str(midi), str(out), bank, effects=False, tail=0.2, fmt="float")
    assert r.peak_voices == 2
    x, rate = sf.read(out)
    spec = np.abs(np.fft.rfft(x[4800:40000, 0]))
    freqs = np.fft.rfftfreq(len(x[4800:40000, 0]), 1 / rate)
    top2 = sorted(freqs[np.argsort(spec)[-2:]])
    assert abs(top2[0] - 1000) < 5 and abs(top2[1] - 2000) < 5


CORPUS_HEARD_DBFS = -50.0  # a file with notes is heard: its loudest 100 ms at least this loud
CORPUS_SILENT_DBFS = -100.0  # a file without notes stays below this


def test_corpus_files_render(tmp_path):
    """Every playable jazz-soft file renders (resets, bank selects, RPN, sysex, ports) to
    what it holds: as long as the song, heard when it has notes, silent when it has none,
    and never past full scale (the built-in bank is levelled)."""
    from dlsynth.smf.reader import read_midi

    bank = load_banks([])
    bad = {"test-corrupt-file-missing-byte.mid", "test-not-a-midi-file.mid", "test-empty-file.mid"}
    for f in sorted(JAZZ.glob("*.mid")):
        if f.name in bad:
            continue
        song = read_midi(str(f))
        notes = sum(1 for e in song.events if len(e.data) == 3 and e.data[0] & 0xF0 == 0x90 and e.data[2] > 0)
        out = tmp_path / (f.stem + ".wav")
        r = render_file(str(f), str(out), bank, tail=0.2, fmt="float")
        assert r.error is None, f.name
        assert abs(r.seconds - (song.duration_100ns / 1e7 + 0.2)) < 0.01, (f.name, r.seconds)
        x, rate = sf.read(out, dtype="float32")
        win = rate // 10
        frames = (len(x) // win) * win
        loudest = (
            20 * np.log10(np.sqrt(np.mean(x[:frames].reshape(-1, win, 2) ** 2, axis=(1, 2))).max() + 1e-30)
            if frames
            else -600.0
        )
        peak = 20 * np.log10(float(np.max(np.abs(x))) + 1e-30) if len(x) else -600.0
        if notes:
            assert loudest > CORPUS_HEARD_DBFS, (f.name, notes, loudest)
        else:
            assert peak < CORPUS_SILENT_DBFS, (f.name, peak)
        assert peak <= 0.0, (f.name, peak)
        os.unlink(out)
