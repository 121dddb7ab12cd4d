"""Banks for the library: ``load_bank`` and the ``bank=`` argument of ``render`` and ``Synth``.

A bank is what ``dlsynth render --bank`` reads: a DLS (Level 1 or 2), SoundFont 2 or SF3 file,
read into one collection model (``dlsynth.dls.Collection``, the DirectMusic collection a
port downloads). A loaded bank is reused as it is by every render and synth given it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence, Union

if TYPE_CHECKING:
    from dlsynth.dls.model import Collection

#: what ``bank=`` takes: None (the built-in bank), a path, a loaded bank, or a list of these
#: (later ones take precedence per instrument, as ``--bank A --bank B``)
BankSpec = Union[None, str, "os.PathLike[str]", "Collection", Sequence[Union[str, "os.PathLike[str]", "Collection"]]]

_default: Collection | None = None  # the built-in bank, read once per process


def load_bank(path: str | os.PathLike[str]) -> Collection:
    """Read a bank file (DLS, SF2 or SF3, told apart by their contents) into a collection
    that any number of renders and synths can use without reading it again.

    Raises ``dlsynth.BankError`` (one line naming the file, and for a broken file the chunk
    path and byte offset) for a missing, unreadable or broken bank."""
    from dlsynth import dls

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load_bank takes a path (str or os.PathLike), not {type(path).__name__}")
    return dls.read(os.fspath(path))


def default_bank() -> Collection:
    """The built-in General MIDI bank (built on first use and cached on disk)."""
    global _default
    if _default is None:
        from dlsynth.gmbank import load_default_bank

        _default = load_default_bank()
    return _default


def banks_of(bank: BankSpec) -> list[Collection]:
    """The collections ``bank=`` names, in download order (the last takes precedence)."""
    from dlsynth.dls.model import Collection

    if bank is None:
        return [default_bank()]
    items = list(bank) if isinstance(bank, (list, tuple)) else [bank]
    if not items:
        return [default_bank()]
    out = []
    for item in items:
        if isinstance(item, Collection):
            out.append(item)
        elif isinstance(item, (str, os.PathLike)):
            out.append(load_bank(item))
        else:
            raise TypeError(f"a bank is a path or a bank from load_bank, not {type(item).__name__}")
    return out
