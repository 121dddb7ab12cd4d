/*
 * dlsynth voice engine: stems (what each instrument played, mixed apart in the same pass
 * as the mix) and note labels (each note as the engine played it). See engine.h.
 *
 * Stems. A voice's stem is fixed when it starts (eng_stem_for, from a key: channel and
 * patch, patch, or the note-on's tag), found in an open-addressing table allocated by
 * eng_set_stems: the render thread only fills free slots, it never allocates. During a
 * run every voice is mixed, as always, into its mix group's bus, and once more, alone,
 * into its active-list entry's row (render_group in eng_render.c); the finish of the run
 * sums the rows into their stems in the active list's order (fixed by the list alone, like
 * the mix's groups: the same for every thread count and block size) and scales them by
 * the master gain, as the mix is. The effects' return is stem 0 (finish_run keeps the
 * wet output apart before adding it to the mix in the usual order).
 *
 * Labels. A single-producer single-consumer ring of eng_label records: the render thread
 * writes (note-ons, note-offs, voice ends), the producer drains between renders.
 */
#include "voice.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * Stems
 * ------------------------------------------------------------------------------------- */

void eng_stems_free(eng_engine *e)
{
    free(e->stem_keys);
    free(e->stem_index);
    free(e->stem_info);
    free(e->stem_rows);
    free(e->stem_of);
    free(e->stem_wet);
    e->stem_keys = NULL;
    e->stem_index = NULL;
    e->stem_info = NULL;
    e->stem_rows = NULL;
    e->stem_of = NULL;
    e->stem_wet = NULL;
    e->stems_by = ENG_STEMS_OFF;
    e->stems_max = 0;
    e->n_stems = 0;
    e->stem_mask = 0;
}

