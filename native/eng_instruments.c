/*
 * dlsynth voice engine: instruments, the download side: compiled regions (their waves, loop
 * images and connection lists) published in the instrument slot table, and freed once the
 * render thread has finished with them (eng_poll_finished, native/eng_queue.c). Compiled
 * connection lists are interned engine-wide: the regions of every instrument whose
 * articulations compile alike share one list (a GM bank from SF2: 250k connections, 170k
 * distinct).
 *
 * Thread: the producer. The render thread reads a slot with an acquire load.
 */
#include "eng_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --- interned connection lists ------------------------------------------------------ */

#define CONN_BUCKETS 8192u /* a GM bank converted from SF2 has about 5,000 distinct lists */

int eng_connlists_init(eng_engine *e)
{
    e->conn_lists = calloc(CONN_BUCKETS, sizeof *e->conn_lists);
    e->conn_mask = CONN_BUCKETS - 1;
    return e->conn_lists != NULL;
}

void eng_connlists_free(eng_engine *e)
{
    if (!e->conn_lists)
        return;
    for (uint32_t b = 0; b <= e->conn_mask; b++) {
        eng_connlist *l = e->conn_lists[b];
        while (l) { /* none is left once every instrument is freed; kept safe anyway */
            eng_connlist *next = l->next;
            free(l);
            l = next;
        }
    }
    free(e->conn_lists);
    e->conn_lists = NULL;
}

static size_t connlist_bytes(int32_t n) { return sizeof(eng_connlist) + (size_t)n * sizeof(eng_cconn); }

/* FNV-1a over bytes, continuing from h. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* l is the list (m, cc) hashing to hash: its fields and connections byte for byte (none
   of them has padding). */
static int connlist_is(const eng_connlist *l, uint64_t hash, const eng_conn_meta *m, const eng_cconn *cc)
{
    return l->hash == hash && memcmp(&l->m, m, sizeof *m) == 0 &&
           (m->n_conn == 0 || memcmp(l->conn, cc, (size_t)m->n_conn * sizeof *cc) == 0);
}

/* The engine's list equal to (m, cc), made (refs 0) when there is none yet; NULL: no memory. */
static eng_connlist *connlist_intern(eng_engine *e, const eng_cconn *cc, const eng_conn_meta *m)
{
    uint64_t h = fnv1a(0xcbf29ce484222325ull, m, sizeof *m);
    h = fnv1a(h, cc, (size_t)m->n_conn * sizeof *cc);
    eng_connlist **bucket = &e->conn_lists[h & e->conn_mask];
    for (eng_connlist *l = *bucket; l; l = l->next)
        if (connlist_is(l, h, m, cc))
            return l;
    eng_connlist *l = malloc(connlist_bytes(m->n_conn));
    if (!l)
        return NULL;
    l->hash = h;
    l->refs = 0;
    l->taken_by = 0;
    l->m = *m;
    if (m->n_conn)
        memcpy(l->conn, cc, (size_t)m->n_conn * sizeof *cc);
    l->next = *bucket;
    *bucket = l;
    atomic_fetch_add(&e->st_ins_bytes, (unsigned long long)connlist_bytes(l->m.n_conn));
    return l;
}

/* One holder fewer; the last one takes the list out of the table and frees it. */
static void connlist_release(eng_engine *e, eng_connlist *l)
{
    if (--l->refs > 0)
        return;
    eng_connlist **p = &e->conn_lists[l->hash & e->conn_mask];
    while (*p && *p != l)
        p = &(*p)->next;
    if (*p)
        *p = l->next;
    atomic_fetch_sub(&e->st_ins_bytes, (unsigned long long)connlist_bytes(l->m.n_conn));
    free(l);
}

/* --- instruments ---------------------------------------------------------------------- */

