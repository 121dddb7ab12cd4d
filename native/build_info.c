/* What this build of the C core is: which sanitizer, if any, it was compiled with (so the
   tests can prove that the sanitized build is the one under test). */
#include "engine.h"

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
