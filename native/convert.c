/* Conversion of DLS sample data (prefix dls_): 8-bit waves widened for the 16-bit pool. See engine.h.
   (Unit conversions live in dls/units.py for reading and describing banks, and in voice.c for
   the engine.) */
#include "engine.h"

void dls_u8_to_s16(const uint8_t *src, int16_t *dst, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dst[i] = (int16_t)(((int32_t)src[i] - 128) * 256);
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
