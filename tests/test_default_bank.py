"""The built-in GM bank: contents, determinism, size, loops, tuning, articulation units, cache."""

from __future__ import annotations

import hashlib
import os
import threading

import numpy as np
import pytest

from dlsynth import dls
from dlsynth.dls import constants as C
from dlsynth.dls import describe
from dlsynth import gmbank as db
from dlsynth.gmbank import params
from dlsynth.dls import units as U
from dlsynth.dls.model import Instrument

MAX_BANK_BYTES = 10 * 1024 * 1024
SEAM_TOLERANCE = 0.02  # largest loop-seam mismatch, as a fraction of the wave's peak
PITCH_TOLERANCE_CENTS = 5.0
SUBHARMONIC_RATIO = 1.0  # no component below 0.7 f0 may outweigh the fundamental
PEAK_DBFS_TOLERANCE = 0.2
LOOP_FLOOR_DB = -40.0  # a loop's RMS relative to the wave's peak


@pytest.fixture(scope="module")
def bank():
    return db.build_default_bank()


@pytest.fixture(scope="module")
def bank_bytes(bank):
    return dls.write(bank)


def _melodic(bank):
    return {ins.program: ins for ins in bank.instruments if not ins.is_drum}


def _kit(bank):
    kits = [ins for ins in bank.instruments if ins.is_drum]
    assert len(kits) == 1
    return kits[0]


def _region_wave(bank, region):
    return bank.waves[region.wave_link.table_index]


def _conn_value(ins, destination, source=C.CONN_SRC_NONE, control=C.CONN_SRC_NONE):
    for art in ins.articulations:
        for c in art.connections:
            if c.destination == destination and c.source == source and c.control == control:
                return c.scale
    return None


# --- contents -------------------------------------------------------------------------------


def test_all_128_melodic_programs_with_gm_names(bank):
    melodic = _melodic(bank)
    assert sorted(melodic) == list(range(128))
    for program, ins in melodic.items():
        assert ins.bank == Instrument.make_bank(0, 0)
        assert ins.name == db.GM_PROGRAM_NAMES[program]
        assert ins.regions, ins.name
        assert ins.articulations and ins.articulations[0].level == 2


def test_melodic_regions_cover_every_key_once(bank):
    for ins in _melodic(bank).values():
        keys = np.zeros(128, dtype=int)
        for rgn in ins.regions:
            assert 0 <= rgn.key_low <= rgn.key_high <= 127
            keys[rgn.key_low : rgn.key_high + 1] += 1
            assert 0 <= rgn.wave_link.table_index < len(bank.waves)
        assert np.all(keys == 1), ins.name


def test_drum_kit_keys_35_to_81(bank):
    kit = _kit(bank)
    assert kit.bank == Instrument.make_bank(0, 0, drum=True)
    assert kit.program == 0
    assert kit.name == "Standard Kit"
    keys = sorted(r.key_low for r in kit.regions)
    assert keys == list(range(35, 82))
    for rgn in kit.regions:
        assert rgn.key_low == rgn.key_high
        assert _region_wave(bank, rgn).name == db.GM_DRUM_NAMES[rgn.key_low]


def test_drum_exclusive_classes(bank):
    groups = {r.key_low: r.key_group for r in _kit(bank).regions}
    expected = {42: 1, 44: 1, 46: 1, 71: 2, 72: 2, 73: 3, 74: 3, 78: 4, 79: 4, 80: 5, 81: 5}
    for key, group in groups.items():
        assert group == expected.get(key, 0), key


def test_drum_keys_have_distinct_one_shot_waves(bank):
    kit = _kit(bank)
    indices = [r.wave_link.table_index for r in kit.regions]
    assert len(set(indices)) == len(indices)
    digests = {hashlib.sha256(bank.waves[i].data.tobytes()).hexdigest() for i in indices}
    assert len(digests) == len(indices)
    for i in indices:
        w = bank.waves[i]
        assert not w.wave_sample.loops  # one-shot hits
        assert w.frames > 0.05 * w.sample_rate


