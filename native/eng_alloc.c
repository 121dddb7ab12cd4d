/*
 * dlsynth voice engine: voice allocation, stealing and freeing.
 *
 * Thread: the render thread (while it applies events, and between runs).
 */
#include "eng_internal.h"

#include <string.h>

/* The END label of a voice freed at `at` (the end of the last run rendered, or the
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
void eng_voice_fade(eng_engine *e, eng_voice *v, uint64_t now)
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

eng_voice *eng_voice_alloc(eng_engine *e, uint32_t priority, uint64_t now)
{
    if (e->n_playing >= e->max_voices) {
        eng_voice *victim = steal_candidate(e, priority);
        if (!victim) {
            atomic_fetch_add_explicit(&e->st_lost, 1, memory_order_relaxed);
            return NULL;
        }
        victim->end_reason = ENG_END_STOLEN;
        eng_voice_fade(e, victim, now);
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

/* Free the voices that have ended by `at`, the end of the last run rendered (the groups'
   masks say which: reading them, not the voices, keeps the voices in the cache of the core
   that renders them). This runs only where the active list must be the same whatever the
   block sizes: after a run that ends on a multiple of ENG_RUN, and before the events due
   at a frame. In between, a voice that has ended stays in the list: until the next
   control tick it mixes silence, or its filter's ringing, and after that nothing
   (eng_render.c, ended_by_tick); so the mix groups, made of consecutive entries of the
   list, are the same for every block size. Between two passes with no run rendered
   nothing can have ended. */
void eng_free_ended(eng_engine *e, uint64_t at)
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
