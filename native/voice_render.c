/*
 * dlsynth voice engine: the per-sample kernels.
 *
 * A voice renders a segment (at most ENG_CTRL frames, never crossing a control tick) in
 * three passes over a scratch buffer:
 *   1. interpolation: runs of frames that cannot cross a loop seam or the end (the run
 *      length is worked out before the loop, so the loop body has no bounds test; guard
 *      frames around every buffer cover the interpolator's reach);
 *   2. the resonant low-pass (direct form I, b1 = 2 b0 = 2 b2 for a low-pass);
 *   3. mixing into the left, right, reverb and chorus buses with gains that ramp in closed
 *      form from the plan's start frame, so the loop vectorises and its result does not
 *      depend on where a block boundary falls.
 * Each frame's arithmetic is the same whatever the segment boundaries are, so the output
 * is identical for any block size.
 */
#include "voice.h"

#include <math.h>
#include <string.h>

#define FRAC_SCALE (1.0f / 4294967296.0f)

/* ---------------------------------------------------------------------------------------
 * Interpolators: mono and two-channel, linear / cubic Hermite / 8-point windowed sinc.
 * ------------------------------------------------------------------------------------- */

static inline float frac_of(uint64_t ph)
{
    return (float)(uint32_t)ph * FRAC_SCALE;
}

static inline float lin(const float *p, float f)
{
    return p[0] + f * (p[1] - p[0]);
}

static inline float cubic(const float *p, float f)
{
    float xm1 = p[-1], x0 = p[0], x1 = p[1], x2 = p[2];
    float c1 = 0.5f * (x1 - xm1);
    float c2 = xm1 - 2.5f * x0 + 2.0f * x1 - 0.5f * x2;
    float c3 = 0.5f * (x2 - xm1) + 1.5f * (x0 - x1);
    return ((c3 * f + c2) * f + c1) * f + x0;
}

static inline float sinc8(const float *p, const float *tab, uint64_t ph)
{
    const float *c = tab + ((uint32_t)ph >> (32 - 10)) * ENG_SINC_TAPS;
    float a = c[0] * p[-3] + c[1] * p[-2];
    float b = c[2] * p[-1] + c[3] * p[0];
    float d = c[4] * p[1] + c[5] * p[2];
    float g = c[6] * p[3] + c[7] * p[4];
    return (a + b) + (d + g);
}

static void run_linear1(const float *b, uint64_t *pph, uint64_t inc, float *out, int m)
{
    uint64_t ph = *pph;
    for (int i = 0; i < m; i++) {
        out[i] = lin(b + (ph >> ENG_FRAC), frac_of(ph));
        ph += inc;
    }
    *pph = ph;
}

static void run_cubic1(const float *b, uint64_t *pph, uint64_t inc, float *out, int m)
{
    uint64_t ph = *pph;
    for (int i = 0; i < m; i++) {
        out[i] = cubic(b + (ph >> ENG_FRAC), frac_of(ph));
        ph += inc;
    }
    *pph = ph;
}

static void run_sinc1(const float *b, const float *tab, uint64_t *pph, uint64_t inc, float *out, int m)
{
    uint64_t ph = *pph;
    for (int i = 0; i < m; i++) {
        out[i] = sinc8(b + (ph >> ENG_FRAC), tab, ph);
        ph += inc;
    }
    *pph = ph;
}

static void run_linear2(const float *b0, const float *b1, uint64_t *pph, uint64_t inc, float *o0, float *o1, int m)
{
    uint64_t ph = *pph;
    for (int i = 0; i < m; i++) {
        size_t j = (size_t)(ph >> ENG_FRAC);
        float f = frac_of(ph);
        o0[i] = lin(b0 + j, f);
        o1[i] = lin(b1 + j, f);
        ph += inc;
    }
    *pph = ph;
}

static void run_cubic2(const float *b0, const float *b1, uint64_t *pph, uint64_t inc, float *o0, float *o1, int m)
{
    uint64_t ph = *pph;
    for (int i = 0; i < m; i++) {
        size_t j = (size_t)(ph >> ENG_FRAC);
        float f = frac_of(ph);
        o0[i] = cubic(b0 + j, f);
        o1[i] = cubic(b1 + j, f);
        ph += inc;
    }
    *pph = ph;
}

static void run_sinc2(const float *b0, const float *b1, const float *tab, uint64_t *pph, uint64_t inc, float *o0,
                      float *o1, int m)
{
    uint64_t ph = *pph;
    for (int i = 0; i < m; i++) {
        size_t j = (size_t)(ph >> ENG_FRAC);
        o0[i] = sinc8(b0 + j, tab, ph);
        o1[i] = sinc8(b1 + j, tab, ph);
        ph += inc;
    }
    *pph = ph;
}

