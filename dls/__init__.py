"""DLS (Downloadable Sounds Level 1 and 2) collections: reading, writing, the model.

    >>> from dlsynth import dls
    >>> bank = dls.read("gm.dls")
    >>> bank.instruments[0].name

Knows nothing of synthesis. `read` memory-maps the file and keeps NumPy views of its sample
data; `write` produces Level 2 (or Level 1) files such that ``read(write(c)) == c``.
`read` takes SoundFont 2 and SF3 banks too, into the same model (`dls.soundfont`), so
``write(read("bank.sf2"))`` is that bank as DLS.
`read` checks the whole file at open but builds an instrument's regions on first use
(``read(path, lazy=False)`` or ``Collection.load_all()`` to have them all at once).
"""

from .cdl import Capabilities
from .errors import DLSError
from .model import (
    CONNECTION_DTYPE,
    Articulation,
    Collection,
    Connection,
    Instrument,
    Loop,
    Region,
    Wave,
    WaveLink,
    WaveSample,
)
from .reader import read


def write(collection, path=None, *, level=None):
    """Write a collection as DLS (see dls.writer.write)."""
    from .writer import write as _write

    return _write(collection, path, level=level)


__all__ = [
    "read",
    "write",
    "DLSError",
    "Capabilities",
    "Collection",
    "Instrument",
    "Region",
    "Wave",
    "WaveLink",
    "WaveSample",
    "Loop",
    "Articulation",
    "Connection",
    "CONNECTION_DTYPE",
]
