"""The live wave sink's C callback (native/wavesink.c) without a device: messages stamped
and pushed from any thread land at the frame the time map gives their presentation time,
late ones at the block start (counted), the output is the same for any block size and never
exceeds the limit; and the threads of a live session, hammering it at once, are clean under
ThreadSanitizer, AddressSanitizer and UBSan."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dlsynth.native import ffi, lib
from dlsynth.synth.synth import Synth

from . import synthkit as K

ROOT = Path(__file__).resolve().parent.parent
RATE = K.RATE
REF = 10_000_000
LATENCY_REF = 50_000  # 5 ms of scheduled latency
FRAME_TOLERANCE = 0  # frames: placement is exact (round half up of the mapped time)


def _synth(gain_db: float = 0.0) -> Synth:
    s = Synth(RATE, channel_groups=2, effects=False, gain_db=gain_db)
    s.download(K.bank_of([K.instrument("sine", 0)]))
    return s


class _Sink:
    def __init__(self, synth: Synth, scheduled: bool = True):
        self.ptr = lib.ws_create(synth.engine._ptr, 4096, 1024, 4096)
        lib.ws_set_mode(self.ptr, 1 if scheduled else 0, LATENCY_REF)
        lib.ws_set_trace(self.ptr, 1)
        # master time 10 s is frame 0 from the start
        lib.ws_set_time_map(self.ptr, 10 * REF, 0.0, float(RATE))

    def push(self, stamp: int, group: int, msg: bytes) -> int:
        return lib.ws_midi_push_at(self.ptr, stamp, group, msg, len(msg))

    def run(self, frames: int) -> np.ndarray:
        out = np.zeros((frames, 2), dtype=np.float32)
        lib.ws_run_callback(self.ptr, ffi.cast("float *", ffi.from_buffer(out)), frames, 0.0, 0.0)
        return out

    def trace(self):
        rows = ffi.new("ws_trace[4096]")
        n = lib.ws_poll_trace(self.ptr, rows, 4096)
        return [(rows[i].stamp, rows[i].frame, rows[i].block, rows[i].late) for i in range(n)]

    def stats(self):
        st = ffi.new("ws_stats *")
        lib.ws_get_stats(self.ptr, st)
        return st

    def close(self):
        lib.ws_destroy(self.ptr)


def _expected_frame(stamp: int) -> int:
    return int(np.floor((stamp + LATENCY_REF - 10 * REF) * RATE / REF + 0.5))


def _session(block_sizes, total: int = 48000):
    """Notes pushed before the first callback, rendered in blocks of the given sizes."""
    synth = _synth()
    sink = _Sink(synth)
    stamps = [10 * REF + k * 1_234_567 for k in range(6)]
    for k, t in enumerate(stamps):
        sink.push(t, 1, bytes([0x90, 60 + k, 100]))
        sink.push(t + 700_000, 1, bytes([0x80, 60 + k, 0]))
    out = []
    done, i = 0, 0
    while done < total:
        n = min(block_sizes[i % len(block_sizes)], total - done)
        out.append(sink.run(n))
        done += n
        i += 1
    tr = sink.trace()
    sink.close()
    synth.close()
    return np.concatenate(out), tr, stamps


def test_scheduled_messages_land_on_the_mapped_frame():
    out, tr, stamps = _session([256])
    on = [row for row in tr if True][0::2]
    assert len(tr) == 12
    for (stamp, frame, _block, late), want in zip(on, stamps):
        assert stamp == want and not late
        assert abs(int(frame) - _expected_frame(stamp)) <= FRAME_TOLERANCE
    # The same notes given to the synth offline at those frames sound the same, sample for sample.
    ref_synth = _synth()
    for k, t in enumerate(stamps):
        ref_synth.message(_expected_frame(t), 1, bytes([0x90, 60 + k, 100]))
        ref_synth.message(_expected_frame(t + 700_000), 1, bytes([0x80, 60 + k, 0]))
    ref = ref_synth.render(frames=len(out))
    ref_synth.close()
    assert np.array_equal(np.clip(ref, -1, 1), out)


@pytest.mark.parametrize("sizes", [[1, 63], [64], [65, 8193], [17, 256, 3]])
def test_output_does_not_depend_on_the_block_size(sizes):
    ref, _, _ = _session([256])
    out, _, _ = _session(sizes)
    assert np.array_equal(ref, out)


def test_late_messages_play_at_the_block_start_and_are_counted():
    synth = _synth()
    sink = _Sink(synth)
    sink.run(4800)  # frames 0..4799 are gone
    sink.push(10 * REF, 1, bytes([0x90, 69, 100]))  # due at frame 240: too late
    sink.push(10 * REF + 2 * REF, 1, bytes([0x90, 72, 100]))  # due in 2 s: fine
    sink.run(64)
    tr = sink.trace()
    assert [(int(f), int(late)) for _, f, _, late in tr] == [(4800, 1), (4800, 1)][:1] + [
        (_expected_frame(12 * REF), 0)
    ]
    assert sink.stats().late == 1
    sink.close()
    synth.close()


def test_events_never_go_back_in_time():
    synth = _synth()
    sink = _Sink(synth)
    sink.push(11 * REF, 1, bytes([0x90, 60, 100]))
    sink.push(10 * REF + REF // 2, 1, bytes([0x80, 60, 0]))  # stamped earlier, arrives later
    sink.run(256)
    frames = [int(f) for _, f, _, _ in sink.trace()]
    assert frames == sorted(frames) and frames[1] == frames[0]
    sink.close()
    synth.close()


def test_output_is_clipped_at_the_limit_whatever_the_gain():
    synth = _synth(gain_db=40.0)
    sink = _Sink(synth, scheduled=False)
    for k in range(8):
        sink.push(0, 1, bytes([0x90, 48 + 5 * k, 127]))
    out = sink.run(4800)
    assert np.abs(out).max() <= 1.0
    assert sink.stats().clipped > 0
    sink.close()
    synth.close()


def test_immediate_mode_applies_at_the_next_block():
    synth = _synth()
    sink = _Sink(synth, scheduled=False)
    sink.run(512)
    sink.push(12345, 1, bytes([0x90, 69, 100]))
    sink.run(64)
    assert [(int(f), int(b)) for _, f, b, _ in sink.trace()] == [(512, 512)]
    sink.close()
    synth.close()


def _build_stress(tmp_path: Path, flags: list[str]) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is needed for the sanitizer builds")
    exe = tmp_path / "ws_stress"
    srcs = [str(p) for p in sorted((ROOT / "native").glob("*.c")) if not p.name.startswith("_")]
    cmd = [
        gcc,
        "-std=c11",
        "-O1",
        "-g",
        "-D_POSIX_C_SOURCE=200809L",
        f"-I{ROOT / 'native'}",
        *flags,
        str(ROOT / "tests" / "c" / "ws_stress.c"),
        *srcs,
        "-o",
        str(exe),
        "-lm",
        "-ldl",
        "-lpthread",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_clean_env())
    assert r.returncode == 0, r.stderr
    return exe


def _clean_env(**extra) -> dict:
    """The environment without a preloaded sanitizer runtime (dev/sanitize.sh preloads ASan
    into Python; a ThreadSanitizer binary cannot run with it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    env.update(extra)
    return env


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "kind,flags,env",
    [
        ("thread", ["-fsanitize=thread"], {"TSAN_OPTIONS": "halt_on_error=1:exitcode=66"}),
        (
            "address",
            ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"],
            {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0", "UBSAN_OPTIONS": "halt_on_error=1"},
        ),
    ],
)
def test_live_threads_are_clean_under_sanitizers(tmp_path, kind, flags, env):
    exe = _build_stress(tmp_path, flags)
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=240, env=_clean_env(**env))
    assert "Sanitizer" not in r.stderr, r.stderr[-4000:]
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    assert "pushed 60000" in r.stdout


