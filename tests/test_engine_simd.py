"""The kernels' SIMD variants: every interpolator (linear, cubic, sinc), the filters and the
mix kernels, run in each variant this CPU has (scalar, SSE2, AVX2, AVX-512) on odd lengths, give the
same frames bit for bit (the code is written so: each variant does the scalar formula's
operations in its order, with no FMA) and match a NumPy float64 reference of the kernel's
definition within a named tolerance.

The kernels run through the engine's own dispatch (eng_set_simd, then eng_kernel_*: the
voice's interpolation, filter and mix as a render runs them). On x86 the scalar and SSE2
variants always exist, so the comparison between variants is never empty; a CPU without
AVX2 compares those two (and says so), under CI too."""

from __future__ import annotations

import os
import platform

import numpy as np
import pytest

from dlsynth.native import ffi, lib
from dlsynth.native.engine import INTERPOLATION, KERNELS, SIMD_VARIANTS, Engine, simd_available

LENGTHS = [1, 3, 7, 63, 65, 1001]
ONE = 1 << 32  # a phase of one frame (32.32 fixed point)
# Phase increments (frames per output): below, at and above the AVX2 kernels' window limits
# (cubic 6/7, linear 1: one window of samples serves eight outputs) and the AVX-512 cubic's
# (28/15: one window of 32 samples serves sixteen), and well above (one load per output).
INCS = [
    int(0.25 * ONE),
    int(0.37 * ONE),
    (6 * ONE) // 7,
    (6 * ONE) // 7 + 1,
    ONE - 1,
    ONE,
    ONE + 1,
    int(1.5 * ONE),
    (28 * ONE) // 15,
    (28 * ONE) // 15 + 1,
    int(3.7 * ONE),
    int(61.3 * ONE),
]

# How far a kernel may be from its float64 reference (output scale: 1.0 = full scale). The
# kernels compute in float32 (rounding 2^-24 relative per operation) on values below 4 in
# magnitude; each bound is about four times the largest error measured over full-scale
# random 16-bit input and every case below (every variant gives the same frames):
#  - linear: two roundings of values below 1 (measured 6.0e-8, 1.0 x 2^-24);
LINEAR_TOL = 2.0**-22
#  - cubic: Hermite coefficients up to 3.5 in magnitude and three Horner steps (measured
#    2.0e-7, 3.4 x 2^-24);
CUBIC_TOL = 2.0**-21
#  - sinc: eight taps rounded to float32 (the reference keeps them in float64), eight
#    products and seven sums (measured 1.5e-7, 2.5 x 2^-24).
SINC_TOL = 2.0**-21
INTERP_TOL = {"linear": LINEAR_TOL, "cubic": CUBIC_TOL, "sinc": SINC_TOL}
# The low-pass, inputs of full scale, cutoffs 0.02..0.4 of the rate, resonances up to 12 dB:
# the recursion feeds its rounding back (measured 6.2e-7 over 1001 frames).
FILTER_TOL = 2.0**-19
# The mix: out + y * (g0 + k * dg), gains 0..1, up to four float32 roundings of values below
# 3 (measured 1.9e-7, 3.3 x 2^-24).
MIX_TOL = 2.0**-20

SINC_PHASES = 1024  # ENG_SINC_PHASES: the table's rows (the fraction's top 10 bits)
SINC_BETA = 6.0  # its Kaiser window
SINC_CUTOFF = 0.94  # its cutoff, of the source's Nyquist frequency


def _x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


VARIANTS = simd_available()


def test_the_variants_this_cpu_has():
    """Says which variants run here (printed, and in the assertion messages), and checks the
    dispatch against the CPU: on x86, scalar and SSE2 always; AVX2 exactly when the CPU
    reports it, AVX-512 exactly when it reports AVX2, AVX-512 F and BW (Linux)."""
    print(f"SIMD variants on this CPU: {', '.join(VARIANTS)}")
    assert VARIANTS[0] == "scalar"
    if _x86():
        assert "sse2" in VARIANTS, VARIANTS
        flags = _cpu_flags()
        if flags:
            assert ("avx2" in VARIANTS) == ("avx2" in flags), (VARIANTS, "avx2" in flags)
            has512 = {"avx2", "avx512f", "avx512bw"} <= flags
            assert ("avx512" in VARIANTS) == has512, (VARIANTS, has512)
    if os.environ.get("CI") == "true" and _x86():
        # never vacuous: at least scalar against SSE2
        assert len(VARIANTS) >= 2, VARIANTS


