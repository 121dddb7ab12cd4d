"""A pretty_midi-shaped object (instruments of notes in seconds) as a Song for the file source.

Duck-typed, with no dependency on pretty_midi: the object has ``.instruments``, each with
``.program``, ``.is_drum``, ``.notes`` (``.start``, ``.end`` in seconds, ``.pitch``,
``.velocity``), ``.control_changes`` (``.time``, ``.number``, ``.value``), ``.pitch_bends``
(``.time``, ``.pitch`` in -8192..8191) and optionally ``.name``.

Channels, as pretty_midi's own ``fluidsynth()`` hears them: it renders every instrument on a
synth of its own, drums on channel 10 (bank 128) and others on channel 1, so no instrument's
controllers, bends or program touch another's. Here every instrument gets a channel of its
own: melodic instruments take the free channels of group 1 (1-9 and 11-16 in MIDI's
numbering, 0-8 and 10-15 counted from 0) in order, the 16th goes on to group 2, and so on;
drum instruments take channel 10 of group 1, 2, ... in order. Each channel gets its
instrument's program at time 0 (for drums, the kit; a kit the bank lacks falls back to the
standard kit, as pretty_midi's own fallback to preset 0).

Times: a time t in seconds is frame ``round(t * rate)``, exactly (its reference time is the
one the Synth's time map turns back into that frame). At one frame, note-offs come first,
then note-ons, bends and controller changes in that order (pretty_midi's order); a note
shorter than half a frame starts and ends on one frame, its note-off after its note-on.
"""

from __future__ import annotations

import operator
from typing import Any

from dlsynth.smf.reader import MidiFileError, Song, TimedMessage

DRUM_CHANNEL = 9  #: channel 10 in MIDI's numbering, counted from 0
MELODIC_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)
#: the latest time an event may have, in seconds (a few days: beyond it, a time is a mistake)
MAX_SECONDS = 1e6
NOTE_OFF_VELOCITY = 64  # the velocity of the note-offs (MIDI's "no release velocity")
# the order of a frame's events (pretty_midi's: note-offs first, the rest in list order)
_PROGRAM, _OFF, _REST, _OFF_OF_A_NOTE_ON_THIS_FRAME = 0, 1, 2, 3


def is_instrument_song(obj: object) -> bool:
    """Whether an object is shaped like a pretty_midi.PrettyMIDI (has ``.instruments``)."""
    return hasattr(obj, "instruments") and not isinstance(obj, (str, bytes))


