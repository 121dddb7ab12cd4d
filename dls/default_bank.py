"""The built-in General MIDI bank: every waveform synthesized here, with NumPy, at build time.

``build_default_bank()`` returns a DLS Level 2 :class:`~dls.model.Collection` with the 128 GM
melodic programs (bank 0) and a standard drum kit (drum bank 0, program 0, keys 35-81).
``default_bank_path()`` writes it once into the user's cache directory and returns the path;
``load_default_bank()`` reads it back with ``dls.read``.

How the melodic waves are made
------------------------------
Each melodic timbre is a set of sinusoidal partials (harmonic spectra, plucked strings, struck
bars and bells, FM sidebands, bands of noise) whose amplitudes are given at a few keyframe
times during the attack. All partial frequencies lie on the frequency grid of the loop, i.e.
they are whole multiples of ``sample_rate / loop_length``; so each keyframe is one exactly
periodic frame (an inverse FFT), the attack is a crossfade through the keyframes, and the loop
is the last frame repeated. That makes every loop seamless by construction (the loop holds a
whole number of cycles of every partial, and the sample before the loop start equals the last
sample of the loop), lets detuned "chorus" copies and sustained noise loop without a click, and
keeps the loop's fundamental within a cent of its unity note (the loop length is chosen so that
``k * rate / length`` lands on the note). Loops start at an upward zero crossing.

Plucked strings use the Karplus-Strong loss law (each harmonic loses ``|cos(pi f / B)|`` per
period, ``B`` a virtual loop rate that sets brightness) on an initial spectrum with the nulls of
the pluck position and random magnitudes like KS's noise burst; bells and electric pianos use
FM sidebands (Bessel amplitudes); bars and membranes use measured-style mode ratios with their
own decay rates; overdriven sounds pass each frame through a soft clipper at 4x oversampling
and are band-limited again. Each timbre is multi-sampled every 12-17 semitones and each
sample holds no partial that would pass ~19 kHz when played at the top of its key range.

Drums are one-shot hits made in the time domain: pitch-swept sines (kicks, toms), tone plus
band-passed noise (snares), band-passed noise and inharmonic square-wave spectra with their
own decays (hats and cymbals), bursts (claps, guiro, shakers) and short modes (blocks, claves,
cowbell, agogo, congas).

How the bank is levelled
------------------------
Once built, the bank is played by the engine it is made for (synth.Synth, dry, master gain
0 dB): every melodic program at a few keys and every drum key at velocity 100 with the default
controllers. Each program's region gains are then set so that its loudness (RMS of a note's
first second, the power mean over its keys) is LEVEL_TARGET_DBFS, and each drum key's so that
its hit (RMS of its first 100 ms) is too. Measured rather than tabled, the levels stay right
when a timbre or the engine changes.

Everything is deterministic: each wave's random generator is seeded from its name, so two
builds give identical bytes, and the cache file name holds a hash of :data:`BANK_VERSION` and
of the source of the generator, the writer and the engine that levels it.
"""

from __future__ import annotations

import hashlib
import math
import os
import pathlib
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import constants as C
from . import units as U
from .model import Articulation, Collection, Connection, Instrument, Loop, Region, Wave, WaveLink, WaveSample

__all__ = [
    "BANK_VERSION", "GM_PROGRAM_NAMES", "GM_DRUM_NAMES", "GM_DRUM_KIT_NAMES", "DRUM_EXCLUSIVE_CLASSES", "DRUM_KIT_NAME",
    "build_default_bank", "default_bank_path", "load_default_bank", "cache_dir", "wave_is_pitched",
]

BANK_VERSION = "dlsynth-gm-2"

SAMPLE_RATE = 22050  # melodic waves and most drums
BRIGHT_RATE = 32000  # cymbals, hats, shakers: they need the top octave
PEAK_DBFS = -3.0  # every wave is peak-normalised to this
LOUDNESS_TARGET_DBFS = -16.0  # waves louder than this (RMS) are attenuated by their wsmp
MAX_AUTO_ATTENUATION_DB = 14.0
TOP_FREQUENCY = 19000.0  # no partial above this when a sample is played at its highest key...
ALIAS_FREE_SEMITONES = 19  # ...or at most this far above its root (the top region goes on to 127)
MIN_LOOP_FRAMES = 1024  # keeps the pitch error of a loop under a cent
DECAY_FLOOR = 10.0 ** (-30.0 / 20.0)  # deepest decay of a fundamental inside a sample
TAIL_FRAMES = 8  # frames after the loop end, continuing it (for interpolators that read ahead)

# Levelling (measured at build, in the engine): every melodic program's notes at LEVEL_KEYS, and
# every drum key's hit, at velocity 100 with the default CC7 100 and CC11 127, dry, at master
# gain 0 dB, are brought to LEVEL_TARGET_DBFS RMS; a melodic note is measured over its first
# LEVEL_SECONDS, a hit over its first DRUM_LEVEL_SECONDS (FluidR3_GM measured so through the
# engine: its drums' median -25.7 dBFS, its melodic median -24.6). The target sits near that;
# at the default -12 dB master gain it leaves a dense 16-channel GM song (FluidSynth's
# Streetwise test song) peaking at -2.7 dBFS and the README demo (velocity 127, four-note
# chords) at -6.8 dBFS.
LEVEL_TARGET_DBFS = -26.0
LEVEL_KEYS = (48, 60, 72)
LEVEL_VELOCITY = 100
LEVEL_SECONDS = 1.0
DRUM_LEVEL_SECONDS = 0.1
LEVEL_RATE = 48000

#: the drum kits' names by program (GM2's kits, as GS numbers them)
GM_DRUM_KIT_NAMES = {0: "Standard Kit", 8: "Room Kit", 16: "Power Kit", 24: "Electronic Kit", 25: "Analog Kit",
                     32: "Jazz Kit", 40: "Brush Kit", 48: "Orchestra Kit", 56: "SFX Kit"}
DRUM_KIT_NAME = GM_DRUM_KIT_NAMES[0]

GM_PROGRAM_NAMES = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavi",
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone",
    "Marimba", "Xylophone", "Tubular Bells", "Dulcimer",
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ",
    "Reed Organ", "Accordion", "Harmonica", "Tango Accordion",
    "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)", "Electric Guitar (clean)",
    "Electric Guitar (muted)", "Overdriven Guitar", "Distortion Guitar", "Guitar harmonics",
    "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass",
    "Slap Bass 1", "Slap Bass 2", "Synth Bass 1", "Synth Bass 2",
    "Violin", "Viola", "Cello", "Contrabass",
    "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp", "Timpani",
    "String Ensemble 1", "String Ensemble 2", "SynthStrings 1", "SynthStrings 2",
    "Choir Aahs", "Voice Oohs", "Synth Voice", "Orchestra Hit",
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet",
    "French Horn", "Brass Section", "SynthBrass 1", "SynthBrass 2",
    "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax",
    "Oboe", "English Horn", "Bassoon", "Clarinet",
    "Piccolo", "Flute", "Recorder", "Pan Flute",
    "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
    "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)",
    "Lead 5 (charang)", "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)",
    "Pad 5 (bowed)", "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)",
    "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)",
    "FX 5 (brightness)", "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)",
    "Sitar", "Banjo", "Shamisen", "Koto",
    "Kalimba", "Bag pipe", "Fiddle", "Shanai",
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock",
    "Taiko Drum", "Melodic Tom", "Synth Drum", "Reverse Cymbal",
    "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet",
    "Telephone Ring", "Helicopter", "Applause", "Gunshot",
)

GM_DRUM_NAMES = {
    35: "Acoustic Bass Drum", 36: "Bass Drum 1", 37: "Side Stick", 38: "Acoustic Snare",
    39: "Hand Clap", 40: "Electric Snare", 41: "Low Floor Tom", 42: "Closed Hi-Hat",
    43: "High Floor Tom", 44: "Pedal Hi-Hat", 45: "Low Tom", 46: "Open Hi-Hat",
    47: "Low-Mid Tom", 48: "Hi-Mid Tom", 49: "Crash Cymbal 1", 50: "High Tom",
    51: "Ride Cymbal 1", 52: "Chinese Cymbal", 53: "Ride Bell", 54: "Tambourine",
    55: "Splash Cymbal", 56: "Cowbell", 57: "Crash Cymbal 2", 58: "Vibraslap",
    59: "Ride Cymbal 2", 60: "Hi Bongo", 61: "Low Bongo", 62: "Mute Hi Conga",
    63: "Open Hi Conga", 64: "Low Conga", 65: "High Timbale", 66: "Low Timbale",
    67: "High Agogo", 68: "Low Agogo", 69: "Cabasa", 70: "Maracas",
    71: "Short Whistle", 72: "Long Whistle", 73: "Short Guiro", 74: "Long Guiro",
    75: "Claves", 76: "Hi Wood Block", 77: "Low Wood Block", 78: "Mute Cuica",
    79: "Open Cuica", 80: "Mute Triangle", 81: "Open Triangle",
}

# Keys that cut each other off (the region key group, "exclusive class").
DRUM_EXCLUSIVE_CLASSES = {42: 1, 44: 1, 46: 1, 71: 2, 72: 2, 73: 3, 74: 3, 78: 4, 79: 4, 80: 5, 81: 5}

_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _note_name(note: int) -> str:
    return f"{_NOTE_NAMES[note % 12]}{note // 12 - 1}"


def _rng(*key) -> np.random.Generator:
    """A generator seeded from a stable hash of ``key`` (never Python's salted hash())."""
    return np.random.default_rng([0x444C5300, zlib.crc32("|".join(map(str, key)).encode("utf-8"))])


# =========================================================================================
# The partial engine: keyframed spectra on the loop's frequency grid
# =========================================================================================

@dataclass
class _Ctx:
    """What a timbre generator gets: the exact fundamental and the grid it must stay on."""

    f0: float  # exact fundamental of the loop (Hz); a harmonic h lies on bin h * k
    sr: int
    length: int  # loop length in frames
    fmax: float  # highest partial allowed
    times: np.ndarray  # keyframe times (s), shape (K,)
    rng: np.random.Generator
    root: int

    @property
    def df(self) -> float:
        return self.sr / self.length


@dataclass
class _Parts:
    """Partials (frequency Hz, amplitude per keyframe, phase) plus optional extras."""

    freqs: list = field(default_factory=list)
    amps: list = field(default_factory=list)
    phases: list = field(default_factory=list)
    transient: np.ndarray | None = None  # time-domain attack noise, must end inside the attack
    post: Callable[[np.ndarray], np.ndarray] | None = None  # memoryless shaper (run oversampled)
    loop_post: Callable[[np.ndarray, "_Ctx"], np.ndarray] | None = None  # periodic time-domain change

    def add(self, freqs, amps, phases) -> None:
        freqs = np.atleast_1d(np.asarray(freqs, dtype=float))
        amps = np.asarray(amps, dtype=float)
        if amps.ndim == 1:
            amps = amps[:, None]
        self.freqs.append(freqs)
        self.amps.append(np.broadcast_to(amps, (len(freqs), amps.shape[1])))
        self.phases.append(np.broadcast_to(np.asarray(phases, dtype=float), freqs.shape))


def _keyframes(attack: float) -> np.ndarray:
    if attack <= 0.0:
        return np.zeros(1)
    n = int(np.clip(round(4 + 3 * math.log2(1 + attack / 0.02)), 5, 12))
    return np.concatenate(([0.0, 0.002], np.geomspace(0.008, attack, n)))


def _grid(f0: float, sr: int, loop_s: float, pitched: bool, k_mult: int) -> tuple[int, int]:
    """Cycles k and loop length L with k * sr / L as close to f0 as L allows."""
    if not pitched:
        return 0, max(MIN_LOOP_FRAMES, int(round(loop_s * sr)))
    k = max(k_mult, k_mult * int(round(f0 * loop_s / k_mult)))
    if k * sr / f0 < MIN_LOOP_FRAMES:
        k = k_mult * int(math.ceil(MIN_LOOP_FRAMES * f0 / sr / k_mult))
    return k, int(round(k * sr / f0))


def _spectrum_frames(ctx: _Ctx, parts: _Parts) -> np.ndarray:
    """Complex half-spectra (K, L//2+1) holding every partial at its grid bin."""
    L, K = ctx.length, len(ctx.times)
    half = L // 2
    spec = np.zeros((K, half + 1), dtype=complex)
    for freqs, amps, phases in zip(parts.freqs, parts.amps, parts.phases):
        bins = np.rint(freqs / ctx.df).astype(np.int64)
        ok = (bins >= 1) & (bins < half) & (freqs <= ctx.fmax)
        if not ok.any():
            continue
        vals = amps[ok] * np.exp(1j * phases[ok])[:, None]  # (P, K)
        kk = np.broadcast_to(np.arange(K), vals.shape)
        bb = np.broadcast_to(bins[ok][:, None], vals.shape)
        np.add.at(spec, (kk.ravel(), bb.ravel()), vals.ravel())
    return spec


