"""`dlsynth info [BANK]`: what a DLS or SoundFont bank holds, in human units, with its warnings.

A SoundFont (SF2 or SF3) is described as the DLS collection it is read into: its presets
as instruments, its zones as regions, its generators and modulators as connections, and
the reader's warnings, one line per preset for what the synth cannot play as meant.

With no bank, describes the built-in default bank. ``--json`` prints the same as JSON
(top-level ``instruments``, ``waves``, ``warnings`` and ``articulations`` lists). Exit status 0 for a good
bank, 2 for a bad one (with a one-line error).
"""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "info",
        help="describe a DLS or SoundFont bank (instruments, regions, waves, articulation, warnings)",
        description="Describe a DLS or SoundFont 2/3 bank: instruments (a SoundFont's presets: bank "
        "MSB/LSB, program, drum flag, name), "
        "regions (key and velocity ranges, wave, loop), articulation in human units and the "
        "reader's warnings. With no BANK, the built-in default General MIDI bank.",
    )
    p.add_argument("bank", nargs="?", help="a DLS, SF2 or SF3 file (default: the built-in bank)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--brief", action="store_true", help="one line per instrument, no regions or articulation")
    p.add_argument("--waves", action="store_true", help="also list the wave pool (text output)")
    p.set_defaults(run=run)


def _bank_path(arg: str | None) -> str:
    if arg:
        return arg
    from dlsynth.gmbank import default_bank_path

    return str(default_bank_path())


def run(args) -> int:
    from dlsynth import dls
    from dlsynth.dls.describe import describe, describe_json

    import gc

    path = _bank_path(args.bank)
    col = dls.read(path)
    gc.disable()  # a short-lived command building many small objects
    if args.json:
        # The same text as json.dumps(describe(col)), written without a dict per region.
        out = sys.stdout
        out.write(describe_json(col, brief=args.brief))
        out.write("\n")
        return 0
    data = describe(col)
    _print_text(data, brief=args.brief, waves=args.waves)
    return 0


def _range(lo: int, hi: int) -> str:
    from dlsynth.dls.describe import note_name

    if lo == hi:
        return f"{lo} ({note_name(lo)})"
    return f"{lo}-{hi} ({note_name(lo)}-{note_name(hi)})"


def _loop_text(ws: dict | None) -> str:
    if not ws or not ws["loops"]:
        return "no loop"
    lp = ws["loops"][0]
    return f"{lp['type']} loop {lp['start']}+{lp['length']}"


def _print_text(d: dict, brief: bool, waves: bool) -> None:
    from dlsynth.dls.describe import connection_text

    w = sys.stdout.write
    mb = d["sample_bytes"] / 1e6
    w(f"{d['file']}\n")
    name = f' "{d["name"]}"' if d["name"] else ""
    ver = f", version {d['version']}" if d["version"] else ""
    w(
        f"{d['format']}{name}{ver}: {d['instrument_count']} instruments, "
        f"{d['region_count']} regions, {d['wave_count']} waves ({mb:.1f} MB of samples)\n"
    )
    for k, v in d["info"].items():
        if v and k not in ("INAM", "ifil"):
            w(f"  {k}: {' '.join(v.split())}\n")
    w("\n bank MSB:LSB  prog  kit  regions  name\n")
    waves_list = d["waves"]
    arts = d["articulations"]
    for ins in d["instruments"]:
        kit = "drum" if ins["drum"] else "    "
        w(
            f"    {ins['bank_msb']:3d}:{ins['bank_lsb']:<3d}   {ins['program']:3d}  {kit}  {len(ins['regions']):6d}  {ins['name']}\n"
        )
        if brief:
            continue
        for aid in ins["articulation"]:
            art = arts[aid]
            w(f"      instrument articulation (art{art['level']}):\n")
            for c in art["connections"]:
                w(f"        {connection_text(c)}\n")
        for r in ins["regions"]:
            wi = r["wave"]
            wave = waves_list[wi] if wi < len(waves_list) else None
            wname = f' "{wave["name"]}"' if wave and wave["name"] else ""
            ws = r["wsmp"] or (wave["wsmp"] if wave else None)
            unity = f", unity {ws['unity_note']}" if ws else ""
            fine = f" {ws['fine_tune_cents']:+d} c" if ws and ws["fine_tune_cents"] else ""
            att = f", {ws['gain_db']:+.1f} dB" if ws and ws["gain_db"] else ""
            extras = []
            if r["key_group"]:
                extras.append(f"key group {r['key_group']}")
            if r["layer"]:
                extras.append(f"layer {r['layer']}")
            if r["multichannel"] or r["channel"] not in (0, 1):
                extras.append(f"channel mask {r['channel']}")
            ex = (", " + ", ".join(extras)) if extras else ""
            w(
                f"      key {_range(r['key_low'], r['key_high'])}  vel {r['vel_low']}-{r['vel_high']}  "
                f"wave {wi}{wname}{unity}{fine}{att}, {_loop_text(ws)}{ex}\n"
            )
            for aid in r["articulation"]:
                for c in arts[aid]["connections"]:
                    w(f"          {connection_text(c)}\n")
    if waves:
        w("\n wave  rate    ch bits  frames     seconds  name\n")
        for wv in waves_list:
            w(
                f"  {wv['index']:4d}  {wv['sample_rate']:6d}  {wv['channels']:2d} {wv['bits']:4d}  {wv['frames']:9d}  "
                f"{wv['seconds']:8.3f}  {wv['name']}{'' if wv['supported'] else '  [' + wv['format'] + ']'}\n"
            )
    if d["warnings"]:
        w(f"\n{len(d['warnings'])} warning(s):\n")
        for msg in d["warnings"]:
            w(f"  - {msg}\n")
