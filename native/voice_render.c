/*
 * dlsynth voice engine: the per-sample kernels.
 *
 * A voice renders a piece (at most ENG_CTRL frames, never crossing a control tick) in
 * three passes over a scratch buffer:
 *   1. interpolation: spans of frames that cannot cross a loop seam or the end (the span
 *      length is worked out before the loop, so the loop body has no bounds test; guard
 *      frames around every buffer cover the interpolator's reach);
 *   2. the resonant low-pass (direct form I, b1 = 2 b0 = 2 b2 for a low-pass);
 *   3. mixing into the left, right, reverb and chorus buses with gains that ramp in closed
 *      form from the plan's start frame, so the loop vectorises and its result does not
 *      depend on where a block boundary falls.
 * Each frame's arithmetic is the same whatever the piece boundaries are, so the output
 * is identical for any block size.
 */
#include "voice.h"

#include <math.h>
#include <string.h>

#if ENG_SIMD
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

/* ---------------------------------------------------------------------------------------
 * Interpolators: mono and two-channel, linear / cubic Hermite / 8-point windowed sinc.
 *
 * The buffers hold 16-bit PCM; a sample's value is (float)s / 32768, exact in float. The
 * scalar formulas below convert each sample as they read it: they are the reference.
 *
 * The fraction is the phase's top 24 fractional bits (exact in a float). The SSE2 paths
 * compute four consecutive outputs at once (one unaligned load per output, a 16-bit
 * transpose, conversion) with exactly the operations of the scalar formula, in the same
 * order, lane by lane, but on the samples scaled by a power of two (an int16 placed in
 * the top half of an int32 converts exactly to s * 65536 = (s / 32768) * 2^31), and they
 * scale the result back once, by 2^-31 (the AVX2 kernels below: s = (s / 32768) * 2^15,
 * and 2^-15). Each formula is linear in the samples: every product has exactly one factor
 * that carries them (a sample, or a sum or difference of samples, times a constant, the
 * fraction or a sinc tap), so every intermediate value is the reference's times the same
 * power of two, and IEEE rounding commutes with that as long as nothing overflows or is
 * subnormal. Nothing is: the reference's intermediate values are below 2^3 in magnitude,
 * and zero or at least 2^-100 (rounding keeps a multiple of a power of two one: samples
 * are multiples of 2^-15, the fraction of 2^-24, at most three fraction factors in a
 * product, and the sinc taps are zero or at least 2^-60, see eng_sinc_table). So a frame's
 * value is bit for bit the scalar formula's whichever path produced it.
 * ------------------------------------------------------------------------------------- */

#define FRAC24 (1.0f / 16777216.0f)
#define S16 (1.0f / 32768.0f) /* int16 sample -> float in [-1, 1) */

static inline float frac_of(uint64_t ph)
{
    return (float)(int32_t)((uint32_t)ph >> 8) * FRAC24;
}

static inline float s16f(int16_t s)
{
    return (float)s * S16;
}

static inline float lin(const int16_t *p, float f)
{
    float x0 = s16f(p[0]), x1 = s16f(p[1]);
    return x0 + f * (x1 - x0);
}

static inline float cubic(const int16_t *p, float f)
{
    float xm1 = s16f(p[-1]), x0 = s16f(p[0]), x1 = s16f(p[1]), x2 = s16f(p[2]);
    /* the Catmull-Rom polynomial y = ((c3 f + c2) f + c1) f + x0 in 15 operations:
       c1 = (x1 - xm1) / 2, c3 = c1 + 2 (x0 - x1) + (x2 - x0) / 2, -c2 = c1 + (x0 - x1) + c3.
       The samples are 16-bit integers (times a power of two), so every coefficient is a
       multiple of 1/2 below 2^18 and exact in a float: any arrangement of these sums gives
       the same bits, and only the Horner steps round (the 19-operation form this replaced
       gave the same output, bit for bit). */
    float c1 = (x1 - xm1) * 0.5f;
    float d = x0 - x1;
    float w = c1 + d;
    float c3 = (w + d) + (x2 - x0) * 0.5f;
    float nc2 = w + c3;
    return ((c3 * f - nc2) * f + c1) * f + x0;
}

static inline float sinc8(const int16_t *p, const float *tab, uint64_t ph)
{
    const float *c = tab + ((uint32_t)ph >> (32 - 10)) * ENG_SINC_TAPS;
    float s0 = c[0] * s16f(p[-3]) + c[4] * s16f(p[1]);
    float s1 = c[1] * s16f(p[-2]) + c[5] * s16f(p[2]);
    float s2 = c[2] * s16f(p[-1]) + c[6] * s16f(p[3]);
    float s3 = c[3] * s16f(p[0]) + c[7] * s16f(p[4]);
    return (s0 + s1) + (s2 + s3);
}

#if ENG_SIMD
static inline __m128 v_frac(__m128i lo)
{
    return _mm_mul_ps(_mm_cvtepi32_ps(_mm_srli_epi32(lo, 8)), _mm_set1_ps(FRAC24));
}

#define S31 (1.0f / 2147483648.0f) /* undoes the 2^31 scale of v_hi16lo / v_hi16hi */

/* int16 lanes 0-3 (lo) or 4-7 (hi) of v as floats s * 65536 (each in an int32's top half) */
static inline __m128 v_hi16lo(__m128i v)
{
    return _mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), v));
}

static inline __m128 v_hi16hi(__m128i v)
{
    return _mm_cvtepi32_ps(_mm_unpackhi_epi16(_mm_setzero_si128(), v));
}

/* two consecutive int16 samples as one 32-bit word (unaligned) */
static inline int ld_pair(const int16_t *p)
{
    int32_t w;
    memcpy(&w, p, sizeof w);
    return (int)w;
}

static inline __m128i ld8(const int16_t *p) /* p[0..7], unaligned */
{
    return _mm_loadu_si128((const __m128i *)p);
}

/* Samples p[0..3] of four positions (their vectors a, b, c, d: eight samples each, the last
   four unused), transposed: on return u0 holds (a0, b0, c0, d0, a1, b1, c1, d1) and u1 the
   same of samples 2 and 3. */
static inline void v_tr4x4(__m128i a, __m128i b, __m128i c, __m128i d, __m128i *u0, __m128i *u1)
{
    __m128i t0 = _mm_unpacklo_epi16(a, b), t1 = _mm_unpacklo_epi16(c, d);
    *u0 = _mm_unpacklo_epi32(t0, t1);
    *u1 = _mm_unpackhi_epi32(t0, t1);
}

/* The scalar cubic's operations, lane by lane, on vectors of type T with intrinsics
   _W_*_ps (W: mm for SSE, mm256 for AVX, mm512 for AVX-512): the body of v_cubic, v8_cubic
   and v16_cubic, written once. */
