/*
 * dlsynth voice engine: the render loop. eng_render cuts a block into runs (at event frames
 * and multiples of ENG_RUN), applies the events due, and hands each run out as work items
 * (its mix groups, each rendering its voices through the run's control ticks, and the
 * finish of the run before: buses, effects, output).
 *
 * Threads: eng_render runs on the render thread; the items (eng_run_item) run on it and on
 * the render workers (native/eng_workers.c) during eng_pool_run. It never allocates,
 * frees or locks.
 */
#include "eng_internal.h"
#include "eng_workers.h"

#include <string.h>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <xmmintrin.h>
#define ENG_HAVE_MXCSR 1
#endif

/* A voice the free pass after the frames before `end` will remove. */
static inline int voice_ends(const eng_voice *v, uint64_t end)
{
    return v->state == PS_DONE || (v->end_at && v->end_at <= end);
}

/* A voice that had ended when control tick `tick` was reached (voice_ends there: its wave
   ran out before it, a wave's end is noted as it is met, or its planned silence came at
   or before it). Until the free pass, which runs at multiples of ENG_RUN and before
   events, such a voice stays in the active list but adds nothing after the tick, as if
   it had been freed there. */
static inline int ended_by_tick(const eng_voice *v, uint64_t tick)
{
    return (v->done_seen && v->done_at < tick) || (v->end_at && v->end_at <= tick);
}

/* The frames [at, end) of a run that a group renders at once: up to the next control tick
   (`off` frames into the run's rows). */
typedef struct {
    uint64_t at, end;
    int32_t n, off;
} run_piece;

/* A mix group's bus rows (left, right, and the reverb and chorus sends, NULL when the job
   has no sends) and the send rows it has written so far (ENG_SEND_*; zeroed on first use). */
typedef struct {
    float *l, *r, *rev, *cho;
    uint32_t sends;
} group_rows;

/* The send rows voice p adds to (NULL for a send it leaves silent), each zeroed on its
   first use in the group. */
static inline void voice_send_rows(const eng_voice *p, const eng_job *j, int32_t n, group_rows *rows,
                                   float **vrev, float **vcho)
{
    *vrev = *vcho = NULL;
    if (!j->sends)
        return;
    if (p->g0[2] != 0.0f || p->dg[2] != 0.0f) {
        if (!(rows->sends & ENG_SEND_REV))
            memset(rows->rev, 0, sizeof(float) * (size_t)n);
        rows->sends |= ENG_SEND_REV;
        *vrev = rows->rev;
    }
    if (p->g0[3] != 0.0f || p->dg[3] != 0.0f) {
        if (!(rows->sends & ENG_SEND_CHO))
            memset(rows->cho, 0, sizeof(float) * (size_t)n);
        rows->sends |= ENG_SEND_CHO;
        *vcho = rows->cho;
    }
}

/* Active-list entry `entry`'s stem row over the piece, set to -0.0 (which adds nothing);
   returns the row at the piece's first frame. */
static inline float *clear_stem(eng_engine *e, const eng_job *j, const run_piece *pc, int32_t entry)
{
    float *row = eng_stem_row(e, j->par, entry) + pc->off;
    for (int32_t f = 0; f < pc->n; f++)
        row[f] = row[ENG_RUN + f] = -0.0f;
    return row;
}

/* Voice p's dry output over the piece again, alone, into active-list entry `entry`'s stem
   row: rows start at -0.0, which adds nothing (-0 + x is x, signed zeros included). */
static inline void mix_stem(eng_engine *e, const eng_job *j, const run_piece *pc, const eng_voice *p, int32_t entry,
                            const float *t0, const float *t1)
{
    float *row = clear_stem(e, j, pc, entry);
    eng_voice_mix(p, pc->at, pc->n, t0, t1, row, row + ENG_RUN, NULL, NULL, e->simd);
}

/* Mix the np pending voices (filtered, in tmp's rows; active-list entries in `entry`) into
   the group's rows at the piece's offset, in order; returns the bits of those that end,
   from the group's first. */