def channel_slots(instruments: list[Any]) -> list[tuple[int, int]]:
    """(channel group from 1, channel from 0) of each instrument, in order."""
    slots = []
    melodic = drums = 0
    for ins in instruments:
        if bool(getattr(ins, "is_drum", False)):
            drums += 1
            slots.append((drums, DRUM_CHANNEL))
        else:
            slots.append((melodic // len(MELODIC_CHANNELS) + 1, MELODIC_CHANNELS[melodic % len(MELODIC_CHANNELS)]))
            melodic += 1
    return slots


class _Checker:
    """Values read off the object, each checked, failing with one line that says where."""

    def __init__(self, name: str):
        self.name = name

    def fail(self, where: str, problem: str) -> MidiFileError:
        return MidiFileError(f"{self.name}: {where}: {problem}")

    def int_in(self, where: str, what: str, value: Any, lo: int, hi: int) -> int:
        try:
            if isinstance(value, bool):
                raise TypeError
            v = operator.index(value)
        except TypeError:
            raise self.fail(where, f"{what} must be an int, not {value!r}") from None
        if not lo <= v <= hi:
            raise self.fail(where, f"{what} {v} outside {lo}..{hi}")
        return v

    def seconds(self, where: str, what: str, value: Any) -> float:
        try:
            if isinstance(value, (bool, str, bytes)):
                raise TypeError
            t = float(value)
        except (TypeError, ValueError):
            raise self.fail(where, f"{what} must be a number of seconds, not {value!r}") from None
        if not 0.0 <= t <= MAX_SECONDS:  # (NaN fails too)
            raise self.fail(where, f"{what} {value!r} outside 0..{MAX_SECONDS:g} seconds")
        return t


def _items(check: _Checker, where: str, ins: Any, attr: str, required: bool = True) -> list[Any]:
    value = getattr(ins, attr, None)
    if value is None:
        if required:
            raise check.fail(where, f"has no .{attr}")
        return []
    try:
        return list(value)
    except TypeError:
        raise check.fail(where, f".{attr} is not a list") from None


def instrument_song(obj: Any, rate: int, name: str = "<instruments>") -> Song:
    """The Song of a pretty_midi-shaped object at ``rate`` frames per second; raises
    MidiFileError (one line: where, and what is wrong) for a value MIDI cannot carry."""
    from dlsynth.native.engine import MAX_CHANNEL_GROUPS
    from dlsynth.synth.timebase import TimeMap

    import numpy as np

    check = _Checker(name)
    try:
        instruments = list(obj.instruments)
    except TypeError:
        raise MidiFileError(f"{name}: .instruments is not a list") from None
    slots = channel_slots(instruments)
    groups_used = {g for g, _ in slots}
    if groups_used and max(groups_used) > MAX_CHANNEL_GROUPS:
        raise MidiFileError(
            f"{name}: {len(instruments)} instruments need {max(groups_used)} channel groups; "
            f"the synth has at most {MAX_CHANNEL_GROUPS}"
        )
    # (frame, order, sequence number, group, message) of every event
    frames: list[int] = []
    orders: list[int] = []
    groups: list[int] = []
    data: list[bytes] = []
    for i, (ins, (group, ch)) in enumerate(zip(instruments, slots)):
        label = getattr(ins, "name", None)
        where = f"instrument {i}" + (f" ({label})" if isinstance(label, str) and label else "")
        program = check.int_in(where, "program", getattr(ins, "program", None), 0, 127)
        frames.append(0)
        orders.append(_PROGRAM)
        groups.append(group)
        data.append(bytes((0xC0 | ch, program)))
        for k, note in enumerate(_items(check, where, ins, "notes")):
            w = f"{where} note {k}"
            start = round(check.seconds(w, "start", getattr(note, "start", None)) * rate)
            end = round(check.seconds(w, "end", getattr(note, "end", None)) * rate)
            pitch = check.int_in(w, "pitch", getattr(note, "pitch", None), 0, 127)
            velocity = check.int_in(w, "velocity", getattr(note, "velocity", None), 0, 127)
            frames.append(start)
            orders.append(_REST)
            groups.append(group)
            data.append(bytes((0x90 | ch, pitch, velocity)))
            if end > start:
                frames.append(end)
                orders.append(_OFF)
            else:
                frames.append(start)
                orders.append(_OFF_OF_A_NOTE_ON_THIS_FRAME)
            groups.append(group)
            data.append(bytes((0x80 | ch, pitch, NOTE_OFF_VELOCITY)))
        for k, bend in enumerate(_items(check, where, ins, "pitch_bends", required=False)):
            w = f"{where} pitch bend {k}"
            frames.append(round(check.seconds(w, "time", getattr(bend, "time", None)) * rate))
            v = check.int_in(w, "pitch", getattr(bend, "pitch", None), -8192, 8191) + 8192
            orders.append(_REST)
            groups.append(group)
            data.append(bytes((0xE0 | ch, v & 0x7F, v >> 7)))
        for k, cc in enumerate(_items(check, where, ins, "control_changes", required=False)):
            w = f"{where} control change {k}"
            frames.append(round(check.seconds(w, "time", getattr(cc, "time", None)) * rate))
            number = check.int_in(w, "number", getattr(cc, "number", None), 0, 127)
            value = check.int_in(w, "value", getattr(cc, "value", None), 0, 127)
            orders.append(_REST)
            groups.append(group)
            data.append(bytes((0xB0 | ch, number, value)))
    n = len(frames)
    f = np.array(frames, dtype=np.int64)
    # stable: events of one frame and order keep the order they were listed in
    order = np.lexsort((np.arange(n), np.array(orders, dtype=np.int64), f))
    tm = TimeMap(rate)
    ref_of: dict[int, int] = {}
    events = []
    for j in order.tolist():
        fr = frames[j]
        ref = ref_of.get(fr)
        if ref is None:
            ref = ref_of[fr] = tm.sample_to_ref_time(fr)
        events.append(TimedMessage(ref, groups[j], data[j]))
    times = np.fromiter((e.time for e in events), dtype=np.int64, count=n)
    return Song(
        source=name,
        format=1,
        ticks_per_beat=None,
        smpte_division=None,
        events=events,
        times=times,
        duration_100ns=int(times[-1]) if n else 0,
        tracks=[],
        channel_groups=groups_used or {1},
        tempo_changes=[],
    )
