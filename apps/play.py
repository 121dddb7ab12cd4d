"""`dlsynth play`: play MIDI inputs live through the synth into an audio device.

Each MIDI input is its own channel group; events are stamped at arrival and scheduled at
arrival plus a fixed latency (DirectMusic's scheduled mode), or applied at the next block
with ``--immediate``. The audio callback is C (sink.wavesink); the Service thread
(synth.service) does drift correction, input hot-plug and reporting. Ctrl-C, SIGTERM and
the end of ``--duration`` release every note and let the tails ring out (at most
``RELEASE_SECONDS``) before stopping; a device or JACK server that goes away ends the
session with one line and status 2.
"""

from __future__ import annotations

import os
import sys
import time

from . import interrupts
from .arguments import add_bank_option
from .errors import UserError
from .jackserver import DUMMY_SERVER_HINT

RELEASE_SECONDS = 2.0  # longest wait for release tails when stopping
from dlsynth import options  # noqa: E402
from dlsynth.options import GAIN_DB_RANGE as GAIN_RANGE_DB  # noqa: E402

BLOCKSIZE_RANGE = (16, 8192)
LATENCY_RANGE_S = (0.0, 2.0)
MAX_DURATION_S = 1e7
SPARE_GROUPS = 16  # channel groups for inputs plugged in after start
FOREGROUND_DOWNLOAD_S = 0.3  # downloads before the stream starts; the rest in the background
_PA_CLIENT_NAME = None


def add_parser(sub) -> None:
    p = sub.add_parser(
        "play",
        help="play MIDI inputs live",
        description="Play MIDI keyboards (or other MIDI software) live through the synth. Each MIDI "
        "input is its own channel group of 16 channels; with the default --midi-in all, inputs "
        "plugged in later are opened too. Banks: with no --bank, the built-in General MIDI bank; "
        "with several, later banks take precedence per instrument.",
    )
    add_bank_option(p)
    p.add_argument(
        "--midi-api", metavar="NAME", help="MIDI API: alsa, jack, core or winmm (default: the platform's usual)"
    )
    p.add_argument(
        "--midi-in",
        action="append",
        metavar="NAME",
        help="open MIDI inputs whose name contains NAME "
        "(repeatable; 'all' for every input, also those plugged in later; default: all)",
    )
    p.add_argument("--no-midi-in", action="store_true", help="open no MIDI input ports (use --virtual-port)")
    p.add_argument("--virtual-port", metavar="NAME", help="also create a virtual MIDI input port with this name")
    p.add_argument(
        "--device", metavar="NAME", help="audio output device (name substring or index; see `dlsynth devices`)"
    )
    p.add_argument(
        "--blocksize",
        type=int,
        default=256,
        help=f"audio block size in frames ({BLOCKSIZE_RANGE[0]}..{BLOCKSIZE_RANGE[1]}, default 256)",
    )
    p.add_argument(
        "--latency",
        type=float,
        default=None,
        metavar="SECONDS",
        help="scheduled latency from MIDI arrival to sound (default: the device's latency plus one block)",
    )
    p.add_argument(
        "--immediate", action="store_true", help="apply events at the next block (lowest latency, block jitter)"
    )
    p.add_argument("--rate", type=int, default=options.DEFAULT_SAMPLE_RATE, help="sample rate (default %(default)s)")
    p.add_argument("--voices", type=int, default=options.DEFAULT_VOICES, help="polyphony (default %(default)s)")
    p.add_argument(
        "--interpolation",
        choices=options.INTERPOLATIONS,
        default=options.DEFAULT_INTERPOLATION,
        help="sample interpolation (default %(default)s)",
    )
    p.add_argument("--no-effects", action="store_true", help="no reverb and chorus")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="threads rendering each audio block (default 1; more when one core cannot keep up at small block sizes)",
    )
    p.add_argument(
        "--gain",
        type=float,
        default=None,
        metavar="DB",
        help=f"master gain in dB ({GAIN_RANGE_DB[0]:g}..{GAIN_RANGE_DB[1]:g}, default {options.DEFAULT_GAIN_DB:g}); "
        "the output is clipped at 0 dBFS whatever the gain",
    )
    p.add_argument("--record", metavar="FILE.mid", help="record what is played to a MIDI file")
    p.add_argument(
        "--event-log",
        metavar="FILE",
        help="write every MIDI message as applied (arrival stamp, engine frame, group, bytes, late) as JSON lines",
    )
    p.add_argument(
        "--stats-json",
        metavar="FILE",
        help="at the end, write the session's counters (blocks, xruns, "
        "MIDI messages, late, dropped, time-map re-locks, peak voices and load) as JSON",
    )
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS", help="stop after this long")
    p.add_argument("--no-status", action="store_true", help="no status line")
    p.set_defaults(run=run)