#define VOP(W, op) _##W##_##op##_ps
#define V_CUBIC_BODY(W, T)                                                                                         \
    const T h = VOP(W, set1)(0.5f);                                                                                \
    T c1 = VOP(W, mul)(VOP(W, sub)(x1, xm1), h);                                                                   \
    T d = VOP(W, sub)(x0, x1);                                                                                     \
    T w = VOP(W, add)(c1, d);                                                                                      \
    T c3 = VOP(W, add)(VOP(W, add)(w, d), VOP(W, mul)(VOP(W, sub)(x2, x0), h));                                    \
    T nc2 = VOP(W, add)(w, c3);                                                                                    \
    T y = VOP(W, sub)(VOP(W, mul)(c3, f), nc2);                                                                    \
    y = VOP(W, add)(VOP(W, mul)(y, f), c1);                                                                        \
    return VOP(W, add)(VOP(W, mul)(y, f), x0)

static inline __m128 v_cubic(__m128 xm1, __m128 x0, __m128 x1, __m128 x2, __m128 f)
{
    V_CUBIC_BODY(mm, __m128);
}

/* the four lanes' low phase words: ph, ph + inc, ph + 2 inc, ph + 3 inc (mod 2^32) */
static inline __m128i v_lo(uint64_t ph, uint64_t inc)
{
    uint32_t l = (uint32_t)ph, d = (uint32_t)inc;
    return _mm_set_epi32((int)(l + 3 * d), (int)(l + 2 * d), (int)(l + d), (int)l);
}
#endif

static void run_linear1(const int16_t *b, uint64_t *pph, uint64_t inc, float *out, int m, int sse)
{
    uint64_t ph = *pph;
    int i = 0;
#if ENG_SIMD
    if (sse && m >= 4) {
        __m128i lo = v_lo(ph, inc), dlo = _mm_set1_epi32((int)(uint32_t)(4 * inc));
        for (; i + 4 <= m; i += 4) {
            /* each lane: the pair (p[0], p[1]) of its output */
            __m128i q0 = _mm_cvtsi32_si128(ld_pair(b + (ph >> ENG_FRAC)));
            __m128i q1 = _mm_cvtsi32_si128(ld_pair(b + ((ph + inc) >> ENG_FRAC)));
            __m128i q2 = _mm_cvtsi32_si128(ld_pair(b + ((ph + 2 * inc) >> ENG_FRAC)));
            __m128i q3 = _mm_cvtsi32_si128(ld_pair(b + ((ph + 3 * inc) >> ENG_FRAC)));
            __m128i pr = _mm_unpacklo_epi64(_mm_unpacklo_epi32(q0, q1), _mm_unpacklo_epi32(q2, q3));
            __m128 r0 = _mm_cvtepi32_ps(_mm_slli_epi32(pr, 16));                     /* p[0] * 2^31 */
            __m128 r1 = _mm_cvtepi32_ps(_mm_and_si128(pr, _mm_set1_epi32(-65536))); /* p[1] * 2^31 */
            __m128 f = v_frac(lo);
            __m128 y = _mm_add_ps(r0, _mm_mul_ps(f, _mm_sub_ps(r1, r0)));
            _mm_storeu_ps(out + i, _mm_mul_ps(y, _mm_set1_ps(S31)));
            lo = _mm_add_epi32(lo, dlo);
            ph += 4 * inc;
        }
    }
#else
    (void)sse;
#endif
    for (; i < m; i++) {
        out[i] = lin(b + (ph >> ENG_FRAC), frac_of(ph));
        ph += inc;
    }
    *pph = ph;
}

static void run_cubic1(const int16_t *b, uint64_t *pph, uint64_t inc, float *out, int m, int sse)
{
    uint64_t ph = *pph;
    int i = 0;
#if ENG_SIMD
    if (sse && m >= 4) {
        __m128i lo = v_lo(ph, inc), dlo = _mm_set1_epi32((int)(uint32_t)(4 * inc));
        const int16_t *bm = b - 1;
        for (; i + 4 <= m; i += 4) {
            __m128i u0, u1;
            v_tr4x4(ld8(bm + (ph >> ENG_FRAC)), ld8(bm + ((ph + inc) >> ENG_FRAC)), ld8(bm + ((ph + 2 * inc) >> ENG_FRAC)),
                    ld8(bm + ((ph + 3 * inc) >> ENG_FRAC)), &u0, &u1);
            __m128 y = v_cubic(v_hi16lo(u0), v_hi16hi(u0), v_hi16lo(u1), v_hi16hi(u1), v_frac(lo));
            _mm_storeu_ps(out + i, _mm_mul_ps(y, _mm_set1_ps(S31)));
            lo = _mm_add_epi32(lo, dlo);
            ph += 4 * inc;
        }
    }
#else
    (void)sse;
#endif
    for (; i < m; i++) {
        out[i] = cubic(b + (ph >> ENG_FRAC), frac_of(ph));
        ph += inc;
    }
    *pph = ph;
}

static void run_sinc1(const int16_t *b, const float *tab, uint64_t *pph, uint64_t inc, float *out, int m,
                      int sse)
{
    uint64_t ph = *pph;
    int i = 0;
#if ENG_SIMD
    for (; sse && i + 4 <= m; i += 4) {
        __m128 s[4];
        for (int k = 0; k < 4; k++) {
            uint64_t q = ph + (uint64_t)k * inc;
            const int16_t *p = b + (q >> ENG_FRAC);
            const float *c = tab + ((uint32_t)q >> (32 - 10)) * ENG_SINC_TAPS;
            __m128i x = ld8(p - 3); /* p[-3] .. p[4] */
            s[k] = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(c), v_hi16lo(x)), _mm_mul_ps(_mm_loadu_ps(c + 4), v_hi16hi(x)));
        }
        _MM_TRANSPOSE4_PS(s[0], s[1], s[2], s[3]);
        __m128 y = _mm_add_ps(_mm_add_ps(s[0], s[1]), _mm_add_ps(s[2], s[3]));
        _mm_storeu_ps(out + i, _mm_mul_ps(y, _mm_set1_ps(S31)));
        ph += 4 * inc;
    }
#else
    (void)sse;
#endif
    for (; i < m; i++) {
        out[i] = sinc8(b + (ph >> ENG_FRAC), tab, ph);
        ph += inc;
    }
    *pph = ph;
}

#ifdef ENG_AVX2
#include <immintrin.h>
/* AVX2 kernels, eight outputs at a time (chosen at run time: the engine's variant, AVX2 only
   on a CPU that has it: eng_set_simd).
   No FMA: every lane does the scalar formula's operations in its order, on the samples
   scaled by a power of two (sign-extended int16 -> float: s = (s / 32768) * 2^15, the
   result scaled back by 2^-15; or s * 2^16 as in the SSE paths, scaled back by 2^-31; see
   the top of this section), so their frames equal the SSE and scalar paths' bit for bit.

   When the phase advances by at most one frame per output (inc <= 1.0, or 6/7 for the
   cubic), eight consecutive outputs read at most nine consecutive positions from their
   first one, p: one or two windows of eight samples from p, converted once, and a lane
   permutation by each output's offset from p give every tap. Above that, one load per
   output and a 16-bit transpose as in the SSE path. */
#define WIN_CUBIC_INC ((((uint64_t)6) << 32) / 7) /* an offset of <= 6 and +1 stay in a window */
#define WIN_LINEAR_INC ((uint64_t)1 << 32)

