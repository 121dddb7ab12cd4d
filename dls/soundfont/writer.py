"""SoundFont 2.04 files (``RIFF sfbk``) from the DLS collection model.

    >>> from dlsynth.dls.soundfont.writer import write_sf2
    >>> result = write_sf2(dls.read("gm.dls"), "gm.sf2")   # atomically; result.warnings

What a DLS instrument becomes, so that an SF2 player plays it as dlsynth plays the DLS:

- one preset per instrument, with one zone naming one instrument of the same name. Its
  bank is the number FluidSynth selects by: bank select MSB when LSB is 0 (FluidSynth's
  default "gs" bank-select mode reads only the MSB), ``MSB x 128 + LSB`` otherwise (its
  "mma" mode; the SF2 reader reads such numbers back as MSB and LSB); drum instruments
  are bank 128. Two instruments landing on the same bank and program keep the first.
- each region is an instrument zone: keyRange and velRange, sampleID, overridingRootKey
  where the region's unity note is not its sample's original pitch, sampleModes from the
  first loop (forward -> 1, release -> 3 (loop until the key is released, then play on;
  loop type 2 is Windows 2000's release loop), none -> 0), the loop as start/endloop
  address offsets from the sample header's loop, exclusiveClass from the key group, and
  the articulation (the region's, else the instrument's, merged onto the defaults the
  engine merges it onto, `synth.download.merge_articulation`) as generators and
  modulators (`dls.soundfont.inversion`, which also takes the ``wsmp``'s fine tune beyond
  the sample's pitch correction and its lAttenuation). Generators and modulators that all
  zones of an instrument share go into its global zone.
- each wave is a sample in ``smpl`` (16-bit; 8-bit waves widened, ``(x - 128) << 8``),
  followed by 46 zero sample points (SF2 2.04 section 6.1); the header's original pitch,
  pitch correction and loop are the wave's own ``wsmp`` (else those of the first region
  playing it); a sample no zone loops has its loop at its start, of length 0, as SF2
  banks mark "no loop". A two-channel wave is split into a left and a right sample linked
  to each other (sfSampleType 4 and 2), played by two zones panned hard left and right; a
  DLS2 stereo pair of mono waves (multichannel wave links LEFT and RIGHT of one phase
  group, as the SF2 reader makes of a stereo pair) is linked the same way. Waves no
  region plays are not written.
- INFO: ifil 2.04, isng EMU8000, INAM (the collection's, else the name given), ICRD,
  IENG, IPRD, ICOP, ICMT carried over, ISFT ending in ``:dlsynth``; other DLS INFO keys
  (which SF2 has no chunk for) are appended to ICMT as ``KEY: value`` lines.

What SF2 cannot express is said in ``warnings``, one line per instrument. The file is
written in the order SF2 2.04 gives (INFO, sdta, pdta with phdr, pbag, pmod, pgen, inst,
ibag, imod, igen, shdr), each pdta list closed by its terminal record (EOP, EOI, EOS, and
zero records for bags, modulators and generators); within a zone keyRange comes first,
velRange next, and the instrument or sampleID generator last.

Sample data is kept as views of the collection's arrays and written piece by piece, so a
large bank is not copied whole in memory; `SF2File.save` writes through
`dls.atomicfile.atomic_write`: a failure or an interrupt leaves no partial file.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field

import numpy as np

from .. import constants as C
from ..atomicfile import atomic_write
from ..errors import DLSError
from ..model import Collection, Instrument, WaveSample
from . import generators as G
from . import hydra as H
from . import modulators as M
from .articulation import EMU_ATTENUATION_FACTOR
from .build import DRUM_BANK
from .inversion import invert
from .layering import factor
from .samples import TYPE_LEFT, TYPE_MONO, TYPE_RIGHT

__all__ = ["SF2File", "convert", "write_sf2", "sf2_bank"]

PADDING_POINTS = 46  # zero sample points after each sample (SF2 2.04 section 6.1)
SF2_VERSION = (2, 4)
SOUND_ENGINE = "EMU8000"
SOFTWARE = "dlsynth"
MAX_RECORDS = 0xFFFF  # bag, generator and modulator indices are 16-bit (WORD)
# DLS INFO keys SF2 has a chunk for (SF2 2.04 section 5); the others go into ICMT.
INFO_CARRIED = ("ICRD", "IENG", "IPRD", "ICOP")
INFO_MAX = 256  # bytes of an INFO string, its terminating zero included (ICMT: 65536)
ICMT_MAX = 65536

_LOOP_MODES = {C.WLOOP_TYPE_FORWARD: 1, C.WLOOP_TYPE_RELEASE: 3, C.WLOOP_TYPE_RELEASE_WIN2000: 3}
_FULL = (0, 127)
_DEFAULT_AMOUNTS = {(m.src, m.dest, m.amount_src, m.transform): m.amount for m in M.DEFAULT_MODULATORS}
# SF2 2.04 section 8.4.2: velocity to filter cutoff, -2400 cents (silent in the reader and in
# FluidSynth, not in every player: a zone without its cancelling modulator would have it)
_DEFAULT_AMOUNTS[(*M.SILENCED_IDENTITY, 0)] = -2400


def sf2_bank(instrument: Instrument) -> tuple[int, str | None]:
    """The SF2 bank number of an instrument, and a remark when FluidSynth's default bank
    select cannot reach it as the DLS bank select does."""
    if instrument.is_drum:
        if instrument.bank_msb or instrument.bank_lsb:
            return DRUM_BANK, (
                f"drum kit at bank MSB {instrument.bank_msb} LSB {instrument.bank_lsb} written in SF2's drum bank 128"
            )
        return DRUM_BANK, None
    msb, lsb = instrument.bank_msb, instrument.bank_lsb
    if lsb == 0:
        return msb, None
    bank = msb * 128 + lsb
    return bank, (
        f"bank MSB {msb} LSB {lsb} written as SF2 bank {bank} (MSB x 128 + LSB: FluidSynth's "
        '"mma" bank-select mode selects it)'
    )


@dataclass
class _Sample:
    name: str
    data: np.ndarray  # int16, one channel
    rate: int
    pitch: int
    correction: int
    loop: tuple[int, int] | None = None  # (start, end) in the sample's frames
    type: int = TYPE_MONO
    link: int = 0
    wave: int = -1  # the wave it is (a channel of)
    boost: float = 0.0  # initialAttenuation units the data was scaled up by (`_amplify`)


@dataclass
class _Zone:
    gens: dict[int, int]
    mods: dict[tuple[int, int, int, int], int]
    key: tuple[int, int] = _FULL
    vel: tuple[int, int] = _FULL
    sample: int | None = None  # None: the global zone
    attenuation: float = 0.0  # initialAttenuation asked for (may be < 0) until `_attenuation`


@dataclass
class _PresetZone:
    instrument: int
    key: tuple[int, int] = _FULL
    vel: tuple[int, int] = _FULL
    gens: dict[int, int] = field(default_factory=dict)  # offsets added to the instrument's


@dataclass
class _Preset:
    name: str
    bank: int
    program: int
    zones: list[_PresetZone]


@dataclass
class _Instrument:
    name: str
    zones: list[_Zone]


@dataclass
class SF2File:
    """A SoundFont 2 file ready to be written: its pieces, what it holds, what was lost."""

    pieces: list = field(repr=False)
    size: int
    presets: int
    zones: int
    samples: int
    warnings: list[str]

    def to_bytes(self) -> bytes:
        return b"".join(p if isinstance(p, bytes) else memoryview(p).cast("B") for p in self.pieces)

    def save(self, path) -> None:
        """Write the file atomically (a failure or interrupt leaves nothing new at path)."""

        def write(f) -> None:
            for p in self.pieces:
                view = memoryview(p).cast("B")
                done = 0
                while done < len(view):
                    done += f.write(view[done:])

        try:
            atomic_write(path, write)
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise DLSError(f"cannot write SF2 file {os.fspath(path)!r}: {why}") from exc


def write_sf2(collection: Collection, path=None, *, name: str | None = None) -> SF2File:
    """Convert `collection` (see `convert`) and, with a path, store the file atomically."""
    sf2 = convert(collection, name=name)
    if path is not None:
        sf2.save(path)
    return sf2


def convert(collection: Collection, *, name: str | None = None) -> SF2File:
    """The SoundFont 2.04 file of a DLS collection (see the module docstring). `name` is
    the bank's INAM when the collection has none."""
    return _Converter(collection).run(name)


