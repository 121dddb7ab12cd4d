"""The settings of a bench run, from the command line (one dataclass per command)."""

from __future__ import annotations

from dataclasses import dataclass

from dlsynth.native.engine import MAX_VOICES  # the bench's polyphony limit is the engine's
from dlsynth.options import DEFAULT_INTERPOLATION, DEFAULT_SAMPLE_RATE

DEFAULT_BLOCK = 128
RATE = DEFAULT_SAMPLE_RATE  # of a JACK server the bench starts
BLOCK_RANGE = (16, 8192)
PEERS = ("auto", "fluidsynth", "none")


@dataclass
class Common:
    blocksize: int | None = None  # None: the running server's period, DEFAULT_BLOCK for a server started here
    rate: int = RATE
    jack_server: str = "auto"
    peer: str = "auto"  # auto: FluidSynth where installed; fluidsynth: required; none
    interpolation: str = DEFAULT_INTERPOLATION
    effects: bool = True
    json: str | None = None

    @property
    def period(self) -> int:
        """The period of a server started here."""
        return self.blocksize or DEFAULT_BLOCK


@dataclass
class LatencyConfig(Common):
    notes: int = 200
    voices: int = 0  # background voices
    immediate: bool = False
    latency: float | None = None  # dlsynth's scheduled latency (None: its own default)
    warmup: float = 1.5
    baseline: float = 3.0  # seconds of the empty graph's xruns, first
    seed: int = 1
    on_cycle: bool = False  # key presses on cycle starts (no JACK MIDI quantisation)
    png: str | None = None

    @property
    def mode(self) -> str:
        return "immediate" if self.immediate else "scheduled"


@dataclass
class VoicesConfig(Common):
    seconds: float = 3.0
    start: int = 32
    max_voices: int = MAX_VOICES
    retries: int = 2


def from_args(cls, args):
    """The dataclass `cls` filled from an argparse namespace (same names; no_effects)."""
    import dataclasses

    vals = {}
    for f in dataclasses.fields(cls):
        if f.name == "effects":
            vals["effects"] = not getattr(args, "no_effects", False)
        elif hasattr(args, f.name):
            vals[f.name] = getattr(args, f.name)
    return cls(**vals)
