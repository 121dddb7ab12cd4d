/*
 * dlsynth voice engine: creation and teardown of the engine object, and the render threads'
 * setup (how many, how runs are shared out).
 *
 * Thread: the producer (the Python side, serialised by the wrapper's lock), never while
 * eng_render runs. Everything eng_render touches is allocated here or by the downloads.
 */
#include "eng_internal.h"
#include "eng_workers.h"
#include "zeroed.h"

#include <stdlib.h>
#include <string.h>

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

/* The arguments eng_create takes (engine.h's limits). */
static int create_args_ok(int32_t sample_rate, int32_t max_voices, int32_t channels, int32_t interpolation,
                          int32_t max_instruments, int32_t max_waves)
{
    return !(sample_rate < ENG_RATE_MIN || sample_rate > ENG_RATE_MAX || max_voices < 1 ||
             max_voices > ENG_VOICES_MAX || channels < 1 || channels > ENG_CHANNELS_MAX || interpolation < 0 ||
             interpolation > 2 || max_instruments < 1 || max_instruments > (1 << 20) || max_waves < 1 ||
             max_waves > (1 << 22));
}

/* Everything the engine allocates up front, sized from its limits (set already); a failed
   allocation leaves its pointer NULL (buffers_ok). The tables sized for the limits are
   zeroed_alloc's untouched pages (zeroed.h): a slot costs memory once it is written, and a
   zero instrument-table entry is a NULL pointer. */
static void alloc_buffers(eng_engine *e, int32_t event_capacity)
{
    uint32_t cap = pow2_at_least(event_capacity < 256 ? 256u : (uint32_t)event_capacity);
    e->ring = zeroed_alloc(cap, sizeof *e->ring);
    e->ring_mask = cap - 1;
    e->heap_cap = (int32_t)cap;
    e->heap = zeroed_alloc(cap, sizeof *e->heap);
    uint32_t fcap = pow2_at_least((uint32_t)e->max_instruments + 1);
    e->fin = zeroed_alloc(fcap, sizeof *e->fin);
    e->fin_mask = fcap - 1;
    e->chan = calloc((size_t)e->n_channels, sizeof *e->chan);
    e->voices = zeroed_alloc((size_t)e->n_slots, sizeof *e->voices);
    e->act = calloc((size_t)e->n_slots, sizeof *e->act);
    e->free_list = calloc((size_t)e->n_slots, sizeof *e->free_list);
    e->unloading = zeroed_alloc((size_t)e->max_instruments, sizeof *e->unloading);
    e->mix = calloc(6 * ENG_RUN, sizeof(float));
    e->tmp = calloc_lines(ENG_TMP_FLOATS, sizeof(float));
    e->max_groups = (e->n_slots + ENG_GROUP - 1) / ENG_GROUP;
    e->gbuf = zeroed_alloc(2 * (size_t)e->max_groups * ENG_BUS_FLOATS, sizeof(float));
    e->gmask = calloc_lines((size_t)e->max_groups, sizeof *e->gmask);
    e->sinc_mem = malloc(sizeof(float) * ENG_SINC_PHASES * ENG_SINC_TAPS);
    e->ins_table = zeroed_alloc((size_t)e->max_instruments, sizeof *e->ins_table);
    e->wave_table = zeroed_alloc((size_t)e->max_waves, sizeof *e->wave_table);
    eng_connlists_init(e);
    e->reverb = fx_reverb_new((double)e->rate);
    e->chorus = fx_chorus_new((double)e->rate);
    e->midi = mid_create(e->n_channels);
}

static int buffers_ok(const eng_engine *e)
{
    return e->midi && e->ring && e->heap && e->fin && e->chan && e->voices && e->act && e->free_list &&
           e->unloading && e->mix && e->tmp && e->gbuf && e->gmask && e->sinc_mem && e->ins_table &&
           e->wave_table && e->conn_lists && e->reverb && e->chorus;
}

/* The state a new engine starts in: one render thread, the sinc table, default channels,
   every voice slot free, unity volume and gain, effects on, no instruments. */
static void init_state(eng_engine *e)
{
    e->n_threads = 1;
    e->par_min_work = 1024;
    e->fin_weight[0] = 2;
    e->fin_weight[1] = ENG_FX_VOICES;
    eng_sinc_table(e->sinc_mem);
    e->simd = eng_simd_default();
    fx_reverb_set_avx2(e->reverb, e->simd >= ENG_SIMD_AVX2);
    fx_chorus_set_avx2(e->chorus, e->simd >= ENG_SIMD_AVX2);
    e->sinc = e->sinc_mem;
    for (int32_t i = 0; i < e->n_channels; i++)
        eng_channel_defaults(&e->chan[i], i);
    for (int32_t i = 0; i < e->n_slots; i++)
        e->free_list[i] = e->n_slots - 1 - i;
    e->n_free = e->n_slots;
    e->master_volume = 1.0f;
    atomic_store(&e->master_gain, 1.0f);
    atomic_store(&e->effects_on, 1);
}

eng_engine *eng_create(int32_t sample_rate, int32_t max_voices, int32_t channels, int32_t interpolation,
                       int32_t event_capacity, int32_t max_instruments, int32_t max_waves)
{
    if (!create_args_ok(sample_rate, max_voices, channels, interpolation, max_instruments, max_waves))
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
    alloc_buffers(e, event_capacity);
    if (!buffers_ok(e)) {
        eng_destroy(e);
        return NULL;
    }
    init_state(e);
    return e;
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
            eng_instrument_free(e, atomic_load(&e->ins_table[i]));
    eng_connlists_free(e);
    if (e->wave_table)
        for (int32_t i = 0; i < e->max_waves; i++)
            eng_wave_free(e->wave_table[i]);
    if (e->reverb)
        fx_reverb_free(e->reverb);
    if (e->chorus)
        fx_chorus_free(e->chorus);
    mid_destroy(e->midi);
    zeroed_free(e->ring);
    zeroed_free(e->heap);
    zeroed_free(e->fin);
    free(e->chan);
    zeroed_free(e->voices);
    free(e->act);
    free(e->free_list);
    zeroed_free(e->unloading);
    free(e->mix);
    free(e->tmp);
    zeroed_free(e->gbuf);
    free(e->gmask);
    free(e->sinc_mem);
    zeroed_free((void *)e->ins_table);
    zeroed_free(e->wave_table);
    free(e);
}

int32_t eng_sample_rate(const eng_engine *e) { return e->rate; }
int32_t eng_max_voices(const eng_engine *e) { return e->max_voices; }
int32_t eng_channels(const eng_engine *e) { return e->n_channels; }

/* ---------------------------------------------------------------------------------------
 * Render threads
 * ------------------------------------------------------------------------------------- */

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
    e->pool = eng_pool_create(threads, eng_run_item, e);
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