static inline uint32_t mix_pending(eng_engine *e, const eng_job *j, const run_piece *pc, const float *tmp,
                                   eng_voice *const *pend, const int32_t *entry, int np, int32_t first,
                                   group_rows *rows)
{
    uint32_t ended = 0;
    int32_t o = pc->off;
    for (int k = 0; k < np; k++) {
        const eng_voice *p = pend[k];
        const float *t0 = tmp + (2 * k) * ENG_ROW, *t1 = tmp + (2 * k + 1) * ENG_ROW;
        float *vrev, *vcho;
        voice_send_rows(p, j, j->n, rows, &vrev, &vcho);
        eng_voice_mix(p, pc->at, pc->n, t0, t1, rows->l + o, rows->r + o, vrev ? vrev + o : NULL,
                      vcho ? vcho + o : NULL, e->simd);
        if (j->stems)
            mix_stem(e, j, pc, p, entry[k], t0, t1);
        if (voice_ends(p, pc->end))
            ended |= 1u << (entry[k] - first);
    }
    return ended;
}

/* Voice v's filter lanes (one per channel: t0, t1) as filter jobs into jobs[0..lanes). */
static inline void queue_filter_lanes(eng_voice *v, uint64_t at, int lanes, float *t0, float *t1, eng_fjob *jobs)
{
    float k0 = (float)(int64_t)(at - v->r0);
    for (int c = 0; c < lanes; c++) {
        eng_fjob *fj = &jobs[c];
        fj->x = c ? t1 : t0;
        fj->st = v->fx[c];
        fj->c = v->c0;
        fj->dc = v->dc;
        fj->k0 = k0;
        fj->ramp = v->coef_ramp;
    }
}

/* Control tick `tick`'s plan for each voice of the group (entries first..last) that goes
   on; returns how many were skipped as steady. */
static inline uint32_t plan_at_tick(eng_engine *e, uint64_t tick, int32_t first, int32_t last, uint32_t ended)
{
    uint32_t skipped = 0;
    for (int32_t i = first; i < last; i++) {
        eng_voice *v = &e->voices[e->act[i]];
        if (!(ended >> (i - first) & 1u) && v->ramp_end <= tick)
            skipped += (uint32_t)eng_voice_tick_plan(e, v, tick);
    }
    return skipped;
}

/* One piece of a run for a group's voices (entries first..last) that have not ended:
   interpolate them into the thread's scratch rows, run their filters (up to eight lanes at
   a time) and mix them in the active list's order into the group's bus rows; returns the
   bits of those that end by the piece's end. Those that had ended by the piece's control
   tick (ended_by_tick) are left out and keep their bits. */
static uint32_t render_piece(eng_engine *e, float *tmp, const eng_job *j, const run_piece *pc, int32_t first,
                             int32_t last, group_rows *rows)
{
    eng_voice *pend[ENG_PEND_VOICES];
    int32_t entry[ENG_PEND_VOICES];
    eng_fjob jobs[8];
    int np = 0, nj = 0;
    float *dummy = tmp + 2 * ENG_PEND_VOICES * ENG_ROW;
    uint64_t tick = pc->at - pc->at % ENG_CTRL;
    uint32_t out = 0;
    for (int32_t i = first; i <= last; i++) {
        eng_voice *v = NULL;
        if (i < last) {
            v = &e->voices[e->act[i]];
            if (i + 1 < last) {
                const char *nx = (const char *)&e->voices[e->act[i + 1]];
                for (size_t b = 0; b < sizeof(eng_voice); b += 64)
                    __builtin_prefetch(nx + b);
            }
            if (ended_by_tick(v, tick)) {
                out |= 1u << (i - first);
                if (j->stems)
                    clear_stem(e, j, pc, i);
                continue;
            }
        }
        int lanes = v && v->filter ? v->nch : 0;
        if (!v || np == ENG_PEND_VOICES || nj + lanes > 8) {
            if (nj)
                eng_filter_jobs(jobs, nj, pc->n, dummy, e->simd);
            out |= mix_pending(e, j, pc, tmp, pend, entry, np, first, rows);
            np = nj = 0;
            if (!v)
                break;
        }
        float *t0 = tmp + (2 * np) * ENG_ROW, *t1 = tmp + (2 * np + 1) * ENG_ROW;
        eng_voice_interp(e, v, pc->at, pc->n, t0, t1);
        if (lanes) {
            queue_filter_lanes(v, pc->at, lanes, t0, t1, jobs + nj);
            nj += lanes;
        }
        entry[np] = i;
        pend[np++] = v;
    }
    return out;
}

