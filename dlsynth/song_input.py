"""What ``dlsynth.render`` takes as ``midi``, read into a Song (the file source's input).

* a path (``str`` or ``os.PathLike``): a Standard MIDI File (format 0, 1, 2) or RIFF MIDI,
  read as ``dlsynth render`` reads it;
* ``bytes`` (or ``bytearray``, ``memoryview``) holding such a file;
* a ``mido.MidiFile``;
* an object shaped like ``pretty_midi.PrettyMIDI`` (see ``dlsynth.instrument_song``).

Bad MIDI raises ``dlsynth.MidiFileError`` (one line); a value of none of these kinds,
TypeError.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from dlsynth.smf.reader import Song

#: what ``midi=`` takes (a mido.MidiFile and a pretty_midi-shaped object are duck-typed)
MidiSpec = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Any]


def _is_mido_file(obj: object) -> bool:
    return hasattr(obj, "save") and hasattr(obj, "tracks")


def song_of(midi: MidiSpec, rate: int) -> Song:
    """The Song of ``midi`` (times of a pretty_midi-shaped object turn into frames at ``rate``)."""
    from dlsynth.smf.reader import parse_midi, read_midi

    if isinstance(midi, (str, os.PathLike)):
        return read_midi(midi)
    if isinstance(midi, (bytes, bytearray, memoryview)):
        return parse_midi(midi)
    if _is_mido_file(midi):
        return parse_midi(midi, name=getattr(midi, "filename", None) or "<mido.MidiFile>")
    from .instrument_song import instrument_song, is_instrument_song

    if is_instrument_song(midi):
        return instrument_song(midi, rate, name=f"<{type(midi).__name__}>")
    raise TypeError(
        "midi must be a path, the bytes of a MIDI file, a mido.MidiFile or a pretty_midi-shaped "
        f"object (with .instruments), not {type(midi).__name__}"
    )
