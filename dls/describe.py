"""A collection described in human units (seconds, Hz, cents, dB, percent), for `dlsynth info`.

`describe(collection)` returns plain dicts and lists ready for JSON; `describe_connection`
turns one connection block into its meaning. Identical articulations (converted banks repeat
them region after region) are converted once and shared.
"""

from __future__ import annotations

import functools
import json
from json.encoder import encode_basestring as _encode_str

import numpy as np

from . import constants as C
from .units import FILTER_CUTOFF_OFF, TIME_ZERO
from .model import CONNECTION_DTYPE, Articulation, Collection, Instrument, Loop, Region, Wave, WaveSample

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)

_TIME_DESTS = frozenset(
    {
        C.CONN_DST_LFO_STARTDELAY,
        C.CONN_DST_VIB_STARTDELAY,
        C.CONN_DST_EG1_ATTACKTIME,
        C.CONN_DST_EG1_DECAYTIME,
        C.CONN_DST_EG1_RELEASETIME,
        C.CONN_DST_EG1_DELAYTIME,
        C.CONN_DST_EG1_HOLDTIME,
        C.CONN_DST_EG1_SHUTDOWNTIME,
        C.CONN_DST_EG2_ATTACKTIME,
        C.CONN_DST_EG2_DECAYTIME,
        C.CONN_DST_EG2_RELEASETIME,
        C.CONN_DST_EG2_DELAYTIME,
        C.CONN_DST_EG2_HOLDTIME,
    }
)
_FREQ_DESTS = frozenset({C.CONN_DST_LFO_FREQUENCY, C.CONN_DST_VIB_FREQUENCY, C.CONN_DST_FILTER_CUTOFF})
_PERMILLE_DESTS = frozenset(
    {
        C.CONN_DST_EG1_SUSTAINLEVEL,
        C.CONN_DST_EG2_SUSTAINLEVEL,
        C.CONN_DST_PAN,
        C.CONN_DST_CHORUS,
        C.CONN_DST_REVERB,
        C.CONN_DST_LEFT,
        C.CONN_DST_RIGHT,
        C.CONN_DST_CENTER,
        C.CONN_DST_LEFTREAR,
        C.CONN_DST_RIGHTREAR,
        C.CONN_DST_LFE_CHANNEL,
    }
)
_DB_DESTS = frozenset({C.CONN_DST_GAIN, C.CONN_DST_FILTER_Q})
_CENT_DESTS = frozenset({C.CONN_DST_PITCH, C.CONN_DST_KEYNUMBER})


@functools.lru_cache(maxsize=4096)
def _transform_text(t: int) -> str:
    parts = []
    out = t & C.TRN_OUTPUT_MASK
    src = (t >> C.TRN_SOURCE_SHIFT) & 0xF
    ctl = (t >> C.TRN_CONTROL_SHIFT) & 0xF
    if src:
        parts.append(f"source {C.TRANSFORM_NAMES.get(src, src)}")
    if t & C.TRN_SOURCE_INVERT:
        parts.append("source inverted")
    if t & C.TRN_SOURCE_BIPOLAR:
        parts.append("source bipolar")
    if ctl:
        parts.append(f"control {C.TRANSFORM_NAMES.get(ctl, ctl)}")
    if t & C.TRN_CONTROL_INVERT:
        parts.append("control inverted")
    if t & C.TRN_CONTROL_BIPOLAR:
        parts.append("control bipolar")
    if out:
        parts.append(f"output {C.TRANSFORM_NAMES.get(out, out)}")
    return ", ".join(parts) if parts else "linear"


def connection_value(source: int, destination: int, scale: int) -> tuple[float | None, str]:
    """The value of a connection in human units, and the unit's name.

    A constant (source none) sets the destination's absolute value: seconds for times, Hz
    for frequencies and cutoff, percent for sustain/pan/sends, dB for gain and Q, cents
    for pitch. A modulating source gives the change at full source: timecents on times,
    cents on frequencies and pitch, dB on gain, percent on the others.
    """
    absolute = source == C.CONN_SRC_NONE
    if destination in _TIME_DESTS:
        if absolute:
            if scale == TIME_ZERO:
                return 0.0, "s"
            return round(2.0 ** (scale / 65536.0 / 1200.0), 6), "s"
        return round(scale / 65536.0, 3), "timecents"
    if destination in _FREQ_DESTS:
        if absolute:
            if destination == C.CONN_DST_FILTER_CUTOFF and scale == FILTER_CUTOFF_OFF:
                return None, "off"
            return round(440.0 * 2.0 ** ((scale / 65536.0 - 6900.0) / 1200.0), 3), "Hz"
        return round(scale / 65536.0, 3), "cents"
    if destination in _PERMILLE_DESTS:
        return round(scale / 65536.0 / 10.0, 3), "%"
    if destination in _DB_DESTS:
        return round(scale / 65536.0 / 10.0, 3), "dB"
    if destination in _CENT_DESTS:
        return round(scale / 65536.0, 3), "cents"
    return float(scale), "raw"