class _Converter:
    """One conversion. What a region sounds like is the engine's merge of its articulation
    onto the defaults (DLS2's, or SF2's for a bank converted from SF2): that rule lives in
    `synth.download`, once, and the writer asks it rather than restating it, at the price of
    this one import from the synth package."""

    def __init__(self, col: Collection):
        from dlsynth.synth.download import instrument_defaults, merge_articulation, sf2_origin

        self.col = col
        self.merge = merge_articulation
        self.defaults_of = instrument_defaults
        self.sf2_defaults = sf2_origin(col.info)
        self.samples: list[_Sample] = []
        self.sample_of: dict[tuple[int, int], int] = {}  # (wave index, channel) -> sample
        self.pairs: list[tuple[int, int]] = []  # (left sample, right sample)
        self.warnings: list[str] = []
        self.instruments: list[_Instrument] = []
        self.instrument_of: dict[tuple, int] = {}
        self.plan: dict[int, tuple[int, int, tuple[int, int] | None]] = {}  # wave -> header pitch, correction, loop
        self.inverted: dict[tuple, object] = {}

    # ------------------------------------------------------------------------- presets
    def run(self, name: str | None) -> SF2File:
        taken: dict[tuple[int, int], str] = {}
        lines: list[str] = []
        self._plan_headers()
        made = []  # (label, name, bank, program, zones, notes)
        for ins in self.col.instruments:
            bank, remark = sf2_bank(ins)
            label = (
                f"instrument {'drum ' if ins.is_drum else ''}MSB {ins.bank_msb} LSB {ins.bank_lsb} "
                f"program {ins.program} {ins.name!r}"
            )
            notes: set[str] = set()
            if remark:
                notes.add(remark)
            key = (bank, ins.program & 0x7F)
            if key in taken:
                lines.append(f"{label}: left out: SF2 bank {bank} program {key[1]} is already {taken[key]!r}")
                continue
            taken[key] = ins.name
            name_ = ins.name or f"bank {bank} program {key[1]}"
            made.append((label, name_, bank, key[1], self._zones(ins, notes), notes))
        self._amplify([z for m in made for z in m[4]])
        presets: list[_Preset] = []
        regions = 0
        for label, name_, bank, program, zones, notes in made:
            _attenuation(zones, notes)
            regions += len(zones)
            grid = factor(zones)
            if grid is None:
                pzones = [_PresetZone(self._instrument(name_, zones))]
            else:
                rows, columns = grid
                inst = self._instrument(name_, columns)
                pzones = [_PresetZone(inst, r.key, r.vel, r.offsets) for r in rows]
            presets.append(_Preset(name_, bank, program, pzones))
            if notes:
                lines.append(f"{label}: " + "; ".join(sorted(notes)))
        self._link_pairs()
        info = self._info(name)
        pieces, size = _layout(info, self.samples, presets, self.instruments)
        return SF2File(
            pieces=pieces,
            size=size,
            presets=len(presets),
            zones=regions,
            samples=len(self.samples),
            warnings=self.warnings + lines,
        )

    def _amplify(self, zones: list[_Zone]) -> None:
        """SF2 cannot play a zone louder than its sample (initialAttenuation >= 0): where
        zones ask for more, the sample's data is scaled up by what the loudest of them asks,
        as far as its peak allows, and every zone playing it attenuated by as much more."""
        need: dict[int, float] = {}  # wave -> largest boost asked for, in generator units
        for z in zones:
            if z.attenuation < 0:
                w = self.samples[z.sample].wave
                need[w] = max(need.get(w, 0.0), -z.attenuation)
        channels: dict[int, list[int]] = {}
        for (ti, _ch), sid in self.sample_of.items():
            channels.setdefault(ti, []).append(sid)
        for w, gen_units in need.items():
            sids = channels[w]
            peak = max(int(np.abs(self.samples[sid].data.astype(np.int32)).max(initial=0)) for sid in sids)
            if peak == 0:
                continue
            cb = min(gen_units * EMU_ATTENUATION_FACTOR, 200.0 * math.log10(32767.0 / peak))
            cb = math.floor(cb * 10.0) / 10.0  # to 0.01 dB, never past the peak
            if cb <= 0:
                continue
            factor_ = 10.0 ** (cb / 200.0)
            for sid in sids:
                s = self.samples[sid]
                s.data = np.clip(np.rint(s.data * factor_), -32768, 32767).astype("<i2")
                s.boost = cb / EMU_ATTENUATION_FACTOR
        for z in zones:
            z.attenuation += self.samples[z.sample].boost

    def _instrument(self, name: str, zones: list[_Zone]) -> int:
        """The SF2 instrument of these zones: one already made of the same zones is shared."""
        key = tuple(
            (tuple(sorted(z.gens.items())), tuple(sorted(z.mods.items())), z.key, z.vel, z.sample) for z in zones
        )
        index = self.instrument_of.get(key)
        if index is None:
            index = self.instrument_of[key] = len(self.instruments)
            self.instruments.append(_Instrument(name, _with_global_zone(zones)))
        return index

    # --------------------------------------------------------------------------- zones
    def _zones(self, ins: Instrument, notes: set[str]) -> list[_Zone]:
        defaults = self.defaults_of(ins, self.sf2_defaults)
        zones: list[_Zone] = []
        stereo_links: dict[tuple[int, int], int] = {}  # (phase group, channel) -> sample
        waves = self.col.waves
        for region in ins.regions:
            ti = region.wave_link.table_index
            if not 0 <= ti < len(waves):
                notes.add(f"a region whose wave {ti} is not in the pool left out")
                continue
            wave = waves[ti]
            if not wave.supported or wave.frames < 1:
                notes.add(f"a region playing wave {ti}, which cannot be played, left out")
                continue
            if wave.channels > 2:
                notes.add(f"a wave of {wave.channels} channels: its first two written")
            ws = region.wave_sample or wave.wave_sample or WaveSample()
            arts = region.articulations if region.articulations else ins.articulations
            merged = self.merge(arts, None, "", defaults)
            loop, mode = self._loop(ws, wave.frames, notes)
            if wave.channels >= 2:
                sides = [(0, -500), (1, 500)]
            else:
                wl = region.wave_link
                side = None
                if wl.multichannel and wl.channel == C.WAVELINK_CHANNEL_LEFT:
                    side = -500
                elif wl.multichannel and wl.channel == C.WAVELINK_CHANNEL_RIGHT:
                    side = 500
                sides = [(0, side)]
            made = []
            for channel, pan in sides:
                sid = self._sample(ti, channel)
                made.append(sid)
                hdr = self.samples[sid]
                art = self._invert(merged, ws.fine_tune - hdr.correction, ws.attenuation / 65536.0)
                notes.update(art.notes)
                gens = dict(art.generators)
                if pan is not None:
                    # a mono half's own pan to its side (as the SF2 reader keeps it) is no news
                    if G.PAN in gens and gens[G.PAN] != 0 and not (wave.channels < 2 and gens[G.PAN] == pan):
                        notes.add("a pan on a stereo wave (each side is panned to its own side)")
                    gens[G.PAN] = pan
                if (ws.unity_note & 0x7F) != hdr.pitch:
                    gens[G.OVERRIDING_ROOT_KEY] = ws.unity_note & 0x7F
                if region.key_group:
                    gens[G.EXCLUSIVE_CLASS] = min(int(region.key_group), 127)
                if mode:
                    gens[G.SAMPLE_MODES] = mode
                    _loop_offsets(gens, loop, hdr.loop)
                gens.pop(G.INITIAL_ATTENUATION, None)  # set by `_attenuation`
                zones.append(
                    _Zone(
                        gens,
                        dict(art.modulators),
                        (region.key_low & 0x7F, region.key_high & 0x7F),
                        (region.vel_low & 0x7F, region.vel_high & 0x7F),
                        sid,
                        art.attenuation,
                    )
                )
            if len(made) == 2:
                self.pairs.append((made[0], made[1]))
            elif region.wave_link.multichannel and sides[0][1] is not None:
                key = (region.wave_link.phase_group, 0 if sides[0][1] < 0 else 1)
                stereo_links.setdefault(key, made[0])
        for (group, channel), left in stereo_links.items():
            right = stereo_links.get((group, 1))
            if channel == 0 and right is not None and right != left:
                self.pairs.append((left, right))
        if not zones:
            notes.add("no region that can be written: the preset is silent")
        return zones

    def _invert(self, merged, pitch: float, gain: float):
        """`invert`, once per distinct articulation (regions share them)."""
        key = (tuple(merged), pitch, gain)
        art = self.inverted.get(key)
        if art is None:
            art = self.inverted[key] = invert(merged, extra_pitch_cents=pitch, extra_gain_cb=gain)
        return art

    def _loop(self, ws: WaveSample, frames: int, notes: set[str]) -> tuple[tuple[int, int] | None, int]:
        """The region's loop as (start, end) frames of the wave and its sampleModes."""
        if not ws.loops:
            return None, 0
        if len(ws.loops) > 1:
            notes.add(f"{len(ws.loops)} loops in a wsmp: the first written (SF2 has one)")
        lp = ws.loops[0]
        mode = _LOOP_MODES.get(lp.type)
        if mode is None:
            notes.add(f"loop type {lp.type} written as a forward loop")
            mode = 1
        start, end = max(0, int(lp.start)), min(frames, int(lp.start) + int(lp.length))
        if end - start < 1:
            notes.add("a loop outside its wave written as no loop")
            return None, 0
        return (start, end), mode

    def _plan_headers(self) -> None:
        """Each played wave's header pitch, correction and loop: those most of its regions
        play with (the wave's own ``wsmp`` breaking ties), so that few zones override them."""
        votes: dict[int, tuple[dict, dict]] = {}
        waves = self.col.waves
        for ins in self.col.instruments:
            for region in ins.regions:
                ti = region.wave_link.table_index
                if not 0 <= ti < len(waves) or not waves[ti].supported or waves[ti].frames < 1:
                    continue
                wave = waves[ti]
                ws = region.wave_sample or wave.wave_sample or WaveSample()
                tune, loops = votes.setdefault(ti, ({}, {}))
                key = (int(ws.unity_note) & 0x7F, max(-128, min(127, int(ws.fine_tune))))
                tune[key] = tune.get(key, 0) + 1
                loop = self._loop(ws, wave.frames, set())[0]
                if loop is not None:
                    loops[loop] = loops.get(loop, 0) + 1
        for ti, (tune, loops) in votes.items():
            own = self.col.waves[ti].wave_sample
            if own is not None:
                key = (int(own.unity_note) & 0x7F, max(-128, min(127, int(own.fine_tune))))
                tune[key] = tune.get(key, 0) + 0.5
                own_loop = self._loop(own, self.col.waves[ti].frames, set())[0]
                if own_loop is not None:
                    loops[own_loop] = loops.get(own_loop, 0) + 0.5
            pitch, correction = max(tune, key=tune.get)
            self.plan[ti] = (pitch, correction, max(loops, key=loops.get) if loops else None)

    def _sample(self, ti: int, channel: int) -> int:
        """The SF2 sample of one channel of a wave, made on first use."""
        sid = self.sample_of.get((ti, channel))
        if sid is not None:
            return sid
        wave = self.col.waves[ti]
        pitch, correction, loop = self.plan[ti]
        data = wave.data[:, channel]
        if wave.bits_per_sample == 8 or data.dtype == np.uint8:
            data = ((data.astype(np.int16) - 128) << 8).astype("<i2")
        else:
            data = np.ascontiguousarray(data, dtype="<i2")
        base = wave.name or f"wave {ti}"
        if wave.channels >= 2:
            base = f"{base[:18]} {'LR'[channel]}"
        sid = len(self.samples)
        self.samples.append(_Sample(base, data, int(wave.sample_rate), pitch, correction, loop, wave=ti))
        self.sample_of[(ti, channel)] = sid
        return sid

    def _link_pairs(self) -> None:
        linked: set[int] = set()
        for left, right in self.pairs:
            if left in linked or right in linked:
                continue
            a, b = self.samples[left], self.samples[right]
            a.type, a.link = TYPE_LEFT, right
            b.type, b.link = TYPE_RIGHT, left
            linked.update((left, right))

    # ---------------------------------------------------------------------------- INFO
    def _info(self, name: str | None) -> list[tuple[bytes, bytes]]:
        info = dict(self.col.info)
        inam = info.pop("INAM", "") or name or "dlsynth bank"
        out = [
            (b"ifil", struct.pack("<HH", *SF2_VERSION)),
            (b"isng", _zstr(SOUND_ENGINE, INFO_MAX)),
            (b"INAM", _zstr(inam, INFO_MAX)),
        ]
        for k in ("isng", "irom", "iver", "ifil"):
            info.pop(k, None)
        for k in INFO_CARRIED:
            v = info.pop(k, "")
            if v:
                out.append((k.encode(), _zstr(v, INFO_MAX)))
        comment = info.pop("ICMT", "")
        software = info.pop("ISFT", "")
        extra = [f"{k}: {v}" for k, v in info.items() if str(v).strip()]
        if extra:
            comment = "\n".join([comment, *extra] if comment else extra)
        if comment:
            out.append((b"ICMT", _zstr(comment, ICMT_MAX)))
        out.append((b"ISFT", _zstr(f"{software}:{SOFTWARE}" if software else SOFTWARE, INFO_MAX)))
        return out


