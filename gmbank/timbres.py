"""The melodic timbre table: each GM sound's generator, parameters and sampled roots."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from dlsynth.dls.model import Wave

from .generators import (
    Harmonic,
    _am_applause,
    _am_breath,
    _am_helicopter,
    _am_seashore,
    _am_telephone,
    _g_bird,
    _g_fm,
    _g_harmonic,
    _g_modal,
    _g_noise,
    _g_piano,
    _g_pluck,
    _o_fret_noise,
    _o_gunshot,
    _o_orchestra_hit,
    _o_sweep_drum,
    _o_synth_drum,
)
from .params import SAMPLE_RATE

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
    params = {"spec": Harmonic(**kw)} if gen is _g_harmonic else kw  # a harmonic timbre's knobs: one dataclass
    _T[name] = _Timbre(name, gen, params, attack, loop, roots, **opts)
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
_t(
    "epgrand",
    _g_piano,
    attack=0.25,
    loop=0.2,
    roots=ROOTS_WIDE,
    stretch=0.6e-4,
    strike=1 / 7,
    lowpass=5000.0,
    decay=1.1,
    detune=5.0,
    strings=2,
    hammer=0.15,
    bright=1.0,
)
_t("honkytonk", _g_piano, attack=0.25, loop=0.25, roots=ROOTS_WIDE, detune=16.0, strings=2, lowpass=4000.0, decay=1.0)
_t(
    "rhodes",
    _g_fm,
    attack=0.25,
    loop=0.25,
    roots=ROOTS_WIDE,
    ops=((1.0, 1.0, 1.8, 0.25, 0.12, 1.0, 0.4), (1.0, 13.0, 1.2, 0.0, 0.02, 0.35, 3.0)),
    detune=((4.0, 0.4),),
    strike=0.15,
)
_t(
    "dx_ep",
    _g_fm,
    attack=0.25,
    loop=0.2,
    roots=ROOTS_WIDE,
    ops=((1.0, 1.0, 1.0, 0.4, 0.3, 1.0, 0.3), (1.0, 14.0, 1.5, 0.05, 0.03, 0.5, 4.0)),
    detune=((-6.0, 0.6), (7.0, 0.5)),
)
_t(
    "harpsichord",
    _g_pluck,
    attack=0.25,
    loop=0.12,
    brightness=26000.0,
    loss=1.5,
    pos=0.07,
    randomness=0.2,
    slope=0.7,
    detune=((-3.0, 0.6), (1200.0, 0.35)),
    pick=0.3,
)
_t(
    "clavi",
    _g_pluck,
    attack=0.25,
    loop=0.1,
    brightness=20000.0,
    loss=3.0,
    pos=0.1,
    pickup=0.07,
    randomness=0.2,
    slope=0.6,
    highpass=250.0,
    pick=0.2,
)

# --- chromatic percussion -------------------------------------------------------------------
_t(
    "celesta",
    _g_modal,
    attack=0.25,
    loop=0.1,
    roots=ROOTS_HIGH,
    modes=((1.0, 1.0, 1.2), (2.0, 0.12, 4.0), (4.0, 0.25, 8.0), (10.0, 0.06, 25.0)),
    strike=0.12,
)
_t(
    "glockenspiel",
    _g_modal,
    attack=0.25,
    loop=0.1,
    roots=ROOTS_HIGH,
    modes=((1.0, 1.0, 1.0), (2.76, 0.55, 3.0), (5.40, 0.3, 7.0), (8.93, 0.15, 12.0)),
    strike=0.2,
    strike_band=(2000, 10000),
)
_t(
    "musicbox",
    _g_modal,
    attack=0.25,
    loop=0.1,
    roots=ROOTS_HIGH,
    modes=((1.0, 1.0, 1.5), (2.0, 0.2, 4.0), (5.4, 0.3, 10.0), (8.9, 0.1, 20.0)),
    strike=0.08,
)
_t(
    "vibraphone",
    _g_modal,
    attack=0.25,
    loop=0.15,
    roots=ROOTS_MID,
    modes=((1.0, 1.0, 0.3), (4.0, 0.35, 3.0), (10.0, 0.12, 10.0)),
    strike=0.06,
    detune=((3.0, 0.3),),
)
_t(
    "marimba",
    _g_modal,
    attack=0.25,
    loop=0.1,
    roots=ROOTS_MID,
    modes=((1.0, 1.0, 2.0), (3.99, 0.35, 10.0), (10.65, 0.12, 30.0)),
    strike=0.12,
    strike_band=(200, 3000),
)
_t(
    "xylophone",
    _g_modal,
    attack=0.25,
    loop=0.1,
    roots=ROOTS_MID,
    modes=((1.0, 1.0, 4.0), (3.0, 0.5, 9.0), (6.2, 0.25, 20.0), (10.0, 0.1, 35.0)),
    strike=0.2,
    strike_band=(1000, 9000),
)
_t(
    "tubularbell",
    _g_modal,
    attack=0.25,
    loop=0.2,
    roots=ROOTS_MID,
    modes=(
        (1.0, 1.0, 0.4),
        (2.0, 0.5, 0.7),
        (2.92, 0.6, 1.0),
        (4.13, 0.4, 1.6),
        (5.42, 0.3, 2.2),
        (6.8, 0.15, 3.0),
        (8.3, 0.08, 4.0),
    ),
    strike=0.15,
    detune=((2.0, 0.3),),
)
_t(
    "dulcimer",
    _g_pluck,
    attack=0.25,
    loop=0.25,
    brightness=22000.0,
    loss=0.8,
    pos=0.12,
    randomness=0.3,
    slope=0.8,
    detune=((5.0, 0.8), (-4.0, 0.6)),
    pick=0.25,
)

# --- organs ---------------------------------------------------------------------------------
_t(
    "drawbar",
    H,
    attack=0.04,
    loop=0.1,
    k_mult=2,
    amps=(1.0, 0.45, 0.35, 0.25, 0.0, 0.15, 0.0, 0.12),
    extra=((0.5, 0.5), (1.5, 0.55)),
    click=0.35,
)
_t(
    "percorgan",
    H,
    attack=0.4,
    loop=0.1,
    amps=(1.0, 0.5, 0.25, 0.3, 0.0, 0.1, 0.0, 0.08),
    perc=(3, 1.1, 0.12),
    click=0.4,
)
_t(
    "rockorgan",
    H,
    attack=0.04,
    loop=0.25,
    k_mult=2,
    amps=(1.0, 0.6, 0.6, 0.5, 0.2, 0.35, 0.1, 0.3),
    extra=((0.5, 0.45), (1.5, 0.5)),
    detune=((-6.0, 0.5), (5.0, 0.45)),
    drive=1.6,
    click=0.4,
)
_t(
    "churchorgan",
    H,
    attack=0.12,
    loop=0.25,
    slope=0.9,
    even=0.8,
    amps=(1.0, 0.7, 0.55, 0.5, 0.25, 0.35, 0.12, 0.3, 0.1, 0.12, 0.05, 0.15, 0.03, 0.06, 0.03, 0.1),
    detune=((-2.5, 0.6), (3.0, 0.5)),
    chiff=0.25,
    chiff_band=(800, 5000),
    lowpass=7000.0,
)
_t(
    "reedorgan",
    H,
    attack=0.1,
    loop=0.15,
    slope=0.9,
    even=0.6,
    formants=((1200.0, 500.0, 5.0),),
    lowpass=4000.0,
    breath=0.02,
)
_t(
    "accordion",
    H,
    attack=0.06,
    loop=0.25,
    slope=0.75,
    even=0.7,
    formants=((1300.0, 500.0, 6.0), (2600.0, 600.0, 3.0)),
    detune=((14.0, 0.85),),
    lowpass=5500.0,
)
_t(
    "harmonica",
    H,
    attack=0.06,
    loop=0.2,
    slope=0.8,
    even=0.45,
    formants=((1500.0, 600.0, 8.0),),
    lowpass=4500.0,
    breath=0.05,
    breath_band=(800.0, 6000.0),
)
_t(
    "tangoaccordion",
    H,
    attack=0.06,
    loop=0.25,
    slope=0.7,
    even=0.8,
    formants=((900.0, 400.0, 5.0), (2200.0, 600.0, 4.0)),
    detune=((-18.0, 0.8), (9.0, 0.6)),
    lowpass=6000.0,
)

# --- guitars ----------------------------------------------------------------------------------
_t(
    "nylon",
    _g_pluck,
    attack=0.25,
    loop=0.12,
    brightness=7500.0,
    loss=0.9,
    pos=0.16,
    formants=((100.0, 30.0, 4.0), (220.0, 60.0, 4.0), (450.0, 150.0, 2.0)),
    pick=0.12,
    pick_band=(400, 4000),
)
_t(
    "steel",
    _g_pluck,
    attack=0.25,
    loop=0.12,
    brightness=16000.0,
    loss=0.9,
    pos=0.13,
    slope=0.8,
    formants=((110.0, 30.0, 4.0), (250.0, 70.0, 3.0), (2500.0, 800.0, 3.0)),
    pick=0.2,
)
_t("jazzguitar", _g_pluck, attack=0.25, loop=0.12, brightness=6000.0, loss=1.2, pos=0.2, pickup=0.28, lowpass=1800.0)
_t(
    "cleanguitar",
    _g_pluck,
    attack=0.25,
    loop=0.2,
    brightness=14000.0,
    loss=0.9,
    pos=0.14,
    pickup=0.09,
    detune=((-5.0, 0.35),),
    pick=0.15,
)
_t(
    "mutedguitar",
    _g_pluck,
    attack=0.2,
    loop=0.1,
    brightness=6000.0,
    loss=14.0,
    pos=0.12,
    pickup=0.1,
    lowpass=2500.0,
    pick=0.25,
)
_t(
    "overdrive",
    _g_pluck,
    attack=0.25,
    loop=0.12,
    brightness=9000.0,
    loss=0.5,
    pos=0.14,
    pickup=0.1,
    drive=3.5,
    lowpass=5000.0,
    sustain_floor=0.25,
)
_t(
    "distortion",
    _g_pluck,
    attack=0.25,
    loop=0.2,
    brightness=9000.0,
    loss=0.4,
    pos=0.14,
    pickup=0.1,
    drive=9.0,
    lowpass=4500.0,
    formants=((1800.0, 700.0, 4.0),),
    detune=((-8.0, 0.5),),
    sustain_floor=0.35,
)
_t(
    "gtrharmonics",
    _g_modal,
    attack=0.25,
    loop=0.1,
    roots=ROOTS_MID,
    modes=((1.0, 1.0, 0.6), (2.0, 0.15, 2.0), (3.0, 0.05, 4.0)),
    strike=0.05,
)

# --- basses -----------------------------------------------------------------------------------
_t(
    "acousticbass",
    _g_pluck,
    attack=0.25,
    loop=0.12,
    roots=ROOTS_BASS,
    brightness=3500.0,
    loss=1.5,
    pos=0.2,
    formants=BASS_BODY,
    pick=0.1,
    pick_band=(200, 2000),
)
_t(
    "fingerbass",
    _g_pluck,
    attack=0.25,
    loop=0.12,
    roots=ROOTS_BASS,
    brightness=4500.0,
    loss=0.9,
    pos=0.2,
    pickup=0.15,
    lowpass=2500.0,
)
_t(
    "pickbass",
    _g_pluck,
    attack=0.25,
    loop=0.12,
    roots=ROOTS_BASS,
    brightness=10000.0,
    loss=1.0,
    pos=0.1,
    pickup=0.12,
    pick=0.3,
    pick_band=(1000, 6000),
)
_t(
    "fretless",
    H,
    attack=0.25,
    loop=0.12,
    roots=ROOTS_BASS,
    slope=1.3,
    formants=((550.0, 250.0, 5.0),),
    lowpass=1800.0,
    swell=0.6,
    swell_tau=0.08,
    decay=0.4,
    decay_floor=0.4,
)
_t(
    "slapbass",
    _g_pluck,
    attack=0.25,
    loop=0.12,
    roots=ROOTS_BASS,
    brightness=18000.0,
    loss=1.0,
    pos=0.08,
    pickup=0.12,
    formants=((1400.0, 500.0, 5.0),),
    pick=0.6,
    pick_band=(1500, 8000),
)
_t(
    "slapbass2",
    _g_pluck,
    attack=0.25,
    loop=0.12,
    roots=ROOTS_BASS,
    brightness=14000.0,
    loss=1.3,
    pos=0.1,
    pickup=0.2,
    formants=((900.0, 400.0, 5.0), (2500.0, 600.0, 3.0)),
    pick=0.5,
    pick_band=(2000, 9000),
)
_t("synthbass1", H, attack=0.02, loop=0.1, roots=ROOTS_BASS, slope=1.0)
_t("synthbass2", H, attack=0.02, loop=0.2, roots=ROOTS_BASS, slope=1.0, even=0.25, detune=((-9.0, 0.7),))

# --- strings ----------------------------------------------------------------------------------
_bow = dict(slope=0.95, swell=0.7, swell_tau=0.07, breath=0.015, breath_band=(1500.0, 8000.0), lowpass=7000.0)
_t("violin", H, attack=0.25, loop=0.2, roots=ROOTS_MID, formants=VIOLIN_BODY, **_bow)
_t("viola", H, attack=0.25, loop=0.2, roots=ROOTS_LOW, formants=VIOLA_BODY, **_bow)
_t("cello", H, attack=0.25, loop=0.2, roots=ROOTS_LOW, formants=CELLO_BODY, **_bow)
_t("contrabass", H, attack=0.25, loop=0.2, roots=ROOTS_BASS, formants=BASS_BODY, **_bow)
_t(
    "fiddle",
    H,
    attack=0.2,
    loop=0.2,
    roots=ROOTS_MID,
    formants=VIOLIN_BODY + ((3500.0, 500.0, 4.0),),
    slope=0.85,
    swell=0.5,
    swell_tau=0.05,
    breath=0.02,
    breath_band=(2000.0, 9000.0),
)
_t(
    "strings",
    H,
    attack=0.25,
    loop=0.25,
    roots=ROOTS_MID,
    formants=VIOLA_BODY,
    detune=ENSEMBLE,
    slope=1.0,
    swell=0.6,
    swell_tau=0.1,
    breath=0.01,
    breath_band=(2000.0, 8000.0),
    lowpass=6000.0,
)
_t(
    "pizzicato",
    _g_pluck,
    attack=0.25,
    loop=0.12,
    brightness=5000.0,
    loss=4.0,
    pos=0.25,
    formants=VIOLA_BODY,
    detune=((-6.0, 0.6), (5.0, 0.5)),
)
_t("harp", _g_pluck, attack=0.25, loop=0.12, brightness=9000.0, loss=0.5, pos=0.3, slope=1.0, pick=0.05)
_t(
    "timpani",
    _g_modal,
    attack=0.25,
    loop=0.15,
    roots=ROOTS_BASS,
    modes=((1.0, 1.0, 1.0), (1.5, 0.6, 1.6), (1.98, 0.45, 2.2), (2.44, 0.3, 3.0), (2.95, 0.2, 4.0), (0.5, 0.25, 6.0)),
    strike=0.4,
    strike_band=(40, 1500),
    strike_dur=0.03,
    pitched=True,
    k_mult=2,
)
_t(
    "synthstrings1",
    H,
    attack=0.1,
    loop=0.25,
    roots=ROOTS_MID,
    slope=1.0,
    detune=((-12.0, 0.8), (10.0, 0.8), (3.0, 0.5)),
    lowpass=5000.0,
)
_t(
    "synthstrings2",
    H,
    attack=0.1,
    loop=0.25,
    roots=ROOTS_MID,
    slope=1.0,
    even=0.5,
    detune=((-8.0, 0.85), (9.0, 0.7)),
    lowpass=3500.0,
)
_t(
    "choir",
    H,
    attack=0.25,
    loop=0.25,
    roots=ROOTS_MID,
    slope=1.1,
    formants=VOWEL_A,
    detune=((-9.0, 0.8), (7.0, 0.7), (15.0, 0.4)),
    breath=0.02,
    breath_band=(2000.0, 7000.0),
    lowpass=5000.0,
    swell=0.4,
)
_t(
    "oohs",
    H,
    attack=0.25,
    loop=0.25,
    roots=ROOTS_MID,
    slope=1.4,
    formants=VOWEL_U,
    detune=((-7.0, 0.7), (6.0, 0.6)),
    breath=0.015,
    breath_band=(1500.0, 5000.0),
    lowpass=3000.0,
)
_t(
    "synthvoice",
    H,
    attack=0.1,
    loop=0.2,
    roots=ROOTS_MID,
    slope=1.0,
    formants=VOWEL_O,
    detune=((-5.0, 0.6),),
    lowpass=4000.0,
)
_t("orchhit", _o_orchestra_hit, roots=ROOTS_FEW, oneshot=True)

# --- brass ------------------------------------------------------------------------------------
_t(
    "trumpet",
    H,
    attack=0.2,
    loop=0.1,
    roots=ROOTS_MID,
    slope=0.6,
    formants=((1300.0, 500.0, 8.0), (2600.0, 700.0, 3.0)),
    swell=0.9,
    swell_tau=0.04,
    lowpass=6000.0,
    breath=0.01,
)
_t(
    "trombone",
    H,
    attack=0.2,
    loop=0.1,
    roots=ROOTS_LOW,
    slope=0.7,
    formants=((600.0, 250.0, 8.0), (1300.0, 400.0, 3.0)),
    swell=0.9,
    swell_tau=0.05,
    lowpass=4000.0,
    breath=0.01,
)
_t(
    "tuba",
    H,
    attack=0.2,
    loop=0.1,
    roots=ROOTS_BASS,
    slope=1.1,
    formants=((250.0, 120.0, 6.0),),
    swell=0.8,
    swell_tau=0.06,
    lowpass=1500.0,
)
_t(
    "mutedtrumpet",
    H,
    attack=0.15,
    loop=0.1,
    roots=ROOTS_MID,
    slope=0.6,
    formants=((1800.0, 500.0, 12.0),),
    highpass=900.0,
    lowpass=5000.0,
    swell=0.5,
)
_t(
    "frenchhorn",
    H,
    attack=0.2,
    loop=0.1,
    roots=ROOTS_LOW,
    slope=1.6,
    formants=((400.0, 200.0, 6.0),),
    lowpass=1800.0,
    swell=0.7,
    swell_tau=0.08,
)
_t(
    "brasssection",
    H,
    attack=0.2,
    loop=0.25,
    roots=ROOTS_MID,
    slope=0.7,
    formants=((1000.0, 500.0, 7.0), (2500.0, 700.0, 2.0)),
    detune=((-8.0, 0.8), (7.0, 0.7), (-15.0, 0.4)),
    swell=0.9,
    swell_tau=0.05,
    lowpass=5000.0,
)
_t("synthbrass1", H, attack=0.02, loop=0.25, slope=1.0, detune=((-10.0, 0.9), (9.0, 0.8)))
_t("synthbrass2", H, attack=0.02, loop=0.25, slope=1.0, even=0.35, detune=((-6.0, 0.9), (12.0, 0.5)))

# --- reeds --------------------------------------------------------------------------------------
_sax = dict(slope=0.8, swell=0.6, swell_tau=0.03, breath=0.03, breath_band=(1200.0, 7000.0))
_t(
    "sopranosax",
    H,
    attack=0.12,
    loop=0.25,
    roots=ROOTS_MID,
    formants=((1200.0, 400.0, 6.0), (2800.0, 600.0, 4.0)),
    lowpass=6000.0,
    **_sax,
)
_t(
    "altosax",
    H,
    attack=0.12,
    loop=0.25,
    roots=ROOTS_MID,
    formants=((900.0, 350.0, 7.0), (2300.0, 600.0, 4.0)),
    lowpass=5000.0,
    **_sax,
)
_t(
    "tenorsax",
    H,
    attack=0.12,
    loop=0.25,
    roots=ROOTS_LOW,
    formants=((600.0, 300.0, 7.0), (1800.0, 500.0, 4.0)),
    lowpass=4000.0,
    **_sax,
)
_t(
    "barisax",
    H,
    attack=0.12,
    loop=0.25,
    roots=ROOTS_BASS,
    formants=((400.0, 200.0, 7.0), (1300.0, 400.0, 4.0)),
    lowpass=3000.0,
    **_sax,
)
_t(
    "oboe",
    H,
    attack=0.1,
    loop=0.2,
    roots=ROOTS_MID,
    slope=0.55,
    formants=((1100.0, 300.0, 10.0), (2800.0, 500.0, 5.0)),
    highpass=300.0,
    lowpass=6000.0,
    breath=0.015,
)
_t(
    "englishhorn",
    H,
    attack=0.1,
    loop=0.2,
    roots=ROOTS_LOW,
    slope=0.6,
    formants=((900.0, 250.0, 10.0), (2300.0, 500.0, 4.0)),
    highpass=200.0,
    lowpass=5000.0,
    breath=0.015,
)
_t(
    "bassoon",
    H,
    attack=0.1,
    loop=0.2,
    roots=ROOTS_BASS,
    slope=0.7,
    formants=((470.0, 150.0, 10.0), (1200.0, 300.0, 4.0)),
    lowpass=3000.0,
    breath=0.015,
)
_t(
    "clarinet",
    H,
    attack=0.1,
    loop=0.2,
    roots=ROOTS_MID,
    slope=0.9,
    even=0.12,
    formants=((1500.0, 600.0, 3.0),),
    lowpass=5000.0,
    breath=0.02,
)
_t(
    "bagpipe",
    H,
    attack=0.08,
    loop=0.2,
    roots=ROOTS_MID,
    slope=0.45,
    formants=((1400.0, 500.0, 9.0), (3000.0, 600.0, 6.0)),
    highpass=400.0,
    lowpass=7000.0,
    breath=0.02,
)
_t(
    "shanai",
    H,
    attack=0.08,
    loop=0.2,
    roots=ROOTS_MID,
    slope=0.5,
    formants=((1600.0, 450.0, 10.0), (3200.0, 600.0, 5.0)),
    highpass=500.0,
    lowpass=7000.0,
    breath=0.02,
)

# --- pipes --------------------------------------------------------------------------------------
_t(
    "piccolo",
    H,
    attack=0.12,
    loop=0.2,
    roots=ROOTS_HIGH,
    amps=(1.0, 0.2, 0.08, 0.03),
    breath=0.06,
    breath_band=(2000.0, 9000.0),
    chiff=0.25,
)
_t(
    "flute",
    H,
    attack=0.12,
    loop=0.2,
    roots=ROOTS_MID,
    amps=(1.0, 0.35, 0.15, 0.08, 0.04, 0.02),
    breath=0.045,
    breath_band=(1000.0, 8000.0),
    chiff=0.3,
    swell=0.5,
)
_t(
    "recorder",
    H,
    attack=0.1,
    loop=0.2,
    roots=ROOTS_MID,
    amps=(1.0, 0.2, 0.3, 0.05, 0.1, 0.02),
    breath=0.03,
    chiff=0.35,
    chiff_band=(2000.0, 8000.0),
)
_t(
    "panflute",
    H,
    attack=0.15,
    loop=0.25,
    roots=ROOTS_MID,
    amps=(1.0, 0.1, 0.25, 0.03, 0.06),
    breath=0.16,
    breath_band=(600.0, 6000.0),
    chiff=0.6,
    chiff_band=(800.0, 6000.0),
)
_t(
    "bottle",
    H,
    attack=0.15,
    loop=0.25,
    roots=ROOTS_MID,
    amps=(1.0, 0.05, 0.03),
    breath=0.25,
    breath_band=(300.0, 4000.0),
    chiff=0.3,
)
_t(
    "shakuhachi",
    H,
    attack=0.15,
    loop=0.25,
    roots=ROOTS_MID,
    amps=(1.0, 0.25, 0.1, 0.05),
    breath=0.2,
    breath_band=(800.0, 6000.0),
    chiff=0.8,
    chiff_band=(600.0, 5000.0),
)
_t(
    "whistle",
    H,
    attack=0.06,
    loop=0.2,
    roots=ROOTS_HIGH,
    amps=(1.0, 0.03, 0.01),
    breath=0.03,
    breath_band=(3000.0, 9000.0),
)
_t("ocarina", H, attack=0.08, loop=0.2, roots=ROOTS_MID, amps=(1.0, 0.06, 0.04), breath=0.03, chiff=0.2)

# --- synth leads ---------------------------------------------------------------------------------
_t("square", H, attack=0.0, loop=0.1, slope=1.0, even=0.0)
_t("saw", H, attack=0.0, loop=0.25, slope=1.0, detune=((8.0, 0.75),))
_t(
    "calliope",
    H,
    attack=0.1,
    loop=0.2,
    roots=ROOTS_MID,
    amps=(1.0, 0.5, 0.1, 0.2, 0.02, 0.05),
    breath=0.08,
    breath_band=(1000.0, 7000.0),
    chiff=0.2,
)
_t("chiff", H, attack=0.1, loop=0.1, slope=1.2, even=0.3, lowpass=4000.0, chiff=0.8, chiff_band=(1000.0, 8000.0))
_t(
    "charang",
    _g_pluck,
    attack=0.2,
    loop=0.2,
    brightness=14000.0,
    loss=0.3,
    pos=0.1,
    slope=1.0,
    drive=5.0,
    lowpass=6000.0,
    detune=((7.0, 0.6),),
    sustain_floor=0.6,
)
_t(
    "leadvoice",
    H,
    attack=0.1,
    loop=0.2,
    roots=ROOTS_MID,
    slope=0.9,
    formants=VOWEL_A,
    detune=((6.0, 0.6),),
    lowpass=5000.0,
)
_t("fifths", H, attack=0.0, loop=0.2, k_mult=2, slope=1.0, fifth=0.65, detune=((5.0, 0.4),))
_t("basslead", H, attack=0.0, loop=0.2, k_mult=2, slope=1.0, sub=0.45, detune=((-6.0, 0.5),))

# --- pads -----------------------------------------------------------------------------------------
_t(
    "newage",
    _g_fm,
    attack=0.15,
    loop=0.25,
    roots=ROOTS_MID,
    ops=((1.0, 2.0, 2.0, 0.6, 0.3, 1.0, 0.0), (2.0, 7.0, 1.0, 0.0, 0.2, 0.3, 1.0)),
    detune=((-6.0, 0.7), (5.0, 0.6)),
)
_t("warmpad", H, attack=0.15, loop=0.25, roots=ROOTS_MID, slope=1.3, lowpass=1400.0, detune=((-9.0, 0.8), (8.0, 0.8)))
_t(
    "polysynth",
    H,
    attack=0.05,
    loop=0.25,
    roots=ROOTS_MID,
    slope=1.0,
    detune=((-11.0, 0.85), (9.0, 0.75)),
    lowpass=6000.0,
)
_t(
    "bowedpad",
    H,
    attack=0.15,
    loop=0.25,
    roots=ROOTS_MID,
    amps=(1.0, 0.5, 0.35, 0.2, 0.08, 0.05),
    detune=((-4.0, 0.6), (5.0, 0.5)),
    breath=0.04,
    breath_band=(1500.0, 6000.0),
)
_t(
    "metallic",
    _g_fm,
    attack=0.15,
    loop=0.25,
    roots=ROOTS_MID,
    ops=((1.0, 2.76, 2.5, 1.2, 0.3, 1.0, 0.0),),
    detune=((-7.0, 0.7), (6.0, 0.6)),
)
_t(
    "halo",
    H,
    attack=0.15,
    loop=0.25,
    roots=ROOTS_MID,
    slope=1.5,
    formants=VOWEL_O,
    detune=((-8.0, 0.7), (9.0, 0.6), (1200.0, 0.2)),
    breath=0.02,
    lowpass=3500.0,
)
_t("sweep", H, attack=0.0, loop=0.25, roots=ROOTS_MID, slope=1.0, detune=((-9.0, 0.8), (10.0, 0.7)))

# --- effects ----------------------------------------------------------------------------------------
_t(
    "rain",
    _g_fm,
    attack=0.25,
    loop=0.2,
    roots=ROOTS_MID,
    ops=((1.0, 3.5, 3.0, 0.3, 0.05, 1.0, 1.5), (1.0, 1.0, 0.6, 0.2, 0.3, 0.6, 0.0)),
    detune=((12.0, 0.4),),
    strike=0.3,
)
_t(
    "soundtrack",
    H,
    attack=0.15,
    loop=0.25,
    roots=ROOTS_MID,
    slope=1.2,
    formants=((700.0, 300.0, 6.0), (2500.0, 600.0, 4.0)),
    detune=((-10.0, 0.8), (7.0, 0.7), (702.0, 0.3)),
    lowpass=3000.0,
)
_t(
    "crystal",
    _g_fm,
    attack=0.25,
    loop=0.2,
    roots=ROOTS_MID,
    ops=((1.0, 2.76, 2.5, 0.4, 0.15, 1.0, 0.8), (2.0, 5.4, 1.0, 0.1, 0.1, 0.3, 2.0)),
    detune=((8.0, 0.5),),
)
_t(
    "atmosphere",
    _g_pluck,
    attack=0.15,
    loop=0.25,
    roots=ROOTS_MID,
    brightness=12000.0,
    loss=0.6,
    pos=0.15,
    detune=((-8.0, 0.7), (9.0, 0.6)),
    sustain_floor=0.3,
)
_t(
    "brightness",
    H,
    attack=0.1,
    loop=0.25,
    roots=ROOTS_MID,
    slope=0.8,
    highpass=600.0,
    detune=((-7.0, 0.8), (8.0, 0.7), (1200.0, 0.3)),
)
_t(
    "goblins",
    H,
    attack=0.15,
    loop=0.25,
    roots=ROOTS_MID,
    slope=1.0,
    formants=((500.0, 200.0, 12.0), (1800.0, 300.0, 6.0)),
    detune=((-25.0, 0.6), (20.0, 0.5)),
    lowpass=3000.0,
    breath=0.04,
)
_t(
    "echoes",
    _g_fm,
    attack=0.15,
    loop=0.25,
    roots=ROOTS_MID,
    ops=((1.0, 2.0, 1.5, 0.5, 0.2, 1.0, 0.3),),
    detune=((-10.0, 0.7), (12.0, 0.5)),
    pad=dict(slope=1.4, lowpass=2000.0),
)
_t(
    "scifi",
    _g_fm,
    attack=0.15,
    loop=0.25,
    roots=ROOTS_MID,
    ops=((1.0, 3.3, 3.0, 0.8, 0.4, 1.0, 0.0),),
    detune=((15.0, 0.5),),
)

# --- ethnic ---------------------------------------------------------------------------------------
_t(
    "sitar",
    _g_pluck,
    attack=0.25,
    loop=0.2,
    roots=ROOTS_MID,
    brightness=20000.0,
    loss=0.6,
    pos=0.05,
    slope=0.6,
    formants=((2500.0, 900.0, 6.0),),
    detune=((3.0, 0.5), (1200.0, 0.25)),
    pick=0.2,
)
_t(
    "banjo",
    _g_pluck,
    attack=0.25,
    loop=0.12,
    brightness=20000.0,
    loss=3.0,
    pos=0.08,
    formants=((1000.0, 400.0, 6.0),),
    pick=0.3,
)
_t(
    "shamisen",
    _g_pluck,
    attack=0.25,
    loop=0.12,
    brightness=22000.0,
    loss=2.5,
    pos=0.06,
    formants=((1500.0, 600.0, 6.0),),
    highpass=200.0,
    pick=0.4,
)
_t(
    "koto",
    _g_pluck,
    attack=0.25,
    loop=0.15,
    brightness=12000.0,
    loss=1.0,
    pos=0.1,
    formants=((700.0, 300.0, 4.0),),
    pick=0.2,
)
_t(
    "kalimba",
    _g_modal,
    attack=0.25,
    loop=0.1,
    roots=ROOTS_MID,
    modes=((1.0, 1.0, 2.0), (5.9, 0.35, 12.0), (13.0, 0.1, 30.0)),
    strike=0.1,
)

# --- percussive -----------------------------------------------------------------------------------
_t("tinklebell", _g_fm, attack=0.25, loop=0.1, roots=ROOTS_HIGH, ops=((1.0, 3.1, 2.0, 0.2, 0.08, 1.0, 1.0),))
_t(
    "agogo",
    _g_modal,
    attack=0.25,
    loop=0.1,
    roots=ROOTS_MID,
    modes=((1.0, 1.0, 5.0), (2.27, 0.5, 9.0), (4.1, 0.3, 15.0), (6.2, 0.1, 25.0)),
    strike=0.15,
)
_t(
    "steeldrum",
    _g_modal,
    attack=0.25,
    loop=0.15,
    roots=ROOTS_MID,
    modes=((1.0, 1.0, 1.5), (2.0, 0.6, 2.5), (3.0, 0.35, 4.0), (4.02, 0.25, 6.0), (5.1, 0.1, 9.0)),
    strike=0.15,
    detune=((6.0, 0.3),),
)
_t(
    "woodblock",
    _g_modal,
    attack=0.25,
    loop=0.1,
    roots=ROOTS_MID,
    modes=((1.0, 1.0, 25.0), (2.65, 0.4, 40.0), (4.9, 0.15, 60.0)),
    strike=0.4,
    strike_band=(800, 6000),
)
_t(
    "taiko",
    _g_modal,
    attack=0.25,
    loop=0.15,
    roots=ROOTS_BASS,
    modes=((1.0, 1.0, 4.0), (1.59, 0.6, 6.0), (2.14, 0.4, 9.0), (2.65, 0.25, 12.0)),
    strike=0.8,
    strike_band=(40, 1200),
    strike_dur=0.04,
)
_t("melodictom", _o_sweep_drum, roots=ROOTS_FEW, oneshot=True)
_t("synthdrum", _o_synth_drum, roots=ROOTS_FEW, oneshot=True)
_t(
    "reversecymbal",
    _g_noise,
    attack=0.0,
    loop=0.6,
    roots=ROOTS_ONE,
    pitched=False,
    bands=((3000.0, 11000.0, 1.0, 1.0), (800.0, 3000.0, 0.3, 0.0)),
)

# --- sound effects ----------------------------------------------------------------------------------
_t("fretnoise", _o_fret_noise, roots=ROOTS_ONE, oneshot=True)
_t(
    "breathnoise",
    _g_noise,
    attack=0.0,
    loop=0.8,
    roots=ROOTS_ONE,
    pitched=False,
    bands=((300.0, 3000.0, 1.0, -2.0), (3000.0, 9000.0, 0.3, -3.0)),
    am=_am_breath,
)
_t(
    "seashore",
    _g_noise,
    attack=0.0,
    loop=2.5,
    roots=ROOTS_ONE,
    pitched=False,
    bands=((100.0, 8000.0, 1.0, -1.5),),
    am=_am_seashore,
)
_t("birdtweet", _g_bird, attack=0.0, loop=1.0, roots=ROOTS_ONE, pitched=False)
_t(
    "telephone",
    _g_noise,
    attack=0.0,
    loop=0.5,
    roots=ROOTS_ONE,
    pitched=True,
    bands=(),
    tones=((4.0, 1.0), (5.0, 0.8), (12.0, 0.15), (15.0, 0.1)),
    am=_am_telephone,
)
_t(
    "helicopter",
    _g_noise,
    attack=0.0,
    loop=1.0,
    roots=ROOTS_ONE,
    pitched=False,
    bands=((40.0, 1500.0, 1.0, -3.0), (1500.0, 6000.0, 0.2, -2.0)),
    am=_am_helicopter,
)
_t(
    "applause",
    _g_noise,
    attack=0.0,
    loop=1.5,
    roots=ROOTS_ONE,
    pitched=False,
    bands=((500.0, 8000.0, 1.0, -1.0),),
    am=_am_applause,
)
_t("gunshot", _o_gunshot, roots=ROOTS_ONE, oneshot=True)

_UNTUNED_TIMBRES = frozenset({"telephone"})  # looped and keyed, but no single pitch to measure


def wave_is_pitched(wave: Wave) -> bool:
    """True for a melodic wave of this bank whose loop has a fundamental at its unity note.

    Noise and effects loops, one-shots and drums are not (their names say which timbre made them).
    """
    timbre = _T.get(wave.name.split(" ")[0])
    return bool(timbre and timbre.pitched and not timbre.oneshot and timbre.name not in _UNTUNED_TIMBRES)