__attribute__((target("avx2"))) static inline __m256 w8_s16(const int16_t *p) /* p[0..7] as floats s */
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(ld8(p)));
}

/* The eight outputs' integer positions minus the first's, for ph's low word l and inc:
   output k's offset is the high word of l + k inc (at most 7 for inc <= 2^32). Two ways,
   with the same result: in vector registers (ka holds k = 0, 1, 4, 5 and kb k = 2, 3, 6,
   7 times inc, so that the odd 32-bit words of both, in-lane, are the offsets in output
   order), and in scalar registers, as bytes of one word widened to 32-bit lanes (for the
   cubic, whose vector pipes are the busier: measured faster there, slower for the linear). */
__attribute__((target("avx2"))) static inline __m256i w8_offsets_v(uint32_t l, __m256i ka, __m256i kb)
{
    __m256i pl = _mm256_set1_epi64x((long long)l);
    __m256 a = _mm256_castsi256_ps(_mm256_add_epi64(pl, ka)), b = _mm256_castsi256_ps(_mm256_add_epi64(pl, kb));
    return _mm256_castps_si256(_mm256_shuffle_ps(a, b, 0xDD));
}

__attribute__((target("avx2"))) static inline __m256i w8_offsets_s(uint32_t l, uint64_t inc)
{
    uint64_t q = l, packed = 0;
    for (int k = 1; k < 8; k++) {
        q += inc;
        packed |= (q >> 32) << (8 * k);
    }
    return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)packed));
}

/* the scalar cubic's operations on eight lanes */
__attribute__((target("avx2"))) static inline __m256 v8_cubic(__m256 xm1, __m256 x0, __m256 x1, __m256 x2, __m256 f)
{
    V_CUBIC_BODY(mm256, __m256);
}

/* Eight cubic outputs from eight windows q[k] (each output's p - 1), loaded one per output
   and transposed as in the SSE path (outputs 0-3 in the low halves, 4-7 in the high), with
   fractions f; the result is scaled by 2^31 (each int16 in an int32's top half: s * 2^16). */
__attribute__((target("avx2"))) static inline __m256 cubic8_rows(const int16_t *const q[8], __m256 f)
{
#define LD2(K) _mm256_inserti128_si256(_mm256_castsi128_si256(ld8(q[K])), ld8(q[(K) + 4]), 1)
    __m256i r0 = LD2(0), r1 = LD2(1), r2 = LD2(2), r3 = LD2(3);
#undef LD2
    const __m256i z = _mm256_setzero_si256();
    __m256i t0 = _mm256_unpacklo_epi16(r0, r1), t1 = _mm256_unpacklo_epi16(r2, r3);
    __m256i u0 = _mm256_unpacklo_epi32(t0, t1), u1 = _mm256_unpackhi_epi32(t0, t1);
    __m256 xm1 = _mm256_cvtepi32_ps(_mm256_unpacklo_epi16(z, u0));
    __m256 x0 = _mm256_cvtepi32_ps(_mm256_unpackhi_epi16(z, u0));
    __m256 x1 = _mm256_cvtepi32_ps(_mm256_unpacklo_epi16(z, u1));
    __m256 x2 = _mm256_cvtepi32_ps(_mm256_unpackhi_epi16(z, u1));
    return v8_cubic(xm1, x0, x1, x2, f);
}

__attribute__((target("avx2"))) static void run_cubic1_avx2(const int16_t *b, uint64_t *pph, uint64_t inc, float *out,
                                                            int m)
{
    uint64_t ph = *pph;
    int i = 0;
    if (m >= 2) {
        uint32_t l = (uint32_t)ph, d = (uint32_t)inc;
        __m256i lo = _mm256_setr_epi32((int)l, (int)(l + d), (int)(l + 2 * d), (int)(l + 3 * d), (int)(l + 4 * d),
                                       (int)(l + 5 * d), (int)(l + 6 * d), (int)(l + 7 * d));
        const __m256i dlo = _mm256_set1_epi32((int)(uint32_t)(8 * inc));
        const __m256 fs = _mm256_set1_ps(FRAC24);
        const int16_t *bm = b - 1;
        if (inc <= WIN_CUBIC_INC) {
            const __m256 sc = _mm256_set1_ps(S16);
            const __m256i one = _mm256_set1_epi32(1);
            for (; i + 8 <= m; i += 8) {
                /* taps p[o - 1 .. o + 2] of offset o <= 6: windows from p - 1 and p + 1 */
                const int16_t *p = bm + (ph >> ENG_FRAC);
                __m256i o = w8_offsets_s((uint32_t)ph, inc), o1 = _mm256_add_epi32(o, one);
                __m256 wa = w8_s16(p), wb = w8_s16(p + 2);
                __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(lo, 8)), fs);
                __m256 y = v8_cubic(_mm256_permutevar8x32_ps(wa, o), _mm256_permutevar8x32_ps(wa, o1),
                                    _mm256_permutevar8x32_ps(wb, o), _mm256_permutevar8x32_ps(wb, o1), f);
                _mm256_storeu_ps(out + i, _mm256_mul_ps(y, sc));
                lo = _mm256_add_epi32(lo, dlo);
                ph += 8 * inc;
            }
        } else {
            const __m256 sc = _mm256_set1_ps(S31);
            for (; i + 8 <= m; i += 8) {
                const int16_t *q[8];
                for (int k = 0; k < 8; k++)
                    q[k] = bm + ((ph + (uint64_t)k * inc) >> ENG_FRAC);
                __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(lo, 8)), fs);
                _mm256_storeu_ps(out + i, _mm256_mul_ps(cubic8_rows(q, f), sc));
                lo = _mm256_add_epi32(lo, dlo);
                ph += 8 * inc;
            }
        }
        int r = m - i;
        if (r >= 2) {
            /* a tail of two to seven outputs: the loads per output on eight lanes, those
               past the tail reading the last output's samples (read anyway), and a masked
               store (one output alone is cheaper in the scalar code) */
            const int16_t *q[8];
            for (int k = 0; k < 8; k++)
                q[k] = bm + ((ph + (uint64_t)(k < r ? k : r - 1) * inc) >> ENG_FRAC);
            __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(lo, 8)), fs);
            __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            _mm256_maskstore_ps(out + i, keep, _mm256_mul_ps(cubic8_rows(q, f), _mm256_set1_ps(S31)));
            ph += (uint64_t)r * inc;
            i = m;
        }
    }
    *pph = ph;
    if (i < m)
        run_cubic1(b, pph, inc, out + i, m - i, 1);
}

#ifdef ENG_AVX512
/* The AVX-512 cubic: sixteen outputs at a time from one window of 32 samples (chosen at run
   time: the engine's variant, on a CPU with AVX-512 F and BW). While the phase advances by
   at most 28/15 frames per output, sixteen consecutive outputs read at most 32 consecutive
   samples from their first one's p - 1: one masked load (only the samples the taps read:
   the mask suppresses the rest, so nothing past them is touched), two conversions, and a
   two-register lane permutation per tap give every tap, in the scalar formula's
   operations (v16_cubic, no FMA), on the samples as the AVX2 window holds them (s, the
   result scaled by 2^-15), so the frames equal every other path's bit for bit. Faster
   phases, and the last outputs (fewer than sixteen), run the AVX2 kernel. */
