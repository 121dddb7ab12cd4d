/*
 * dlsynth MIDI semantics: MIDI messages to voice-engine events, on the render thread.
 *
 * The producer side (any thread) only encodes: eng_midi_encode turns a message into one
 * compact engine event (a channel message as-is; the system exclusive messages a GM synth
 * acts on as their meaning: GM/GM2/GS/XG resets, GM master volume, GS "use for rhythm
 * part"). The render thread applies those events in time order (mid_apply): bank select
 * and program change become an instrument through the patch table, RPN 0/1/2 become
 * channel parameters, and the rest passes to the voice engine with its frame. So the state
 * of every channel is a function of the events before it, whatever thread pushed them and
 * however the stream was cut into blocks.
 *
 * DirectMusic: this is the part of DDKSynth's CSynth / CControlLogic that interprets
 * PutMessage data (bank select, program change, RPNs, GM/GS resets).
 */
#include "midi.h"
#include "voice.h"
#include "zeroed.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DRUM_CHANNEL 9           /* MIDI channel 10 */
#define GM2_RHYTHM_MSB 120
#define GM2_MELODY_MSB 121
#define XG_DRUM_MSB_A 126
#define XG_DRUM_MSB_B 127
#define RPN_NULL 127
#define PATCH_SLOTS 16384u       /* patch table capacity (a power of two; GS banks have ~600) */
#define REPORT_SLOTS 1024u

/* --- keys ---------------------------------------------------------------------------- */

uint32_t eng_patch_key(int32_t drum, int32_t bank_msb, int32_t bank_lsb, int32_t program)
{
    return ((uint32_t)(drum != 0) << 21) | ((uint32_t)(bank_msb & 0x7F) << 14) | ((uint32_t)(bank_lsb & 0x7F) << 7) |
           (uint32_t)(program & 0x7F);
}

/* What a bank select means for a drum flag: GM2's rhythm bank (MSB 120) and XG's drum banks
   (126, 127) select a kit on any channel, GM2's melody bank (121) a melodic instrument. */
static int bank_drum_meaning(int msb, int drum)
{
    if (msb == GM2_RHYTHM_MSB || msb == XG_DRUM_MSB_A || msb == XG_DRUM_MSB_B)
        return 1;
    if (msb == GM2_MELODY_MSB)
        return 0;
    return drum;
}

static void add_try(uint32_t *out, int32_t *n, uint32_t key)
{
    for (int32_t i = 0; i < *n; i++)
        if (out[i] == key)
            return;
    out[(*n)++] = key;
}

/* The keys a select of `key` (the channel's drum flag and bank numbers as the messages gave
   them) tries, in order, into out (ENG_PATCH_TRIES_MAX); *meant is how many of them are what
   the select means rather than a fallback for it:
     1. the select exactly as given: an instrument a bank defines there is what its author meant;
     2. the same bank numbers with the drum flag GM2/XG give them (MSB 120 a kit, 121 melodic);
     3. the GM2/XG reading of the bank: a GM2 melody variation (121, v) is (0, v), a GM2 or XG
        drum bank names a kit by its program alone (0, 0);
   then the GM fallbacks of 3: a missing melodic variation plays bank 0 of its program, a
   missing kit the program's kit at bank 0 and then the standard kit 0. */
static int32_t patch_tries(uint32_t key, uint32_t *out, int32_t *meant)
{
    int drum = (int)((key >> 21) & 1), msb = (int)((key >> 14) & 0x7F), lsb = (int)((key >> 7) & 0x7F);
    int program = (int)(key & 0x7F);
    int32_t n = 0;
    add_try(out, &n, key);
    int mdrum = bank_drum_meaning(msb, drum);
    add_try(out, &n, eng_patch_key(mdrum, msb, lsb, program));
    int mmsb = msb, mlsb = lsb;
    if (mdrum && (msb == GM2_RHYTHM_MSB || msb == XG_DRUM_MSB_A || msb == XG_DRUM_MSB_B))
        mmsb = mlsb = 0;
    else if (!mdrum && msb == GM2_MELODY_MSB)
        mmsb = 0; /* the GM2 variation number stays the LSB */
    add_try(out, &n, eng_patch_key(mdrum, mmsb, mlsb, program));
    *meant = n;
    if (mdrum) {
        add_try(out, &n, eng_patch_key(1, 0, 0, program));
        add_try(out, &n, eng_patch_key(1, 0, 0, 0));
    } else {
        add_try(out, &n, eng_patch_key(0, 0, 0, program));
    }
    return n;
}