/* 8-tap Kaiser-windowed sinc, ENG_SINC_PHASES fractional positions, each row normalised
   to unity DC gain. Row k holds the taps for fraction k / ENG_SINC_PHASES at offsets
   -3..4 from the integer position. */
static double bessel_i0(double x)
{
    double sum = 1.0, term = 1.0;
    for (int k = 1; k < 40; k++) {
        term *= (x / (2.0 * k)) * (x / (2.0 * k));
        sum += term;
        if (term < 1e-12 * sum)
            break;
    }
    return sum;
}

void eng_sinc_table(float *table)
{
    const double beta = 6.0;
    const double cutoff = 0.94; /* of the source Nyquist frequency */
    const double half = ENG_SINC_TAPS / 2.0;
    const double i0b = bessel_i0(beta);
    for (int k = 0; k < ENG_SINC_PHASES; k++) {
        double f = (double)k / ENG_SINC_PHASES;
        double row[ENG_SINC_TAPS], sum = 0.0;
        for (int t = 0; t < ENG_SINC_TAPS; t++) {
            double x = (double)(t - 3) - f;
            double s = x == 0.0 ? 1.0 : sin(3.14159265358979323846 * cutoff * x) / (3.14159265358979323846 * cutoff * x);
            double wx = x / half;
            double w = fabs(wx) >= 1.0 ? 0.0 : bessel_i0(beta * sqrt(1.0 - wx * wx)) / i0b;
            row[t] = s * w;
            sum += row[t];
        }
        for (int t = 0; t < ENG_SINC_TAPS; t++)
            table[k * ENG_SINC_TAPS + t] = (float)(row[t] / sum);
    }
}

/* ---------------------------------------------------------------------------------------
 * Filter
 * ------------------------------------------------------------------------------------- */

static void filt_const(float *x, int n, float *st, eng_coef c)
{
    float x1 = st[0], x2 = st[1], y1 = st[2], y2 = st[3];
    const float b0 = c.b0, a1 = c.a1, a2 = c.a2;
    for (int i = 0; i < n; i++) {
        float in = x[i];
        float y = b0 * (in + 2.0f * x1 + x2) - a2 * y2 - a1 * y1;
        x2 = x1;
        x1 = in;
        y2 = y1;
        y1 = y;
        x[i] = y;
    }
    st[0] = x1;
    st[1] = x2;
    st[2] = y1;
    st[3] = y2;
}

static void filt_ramp(float *x, int n, float *st, eng_coef c, eng_coef dc, float k0)
{
    float x1 = st[0], x2 = st[1], y1 = st[2], y2 = st[3];
    for (int i = 0; i < n; i++) {
        float k = k0 + (float)i;
        float b0 = c.b0 + k * dc.b0;
        float a1 = c.a1 + k * dc.a1;
        float a2 = c.a2 + k * dc.a2;
        float in = x[i];
        float y = b0 * (in + 2.0f * x1 + x2) - a2 * y2 - a1 * y1;
        x2 = x1;
        x1 = in;
        y2 = y1;
        y1 = y;
        x[i] = y;
    }
    st[0] = x1;
    st[1] = x2;
    st[2] = y1;
    st[3] = y2;
}

/* ---------------------------------------------------------------------------------------
 * Mixing
 * ------------------------------------------------------------------------------------- */

static void mix_add(const float *restrict y, float *restrict out, int n, float g0, float dg, float k0)
{
    if (dg == 0.0f) {
        for (int i = 0; i < n; i++)
            out[i] += y[i] * g0;
    } else {
        for (int i = 0; i < n; i++)
            out[i] += y[i] * (g0 + (k0 + (float)i) * dg);
    }
}

static void mix_add2(const float *restrict y0, const float *restrict y1, float *restrict out, int n, float g0,
                     float dg, float k0)
{
    if (dg == 0.0f) {
        for (int i = 0; i < n; i++)
            out[i] += (y0[i] + y1[i]) * g0;
    } else {
        for (int i = 0; i < n; i++)
            out[i] += (y0[i] + y1[i]) * (g0 + (k0 + (float)i) * dg);
    }
}

/* ---------------------------------------------------------------------------------------
 * A voice's segment
 * ------------------------------------------------------------------------------------- */