def test_drums_are_panned_like_a_kit(bank):
    pans = {}
    for rgn in _kit(bank).regions:
        conns = rgn.articulations[0].connections
        pan = [c.scale for c in conns if c.destination == C.CONN_DST_PAN and c.source == C.CONN_SRC_NONE]
        assert len(pan) == 1
        pans[rgn.key_low] = U.pan_to_percent(pan[0])
    assert all(-50.0 <= p <= 50.0 for p in pans.values())
    assert pans[36] == 0.0 and abs(pans[38]) <= 10.0  # kick and snare centred
    assert pans[42] == pans[44] == pans[46]  # one hi-hat
    toms = [pans[k] for k in (41, 43, 45, 47, 48, 50)]
    assert toms == sorted(toms, reverse=True) or toms == sorted(toms)  # toms sweep across
    assert len({round(p) for p in pans.values()}) >= 8


# --- the file -------------------------------------------------------------------------------


def test_deterministic_bytes(bank_bytes):
    again = dls.write(db.build_default_bank())
    assert hashlib.sha256(again).hexdigest() == hashlib.sha256(bank_bytes).hexdigest()


def test_size_under_limit(bank_bytes):
    assert len(bank_bytes) < MAX_BANK_BYTES


def test_round_trip(bank, bank_bytes, tmp_path):
    p = tmp_path / "gm.dls"
    p.write_bytes(bank_bytes)
    back = dls.read(p)
    assert back == bank
    assert not back.warnings


# --- waves ------------------------------------------------------------------------------------


def test_wave_formats_and_levels(bank):
    target = 32767 * 10 ** (params.PEAK_DBFS / 20)
    for w in bank.waves:
        assert w.channels == 1 and w.bits_per_sample == 16
        assert w.sample_rate in (22050, 32000)
        peak = np.max(np.abs(w.data.astype(np.int32)))
        assert abs(20 * np.log10(peak / target)) < PEAK_DBFS_TOLERANCE, w.name
        assert U.gain_to_db(w.wave_sample.attenuation) <= 0.0  # lAttenuation is a gain: waves are only turned down


def test_loops_inside_waves_and_seamless(bank):
    looped = 0
    for w in bank.waves:
        x = w.data[:, 0].astype(np.float64)
        peak = np.max(np.abs(x))
        for loop in w.wave_sample.loops:
            looped += 1
            assert loop.type == C.WLOOP_TYPE_FORWARD
            assert loop.length > 0 and 0 <= loop.start and loop.end <= w.frames, w.name
            # Playing on from the loop's last sample must look like playing into its first:
            # the sample before the loop start matches the last sample of the loop...
            if loop.start > 0:
                assert abs(x[loop.start - 1] - x[loop.end - 1]) / peak <= SEAM_TOLERANCE, w.name
            # ...and whatever follows the loop end continues the loop from its start.
            if loop.end < w.frames:
                assert abs(x[loop.end] - x[loop.start]) / peak <= SEAM_TOLERANCE, w.name
            # Loops start at an upward zero crossing.
            assert x[loop.start] >= 0 and (loop.start == 0 or x[loop.start - 1] <= 0), w.name
            # The jump across the seam is no bigger than the loop's own largest step.
            seg = x[loop.start : loop.end]
            steps = np.abs(np.diff(seg))
            assert abs(seg[0] - seg[-1]) <= steps.max() + SEAM_TOLERANCE * peak, w.name
    assert looped >= 300


def test_loops_are_not_silent(bank):
    # The sustained part must be well above the 16-bit floor, else a held note turns to hiss.
    for w in bank.waves:
        for loop in w.wave_sample.loops:
            seg = w.data[loop.start : loop.end, 0].astype(np.float64)
            peak = np.max(np.abs(w.data.astype(np.float64)))
            level_db = 20 * np.log10(np.sqrt(np.mean(seg**2)) / peak)
            assert level_db > LOOP_FLOOR_DB, f"{w.name}: loop at {level_db:.1f} dB"


def _measured_pitch(loop_samples: np.ndarray, sr: int, expected_hz: float) -> tuple[float, float, float]:
    """Strongest spectral peak within half an octave of expected_hz, from the loop repeated.

    Returns (frequency, its magnitude, the largest magnitude below 0.7 * expected_hz)."""
    # The loop repeated: a periodic signal whose partials fall on exact FFT bins, so a Hann
    # window and a parabola through the peak's log magnitudes locate them closely.
    reps = max(4, int(np.ceil(2**15 / len(loop_samples))))
    x = np.tile(loop_samples, reps)
    x = x - x.mean()
    n = len(x)
    X = np.abs(np.fft.rfft(x * np.hanning(n)))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    band = np.flatnonzero((f > expected_hz / np.sqrt(2)) & (f < expected_hz * np.sqrt(2)))
    i = band[np.argmax(X[band])]
    a, b, c = np.log(X[i - 1 : i + 2] + 1e-12)
    shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    below = np.flatnonzero((f > 20.0) & (f < 0.7 * expected_hz))
    sub = float(X[below].max()) if len(below) else 0.0
    return (i + shift) * (f[1] - f[0]), float(X[i]), sub


