/* Bulk conversion of DLS sample data and units (prefix dls_). See engine.h. */
#include "engine.h"

#include <math.h>

void dls_u8_to_s16(const uint8_t *src, int16_t *dst, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dst[i] = (int16_t)(((int32_t)src[i] - 128) * 256);
}

void dls_s16_to_f32(const int16_t *src, float *dst, size_t count)
{
    const float k = 1.0f / 32768.0f;
    for (size_t i = 0; i < count; i++)
        dst[i] = (float)src[i] * k;
}

void dls_timecents_to_seconds(const int32_t *src, double *dst, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (src[i] == INT32_MIN)
            dst[i] = 0.0;
        else
            dst[i] = exp2((double)src[i] / (65536.0 * 1200.0));
    }
}

void dls_abs_pitch_to_hz(const int32_t *src, double *dst, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dst[i] = 440.0 * exp2(((double)src[i] / 65536.0 - 6900.0) / 1200.0);
}

void dls_gain_to_db(const int32_t *src, double *dst, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dst[i] = (double)src[i] / 65536.0 / 10.0;
}

int32_t dls_s16_peak(const int16_t *src, size_t count)
{
    int32_t peak = 0;
    for (size_t i = 0; i < count; i++) {
        int32_t v = src[i] < 0 ? -(int32_t)src[i] : (int32_t)src[i];
        if (v > peak)
            peak = v;
    }
    return peak;
}

int dls_built_with_sanitizer(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 1;
#elif defined(__SANITIZE_THREAD__)
    return 2;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 1;
#elif __has_feature(thread_sanitizer)
    return 2;
#else
    return 0;
#endif
#else
    return 0;
#endif
}