void eng_instrument_free(eng_engine *e, eng_instrument *ins)
{
    if (!ins)
        return;
    for (int32_t k = 0; k < ins->n_lists; k++)
        connlist_release(e, ins->lists[k]);
    if (ins->regions)
        atomic_fetch_sub(&e->st_ins_bytes, (unsigned long long)((size_t)ins->n_regions * sizeof *ins->regions));
    free(ins->regions);
    free(ins->lists);
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

/* 1 when region i names the same connection slice as the region before it (a bank from SF2
   repeats one articulation region after region): it shares that list without a compile. Any
   other region naming a slice seen before compiles it again and finds the same interned list:
   the check stays linear in the regions. */
static int same_as_previous(const eng_region_desc *regions, int32_t i)
{
    return i > 0 && regions[i - 1].conn_offset == regions[i].conn_offset &&
           regions[i - 1].conn_count == regions[i].conn_count;
}

/* An instrument with room for its regions, the connection lists they use and their waves
   (NULL: no memory). */
static eng_instrument *instrument_alloc(eng_engine *e, int32_t id, int32_t n_regions)
{
    eng_instrument *ins = calloc(1, sizeof *ins);
    if (!ins)
        return NULL;
    ins->id = id;
    ins->regions = calloc(n_regions ? (size_t)n_regions : 1, sizeof *ins->regions);
    if (ins->regions) {
        ins->n_regions = n_regions;
        atomic_fetch_add(&e->st_ins_bytes, (unsigned long long)((size_t)n_regions * sizeof *ins->regions));
    }
    ins->lists = calloc(n_regions ? (size_t)n_regions : 1, sizeof *ins->lists);
    ins->waves = calloc(n_regions ? 2 * (size_t)n_regions : 1, sizeof *ins->waves);
    if (!ins->regions || !ins->lists || !ins->waves) {
        eng_instrument_free(e, ins);
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

/* Region i's compiled connections: those of the region before if it names the same slice, or
   compiled (into scratch, room for the slice) and interned in the engine's table, the list
   joining the instrument's. 0, or ENG_ERR_NOMEM. */
static int32_t region_connections(eng_engine *e, eng_instrument *ins, int32_t i, const eng_region_desc *regions,
                                  const eng_conn *conns, eng_cconn *scratch)
{
    const eng_region_desc *d = &regions[i];
    eng_region *r = &ins->regions[i];
    if (same_as_previous(regions, i)) {
        r->cl = ins->regions[i - 1].cl;
        return 0;
    }
    eng_conn_meta m;
    eng_conn_compile(conns + d->conn_offset, d->conn_count, scratch, &m.n_conn, &m.first_static, &m.first_channel,
                     &m.first_dynamic, &m.uses, &m.filter, &m.fc_base);
    eng_connlist *l = connlist_intern(e, scratch, &m);
    if (!l)
        return ENG_ERR_NOMEM;
    if (l->taken_by != e->conn_download) { /* the first of this instrument's regions with it */
        l->taken_by = e->conn_download;
        ins->lists[ins->n_lists++] = l;
        l->refs++;
    }
    r->cl = l;
    return 0;
}

/* Region i of the instrument from its description: keys, velocities, wave buffers, tuning,
   loop and connections; its waves join the instrument's list. 0, or ENG_ERR_NOMEM. */
static int32_t region_make(eng_engine *e, eng_instrument *ins, int32_t i, const eng_region_desc *regions,
                           const eng_conn *conns, eng_cconn *scratch)
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
    if (region_connections(e, ins, i, regions, conns, scratch) < 0)
        return ENG_ERR_NOMEM;
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
    eng_instrument *ins = instrument_alloc(e, id, n_regions);
    int32_t longest = 1;
    for (int32_t i = 0; i < n_regions; i++)
        if (regions[i].conn_count > longest)
            longest = regions[i].conn_count;
    eng_cconn *scratch = malloc((size_t)longest * sizeof *scratch);
    if (!ins || !scratch) {
        free(scratch);
        eng_instrument_free(e, ins);
        return ENG_ERR_NOMEM;
    }
    if (++e->conn_download == 0) { /* wrapped, after 4 billion downloads: no list is taken */
        for (uint32_t b = 0; b <= e->conn_mask; b++)
            for (eng_connlist *l = e->conn_lists[b]; l; l = l->next)
                l->taken_by = 0;
        e->conn_download = 1;
    }
    for (int32_t i = 0; i < n_regions; i++) {
        if (region_make(e, ins, i, regions, conns, scratch) < 0) {
            free(scratch);
            eng_instrument_free(e, ins);
            return ENG_ERR_NOMEM;
        }
    }
    free(scratch);
    eng_connlist **fit_lists = realloc(ins->lists, (ins->n_lists ? (size_t)ins->n_lists : 1) * sizeof *fit_lists);
    if (fit_lists)
        ins->lists = fit_lists;
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
    eng_instrument_free(e, ins);
    atomic_fetch_sub(&e->st_instruments, 1);
    return 0;
}
