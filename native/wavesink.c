/*
 * dlsynth live wave sink: the audio device's callback, in C (the port driver's wave sink
 * pulling ISynthSinkDMus::Render, with no Python on the audio thread).
 *
 * Threads:
 *  - MIDI input threads (and the Service thread) push stamped messages: ws_midi_push*,
 *    a bounded multi-producer single-consumer ring (Vyukov's sequence-numbered slots), so
 *    any number of inputs may push at once without a lock.
 *  - The Service thread publishes the time map (reference time -> frame) with a seqlock
 *    (ws_set_time_map), and reads the callback's observations (ws_poll_observations, SPSC)
 *    for SyncToMaster, the trace of applied events (ws_poll_trace, SPSC) and the counters.
 *  - The audio thread runs ws_callback (a PortAudio stream callback): it drains the MIDI
 *    ring, maps each presentation time to its frame through the time map, queues the events
 *    in the engine at those frames, renders straight into the device's buffer, clips it to
 *    [-1, 1], and records (frame, DAC time) for SyncToMaster. No allocation, locks or I/O.
 *
 * Times are reference times (100 ns units) of the master clock, CLOCK_MONOTONIC (the same
 * clock Python's time.monotonic_ns reads, and PortAudio's stream time on Linux).
 */
#define _POSIX_C_SOURCE 200809L
#include "engine.h"
#include "voice.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REF_PER_SECOND ((int64_t)ENG_REF_PER_SECOND)
#define PA_OUTPUT_UNDERFLOW 0x00000004UL /* paOutputUnderflow */
#define PA_OUTPUT_OVERFLOW 0x00000008UL  /* paOutputOverflow */
#define PA_PRIMING_OUTPUT 0x00000010UL   /* paPrimingOutput */

typedef struct {
    atomic_size_t seq;
    ws_midi_msg msg;
} ws_cell;

struct ws_sink {
    eng_engine *engine;
    int32_t rate;                 /* frames per second */
    /* MIDI ring (MPSC) */
    ws_cell *cells;
    size_t mask;
    _Alignas(64) atomic_size_t enq;
    _Alignas(64) size_t deq;      /* audio thread only */
    /* time map (seqlock; one writer) */
    _Alignas(64) atomic_uint map_seq;
    _Atomic int64_t map_ref;      /* 100 ns (relaxed atomics: the seqlock orders them) */
    _Atomic double map_frame;     /* frames at map_ref */
    _Atomic double map_fps;       /* frames per second of master time */
    atomic_int map_set;
    /* settings */
    atomic_int scheduled;         /* 1: presentation = stamp + latency; 0: at the block start */
    atomic_llong latency;         /* 100 ns */
    atomic_int cycle_delay;       /* frames added to a cycle-stamped message's offset */
    atomic_int trace_on;
    _Atomic float limit;          /* output clip level (linear), 1.0 = 0 dBFS */
    atomic_int silent;            /* 1: output zeros (stopping), still counting callbacks */
    /* audio-thread state */
    int started;
    int64_t anchor_ref;           /* first DAC time, until a map is published */
    uint64_t anchor_frame;
    uint64_t last_frame;          /* events never go back in time */
    int64_t last_cycle;           /* frame clock: master time of the JACK cycle last seen, 100 ns */
    uint64_t cycle_frames;        /* frames rendered so far in that cycle */
    /* observations (SPSC audio -> service) */
    ws_observation *obs;
    uint32_t obs_mask;
    _Alignas(64) atomic_uint obs_head;
    _Alignas(64) atomic_uint obs_tail;
    /* trace (SPSC audio -> service) */
    ws_trace *trace;
    uint32_t trace_mask;
    _Alignas(64) atomic_uint trace_head;
    _Alignas(64) atomic_uint trace_tail;
    /* counters */
    atomic_ullong callbacks, xruns, midi_in, midi_dropped, midi_applied, late, clipped, heap_full;
    atomic_ullong frames_rendered;
    atomic_llong last_callback_ref; /* master time of the last callback's end, 100 ns */
    atomic_uint load_ppm, peak_load_ppm;
    atomic_uint max_frames;
    _Atomic(jm_client *) frame_clock;  /* JACK: DAC times from JACK's frame clock */
};