#define WIN16_CUBIC_INC ((((uint64_t)28) << 32) / 15) /* the last output's offset <= 28 */
#define AVX512_ATTR __attribute__((target("avx512f,avx512bw")))

AVX512_ATTR static inline __m512 v16_cubic(__m512 xm1, __m512 x0, __m512 x1, __m512 x2, __m512 f)
{
    V_CUBIC_BODY(mm512, __m512);
}

AVX512_ATTR static void run_cubic1_avx512(const int16_t *b, uint64_t *pph, uint64_t inc, float *out, int m)
{
    uint64_t ph = *pph;
    int i = 0;
    if (inc <= WIN16_CUBIC_INC && m >= 16) {
        const int16_t *bm = b - 1;
        /* each output's phase, 64 bits a lane: outputs 0-7 in pa, 8-15 in pb */
        /* k inc for k = 0..7 in registers (inc < 2^33: its low word times k, plus k << 32
           for its high bit), not through memory (a store-forwarding stall per call) */
        const __m512i k07 = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
        __m512i kinc = _mm512_mul_epu32(k07, _mm512_set1_epi64((long long)(inc & 0xFFFFFFFFu)));
        if (inc >> 32)
            kinc = _mm512_add_epi64(kinc, _mm512_slli_epi64(k07, 32));
        __m512i pa = _mm512_add_epi64(_mm512_set1_epi64((long long)ph), kinc);
        __m512i pb = _mm512_add_epi64(pa, _mm512_set1_epi64((long long)(8 * inc)));
        const __m512i step = _mm512_set1_epi64((long long)(16 * inc));
        const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i one = _mm512_set1_epi32(1), two = _mm512_set1_epi32(2), three = _mm512_set1_epi32(3);
        const __m512 fs = _mm512_set1_ps(FRAC24), sc = _mm512_set1_ps(S16);
        for (; i + 16 <= m; i += 16) {
            uint64_t pos = ph >> ENG_FRAC;
            const int16_t *p = bm + pos;
            uint32_t need = (uint32_t)((((uint64_t)(uint32_t)ph + 15 * inc) >> ENG_FRAC) + 4); /* <= 32 */
            __mmask32 mk = need >= 32 ? ~(__mmask32)0 : (((__mmask32)1 << need) - 1);
            __m512i w = _mm512_maskz_loadu_epi16(mk, p);
            __m512 wa = _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm512_castsi512_si256(w)));
            __m512 wb = _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(w, 1)));
            __m512i hi = _mm512_permutex2var_epi32(pa, odd, pb), lo = _mm512_permutex2var_epi32(pa, even, pb);
            __m512i o = _mm512_sub_epi32(hi, _mm512_set1_epi32((int)(uint32_t)pos));
            __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(lo, 8)), fs);
            __m512 y = v16_cubic(_mm512_permutex2var_ps(wa, o, wb), _mm512_permutex2var_ps(wa, _mm512_add_epi32(o, one), wb),
                                 _mm512_permutex2var_ps(wa, _mm512_add_epi32(o, two), wb),
                                 _mm512_permutex2var_ps(wa, _mm512_add_epi32(o, three), wb), f);
            _mm512_storeu_ps(out + i, _mm512_mul_ps(y, sc));
            pa = _mm512_add_epi64(pa, step);
            pb = _mm512_add_epi64(pb, step);
            ph += 16 * inc;
        }
    }
    *pph = ph;
    if (i < m)
        run_cubic1_avx2(b, pph, inc, out + i, m - i);
}
#endif

__attribute__((target("avx2"))) static void run_linear1_avx2(const int16_t *b, uint64_t *pph, uint64_t inc,
                                                             float *out, int m)
{
    if (inc > WIN_LINEAR_INC || m < 8) {
        run_linear1(b, pph, inc, out, m, 1);
        return;
    }
    uint64_t ph = *pph;
    int i = 0;
    uint32_t l = (uint32_t)ph, d = (uint32_t)inc;
    __m256i lo = _mm256_setr_epi32((int)l, (int)(l + d), (int)(l + 2 * d), (int)(l + 3 * d), (int)(l + 4 * d),
                                   (int)(l + 5 * d), (int)(l + 6 * d), (int)(l + 7 * d));
    const __m256i dlo = _mm256_set1_epi32((int)(uint32_t)(8 * inc));
    const __m256 fs = _mm256_set1_ps(FRAC24), sc = _mm256_set1_ps(S16);
    const __m256i ka = _mm256_setr_epi64x(0, (long long)inc, (long long)(4 * inc), (long long)(5 * inc));
    const __m256i kb = _mm256_setr_epi64x((long long)(2 * inc), (long long)(3 * inc), (long long)(6 * inc),
                                          (long long)(7 * inc));
    for (; i + 8 <= m; i += 8) {
        /* taps p[o], p[o + 1] of offset o <= 7: windows from p and p + 1 */
        const int16_t *p = b + (ph >> ENG_FRAC);
        __m256i o = w8_offsets_v((uint32_t)ph, ka, kb);
        __m256 r0 = _mm256_permutevar8x32_ps(w8_s16(p), o);
        __m256 r1 = _mm256_permutevar8x32_ps(w8_s16(p + 1), o);
        __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(lo, 8)), fs);
        __m256 y = _mm256_add_ps(r0, _mm256_mul_ps(f, _mm256_sub_ps(r1, r0)));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(y, sc));
        lo = _mm256_add_epi32(lo, dlo);
        ph += 8 * inc;
    }
    *pph = ph;
    if (i < m)
        run_linear1(b, pph, inc, out + i, m - i, 1);
}

/* Sinc: per output the eight taps times the eight samples in one vector; adding its halves
   gives the SSE path's s (taps t and t + 4 summed), then the same transpose and sums. */
__attribute__((target("avx2"))) static void run_sinc1_avx2(const int16_t *b, const float *tab, uint64_t *pph,
                                                           uint64_t inc, float *out, int m)
{
    uint64_t ph = *pph;
    int i = 0;
    const __m128 sc = _mm_set1_ps(S16);
    for (; i + 4 <= m; i += 4) {
        __m128 s[4];
        for (int k = 0; k < 4; k++) {
            uint64_t q = ph + (uint64_t)k * inc;
            const int16_t *p = b + (q >> ENG_FRAC);
            const float *c = tab + ((uint32_t)q >> (32 - 10)) * ENG_SINC_TAPS;
            __m256 prod = _mm256_mul_ps(_mm256_loadu_ps(c), w8_s16(p - 3)); /* c[t] * p[t - 3] */
            s[k] = _mm_add_ps(_mm256_castps256_ps128(prod), _mm256_extractf128_ps(prod, 1));
        }
        _MM_TRANSPOSE4_PS(s[0], s[1], s[2], s[3]);
        __m128 y = _mm_add_ps(_mm_add_ps(s[0], s[1]), _mm_add_ps(s[2], s[3]));
        _mm_storeu_ps(out + i, _mm_mul_ps(y, sc));
        ph += 4 * inc;
    }
    *pph = ph;
    if (i < m)
        run_sinc1(b, tab, pph, inc, out + i, m - i, 1);
}
#endif

