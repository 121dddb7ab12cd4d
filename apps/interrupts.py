"""Ctrl-C and SIGTERM as exceptions that are never lost.

Python raises a signal's exception wherever the main thread happens to be. Inside a
``__del__`` or a callback run by the interpreter (a Dask future being freed, say) that
exception cannot propagate: Python prints "Exception ignored in ..." with a traceback and
goes on, as if the key had never been pressed. The handlers here also note the signal, so
that a loop that waits (`apps.batch.render_many`) raises it again at its next turn
(`raise_pending`), and such a lost interrupt prints nothing.
"""

from __future__ import annotations

import signal
import sys


class Terminated(KeyboardInterrupt):
    """SIGTERM (what `timeout` and service managers send): stop as for Ctrl-C, status 143."""


_pending: type[KeyboardInterrupt] | None = None  # the exception of a signal received
_next_unraisable = sys.unraisablehook  # the hook installed before ours


def _on_signal(signum, frame):
    global _pending
    _pending = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
    raise _pending()


def _unraisable(info) -> None:
    """An interrupt lost in a __del__ or callback is raised again by `raise_pending`: not
    printed as an ignored exception."""
    if isinstance(info.exc_value, KeyboardInterrupt):
        return
    _next_unraisable(info)


def install() -> None:
    """Turn Ctrl-C and SIGTERM into KeyboardInterrupt and Terminated, noted (main thread
    only: ValueError elsewhere, as signal.signal raises)."""
    global _next_unraisable
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    if sys.unraisablehook is not _unraisable:
        _next_unraisable = sys.unraisablehook
        sys.unraisablehook = _unraisable


def raise_pending() -> None:
    """Raise the interrupt a signal brought, if one came (and was perhaps lost)."""
    if _pending is not None:
        raise _pending()


def pending() -> bool:
    """Whether a signal's interrupt has come (handled or lost)."""
    return _pending is not None
