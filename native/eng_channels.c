/*
 * dlsynth voice engine: what a voice-engine event means (eng_apply_now): notes, pedals,
 * controllers, channel parameters, programs, master volume, resets and unloads. The
 * MIDI-level meaning (bank select, RPN, patch table, drum channels) comes before, in
 * native/midi.c, which calls eng_apply_now with the engine events it makes.
 *
 * Thread: the render thread (events in time order, at their frame). eng_channel_defaults
 * also runs on the producer, in eng_create, before the render thread exists.
 */
#include "eng_internal.h"

#include <math.h>
#include <string.h>

/* DirectMusic's default channel priorities: DAUD_STANDARD_VOICE_PRIORITY plus an offset per
   channel, the drum channel (10) highest, then 1, 2, ... 16. */
static const uint32_t chan_priority_offset[16] = {14, 13, 12, 11, 10, 9, 8, 7, 6, 15, 5, 4, 3, 2, 1, 0};
#define PRIORITY_STANDARD 0x80000000u

void eng_channel_defaults(eng_channel *ch, int index)
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

static void replan_channel(eng_engine *e, int32_t c, uint64_t now)
{
    uint64_t end = eng_plan_end(now);
    for (int32_t i = 0; i < e->n_act; i++) {
        eng_voice *v = &e->voices[e->act[i]];
        if (v->channel == c)
            eng_voice_plan(e, v, now, end);
    }
}

/* Exclusivity before region r starts a voice: key groups, and the same key on a region that
 * is not self-non-exclusive; voices of this note (serial from first_serial) are spared. */
static inline void cut_exclusive(eng_engine *e, int32_t c, const eng_instrument *ins,
                                 const eng_region *r, int key, uint64_t first_serial, uint64_t now)
{
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
}

/* A newly allocated voice's identity: which note of which channel, region and priority. */
static inline void assign_voice(eng_voice *v, int32_t c, int key, int vel, uint32_t priority,
                                eng_instrument *ins, const eng_region *r, uint64_t now)
{
    v->channel = c;
    v->key = (uint8_t)key;
    v->vel = (uint8_t)vel;
    v->priority = priority;
    v->start = now;
    v->ins = ins;
    v->rgn = r;
    v->fading = 0;
    v->end_reason = 0;
    v->done_seen = 0;
    v->done_at = 0;
}

/* The NOTE label of a note-on that matched a region (started: how many voices it got). */
static inline void label_note_on(eng_engine *e, int32_t c, int key, int vel, uint32_t note,
                                 uint32_t patch, int32_t started, int32_t stem, uint64_t now)
{
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

/* The active-voice count and its peak, for the statistics readers. */
static inline void publish_active(eng_engine *e)
{
    uint32_t active = (uint32_t)e->n_act;
    atomic_store_explicit(&e->st_active, active, memory_order_relaxed);
    if (active > atomic_load_explicit(&e->st_peak, memory_order_relaxed))
        atomic_store_explicit(&e->st_peak, active, memory_order_relaxed);
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
        cut_exclusive(e, c, ins, r, key, first_serial, now);
        eng_voice *v = eng_voice_alloc(e, ch->priority, now);
        if (!v)
            continue;
        assign_voice(v, c, key, vel, ch->priority, ins, r, now);
        if (stem < 0)
            stem = e->stems_by ? eng_stem_for(e, c, patch, e->cur_tag, now) : 0;
        v->stem = stem;
        v->note = note;
        ins->voices++;
        started++;
        eng_voice_start(e, v, now);
    }
    if (labels && matched)
        label_note_on(e, c, key, vel, note, patch, started, stem, now);
    publish_active(e);
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
            eng_voice_fade(e, v, now);
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
            eng_voice_fade(e, v, now);
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
        eng_channel_defaults(&e->chan[c], c);
    e->master_volume = 1.0f;
}

/* A note-on event (velocity 0: a note-off). */
static inline void note_event(eng_engine *e, int32_t c, int key, int vel, uint64_t now)
{
    if (key < 0 || key > 127 || vel < 0 || vel > 127)
        return;
    if (vel == 0)
        note_off(e, c, key, now);
    else
        note_on(e, c, key, vel, now);
}

static inline void pitch_bend(eng_engine *e, int32_t c, int32_t value, uint64_t now)
{
    if (value >= 0 && value <= 16383 && e->chan[c].bend != value) {
        e->chan[c].bend = (uint16_t)value;
        e->chan[c].version++;
        replan_channel(e, c, now);
    }
}

static inline void channel_pressure(eng_engine *e, int32_t c, int32_t value, uint64_t now)
{
    if (value >= 0 && value <= 127 && e->chan[c].chp != value) {
        e->chan[c].chp = (uint8_t)value;
        e->chan[c].version++;
        replan_channel(e, c, now);
    }
}

static inline void poly_pressure(eng_engine *e, int32_t c, int32_t key, int32_t value, uint64_t now)
{
    if (key >= 0 && key <= 127 && value >= 0 && value <= 127) {
        e->chan[c].poly[key] = (uint8_t)value;
        e->chan[c].version++;
        replan_channel(e, c, now);
    }
}

/* The channel's instrument: the loaded one with that id, none for an unknown or unloaded id. */
static inline void select_program(eng_engine *e, int32_t c, int32_t id)
{
    eng_instrument *ins = NULL;
    if (id >= 0 && id < e->max_instruments) {
        ins = atomic_load_explicit(&e->ins_table[id], memory_order_acquire);
        if (ins && ins->dead)
            ins = NULL;
    }
    e->chan[c].ins = ins;
}

/* A channel parameter (ENG_PARAM_*), clamped to its range; the priority needs no replan. */
static inline void channel_param(eng_engine *e, int32_t c, int32_t param, int32_t value, uint64_t now)
{
    eng_channel *ch = &e->chan[c];
    switch (param) {
    case ENG_PARAM_BEND_RANGE:
        ch->bend_range = (float)(value < 0 ? 0 : (value > 12700 ? 12700 : value));
        break;
    case ENG_PARAM_FINE_TUNE:
        ch->fine = (float)(value < -100 ? -100 : (value > 100 ? 100 : value));
        break;
    case ENG_PARAM_COARSE_TUNE:
        ch->coarse = (float)(value < -64 ? -64 : (value > 63 ? 63 : value));
        break;
    case ENG_PARAM_PRIORITY:
        ch->priority = (uint32_t)value;
        return;
    default:
        return;
    }
    ch->version++;
    replan_channel(e, c, now);
}

/* Master volume in millibels (at most 0; below -12000 silence). */
static inline void master_volume(eng_engine *e, int32_t millibels)
{
    double mb = millibels > 0 ? 0.0 : (double)millibels;
    e->master_volume = mb < -12000.0 ? 0.0f : (float)pow(10.0, mb / 2000.0);
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
        note_event(e, c, ev->a, ev->b, now);
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
        pitch_bend(e, c, ev->a, now);
        break;
    case ENG_EV_CHANNEL_PRESSURE:
        channel_pressure(e, c, ev->a, now);
        break;
    case ENG_EV_POLY_PRESSURE:
        poly_pressure(e, c, ev->a, ev->b, now);
        break;
    case ENG_EV_PROGRAM:
        select_program(e, c, ev->a);
        break;
    case ENG_EV_PARAM:
        channel_param(e, c, ev->a, ev->b, now);
        break;
    case ENG_EV_MASTER_VOLUME:
        master_volume(e, ev->a);
        break;
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
