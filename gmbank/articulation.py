"""Articulation presets in everyday units and the program -> (timbre, articulation) table."""

from __future__ import annotations

from dataclasses import dataclass

from dlsynth.dls import constants as C
from dlsynth.dls import units as U
from dlsynth.dls.model import Connection

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
    return _Art(
        attack=0.001,
        decay=_key_scaled_decay(decay60, key_decay),
        sustain=0.0,
        release=release,
        key_decay=key_decay,
        **kw,
    )


PIANO = _Art(
    attack=0.001,
    decay=_key_scaled_decay(9.0, -3600.0),
    sustain=0.0,
    release=0.35,
    key_decay=-3600.0,
    cutoff=350.0,
    key_cutoff=6400.0,
    vel_cutoff=3600.0,
    mod=30.0,
)
ORGAN = _Art(attack=0.004, sustain=100.0, release=0.06, mod=40.0)
SOLO_STRING = _Art(attack=0.08, sustain=100.0, release=0.3, vib=14.0, vib_rate=5.6, vib_delay=0.35)
ENSEMBLE_ART = _Art(attack=0.18, sustain=100.0, release=0.5, vib=5.0, vib_rate=5.3, vib_delay=0.4)
BRASS = _Art(
    attack=0.035,
    sustain=100.0,
    release=0.15,
    cutoff=350.0,
    key_cutoff=5000.0,
    vel_cutoff=2400.0,
    q=1.0,
    eg2=(0.05, 0.4, 55.0, 0.2),
    eg2_cutoff=1800.0,
    vib=6.0,
    vib_delay=0.5,
)
REED = _Art(
    attack=0.025,
    sustain=100.0,
    release=0.1,
    vib=9.0,
    vib_rate=5.2,
    vib_delay=0.45,
    cutoff=600.0,
    key_cutoff=5200.0,
    vel_cutoff=2400.0,
)
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
    (
        "overdrive",
        _Art(
            attack=0.002,
            decay=6.0,
            sustain=0.0,
            release=0.2,
            key_decay=-1200.0,
            cutoff=1200.0,
            key_cutoff=3000.0,
            vel_cutoff=2400.0,
            q=2.0,
        ),
    ),
    (
        "distortion",
        _Art(
            attack=0.002,
            decay=8.0,
            sustain=0.0,
            release=0.2,
            key_decay=-1200.0,
            cutoff=1500.0,
            key_cutoff=3000.0,
            vel_cutoff=2000.0,
            q=3.0,
        ),
    ),
    ("gtrharmonics", _pluck_art(4.0, release=0.4)),
    # Bass
    ("acousticbass", _pluck_art(3.0, key_decay=-1800.0, release=0.15)),
    ("fingerbass", _pluck_art(4.0, key_decay=-1800.0, release=0.12)),
    ("pickbass", _pluck_art(3.5, key_decay=-1800.0, release=0.1)),
    ("fretless", _Art(attack=0.02, decay=5.0, sustain=0.0, release=0.15, vib=6.0, vib_delay=0.5)),
    ("slapbass", _pluck_art(2.5, key_decay=-1800.0, release=0.1)),
    ("slapbass2", _pluck_art(2.5, key_decay=-1800.0, release=0.1)),
    ("synthbass1", _with(LEAD, attack=0.002, decay=2.5, sustain=0.0, release=0.08, **SYNTH_FILTER)),
    (
        "synthbass2",
        _with(
            LEAD,
            attack=0.002,
            decay=3.0,
            sustain=0.0,
            release=0.08,
            cutoff=250.0,
            key_cutoff=6400.0,
            q=3.0,
            eg2=(0.002, 0.2, 20.0, 0.1),
            eg2_cutoff=3600.0,
        ),
    ),
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
    (
        "synthstrings1",
        _with(
            ENSEMBLE_ART,
            attack=0.12,
            cutoff=800.0,
            key_cutoff=4800.0,
            q=1.5,
            eg2=(0.3, 1.0, 70.0, 0.5),
            eg2_cutoff=1800.0,
        ),
    ),
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
    (
        "synthbrass1",
        _with(
            BRASS,
            attack=0.01,
            release=0.12,
            q=5.0,
            cutoff=300.0,
            key_cutoff=3200.0,
            vel_cutoff=1200.0,
            eg2=(0.06, 0.5, 45.0, 0.15),
            eg2_cutoff=3000.0,
            vib=0.0,
        ),
    ),
    (
        "synthbrass2",
        _with(
            BRASS,
            attack=0.02,
            release=0.2,
            q=3.0,
            cutoff=250.0,
            key_cutoff=3200.0,
            vel_cutoff=1200.0,
            eg2=(0.15, 0.8, 60.0, 0.3),
            eg2_cutoff=2600.0,
            vib=0.0,
        ),
    ),
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
    (
        "polysynth",
        _with(
            PAD,
            attack=0.05,
            release=0.8,
            cutoff=300.0,
            key_cutoff=6400.0,
            q=2.0,
            eg2=(0.01, 1.5, 35.0, 0.8),
            eg2_cutoff=2800.0,
        ),
    ),
    ("choir", _with(PAD, attack=0.5, vib=6.0)),
    ("bowedpad", _with(PAD, attack=0.7)),
    ("metallic", _with(PAD, attack=0.4)),
    ("halo", _with(PAD, attack=0.8, release=2.0)),
    (
        "sweep",
        _with(PAD, attack=0.3, cutoff=200.0, key_cutoff=4800.0, q=6.0, lfo_cutoff=2400.0, lfo_rate=0.25, lfo_delay=0.0),
    ),
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