def _device(arg):
    if arg is None:
        return None
    return int(arg) if arg.isdigit() else arg


def check_args(args) -> None:
    """Every option in range, before anything is loaded (one-line errors, status 2)."""
    from dlsynth.outputs import OutputPathError, check_file_folder

    from .errors import checked_option

    checked_option(options.rate, args.rate, "--rate")
    checked_option(options.threads, args.threads, "--threads")
    checked_option(options.voices, args.voices, "--voices")
    if not BLOCKSIZE_RANGE[0] <= args.blocksize <= BLOCKSIZE_RANGE[1]:
        raise UserError(
            f"--blocksize must be between {BLOCKSIZE_RANGE[0]} and {BLOCKSIZE_RANGE[1]} frames, not {args.blocksize}"
        )
    if args.latency is not None and not LATENCY_RANGE_S[0] <= args.latency <= LATENCY_RANGE_S[1]:
        raise UserError(
            f"--latency must be between {LATENCY_RANGE_S[0]:g} and {LATENCY_RANGE_S[1]:g} seconds, not {args.latency:g}"
        )
    if args.duration is not None and not 0 < args.duration <= MAX_DURATION_S:
        raise UserError(f"--duration must be a positive number of seconds, not {args.duration:g}")
    if args.gain is not None:
        checked_option(options.gain_db, args.gain, "--gain")
    for opt, path in (("--record", args.record), ("--event-log", args.event_log), ("--stats-json", args.stats_json)):
        if path:
            try:
                check_file_folder(path)
            except OutputPathError as exc:
                raise UserError(f"{opt} {exc}") from None


def _portaudio(client_name: str = "dlsynth"):
    """sounddevice, with PortAudio's JACK client named `client_name` (not "PortAudio")."""
    try:
        import sounddevice as sd
    except OSError as exc:
        raise UserError(f"PortAudio is not installed ({exc}); run as root: apt-get install libportaudio2") from None
    try:
        import ctypes

        from dlsynth.synth.live import client_name_for

        pa = ctypes.CDLL(sd._libname)
        if hasattr(pa, "PaJack_SetClientName"):
            global _PA_CLIENT_NAME  # PortAudio keeps the pointer: the buffer must outlive it
            _PA_CLIENT_NAME = ctypes.create_string_buffer(client_name_for(client_name).encode())
            pa.PaJack_SetClientName(_PA_CLIENT_NAME)
            sd._terminate()
            sd._initialize()
    except Exception:
        pass
    quiet_jack()
    return sd


def quiet_jack() -> None:
    """Silence every libjack loaded in this process (PortAudio's, and the copy bundled in
    python-rtmidi's wheel): when a server goes away they flood stderr. Counted instead."""
    from dlsynth.native import lib

    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "libjack" in line and "/" in line}
    except OSError:
        libs = {"libjack.so.0"}
    for path in sorted(libs):
        lib.ws_quiet_jack(path.encode())