@functools.lru_cache(maxsize=65536)
def _described(source: int, control: int, destination: int, transform: int, scale: int) -> dict:
    return describe_connection(source, control, destination, transform, scale)


def describe_connection(source: int, control: int, destination: int, transform: int, scale: int) -> dict:
    value, unit = connection_value(source, destination, scale)
    d = {
        "source": C.source_name(source),
        "control": C.source_name(control),
        "destination": C.destination_name(destination),
        "transform": _transform_text(transform),
        "value": value,
        "unit": unit,
        "scale": scale,
    }
    return d


def connection_text(c: dict) -> str:
    v = c["value"]
    unit = c["unit"]
    if unit == "off":
        val = "off"
    elif unit == "s":
        val = f"{v:.4g} s"
    else:
        val = f"{v:+.4g} {unit}" if c["source"] != "none" else f"{v:.4g} {unit}"
    src = c["source"]
    if c["control"] != "none":
        src = f"{src} x {c['control']}"
    lhs = c["destination"] if src == "none" else f"{src} -> {c['destination']}"
    tr = "" if c["transform"] == "linear" else f" [{c['transform']}]"
    return f"{lhs} = {val}{tr}"


class _ArtCache:
    """Identical articulations, described once; regions refer to them by id. With
    ``blocks_only`` (for `describe_json`) the table keeps each one's level and connection
    blocks, for `_articulations_json` to write in bulk."""

    def __init__(self, blocks_only: bool = False) -> None:
        self.ids: dict[tuple[int, bytes], int] = {}
        self.table: list[dict] = []
        self.blocks_only = blocks_only
        self.blocks: list[tuple[int, bytes]] = []  # (level, CONNECTION_DTYPE bytes) per id

    def get(self, art: Articulation) -> int:
        raw = art.blocks.tobytes()
        key = (art.level, raw)
        hit = self.ids.get(key)
        if hit is None:
            hit = len(self.ids)
            if self.blocks_only:
                if art.blocks.dtype != CONNECTION_DTYPE:
                    raw = np.ascontiguousarray(art.blocks, dtype=CONNECTION_DTYPE).tobytes()
                self.blocks.append((art.level, raw))
            else:
                self.table.append(
                    {
                        "id": hit,
                        "level": art.level,
                        "connections": [_described(*row) for row in art.blocks.tolist()],
                    }
                )
            self.ids[key] = hit
        return hit


def _distinct_rows(conns: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """The distinct rows of a CONNECTION_DTYPE array (in sorted order) and, for each row,
    the index of its distinct row: one lexsort of the 12-byte rows as a 64-bit and a
    32-bit word (quicker than np.unique over the rows)."""
    words = conns.view(np.dtype([("a", "<u8"), ("b", "<u4")]))
    a, b = words["a"], words["b"]
    order = np.lexsort((b, a))
    sa, sb = a[order], b[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])
    group = np.cumsum(new) - 1
    which = np.empty(len(order), dtype=np.int64)
    which[order] = group
    return conns[order[new]], which.tolist()


_ARTICULATION_JSON = '{"id":%d,"level":%s,"connections":[%s]}'


def _articulations_json(blocks: list[tuple[int, bytes]]) -> str:
    """The "articulations" table of `describe` as JSON, from each articulation's level and
    connection blocks: every distinct connection row (a converted bank's 250,000 rows hold
    a few thousand) is described and encoded once, then each articulation joins the texts
    of its rows."""
    if not blocks:
        return "[]"
    conns = np.frombuffer(b"".join([raw for _, raw in blocks]), dtype=CONNECTION_DTYPE)
    distinct, of_row = _distinct_rows(conns)
    encode = _ENCODER.encode
    texts = [encode(_described(*row)) for row in distinct.tolist()]
    out = []
    at = 0
    for i, (level, raw) in enumerate(blocks):
        n = len(raw) // CONNECTION_DTYPE.itemsize
        level_text = int.__repr__(level) if type(level) is int else encode(level)
        out.append(_ARTICULATION_JSON % (i, level_text, ",".join([texts[k] for k in of_row[at : at + n]])))
        at += n
    return "[" + ",".join(out) + "]"


def _wsmp(ws: WaveSample | None) -> dict | None:
    if ws is None:
        return None
    return {
        "unity_note": ws.unity_note,
        "fine_tune_cents": ws.fine_tune,
        "gain_db": round(ws.attenuation / 655360.0, 3),
        "options": ws.options,
        "loops": [
            {
                "type": "release" if lp.type == C.WLOOP_TYPE_RELEASE else "forward",
                "start": lp.start,
                "length": lp.length,
            }
            for lp in ws.loops
        ],
    }


