"""`dlsynth convert IN OUT`: a sound bank from SoundFont 2 to DLS, or from DLS to SoundFont 2.

- SF2 or SF3 -> DLS Level 2: the bank as `dls.read` takes it (presets and zones as
  instruments and regions, generators and modulators as connections), written by
  `dls.write`;
- DLS -> SF2 2.04: `dls.soundfont.writer`;
- DLS -> DLS: the bank read and written again, Level kept: normalised (chunks in the
  usual order, what the reader tolerated and repaired written as it played it);
- SF2 -> SF2 is refused: going through the DLS model would only flatten its presets.

The output format is OUT's extension (``.dls``, ``.sf2``), or ``--to``. Either way the file
is written atomically: a failure or Ctrl-C leaves nothing at OUT (an existing file stays
as it was). Prints one summary line (what was written, how many instruments or presets,
regions or zones, waves or samples) and then, on stderr, each warning: what the input bank
held that the reader had to repair, and what the target format cannot express, one line
per instrument. Exit status 0, or 2 with a one-line error.
"""

from __future__ import annotations

import os
import sys

from .errors import UserError

FORMATS = {".dls": "dls", ".sf2": "sf2"}
_NAMES = {"dls": "DLS", "sf2": "SoundFont 2"}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "convert",
        help="convert a bank: SoundFont 2/3 to DLS, DLS to SoundFont 2",
        description="Convert a sound bank: SF2 or SF3 to DLS Level 2, DLS to SF2 2.04, or DLS to DLS "
        "(re-written, normalised). The output format comes from OUT's extension (.dls, .sf2) unless "
        "--to is given. The file is written atomically; warnings list what the target format cannot "
        "express, per instrument.",
    )
    p.add_argument("input", metavar="IN", help="the bank to convert (.dls, .sf2, .sf3)")
    p.add_argument("output", metavar="OUT", help="the file to write")
    p.add_argument("--to", choices=sorted(_NAMES), help="output format (default: from OUT's extension)")
    p.add_argument("-q", "--quiet", action="store_true", help="print neither the summary nor the warnings")
    p.set_defaults(run=run)


def input_format(path: str) -> str:
    """'sf2' for a RIFF sfbk file (SF2 or SF3), 'dls' otherwise (dls.read judges the rest)."""
    with open(path, "rb") as f:
        head = f.read(12)
    return "sf2" if len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"sfbk" else "dls"


def output_format(path: str, forced: str | None) -> str:
    if forced:
        return forced
    ext = os.path.splitext(path)[1].lower()
    fmt = FORMATS.get(ext)
    if fmt is None:
        if ext == ".sf3":
            raise UserError(f"{path}: writing SF3 (Ogg Vorbis samples) is not supported; write a .sf2")
        raise UserError(
            f"{path}: cannot tell the output format from the extension {ext or '(none)'!r}; "
            "use .dls or .sf2, or give --to dls|sf2"
        )
    return fmt


def run(args) -> int:
    from dlsynth import dls

    src_fmt = input_format(args.input)
    dst_fmt = output_format(args.output, args.to)
    if src_fmt == dst_fmt == "sf2":
        raise UserError(
            f"{args.input} is already a SoundFont; converting it to SoundFont again would only "
            "flatten its presets (convert it to .dls)"
        )
    col = dls.read(args.input)
    if dst_fmt == "dls":
        level = 2 if src_fmt == "sf2" else None
        dls.write(col, args.output, level=level)
        regions = sum(ins.region_count for ins in col.instruments)
        waves = len(col.waves)
        what = f"DLS Level {level or col.level}"
        counts = f"{len(col.instruments)} instruments, {regions} regions, {waves} waves"
        warnings = list(col.warnings)
    else:
        from dlsynth.dls.soundfont.writer import write_sf2

        stem = os.path.splitext(os.path.basename(args.input))[0]
        sf2 = write_sf2(col, args.output, name=stem)
        what = "SoundFont 2.04"
        counts = f"{sf2.presets} presets, {sf2.zones} zones, {sf2.samples} samples"
        warnings = list(col.warnings) + sf2.warnings
    if not args.quiet:
        src = _NAMES[src_fmt] if src_fmt == "sf2" else f"DLS Level {col.level}"
        tail = f"; {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else ""
        print(f"{args.output}: {what} from {args.input} ({src}): {counts}{tail}", flush=True)
        for w in warnings:
            print(f"dlsynth convert: warning: {w}", file=sys.stderr)
    return 0