static void at_boundary(eng_voice *v)
{
    const eng_region *r = v->rgn;
    switch (v->state) {
    case PS_PRELOOP:
        /* reached the loop start: continue in the loop image (first pass) */
        v->ph -= (uint64_t)r->loop_start << ENG_FRAC;
        v->state = PS_LOOP;
        for (int c = 0; c < r->nch; c++)
            v->buf[c] = r->lfirst[c];
        if (r->nch < 2)
            v->buf[1] = v->buf[0];
        v->lim = (uint64_t)(r->loop_end - r->loop_start + ENG_GUARD) << ENG_FRAC;
        break;
    case PS_LOOP: {
        uint64_t len = (uint64_t)(r->loop_end - r->loop_start) << ENG_FRAC;
        uint64_t lo = (uint64_t)ENG_GUARD << ENG_FRAC;
        v->ph -= len;
        if (v->ph >= v->lim)
            v->ph = lo + (v->ph - lo) % len;
        for (int c = 0; c < r->nch; c++)
            v->buf[c] = r->lagain[c];
        if (r->nch < 2)
            v->buf[1] = v->buf[0];
        break;
    }
    default:
        v->state = PS_DONE;
        break;
    }
}

void eng_voice_render(eng_engine *e, eng_voice *v, uint64_t at, int32_t n, float *out_l, float *out_r,
                      float *out_rev, float *out_cho)
{
    float *t0 = e->tmp;
    float *t1 = e->tmp + (ENG_CTRL + 8);
    int nch = v->nch;
    int i = 0;
    while (i < n) {
        if (v->state == PS_DONE) {
            memset(t0 + i, 0, sizeof(float) * (size_t)(n - i));
            memset(t1 + i, 0, sizeof(float) * (size_t)(n - i));
            break;
        }
        if (v->ph >= v->lim) {
            at_boundary(v);
            continue;
        }
        uint64_t left = (v->lim - v->ph + v->inc - 1) / v->inc;
        int m = left < (uint64_t)(n - i) ? (int)left : n - i;
        if (nch == 1) {
            switch (e->interp) {
            case ENG_INTERP_LINEAR: run_linear1(v->buf[0], &v->ph, v->inc, t0 + i, m); break;
            case ENG_INTERP_SINC: run_sinc1(v->buf[0], e->sinc, &v->ph, v->inc, t0 + i, m); break;
            default: run_cubic1(v->buf[0], &v->ph, v->inc, t0 + i, m); break;
            }
        } else {
            switch (e->interp) {
            case ENG_INTERP_LINEAR: run_linear2(v->buf[0], v->buf[1], &v->ph, v->inc, t0 + i, t1 + i, m); break;
            case ENG_INTERP_SINC:
                run_sinc2(v->buf[0], v->buf[1], e->sinc, &v->ph, v->inc, t0 + i, t1 + i, m);
                break;
            default: run_cubic2(v->buf[0], v->buf[1], &v->ph, v->inc, t0 + i, t1 + i, m); break;
            }
        }
        i += m;
    }

    float k0 = (float)(int64_t)(at - v->r0);
    if (v->filter) {
        if (v->coef_ramp) {
            filt_ramp(t0, n, v->fx[0], v->c0, v->dc, k0);
            if (nch == 2)
                filt_ramp(t1, n, v->fx[1], v->c0, v->dc, k0);
        } else {
            filt_const(t0, n, v->fx[0], v->c0);
            if (nch == 2)
                filt_const(t1, n, v->fx[1], v->c0);
        }
    }

    if (nch == 1) {
        mix_add(t0, out_l, n, v->g0[0], v->dg[0], k0);
        mix_add(t0, out_r, n, v->g0[1], v->dg[1], k0);
        if (v->g0[2] != 0.0f || v->dg[2] != 0.0f)
            mix_add(t0, out_rev, n, v->g0[2], v->dg[2], k0);
        if (v->g0[3] != 0.0f || v->dg[3] != 0.0f)
            mix_add(t0, out_cho, n, v->g0[3], v->dg[3], k0);
    } else {
        mix_add(t0, out_l, n, v->g0[0], v->dg[0], k0);
        mix_add(t1, out_r, n, v->g0[1], v->dg[1], k0);
        if (v->g0[2] != 0.0f || v->dg[2] != 0.0f)
            mix_add2(t0, t1, out_rev, n, v->g0[2], v->dg[2], k0);
        if (v->g0[3] != 0.0f || v->dg[3] != 0.0f)
            mix_add2(t0, t1, out_cho, n, v->g0[3], v->dg[3], k0);
    }
}
