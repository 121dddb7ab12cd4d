"""The `dlsynth` command-line application (render, play, bench, info, devices)."""

import os as _os
import signal as _signal

__version__ = "0.1.0"


def _early_interrupt(signum, frame):  # pragma: no cover - timing dependent
    """Ctrl-C (or SIGTERM) before the command has anything to clean up: leave at once,
    one line, status 130 (143 for SIGTERM), never a traceback from a half-done import."""
    try:
        _os.write(2, b"dlsynth: interrupted\n")
    finally:
        _os._exit(130 if signum == _signal.SIGINT else 143)


# Until apps.cli.main takes over (it turns these into exceptions once cleanup matters).
try:
    _signal.signal(_signal.SIGINT, _early_interrupt)
    _signal.signal(_signal.SIGTERM, _early_interrupt)
except ValueError:  # imported from a thread other than the main one
    pass