def _best_variant(env) -> str:
    """The variant an engine starts at, given DLSYNTH_NO_AVX2 and DLSYNTH_NO_AVX512 in env."""
    left = list(VARIANTS)
    if env.get("DLSYNTH_NO_AVX2") is not None:
        left = [v for v in left if v not in ("avx2", "avx512")]
    if env.get("DLSYNTH_NO_AVX512") is not None:
        left = [v for v in left if v != "avx512"]
    return left[-1]


def test_an_engine_reports_and_forces_its_variant():
    e = Engine(48000)
    assert e.simd == _best_variant(os.environ)
    for k in ("linear", "cubic", "sinc", "mix", "filter", "reverb", "chorus"):  # as created
        assert e.kernel_variant(k) == expected_kernel_variant(e.simd, k), (e.simd, k)
    for v in VARIANTS:
        e.set_simd(v)
        assert e.simd == v
        for k in ("linear", "cubic", "sinc", "mix", "filter", "reverb", "chorus"):
            assert e.kernel_variant(k) == expected_kernel_variant(v, k), (v, k)
    for v in SIMD_VARIANTS:
        if v not in VARIANTS:
            with pytest.raises(Exception, match=v):
                e.set_simd(v)
            assert e.simd == VARIANTS[-1]
    assert lib.eng_set_simd(ffi.NULL, 0) == lib.ENG_ERR_ARG
    assert lib.eng_set_simd(e._ptr, len(SIMD_VARIANTS)) == lib.ENG_ERR_ARG
    e.close()


@pytest.mark.parametrize("switch", ["DLSYNTH_NO_AVX2", "DLSYNTH_NO_AVX512"])
def test_a_switch_in_the_environment_starts_an_engine_below_that_variant(switch):
    """DLSYNTH_NO_AVX2 (the switch for comparing renders across processes) leaves the best
    variant below AVX2; DLSYNTH_NO_AVX512 the best below AVX-512."""
    import subprocess
    import sys
    from pathlib import Path

    code = "from dlsynth.native.engine import Engine\nprint(Engine(48000).simd)\n"
    env = dict(os.environ)
    env.pop("DLSYNTH_NO_AVX2", None)
    env.pop("DLSYNTH_NO_AVX512", None)
    env[switch] = "1"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.strip() == _best_variant(env)


@pytest.fixture(scope="module")
def engines():
    """One raw engine per interpolation (the kernel entry points take the C pointer)."""
    out = {}
    for name, code in INTERPOLATION.items():
        ptr = lib.eng_create(48000, 8, 16, code, 256, 4, 4)
        assert ptr != ffi.NULL
        out[name] = ffi.gc(ptr, lib.eng_destroy)
    return out


def expected_kernel_variant(variant: str, kernel: str) -> str:
    """The form `kernel` runs at the engine's `variant`: the variant itself, but the effects'
    scalar form below AVX2 (they have no SSE2 one) and, at AVX-512, the AVX2 form of every
    kernel but the cubic (the only one with a sixteen-lane form)."""
    if kernel in ("reverb", "chorus"):
        return "avx2" if variant in ("avx2", "avx512") else "scalar"
    if variant == "avx512" and kernel != "cubic":
        return "avx2"
    return variant


def _set(ptr, variant: str) -> None:
    assert lib.eng_set_simd(ptr, SIMD_VARIANTS[variant]) == SIMD_VARIANTS[variant]
    assert lib.eng_simd(ptr) == SIMD_VARIANTS[variant]


# --- interpolators ------------------------------------------------------------------------


def _interp(ptr, data: np.ndarray, phase: int, inc: int, frames: int) -> np.ndarray:
    out = np.full(frames, np.nan, np.float32)
    r = lib.eng_kernel_interp(
        ptr,
        ffi.cast("int16_t *", ffi.from_buffer(data)),
        len(data),
        phase,
        inc,
        ffi.cast("float *", ffi.from_buffer(out)),
        frames,
    )
    assert r == 0
    return out


