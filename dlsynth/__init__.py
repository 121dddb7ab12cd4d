"""dlsynth: a real-time software synthesizer for DLS (Level 1 and 2) and SoundFont 2/3 banks.

The library (each name is imported on first use, so ``import dlsynth`` costs nothing):

* ``dlsynth.render(midi, bank=None, ...)``: a song (a path, the bytes of a .mid, a
  ``mido.MidiFile``, or a pretty_midi-shaped object) to a (frames, 2) float32 NumPy array,
  by the same code as ``dlsynth render``;
* ``dlsynth.load_bank(path)``: a DLS, SF2 or SF3 bank, read once for any number of renders;
* ``dlsynth.Synth(bank=None, ...)``: a synth for a host loop of your own (MIDI in at frame
  offsets, ``render(frames, out=buf)`` out);
* the errors: ``dlsynth.MidiFileError`` (bad MIDI), ``dlsynth.BankError`` (a bad bank; it is
  ``dlsynth.dls.DLSError``), ValueError (TypeError for the wrong type) for a bad option; and
  ``dlsynth.RenderWarning`` for what a render says and goes on with (a missing instrument).

The project is one import package. Its parts, each a subpackage:

* ``dlsynth.dls``: the bank model and the DLS, SF2 and SF3 readers and writers;
* ``dlsynth.synth``: the DirectMusic miniport (IMiniportDMus), its streams (IMXF) and the Synth
  (ISynthSinkDMus);
* ``dlsynth.sink``: the wave sinks (the port driver's side of ISynthSinkDMus::Render): live
  audio and WAV files;
* ``dlsynth.native``: the C core (voices, MIDI meaning, the audio callback), built by cffi;
* ``dlsynth.gmbank``: the built-in General MIDI bank (generators, timbres, drums, its cache);
* ``dlsynth.smf``: Standard MIDI Files, read and written;
* ``dlsynth.apps``: the ``dlsynth`` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> (module, attribute), imported on first use (module __getattr__, PEP 562)
_LAZY = {
    "render": ("dlsynth.api_render", "render"),
    "RenderWarning": ("dlsynth.api_render", "RenderWarning"),
    "Rendered": ("dlsynth.api_render", "Rendered"),
    "render_many": ("dlsynth.apps.batch", "render_many"),
    "load_bank": ("dlsynth.banks", "load_bank"),
    "Synth": ("dlsynth.host", "Synth"),
    "BankError": ("dlsynth.dls.errors", "DLSError"),
    "MidiFileError": ("dlsynth.smf.reader", "MidiFileError"),
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # what a type checker sees; at run time, __getattr__ below
    from dlsynth.api_render import Rendered, RenderWarning, render  # noqa: F401
    from dlsynth.apps.batch import render_many  # noqa: F401
    from dlsynth.banks import load_bank  # noqa: F401
    from dlsynth.dls.errors import DLSError as BankError  # noqa: F401
    from dlsynth.host import Synth  # noqa: F401
    from dlsynth.smf.reader import MidiFileError  # noqa: F401


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'dlsynth' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
