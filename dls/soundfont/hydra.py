"""The chunks of a SoundFont 2 file (``RIFF sfbk``) and its "hydra", the nine pdta arrays.

`Hydra.read(buf, root, warnings)` walks ``LIST INFO``, ``LIST sdta`` (``smpl`` 16-bit
samples, optional ``sm24`` low bytes) and ``LIST pdta`` with the strict walker of
`dls.riff`, then reads each pdta sub-chunk (phdr, pbag, pmod, pgen, inst, ibag, imod, igen,
shdr: fixed-size records, each list closed by a terminal record) as a NumPy structured
array over the file's memory map: nothing is copied. Everything structural that the rest
of the reader relies on is checked here, in bulk, and a violation raises `DLSError` naming
the chunk path and byte offset (``LIST pdta > pbag at 0x...: ...``): record sizes, bag and
generator indices that run backwards or past their arrays.
"""

from __future__ import annotations

import numpy as np

from ..errors import DLSError
from ..riff import Chunk, children, fourcc_str

PHDR = np.dtype(
    [
        ("name", "S20"),
        ("preset", "<u2"),
        ("bank", "<u2"),
        ("bag", "<u2"),
        ("library", "<u4"),
        ("genre", "<u4"),
        ("morphology", "<u4"),
    ]
)
BAG = np.dtype([("gen", "<u2"), ("mod", "<u2")])
MOD = np.dtype([("src", "<u2"), ("dest", "<u2"), ("amount", "<i2"), ("amount_src", "<u2"), ("transform", "<u2")])
GEN = np.dtype([("oper", "<u2"), ("amount", "<i2")])
INST = np.dtype([("name", "S20"), ("bag", "<u2")])
SHDR = np.dtype(
    [
        ("name", "S20"),
        ("start", "<u4"),
        ("end", "<u4"),
        ("loop_start", "<u4"),
        ("loop_end", "<u4"),
        ("rate", "<u4"),
        ("pitch", "u1"),
        ("correction", "i1"),
        ("link", "<u2"),
        ("type", "<u2"),
    ]
)

_PDTA = (
    ("phdr", PHDR),
    ("pbag", BAG),
    ("pmod", MOD),
    ("pgen", GEN),
    ("inst", INST),
    ("ibag", BAG),
    ("imod", MOD),
    ("igen", GEN),
    ("shdr", SHDR),
)

# INFO sub-chunks that are text (the rest, ifil and iver, are version numbers).
_INFO_TEXT = {b"isng", b"INAM", b"irom", b"ICRD", b"IENG", b"IPRD", b"ICOP", b"ICMT", b"ISFT"}


def text(raw: bytes) -> str:
    """A fixed-size, NUL-padded name field as text."""
    nul = raw.find(b"\0")
    if nul >= 0:
        raw = raw[:nul]
    return raw.decode("latin-1").rstrip()