int64_t ws_clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * REF_PER_SECOND + ts.tv_nsec / 100;
}

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 1;
    while (p < n && p < 0x40000000u)
        p <<= 1;
    return p;
}

ws_sink *ws_create(eng_engine *engine, int32_t midi_capacity, int32_t observation_capacity, int32_t trace_capacity)
{
    if (!engine || midi_capacity < 1 || observation_capacity < 1 || trace_capacity < 1)
        return NULL;
    ws_sink *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->engine = engine;
    s->rate = eng_sample_rate(engine);
    uint32_t mc = pow2_at_least((uint32_t)midi_capacity);
    s->cells = calloc(mc, sizeof *s->cells);
    s->mask = mc - 1;
    uint32_t oc = pow2_at_least((uint32_t)observation_capacity);
    s->obs = calloc(oc, sizeof *s->obs);
    s->obs_mask = oc - 1;
    uint32_t tc = pow2_at_least((uint32_t)trace_capacity);
    s->trace = calloc(tc, sizeof *s->trace);
    s->trace_mask = tc - 1;
    if (!s->cells || !s->obs || !s->trace) {
        ws_destroy(s);
        return NULL;
    }
    for (size_t i = 0; i < mc; i++)
        atomic_init(&s->cells[i].seq, i);
    atomic_init(&s->enq, 0);
    atomic_init(&s->scheduled, 1);
    atomic_init(&s->latency, 0);
    atomic_init(&s->limit, 1.0f);
    atomic_init(&s->map_fps, (double)s->rate);
    return s;
}

void ws_destroy(ws_sink *s)
{
    if (!s)
        return;
    free(s->cells);
    free(s->obs);
    free(s->trace);
    free(s);
}

/* --- MIDI in (any thread) ------------------------------------------------------------- */

static int32_t push(ws_sink *s, int64_t ref_time, int32_t offset, int32_t group, const uint8_t *data, int32_t n);

int32_t ws_midi_push_at(ws_sink *s, int64_t ref_time, int32_t group, const uint8_t *data, int32_t n)
{
    return push(s, ref_time, -1, group, data, n);
}

int32_t ws_midi_push_cycle(ws_sink *s, int64_t ref_time, int32_t offset, int32_t group, const uint8_t *data,
                           int32_t n)
{
    return push(s, ref_time, offset < 0 ? 0 : offset, group, data, n);
}

static int32_t push(ws_sink *s, int64_t ref_time, int32_t offset, int32_t group, const uint8_t *data, int32_t n)
{
    eng_event ev;
    atomic_fetch_add_explicit(&s->midi_in, 1, memory_order_relaxed);
    if (eng_midi_encode(data, n, group, 0, &ev) <= 0)
        return 0; /* nothing for the synth (counted by the engine when it decodes, here not) */
    size_t pos = atomic_load_explicit(&s->enq, memory_order_relaxed);
    ws_cell *c;
    for (;;) {
        c = &s->cells[pos & s->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&s->enq, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        } else if (dif < 0) {
            atomic_fetch_add_explicit(&s->midi_dropped, 1, memory_order_relaxed);
            return 0; /* full */
        } else {
            pos = atomic_load_explicit(&s->enq, memory_order_relaxed);
        }
    }
    c->msg.stamp = ref_time;
    c->msg.type = ev.type;
    c->msg.group = ev.channel;
    c->msg.a = ev.a;
    c->msg.b = ev.b;
    c->msg.offset = offset;
    c->msg.pad = 0;
    atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
    return 1;
}

int32_t ws_midi_push(ws_sink *s, int32_t group, const uint8_t *data, int32_t n)
{
    return ws_midi_push_at(s, ws_clock_now(), group, data, n);
}

int32_t ws_midi_push_groups(ws_sink *s, const int32_t *groups, int32_t n_groups, const uint8_t *data, int32_t n)
{
    int64_t t = ws_clock_now();
    int32_t k = 0;
    for (int32_t i = 0; i < n_groups; i++)
        k += ws_midi_push_at(s, t, groups[i], data, n);
    return k;
}