int32_t eng_patch_fallbacks(uint32_t key, uint32_t *out)
{
    int32_t meant;
    return patch_tries(key & 0x3FFFFF, out, &meant);
}

/* --- encoding (any thread) ------------------------------------------------------------- */

/* GS block number (the x of 40 1x ..) to a MIDI channel: 0 is part 10, 1-9 parts 1-9,
   A-F parts 11-16. */
static int gs_part_channel(int nibble)
{
    if (nibble == 0)
        return DRUM_CHANNEL;
    if (nibble <= 9)
        return nibble - 1;
    return nibble;
}

/* GM master volume, F0 7F dev 04 01 ll mm F7 (n >= 8): the level in millibels, 0 at full
   scale, -9600 for silence (rint: round half to even), on group 0. */
static int32_t encode_master_volume(const uint8_t *d, eng_event *out)
{
    int v = (d[5] & 0x7F) | ((d[6] & 0x7F) << 7);
    out->type = ENG_EV_MASTER_VOLUME;
    out->channel = 0;
    out->a = v <= 0 ? -9600 : (int32_t)rint(2000.0 * log10((double)v / 16383.0));
    if (out->a < -9600)
        out->a = -9600;
    return 1;
}

/* Roland GS data set, F0 41 dev 42 12 aa aa aa dd .. cs F7 (n >= 11): GS reset and "use for
   rhythm part"; 0 for any other address. */
static int32_t encode_gs(const uint8_t *d, eng_event *out)
{
    if (d[5] == 0x40 && d[6] == 0x00 && d[7] == 0x7F) {
        out->type = ENG_EV_SYSEX_RESET;
        out->a = 0x41;
        return 1;
    }
    if (d[5] == 0x40 && (d[6] & 0xF0) == 0x10 && d[7] == 0x15) {
        out->type = ENG_EV_GS_RHYTHM;
        out->a = gs_part_channel(d[6] & 0x0F);
        out->b = d[8] != 0;
        return 1;
    }
    return 0;
}

/* A system exclusive message (d[0] = F0) as the event it means, as eng_midi_encode returns:
   1 encoded, 0 nothing a GM synth acts on, -1 malformed. */
static int32_t encode_sysex(const uint8_t *d, int32_t n, eng_event *out)
{
    if (n < 5 || d[n - 1] != 0xF7)
        return n >= 2 && d[n - 1] == 0xF7 ? 0 : -1;
    /* Universal non-real-time: F0 7E dev 09 0x F7 (GM1 on = 01, GM off = 02, GM2 on = 03) */
    if (d[1] == 0x7E && n >= 6 && d[3] == 0x09 && d[4] >= 1 && d[4] <= 3) {
        out->type = ENG_EV_SYSEX_RESET;
        out->a = d[4];
        return 1;
    }
    /* Universal real-time: F0 7F dev 04 01 ll mm F7 (GM master volume) */
    if (d[1] == 0x7F && n >= 8 && d[3] == 0x04 && d[4] == 0x01)
        return encode_master_volume(d, out);
    /* Roland GS: F0 41 dev 42 12 aa aa aa dd .. cs F7 */
    if (d[1] == 0x41 && n >= 11 && d[3] == 0x42 && d[4] == 0x12)
        return encode_gs(d, out);
    /* Yamaha XG System On: F0 43 1n 4C 00 00 7E 00 F7 */
    if (d[1] == 0x43 && n >= 9 && (d[2] & 0xF0) == 0x10 && d[3] == 0x4C && d[4] == 0 && d[5] == 0 &&
        d[6] == 0x7E && d[7] == 0) {
        out->type = ENG_EV_SYSEX_RESET;
        out->a = 0x43;
        return 1;
    }
    return 0;
}

/* A channel message (status st = d[0], 80..EF), packed as-is into one ENG_EV_MIDI event;
   -1 when its length or data bytes are wrong. */
