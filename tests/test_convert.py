"""`dlsynth convert`, measured: a DLS bank written as SF2 plays in FluidSynth as the DLS plays
in dlsynth, an SF2 bank written as DLS plays in dlsynth exactly as the SF2 does and comes
back to SF2 with its presets, zones and samples; bad input is one line and leaves nothing.

The round trip renders the same notes (each in its own SLOT seconds, released after
NOTE_SECONDS) from a bank built here with the DLS model: through dlsynth from the DLS
(apps.render.render_file, effects off, 0 dB), and through ``fluidsynth -ni -F`` from the
converted SF2 (reverb and chorus off, gain 1). FluidSynth at gain 1 plays every note
FLUIDSYNTH_OFFSET_DB louder than dlsynth at 0 dB (tests/test_sf2_render.py measures the same
figure on SF2 banks); levels are compared after removing it.

TimGM6mb.sf2 is the Debian package timgm6mb-soundfont's (GPL-2), read where it is installed,
not copied (CI installs it).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from benchmarks.peers import TIMGM_SF2 as TIMGM
from dlsynth import dls
from dlsynth.dls import constants as C
from dlsynth.dls import units as U
from tests.fluidpeer import fluidsynth_render

from . import synthkit as K

ROOT = Path(__file__).resolve().parent.parent
SONG = ROOT / "tests" / "data" / "midi" / "mutopia" / "grieg-anitras-dance.mid"
RATE = 48000
WAVE_RATE = 44100
SLOT = 1.5  # seconds per note
NOTE_SECONDS = 1.0
FLUIDSYNTH_TIMEOUT = 120  # every note is released: a render always ends

PITCH_TOLERANCE_CENTS = 5.0
LEVEL_TOLERANCE_DB = 1.0
FLUIDSYNTH_OFFSET_DB = 1.15  # FluidSynth 2.3 at gain 1 against dlsynth at 0 dB, every note
ENVELOPE_TOLERANCE = 0.10  # attack and release times: FluidSynth's within 10 % of dlsynth's
SILENCE_DB = -60.0  # below the note's own level: the sample has ended

ATTACK_S = 0.2
RELEASE_S = 1.0
N = C.CONN_SRC_NONE


def convert(*args, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dlsynth", "convert", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


def leftovers(folder: Path, *keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# --- the bank ---------------------------------------------------------------------------------


def _tone(freqs_and_frames, amp: int = 12000) -> np.ndarray:
    parts = []
    for hz, frames in freqs_and_frames:
        t = np.arange(frames)
        parts.append(np.round(amp * np.sin(2 * np.pi * hz * t / WAVE_RATE)))
    return np.concatenate(parts).astype(np.int16)


def round_trip_bank() -> dls.Collection:
    """Programs: 0 a looped 1000 Hz sine at key 69; 1 the same 6 dB down (wsmp); 2 tuned
    (wsmp fine tune +30 cents, a pitch connection of -1200 cents); 3 an envelope (attack
    ATTACK_S, release RELEASE_S); 4 unlooped, 0.25 s long; 5 a release loop (1000 Hz looped
    for 0.1 s, then 0.4 s of 2000 Hz after it that only the release plays)."""
    loop = [dls.Loop(C.WLOOP_TYPE_FORWARD, 0, 4410)]
    looped = dls.Wave.from_pcm16(
        _tone([(1000, 4410)]), WAVE_RATE, dls.WaveSample(unity_note=69, loops=loop), name="loop"
    )
    short = dls.Wave.from_pcm16(_tone([(1000, WAVE_RATE // 4)]), WAVE_RATE, dls.WaveSample(unity_note=69), name="short")
    rel = dls.Wave.from_pcm16(
        _tone([(1000, 4410), (2000, 4 * 4410)]),
        WAVE_RATE,
        dls.WaveSample(unity_note=69, loops=[dls.Loop(C.WLOOP_TYPE_RELEASE, 0, 4410)]),
        name="release",
    )

    def ins(name, program, wave=0, ws=None, art=None):
        region = dls.Region(wave_link=dls.WaveLink(wave), wave_sample=ws)
        return dls.Instrument(
            name=name, program=program, regions=[region], articulations=[dls.Articulation(2, art)] if art else []
        )

    quiet = dls.WaveSample(unity_note=69, attenuation=U.db_to_gain(-6.0), loops=loop)
    tuned = dls.WaveSample(unity_note=69, fine_tune=30, loops=loop)
    envelope = [
        (N, N, C.CONN_DST_EG1_ATTACKTIME, 0, U.seconds_to_timecents(ATTACK_S)),
        (N, N, C.CONN_DST_EG1_RELEASETIME, 0, U.seconds_to_timecents(RELEASE_S)),
    ]
    long_release = [(N, N, C.CONN_DST_EG1_RELEASETIME, 0, U.seconds_to_timecents(4.0))]
    return dls.Collection(
        instruments=[
            ins("plain", 0),
            ins("quiet", 1, ws=quiet),
            ins("tuned", 2, ws=tuned, art=[(N, N, C.CONN_DST_PITCH, 0, U.cents_to_rel_pitch(-1200))]),
            ins("envelope", 3, art=envelope),
            ins("no loop", 4, wave=1),
            ins("release loop", 5, wave=2, art=long_release),
        ],
        waves=[looped, short, rel],
        info={"INAM": "round trip"},
    )


def _song(notes, path: Path, controls=()) -> None:
    """notes: (program, key, velocity), each in its own SLOT; controls: (controller, value)
    sent on the channel before the first note."""
    mid = mido.MidiFile(ticks_per_beat=480)  # 120 bpm: 960 ticks a second
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tps = 960
    events = [(0, 0, mido.Message("control_change", control=c, value=v)) for c, v in controls]
    for i, (prog, key, vel) in enumerate(notes):
        t0 = int(round(i * SLOT * tps))
        events.append((t0, 1, mido.Message("program_change", program=prog)))
        events.append((t0, 2, mido.Message("note_on", note=key, velocity=vel)))
        events.append((t0 + int(NOTE_SECONDS * tps), 3, mido.Message("note_off", note=key, velocity=0)))
    events.append((int(round(len(notes) * SLOT * tps)), 4, mido.Message("control_change", control=120, value=0)))
    now = 0
    for t, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        tr.append(msg.copy(time=t - now))
        now = t
    mid.save(path)


def _render_both(col: dls.Collection, notes, tmp: Path, controls=()) -> tuple[np.ndarray, np.ndarray]:
    """(dlsynth from the DLS, FluidSynth from `dlsynth convert`'s SF2), mono, SLOT-aligned."""
    from dlsynth.apps.render import render_file

    bank, sf2 = tmp / "bank.dls", tmp / "bank.sf2"
    dls.write(col, bank)
    r = convert(bank, sf2)
    assert r.returncode == 0, r.stderr
    song = tmp / "notes.mid"
    _song(notes, song, controls)
    ours, theirs = tmp / "dlsynth.wav", tmp / "fluidsynth.wav"
    render_file(str(song), str(ours), [dls.read(bank)], rate=RATE, effects=False, gain_db=0.0, tail=0.2)
    fluidsynth_render(sf2, song, theirs, RATE, FLUIDSYNTH_TIMEOUT)
    n = int(len(notes) * SLOT * RATE)
    out = []
    for path in (ours, theirs):
        x, rate = sf.read(path, dtype="float64", always_2d=True)
        assert rate == RATE
        x = x.mean(axis=1)
        out.append(np.pad(x, (0, max(0, n - len(x))))[:n])
    return out[0], out[1]


def _slot(x: np.ndarray, i: int, start: float = 0.2, stop: float = NOTE_SECONDS - 0.05) -> np.ndarray:
    return x[int((i * SLOT + start) * RATE) : int((i * SLOT + stop) * RATE)]


def _envelope_db(x: np.ndarray, frame_s: float = 0.002) -> np.ndarray:
    n = int(frame_s * RATE)
    k = len(x) // n
    r = np.sqrt(np.mean(np.square(x[: k * n].reshape(k, n)), axis=1))
    return 20 * np.log10(np.maximum(r, 1e-12))


def _crossing(env_db: np.ndarray, level_db: float, rising: bool, frame_s: float = 0.002) -> float:
    """Seconds to the first frame at or above (rising) / below (falling) level_db."""
    hit = np.flatnonzero(env_db >= level_db) if rising else np.flatnonzero(env_db < level_db)
    assert len(hit), "the level is never crossed"
    return float(hit[0] * frame_s)


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("round_trip")
    notes = [
        (0, 69, 127),
        (1, 69, 127),
        (2, 69, 127),
        (2, 81, 127),
        (3, 69, 127),
        (4, 69, 127),
        (5, 69, 127),
        (0, 57, 127),
    ]
    return _render_both(round_trip_bank(), notes, tmp)


def test_pitch_survives_the_round_trip(renders):
    ours, theirs = renders
    expected = {0: 1000.0, 2: 500.0 * 2 ** (30 / 1200), 3: 1000.0 * 2 ** (30 / 1200), 7: 500.0}
    for slot, hz in expected.items():
        for x, who in ((ours, "dlsynth"), (theirs, "FluidSynth")):
            got = K.pitch(_slot(x, slot))
            assert abs(K.cents(got, hz)) < PITCH_TOLERANCE_CENTS, (who, slot, got, hz)


def test_levels_survive_the_round_trip_after_fluidsynths_offset(renders):
    ours, theirs = renders
    for slot in (0, 1, 2, 7):
        a, b = K.rms_db(_slot(ours, slot)), K.rms_db(_slot(theirs, slot))
        assert abs(b - a - FLUIDSYNTH_OFFSET_DB) < LEVEL_TOLERANCE_DB, (slot, a, b)
    for x in (ours, theirs):  # the wsmp's -6 dB as initialAttenuation (through E-mu's 0.4)
        assert abs(K.rms_db(_slot(x, 1)) - K.rms_db(_slot(x, 0)) + 6.0) < LEVEL_TOLERANCE_DB


def test_attack_and_release_times_survive_the_round_trip(renders):
    """Attack: from 10 % to 90 % of the held level (a linear attack: 0.8 x ATTACK_S);
    release: from note-off until 40 dB down (96 dB over RELEASE_S: 0.42 x RELEASE_S)."""
    times = []
    for x in renders:
        note = x[int(4 * SLOT * RATE) : int(5 * SLOT * RATE)]
        env = _envelope_db(note)
        held = float(np.median(env[int(0.6 / 0.002) : int(0.95 / 0.002)]))
        attack = _crossing(env, held + 20 * np.log10(0.9), True) - _crossing(env, held + 20 * np.log10(0.1), True)
        off = int(NOTE_SECONDS / 0.002)
        release = _crossing(env[off:], held - 40.0, False)
        times.append((attack, release))
    (a0, r0), (a1, r1) = times
    assert abs(a0 - 0.8 * ATTACK_S) < ENVELOPE_TOLERANCE * 0.8 * ATTACK_S, times
    assert abs(a1 - a0) < ENVELOPE_TOLERANCE * a0, times
    assert abs(r1 - r0) < ENVELOPE_TOLERANCE * r0, times


def test_loops_survive_the_round_trip(renders):
    for x in renders:
        held = K.rms_db(_slot(x, 0, 0.1, 0.2))
        assert abs(K.rms_db(_slot(x, 0, 0.85, 0.95)) - held) < LEVEL_TOLERANCE_DB  # forward loop sustains
        # no loop: 0.25 s of sample, then nothing while the key is still held
        assert K.rms_db(_slot(x, 5, 0.35, 0.9)) < K.rms_db(_slot(x, 5, 0.05, 0.2)) + SILENCE_DB
        # release loop: 1000 Hz while held; after note-off the 2000 Hz rest of the wave plays, then ends
        assert abs(K.cents(K.pitch(_slot(x, 6, 0.3, 0.9)), 1000.0)) < PITCH_TOLERANCE_CENTS
        after = _slot(x, 6, NOTE_SECONDS + 0.02, NOTE_SECONDS + 0.35)
        assert abs(K.cents(K.pitch(after), 2000.0)) < PITCH_TOLERANCE_CENTS
        assert K.rms_db(after) > held - 10.0
        assert K.rms_db(_slot(x, 6, NOTE_SECONDS + 0.45, SLOT - 0.02)) < held + SILENCE_DB


def test_the_mod_wheel_adds_no_vibrato_the_dls_bank_does_not_have(tmp_path):
    """DLS2 has no mod-wheel vibrato by default, SF2 does (50 cents): the SF2 written cancels it."""
    ours, theirs = _render_both(round_trip_bank(), [(0, 69, 127)], tmp_path, controls=[(1, 127)])
    for x in (ours, theirs):
        windows = [K.pitch(_slot(x, 0, t, t + 0.1)) for t in np.arange(0.2, 0.9, 0.1)]
        assert max(abs(K.cents(f, 1000.0)) for f in windows) < PITCH_TOLERANCE_CENTS


# --- SF2 -> DLS -> SF2 ------------------------------------------------------------------------


def _pairs(path: Path) -> dict:
    """Per preset (bank, program): each sounding (preset zone, instrument zone) pair's ranges
    and its sample's data, as the SF2 reader's zone layering gives them."""
    import mmap
    import struct

    from dlsynth.dls.riff import Chunk
    from dlsynth.dls.soundfont import zones as Z
    from dlsynth.dls.soundfont.hydra import Hydra

    with open(path, "rb") as f:
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    size = struct.unpack_from("<I", buf, 4)[0]
    h = Hydra.read(buf, Chunk(b"RIFF", b"sfbk", 0, 12, size - 4, None, buf), [])
    pairs = Z.combine(h, [], [set() for _ in range(len(h.phdr) - 1)])
    out: dict = {}
    for i in range(len(pairs)):
        rec = h.phdr[pairs.preset[i]]
        sh = h.shdr[pairs.sample[i]]
        out.setdefault((int(rec["bank"]), int(rec["preset"])), []).append(
            (
                int(pairs.key_lo[i]),
                int(pairs.key_hi[i]),
                int(pairs.vel_lo[i]),
                int(pairs.vel_hi[i]),
                h.smpl[int(sh["start"]) : int(sh["end"])].tobytes(),
            )
        )
    return {k: sorted(v) for k, v in out.items()}, len(h.shdr) - 1


def test_sf2_to_dls_to_sf2_keeps_presets_zones_and_samples_bit_for_bit(tmp_path):
    r1 = convert(TIMGM, tmp_path / "tim.dls")
    r2 = convert(tmp_path / "tim.dls", tmp_path / "tim.sf2")
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    assert r1.stderr == "" and r2.stderr == ""  # nothing either format could not say
    before, samples_before = _pairs(TIMGM)
    after, samples_after = _pairs(tmp_path / "tim.sf2")
    assert samples_after == samples_before
    assert sorted(before) == sorted(after)
    for preset, zones in before.items():
        assert after[preset] == zones, preset  # key and velocity ranges, sample data
    n_zones = sum(len(v) for v in before.values())
    assert r2.stdout.strip() == (
        f"{tmp_path / 'tim.sf2'}: SoundFont 2.04 from {tmp_path / 'tim.dls'} (DLS Level 2): "
        f"{len(before)} presets, {n_zones} zones, {samples_before} samples"
    )


def test_an_sf2_and_its_dls_conversion_render_the_same(tmp_path):
    from dlsynth.apps.render import render_file

    r = convert(TIMGM, tmp_path / "tim.dls")
    assert r.returncode == 0, r.stderr
    outs = []
    for bank in (TIMGM, tmp_path / "tim.dls"):
        out = tmp_path / f"{bank.name}.wav"
        render_file(str(SONG), str(out), [dls.read(bank)], rate=RATE, fmt="float", max_length=20.0)
        outs.append(sf.read(out, dtype="float32")[0])
    assert outs[0].shape == outs[1].shape and np.abs(outs[0]).max() > 0.01
    assert np.array_equal(outs[0], outs[1])


def test_an_sf3_becomes_a_dls_of_its_decoded_samples_and_then_an_sf2(tmp_path):
    """SF3 (Ogg Vorbis samples): the DLS holds the decoded 16-bit PCM; written back as SF2,
    the samples are that PCM."""
    import io

    from . import sf2build as B
    from dlsynth.dls.soundfont import generators as G

    pcm = B.sine(44100, 1000, 12000)
    bio = io.BytesIO()
    sf.write(bio, pcm.astype(np.float32) / 32768.0, 44100, format="OGG", subtype="VORBIS")
    s = B.Sample("ogg", None, root=69, type=1 | 0x10, vorbis=bio.getvalue(), loop=(441, 44100 - 441))
    (tmp_path / "in.sf3").write_bytes(
        B.sf2(
            [B.Preset("P", zones=[B.Zone({}, 0)])],
            [B.Instrument("I", [B.Zone({G.SAMPLE_MODES: 1}, 0)])],
            [s],
            version=(3, 1),
        )
    )
    assert convert(tmp_path / "in.sf3", tmp_path / "out.dls").returncode == 0
    assert convert(tmp_path / "out.dls", tmp_path / "out.sf2").returncode == 0
    col, back = dls.read(tmp_path / "out.dls"), dls.read(tmp_path / "out.sf2")
    decoded = col.waves[0].data[:, 0]
    assert abs(K.cents(K.pitch(decoded[2000:40000].astype(np.float64), 44100), 1000.0)) < 1.0
    assert np.array_equal(back.waves[0].data[:, 0], decoded)
    assert back.instruments[0].regions[0].wave_sample.loops == col.instruments[0].regions[0].wave_sample.loops


# --- what the command says and refuses -----------------------------------------------------------


def test_dls_to_dls_rewrites_and_to_overrides_the_extension(tmp_path):
    col = round_trip_bank()
    dls.write(col, tmp_path / "in.dls")
    r = convert(tmp_path / "in.dls", tmp_path / "out.bank", "--to", "dls")
    assert r.returncode == 0, r.stderr
    assert dls.read(tmp_path / "out.bank") == dls.read(tmp_path / "in.dls")
    assert "6 instruments, 6 regions, 3 waves" in r.stdout


def test_warnings_name_the_instrument_and_what_sf2_cannot_say(tmp_path):
    col = round_trip_bank()
    col.instruments[0].articulations = [dls.Articulation(2, [(C.CONN_SRC_EG1, N, C.CONN_DST_PITCH, 0, 100 << 16)])]
    dls.write(col, tmp_path / "in.dls")
    r = convert(tmp_path / "in.dls", tmp_path / "out.sf2")
    assert r.returncode == 0
    assert r.stdout.rstrip().endswith("; 1 warning")
    assert r.stderr.splitlines() == ["dlsynth convert: warning: instrument MSB 0 LSB 0 program 0 'plain': eg1 to pitch"]


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("broken.dls", b"RIFF\x10\x00\x00\x00DLS colh\x04\x00\x00\x00", "dlsynth convert: error: "),
        ("broken.sf2", b"RIFF\x0c\x00\x00\x00sfbkLIST\x04\x00\x00\x00", "dlsynth convert: error: "),
        ("text.dls", b"this is not a bank", "dlsynth convert: error: "),
    ],
)
def test_a_broken_bank_is_one_line_exit_2_and_no_file(tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    r = convert(tmp_path / name, tmp_path / "out.sf2" if name.endswith(".dls") else tmp_path / "out.dls")
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message) and "Traceback" not in r.stderr, r.stderr
    assert leftovers(tmp_path, name) == []


