/*
 * Float frames to PCM integers for the WAV writer, in one pass: scale by full scale, note
 * the peak, clip to [-full, full - 1] and round to nearest, ties to even. The same integers
 * as rounding first and clipping after (the bounds are integers), and as NumPy's
 * multiply / rint / clip / cast chain this replaces (five passes over the block). A NaN
 * (never made by the engine) is written as 0 and left out of the peak.
 */
#include "engine.h"

#include <math.h>
#if defined(__SSE2__) || defined(__x86_64__) || defined(_M_X64)
#include <emmintrin.h>
#define PCM_SSE2 1
#else
#define PCM_SSE2 0
#endif

int32_t pcm_encode(const float *in, int64_t n, int32_t bits, void *out, float *peak)
{
    if (n < 0 || (bits != 16 && bits != 24))
        return -1;
    const float full = bits == 16 ? 32768.0f : 8388608.0f;
    const float lo = -full, hi = full - 1.0f;
    int16_t *o16 = out;
    int32_t *o32 = out;
    float pk = 0.0f;
    int64_t i = 0;
#if PCM_SSE2
    /* cvtps2dq rounds by MXCSR: to nearest, ties to even (Python never changes it) */
    const __m128 vf = _mm_set1_ps(full), vlo = _mm_set1_ps(lo), vhi = _mm_set1_ps(hi);
    const __m128 abs_mask = _mm_castsi128_ps(_mm_set1_epi32(0x7FFFFFFF));
    __m128 vpk = _mm_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m128 a = _mm_mul_ps(_mm_loadu_ps(in + i), vf), b = _mm_mul_ps(_mm_loadu_ps(in + i + 4), vf);
        a = _mm_and_ps(a, _mm_cmpord_ps(a, a)); /* NaN -> 0 */
        b = _mm_and_ps(b, _mm_cmpord_ps(b, b));
        vpk = _mm_max_ps(vpk, _mm_max_ps(_mm_and_ps(a, abs_mask), _mm_and_ps(b, abs_mask)));
        __m128i ia = _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(a, vlo), vhi));
        __m128i ib = _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(b, vlo), vhi));
        if (bits == 16) {
            _mm_storeu_si128((__m128i *)(o16 + i), _mm_packs_epi32(ia, ib));
        } else {
            _mm_storeu_si128((__m128i *)(o32 + i), _mm_slli_epi32(ia, 8));
            _mm_storeu_si128((__m128i *)(o32 + i + 4), _mm_slli_epi32(ib, 8));
        }
    }
    float lanes[4];
    _mm_storeu_ps(lanes, vpk);
    for (int k = 0; k < 4; k++)
        pk = lanes[k] > pk ? lanes[k] : pk;
#endif
    for (; i < n; i++) {
        float f = in[i] * full;
        if (f != f)
            f = 0.0f;
        float m = fabsf(f);
        pk = m > pk ? m : pk;
        f = f > lo ? f : lo;
        f = f < hi ? f : hi;
        long r = lrintf(f);
        if (bits == 16)
            o16[i] = (int16_t)r;
        else
            o32[i] = (int32_t)((uint32_t)r << 8);
    }
    *peak = pk / full;
    return 0;
}
