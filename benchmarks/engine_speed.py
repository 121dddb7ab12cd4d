"""Voice engine speed: nanoseconds per voice-sample, dlsynth against FluidSynth in the same run.

    python benchmarks/engine_speed.py [--voices 64 256 1024] [--seconds 2] [--program 19] [--modwheel]

Both synths: 48 kHz, 64-frame blocks, 4-point (cubic) interpolation, the low-pass filter
running, reverb and chorus off, N sustained looped voices of the same samples (FluidSynth
plays FluidR3_GM.sf2, dlsynth the DLS conversion of the same bank in
benchmarks/cache/FluidR3_GM.dls; without it, a synthetic looped wave). Each block is one
call from Python for both (ctypes for FluidSynth, cffi for dlsynth), so both pay a similar
per-call overhead. Time is the rendering thread's CPU time (time.thread_time), so other
processes on a shared machine do not inflate either figure; each figure is the best of
--repeat runs, the two synths measured alternately. Figures are ns per voice per output
frame; lower is better.

The voices are held in their sustain with nothing modulating them, so dlsynth skips their
control-tick plans (a steady voice's plan would set the same values again; the share
skipped is printed). With --modwheel both synths get the mod wheel up on every channel
before the notes, and dlsynth's instrument the connection FluidSynth has built in (SF2's
default modulator: the vibrato LFO to pitch, 50 cents at full wheel): every voice then has a
vibrato in both, no voice is steady, and every plan is made.
"""

from __future__ import annotations

import dlsynth.numpy_env  # noqa: F401  (first: one OpenBLAS thread, as the command runs)

import argparse
import ctypes
import ctypes.util
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from peers import FLUID_R3_SF2  # noqa: E402  (benchmarks/peers.py, beside this script)

RATE = 48000
BLOCK = 64
SF2 = str(FLUID_R3_SF2)
DLS = ROOT / "benchmarks" / "cache" / "FluidR3_GM.dls"
KEYS = list(range(48, 72))  # 24 keys per channel