static int ring_pop(ws_sink *s, ws_midi_msg *out)
{
    ws_cell *c = &s->cells[s->deq & s->mask];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    if ((intptr_t)seq - (intptr_t)(s->deq + 1) < 0)
        return 0;
    *out = c->msg;
    atomic_store_explicit(&c->seq, s->deq + s->mask + 1, memory_order_release);
    s->deq++;
    return 1;
}

/* --- settings (Service thread) ------------------------------------------------------------ */

void ws_set_time_map(ws_sink *s, int64_t ref_time, double frame, double frames_per_second)
{
    unsigned v = atomic_load_explicit(&s->map_seq, memory_order_relaxed);
    atomic_store_explicit(&s->map_seq, v + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->map_ref, ref_time, memory_order_relaxed);
    atomic_store_explicit(&s->map_frame, frame, memory_order_relaxed);
    atomic_store_explicit(&s->map_fps, frames_per_second, memory_order_relaxed);
    atomic_store_explicit(&s->map_seq, v + 2, memory_order_release);
    atomic_store_explicit(&s->map_set, 1, memory_order_release);
}

void ws_set_mode(ws_sink *s, int32_t scheduled, int64_t latency_ref)
{
    atomic_store(&s->latency, latency_ref);
    atomic_store(&s->scheduled, scheduled ? 1 : 0);
}

void ws_set_cycle_delay(ws_sink *s, int32_t frames) { atomic_store(&s->cycle_delay, frames > 0 ? frames : 0); }

void ws_set_frame_clock(ws_sink *s, jm_client *c) { atomic_store_explicit(&s->frame_clock, c, memory_order_release); }

void ws_set_trace(ws_sink *s, int32_t on) { atomic_store(&s->trace_on, on ? 1 : 0); }
void ws_set_limit(ws_sink *s, float limit) { atomic_store(&s->limit, limit > 0.0f ? limit : 1.0f); }
void ws_set_silent(ws_sink *s, int32_t silent) { atomic_store(&s->silent, silent ? 1 : 0); }

int32_t ws_poll_observations(ws_sink *s, ws_observation *out, int32_t max)
{
    uint32_t tail = atomic_load_explicit(&s->obs_tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&s->obs_head, memory_order_acquire);
    int32_t k = 0;
    while (tail != head && k < max)
        out[k++] = s->obs[tail++ & s->obs_mask];
    atomic_store_explicit(&s->obs_tail, tail, memory_order_release);
    return k;
}

int32_t ws_poll_trace(ws_sink *s, ws_trace *out, int32_t max)
{
    uint32_t tail = atomic_load_explicit(&s->trace_tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&s->trace_head, memory_order_acquire);
    int32_t k = 0;
    while (tail != head && k < max)
        out[k++] = s->trace[tail++ & s->trace_mask];
    atomic_store_explicit(&s->trace_tail, tail, memory_order_release);
    return k;
}

void ws_get_stats(const ws_sink *cs, ws_stats *st)
{
    ws_sink *s = (ws_sink *)cs;
    st->callbacks = atomic_load(&s->callbacks);
    st->xruns = atomic_load(&s->xruns);
    st->midi_in = atomic_load(&s->midi_in);
    st->midi_dropped = atomic_load(&s->midi_dropped);
    st->midi_applied = atomic_load(&s->midi_applied);
    st->late = atomic_load(&s->late);
    st->clipped = atomic_load(&s->clipped);
    st->heap_full = atomic_load(&s->heap_full);
    st->frames = atomic_load(&s->frames_rendered);
    st->last_callback = atomic_load(&s->last_callback_ref);
    st->load = atomic_load(&s->load_ppm) * 1e-6;
    st->peak_load = atomic_load(&s->peak_load_ppm) * 1e-6;
    st->max_frames = atomic_load(&s->max_frames);
}

void ws_reset_peak(ws_sink *s) { atomic_store(&s->peak_load_ppm, 0); }

/* --- the audio callback ------------------------------------------------------------------- */

