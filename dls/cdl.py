"""DLS2 conditional chunks (``cdl ``): a small stack machine over DLSID queries.

A chunk is a sequence of operations, each a 16-bit opcode; DLS_CDL_CONST carries a 32-bit
value and DLS_CDL_QUERY / DLS_CDL_QUERYSUPPORTED a 16-byte DLSID. Binary operators pop Y
then X and push ``X op Y``; NOT pops one value. The condition holds when the value left on
top is non-zero (an empty program holds). The answers come from a `Capabilities` object
the caller may pass to `dls.read`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import constants as C


@dataclass(frozen=True)
class Capabilities:
    """What the synth answers to DLSID queries (IDirectMusicPort::GetCaps / KSPROPERTY_SYNTH_DLS_*).

    The defaults describe dlsynth itself: a software DLS1 + DLS2 synth with no GM, GS or XG
    sound set in hardware (so a bank's instruments guarded by "not GMInHardware" load).
    """

    gm_in_hardware: bool = False
    gs_in_hardware: bool = False
    xg_in_hardware: bool = False
    supports_dls1: bool = True
    supports_dls2: bool = True
    sample_memory_size: int = 0xFFFFFFFF  # bytes; effectively unbounded
    sample_playback_rate: int = 48000  # Hz
    manufacturers_id: int = 0
    product_id: int = 0

    def query(self, dlsid: bytes) -> int | None:
        """The 32-bit answer to a DLSID, or None when the query is not supported."""
        table = {
            C.DLSID_GMInHardware: 0xFFFFFFFF if self.gm_in_hardware else 0,
            C.DLSID_GSInHardware: 0xFFFFFFFF if self.gs_in_hardware else 0,
            C.DLSID_XGInHardware: 0xFFFFFFFF if self.xg_in_hardware else 0,
            C.DLSID_SupportsDLS1: 0xFFFFFFFF if self.supports_dls1 else 0,
            C.DLSID_SupportsDLS2: 0xFFFFFFFF if self.supports_dls2 else 0,
            C.DLSID_SampleMemorySize: self.sample_memory_size & 0xFFFFFFFF,
            C.DLSID_SamplePlaybackRate: self.sample_playback_rate & 0xFFFFFFFF,
            C.DLSID_ManufacturersID: self.manufacturers_id & 0xFFFFFFFF,
            C.DLSID_ProductID: self.product_id & 0xFFFFFFFF,
        }
        return table.get(bytes(dlsid))


DEFAULT_CAPABILITIES = Capabilities()

_BINARY = {
    C.DLS_CDL_AND: lambda x, y: x & y,
    C.DLS_CDL_OR: lambda x, y: x | y,
    C.DLS_CDL_XOR: lambda x, y: x ^ y,
    C.DLS_CDL_ADD: lambda x, y: (x + y) & 0xFFFFFFFF,
    C.DLS_CDL_SUBTRACT: lambda x, y: (x - y) & 0xFFFFFFFF,
    C.DLS_CDL_MULTIPLY: lambda x, y: (x * y) & 0xFFFFFFFF,
    C.DLS_CDL_DIVIDE: lambda x, y: (x // y) if y else 0,
    C.DLS_CDL_LOGICAL_AND: lambda x, y: int(bool(x) and bool(y)),
    C.DLS_CDL_LOGICAL_OR: lambda x, y: int(bool(x) or bool(y)),
    C.DLS_CDL_LT: lambda x, y: int(x < y),
    C.DLS_CDL_LE: lambda x, y: int(x <= y),
    C.DLS_CDL_GT: lambda x, y: int(x > y),
    C.DLS_CDL_GE: lambda x, y: int(x >= y),
    C.DLS_CDL_EQ: lambda x, y: int(x == y),
}

MAX_OPS = 4096


class CdlSyntaxError(ValueError):
    """A conditional chunk that is not a well-formed program."""


def parse(data: bytes) -> list[tuple[int, object]]:
    """Decode a cdl chunk's bytes into (opcode, operand) pairs."""
    ops: list[tuple[int, object]] = []
    pos, n = 0, len(data)
    while pos < n:
        if n - pos < 2:
            raise CdlSyntaxError(f"a stray byte at offset {pos}")
        (op,) = struct.unpack_from("<H", data, pos)
        pos += 2
        if op == C.DLS_CDL_CONST:
            if n - pos < 4:
                raise CdlSyntaxError("CONST without its 32-bit value")
            (val,) = struct.unpack_from("<I", data, pos)
            pos += 4
            ops.append((op, val))
        elif op in (C.DLS_CDL_QUERY, C.DLS_CDL_QUERYSUPPORTED):
            if n - pos < 16:
                raise CdlSyntaxError("QUERY without its 16-byte DLSID")
            ops.append((op, bytes(data[pos : pos + 16])))
            pos += 16
        elif op in _BINARY or op == C.DLS_CDL_NOT:
            ops.append((op, None))
        else:
            raise CdlSyntaxError(f"unknown opcode 0x{op:04x}")
        if len(ops) > MAX_OPS:
            raise CdlSyntaxError(f"more than {MAX_OPS} operations")
    return ops


def evaluate(ops: list[tuple[int, object]], caps: Capabilities = DEFAULT_CAPABILITIES) -> bool:
    """Run a parsed program; True when the guarded chunk should be used."""
    stack: list[int] = []
    for op, arg in ops:
        if op == C.DLS_CDL_CONST:
            stack.append(int(arg))  # type: ignore[arg-type]
        elif op == C.DLS_CDL_QUERY:
            v = caps.query(arg)  # type: ignore[arg-type]
            stack.append(0 if v is None else v)
        elif op == C.DLS_CDL_QUERYSUPPORTED:
            stack.append(1 if caps.query(arg) is not None else 0)  # type: ignore[arg-type]
        elif op == C.DLS_CDL_NOT:
            if not stack:
                raise CdlSyntaxError("NOT on an empty stack")
            stack.append(int(stack.pop() == 0))
        else:
            if len(stack) < 2:
                raise CdlSyntaxError(f"operator 0x{op:04x} needs two values")
            y = stack.pop()
            x = stack.pop()
            stack.append(_BINARY[op](x, y))
    return True if not stack else stack[-1] != 0


def encode(ops: list[tuple[int, object]]) -> bytes:
    """The bytes of a cdl chunk for a program (used by tests and the writer)."""
    out = bytearray()
    for op, arg in ops:
        out += struct.pack("<H", op)
        if op == C.DLS_CDL_CONST:
            out += struct.pack("<I", int(arg) & 0xFFFFFFFF)  # type: ignore[arg-type]
        elif op in (C.DLS_CDL_QUERY, C.DLS_CDL_QUERYSUPPORTED):
            out += bytes(arg)  # type: ignore[arg-type]
    return bytes(out)
