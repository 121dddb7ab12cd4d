"""SoundFont semantics the DLS connections cannot say, each played against FluidSynth.

Each test builds a tiny SF2 bank (tests/sf2build.py), renders the same notes through
dlsynth's render path and through ``fluidsynth -ni -F`` (reverb and chorus off, gain 1), and
compares what the feature must do, measured: the spectral centroid of 50 ms frames (a
filter's cutoff moving), levels in dB, the instantaneous pitch of a sine (an LFO's shape).
Levels are compared as differences within one render, so FluidSynth's constant mixer offset
(tests/test_sf2_render.py, FLUIDSYNTH_OFFSET_DB) drops out.

The probe sample for filters is a comb: the 199 harmonics of 100 Hz at equal amplitude and
random phases, one second looped, so a cutoff shows as the centroid of a known spectrum.
"""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import soundfile as sf
from scipy.signal import hilbert

from dlsynth import dls
from dlsynth.dls import constants as C
from dlsynth.dls.soundfont import generators as G
from tests.fluidpeer import fluidsynth_render

from . import sf2build as B

RATE = 48000
FLUIDSYNTH_TIMEOUT = 120  # seconds; every note is released, so a render always ends
LEAD_S = 0.2  # silence before each note (the program change goes there)
FRAME_S = 0.05  # centroid frames

CENTROID_TOL_ST = 0.25  # a cutoff moving under an envelope, frame by frame, both synths
LEVEL_TOL_DB = 0.3  # a level difference between two notes of one render, both synths
TRIANGLE_SHARE_TOL = 0.05  # share of an LFO cycle spent in its inner half (triangle 0.5, sine 1/3)
VIBRATO_STEADY_CENTS = 2.0  # a sine with no vibrato: largest excursion of its pitch
FLUIDSYNTH_FULL_SCALE_DB = 0.41  # FluidSynth at velocity, CC7 and CC11 127: 3 x 1.37 cB down


def comb() -> np.ndarray:
    n = 44100
    k = np.arange(1, 200)
    ph = np.random.default_rng(1).uniform(0, 2 * np.pi, len(k))
    x = np.cos(2 * np.pi * np.outer(np.arange(n), k * 100) / n + ph).sum(axis=1)
    return np.round(x / np.abs(x).max() * 12000).astype(np.int16)


def bank(tmp: Path, zones: list[dict], sample: np.ndarray | None = None, mods=None, pzones=None) -> Path:
    """One preset per entry of `zones` (program i), each one instrument zone with those
    generators (sampleModes 1 added), modulators mods[i] and preset-zone generators pzones[i]."""
    s = B.Sample("s", comb() if sample is None else sample, rate=44100, root=60, loop=(0, 44100))
    mods = mods or [[] for _ in zones]
    pzones = pzones or [{} for _ in zones]
    data = B.sf2(
        [B.Preset(f"p{i}", 0, i, [B.Zone(dict(pzones[i]), i)]) for i in range(len(zones))],
        [B.Instrument(f"i{i}", [B.Zone({G.SAMPLE_MODES: 1, **z}, 0, list(mods[i]))]) for i, z in enumerate(zones)],
        [s],
    )
    p = tmp / "bank.sf2"
    p.write_bytes(data)
    return p


def render_both(bank_path: Path, notes, tmp: Path, hold: float, gap: float = 0.8):
    """notes: (program, key, velocity, {cc: value}); each note `hold` seconds, then `gap`.
    Returns (dlsynth, fluidsynth) stereo float arrays of the same length and the slot length."""
    from dlsynth.apps.render import render_file

    slot = LEAD_S + hold + gap
    mid = mido.MidiFile(ticks_per_beat=480)  # 960 ticks a second
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    events = []
    for i, (prog, key, vel, ccs) in enumerate(notes):
        t0 = int(round((i * slot + LEAD_S) * 960))
        events.append((t0 - 96, 0, mido.Message("program_change", program=prog)))
        for cc, v in ccs.items():
            events.append((t0 - 48, 1, mido.Message("control_change", control=cc, value=v)))
        events.append((t0, 2, mido.Message("note_on", note=key, velocity=vel)))
        events.append((t0 + int(round(hold * 960)), 3, mido.Message("note_off", note=key, velocity=0)))
    now = 0
    for t, _, m in sorted(events, key=lambda e: (e[0], e[1])):
        tr.append(m.copy(time=t - now))
        now = t
    song, ours, theirs = tmp / "notes.mid", tmp / "dlsynth.wav", tmp / "fluidsynth.wav"
    mid.save(song)
    render_file(str(song), str(ours), [dls.read(bank_path)], rate=RATE, effects=False, gain_db=0.0, tail=0.2)
    fluidsynth_render(bank_path, song, theirs, RATE, FLUIDSYNTH_TIMEOUT)
    a = sf.read(ours, dtype="float64", always_2d=True)[0]
    b = sf.read(theirs, dtype="float64", always_2d=True)[0]
    n = int(round(len(notes) * slot * RATE))
    pad = lambda x: np.pad(x, ((0, max(0, n - len(x))), (0, 0)))[:n]  # noqa: E731
    return pad(a), pad(b), slot


