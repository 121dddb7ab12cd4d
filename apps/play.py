"""`dlsynth play`: play MIDI inputs live through the synth into an audio device.

Each MIDI input is its own channel group; events are stamped at arrival and scheduled at
arrival plus a fixed latency (DirectMusic's scheduled mode), or applied at the next block
with ``--immediate``. A status line shows voices, the audio callback's CPU load, xruns and
the latency. Ctrl-C sends all-notes-off, stops cleanly and saves ``--record``.
"""

from __future__ import annotations

import os
import sys
import time

from .errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "play",
        help="play MIDI inputs live",
        description="Play MIDI keyboards (or other MIDI software) live through the synth. Each MIDI "
        "input is its own channel group of 16 channels. Banks: with no --bank, the built-in General "
        "MIDI bank; with several, later banks take precedence per instrument.",
    )
    p.add_argument("--bank", action="append", default=[], metavar="BANK.dls", help="a DLS bank (repeatable)")
    p.add_argument("--midi-api", metavar="NAME", help="MIDI API: alsa, jack, core or winmm (default: the platform's usual)")
    p.add_argument("--midi-in", action="append", metavar="NAME", help="open MIDI inputs whose name contains NAME "
                   "(repeatable; 'all' for every input; default: all)")
    p.add_argument("--no-midi-in", action="store_true", help="open no MIDI input ports (use --virtual-port)")
    p.add_argument("--virtual-port", metavar="NAME", help="also create a virtual MIDI input port with this name")
    p.add_argument("--device", metavar="NAME", help="audio output device (name substring or index; see `dlsynth devices`)")
    p.add_argument("--blocksize", type=int, default=256, help="audio block size in frames (default 256)")
    p.add_argument("--latency", type=float, default=None, metavar="SECONDS",
                   help="scheduled latency from MIDI arrival to sound (default: the device's latency plus one block)")
    p.add_argument("--immediate", action="store_true", help="apply events at the next block (lowest latency, block jitter)")
    p.add_argument("--rate", type=int, default=48000, help="sample rate (default 48000)")
    p.add_argument("--voices", type=int, default=256, help="polyphony (default 256)")
    p.add_argument("--interpolation", choices=("linear", "cubic", "sinc"), default="cubic")
    p.add_argument("--no-effects", action="store_true", help="no reverb and chorus")
    p.add_argument("--gain", type=float, default=None, metavar="DB", help="master gain in dB (default -12)")
    p.add_argument("--record", metavar="FILE.mid", help="record what is played to a MIDI file")
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS", help="stop after this long")
    p.add_argument("--no-status", action="store_true", help="no status line")
    p.set_defaults(run=run)


def _device(arg):
    if arg is None:
        return None
    return int(arg) if arg.isdigit() else arg


def run(args) -> int:
    from dls.errors import DLSError

    from apps.render import load_banks
    from sink.clock import MasterClock
    from synth.live import EventQueue, MidiInputError, MidiInputs
    from synth.synth import DEFAULT_GAIN_DB, Synth

    if args.blocksize < 16 or args.blocksize > 8192:
        raise UserError("--blocksize must be between 16 and 8192 frames")
    banks = load_banks(args.bank)  # a bad bank is an error, never replaced by another
    clock = MasterClock()
    queue = EventQueue()
    record: list | None = [] if args.record else None
    if args.record:
        d = os.path.dirname(os.path.abspath(args.record))
        if not os.path.isdir(d):
            raise UserError(f"--record: the folder {d} does not exist")
    names = None if args.midi_in is None else list(args.midi_in)
    if args.no_midi_in:
        names = []
    inputs = MidiInputs(queue, clock, api=args.midi_api, names=names, virtual=args.virtual_port, record=record)
    try:
        inputs.open()  # before the audio stream starts (rtmidi and JACK: see RIG.md)
    except MidiInputError as exc:
        raise UserError(str(exc)) from None
    if not inputs.inputs:
        print("dlsynth play: no MIDI inputs found; playing nothing until one appears "
              "(or use --virtual-port NAME)", file=sys.stderr)
    synth = None
    sink = None
    try:
        synth = Synth(args.rate, channel_groups=inputs.channel_groups, voices=args.voices,
                      interpolation=args.interpolation, effects=not args.no_effects,
                      gain_db=DEFAULT_GAIN_DB if args.gain is None else args.gain)
        for col in banks:
            synth.download(col, preload=True)  # never download on the audio thread
        try:
            import sounddevice as sd  # noqa: F401
        except OSError as exc:
            raise UserError(f"PortAudio is not installed ({exc}); run as root: apt-get install libportaudio2") from None
        from sink.wavesink import WaveSink

        try:
            sink = WaveSink(synth, queue, device=_device(args.device), blocksize=args.blocksize,
                            scheduled=not args.immediate, schedule_latency=args.latency, clock=clock)
        except ValueError as exc:
            raise UserError(f"audio device: {' '.join(str(exc).split())} (see `dlsynth devices`)") from None
        except Exception as exc:  # PortAudioError
            raise UserError(f"cannot open the audio output: {' '.join(str(exc).split())} (see `dlsynth devices`)") from None
        notes: list[str] = []
        inputs.watch(1.0, notes.append)
        sink.start()
        _status_loop(args, synth, sink, inputs, queue, notes)
    except KeyboardInterrupt:
        pass
    finally:
        if sink is not None:
            t = clock.get_time()
            for g in range(1, inputs.channel_groups + 1):
                for ch in range(16):
                    queue.put(t, g, bytes([0xB0 | ch, 64, 0]))
                    queue.put(t, g, bytes([0xB0 | ch, 123, 0]))
            time.sleep(min(0.2, 4 * args.blocksize / args.rate + 0.05))
            sink.stop()
        inputs.close()
        if synth is not None:
            synth.close()
    if args.record and record is not None:
        from synth.allocator import Allocator
        from synth.streams import Recorder

        rec = Recorder(Allocator(events=16, buffers=4))
        rec.events.extend(record)
        summary = rec.save_midi(args.record)
        print(f"dlsynth play: recorded {summary['messages']} messages to {args.record}", file=sys.stderr)
    if sink is not None:
        print(f"dlsynth play: {sink.callbacks} blocks, {sink.xruns} xruns, {queue.received} MIDI messages, "
              f"peak callback load {100 * sink.peak_load:.0f} %", file=sys.stderr)
    return 0


def _status_loop(args, synth, sink, inputs, queue, notes) -> None:
    t0 = time.monotonic()
    tty = sys.stderr.isatty() and not args.no_status

    def line() -> str:
        st = synth.engine.stats()
        ins = ", ".join(f"{i.port_name or i.name}->{i.group}" + ("" if i.connected else " (gone)") for i in inputs.inputs) or "none"
        return (f"voices {st['voices_active']:3d} (peak {st['peak_voices']})  load {100 * sink.load:4.1f} %  "
                f"xruns {sink.xruns}  latency {1000 * sink.latency:.1f} ms  events {queue.received}  inputs: {ins}")

    if tty:
        from rich.live import Live

        with Live(line(), refresh_per_second=4, transient=True) as live:
            while args.duration is None or time.monotonic() - t0 < args.duration:
                time.sleep(0.25)
                while notes:
                    live.console.print(notes.pop(0))
                live.update(line())
    else:
        while args.duration is None or time.monotonic() - t0 < args.duration:
            time.sleep(0.25)
            while notes:
                print(notes.pop(0), file=sys.stderr)
