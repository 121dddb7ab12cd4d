"""Bank assembly (waves, regions, instruments) and levelling measured in the engine."""

from __future__ import annotations

import hashlib
import math

import numpy as np
from dlsynth.dls import constants as C
from dlsynth.dls import units as U
from dlsynth.dls.describe import note_name
from dlsynth.dls.model import (
    Articulation,
    Collection,
    Instrument,
    Loop,
    Region,
    Wave,
    WaveLink,
    WaveSample,
)

from .articulation import _PROGRAMS, _Art, _art_connections, _c
from .drums import _drum_table, _fade
from .generators import _Ctx, _grid, _keyframes, _render_looped, _rng
from .params import (
    ALIAS_FREE_SEMITONES,
    BANK_VERSION,
    DRUM_LEVEL_SECONDS,
    LEVEL_KEYS,
    LEVEL_RATE,
    LEVEL_SECONDS,
    LEVEL_TARGET_DBFS,
    LEVEL_VELOCITY,
    LOUDNESS_TARGET_DBFS,
    MAX_AUTO_ATTENUATION_DB,
    PEAK_DBFS,
    TOP_FREQUENCY,
)
from .programs import (
    DRUM_EXCLUSIVE_CLASSES,
    DRUM_KIT_NAME,
    GM_DRUM_NAMES,
    GM_PROGRAM_NAMES,
)
from .timbres import _T, _Timbre

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
        seg = x[loop.start : loop.end]
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
    return WaveSample(
        unity_note=ws.unity_note,
        fine_tune=ws.fine_tune,
        attenuation=U.db_to_gain(gain_db),
        options=ws.options,
        loops=list(ws.loops),
    )


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
        name = f"{timbre.name} {note_name(root)}"
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
            ctx = _Ctx(
                f0=k * sr / L if timbre.pitched else f0,
                sr=sr,
                length=L,
                fmax=fmax,
                times=_keyframes(attack),
                rng=rng,
                root=root,
            )
            parts = timbre.gen(ctx, **timbre.params)
            y, start = _render_looped(ctx, parts)
            pcm = _to_pcm16(y)
            loop = Loop(C.WLOOP_TYPE_FORWARD, start, L)
            loops = [loop]
        ws = _gain_sample(WaveSample(unity_note=root, loops=loops), _auto_gain_db(_loudness_db(pcm, sr, loop)))
        out.append((Wave.from_pcm16(pcm, sample_rate=sr, wave_sample=ws, name=name), lo, hi))
    return out


def _region(lo, hi, table_index, ws: WaveSample, arts=None, key_group=0) -> Region:
    return Region(
        key_low=lo,
        key_high=hi,
        vel_low=0,
        vel_high=127,
        options=0,
        key_group=key_group,
        layer=0,
        wave_link=WaveLink(table_index=table_index, channel=C.WAVELINK_CHANNEL_LEFT),
        wave_sample=ws,
        articulations=list(arts or []),
        level=2,
    )


def _drum_instrument(waves: list[Wave]) -> Instrument:
    regions = []
    for key, (builder, sr, pan, release) in sorted(_drum_table().items()):
        rng = _rng("drum", key)
        y = _fade(np.asarray(builder(sr, rng), dtype=float), sr)
        pcm = _to_pcm16(y)
        ws = _gain_sample(
            WaveSample(unity_note=key), _auto_gain_db(_loudness_db(pcm[: int(DRUM_LEVEL_SECONDS * sr)], sr, None))
        )
        waves.append(Wave.from_pcm16(pcm, sample_rate=sr, wave_sample=ws, name=GM_DRUM_NAMES[key]))
        art = _Art(attack=0.0, decay=0.0, sustain=100.0, release=max(release, len(pcm) / sr), mod=0.0)
        conns = [
            c
            for c in _art_connections(art)
            if c.destination not in (C.CONN_DST_VIB_FREQUENCY, C.CONN_DST_VIB_STARTDELAY)
        ]
        conns.append(_c(C.CONN_SRC_NONE, C.CONN_DST_PAN, U.percent_to_pan(pan)))
        regions.append(
            _region(
                key,
                key,
                len(waves) - 1,
                ws,
                arts=[Articulation(level=2, connections=conns)],
                key_group=DRUM_EXCLUSIVE_CLASSES.get(key, 0),
            )
        )
    return Instrument(
        name=DRUM_KIT_NAME,
        bank=Instrument.make_bank(0, 0, drum=True),
        program=0,
        regions=regions,
        info={"INAM": DRUM_KIT_NAME},
    )


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
        power = np.mean([10.0 ** (v / 10.0) for v in levels[i * n : (i + 1) * n]])
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
        regions = [
            _region(lo, hi, idx, _gain_sample(waves[idx].wave_sample, _gain_db(waves[idx].wave_sample)))
            for idx, lo, hi in made[tname]
        ]
        name = GM_PROGRAM_NAMES[program]
        instruments.append(
            Instrument(
                name=name,
                bank=Instrument.make_bank(0, 0),
                program=program,
                regions=regions,
                articulations=[Articulation(level=2, connections=_art_connections(art))],
                info={"INAM": name},
            )
        )
    instruments.append(_drum_instrument(waves))
    digest = hashlib.sha256(BANK_VERSION.encode()).digest()
    collection = Collection(
        instruments=instruments,
        waves=waves,
        version=(0x00010000, 0x00000000),
        dlid=digest[:16],
        info={
            "INAM": "dlsynth General MIDI bank",
            "ISFT": "dlsynth default_bank " + BANK_VERSION,
            "ICMT": "Every waveform synthesized by dlsynth's own generator; no recorded samples.",
        },
        level=2,
    )
    _level(instruments, collection)
    return collection
