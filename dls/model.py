"""The DLS collection model: what `dls.read` returns and `dls.write` takes.

Plain data, no synthesis. Sample data and connection blocks are NumPy views into the
file's memory map (no copies at load); equality compares their contents, so
``read(write(c)) == c`` is a meaningful test.

DirectMusic names: a Collection is what IDirectMusicCollection wraps; an Instrument is a
DMUS_DOWNLOADINFO of type DMUS_DOWNLOADINFO_INSTRUMENT2 once downloaded; a Wave is a
DMUS_DOWNLOADINFO_WAVE.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import constants as C

# One DLS connection block: usSource, usControl, usDestination, usTransform, lScale.
CONNECTION_DTYPE = np.dtype(
    [("source", "<u2"), ("control", "<u2"), ("destination", "<u2"), ("transform", "<u2"), ("scale", "<i4")]
)


class Connection(NamedTuple):
    """One CONNECTION block of an art1/art2 chunk (scale in the destination's 32-bit units)."""

    source: int
    control: int
    destination: int
    transform: int
    scale: int

    @property
    def output_transform(self) -> int:
        return self.transform & C.TRN_OUTPUT_MASK

    @property
    def control_transform(self) -> int:
        return (self.transform >> C.TRN_CONTROL_SHIFT) & 0xF

    @property
    def source_transform(self) -> int:
        return (self.transform >> C.TRN_SOURCE_SHIFT) & 0xF

    @property
    def source_bipolar(self) -> bool:
        return bool(self.transform & C.TRN_SOURCE_BIPOLAR)

    @property
    def source_invert(self) -> bool:
        return bool(self.transform & C.TRN_SOURCE_INVERT)

    @property
    def control_bipolar(self) -> bool:
        return bool(self.transform & C.TRN_CONTROL_BIPOLAR)

    @property
    def control_invert(self) -> bool:
        return bool(self.transform & C.TRN_CONTROL_INVERT)


def connections_array(connections) -> np.ndarray:
    """Build a CONNECTION_DTYPE array from an iterable of Connection (or 5-tuples)."""
    rows = [tuple(int(v) for v in c) for c in connections]
    return np.array(rows, dtype=CONNECTION_DTYPE) if rows else np.zeros(0, dtype=CONNECTION_DTYPE)


class Articulation:
    """An articulator chunk: ``art1`` (level 1) or ``art2`` (level 2), a block of connections.

    ``blocks`` is a NumPy structured array (CONNECTION_DTYPE), usually a view into the file.
    """

    __slots__ = ("level", "blocks")

    def __init__(self, level: int = 2, connections=None, blocks: np.ndarray | None = None):
        if level not in (1, 2):
            raise ValueError("articulation level must be 1 (art1) or 2 (art2)")
        self.level = level
        if blocks is None:
            blocks = connections_array(connections or [])
        self.blocks = blocks

    @property
    def connections(self) -> list[Connection]:
        return [Connection(*map(int, row)) for row in self.blocks.tolist()]

    def __len__(self) -> int:
        return len(self.blocks)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Articulation):
            return NotImplemented
        return self.level == other.level and np.array_equal(self.blocks, other.blocks)

    def __repr__(self) -> str:
        return f"Articulation(level={self.level}, connections={len(self.blocks)})"


class Loop(NamedTuple):
    """A WLOOP: type (0 forward, 1 release), start and length in sample frames."""

    type: int
    start: int
    length: int

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass
class WaveSample:
    """A ``wsmp`` chunk (WSMPL plus its loops).

    unity_note: MIDI key at which the wave plays at its own rate.
    fine_tune: cents (signed 16-bit).
    attenuation: lAttenuation, a relative gain in 32-bit units (value/65536 = centibels;
        negative is quieter, as DDKSynth, FluidSynth and SpessaSynth all read it).
    options: F_WSMP_NO_TRUNCATION | F_WSMP_NO_COMPRESSION.
    """

    unity_note: int = 60
    fine_tune: int = 0
    attenuation: int = 0
    options: int = 0
    loops: list[Loop] = field(default_factory=list)

    @property
    def gain_db(self) -> float:
        """lAttenuation in dB (negative is quieter)."""
        return self.attenuation / 65536.0 / 10.0

    attenuation_db = gain_db  # the same value; the chunk field is named lAttenuation