static int32_t encode_channel_message(const uint8_t *d, int32_t n, uint8_t st, eng_event *out)
{
    int kind = st & 0xF0;
    int need = (kind == 0xC0 || kind == 0xD0) ? 2 : 3;
    if (n < need || n > 3)
        return -1;
    int d1 = n > 1 ? d[1] : 0, d2 = n > 2 ? d[2] : 0;
    if (d1 > 127 || d2 > 127)
        return -1;
    out->type = ENG_EV_MIDI;
    out->a = (int32_t)((uint32_t)st | ((uint32_t)d1 << 8) | ((uint32_t)d2 << 16) | ((uint32_t)n << 24));
    return 1;
}

int32_t eng_midi_encode(const uint8_t *d, int32_t n, int32_t group, uint64_t time, eng_event *out)
{
    if (!d || n <= 0 || !out)
        return -1;
    out->time = time;
    out->channel = group;
    out->b = 0;
    uint8_t st = d[0];
    if (st == 0xF0)
        return encode_sysex(d, n, out);
    if (st < 0x80)
        return -1;
    if (st >= 0xF0)
        return 0; /* system common and real-time: nothing for the synth */
    return encode_channel_message(d, n, st, out);
}

int32_t eng_push_midi(eng_engine *e, uint64_t time, int32_t group, const uint8_t *data, int32_t n)
{
    eng_event ev;
    int32_t rc = eng_midi_encode(data, n, group, time, &ev);
    if (rc < 0) {
        atomic_fetch_add_explicit(&e->midi->st_malformed, 1, memory_order_relaxed);
        return 0;
    }
    if (rc == 0) {
        atomic_fetch_add_explicit(&e->st_ignored_sysex, 1, memory_order_relaxed);
        return 0;
    }
    return eng_push_events(e, &ev, 1);
}

int32_t eng_push_midi_batch(eng_engine *e, const uint64_t *times, const int32_t *groups, const uint8_t *bytes,
                            const int64_t *offsets, const int32_t *lengths, const int32_t *tags, int32_t n)
{
    if (!e || n <= 0)
        return 0;
    uint32_t head = atomic_load_explicit(&e->ring_head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&e->ring_tail, memory_order_acquire);
    uint32_t room = e->ring_mask + 1 - (head - tail);
    uint32_t k = 0;
    int32_t i = 0;
    unsigned long long bad = 0, ignored = 0;
    for (; i < n && k < room; i++) {
        eng_event *slot = &e->ring[(head + k) & e->ring_mask];
        int32_t rc = eng_midi_encode(bytes + offsets[i], lengths[i], groups[i], times[i], slot);
        if (rc > 0) {
            if (tags && slot->type == ENG_EV_MIDI)
                slot->b = tags[i];
            k++;
        }
        else if (rc < 0)
            bad++;
        else
            ignored++;
    }
    atomic_store_explicit(&e->ring_head, head + k, memory_order_release);
    if (bad)
        atomic_fetch_add_explicit(&e->midi->st_malformed, bad, memory_order_relaxed);
    if (ignored)
        atomic_fetch_add_explicit(&e->st_ignored_sysex, ignored, memory_order_relaxed);
    return i;
}

/* --- state ------------------------------------------------------------------------------- */

static void chan_reset_rpn(mid_channel *c)
{
    c->rpn_msb = c->rpn_lsb = RPN_NULL;
    c->nrpn = 0;
    c->data_msb = c->data_lsb = 0;
}

static void chan_reset(mid_channel *c)
{
    c->bank_msb = c->bank_lsb = c->program = 0;
    c->drum = c->default_drum;
    chan_reset_rpn(c);
    c->instrument = -1;
    c->patch = 0;
    c->missing_said = 0;
    c->fallback_due = 0;
}

static void chans_init(mid_channel *chan, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        chan[i].default_drum = (i % 16) == DRUM_CHANNEL;
        chan_reset(&chan[i]);
    }
}

mid_state *mid_create(int32_t n_channels)
{
    mid_state *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->n_channels = n_channels;
    m->chan = calloc((size_t)n_channels, sizeof *m->chan);
    m->patches = zeroed_alloc(PATCH_SLOTS, sizeof *m->patches);
    m->patch_mask = PATCH_SLOTS - 1;
    m->rep = calloc(REPORT_SLOTS, sizeof *m->rep);
    m->rep_mask = REPORT_SLOTS - 1;
    if (!m->chan || !m->patches || !m->rep) {
        mid_destroy(m);
        return NULL;
    }
    chans_init(m->chan, n_channels);
    return m;
}

