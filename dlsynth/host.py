"""``dlsynth.Synth``: the synth for a host loop of your own (an audio callback, a game, a
plug-in): send MIDI at frame offsets into the next block, then render the block.

The same objects as ``dlsynth play`` and ``dlsynth render``: a miniport (IMiniportDMus) whose
render stream (IMXF) takes each message as a kernel event (DMUS_KERNEL_EVENT, from the
miniport's fixed pool) stamped with the reference time of its frame, and the Synth behind it
(ISynthSinkDMus), which maps that time back to the very frame (RefTimeToSample) and queues
the message for the engine; ``render`` is ISynthSinkDMus::Render. No message goes to the
engine any other way.

Channels are counted from 0 (channel 9 is General MIDI's drums); channel groups from 1
(group 0 sends to every group, as in DirectMusic). ``offset`` is the frame, counted from
the start of the next ``render`` call, at which a message takes effect; a message may lie
past that block (it waits for its frame).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from dlsynth.synth.events import SYSEX_MAX_SIZE
from dlsynth.synth.synth import Synth as _SynthSink

from . import options
from .banks import BankSpec, banks_of

__all__ = ["Synth"]

#: kernel events of the host's miniport: each goes back to the pool as soon as the Synth has
#: queued its message, so a few are in use at once; a long sysex takes one per fragment
HOST_POOL_EVENTS = 512


class Synth:
    """A DLS/SoundFont synth you drive: MIDI in by method calls, stereo float32 out by
    ``render``; what DirectMusic calls a port to a software synth (IDirectMusicPort:
    PlayBuffer in, the synth sink's Render out).

    bank: None (the built-in General MIDI bank), a path, a bank from ``load_bank``, or a
    list of these (later ones take precedence per instrument); every instrument is
    downloaded here, so no note waits for one. rate: Hz. channel_groups: groups of 16
    channels (1..1000). voices, interpolation, effects, gain_db: as ``dlsynth.render``.
    threads: threads rendering each block (default 1; the output is the same for every
    count). Bad options raise ValueError (TypeError for the wrong type), a bad bank
    ``dlsynth.BankError``.
    """

    def __init__(
        self,
        bank: BankSpec = None,
        *,
        rate: int = options.DEFAULT_SAMPLE_RATE,
        channel_groups: int = 1,
        voices: int = options.DEFAULT_VOICES,
        interpolation: str = options.DEFAULT_INTERPOLATION,
        effects: bool = True,
        gain_db: float = options.DEFAULT_GAIN_DB,
        threads: int = 1,
    ) -> None:
        from dlsynth.native.engine import MAX_CHANNEL_GROUPS
        from dlsynth.synth.miniport import Miniport

        self.rate = options.rate(rate)
        self.channel_groups = options.integer("channel_groups", channel_groups, 1, MAX_CHANNEL_GROUPS)
        n_voices = options.voices(voices)
        interp = options.interpolation(interpolation)
        fx = options.flag("effects", effects)
        gain = options.gain_db(gain_db)
        n_threads = options.threads(threads)
        banks = banks_of(bank)
        self._sink: Optional[_SynthSink] = _SynthSink(
            self.rate,
            channel_groups=self.channel_groups,
            voices=n_voices,
            interpolation=interp,
            effects=fx,
            gain_db=gain,
            threads=n_threads,
        )
        try:
            for col in banks:
                self._sink.download(col)
            self._miniport = Miniport().init(
                synth=self._sink,
                sample_rate=self.rate,
                voices=n_voices,
                channel_groups=self.channel_groups,
                pool_events=HOST_POOL_EVENTS,
            )
            self._stream = self._miniport.new_stream("render")
            self._stream.set_state("run")
            self._sink.start(0, 0)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ MIDI in
    def _send(self, data: bytes, offset: int, group: int) -> None:
        sink = self._live()
        frame = sink.position + options.integer("offset", offset, 0, 1 << 40)
        evt = self._miniport.allocator.make_message(data, group, sink.sample_to_ref_time(frame))
        if evt is None:  # the pool holds far more than one message needs
            raise RuntimeError("the miniport's event pool is dry")
        self._stream.put_message(evt)  # IMXF::PutMessage, on to the Synth

    def _channel(self, channel: int, group: int) -> int:
        options.integer("group", group, 0, self.channel_groups)
        return options.integer("channel", channel, 0, 15)

    def note_on(self, channel: int, key: int, velocity: int, offset: int = 0, *, group: int = 1) -> None:
        """Note-on (velocity 0 is a note-off, as in MIDI)."""
        ch = self._channel(channel, group)
        self._send(
            bytes((0x90 | ch, options.integer("key", key, 0, 127), options.integer("velocity", velocity, 0, 127))),
            offset,
            group,
        )

    def note_off(self, channel: int, key: int, velocity: int = 64, offset: int = 0, *, group: int = 1) -> None:
        """Note-off (``velocity``: the release velocity)."""
        ch = self._channel(channel, group)
        self._send(
            bytes((0x80 | ch, options.integer("key", key, 0, 127), options.integer("velocity", velocity, 0, 127))),
            offset,
            group,
        )

    def control_change(self, channel: int, cc: int, value: int, offset: int = 0, *, group: int = 1) -> None:
        """Control change (bank select, volume, pan, sustain, RPN and the rest)."""
        ch = self._channel(channel, group)
        self._send(
            bytes((0xB0 | ch, options.integer("cc", cc, 0, 127), options.integer("value", value, 0, 127))),
            offset,
            group,
        )

    def program_change(self, channel: int, program: int, offset: int = 0, *, group: int = 1) -> None:
        """Program change (0..127; with the bank last selected by CC 0 and 32)."""
        ch = self._channel(channel, group)
        self._send(bytes((0xC0 | ch, options.integer("program", program, 0, 127))), offset, group)

    def pitch_bend(self, channel: int, value: int, offset: int = 0, *, group: int = 1) -> None:
        """Pitch bend, -8192..8191 (0: none; the range is RPN 0's, 2 semitones by default)."""
        ch = self._channel(channel, group)
        v = options.integer("value", value, -8192, 8191) + 8192
        self._send(bytes((0xE0 | ch, v & 0x7F, v >> 7)), offset, group)

    def sysex(self, data: bytes, offset: int = 0, *, group: int = 1) -> None:
        """A whole system exclusive message, F0 ... F7 (GM, GS and XG resets, master volume ...)."""
        options.integer("group", group, 0, self.channel_groups)
        try:
            msg = bytes(data)
        except TypeError:
            raise TypeError(f"sysex data must be bytes, not {type(data).__name__}") from None
        if len(msg) < 2 or msg[0] != 0xF0 or msg[-1] != 0xF7 or any(b >= 0x80 for b in msg[1:-1]):
            raise ValueError("sysex data must be F0, data bytes below 0x80, then F7")
        if len(msg) > SYSEX_MAX_SIZE:
            raise ValueError(f"sysex data longer than {SYSEX_MAX_SIZE} bytes")
        self._send(msg, offset, group)

    # ------------------------------------------------------------------ audio out
    def render(self, frames: Optional[int] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
        """The next ``frames`` frames as a (frames, 2) float32 array (ISynthSinkDMus::Render).

        With ``out`` (a writable C-contiguous float32 array of shape (n, 2)) the block is
        rendered into it and nothing is allocated: pass the same array each time. ``frames``
        may then be left out (``len(out)``) or be fewer (the first rows of ``out``)."""
        sink = self._live()
        if out is None:
            if frames is None:
                raise ValueError("give frames or out")
            return sink.render(frames=options.integer("frames", frames, 0, 1 << 30))
        if frames is not None and frames != len(out):
            n = options.integer("frames", frames, 0, len(out))
            return sink.render(out=out[:n])
        return sink.render(out=out)

    @property
    def position(self) -> int:
        """Frames rendered so far (where the next render starts)."""
        return self._live().position

    @property
    def warnings(self) -> list[str]:
        """What the synth has had to say so far (instruments no bank has, and so on)."""
        return list(self._live().warnings)

    def close(self) -> None:
        """Free the engine (also done on leaving a ``with`` block); the synth is unusable after."""
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.close()

    def _live(self) -> _SynthSink:
        if self._sink is None:
            raise RuntimeError("this Synth is closed")
        return self._sink

    def __enter__(self) -> "Synth":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
