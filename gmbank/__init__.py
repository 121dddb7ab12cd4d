"""The built-in General MIDI bank: every waveform synthesized here, with NumPy, at build time.

``build_default_bank()`` returns a DLS Level 2 :class:`~dlsynth.dls.model.Collection` with the 128 GM
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

Its parts: ``params`` (rates, levels, limits), ``programs`` (the GM names and the kit's key
groups), ``generators`` (the waveform generators), ``timbres`` (the melodic timbre table),
``articulation`` (presets and the program table), ``drums`` (the kit), ``build`` (assembly
and levelling) and ``cache`` (the cache file).
"""

from __future__ import annotations

#: where each public name lives (imported on first use: the names alone need no NumPy)
_HOMES = {
    "build_default_bank": "build",
    "cache_dir": "cache",
    "default_bank_path": "cache",
    "load_default_bank": "cache",
    "BANK_VERSION": "params",
    "DRUM_EXCLUSIVE_CLASSES": "programs",
    "DRUM_KIT_NAME": "programs",
    "GM_DRUM_KIT_NAMES": "programs",
    "GM_DRUM_NAMES": "programs",
    "GM_PROGRAM_NAMES": "programs",
    "wave_is_pitched": "timbres",
}


def __getattr__(name: str):
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BANK_VERSION",
    "GM_PROGRAM_NAMES",
    "GM_DRUM_NAMES",
    "GM_DRUM_KIT_NAMES",
    "DRUM_EXCLUSIVE_CLASSES",
    "DRUM_KIT_NAME",
    "build_default_bank",
    "default_bank_path",
    "load_default_bank",
    "cache_dir",
    "wave_is_pitched",
]
