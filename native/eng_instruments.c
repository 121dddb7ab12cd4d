/*
 * dlsynth voice engine: instruments, the download side: compiled regions (their waves, loop
 * images and connection lists) published in the instrument slot table, and freed once the
 * render thread has finished with them (eng_poll_finished, native/eng_queue.c).
 *
 * Thread: the producer. The render thread reads a slot with an acquire load.
 */
#include "eng_internal.h"

#include <math.h>
#include <stdlib.h>

void eng_instrument_free(eng_instrument *ins)
{
    if (!ins)
        return;
    free(ins->regions);
    free(ins->conn_mem);
    free(ins->waves);
    free(ins);
}

/* The region descriptions name downloaded waves and channels (a two-channel region: waves
   of one rate) and connection slices inside conns: 0, or the ENG_ERR_* code. */
static int32_t validate_regions(const eng_engine *e, const eng_region_desc *regions, int32_t n_regions,
                                int32_t n_conns)
{
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
    return 0;
}

/* The index of the first region before region i naming the same connection slice, or i. */
static int32_t same_connections(const eng_region_desc *regions, int32_t i)
{
    int32_t j = 0;
    while (j < i && (regions[j].conn_offset != regions[i].conn_offset || regions[j].conn_count != regions[i].conn_count))
        j++;
    return j;
}

/* An instrument with room for its regions, their compiled connections and their waves
   (NULL: no memory). Regions naming the same connection slice (a bank converted from SF2
   repeats one articulation region after region) share one compiled list. */
static eng_instrument *instrument_alloc(int32_t id, const eng_region_desc *regions, int32_t n_regions)
{
    eng_instrument *ins = calloc(1, sizeof *ins);
    if (!ins)
        return NULL;
    ins->id = id;
    ins->n_regions = n_regions;
    ins->regions = calloc(n_regions ? (size_t)n_regions : 1, sizeof *ins->regions);
    size_t total = 0;
    for (int32_t i = 0; i < n_regions; i++)
        if (same_connections(regions, i) == i)
            total += (size_t)regions[i].conn_count;
    ins->conn_mem = calloc(total ? total : 1, sizeof *ins->conn_mem);
    ins->waves = calloc(n_regions ? 2 * (size_t)n_regions : 1, sizeof *ins->waves);
    if (!ins->regions || !ins->conn_mem || !ins->waves) {
        eng_instrument_free(ins);
        return NULL;
    }
    atomic_init(&ins->finished, 0);
    return ins;
}

/* The region's loop, clamped to the wave (anything unplayable plays without a loop), with
   its loop images: 0, or ENG_ERR_NOMEM. */
static int32_t region_loop(eng_engine *e, eng_region *r, const eng_region_desc *d, eng_wave *const *ws,
                           const int *wch)
{
    r->has_loop = 0;
    r->loop_type = ENG_LOOP_NONE;
    if (!((d->loop_type == ENG_LOOP_FORWARD || d->loop_type == ENG_LOOP_RELEASE) && d->loop_length > 0 &&
          (int64_t)d->loop_start < r->frames))
        return 0;
    int64_t end = (int64_t)d->loop_start + d->loop_length;
    if (end > r->frames)
        end = r->frames;
    if (end <= (int64_t)d->loop_start)
        return 0;
    eng_loopimg *l[2];
    for (int k = 0; k < 2; k++) {
        l[k] = eng_loop_image(e, ws[k], d->loop_start, (uint32_t)end);
        if (!l[k])
            return ENG_ERR_NOMEM;
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
    return 0;
}

/* Region i's compiled connections: those of an earlier region naming the same slice, or
   compiled into the instrument's memory at *used. */
static void region_connections(eng_instrument *ins, int32_t i, const eng_region_desc *regions, const eng_conn *conns,
                               size_t *used)
{
    const eng_region_desc *d = &regions[i];
    eng_region *r = &ins->regions[i];
    int32_t same = same_connections(regions, i);
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
        r->conn = ins->conn_mem + *used;
        eng_conn_compile(conns + d->conn_offset, d->conn_count, r->conn, &r->n_conn, &r->first_static,
                         &r->first_channel, &r->first_dynamic, &r->uses, &r->filter, &r->fc_base);
        *used += (size_t)d->conn_count;
    }
}

/* Region i of the instrument from its description: keys, velocities, wave buffers, tuning,
   loop and connections; its waves join the instrument's list. 0, or ENG_ERR_NOMEM. */
static int32_t region_make(eng_engine *e, eng_instrument *ins, int32_t i, const eng_region_desc *regions,
                           const eng_conn *conns, size_t *used)
{
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
    if (region_loop(e, r, d, ws, wch) < 0)
        return ENG_ERR_NOMEM;
    region_connections(ins, i, regions, conns, used);
    for (int k = 0; k < r->nch; k++) {
        int seen = 0;
        for (int32_t j = 0; j < ins->n_waves; j++)
            if (ins->waves[j] == ws[k])
                seen = 1;
        if (!seen)
            ins->waves[ins->n_waves++] = ws[k];
    }
    return 0;
}

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
    int32_t bad = validate_regions(e, regions, n_regions, n_conns);
    if (bad < 0)
        return bad;
    eng_instrument *ins = instrument_alloc(id, regions, n_regions);
    if (!ins)
        return ENG_ERR_NOMEM;
    size_t used = 0;
    for (int32_t i = 0; i < n_regions; i++) {
        if (region_make(e, ins, i, regions, conns, &used) < 0) {
            eng_instrument_free(ins);
            return ENG_ERR_NOMEM;
        }
    }
    /* the list had room for two waves a region: keep only what it holds */
    eng_wave **fit = realloc(ins->waves, (ins->n_waves ? (size_t)ins->n_waves : 1) * sizeof *fit);
    if (fit)
        ins->waves = fit;
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
    eng_instrument_free(ins);
    atomic_fetch_sub(&e->st_instruments, 1);
    return 0;
}
