"""The one exception a broken DLS file raises, and the bounded list of a read's warnings."""

from __future__ import annotations


class DLSError(Exception):
    """A DLS file (or a collection being written) that cannot be used.

    The message names the chunk path and byte offset where reading stopped, for example
    ``LIST lins > LIST ins #12 > LIST lrgn > rgn2 #3 > wsmp at 0x1a2c: size 12 < 20``.
    """


class Warnings:
    """The warnings of one read, bounded: the first ``per_kind`` of each kind are kept in
    order, the rest only counted, and `lines` ends with one line per kind that had more
    (``and 3,512 more like this (unknown chunk ignored)``). A file with a million odd
    chunks therefore gives a short list, at the cost of one count per warning."""

    PER_KIND = 20

    __slots__ = ("per_kind", "_lines", "_counts")

    def __init__(self, per_kind: int = PER_KIND):
        self.per_kind = per_kind
        self._lines: list[str] = []
        self._counts: dict[str, int] = {}

    def add(self, kind: str, msg: str) -> None:
        n = self._counts.get(kind, 0) + 1
        self._counts[kind] = n
        if n <= self.per_kind:
            self._lines.append(msg)

    def count(self, kind: str) -> int:
        """How many warnings of this kind were given (kept or only counted)."""
        return self._counts.get(kind, 0)

    def lines(self) -> list[str]:
        out = list(self._lines)
        for kind, n in self._counts.items():
            if n > self.per_kind:
                out.append(f"and {n - self.per_kind:,} more like this ({kind})")
        return out


def note(warnings, kind: str, msg: str) -> None:
    """Add a warning to a `Warnings` (with its kind) or to a plain list."""
    add = getattr(warnings, "add", None)
    if add is not None:
        add(kind, msg)
    else:
        warnings.append(msg)