@dataclass
class WaveLink:
    """A ``wlnk`` chunk: which wave a region plays (table_index into the pool table)."""

    table_index: int = 0
    options: int = 0  # F_WAVELINK_PHASE_MASTER | F_WAVELINK_MULTICHANNEL
    phase_group: int = 0
    channel: int = C.WAVELINK_CHANNEL_LEFT  # bit mask of output channels

    @property
    def phase_master(self) -> bool:
        return bool(self.options & C.F_WAVELINK_PHASE_MASTER)

    @property
    def multichannel(self) -> bool:
        return bool(self.options & C.F_WAVELINK_MULTICHANNEL)


@dataclass
class Region:
    """A ``LIST rgn `` (level 1) or ``LIST rgn2`` (level 2)."""

    key_low: int = 0
    key_high: int = 127
    vel_low: int = 0
    vel_high: int = 127
    options: int = 0  # F_RGN_OPTION_SELFNONEXCLUSIVE
    key_group: int = 0  # 0 = none, 1..15 exclusive class
    layer: int | None = None  # DLS2 usLayer (rgnh of 14 bytes); None for a 12-byte rgnh
    wave_link: WaveLink = field(default_factory=WaveLink)
    wave_sample: WaveSample | None = None  # region wsmp, overrides the wave's
    articulations: list[Articulation] = field(default_factory=list)
    level: int = 2  # 1: 'rgn ', 2: 'rgn2'

    @property
    def self_non_exclusive(self) -> bool:
        return bool(self.options & C.F_RGN_OPTION_SELFNONEXCLUSIVE)


_LOAD_LOCK = threading.RLock()


class Instrument:
    """A ``LIST ins `` with its ``insh``: bank is the raw ulBank (drum flag in bit 31).

    Read from a file, an instrument's header (name, bank, program, info, dlid, its own
    articulations) is there at once and its ``regions`` are read on first use (see
    `dls.read`); ``regions_loaded`` tells whether that has happened, and ``region_count``
    how many there are without reading them. Otherwise a plain record: built with keyword
    or positional arguments in the order below, compared field by field.
    """

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __init__(
        self,
        name: str = "",
        bank: int = 0,
        program: int = 0,
        regions: list[Region] | None = None,
        articulations: list[Articulation] | None = None,
        dlid: bytes | None = None,
        info: dict[str, str] | None = None,
    ):
        self.name = name
        self.bank = bank
        self.program = program
        self._regions: list[Region] = [] if regions is None else regions
        self._loader = None  # callable returning the regions, until they are read
        self._reload = None  # the same, kept to read them again after release_regions
        self._count = 0
        self.articulations: list[Articulation] = [] if articulations is None else articulations
        self.dlid = dlid
        self.info: dict[str, str] = {} if info is None else info

    # --- regions, possibly read on first use ---------------------------------------------
    @property
    def regions(self) -> list[Region]:
        if self._loader is not None:
            self._load()
        return self._regions

    @regions.setter
    def regions(self, value: list[Region]) -> None:
        self._loader = None
        self._reload = None
        self._regions = value

    @property
    def regions_loaded(self) -> bool:
        return self._loader is None

    @property
    def region_count(self) -> int:
        return self._count if self._loader is not None else len(self._regions)

    def defer_regions(self, loader, count: int) -> None:
        """Have ``regions`` come from ``loader()`` on first use (which must give ``count``)."""
        self._reload = None
        self._loader = loader
        self._count = count

    def _load(self) -> None:
        with _LOAD_LOCK:  # one reader at a time: each instrument is read once
            loader = self._loader
            if loader is not None:
                self._regions = loader()
                self._loader = None
                self._reload = loader

    def release_regions(self) -> bool:
        """Let go of regions read from the file (they are read again on next use), e.g. once
        the synth has compiled them; True if they can be. Regions set by hand stay."""
        with _LOAD_LOCK:
            reload = getattr(self, "_reload", None)
            if reload is None or self._loader is not None:
                return False
            self._count = len(self._regions)
            self._regions = []
            self._loader = reload
            return True

    # --- a record ----------------------------------------------------------------------
    def _fields(self) -> tuple:
        return (self.name, self.bank, self.program, self.regions, self.articulations, self.dlid, self.info)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instrument):
            return NotImplemented
        return self._fields() == other._fields()

    def __repr__(self) -> str:
        regions = repr(self._regions) if self._loader is None else f"<{self._count} regions, not read yet>"
        return (
            f"Instrument(name={self.name!r}, bank={self.bank!r}, program={self.program!r}, regions={regions}, "
            f"articulations={self.articulations!r}, dlid={self.dlid!r}, info={self.info!r})"
        )

    def __getstate__(self) -> dict:
        # Copies and pickles carry the regions, not the file they would be read from.
        state = dict(self.__dict__)
        state["_regions"] = self.regions
        state["_loader"] = None
        return state

    @property
    def bank_msb(self) -> int:
        return (self.bank >> 8) & 0x7F

    @property
    def bank_lsb(self) -> int:
        return self.bank & 0x7F

    @property
    def is_drum(self) -> bool:
        return bool(self.bank & C.F_INSTRUMENT_DRUMS)

    @staticmethod
    def make_bank(msb: int = 0, lsb: int = 0, drum: bool = False) -> int:
        return ((msb & 0x7F) << 8) | (lsb & 0x7F) | (C.F_INSTRUMENT_DRUMS if drum else 0)