def _sinc_table() -> np.ndarray:
    """Row k: the taps for fraction k / SINC_PHASES at offsets -3..4, unity DC gain."""
    f = np.arange(SINC_PHASES)[:, None] / SINC_PHASES
    x = np.arange(-3, 5)[None, :] - f
    w = x / 4.0
    win = np.where(np.abs(w) < 1.0, np.i0(SINC_BETA * np.sqrt(np.clip(1.0 - w * w, 0.0, None))) / np.i0(SINC_BETA), 0.0)
    rows = np.sinc(SINC_CUTOFF * x) * win
    return rows / rows.sum(axis=1, keepdims=True)


SINC_TABLE = _sinc_table()


def _interp_reference(kind: str, data: np.ndarray, phase: int, inc: int, frames: int) -> np.ndarray:
    """The kernel's definition in float64: output k at phase ph = phase + k inc, integer
    position p = ph >> 32, fraction f = the top 24 bits of ph's low word / 2^24; samples s/32768
    with silence around the wave."""
    ph = np.uint64(phase) + np.arange(frames, dtype=np.uint64) * np.uint64(inc)
    p = (ph >> np.uint64(32)).astype(np.int64) + 8
    lo = ph & np.uint64(0xFFFFFFFF)
    f = (lo >> np.uint64(8)).astype(np.float64) / 2.0**24
    x = np.concatenate([np.zeros(8), data.astype(np.float64) / 32768.0, np.zeros(8)])
    if kind == "linear":
        return x[p] + f * (x[p + 1] - x[p])
    if kind == "cubic":
        xm1, x0, x1, x2 = x[p - 1], x[p], x[p + 1], x[p + 2]
        c1 = 0.5 * (x1 - xm1)
        c2 = xm1 - 2.5 * x0 + 2.0 * x1 - 0.5 * x2
        c3 = 0.5 * (x2 - xm1) + 1.5 * (x0 - x1)
        return ((c3 * f + c2) * f + c1) * f + x0
    rows = SINC_TABLE[(lo >> np.uint64(22)).astype(np.int64)]
    taps = x[p[:, None] + np.arange(-3, 5)[None, :]]
    return (rows * taps).sum(axis=1)


@pytest.mark.parametrize("kind", ["linear", "cubic", "sinc"])
def test_interpolators_agree_across_variants_and_with_the_reference(engines, kind):
    ptr = engines[kind]
    rng = np.random.default_rng(14)
    compared = 0
    for inc in INCS:
        for frames in LENGTHS:
            phase = int(rng.integers(0, 64)) * ONE + int(rng.integers(0, ONE))
            n = ((phase + (frames - 1) * inc) >> 32) + 1 + int(rng.integers(0, 4))
            data = rng.integers(-32768, 32768, size=n).astype(np.int16)
            data[: min(n, 3)] = [-32768, 32767, -32768][: min(n, 3)]  # the extremes, side by side
            outs = {}
            for v in VARIANTS:
                _set(ptr, v)
                assert lib.eng_kernel_variant(ptr, KERNELS[kind]) == SIMD_VARIANTS[expected_kernel_variant(v, kind)]
                outs[v] = _interp(ptr, data, phase, inc, frames)
            ref = _interp_reference(kind, data, phase, inc, frames)
            where = f"{kind}, inc {inc / ONE:.6f}, {frames} frames"
            for v in VARIANTS:
                err = np.abs(outs[v].astype(np.float64) - ref).max()
                assert err <= INTERP_TOL[kind], f"{where}, {v}: {err:.3g} from the reference"
                assert outs[v].tobytes() == outs["scalar"].tobytes(), f"{where}: {v} differs from scalar"
            compared += len(VARIANTS) - 1
    if _x86():
        assert compared > 0, f"no two variants compared (this CPU has {VARIANTS})"