def test_looped_melodic_waves_are_in_tune(bank):
    checked = 0
    for w in bank.waves:
        if not db.wave_is_pitched(w) or not w.wave_sample.loops:
            continue
        loop = w.wave_sample.loops[0]
        seg = w.data[loop.start : loop.end, 0].astype(np.float64)
        ws = w.wave_sample
        expected = U.midi_note_to_hz(ws.unity_note - ws.fine_tune / 100.0)
        got, mag, sub = _measured_pitch(seg, w.sample_rate, expected)
        cents = 1200 * np.log2(got / expected)
        assert abs(cents) <= PITCH_TOLERANCE_CENTS, f"{w.name}: {cents:+.2f} cents"
        assert sub <= SUBHARMONIC_RATIO * mag, f"{w.name}: energy below the fundamental"
        checked += 1
    assert checked >= 300


def test_melodic_timbres_are_multisampled(bank):
    for ins in _melodic(bank).values():
        roots = [_region_wave(bank, r).wave_sample.unity_note for r in ins.regions]
        assert roots == sorted(roots)
        if len(roots) > 1:
            assert max(np.diff(roots)) <= 24, ins.name  # a sample at least every two octaves


def _highest_partial(w) -> float:
    """Highest frequency holding more than -50 dB of the wave's spectral peak."""
    x = w.data[:, 0].astype(np.float64)
    if w.wave_sample.loops:
        lp = w.wave_sample.loops[0]
        x = np.tile(x[lp.start : lp.end], max(1, 8192 // lp.length + 1))
    X = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    f = np.fft.rfftfreq(len(x), 1.0 / w.sample_rate)
    return float(f[np.flatnonzero(X > X.max() * 10 ** (-50 / 20))[-1]])


def test_samples_do_not_alias_when_pitched_up(bank):
    # Within its region, up to ALIAS_FREE_SEMITONES above its root, no sample's loop holds a
    # partial that would pass 20 kHz (so a 44.1 kHz render stays alias-free).
    seen = {}
    for ins in _melodic(bank).values():
        for r in ins.regions:
            w = _region_wave(bank, r)
            if not db.wave_is_pitched(w):
                continue
            top_key = min(r.key_high, w.wave_sample.unity_note + params.ALIAS_FREE_SEMITONES)
            ratio = 2 ** ((top_key - w.wave_sample.unity_note) / 12)
            if w.name not in seen:
                seen[w.name] = _highest_partial(w)
            assert seen[w.name] * ratio <= 20000.0, (ins.name, w.name, seen[w.name])


# --- articulation ----------------------------------------------------------------------------


def _seconds(ins, dst):
    v = _conn_value(ins, dst)
    assert v is not None, (ins.name, C.destination_name(dst))
    return U.timecents_to_seconds(v)


def test_articulation_units_sane(bank):
    m = _melodic(bank)
    piano = m[0]
    assert _seconds(piano, C.CONN_DST_EG1_DECAYTIME) > 0.5
    assert _seconds(piano, C.CONN_DST_EG1_ATTACKTIME) < 0.01
    assert U.sustain_to_percent(_conn_value(piano, C.CONN_DST_EG1_SUSTAINLEVEL)) < 5.0
    # Piano decay shortens up the keyboard.
    assert _conn_value(piano, C.CONN_DST_EG1_DECAYTIME, source=C.CONN_SRC_KEYNUMBER) < 0
    for program in (48, 49, 40, 42):  # strings
        assert _seconds(m[program], C.CONN_DST_EG1_ATTACKTIME) > 0.05, m[program].name
        assert U.sustain_to_percent(_conn_value(m[program], C.CONN_DST_EG1_SUSTAINLEVEL)) == 100.0
    for program in (88, 89, 91, 94):  # pads: slow attack, long release
        assert _seconds(m[program], C.CONN_DST_EG1_ATTACKTIME) > 0.2
        assert _seconds(m[program], C.CONN_DST_EG1_RELEASETIME) > 1.0
    for program in (16, 17, 18):  # organs: instant, full sustain, short release
        assert _seconds(m[program], C.CONN_DST_EG1_ATTACKTIME) < 0.01
        assert U.sustain_to_percent(_conn_value(m[program], C.CONN_DST_EG1_SUSTAINLEVEL)) == 100.0
        assert _seconds(m[program], C.CONN_DST_EG1_RELEASETIME) < 0.2
    for program in (24, 25, 33):  # plucked: fast attack, decay to nothing
        assert _seconds(m[program], C.CONN_DST_EG1_ATTACKTIME) < 0.01
        assert _seconds(m[program], C.CONN_DST_EG1_DECAYTIME) > 1.0
        assert U.sustain_to_percent(_conn_value(m[program], C.CONN_DST_EG1_SUSTAINLEVEL)) == 0.0
    trumpet = m[56]
    assert 0.01 < _seconds(trumpet, C.CONN_DST_EG1_ATTACKTIME) < 0.1
    assert _conn_value(trumpet, C.CONN_DST_FILTER_CUTOFF, source=C.CONN_SRC_EG2) > 0
    synth_brass = m[62]
    assert 100.0 < U.abs_pitch_to_hz(_conn_value(synth_brass, C.CONN_DST_FILTER_CUTOFF)) < 2000.0
    assert U.gain_to_db(_conn_value(synth_brass, C.CONN_DST_FILTER_Q)) > 0.0


def test_mod_wheel_vibrato_on_melodic_instruments(bank):
    for program, ins in _melodic(bank).items():
        rate = _conn_value(ins, C.CONN_DST_VIB_FREQUENCY)
        assert rate is not None and 3.0 < U.abs_pitch_to_hz(rate) < 8.0, ins.name
        depth = _conn_value(ins, C.CONN_DST_PITCH, source=C.CONN_SRC_VIBRATO, control=C.CONN_SRC_CC1)
        if depth is not None:
            assert 10.0 <= U.rel_pitch_to_cents(depth) <= 100.0
    m = _melodic(bank)
    for program in (0, 40, 56, 73, 80):
        assert _conn_value(m[program], C.CONN_DST_PITCH, source=C.CONN_SRC_VIBRATO, control=C.CONN_SRC_CC1)
    assert U.rel_pitch_to_cents(_conn_value(m[40], C.CONN_DST_PITCH, source=C.CONN_SRC_VIBRATO)) > 5.0


def test_every_connection_is_well_formed(bank):
    for ins in bank.instruments:
        arts = list(ins.articulations) + [a for r in ins.regions for a in r.articulations]
        assert arts, ins.name
        for art in arts:
            assert art.level == 2
            for c in art.connections:
                assert c.destination in C.DESTINATION_NAMES, (ins.name, c)
                assert -(2**31) <= c.scale < 2**31
                if c.source == C.CONN_SRC_NONE and c.destination in (
                    C.CONN_DST_EG1_ATTACKTIME,
                    C.CONN_DST_EG1_DECAYTIME,
                    C.CONN_DST_EG1_RELEASETIME,
                ):
                    assert U.timecents_to_seconds(c.scale) < 40.0, (ins.name, c)
                if c.destination == C.CONN_DST_EG1_SUSTAINLEVEL:
                    assert 0.0 <= U.sustain_to_percent(c.scale) <= 100.0


# --- units -------------------------------------------------------------------------------------


def test_units_round_trip_and_clamp():
    assert U.seconds_to_timecents(0.0) == U.TIME_ZERO == -(2**31)
    assert U.timecents_to_seconds(0x80000000) == 0.0
    assert U.timecents_to_seconds(U.TIME_ZERO) == 0.0
    assert U.timecents_to_seconds(0) == 1.0
    for s in (0.001, 0.05, 1.0, 7.5, 30.0):
        assert U.to_seconds(U.from_seconds(s)) == pytest.approx(s, rel=1e-6)
    assert U.hz_to_abs_pitch(440.0) == 6900 * 65536
    assert U.abs_pitch_to_hz(U.hz_to_abs_pitch(5.0)) == pytest.approx(5.0, rel=1e-6)
    assert U.gain_to_db(U.db_to_gain(-96.0)) == pytest.approx(-96.0)
    assert U.db_to_gain(-6.0) == -60 * 65536
    assert U.percent_to_sustain(100.0) == 1000 * 65536
    assert U.sustain_to_percent(500 * 65536) == 50.0
    assert U.percent_to_pan(-50.0) == -500 * 65536
    assert U.seconds_to_timecents(1e300) == U.INT32_MAX
    assert U.db_to_gain(-1e9) == U.INT32_MIN
    assert U.clamp_int32(float("inf")) == U.INT32_MAX
    assert describe.connection_value(C.CONN_SRC_NONE, C.CONN_DST_EG1_DECAYTIME, U.from_seconds(2.0)) == (2.0, "s")
    assert describe.connection_value(C.CONN_SRC_NONE, C.CONN_DST_FILTER_CUTOFF, 0x7FFFFFFF) == (None, "off")
    freq = describe.connection_value(C.CONN_SRC_NONE, C.CONN_DST_LFO_FREQUENCY, U.hz_to_abs_pitch(5.0))
    assert freq[1] == "Hz" and freq[0] == pytest.approx(5.0, rel=1e-9)


# --- cache ---------------------------------------------------------------------------------------


@pytest.fixture
def quick_build(monkeypatch, bank):
    """The cache tests check the caching, not the synthesis: reuse the module's bank."""
    from dlsynth.gmbank import cache

    monkeypatch.setattr(cache, "build_default_bank", lambda: bank)


def test_cache_builds_once_and_loads(monkeypatch, tmp_path, bank_bytes, quick_build):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    p = db.default_bank_path()
    assert p.parent == tmp_path / "dlsynth"
    assert p.name.startswith("default-bank-") and p.suffix == ".dls"
    assert p.read_bytes() == bank_bytes
    inode = p.stat().st_ino
    assert db.default_bank_path() == p and p.stat().st_ino == inode  # found, not written again
    assert not [q for q in p.parent.iterdir() if q.name.endswith(".tmp")]
    loaded = db.load_default_bank()
    assert len(loaded.instruments) == 129 and loaded.find_instrument(0, 0).name == "Acoustic Grand Piano"


def test_the_first_use_says_it_builds_the_bank_and_later_ones_do_not(monkeypatch, tmp_path, quick_build):
    from dlsynth.apps.render import load_banks

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    said: list[str] = []
    assert len(load_banks([], said.append)[0].instruments) == 129
    assert said == [f"building the built-in General MIDI bank (once: it is kept in {tmp_path / 'dlsynth'})"]
    load_banks([], said.append)
    assert len(said) == 1


def test_a_new_cache_file_removes_the_least_recently_used_other_versions(monkeypatch, tmp_path, quick_build):
    from dlsynth.gmbank import cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = tmp_path / "dlsynth"
    folder.mkdir()
    older = [folder / f"default-bank-{i:012x}.dls" for i in range(cache.KEEP_VERSIONS + 1)]
    for age, q in enumerate(older):  # older[0] used most recently
        q.write_bytes(b"another version's bank")
        os.utime(q, (1e9 - age * 3600, 1e9 - age * 3600))
    (folder / "notes.txt").write_text("not ours")
    p = db.default_bank_path()
    kept = older[: cache.KEEP_VERSIONS - 1]
    assert sorted(q.name for q in folder.iterdir()) == sorted([p.name, "notes.txt", *(q.name for q in kept)])


def test_using_a_cached_bank_marks_it_recently_used(monkeypatch, tmp_path, quick_build):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    p = db.default_bank_path()
    os.utime(p, (1e9, 1e9))
    assert db.default_bank_path() == p and p.stat().st_mtime > 1e9 + 3600


def test_cache_falls_back_when_unwritable(monkeypatch, tmp_path, quick_build):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "cache"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    p = db.default_bank_path()
    assert str(p).startswith(str(tmp_path / "tmp"))
    assert p.stat().st_size > 0


def test_cache_concurrent_first_use(monkeypatch, tmp_path, quick_build):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    results, errors = [], []

    def use():
        try:
            results.append(db.default_bank_path())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=use) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    back = dls.read(results[0])
    assert len(back.instruments) == 129
    assert sorted(os.listdir(tmp_path / "dlsynth")) == [results[0].name]