def _apply_post(ctx: _Ctx, spec: np.ndarray, post) -> np.ndarray:
    """Run a memoryless shaper on each frame at 4x oversampling, then band-limit again."""
    L = ctx.length
    half = L // 2
    over = 4 * L
    big = np.zeros((spec.shape[0], over // 2 + 1), dtype=complex)
    big[:, : half + 1] = spec
    x = np.fft.irfft(big * (over / 2), n=over, axis=1)
    peak = np.max(np.abs(x)) or 1.0
    y = post(x / peak)
    out = np.fft.rfft(y, axis=1)[:, : half + 1] / (over / 2)
    freqs = np.arange(half + 1) * ctx.df
    out[:, (freqs > ctx.fmax) | (freqs == 0)] = 0.0
    out[:, half:] = 0.0
    return out


def _render_looped(ctx: _Ctx, parts: _Parts) -> tuple[np.ndarray, int]:
    """The sample (float) and its loop start; the loop is ctx.length frames long."""
    L, times = ctx.length, ctx.times
    K = len(times)
    spec = _spectrum_frames(ctx, parts)
    if parts.post is not None:
        spec = _apply_post(ctx, spec, parts.post)
    if K > 1:
        spec[0] = 0.0  # fade in over the first keyframe (2 ms): no click at the note's start
    frames = np.fft.irfft(spec * (L / 2), n=L, axis=1)
    if parts.loop_post is not None:
        frames = parts.loop_post(frames, ctx)
    last = frames[-1]
    up = np.flatnonzero((np.roll(last, 1) < 0) & (last >= 0))
    if K == 1:
        # No attack: start the sample (and the loop) at an upward zero crossing.
        shift = int(up[0]) if len(up) else 0
        frames = np.roll(frames, -shift, axis=1)
        y = np.tile(frames[0], 2)[: L + TAIL_FRAMES]
        return y, 0
    n_att = int(round(times[-1] * ctx.sr))
    idx = np.arange(n_att + 1, n_att + 1 + L)
    cand = idx[np.isin(idx % L, up)] if len(up) else idx[:1]
    start = int(cand[0]) if len(cand) else n_att + 1
    total = start + L + TAIL_FRAMES
    n = np.arange(total)
    t = n / ctx.sr
    j = np.clip(np.searchsorted(times, t, side="right") - 1, 0, K - 2)
    w = np.clip((t - times[j]) / (times[j + 1] - times[j]), 0.0, 1.0)
    col = n % L
    y = (1.0 - w) * frames[j, col] + w * frames[j + 1, col]
    if parts.transient is not None:
        tr = np.asarray(parts.transient, dtype=float)[: max(0, n_att - 1)]
        if len(tr):
            fade = min(len(tr), int(0.004 * ctx.sr))
            tr = tr.copy()
            tr[len(tr) - fade:] *= np.linspace(1.0, 0.0, fade)
            y[: len(tr)] += tr
    return y, start


# --- small spectral helpers -------------------------------------------------------------

def _formants(f: np.ndarray, formants) -> np.ndarray:
    """Linear gain of a sum of Gaussian bumps (centre Hz, width Hz, gain dB)."""
    g = np.zeros_like(f, dtype=float)
    for fc, bw, gdb in formants:
        g += gdb * np.exp(-0.5 * ((f - fc) / bw) ** 2)
    return 10.0 ** (g / 20.0)


def _lowpass(f, fc, order=2.0):
    return 1.0 / np.sqrt(1.0 + (f / fc) ** (2 * order))


def _highpass(f, fc, order=1.0):
    x = (f / fc) ** (2 * order)
    return np.sqrt(x / (1.0 + x))


def _harmonics(ctx: _Ctx, limit: float | None = None) -> np.ndarray:
    top = min(ctx.fmax, limit or ctx.fmax)
    return np.arange(1, max(1, int(top // ctx.f0)) + 1, dtype=float)


def _noise_band(ctx: _Ctx, parts: _Parts, lo: float, hi: float, level, tilt_db_oct: float = 0.0, rms_ref: float = 1.0):
    """Add a band of noise (every grid bin between lo and hi, random phase) of RMS ``level``."""
    b0 = max(1, int(math.ceil(lo / ctx.df)))
    b1 = min(ctx.length // 2 - 1, int(min(hi, ctx.fmax) / ctx.df))
    if b1 < b0:
        return
    f = np.arange(b0, b1 + 1) * ctx.df
    mag = ctx.rng.rayleigh(1.0, len(f)) * (f / max(lo, 1.0)) ** (tilt_db_oct / 6.02)
    mag *= math.sqrt(2.0) / math.sqrt(np.sum(mag**2))
    level = np.broadcast_to(np.asarray(level, dtype=float), ctx.times.shape)
    parts.add(f, np.outer(mag, level) * rms_ref, ctx.rng.uniform(0, 2 * np.pi, len(f)))


def _burst(ctx: _Ctx, lo: float, hi: float, dur: float, level: float, attack: float = 0.0005) -> np.ndarray:
    """A band-passed noise burst with an exponential decay (for attack transients)."""
    n = max(16, int(dur * 4 * ctx.sr))
    x = _bandnoise(ctx.rng, n, ctx.sr, lo, hi)
    t = np.arange(n) / ctx.sr
    env = np.exp(-t / dur) * np.minimum(1.0, t / max(attack, 1e-6))
    x *= env
    return level * x / (np.max(np.abs(x)) or 1.0)


def _bandnoise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float, order: float = 2.0) -> np.ndarray:
    """White noise shaped by a smooth band-pass in the frequency domain (unit RMS)."""
    x = rng.standard_normal(n)
    X = np.fft.rfft(x)
    f = np.fft.rfftfreq(n, 1.0 / sr)
    g = np.ones_like(f)
    if lo > 0:
        g *= _highpass(np.maximum(f, 1e-9), lo, order)
    if hi < sr / 2:
        g *= _lowpass(f, hi, order)
    y = np.fft.irfft(X * g, n=n)
    return y / (np.sqrt(np.mean(y**2)) or 1.0)


def _bessel_j(n: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Bessel functions J_n(x) for integer orders n (N,) and arguments x (K,): shape (N, K)."""
    tau = (np.arange(96) + 0.5) * (np.pi / 96)
    return np.cos(n[:, None, None] * tau - x[None, :, None] * np.sin(tau)).mean(axis=2)


# =========================================================================================
# Timbre generators (melodic). Each takes the context and keyword parameters.
# =========================================================================================

def _copy_fundamental_scale(ctx: _Ctx, detune) -> list[float]:
    """Per chorus copy, a factor for its fundamental so that copies landing on one grid bin
    never outweigh the true fundamental (the loop's pitch stays where the note is)."""
    base = round(ctx.f0 / ctx.df)
    totals: dict[int, float] = {}
    offs = []
    for cents, level in detune:
        off = round(ctx.f0 * 2.0 ** (cents / 1200.0) / ctx.df) - base
        offs.append(off)
        if off:
            totals[off] = totals.get(off, 0.0) + level
    return [min(1.0, 0.8 / totals[o]) if o else 1.0 for o in offs]


def _g_harmonic(ctx: _Ctx, *, slope=1.0, even=1.0, amps=None, formants=(), lowpass=None, lp_order=2.0,
                highpass=None, detune=(), breath=0.0, breath_band=(400.0, 7000.0), breath_tilt=-3.0,
                bright=0.0, bright_tau=0.08, swell=0.0, swell_tau=0.06, decay=0.0, decay_floor=0.0,
                sub=0.0, fifth=0.0, drive=0.0, chiff=0.0, chiff_band=(1500.0, 7000.0), click=0.0, extra=(),
                perc=None):
    """Harmonic spectrum: h**-slope, even-harmonic weight, formants, filters, chorus copies.

    bright: upper harmonics start louder and settle (hammers, picks); swell: they start softer
    and bloom (brass, bowed strings); decay: upper harmonics die away faster (per second per kHz).
    sub/fifth: add an octave below / a fifth above (the timbre's k is even for these).
    extra: (ratio, amplitude) partials added to the harmonic series (organ drawbars, octaves).
    perc: (harmonic, amplitude, time constant) an extra decaying part on one harmonic (the
    percussion tab of a drawbar organ).
    """
    h = _harmonics(ctx)
    f = h * ctx.f0
    a = h ** (-float(slope))
    a[1::2] *= even
    if amps is not None:
        given = np.asarray(amps, dtype=float)
        a = np.zeros_like(h)
        m = min(len(given), len(h))
        a[:m] = given[:m]
    shape = _formants(f, formants)
    if lowpass:
        shape *= _lowpass(f, lowpass, lp_order)
    if highpass:
        shape *= _highpass(f, highpass)
    a = a * shape
    t = ctx.times[None, :]
    fk = (f / 1000.0)[:, None]
    env = np.ones((len(h), len(ctx.times)))
    if bright:
        env *= 1.0 + bright * np.sqrt(fk) * np.exp(-t / bright_tau)
    if swell:
        env *= 1.0 - swell * np.minimum(1.0, fk / 2.0) * np.exp(-t / swell_tau)
    if decay:
        env *= decay_floor + (1.0 - decay_floor) * np.exp(-t * decay * fk)
    phases = ctx.rng.uniform(0, 2 * np.pi, len(h))
    amp = a[:, None] * env
    if perc is not None and perc[0] <= len(h):
        ph, level, tau = perc
        amp[ph - 1] += level * np.exp(-ctx.times / tau)
    parts = _Parts()
    parts.add(f, amp, phases)
    fund_scale = _copy_fundamental_scale(ctx, detune)
    for (cents, level), fs in zip(detune, fund_scale):
        amp = level * a[:, None] * env
        amp[0] *= fs
        parts.add(f * 2.0 ** (cents / 1200.0), amp, phases)
    for ratio, level in extra:
        parts.add([ratio * ctx.f0], np.full((1, len(ctx.times)), level), ctx.rng.uniform(0, 2 * np.pi, 1))
    if sub:
        hs = _harmonics(ctx)[: max(1, len(h) // 2)]
        fs = (hs - 0.5) * ctx.f0  # odd harmonics of the octave below: a square-ish sub
        parts.add(fs, sub * (2 * hs - 1.0) ** -1.0, ctx.rng.uniform(0, 2 * np.pi, len(hs)))
    if fifth:
        fifth_f = f * 1.5
        parts.add(fifth_f, fifth * a[:, None] * env, ctx.rng.uniform(0, 2 * np.pi, len(h)))
    ref = float(np.max(a)) or 1.0
    if breath:
        _noise_band(ctx, parts, breath_band[0], breath_band[1], breath, breath_tilt, rms_ref=ref)
    if drive:
        d = float(drive)
        parts.post = lambda x: np.tanh(d * x) / np.tanh(d)
    if chiff or click:
        tr = np.zeros(int(ctx.times[-1] * ctx.sr))
        if chiff:
            b = _burst(ctx, chiff_band[0], chiff_band[1], 0.025, chiff * ref, attack=0.004)
            tr[: min(len(tr), len(b))] += b[: len(tr)]
        if click:
            b = _burst(ctx, 800.0, 9000.0, 0.003, click * ref)
            tr[: min(len(tr), len(b))] += b[: len(tr)]
        parts.transient = tr
    return parts


def _g_piano(ctx: _Ctx, *, stretch=1.5e-4, strike=1 / 8, lowpass=3500.0, decay=0.9, detune=0.7,
             hammer=0.25, strings=3, bright=0.6):
    """Piano: stretched partials (B grows up the keyboard), strike-position nulls, two-stage decay."""
    B = stretch * 2.0 ** ((ctx.root - 60) / 18.0)
    h = _harmonics(ctx)
    f = h * ctx.f0 * np.sqrt(1.0 + B * h * h) / math.sqrt(1.0 + B)
    ok = f <= ctx.fmax
    h, f = h[ok], f[ok]
    a = h**-0.9 * (0.15 + np.abs(np.sin(np.pi * h * strike))) * _lowpass(f, lowpass, 1.5)
    a *= 1.0 + 0.7 * np.exp(-0.5 * ((f - 1.0 * ctx.f0) / (ctx.f0 * 0.5)) ** 2)
    t = ctx.times[None, :]
    fk = (f / 1000.0)[:, None]
    # Prompt sound (fast, brighter) over a slower aftersound.
    env = 0.35 * np.exp(-t * decay * (1.0 + 4.0 * fk)) + 0.65 * np.exp(-t * decay * 0.25 * (1.0 + fk))
    env *= 1.0 + bright * np.sqrt(fk) * np.exp(-t / 0.03)
    phases = ctx.rng.uniform(0, 2 * np.pi, len(h))
    parts = _Parts()
    offsets = {1: (0.0,), 2: (0.0, detune), 3: (0.0, -detune, detune * 0.8)}[strings]
    for i, cents in enumerate(offsets):
        lev = 1.0 if i == 0 else 0.8
        parts.add(f * 2.0 ** (cents / 1200.0), lev * a[:, None] * env, phases + 0.3 * i)
    if hammer:
        parts.transient = _burst(ctx, 60.0, 2500.0, 0.012, hammer * float(np.max(a)) * 2.0, attack=0.001)
    return parts


def _decay_floor(ratio: np.ndarray) -> np.ndarray:
    """How far (linear) a partial may decay inside the sample: -30 dB for the fundamental,
    lower for higher partials. The rest of the decay is EG1's job, so loops never sink into
    the 16-bit noise floor."""
    return DECAY_FLOOR * np.maximum(ratio, 1.0) ** -1.5


def _g_pluck(ctx: _Ctx, *, brightness=9000.0, loss=1.2, pos=0.18, pickup=None, randomness=0.35,
             formants=(), lowpass=None, highpass=None, drive=0.0, detune=(), pick=0.0, pick_band=(1500.0, 9000.0),
             slope=0.9, sustain_floor=0.0):
    """Karplus-Strong style string: each harmonic loses |cos(pi f / B)| per period (the KS
    averaging filter at a virtual loop rate B) on top of a base loss (per second); the initial
    spectrum has the pluck position's nulls and KS-like random magnitudes."""
    # The virtual loop rate scales with the note, so the decay pattern (in harmonic numbers)
    # is alike over the keyboard while higher notes still die sooner; ``brightness`` is its
    # value for a 110 Hz string.
    rate_b = brightness * ctx.f0 / 110.0
    h = _harmonics(ctx, limit=rate_b / 2 * 0.98)
    f = h * ctx.f0
    a = h**-slope * (0.08 + np.abs(np.sin(np.pi * h * pos)))
    a *= 1.0 - randomness + randomness * ctx.rng.rayleigh(0.8, len(h))
    if pickup:
        a *= 0.1 + np.abs(np.sin(np.pi * h * pickup))
    a *= _formants(f, formants)
    if lowpass:
        a *= _lowpass(f, lowpass, 2.0)
    if highpass:
        a *= _highpass(f, highpass)
    per_period = np.abs(np.cos(np.pi * f / rate_b))
    rate = loss + (-ctx.f0 * np.log(np.maximum(per_period, 1e-6)))
    t = ctx.times[None, :]
    env = sustain_floor + (1.0 - sustain_floor) * np.exp(-t * rate[:, None])
    env = np.maximum(env, _decay_floor(h)[:, None])
    phases = ctx.rng.uniform(0, 2 * np.pi, len(h))
    parts = _Parts()
    parts.add(f, a[:, None] * env, phases)
    for cents, level in detune:
        parts.add(f * 2.0 ** (cents / 1200.0), level * a[:, None] * env, phases + 1.0)
    if drive:
        d = float(drive)
        parts.post = lambda x: np.tanh(d * x) / np.tanh(d)
    if pick:
        parts.transient = _burst(ctx, pick_band[0], pick_band[1], 0.004, pick * float(np.max(a)))
    return parts


def _g_modal(ctx: _Ctx, *, modes, strike=0.0, strike_band=(500.0, 6000.0), strike_dur=0.006, detune=()):
    """Struck bars, bells, membranes: (ratio, amplitude, decay per second) modes."""
    ratios = np.array([m[0] for m in modes], dtype=float)
    amps = np.array([m[1] for m in modes], dtype=float)
    rates = np.array([m[2] for m in modes], dtype=float)
    f = ratios * ctx.f0
    ok = f <= ctx.fmax
    env = np.exp(-ctx.times[None, :] * rates[ok][:, None])
    env = np.maximum(env, _decay_floor(ratios[ok])[:, None])
    phases = ctx.rng.uniform(0, 2 * np.pi, int(ok.sum()))
    parts = _Parts()
    parts.add(f[ok], amps[ok][:, None] * env, phases)
    for cents, level in detune:
        parts.add(f[ok] * 2.0 ** (cents / 1200.0), level * amps[ok][:, None] * env, phases + 2.0)
    if strike:
        parts.transient = _burst(ctx, strike_band[0], strike_band[1], strike_dur, strike * float(amps.max()))
    return parts


def _g_fm(ctx: _Ctx, *, ops, detune=(), strike=0.0, strike_band=(1000.0, 8000.0), pad=None):
    """FM-ish tones: each op is (carrier ratio, modulator ratio, index at 0, index at rest,
    index time constant, level, amplitude decay per second). Sidebands at c + n m with J_n(I)."""
    parts = _Parts()
    t = ctx.times
    for c, m, i0, i1, tau, level, dec in ops:
        index = i1 + (i0 - i1) * np.exp(-t / tau)
        nmax = int(math.ceil(max(i0, i1) + 4))
        n = np.arange(-nmax, nmax + 1)
        amp = _bessel_j(n, index) * level * np.exp(-t * dec)[None, :]
        ratio = c + n * m
        sign = np.where(ratio < 0, -1.0, 1.0)
        keep = np.abs(ratio) > 1e-9
        f = np.abs(ratio[keep]) * ctx.f0
        parts.add(f, amp[keep] * sign[keep][:, None], np.full(len(f), -np.pi / 2))
        for cents, lev in detune:
            parts.add(f * 2.0 ** (cents / 1200.0), lev * amp[keep] * sign[keep][:, None], np.full(len(f), 0.4))
    if pad is not None:
        sub = _g_harmonic(ctx, **pad)
        for fr, am, ph in zip(sub.freqs, sub.amps, sub.phases):
            parts.add(fr, am, ph)
    if strike:
        parts.transient = _burst(ctx, strike_band[0], strike_band[1], 0.004, strike)
    return parts


def _g_noise(ctx: _Ctx, *, bands, am=None, tones=()):
    """Unpitched loops: bands of noise (lo, hi, level, tilt), optional periodic AM.

    am(frames, ctx) returns the frames with a loop-periodic envelope applied."""
    parts = _Parts()
    for lo, hi, level, tilt in bands:
        _noise_band(ctx, parts, lo, hi, level, tilt)
    for ratio, level in tones:
        parts.add([ratio * ctx.f0], [[level] * len(ctx.times)], [0.0])
    parts.loop_post = am
    return parts


def _periodic_env(ctx: _Ctx, cycles: int, shape: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """An envelope with a whole number of cycles per loop (phase 0..1 mapped by shape)."""
    ph = (np.arange(ctx.length) * cycles / ctx.length) % 1.0
    return shape(ph)


def _am_seashore(frames, ctx):
    ph = np.arange(ctx.length) / ctx.length
    env = 0.25 + 0.75 * (0.5 - 0.5 * np.cos(2 * np.pi * ph)) ** 1.5
    env *= 1.0 + 0.15 * np.sin(2 * np.pi * 3 * ph + 1.0)
    return frames * env


def _am_helicopter(frames, ctx):
    env = _periodic_env(ctx, int(round(11.0 * ctx.length / ctx.sr)), lambda p: 0.15 + np.exp(-p * 9.0))
    return frames * env


def _am_applause(frames, ctx):
    rng = np.random.default_rng(1234)
    n = ctx.length
    env = np.full(n, 0.35)
    t = np.arange(n)
    for _ in range(int(n / ctx.sr * 60)):
        c = rng.integers(0, n)
        d = (t - c) % n
        env += rng.uniform(0.4, 1.0) * np.exp(-d / (0.012 * ctx.sr)) * (d < 0.08 * ctx.sr)
    return frames * env


def _am_telephone(frames, ctx):
    cycles = int(round(16.0 * ctx.length / ctx.sr))
    return frames * _periodic_env(ctx, cycles, lambda p: 0.5 + 0.5 * np.tanh(6 * np.sin(2 * np.pi * p)))


def _am_breath(frames, ctx):
    return frames * _periodic_env(ctx, 1, lambda p: 0.7 + 0.3 * np.sin(2 * np.pi * p) ** 2)


def _g_bird(ctx: _Ctx):
    """Chirps (sines swept up and down) placed on a loop-periodic time line."""
    parts = _Parts()
    n = ctx.length
    x = np.zeros(n)
    t = np.arange(n) / ctx.sr
    rng = ctx.rng
    base = min(ctx.f0 * 16.0, ctx.fmax / 2.0)
    for start, dur, sweep in ((0.05, 0.07, 1.6), (0.16, 0.05, 1.4), (0.24, 0.05, 1.5), (0.5, 0.12, 0.7), (0.72, 0.06, 1.8)):
        if start + dur > t[-1]:
            continue
        m = (t >= start) & (t < start + dur)
        u = (t[m] - start) / dur
        fr = base * (1.0 + (sweep - 1.0) * np.sin(np.pi * u)) * (1.0 + 0.04 * np.sin(2 * np.pi * 35 * t[m]))
        ph = 2 * np.pi * np.cumsum(fr) / ctx.sr + rng.uniform(0, 6.28)
        x[m] += np.sin(ph) * np.sin(np.pi * u) ** 2
    parts.loop_post = lambda frames, c: np.broadcast_to(x, frames.shape).copy()
    parts.add([ctx.f0], [[1e-6] * len(ctx.times)], [0.0])
    return parts


# --- one-shot melodic waves (no loop) ---------------------------------------------------

def _o_orchestra_hit(sr: int, f0: float, rng: np.random.Generator) -> np.ndarray:
    n = int(0.9 * sr)
    t = np.arange(n) / sr
    y = np.zeros(n)
    for ratio, lev in ((1.0, 1.0), (2.0, 0.7), (1.5, 0.6), (1.26, 0.45), (0.5, 0.5), (3.0, 0.3)):
        fr = f0 * ratio
        for h in range(1, int(min(9000, sr * 0.45) // fr) + 1):
            y += lev * h**-1.0 * np.exp(-t * (3.0 + h * 0.6)) * np.sin(2 * np.pi * fr * h * t + rng.uniform(0, 6.28))
    noise = _bandnoise(rng, n, sr, 300, 6000) * np.exp(-t / 0.05) * 0.3
    env = np.minimum(1.0, t / 0.004) * np.exp(-t / 0.25)
    return (y / (np.max(np.abs(y)) or 1) + noise) * env


def _o_sweep_drum(sr: int, f0: float, rng: np.random.Generator, dur=0.7, sweep=1.8, tau=0.06, noise=0.15) -> np.ndarray:
    n = int(dur * sr)
    t = np.arange(n) / sr
    fr = f0 * (1.0 + (sweep - 1.0) * np.exp(-t / tau))
    y = np.sin(2 * np.pi * np.cumsum(fr) / sr) + 0.2 * np.sin(2 * np.pi * np.cumsum(fr * 2.1) / sr) * np.exp(-t / 0.05)
    y *= np.exp(-t / (dur / 4))
    y += noise * _bandnoise(rng, n, sr, 200, 5000) * np.exp(-t / 0.02)
    return y * np.minimum(1.0, t / 0.001)


def _o_synth_drum(sr: int, f0: float, rng: np.random.Generator) -> np.ndarray:
    return _o_sweep_drum(sr, f0, rng, dur=0.7, sweep=2.5, tau=0.09, noise=0.05)


def _o_fret_noise(sr: int, f0: float, rng: np.random.Generator) -> np.ndarray:
    n = int(0.35 * sr)
    t = np.arange(n) / sr
    y = np.zeros(n)
    base = _bandnoise(rng, n, sr, f0 * 4, f0 * 16)
    env = np.exp(-((t - 0.12) / 0.06) ** 2)
    y += base * env
    scr = np.sin(2 * np.pi * np.cumsum(f0 * 6 * (1 + 0.5 * t / t[-1])) / sr)
    y += 0.4 * scr * env * (0.5 + 0.5 * np.sin(2 * np.pi * 60 * t))
    return y


def _o_gunshot(sr: int, f0: float, rng: np.random.Generator) -> np.ndarray:
    n = int(1.2 * sr)
    t = np.arange(n) / sr
    crack = _bandnoise(rng, n, sr, 500, 9000) * np.exp(-t / 0.012)
    body = _bandnoise(rng, n, sr, 40, 1200) * np.exp(-t / 0.18) * 0.7
    boom = np.sin(2 * np.pi * np.cumsum(f0 * 0.5 * (1 + 2 * np.exp(-t / 0.03))) / sr) * np.exp(-t / 0.2)
    return (crack + body + 0.6 * boom) * np.minimum(1.0, t / 0.0005)


# =========================================================================================
# Timbre table
# =========================================================================================

ROOTS_PIANO = (24, 36, 48, 60, 72, 84, 96)
ROOTS_WIDE = (33, 50, 67, 84)
ROOTS_BASS = (24, 40, 56, 72)
ROOTS_LOW = (36, 52, 68, 84)
ROOTS_HIGH = (60, 76, 92)
ROOTS_MID = (40, 57, 74, 91)
ROOTS_FEW = (48, 72)
ROOTS_ONE = (60,)


@dataclass
class _Timbre:
    name: str
    gen: Callable
    params: dict = field(default_factory=dict)
    attack: float = 0.15  # seconds of keyframed attack before the loop
    loop: float = 0.1  # target loop length (s): longer for chorus and noise
    roots: tuple = ROOTS_WIDE
    pitched: bool = True  # False: noise and effects; the loop is not tuned to a note
    oneshot: bool = False  # gen(sr, f0, rng) -> float array, no loop
    rate: int = SAMPLE_RATE
    k_mult: int = 1  # 2 when an octave-below partial must stay on the grid


_T: dict[str, _Timbre] = {}


def _t(name, gen, attack=0.15, loop=0.1, roots=ROOTS_WIDE, **kw):
    opts = {k: kw.pop(k) for k in ("pitched", "oneshot", "rate", "k_mult") if k in kw}
    _T[name] = _Timbre(name, gen, kw, attack, loop, roots, **opts)
    return name


H = _g_harmonic
VIOLIN_BODY = ((290.0, 80.0, 6.0), (520.0, 150.0, 4.0), (2800.0, 700.0, 7.0), (4500.0, 600.0, -6.0))
VIOLA_BODY = ((230.0, 70.0, 6.0), (420.0, 120.0, 4.0), (2000.0, 600.0, 5.0))
CELLO_BODY = ((120.0, 40.0, 5.0), (300.0, 100.0, 5.0), (1500.0, 500.0, 4.0))
BASS_BODY = ((70.0, 25.0, 5.0), (200.0, 80.0, 4.0), (900.0, 400.0, 2.0))
VOWEL_A = ((730.0, 110.0, 14.0), (1090.0, 130.0, 10.0), (2440.0, 200.0, 6.0), (3400.0, 300.0, 2.0))
VOWEL_O = ((450.0, 90.0, 14.0), (800.0, 110.0, 8.0), (2830.0, 200.0, 2.0))
VOWEL_U = ((320.0, 70.0, 14.0), (800.0, 100.0, 4.0), (2240.0, 200.0, -4.0))
ENSEMBLE = ((-11.0, 0.75), (8.0, 0.7), (-4.0, 0.6), (14.0, 0.5))
CHORUS = ((-7.0, 0.7), (6.0, 0.6))

# --- pianos, keys ---------------------------------------------------------------------------
_t("piano", _g_piano, attack=0.45, loop=0.25, roots=ROOTS_PIANO)
_t("epgrand", _g_piano, attack=0.25, loop=0.2, roots=ROOTS_WIDE, stretch=0.6e-4, strike=1 / 7, lowpass=5000.0,
   decay=1.1, detune=5.0, strings=2, hammer=0.15, bright=1.0)
_t("honkytonk", _g_piano, attack=0.25, loop=0.25, roots=ROOTS_WIDE, detune=16.0, strings=2, lowpass=4000.0, decay=1.0)
_t("rhodes", _g_fm, attack=0.25, loop=0.25, roots=ROOTS_WIDE,
   ops=((1.0, 1.0, 1.8, 0.25, 0.12, 1.0, 0.4), (1.0, 13.0, 1.2, 0.0, 0.02, 0.35, 3.0)), detune=((4.0, 0.4),), strike=0.15)
_t("dx_ep", _g_fm, attack=0.25, loop=0.2, roots=ROOTS_WIDE,
   ops=((1.0, 1.0, 1.0, 0.4, 0.3, 1.0, 0.3), (1.0, 14.0, 1.5, 0.05, 0.03, 0.5, 4.0)), detune=((-6.0, 0.6), (7.0, 0.5)))
_t("harpsichord", _g_pluck, attack=0.25, loop=0.12, brightness=26000.0, loss=1.5, pos=0.07, randomness=0.2,
   slope=0.7, detune=((-3.0, 0.6), (1200.0, 0.35)), pick=0.3)
_t("clavi", _g_pluck, attack=0.25, loop=0.1, brightness=20000.0, loss=3.0, pos=0.1, pickup=0.07, randomness=0.2,
   slope=0.6, highpass=250.0, pick=0.2)

# --- chromatic percussion -------------------------------------------------------------------
_t("celesta", _g_modal, attack=0.25, loop=0.1, roots=ROOTS_HIGH,
   modes=((1.0, 1.0, 1.2), (2.0, 0.12, 4.0), (4.0, 0.25, 8.0), (10.0, 0.06, 25.0)), strike=0.12)
_t("glockenspiel", _g_modal, attack=0.25, loop=0.1, roots=ROOTS_HIGH,
   modes=((1.0, 1.0, 1.0), (2.76, 0.55, 3.0), (5.40, 0.3, 7.0), (8.93, 0.15, 12.0)), strike=0.2, strike_band=(2000, 10000))
_t("musicbox", _g_modal, attack=0.25, loop=0.1, roots=ROOTS_HIGH,
   modes=((1.0, 1.0, 1.5), (2.0, 0.2, 4.0), (5.4, 0.3, 10.0), (8.9, 0.1, 20.0)), strike=0.08)
_t("vibraphone", _g_modal, attack=0.25, loop=0.15, roots=ROOTS_MID,
   modes=((1.0, 1.0, 0.3), (4.0, 0.35, 3.0), (10.0, 0.12, 10.0)), strike=0.06, detune=((3.0, 0.3),))
_t("marimba", _g_modal, attack=0.25, loop=0.1, roots=ROOTS_MID,
   modes=((1.0, 1.0, 2.0), (3.99, 0.35, 10.0), (10.65, 0.12, 30.0)), strike=0.12, strike_band=(200, 3000))
_t("xylophone", _g_modal, attack=0.25, loop=0.1, roots=ROOTS_MID,
   modes=((1.0, 1.0, 4.0), (3.0, 0.5, 9.0), (6.2, 0.25, 20.0), (10.0, 0.1, 35.0)), strike=0.2, strike_band=(1000, 9000))
_t("tubularbell", _g_modal, attack=0.25, loop=0.2, roots=ROOTS_MID,
   modes=((1.0, 1.0, 0.4), (2.0, 0.5, 0.7), (2.92, 0.6, 1.0), (4.13, 0.4, 1.6), (5.42, 0.3, 2.2),
          (6.8, 0.15, 3.0), (8.3, 0.08, 4.0)), strike=0.15, detune=((2.0, 0.3),))
_t("dulcimer", _g_pluck, attack=0.25, loop=0.25, brightness=22000.0, loss=0.8, pos=0.12, randomness=0.3,
   slope=0.8, detune=((5.0, 0.8), (-4.0, 0.6)), pick=0.25)

# --- organs ---------------------------------------------------------------------------------
_t("drawbar", H, attack=0.04, loop=0.1, k_mult=2, amps=(1.0, 0.45, 0.35, 0.25, 0.0, 0.15, 0.0, 0.12),
   extra=((0.5, 0.5), (1.5, 0.55)), click=0.35)
_t("percorgan", H, attack=0.4, loop=0.1, amps=(1.0, 0.5, 0.25, 0.3, 0.0, 0.1, 0.0, 0.08), perc=(3, 1.1, 0.12),
   click=0.4)
_t("rockorgan", H, attack=0.04, loop=0.25, k_mult=2, amps=(1.0, 0.6, 0.6, 0.5, 0.2, 0.35, 0.1, 0.3),
   extra=((0.5, 0.45), (1.5, 0.5)), detune=((-6.0, 0.5), (5.0, 0.45)), drive=1.6, click=0.4)
_t("churchorgan", H, attack=0.12, loop=0.25, slope=0.9, even=0.8,
   amps=(1.0, 0.7, 0.55, 0.5, 0.25, 0.35, 0.12, 0.3, 0.1, 0.12, 0.05, 0.15, 0.03, 0.06, 0.03, 0.1),
   detune=((-2.5, 0.6), (3.0, 0.5)), chiff=0.25, chiff_band=(800, 5000), lowpass=7000.0)
_t("reedorgan", H, attack=0.1, loop=0.15, slope=0.9, even=0.6, formants=((1200.0, 500.0, 5.0),),
   lowpass=4000.0, breath=0.02)
_t("accordion", H, attack=0.06, loop=0.25, slope=0.75, even=0.7, formants=((1300.0, 500.0, 6.0), (2600.0, 600.0, 3.0)),
   detune=((14.0, 0.85),), lowpass=5500.0)
_t("harmonica", H, attack=0.06, loop=0.2, slope=0.8, even=0.45, formants=((1500.0, 600.0, 8.0),), lowpass=4500.0,
   breath=0.05, breath_band=(800.0, 6000.0))
_t("tangoaccordion", H, attack=0.06, loop=0.25, slope=0.7, even=0.8, formants=((900.0, 400.0, 5.0), (2200.0, 600.0, 4.0)),
   detune=((-18.0, 0.8), (9.0, 0.6)), lowpass=6000.0)

# --- guitars ----------------------------------------------------------------------------------
_t("nylon", _g_pluck, attack=0.25, loop=0.12, brightness=7500.0, loss=0.9, pos=0.16,
   formants=((100.0, 30.0, 4.0), (220.0, 60.0, 4.0), (450.0, 150.0, 2.0)), pick=0.12, pick_band=(400, 4000))
_t("steel", _g_pluck, attack=0.25, loop=0.12, brightness=16000.0, loss=0.9, pos=0.13, slope=0.8,
   formants=((110.0, 30.0, 4.0), (250.0, 70.0, 3.0), (2500.0, 800.0, 3.0)), pick=0.2)
_t("jazzguitar", _g_pluck, attack=0.25, loop=0.12, brightness=6000.0, loss=1.2, pos=0.2, pickup=0.28, lowpass=1800.0)
_t("cleanguitar", _g_pluck, attack=0.25, loop=0.2, brightness=14000.0, loss=0.9, pos=0.14, pickup=0.09,
   detune=((-5.0, 0.35),), pick=0.15)
_t("mutedguitar", _g_pluck, attack=0.2, loop=0.1, brightness=6000.0, loss=14.0, pos=0.12, pickup=0.1,
   lowpass=2500.0, pick=0.25)
_t("overdrive", _g_pluck, attack=0.25, loop=0.12, brightness=9000.0, loss=0.5, pos=0.14, pickup=0.1, drive=3.5,
   lowpass=5000.0, sustain_floor=0.25)
_t("distortion", _g_pluck, attack=0.25, loop=0.2, brightness=9000.0, loss=0.4, pos=0.14, pickup=0.1, drive=9.0,
   lowpass=4500.0, formants=((1800.0, 700.0, 4.0),), detune=((-8.0, 0.5),), sustain_floor=0.35)
_t("gtrharmonics", _g_modal, attack=0.25, loop=0.1, roots=ROOTS_MID,
   modes=((1.0, 1.0, 0.6), (2.0, 0.15, 2.0), (3.0, 0.05, 4.0)), strike=0.05)

# --- basses -----------------------------------------------------------------------------------
_t("acousticbass", _g_pluck, attack=0.25, loop=0.12, roots=ROOTS_BASS, brightness=3500.0, loss=1.5, pos=0.2,
   formants=BASS_BODY, pick=0.1, pick_band=(200, 2000))
_t("fingerbass", _g_pluck, attack=0.25, loop=0.12, roots=ROOTS_BASS, brightness=4500.0, loss=0.9, pos=0.2,
   pickup=0.15, lowpass=2500.0)
_t("pickbass", _g_pluck, attack=0.25, loop=0.12, roots=ROOTS_BASS, brightness=10000.0, loss=1.0, pos=0.1,
   pickup=0.12, pick=0.3, pick_band=(1000, 6000))
_t("fretless", H, attack=0.25, loop=0.12, roots=ROOTS_BASS, slope=1.3, formants=((550.0, 250.0, 5.0),),
   lowpass=1800.0, swell=0.6, swell_tau=0.08, decay=0.4, decay_floor=0.4)
_t("slapbass", _g_pluck, attack=0.25, loop=0.12, roots=ROOTS_BASS, brightness=18000.0, loss=1.0, pos=0.08,
   pickup=0.12, formants=((1400.0, 500.0, 5.0),), pick=0.6, pick_band=(1500, 8000))
_t("slapbass2", _g_pluck, attack=0.25, loop=0.12, roots=ROOTS_BASS, brightness=14000.0, loss=1.3, pos=0.1,
   pickup=0.2, formants=((900.0, 400.0, 5.0), (2500.0, 600.0, 3.0)), pick=0.5, pick_band=(2000, 9000))
_t("synthbass1", H, attack=0.02, loop=0.1, roots=ROOTS_BASS, slope=1.0)
_t("synthbass2", H, attack=0.02, loop=0.2, roots=ROOTS_BASS, slope=1.0, even=0.25, detune=((-9.0, 0.7),))

# --- strings ----------------------------------------------------------------------------------
_bow = dict(slope=0.95, swell=0.7, swell_tau=0.07, breath=0.015, breath_band=(1500.0, 8000.0), lowpass=7000.0)
_t("violin", H, attack=0.25, loop=0.2, roots=ROOTS_MID, formants=VIOLIN_BODY, **_bow)
_t("viola", H, attack=0.25, loop=0.2, roots=ROOTS_LOW, formants=VIOLA_BODY, **_bow)
_t("cello", H, attack=0.25, loop=0.2, roots=ROOTS_LOW, formants=CELLO_BODY, **_bow)
_t("contrabass", H, attack=0.25, loop=0.2, roots=ROOTS_BASS, formants=BASS_BODY, **_bow)
_t("fiddle", H, attack=0.2, loop=0.2, roots=ROOTS_MID, formants=VIOLIN_BODY + ((3500.0, 500.0, 4.0),),
   slope=0.85, swell=0.5, swell_tau=0.05, breath=0.02, breath_band=(2000.0, 9000.0))
_t("strings", H, attack=0.25, loop=0.25, roots=ROOTS_MID, formants=VIOLA_BODY, detune=ENSEMBLE, slope=1.0, swell=0.6, swell_tau=0.1,
   breath=0.01, breath_band=(2000.0, 8000.0), lowpass=6000.0)
_t("pizzicato", _g_pluck, attack=0.25, loop=0.12, brightness=5000.0, loss=4.0, pos=0.25, formants=VIOLA_BODY,
   detune=((-6.0, 0.6), (5.0, 0.5)))
_t("harp", _g_pluck, attack=0.25, loop=0.12, brightness=9000.0, loss=0.5, pos=0.3, slope=1.0, pick=0.05)
_t("timpani", _g_modal, attack=0.25, loop=0.15, roots=ROOTS_BASS,
   modes=((1.0, 1.0, 1.0), (1.5, 0.6, 1.6), (1.98, 0.45, 2.2), (2.44, 0.3, 3.0), (2.95, 0.2, 4.0), (0.5, 0.25, 6.0)),
   strike=0.4, strike_band=(40, 1500), strike_dur=0.03, pitched=True, k_mult=2)
_t("synthstrings1", H, attack=0.1, loop=0.25, roots=ROOTS_MID, slope=1.0, detune=((-12.0, 0.8), (10.0, 0.8), (3.0, 0.5)), lowpass=5000.0)
_t("synthstrings2", H, attack=0.1, loop=0.25, roots=ROOTS_MID, slope=1.0, even=0.5, detune=((-8.0, 0.85), (9.0, 0.7)), lowpass=3500.0)
_t("choir", H, attack=0.25, loop=0.25, roots=ROOTS_MID, slope=1.1, formants=VOWEL_A, detune=((-9.0, 0.8), (7.0, 0.7), (15.0, 0.4)),
   breath=0.02, breath_band=(2000.0, 7000.0), lowpass=5000.0, swell=0.4)
_t("oohs", H, attack=0.25, loop=0.25, roots=ROOTS_MID, slope=1.4, formants=VOWEL_U, detune=((-7.0, 0.7), (6.0, 0.6)),
   breath=0.015, breath_band=(1500.0, 5000.0), lowpass=3000.0)
_t("synthvoice", H, attack=0.1, loop=0.2, roots=ROOTS_MID, slope=1.0, formants=VOWEL_O, detune=((-5.0, 0.6),),
   lowpass=4000.0)
_t("orchhit", _o_orchestra_hit, roots=ROOTS_FEW, oneshot=True)

# --- brass ------------------------------------------------------------------------------------
_t("trumpet", H, attack=0.2, loop=0.1, roots=ROOTS_MID, slope=0.6, formants=((1300.0, 500.0, 8.0), (2600.0, 700.0, 3.0)),
   swell=0.9, swell_tau=0.04, lowpass=6000.0, breath=0.01)
_t("trombone", H, attack=0.2, loop=0.1, roots=ROOTS_LOW, slope=0.7, formants=((600.0, 250.0, 8.0), (1300.0, 400.0, 3.0)),
   swell=0.9, swell_tau=0.05, lowpass=4000.0, breath=0.01)
_t("tuba", H, attack=0.2, loop=0.1, roots=ROOTS_BASS, slope=1.1, formants=((250.0, 120.0, 6.0),),
   swell=0.8, swell_tau=0.06, lowpass=1500.0)
_t("mutedtrumpet", H, attack=0.15, loop=0.1, roots=ROOTS_MID, slope=0.6, formants=((1800.0, 500.0, 12.0),),
   highpass=900.0, lowpass=5000.0, swell=0.5)
_t("frenchhorn", H, attack=0.2, loop=0.1, roots=ROOTS_LOW, slope=1.6, formants=((400.0, 200.0, 6.0),),
   lowpass=1800.0, swell=0.7, swell_tau=0.08)
_t("brasssection", H, attack=0.2, loop=0.25, roots=ROOTS_MID, slope=0.7, formants=((1000.0, 500.0, 7.0), (2500.0, 700.0, 2.0)),
   detune=((-8.0, 0.8), (7.0, 0.7), (-15.0, 0.4)), swell=0.9, swell_tau=0.05, lowpass=5000.0)
_t("synthbrass1", H, attack=0.02, loop=0.25, slope=1.0, detune=((-10.0, 0.9), (9.0, 0.8)))
_t("synthbrass2", H, attack=0.02, loop=0.25, slope=1.0, even=0.35, detune=((-6.0, 0.9), (12.0, 0.5)))

# --- reeds --------------------------------------------------------------------------------------
_sax = dict(slope=0.8, swell=0.6, swell_tau=0.03, breath=0.03, breath_band=(1200.0, 7000.0))
_t("sopranosax", H, attack=0.12, loop=0.25, roots=ROOTS_MID, formants=((1200.0, 400.0, 6.0), (2800.0, 600.0, 4.0)),
   lowpass=6000.0, **_sax)
_t("altosax", H, attack=0.12, loop=0.25, roots=ROOTS_MID, formants=((900.0, 350.0, 7.0), (2300.0, 600.0, 4.0)),
   lowpass=5000.0, **_sax)
_t("tenorsax", H, attack=0.12, loop=0.25, roots=ROOTS_LOW, formants=((600.0, 300.0, 7.0), (1800.0, 500.0, 4.0)),
   lowpass=4000.0, **_sax)
_t("barisax", H, attack=0.12, loop=0.25, roots=ROOTS_BASS, formants=((400.0, 200.0, 7.0), (1300.0, 400.0, 4.0)),
   lowpass=3000.0, **_sax)
_t("oboe", H, attack=0.1, loop=0.2, roots=ROOTS_MID, slope=0.55, formants=((1100.0, 300.0, 10.0), (2800.0, 500.0, 5.0)),
   highpass=300.0, lowpass=6000.0, breath=0.015)
_t("englishhorn", H, attack=0.1, loop=0.2, roots=ROOTS_LOW, slope=0.6, formants=((900.0, 250.0, 10.0), (2300.0, 500.0, 4.0)),
   highpass=200.0, lowpass=5000.0, breath=0.015)
_t("bassoon", H, attack=0.1, loop=0.2, roots=ROOTS_BASS, slope=0.7, formants=((470.0, 150.0, 10.0), (1200.0, 300.0, 4.0)),
   lowpass=3000.0, breath=0.015)
_t("clarinet", H, attack=0.1, loop=0.2, roots=ROOTS_MID, slope=0.9, even=0.12, formants=((1500.0, 600.0, 3.0),),
   lowpass=5000.0, breath=0.02)
_t("bagpipe", H, attack=0.08, loop=0.2, roots=ROOTS_MID, slope=0.45, formants=((1400.0, 500.0, 9.0), (3000.0, 600.0, 6.0)),
   highpass=400.0, lowpass=7000.0, breath=0.02)
_t("shanai", H, attack=0.08, loop=0.2, roots=ROOTS_MID, slope=0.5, formants=((1600.0, 450.0, 10.0), (3200.0, 600.0, 5.0)),
   highpass=500.0, lowpass=7000.0, breath=0.02)

# --- pipes --------------------------------------------------------------------------------------
_t("piccolo", H, attack=0.12, loop=0.2, roots=ROOTS_HIGH, amps=(1.0, 0.2, 0.08, 0.03), breath=0.06,
   breath_band=(2000.0, 9000.0), chiff=0.25)
_t("flute", H, attack=0.12, loop=0.2, roots=ROOTS_MID, amps=(1.0, 0.35, 0.15, 0.08, 0.04, 0.02), breath=0.045,
   breath_band=(1000.0, 8000.0), chiff=0.3, swell=0.5)
_t("recorder", H, attack=0.1, loop=0.2, roots=ROOTS_MID, amps=(1.0, 0.2, 0.3, 0.05, 0.1, 0.02), breath=0.03,
   chiff=0.35, chiff_band=(2000.0, 8000.0))
_t("panflute", H, attack=0.15, loop=0.25, roots=ROOTS_MID, amps=(1.0, 0.1, 0.25, 0.03, 0.06), breath=0.16,
   breath_band=(600.0, 6000.0), chiff=0.6, chiff_band=(800.0, 6000.0))
_t("bottle", H, attack=0.15, loop=0.25, roots=ROOTS_MID, amps=(1.0, 0.05, 0.03), breath=0.25,
   breath_band=(300.0, 4000.0), chiff=0.3)
_t("shakuhachi", H, attack=0.15, loop=0.25, roots=ROOTS_MID, amps=(1.0, 0.25, 0.1, 0.05), breath=0.2,
   breath_band=(800.0, 6000.0), chiff=0.8, chiff_band=(600.0, 5000.0))
_t("whistle", H, attack=0.06, loop=0.2, roots=ROOTS_HIGH, amps=(1.0, 0.03, 0.01), breath=0.03,
   breath_band=(3000.0, 9000.0))
_t("ocarina", H, attack=0.08, loop=0.2, roots=ROOTS_MID, amps=(1.0, 0.06, 0.04), breath=0.03, chiff=0.2)

# --- synth leads ---------------------------------------------------------------------------------
_t("square", H, attack=0.0, loop=0.1, slope=1.0, even=0.0)
_t("saw", H, attack=0.0, loop=0.25, slope=1.0, detune=((8.0, 0.75),))
_t("calliope", H, attack=0.1, loop=0.2, roots=ROOTS_MID, amps=(1.0, 0.5, 0.1, 0.2, 0.02, 0.05), breath=0.08,
   breath_band=(1000.0, 7000.0), chiff=0.2)
_t("chiff", H, attack=0.1, loop=0.1, slope=1.2, even=0.3, lowpass=4000.0, chiff=0.8, chiff_band=(1000.0, 8000.0))
_t("charang", _g_pluck, attack=0.2, loop=0.2, brightness=14000.0, loss=0.3, pos=0.1, slope=1.0, drive=5.0,
   lowpass=6000.0, detune=((7.0, 0.6),), sustain_floor=0.6)
_t("leadvoice", H, attack=0.1, loop=0.2, roots=ROOTS_MID, slope=0.9, formants=VOWEL_A, detune=((6.0, 0.6),), lowpass=5000.0)
_t("fifths", H, attack=0.0, loop=0.2, k_mult=2, slope=1.0, fifth=0.65, detune=((5.0, 0.4),))
_t("basslead", H, attack=0.0, loop=0.2, k_mult=2, slope=1.0, sub=0.45, detune=((-6.0, 0.5),))

# --- pads -----------------------------------------------------------------------------------------
_t("newage", _g_fm, attack=0.15, loop=0.25, roots=ROOTS_MID,
   ops=((1.0, 2.0, 2.0, 0.6, 0.3, 1.0, 0.0), (2.0, 7.0, 1.0, 0.0, 0.2, 0.3, 1.0)), detune=((-6.0, 0.7), (5.0, 0.6)))
_t("warmpad", H, attack=0.15, loop=0.25, roots=ROOTS_MID, slope=1.3, lowpass=1400.0, detune=((-9.0, 0.8), (8.0, 0.8)))
_t("polysynth", H, attack=0.05, loop=0.25, roots=ROOTS_MID, slope=1.0, detune=((-11.0, 0.85), (9.0, 0.75)), lowpass=6000.0)
_t("bowedpad", H, attack=0.15, loop=0.25, roots=ROOTS_MID, amps=(1.0, 0.5, 0.35, 0.2, 0.08, 0.05), detune=((-4.0, 0.6), (5.0, 0.5)),
   breath=0.04, breath_band=(1500.0, 6000.0))
_t("metallic", _g_fm, attack=0.15, loop=0.25, roots=ROOTS_MID,
   ops=((1.0, 2.76, 2.5, 1.2, 0.3, 1.0, 0.0),), detune=((-7.0, 0.7), (6.0, 0.6)))
_t("halo", H, attack=0.15, loop=0.25, roots=ROOTS_MID, slope=1.5, formants=VOWEL_O, detune=((-8.0, 0.7), (9.0, 0.6), (1200.0, 0.2)),
   breath=0.02, lowpass=3500.0)
_t("sweep", H, attack=0.0, loop=0.25, roots=ROOTS_MID, slope=1.0, detune=((-9.0, 0.8), (10.0, 0.7)))

# --- effects ----------------------------------------------------------------------------------------
_t("rain", _g_fm, attack=0.25, loop=0.2, roots=ROOTS_MID, ops=((1.0, 3.5, 3.0, 0.3, 0.05, 1.0, 1.5), (1.0, 1.0, 0.6, 0.2, 0.3, 0.6, 0.0)),
   detune=((12.0, 0.4),), strike=0.3)
_t("soundtrack", H, attack=0.15, loop=0.25, roots=ROOTS_MID, slope=1.2, formants=((700.0, 300.0, 6.0), (2500.0, 600.0, 4.0)),
   detune=((-10.0, 0.8), (7.0, 0.7), (702.0, 0.3)), lowpass=3000.0)
_t("crystal", _g_fm, attack=0.25, loop=0.2, roots=ROOTS_MID,
   ops=((1.0, 2.76, 2.5, 0.4, 0.15, 1.0, 0.8), (2.0, 5.4, 1.0, 0.1, 0.1, 0.3, 2.0)), detune=((8.0, 0.5),))
_t("atmosphere", _g_pluck, attack=0.15, loop=0.25, roots=ROOTS_MID, brightness=12000.0, loss=0.6, pos=0.15, detune=((-8.0, 0.7), (9.0, 0.6)),
   sustain_floor=0.3)
_t("brightness", H, attack=0.1, loop=0.25, roots=ROOTS_MID, slope=0.8, highpass=600.0, detune=((-7.0, 0.8), (8.0, 0.7), (1200.0, 0.3)))
_t("goblins", H, attack=0.15, loop=0.25, roots=ROOTS_MID, slope=1.0, formants=((500.0, 200.0, 12.0), (1800.0, 300.0, 6.0)),
   detune=((-25.0, 0.6), (20.0, 0.5)), lowpass=3000.0, breath=0.04)
_t("echoes", _g_fm, attack=0.15, loop=0.25, roots=ROOTS_MID, ops=((1.0, 2.0, 1.5, 0.5, 0.2, 1.0, 0.3),), detune=((-10.0, 0.7), (12.0, 0.5)),
   pad=dict(slope=1.4, lowpass=2000.0))
_t("scifi", _g_fm, attack=0.15, loop=0.25, roots=ROOTS_MID, ops=((1.0, 3.3, 3.0, 0.8, 0.4, 1.0, 0.0),), detune=((15.0, 0.5),))

# --- ethnic ---------------------------------------------------------------------------------------
_t("sitar", _g_pluck, attack=0.25, loop=0.2, roots=ROOTS_MID, brightness=20000.0, loss=0.6, pos=0.05, slope=0.6,
   formants=((2500.0, 900.0, 6.0),), detune=((3.0, 0.5), (1200.0, 0.25)), pick=0.2)
_t("banjo", _g_pluck, attack=0.25, loop=0.12, brightness=20000.0, loss=3.0, pos=0.08, formants=((1000.0, 400.0, 6.0),),
   pick=0.3)
_t("shamisen", _g_pluck, attack=0.25, loop=0.12, brightness=22000.0, loss=2.5, pos=0.06, formants=((1500.0, 600.0, 6.0),),
   highpass=200.0, pick=0.4)
_t("koto", _g_pluck, attack=0.25, loop=0.15, brightness=12000.0, loss=1.0, pos=0.1, formants=((700.0, 300.0, 4.0),),
   pick=0.2)
_t("kalimba", _g_modal, attack=0.25, loop=0.1, roots=ROOTS_MID,
   modes=((1.0, 1.0, 2.0), (5.9, 0.35, 12.0), (13.0, 0.1, 30.0)), strike=0.1)

# --- percussive -----------------------------------------------------------------------------------
_t("tinklebell", _g_fm, attack=0.25, loop=0.1, roots=ROOTS_HIGH, ops=((1.0, 3.1, 2.0, 0.2, 0.08, 1.0, 1.0),))
_t("agogo", _g_modal, attack=0.25, loop=0.1, roots=ROOTS_MID,
   modes=((1.0, 1.0, 5.0), (2.27, 0.5, 9.0), (4.1, 0.3, 15.0), (6.2, 0.1, 25.0)), strike=0.15)
_t("steeldrum", _g_modal, attack=0.25, loop=0.15, roots=ROOTS_MID,
   modes=((1.0, 1.0, 1.5), (2.0, 0.6, 2.5), (3.0, 0.35, 4.0), (4.02, 0.25, 6.0), (5.1, 0.1, 9.0)), strike=0.15,
   detune=((6.0, 0.3),))
_t("woodblock", _g_modal, attack=0.25, loop=0.1, roots=ROOTS_MID,
   modes=((1.0, 1.0, 25.0), (2.65, 0.4, 40.0), (4.9, 0.15, 60.0)), strike=0.4, strike_band=(800, 6000))
_t("taiko", _g_modal, attack=0.25, loop=0.15, roots=ROOTS_BASS,
   modes=((1.0, 1.0, 4.0), (1.59, 0.6, 6.0), (2.14, 0.4, 9.0), (2.65, 0.25, 12.0)), strike=0.8,
   strike_band=(40, 1200), strike_dur=0.04)
_t("melodictom", _o_sweep_drum, roots=ROOTS_FEW, oneshot=True)
_t("synthdrum", _o_synth_drum, roots=ROOTS_FEW, oneshot=True)
_t("reversecymbal", _g_noise, attack=0.0, loop=0.6, roots=ROOTS_ONE, pitched=False,
   bands=((3000.0, 11000.0, 1.0, 1.0), (800.0, 3000.0, 0.3, 0.0)))

# --- sound effects ----------------------------------------------------------------------------------
_t("fretnoise", _o_fret_noise, roots=ROOTS_ONE, oneshot=True)
_t("breathnoise", _g_noise, attack=0.0, loop=0.8, roots=ROOTS_ONE, pitched=False,
   bands=((300.0, 3000.0, 1.0, -2.0), (3000.0, 9000.0, 0.3, -3.0)), am=_am_breath)
_t("seashore", _g_noise, attack=0.0, loop=2.5, roots=ROOTS_ONE, pitched=False,
   bands=((100.0, 8000.0, 1.0, -1.5),), am=_am_seashore)
_t("birdtweet", _g_bird, attack=0.0, loop=1.0, roots=ROOTS_ONE, pitched=False)
_t("telephone", _g_noise, attack=0.0, loop=0.5, roots=ROOTS_ONE, pitched=True,
   bands=(), tones=((4.0, 1.0), (5.0, 0.8), (12.0, 0.15), (15.0, 0.1)), am=_am_telephone)
_t("helicopter", _g_noise, attack=0.0, loop=1.0, roots=ROOTS_ONE, pitched=False,
   bands=((40.0, 1500.0, 1.0, -3.0), (1500.0, 6000.0, 0.2, -2.0)), am=_am_helicopter)
_t("applause", _g_noise, attack=0.0, loop=1.5, roots=ROOTS_ONE, pitched=False,
   bands=((500.0, 8000.0, 1.0, -1.0),), am=_am_applause)
_t("gunshot", _o_gunshot, roots=ROOTS_ONE, oneshot=True)

_UNTUNED_TIMBRES = frozenset({"telephone"})  # looped and keyed, but no single pitch to measure


def wave_is_pitched(wave: Wave) -> bool:
    """True for a melodic wave of this bank whose loop has a fundamental at its unity note.

    Noise and effects loops, one-shots and drums are not (their names say which timbre made them).
    """
    timbre = _T.get(wave.name.split(" ")[0])
    return bool(timbre and timbre.pitched and not timbre.oneshot and timbre.name not in _UNTUNED_TIMBRES)


# =========================================================================================
# Articulation
# =========================================================================================

@dataclass(frozen=True)
class _Art:
    """Per-program articulation in everyday units (seconds, percent, Hz, cents, dB)."""

    attack: float = 0.0
    hold: float = 0.0
    decay: float = 0.0
    sustain: float = 100.0
    release: float = 0.2
    key_decay: float = 0.0  # timecents added to EG1 decay at key 128 (negative: shorter up high)
    vel_attack: float = 0.0  # timecents added to EG1 attack at full velocity
    cutoff: float | None = None  # Hz at key 0 / velocity 0 (None: no filter unless eg2_cutoff)
    key_cutoff: float = 0.0  # cents added at key 128
    vel_cutoff: float = 0.0  # cents added at full velocity
    q: float = 0.0  # resonance, dB
    eg2: tuple | None = None  # (attack, decay, sustain %, release) of EG2
    eg2_cutoff: float = 0.0  # cents of cutoff at full EG2
    vib: float = 0.0  # natural vibrato depth, cents
    vib_rate: float = 5.5
    vib_delay: float = 0.3
    mod: float = 50.0  # mod wheel (CC1) vibrato depth, cents
    trem: float = 0.0  # LFO to gain depth, dB
    lfo_rate: float = 5.0
    lfo_delay: float = 0.05
    lfo_cutoff: float = 0.0  # LFO to filter cutoff, cents
    lfo_pitch: float = 0.0  # LFO to pitch, cents


def _c(src, dst, scale, ctl=C.CONN_SRC_NONE, trn=C.CONN_TRN_NONE) -> Connection:
    return Connection(src, ctl, dst, trn, int(scale))


def _art_connections(a: _Art) -> list[Connection]:
    N = C.CONN_SRC_NONE
    tc = U.seconds_to_timecents
    out = [
        _c(N, C.CONN_DST_EG1_ATTACKTIME, tc(a.attack)),
        _c(N, C.CONN_DST_EG1_HOLDTIME, tc(a.hold)),
        _c(N, C.CONN_DST_EG1_DECAYTIME, tc(a.decay)),
        _c(N, C.CONN_DST_EG1_SUSTAINLEVEL, U.percent_to_sustain(a.sustain)),
        _c(N, C.CONN_DST_EG1_RELEASETIME, tc(a.release)),
    ]
    if a.key_decay:
        out.append(_c(C.CONN_SRC_KEYNUMBER, C.CONN_DST_EG1_DECAYTIME, a.key_decay * U.UNITS_PER))
    if a.vel_attack:
        out.append(_c(C.CONN_SRC_KEYONVELOCITY, C.CONN_DST_EG1_ATTACKTIME, a.vel_attack * U.UNITS_PER))
    if a.cutoff is not None:
        out.append(_c(N, C.CONN_DST_FILTER_CUTOFF, U.hz_to_abs_pitch(a.cutoff)))
        out.append(_c(N, C.CONN_DST_FILTER_Q, U.db_to_gain(a.q)))
        if a.key_cutoff:
            out.append(_c(C.CONN_SRC_KEYNUMBER, C.CONN_DST_FILTER_CUTOFF, U.cents_to_rel_pitch(a.key_cutoff)))
        if a.vel_cutoff:
            out.append(_c(C.CONN_SRC_KEYONVELOCITY, C.CONN_DST_FILTER_CUTOFF, U.cents_to_rel_pitch(a.vel_cutoff)))
    if a.eg2 is not None:
        ea, ed, es, er = a.eg2
        out += [
            _c(N, C.CONN_DST_EG2_ATTACKTIME, tc(ea)),
            _c(N, C.CONN_DST_EG2_DECAYTIME, tc(ed)),
            _c(N, C.CONN_DST_EG2_SUSTAINLEVEL, U.percent_to_sustain(es)),
            _c(N, C.CONN_DST_EG2_RELEASETIME, tc(er)),
        ]
        if a.eg2_cutoff and a.cutoff is not None:
            out.append(_c(C.CONN_SRC_EG2, C.CONN_DST_FILTER_CUTOFF, U.cents_to_rel_pitch(a.eg2_cutoff)))
    out += [
        _c(N, C.CONN_DST_VIB_FREQUENCY, U.hz_to_abs_pitch(a.vib_rate)),
        _c(N, C.CONN_DST_VIB_STARTDELAY, tc(a.vib_delay)),
    ]
    if a.vib:
        out.append(_c(C.CONN_SRC_VIBRATO, C.CONN_DST_PITCH, U.cents_to_rel_pitch(a.vib)))
    if a.mod:
        out.append(_c(C.CONN_SRC_VIBRATO, C.CONN_DST_PITCH, U.cents_to_rel_pitch(a.mod), ctl=C.CONN_SRC_CC1))
    if a.trem or a.lfo_cutoff or a.lfo_pitch:
        out += [
            _c(N, C.CONN_DST_LFO_FREQUENCY, U.hz_to_abs_pitch(a.lfo_rate)),
            _c(N, C.CONN_DST_LFO_STARTDELAY, tc(a.lfo_delay)),
        ]
        if a.trem:
            out.append(_c(C.CONN_SRC_LFO, C.CONN_DST_GAIN, U.db_to_gain(-a.trem)))
        if a.lfo_cutoff and a.cutoff is not None:
            out.append(_c(C.CONN_SRC_LFO, C.CONN_DST_FILTER_CUTOFF, U.cents_to_rel_pitch(a.lfo_cutoff)))
        if a.lfo_pitch:
            out.append(_c(C.CONN_SRC_LFO, C.CONN_DST_PITCH, U.cents_to_rel_pitch(a.lfo_pitch)))
    return out


def _key_scaled_decay(decay_at_60: float, key_decay: float) -> float:
    """EG1 decay at key 0 that gives ``decay_at_60`` seconds at middle C with key scaling."""
    return decay_at_60 * 2.0 ** (-(key_decay * 60.0 / 128.0) / 1200.0)


def _pluck_art(decay60, key_decay=-2400.0, release=0.25, **kw) -> _Art:
    return _Art(attack=0.001, decay=_key_scaled_decay(decay60, key_decay), sustain=0.0, release=release,
                key_decay=key_decay, **kw)


PIANO = _Art(attack=0.001, decay=_key_scaled_decay(9.0, -3600.0), sustain=0.0, release=0.35, key_decay=-3600.0,
             cutoff=350.0, key_cutoff=6400.0, vel_cutoff=3600.0, mod=30.0)
ORGAN = _Art(attack=0.004, sustain=100.0, release=0.06, mod=40.0)
SOLO_STRING = _Art(attack=0.08, sustain=100.0, release=0.3, vib=14.0, vib_rate=5.6, vib_delay=0.35)
ENSEMBLE_ART = _Art(attack=0.18, sustain=100.0, release=0.5, vib=5.0, vib_rate=5.3, vib_delay=0.4)
BRASS = _Art(attack=0.035, sustain=100.0, release=0.15, cutoff=350.0, key_cutoff=5000.0, vel_cutoff=2400.0, q=1.0,
             eg2=(0.05, 0.4, 55.0, 0.2), eg2_cutoff=1800.0, vib=6.0, vib_delay=0.5)
REED = _Art(attack=0.025, sustain=100.0, release=0.1, vib=9.0, vib_rate=5.2, vib_delay=0.45,
            cutoff=600.0, key_cutoff=5200.0, vel_cutoff=2400.0)
PIPE = _Art(attack=0.04, sustain=100.0, release=0.12, vib=8.0, vib_rate=5.0, vib_delay=0.4)
LEAD = _Art(attack=0.004, sustain=100.0, release=0.08, mod=60.0)
PAD = _Art(attack=0.6, sustain=100.0, release=1.4, vib=3.0)
SYNTH_FILTER = dict(cutoff=300.0, key_cutoff=6400.0, q=6.0, eg2=(0.005, 0.35, 30.0, 0.2), eg2_cutoff=4200.0)


def _with(base: _Art, **kw) -> _Art:
    d = dict(base.__dict__)
    d.update(kw)
    return _Art(**d)


# program -> (timbre, articulation)
_PROGRAMS: list[tuple[str, _Art]] = [
    # Piano
    ("piano", PIANO),
    ("piano", _with(PIANO, cutoff=None)),
    ("epgrand", _with(PIANO, decay=_key_scaled_decay(6.0, -3600.0), cutoff=500.0)),
    ("honkytonk", _with(PIANO, decay=_key_scaled_decay(6.0, -3600.0), cutoff=600.0)),
    ("rhodes", _pluck_art(6.0, key_decay=-3000.0, release=0.3, cutoff=400.0, key_cutoff=6400.0, vel_cutoff=3600.0)),
    ("dx_ep", _pluck_art(5.0, key_decay=-3000.0, release=0.3)),
    ("harpsichord", _pluck_art(3.5, release=0.12, mod=30.0)),
    ("clavi", _pluck_art(2.0, release=0.06, cutoff=400.0, key_cutoff=6000.0, vel_cutoff=3600.0, q=3.0)),
    # Chromatic percussion
    ("celesta", _pluck_art(2.5, release=0.4)),
    ("glockenspiel", _pluck_art(3.0, release=0.6)),
    ("musicbox", _pluck_art(2.5, release=0.5)),
    ("vibraphone", _pluck_art(6.0, release=0.6, trem=3.0, lfo_rate=5.5, lfo_delay=0.0)),
    ("marimba", _pluck_art(1.5, release=0.3)),
    ("xylophone", _pluck_art(1.0, release=0.25)),
    ("tubularbell", _pluck_art(8.0, key_decay=-1800.0, release=1.5)),
    ("dulcimer", _pluck_art(4.0, release=0.4)),
    # Organ
    ("drawbar", ORGAN),
    ("percorgan", ORGAN),
    ("rockorgan", _with(ORGAN, lfo_rate=6.5, lfo_delay=0.0, trem=1.0, lfo_pitch=4.0)),
    ("churchorgan", _with(ORGAN, attack=0.07, release=1.0)),
    ("reedorgan", _with(ORGAN, attack=0.06, release=0.15)),
    ("accordion", _with(ORGAN, attack=0.04, release=0.12)),
    ("harmonica", _with(REED, attack=0.05, cutoff=None, vib=10.0)),
    ("tangoaccordion", _with(ORGAN, attack=0.04, release=0.12)),
    # Guitar
    ("nylon", _pluck_art(4.0, release=0.3)),
    ("steel", _pluck_art(5.0, release=0.3)),
    ("jazzguitar", _pluck_art(5.0, release=0.25)),
    ("cleanguitar", _pluck_art(5.0, release=0.25)),
    ("mutedguitar", _pluck_art(0.4, key_decay=-1200.0, release=0.08)),
    ("overdrive", _Art(attack=0.002, decay=6.0, sustain=0.0, release=0.2, key_decay=-1200.0,
                       cutoff=1200.0, key_cutoff=3000.0, vel_cutoff=2400.0, q=2.0)),
    ("distortion", _Art(attack=0.002, decay=8.0, sustain=0.0, release=0.2, key_decay=-1200.0,
                        cutoff=1500.0, key_cutoff=3000.0, vel_cutoff=2000.0, q=3.0)),
    ("gtrharmonics", _pluck_art(4.0, release=0.4)),
    # Bass
    ("acousticbass", _pluck_art(3.0, key_decay=-1800.0, release=0.15)),
    ("fingerbass", _pluck_art(4.0, key_decay=-1800.0, release=0.12)),
    ("pickbass", _pluck_art(3.5, key_decay=-1800.0, release=0.1)),
    ("fretless", _Art(attack=0.02, decay=5.0, sustain=0.0, release=0.15, vib=6.0, vib_delay=0.5)),
    ("slapbass", _pluck_art(2.5, key_decay=-1800.0, release=0.1)),
    ("slapbass2", _pluck_art(2.5, key_decay=-1800.0, release=0.1)),
    ("synthbass1", _with(LEAD, attack=0.002, decay=2.5, sustain=0.0, release=0.08, **SYNTH_FILTER)),
    ("synthbass2", _with(LEAD, attack=0.002, decay=3.0, sustain=0.0, release=0.08, cutoff=250.0, key_cutoff=6400.0,
                         q=3.0, eg2=(0.002, 0.2, 20.0, 0.1), eg2_cutoff=3600.0)),
    # Strings
    ("violin", SOLO_STRING),
    ("viola", SOLO_STRING),
    ("cello", _with(SOLO_STRING, attack=0.1)),
    ("contrabass", _with(SOLO_STRING, attack=0.12, vib=10.0)),
    ("strings", _with(ENSEMBLE_ART, attack=0.09, trem=5.0, lfo_rate=9.0, lfo_delay=0.0)),
    ("pizzicato", _pluck_art(0.8, key_decay=-1200.0, release=0.15)),
    ("harp", _pluck_art(6.0, release=0.8)),
    ("timpani", _pluck_art(5.0, key_decay=-1200.0, release=1.0)),
    # Ensemble
    ("strings", ENSEMBLE_ART),
    ("strings", _with(ENSEMBLE_ART, attack=0.35, release=0.8)),
    ("synthstrings1", _with(ENSEMBLE_ART, attack=0.12, cutoff=800.0, key_cutoff=4800.0, q=1.5,
                            eg2=(0.3, 1.0, 70.0, 0.5), eg2_cutoff=1800.0)),
    ("synthstrings2", _with(ENSEMBLE_ART, attack=0.25, release=0.7)),
    ("choir", _with(ENSEMBLE_ART, attack=0.2, vib=8.0, vib_rate=5.0)),
    ("oohs", _with(ENSEMBLE_ART, attack=0.15, vib=8.0, vib_rate=5.0)),
    ("synthvoice", _with(ENSEMBLE_ART, attack=0.1, vib=6.0)),
    ("orchhit", _Art(attack=0.001, sustain=100.0, release=0.4, mod=0.0)),
    # Brass
    ("trumpet", BRASS),
    ("trombone", _with(BRASS, attack=0.045)),
    ("tuba", _with(BRASS, attack=0.05, cutoff=200.0)),
    ("mutedtrumpet", _with(BRASS, eg2_cutoff=1200.0)),
    ("frenchhorn", _with(BRASS, attack=0.06, cutoff=250.0, eg2_cutoff=1400.0, vel_cutoff=2000.0)),
    ("brasssection", BRASS),
    ("synthbrass1", _with(BRASS, attack=0.01, release=0.12, q=5.0, cutoff=300.0, key_cutoff=3200.0, vel_cutoff=1200.0,
                          eg2=(0.06, 0.5, 45.0, 0.15), eg2_cutoff=3000.0, vib=0.0)),
    ("synthbrass2", _with(BRASS, attack=0.02, release=0.2, q=3.0, cutoff=250.0, key_cutoff=3200.0, vel_cutoff=1200.0,
                          eg2=(0.15, 0.8, 60.0, 0.3), eg2_cutoff=2600.0, vib=0.0)),
    # Reed
    ("sopranosax", REED),
    ("altosax", REED),
    ("tenorsax", REED),
    ("barisax", REED),
    ("oboe", _with(REED, cutoff=None, vib=7.0)),
    ("englishhorn", _with(REED, cutoff=None, vib=7.0)),
    ("bassoon", _with(REED, cutoff=None, vib=5.0)),
    ("clarinet", _with(REED, cutoff=None, vib=3.0)),
    # Pipe
    ("piccolo", PIPE),
    ("flute", PIPE),
    ("recorder", _with(PIPE, vib=4.0)),
    ("panflute", _with(PIPE, vib=10.0)),
    ("bottle", _with(PIPE, attack=0.06, vib=4.0)),
    ("shakuhachi", _with(PIPE, vib=14.0, vib_rate=4.5)),
    ("whistle", _with(PIPE, attack=0.03, vib=12.0, vib_rate=6.0)),
    ("ocarina", _with(PIPE, vib=6.0)),
    # Synth lead
    ("square", LEAD),
    ("saw", _with(LEAD, cutoff=1500.0, key_cutoff=4800.0, vel_cutoff=2400.0, q=2.0)),
    ("calliope", _with(PIPE, vib=10.0)),
    ("chiff", LEAD),
    ("charang", _with(LEAD, decay=3.0, sustain=0.0, release=0.15, key_decay=-1200.0)),
    ("leadvoice", _with(LEAD, attack=0.03, release=0.2, vib=10.0)),
    ("fifths", _with(LEAD, cutoff=1200.0, key_cutoff=4800.0, q=2.0)),
    ("basslead", _with(LEAD, cutoff=600.0, key_cutoff=5400.0, q=4.0, eg2=(0.005, 0.6, 40.0, 0.1), eg2_cutoff=3000.0)),
    # Synth pad
    ("newage", _with(PAD, attack=0.25)),
    ("warmpad", PAD),
    ("polysynth", _with(PAD, attack=0.05, release=0.8, cutoff=300.0, key_cutoff=6400.0, q=2.0,
                        eg2=(0.01, 1.5, 35.0, 0.8), eg2_cutoff=2800.0)),
    ("choir", _with(PAD, attack=0.5, vib=6.0)),
    ("bowedpad", _with(PAD, attack=0.7)),
    ("metallic", _with(PAD, attack=0.4)),
    ("halo", _with(PAD, attack=0.8, release=2.0)),
    ("sweep", _with(PAD, attack=0.3, cutoff=200.0, key_cutoff=4800.0, q=6.0, lfo_cutoff=2400.0, lfo_rate=0.25,
                    lfo_delay=0.0)),
    # Synth effects
    ("rain", _pluck_art(3.0, release=1.2)),
    ("soundtrack", _with(PAD, attack=0.8, release=2.0)),
    ("crystal", _pluck_art(4.0, release=1.5)),
    ("atmosphere", _with(PAD, attack=0.002, decay=6.0, sustain=0.0, release=1.5)),
    ("brightness", _with(PAD, attack=0.3)),
    ("goblins", _with(PAD, attack=1.0, lfo_pitch=30.0, lfo_rate=0.6, lfo_delay=0.0)),
    ("echoes", _with(PAD, attack=0.15, trem=4.0, lfo_rate=3.0)),
    ("scifi", _with(PAD, attack=0.2, lfo_pitch=60.0, lfo_rate=2.0, lfo_delay=0.2)),
    # Ethnic
    ("sitar", _pluck_art(5.0, release=0.5)),
    ("banjo", _pluck_art(1.8, release=0.15)),
    ("shamisen", _pluck_art(2.0, release=0.15)),
    ("koto", _pluck_art(3.5, release=0.4)),
    ("kalimba", _pluck_art(1.5, release=0.3)),
    ("bagpipe", _with(REED, attack=0.02, cutoff=None, vib=0.0)),
    ("fiddle", _with(SOLO_STRING, attack=0.05, vib=8.0)),
    ("shanai", _with(REED, attack=0.02, cutoff=None, vib=12.0)),
    # Percussive
    ("tinklebell", _pluck_art(2.0, release=0.8)),
    ("agogo", _pluck_art(1.2, release=0.3)),
    ("steeldrum", _pluck_art(2.0, release=0.4)),
    ("woodblock", _pluck_art(0.3, key_decay=0.0, release=0.1)),
    ("taiko", _pluck_art(2.0, key_decay=-1200.0, release=0.8)),
    ("melodictom", _Art(attack=0.001, sustain=100.0, release=0.6, mod=0.0)),
    ("synthdrum", _Art(attack=0.001, sustain=100.0, release=0.5, mod=0.0)),
    ("reversecymbal", _Art(attack=1.6, sustain=100.0, release=0.05, mod=0.0)),
    # Sound effects
    ("fretnoise", _Art(attack=0.001, sustain=100.0, release=0.2, mod=0.0)),
    ("breathnoise", _Art(attack=0.12, sustain=100.0, release=0.2, mod=0.0)),
    ("seashore", _Art(attack=0.8, sustain=100.0, release=1.5, mod=0.0)),
    ("birdtweet", _Art(attack=0.01, sustain=100.0, release=0.3, mod=0.0)),
    ("telephone", _Art(attack=0.001, sustain=100.0, release=0.05, mod=0.0)),
    ("helicopter", _Art(attack=0.4, sustain=100.0, release=0.8, mod=0.0)),
    ("applause", _Art(attack=0.3, sustain=100.0, release=1.0, mod=0.0)),
    ("gunshot", _Art(attack=0.001, sustain=100.0, release=1.0, mod=0.0)),
]
assert len(_PROGRAMS) == 128


# =========================================================================================
# Drums
# =========================================================================================

def _t_axis(sr, dur):
    n = int(dur * sr)
    return np.arange(n) / sr


def _fade(x: np.ndarray, sr: int, ms: float = 6.0) -> np.ndarray:
    n = min(len(x), int(ms * 1e-3 * sr))
    x = x.copy()
    x[len(x) - n:] *= np.linspace(1.0, 0.0, n)
    return x


def _osc(t, f_hi, f_lo, tau, phase=0.0):
    sr = 1.0 / (t[1] - t[0])
    f = f_lo + (f_hi - f_lo) * np.exp(-t / tau)
    return np.sin(2 * np.pi * np.cumsum(f) / sr + phase)


def _metal(t, freqs, sr, rng, top=None) -> np.ndarray:
    """Band-limited square waves at inharmonic frequencies (the classic cymbal/cowbell source)."""
    top = top or 0.45 * sr
    y = np.zeros_like(t)
    for f in freqs:
        ph = rng.uniform(0, 2 * np.pi)
        for h in range(1, int(top // f) + 1, 2):
            y += np.sin(2 * np.pi * f * h * t + ph * h) / h
    return y


def _d_kick(sr, rng, f_hi=140.0, f_lo=48.0, tau=0.04, dur=0.55, click=0.5, body=0.28):
    t = _t_axis(sr, dur)
    y = _osc(t, f_hi, f_lo, tau) * np.exp(-t / body)
    y += 0.15 * _osc(t, f_hi * 1.6, f_lo * 1.6, tau) * np.exp(-t / 0.05)
    y += click * _bandnoise(rng, len(t), sr, 1500, 7000) * np.exp(-t / 0.004)
    return y * np.minimum(1.0, t / 0.0008)


def _d_snare(sr, rng, tone=(185.0, 330.0), noise_dur=0.16, tone_dur=0.09, dur=0.4, band=(1200.0, 9000.0), mix=0.8):
    t = _t_axis(sr, dur)
    y = (_osc(t, tone[0] * 1.3, tone[0], 0.01) + 0.6 * _osc(t, tone[1] * 1.2, tone[1], 0.01, 1.0)) * np.exp(-t / tone_dur)
    y += mix * 2.0 * _bandnoise(rng, len(t), sr, band[0], band[1]) * np.exp(-t / noise_dur)
    return y * np.minimum(1.0, t / 0.0005)


def _d_tom(sr, rng, f, dur=0.7):
    t = _t_axis(sr, dur)
    y = _osc(t, f * 1.45, f, 0.05) * np.exp(-t / (dur / 3.5))
    y += 0.25 * _osc(t, f * 2.3, f * 1.6, 0.05, 0.5) * np.exp(-t / 0.06)
    y += 0.35 * _bandnoise(rng, len(t), sr, 300, 5000) * np.exp(-t / 0.015)
    return y * np.minimum(1.0, t / 0.0008)


_HAT_FREQS = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)


def _d_hat(sr, rng, dur, decay, lo=6500.0):
    t = _t_axis(sr, dur)
    metal = _metal(t, _HAT_FREQS, sr, rng)
    raw = 0.6 * metal / (np.std(metal) or 1) + _bandnoise(rng, len(t), sr, lo * 0.8, 16000.0)
    X = np.fft.rfft(raw)
    f = np.fft.rfftfreq(len(raw), 1 / sr)
    y = np.fft.irfft(X * _highpass(np.maximum(f, 1e-9), lo, 3.0), n=len(raw))
    return y * np.exp(-t / decay) * np.minimum(1.0, t / 0.0005)


def _d_cymbal(sr, rng, dur, decay, lo=3000.0, metal_mix=0.5, freqs=_HAT_FREQS, bell=0.0, hi=16000.0, swell=0.0):
    t = _t_axis(sr, dur)
    metal = _metal(t, freqs, sr, rng)
    raw = metal_mix * metal / (np.std(metal) or 1) + _bandnoise(rng, len(t), sr, lo, hi)
    X = np.fft.rfft(raw)
    f = np.fft.rfftfreq(len(raw), 1 / sr)
    y = np.fft.irfft(X * _highpass(np.maximum(f, 1e-9), lo, 2.0), n=len(raw))
    y /= np.std(y) or 1
    env = np.exp(-t / decay) * (1.0 - swell * np.exp(-t / 0.02)) * np.minimum(1.0, t / 0.001)
    y = y * env
    if bell:
        b = sum(np.sin(2 * np.pi * fb * t + i) * a for i, (fb, a) in enumerate(((820.0, 1.0), (1210.0, 0.6), (1873.0, 0.5), (2540.0, 0.3))))
        y += bell * b * np.exp(-t / (decay * 0.6))
    return y


def _d_clap(sr, rng, dur=0.35):
    t = _t_axis(sr, dur)
    n = _bandnoise(rng, len(t), sr, 900.0, 3500.0)
    env = np.zeros_like(t)
    for i, off in enumerate((0.0, 0.011, 0.021, 0.033)):
        d = t - off
        env += np.where(d >= 0, np.exp(-np.maximum(d, 0) / (0.006 if i < 3 else 0.08)), 0.0)
    return n * env


def _d_side_stick(sr, rng):
    t = _t_axis(sr, 0.12)
    y = 0.8 * np.sin(2 * np.pi * 1750 * t) * np.exp(-t / 0.012) + 0.6 * np.sin(2 * np.pi * 430 * t) * np.exp(-t / 0.02)
    y += 0.8 * _bandnoise(rng, len(t), sr, 2000, 8000) * np.exp(-t / 0.004)
    return y


def _d_modal(sr, rng, modes, dur, noise=0.3, band=(800.0, 6000.0), noise_dur=0.004, sweep=0.0):
    t = _t_axis(sr, dur)
    y = np.zeros_like(t)
    for f, a, d in modes:
        fr = f * (1.0 + sweep * np.exp(-t / 0.02))
        y += a * np.sin(2 * np.pi * np.cumsum(fr) / sr + rng.uniform(0, 6.28)) * np.exp(-t / d)
    y += noise * _bandnoise(rng, len(t), sr, band[0], band[1]) * np.exp(-t / noise_dur)
    return y * np.minimum(1.0, t / 0.0005)


def _d_cowbell(sr, rng):
    t = _t_axis(sr, 0.35)
    m = _metal(t, (562.0, 845.0), sr, rng, top=7000.0)
    X = np.fft.rfft(m)
    f = np.fft.rfftfreq(len(m), 1 / sr)
    y = np.fft.irfft(X * _formants(f, ((700.0, 300.0, 12.0), (2600.0, 800.0, 4.0))), n=len(m))
    return y * (0.3 * np.exp(-t / 0.015) + np.exp(-t / 0.09))


def _d_tambourine(sr, rng):
    t = _t_axis(sr, 0.35)
    jingles = _metal(t, (2420.0, 3310.0, 4780.0, 5900.0), sr, rng)
    y = 0.4 * jingles / np.std(jingles) + _bandnoise(rng, len(t), sr, 5000, 14000)
    env = np.exp(-t / 0.09) * (1 + 0.6 * np.exp(-((t - 0.025) / 0.01) ** 2))
    return y * env * np.minimum(1.0, t / 0.001)


def _d_shaker(sr, rng, dur, lo, hi, attack):
    t = _t_axis(sr, dur)
    env = (t / attack) * np.exp(1 - t / attack)
    return _bandnoise(rng, len(t), sr, lo, hi) * env


def _d_vibraslap(sr, rng):
    t = _t_axis(sr, 0.9)
    rattle = np.zeros_like(t)
    for i in range(30):
        c = 0.005 + i / 34.0
        rattle += np.exp(-np.maximum(t - c, 0) / 0.004) * (t >= c) * np.exp(-c / 0.3)
    return _bandnoise(rng, len(t), sr, 1500, 7000) * rattle + 0.3 * np.sin(2 * np.pi * 3100 * t) * rattle


def _d_whistle(sr, rng, dur):
    t = _t_axis(sr, dur)
    f = 2350.0 * (1.0 + 0.035 * np.sign(np.sin(2 * np.pi * 28 * t)))
    y = np.sin(2 * np.pi * np.cumsum(f) / sr) + 0.1 * _bandnoise(rng, len(t), sr, 2000, 6000)
    env = np.minimum(1.0, t / 0.01) * np.minimum(1.0, (t[-1] - t) / 0.03)
    return y * env


def _d_guiro(sr, rng, dur, rate):
    t = _t_axis(sr, dur)
    ph = (t * rate) % 1.0
    scrape = np.exp(-ph / 0.15)
    env = np.minimum(1.0, t / 0.01) * np.minimum(1.0, (t[-1] - t) / 0.02)
    return _bandnoise(rng, len(t), sr, 1800, 7000) * scrape * env


def _d_cuica(sr, rng, dur, f_start, f_end):
    t = _t_axis(sr, dur)
    f = f_start + (f_end - f_start) * np.minimum(1.0, t / (dur * 0.7))
    y = np.sin(2 * np.pi * np.cumsum(f) / sr) + 0.3 * np.sin(4 * np.pi * np.cumsum(f) / sr)
    env = np.minimum(1.0, t / 0.01) * np.exp(-t / (dur * 0.5))
    return y * env


def _d_triangle(sr, rng, dur, decay):
    t = _t_axis(sr, dur)
    modes = ((1330.0, 0.6), (3990.0, 1.0), (5320.0, 0.5), (6650.0, 0.7), (9320.0, 0.4), (11960.0, 0.3))
    y = sum(a * np.sin(2 * np.pi * f * t + i) * np.exp(-t / (decay * (1.0 - 0.04 * i))) for i, (f, a) in enumerate(modes))
    y += 0.2 * _bandnoise(rng, len(t), sr, 4000, 12000) * np.exp(-t / 0.003)
    return y * np.minimum(1.0, t / 0.0003)


# key -> (builder, sample rate, pan %, release s)
def _drum_table():
    S, B = SAMPLE_RATE, BRIGHT_RATE
    return {
        35: (lambda sr, r: _d_kick(sr, r, 120.0, 42.0, 0.05, 0.6, 0.35, 0.32), S, 0, 0.6),
        36: (lambda sr, r: _d_kick(sr, r, 160.0, 52.0, 0.035, 0.5, 0.6, 0.24), S, 0, 0.5),
        37: (_d_side_stick, S, -5, 0.15),
        38: (lambda sr, r: _d_snare(sr, r), S, 3, 0.4),
        39: (lambda sr, r: _d_clap(sr, r), S, -8, 0.4),
        40: (lambda sr, r: _d_snare(sr, r, (220.0, 410.0), 0.11, 0.06, 0.3, (2000.0, 11000.0), 1.0), S, 3, 0.3),
        41: (lambda sr, r: _d_tom(sr, r, 70.0, 0.9), S, 30, 0.9),
        42: (lambda sr, r: _d_hat(sr, r, 0.15, 0.035), B, -25, 0.15),
        43: (lambda sr, r: _d_tom(sr, r, 85.0, 0.85), S, 22, 0.85),
        44: (lambda sr, r: _d_hat(sr, r, 0.2, 0.05, 5000.0), B, -25, 0.2),
        45: (lambda sr, r: _d_tom(sr, r, 100.0, 0.8), S, 10, 0.8),
        46: (lambda sr, r: _d_hat(sr, r, 0.8, 0.25), B, -25, 0.8),
        47: (lambda sr, r: _d_tom(sr, r, 120.0, 0.75), S, 0, 0.75),
        48: (lambda sr, r: _d_tom(sr, r, 142.0, 0.7), S, -10, 0.7),
        49: (lambda sr, r: _d_cymbal(sr, r, 1.6, 0.55, swell=0.4), B, -30, 1.6),
        50: (lambda sr, r: _d_tom(sr, r, 168.0, 0.65), S, -20, 0.65),
        51: (lambda sr, r: _d_cymbal(sr, r, 1.4, 0.45, lo=4500.0, metal_mix=1.2, bell=0.3,
                                     freqs=(312.0, 457.0, 598.0, 733.0, 905.0, 1187.0)), B, 30, 1.4),
        52: (lambda sr, r: _d_cymbal(sr, r, 1.5, 0.45, lo=2000.0, hi=9000.0, metal_mix=1.0,
                                     freqs=(263.0, 391.0, 530.0, 641.0, 857.0, 1020.0)), B, 35, 1.5),
        53: (lambda sr, r: _d_cymbal(sr, r, 1.1, 0.4, lo=5000.0, metal_mix=0.4, bell=3.0), B, 30, 1.1),
        54: (_d_tambourine, B, -15, 0.35),
        55: (lambda sr, r: _d_cymbal(sr, r, 1.0, 0.3, lo=4000.0, swell=0.2), B, -20, 1.0),
        56: (_d_cowbell, S, -15, 0.35),
        57: (lambda sr, r: _d_cymbal(sr, r, 1.6, 0.6, lo=2600.0, swell=0.4,
                                     freqs=(233.0, 347.0, 412.0, 575.0, 611.0, 880.0)), B, 25, 1.6),
        58: (_d_vibraslap, S, 20, 0.9),
        59: (lambda sr, r: _d_cymbal(sr, r, 1.4, 0.45, lo=5000.0, metal_mix=1.0, bell=0.25,
                                     freqs=(298.0, 421.0, 566.0, 702.0, 951.0, 1263.0)), B, 35, 1.4),
        60: (lambda sr, r: _d_modal(sr, r, ((420.0, 1.0, 0.06), (780.0, 0.3, 0.03)), 0.3, sweep=0.15), S, 25, 0.3),
        61: (lambda sr, r: _d_modal(sr, r, ((290.0, 1.0, 0.08), (560.0, 0.3, 0.04)), 0.35, sweep=0.15), S, 20, 0.35),
        62: (lambda sr, r: _d_modal(sr, r, ((330.0, 1.0, 0.03), (650.0, 0.3, 0.02)), 0.2, noise=0.6, noise_dur=0.008), S, -25, 0.2),
        63: (lambda sr, r: _d_modal(sr, r, ((330.0, 1.0, 0.14), (520.0, 0.3, 0.05)), 0.5, sweep=0.1), S, -25, 0.5),
        64: (lambda sr, r: _d_modal(sr, r, ((220.0, 1.0, 0.16), (360.0, 0.3, 0.06)), 0.55, sweep=0.1), S, -15, 0.55),
        65: (lambda sr, r: _d_modal(sr, r, ((520.0, 1.0, 0.12), (1150.0, 0.4, 0.1), (2430.0, 0.25, 0.08)), 0.5,
                                    noise=0.6, noise_dur=0.01), S, 15, 0.5),
        66: (lambda sr, r: _d_modal(sr, r, ((380.0, 1.0, 0.14), (870.0, 0.4, 0.1), (1900.0, 0.25, 0.08)), 0.55,
                                    noise=0.6, noise_dur=0.01), S, 5, 0.55),
        67: (lambda sr, r: _d_modal(sr, r, ((910.0, 1.0, 0.12), (2070.0, 0.5, 0.06), (3730.0, 0.3, 0.04)), 0.5,
                                    noise=0.2), S, -20, 0.5),
        68: (lambda sr, r: _d_modal(sr, r, ((640.0, 1.0, 0.14), (1450.0, 0.5, 0.07), (2620.0, 0.3, 0.05)), 0.55,
                                    noise=0.2), S, -25, 0.55),
        69: (lambda sr, r: _d_shaker(sr, r, 0.2, 3500.0, 11000.0, 0.02), B, 20, 0.2),
        70: (lambda sr, r: _d_shaker(sr, r, 0.12, 5000.0, 13000.0, 0.01), B, 25, 0.12),
        71: (lambda sr, r: _d_whistle(sr, r, 0.18), S, 35, 0.1),
        72: (lambda sr, r: _d_whistle(sr, r, 0.6), S, 35, 0.1),
        73: (lambda sr, r: _d_guiro(sr, r, 0.12, 45.0), S, -30, 0.1),
        74: (lambda sr, r: _d_guiro(sr, r, 0.45, 38.0), S, -30, 0.1),
        75: (lambda sr, r: _d_modal(sr, r, ((2500.0, 1.0, 0.03), (6800.0, 0.2, 0.01)), 0.15, noise=0.2), S, 20, 0.15),
        76: (lambda sr, r: _d_modal(sr, r, ((1850.0, 1.0, 0.025), (4400.0, 0.3, 0.01)), 0.15, noise=0.3), S, 15, 0.15),
        77: (lambda sr, r: _d_modal(sr, r, ((1250.0, 1.0, 0.03), (3100.0, 0.3, 0.012)), 0.15, noise=0.3), S, 10, 0.15),
        78: (lambda sr, r: _d_cuica(sr, r, 0.22, 420.0, 600.0), S, -20, 0.1),
        79: (lambda sr, r: _d_cuica(sr, r, 0.45, 720.0, 380.0), S, -20, 0.2),
        80: (lambda sr, r: _d_triangle(sr, r, 0.2, 0.04), B, 30, 0.1),
        81: (lambda sr, r: _d_triangle(sr, r, 1.8, 0.6), B, 30, 1.4),
    }


# =========================================================================================
# Assembly
# =========================================================================================

def _to_pcm16(y: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(y))) or 1.0
    scale = 32767.0 * 10.0 ** (PEAK_DBFS / 20.0) / peak
    return np.clip(np.rint(y * scale), -32768, 32767).astype(np.int16)


def _loudness_db(pcm: np.ndarray, sr: int, loop: Loop | None) -> float:
    """A rough loudness (dBFS RMS): the louder of the first 300 ms and the loop."""
    x = pcm.astype(np.float64) / 32768.0
    first = x[: max(1, int(0.3 * sr))]
    levels = [np.sqrt(np.mean(first**2))]
    if loop is not None:
        seg = x[loop.start: loop.end]
        levels.append(np.sqrt(np.mean(seg**2)))
    return 20.0 * math.log10(max(max(levels), 1e-9))


def _auto_gain_db(loudness_db: float) -> float:
    """The wave's own gain (dB, <= 0): waves louder than LOUDNESS_TARGET_DBFS are turned down,
    so the multi-samples of a timbre start out even before the programs are levelled."""
    return -float(np.clip(loudness_db - LOUDNESS_TARGET_DBFS, 0.0, MAX_AUTO_ATTENUATION_DB))


def _gain_sample(ws: WaveSample, gain_db: float) -> WaveSample:
    """ws with its gain set to gain_db. The wsmp's lAttenuation is read as a relative gain,
    negative = quieter (as DirectMusic's DDKSynth, FluidSynth and SpessaSynth read it, and
    synth/download.py with them)."""
    return WaveSample(unity_note=ws.unity_note, fine_tune=ws.fine_tune, attenuation=U.db_to_gain(gain_db),
                      options=ws.options, loops=list(ws.loops))


def _gain_db(ws: WaveSample) -> float:
    return U.gain_to_db(ws.attenuation)


def _split_ranges(roots: tuple) -> list[tuple[int, int]]:
    """Key ranges for samples at ``roots``: each plays at most ~half a gap above its root."""
    ranges = []
    for i, r in enumerate(roots):
        lo = 0 if i == 0 else ranges[-1][1] + 1
        hi = 127 if i == len(roots) - 1 else r + (roots[i + 1] - r) // 2
        ranges.append((lo, hi))
    return ranges


def _make_timbre_waves(timbre: _Timbre) -> list[tuple[Wave, int, int]]:
    """(wave, key_low, key_high) for each multi-sample of a timbre."""
    out = []
    for root, (lo, hi) in zip(timbre.roots, _split_ranges(timbre.roots)):
        sr = timbre.rate
        rng = _rng(timbre.name, root)
        f0 = U.midi_note_to_hz(root)
        up = max(0, min(hi, root + ALIAS_FREE_SEMITONES) - root)
        fmax = min(0.45 * sr, TOP_FREQUENCY / 2.0 ** (up / 12.0))
        name = f"{timbre.name} {_note_name(root)}"
        if timbre.oneshot:
            y = timbre.gen(sr, f0, rng, **timbre.params)
            y = _fade(np.asarray(y, dtype=float), sr)
            pcm = _to_pcm16(y)
            loops: list[Loop] = []
            loop = None
        else:
            k, L = _grid(f0, sr, timbre.loop, timbre.pitched, timbre.k_mult)
            # High notes die away sooner, so their keyframed attack can be shorter.
            attack = timbre.attack * min(1.0, 2.0 ** (-(root - 48) / 24.0))
            ctx = _Ctx(f0=k * sr / L if timbre.pitched else f0, sr=sr, length=L, fmax=fmax,
                       times=_keyframes(attack), rng=rng, root=root)
            parts = timbre.gen(ctx, **timbre.params)
            y, start = _render_looped(ctx, parts)
            pcm = _to_pcm16(y)
            loop = Loop(C.WLOOP_TYPE_FORWARD, start, L)
            loops = [loop]
        ws = _gain_sample(WaveSample(unity_note=root, loops=loops), _auto_gain_db(_loudness_db(pcm, sr, loop)))
        out.append((Wave.from_pcm16(pcm, sample_rate=sr, wave_sample=ws, name=name), lo, hi))
    return out


def _region(lo, hi, table_index, ws: WaveSample, arts=None, key_group=0) -> Region:
    return Region(key_low=lo, key_high=hi, vel_low=0, vel_high=127, options=0, key_group=key_group, layer=0,
                  wave_link=WaveLink(table_index=table_index, channel=C.WAVELINK_CHANNEL_LEFT),
                  wave_sample=ws, articulations=list(arts or []), level=2)


def _drum_instrument(waves: list[Wave]) -> Instrument:
    regions = []
    for key, (builder, sr, pan, release) in sorted(_drum_table().items()):
        rng = _rng("drum", key)
        y = _fade(np.asarray(builder(sr, rng), dtype=float), sr)
        pcm = _to_pcm16(y)
        ws = _gain_sample(WaveSample(unity_note=key), _auto_gain_db(_loudness_db(pcm[: int(DRUM_LEVEL_SECONDS * sr)], sr, None)))
        waves.append(Wave.from_pcm16(pcm, sample_rate=sr, wave_sample=ws, name=GM_DRUM_NAMES[key]))
        art = _Art(attack=0.0, decay=0.0, sustain=100.0, release=max(release, len(pcm) / sr), mod=0.0)
        conns = [c for c in _art_connections(art) if c.destination not in (C.CONN_DST_VIB_FREQUENCY, C.CONN_DST_VIB_STARTDELAY)]
        conns.append(_c(C.CONN_SRC_NONE, C.CONN_DST_PAN, U.percent_to_pan(pan)))
        regions.append(_region(key, key, len(waves) - 1, ws, arts=[Articulation(level=2, connections=conns)],
                               key_group=DRUM_EXCLUSIVE_CLASSES.get(key, 0)))
    return Instrument(name=DRUM_KIT_NAME, bank=Instrument.make_bank(0, 0, drum=True), program=0, regions=regions,
                      info={"INAM": DRUM_KIT_NAME})


# =========================================================================================
# Levelling: every program and every drum key as loud as the others, measured in the engine
# =========================================================================================

def _note_loudness_db(collection: Collection, notes: list[tuple[int, int, int]], seconds: float) -> list[float]:
    """dBFS RMS (both channels) over the first `seconds` of each note (channel, program, key)
    played alone at LEVEL_VELOCITY with the engine's default controllers (CC7 100, CC11 127),
    dry, at master gain 0 dB: the collection rendered by the synth it is built for."""
    from dlsynth.synth.synth import Synth  # the engine measures what it will play

    s = Synth(LEVEL_RATE, effects=False, gain_db=0.0, voices=8)
    try:
        s.download(collection)
        frames = int(round(seconds * LEVEL_RATE))
        out = []
        program = {}
        for ch, prog, key in notes:
            if program.get(ch) != prog:
                s.short_message(s.position, 1, 0xC0 | ch, prog, 0, 2)
                program[ch] = prog
            s.short_message(s.position, 1, 0x90 | ch, key, LEVEL_VELOCITY)
            x = s.render(frames=frames).astype(np.float64)
            out.append(10.0 * math.log10(max(float(np.mean(x * x)), 1e-20)))
            s.short_message(s.position, 1, 0xB0 | ch, 120, 0)  # all sound off before the next
            while s.stats()["voices_active"]:
                s.render(frames=256)
        return out
    finally:
        s.close()


def _level(instruments: list[Instrument], collection: Collection) -> None:
    """Set each melodic program's region gains so its loudness (the power mean over
    LEVEL_KEYS) is LEVEL_TARGET_DBFS, and each drum key's so its hit is too."""
    melodic = [ins for ins in instruments if not ins.is_drum]
    kit = next(ins for ins in instruments if ins.is_drum)
    notes = [(0, ins.program, key) for ins in melodic for key in LEVEL_KEYS]
    levels = _note_loudness_db(collection, notes, LEVEL_SECONDS)
    n = len(LEVEL_KEYS)
    for i, ins in enumerate(melodic):
        power = np.mean([10.0 ** (v / 10.0) for v in levels[i * n:(i + 1) * n]])
        gain = LEVEL_TARGET_DBFS - 10.0 * math.log10(power)
        for r in ins.regions:
            r.wave_sample = _gain_sample(r.wave_sample, _gain_db(r.wave_sample) + gain)
    hits = _note_loudness_db(collection, [(9, 0, r.key_low) for r in kit.regions], DRUM_LEVEL_SECONDS)
    for r, v in zip(kit.regions, hits):
        r.wave_sample = _gain_sample(r.wave_sample, _gain_db(r.wave_sample) + LEVEL_TARGET_DBFS - v)


def build_default_bank() -> Collection:
    """Synthesize the whole GM bank in memory, then level it (deterministic; a second or two)."""
    waves: list[Wave] = []
    made: dict[str, list[tuple[int, int, int]]] = {}  # timbre -> [(table index, lo, hi)]
    instruments = []
    for program, (tname, art) in enumerate(_PROGRAMS):
        if tname not in made:
            made[tname] = []
            for wave, lo, hi in _make_timbre_waves(_T[tname]):
                waves.append(wave)
                made[tname].append((len(waves) - 1, lo, hi))
        regions = [_region(lo, hi, idx, _gain_sample(waves[idx].wave_sample, _gain_db(waves[idx].wave_sample)))
                   for idx, lo, hi in made[tname]]
        name = GM_PROGRAM_NAMES[program]
        instruments.append(Instrument(name=name, bank=Instrument.make_bank(0, 0), program=program, regions=regions,
                                      articulations=[Articulation(level=2, connections=_art_connections(art))],
                                      info={"INAM": name}))
    instruments.append(_drum_instrument(waves))
    digest = hashlib.sha256(BANK_VERSION.encode()).digest()
    collection = Collection(
        instruments=instruments, waves=waves, version=(0x00010000, 0x00000000), dlid=digest[:16],
        info={"INAM": "dlsynth General MIDI bank", "ISFT": "dlsynth default_bank " + BANK_VERSION,
              "ICMT": "Every waveform synthesized by dlsynth's own generator; no recorded samples."},
        level=2,
    )
    _level(instruments, collection)
    return collection


# =========================================================================================
# Cache
# =========================================================================================

def _version_hash() -> str:
    """BANK_VERSION and the source of what makes the bank: the generator and the writer, and,
    since the levels are measured by playing it, the engine (native/ C sources) and the
    download that compiles instruments for it."""
    h = hashlib.sha256(BANK_VERSION.encode())
    here = pathlib.Path(__file__).resolve().parent
    root = here.parent
    files = [here / n for n in ("default_bank.py", "units.py", "writer.py", "model.py", "constants.py")]
    files += [root / "synth" / "download.py"]
    files += sorted((root / "native").glob("*.[ch]"))
    for p in files:
        if p.exists():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def cache_dir() -> pathlib.Path:
    """The user cache folder for dlsynth: $XDG_CACHE_HOME/dlsynth or ~/.cache/dlsynth."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = pathlib.Path(base) if base and os.path.isabs(base) else pathlib.Path.home() / ".cache"
    return root / "dlsynth"


def _usable_dir(d: pathlib.Path) -> bool:
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=d, prefix=".probe-", delete=True)
        probe.close()
        return True
    except OSError:
        return False


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def default_bank_path() -> pathlib.Path:
    """Path of the default bank file, building and writing it on first use.

    The file lives in :func:`cache_dir` (or, when that cannot be written, a per-user folder
    in the system temp dir) as ``default-bank-<hash>.dls``, the hash covering
    :data:`BANK_VERSION` and the generator's source. It is written to a temporary file and
    renamed into place, so concurrent first uses never see a partial file.
    """
    from .writer import write

    name = f"default-bank-{_version_hash()}.dls"
    candidates = [cache_dir(), pathlib.Path(tempfile.gettempdir()) / f"dlsynth-{os.getuid() if hasattr(os, 'getuid') else 'user'}"]
    for d in candidates:
        path = d / name
        if path.is_file() and path.stat().st_size > 0:
            return path
    for d in candidates:
        if not _usable_dir(d):
            continue
        path = d / name
        data = write(build_default_bank())
        try:
            _write_atomic(path, data)
        except OSError:
            continue
        return path
    raise OSError("no writable folder for the default bank (tried: " + ", ".join(map(str, candidates)) + ")")


def load_default_bank() -> Collection:
    """The default bank, read from its cache file (built on first use).

    A cache file that no longer reads (damaged by something else) is rebuilt once.
    """
    from .errors import DLSError
    from .reader import read

    path = default_bank_path()
    try:
        return read(path)
    except (DLSError, OSError, ValueError):
        try:
            path.unlink()
        except OSError:
            pass
        return read(default_bank_path())