static double map_frame(ws_sink *s, int64_t t)
{
    if (!atomic_load_explicit(&s->map_set, memory_order_acquire))
        return (double)s->anchor_frame + (double)(t - s->anchor_ref) * (double)s->rate / (double)REF_PER_SECOND;
    for (;;) {
        unsigned v1 = atomic_load_explicit(&s->map_seq, memory_order_acquire);
        if (v1 & 1u)
            continue;
        int64_t r = atomic_load_explicit(&s->map_ref, memory_order_relaxed);
        double f = atomic_load_explicit(&s->map_frame, memory_order_relaxed);
        double fps = atomic_load_explicit(&s->map_fps, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->map_seq, memory_order_relaxed) == v1)
            return f + (double)(t - r) * fps / (double)REF_PER_SECOND;
    }
}

static void trace_put(ws_sink *s, const ws_midi_msg *m, uint64_t frame, uint64_t block, int late)
{
    uint32_t head = atomic_load_explicit(&s->trace_head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&s->trace_tail, memory_order_acquire);
    if (head - tail > s->trace_mask)
        return;
    ws_trace *t = &s->trace[head & s->trace_mask];
    t->stamp = m->stamp;
    t->frame = frame;
    t->block = block;
    t->group = m->group;
    t->type = m->type;
    t->a = m->a;
    t->b = m->b;
    t->late = late;
    t->pad = 0;
    atomic_store_explicit(&s->trace_head, head + 1, memory_order_release);
}

/* How far ahead of now the device plays this buffer (100 ns; 0 when the device does not
   say, or says something implausible). Allocates nothing, takes no lock. */
static inline int64_t dac_ahead(const ws_pa_time_info *ti)
{
    if (ti && ti->output_buffer_dac_time > 0.0 && ti->current_time > 0.0) {
        double d = ti->output_buffer_dac_time - ti->current_time;
        if (d > 0.0 && d < 10.0)
            return (int64_t)(d * (double)REF_PER_SECOND + 0.5);
    }
    return 0;
}

/* A new JACK cycle seen on the frame clock: 1 when it does not start where the frames
   rendered in the last one end (by half a block or more: the graph skipped time, an xrun);
   starts counting the new cycle's frames. Allocates nothing, takes no lock. */
static inline int new_cycle(ws_sink *s, int64_t cycle, int32_t frames)
{
    int broke = 0;
    int64_t expected =
        s->last_cycle + (int64_t)((double)s->cycle_frames * (double)REF_PER_SECOND / (double)s->rate);
    int64_t slack = (int64_t)((double)frames * (double)REF_PER_SECOND / (double)s->rate / 2.0);
    if (s->last_cycle != 0 && (cycle - expected > slack || expected - cycle > slack))
        broke = 1;
    s->last_cycle = cycle;
    s->cycle_frames = 0;
    return broke;
}

/* The DAC time of the block's first frame (100 ns): from JACK's frame clock when there is
   one, else now (t0) plus how far ahead the device plays; sets *broke at a skipped cycle.
   Allocates nothing, takes no lock. */
static inline int64_t block_dac_time(ws_sink *s, int64_t t0, int64_t ahead, int32_t frames, int *broke)
{
    jm_client *fc = atomic_load_explicit(&s->frame_clock, memory_order_acquire);
    int64_t cycle = fc ? jm_cycle_start(fc) : 0;
    if (cycle <= 0)
        return t0 + ahead;
    /* A host period longer than our block calls us several times per JACK cycle: the later
       calls start that many frames into the cycle. */
    if (cycle != s->last_cycle && new_cycle(s, cycle, frames))
        *broke = 1;
    int64_t dac_ref =
        cycle + ahead + (int64_t)((double)s->cycle_frames * (double)REF_PER_SECOND / (double)s->rate + 0.5);
    s->cycle_frames += (uint64_t)frames;
    return dac_ref;
}

/* The observation for SyncToMaster (dropped when the Service thread has not read the ring).
   Allocates nothing, takes no lock. */
static inline void observation_put(ws_sink *s, uint64_t pos, int64_t dac_ref, int64_t t0, int32_t frames,
                                   unsigned long status, int64_t ahead, int broke)
{
    uint32_t head = atomic_load_explicit(&s->obs_head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&s->obs_tail, memory_order_acquire);
    if (head - tail > s->obs_mask)
        return;
    ws_observation *o = &s->obs[head & s->obs_mask];
    o->frame = pos;
    o->dac_time = dac_ref;
    o->now = t0;
    o->frames = frames;
    o->status = (uint32_t)status;
    o->ahead = ahead;
    o->discontinuity = broke;
    o->pad = 0;
    atomic_store_explicit(&s->obs_head, head + 1, memory_order_release);
}