void mid_destroy(mid_state *m)
{
    if (!m)
        return;
    free(m->chan);
    zeroed_free(m->patches);
    free(m->rep);
    free(m);
}

/* The patch a channel selects now: its drum flag and the bank numbers as given (what they
   mean is patch_tries' business). */
static uint32_t chan_patch(const mid_channel *c)
{
    return eng_patch_key(c->drum, c->bank_msb, c->bank_lsb, c->program);
}

/* --- the patch table (render thread) ------------------------------------------------------ */

static mid_patch_slot *patch_slot(mid_state *m, uint32_t key, int insert)
{
    uint32_t h = (key * 2654435761u) & m->patch_mask;
    for (uint32_t probe = 0; probe <= m->patch_mask; probe++) {
        mid_patch_slot *s = &m->patches[(h + probe) & m->patch_mask];
        if (s->key == key + 1)
            return s;
        if (s->key == 0) {
            if (!insert)
                return NULL;
            s->key = key + 1;
            s->instrument = -1;
            return s;
        }
    }
    return NULL;
}

static int32_t patch_lookup(mid_state *m, uint32_t key)
{
    mid_patch_slot *s = patch_slot(m, key, 0);
    return s ? s->instrument : -1;
}

static void report(mid_state *m, int32_t kind, int32_t channel, uint32_t requested, uint32_t used)
{
    uint32_t head = atomic_load_explicit(&m->rep_head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&m->rep_tail, memory_order_acquire);
    if (head - tail > m->rep_mask) {
        atomic_fetch_add_explicit(&m->st_reports_lost, 1, memory_order_relaxed);
        return;
    }
    eng_report *r = &m->rep[head & m->rep_mask];
    r->kind = kind;
    r->channel = channel;
    r->requested = requested;
    r->used = used;
    atomic_store_explicit(&m->rep_head, head + 1, memory_order_release);
}

int32_t eng_poll_reports(eng_engine *e, eng_report *out, int32_t max)
{
    mid_state *m = e->midi;
    uint32_t tail = atomic_load_explicit(&m->rep_tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&m->rep_head, memory_order_acquire);
    int32_t k = 0;
    while (tail != head && k < max)
        out[k++] = m->rep[tail++ & m->rep_mask];
    atomic_store_explicit(&m->rep_tail, tail, memory_order_release);
    return k;
}

/* --- applying (render thread) -------------------------------------------------------------- */

static void send(eng_engine *e, int32_t type, int32_t channel, int32_t a, int32_t b, uint64_t now)
{
    eng_event ev = {now, type, channel, a, b};
    eng_apply_now(e, &ev, now);
}

static void select_patch(eng_engine *e, mid_state *m, int32_t ci, uint64_t now)
{
    mid_channel *c = &m->chan[ci];
    uint32_t key = chan_patch(c), tries[ENG_PATCH_TRIES_MAX];
    int32_t meant, n = patch_tries(key, tries, &meant), id = -1, k = 0;
    for (; k < n; k++) {
        id = patch_lookup(m, tries[k]);
        if (id >= 0)
            break;
    }
    /* Only a fallback is reported: a GM2 melody select playing its GM instrument is not one.
       It is said at the select's first note (a select no note follows plays nothing). */
    if (id >= 0 && k >= meant && (c->patch != key || c->instrument != id)) {
        c->fallback_due = 1;
        c->fallback_used = tries[k];
    } else if (c->patch != key || c->instrument != id) {
        c->fallback_due = 0;
    }
    c->patch = key;
    c->instrument = id;
    c->missing_said = 0;
    send(e, ENG_EV_PROGRAM, ci, id, 0, now);
}