@dataclass(eq=False)
class Wave:
    """A ``LIST wave``: its ``fmt `` fields, its sample data, optional ``wsmp``.

    ``data`` is a NumPy array of shape (frames, channels): uint8 for 8-bit (unsigned,
    128 = silence) or int16 for 16-bit; usually a read-only view into the file's map.
    """

    format_tag: int = C.WAVE_FORMAT_PCM
    channels: int = 1
    sample_rate: int = 44100
    bits_per_sample: int = 16
    block_align: int = 2
    avg_bytes_per_sec: int = 88200
    data: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), dtype=np.int16))
    wave_sample: WaveSample | None = None
    dlid: bytes | None = None
    info: dict[str, str] = field(default_factory=dict)
    supported: bool = True  # False for compressed or other unsupported formats
    raw_data: bytes | None = None  # the data chunk of an unsupported format, kept for writing

    @property
    def frames(self) -> int:
        return int(self.data.shape[0]) if self.supported else 0

    @property
    def name(self) -> str:
        return self.info.get("INAM", "")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Wave):
            return NotImplemented
        return (
            self.format_tag == other.format_tag
            and self.channels == other.channels
            and self.sample_rate == other.sample_rate
            and self.bits_per_sample == other.bits_per_sample
            and self.block_align == other.block_align
            and self.avg_bytes_per_sec == other.avg_bytes_per_sec
            and self.wave_sample == other.wave_sample
            and self.dlid == other.dlid
            and self.info == other.info
            and self.supported == other.supported
            and (np.array_equal(self.data, other.data) if self.supported else self.raw_data == other.raw_data)
        )

    @classmethod
    def from_pcm16(
        cls, samples, sample_rate: int = 44100, wave_sample: WaveSample | None = None, name: str = ""
    ) -> "Wave":
        """A 16-bit wave from an int16 array of shape (frames,) or (frames, channels)."""
        return cls._from_pcm(np.asarray(samples, dtype=np.int16), 16, sample_rate, wave_sample, name)

    @classmethod
    def from_pcm8(
        cls, samples, sample_rate: int = 22050, wave_sample: WaveSample | None = None, name: str = ""
    ) -> "Wave":
        """An 8-bit (unsigned) wave from a uint8 array of shape (frames,) or (frames, channels)."""
        return cls._from_pcm(np.asarray(samples, dtype=np.uint8), 8, sample_rate, wave_sample, name)

    @classmethod
    def _from_pcm(cls, arr: np.ndarray, bits: int, sample_rate: int, wave_sample, name: str) -> "Wave":
        if arr.ndim == 1:
            arr = arr[:, None]
        ch = int(arr.shape[1])
        align = ch * bits // 8
        return cls(
            format_tag=C.WAVE_FORMAT_PCM,
            channels=ch,
            sample_rate=sample_rate,
            bits_per_sample=bits,
            block_align=align,
            avg_bytes_per_sec=align * sample_rate,
            data=np.ascontiguousarray(arr),
            wave_sample=wave_sample,
            info={"INAM": name} if name else {},
        )


