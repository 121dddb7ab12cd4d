"""Stems and note labels of a render: what each instrument played, from the same pass as
the mix (the engine mixes each voice into its stem as it mixes it into the mix:
native/eng_stems.c).

`StemSet` sets the engine's stems up for a song, names them (``<group>-<channel>-<program>-
<GM name>`` by channel, ``<program>-<GM name>`` by program, ``<track>-<track name>`` by
track, ``effects`` for the reverb and chorus return) and hands each pull's stem blocks on.
`LabelBook` drains the engine's note records and joins them into one row per note.

The stems sum to the mix: the mix is the very one rendered without stems (the same bytes),
and each stem is its voices' dry output summed in the engine's fixed order, times the
master gain, the effects' wet return being one more stem; so the sum of the stems differs
from the mix only by float32 rounding (reassociated sums), whatever the thread count or
block size.

A note that starts several voices (layers, stereo pairs) is one row: its voices all start
at the note-on's frame; its end of sound is the latest of its voices' ends, and why it
ended is the reason of the voice that ended last (the first of them, on a tie).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re

import numpy as np

#: bytes of stem blocks a pull may fill at most: pulls are shortened to stay under it
STEM_BUFFER_BYTES = 64 << 20
#: label records the engine's ring holds (a pull drains it; a full ring drops records)
LABEL_RING = 1 << 18

from dlsynth.options import STEMS_BY  # noqa: E402  (the choices, said once there)

EFFECTS_STEM = "effects"
OVERFLOW_STEM = "other"
LABEL_COLUMNS = (
    "group",
    "channel",
    "program",
    "bank_msb",
    "bank_lsb",
    "drum",
    "instrument",
    "key",
    "velocity",
    "start_frame",
    "key_off_frame",
    "end_frame",
    "reason",
    "track",
    "stem",
    "voices",
)


def _safe(text: str) -> str:
    """A file-name part: letters, digits and . + - kept, the rest one underscore."""
    out = re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_.")
    return out or "unnamed"


def patch_parts(patch: int) -> tuple[int, int, int, bool]:
    """(program, bank MSB, bank LSB, drum) of an engine patch key (eng_patch_key)."""
    return patch & 0x7F, (patch >> 14) & 0x7F, (patch >> 7) & 0x7F, bool(patch >> 21 & 1)


def instrument_name(patch: int) -> str:
    """The General MIDI name of a patch: the program's, or the drum kit's; a bank variation
    says its bank."""
    from dlsynth.gmbank import GM_DRUM_KIT_NAMES, GM_PROGRAM_NAMES

    program, msb, lsb, drum = patch_parts(patch)
    if drum:
        return GM_DRUM_KIT_NAMES.get(program, f"Drum Kit {program}")
    name = GM_PROGRAM_NAMES[program]
    return f"{name} (bank {msb}.{lsb})" if msb or lsb else name


def stem_bound(song, by: str) -> int:
    """How many stem slots a song needs: by track, its tracks; by program or channel, from
    its program changes per channel (every select, and every reset, may name a new patch);
    plus the effects' return (stem 0) and the overflow slot the engine keeps last (it makes
    its "other" stem only when a song has more keys than the slots before it)."""
    from dlsynth.native.engine import MAX_STEMS

    if by == "track":
        return min(MAX_STEMS, len(song.tracks) + 2)
    selects: dict[tuple[int, int], int] = {}
    resets = 0
    for _, group, data in song.events:
        st = data[0]
        if st == 0xF0:
            resets += 1
        elif 0x80 <= st < 0xF0:
            k = (group, st & 0x0F)
            selects[k] = selects.get(k, 1) + (1 if st & 0xF0 == 0xC0 else 0)
    per_channel = [n + resets for n in selects.values()]
    total = sum(per_channel) if by == "channel" else min(sum(per_channel), 128 * 128 * 2)
    return max(3, min(MAX_STEMS, total + 2))  # and the effects' return, and the overflow slot


class StemSet:
    """The stems of one render (the engine's, named): `configure` before the first pull,
    `buffer(frames)` to render into, `names()` once the render is done."""

    def __init__(self, engine, by: str, max_stems: int, tracks=()):
        if by not in STEMS_BY:
            raise ValueError(f"stems by {by!r}: use one of {', '.join(STEMS_BY)}")
        self.engine = engine
        self.by = by
        self.max_stems = int(max_stems)
        self.tracks = {t.index: t for t in tracks}
        engine.set_stems(by, self.max_stems)
        self._buf: np.ndarray | None = None
        self._names: list[str] = [EFFECTS_STEM]

    def pull_frames(self, frames: int, block: int) -> int:
        """The longest pull (whole blocks, at least one, at most `frames`) whose stem
        blocks fit STEM_BUFFER_BYTES."""
        per_frame = self.max_stems * 2 * 4
        most = max(block, (STEM_BUFFER_BYTES // per_frame) // block * block)
        return max(block, min(frames, most))

    def buffer(self, frames: int) -> np.ndarray:
        """The (max_stems, frames or more, 2) array the engine writes the stems into."""
        if self._buf is None or self._buf.shape[1] < frames:
            self._buf = np.zeros((self.max_stems, frames, 2), dtype=np.float32)
        return self._buf

    @property
    def count(self) -> int:
        return self.engine.stem_count

    def name(self, stem: int) -> str:
        """The file name (without .wav) of stem `stem`, unique among this set's."""
        while len(self._names) <= stem:
            self._names.append(self._unique(self._make_name(len(self._names))))
        return self._names[stem]

    def _unique(self, name: str) -> str:
        if name not in self._names:
            return name
        k = 2
        while f"{name}-{k}" in self._names:
            k += 1
        return f"{name}-{k}"

    def _make_name(self, stem: int) -> str:
        info = self.engine.stem_info(stem)
        if info["overflow"]:
            return OVERFLOW_STEM
        if self.by == "track":
            tag = info["track"]
            if tag <= 0:
                return "untracked"
            t = self.tracks.get(tag - 1)
            return f"{tag - 1}-{_safe(t.name) if t is not None and t.name else 'track'}"
        program = info["patch"] & 0x7F
        label = f"{program:03d}-{_safe(instrument_name(info['patch']))}"
        if self.by == "program":
            return label
        ch = info["channel"]
        return f"{ch // 16 + 1}-{ch % 16 + 1:02d}-{label}"


class LabelBook:
    """Note labels of one render: `drain` after each pull, `finish` after the last; `rows`
    are the notes (dicts of LABEL_COLUMNS), in note-on order."""

    def __init__(self, engine, stems: StemSet | None = None, tracks=()):
        self.engine = engine
        self.stems = stems
        self.tracks = {t.index: t for t in tracks}
        engine.set_labels(LABEL_RING)
        self._notes: dict[int, dict] = {}
        self._ends: dict[int, tuple[int, int]] = {}  # note -> (end frame, reason) of its last voice so far
        self._open: dict[tuple[int, int], list[int]] = {}  # (channel, key) -> notes awaiting their key-off
        self._order: list[int] = []

    def drain(self) -> None:
        from dlsynth.native.engine import LABEL_END, LABEL_KEY_OFF, LABEL_NOTE

        recs = self.engine.poll_labels()
        for r in recs.tolist():
            frame, note, kind, channel, patch, track, key, velocity, voices, reason, stem, _ = r
            if kind == LABEL_NOTE:
                self._notes[note] = {
                    "frame": frame,
                    "channel": channel,
                    "patch": patch,
                    "track": track,
                    "key": key,
                    "velocity": velocity,
                    "voices": voices,
                    "stem": stem,
                    "key_off": None,
                }
                self._order.append(note)
                self._open.setdefault((channel, key), []).append(note)
            elif kind == LABEL_KEY_OFF:
                keys = [k for k in self._open if k[0] == channel] if key < 0 else [(channel, key)]
                for k in keys:
                    for n in self._open.pop(k, ()):
                        self._notes[n]["key_off"] = frame
            elif kind == LABEL_END:
                last = self._ends.get(note)
                if last is None or frame > last[0]:
                    self._ends[note] = (frame, reason)

    def finish(self) -> None:
        self.engine.finish_labels()
        self.drain()

    @property
    def lost(self) -> int:
        return self.engine.labels_lost

    def rows(self) -> list[dict]:
        from dlsynth.native.engine import END_REASONS

        out = []
        for note in self._order:
            n = self._notes[note]
            program, msb, lsb, drum = patch_parts(n["patch"])
            end = self._ends.get(note)
            if n["voices"] == 0:
                end_frame, reason = n["frame"], "dropped"
            elif end is None:  # (records lost: the ring was full)
                end_frame, reason = None, "unknown"
            else:
                end_frame, reason = end[0], END_REASONS.get(end[1], "unknown")
            track = n["track"] - 1 if n["track"] > 0 else None
            out.append(
                {
                    "group": n["channel"] // 16 + 1,
                    "channel": n["channel"] % 16 + 1,
                    "program": program,
                    "bank_msb": msb,
                    "bank_lsb": lsb,
                    "drum": drum,
                    "instrument": instrument_name(n["patch"]),
                    "key": n["key"],
                    "velocity": n["velocity"],
                    "start_frame": n["frame"],
                    "key_off_frame": n["key_off"],
                    "end_frame": end_frame,
                    "reason": reason,
                    "track": track,
                    "stem": self.stems.name(n["stem"]) if self.stems is not None and n["stem"] > 0 else None,
                    "voices": n["voices"],
                }
            )
        return out


def labels_text(rows: list[dict], fmt: str, sample_rate: int) -> str:
    """The labels as CSV (a header, then one row per note; empty = none) or JSON (the
    sample rate and the notes)."""
    if fmt == "json":
        return json.dumps({"sample_rate": sample_rate, "columns": list(LABEL_COLUMNS), "notes": rows}, indent=1) + "\n"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LABEL_COLUMNS)
    for r in rows:
        w.writerow(["" if r[c] is None else (int(r[c]) if isinstance(r[c], bool) else r[c]) for c in LABEL_COLUMNS])
    return buf.getvalue()