/* One channel of a run with the engine's interpolation and SIMD variant. */
static inline void run_one(const eng_engine *e, const int16_t *b, uint64_t *pph, uint64_t inc, float *out, int m)
{
#ifdef ENG_AVX2
    if (e->simd >= ENG_SIMD_AVX2) {
        switch (e->interp) {
        case ENG_INTERP_LINEAR: run_linear1_avx2(b, pph, inc, out, m); return;
        case ENG_INTERP_SINC: run_sinc1_avx2(b, e->sinc, pph, inc, out, m); return;
        default:
#ifdef ENG_AVX512
            if (e->simd >= ENG_SIMD_AVX512) {
                run_cubic1_avx512(b, pph, inc, out, m);
                return;
            }
#endif
            run_cubic1_avx2(b, pph, inc, out, m);
            return;
        }
    }
#endif
    int sse = e->simd >= ENG_SIMD_SSE2;
    switch (e->interp) {
    case ENG_INTERP_LINEAR: run_linear1(b, pph, inc, out, m, sse); break;
    case ENG_INTERP_SINC: run_sinc1(b, e->sinc, pph, inc, out, m, sse); break;
    default: run_cubic1(b, pph, inc, out, m, sse); break;
    }
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
        for (int t = 0; t < ENG_SINC_TAPS; t++) {
            float c = (float)(row[t] / sum);
            /* the SIMD kernels' exactness needs taps of zero or >= 2^-60 (the smallest is
               about 2^-18 with these settings, so this never changes a tap) */
            table[k * ENG_SINC_TAPS + t] = fabsf(c) < 0x1p-60f ? 0.0f : c;
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * Filter
 * ------------------------------------------------------------------------------------- */

/* One frame of the low-pass recursion on the state (x1, x2, y1, y2); its output. */
static inline float filt_step(float in, float *x1, float *x2, float *y1, float *y2, float b0, float a1, float a2)
{
    float y = b0 * (in + 2.0f * *x1 + *x2) - a2 * *y2 - a1 * *y1;
    *x2 = *x1;
    *x1 = in;
    *y2 = *y1;
    *y1 = y;
    return y;
}

static void filt_const(float *x, int n, float *st, eng_coef c)
{
    float x1 = st[0], x2 = st[1], y1 = st[2], y2 = st[3];
    for (int i = 0; i < n; i++)
        x[i] = filt_step(x[i], &x1, &x2, &y1, &y2, c.b0, c.a1, c.a2);
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
        x[i] = filt_step(x[i], &x1, &x2, &y1, &y2, c.b0 + k * dc.b0, c.a1 + k * dc.a1, c.a2 + k * dc.a2);
    }
    st[0] = x1;
    st[1] = x2;
    st[2] = y1;
    st[3] = y2;
}

/* Up to eight filters at once: two groups of four SSE lanes, interleaved in one loop so
   the two recursions' latencies overlap. Each lane runs exactly the scalar recursion above
   (same operations in the same order), so a voice's output does not depend on which voices
   share its group. */
#if ENG_SIMD
typedef struct {
    float *x[4];
    float *st[4];
    __m128 X1, X2, Y1, Y2, B0, A1, A2, DB0, DA1, DA2, K0;
} fgroup;

static void fgroup_load(fgroup *g, const eng_fjob *jobs, int nj, float *dummy, float *dst, int *ramp)
{
    float b0[4], a1[4], a2[4], db0[4], da1[4], da2[4], k0[4];
    for (int l = 0; l < 4; l++) {
        if (l < nj) {
            const eng_fjob *j = &jobs[l];
            g->x[l] = j->x;
            g->st[l] = j->st;
            b0[l] = j->c.b0;
            a1[l] = j->c.a1;
            a2[l] = j->c.a2;
            db0[l] = j->ramp ? j->dc.b0 : 0.0f;
            da1[l] = j->ramp ? j->dc.a1 : 0.0f;
            da2[l] = j->ramp ? j->dc.a2 : 0.0f;
            k0[l] = j->k0;
            *ramp |= j->ramp;
        } else {
            g->x[l] = dummy;
            g->st[l] = dst;
            b0[l] = a1[l] = a2[l] = db0[l] = da1[l] = da2[l] = k0[l] = 0.0f;
        }
    }
    float *const *st = g->st;
    g->X1 = _mm_set_ps(st[3][0], st[2][0], st[1][0], st[0][0]);
    g->X2 = _mm_set_ps(st[3][1], st[2][1], st[1][1], st[0][1]);
    g->Y1 = _mm_set_ps(st[3][2], st[2][2], st[1][2], st[0][2]);
    g->Y2 = _mm_set_ps(st[3][3], st[2][3], st[1][3], st[0][3]);
    g->B0 = _mm_loadu_ps(b0);
    g->A1 = _mm_loadu_ps(a1);
    g->A2 = _mm_loadu_ps(a2);
    g->DB0 = _mm_loadu_ps(db0);
    g->DA1 = _mm_loadu_ps(da1);
    g->DA2 = _mm_loadu_ps(da2);
    g->K0 = _mm_loadu_ps(k0);
}

static void fgroup_store(fgroup *g, int nj)
{
    float v1[4], v2[4], v3[4], v4[4];
    _mm_storeu_ps(v1, g->X1);
    _mm_storeu_ps(v2, g->X2);
    _mm_storeu_ps(v3, g->Y1);
    _mm_storeu_ps(v4, g->Y2);
    for (int l = 0; l < nj && l < 4; l++) {
        g->st[l][0] = v1[l];
        g->st[l][1] = v2[l];
        g->st[l][2] = v3[l];
        g->st[l][3] = v4[l];
    }
}

/* One recursion step of a group on the input vector IN (replaced by the output), for
   vectors of type T and intrinsics _W_*_ps (W: mm for SSE, mm256 for AVX): the scalar
   recursion's operations in its order, lane by lane. `ramp` and `two` are the caller's. */
#define FSTEP_W(W, T, G, IN, I)                                                                                    \
    do {                                                                                                           \
        T b0v = (G).B0, a1v = (G).A1, a2v = (G).A2;                                                                \
        if (ramp) {                                                                                                \
            T kv = VOP(W, add)((G).K0, VOP(W, set1)((float)(I)));                                                  \
            b0v = VOP(W, add)((G).B0, VOP(W, mul)(kv, (G).DB0));                                                   \
            a1v = VOP(W, add)((G).A1, VOP(W, mul)(kv, (G).DA1));                                                   \
            a2v = VOP(W, add)((G).A2, VOP(W, mul)(kv, (G).DA2));                                                   \
        }                                                                                                          \
        T xs_ = VOP(W, add)(VOP(W, add)(IN, VOP(W, mul)(two, (G).X1)), (G).X2);                                    \
        T y_ = VOP(W, sub)(VOP(W, sub)(VOP(W, mul)(b0v, xs_), VOP(W, mul)(a2v, (G).Y2)), VOP(W, mul)(a1v, (G).Y1)); \
        (G).X2 = (G).X1;                                                                                           \
        (G).X1 = IN;                                                                                               \
        (G).Y2 = (G).Y1;                                                                                           \
        (G).Y1 = y_;                                                                                               \
        IN = y_;                                                                                                   \
    } while (0)
#define FSTEP(G, IN, I) FSTEP_W(mm, __m128, G, IN, I)

#define FLOAD(G, R0, R1, R2, R3, I)                                                                                \
    __m128 R0 = _mm_loadu_ps((G).x[0] + (I)), R1 = _mm_loadu_ps((G).x[1] + (I));                                   \
    __m128 R2 = _mm_loadu_ps((G).x[2] + (I)), R3 = _mm_loadu_ps((G).x[3] + (I));                                   \
    _MM_TRANSPOSE4_PS(R0, R1, R2, R3)

#define FSAVE(G, R0, R1, R2, R3, I)                                                                                \
    _MM_TRANSPOSE4_PS(R0, R1, R2, R3);                                                                             \
    _mm_storeu_ps((G).x[0] + (I), R0);                                                                             \
    _mm_storeu_ps((G).x[1] + (I), R1);                                                                             \
    _mm_storeu_ps((G).x[2] + (I), R2);                                                                             \
    _mm_storeu_ps((G).x[3] + (I), R3)
#endif

/* The scalar recursions, one job after another. */
static void filter_jobs_scalar(const eng_fjob *jobs, int nj, int32_t n)
{
    for (int l = 0; l < nj; l++) {
        const eng_fjob *j = &jobs[l];
        if (j->ramp)
            filt_ramp(j->x, n, j->st, j->c, j->dc, j->k0);
        else
            filt_const(j->x, n, j->st, j->c);
    }
}

#if ENG_SIMD
/* Groups a and b (eight lanes) over the whole blocks of four frames of [0, n), interleaved
   so the two recursions' latencies overlap; returns the first frame left. ramp: a lane
   ramps its coefficients. Allocates nothing, takes no lock. */
static inline int32_t filter_pair_blocks(fgroup *ga, fgroup *gb, int32_t n, int ramp)
{
    const __m128 two = _mm_set1_ps(2.0f);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        FLOAD(*ga, a0, a1, a2, a3, i);
        FLOAD(*gb, b0, b1, b2, b3, i);
        FSTEP(*ga, a0, i);
        FSTEP(*gb, b0, i);
        FSTEP(*ga, a1, i + 1);
        FSTEP(*gb, b1, i + 1);
        FSTEP(*ga, a2, i + 2);
        FSTEP(*gb, b2, i + 2);
        FSTEP(*ga, a3, i + 3);
        FSTEP(*gb, b3, i + 3);
        FSAVE(*ga, a0, a1, a2, a3, i);
        FSAVE(*gb, b0, b1, b2, b3, i);
    }
    return i;
}