def note(x: np.ndarray, i: int, slot: float, start: float, stop: float) -> np.ndarray:
    """Mono mix of note i from `start` to `stop` seconds after its note-on."""
    t0 = i * slot + LEAD_S
    return x[int(round((t0 + start) * RATE)) : int(round((t0 + stop) * RATE))].mean(axis=1)


def level_db(x: np.ndarray) -> float:
    return 10 * np.log10(float(np.mean(x**2)) + 1e-30)


def centroids(x: np.ndarray) -> np.ndarray:
    """Spectral centroid (Hz) of each FRAME_S frame."""
    n = int(FRAME_S * RATE)
    k = len(x) // n
    p = np.abs(np.fft.rfft(x[: k * n].reshape(k, n) * np.hanning(n), axis=1)) ** 2
    f = np.fft.rfftfreq(n, 1 / RATE)
    return (p * f).sum(axis=1) / p.sum(axis=1)


def pitch_cents(x: np.ndarray, f0: float) -> np.ndarray:
    """Instantaneous pitch of a sine (cents from f0), averaged over 2 ms."""
    ph = np.unwrap(np.angle(hilbert(x)))
    inst = np.diff(ph) * RATE / (2 * np.pi)
    w = RATE // 500
    inst = np.convolve(inst, np.ones(w) / w, mode="valid")
    return 1200 * np.log2(np.maximum(inst, 1.0) / f0)


def sine_1000() -> np.ndarray:
    """1000 Hz at the sample's root key (44 100 frames, 1000 whole cycles)."""
    t = np.arange(44100)
    return np.round(12000 * np.sin(2 * np.pi * 1000 * t / 44100)).astype(np.int16)


# --- the modulation envelope ------------------------------------------------------------------


def test_the_modulation_envelope_attack_is_convex_as_fluidsynth_plays_it(tmp_path):
    """SF2 2.04 8.1.2 #26: the modulation envelope's attack is convex. A 4.9 s attack taking
    the cutoff up 7087 cents: after 0.3 s a linear attack has moved it 430 cents, the convex
    one about 4000. The centroid follows FluidSynth's frame by frame."""
    b = bank(
        tmp_path,
        [
            {G.INITIAL_FILTER_FC: 5544, G.MOD_ENV_TO_FILTER_FC: 7087, G.ATTACK_MOD_ENV: 2769},
            {G.INITIAL_FILTER_FC: 5544},
        ],
    )
    a, f, slot = render_both(b, [(0, 60, 127, {}), (1, 60, 127, {})], tmp_path, hold=1.0)
    ca, cf = centroids(note(a, 0, slot, 0.1, 1.0)), centroids(note(f, 0, slot, 0.1, 1.0))
    assert np.max(np.abs(12 * np.log2(ca / cf))) < CENTROID_TOL_ST
    closed = float(np.median(centroids(note(a, 1, slot, 0.1, 1.0))))
    assert ca[4] > 4.0 * closed  # 0.3 s in: two octaves above the closed filter's brightness


# --- initialAttenuation and its modulators ----------------------------------------------------


def test_a_negative_preset_attenuation_offsets_velocity_but_never_boosts(tmp_path):
    """A preset's initialAttenuation of -100 cB (-4 dB as E-mu plays it) cancels up to 4 dB of
    the attenuation its modulators add: with the volume and expression controllers full, at
    velocity 90 (6 dB down) it plays 4 dB louder than without, at 110 (2.5 dB down) only up to
    0 dB, at 127 not louder at all: FluidSynth clamps the modulated generator to 0..144 dB, so
    does the engine. (At the default volume of 100, 4.2 dB down, it would be 4 dB louder.)"""
    b = bank(tmp_path, [{}, {}], pzones=[{}, {G.INITIAL_ATTENUATION: -100}])
    full = {7: 127, 11: 127}
    notes = [(0, 60, 127, full), (1, 60, 127, full), (0, 60, 90, full), (1, 60, 90, full), (1, 60, 110, full)]
    a, f, slot = render_both(b, notes, tmp_path, hold=0.5)
    # FluidSynth's velocity, CC7 and CC11 curves end at 127/128, leaving 1.4 cB each at full
    # scale, which the negative attenuation cancels too; the engine's end at 0 cB
    for x, residue in ((a, 0.0), (f, FLUIDSYNTH_FULL_SCALE_DB)):
        lv = [level_db(note(x, i, slot, 0.1, 0.45)) for i in range(len(notes))]
        assert abs(lv[1] - lv[0] - residue) < LEVEL_TOL_DB  # no boost above 0 dB
        assert abs(lv[4] - lv[0] - residue) < LEVEL_TOL_DB  # 2.5 dB of velocity cancelled, no more
        assert abs(lv[3] - lv[2] - 4.0) < LEVEL_TOL_DB


