/*
 * dlsynth voice engine: the engine object, the sample pool, instruments, the event ring,
 * MIDI semantics per channel, voice allocation and stealing, and the render loop.
 *
 * Threads. One producer thread (the Python side, serialised by the wrapper's lock) creates
 * waves and instruments and pushes events; one render thread calls eng_render. They share:
 * the event ring (SPSC, C11 atomics), the finished ring (render -> producer), the instrument
 * slot table (pointers published with release stores), a few atomic settings and the stats.
 * Everything eng_render touches was allocated before; it never allocates, frees or locks.
 */
#include "voice.h"
#include "midi.h"
#include "eng_workers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <xmmintrin.h>
#define ENG_HAVE_MXCSR 1
#endif

/* DirectMusic's default channel priorities: DAUD_STANDARD_VOICE_PRIORITY plus an offset per
   channel, the drum channel (10) highest, then 1, 2, ... 16. */
static const uint32_t chan_priority_offset[16] = {14, 13, 12, 11, 10, 9, 8, 7, 6, 15, 5, 4, 3, 2, 1, 0};
#define PRIORITY_STANDARD 0x80000000u

/* ---------------------------------------------------------------------------------------
 * Creation
 * ------------------------------------------------------------------------------------- */

/* Zeroed memory starting on a cache line, in whole lines: what different render threads
   write must not share a line (NULL on failure; free() frees it). */
static void *calloc_lines(size_t count, size_t size)
{
    size_t bytes = (count * size + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (p)
        memset(p, 0, bytes ? bytes : 64);
    return p;
}

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 1;
    while (p < n && p < 0x40000000u)
        p <<= 1;
    return p;
}

static void channel_defaults(eng_channel *ch, int index)
{
    memset(ch->cc, 0, sizeof ch->cc);
    memset(ch->poly, 0, sizeof ch->poly);
    ch->cc[7] = 100;
    ch->cc[10] = 64;
    ch->cc[11] = 127;
    ch->cc[91] = 40;
    ch->cc[93] = 0;
    ch->bend = 8192;
    ch->chp = 0;
    ch->sustain = ch->sostenuto = ch->soft = 0;
    ch->bend_range = 200.0f;
    ch->fine = 0.0f;
    ch->coarse = 0.0f;
    ch->priority = PRIORITY_STANDARD | chan_priority_offset[index & 15];
    ch->version++;
}

eng_engine *eng_create(int32_t sample_rate, int32_t max_voices, int32_t channels, int32_t interpolation,
                       int32_t event_capacity, int32_t max_instruments, int32_t max_waves)
{
    if (sample_rate < 8000 || sample_rate > 384000 || max_voices < 1 || max_voices > 4096 || channels < 1 ||
        channels > 16000 || interpolation < 0 || interpolation > 2 || max_instruments < 1 ||
        max_instruments > (1 << 20) || max_waves < 1 || max_waves > (1 << 22))
        return NULL;
    eng_engine *e = calloc_lines(1, sizeof *e); /* its _Alignas(64) members */
    if (!e)
        return NULL;
    e->rate = sample_rate;
    e->max_voices = max_voices;
    e->n_slots = max_voices + max_voices / 4 + 16;
    e->n_channels = channels;
    e->interp = interpolation;
    e->max_instruments = max_instruments;
    e->max_waves = max_waves;
    uint32_t cap = pow2_at_least(event_capacity < 256 ? 256u : (uint32_t)event_capacity);
    e->ring = calloc(cap, sizeof *e->ring);
    e->ring_mask = cap - 1;
    e->heap_cap = (int32_t)cap;
    e->heap = calloc(cap, sizeof *e->heap);
    uint32_t fcap = pow2_at_least((uint32_t)max_instruments + 1);
    e->fin = calloc(fcap, sizeof *e->fin);
    e->fin_mask = fcap - 1;
    e->chan = calloc((size_t)channels, sizeof *e->chan);
    e->voices = calloc_lines((size_t)e->n_slots, sizeof *e->voices);
    e->act = calloc((size_t)e->n_slots, sizeof *e->act);
    e->free_list = calloc((size_t)e->n_slots, sizeof *e->free_list);
    e->unloading = calloc((size_t)max_instruments, sizeof *e->unloading);
    e->mix = calloc(6 * ENG_CTRL, sizeof(float));
    e->tmp = calloc_lines(ENG_TMP_FLOATS, sizeof(float));
    e->max_groups = (e->n_slots + ENG_GROUP - 1) / ENG_GROUP;
    e->gbuf = calloc_lines(2 * (size_t)e->max_groups * ENG_BUS_FLOATS, sizeof(float));
    e->gmask = calloc_lines((size_t)e->max_groups, sizeof *e->gmask);
    e->n_threads = 1;
    e->par_min_work = 1024;
    e->fin_weight[0] = 2;
    e->fin_weight[1] = ENG_FX_VOICES;
    e->sinc_mem = malloc(sizeof(float) * ENG_SINC_PHASES * ENG_SINC_TAPS);
    e->ins_table = calloc((size_t)max_instruments, sizeof *e->ins_table);
    e->wave_table = calloc((size_t)max_waves, sizeof *e->wave_table);
    e->reverb = fx_reverb_new((double)sample_rate);
    e->chorus = fx_chorus_new((double)sample_rate);
    e->midi = mid_create(channels);
    if (!e->midi || !e->ring || !e->heap || !e->fin || !e->chan || !e->voices || !e->act || !e->free_list || !e->unloading ||
        !e->mix || !e->tmp || !e->gbuf || !e->gmask || !e->sinc_mem || !e->ins_table || !e->wave_table || !e->reverb || !e->chorus) {
        eng_destroy(e);
        return NULL;
    }
    eng_sinc_table(e->sinc_mem);
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    e->avx2 = __builtin_cpu_supports("avx2") && getenv("DLSYNTH_NO_AVX2") == NULL;
#endif
    e->sinc = e->sinc_mem;
    for (int32_t i = 0; i < channels; i++)
        channel_defaults(&e->chan[i], i);
    for (int32_t i = 0; i < e->n_slots; i++)
        e->free_list[i] = e->n_slots - 1 - i;
    e->n_free = e->n_slots;
    e->master_volume = 1.0f;
    atomic_store(&e->master_gain, 1.0f);
    atomic_store(&e->effects_on, 1);
    for (int32_t i = 0; i < max_instruments; i++)
        atomic_init(&e->ins_table[i], NULL);
    return e;
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

static void wave_free(eng_wave *w)
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

static void instrument_free(eng_instrument *ins)
{
    if (!ins)
        return;
    free(ins->regions);
    free(ins->conn_mem);
    free(ins->waves);
    free(ins);
}

void eng_destroy(eng_engine *e)
{
    if (!e)
        return;
    eng_pool_destroy(e->pool);
    eng_stems_free(e);
    free(e->labels);
    if (e->ins_table)
        for (int32_t i = 0; i < e->max_instruments; i++)
            instrument_free(atomic_load(&e->ins_table[i]));
    if (e->wave_table)
        for (int32_t i = 0; i < e->max_waves; i++)
            wave_free(e->wave_table[i]);
    if (e->reverb)
        fx_reverb_free(e->reverb);
    if (e->chorus)
        fx_chorus_free(e->chorus);
    mid_destroy(e->midi);
    free(e->ring);
    free(e->heap);
    free(e->fin);
    free(e->chan);
    free(e->voices);
    free(e->act);
    free(e->free_list);
    free(e->unloading);
    free(e->mix);
    free(e->tmp);
    free(e->gbuf);
    free(e->gmask);
    free(e->sinc_mem);
    free((void *)e->ins_table);
    free(e->wave_table);
    free(e);
}

int32_t eng_sample_rate(const eng_engine *e) { return e->rate; }
int32_t eng_max_voices(const eng_engine *e) { return e->max_voices; }
int32_t eng_channels(const eng_engine *e) { return e->n_channels; }

/* ---------------------------------------------------------------------------------------
 * Sample pool (producer thread)
 * ------------------------------------------------------------------------------------- */

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
            wave_free(w);
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
    wave_free(w);
    return 0;
}