static void data_entry(eng_engine *e, mid_channel *c, int32_t ci, int cc, int value, uint64_t now)
{
    if (c->nrpn || (c->rpn_msb == RPN_NULL && c->rpn_lsb == RPN_NULL))
        return;
    if (cc == 6) {
        c->data_msb = (uint8_t)value;
        c->data_lsb = 0;
    } else if (cc == 38) {
        c->data_lsb = (uint8_t)value;
    } else {
        int v14 = (c->data_msb << 7) | c->data_lsb;
        v14 = cc == 96 ? (v14 < 16383 ? v14 + 1 : 16383) : (v14 > 0 ? v14 - 1 : 0);
        c->data_msb = (uint8_t)(v14 >> 7);
        c->data_lsb = (uint8_t)(v14 & 0x7F);
    }
    if (c->rpn_msb != 0)
        return;
    int v14 = (c->data_msb << 7) | c->data_lsb;
    switch (c->rpn_lsb) {
    case 0: /* pitch-bend range: semitones and cents */
        send(e, ENG_EV_PARAM, ci, ENG_PARAM_BEND_RANGE, c->data_msb * 100 + (c->data_lsb < 99 ? c->data_lsb : 99), now);
        break;
    case 1: /* fine tune: 8192 = centre, +-100 cents */
        send(e, ENG_EV_PARAM, ci, ENG_PARAM_FINE_TUNE, (int32_t)rint((v14 - 8192) * 100.0 / 8192.0), now);
        break;
    case 2: /* coarse tune: 64 = centre, semitones */
        send(e, ENG_EV_PARAM, ci, ENG_PARAM_COARSE_TUNE, c->data_msb - 64, now);
        break;
    default:
        break;
    }
}

static void control(eng_engine *e, mid_state *m, int32_t ci, int cc, int value, uint64_t now)
{
    mid_channel *c = &m->chan[ci];
    switch (cc) {
    case 0:
        c->bank_msb = (uint8_t)value;
        return;
    case 32:
        c->bank_lsb = (uint8_t)value;
        return;
    case 101:
        c->rpn_msb = (uint8_t)value;
        c->nrpn = 0;
        return;
    case 100:
        c->rpn_lsb = (uint8_t)value;
        c->nrpn = 0;
        return;
    case 99:
    case 98:
        c->nrpn = 1; /* NRPNs are not defined for DLS: their data entries are ignored */
        return;
    case 6:
    case 38:
    case 96:
    case 97:
        data_entry(e, c, ci, cc, value, now);
        return;
    case 121:
        chan_reset_rpn(c);
        send(e, ENG_EV_CONTROL, ci, cc, value, now);
        return;
    case 124:
    case 125:
    case 126:
    case 127: /* omni / mono / poly mode messages imply all notes off */
        send(e, ENG_EV_CONTROL, ci, 123, 0, now);
        return;
    default:
        send(e, ENG_EV_CONTROL, ci, cc, value, now);
        return;
    }
}

static void short_message(eng_engine *e, mid_state *m, int32_t ci, uint32_t packed, uint64_t now)
{
    int st = (int)(packed & 0xFF), d1 = (int)((packed >> 8) & 0x7F), d2 = (int)((packed >> 16) & 0x7F);
    switch (st & 0xF0) {
    case 0x90:
        if (d2 && m->chan[ci].instrument < 0 && !m->chan[ci].missing_said) {
            m->chan[ci].missing_said = 1;
            report(m, ENG_REPORT_MISSING, ci, m->chan[ci].patch, m->chan[ci].patch);
        }
        if (d2 && m->chan[ci].fallback_due) {
            m->chan[ci].fallback_due = 0;
            report(m, ENG_REPORT_FALLBACK, ci, m->chan[ci].patch, m->chan[ci].fallback_used);
        }
        send(e, ENG_EV_NOTE_ON, ci, d1, d2, now);
        break;
    case 0x80:
        send(e, ENG_EV_NOTE_OFF, ci, d1, 0, now);
        break;
    case 0xB0:
        control(e, m, ci, d1, d2, now);
        break;
    case 0xC0:
        m->chan[ci].program = (uint8_t)d1;
        select_patch(e, m, ci, now);
        break;
    case 0xE0:
        send(e, ENG_EV_PITCH_BEND, ci, d1 | (d2 << 7), 0, now);
        break;
    case 0xD0:
        send(e, ENG_EV_CHANNEL_PRESSURE, ci, d1, 0, now);
        break;
    default: /* 0xA0 */
        send(e, ENG_EV_POLY_PRESSURE, ci, d1, d2, now);
        break;
    }
}

static void reselect_all(eng_engine *e, mid_state *m, uint64_t now)
{
    for (int32_t ci = 0; ci < m->n_channels; ci++)
        select_patch(e, m, ci, now);
}

/* The channel groups [*g0, *g1) an event on group g reaches: every group for 0, group g for
   1..groups, none otherwise. Allocates nothing, takes no lock. */