def labels_format(path: str) -> str | None:
    """csv or json, by the file's extension (None: neither)."""
    ext = os.path.splitext(path)[1].lower()
    return {".csv": "csv", ".json": "json"}.get(ext)


def write_labels(path: str, rows: list[dict], sample_rate: int) -> None:
    """The labels file, written atomically (the format by its extension)."""
    from dlsynth.dls.atomicfile import atomic_write

    text = labels_text(rows, labels_format(path) or "csv", sample_rate).encode("utf-8")
    atomic_write(path, lambda fh: fh.write(text))


class StemFiles:
    """One WAV file per stem in a folder, each written atomically like the mix (a
    temporary file renamed at the end; none left behind on failure). A stem born during
    the render starts with the silence before its first note."""

    def __init__(self, folder: str, sample_rate: int, fmt: str, max_frames: int | None, effects: bool):
        self.folder = folder
        self.rate = sample_rate
        self.format = fmt
        self.max_frames = max_frames
        self.effects = effects  #: write effects.wav (off with --no-effects: it would be silent)
        self.sinks: dict[int, object] = {}
        self.frames = 0

    def write(self, stems: StemSet, block: np.ndarray, n: int) -> None:
        """The pull's stems: block[s, :n] for every stem so far."""
        from dlsynth.sink.filesink import WavFileSink

        for s in range(stems.count):
            if s == 0 and not self.effects:
                continue
            sink = self.sinks.get(s)
            if sink is None:
                path = os.path.join(self.folder, stems.name(s) + ".wav")
                sink = WavFileSink(path, self.rate, self.format, max_frames=self.max_frames)
                self.sinks[s] = sink
                silence = np.zeros((min(self.frames, 1 << 16), 2), dtype=np.float32)
                left = self.frames
                while left > 0:
                    k = min(left, len(silence))
                    sink.write(silence[:k])
                    left -= k
            sink.write(block[s, :n])
        self.frames += n

    def close(self, commit: bool = True) -> None:
        """Finish every file (commit) or remove them all."""
        err = None
        for sink in self.sinks.values():
            try:
                sink.close(commit=commit and err is None)
            except Exception as exc:
                err = err or exc
        if err is not None:
            raise err

    @property
    def paths(self) -> list[str]:
        return [s.path for s in self.sinks.values()]