class DeferredWave(Wave):
    """A `Wave` whose sample data is made on first use of ``data`` (an SF3's Ogg Vorbis
    sample, decoded when an instrument playing it is first downloaded or written); its
    frame count is known at open. ``decode()`` must give int16 data of shape
    (frames, channels); it runs once (under a lock), and copies and pickles carry the data."""

    def __init__(self, *, frames: int, decode, **fields) -> None:
        super().__init__(**fields)
        self._data = None
        self._frames = int(frames)
        self._decode = decode

    @property
    def data(self) -> np.ndarray:
        if self._data is None:
            with _LOAD_LOCK:
                if self._data is None:
                    self._data = self._decode()
                    self._decode = None
        return self._data

    @data.setter
    def data(self, value: np.ndarray) -> None:
        self._data = value

    @property
    def decoded(self) -> bool:
        return self._data is not None

    @property
    def frames(self) -> int:
        return self._frames if self._data is None else int(self._data.shape[0])

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_data"] = self.data
        state["_decode"] = None
        return state


@dataclass
class Condition:
    """A ``cdl `` chunk: its raw op list and whether it held for the capabilities used."""

    ops: list[tuple[int, object]]  # (opcode, operand): operand is a DLSID bytes or an int, or None
    result: bool


@dataclass
class Collection:
    """A whole DLS file (``RIFF 'DLS '``).

    waves are in pool-table order: ``waves[i]`` is what a wave link with table_index i plays.
    """

    instruments: list[Instrument] = field(default_factory=list)
    waves: list[Wave] = field(default_factory=list)
    version: tuple[int, int] | None = None  # vers: (dwVersionMS, dwVersionLS)
    dlid: bytes | None = None
    info: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list, compare=False)
    source: str | None = field(default=None, compare=False)  # file path when read from a file
    level: int = field(default=2, compare=False)  # 2 if any level-2 chunk was seen, else 1
    mapping: object = field(default=None, compare=False, repr=False)  # the file's memory map (read from a path)

    def release_pages(self) -> None:
        """Let the system take back this process's resident copies of the file's pages
        (``madvise(MADV_DONTNEED)`` on its memory map). Nothing changes for the reader: a
        page is read again when next used. Worth it once every wave is in the engine's pool,
        where only a reload reads the file again."""
        import mmap

        advise = getattr(self.mapping, "madvise", None)
        if advise is not None and hasattr(mmap, "MADV_DONTNEED"):
            try:
                advise(mmap.MADV_DONTNEED)
            except (OSError, ValueError):  # closed, or not a mapping this system advises
                pass

    def __getstate__(self) -> dict:
        """A copy or a pickle leaves the memory map behind (it cannot be pickled; a copy's
        waves and regions still read through their own views of it)."""
        state = dict(self.__dict__)
        state["mapping"] = None
        return state

    @property
    def name(self) -> str:
        return self.info.get("INAM", "")

    def load_all(self) -> "Collection":
        """Build every instrument's regions now (a lazily read collection builds them on
        first use). `dls.read` has already checked them all and put every warning in
        ``warnings``, so this cannot fail nor warn. Returns the collection."""
        import gc

        gc_was_enabled = gc.isenabled()
        gc.disable()  # many small acyclic objects: collecting between instruments only costs
        try:
            for ins in self.instruments:
                ins.regions
        finally:
            if gc_was_enabled:
                gc.enable()
        return self

    def find_instrument(self, bank: int, program: int) -> Instrument | None:
        for ins in self.instruments:
            if ins.bank == bank and ins.program == program:
                return ins
        return None

    def version_string(self) -> str | None:
        if self.version is None:
            return None
        ms, ls = self.version
        return f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}"
