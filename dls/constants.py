"""Chunk IDs and constant values of DLS Level 1 and Level 2 (the public dls1.h / dls2.h).

Names follow the headers so a driver writer can find them; values were checked against
several independent copies of the headers.
"""

from __future__ import annotations

# --- Instrument bank flags -------------------------------------------------------------
F_INSTRUMENT_DRUMS = 0x80000000

# --- Region options (rgnh.fusOptions) ----------------------------------------------------
F_RGN_OPTION_SELFNONEXCLUSIVE = 0x0001

# --- Wave link options (wlnk.fusOptions) and channels -----------------------------------
F_WAVELINK_PHASE_MASTER = 0x0001
F_WAVELINK_MULTICHANNEL = 0x0002
WAVELINK_CHANNEL_LEFT = 0x0001
WAVELINK_CHANNEL_RIGHT = 0x0002

# --- Wave sample options (wsmp.fulOptions) and loop types --------------------------------
F_WSMP_NO_TRUNCATION = 0x0001
F_WSMP_NO_COMPRESSION = 0x0002
WLOOP_TYPE_FORWARD = 0
WLOOP_TYPE_RELEASE = 1
WLOOP_TYPE_RELEASE_WIN2000 = 2  # WLOOP_TYPE_RELEASE in the Windows 2000 dls2.h (1 since XP)

POOL_CUE_NULL = 0xFFFFFFFF

# --- What the player takes ------------------------------------------------------------------
# The limits of the voice engine (eng_wave_create in native/eng_waves.c, eng_instrument_create
# in native/eng_instruments.c; tests/test_reader_tolerance.py checks these against the
# engine). The reader marks a wave outside them unsupported, so that its regions are silent
# rather than the download failing, and keeps at most PLAYER_MAX_REGIONS regions of an instrument.
PLAYER_MAX_CHANNELS = 64
PLAYER_MIN_SAMPLE_RATE = 1  # Hz
PLAYER_MAX_SAMPLE_RATE = 1_000_000  # Hz
PLAYER_MAX_FRAMES = 1 << 30  # per wave
PLAYER_MAX_REGIONS = 65536  # per instrument

# --- WAVE format tags ----------------------------------------------------------------------
WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_EXTENSIBLE = 0xFFFE

# --- Connection sources ------------------------------------------------------------------
CONN_SRC_NONE = 0x0000
CONN_SRC_LFO = 0x0001
CONN_SRC_KEYONVELOCITY = 0x0002
CONN_SRC_KEYNUMBER = 0x0003
CONN_SRC_EG1 = 0x0004
CONN_SRC_EG2 = 0x0005
CONN_SRC_PITCHWHEEL = 0x0006
CONN_SRC_POLYPRESSURE = 0x0007
CONN_SRC_CHANNELPRESSURE = 0x0008
CONN_SRC_VIBRATO = 0x0009
CONN_SRC_MONOPRESSURE = 0x000A
CONN_SRC_CC1 = 0x0081
CONN_SRC_CC7 = 0x0087
CONN_SRC_CC10 = 0x008A
CONN_SRC_CC11 = 0x008B
CONN_SRC_CC91 = 0x00DB
CONN_SRC_CC93 = 0x00DD
CONN_SRC_RPN0 = 0x0100
CONN_SRC_RPN1 = 0x0101
CONN_SRC_RPN2 = 0x0102

# --- Connection destinations ---------------------------------------------------------------
CONN_DST_NONE = 0x0000
CONN_DST_ATTENUATION = 0x0001  # DLS1 name
CONN_DST_GAIN = 0x0001  # DLS2 name
CONN_DST_RESERVED = 0x0002
CONN_DST_PITCH = 0x0003
CONN_DST_PAN = 0x0004
CONN_DST_KEYNUMBER = 0x0005
CONN_DST_LEFT = 0x0010
CONN_DST_RIGHT = 0x0011
CONN_DST_CENTER = 0x0012
CONN_DST_LEFTREAR = 0x0013
CONN_DST_RIGHTREAR = 0x0014
CONN_DST_LFE_CHANNEL = 0x0015
CONN_DST_CHORUS = 0x0080
CONN_DST_REVERB = 0x0081
CONN_DST_LFO_FREQUENCY = 0x0104
CONN_DST_LFO_STARTDELAY = 0x0105
CONN_DST_VIB_FREQUENCY = 0x0114
CONN_DST_VIB_STARTDELAY = 0x0115
CONN_DST_EG1_ATTACKTIME = 0x0206
CONN_DST_EG1_DECAYTIME = 0x0207
CONN_DST_EG1_RESERVED = 0x0208
CONN_DST_EG1_RELEASETIME = 0x0209
CONN_DST_EG1_SUSTAINLEVEL = 0x020A
CONN_DST_EG1_DELAYTIME = 0x020B
CONN_DST_EG1_HOLDTIME = 0x020C
CONN_DST_EG1_SHUTDOWNTIME = 0x020D
CONN_DST_EG2_ATTACKTIME = 0x030A
CONN_DST_EG2_DECAYTIME = 0x030B
CONN_DST_EG2_RESERVED = 0x030C
CONN_DST_EG2_RELEASETIME = 0x030D
CONN_DST_EG2_SUSTAINLEVEL = 0x030E
CONN_DST_EG2_DELAYTIME = 0x030F
CONN_DST_EG2_HOLDTIME = 0x0310
CONN_DST_FILTER_CUTOFF = 0x0500
CONN_DST_FILTER_Q = 0x0501

