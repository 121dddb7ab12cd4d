/*
 * dlsynth voice engine: the sample pool: waves (16-bit PCM with guard frames) and the loop
 * images regions share (see eng_loopimg in voice.h).
 *
 * Thread: the producer (downloads). The render thread only reads what the instruments
 * published here point to.
 */
#include "eng_internal.h"

#include <stdlib.h>
#include <string.h>

/* 8-bit DLS waves (unsigned, 128 = silence) widened once for the 16-bit pool. */
void dls_u8_to_s16(const uint8_t *src, int16_t *dst, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dst[i] = (int16_t)(((int32_t)src[i] - 128) * 256);
}

static void loopimg_free(eng_loopimg *l)
{
    if (!l)
        return;
    for (int32_t c = 0; c < l->channels; c++) {
        if (l->first)
            free(l->first[c]);
        if (l->again)
            free(l->again[c]);
    }
    free(l->first);
    free(l->again);
    free(l);
}

void eng_wave_free(eng_wave *w)
{
    if (!w)
        return;
    if (w->main) {
        for (int32_t c = 0; c < w->channels; c++)
            free(w->main[c]);
        free(w->main);
    }
    eng_loopimg *l = w->loops;
    while (l) {
        eng_loopimg *next = l->next;
        loopimg_free(l);
        l = next;
    }
    free(w);
}

int32_t eng_wave_create(eng_engine *e, const int16_t *data, int64_t frames, int32_t channels, double sample_rate)
{
    if (!e || frames < 0 || frames > ENG_MAX_FRAMES || channels < 1 || channels > 64 || (frames > 0 && !data) ||
        !(sample_rate >= 1.0 && sample_rate <= 1e6))
        return ENG_ERR_ARG;
    int32_t id = -1;
    for (int32_t i = 0; i < e->max_waves; i++) {
        if (!e->wave_table[i]) {
            id = i;
            break;
        }
    }
    if (id < 0)
        return ENG_ERR_FULL;
    eng_wave *w = calloc(1, sizeof *w);
    if (!w)
        return ENG_ERR_NOMEM;
    w->id = id;
    w->channels = channels;
    w->frames = frames;
    w->rate = sample_rate;
    w->main = calloc((size_t)channels, sizeof *w->main);
    if (!w->main) {
        free(w);
        return ENG_ERR_NOMEM;
    }
    /* the pool keeps the 16-bit samples; the kernels scale them by 1/32768 as they load */
    size_t len = (size_t)frames + 2 * ENG_GUARD;
    for (int32_t c = 0; c < channels; c++) {
        int16_t *m = malloc(len * sizeof(int16_t));
        if (!m) {
            eng_wave_free(w);
            return ENG_ERR_NOMEM;
        }
        memset(m, 0, ENG_GUARD * sizeof(int16_t));
        memset(m + ENG_GUARD + frames, 0, ENG_GUARD * sizeof(int16_t));
        if (channels == 1) {
            if (frames > 0)
                memcpy(m + ENG_GUARD, data, (size_t)frames * sizeof(int16_t));
        } else {
            for (int64_t i = 0; i < frames; i++)
                m[ENG_GUARD + i] = data[i * channels + c];
        }
        w->main[c] = m;
    }
    w->bytes = (uint64_t)len * sizeof(int16_t) * (uint64_t)channels;
    e->wave_table[id] = w;
    atomic_fetch_add(&e->st_waves, 1);
    atomic_fetch_add(&e->st_bytes, w->bytes);
    return id;
}

int32_t eng_wave_destroy(eng_engine *e, int32_t id)
{
    if (!e || id < 0 || id >= e->max_waves || !e->wave_table[id])
        return ENG_ERR_ARG;
    eng_wave *w = e->wave_table[id];
    if (w->refs > 0)
        return ENG_ERR_BUSY;
    e->wave_table[id] = NULL;
    atomic_fetch_sub(&e->st_waves, 1);
    atomic_fetch_sub(&e->st_bytes, w->bytes);
    eng_wave_free(w);
    return 0;
}

/* Loop images of (w, start, end), made once and shared by every region that loops there. */
eng_loopimg *eng_loop_image(eng_engine *e, eng_wave *w, uint32_t start, uint32_t end)
{
    for (eng_loopimg *l = w->loops; l; l = l->next)
        if (l->start == start && l->end == end)
            return l;
    eng_loopimg *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->start = start;
    l->end = end;
    l->channels = w->channels;
    l->first = calloc((size_t)w->channels, sizeof *l->first);
    l->again = calloc((size_t)w->channels, sizeof *l->again);
    if (!l->first || !l->again) {
        loopimg_free(l);
        return NULL;
    }
    int64_t len = (int64_t)end - start;
    l->seam = len >= ENG_SEAM_MIN_LOOP;
    /* a short loop: full images (n samples each, loop coordinates); a long one: the seam
       image only (n samples from loop position len - ENG_SEAM - ENG_GUARD) */
    size_t n = l->seam ? 2 * (size_t)(ENG_SEAM + ENG_GUARD) : (size_t)len + 2 * ENG_GUARD;
    int64_t pos0 = l->seam ? len - ENG_SEAM - ENG_GUARD : -ENG_GUARD; /* loop position of slot 0 */
    for (int32_t c = 0; c < w->channels; c++) {
        if (!l->seam) {
            l->first[c] = malloc(n * sizeof(int16_t));
            if (!l->first[c]) {
                loopimg_free(l);
                return NULL;
            }
        }
        l->again[c] = malloc(n * sizeof(int16_t));
        if (!l->again[c]) {
            loopimg_free(l);
            return NULL;
        }
        const int16_t *s = w->main[c] + ENG_GUARD; /* s[f] is valid for f in -G .. frames + G - 1 */
        for (int64_t j = 0; j < (int64_t)n; j++) {
            int64_t f = (int64_t)start + pos0 + j; /* the frame this slot stands for */
            int64_t in_loop = (int64_t)start + ((f - (int64_t)start) % len + len) % len;
            /* first pass: the real frames before the loop, the loop, then the loop's start */
            if (!l->seam)
                l->first[c][j] = f < (int64_t)start ? s[f] : s[in_loop];
            /* after a wrap: the loop continues on both sides */
            l->again[c][j] = s[in_loop];
        }
    }
    l->next = w->loops;
    w->loops = l;
    uint64_t bytes = (uint64_t)n * sizeof(int16_t) * (l->seam ? 1u : 2u) * (uint64_t)w->channels;
    w->bytes += bytes;
    atomic_fetch_add(&e->st_bytes, bytes);
    return l;
}
