/*
 * dlsynth voice engine: the kernels' SIMD variants (which this build and CPU can run, which
 * an engine runs, forcing one), and entry points that run one kernel outside a render, as
 * the render loop runs it, for the tests that compare the variants
 * (tests/test_engine_simd.py).
 *
 * Thread: the producer, while no render runs (the entry points allocate).
 */
#include "eng_internal.h"

#include <stdlib.h>
#include <string.h>

int32_t eng_simd_available(void)
{
    int32_t bits = 1 << ENG_SIMD_SCALAR;
#if ENG_SIMD
    bits |= 1 << ENG_SIMD_SSE2;
#endif
#ifdef ENG_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        bits |= 1 << ENG_SIMD_AVX2;
#endif
#ifdef ENG_AVX512
    /* (AVX-512 implies AVX2 on every CPU that has it; the variant needs both) */
    if ((bits & (1 << ENG_SIMD_AVX2)) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
        bits |= 1 << ENG_SIMD_AVX512;
#endif
    return bits;
}

int32_t eng_simd_default(void)
{
    int32_t bits = eng_simd_available();
    if (getenv("DLSYNTH_NO_AVX2") != NULL)
        bits &= ~((1 << ENG_SIMD_AVX2) | (1 << ENG_SIMD_AVX512));
    if (getenv("DLSYNTH_NO_AVX512") != NULL)
        bits &= ~(1 << ENG_SIMD_AVX512);
    int32_t best = ENG_SIMD_SCALAR;
    for (int32_t v = ENG_SIMD_SCALAR; v <= ENG_SIMD_AVX512; v++)
        if (bits & (1 << v))
            best = v;
    return best;
}

int32_t eng_set_simd(eng_engine *e, int32_t simd)
{
    if (!e || simd < ENG_SIMD_SCALAR || simd > ENG_SIMD_AVX512 || !(eng_simd_available() & (1 << simd)))
        return ENG_ERR_ARG;
    e->simd = simd;
    fx_reverb_set_avx2(e->reverb, simd >= ENG_SIMD_AVX2);
    fx_chorus_set_avx2(e->chorus, simd >= ENG_SIMD_AVX2);
    return simd;
}

int32_t eng_simd(const eng_engine *e) { return e->simd; }

int32_t eng_kernel_variant(const eng_engine *e, int32_t kernel)
{
    switch (kernel) {
    case ENG_KERNEL_CUBIC:
        return e->simd;
    case ENG_KERNEL_LINEAR:
    case ENG_KERNEL_SINC:
    case ENG_KERNEL_MIX:
    case ENG_KERNEL_FILTER:
        return e->simd > ENG_SIMD_AVX2 ? ENG_SIMD_AVX2 : e->simd; /* (no AVX-512 form: AVX2) */
    case ENG_KERNEL_REVERB:
        return fx_reverb_avx2(e->reverb) ? ENG_SIMD_AVX2 : ENG_SIMD_SCALAR;
    case ENG_KERNEL_CHORUS:
        return fx_chorus_avx2(e->chorus) ? ENG_SIMD_AVX2 : ENG_SIMD_SCALAR;
    default:
        return ENG_ERR_ARG;
    }
}

/* A zeroed voice, outside the engine's slots (free() frees it). */
static eng_voice *new_voice(void)
{
    eng_voice *v = aligned_alloc(_Alignof(eng_voice), sizeof *v);
    if (v)
        memset(v, 0, sizeof *v);
    return v;
}

int32_t eng_kernel_interp(eng_engine *e, const int16_t *data, int32_t n, uint64_t phase, uint64_t inc, float *out,
                          int32_t frames)
{
    if (!e || !data || !out || n < 1 || frames < 1 || inc < 1 || inc > ((uint64_t)ENG_MAX_RATIO << ENG_FRAC))
        return ENG_ERR_ARG;
    uint64_t steps = (uint64_t)(frames - 1);
    if (steps > (UINT64_MAX - phase) / inc || (phase + steps * inc) >> ENG_FRAC >= (uint64_t)n)
        return ENG_ERR_ARG; /* a position outside the samples */
    int16_t *buf = calloc((size_t)n + 2 * ENG_GUARD, sizeof *buf);
    if (!buf)
        return ENG_ERR_NOMEM;
    memcpy(buf + ENG_GUARD, data, (size_t)n * sizeof *buf);
    /* a voice playing the samples to their end, from the phase given */
    eng_voice *v = new_voice();
    if (!v) {
        free(buf);
        return ENG_ERR_NOMEM;
    }
    v->state = PS_TOEND;
    v->nch = 1;
    v->buf[0] = v->buf[1] = buf;
    v->ph = phase + ((uint64_t)ENG_GUARD << ENG_FRAC);
    v->inc = inc;
    v->lim = (uint64_t)(n + ENG_GUARD) << ENG_FRAC;
    eng_voice_interp(e, v, 0, frames, out, NULL);
    free(v);
    free(buf);
    return 0;
}

int32_t eng_kernel_filter(const eng_engine *e, int32_t lanes, float *x, int32_t frames, float *st, const float *coef,
                          const float *dcoef, const float *k0, const int32_t *ramp)
{
    if (!e || lanes < 1 || lanes > 8 || frames < 1 || !x || !st || !coef || !dcoef || !k0 || !ramp)
        return ENG_ERR_ARG;
    float *dummy = calloc((size_t)frames, sizeof *dummy); /* the unused lanes' row */
    if (!dummy)
        return ENG_ERR_NOMEM;
    eng_fjob jobs[8];
    for (int32_t l = 0; l < lanes; l++) {
        eng_fjob *j = &jobs[l];
        j->x = x + (size_t)l * (size_t)frames;
        j->st = st + 4 * l;
        j->c.b0 = coef[3 * l];
        j->c.a1 = coef[3 * l + 1];
        j->c.a2 = coef[3 * l + 2];
        j->dc.b0 = dcoef[3 * l];
        j->dc.a1 = dcoef[3 * l + 1];
        j->dc.a2 = dcoef[3 * l + 2];
        j->k0 = k0[l];
        j->ramp = ramp[l] != 0;
    }
    eng_filter_jobs(jobs, lanes, frames, dummy, e->simd);
    free(dummy);
    return 0;
}

int32_t eng_kernel_mix(const eng_engine *e, int32_t channels, const float *y0, const float *y1, const float *g0,
                       const float *dg, int64_t k0, float *out_l, float *out_r, float *out_rev, float *out_cho,
                       int32_t frames)
{
    if (!e || (channels != 1 && channels != 2) || !y0 || (channels == 2 && !y1) || !g0 || !dg || k0 < 0 || !out_l ||
        !out_r || frames < 1)
        return ENG_ERR_ARG;
    eng_voice *v = new_voice();
    if (!v)
        return ENG_ERR_NOMEM;
    v->nch = channels;
    for (int k = 0; k < 4; k++) {
        v->g0[k] = g0[k];
        v->dg[k] = dg[k];
    }
    v->r0 = 0; /* the ramp starts k0 frames before the first frame */
    eng_voice_mix(v, (uint64_t)k0, frames, y0, channels == 2 ? y1 : y0, out_l, out_r, out_rev, out_cho, e->simd);
    free(v);
    return 0;
}