/* Loop images of (w, start, end), made once and shared by every region that loops there. */
static eng_loopimg *loop_image(eng_engine *e, eng_wave *w, uint32_t start, uint32_t end)
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

/* ---------------------------------------------------------------------------------------
 * Instruments (producer thread)
 * ------------------------------------------------------------------------------------- */

int32_t eng_instrument_create(eng_engine *e, const eng_region_desc *regions, int32_t n_regions, const eng_conn *conns,
                              int32_t n_conns)
{
    if (!e || n_regions < 0 || n_regions > 65536 || n_conns < 0 || (n_regions && !regions) || (n_conns && !conns))
        return ENG_ERR_ARG;
    int32_t id = -1;
    for (int32_t i = 0; i < e->max_instruments; i++) {
        if (!atomic_load_explicit(&e->ins_table[i], memory_order_relaxed)) {
            id = i;
            break;
        }
    }
    if (id < 0)
        return ENG_ERR_FULL;
    /* validate first */
    for (int32_t i = 0; i < n_regions; i++) {
        const eng_region_desc *d = &regions[i];
        for (int k = 0; k < 2; k++) {
            if (k == 1 && d->wave_id[1] < 0)
                break;
            if (d->wave_id[k] < 0 || d->wave_id[k] >= e->max_waves || !e->wave_table[d->wave_id[k]])
                return ENG_ERR_WAVE;
            const eng_wave *w = e->wave_table[d->wave_id[k]];
            if (d->wave_channel[k] < 0 || d->wave_channel[k] >= w->channels)
                return ENG_ERR_ARG;
        }
        if (d->wave_id[1] >= 0 && e->wave_table[d->wave_id[1]]->rate != e->wave_table[d->wave_id[0]]->rate)
            return ENG_ERR_ARG;
        if (d->conn_count < 0 || d->conn_offset < 0 || (int64_t)d->conn_offset + d->conn_count > n_conns)
            return ENG_ERR_ARG;
    }
    eng_instrument *ins = calloc(1, sizeof *ins);
    if (!ins)
        return ENG_ERR_NOMEM;
    ins->id = id;
    ins->n_regions = n_regions;
    ins->regions = calloc(n_regions ? (size_t)n_regions : 1, sizeof *ins->regions);
    /* Regions naming the same connection slice (a bank converted from SF2 repeats one
       articulation region after region) share one compiled list. */
    size_t total = 0;
    for (int32_t i = 0; i < n_regions; i++) {
        int32_t j = 0;
        while (j < i && (regions[j].conn_offset != regions[i].conn_offset ||
                         regions[j].conn_count != regions[i].conn_count))
            j++;
        if (j == i)
            total += (size_t)regions[i].conn_count;
    }
    ins->conn_mem = calloc(total ? total : 1, sizeof *ins->conn_mem);
    ins->waves = calloc(n_regions ? 2 * (size_t)n_regions : 1, sizeof *ins->waves);
    if (!ins->regions || !ins->conn_mem || !ins->waves) {
        instrument_free(ins);
        return ENG_ERR_NOMEM;
    }
    atomic_init(&ins->finished, 0);
    size_t used = 0;
    for (int32_t i = 0; i < n_regions; i++) {
        const eng_region_desc *d = &regions[i];
        eng_region *r = &ins->regions[i];
        eng_wave *ws[2];
        ws[0] = e->wave_table[d->wave_id[0]];
        ws[1] = d->wave_id[1] >= 0 ? e->wave_table[d->wave_id[1]] : ws[0];
        eng_wave *w = ws[0];
        r->key_lo = d->key_lo > 127 ? 127 : d->key_lo;
        r->key_hi = d->key_hi > 127 ? 127 : d->key_hi;
        r->vel_lo = d->vel_lo > 127 ? 127 : d->vel_lo;
        r->vel_hi = d->vel_hi > 127 ? 127 : d->vel_hi;
        r->key_group = d->key_group;
        r->flags = d->flags;
        r->nch = d->wave_id[1] >= 0 ? 2 : 1;
        r->out_mask = (d->out_mask == 1 || d->out_mask == 2) ? d->out_mask : 0;
        int wch[2] = {d->wave_channel[0], r->nch == 2 ? d->wave_channel[1] : d->wave_channel[0]};
        r->main[0] = ws[0]->main[wch[0]];
        r->main[1] = ws[1]->main[wch[1]];
        r->frames = ws[0]->frames < ws[1]->frames ? ws[0]->frames : ws[1]->frames;
        r->unity_note = (float)(d->unity_note < 0 ? 0 : (d->unity_note > 127 ? 127 : d->unity_note));
        r->fine_tune = isfinite(d->fine_tune) ? d->fine_tune : 0.0f;
        r->attenuation = isfinite(d->attenuation) ? d->attenuation : 0.0f;
        r->rate_ratio = w->rate / (double)e->rate;
        /* loops: clamp to the wave; anything unplayable plays without a loop */
        r->has_loop = 0;
        r->loop_type = ENG_LOOP_NONE;
        if ((d->loop_type == ENG_LOOP_FORWARD || d->loop_type == ENG_LOOP_RELEASE) && d->loop_length > 0 &&
            (int64_t)d->loop_start < r->frames) {
            int64_t end = (int64_t)d->loop_start + d->loop_length;
            if (end > r->frames)
                end = r->frames;
            if (end > (int64_t)d->loop_start) {
                eng_loopimg *l[2];
                for (int k = 0; k < 2; k++) {
                    l[k] = loop_image(e, ws[k], d->loop_start, (uint32_t)end);
                    if (!l[k]) {
                        instrument_free(ins);
                        return ENG_ERR_NOMEM;
                    }
                }
                r->has_loop = 1;
                r->loop_seam = l[0]->seam;
                r->loop_type = d->loop_type;
                r->loop_start = d->loop_start;
                r->loop_end = (uint32_t)end;
                for (int k = 0; k < 2; k++) {
                    r->lfirst[k] = l[k]->seam ? NULL : l[k]->first[wch[k]];
                    r->lagain[k] = l[k]->again[wch[k]];
                }
            }
        }
        int32_t same = 0;
        while (same < i && (regions[same].conn_offset != d->conn_offset || regions[same].conn_count != d->conn_count))
            same++;
        if (same < i) {
            const eng_region *o = &ins->regions[same];
            r->conn = o->conn;
            r->n_conn = o->n_conn;
            r->first_static = o->first_static;
            r->first_channel = o->first_channel;
            r->first_dynamic = o->first_dynamic;
            r->uses = o->uses;
            r->filter = o->filter;
            r->fc_base = o->fc_base;
        } else {
            r->conn = ins->conn_mem + used;
            eng_conn_compile(conns + d->conn_offset, d->conn_count, r->conn, &r->n_conn, &r->first_static,
                             &r->first_channel, &r->first_dynamic, &r->uses, &r->filter, &r->fc_base);
            used += (size_t)d->conn_count;
        }
        for (int k = 0; k < r->nch; k++) {
            int seen = 0;
            for (int32_t j = 0; j < ins->n_waves; j++)
                if (ins->waves[j] == ws[k])
                    seen = 1;
            if (!seen)
                ins->waves[ins->n_waves++] = ws[k];
        }
    }
    for (int32_t k = 0; k < ins->n_waves; k++)
        ins->waves[k]->refs++;
    atomic_store_explicit(&e->ins_table[id], ins, memory_order_release);
    atomic_fetch_add(&e->st_instruments, 1);
    return id;
}