def _zstr(text: str, limit: int) -> bytes:
    """An SF2 INFO string: latin-1, zero-terminated, padded to an even length."""
    raw = str(text).encode("latin-1", "replace")[: limit - 1] + b"\0"
    return raw + (b"\0" if len(raw) & 1 else b"")


def _name(text: str) -> bytes:
    return str(text).encode("latin-1", "replace")[:20]


def _attenuation(zones: list[_Zone], notes: set[str]) -> None:
    """Each zone's initialAttenuation generator, with what SF2 could not give said once."""
    short = 0.0
    for z in zones:
        amount = int(round(z.attenuation))
        if amount < 0:
            short = max(short, -amount * EMU_ATTENUATION_FACTOR / 10.0)
            amount = 0
        elif amount > int(G.HIGH[G.INITIAL_ATTENUATION]):
            notes.add(
                f"an attenuation of {amount * EMU_ATTENUATION_FACTOR / 10.0:.1f} dB held at SF2's "
                f"{int(G.HIGH[G.INITIAL_ATTENUATION]) * EMU_ATTENUATION_FACTOR / 10.0:.1f} dB"
            )
            amount = int(G.HIGH[G.INITIAL_ATTENUATION])
        if amount:
            z.gens[G.INITIAL_ATTENUATION] = amount
    if short > 0.05:
        notes.add(
            f"a gain above its sample's (up to {short:.1f} dB, beyond what the sample's peak leaves room "
            "for) played at the sample's level: SF2 cannot amplify"
        )


