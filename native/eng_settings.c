/*
 * dlsynth voice engine: what the threads share besides the queues: the producer's mixer
 * settings (effects switch, master gain; reverb and chorus parameters through a seqlock
 * mailbox the render thread reads between blocks) and the statistics.
 *
 * Threads: the setters run on the producer, eng_apply_fx_mail on the render thread, the
 * statistics are read anywhere.
 */
#include "eng_internal.h"
#include "eng_workers.h"

#include <math.h>

/* ---------------------------------------------------------------------------------------
 * Statistics (any thread)
 * ------------------------------------------------------------------------------------- */

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
    s->instrument_bytes = atomic_load_explicit(&m->st_ins_bytes, memory_order_relaxed);
    s->midi_events = atomic_load_explicit(&m->midi->st_midi, memory_order_relaxed);
    s->malformed_midi = atomic_load_explicit(&m->midi->st_malformed, memory_order_relaxed);
    s->dropped_group = atomic_load_explicit(&m->midi->st_dropped_group, memory_order_relaxed);
    s->ignored_sysex = atomic_load_explicit(&m->st_ignored_sysex, memory_order_relaxed);
    s->reports_lost = atomic_load_explicit(&m->midi->st_reports_lost, memory_order_relaxed);
    s->parallel_segments = atomic_load_explicit(&m->st_parallel, memory_order_relaxed);
    s->worker_items = m->pool ? eng_pool_worker_items(m->pool) : 0;
    s->voice_frames = atomic_load_explicit(&m->st_voice_frames, memory_order_relaxed);
    s->plans_skipped = atomic_load_explicit(&m->st_skipped, memory_order_relaxed);
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

/* ---------------------------------------------------------------------------------------
 * The mailbox's render side
 * ------------------------------------------------------------------------------------- */

/* Render thread, at the start of a block. */
void eng_apply_fx_mail(eng_engine *e)
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