int32_t eng_instrument_destroy(eng_engine *e, int32_t id)
{
    if (!e || id < 0 || id >= e->max_instruments)
        return ENG_ERR_ARG;
    eng_instrument *ins = atomic_load_explicit(&e->ins_table[id], memory_order_acquire);
    if (!ins)
        return ENG_ERR_ARG;
    if (!atomic_load_explicit(&ins->finished, memory_order_acquire))
        return ENG_ERR_BUSY;
    atomic_store_explicit(&e->ins_table[id], NULL, memory_order_release);
    for (int32_t k = 0; k < ins->n_waves; k++)
        ins->waves[k]->refs--;
    instrument_free(ins);
    atomic_fetch_sub(&e->st_instruments, 1);
    return 0;
}

int32_t eng_poll_finished(eng_engine *e)
{
    uint32_t tail = atomic_load_explicit(&e->fin_tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&e->fin_head, memory_order_acquire);
    if (tail == head)
        return -1;
    int32_t id = e->fin[tail & e->fin_mask];
    atomic_store_explicit(&e->fin_tail, tail + 1, memory_order_release);
    return id;
}

/* ---------------------------------------------------------------------------------------
 * Events: the ring (producer) and the pending heap (render thread)
 * ------------------------------------------------------------------------------------- */

int32_t eng_push(eng_engine *e, uint64_t time, int32_t type, int32_t channel, int32_t a, int32_t b)
{
    eng_event ev;
    ev.time = time;
    ev.type = type;
    ev.channel = channel;
    ev.a = a;
    ev.b = b;
    return eng_push_events(e, &ev, 1);
}

int32_t eng_push_events(eng_engine *e, const eng_event *events, int32_t n)
{
    if (!e || n <= 0 || !events)
        return 0;
    uint32_t head = atomic_load_explicit(&e->ring_head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&e->ring_tail, memory_order_acquire);
    uint32_t room = e->ring_mask + 1 - (head - tail);
    int32_t k = (uint32_t)n < room ? n : (int32_t)room;
    for (int32_t i = 0; i < k; i++)
        e->ring[(head + (uint32_t)i) & e->ring_mask] = events[i];
    atomic_store_explicit(&e->ring_head, head + (uint32_t)k, memory_order_release);
    if (k < n)
        atomic_fetch_add(&e->st_dropped, (unsigned long long)(n - k));
    return k;
}