static inline void event_groups(const mid_state *m, int32_t g, int32_t *g0, int32_t *g1)
{
    int32_t groups = m->n_channels / 16;
    if (g == 0) {
        *g0 = 0;
        *g1 = groups;
    } else if (g >= 1 && g <= groups) {
        *g0 = g - 1;
        *g1 = g;
    } else {
        *g0 = *g1 = 0;
    }
}

/* A packed channel message that eng_midi_encode would not have made (bad status, length or
   data byte). Allocates nothing, takes no lock. */
static inline int packed_malformed(uint32_t packed)
{
    int st = (int)(packed & 0xFF), n = (int)(packed >> 24), kind = st & 0xF0;
    int need = (kind == 0xC0 || kind == 0xD0) ? 2 : 3;
    return st < 0x80 || st >= 0xF0 || n < need || n > 3 || ((packed >> 8) & 0x80) || ((packed >> 16) & 0x80);
}

/* ENG_EV_MIDI: the channel message on its channel of every group in [g0, g1), the notes it
   starts tagged with the event's tag; counted (malformed, applied, no such group).
   Allocates nothing, takes no lock. */
static inline void apply_midi(eng_engine *e, mid_state *m, const eng_event *ev, int32_t g0, int32_t g1,
                              uint64_t now)
{
    uint32_t packed = (uint32_t)ev->a;
    if (packed_malformed(packed)) {
        atomic_fetch_add_explicit(&m->st_malformed, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&m->st_midi, 1, memory_order_relaxed);
    if (g0 == g1) {
        atomic_fetch_add_explicit(&m->st_dropped_group, 1, memory_order_relaxed);
        return;
    }
    e->cur_tag = ev->b; /* the message's tag (eng_push_midi_batch), for the notes it starts */
    for (int32_t grp = g0; grp < g1; grp++)
        short_message(e, m, grp * 16 + (int32_t)(packed & 0x0F), packed, now);
    e->cur_tag = 0;
}

/* ENG_EV_SYSEX_RESET: every channel back to its defaults (drums on channel 10), as GM
   synths do whatever the group the reset came on. Allocates nothing, takes no lock. */
static inline void apply_reset(eng_engine *e, mid_state *m, uint64_t now)
{
    atomic_fetch_add_explicit(&m->st_midi, 1, memory_order_relaxed);
    send(e, ENG_EV_RESET_ALL, 0, 0, 0, now);
    for (int32_t ci = 0; ci < m->n_channels; ci++)
        chan_reset(&m->chan[ci]);
    reselect_all(e, m, now);
}

/* ENG_EV_GS_RHYTHM: channel ev->a of every group in [g0, g1) plays drums (ev->b) or not, and
   selects its patch again. Allocates nothing, takes no lock. */
static inline void apply_gs_rhythm(eng_engine *e, mid_state *m, const eng_event *ev, int32_t g0, int32_t g1,
                                   uint64_t now)
{
    atomic_fetch_add_explicit(&m->st_midi, 1, memory_order_relaxed);
    if (g0 == g1) {
        atomic_fetch_add_explicit(&m->st_dropped_group, 1, memory_order_relaxed);
        return;
    }
    if (ev->a < 0 || ev->a > 15)
        return;
    for (int32_t grp = g0; grp < g1; grp++) {
        int32_t ci = grp * 16 + ev->a;
        m->chan[ci].drum = ev->b != 0;
        select_patch(e, m, ci, now);
    }
}

void mid_apply(eng_engine *e, mid_state *m, const eng_event *ev, uint64_t now)
{
    int32_t g0, g1;
    event_groups(m, ev->channel, &g0, &g1);
    switch (ev->type) {
    case ENG_EV_MIDI:
        apply_midi(e, m, ev, g0, g1, now);
        break;
    case ENG_EV_SYSEX_RESET:
        apply_reset(e, m, now);
        break;
    case ENG_EV_GS_RHYTHM:
        apply_gs_rhythm(e, m, ev, g0, g1, now);
        break;
    case ENG_EV_PATCH: {
        mid_patch_slot *s = patch_slot(m, (uint32_t)ev->a & 0x3FFFFF, ev->b >= 0);
        if (s)
            s->instrument = ev->b;
        break;
    }
    case ENG_EV_RESELECT:
        reselect_all(e, m, now);
        break;
    default:
        break;
    }
}

/* --- scanning (producer) --------------------------------------------------------------------- */

static int add_key(uint32_t *keys, int32_t *n, int32_t max, uint32_t key)
{
    for (int32_t i = 0; i < *n; i++)
        if (keys[i] == key)
            return 1;
    if (*n >= max)
        return 0;
    keys[(*n)++] = key;
    return 1;
}

/* What eng_scan_patches follows of each channel, as the engine would play the messages. */
typedef struct {
    mid_channel *chan;
    uint32_t *sel;  /* patch key of the channel's last select */
    uint8_t *due;   /* 1: not listed since that select */
    int32_t channels, ngroups;
    uint32_t *keys; /* the patch keys listed so far */
    int32_t nk, max_keys;
} scan_state;

/* A channel's select: its patch is wanted once a note plays on it. */
static void scan_select(scan_state *st, int32_t ci)
{
    st->sel[ci] = chan_patch(&st->chan[ci]);
    st->due[ci] = 1;
}

/* One channel message on channel ci; 0 when the key list is full. */
static int scan_message(scan_state *st, int32_t ci, int status, int d1, int d2)
{
    mid_channel *c = &st->chan[ci];
    switch (status & 0xF0) {
    case 0xB0:
        if (d1 == 0)
            c->bank_msb = (uint8_t)d2;
        else if (d1 == 32)
            c->bank_lsb = (uint8_t)d2;
        return 1;
    case 0xC0:
        c->program = (uint8_t)d1;
        scan_select(st, ci);
        return 1;
    case 0x90:
        if (d2 > 0 && st->due[ci]) { /* only a select a note plays on needs its instrument */
            st->due[ci] = 0;
            return add_key(st->keys, &st->nk, st->max_keys, st->sel[ci]);
        }
        return 1;
    default:
        return 1;
    }
}

/* One encoded event, on every group it is for; 0 when the key list is full. */
static int scan_event(scan_state *st, const eng_event *ev)
{
    int32_t g = ev->channel, g0 = g == 0 ? 0 : g - 1, g1 = g == 0 ? st->ngroups : g;
    if (g < 0 || g > st->ngroups)
        return 1;
    if (ev->type == ENG_EV_SYSEX_RESET) {
        for (int32_t ci = 0; ci < st->channels; ci++) {
            chan_reset(&st->chan[ci]);
            scan_select(st, ci);
        }
    } else if (ev->type == ENG_EV_GS_RHYTHM && ev->a >= 0 && ev->a <= 15) {
        for (int32_t grp = g0; grp < g1; grp++) {
            st->chan[grp * 16 + ev->a].drum = ev->b != 0;
            scan_select(st, grp * 16 + ev->a);
        }
    } else if (ev->type == ENG_EV_MIDI) {
        uint32_t p = (uint32_t)ev->a;
        int status = (int)(p & 0xFF), d1 = (int)((p >> 8) & 0x7F), d2 = (int)((p >> 16) & 0x7F);
        for (int32_t grp = g0; grp < g1; grp++)
            if (!scan_message(st, grp * 16 + (status & 0x0F), status, d1, d2))
                return 0;
    }
    return 1;
}

int32_t eng_scan_patches(const int32_t *groups, const uint8_t *bytes, const int64_t *offsets,
                         const int32_t *lengths, int32_t n, int32_t channels, uint32_t *keys, int32_t max_keys)
{
    if (channels < 16 || max_keys < 0)
        return -1;
    scan_state st = {.chan = calloc((size_t)channels, sizeof(mid_channel)),
                     .sel = calloc((size_t)channels, sizeof(uint32_t)),
                     .due = calloc((size_t)channels, 1),
                     .channels = channels,
                     .ngroups = channels / 16,
                     .keys = keys,
                     .max_keys = max_keys};
    int ok = st.chan && st.sel && st.due;
    if (ok) {
        chans_init(st.chan, channels);
        for (int32_t ci = 0; ci < channels; ci++)
            scan_select(&st, ci);
    }
    for (int32_t i = 0; i < n && ok; i++) {
        eng_event ev;
        if (eng_midi_encode(bytes + offsets[i], lengths[i], groups[i], 0, &ev) > 0)
            ok = scan_event(&st, &ev);
    }
    free(st.chan);
    free(st.sel);
    free(st.due);
    return ok ? st.nk : -1;
}