def describe_wave(index: int, w: Wave) -> dict:
    return {
        "index": index,
        "name": w.name,
        "format": "pcm" if w.supported else f"unsupported (tag 0x{w.format_tag:04x})",
        "supported": w.supported,
        "sample_rate": w.sample_rate,
        "channels": w.channels,
        "bits": w.bits_per_sample,
        "frames": w.frames,
        "seconds": round(w.frames / w.sample_rate, 6) if w.sample_rate else 0.0,
        "wsmp": _wsmp(w.wave_sample),
    }


def _region(r: Region, cache: _ArtCache) -> dict:
    wl = r.wave_link
    return {
        "key_low": r.key_low,
        "key_high": r.key_high,
        "vel_low": r.vel_low,
        "vel_high": r.vel_high,
        "key_group": r.key_group,
        "self_non_exclusive": bool(r.options & C.F_RGN_OPTION_SELFNONEXCLUSIVE),
        "layer": r.layer,
        "level": r.level,
        "wave": wl.table_index,
        "phase_group": wl.phase_group,
        "channel": wl.channel,
        "phase_master": bool(wl.options & C.F_WAVELINK_PHASE_MASTER),
        "multichannel": bool(wl.options & C.F_WAVELINK_MULTICHANNEL),
        "wsmp": _wsmp(r.wave_sample),
        "articulation": [cache.get(a) for a in r.articulations],
    }


def describe_instrument(ins: Instrument, cache: _ArtCache) -> dict:
    return {
        "name": ins.name,
        "bank_msb": ins.bank_msb,
        "bank_lsb": ins.bank_lsb,
        "drum": ins.is_drum,
        "program": ins.program,
        "regions": [_region(r, cache) for r in ins.regions],
        "articulation": [cache.get(a) for a in ins.articulations],
    }


def describe(col: Collection) -> dict:
    """The whole collection as plain data (the JSON of `dlsynth info --json`).

    Articulations are listed once each in ``articulations`` (converted banks repeat the
    same one region after region); an instrument's or region's ``articulation`` is the
    list of ids into that table, in the order they apply.
    """
    cache = _ArtCache()
    instruments = [describe_instrument(i, cache) for i in col.instruments]
    return _whole(col, instruments, cache.table)


def file_format(col: Collection) -> str:
    """What the bank was read from: "DLS Level 2", or "SoundFont 2.04" for a SoundFont
    (whose INFO ``ifil`` chunk, a SoundFont's alone, gives the version)."""
    ifil = col.info.get("ifil")
    return f"SoundFont {ifil}" if ifil else f"DLS Level {col.level}"


def _whole(col: Collection, instruments, articulations: list[dict]) -> dict:
    return {
        "file": col.source,
        "format": file_format(col),
        "name": col.name,
        "level": col.level,
        "version": col.version_string(),
        "dlid": col.dlid.hex() if col.dlid else None,
        "info": col.info,
        "instrument_count": len(col.instruments),
        "region_count": sum(len(i.regions) for i in col.instruments),
        "wave_count": len(col.waves),
        "sample_bytes": int(sum(w.data.nbytes for w in col.waves if w.supported)),
        "instruments": instruments,
        "waves": [describe_wave(i, w) for i, w in enumerate(col.waves)],
        "articulations": articulations,
        "warnings": list(col.warnings),
    }


def to_json(data: dict) -> str:
    """`describe`'s dict as compact JSON: exactly ``json.dumps(data, separators=(",", ":"),
    ensure_ascii=False)``, but each connection dict shared between articulations (converted
    banks repeat the same few) is encoded once, not once per use."""
    return _to_json(data, {})


def _to_json(data: dict, raw: dict[str, str]) -> str:
    encode = _ENCODER.encode
    memo: dict[int, str] = {}

    def value(v) -> str:
        if type(v) is int:
            return int.__repr__(v)  # what the encoder writes for an int
        if type(v) is str:
            return _encode_str(v)
        return encode(v)

    def connections(v: list) -> str:
        out = []
        for c in v:
            text = memo.get(id(c))
            if text is None:
                text = memo[id(c)] = encode(c)
            out.append(text)
        return "[" + ",".join(out) + "]"

    def articulation(a: dict) -> str:
        return (
            "{"
            + ",".join(
                [_encode_str(k) + ":" + (connections(v) if k == "connections" else value(v)) for k, v in a.items()]
            )
            + "}"
        )

    parts = []
    for k, v in data.items():
        if k in raw:
            text = raw[k]
        elif k == "articulations":
            text = "[" + ",".join(map(articulation, v)) + "]"
        else:
            text = encode(v)
        parts.append(_encode_str(k) + ":" + text)
    return "{" + ",".join(parts) + "}"