/* The sink's settings for presenting MIDI, read once per block. */
typedef struct {
    int sched;           /* 1: presentation = stamp + latency; 0: at the block start */
    int64_t lat;         /* 100 ns */
    int tracing;
    int32_t cycle_delay; /* frames added to a cycle-stamped message's offset */
} midi_present;

/* The frame message m plays at, in the block starting at frame pos (frames long); sets
   *is_late when its presentation time has passed. Allocates nothing, takes no lock. */
static inline uint64_t message_frame(ws_sink *s, const ws_midi_msg *m, const midi_present *p, uint64_t pos,
                                     int32_t frames, int *is_late)
{
    uint64_t frame = pos;
    *is_late = 0;
    if (p->sched && m->offset >= 0) {
        /* stamped by the frame it arrived at in this very cycle: no clock to map */
        frame = pos + (uint64_t)(m->offset < frames ? m->offset : frames - 1) + (uint64_t)p->cycle_delay;
    } else if (p->sched) {
        double f = map_frame(s, m->stamp + p->lat);
        if (f < (double)pos) {
            *is_late = 1;
        } else {
            frame = (uint64_t)(f + 0.5);
        }
    }
    if (frame < s->last_frame)
        frame = s->last_frame; /* never ahead of an event given before it */
    s->last_frame = frame;
    return frame;
}

/* Every MIDI message waiting in the ring, queued in the engine at its frame; counts the
   applied, late and dropped (heap full) ones. Allocates nothing, takes no lock. */
static inline void drain_midi(ws_sink *s, eng_engine *e, uint64_t pos, int32_t frames)
{
    midi_present p;
    p.sched = atomic_load_explicit(&s->scheduled, memory_order_relaxed);
    p.lat = atomic_load_explicit(&s->latency, memory_order_relaxed);
    p.tracing = atomic_load_explicit(&s->trace_on, memory_order_relaxed);
    p.cycle_delay = atomic_load_explicit(&s->cycle_delay, memory_order_relaxed);
    ws_midi_msg m;
    uint64_t applied = 0, late = 0, full = 0;
    while (ring_pop(s, &m)) {
        int is_late;
        uint64_t frame = message_frame(s, &m, &p, pos, frames, &is_late);
        eng_event ev = {frame, m.type, m.group, m.a, m.b};
        if (!eng_insert_rt(e, &ev)) {
            full++;
            continue;
        }
        applied++;
        late += (uint64_t)is_late;
        if (p.tracing)
            trace_put(s, &m, frame, pos, is_late);
    }
    if (applied)
        atomic_fetch_add_explicit(&s->midi_applied, applied, memory_order_relaxed);
    if (late)
        atomic_fetch_add_explicit(&s->late, late, memory_order_relaxed);
    if (full)
        atomic_fetch_add_explicit(&s->heap_full, full, memory_order_relaxed);
}

/* The final clip of the device's buffer to [-lim, lim] (NaN to 0), or zeros while the sink
   is silent; counts the samples changed. Allocates nothing, takes no lock. */
static inline void clip_output(ws_sink *s, float *out, int32_t frames)
{
    float lim = atomic_load_explicit(&s->limit, memory_order_relaxed);
    uint64_t clipped = 0;
    if (atomic_load_explicit(&s->silent, memory_order_relaxed)) {
        memset(out, 0, sizeof(float) * 2 * (size_t)frames);
    } else {
        for (int32_t i = 0; i < 2 * frames; i++) {
            float x = out[i];
            if (x > lim) {
                out[i] = lim;
                clipped++;
            } else if (x < -lim) {
                out[i] = -lim;
                clipped++;
            } else if (x != x) {
                out[i] = 0.0f;
                clipped++;
            }
        }
    }
    if (clipped)
        atomic_fetch_add_explicit(&s->clipped, clipped, memory_order_relaxed);
}

/* The block's counters: frames rendered, the largest block, the callback's load (its time,
   t0 to now, over the block's; averaged and peak), the last callback's time and the count
   of callbacks (released last). Allocates nothing, takes no lock. */