# Every system exclusive message the engine acts on, as a recording (`play --record`) must
# keep it: the resets, GM master volume at several levels, GS "use for rhythm part" on and
# off for parts of every kind (part 10, 1-9, 11-16). Messages the engine ignores are not
# recorded (there is nothing to replay).
_SYSEX_ACTED_ON = [
    bytes([0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7]),
    bytes([0xF0, 0x41, 0x10, 0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x41, 0xF7]),
    bytes([0xF0, 0x43, 0x10, 0x4C, 0x00, 0x00, 0x7E, 0x00, 0xF7]),
    *(bytes([0xF0, 0x7F, 0x7F, 0x04, 0x01, v & 0x7F, v >> 7, 0xF7]) for v in (0, 1, 700, 8192, 16383)),
    *(
        bytes([0xF0, 0x41, 0x10, 0x42, 0x12, 0x40, 0x10 | part, 0x15, dd, (128 - (0x65 + part + dd) % 128) % 128, 0xF7])
        for part in (0, 1, 9, 0xA, 0xF)
        for dd in (0, 1, 2)
    ),
]


def _applied(messages: list[bytes]) -> list[tuple[int, int, int]]:
    """(type, a, b) of each message as the sink applied it (in a fresh session)."""
    synth = _synth()
    sink = _Sink(synth)
    for k, m in enumerate(messages):
        assert sink.push(10 * REF + k * 1000, 1, m) == 1, m.hex()
    sink.run(2048)
    rows = ffi.new("ws_trace[4096]")
    n = lib.ws_poll_trace(sink.ptr, rows, 4096)
    out = [(rows[i].type, rows[i].a, rows[i].b) for i in range(n)]
    sink.close()
    synth.close()
    return out


def test_a_recording_keeps_every_sysex_the_synth_acted_on():
    from dlsynth.synth.service import message_bytes

    applied = _applied(_SYSEX_ACTED_ON)
    assert len(applied) == len(_SYSEX_ACTED_ON)
    recorded = [message_bytes(*row) for row in applied]
    assert all(r is not None and r[0] == 0xF0 and r[-1] == 0xF7 for r in recorded), recorded
    # played back, the recording does what the session did, event for event
    assert _applied([bytes(r) for r in recorded]) == applied
    # and a message the engine ignores (an XG effect parameter) is not even queued
    synth = _synth()
    sink = _Sink(synth)
    assert sink.push(10 * REF, 1, bytes([0xF0, 0x43, 0x10, 0x4C, 0x02, 0x01, 0x00, 0x01, 0xF7])) == 0
    sink.close()
    synth.close()