def _loop_offsets(gens: dict[int, int], loop, header_loop) -> None:
    """start/endloop address offsets that move the header's loop to the zone's."""
    if loop is None or header_loop is None:
        return
    for (fine_op, coarse_op), delta in (
        ((G.STARTLOOP_ADDRS_OFFSET, G.STARTLOOP_ADDRS_COARSE_OFFSET), loop[0] - header_loop[0]),
        ((G.ENDLOOP_ADDRS_OFFSET, G.ENDLOOP_ADDRS_COARSE_OFFSET), loop[1] - header_loop[1]),
    ):
        coarse = int(delta / 32768)  # toward zero, so the fine part keeps the sign
        fine = delta - coarse * 32768
        if fine:
            gens[fine_op] = fine
        if coarse:
            gens[coarse_op] = coarse


def _absent_modulator(key) -> int:
    """What a zone without a modulator of this identity gets: the default's amount, or 0."""
    return _DEFAULT_AMOUNTS.get(key, 0)


def _shared(values: list, absent) -> tuple[object, bool]:
    """The value most zones have (None: absent), and whether a global zone holding it saves records."""
    counts: dict = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    best = max(counts, key=lambda v: (counts[v], v is None))
    if best is None or best == absent:
        return None, False
    saved = counts[best] - 1 - counts.get(None, 0)
    return best, saved > 0