class ArrayOutput:
    """The mix and the stems kept in memory (`render_arrays`): the same pull interface as
    the file sink's writer (buffer, submit)."""

    def __init__(self, frames: int):
        self._buf = np.zeros((frames, 2), dtype=np.float32)
        self.blocks: list[np.ndarray] = []
        self.stem_blocks: dict[int, list[np.ndarray]] = {}
        self.frames = 0
        self.peak = 0.0

    def buffer(self) -> np.ndarray:
        return self._buf

    def submit(self, n: int) -> None:
        b = self._buf[:n].copy()
        if n:
            self.peak = max(self.peak, float(np.max(np.abs(b))))
        self.blocks.append(b)
        self.frames += n

    def write_stems(self, stems: StemSet, block: np.ndarray, n: int) -> None:
        start = self.frames - n  # (submit ran first)
        for s in range(stems.count):
            parts = self.stem_blocks.get(s)
            if parts is None:
                parts = self.stem_blocks[s] = [np.zeros((start, 2), dtype=np.float32)] if start else []
            parts.append(block[s, :n].copy())

    def mix(self) -> np.ndarray:
        return np.concatenate(self.blocks) if self.blocks else np.zeros((0, 2), dtype=np.float32)

    def stems(self, stems: StemSet, effects: bool) -> dict[str, np.ndarray]:
        out = {}
        for s, parts in sorted(self.stem_blocks.items()):
            if s == 0 and not effects:
                continue
            out[stems.name(s)] = np.concatenate(parts)
        return out