def run(args) -> int:
    check_args(args)
    from dlsynth.apps.render import load_banks
    from dlsynth.synth.live import MIDI_CLIENT, MidiInputError, MidiInputs
    from dlsynth.synth.synth import Synth

    banks = load_banks(args.bank, lambda text: print(f"dlsynth play: {text}", file=sys.stderr, flush=True))
    # (a bad bank is an error, never replaced by another)
    # With JACK MIDI and no --device, JACK itself is the audio device: dlsynth's one JACK
    # client reads the MIDI and renders in the same cycle. Otherwise PortAudio.
    native_jack = args.device is None and _midi_api(args) == "jack"
    if not native_jack:
        _portaudio()
    from dlsynth.sink.wavesink import DeviceLost, WaveSink
    from dlsynth.synth.service import ServiceThread

    names = None if args.midi_in is None else list(args.midi_in)
    if args.no_midi_in:
        names = []
    record: list | None = [] if args.record else None
    synth = Synth(
        args.rate,
        channel_groups=SPARE_GROUPS + 1 + (len(names) if names else 0),
        voices=args.voices,
        interpolation=args.interpolation,
        effects=not args.no_effects,
        gain_db=options.DEFAULT_GAIN_DB if args.gain is None else args.gain,
        threads=args.threads,
    )
    for col in banks:
        # Playable at once: the power-on patches now, the rest on the Service thread (never
        # on the audio thread), in well under a second even for a 150 MB bank.
        synth.download_in_background(col)
    # What fits in FOREGROUND_DOWNLOAD_S goes before the stream starts (all of the built-in
    # bank: 0.04 s), so its first notes never meet an instrument still loading.
    synth.download_some(FOREGROUND_DOWNLOAD_S)
    if not native_jack:
        _check_output_device(args.device)
    try:
        sink = WaveSink(
            synth,
            device=_device(args.device),
            blocksize=args.blocksize,
            scheduled=not args.immediate,
            schedule_latency=args.latency,
            trace=bool(args.event_log or args.record),
            jack=True if native_jack else None,
        )
    except ValueError as exc:
        raise UserError(f"audio device: {' '.join(str(exc).split())} (see `dlsynth devices`)") from None
    except Exception as exc:  # PortAudioError
        raise UserError(f"cannot open the audio output: {' '.join(str(exc).split())} (see `dlsynth devices`)") from None
    from dlsynth.synth.miniport import Miniport

    miniport = Miniport().init(
        synth=synth, sample_rate=args.rate, voices=args.voices, channel_groups=synth.channel_groups
    )
    render = miniport.new_stream("render")
    render.set_state("run")
    inputs = MidiInputs(
        sink.handle,
        miniport,
        render,
        api=args.midi_api,
        names=names,
        virtual=args.virtual_port,
        max_group=synth.channel_groups,
        client_name="dlsynth" if native_jack else MIDI_CLIENT,
    )
    log = open(args.event_log, "w") if args.event_log else None
    service = ServiceThread(synth, sink, inputs, event_log=log, record=record)
    stopped_by = None
    try:
        try:
            inputs.open()
        except MidiInputError as exc:
            raise UserError(str(exc)) from None
        if inputs.fallback_note:
            print(f"dlsynth play: {inputs.fallback_note}", file=sys.stderr)
        quiet_jack()  # python-rtmidi's own libjack is loaded now
        if native_jack:
            try:
                sink.attach_jack(inputs.backend.ptr)
            except ValueError as exc:
                raise UserError(str(exc)) from None
        else:
            inputs.follow_sink_clock(sink)
        if not any(i.connected for i in inputs.inputs):
            print(
                "dlsynth play: no MIDI inputs yet; inputs that appear are opened as they come "
                "(or use --virtual-port NAME)",
                file=sys.stderr,
            )
        sink.start()
        service.start()
        _status_loop(args, synth, sink, inputs, service)
        stopped_by = "duration"
    except KeyboardInterrupt as exc:
        stopped_by = exc
    except DeviceLost as exc:
        _abandon(f"dlsynth play: error: {exc}", args, record)
    if service.error is not None:
        _abandon(f"dlsynth play: error: {service.error}", args, record)
    # Release every note, let the tails ring out, then stop.
    received = sink.stats()["midi_in"]  # what the inputs sent (not our own all-notes-off)
    try:
        service.stop_recording()
        if sink.running:
            _release(synth, sink, service)
        service.stop()
        if sink.jack is None:
            inputs.close()  # no callback pushes into the sink after this
        if log is not None or record is not None:
            try:
                service.step()  # the last of the event log and the recording
            except Exception:
                pass
        sink.silence()
        time.sleep(2 * args.blocksize / args.rate + 0.01)
        if not sink.stop():
            _abandon(
                "dlsynth play: error: the audio device did not stop (is the JACK server still running?)", args, record
            )
        inputs.close()  # (JACK as the device: its client goes last, after the sink let go of it)
    except KeyboardInterrupt:
        stopped_by = stopped_by or KeyboardInterrupt()
    finally:
        if log is not None:
            log.close()
    _save_record(args, record)
    _summary(sink, synth, args.stats_json, received)
    sink.close()
    synth.close()
    if isinstance(stopped_by, BaseException):
        raise stopped_by
    return 0


def _midi_api(args) -> str | None:
    """The MIDI API play will use (None if it cannot tell yet: the fallback decides)."""
    from dlsynth.synth.live import MidiInputError, api_name

    if args.midi_api is None:
        return None
    try:
        return api_name(args.midi_api)
    except MidiInputError as exc:
        raise UserError(str(exc)) from None