static void *calloc_aligned(size_t count, size_t size)
{
    size_t bytes = (count * size + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (p)
        memset(p, 0, bytes ? bytes : 64);
    return p;
}

int32_t eng_set_stems(eng_engine *e, int32_t by, int32_t max_stems)
{
    if (!e || by < ENG_STEMS_OFF || by > ENG_STEMS_BY_TRACK)
        return ENG_ERR_ARG;
    eng_stems_free(e);
    e->stem_out = NULL;
    e->stem_frames = 0;
    if (by == ENG_STEMS_OFF)
        return 0;
    if (max_stems < 2 || max_stems > ENG_STEMS_MAX)
        return ENG_ERR_ARG;
    uint32_t slots = 1;
    while (slots < 2u * (uint32_t)max_stems)
        slots <<= 1;
    e->stem_keys = calloc(slots, sizeof *e->stem_keys);
    e->stem_index = calloc(slots, sizeof *e->stem_index);
    e->stem_info = calloc((size_t)max_stems, sizeof *e->stem_info);
    /* rows: one cache line apart per entry (entries of one run are mixed by different
       threads) */
    e->stem_rows = calloc_aligned(2 * (size_t)e->n_slots * 2 * ENG_RUN, sizeof(float));
    e->stem_of = calloc(2 * (size_t)e->n_slots, sizeof *e->stem_of);
    e->stem_wet = calloc(4 * ENG_RUN, sizeof(float));
    if (!e->stem_keys || !e->stem_index || !e->stem_info || !e->stem_rows || !e->stem_of || !e->stem_wet) {
        eng_stems_free(e);
        return ENG_ERR_NOMEM;
    }
    e->stem_mask = slots - 1;
    e->stems_by = by;
    e->stems_max = max_stems;
    e->n_stems = 1; /* stem 0: the effects' return */
    return 0;
}

void eng_set_stem_output(eng_engine *e, float *out, int32_t frames)
{
    if (!e)
        return;
    e->stem_out = frames > 0 ? out : NULL;
    e->stem_frames = out ? frames : 0;
}

int32_t eng_stem_count(const eng_engine *e) { return e && e->stems_by ? e->n_stems : 0; }

int32_t eng_get_stem_info(const eng_engine *e, int32_t stem, eng_stem_info *out)
{
    if (!e || !out || stem < 1 || stem >= e->n_stems)
        return ENG_ERR_ARG;
    *out = e->stem_info[stem];
    return 0;
}

int32_t eng_stem_for(eng_engine *e, int32_t channel, uint32_t patch, int32_t tag, uint64_t now)
{
    uint64_t key;
    switch (e->stems_by) {
    case ENG_STEMS_BY_CHANNEL:
        key = (uint64_t)(uint32_t)channel << 32 | patch;
        break;
    case ENG_STEMS_BY_PROGRAM:
        key = patch;
        break;
    case ENG_STEMS_BY_TRACK:
        key = (uint32_t)tag;
        break;
    default:
        return 0;
    }
    uint32_t h = (uint32_t)((key + 1) * 0x9E3779B97F4A7C15ull >> 40) & e->stem_mask;
    for (;;) {
        uint64_t k = e->stem_keys[h];
        if (k == key + 1)
            return e->stem_index[h];
        if (k == 0)
            break;
        h = (h + 1) & e->stem_mask;
    }
    int32_t s;
    if (e->n_stems < e->stems_max) {
        s = e->n_stems++;
        eng_stem_info *info = &e->stem_info[s];
        info->channel = channel;
        info->patch = patch;
        info->track = tag;
        info->first_frame = now;
        if (s == e->stems_max - 1) {
            /* the last stem: this key's, and every later one's */
            info->overflow = 1;
        }
    } else {
        s = e->stems_max - 1;
    }
    /* the table has twice as many slots as stems: a free slot is always found above */
    e->stem_keys[h] = key + 1;
    e->stem_index[h] = s;
    return s;
}

float *eng_stem_row(eng_engine *e, int32_t par, int32_t entry)
{
    return e->stem_rows + ((size_t)par * (size_t)e->n_slots + (size_t)entry) * 2 * ENG_RUN;
}

void eng_stems_finish(eng_engine *e, const eng_finish *f, const float *wet)
{
    int32_t n = f->n;
    size_t stride = 2 * (size_t)e->stem_frames;
    float g = f->gain;
    for (int32_t s = 0; s < f->n_stems; s++) {
        float *o = f->stem_out + (size_t)s * stride;
        memset(o, 0, sizeof(float) * 2 * (size_t)n);
    }
    if (wet) {
        float *o = f->stem_out;
        for (int32_t i = 0; i < n; i++) {
            o[2 * i] = wet[i] + wet[2 * ENG_RUN + i];
            o[2 * i + 1] = wet[ENG_RUN + i] + wet[3 * ENG_RUN + i];
        }
    }
    const int32_t *of = e->stem_of + (size_t)f->par * (size_t)e->n_slots;
    for (int32_t k = 0; k < f->n_entries; k++) {
        const float *row = eng_stem_row(e, f->par, k);
        float *o = f->stem_out + (size_t)of[k] * stride;
        for (int32_t i = 0; i < n; i++) {
            o[2 * i] += row[i];
            o[2 * i + 1] += row[ENG_RUN + i];
        }
    }
    for (int32_t s = 0; s < f->n_stems; s++) {
        float *o = f->stem_out + (size_t)s * stride;
        for (int32_t i = 0; i < 2 * n; i++)
            o[i] *= g;
    }
}

void eng_stems_zero_new(eng_engine *e, uint64_t start, int32_t n_before)
{
    size_t stride = 2 * (size_t)e->stem_frames;
    for (int32_t s = n_before < 1 ? 1 : n_before; s < e->n_stems; s++) {
        uint64_t first = e->stem_info[s].first_frame;
        if (first > start)
            memset(e->stem_out + (size_t)s * stride, 0, sizeof(float) * 2 * (size_t)(first - start));
    }
}

/* ---------------------------------------------------------------------------------------
 * Labels
 * ------------------------------------------------------------------------------------- */

int32_t eng_set_labels(eng_engine *e, int32_t capacity)
{
    if (!e || capacity < 0)
        return ENG_ERR_ARG;
    free(e->labels);
    e->labels = NULL;
    e->label_mask = 0;
    e->labels_done = 0;
    atomic_store(&e->label_head, 0u);
    atomic_store(&e->label_tail, 0u);
    if (capacity == 0)
        return 0;
    uint32_t cap = 1;
    while (cap < (uint32_t)capacity && cap < (1u << 26))
        cap <<= 1;
    e->labels = calloc(cap, sizeof *e->labels);
    if (!e->labels)
        return ENG_ERR_NOMEM;
    e->label_mask = cap - 1;
    return 0;
}

void eng_label_push(eng_engine *e, const eng_label *l)
{
    uint32_t head = atomic_load_explicit(&e->label_head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&e->label_tail, memory_order_acquire);
    if (head - tail > e->label_mask) {
        atomic_fetch_add_explicit(&e->st_labels_lost, 1, memory_order_relaxed);
        return;
    }
    e->labels[head & e->label_mask] = *l;
    atomic_store_explicit(&e->label_head, head + 1, memory_order_release);
}

int32_t eng_poll_labels(eng_engine *e, eng_label *out, int32_t max)
{
    if (!e || !e->labels || !out || max <= 0)
        return 0;
    uint32_t tail = atomic_load_explicit(&e->label_tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&e->label_head, memory_order_acquire);
    int32_t k = 0;
    while (tail != head && k < max)
        out[k++] = e->labels[tail++ & e->label_mask];
    atomic_store_explicit(&e->label_tail, tail, memory_order_release);
    return k;
}

void eng_labels_finish(eng_engine *e)
{
    if (!e || !eng_labels_on(e))
        return;
    for (int32_t i = 0; i < e->n_act; i++) {
        const eng_voice *v = &e->voices[e->act[i]];
        /* ended in the last run (its group's mask says so), only not yet freed */
        int32_t g = i / ENG_GROUP, k = i % ENG_GROUP;
        if (g < e->gmask_groups && (e->gmask[g].bits >> k & 1u)) {
            eng_label_voice_end(e, v, e->pos);
            continue;
        }
        eng_label l;
        memset(&l, 0, sizeof l);
        l.kind = ENG_LABEL_END;
        l.frame = e->pos;
        l.note = v->note;
        l.channel = v->channel;
        l.key = v->key;
        l.reason = ENG_END_END_OF_FILE;
        eng_label_push(e, &l);
    }
    e->labels_done = 1;
}

uint64_t eng_labels_lost(const eng_engine *e)
{
    return e ? atomic_load_explicit(&((eng_engine *)e)->st_labels_lost, memory_order_relaxed) : 0;
}
