"""``dlsynth.render``: a song to a NumPy array, by the same code as ``dlsynth render``.

The song goes the command's one way: read into a Song, its messages a file source on the
miniport's render stream, the Synth (ISynthSinkDMus) and the engine, block by block
(``dlsynth.apps.render.render_song``); only the blocks land in an array instead of a WAV
file. So ``render(path)`` equals ``dlsynth render path --format float`` sample for sample.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Iterator, Union

import numpy as np

from dlsynth.synth.synth import DEFAULT_GAIN_DB

from . import options
from .banks import BankSpec, banks_of
from .midi_input import MidiSpec, song_of

__all__ = ["render", "RenderWarning"]

#: frames the array starts with at most; it doubles as the song goes on
FIRST_FRAMES = 1 << 20


class RenderWarning(UserWarning):
    """What a render says and goes on: an instrument no bank has (its notes are silent), a
    song far longer than its size suggests. The command prints these in its summary."""


class _ArrayTarget:
    """Where ``render_song``'s blocks go for ``render``: one growing float32 (frames, 2) array."""

    def __init__(self) -> None:
        self._data = np.zeros((0, 2), dtype=np.float32)
        self._pos = 0
        self._group = 0
        self._limit = 0

    @contextmanager
    def open(self, limit: int, group: int) -> Iterator["_ArrayTarget"]:
        self._limit, self._group = limit, group
        self._data = np.empty((min(limit, FIRST_FRAMES) + group, 2), dtype=np.float32)
        yield self

    def buffer(self) -> np.ndarray:
        need = self._pos + self._group
        if need > len(self._data):
            grown = np.empty((max(need, min(self._limit + self._group, 2 * len(self._data))), 2), dtype=np.float32)
            grown[:self._pos] = self._data[:self._pos]
            self._data = grown
        return self._data[self._pos:need]

    def submit(self, frames: int) -> None:
        self._pos += int(frames)

    def result(self) -> np.ndarray:
        data, self._data = self._data, np.zeros((0, 2), dtype=np.float32)
        try:
            data.resize((self._pos, 2), refcheck=True)  # in place: nothing else holds it now
        except ValueError:
            data = data[:self._pos].copy()
        return data


def render(midi: MidiSpec, bank: BankSpec = None, *, rate: int = 48000, interpolation: str = "cubic",
           effects: bool = True, voices: int = 256, gain_db: float = DEFAULT_GAIN_DB,
           tail: Union[str, float] = "auto", max_length: float | None = None,
           threads: int | None = None) -> np.ndarray:
    """Render a song to a (frames, 2) float32 array at ``rate``, as ``dlsynth render`` does.

    midi: a path, the bytes of a .mid, a ``mido.MidiFile``, or an object shaped like
    ``pretty_midi.PrettyMIDI`` (each instrument on a channel of its own, drums on channel
    10; times in seconds become frames ``round(t * rate)``).
    bank: None (the built-in General MIDI bank), a path (DLS, SF2, SF3), a bank from
    ``load_bank``, or a list of these (a later one takes precedence per instrument).
    The rest are the command's options, with its defaults: ``interpolation`` 'linear',
    'cubic' or 'sinc'; ``effects`` reverb and chorus; ``voices`` polyphony (1..4096);
    ``gain_db`` master gain (-12 dB of headroom for chords); ``tail`` seconds after the
    last event, or 'auto' (until silent, at most 30 s); ``max_length`` seconds of output
    at most, tail included; ``threads`` rendering each block (None: the cores; the output
    is the same for every count).

    Raises ``dlsynth.MidiFileError`` for bad MIDI, ``dlsynth.BankError`` for a bad bank,
    ValueError (TypeError for the wrong type) for a bad option. Instruments no bank has
    are said as ``dlsynth.RenderWarning`` (their notes are silent).
    """
    from dlsynth.apps.render import absurd_length_warning, cores, render_song

    rate = options.rate(rate)
    kw = dict(rate=rate, interpolation=options.interpolation(interpolation), effects=options.flag("effects", effects),
              voices=options.voices(voices), gain_db=options.gain_db(gain_db), tail=options.tail(tail),
              max_length=options.max_length(max_length))
    from dlsynth.native.engine import MAX_THREADS

    kw["threads"] = max(1, min(MAX_THREADS, cores())) if threads is None else options.threads(threads)
    banks = banks_of(bank)
    song = song_of(midi, rate)
    if absurd_length_warning(song, rate, "float", kw["max_length"]) is not None and kw["max_length"] is None:
        seconds = song.duration_100ns / 1e7
        warnings.warn(f"{song.source}: the song lasts {seconds:,.0f} s for {len(song.events)} messages: "
                      f"an array of about {seconds * rate * 8 / 1e9:,.1f} GB (max_length= cuts it)",
                      RenderWarning, stacklevel=2)
    target = _ArrayTarget()
    done = render_song(song, banks, target, **kw)  # type: ignore[arg-type]
    for text in done.missing:
        warnings.warn(f"{song.source}: {text}", RenderWarning, stacklevel=2)
    return target.result()