def note_plan(n: int, channels: int) -> list[tuple[int, int]]:
    """n distinct (channel, key) pairs, skipping drum channels (9 of every 16)."""
    chans = [c for c in range(channels) if c % 16 != 9]
    plan = []
    for i in range(n):
        plan.append((chans[i % len(chans)], KEYS[(i // len(chans)) % len(KEYS)]))
    if len(set(plan)) != n:
        raise SystemExit("not enough distinct channel/key pairs")
    return plan


# ------------------------------------------------------------------------------------------
# FluidSynth through ctypes
# ------------------------------------------------------------------------------------------
class Fluid:
    def __init__(self, sf2: str, program: int, midi_channels: int):
        name = ctypes.util.find_library("fluidsynth") or "libfluidsynth.so.3"
        try:
            fl = ctypes.CDLL("libfluidsynth.so.3")
        except OSError:
            fl = ctypes.CDLL(name)
        V, Int, S, D = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_double

        def sig(fn, res, *args):
            f = getattr(fl, fn)
            f.restype = res
            f.argtypes = list(args)
            return f

        self.new_settings = sig("new_fluid_settings", V)
        self.new_synth = sig("new_fluid_synth", V, V)
        self.setint = sig("fluid_settings_setint", Int, V, S, Int)
        self.setnum = sig("fluid_settings_setnum", Int, V, S, D)
        self.sfload = sig("fluid_synth_sfload", Int, V, S, Int)
        self.noteon = sig("fluid_synth_noteon", Int, V, Int, Int, Int)
        self.cc = sig("fluid_synth_cc", Int, V, Int, Int, Int)
        self.program_change = sig("fluid_synth_program_change", Int, V, Int, Int)
        self.write_float = sig("fluid_synth_write_float", Int, V, Int, V, Int, Int, V, Int, Int)
        self.active = sig("fluid_synth_get_active_voice_count", Int, V)
        self.set_interp = sig("fluid_synth_set_interp_method", Int, V, Int, Int)
        self.reset = sig("fluid_synth_system_reset", Int, V)
        self.delete_synth = sig("delete_fluid_synth", None, V)
        self.delete_settings = sig("delete_fluid_settings", None, V)
        version = sig("fluid_version_str", S)
        self.version = version().decode()
        self.settings = self.new_settings()
        self.setnum(self.settings, b"synth.sample-rate", float(RATE))
        self.setint(self.settings, b"synth.polyphony", 4096)
        self.setint(self.settings, b"synth.midi-channels", midi_channels)
        self.setint(self.settings, b"synth.reverb.active", 0)
        self.setint(self.settings, b"synth.chorus.active", 0)
        self.setint(self.settings, b"synth.cpu-cores", 1)
        self.synth = self.new_synth(self.settings)
        self.sf2 = sf2.encode()
        if self.sfload(self.synth, self.sf2, 1) < 0:
            raise SystemExit(f"FluidSynth could not load {sf2}")
        self.run_synth = None
        self.set_interp(self.synth, -1, 4)  # FLUID_INTERP_4THORDER
        self.program = program
        self.midi_channels = midi_channels
        self.left = np.zeros(BLOCK, np.float32)
        self.right = np.zeros(BLOCK, np.float32)

    def start(self, plan, modwheel=False):
        # A fresh synth per run: in FluidSynth 2.3 neither system_reset nor all_sounds_off
        # reliably clears the voices of a previous run. The sample cache makes the reload
        # cheap while the first synth keeps the SoundFont loaded.
        if getattr(self, "run_synth", None) is not None:
            self.delete_synth(self.run_synth)
        self.run_synth = self.new_synth(self.settings)
        if self.sfload(self.run_synth, self.sf2, 1) < 0:
            raise SystemExit("FluidSynth could not reload the SoundFont")
        self.set_interp(self.run_synth, -1, 4)
        for c in range(self.midi_channels):
            if c % 16 != 9:
                self.program_change(self.run_synth, c, self.program)
                if modwheel:
                    self.cc(self.run_synth, c, 1, 127)
        for c, k in plan:
            self.noteon(self.run_synth, c, k, 100)

    def block(self):
        self.write_float(self.run_synth, BLOCK, self.left.ctypes.data, 0, 1, self.right.ctypes.data, 0, 1)

    def voices(self) -> int:
        return self.active(self.run_synth)

    def close(self):
        if getattr(self, "run_synth", None) is not None:
            self.delete_synth(self.run_synth)
        self.delete_synth(self.synth)
        self.delete_settings(self.settings)


# ------------------------------------------------------------------------------------------
# dlsynth
# ------------------------------------------------------------------------------------------
def synthetic_instrument():
    from dlsynth.dls.model import Instrument, Loop, Region, Wave, WaveSample

    n = 44100
    t = np.arange(n) / 44100.0
    f0 = 44100.0 / 100.0  # a whole number of cycles per loop
    x = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 12))
    data = (x / np.abs(x).max() * 20000).astype(np.int16)
    wave = Wave.from_pcm16(data, 44100, WaveSample(unity_note=69, loops=[Loop(0, 100, n - 200)]))
    return Instrument(name="synthetic", regions=[Region()]), [wave]


def with_vibrato(instrument):
    """A copy of the instrument whose every articulation list has SF2's default mod-wheel
    vibrato (the vibrato LFO to pitch, 50 cents times the wheel), as FluidSynth plays every
    SoundFont."""
    import copy

    from dlsynth.dls import constants as C
    from dlsynth.dls.model import Articulation, Connection

    ins = copy.deepcopy(instrument)
    vib = Articulation(
        level=2, connections=[Connection(C.CONN_SRC_VIBRATO, C.CONN_SRC_CC1, C.CONN_DST_PITCH, 0, 50 * 65536)]
    )
    ins.articulations.append(vib)
    for r in ins.regions:
        if r.articulations:
            r.articulations.append(vib)
    return ins


def with_filter(instrument):
    """A copy of the instrument whose every articulation list sets the filter cutoff (so the
    low-pass runs, as FluidSynth's always does) unless it already does."""
    import copy

    from dlsynth.dls import constants as C
    from dlsynth.dls.model import Articulation, Connection

    ins = copy.deepcopy(instrument)
    fc = Articulation(level=2, connections=[Connection(0, 0, C.CONN_DST_FILTER_CUTOFF, 0, 13500 * 65536)])

    def has_fc(arts):
        return any(
            c.source == 0 and c.control == 0 and c.destination == C.CONN_DST_FILTER_CUTOFF
            for a in arts
            for c in a.connections
        )

    if not has_fc(ins.articulations):
        ins.articulations.append(fc)
    for r in ins.regions:
        if r.articulations and not has_fc(r.articulations):
            r.articulations.append(fc)
    return ins


class Dlsynth:
    def __init__(self, program: int, groups: int, max_voices: int, use_dls: bool, modwheel: bool = False):
        from dlsynth.native.engine import Engine

        self.engine = Engine(RATE, max_voices=max_voices, channel_groups=groups, interpolation="cubic", effects=False)
        if use_dls and DLS.exists():
            from dlsynth import dls

            col = dls.read(str(DLS))
            ins = col.find_instrument(0, program)
            if ins is None:
                raise SystemExit(f"no program {program} in {DLS}")
            waves = col.waves
            self.source = f"{DLS.name} program {program} ({ins.name})"
        else:
            ins, waves = synthetic_instrument()
            self.source = "synthetic looped wave"
        ins = with_filter(ins)
        if modwheel:
            ins = with_vibrato(ins)
        need = sorted({r.wave_link.table_index for r in ins.regions})
        ids: dict[int, int] = {}
        for ti in need:
            ids[ti] = self.engine.download_wave(waves[ti])
        from dlsynth.synth.download import download_instrument

        self.iid = download_instrument(self.engine, ins, ids)
        self.groups = groups
        self.out = np.zeros((BLOCK, 2), np.float32)
        self.filtered = None

    def start(self, plan, modwheel=False):
        e = self.engine
        e.reset_all(e.position)
        for _ in range(30):  # the reset's 1/70 s fade
            self.block()
        t = e.position
        for g in range(self.groups):
            for c in range(16):
                e.program(t, g * 16 + c, self.iid)
                if modwheel:
                    e.control(t, g * 16 + c, 1, 127)
        for c, k in plan:
            e.note_on(t, c, k, 100)

    def block(self):
        self.engine.render(out=self.out)

    def voices(self) -> int:
        return self.engine.stats()["voices_active"]

    def plans_skipped(self) -> int:
        return self.engine.stats()["plans_skipped"]

    def close(self):
        self.engine.close()


def measure(synth, plan, seconds: float, modwheel: bool = False) -> tuple[float, int, float | None]:
    """ns per voice-sample, the voices, and (dlsynth) the share of control-tick plans skipped
    as steady (a 64-frame block is one tick per voice)."""
    synth.start(plan, modwheel)
    for _ in range(int(0.3 * RATE / BLOCK)):  # attack and decay settle
        synth.block()
    v0 = synth.voices()
    skipped = getattr(synth, "plans_skipped", None)
    s0 = skipped() if skipped else 0
    blocks = max(1, int(seconds * RATE / BLOCK))
    t0 = time.thread_time()
    for _ in range(blocks):
        synth.block()
    dt = time.thread_time() - t0
    v1 = synth.voices()
    voices = (v0 + v1) / 2
    share = (skipped() - s0) / (blocks * BLOCK / 64 * voices) if skipped else None
    return dt / (blocks * BLOCK * voices) * 1e9, int(round(voices)), share


# ------------------------------------------------------------------------------------------
# Where a voice-sample's time goes: each kernel alone, through the engine's own entry points
# ------------------------------------------------------------------------------------------
KERNEL_FRAMES = 16384  # frames per kernel call (the entry points allocate: amortised)
TARGET_RATIO = 0.15  # issue "Fast and lean with big banks and short songs": engine <= 0.15x FluidSynth


def _best_ns(fn, frames: int, repeat: int) -> float:
    """The best of `repeat` timings of fn(), in ns per frame."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for _ in range(8):
            fn()
        best = min(best, (time.perf_counter_ns() - t0) / (8 * frames))
    return best


def kernel_breakdown(repeat: int) -> list[tuple[str, float]]:
    """ns per voice-sample of each per-sample kernel of the cubic, filtered mono voice the
    benchmark plays (the engine's best SIMD variant): the interpolation (at a phase increment
    of 0.75, one window of samples per eight outputs, and of 1.3, one load per output), the
    low-pass over eight voices at once with ramping coefficients (as it runs in a full mix
    group) and over four (the recursion's latency no longer hidden), and the mix into the
    left and right buses with ramping gains."""
    from dlsynth.native import ffi, lib
    from dlsynth.native.engine import KERNELS, SIMD_VARIANTS

    ptr = ffi.gc(lib.eng_create(RATE, 8, 16, 1, 256, 4, 4), lib.eng_destroy)
    names = {v: k for k, v in SIMD_VARIANTS.items()}

    def form(kernel: str) -> str:
        return names[lib.eng_kernel_variant(ptr, KERNELS[kernel])]

    n = KERNEL_FRAMES
    rng = np.random.default_rng(5)
    out = np.zeros(n, np.float32)
    o = ffi.cast("float *", ffi.from_buffer(out))
    rows = []
    for inc in (0.75, 1.3):
        data = rng.integers(-20000, 20000, size=int(n * inc) + 64).astype(np.int16)
        d = ffi.cast("int16_t *", ffi.from_buffer(data))
        ph, step = 8 << 32, int(inc * (1 << 32))
        rows.append(
            (
                f"cubic interpolation ({form('cubic')}), increment {inc}",
                _best_ns(lambda: lib.eng_kernel_interp(ptr, d, len(data), ph, step, o, n), n, repeat),
            )
        )
    for lanes in (8, 4):
        x = rng.standard_normal(lanes * n).astype(np.float32) * 0.1
        st = np.zeros(4 * lanes, np.float32)
        coef = np.tile(np.array([0.02, -1.8, 0.85], np.float32), lanes)
        dcoef = np.full(3 * lanes, 1e-9, np.float32)
        k0 = np.zeros(lanes, np.float32)
        ramp = np.ones(lanes, np.int32)
        args = [
            ffi.cast(t, ffi.from_buffer(a))
            for t, a in (
                ("float *", x),
                ("float *", st),
                ("float *", coef),
                ("float *", dcoef),
                ("float *", k0),
                ("int32_t *", ramp),
            )
        ]
        ns = _best_ns(lambda: lib.eng_kernel_filter(ptr, lanes, args[0], n, *args[1:]), n, repeat) / lanes
        rows.append((f"low-pass ({form('filter')}), {lanes} voices at once", ns))
    y = rng.standard_normal(n).astype(np.float32)
    bl, br = np.zeros(n, np.float32), np.zeros(n, np.float32)
    g0 = np.array([0.5, 0.5, 0.0, 0.0], np.float32)
    dg = np.array([1e-7, -1e-7, 0.0, 0.0], np.float32)
    fy, fl, fr = (ffi.cast("float *", ffi.from_buffer(a)) for a in (y, bl, br))
    fg, fd = (ffi.cast("float *", ffi.from_buffer(a)) for a in (g0, dg))
    rows.append(
        (
            f"mix into left and right ({form('mix')})",
            _best_ns(lambda: lib.eng_kernel_mix(ptr, 1, fy, fy, fg, fd, 0, fl, fr, ffi.NULL, ffi.NULL, n), n, repeat),
        )
    )
    return rows


def cpu_ghz() -> float | None:
    """The nominal clock (/proc/cpuinfo), to turn ns into cycles; None where it is not said."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) / 1000.0
    except (OSError, ValueError):
        pass
    return None


def print_breakdown(total_ns: float, repeat: int) -> None:
    rows = kernel_breakdown(repeat)
    ghz = cpu_ghz()
    window, wide, f8, _f4, mix = (ns for _, ns in rows)
    print(
        "\nwhere a voice-sample's time goes (each kernel alone; ns per voice-sample"
        + (f", cycles at {ghz:.2f} GHz)" if ghz else ")")
    )
    for name, ns in rows:
        print(f"  {name:<46} {ns:6.3f} ns" + (f"  {ns * ghz:5.2f} cycles" if ghz else ""))
    kernels = (window + wide) / 2 + f8 + mix
    rest = total_ns - kernels
    print(
        f"  {'the rest: envelopes, LFOs, plans, bookkeeping':<46} {rest:6.3f} ns"
        + (f"  {rest * ghz:5.2f} cycles" if ghz else "")
        + f"  (the engine's {total_ns:.3f} less the kernels, interpolation averaged)"
    )
    print(
        "  bounds: the cubic does 22 float operations per output, the low-pass 8 and the mix 6; at 32 per\n"
        "  cycle (two adds and two multiplies of 8 lanes, or one and one of 16; no FMA: every variant gives\n"
        "  the scalar code's bits) that is 0.7, 0.25 and 0.2 cycles. The low-pass recursion waits 6 cycles\n"
        "  (a multiply and a subtract) per frame per chain: 0.75 cycles per voice at eight voices a chain,\n"
        "  1.5 at four.\n"
        "  Memory: 2 bytes of samples read per output (16-bit pool), the rest in L1: far from bandwidth."
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voices", type=int, nargs="+", default=[64, 256, 1024])
    ap.add_argument("--seconds", type=float, default=2.0, help="rendered audio per measurement")
    ap.add_argument("--program", type=int, default=19, help="GM program (one sustained voice per note)")
    ap.add_argument("--synthetic", action="store_true", help="dlsynth plays a synthetic wave, not the DLS bank")
    ap.add_argument("--repeat", type=int, default=3, help="best of N")
    ap.add_argument("--no-breakdown", action="store_true", help="leave out the per-kernel figures")
    ap.add_argument(
        "--modwheel",
        action="store_true",
        help="mod wheel up on every channel: every voice has a vibrato, none is steady",
    )
    args = ap.parse_args(argv)

    nmax = max(args.voices)
    need_channels = -(-nmax // len(KEYS))  # non-drum channels
    groups = max(1, -(-need_channels // 15))
    channels = groups * 16
    fluid = Fluid(SF2, args.program, min(256, channels)) if os.path.exists(SF2) else None
    ours = Dlsynth(
        args.program, groups, max_voices=min(4096, nmax + 64), use_dls=not args.synthetic, modwheel=args.modwheel
    )
    print(
        f"dlsynth: {ours.source}; FluidSynth {fluid.version if fluid else '(not found)'}: {SF2}, program {args.program}"
    )
    print(
        f"{RATE} Hz, {BLOCK}-frame blocks, cubic / 4th-order interpolation, filter on, effects off, "
        f"{args.seconds:g} s per run, best of {args.repeat}"
        + (", mod wheel up (every voice with a vibrato)" if args.modwheel else "")
    )
    print(f"{'voices':>7} {'dlsynth ns':>11} {'fluidsynth ns':>14} {'ratio':>7}   (ns per voice-sample)")
    worst = 0.0
    ours_first = None
    for n in args.voices:
        plan = note_plan(n, channels)
        ours_runs, fl_runs = [], []
        for _ in range(args.repeat):
            ours_runs.append(measure(ours, plan, args.seconds, args.modwheel))
            if fluid:
                fl_runs.append(measure(fluid, plan, args.seconds, args.modwheel))
        ours_ns = min(ours_runs)
        if ours_first is None:
            ours_first = ours_ns[0]
        line = f"{ours_ns[1]:>7} {ours_ns[0]:>11.3f}"
        if fluid:
            fl_ns = min(fl_runs)
            ratio = ours_ns[0] / fl_ns[0]
            worst = max(worst, ratio)
            line += f" {fl_ns[0]:>14.3f} {ratio:>7.3f}   (FluidSynth voices: {fl_ns[1]}; dlsynth plans skipped: {ours_ns[2]:.0%})"
        print(line)
    if fluid:
        verdict = "meets" if worst <= TARGET_RATIO else "MISSES"
        print(f"worst ratio dlsynth/FluidSynth: {worst:.3f} (target <= {TARGET_RATIO}: {verdict})")
        fluid.close()
    ours.close()
    if not args.no_breakdown and ours_first is not None:
        print_breakdown(ours_first, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