# --- default modulators removed ---------------------------------------------------------------

VEL_TO_ATT_REMOVED = (0x0502, G.INITIAL_ATTENUATION, 0, 0, 0)  # the 8.4.1 default, amount 0
CC1_TO_VIB_REMOVED = (0x0081, G.VIB_LFO_TO_PITCH, 0, 0, 0)  # the 8.4.3 default, amount 0


def test_a_zone_that_removes_the_velocity_default_plays_every_velocity_alike(tmp_path):
    b = bank(tmp_path, [{}, {}], mods=[[VEL_TO_ATT_REMOVED], []])
    notes = [(0, 60, 127, {}), (0, 60, 40, {}), (1, 60, 127, {}), (1, 60, 40, {})]
    a, f, slot = render_both(b, notes, tmp_path, hold=0.5)
    for x in (a, f):
        lv = [level_db(note(x, i, slot, 0.1, 0.45)) for i in range(len(notes))]
        assert abs(lv[1] - lv[0]) < LEVEL_TOL_DB  # removed: no velocity curve
        assert lv[2] - lv[3] > 15.0  # the default: velocity 40 about 20 dB down


def test_a_zone_that_removes_the_mod_wheel_vibrato_has_none(tmp_path):
    b = bank(tmp_path, [{}, {}], sample=sine_1000(), mods=[[CC1_TO_VIB_REMOVED], []])
    notes = [(0, 60, 100, {1: 127}), (1, 60, 100, {1: 127})]
    a, f, slot = render_both(b, notes, tmp_path, hold=1.0)
    for x in (a, f):
        steady = pitch_cents(note(x, 0, slot, 0.2, 0.9), 1000.0)
        wobbly = pitch_cents(note(x, 1, slot, 0.2, 0.9), 1000.0)
        assert np.ptp(steady) / 2 < VIBRATO_STEADY_CENTS
        assert np.ptp(wobbly) / 2 > 40.0  # the default: 50 cents at full mod wheel


# --- the LFOs -----------------------------------------------------------------------------------


def inner_half_share(c: np.ndarray) -> float:
    """Share of the time a periodic curve spends within half its amplitude of its middle:
    a triangle 1/2, a sine 1/3."""
    mid = 0.5 * (c.max() + c.min())
    amp = 0.5 * (c.max() - c.min())
    return float(np.mean(np.abs(c - mid) < 0.5 * amp))


def test_the_lfos_are_triangles_as_in_fluidsynth(tmp_path):
    """SF2's LFOs are triangles (the engine's DLS LFOs are sines): a vibrato of +-600 cents
    at 4 Hz spends half its time in the inner half of its swing, as FluidSynth's does."""
    vib = {G.VIB_LFO_TO_PITCH: 600, G.FREQ_VIB_LFO: -1238, G.DELAY_VIB_LFO: -12000}
    mod = {G.MOD_LFO_TO_PITCH: 600, G.FREQ_MOD_LFO: -1238, G.DELAY_MOD_LFO: -12000}
    b = bank(tmp_path, [vib, mod], sample=sine_1000())
    a, f, slot = render_both(b, [(0, 60, 100, {}), (1, 60, 100, {})], tmp_path, hold=1.1)
    for i in range(2):
        shares = []
        for x in (a, f):
            c = pitch_cents(note(x, i, slot, 0.05, 1.05), 1000.0)  # four whole cycles
            assert 550.0 < np.ptp(c) / 2 < 650.0
            shares.append(inner_half_share(c))
        assert abs(shares[0] - 0.5) < TRIANGLE_SHARE_TOL
        assert abs(shares[0] - shares[1]) < TRIANGLE_SHARE_TOL


# --- what the reader writes ----------------------------------------------------------------------


def _conns(region) -> dict:
    out: dict = {}
    for art in region.articulations:
        for c in art.connections:
            out.setdefault((c.source, c.control, c.destination), []).append(c.scale / 65536.0)
    return out


