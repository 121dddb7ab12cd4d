"""`dlsynth bench`: live latency and polyphony through a real audio graph (JACK), dlsynth
beside FluidSynth in the same run.

``dlsynth bench latency``
    A JACK probe client (its own process: `probe`) plays a keyboard into the synth's MIDI
    input at known graph frames and captures its output; onsets found in the capture give
    key press -> sound at the output port, counted by the graph (see `plan` for the exact
    definition). dlsynth runs as a user runs it, ``dlsynth play --midi-api jack
    --virtual-port NAME`` (its ``--event-log`` gives the inside view); FluidSynth with
    ``-a jack -m jack``, nothing autoconnected; both play the same probe instrument (a DLS
    file: FluidSynth reads DLS through libinstpatch). p50 / p99 / max, jitter (std), xruns
    (the JACK server's, from the probe's xrun callback; PortAudio's, from dlsynth's
    counters), beside the targets.

``dlsynth bench voices``
    The most voices sustained without xruns at a block size (`voices`).

The server: ``--jack-server auto`` uses the running server JACK_DEFAULT_SERVER names (or
"default"), else starts a JACK dummy server with the block size as its period.

Modules: `config` (settings), `stats` (percentiles, onsets, the graph's clock), `plan`
(what the probe plays), `probe` (the JACK client), `rig` (server and synth processes),
`latency`, `voices`, `report` (tables, JSON, PNG).
"""

from __future__ import annotations

import sys

from dlsynth import options

from .config import DEFAULT_BLOCK, MAX_VOICES, PEERS, RATE, LatencyConfig, VoicesConfig, from_args
from .plan import make_plan
from .stats import detect_onsets, summarize

__all__ = ["add_parser", "detect_onsets", "make_plan", "summarize"]


def _common(q) -> None:
    q.add_argument(
        "--blocksize",
        type=int,
        default=None,
        help=f"audio block size in frames, 64, 128, 256... (default: the running server's period; "
        f"{DEFAULT_BLOCK} for a server started here, with this as its period)",
    )
    q.add_argument("--rate", type=int, default=RATE, help="sample rate of a server started here (default %(default)s)")
    q.add_argument(
        "--jack-server",
        default="auto",
        metavar="auto|NAME",
        help="JACK server: 'auto' uses JACK_DEFAULT_SERVER (or 'default') if running, else starts a "
        "dummy server; NAME must be running",
    )
    q.add_argument(
        "--peer",
        choices=PEERS,
        default="auto",
        help="measure FluidSynth too: auto (where installed, default), fluidsynth (required), none",
    )
    q.add_argument("--interpolation", choices=options.INTERPOLATIONS, default=options.DEFAULT_INTERPOLATION)
    q.add_argument("--json", metavar="FILE", help="write every figure as JSON")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="measure live latency and polyphony through a JACK graph, beside FluidSynth",
        description="Measure dlsynth live, beside FluidSynth: key press to sound through a JACK "
        "graph (latency), and the most voices a block size sustains without xruns (voices).",
    )
    bsub = p.add_subparsers(dest="bench_command", metavar="BENCH")
    lat = bsub.add_parser(
        "latency",
        help="key press to sound through the audio graph",
        description="A JACK probe client (its own process) plays notes into the synth's MIDI "
        "input at known graph frames and finds their onsets in its output: p50, p99, max, "
        "jitter and xruns, for `dlsynth play` and FluidSynth.",
    )
    _common(lat)
    lat.add_argument("--notes", type=int, default=200, help="notes to play (default 200)")
    lat.add_argument(
        "--voices",
        type=int,
        default=0,
        metavar="LOAD",
        help="background load: this many sustained voices, on the other output (default 0)",
    )
    lat.add_argument("--immediate", action="store_true", help="dlsynth in immediate mode (default: scheduled)")
    lat.add_argument(
        "--latency",
        type=float,
        default=None,
        metavar="SECONDS",
        help="dlsynth's scheduled latency (default: play's own)",
    )
    lat.add_argument(
        "--on-cycle",
        action="store_true",
        help="key presses on JACK cycle starts (takes JACK MIDI's per-cycle delivery out)",
    )
    lat.add_argument(
        "--warmup", type=float, default=1.5, metavar="SECONDS", help="run this long before the first note (default 1.5)"
    )
    lat.add_argument(
        "--baseline",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="first count the server's xruns this long with no synth (default 3; 0: skip)",
    )
    lat.add_argument("--seed", type=int, default=1, help="seed of the note spacing (default 1)")
    lat.add_argument("--png", metavar="FILE", help="write the latency distributions as a PNG")
    lat.set_defaults(run=run_latency)
    voi = bsub.add_parser(
        "voices",
        help="the most voices without xruns at a block size",
        description="Ramp up sustained looped voices (doubling, then bisection), holding each "
        "count for --seconds; a count passes with no xruns from the JACK server or PortAudio.",
    )
    _common(voi)
    voi.add_argument("--no-effects", action="store_true", help="no reverb and chorus (in both synths)")
    voi.add_argument("--seconds", type=float, default=3.0, help="seconds per step (default 3)")
    voi.add_argument("--start", type=int, default=32, help="first voice count (default 32)")
    voi.add_argument("--max-voices", type=int, default=MAX_VOICES, help=f"search limit (default {MAX_VOICES})")
    voi.add_argument(
        "--retries", type=int, default=2, help="run a failing step again this many times (a stray xrun; default 2)"
    )
    voi.set_defaults(run=run_voices)

    def no_bench(args):
        p.print_help(sys.stderr)
        return 2

    p.set_defaults(run=no_bench)


def run_latency(args) -> int:
    from . import latency, report

    cfg = from_args(LatencyConfig, args)
    result = latency.run(cfg)
    print(report.latency_text(result))
    if cfg.json:
        report.write_json(cfg.json, result)
    if cfg.png:
        report.write_png(cfg.png, result)
    return 0


def run_voices(args) -> int:
    from . import report, voices

    cfg = from_args(VoicesConfig, args)
    result = voices.run(cfg)
    print(report.voices_text(result))
    if cfg.json:
        report.write_json(cfg.json, result)
    return 0
