"""`dlsynth devices`: the audio outputs and MIDI ports dlsynth can use, per API.

Audio output devices come from PortAudio (through sounddevice), grouped by host API
(ALSA, JACK, CoreAudio, WASAPI...). MIDI ports come from RtMidi (through python-rtmidi), for
every MIDI API it was built with (ALSA, JACK, CoreMIDI, WinMM). An API that cannot be opened
here (no ALSA sequencer in a container, no JACK server running) gets one line saying so;
it does not stop the listing. ``--json`` prints the same as one JSON object. Exit status 0,
also when there is nothing to list (that is said plainly, with a hint).

The names printed for the MIDI APIs (``alsa``, ``jack``, ``core``, ``winmm``) are the ones
``--midi-api`` accepts; ``midi_api_from_name`` and ``default_midi_api`` are shared with
`dlsynth play`.

Probing prints nothing of the C libraries' own complaints (alsa-lib and libjack write to
stderr when there is no sequencer or server); set DLSYNTH_DEBUG=1 to see them. Listing
never starts a JACK server (JACK_NO_START_SERVER=1 while probing).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

from .errors import UserError
from .jackserver import DUMMY_SERVER_HINT

#: How the MIDI APIs are shown (python-rtmidi's short name -> display name).
MIDI_API_DISPLAY = {
    "alsa": "ALSA sequencer",
    "jack": "JACK MIDI",
    "core": "CoreMIDI",
    "winmm": "Windows MultiMedia",
    "web": "Web MIDI",
    "dummy": "dummy",
}
#: Accepted spellings for --midi-api, beyond python-rtmidi's short names.
MIDI_API_ALIASES = {
    "coremidi": "core",
    "macos": "core",
    "windows": "winmm",
    "mme": "winmm",
    "windows_mm": "winmm",
}
CLIENT_NAME = "dlsynth-devices"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "devices",
        help="list audio output devices and MIDI ports, per API",
        description="List the audio output devices PortAudio offers (per host API: ALSA, JACK, "
        "CoreAudio, WASAPI...) and the MIDI ports RtMidi offers (per MIDI API: ALSA, JACK, "
        "CoreMIDI, WinMM). An API that cannot be opened here is reported in one line.",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument(
        "--midi-api",
        metavar="NAME",
        help="list only this MIDI API (alsa, jack, core, winmm, as this python-rtmidi offers)",
    )
    p.set_defaults(run=run)


# ----------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def _quiet_c_stderr():
    """Silence what C libraries write straight to file descriptor 2 (alsa-lib, libjack)."""
    if os.environ.get("DLSYNTH_DEBUG") == "1":
        yield
        return
    saved = None
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        saved = None
    try:
        yield
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def _no_jack_autostart():
    old = os.environ.get("JACK_NO_START_SERVER")
    os.environ["JACK_NO_START_SERVER"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("JACK_NO_START_SERVER", None)
        else:
            os.environ["JACK_NO_START_SERVER"] = old


def _one_line(exc: BaseException) -> str:
    return " ".join((str(exc).strip() or exc.__class__.__name__).split())


def _midi_error_text(api_name: str, exc: BaseException) -> str:
    """The reason an API cannot be opened, in words a user can act on."""
    msg = _one_line(exc)
    low = msg.lower()
    if api_name == "alsa" and "sequencer" in low:
        return "cannot open the ALSA sequencer (/dev/snd/seq): no sound hardware or snd-seq module here"
    if api_name == "jack" and ("server not running" in low or "jack server" in low):
        return "no JACK server is running"
    return msg


def midi_api_names() -> dict[str, int]:
    """Short name -> python-rtmidi API constant, for the APIs this python-rtmidi was built with."""
    import rtmidi

    return {rtmidi.get_api_name(api): api for api in rtmidi.get_compiled_api()}


def midi_api_from_name(name: str) -> int:
    """The python-rtmidi API constant for a --midi-api NAME (UserError if not available)."""
    try:
        compiled = midi_api_names()
    except ImportError as exc:
        raise UserError(f"python-rtmidi is not installed ({_one_line(exc)}): pip install python-rtmidi") from None
    key = name.strip().lower()
    key = MIDI_API_ALIASES.get(key, key)
    if key in compiled:
        return compiled[key]
    offered = ", ".join(sorted(compiled)) or "none"
    raise UserError(f"unknown or unavailable MIDI API {name!r}: this python-rtmidi offers {offered}")


def default_midi_api() -> str:
    """The platform's usual MIDI API, by short name (shared with `dlsynth play`)."""
    from dlsynth.synth.live import default_api_name

    return default_api_name()


# ----------------------------------------------------------------------------- collecting
def collect_audio() -> dict:
    """PortAudio's output devices, grouped by host API."""
    out: dict = {"available": False, "error": None, "portaudio": None, "host_apis": []}
    try:
        with _no_jack_autostart(), _quiet_c_stderr():
            import sounddevice as sd
    except OSError as exc:  # sounddevice imports, but libportaudio is missing
        out["error"] = (
            f"PortAudio library not found ({_one_line(exc)}): install libportaudio2 or the platform's PortAudio"
        )
        return out
    except ImportError as exc:
        out["error"] = f"sounddevice is not installed ({_one_line(exc)}): pip install sounddevice"
        return out
    try:
        out["portaudio"] = sd.get_portaudio_version()[1]
        apis = sd.query_hostapis()
        devices = sd.query_devices()
    except Exception as exc:  # PortAudio errors are sd.PortAudioError
        out["error"] = f"PortAudio could not list devices: {_one_line(exc)}"
        return out
    out["available"] = True
    for api_index, api in enumerate(apis):
        default = api.get("default_output_device", -1)
        entry = {
            "index": api_index,
            "name": api["name"],
            "default_output": default if default is not None and default >= 0 else None,
            "devices": [],
        }
        for dev_index in api["devices"]:
            dev = devices[dev_index]
            if dev["max_output_channels"] <= 0:
                continue
            entry["devices"].append(
                {
                    "index": dev_index,
                    "name": dev["name"],
                    "channels": dev["max_output_channels"],
                    "default_samplerate": dev["default_samplerate"],
                    "low_latency_ms": round(dev["default_low_output_latency"] * 1e3, 3),
                    "high_latency_ms": round(dev["default_high_output_latency"] * 1e3, 3),
                    "default": dev_index == default,
                }
            )
        out["host_apis"].append(entry)
    return out