/* One mix group through the run: each piece up to a control tick rendered into the group's
   bus rows, and at each tick the plan of each voice that goes on (the control tick's plan,
   made before any event at the tick is applied, as the tick comes first); notes which of
   its voices have ended by the run's end. */
static void render_group(eng_engine *e, float *tmp, const eng_job *j, int32_t g)
{
    float *bus = e->gbuf + ((size_t)j->par * (size_t)e->max_groups + (size_t)g) * ENG_BUS_FLOATS;
    group_rows rows = {bus, bus + ENG_RUN, j->sends ? bus + 2 * ENG_RUN : NULL, j->sends ? bus + 3 * ENG_RUN : NULL,
                       0};
    memset(rows.l, 0, sizeof(float) * (size_t)j->n);
    memset(rows.r, 0, sizeof(float) * (size_t)j->n);
    int32_t first = g * ENG_GROUP, last = first + ENG_GROUP < e->n_act ? first + ENG_GROUP : e->n_act;
    uint32_t ended = 0, skipped = 0;
    run_piece pc;
    for (pc.at = j->at; pc.at < j->end; pc.at = pc.end) {
        uint64_t tick = (pc.at / ENG_CTRL + 1) * ENG_CTRL;
        pc.end = tick < j->end ? tick : j->end;
        pc.n = (int32_t)(pc.end - pc.at);
        pc.off = (int32_t)(pc.at - j->at);
        ended = render_piece(e, tmp, j, &pc, first, last, &rows);
        if (pc.end == tick)
            skipped += plan_at_tick(e, tick, first, last, ended);
    }
    e->gmask[g].bits = ended;
    e->gmask[g].skipped += skipped;
    memcpy(bus + 4 * ENG_RUN, &rows.sends, sizeof rows.sends);
}

/* dst[i] = the groups' rows at `offset` summed in group order (first + second + third
   ...), for i < len (the left and right rows at once, len = 2 * ENG_RUN, for a whole
   run). With `send` (ENG_SEND_*), only the groups that wrote that row (the others' are
   zero). */