# --- Transforms (usTransform bit fields, DLS2) ---------------------------------------------
CONN_TRN_NONE = 0x0000
CONN_TRN_CONCAVE = 0x0001
CONN_TRN_CONVEX = 0x0002
CONN_TRN_SWITCH = 0x0003
TRN_OUTPUT_MASK = 0x000F  # bits 0-3: output transform
TRN_CONTROL_SHIFT = 4  # bits 4-7: control transform
TRN_CONTROL_BIPOLAR = 0x0100
TRN_CONTROL_INVERT = 0x0200
TRN_SOURCE_SHIFT = 10  # bits 10-13: source transform
TRN_SOURCE_BIPOLAR = 0x4000
TRN_SOURCE_INVERT = 0x8000

# --- Conditional chunk (cdl) opcodes -------------------------------------------------------
DLS_CDL_AND = 0x0001
DLS_CDL_OR = 0x0002
DLS_CDL_XOR = 0x0003
DLS_CDL_ADD = 0x0004
DLS_CDL_SUBTRACT = 0x0005
DLS_CDL_MULTIPLY = 0x0006
DLS_CDL_DIVIDE = 0x0007
DLS_CDL_LOGICAL_AND = 0x0008
DLS_CDL_LOGICAL_OR = 0x0009
DLS_CDL_LT = 0x000A
DLS_CDL_LE = 0x000B
DLS_CDL_GT = 0x000C
DLS_CDL_GE = 0x000D
DLS_CDL_EQ = 0x000E
DLS_CDL_NOT = 0x000F
DLS_CDL_CONST = 0x0010
DLS_CDL_QUERY = 0x0011
DLS_CDL_QUERYSUPPORTED = 0x0012


# --- DLSID query GUIDs, as the 16 bytes stored in a file (little-endian GUID layout) ------
def _guid(d1: int, d2: int, d3: int, d4: bytes) -> bytes:
    return d1.to_bytes(4, "little") + d2.to_bytes(2, "little") + d3.to_bytes(2, "little") + d4


DLSID_GMInHardware = _guid(0x178F2F24, 0xC364, 0x11D1, bytes([0xA7, 0x60, 0x00, 0x00, 0xF8, 0x75, 0xAC, 0x12]))
DLSID_GSInHardware = _guid(0x178F2F25, 0xC364, 0x11D1, bytes([0xA7, 0x60, 0x00, 0x00, 0xF8, 0x75, 0xAC, 0x12]))
DLSID_XGInHardware = _guid(0x178F2F26, 0xC364, 0x11D1, bytes([0xA7, 0x60, 0x00, 0x00, 0xF8, 0x75, 0xAC, 0x12]))
DLSID_SupportsDLS1 = _guid(0x178F2F27, 0xC364, 0x11D1, bytes([0xA7, 0x60, 0x00, 0x00, 0xF8, 0x75, 0xAC, 0x12]))
DLSID_SupportsDLS2 = _guid(0xF14599E5, 0x4689, 0x11D2, bytes([0xAF, 0xA6, 0x00, 0xAA, 0x00, 0x24, 0xD8, 0xB6]))
DLSID_SampleMemorySize = _guid(0x178F2F28, 0xC364, 0x11D1, bytes([0xA7, 0x60, 0x00, 0x00, 0xF8, 0x75, 0xAC, 0x12]))
DLSID_ManufacturersID = _guid(0xB03E1181, 0x8095, 0x11D2, bytes([0xA1, 0xEF, 0x00, 0x60, 0x08, 0x33, 0xDB, 0xD8]))
DLSID_ProductID = _guid(0xB03E1182, 0x8095, 0x11D2, bytes([0xA1, 0xEF, 0x00, 0x60, 0x08, 0x33, 0xDB, 0xD8]))
DLSID_SamplePlaybackRate = _guid(0x2A91F713, 0xA4BF, 0x11D2, bytes([0xBB, 0xDF, 0x00, 0x60, 0x08, 0x33, 0xDB, 0xD8]))

DLSID_NAMES = {
    DLSID_GMInHardware: "GMInHardware",
    DLSID_GSInHardware: "GSInHardware",
    DLSID_XGInHardware: "XGInHardware",
    DLSID_SupportsDLS1: "SupportsDLS1",
    DLSID_SupportsDLS2: "SupportsDLS2",
    DLSID_SampleMemorySize: "SampleMemorySize",
    DLSID_ManufacturersID: "ManufacturersID",
    DLSID_ProductID: "ProductID",
    DLSID_SamplePlaybackRate: "SamplePlaybackRate",
}