def collect_midi(only: str | None = None) -> dict:
    """RtMidi's input and output ports, per MIDI API (each API probed on its own)."""
    out: dict = {"available": False, "error": None, "rtmidi": None, "default_api": default_midi_api(), "apis": []}
    try:
        import rtmidi

        from dlsynth.synth.live import client_name_for
    except ImportError as exc:
        out["error"] = f"python-rtmidi is not installed ({_one_line(exc)}): pip install python-rtmidi"
        return out
    out["available"] = True
    out["rtmidi"] = getattr(rtmidi, "__version__", None)
    apis = midi_api_names()
    if only is not None:
        wanted = midi_api_from_name(only)
        apis = {k: v for k, v in apis.items() if v == wanted}
    for name, api in apis.items():
        entry = {
            "api": name,
            "name": MIDI_API_DISPLAY.get(name) or rtmidi.get_api_display_name(api),
            "available": True,
            "error": None,
            "inputs": [],
            "outputs": [],
        }
        for key, cls in (("inputs", rtmidi.MidiIn), ("outputs", rtmidi.MidiOut)):
            try:
                with _no_jack_autostart(), _quiet_c_stderr():
                    port = cls(api, name=client_name_for(CLIENT_NAME))
                    try:
                        entry[key] = list(port.get_ports())
                    finally:
                        port.delete()
            except Exception as exc:  # rtmidi.SystemError and friends: this API is not usable here
                entry["available"] = False
                entry["error"] = _midi_error_text(name, exc)
                entry["inputs"], entry["outputs"] = [], []
                break
        out["apis"].append(entry)
    return out


def collect(midi_api: str | None = None) -> dict:
    if midi_api is not None:
        midi_api_from_name(midi_api)  # a bad name is the user's to fix: say so before probing
    audio = collect_audio()
    midi = collect_midi(midi_api)
    n_audio = sum(len(a["devices"]) for a in audio["host_apis"])
    n_midi = sum(len(a["inputs"]) + len(a["outputs"]) for a in midi["apis"])
    return {
        "audio": audio,
        "midi": midi,
        "audio_output_devices": n_audio,
        "midi_ports": n_midi,
        "empty": n_audio == 0 and n_midi == 0,
    }


# ----------------------------------------------------------------------------- output
NOTHING_HINT = (
    "No audio output devices and no MIDI ports were found. On a machine with no sound card, "
    f"{DUMMY_SERVER_HINT} gives dlsynth a clocked audio graph and JACK MIDI."
)


def _print_text(d: dict) -> None:
    w = sys.stdout.write
    audio, midi = d["audio"], d["midi"]
    version = f" ({audio['portaudio']})" if audio["portaudio"] else ""
    w(f"Audio output devices{version}:\n")
    if not audio["available"]:
        w(f"  unavailable: {audio['error']}\n")
    elif not audio["host_apis"]:
        w("  no host APIs\n")
    for api in audio["host_apis"]:
        if not api["devices"]:
            w(f"  {api['name']}: no output devices\n")
            continue
        w(f"  {api['name']}:\n")
        for dev in api["devices"]:
            mark = "*" if dev["default"] else " "
            w(
                f"   {mark}{dev['index']:3d}  {dev['name']}  ({dev['channels']} ch, "
                f"{dev['default_samplerate']:.0f} Hz, latency {dev['low_latency_ms']:.1f}-{dev['high_latency_ms']:.1f} ms)\n"
            )
    if any(dev["default"] for api in audio["host_apis"] for dev in api["devices"]):
        w("  (* = the host API's default output)\n")

    version = f" (python-rtmidi {midi['rtmidi']})" if midi["rtmidi"] else ""
    w(f"\nMIDI ports{version}, default API here: {midi['default_api']}:\n")
    if not midi["available"]:
        w(f"  unavailable: {midi['error']}\n")
    elif not midi["apis"]:
        w("  this python-rtmidi was built with no MIDI API\n")
    for api in midi["apis"]:
        label = f"  {api['api']} ({api['name']})"
        if not api["available"]:
            w(f"{label}: unavailable: {api['error']}\n")
            continue
        if not api["inputs"] and not api["outputs"]:
            w(f"{label}: no ports\n")
            continue
        w(f"{label}:\n")
        for key in ("inputs", "outputs"):
            ports = api[key]
            if not ports:
                w(f"    {key}: none\n")
                continue
            w(f"    {key}:\n")
            for i, name in enumerate(ports):
                w(f"      {i:3d}  {name}\n")
    if d["empty"]:
        w(f"\n{NOTHING_HINT}\n")


def run(args) -> int:
    data = collect(getattr(args, "midi_api", None))
    if args.json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))
        sys.stdout.write("\n")
        return 0
    _print_text(data)
    return 0