/* Group g (four lanes) over the whole blocks of four frames of [0, n); returns the first
   frame left. Allocates nothing, takes no lock. */
static inline int32_t filter_blocks(fgroup *g, int32_t n, int ramp)
{
    const __m128 two = _mm_set1_ps(2.0f);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        FLOAD(*g, a0, a1, a2, a3, i);
        FSTEP(*g, a0, i);
        FSTEP(*g, a1, i + 1);
        FSTEP(*g, a2, i + 2);
        FSTEP(*g, a3, i + 3);
        FSAVE(*g, a0, a1, a2, a3, i);
    }
    return i;
}

/* Group g over the frames [from, n) one at a time (the last frames, fewer than a block).
   Allocates nothing, takes no lock. */
static inline void filter_frames(fgroup *g, int32_t from, int32_t n, int ramp)
{
    const __m128 two = _mm_set1_ps(2.0f);
    for (int32_t k = from; k < n; k++) {
        __m128 in = _mm_set_ps(g->x[3][k], g->x[2][k], g->x[1][k], g->x[0][k]);
        FSTEP(*g, in, k);
        float o[4];
        _mm_storeu_ps(o, in);
        for (int l = 0; l < 4; l++)
            g->x[l][k] = o[l];
    }
}

/* The SSE2 filters of up to eight jobs: the first four lanes in one group, the rest in a
   second run alongside it; unused lanes filter the dummy row into a scratch state.
   Allocates nothing, takes no lock. */