def _hoist(tables: list[dict], shared: dict, absent) -> None:
    """Move each key's most shared value from the zones' tables into the global zone's
    (`shared`) when that saves records; a zone that lacked the key gets `absent(key)`, what
    it meant without the global zone."""
    for key in sorted({k for t in tables for k in t}):
        none = absent(key)
        v, worth = _shared([t.get(key) for t in tables], none)
        if worth:
            shared[key] = v
            for t in tables:
                if t.get(key) == v:
                    del t[key]
                elif key not in t:
                    t[key] = none


def _with_global_zone(zones: list[_Zone]) -> list[_Zone]:
    """A generator or modulator value most zones share moves to a global zone (the zones
    that had another value keep theirs; those that had none get the default written)."""
    if len(zones) < 2:
        return zones
    glob = _Zone({}, {})
    _hoist([z.gens for z in zones], glob.gens, lambda op: int(G.DEFAULTS[op]))
    _hoist([z.mods for z in zones], glob.mods, _absent_modulator)
    if not glob.gens and not glob.mods:
        return zones
    return [glob, *zones]


# --------------------------------------------------------------------------- the file
def _gen_records(z: _Zone, terminal: int | None, target: int | None) -> list[tuple[int, int]]:
    """A zone's (oper, amount) records in SF2 order: keyRange, velRange, the rest, terminal."""
    recs = []
    if z.key != _FULL:
        recs.append((G.KEY_RANGE, z.key[0] | (z.key[1] << 8)))
    if z.vel != _FULL:
        recs.append((G.VEL_RANGE, z.vel[0] | (z.vel[1] << 8)))
    for op in sorted(z.gens):
        recs.append((op, int(z.gens[op])))
    if terminal is not None:
        recs.append((terminal, target))
    return recs