static void sum_groups(float *restrict dst, const float *restrict groups, size_t offset, int32_t n_groups,
                       int32_t len, uint32_t send)
{
    int first = 1;
    for (int32_t g = 0; g < n_groups; g++) {
        const float *base = groups + (size_t)g * ENG_BUS_FLOATS;
        if (send) {
            uint32_t wrote;
            memcpy(&wrote, base + 4 * ENG_RUN, sizeof wrote);
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

/* The rest of a run once its groups are mixed: the buses, the effects, the output. */
static void finish_run(eng_engine *e, const eng_finish *f)
{
    int32_t n = f->n;
    float *mix_l = e->mix, *mix_r = e->mix + ENG_RUN, *mix_rev = e->mix + 2 * ENG_RUN, *mix_cho = e->mix + 3 * ENG_RUN;
    const float *groups = e->gbuf + (size_t)f->par * (size_t)e->max_groups * ENG_BUS_FLOATS;
    if (n == ENG_RUN) {
        sum_groups(mix_l, groups, 0, f->n_groups, 2 * ENG_RUN, 0);
    } else {
        sum_groups(mix_l, groups, 0, f->n_groups, n, 0);
        sum_groups(mix_r, groups, ENG_RUN, f->n_groups, n, 0);
    }
    const float *wet = NULL;
    if (f->fx_on) {
        sum_groups(mix_rev, groups, 2 * ENG_RUN, f->n_groups, n, ENG_SEND_REV);
        sum_groups(mix_cho, groups, 3 * ENG_RUN, f->n_groups, n, ENG_SEND_CHO);
        if (f->stem_out) {
            /* The effects' return apart (stem 0): each unit adds into rows of -0.0 (which
               then hold exactly what it would have added), then those are added to the
               mix in the same order as without stems: the same mix, bit for bit. */
            float *w = e->stem_wet;
            for (int32_t i = 0; i < 4 * ENG_RUN; i++)
                w[i] = -0.0f;
            fx_reverb_process(e->reverb, mix_rev, w, w + ENG_RUN, (size_t)n);
            fx_chorus_process(e->chorus, mix_cho, w + 2 * ENG_RUN, w + 3 * ENG_RUN, (size_t)n);
            for (int32_t i = 0; i < n; i++) {
                mix_l[i] += w[i];
                mix_r[i] += w[ENG_RUN + i];
            }
            for (int32_t i = 0; i < n; i++) {
                mix_l[i] += w[2 * ENG_RUN + i];
                mix_r[i] += w[3 * ENG_RUN + i];
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

void eng_run_item(void *ctx, int32_t worker, int32_t item)
{
    eng_engine *e = ctx;
    const eng_job *j = &e->job;
    if (j->has_finish) {
        if (item == 0) {
            finish_run(e, &j->finish);
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
        eng_run_item(e, 0, i);
}

/* The run [pos, seg_end) as the job to hand out: its mix groups, on the half of the group
   buffers the run before did not use (the job's finish is still that one's). */
static void job_begin(eng_engine *e, uint64_t pos, uint64_t seg_end, int fx_on, int stems)
{
    eng_job *j = &e->job;
    e->gpar ^= 1;
    j->at = pos;
    j->end = seg_end;
    j->n = (int32_t)(seg_end - pos);
    j->n_groups = (e->n_act + ENG_GROUP - 1) / ENG_GROUP;
    j->par = e->gpar;
    j->sends = fx_on;
    j->stems = stems;
    if (stems)
        for (int32_t i = 0; i < e->n_act; i++)
            e->stem_of[(size_t)j->par * (size_t)e->n_slots + (size_t)i] = e->voices[e->act[i]].stem;
}

/* The job's run, rendered, becomes the finish the next job runs alongside its groups:
   out and stem_out at the run's first frame, gain the master gain times the master
   volume, entries the active-list entries it mixed. */
static void job_end(eng_engine *e, float *out, float *stem_out, int fx_on, float gain, int32_t entries)
{
    eng_job *j = &e->job;
    j->finish.out = out;
    j->finish.n = j->n;
    j->finish.n_groups = j->n_groups;
    j->finish.par = j->par;
    j->finish.fx_on = fx_on;
    j->finish.gain = gain * e->master_volume;
    j->finish.n_entries = entries;
    j->finish.n_stems = e->n_stems;
    j->finish.stem_out = stem_out;
    j->has_finish = 1;
}

/* The block's statistics: its late events, the position, the voices still active (not
   counting voices that ended and wait for the next free pass: the last run's masks). */
static void block_stats(eng_engine *e, uint64_t start, uint64_t end, uint64_t late)
{
    if (late)
        atomic_fetch_add_explicit(&e->st_late, late, memory_order_relaxed);
    atomic_store_explicit(&e->st_pos, end, memory_order_relaxed);
    uint32_t active = (uint32_t)e->n_act;
    for (int32_t g = 0; g < e->gmask_groups; g++)
        for (uint32_t bits = e->gmask[g].bits; bits; bits &= bits - 1)
            active--;
    atomic_store_explicit(&e->st_active, active, memory_order_relaxed);
    if (active > atomic_load_explicit(&e->st_peak, memory_order_relaxed))
        atomic_store_explicit(&e->st_peak, active, memory_order_relaxed);
    uint64_t vf = atomic_load_explicit(&e->st_voice_frames, memory_order_relaxed); /* one writer: this thread */
    atomic_store_explicit(&e->st_voice_frames, vf + (uint64_t)active * (end - start), memory_order_relaxed);
    uint64_t skipped = 0;
    for (int32_t g = 0; g < e->max_groups; g++) {
        skipped += e->gmask[g].skipped;
        e->gmask[g].skipped = 0;
    }
    if (skipped)
        atomic_fetch_add_explicit(&e->st_skipped, skipped, memory_order_relaxed);
}

/* The block's start: what other threads queued (events, effect settings) taken in, the
   pool woken when there are voices to render, and the effects reset when they come back
   on; returns whether they are on. Allocates nothing, takes no lock. */
static inline int block_begin(eng_engine *e)
{
    eng_ring_drain(e);
    eng_apply_fx_mail(e);
    if (e->pool && e->n_act > 0)
        eng_pool_wake(e->pool);
    int fx_on = atomic_load_explicit(&e->effects_on, memory_order_relaxed);
    if (fx_on && !e->fx_seen_on) {
        fx_reverb_reset(e->reverb);
        fx_chorus_reset(e->chorus);
    }
    e->fx_seen_on = fx_on;
    return fx_on;
}

/* The events due at pos (the control tick at pos came first: the mix groups planned the
   voices that go on there at the end of the run before), after the voices that have ended
   are freed; returns how many of them were due before the block's start. Allocates
   nothing, takes no lock. */
static inline uint64_t apply_due(eng_engine *e, uint64_t pos, uint64_t start)
{
    uint64_t late = 0;
    if (e->heap_n > 0 && e->heap[0].time <= pos)
        eng_free_ended(e, pos);
    while (e->heap_n > 0 && e->heap[0].time <= pos) {
        eng_pending p = eng_heap_pop(e);
        if (p.time < start)
            late++;
        eng_apply_now(e, &p.ev, pos);
    }
    return late;
}

/* Where the run from pos ends: the next multiple of ENG_RUN, the block's end or the next
   event, whichever comes first. Allocates nothing, takes no lock. */
static inline uint64_t run_end(const eng_engine *e, uint64_t pos, uint64_t end)
{
    uint64_t seg_end = (pos / ENG_RUN + 1) * ENG_RUN;
    if (seg_end > end)
        seg_end = end;
    if (e->heap_n > 0 && e->heap[0].time < seg_end)
        seg_end = e->heap[0].time;
    return seg_end;
}

/* The run [pos, seg_end) of the block starting at frame start: its groups rendered with
   the finish of the run before, the voices that have ended freed if it ends on a multiple
   of ENG_RUN, and it made the next finish (into out and the stem rows at its first frame).
   Allocates nothing, takes no lock. */
static inline void render_run(eng_engine *e, float *out, uint64_t start, uint64_t pos, uint64_t seg_end,
                                  int fx_on, int stems, float gain)
{
    eng_job *j = &e->job;
    job_begin(e, pos, seg_end, fx_on, stems);
    int32_t entries = e->n_act;
    run_job(e);
    e->gmask_groups = j->n_groups;
    if (seg_end % ENG_RUN == 0)
        eng_free_ended(e, seg_end);
    job_end(e, out + 2 * (pos - start), stems ? e->stem_out + 2 * (pos - start) : NULL, fx_on, gain, entries);
}

/* The block's end: the last run's finish, the new stems' rows before their first
   voice zeroed, the position moved to end, finished unloads answered, what came in
   meanwhile taken, and the statistics. Allocates nothing, takes no lock. */
static inline void block_end(eng_engine *e, uint64_t start, uint64_t end, int stems, int32_t stems_before,
                             uint64_t late)
{
    eng_job *j = &e->job;
    if (j->has_finish)
        finish_run(e, &j->finish);
    j->has_finish = 0;
    if (stems)
        eng_stems_zero_new(e, start, stems_before);
    e->pos = end;
    eng_finish_unloads(e);
    eng_ring_drain(e);
    block_stats(e, start, end, late);
}

void eng_render(eng_engine *e, float *out, int32_t frames)
{
    if (!e || !out || frames <= 0)
        return;
#ifdef ENG_HAVE_MXCSR
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* flush denormals to zero, denormal inputs are zero */
#endif
    int fx_on = block_begin(e);
    float gain = atomic_load_explicit(&e->master_gain, memory_order_relaxed);
    uint64_t start = e->pos, end = e->pos + (uint64_t)frames;
    uint64_t pos = start;
    uint64_t late = 0;
    e->job.has_finish = 0;
    int stems = eng_stems_on(e) && frames <= e->stem_frames;
    int32_t stems_before = e->n_stems;
    while (pos < end) {
        late += apply_due(e, pos, start);
        uint64_t seg_end = run_end(e, pos, end);
        render_run(e, out, start, pos, seg_end, fx_on, stems, gain);
        pos = seg_end;
    }
    block_end(e, start, end, stems, stems_before, late);
#ifdef ENG_HAVE_MXCSR
    _mm_setcsr(csr);
#endif
}
