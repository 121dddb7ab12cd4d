/*
 * dlsynth native code: big zeroed tables whose pages cost no memory until written.
 *
 * The engine's fixed tables (the event ring and heap, the instrument and wave tables, the
 * group buses, the patch table) are sized for their limits, megabytes in all, while a
 * session writes a small part of them. calloc() would often hand out reused, already
 * resident heap memory and clear it; these come straight from the kernel as untouched
 * zero pages instead, so only the parts in use count towards the process's RSS.
 *
 * Thread: whoever creates or destroys the owner (never the audio path).
 */
#ifndef DLSYNTH_ZEROED_H
#define DLSYNTH_ZEROED_H

#include <stddef.h>

/* count * size zeroed bytes starting on a 64-byte line (NULL: overflow or no memory). */
void *zeroed_alloc(size_t count, size_t size);

/* Give back what zeroed_alloc returned (NULL: nothing). */
void zeroed_free(void *p);

#endif