static void filter_jobs_sse2(const eng_fjob *jobs, int nj, int32_t n, float *dummy)
{
    float dst[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
    int ramp = 0;
    fgroup ga, gb;
    int na = nj < 4 ? nj : 4, nb = nj - na;
    fgroup_load(&ga, jobs, na, dummy, dst[0], &ramp);
    int32_t i = 0;
    if (nb > 0) {
        fgroup_load(&gb, jobs + 4, nb, dummy, dst[1], &ramp);
        i = filter_pair_blocks(&ga, &gb, n, ramp);
        filter_frames(&gb, i, n, ramp);
        fgroup_store(&gb, nb);
    } else {
        i = filter_blocks(&ga, n, ramp);
    }
    filter_frames(&ga, i, n, ramp);
    fgroup_store(&ga, na);
}
#endif

#ifdef ENG_AVX2
/* The AVX2 filters of five to eight jobs: all eight lanes in one vector (the SSE2 path's
   two groups of four, in half the operations; measured 20-30 % faster per voice), each lane the scalar recursion's operations in its order (no FMA:
   the target has none). Four frames are loaded from each lane and transposed as two
   4 x 4 blocks, one per half of the vectors. */
typedef struct {
    float *x[8];
    float *st[8];
    __m256 X1, X2, Y1, Y2, B0, A1, A2, DB0, DA1, DA2, K0;
} fgroup8;

__attribute__((target("avx2"))) static void fgroup8_load(fgroup8 *g, const eng_fjob *jobs, int nj, float *dummy,
                                                          float (*dst)[4], int *ramp)
{
    float v[11][8];
    for (int l = 0; l < 8; l++) {
        if (l < nj) {
            const eng_fjob *j = &jobs[l];
            g->x[l] = j->x;
            g->st[l] = j->st;
            v[0][l] = j->c.b0;
            v[1][l] = j->c.a1;
            v[2][l] = j->c.a2;
            v[3][l] = j->ramp ? j->dc.b0 : 0.0f;
            v[4][l] = j->ramp ? j->dc.a1 : 0.0f;
            v[5][l] = j->ramp ? j->dc.a2 : 0.0f;
            v[6][l] = j->k0;
            *ramp |= j->ramp;
        } else {
            g->x[l] = dummy;
            g->st[l] = dst[l];
            for (int k = 0; k < 7; k++)
                v[k][l] = 0.0f;
        }
        for (int k = 0; k < 4; k++)
            v[7 + k][l] = g->st[l][k];
    }
    g->B0 = _mm256_loadu_ps(v[0]);
    g->A1 = _mm256_loadu_ps(v[1]);
    g->A2 = _mm256_loadu_ps(v[2]);
    g->DB0 = _mm256_loadu_ps(v[3]);
    g->DA1 = _mm256_loadu_ps(v[4]);
    g->DA2 = _mm256_loadu_ps(v[5]);
    g->K0 = _mm256_loadu_ps(v[6]);
    g->X1 = _mm256_loadu_ps(v[7]);
    g->X2 = _mm256_loadu_ps(v[8]);
    g->Y1 = _mm256_loadu_ps(v[9]);
    g->Y2 = _mm256_loadu_ps(v[10]);
}

__attribute__((target("avx2"))) static void fgroup8_store(fgroup8 *g, int nj)
{
    float v[4][8];
    _mm256_storeu_ps(v[0], g->X1);
    _mm256_storeu_ps(v[1], g->X2);
    _mm256_storeu_ps(v[2], g->Y1);
    _mm256_storeu_ps(v[3], g->Y2);
    for (int l = 0; l < nj && l < 8; l++)
        for (int k = 0; k < 4; k++)
            g->st[l][k] = v[k][l];
}

/* one recursion step of the eight lanes (FSTEP_W above) */
#define FSTEP8(G, IN, I) FSTEP_W(mm256, __m256, G, IN, I)

/* frames I..I+3 of every lane: R0..R3 hold one frame each, lane l in element l. Row k of
   the load holds lane k's four frames in its low half and lane k + 4's in its high half
   (the high half inserted straight from memory: a load, no shuffle), so one in-lane 4 x 4
   transpose of the four rows (eight shuffles, both halves at once) gives the frames; the
   store undoes it the same way (the high halves stored straight from the register). */
#define FTR8(R0, R1, R2, R3)                                                                                       \
    do {                                                                                                           \
        __m256 t0_ = _mm256_unpacklo_ps(R0, R1), t1_ = _mm256_unpackhi_ps(R0, R1);                                 \
        __m256 t2_ = _mm256_unpacklo_ps(R2, R3), t3_ = _mm256_unpackhi_ps(R2, R3);                                 \
        R0 = _mm256_shuffle_ps(t0_, t2_, 0x44);                                                                    \
        R1 = _mm256_shuffle_ps(t0_, t2_, 0xEE);                                                                    \
        R2 = _mm256_shuffle_ps(t1_, t3_, 0x44);                                                                    \
        R3 = _mm256_shuffle_ps(t1_, t3_, 0xEE);                                                                    \
    } while (0)

#define FROW8(G, K, I) _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps((G).x[K] + (I))), _mm_loadu_ps((G).x[(K) + 4] + (I)), 1)

#define FLOAD8(G, R0, R1, R2, R3, I)                                                                               \
    __m256 R0 = FROW8(G, 0, I), R1 = FROW8(G, 1, I), R2 = FROW8(G, 2, I), R3 = FROW8(G, 3, I);                     \
    FTR8(R0, R1, R2, R3)

#define FSAVE8(G, R0, R1, R2, R3, I)                                                                               \
    do {                                                                                                           \
        FTR8(R0, R1, R2, R3);                                                                                      \
        _mm_storeu_ps((G).x[0] + (I), _mm256_castps256_ps128(R0));                                                 \
        _mm_storeu_ps((G).x[1] + (I), _mm256_castps256_ps128(R1));                                                 \
        _mm_storeu_ps((G).x[2] + (I), _mm256_castps256_ps128(R2));                                                 \
        _mm_storeu_ps((G).x[3] + (I), _mm256_castps256_ps128(R3));                                                 \
        _mm_storeu_ps((G).x[4] + (I), _mm256_extractf128_ps(R0, 1));                                               \
        _mm_storeu_ps((G).x[5] + (I), _mm256_extractf128_ps(R1, 1));                                               \
        _mm_storeu_ps((G).x[6] + (I), _mm256_extractf128_ps(R2, 1));                                               \
        _mm_storeu_ps((G).x[7] + (I), _mm256_extractf128_ps(R3, 1));                                               \
    } while (0)

/* The AVX2 filters of up to eight jobs (eng_filter_jobs gives it more than four); unused
   lanes filter the dummy row into a scratch state. Allocates nothing, takes no lock. */
__attribute__((target("avx2"))) static void filter_jobs_avx2(const eng_fjob *jobs, int nj, int32_t n, float *dummy)
{
    float dst[8][4];
    memset(dst, 0, sizeof dst);
    int ramp = 0;
    fgroup8 g;
    fgroup8_load(&g, jobs, nj, dummy, dst, &ramp);
    const __m256 two = _mm256_set1_ps(2.0f);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        FLOAD8(g, r0, r1, r2, r3, i);
        FSTEP8(g, r0, i);
        FSTEP8(g, r1, i + 1);
        FSTEP8(g, r2, i + 2);
        FSTEP8(g, r3, i + 3);
        FSAVE8(g, r0, r1, r2, r3, i);
    }
    for (; i < n; i++) {
        float v[8];
        for (int l = 0; l < 8; l++)
            v[l] = g.x[l][i];
        __m256 in = _mm256_loadu_ps(v);
        FSTEP8(g, in, i);
        _mm256_storeu_ps(v, in);
        for (int l = 0; l < 8; l++)
            g.x[l][i] = v[l];
    }
    fgroup8_store(&g, nj);
}
#endif

void eng_filter_jobs(const eng_fjob *jobs, int nj, int32_t n, float *dummy, int32_t simd)
{
#if ENG_SIMD
#ifdef ENG_AVX2
    if (simd >= ENG_SIMD_AVX2 && nj > 4) {
        /* (four lanes or fewer: the SSE2 group, which does not compute four idle ones) */
        filter_jobs_avx2(jobs, nj, n, dummy);
        return;
    }
#endif
    if (simd < ENG_SIMD_SSE2)
        filter_jobs_scalar(jobs, nj, n);
    else
        filter_jobs_sse2(jobs, nj, n, dummy);
#else
    (void)dummy;
    (void)simd;
    filter_jobs_scalar(jobs, nj, n);
#endif
}

/* ---------------------------------------------------------------------------------------
 * Mixing
 * ------------------------------------------------------------------------------------- */

/* The mix kernels (voice_mix.h) in each variant: plain C loops, compiled as the scalar
   variant with auto-vectorisation off, as the SSE2 one with the build's flags (-O3 -msse2:
   GCC vectorises them with SSE2) and as the AVX2 one for that target. The loops are
   element-wise with no reduction and no FMA (-std=c11 turns contraction off, and neither
   target has FMA), so every variant's frames are the scalar ones bit for bit. Where the
   build has no SIMD kernels the compiler makes of them what it can, as the scalar one. */
#if ENG_SIMD
#define MIX_FN(name) name##_sse2
#include "voice_mix.h"
#if defined(__clang__)
#define MIX_LOOP _Pragma("clang loop vectorize(disable) interleave(disable)")
#elif defined(__GNUC__)
#define MIX_ATTR __attribute__((optimize("no-tree-vectorize")))
#endif
#endif
#define MIX_FN(name) name##_scalar
#include "voice_mix.h"
#ifdef ENG_AVX2
#define MIX_FN(name) name##_avx2
#define MIX_ATTR __attribute__((target("avx2")))
#include "voice_mix.h"
#endif