def _records(dtype, rows) -> bytes:
    return np.array(rows, dtype=dtype).tobytes() if rows else b""


def _as_i16(v: int) -> int:
    v &= 0xFFFF
    return v - 0x10000 if v & 0x8000 else v


def _layout(info, samples: list[_Sample], presets: list[_Preset], instruments: list[_Instrument]) -> tuple[list, int]:
    # sdta/smpl: each sample followed by PADDING_POINTS zero points
    pad = np.zeros(PADDING_POINTS, dtype="<i2").tobytes()
    smpl_pieces: list = []
    shdr = []
    pos = 0
    for i, s in enumerate(samples):
        n = len(s.data)
        start, end = pos, pos + n
        if s.loop is not None:
            ls, le = start + s.loop[0], start + s.loop[1]
        else:
            ls = le = start
        shdr.append((_name(s.name), start, end, ls, le, s.rate, s.pitch, s.correction, s.link, s.type))
        smpl_pieces += [s.data, pad]
        pos = end + PADDING_POINTS
        if pos >= 1 << 31:
            raise DLSError(
                f"the samples hold more than 2^31 sample points ({i + 1} of {len(samples)} samples): "
                "too many for SF2's 32-bit sample offsets"
            )
    shdr.append((b"EOS", 0, 0, 0, 0, 0, 0, 0, 0, 0))
    smpl_size = 2 * pos

    # pdta: presets (one zone each, naming its instrument) and instruments
    phdr, pbag, pgen = [], [], []
    inst, ibag, imod, igen = [], [], [], []
    for p in presets:
        phdr.append((_name(p.name), p.program, p.bank, len(pbag), 0, 0, 0))
        for pz in p.zones:
            pbag.append((len(pgen), 0))
            pgen += [
                (op, _as_i16(v))
                for op, v in _gen_records(_Zone(pz.gens, {}, pz.key, pz.vel), G.INSTRUMENT, pz.instrument)
            ]
    for ins in instruments:
        inst.append((_name(ins.name), len(ibag)))
        for z in ins.zones:
            ibag.append((len(igen), len(imod)))
            igen += [(op, _as_i16(v)) for op, v in _gen_records(z, None if z.sample is None else G.SAMPLE_ID, z.sample)]
            imod += [(src, dest, amount, asrc, tr) for (src, dest, asrc, tr), amount in sorted(z.mods.items())]
    for what, n in (
        ("preset zones", len(pbag)),
        ("preset generators", len(pgen)),
        ("instrument zones", len(ibag)),
        ("instrument generators", len(igen)),
        ("instruments", len(inst)),
        ("instrument modulators", len(imod)),
        ("presets", len(phdr)),
        ("samples", len(shdr) - 1),
    ):
        if n >= MAX_RECORDS:
            raise DLSError(f"the bank needs {n} {what}, more than SF2's 16-bit indices allow")
    phdr.append((b"EOP", 0, 0, len(pbag), 0, 0, 0))
    pbag.append((len(pgen), 0))
    pgen.append((0, 0))
    inst.append((b"EOI", len(ibag)))
    ibag.append((len(igen), len(imod)))
    igen.append((0, 0))
    imod.append((0, 0, 0, 0, 0))
    pmod = [(0, 0, 0, 0, 0)]

    pdta = [
        (b"phdr", _records(H.PHDR, phdr)),
        (b"pbag", _records(H.BAG, pbag)),
        (b"pmod", _records(H.MOD, pmod)),
        (b"pgen", _records(H.GEN, pgen)),
        (b"inst", _records(H.INST, inst)),
        (b"ibag", _records(H.BAG, ibag)),
        (b"imod", _records(H.MOD, imod)),
        (b"igen", _records(H.GEN, igen)),
        (b"shdr", _records(H.SHDR, shdr)),
    ]

    def chunk_header(cid: bytes, size: int) -> bytes:
        return cid + struct.pack("<I", size)

    info_body = b"".join(chunk_header(k, len(v)) + v for k, v in info)
    info_list = chunk_header(b"LIST", 4 + len(info_body)) + b"INFO" + info_body
    sdta_head = chunk_header(b"LIST", 4 + 8 + smpl_size) + b"sdta" + chunk_header(b"smpl", smpl_size)
    pdta_body = b"".join(chunk_header(k, len(v)) + v for k, v in pdta)
    pdta_list = chunk_header(b"LIST", 4 + len(pdta_body)) + b"pdta" + pdta_body
    riff_size = 4 + len(info_list) + len(sdta_head) + smpl_size + len(pdta_list)
    if riff_size > 0xFFFFFFFF - 8:
        raise DLSError(f"the SF2 file would be {riff_size + 8} bytes, more than RIFF's 4 GB")
    pieces = [b"RIFF" + struct.pack("<I", riff_size) + b"sfbk", info_list, sdta_head, *smpl_pieces, pdta_list]
    return pieces, riff_size + 8