def test_values_equal_to_a_dls2_default_that_sf2_does_not_share_are_written(tmp_path):
    """A bank of SF2 origin plays with SF2's defaults where DLS2's differ, so a zone's full
    CC91 reverb send (1000, DLS2's default, SF2's is 200) or a 10 ms LFO delay (DLS2's
    default, SF2's is 1 ms) must be written, not left to the default."""
    cc91_full = (0x00DB, G.REVERB_EFFECTS_SEND, 1000, 0, 0)
    ten_ms = round(1200 * np.log2(0.01))
    p = bank(tmp_path, [{G.DELAY_MOD_LFO: ten_ms}], mods=[[cc91_full]])
    region = dls.read(p).instruments[0].regions[0]
    c = _conns(region)
    assert c[(C.CONN_SRC_CC91, C.CONN_SRC_NONE, C.CONN_DST_REVERB)] == [1000.0]
    assert c[(C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_LFO_STARTDELAY)] == [float(ten_ms)]


# --- the filter's resonance: where FluidSynth departs from the specification --------------------

RESONANCE_TOL_DB = 0.5  # a resonant peak's height above the passband, read off the comb's harmonics
FLUIDSYNTH_Q_SHORTFALL_DB = 3.0  # FluidSynth takes 3.01 dB off every initialFilterQ


def test_the_resonance_is_the_peaks_height_above_dc_and_fluidsynths_is_3_db_lower(tmp_path):
    """SF2 2.04 9.1.3: the resonance is the dB ratio of the resonant peak to the DC gain. At
    1500 Hz with 10 and 20 dB, dlsynth's peak stands that far above its passband; FluidSynth's
    about 3 dB less (its q_dB = Q - 3.01), the one divergence the preset sweep still lists
    (tests/data/sf-spec-test/README.md, test 10)."""
    fc = 9025  # absolute cents: 1500 Hz, the comb's 15th harmonic
    zones = [{}, {G.INITIAL_FILTER_FC: fc, G.INITIAL_FILTER_Q: 100}, {G.INITIAL_FILTER_FC: fc, G.INITIAL_FILTER_Q: 200}]
    b = bank(tmp_path, zones)
    a, f, slot = render_both(b, [(i, 60, 127, {}) for i in range(3)], tmp_path, hold=0.8)

    def harmonics(x, i):
        seg = note(x, i, slot, 0.2, 0.7)  # 0.5 s: 2 Hz bins, the harmonics exactly on bins
        mag = np.abs(np.fft.rfft(seg))
        return mag[np.arange(1, 200) * 50]

    for x, expected_shortfall in ((a, 0.0), (f, FLUIDSYNTH_Q_SHORTFALL_DB)):
        flat = harmonics(x, 0)
        for i, q_db in ((1, 10.0), (2, 20.0)):
            gain = 20 * np.log10(harmonics(x, i) / flat)
            peak_above_dc = gain.max() - gain[1]  # against 200 Hz, in the passband
            assert abs(peak_above_dc - (q_db - expected_shortfall)) < RESONANCE_TOL_DB


# --- the volume envelope's delay: where FluidSynth departs ---------------------------------------

DELAY_TOL_S = 0.005  # where a tone change in the sample is heard (FluidSynth: 64-frame blocks)


def test_the_sample_plays_on_through_the_volume_delay_fluidsynth_holds_it(tmp_path):
    """delayVolEnv delays the volume envelope (SF2 2.04 8.1.2 #33); the sample runs from
    note-on, as SpessaSynth plays it: a sample whose tone changes at 0.2 s, delayed 0.25 s,
    is heard at its second tone at once. FluidSynth produces nothing during the delay and
    starts the sample with the attack (TimGM6mb's Gun Shot: its delayed layer is a second
    shot there, the same shot's tail here)."""
    t = np.arange(44100) / 44100
    step = np.round(12000 * np.where(t < 0.2, np.sin(2 * np.pi * 500 * t), np.sin(2 * np.pi * 1000 * t)))
    b = bank(tmp_path, [{G.DELAY_VOL_ENV: -2400}], sample=step.astype(np.int16))  # 0.25 s
    a, f, slot = render_both(b, [(0, 60, 127, {})], tmp_path, hold=0.8)

    def tone_change(x) -> float:
        """Seconds after the sound starts at which the sample's 1000 Hz part is heard."""
        y = note(x, 0, slot, 0.0, 0.8)
        on = int(np.argmax(np.abs(y) > 1e-4))
        w = RATE // 200  # 5 ms windows: zero crossings give the frequency
        zc = [np.sum(np.diff(np.sign(y[i : i + w])) != 0) * 100 for i in range(on, len(y) - w, w)]
        return next(k for k, z in enumerate(zc) if z > 750) * w / RATE

    assert tone_change(a) < DELAY_TOL_S  # 0.25 s into the sample: past the change
    assert abs(tone_change(f) - 0.2) < DELAY_TOL_S  # FluidSynth: from the sample's start