# --- Names for display ---------------------------------------------------------------------
SOURCE_NAMES = {
    CONN_SRC_NONE: "none",
    CONN_SRC_LFO: "lfo",
    CONN_SRC_KEYONVELOCITY: "velocity",
    CONN_SRC_KEYNUMBER: "key",
    CONN_SRC_EG1: "eg1",
    CONN_SRC_EG2: "eg2",
    CONN_SRC_PITCHWHEEL: "pitch_wheel",
    CONN_SRC_POLYPRESSURE: "poly_pressure",
    CONN_SRC_CHANNELPRESSURE: "channel_pressure",
    CONN_SRC_VIBRATO: "vibrato",
    CONN_SRC_MONOPRESSURE: "mono_pressure",
    CONN_SRC_RPN0: "rpn0",
    CONN_SRC_RPN1: "rpn1",
    CONN_SRC_RPN2: "rpn2",
}

DESTINATION_NAMES = {
    CONN_DST_NONE: "none",
    CONN_DST_GAIN: "gain",
    CONN_DST_RESERVED: "reserved",
    CONN_DST_PITCH: "pitch",
    CONN_DST_PAN: "pan",
    CONN_DST_KEYNUMBER: "key_number",
    CONN_DST_LEFT: "left",
    CONN_DST_RIGHT: "right",
    CONN_DST_CENTER: "center",
    CONN_DST_LEFTREAR: "left_rear",
    CONN_DST_RIGHTREAR: "right_rear",
    CONN_DST_LFE_CHANNEL: "lfe",
    CONN_DST_CHORUS: "chorus_send",
    CONN_DST_REVERB: "reverb_send",
    CONN_DST_LFO_FREQUENCY: "lfo_frequency",
    CONN_DST_LFO_STARTDELAY: "lfo_delay",
    CONN_DST_VIB_FREQUENCY: "vibrato_frequency",
    CONN_DST_VIB_STARTDELAY: "vibrato_delay",
    CONN_DST_EG1_ATTACKTIME: "eg1_attack",
    CONN_DST_EG1_DECAYTIME: "eg1_decay",
    CONN_DST_EG1_RESERVED: "eg1_reserved",
    CONN_DST_EG1_RELEASETIME: "eg1_release",
    CONN_DST_EG1_SUSTAINLEVEL: "eg1_sustain",
    CONN_DST_EG1_DELAYTIME: "eg1_delay",
    CONN_DST_EG1_HOLDTIME: "eg1_hold",
    CONN_DST_EG1_SHUTDOWNTIME: "eg1_shutdown",
    CONN_DST_EG2_ATTACKTIME: "eg2_attack",
    CONN_DST_EG2_DECAYTIME: "eg2_decay",
    CONN_DST_EG2_RESERVED: "eg2_reserved",
    CONN_DST_EG2_RELEASETIME: "eg2_release",
    CONN_DST_EG2_SUSTAINLEVEL: "eg2_sustain",
    CONN_DST_EG2_DELAYTIME: "eg2_delay",
    CONN_DST_EG2_HOLDTIME: "eg2_hold",
    CONN_DST_FILTER_CUTOFF: "filter_cutoff",
    CONN_DST_FILTER_Q: "filter_q",
}

TRANSFORM_NAMES = {
    CONN_TRN_NONE: "linear",
    CONN_TRN_CONCAVE: "concave",
    CONN_TRN_CONVEX: "convex",
    CONN_TRN_SWITCH: "switch",
}

# Destinations that a Level 1 articulator (art1) may use.
LEVEL1_DESTINATIONS = frozenset(
    {
        CONN_DST_NONE,
        CONN_DST_ATTENUATION,
        CONN_DST_RESERVED,
        CONN_DST_PITCH,
        CONN_DST_PAN,
        CONN_DST_LFO_FREQUENCY,
        CONN_DST_LFO_STARTDELAY,
        CONN_DST_EG1_ATTACKTIME,
        CONN_DST_EG1_DECAYTIME,
        CONN_DST_EG1_RESERVED,
        CONN_DST_EG1_RELEASETIME,
        CONN_DST_EG1_SUSTAINLEVEL,
        CONN_DST_EG2_ATTACKTIME,
        CONN_DST_EG2_DECAYTIME,
        CONN_DST_EG2_RESERVED,
        CONN_DST_EG2_RELEASETIME,
        CONN_DST_EG2_SUSTAINLEVEL,
    }
)


def source_name(src: int) -> str:
    """A readable name for a connection source (CC sources as ``ccN``)."""
    if 0x80 <= src <= 0xFF:
        return f"cc{src - 0x80}"
    return SOURCE_NAMES.get(src, f"0x{src:04x}")


def destination_name(dst: int) -> str:
    return DESTINATION_NAMES.get(dst, f"0x{dst:04x}")