static inline void count_block(ws_sink *s, int64_t t0, int32_t frames)
{
    atomic_fetch_add_explicit(&s->frames_rendered, (unsigned long long)frames, memory_order_relaxed);
    if ((uint32_t)frames > atomic_load_explicit(&s->max_frames, memory_order_relaxed))
        atomic_store_explicit(&s->max_frames, (uint32_t)frames, memory_order_relaxed);
    int64_t t1 = ws_clock_now();
    double block = (double)frames * (double)REF_PER_SECOND / (double)s->rate;
    uint32_t ppm = block > 0 ? (uint32_t)((double)(t1 - t0) / block * 1e6) : 0;
    uint32_t avg = atomic_load_explicit(&s->load_ppm, memory_order_relaxed);
    atomic_store_explicit(&s->load_ppm, (uint32_t)(0.9 * avg + 0.1 * ppm), memory_order_relaxed);
    if (ppm > atomic_load_explicit(&s->peak_load_ppm, memory_order_relaxed))
        atomic_store_explicit(&s->peak_load_ppm, ppm, memory_order_relaxed);
    atomic_store_explicit(&s->last_callback_ref, t1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->callbacks, 1, memory_order_release);
}

int ws_callback(const void *input, void *output, unsigned long frame_count, const ws_pa_time_info *ti,
                unsigned long status, void *user)
{
    (void)input;
    ws_sink *s = user;
    float *out = output;
    int64_t t0 = ws_clock_now();
    int32_t frames = (int32_t)frame_count;
    int broke = 0;
    if (status & (PA_OUTPUT_UNDERFLOW | PA_OUTPUT_OVERFLOW)) {
        atomic_fetch_add_explicit(&s->xruns, 1, memory_order_relaxed);
        broke = 1;
    }
    eng_engine *e = s->engine;
    uint64_t pos = eng_position(e);
    int64_t ahead = dac_ahead(ti);
    int64_t dac_ref = block_dac_time(s, t0, ahead, frames, &broke);
    if (!s->started) {
        s->started = 1;
        s->anchor_ref = dac_ref;
        s->anchor_frame = pos;
        s->last_frame = pos;
    }
    observation_put(s, pos, dac_ref, t0, frames, status, ahead, broke);
    /* What the Service thread queued first (patch table, downloads), then MIDI: every
       message waiting, at its frame */
    eng_drain_rt(e);
    drain_midi(s, e, pos, frames);
    /* render straight into the device's buffer, then the final clip */
    eng_render(e, out, frames);
    clip_output(s, out, frames);
    count_block(s, t0, frames);
    return 0; /* paContinue */
}

/* For tests and the offline rig: run the callback as a device would, without PortAudio. */
int32_t ws_run_callback(ws_sink *s, float *out, int32_t frames, double current_time, double dac_time)
{
    ws_pa_time_info ti = {0.0, current_time, dac_time};
    return ws_callback(NULL, out, (unsigned long)frames, &ti, 0, s);
}

/* --- libjack's messages ----------------------------------------------------------------- */

#include <dlfcn.h>

static atomic_ullong jack_messages;

static void count_jack_message(const char *msg)
{
    (void)msg;
    atomic_fetch_add_explicit(&jack_messages, 1, memory_order_relaxed);
}

/* Send libjack's error and info lines (library handle lib) to the message counter instead
   of stderr; 1 when the library has jack_set_error_function. Also used by jackmidi.c. */
int ws_route_jack_messages(void *lib);
int ws_route_jack_messages(void *lib)
{
    void (*set_error)(void (*)(const char *)) =
        (void (*)(void (*)(const char *)))dlsym(lib, "jack_set_error_function");
    void (*set_info)(void (*)(const char *)) =
        (void (*)(void (*)(const char *)))dlsym(lib, "jack_set_info_function");
    if (set_error)
        set_error(count_jack_message);
    if (set_info)
        set_info(count_jack_message);
    return set_error != NULL;
}

int32_t ws_quiet_jack(const char *library)
{
    void *h = dlopen(library, RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        return 0;
    int32_t quiet = ws_route_jack_messages(h);
    dlclose(h);
    return quiet;
}

uint64_t ws_jack_messages(void) { return atomic_load(&jack_messages); }