def describe_json(col: Collection, *, brief: bool = False) -> str:
    """The JSON of `dlsynth info --json`: exactly ``to_json(describe(col))`` (with ``brief``,
    instruments without their ``regions`` and ``articulation``), but written straight from
    the model, without a dict per region: a bank of 17,000 regions is described in a
    fraction of the time. Regions whose fields are not all plain ints (only a collection
    built by hand can have those) are encoded through `describe`'s own dicts."""
    cache = _ArtCache(blocks_only=True)
    texts = [_instrument_json(ins, cache, brief) for ins in col.instruments]
    raw = {"instruments": "[" + ",".join(texts) + "]", "articulations": _articulations_json(cache.blocks)}
    return _to_json(_whole(col, None, []), raw)


_REGION_JSON = (
    '{"key_low":%d,"key_high":%d,"vel_low":%d,"vel_high":%d,"key_group":%d,"self_non_exclusive":%s,'
    '"layer":%s,"level":%d,"wave":%d,"phase_group":%d,"channel":%d,"phase_master":%s,"multichannel":%s,'
    '"wsmp":%s,"articulation":[%s]}'
)
_WSMP_JSON = '{"unity_note":%d,"fine_tune_cents":%d,"gain_db":%s,"options":%d,"loops":[%s]}'
_LOOP_JSON = '{"type":"%s","start":%d,"length":%d}'
_BOOL = ("false", "true")
_RELEASE = C.WLOOP_TYPE_RELEASE
_SELF_NON_EXCLUSIVE = C.F_RGN_OPTION_SELFNONEXCLUSIVE
_PHASE_MASTER = C.F_WAVELINK_PHASE_MASTER
_MULTICHANNEL = C.F_WAVELINK_MULTICHANNEL


def _ints(vals: tuple) -> bool:
    """All plain ints (not bools, floats or NumPy scalars), as a file read gives them."""
    for v in vals:
        if type(v) is not int:
            return False
    return True


def _wsmp_json(ws: WaveSample) -> str | None:
    """_wsmp(ws) as JSON, or None if a field is not a plain int."""
    vals = (ws.unity_note, ws.fine_tune, ws.attenuation, ws.options)
    if not _ints(vals):
        return None
    lt = []
    for lp in ws.loops:
        if type(lp) is not Loop or not _ints(lp):
            return None
        lt.append(_LOOP_JSON % ("release" if lp[0] == _RELEASE else "forward", lp[1], lp[2]))
    return _WSMP_JSON % (vals[0], vals[1], float.__repr__(round(vals[2] / 655360.0, 3)), vals[3], ",".join(lt))


def _region_json(r: Region, cache: _ArtCache) -> str:
    wl = r.wave_link
    ws = r.wave_sample
    layer = r.layer
    vals = (
        r.key_low,
        r.key_high,
        r.vel_low,
        r.vel_high,
        r.key_group,
        r.options,
        r.level,
        wl.table_index,
        wl.phase_group,
        wl.channel,
        wl.options,
        0 if layer is None else layer,
    )
    wtext = "null" if ws is None else _wsmp_json(ws)
    if wtext is None or not _ints(vals):
        return _ENCODER.encode(_region(r, cache))  # the general way (takes its articulation ids)
    get = cache.get
    wopt = vals[10]
    return _REGION_JSON % (
        vals[0],
        vals[1],
        vals[2],
        vals[3],
        vals[4],
        _BOOL[vals[5] & _SELF_NON_EXCLUSIVE != 0],
        "null" if layer is None else int.__repr__(layer),
        vals[6],
        vals[7],
        vals[8],
        vals[9],
        _BOOL[wopt & _PHASE_MASTER != 0],
        _BOOL[wopt & _MULTICHANNEL != 0],
        wtext,
        ",".join([int.__repr__(get(a)) for a in r.articulations]),
    )


def _instrument_json(ins: Instrument, cache: _ArtCache, brief: bool) -> str:
    # Same order of articulation ids as describe_instrument: regions first, then its own.
    regions = ",".join([_region_json(r, cache) for r in ins.regions])
    arts = ",".join([int.__repr__(cache.get(a)) for a in ins.articulations])
    head = {
        "name": ins.name,
        "bank_msb": ins.bank_msb,
        "bank_lsb": ins.bank_lsb,
        "drum": ins.is_drum,
        "program": ins.program,
    }
    text = _ENCODER.encode(head)
    if brief:
        return text
    return text[:-1] + ',"regions":[' + regions + '],"articulation":[' + arts + "]}"


def note_name(key: int) -> str:
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    return f"{names[key % 12]}{key // 12 - 1}"


__all__ = [
    "describe",
    "describe_json",
    "to_json",
    "describe_instrument",
    "describe_wave",
    "describe_connection",
    "connection_value",
    "connection_text",
    "note_name",
]
