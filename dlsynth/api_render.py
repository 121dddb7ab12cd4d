"""``dlsynth.render``: a song to a NumPy array, by the same code as ``dlsynth render``.

The song goes the command's one way: read into a Song, its messages a file source on the
miniport's render stream, the Synth (ISynthSinkDMus) and the engine, block by block
(``dlsynth.apps.render.render_song``); only the blocks land in an array instead of a WAV
file. So ``render(path)`` equals ``dlsynth render path --format float`` sample for sample.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple, Union

import numpy as np

from . import options
from .banks import BankSpec, banks_of
from .song_input import MidiSpec, song_of

__all__ = ["render", "Rendered", "RenderWarning"]


class RenderWarning(UserWarning):
    """What a render says and goes on: an instrument no bank has (its notes are silent), a
    song far longer than its size suggests. The command prints these in its summary."""


class Rendered(NamedTuple):
    """``render(..., stems=..., labels=True)``: the mix and what the same pass gave beside it."""

    mix: np.ndarray  #: float32 (frames, 2)
    stems: dict[str, np.ndarray] | None  #: stem name -> float32 (frames, 2); they sum to the mix
    labels: list[dict] | None  #: one dict per note as played (see the README's --labels)


def render(
    midi: MidiSpec,
    bank: BankSpec = None,
    *,
    rate: int = options.DEFAULT_SAMPLE_RATE,
    interpolation: str = options.DEFAULT_INTERPOLATION,
    effects: bool = True,
    voices: int = options.DEFAULT_VOICES,
    gain_db: float = options.DEFAULT_GAIN_DB,
    tail: Union[str, float] = "auto",
    max_length: float | None = None,
    threads: int | None = None,
    stems: Union[bool, str] = False,
    labels: bool = False,
) -> Union[np.ndarray, Rendered]:
    """Render a song to a (frames, 2) float32 array at ``rate``, as ``dlsynth render`` does.

    midi: a path, the bytes of a .mid, a ``mido.MidiFile``, or an object shaped like
    ``pretty_midi.PrettyMIDI`` (each instrument on a channel of its own, drums on channel
    10; times in seconds become frames ``round(t * rate)``).
    bank: None (the built-in General MIDI bank), a path (DLS, SF2, SF3), a bank from
    ``load_bank``, or a list of these (a later one takes precedence per instrument).
    The rest are the command's options, with its defaults (``dlsynth.options``):
    ``interpolation`` one of ``options.INTERPOLATIONS``; ``effects`` reverb and chorus;
    ``voices`` polyphony (1 to the engine's ``MAX_VOICES``); ``gain_db`` master gain
    (``DEFAULT_GAIN_DB``: headroom for chords); ``tail`` seconds after the
    last event, or 'auto' (until silent, at most 30 s); ``max_length`` seconds of output
    at most, tail included; ``threads`` rendering each block (None: the cores; the output
    is the same for every count).
    ``stems``: True (or 'channel'), 'program' or 'track' also gives one array per instrument
    (per channel group and channel, per program, or per MIDI track; 'effects' is the reverb
    and chorus return), from the same pass, summing to the mix within float32 rounding;
    ``labels`` also gives the notes as played (channel group, channel, program, key,
    velocity, start frame, note-off frame, end-of-sound frame, why it ended). With either,
    the result is a ``Rendered`` (mix, stems, labels); without, the mix alone.

    Raises ``dlsynth.MidiFileError`` for bad MIDI, ``dlsynth.BankError`` for a bad bank,
    ValueError (TypeError for the wrong type) for a bad option. Instruments no bank has
    are said as ``dlsynth.RenderWarning`` (their notes are silent).
    """
    from dlsynth.apps.render import absurd_length_warning, cores, render_song

    if stems is True:
        stems = "channel"
    if stems is not False and stems not in options.STEMS_BY:
        raise ValueError(f"stems must be True, False or one of {', '.join(map(repr, options.STEMS_BY))}, not {stems!r}")
    options.flag("labels", labels)

    rate = options.rate(rate)
    kw = dict(
        rate=rate,
        interpolation=options.interpolation(interpolation),
        effects=options.flag("effects", effects),
        voices=options.voices(voices),
        gain_db=options.gain_db(gain_db),
        tail=options.tail(tail),
        max_length=options.max_length(max_length),
    )
    from dlsynth.native.engine import MAX_THREADS

    kw["threads"] = max(1, min(MAX_THREADS, cores())) if threads is None else options.threads(threads)
    banks = banks_of(bank)
    song = song_of(midi, rate)
    if absurd_length_warning(song, rate, "float", kw["max_length"]) is not None and kw["max_length"] is None:
        seconds = song.duration_100ns / 1e7
        warnings.warn(
            f"{song.source}: the song lasts {seconds:,.0f} s for {len(song.events)} messages: "
            f"an array of about {seconds * rate * 8 / 1e9:,.1f} GB (max_length= cuts it)",
            RenderWarning,
            stacklevel=2,
        )
    done = render_song(song, banks, stems_by=stems or None, labels=labels, **kw)  # type: ignore[arg-type]
    for text in done.missing:
        warnings.warn(f"{song.source}: {text}", RenderWarning, stacklevel=2)
    if stems or labels:
        return Rendered(done.mix, done.stems, done.labels)
    return done.mix