@pytest.mark.parametrize(
    "out,args,text",
    [
        ("x.sf2", (), "is already a SoundFont"),
        ("x.wav", (), "cannot tell the output format from the extension '.wav'"),
        ("x.sf3", (), "writing SF3"),
    ],
)
def test_refusals_are_one_line(tmp_path, out, args, text):
    sf2 = tmp_path / "in.sf2"
    dls.write(round_trip_bank(), tmp_path / "in.dls")
    assert convert(tmp_path / "in.dls", sf2).returncode == 0
    src = sf2 if out == "x.sf2" else tmp_path / "in.dls"
    r = convert(src, tmp_path / out, *args)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and text in r.stderr, r.stderr
    assert not (tmp_path / out).exists()


def test_a_missing_input_is_one_line(tmp_path):
    r = convert(tmp_path / "nothing.dls", tmp_path / "out.sf2")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "nothing.dls" in r.stderr


# The converter run with its file's last step (fsync, before the rename) or its writes made
# slow, so that the interrupt lands mid-write whatever the machine's speed.
_SLOW = """
import os, sys, time
real_fsync = os.fsync
slow = sys.argv.pop(1)
if slow == "fsync":
    os.fsync = lambda fd: (time.sleep(60), real_fsync(fd))
else:
    import dlsynth.dls.atomicfile as A
    real_fdopen = os.fdopen
    class Slow:
        def __init__(self, f): self.f = f
        def write(self, b): time.sleep(0.5); return self.f.write(b)
        def __getattr__(self, k): return getattr(self.f, k)
        def __enter__(self): return self
        def __exit__(self, *e): return self.f.__exit__(*e)
    A.os = type("os", (), {**{k: getattr(os, k) for k in dir(os) if not k.startswith("__")},
                          "fdopen": staticmethod(lambda *a, **k: Slow(real_fdopen(*a, **k)))})
from dlsynth.apps.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("slow", ["write", "fsync"])
@pytest.mark.parametrize("target", ["out.sf2", "out.dls"])
def test_ctrl_c_mid_write_leaves_no_file(tmp_path, slow, target):
    src = tmp_path / ("in.dls" if target == "out.sf2" else "in.sf2")
    if target == "out.sf2":
        dls.write(round_trip_bank(), src)
    else:
        dls.write(round_trip_bank(), tmp_path / "tmp.dls")
        assert convert(tmp_path / "tmp.dls", src).returncode == 0
        (tmp_path / "tmp.dls").unlink()
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW, slow, "convert", str(src), str(tmp_path / target)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(f".{target}.") for p in tmp_path.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip() == "dlsynth: interrupted"
    assert leftovers(tmp_path, src.name) == []
