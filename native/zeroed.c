/*
 * dlsynth native code: big zeroed tables from anonymous memory maps (see zeroed.h).
 *
 * Each table is one private anonymous mapping: a 64-byte header holding the mapping's
 * length, then the table. Under AddressSanitizer they come from calloc instead (a block
 * aligned inside it), so that the sanitizer checks their bounds.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS under -std=c11 */
#include "zeroed.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ZEROED_HEADER 64 /* bytes before the table: its mapping's length (keeps 64-byte alignment) */

#if defined(__SANITIZE_ADDRESS__) || !defined(__unix__)

/* calloc, rounded up to a line: the sanitizer's allocator hands big blocks out as fresh
   zero pages too, and checks their bounds. The block's own pointer sits just before. */
void *zeroed_alloc(size_t count, size_t size)
{
    if (size && count > (SIZE_MAX - 2 * ZEROED_HEADER) / size)
        return NULL;
    char *m = calloc(1, count * size + ZEROED_HEADER + sizeof(void *));
    if (!m)
        return NULL;
    char *p = m + sizeof(void *) + (ZEROED_HEADER - ((uintptr_t)(m + sizeof(void *)) % ZEROED_HEADER)) % ZEROED_HEADER;
    memcpy(p - sizeof(void *), &m, sizeof m);
    return p;
}

void zeroed_free(void *p)
{
    if (!p)
        return;
    void *m;
    memcpy(&m, (char *)p - sizeof(void *), sizeof m);
    free(m);
}

#else

#include <sys/mman.h>

void *zeroed_alloc(size_t count, size_t size)
{
    if (size && count > (SIZE_MAX - 2 * ZEROED_HEADER) / size)
        return NULL;
    size_t bytes = count * size;
    size_t len = ZEROED_HEADER + (bytes ? bytes : 1);
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    memcpy(m, &len, sizeof len);
    return (char *)m + ZEROED_HEADER;
}

void zeroed_free(void *p)
{
    if (!p)
        return;
    char *m = (char *)p - ZEROED_HEADER;
    size_t len;
    memcpy(&len, m, sizeof len);
    munmap(m, len);
}

#endif
