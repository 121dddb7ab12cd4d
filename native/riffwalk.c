/*
 * dls_riff_children: one level of a RIFF file's tree, for the bank reader's index
 * (dls/riffindex.py). Called on the reading thread, before any engine exists; it only
 * reads the file's bytes.
 *
 * RIFF (Microsoft's Resource Interchange File Format, as DLS uses it): a chunk is a
 * four-byte id, a 32-bit little-endian size and that many bytes of data, padded to an even
 * length; a LIST or RIFF chunk's data is a four-byte form type, then chunks.
 */
#include "engine.h"

#include <string.h>

#define ID(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int64_t dls_riff_children(const uint8_t *buf, int64_t len, const int64_t *start, const int64_t *end, int64_t n,
                          int64_t *parent, int64_t *pos, uint32_t *cid, int64_t *size, int64_t *stray, int64_t cap)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t p = start[i], e = end[i], left = 0;
        if (p < 0 || e > len || p > e)
            return DLS_RIFF_OVERRUN;
        while (p < e) {
            if (e - p < 8) {
                left = e - p;
                break;
            }
            uint32_t id = le32(buf + p);
            int64_t sz = (int64_t)le32(buf + p + 4);
            int64_t ds = p + 8;
            if (sz > e - ds)
                return DLS_RIFF_OVERRUN;
            if ((id == ID('L', 'I', 'S', 'T') || id == ID('R', 'I', 'F', 'F')) && sz < 4)
                return DLS_RIFF_SHORT_LIST;
            if (parent) {
                if (k >= cap)
                    return DLS_RIFF_CAPACITY;
                parent[k] = i;
                pos[k] = p;
                cid[k] = id;
                size[k] = sz;
            }
            k++;
            p = ds + sz + (sz & 1);
        }
        if (stray)
            stray[i] = left;
    }
    return k;
}