def test_interp_entry_point_refuses_positions_outside_the_samples(engines):
    ptr = engines["cubic"]
    data = np.zeros(10, np.int16)
    out = np.zeros(4, np.float32)
    args = (ffi.cast("int16_t *", ffi.from_buffer(data)), 10)
    o = ffi.cast("float *", ffi.from_buffer(out))
    assert lib.eng_kernel_interp(ptr, *args, 9 * ONE, ONE // 4, o, 4) == 0
    assert lib.eng_kernel_interp(ptr, *args, 9 * ONE, ONE, o, 2) == lib.ENG_ERR_ARG
    assert lib.eng_kernel_interp(ptr, *args, 0, 0, o, 2) == lib.ENG_ERR_ARG


# --- filters ------------------------------------------------------------------------------


def _lowpass(rng, ramp: bool, span: int):
    """Coefficients of the engine's low-pass (y = b0 (x + 2 x1 + x2) - a2 y2 - a1 y1) at a random
    cutoff and resonance, and a per-frame ramp that reaches another after `span` frames (the
    stable biquads' coefficients are a convex set: every frame's filter is stable)."""

    def coef():
        w = 2 * np.pi * rng.uniform(0.02, 0.4)
        q = 10 ** (rng.uniform(0.0, 12.0) / 20.0)
        alpha = np.sin(w) / (2 * q)
        inv = 1.0 / (1.0 + alpha)
        return np.array([(1 - np.cos(w)) * 0.5 * inv, -2 * np.cos(w) * inv, (1 - alpha) * inv])

    c0 = coef()
    dc = (coef() - c0) / span if ramp else np.zeros(3)
    return c0.astype(np.float32), dc.astype(np.float32)


def _filter_reference(x, st, c, dc, k0, ramp):
    x1, x2, y1, y2 = (float(s) for s in st)
    c = c.astype(np.float64)
    dc = dc.astype(np.float64)
    y = np.empty(len(x))
    for i, xi in enumerate(x.astype(np.float64)):
        b0, a1, a2 = c + (float(k0) + i) * dc if ramp else c
        yi = b0 * (xi + 2.0 * x1 + x2) - a2 * y2 - a1 * y1
        x2, x1, y2, y1 = x1, xi, y1, yi
        y[i] = yi
    return y, np.array([x1, x2, y1, y2])


@pytest.mark.parametrize("lanes", [1, 3, 4, 5, 8])
def test_filters_agree_across_variants_and_with_the_reference(engines, lanes):
    ptr = engines["cubic"]
    rng = np.random.default_rng(lanes)
    for frames in LENGTHS:
        x = rng.uniform(-1.0, 1.0, size=(lanes, frames)).astype(np.float32)
        st = rng.uniform(-0.5, 0.5, size=(lanes, 4)).astype(np.float32)
        ramp = np.array([(lane + frames) % 2 for lane in range(lanes)], np.int32)
        cs = [_lowpass(rng, bool(r), 32 + frames) for r in ramp]
        coef = np.array([c for c, _ in cs], np.float32)
        dcoef = np.array([d for _, d in cs], np.float32)
        k0 = rng.integers(0, 32, size=lanes).astype(np.float32)
        outs = {}
        for v in VARIANTS:
            _set(ptr, v)
            y, s = x.copy(), st.copy()
            r = lib.eng_kernel_filter(
                ptr,
                lanes,
                ffi.cast("float *", ffi.from_buffer(y)),
                frames,
                ffi.cast("float *", ffi.from_buffer(s)),
                ffi.cast("float *", ffi.from_buffer(coef)),
                ffi.cast("float *", ffi.from_buffer(dcoef)),
                ffi.cast("float *", ffi.from_buffer(k0)),
                ffi.cast("int32_t *", ffi.from_buffer(ramp)),
            )
            assert r == 0
            outs[v] = (y, s)
        for lane in range(lanes):
            ref, ref_st = _filter_reference(x[lane], st[lane], coef[lane], dcoef[lane], k0[lane], ramp[lane])
            for v in VARIANTS:
                where = f"{lanes} lanes, lane {lane}, {frames} frames, {v}"
                err = np.abs(outs[v][0][lane].astype(np.float64) - ref).max()
                assert err <= FILTER_TOL, f"{where}: {err:.3g} from the reference"
                assert np.abs(outs[v][1][lane] - ref_st).max() <= FILTER_TOL, f"{where}: state"
        for v in VARIANTS:
            assert outs[v][0].tobytes() == outs["scalar"][0].tobytes(), f"{lanes} lanes, {frames} frames: {v}"
            assert outs[v][1].tobytes() == outs["scalar"][1].tobytes(), f"{lanes} lanes, {frames} frames: {v} state"


# --- mix ----------------------------------------------------------------------------------


def _mix_reference(channels, y0, y1, g0, dg, k0, outs, sends):
    k = k0 + np.arange(len(y0), dtype=np.float64)
    g = [g0[b] + k * dg[b] for b in range(4)]
    y0 = y0.astype(np.float64)
    yr = y0 if channels == 1 else y1.astype(np.float64)
    ys = y0 if channels == 1 else y0 + y1.astype(np.float64)
    ref = [outs[0] + y0 * g[0], outs[1] + yr * g[1]]
    ref.append(outs[2] + ys * g[2] if "rev" in sends else outs[2])
    ref.append(outs[3] + ys * g[3] if "cho" in sends else outs[3])
    return ref


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("sends", [(), ("rev",), ("cho",), ("rev", "cho")])
@pytest.mark.parametrize("ramping", [False, True])
def test_mix_kernels_agree_across_variants_and_with_the_reference(engines, channels, sends, ramping):
    """Every mix kernel: the left/right pair, a mono voice's two sends (the pair again), a
    two-channel voice's two sends (the pair of sums), one send alone (the single bus, mono
    and summed); constant gains and ramps."""
    ptr = engines["cubic"]
    rng = np.random.default_rng(channels * 10 + len(sends) + 100 * ramping)
    for frames in LENGTHS:
        y0 = rng.uniform(-1, 1, frames).astype(np.float32)
        y1 = rng.uniform(-1, 1, frames).astype(np.float32)
        k0 = int(rng.integers(0, 64))
        # gains 0..1 (a ramp from one to another over the frames, as a plan's)
        g0 = rng.uniform(0, 1, 4)
        dg = ((rng.uniform(0, 1, 4) - g0) / (k0 + frames) if ramping else np.zeros(4)).astype(np.float32)
        g0 = g0.astype(np.float32)
        base = rng.uniform(-1, 1, (4, frames)).astype(np.float32)
        results = {}
        for v in VARIANTS:
            _set(ptr, v)
            o = base.copy()
            p = [ffi.cast("float *", ffi.from_buffer(o[b])) for b in range(4)]
            r = lib.eng_kernel_mix(
                ptr,
                channels,
                ffi.cast("float *", ffi.from_buffer(y0)),
                ffi.cast("float *", ffi.from_buffer(y1)),
                ffi.cast("float *", ffi.from_buffer(g0)),
                ffi.cast("float *", ffi.from_buffer(dg)),
                k0,
                p[0],
                p[1],
                p[2] if "rev" in sends else ffi.NULL,
                p[3] if "cho" in sends else ffi.NULL,
                frames,
            )
            assert r == 0
            results[v] = o
        ref = _mix_reference(
            channels, y0, y1, g0.astype(np.float64), dg.astype(np.float64), k0, base.astype(np.float64), sends
        )
        for v in VARIANTS:
            where = f"{channels} ch, sends {sends}, ramping {ramping}, {frames} frames, {v}"
            for b in range(4):
                err = np.abs(results[v][b].astype(np.float64) - ref[b]).max()
                assert err <= MIX_TOL, f"{where}, bus {b}: {err:.3g} from the reference"
            assert results[v].tobytes() == results["scalar"].tobytes(), f"{where}: differs from scalar"


# --- effects ------------------------------------------------------------------------------


def test_a_render_with_reverb_and_chorus_is_the_same_in_every_variant():
    """The engine's reverb and chorus follow its variant (AVX2 forms at AVX2, scalar below)
    and a render through them gives the same frames in each."""
    from .enginekit import instrument, region, render, setup, sine_wave

    outs = {}
    for v in VARIANTS:
        e, _ = setup(instrument(region(0)), [sine_wave(2.0)], channels=(0, 1), effects=True)
        e.set_simd(v)
        for ch, send in ((0, 91), (1, 93)):  # reverb send on one channel, chorus on the other
            e.control(0, ch, send, 127)
        for i, key in enumerate((60, 64, 67, 71)):
            e.note_on(2000 * i, i % 2, key, 100)
            e.note_off(30000 + 2000 * i, i % 2, key)
        outs[v] = render(e, 96000, block=1000)
        e.close()
    dry = outs[VARIANTS[0]]
    assert float(np.abs(dry[80000:]).max()) > 1e-6  # the reverb tail, a second after the notes ended
    for v in VARIANTS[1:]:
        assert np.array_equal(outs[v], dry), v