static inline int pend_less(const eng_pending *a, const eng_pending *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static void heap_push(eng_engine *e, const eng_event *ev)
{
    int32_t i = e->heap_n++;
    eng_pending p = {ev->time, e->seq++, *ev};
    while (i > 0) {
        int32_t parent = (i - 1) / 2;
        if (!pend_less(&p, &e->heap[parent]))
            break;
        e->heap[i] = e->heap[parent];
        i = parent;
    }
    e->heap[i] = p;
}

static eng_pending heap_pop(eng_engine *e)
{
    eng_pending top = e->heap[0];
    eng_pending last = e->heap[--e->heap_n];
    int32_t i = 0, n = e->heap_n;
    for (;;) {
        int32_t l = 2 * i + 1;
        if (l >= n)
            break;
        int32_t c = (l + 1 < n && pend_less(&e->heap[l + 1], &e->heap[l])) ? l + 1 : l;
        if (!pend_less(&e->heap[c], &last))
            break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n > 0)
        e->heap[i] = last;
    return top;
}

static void drain_ring(eng_engine *e);

int32_t eng_insert_rt(eng_engine *e, const eng_event *ev)
{
    if (e->heap_n >= e->heap_cap)
        return 0;
    heap_push(e, ev);
    return 1;
}

void eng_drain_rt(eng_engine *e) { drain_ring(e); }

static void drain_ring(eng_engine *e)
{
    uint32_t tail = atomic_load_explicit(&e->ring_tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&e->ring_head, memory_order_acquire);
    while (tail != head && e->heap_n < e->heap_cap) {
        heap_push(e, &e->ring[tail & e->ring_mask]);
        tail++;
    }
    atomic_store_explicit(&e->ring_tail, tail, memory_order_release);
}

/* ---------------------------------------------------------------------------------------
 * Voices: allocation, stealing, freeing (render thread)
 * ------------------------------------------------------------------------------------- */

/* The END label of a voice freed at `at` (the end of the last segment rendered, or the
   frame a slot is taken back at): its sound ended at its planned silence (end_at), where
   its wave ran out, or at `at`, whichever came first; why, from the cut that ended it, or
   else whether it had been released. */
void eng_label_voice_end(eng_engine *e, const eng_voice *v, uint64_t at)
{
    uint64_t end = at;
    if (v->end_at && v->end_at < end)
        end = v->end_at;
    if (v->done_seen && v->done_at < end)
        end = v->done_at;
    if (end < v->start)
        end = v->start;
    eng_label l;
    memset(&l, 0, sizeof l);
    l.kind = ENG_LABEL_END;
    l.frame = end;
    l.note = v->note;
    l.channel = v->channel;
    l.key = v->key;
    l.reason = v->end_reason ? v->end_reason : (v->eg1.released ? ENG_END_RELEASED : ENG_END_FINISHED);
    eng_label_push(e, &l);
}

static void voice_free(eng_engine *e, int32_t slot_pos, uint64_t at)
{
    int32_t idx = e->act[slot_pos];
    eng_voice *v = &e->voices[idx];
    if (eng_labels_on(e))
        eng_label_voice_end(e, v, at);
    if (!v->fading)
        e->n_playing--;
    if (v->ins)
        v->ins->voices--;
    v->active = 0;
    v->ins = NULL;
    v->rgn = NULL;
    /* keep the active list's order (it fixes the summing order) */
    memmove(&e->act[slot_pos], &e->act[slot_pos + 1], sizeof(int32_t) * (size_t)(e->n_act - slot_pos - 1));
    e->n_act--;
    e->free_list[e->n_free++] = idx;
}

/* Start the fast fade of a voice (it stops counting against the polyphony). */
static void voice_fade(eng_engine *e, eng_voice *v, uint64_t now)
{
    if (!v->fading)
        e->n_playing--;
    eng_voice_cut(e, v, now, 1);
}

/* DirectMusic's choice: among voices at or below the priority, a released voice (the
   quietest), else the oldest playing one. */
static eng_voice *steal_candidate(eng_engine *e, uint32_t priority)
{
    eng_voice *best = NULL;
    for (int32_t i = 0; i < e->n_act; i++) {
        eng_voice *v = &e->voices[e->act[i]];
        if (v->fading || v->priority > priority)
            continue;
        if (!best) {
            best = v;
            continue;
        }
        int vr = !v->note_on, br = !best->note_on;
        if (vr != br) {
            if (vr)
                best = v;
            continue;
        }
        if (vr) {
            if (v->level < best->level || (v->level == best->level && v->serial < best->serial))
                best = v;
        } else if (v->priority < best->priority ||
                   (v->priority == best->priority && (v->start < best->start ||
                                                      (v->start == best->start && v->serial < best->serial)))) {
            best = v;
        }
    }
    return best;
}

static eng_voice *voice_alloc(eng_engine *e, uint32_t priority, uint64_t now)
{
    if (e->n_playing >= e->max_voices) {
        eng_voice *victim = steal_candidate(e, priority);
        if (!victim) {
            atomic_fetch_add_explicit(&e->st_lost, 1, memory_order_relaxed);
            return NULL;
        }
        victim->end_reason = ENG_END_STOLEN;
        voice_fade(e, victim, now);
        atomic_fetch_add_explicit(&e->st_stolen, 1, memory_order_relaxed);
    }
    if (e->n_free == 0) {
        /* every spare slot is fading: end the fade that started first, now */
        int32_t pick = -1;
        for (int32_t i = 0; i < e->n_act; i++) {
            eng_voice *v = &e->voices[e->act[i]];
            if (v->fading && (pick < 0 || v->fade_start < e->voices[e->act[pick]].fade_start))
                pick = i;
        }
        if (pick < 0) {
            atomic_fetch_add_explicit(&e->st_lost, 1, memory_order_relaxed);
            return NULL;
        }
        voice_free(e, pick, now);
    }
    int32_t idx = e->free_list[--e->n_free];
    eng_voice *v = &e->voices[idx];
    e->act[e->n_act++] = idx;
    e->n_playing++;
    v->active = 1;
    v->serial = e->serial++;
    return v;
}

/* ---------------------------------------------------------------------------------------
 * MIDI semantics (render thread)
 * ------------------------------------------------------------------------------------- */

static void replan_channel(eng_engine *e, int32_t c, uint64_t now)
{
    uint64_t end = eng_plan_end(now);
    for (int32_t i = 0; i < e->n_act; i++) {
        eng_voice *v = &e->voices[e->act[i]];
        if (v->channel == c)
            eng_voice_plan(e, v, now, end);
    }
}

static void note_on(eng_engine *e, int32_t c, int key, int vel, uint64_t now)
{
    eng_channel *ch = &e->chan[c];
    eng_instrument *ins = ch->ins;
    if (!ins || ins->dead)
        return;
    uint64_t first_serial = e->serial;
    int32_t matched = 0, started = 0;
    int labels = eng_labels_on(e);
    uint32_t patch = e->midi->chan[c].patch;
    int32_t stem = -1; /* found when its first voice starts: a note that plays makes a stem */
    uint32_t note = labels ? ++e->note_serial : 0;
    for (int32_t ri = 0; ri < ins->n_regions; ri++) {
        const eng_region *r = &ins->regions[ri];
        if (key < r->key_lo || key > r->key_hi || vel < r->vel_lo || vel > r->vel_hi)
            continue;
        matched++;
        /* exclusivity: key groups, and the same key on a region that is not self-non-exclusive */
        for (int32_t i = 0; i < e->n_act; i++) {
            eng_voice *v = &e->voices[e->act[i]];
            if (v->channel != c || v->ins != ins || v->fading || v->serial >= first_serial)
                continue;
            int group_cut = r->key_group && v->rgn->key_group == r->key_group;
            int cut = group_cut || (!(r->flags & ENG_RGN_SELF_NON_EXCLUSIVE) && v->rgn == r && v->key == key);
            /* cut with the EG1 shutdown time, unless it is already releasing faster */
            if (cut && (v->note_on || v->eg1.release_rate < v->shutdown_rate)) {
                v->end_reason = group_cut ? ENG_END_KEY_GROUP : ENG_END_RETRIGGERED;
                eng_voice_cut(e, v, now, 0);
            }
        }
        eng_voice *v = voice_alloc(e, ch->priority, now);
        if (!v)
            continue;
        v->channel = c;
        v->key = (uint8_t)key;
        v->vel = (uint8_t)vel;
        v->priority = ch->priority;
        v->start = now;
        v->ins = ins;
        v->rgn = r;
        v->fading = 0;
        v->end_reason = 0;
        v->done_seen = 0;
        v->done_at = 0;
        if (stem < 0)
            stem = e->stems_by ? eng_stem_for(e, c, patch, e->cur_tag, now) : 0;
        v->stem = stem;
        v->note = note;
        ins->voices++;
        started++;
        eng_voice_start(e, v, now);
    }
    if (labels && matched) {
        eng_label l;
        memset(&l, 0, sizeof l);
        l.kind = ENG_LABEL_NOTE;
        l.frame = now;
        l.note = note;
        l.channel = c;
        l.patch = patch;
        l.track = e->cur_tag;
        l.key = (int16_t)key;
        l.velocity = (int16_t)vel;
        l.voices = started;
        l.stem = stem < 0 ? 0 : stem;
        eng_label_push(e, &l);
    }
    uint32_t active = (uint32_t)e->n_act;
    atomic_store_explicit(&e->st_active, active, memory_order_relaxed);
    if (active > atomic_load_explicit(&e->st_peak, memory_order_relaxed))
        atomic_store_explicit(&e->st_peak, active, memory_order_relaxed);
}

/* The KEY_OFF label of a note-off (key -1: all notes off on the channel). */
static void label_key_off(eng_engine *e, int32_t c, int key, uint64_t now)
{
    eng_label l;
    memset(&l, 0, sizeof l);
    l.kind = ENG_LABEL_KEY_OFF;
    l.frame = now;
    l.channel = c;
    l.key = (int16_t)key;
    eng_label_push(e, &l);
}

static void note_off(eng_engine *e, int32_t c, int key, uint64_t now)
{
    eng_channel *ch = &e->chan[c];
    if (eng_labels_on(e))
        label_key_off(e, c, key, now);
    for (int32_t i = 0; i < e->n_act; i++) {
        eng_voice *v = &e->voices[e->act[i]];
        if (v->channel != c || v->key != key || !v->note_on || v->sustained || v->fading)
            continue;
        if (v->sostenuto) {
            v->sost_off = 1;
            continue;
        }
        if (ch->sustain) {
            v->sustained = 1;
            continue;
        }
        eng_voice_release(e, v, now);
    }
}

static void sustain_pedal(eng_engine *e, int32_t c, int down, uint64_t now)
{
    eng_channel *ch = &e->chan[c];
    if (down) {
        ch->sustain = 1;
        return;
    }
    ch->sustain = 0;
    for (int32_t i = 0; i < e->n_act; i++) {
        eng_voice *v = &e->voices[e->act[i]];
        if (v->channel == c && v->sustained && !v->sostenuto)
            eng_voice_release(e, v, now);
    }
}

static void sostenuto_pedal(eng_engine *e, int32_t c, int down, uint64_t now)
{
    eng_channel *ch = &e->chan[c];
    if (down) {
        if (!ch->sostenuto)
            for (int32_t i = 0; i < e->n_act; i++) {
                eng_voice *v = &e->voices[e->act[i]];
                if (v->channel == c && v->note_on && !v->sustained && !v->fading)
                    v->sostenuto = 1;
            }
        ch->sostenuto = 1;
        return;
    }
    ch->sostenuto = 0;
    for (int32_t i = 0; i < e->n_act; i++) {
        eng_voice *v = &e->voices[e->act[i]];
        if (v->channel != c || !v->sostenuto)
            continue;
        v->sostenuto = 0;
        if (v->sost_off) {
            v->sost_off = 0;
            if (ch->sustain)
                v->sustained = 1;
            else
                eng_voice_release(e, v, now);
        }
    }
}

static void all_notes_off(eng_engine *e, int32_t c, uint64_t now)
{
    eng_channel *ch = &e->chan[c];
    if (eng_labels_on(e))
        label_key_off(e, c, -1, now);
    for (int32_t i = 0; i < e->n_act; i++) {
        eng_voice *v = &e->voices[e->act[i]];
        if (v->channel != c || !v->note_on || v->fading)
            continue;
        v->sostenuto = 0;
        v->sost_off = 0;
        if (ch->sustain)
            v->sustained = 1;
        else
            eng_voice_release(e, v, now);
    }
}

static void all_sound_off(eng_engine *e, int32_t c, uint64_t now)
{
    for (int32_t i = 0; i < e->n_act; i++) {
        eng_voice *v = &e->voices[e->act[i]];
        if ((c < 0 || v->channel == c) && !v->fading) {
            v->end_reason = ENG_END_SOUND_OFF;
            voice_fade(e, v, now);
        }
    }
}

static void control(eng_engine *e, int32_t c, int cc, int val, uint64_t now)
{
    eng_channel *ch = &e->chan[c];
    switch (cc) {
    case 64:
        ch->cc[64] = (uint8_t)val;
        sustain_pedal(e, c, val >= 64, now);
        return;
    case 66:
        ch->cc[66] = (uint8_t)val;
        sostenuto_pedal(e, c, val >= 64, now);
        return;
    case 67:
        ch->cc[67] = (uint8_t)val;
        ch->soft = val >= 64;
        return;
    case 120:
        all_sound_off(e, c, now);
        return;
    case 121: /* reset all controllers (RP-015) */
        ch->bend = 8192;
        ch->chp = 0;
        memset(ch->poly, 0, sizeof ch->poly);
        ch->cc[1] = 0;
        ch->cc[11] = 127;
        ch->cc[67] = 0;
        ch->soft = 0;
        ch->version++;
        if (ch->sustain) {
            ch->cc[64] = 0;
            sustain_pedal(e, c, 0, now);
        }
        if (ch->sostenuto) {
            ch->cc[66] = 0;
            sostenuto_pedal(e, c, 0, now);
        }
        replan_channel(e, c, now);
        return;
    case 123:
    case 124:
    case 125:
    case 126:
    case 127:
        all_notes_off(e, c, now);
        return;
    default:
        break;
    }
    if (ch->cc[cc] != (uint8_t)val) {
        ch->cc[cc] = (uint8_t)val;
        ch->version++;
        replan_channel(e, c, now);
    }
}

static void unload_instrument(eng_engine *e, int32_t id, uint64_t now)
{
    if (id < 0 || id >= e->max_instruments)
        return;
    eng_instrument *ins = atomic_load_explicit(&e->ins_table[id], memory_order_acquire);
    if (!ins || ins->dead)
        return;
    ins->dead = 1;
    for (int32_t c = 0; c < e->n_channels; c++)
        if (e->chan[c].ins == ins)
            e->chan[c].ins = NULL;
    for (int32_t i = 0; i < e->n_act; i++) {
        eng_voice *v = &e->voices[e->act[i]];
        if (v->ins == ins && !v->fading) {
            v->end_reason = ENG_END_SOUND_OFF;
            voice_fade(e, v, now);
        }
    }
    if (!ins->pending) {
        ins->pending = 1;
        e->unloading[e->n_unloading++] = ins;
    }
}

static void reset_all(eng_engine *e, uint64_t now)
{
    all_sound_off(e, -1, now);
    for (int32_t c = 0; c < e->n_channels; c++)
        channel_defaults(&e->chan[c], c);
    e->master_volume = 1.0f;
}

void eng_apply_now(eng_engine *e, const eng_event *ev, uint64_t now)
{
    if (ev->type >= ENG_EV_MIDI && ev->type <= ENG_EV_RESELECT) {
        mid_apply(e, e->midi, ev, now);
        return;
    }
    int32_t c = ev->channel;
    int need_channel = ev->type != ENG_EV_MASTER_VOLUME && ev->type != ENG_EV_RESET_ALL &&
                       ev->type != ENG_EV_UNLOAD_INSTRUMENT;
    if (need_channel && (c < 0 || c >= e->n_channels))
        return;
    switch (ev->type) {
    case ENG_EV_NOTE_ON:
        if (ev->a < 0 || ev->a > 127 || ev->b < 0 || ev->b > 127)
            return;
        if (ev->b == 0)
            note_off(e, c, ev->a, now);
        else
            note_on(e, c, ev->a, ev->b, now);
        break;
    case ENG_EV_NOTE_OFF:
        if (ev->a >= 0 && ev->a <= 127)
            note_off(e, c, ev->a, now);
        break;
    case ENG_EV_CONTROL:
        if (ev->a >= 0 && ev->a <= 127 && ev->b >= 0 && ev->b <= 127)
            control(e, c, ev->a, ev->b, now);
        break;
    case ENG_EV_PITCH_BEND:
        if (ev->a >= 0 && ev->a <= 16383 && e->chan[c].bend != ev->a) {
            e->chan[c].bend = (uint16_t)ev->a;
            e->chan[c].version++;
            replan_channel(e, c, now);
        }
        break;
    case ENG_EV_CHANNEL_PRESSURE:
        if (ev->a >= 0 && ev->a <= 127 && e->chan[c].chp != ev->a) {
            e->chan[c].chp = (uint8_t)ev->a;
            e->chan[c].version++;
            replan_channel(e, c, now);
        }
        break;
    case ENG_EV_POLY_PRESSURE:
        if (ev->a >= 0 && ev->a <= 127 && ev->b >= 0 && ev->b <= 127) {
            e->chan[c].poly[ev->a] = (uint8_t)ev->b;
            e->chan[c].version++;
            replan_channel(e, c, now);
        }
        break;
    case ENG_EV_PROGRAM: {
        eng_instrument *ins = NULL;
        if (ev->a >= 0 && ev->a < e->max_instruments) {
            ins = atomic_load_explicit(&e->ins_table[ev->a], memory_order_acquire);
            if (ins && ins->dead)
                ins = NULL;
        }
        e->chan[c].ins = ins;
        break;
    }
    case ENG_EV_PARAM: {
        eng_channel *ch = &e->chan[c];
        switch (ev->a) {
        case ENG_PARAM_BEND_RANGE:
            ch->bend_range = (float)(ev->b < 0 ? 0 : (ev->b > 12700 ? 12700 : ev->b));
            break;
        case ENG_PARAM_FINE_TUNE:
            ch->fine = (float)(ev->b < -100 ? -100 : (ev->b > 100 ? 100 : ev->b));
            break;
        case ENG_PARAM_COARSE_TUNE:
            ch->coarse = (float)(ev->b < -64 ? -64 : (ev->b > 63 ? 63 : ev->b));
            break;
        case ENG_PARAM_PRIORITY:
            ch->priority = (uint32_t)ev->b;
            return;
        default:
            return;
        }
        ch->version++;
        replan_channel(e, c, now);
        break;
    }
    case ENG_EV_MASTER_VOLUME: {
        double mb = ev->a > 0 ? 0.0 : (double)ev->a;
        e->master_volume = mb < -12000.0 ? 0.0f : (float)pow(10.0, mb / 2000.0);
        break;
    }
    case ENG_EV_RESET_ALL:
        reset_all(e, now);
        break;
    case ENG_EV_UNLOAD_INSTRUMENT:
        unload_instrument(e, ev->a, now);
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------------------------------
 * Render
 * ------------------------------------------------------------------------------------- */

static void apply_fx_mail(eng_engine *e)
{
    eng_fxmail *m = &e->fxmail;
    unsigned v1 = atomic_load_explicit(&m->version, memory_order_acquire);
    if (v1 == e->fx_seen || (v1 & 1u))
        return;
    double room = m->room, damping = m->damping, width = m->width, level = m->level;
    int32_t cv = m->cvoices, ct = m->ctype;
    double cl = m->clevel, sp = m->speed, dp = m->depth;
    int32_t rs = m->reverb_set, cs = m->chorus_set;
    atomic_thread_fence(memory_order_acquire);
    unsigned v2 = atomic_load_explicit(&m->version, memory_order_relaxed);
    if (v1 != v2)
        return; /* written meanwhile: take it next block */
    e->fx_seen = v1;
    if (rs)
        fx_reverb_set(e->reverb, room, damping, width, level);
    if (cs)
        fx_chorus_set(e->chorus, cv, cl, sp, dp, ct);
}

static void finish_unloads(eng_engine *e)
{
    for (int32_t i = 0; i < e->n_unloading;) {
        eng_instrument *ins = e->unloading[i];
        if (ins->voices == 0) {
            uint32_t head = atomic_load_explicit(&e->fin_head, memory_order_relaxed);
            uint32_t tail = atomic_load_explicit(&e->fin_tail, memory_order_acquire);
            if (head - tail > e->fin_mask)
                break; /* the producer has not polled: try again next block */
            e->fin[head & e->fin_mask] = ins->id;
            atomic_store_explicit(&ins->finished, 1, memory_order_release);
            atomic_store_explicit(&e->fin_head, head + 1, memory_order_release);
            e->unloading[i] = e->unloading[--e->n_unloading];
        } else {
            i++;
        }
    }
}

/* A voice the free pass after the segment ending at `end` will remove. */
static inline int voice_ends(const eng_voice *v, uint64_t end)
{
    return v->state == PS_DONE || (v->end_at && v->end_at <= end);
}

/* Free the voices that have ended by `at`, the end of the last segment rendered (the
   groups' masks say which: reading them, not the voices, keeps the voices in the cache of
   the core that renders them). This runs only where the active list must be the same
   whatever the block sizes: after a segment that ends on a control tick, and before the
   events due at a frame. In between, a voice that ended inside a segment stays in the list
   (and mixes silence, or its filter's ringing) until the next of those; so the mix groups,
   made of consecutive entries of the list, are the same for every block size. Between
   two passes with no segment rendered nothing can have ended. */
static void free_ended(eng_engine *e, uint64_t at)
{
    int32_t freed = 0;
    for (int32_t g = 0; g < e->gmask_groups; g++) {
        uint32_t bits = e->gmask[g].bits;
        for (int32_t k = 0; bits; k++, bits >>= 1)
            if (bits & 1u) {
                voice_free(e, g * ENG_GROUP + k - freed, at);
                freed++;
            }
    }
    e->gmask_groups = 0;
}

/* One mix group: interpolate its voices into the thread's scratch rows, run their filters
   (up to eight lanes at a time), mix them in the active list's order into the group's bus
   rows, note which have ended, and, when the segment ends on a control tick, plan there
   each voice that goes on (the control tick's plan, made before any event at the tick is
   applied, as the tick comes first). */
static void render_group(eng_engine *e, float *tmp, const eng_job *j, int32_t g)
{
    eng_voice *pend[ENG_PEND_VOICES];
    eng_fjob jobs[8];
    int np = 0, nj = 0;
    int32_t n = j->n;
    uint64_t at = j->at;
    float *bus = e->gbuf + ((size_t)j->par * (size_t)e->max_groups + (size_t)g) * ENG_BUS_FLOATS;
    float *bl = bus, *br = bus + ENG_CTRL;
    float *brev = j->sends ? bus + 2 * ENG_CTRL : NULL, *bcho = j->sends ? bus + 3 * ENG_CTRL : NULL;
    memset(bl, 0, sizeof(float) * (size_t)n);
    memset(br, 0, sizeof(float) * (size_t)n);
    uint32_t sends = 0; /* the send rows this group has written (zeroed on first use) */
    float *dummy = tmp + 2 * ENG_PEND_VOICES * ENG_ROW;
    int32_t first = g * ENG_GROUP, last = first + ENG_GROUP < e->n_act ? first + ENG_GROUP : e->n_act;
    uint32_t ended = 0;
    for (int32_t i = first; i <= last; i++) {
        eng_voice *v = i < last ? &e->voices[e->act[i]] : NULL;
        int lanes = v && v->filter ? v->nch : 0;
        if (!v || np == ENG_PEND_VOICES || nj + lanes > 8) {
            if (nj)
                eng_filter_jobs(jobs, nj, n, dummy);
            for (int k = 0; k < np; k++) {
                eng_voice *p = pend[k];
                float *vrev = NULL, *vcho = NULL;
                if (j->sends) {
                    if (p->g0[2] != 0.0f || p->dg[2] != 0.0f) {
                        if (!(sends & ENG_SEND_REV))
                            memset(brev, 0, sizeof(float) * (size_t)n);
                        sends |= ENG_SEND_REV;
                        vrev = brev;
                    }
                    if (p->g0[3] != 0.0f || p->dg[3] != 0.0f) {
                        if (!(sends & ENG_SEND_CHO))
                            memset(bcho, 0, sizeof(float) * (size_t)n);
                        sends |= ENG_SEND_CHO;
                        vcho = bcho;
                    }
                }
                eng_voice_mix(p, at, n, tmp + (2 * k) * ENG_ROW, tmp + (2 * k + 1) * ENG_ROW, bl, br, vrev, vcho);
                if (j->stems) {
                    /* the voice's dry output again, alone, into its entry's row: rows start
                       at -0.0, which adds nothing (-0 + x is x, signed zeros included) */
                    float *row = eng_stem_row(e, j->par, i - np + k);
                    for (int32_t f = 0; f < n; f++)
                        row[f] = row[ENG_CTRL + f] = -0.0f;
                    eng_voice_mix(p, at, n, tmp + (2 * k) * ENG_ROW, tmp + (2 * k + 1) * ENG_ROW, row,
                                  row + ENG_CTRL, NULL, NULL);
                }
                if (voice_ends(p, j->end))
                    ended |= 1u << (i - np + k - first);
            }
            np = nj = 0;
            if (!v)
                break;
        }
        float *t0 = tmp + (2 * np) * ENG_ROW, *t1 = tmp + (2 * np + 1) * ENG_ROW;
        eng_voice_interp(e, v, at, n, t0, t1);
        if (lanes) {
            float k0 = (float)(int64_t)(at - v->r0);
            for (int c = 0; c < lanes; c++) {
                eng_fjob *fj = &jobs[nj++];
                fj->x = c ? t1 : t0;
                fj->st = v->fx[c];
                fj->c = v->c0;
                fj->dc = v->dc;
                fj->k0 = k0;
                fj->ramp = v->coef_ramp;
            }
        }
        pend[np++] = v;
    }
    if (j->tick)
        for (int32_t i = first; i < last; i++) {
            eng_voice *v = &e->voices[e->act[i]];
            if (!(ended >> (i - first) & 1u) && v->ramp_end <= j->tick)
                eng_voice_plan(e, v, j->tick, j->tick + ENG_CTRL);
        }
    e->gmask[g].bits = ended;
    memcpy(bus + 4 * ENG_CTRL, &sends, sizeof sends);
}

/* dst[i] = the groups' rows at `offset` summed in group order (first + second + third
   ...), for i < len (the left and right rows at once: len = 2 * ENG_CTRL; the frames past a
   segment's end are stale and unused). With `send` (ENG_SEND_*), only the groups that wrote
   that row (the others' are zero). */
static void sum_groups(float *restrict dst, const float *restrict groups, size_t offset, int32_t n_groups,
                       int32_t len, uint32_t send)
{
    int first = 1;
    for (int32_t g = 0; g < n_groups; g++) {
        const float *base = groups + (size_t)g * ENG_BUS_FLOATS;
        if (send) {
            uint32_t wrote;
            memcpy(&wrote, base + 4 * ENG_CTRL, sizeof wrote);
            if (!(wrote & send))
                continue;
        }
        const float *r = base + offset;
        if (first) {
            memcpy(dst, r, sizeof(float) * (size_t)len);
            first = 0;
        } else {
            for (int32_t i = 0; i < len; i++)
                dst[i] += r[i];
        }
    }
    if (first)
        memset(dst, 0, sizeof(float) * (size_t)len);
}

/* The rest of a segment once its groups are mixed: the buses, the effects, the output. */
static void finish_segment(eng_engine *e, const eng_finish *f)
{
    int32_t n = f->n;
    float *mix_l = e->mix, *mix_r = e->mix + ENG_CTRL, *mix_rev = e->mix + 2 * ENG_CTRL,
          *mix_cho = e->mix + 3 * ENG_CTRL;
    const float *groups = e->gbuf + (size_t)f->par * (size_t)e->max_groups * ENG_BUS_FLOATS;
    if (n > ENG_CTRL / 2) {
        sum_groups(mix_l, groups, 0, f->n_groups, 2 * ENG_CTRL, 0);
    } else {
        sum_groups(mix_l, groups, 0, f->n_groups, n, 0);
        sum_groups(mix_r, groups, ENG_CTRL, f->n_groups, n, 0);
    }
    const float *wet = NULL;
    if (f->fx_on) {
        sum_groups(mix_rev, groups, 2 * ENG_CTRL, f->n_groups, n, ENG_SEND_REV);
        sum_groups(mix_cho, groups, 3 * ENG_CTRL, f->n_groups, n, ENG_SEND_CHO);
        if (f->stem_out) {
            /* The effects' return apart (stem 0): each unit adds into rows of -0.0 (which
               then hold exactly what it would have added), then those are added to the
               mix in the same order as without stems: the same mix, bit for bit. */
            float *w = e->stem_wet;
            for (int32_t i = 0; i < 4 * ENG_CTRL; i++)
                w[i] = -0.0f;
            fx_reverb_process(e->reverb, mix_rev, w, w + ENG_CTRL, (size_t)n);
            fx_chorus_process(e->chorus, mix_cho, w + 2 * ENG_CTRL, w + 3 * ENG_CTRL, (size_t)n);
            for (int32_t i = 0; i < n; i++) {
                mix_l[i] += w[i];
                mix_r[i] += w[ENG_CTRL + i];
            }
            for (int32_t i = 0; i < n; i++) {
                mix_l[i] += w[2 * ENG_CTRL + i];
                mix_r[i] += w[3 * ENG_CTRL + i];
            }
            wet = w;
        } else {
            fx_reverb_process(e->reverb, mix_rev, mix_l, mix_r, (size_t)n);
            fx_chorus_process(e->chorus, mix_cho, mix_l, mix_r, (size_t)n);
        }
    }
    if (f->stem_out)
        eng_stems_finish(e, f, wet);
    float g = f->gain;
    float *o = f->out;
    for (int32_t i = 0; i < n; i++) {
        o[2 * i] = mix_l[i] * g;
        o[2 * i + 1] = mix_r[i] * g;
    }
}

static void run_item(void *ctx, int32_t worker, int32_t item)
{
    eng_engine *e = ctx;
    const eng_job *j = &e->job;
    if (j->has_finish) {
        if (item == 0) {
            finish_segment(e, &j->finish);
            return;
        }
        item--;
    }
    render_group(e, e->tmp + (size_t)worker * ENG_TMP_FLOATS, j, item);
}



static void run_job(eng_engine *e)
{
    const eng_job *j = &e->job;
    int32_t items = j->n_groups + (j->has_finish ? 1 : 0);
    if (e->pool && items >= 2) {
        int32_t work = j->n * e->n_act;
        if (j->has_finish)
            work += j->finish.n * (j->finish.fx_on ? ENG_FX_VOICES : 1);
        if (work >= e->par_min_work && (e->par_strict || eng_pool_ready(e->pool))) {
            atomic_store_explicit(&e->st_parallel, atomic_load_explicit(&e->st_parallel, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
            /* the shares by expected work: a group counts as its voices, the finish as
               fin_weight voices (the render thread's share holds it) */
            int32_t bounds[ENG_MAX_THREADS + 1];
            int32_t threads = e->n_threads;
            int32_t *fw = &e->fin_weight[j->finish.fx_on ? 1 : 0];
            int32_t fin = j->has_finish ? *fw : 0;
            int32_t total = fin + e->n_act, i = 0, acc = 0;
            bounds[0] = 0;
            for (int32_t t = 1; t < threads; t++) {
                int32_t target = (int32_t)((int64_t)total * t / threads);
                while (i < items && acc < target) {
                    int32_t g = j->has_finish ? i - 1 : i;
                    acc += g < 0 ? fin : (g == j->n_groups - 1 ? e->n_act - g * ENG_GROUP : ENG_GROUP);
                    i++;
                }
                bounds[t] = i;
            }
            bounds[threads] = items;
            eng_pool_run(e->pool, items, bounds, e->par_strict);
            if (j->has_finish) {
                /* others ran part of the render thread's share: it weighs the finish too
                   lightly; it ran part of theirs: too heavily (steps of a voice) */
                int32_t mine = eng_pool_stolen(e->pool, 0), theirs = 0;
                for (int32_t t = 1; t < threads; t++)
                    theirs += eng_pool_stolen(e->pool, t);
                if (mine > theirs && *fw < ENG_FIN_WEIGHT_MAX)
                    (*fw)++;
                else if (theirs > mine && *fw > 0)
                    (*fw)--;
            }
            return;
        }
    }
    for (int32_t i = 0; i < items; i++)
        run_item(e, 0, i);
}

int32_t eng_set_threads(eng_engine *e, int32_t threads)
{
    if (!e)
        return ENG_ERR_ARG;
    if (threads < 1)
        threads = 1;
    if (threads > ENG_MAX_THREADS)
        threads = ENG_MAX_THREADS;
    if (threads == e->n_threads)
        return threads;
    eng_pool_destroy(e->pool);
    e->pool = NULL;
    e->n_threads = 1;
    float *tmp = calloc_lines((size_t)threads * ENG_TMP_FLOATS, sizeof(float));
    if (!tmp)
        return ENG_ERR_NOMEM;
    free(e->tmp);
    e->tmp = tmp;
    if (threads == 1)
        return 1;
    e->pool = eng_pool_create(threads, run_item, e);
    if (!e->pool)
        return 1; /* no threads here (or none could start): one thread renders */
    e->n_threads = threads;
    return threads;
}

int32_t eng_threads(const eng_engine *e) { return e->n_threads; }

void eng_set_sharing(eng_engine *e, int32_t min_work, int32_t strict)
{
    if (!e)
        return;
    e->par_min_work = min_work < 0 ? 0 : min_work;
    e->par_strict = strict != 0;
}

void eng_render(eng_engine *e, float *out, int32_t frames)
{
    if (!e || !out || frames <= 0)
        return;
#ifdef ENG_HAVE_MXCSR
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* flush denormals to zero, denormal inputs are zero */
#endif
    drain_ring(e);
    apply_fx_mail(e);
    if (e->pool && e->n_act > 0)
        eng_pool_wake(e->pool);
    int fx_on = atomic_load_explicit(&e->effects_on, memory_order_relaxed);
    if (fx_on && !e->fx_seen_on) {
        fx_reverb_reset(e->reverb);
        fx_chorus_reset(e->chorus);
    }
    e->fx_seen_on = fx_on;
    float gain = atomic_load_explicit(&e->master_gain, memory_order_relaxed);
    uint64_t start = e->pos, end = e->pos + (uint64_t)frames;
    uint64_t pos = start;
    uint64_t late = 0;
    eng_job *j = &e->job;
    j->has_finish = 0;
    int stems = eng_stems_on(e) && frames <= e->stem_frames;
    int32_t stems_before = e->n_stems;
    while (pos < end) {
        /* The control tick first (the mix groups planned the voices that go on at the tick
           the segment before ended on: every segment ends at a tick or before one, and the
           first starts with no voices), then the events due now. */
        if (e->heap_n > 0 && e->heap[0].time <= pos)
            free_ended(e, pos);
        while (e->heap_n > 0 && e->heap[0].time <= pos) {
            eng_pending p = heap_pop(e);
            if (p.time < start)
                late++;
            eng_apply_now(e, &p.ev, pos);
        }
        uint64_t seg_end = (pos / ENG_CTRL + 1) * ENG_CTRL;
        if (seg_end > end)
            seg_end = end;
        if (e->heap_n > 0 && e->heap[0].time < seg_end)
            seg_end = e->heap[0].time;
        int32_t n = (int32_t)(seg_end - pos);
        /* this segment's groups, with the finish of the one before */
        e->gpar ^= 1;
        j->at = pos;
        j->end = seg_end;
        j->tick = seg_end % ENG_CTRL == 0 ? seg_end : 0;
        j->n = n;
        j->n_groups = (e->n_act + ENG_GROUP - 1) / ENG_GROUP;
        j->par = e->gpar;
        j->sends = fx_on;
        j->stems = stems;
        if (stems)
            for (int32_t i = 0; i < e->n_act; i++)
                e->stem_of[(size_t)j->par * (size_t)e->n_slots + (size_t)i] = e->voices[e->act[i]].stem;
        int32_t entries = e->n_act;
        run_job(e);
        e->gmask_groups = j->n_groups;
        if (j->tick)
            free_ended(e, seg_end);
        j->finish.out = out + 2 * (pos - start);
        j->finish.n = n;
        j->finish.n_groups = j->n_groups;
        j->finish.par = j->par;
        j->finish.fx_on = fx_on;
        j->finish.gain = gain * e->master_volume;
        j->finish.n_entries = entries;
        j->finish.n_stems = e->n_stems;
        j->finish.stem_out = stems ? e->stem_out + 2 * (pos - start) : NULL;
        j->has_finish = 1;
        pos = seg_end;
    }
    if (j->has_finish)
        finish_segment(e, &j->finish);
    j->has_finish = 0;
    if (stems)
        eng_stems_zero_new(e, start, stems_before);
    e->pos = end;
    finish_unloads(e);
    drain_ring(e);
    if (late)
        atomic_fetch_add_explicit(&e->st_late, late, memory_order_relaxed);
    atomic_store_explicit(&e->st_pos, end, memory_order_relaxed);
    uint32_t active = (uint32_t)e->n_act; /* not counting voices that ended and wait for the
                                             next free pass (the last segment's masks) */
    for (int32_t g = 0; g < e->gmask_groups; g++)
        for (uint32_t bits = e->gmask[g].bits; bits; bits &= bits - 1)
            active--;
    atomic_store_explicit(&e->st_active, active, memory_order_relaxed);
    if (active > atomic_load_explicit(&e->st_peak, memory_order_relaxed))
        atomic_store_explicit(&e->st_peak, active, memory_order_relaxed);
#ifdef ENG_HAVE_MXCSR
    _mm_setcsr(csr);
#endif
}

uint64_t eng_position(const eng_engine *e)
{
    return atomic_load_explicit(&((eng_engine *)e)->st_pos, memory_order_relaxed);
}

void eng_get_stats(const eng_engine *e, eng_stats *s)
{
    eng_engine *m = (eng_engine *)e;
    s->position = atomic_load_explicit(&m->st_pos, memory_order_relaxed);
    s->voices_active = atomic_load_explicit(&m->st_active, memory_order_relaxed);
    s->peak_voices = atomic_load_explicit(&m->st_peak, memory_order_relaxed);
    s->late_events = atomic_load_explicit(&m->st_late, memory_order_relaxed);
    s->stolen_voices = atomic_load_explicit(&m->st_stolen, memory_order_relaxed);
    s->dropped_events = atomic_load_explicit(&m->st_dropped, memory_order_relaxed);
    s->dropped_notes = atomic_load_explicit(&m->st_lost, memory_order_relaxed);
    s->instruments = atomic_load_explicit(&m->st_instruments, memory_order_relaxed);
    s->waves = atomic_load_explicit(&m->st_waves, memory_order_relaxed);
    s->sample_bytes = atomic_load_explicit(&m->st_bytes, memory_order_relaxed);
    s->midi_events = atomic_load_explicit(&m->midi->st_midi, memory_order_relaxed);
    s->malformed_midi = atomic_load_explicit(&m->midi->st_malformed, memory_order_relaxed);
    s->dropped_group = atomic_load_explicit(&m->midi->st_dropped_group, memory_order_relaxed);
    s->ignored_sysex = atomic_load_explicit(&m->st_ignored_sysex, memory_order_relaxed);
    s->reports_lost = atomic_load_explicit(&m->midi->st_reports_lost, memory_order_relaxed);
    s->parallel_segments = atomic_load_explicit(&m->st_parallel, memory_order_relaxed);
    s->worker_items = m->pool ? eng_pool_worker_items(m->pool) : 0;
}

/* ---------------------------------------------------------------------------------------
 * Settings from the producer
 * ------------------------------------------------------------------------------------- */

void eng_set_effects(eng_engine *e, int32_t on)
{
    atomic_store_explicit(&e->effects_on, on ? 1 : 0, memory_order_relaxed);
}

void eng_set_master_gain(eng_engine *e, float gain)
{
    if (!(gain >= 0.0f) || !isfinite(gain))
        gain = 0.0f;
    atomic_store_explicit(&e->master_gain, gain, memory_order_relaxed);
}

static void mail_begin(eng_fxmail *m)
{
    unsigned v = atomic_load_explicit(&m->version, memory_order_relaxed);
    atomic_store_explicit(&m->version, v + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static void mail_end(eng_fxmail *m)
{
    unsigned v = atomic_load_explicit(&m->version, memory_order_relaxed);
    atomic_store_explicit(&m->version, v + 1, memory_order_release);
}

void eng_set_reverb(eng_engine *e, double room_size, double damping, double width, double level)
{
    eng_fxmail *m = &e->fxmail;
    mail_begin(m);
    m->room = room_size;
    m->damping = damping;
    m->width = width;
    m->level = level;
    m->reverb_set = 1;
    mail_end(m);
}

void eng_set_chorus(eng_engine *e, int32_t voices, double level, double speed_hz, double depth_ms, int32_t type)
{
    eng_fxmail *m = &e->fxmail;
    mail_begin(m);
    m->cvoices = voices;
    m->clevel = level;
    m->speed = speed_hz;
    m->depth = depth_ms;
    m->ctype = type;
    m->chorus_set = 1;
    mail_end(m);
}