def _check_output_device(device) -> None:
    """A clear line when there is no audio output at all (rather than PortAudio's
    "Error querying device -1")."""
    import sounddevice as sd

    if device is not None:
        return
    try:
        sd.query_devices(kind="output")
    except Exception:
        raise UserError(
            "no audio output device: PortAudio finds none (no sound card, and no JACK server "
            f"running? see `dlsynth devices`; with no sound card, {DUMMY_SERVER_HINT} will do)"
        ) from None


def _release(synth, sink, service) -> None:
    """All notes off (sustain off first) on every group; wait for the voices to finish."""
    from dlsynth.synth.live import silence_messages

    for g in range(1, synth.channel_groups + 1):
        for msg in silence_messages():
            sink.push(g, msg)
    t_end = time.monotonic() + RELEASE_SECONDS
    time.sleep(0.05)
    while time.monotonic() < t_end:
        if service.error is not None or not service.alive:
            break
        if synth.engine.stats()["voices_active"] == 0:
            break
        time.sleep(0.02)


def _abandon(message: str, args, record) -> None:
    """The device is gone: say so in one line and leave now (stopping a stream whose JACK
    server died can hang inside PortAudio, so nothing else is waited for)."""
    print(message, file=sys.stderr)
    try:
        _save_record(args, record)
    finally:
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(2)


def _save_record(args, record) -> None:
    if not args.record or record is None:
        return
    from dlsynth.synth.allocator import Allocator
    from dlsynth.synth.streams import Recorder

    rec = Recorder(Allocator(events=16, buffers=4))
    rec.events.extend(record)
    summary = rec.save_midi(args.record)
    print(f"dlsynth play: recorded {summary['messages']} messages to {args.record}", file=sys.stderr)


def _summary(sink, synth, stats_json: str | None = None, received: int | None = None) -> None:
    st = sink.stats()
    if received is not None:
        st["midi_in"] = received
    es = synth.engine.stats()
    if stats_json:
        import json

        from dlsynth.dls.atomicfile import atomic_write

        doc = {
            "blocks": st["callbacks"],
            "xruns": st["xruns"],
            "midi_messages": st["midi_in"],
            "late": st["late"],
            "dropped": st["midi_dropped"] + st["heap_full"],
            "clipped_samples": st["clipped"],
            "time_map_relocks": sink.discontinuities,
            "scheduled_latency_s": sink.latency,
            "peak_voices": es["peak_voices"],
            "peak_load": st["peak_load"],
            "load": st["load"],
        }
        atomic_write(stats_json, lambda fh: fh.write(json.dumps(doc, indent=2).encode() + b"\n"))
    print(
        f"dlsynth play: {st['callbacks']} blocks, {st['xruns']} xruns, {st['midi_in']} MIDI messages "
        f"({st['late']} late, {st['midi_dropped'] + st['heap_full']} dropped), peak voices {es['peak_voices']}, "
        f"peak callback load {100 * st['peak_load']:.0f} %"
        + (f", {st['clipped']} samples clipped at 0 dBFS" if st["clipped"] else ""),
        file=sys.stderr,
    )


def _status_loop(args, synth, sink, inputs, service) -> None:
    from dlsynth.sink.wavesink import DeviceLost

    t0 = time.monotonic()
    tty = sys.stderr.isatty() and not args.no_status

    def line() -> str:
        st = sink.stats()
        es = synth.engine.stats()
        ins = (
            ", ".join(f"{i.port_name or i.name}->{i.group}" + ("" if i.connected else " (gone)") for i in inputs.inputs)
            or "none"
        )
        return (
            f"voices {es['voices_active']:3d} (peak {es['peak_voices']})  load {100 * st['load']:4.1f} %  "
            f"xruns {st['xruns']}  latency {1000 * sink.latency:.1f} ms  events {st['midi_in']}  inputs: {ins}"
        )

    def running() -> bool:
        interrupts.raise_pending()  # a Ctrl-C lost in a finalizer or callback still stops play
        if service.error is not None:
            raise DeviceLost(str(service.error))
        return args.duration is None or time.monotonic() - t0 < args.duration

    if tty:
        from rich.live import Live

        with Live(line(), refresh_per_second=4, transient=True) as live:
            while running():
                time.sleep(0.1)
                while service.notes:
                    live.console.print(service.notes.pop(0))
                live.update(line())
    else:
        while running():
            time.sleep(0.05)
            while service.notes:
                print(service.notes.pop(0), file=sys.stderr)