class Hydra:
    """The parsed chunks of one sfbk file.

    Arrays (views into the file): phdr, pbag, pmod, pgen, inst, ibag, imod, igen, shdr,
    each including its terminal record. smpl: int16 samples (the whole ``smpl`` chunk);
    sm24_present: an ``sm24`` chunk of the right size was there. chunks: name -> Chunk, for
    messages. version: (major, minor) from ``ifil``.
    """

    def __init__(self) -> None:
        self.info: dict[str, str] = {}
        self.version: tuple[int, int] | None = None
        self.rom_version: tuple[int, int] | None = None
        self.smpl: np.ndarray = np.zeros(0, dtype="<i2")
        self.smpl_chunk: Chunk | None = None
        self.sm24_present = False
        self.chunks: dict[str, Chunk] = {}
        self.phdr = self.pbag = self.pmod = self.pgen = None
        self.inst = self.ibag = self.imod = self.igen = self.shdr = None

    @classmethod
    def read(cls, buf, root: Chunk, warnings: list[str]) -> "Hydra":
        h = cls()
        info = sdta = pdta = None
        for ck in children(buf, root, 1, warnings):
            if ck.type == b"INFO":
                info = ck
            elif ck.type == b"sdta":
                sdta = ck
            elif ck.type == b"pdta":
                pdta = ck
            elif ck.id not in (b"JUNK", b"PAD "):
                warnings.append(f"{ck.where()}: unknown chunk ignored")
        if info is not None:
            h._info(buf, info, warnings)
        else:
            warnings.append("no LIST INFO; the SoundFont version is unknown")
        if pdta is None:
            raise DLSError("no LIST pdta (preset, instrument and sample headers) in the file")
        if sdta is not None:
            h._sdta(buf, sdta, warnings)
        h._pdta(buf, pdta, warnings)
        h._check(warnings)
        return h

    # ------------------------------------------------------------------------------ INFO
    def _info(self, buf, ck: Chunk, warnings: list[str]) -> None:
        for sub in children(buf, ck, 2, warnings):
            if sub.type is not None:
                continue
            if sub.id in (b"ifil", b"iver"):
                if sub.size < 4:
                    raise sub.error(f"size {sub.size} < 4")
                major, minor = np.frombuffer(buf, dtype="<u2", count=2, offset=sub.data_start).tolist()
                if sub.id == b"ifil":
                    self.version = (major, minor)
                    self.info["ifil"] = f"{major}.{minor:02d}"
                else:
                    self.rom_version = (major, minor)
                    self.info["iver"] = f"{major}.{minor:02d}"
            else:
                raw = bytes(buf[sub.data_start : sub.end])
                key = fourcc_str(sub.id)
                self.info[key] = text(raw)
        if self.version is None:
            warnings.append(f"{ck.where()}: no ifil (version) chunk")
        elif self.version[0] not in (2, 3):
            warnings.append(f"{ck.where()}: SoundFont version {self.info['ifil']}; read as 2.04")

    # ------------------------------------------------------------------------------ sdta
    def _sdta(self, buf, ck: Chunk, warnings: list[str]) -> None:
        smpl = sm24 = None
        for sub in children(buf, ck, 2, warnings):
            if sub.id == b"smpl":
                smpl = sub
            elif sub.id == b"sm24":
                sm24 = sub
            else:
                warnings.append(f"{sub.where()}: unexpected chunk in sdta ignored")
        if smpl is None:
            return
        self.smpl_chunk = smpl
        n = smpl.size // 2
        self.smpl = np.frombuffer(buf, dtype="<i2", count=n, offset=smpl.data_start)
        self.chunks["smpl"] = smpl
        if sm24 is not None:
            if sm24.size not in (n, n + (n & 1)):
                warnings.append(f"{sm24.where()}: {sm24.size} bytes for {n} samples; ignored")
            else:
                self.sm24_present = True

    # ------------------------------------------------------------------------------ pdta
    def _pdta(self, buf, ck: Chunk, warnings: list[str]) -> None:
        found: dict[bytes, Chunk] = {}
        for sub in children(buf, ck, 2, warnings):
            key = sub.id
            if sub.type is None and key in {n.encode() for n, _ in _PDTA}:
                if key in found:
                    warnings.append(f"{sub.where()}: a second {fourcc_str(key)} chunk ignored")
                    continue
                found[key] = sub
            else:
                warnings.append(f"{sub.where()}: unexpected chunk in pdta ignored")
        for name, dtype in _PDTA:
            sub = found.get(name.encode())
            if sub is None:
                if name in ("pmod", "imod"):
                    # Modulators are optional in practice (some writers leave the chunk out).
                    warnings.append(f"{ck.where()}: no {name} chunk; read as no modulators")
                    setattr(self, name, np.zeros(1, dtype=dtype))
                    continue
                raise ck.error(f"no {name} chunk")
            size = dtype.itemsize
            if sub.size % size:
                raise sub.error(f"size {sub.size} is not a whole number of {size}-byte records")
            count = sub.size // size
            if count < 1:
                if name in ("pmod", "imod"):
                    setattr(self, name, np.zeros(1, dtype=dtype))
                    self.chunks[name] = sub
                    continue
                raise sub.error("no records (not even the terminal one)")
            setattr(self, name, np.frombuffer(buf, dtype=dtype, count=count, offset=sub.data_start))
            self.chunks[name] = sub

    def _check(self, warnings: list[str]) -> None:
        """Bag, generator and modulator indices: non-decreasing and inside their arrays.
        Records after those the indices reach are ignored (with a warning), so a hostile
        chunk's length costs nothing."""
        for hdr, bag, gens, mods, what in (
            ("phdr", "pbag", "pgen", "pmod", "preset"),
            ("inst", "ibag", "igen", "imod", "instrument"),
        ):
            owners = getattr(self, hdr)
            self._check_index(owners["bag"], len(getattr(self, bag)), hdr, what, bag)
            self._trim(bag, int(owners["bag"][-1]) + 1, warnings)
            arr = getattr(self, bag)
            self._check_index(arr["gen"], len(getattr(self, gens)) + 1, bag, "zone", gens, field="generator")
            self._check_index(arr["mod"], len(getattr(self, mods)) + 1, bag, "zone", mods, field="modulator")
            self._trim(gens, int(arr["gen"][-1]) + 1, warnings)
            self._trim(mods, int(arr["mod"][-1]) + 1, warnings)

    def _trim(self, name: str, used: int, warnings: list[str]) -> None:
        arr = getattr(self, name)
        if len(arr) > used:
            extra = len(arr) - used
            ck = self.chunks.get(name)
            warnings.append(
                f"{ck.where() if ck is not None else name}: {extra} record(s) after the terminal one ignored"
            )
            setattr(self, name, arr[:used])

    def _check_index(self, idx: np.ndarray, limit: int, chunk: str, what: str, target: str, field: str = "bag") -> None:
        """idx[i] is where record i's items start in `target`; the terminal record's is the end."""
        ck = self.chunks.get(chunk)
        where = ck.where() if ck is not None else chunk
        idx = idx.astype(np.int64)
        back = np.flatnonzero(np.diff(idx) < 0)
        if len(back):
            i = int(back[0]) + 1
            raise DLSError(
                f"{where}: {what} #{i} starts at {field} {int(idx[i])}, before {what} #{i - 1} "
                f"({int(idx[i - 1])}): the {field} indices run backwards"
            )
        if len(idx) and int(idx[-1]) > limit - 1:
            raise DLSError(
                f"{where}: the terminal record points at {field} {int(idx[-1])}, but {target} has {limit - 1} records"
            )
