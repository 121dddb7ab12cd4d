"""MIDI channel state and semantics: what a message means before the engine hears it.

One `ChannelState` per MIDI channel of every channel group. It keeps what the engine need
not know (bank select, the RPN/NRPN selection and data entry, the drum flag) and turns
messages into engine events: program changes become the engine instrument id, RPN 0/1/2
become channel parameters, everything else passes straight through with its frame time.

The system exclusive messages understood here are those DDKSynth and GM synths act on:
GM System On / Off, GM2 System On, GS Reset, XG System On, GM Master Volume, and GS
"use for rhythm part". Others are ignored and counted.
"""

from __future__ import annotations

import math

# RPN numbers (CC101 MSB, CC100 LSB).
RPN_BEND_RANGE = (0, 0)
RPN_FINE_TUNE = (0, 1)
RPN_COARSE_TUNE = (0, 2)
RPN_NULL = (127, 127)

DRUM_CHANNEL = 9  # MIDI channel 10

# GM2 / XG bank MSBs that select a rhythm (drum) bank on any channel.
GM2_RHYTHM_MSB = 120
GM2_MELODY_MSB = 121
XG_DRUM_MSBS = (126, 127)


class ChannelState:
    """The state a GM channel keeps outside the engine (one per group x channel)."""

    __slots__ = (
        "index", "bank_msb", "bank_lsb", "program", "drum", "default_drum", "rpn_msb", "rpn_lsb",
        "nrpn", "data_msb", "data_lsb", "instrument_id", "patch",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.default_drum = (index % 16) == DRUM_CHANNEL
        self.reset()

    def reset(self) -> None:
        """GM defaults: bank 0, program 0, channel 10 drums, no RPN selected."""
        self.bank_msb = 0
        self.bank_lsb = 0
        self.program = 0
        self.drum = self.default_drum
        self.reset_rpn()
        self.instrument_id = -1
        self.patch = None

    def reset_rpn(self) -> None:
        self.rpn_msb = 127
        self.rpn_lsb = 127
        self.nrpn = False
        self.data_msb = 0
        self.data_lsb = 0

    def is_drum_bank(self) -> bool:
        """Drums by channel (GM, GS rhythm part) or by a rhythm bank select (GM2, XG)."""
        if self.bank_msb == GM2_RHYTHM_MSB or self.bank_msb in XG_DRUM_MSBS:
            return True
        if self.bank_msb == GM2_MELODY_MSB:
            return False
        return self.drum


def master_volume_millibels(value14: int) -> int:
    """GM Master Volume (0..16383) to millibels, 0 at full scale, -9600 for silence."""
    if value14 <= 0:
        return -9600
    return max(-9600, int(round(2000.0 * math.log10(value14 / 16383.0))))


def gs_part_to_channel(part_nibble: int) -> int | None:
    """GS block number (the x of 40 1x ..) to a MIDI channel 0..15: 0 is part 10, 1-9 are
    parts 1-9, A-F are parts 11-16."""
    if part_nibble == 0:
        return 9
    if 1 <= part_nibble <= 9:
        return part_nibble - 1
    if 0xA <= part_nibble <= 0xF:
        return part_nibble
    return None




def classify_sysex(msg: bytes):
    """What a complete sysex (F0 ... F7) asks for, as (kind, argument) or (None, None).

    Kinds: 'reset' (GM on/off, GM2 on, GS reset, XG on), 'master_volume' (value14),
    'gs_rhythm' ((channel, drum: bool)).
    """
    n = len(msg)
    if n < 5 or msg[0] != 0xF0 or msg[-1] != 0xF7:
        return None, None
    # Universal non-real-time: F0 7E dev 09 0x F7 (GM1 on = 01, GM off = 02, GM2 on = 03)
    if msg[1] == 0x7E and n >= 6 and msg[3] == 0x09 and msg[4] in (0x01, 0x02, 0x03):
        return "reset", msg[4]
    # Universal real-time: F0 7F dev 04 01 ll mm F7 (master volume)
    if msg[1] == 0x7F and n >= 8 and msg[3] == 0x04 and msg[4] == 0x01:
        return "master_volume", (msg[5] & 0x7F) | ((msg[6] & 0x7F) << 7)
    # Roland GS: F0 41 dev 42 12 aa aa aa dd .. cs F7
    if msg[1] == 0x41 and n >= 11 and msg[3] == 0x42 and msg[4] == 0x12:
        a1, a2, a3 = msg[5], msg[6], msg[7]
        if (a1, a2, a3) == (0x40, 0x00, 0x7F):
            return "reset", "gs"
        if a1 == 0x40 and (a2 & 0xF0) == 0x10 and a3 == 0x15:
            ch = gs_part_to_channel(a2 & 0x0F)
            if ch is not None:
                return "gs_rhythm", (ch, msg[8] != 0)
        return None, None
    # Yamaha XG System On: F0 43 1n 4C 00 00 7E 00 F7
    if msg[1] == 0x43 and n >= 9 and (msg[2] & 0xF0) == 0x10 and msg[3] == 0x4C and msg[4:8] == b"\x00\x00\x7e\x00":
        return "reset", "xg"
    return None, None