typedef struct {
    void (*pair)(const float *restrict, const float *restrict, float *restrict, float *restrict, int, float, float,
                 float, float, float);
    void (*pair_sum)(const float *restrict, const float *restrict, float *restrict, float *restrict, int, float,
                     float, float, float, float);
    void (*one)(const float *restrict, const float *restrict, float *restrict, int, float, float, float);
} mix_kernels;

static const mix_kernels MIX_SCALAR = {mix_pair_scalar, mix_pair_sum_scalar, mix_one_scalar};
#if ENG_SIMD
static const mix_kernels MIX_SSE2 = {mix_pair_sse2, mix_pair_sum_sse2, mix_one_sse2};
#endif
#ifdef ENG_AVX2
static const mix_kernels MIX_AVX2 = {mix_pair_avx2, mix_pair_sum_avx2, mix_one_avx2};
#endif

/* The mix kernels of variant simd (ENG_SIMD_*; one this build lacks: the next below). */
static const mix_kernels *mix_kernels_for(int32_t simd)
{
#ifdef ENG_AVX2
    if (simd >= ENG_SIMD_AVX2)
        return &MIX_AVX2;
#endif
#if ENG_SIMD
    if (simd >= ENG_SIMD_SSE2)
        return &MIX_SSE2;
#endif
    (void)simd;
    return &MIX_SCALAR;
}

/* ---------------------------------------------------------------------------------------
 * A voice's piece
 * ------------------------------------------------------------------------------------- */

static void at_boundary(eng_voice *v)
{
    const eng_region *r = v->rgn;
    switch (v->state) {
    case PS_PRELOOP:
        /* reached the loop start: continue in the loop's coordinates (first pass) */
        v->ph -= (uint64_t)r->loop_start << ENG_FRAC;
        v->state = PS_LOOP;
        v->wrapped = 0;
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
        v->wrapped = 1;
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

/* The buffers a voice in PS_LOOP reads at its phase, with the phase offset (added for
   the kernel, taken off after: it moves the integer index only, so the fraction and the
   samples read are those of one loop image) and the phase at which they stop serving.

   A short loop plays its full images. A long one plays from the main buffer, and from
   the seam image within ENG_SEAM frames of the seam: before it (loop positions from
   len - ENG_SEAM on, the seam's slot ENG_SEAM + ENG_GUARD being the loop's end) and,
   after a wrap, after it (positions below ENG_SEAM, read as position + len). Every tap
   there (reach -3..+4) reads what the full image of the old layout held: inside the loop
   the main buffer's frames are the loop's own; across the seam the seam image's; and on
   the first pass, before position ENG_SEAM, the main buffer's real frames before the
   loop, as the first-pass image had them. */
static uint64_t loop_zone(const eng_voice *v, const int16_t **b, uint64_t *off)
{
    const eng_region *r = v->rgn;
    int nch = r->nch;
    if (!r->loop_seam) {
        const int16_t *const *img = v->wrapped ? r->lagain : r->lfirst;
        b[0] = img[0];
        b[1] = nch == 2 ? img[1] : img[0];
        *off = 0;
        return v->lim;
    }
    uint64_t len = (uint64_t)(r->loop_end - r->loop_start);
    uint64_t tail = (len - ENG_SEAM + ENG_GUARD) << ENG_FRAC; /* first phase served by the seam's left half */
    if (v->ph >= tail) {
        /* seam slot a = loop position - (len - ENG_SEAM - ENG_GUARD) = phase index - (len - ENG_SEAM) */
        b[0] = r->lagain[0];
        b[1] = nch == 2 ? r->lagain[1] : r->lagain[0];
        *off = (uint64_t)0 - ((len - ENG_SEAM) << ENG_FRAC);
        return v->lim;
    }
    if (v->wrapped && v->ph < ((uint64_t)(ENG_SEAM + ENG_GUARD) << ENG_FRAC)) {
        /* just after the seam: loop position x is the seam's slot x + len - (len - ENG_SEAM - ENG_GUARD) */
        b[0] = r->lagain[0];
        b[1] = nch == 2 ? r->lagain[1] : r->lagain[0];
        *off = (uint64_t)ENG_SEAM << ENG_FRAC;
        return (uint64_t)(ENG_SEAM + ENG_GUARD) << ENG_FRAC;
    }
    /* the main buffer in loop coordinates: index j = frame - loop_start + ENG_GUARD */
    b[0] = r->main[0] + r->loop_start;
    b[1] = nch == 2 ? r->main[1] + r->loop_start : b[0];
    *off = 0;
    return tail;
}

/* Interpolate n frames of the voice into t0 (and t1 for two channels). */
void eng_voice_interp(eng_engine *e, eng_voice *v, uint64_t at, int32_t n, float *t0, float *t1)
{
    int nch = v->nch;
    int i = 0;
    while (i < n) {
        if (v->state == PS_DONE) {
            if (!v->done_seen) {
                v->done_seen = 1;
                v->done_at = at + (uint64_t)i;
            }
            memset(t0 + i, 0, sizeof(float) * (size_t)(n - i));
            if (nch == 2)
                memset(t1 + i, 0, sizeof(float) * (size_t)(n - i));
            break;
        }
        if (v->ph >= v->lim) {
            at_boundary(v);
            continue;
        }
        const int16_t *b[2] = {v->buf[0], v->buf[1]};
        uint64_t off = 0, lim = v->lim;
        if (v->state == PS_LOOP)
            lim = loop_zone(v, b, &off);
        int m = n - i;
        if (lim - v->ph <= (uint64_t)m * v->inc) {
            uint64_t left = (lim - v->ph + v->inc - 1) / v->inc;
            if (left < (uint64_t)m)
                m = (int)left;
        }
        uint64_t ph = v->ph + off;
        if (nch == 2) {
            uint64_t ph1 = ph;
            run_one(e, b[1], &ph1, v->inc, t1 + i, m);
        }
        run_one(e, b[0], &ph, v->inc, t0 + i, m);
        v->ph = ph - off;
        i += m;
    }
}

/* Mix n filtered frames of the voice, starting at absolute frame `at`, into the buses. */
void eng_voice_mix(const eng_voice *v, uint64_t at, int32_t n, const float *t0, const float *t1, float *out_l,
                   float *out_r, float *out_rev, float *out_cho, int32_t simd)
{
    const mix_kernels *mk = mix_kernels_for(simd);
    float k0 = (float)(int64_t)(at - v->r0);
    const float *right = v->nch == 1 ? t0 : t1;
    mk->pair(t0, right, out_l, out_r, n, v->g0[0], v->dg[0], v->g0[1], v->dg[1], k0);
    if (out_rev && out_cho) {
        if (v->nch == 1)
            mk->pair(t0, t0, out_rev, out_cho, n, v->g0[2], v->dg[2], v->g0[3], v->dg[3], k0);
        else
            mk->pair_sum(t0, t1, out_rev, out_cho, n, v->g0[2], v->dg[2], v->g0[3], v->dg[3], k0);
    } else if (out_rev) {
        mk->one(t0, v->nch == 1 ? NULL : t1, out_rev, n, v->g0[2], v->dg[2], k0);
    } else if (out_cho) {
        mk->one(t0, v->nch == 1 ? NULL : t1, out_cho, n, v->g0[3], v->dg[3], k0);
    }
}
