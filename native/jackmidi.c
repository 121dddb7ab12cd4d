/*
 * dlsynth JACK MIDI input in C: a JACK client whose process callback (a real-time thread of
 * the JACK graph) stamps every incoming MIDI event with the master time of its exact frame
 * and pushes it into the wave sink's lock-free ring, for the channel groups of its port's
 * route. No Python runs in the JACK graph (python-rtmidi calls its Python callback from the
 * JACK process thread, so a busy interpreter would stall the whole graph), and events keep
 * their frame offsets instead of being rounded to the period.
 *
 * libjack is opened with dlopen, so the module loads (and everything else works) on a
 * machine without it. All calls but the process callback run on the Service thread.
 */
#define _POSIX_C_SOURCE 200809L
#include "engine.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JM_MAX_PORTS 64
#define JACK_MIDI_TYPE "8 bit raw midi"

int ws_route_jack_messages(void *lib); /* wavesink.c */

/* The libjack API, as much as we use (jack/types.h, jack/midiport.h). */
typedef uint32_t jack_nframes_t;
typedef uint64_t jack_time_t;
typedef struct _jack_client jack_client_t;
typedef struct _jack_port jack_port_t;
typedef struct {
    jack_nframes_t time;
    size_t size;
    unsigned char *buffer;
} jack_midi_event_t;
enum { JackNoStartServer = 0x01, JackUseExactName = 0x02 };
enum { JackPortIsInput = 0x1, JackPortIsOutput = 0x2, JackPortIsPhysical = 0x4 };
#define JACK_AUDIO_TYPE "32 bit float mono audio"
#define JM_MAX_FRAMES 8192

struct jm_api {
    jack_client_t *(*client_open)(const char *, int, int *, ...);
    int (*client_close)(jack_client_t *);
    int (*activate)(jack_client_t *);
    int (*deactivate)(jack_client_t *);
    int (*set_process_callback)(jack_client_t *, int (*)(jack_nframes_t, void *), void *);
    void (*on_shutdown)(jack_client_t *, void (*)(void *), void *);
    jack_port_t *(*port_register)(jack_client_t *, const char *, const char *, unsigned long, unsigned long);
    void *(*port_get_buffer)(jack_port_t *, jack_nframes_t);
    const char *(*port_name)(const jack_port_t *);
    int (*port_connected)(const jack_port_t *);
    uint32_t (*midi_get_event_count)(void *);
    int (*midi_event_get)(jack_midi_event_t *, void *, uint32_t);
    jack_nframes_t (*last_frame_time)(const jack_client_t *);
    jack_time_t (*frames_to_time)(const jack_client_t *, jack_nframes_t);
    jack_time_t (*get_time)(void);
    int (*connect)(jack_client_t *, const char *, const char *);
    const char **(*get_ports)(jack_client_t *, const char *, const char *, unsigned long);
    void (*free)(void *);
    char *(*get_client_name)(jack_client_t *);
    jack_port_t *(*port_by_name)(jack_client_t *, const char *);
    int (*set_port_registration_callback)(jack_client_t *, void (*)(uint32_t, int, void *), void *);
    int (*set_port_connect_callback)(jack_client_t *, void (*)(uint32_t, uint32_t, int, void *), void *);
    uint32_t (*get_sample_rate)(jack_client_t *);
    const char **(*port_get_all_connections)(const jack_client_t *, const jack_port_t *);
};

typedef struct {
    _Atomic int32_t n;                   /* 0: the port is idle (messages dropped) */
    _Atomic int32_t groups[MIDI_IN_MAX_ROUTE]; /* channel groups its messages go to */
} jm_route;

/* A port's route is double-buffered, so a route change never reaches the process callback
   half made: the Service thread writes the slot not in use (after any callback still reading
   it has left it), then publishes it; the callback never waits for the Service thread (it
   retries only if a route was published between its two looks). */
typedef struct {
    jack_port_t *port;
    atomic_uint route_gen;               /* route[route_gen & 1] is the port's route */
    atomic_uint readers[2];              /* process callbacks reading each slot */
    jm_route route[2];
} jm_port;

struct jm_client {
    struct jm_api j;
    void *lib;
    jack_client_t *client;
    ws_sink *sink;
    int64_t clock_offset;                /* master time (100 ns) - jack time (us) * 10 */
    jm_port ports[JM_MAX_PORTS];
    atomic_int n_ports;
    atomic_int shutdown;                 /* the server went away */
    atomic_ullong events;
    atomic_uint graph_changes;           /* ports registered or connected anywhere in the graph */
    /* audio out: this client is also the wave sink's device (one client, like FluidSynth's) */
    jack_port_t *out[2];
    float *scratch;                      /* 2 * JM_MAX_FRAMES interleaved frames */
    _Atomic(ws_sink *) audio;            /* NULL: the outputs play silence */
    uint32_t rate;                       /* the server's, frames per second */
};

#define LOAD(name, sym)                                                                                          \
    do {                                                                                                         \
        *(void **)(&c->j.name) = dlsym(c->lib, sym);                                                             \
        if (!c->j.name) {                                                                                        \
            snprintf(err, (size_t)errlen, "libjack has no %s", sym);                                             \
            goto fail;                                                                                           \
        }                                                                                                        \
    } while (0)

static void render_audio(jm_client *c, jack_nframes_t nframes)
{
    if (!c->out[0] || !c->out[1])
        return;
    float *l = c->j.port_get_buffer(c->out[0], nframes);
    float *r = c->j.port_get_buffer(c->out[1], nframes);
    if (!l || !r)
        return;
    ws_sink *s = atomic_load_explicit(&c->audio, memory_order_acquire);
    if (!s || nframes > JM_MAX_FRAMES) {
        memset(l, 0, sizeof(float) * nframes);
        memset(r, 0, sizeof(float) * nframes);
        return;
    }
    /* The same callback a PortAudio stream runs; its output reaches the DAC one period on. */
    ws_pa_time_info ti = {0.0, 1.0, 1.0 + (double)nframes / (double)c->rate};
    ws_callback(NULL, c->scratch, nframes, &ti, 0, s);
    for (jack_nframes_t i = 0; i < nframes; i++) {
        l[i] = c->scratch[2 * i];
        r[i] = c->scratch[2 * i + 1];
    }
}

/* The process callback's copy of a port's route; returns its length. */
static int32_t read_route(jm_port *p, int32_t *groups)
{
    unsigned g, s;
    for (;;) {
        g = atomic_load(&p->route_gen);
        s = g & 1u;
        atomic_fetch_add(&p->readers[s], 1u);
        if (atomic_load(&p->route_gen) == g)
            break;
        atomic_fetch_sub(&p->readers[s], 1u); /* published meanwhile: the other slot */
    }
    const jm_route *r = &p->route[s];
    int32_t n = atomic_load_explicit(&r->n, memory_order_relaxed);
    for (int32_t i = 0; i < n; i++)
        groups[i] = atomic_load_explicit(&r->groups[i], memory_order_relaxed);
    atomic_fetch_sub_explicit(&p->readers[s], 1u, memory_order_release);
    return n;
}

static int process(jack_nframes_t nframes, void *arg)
{
    jm_client *c = arg;
    int n = atomic_load_explicit(&c->n_ports, memory_order_acquire);
    jack_nframes_t f0 = c->j.last_frame_time(c->client);
    ws_sink *audio = atomic_load_explicit(&c->audio, memory_order_acquire);
    if (audio != c->sink || nframes > JM_MAX_FRAMES)
        audio = NULL; /* rendered elsewhere (PortAudio): stamps go through the time map */
    for (int p = 0; p < n; p++) {
        jm_port *port = &c->ports[p];
        int32_t route[MIDI_IN_MAX_ROUTE];
        int32_t ng = read_route(port, route);
        void *buf = c->j.port_get_buffer(port->port, nframes);
        if (!buf)
            continue;
        uint32_t count = c->j.midi_get_event_count(buf);
        for (uint32_t i = 0; i < count; i++) {
            jack_midi_event_t ev;
            if (c->j.midi_event_get(&ev, buf, i) != 0 || ev.size == 0)
                continue;
            atomic_fetch_add_explicit(&c->events, 1, memory_order_relaxed);
            int64_t stamp = (int64_t)c->j.frames_to_time(c->client, f0 + ev.time) * 10 + c->clock_offset;
            for (int32_t g = 0; g < ng; g++) {
                int32_t group = route[g];
                if (audio) /* rendered below, in this cycle: its frame in the cycle is exact */
                    ws_midi_push_cycle(c->sink, stamp, (int32_t)ev.time, group, ev.buffer, (int32_t)ev.size);
                else
                    ws_midi_push_at(c->sink, stamp, group, ev.buffer, (int32_t)ev.size);
            }
        }
    }
    render_audio(c, nframes); /* after the MIDI: this cycle's messages play in this cycle */
    return 0;
}

/* libjack's notification thread (not real-time): the graph changed; the Service thread
   looks again (querying the server every round instead disturbs this client's cycle). */
static void on_port_registration(uint32_t port, int registered, void *arg)
{
    (void)port;
    (void)registered;
    jm_client *c = arg;
    atomic_fetch_add(&c->graph_changes, 1);
}

static void on_port_connect(uint32_t a, uint32_t b, int connect, void *arg)
{
    (void)a;
    (void)b;
    (void)connect;
    jm_client *c = arg;
    atomic_fetch_add(&c->graph_changes, 1);
}

static void on_shutdown(void *arg)
{
    jm_client *c = arg;
    atomic_store(&c->shutdown, 1);
}

/* Resolve every libjack function we use from c->lib into c->j; 0 (with the missing name in
   err) when one is absent. */
static int load_api(jm_client *c, char *err, int32_t errlen)
{
    LOAD(client_open, "jack_client_open");
    LOAD(client_close, "jack_client_close");
    LOAD(activate, "jack_activate");
    LOAD(deactivate, "jack_deactivate");
    LOAD(set_process_callback, "jack_set_process_callback");
    LOAD(on_shutdown, "jack_on_shutdown");
    LOAD(port_register, "jack_port_register");
    LOAD(port_get_buffer, "jack_port_get_buffer");
    LOAD(port_name, "jack_port_name");
    LOAD(port_connected, "jack_port_connected");
    LOAD(midi_get_event_count, "jack_midi_get_event_count");
    LOAD(midi_event_get, "jack_midi_event_get");
    LOAD(last_frame_time, "jack_last_frame_time");
    LOAD(frames_to_time, "jack_frames_to_time");
    LOAD(get_time, "jack_get_time");
    LOAD(connect, "jack_connect");
    LOAD(get_ports, "jack_get_ports");
    LOAD(free, "jack_free");
    LOAD(get_client_name, "jack_get_client_name");
    LOAD(port_by_name, "jack_port_by_name");
    LOAD(set_port_registration_callback, "jack_set_port_registration_callback");
    LOAD(set_port_connect_callback, "jack_set_port_connect_callback");
    LOAD(get_sample_rate, "jack_get_sample_rate");
    LOAD(port_get_all_connections, "jack_port_get_all_connections");
    return 1;
fail:
    return 0;
}

/* Open and activate the client `name` on a running server (never starting one), with its
   process, shutdown and graph callbacks; 0 (with the reason in err) when it cannot. */
static int open_client(jm_client *c, const char *name, char *err, int32_t errlen)
{
    int status = 0;
    c->client = c->j.client_open(name, JackNoStartServer, &status);
    if (!c->client) {
        snprintf(err, (size_t)errlen, "cannot open a JACK client (is a JACK server running?), status 0x%x", status);
        return 0;
    }
    /* JACK's clock and ours: both CLOCK_MONOTONIC on Linux; measured, not assumed. */
    c->clock_offset = ws_clock_now() - (int64_t)c->j.get_time() * 10;
    c->rate = c->j.get_sample_rate(c->client);
    c->j.set_process_callback(c->client, process, c);
    c->j.on_shutdown(c->client, on_shutdown, c);
    c->j.set_port_registration_callback(c->client, on_port_registration, c);
    c->j.set_port_connect_callback(c->client, on_port_connect, c);
    atomic_init(&c->graph_changes, 1);
    if (c->j.activate(c->client) != 0) {
        snprintf(err, (size_t)errlen, "cannot activate the JACK client");
        return 0;
    }
    return 1;
}

jm_client *jm_create(ws_sink *sink, const char *name, char *err, int32_t errlen)
{
    jm_client *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, (size_t)errlen, "out of memory");
        return NULL;
    }
    c->sink = sink;
    c->lib = dlopen("libjack.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!c->lib) {
        snprintf(err, (size_t)errlen, "libjack is not installed (apt-get install libjack-jackd2-0)");
        free(c);
        return NULL;
    }
    if (!load_api(c, err, errlen))
        goto fail;
    /* libjack prints its own lines when there is no server (or it goes away): counted by
       the wave sink's message counter instead, so the user reads our one line. */
    ws_route_jack_messages(c->lib);
    if (!open_client(c, name, err, errlen))
        goto fail;
    return c;
fail:
    if (c->client)
        c->j.client_close(c->client);
    if (c->lib)
        dlclose(c->lib);
    free(c);
    return NULL;
}

void jm_destroy(jm_client *c)
{
    if (!c)
        return;
    if (!atomic_load(&c->shutdown)) {
        c->j.deactivate(c->client);
        c->j.client_close(c->client);
    }
    dlclose(c->lib);
    free(c->scratch);
    free(c);
}

/* The graph's ports of a type and flags, newline-separated into out; how many, -1 if the
   server is gone. */
static int32_t list_ports(jm_client *c, const char *type, unsigned long flags, char *out, int32_t len)
{
    if (atomic_load(&c->shutdown))
        return -1;
    const char **names = c->j.get_ports(c->client, NULL, type, flags);
    int32_t used = 0, n = 0;
    if (len > 0)
        out[0] = 0;
    if (names) {
        for (int i = 0; names[i]; i++) {
            int32_t k = (int32_t)strlen(names[i]);
            if (used + k + 2 > len)
                break;
            memcpy(out + used, names[i], (size_t)k);
            used += k;
            out[used++] = '\n';
            out[used] = 0;
            n++;
        }
        c->j.free(names);
    }
    return n;
}

int32_t jm_enable_audio(jm_client *c, ws_sink *s)
{
    if (atomic_load(&c->shutdown))
        return -1;
    if (!c->out[0]) {
        c->scratch = calloc(2 * JM_MAX_FRAMES, sizeof(float));
        if (!c->scratch)
            return -1;
        jack_port_t *a = c->j.port_register(c->client, "out_0", JACK_AUDIO_TYPE, JackPortIsOutput, 0);
        jack_port_t *b = c->j.port_register(c->client, "out_1", JACK_AUDIO_TYPE, JackPortIsOutput, 0);
        if (!a || !b)
            return -1;
        c->out[1] = b;
        atomic_thread_fence(memory_order_release);
        c->out[0] = a;
    }
    atomic_store_explicit(&c->audio, s, memory_order_release);
    return 0;
}

void jm_disable_audio(jm_client *c) { atomic_store_explicit(&c->audio, NULL, memory_order_release); }

int32_t jm_sample_rate(jm_client *c) { return (int32_t)c->rate; }

int32_t jm_connect_output(jm_client *c, int32_t channel, const char *dest)
{
    if (channel < 0 || channel > 1 || !c->out[channel] || atomic_load(&c->shutdown))
        return -1;
    int rc = c->j.connect(c->client, c->j.port_name(c->out[channel]), dest);
    return rc == 0 || rc == 17 ? 0 : -1;
}

int32_t jm_list_playback(jm_client *c, char *out, int32_t len)
{
    return list_ports(c, JACK_AUDIO_TYPE, JackPortIsInput | JackPortIsPhysical, out, len);
}

int32_t jm_add_port(jm_client *c, const char *port_name)
{
    int n = atomic_load(&c->n_ports);
    if (n >= JM_MAX_PORTS)
        return -1;
    jack_port_t *p = c->j.port_register(c->client, port_name, JACK_MIDI_TYPE, JackPortIsInput, 0);
    if (!p)
        return -1;
    c->ports[n].port = p;
    atomic_store(&c->ports[n].route_gen, 0u);
    atomic_store(&c->ports[n].route[0].n, 0);
    atomic_store_explicit(&c->n_ports, n + 1, memory_order_release);
    return n;
}

int32_t jm_set_route(jm_client *c, int32_t port, const int32_t *groups, int32_t n_groups)
{
    if (port < 0 || port >= atomic_load(&c->n_ports) || n_groups < 0 || n_groups > MIDI_IN_MAX_ROUTE)
        return -1;
    jm_port *p = &c->ports[port];
    unsigned g = atomic_load(&p->route_gen), s = (g + 1u) & 1u;
    /* a process callback that took this slot before the last publication leaves it within
       its cycle's MIDI pass (no waiting there): microseconds */
    while (atomic_load(&p->readers[s]) != 0u) {
        struct timespec pause = {0, 50000};
        nanosleep(&pause, NULL);
    }
    jm_route *r = &p->route[s];
    atomic_store_explicit(&r->n, n_groups, memory_order_relaxed);
    for (int32_t i = 0; i < n_groups; i++)
        atomic_store_explicit(&r->groups[i], groups[i], memory_order_relaxed);
    atomic_store(&p->route_gen, g + 1u); /* publishes the slot (sequentially consistent) */
    return 0;
}

int32_t jm_port_name(jm_client *c, int32_t port, char *out, int32_t len)
{
    if (port < 0 || port >= atomic_load(&c->n_ports))
        return -1;
    snprintf(out, (size_t)len, "%s", c->j.port_name(c->ports[port].port));
    return 0;
}

int32_t jm_port_connections(jm_client *c, int32_t port)
{
    if (port < 0 || port >= atomic_load(&c->n_ports) || atomic_load(&c->shutdown))
        return -1;
    return c->j.port_connected(c->ports[port].port);
}

int32_t jm_connect(jm_client *c, const char *source, int32_t port)
{
    if (port < 0 || port >= atomic_load(&c->n_ports) || atomic_load(&c->shutdown))
        return -1;
    int rc = c->j.connect(c->client, source, c->j.port_name(c->ports[port].port));
    return rc == 0 || rc == 17 /* EEXIST: already connected */ ? 0 : -1;
}

int32_t jm_list_sources(jm_client *c, char *out, int32_t len)
{
    return list_ports(c, JACK_MIDI_TYPE, JackPortIsOutput, out, len);
}

int32_t jm_client_name(jm_client *c, char *out, int32_t len)
{
    snprintf(out, (size_t)len, "%s", c->j.get_client_name(c->client));
    return 0;
}

int32_t jm_is_shutdown(jm_client *c) { return atomic_load(&c->shutdown); }
uint64_t jm_events(jm_client *c) { return atomic_load(&c->events); }

int32_t jm_feeds_us(jm_client *c, const char *source)
{
    if (atomic_load(&c->shutdown))
        return -1;
    jack_port_t *p = c->j.port_by_name(c->client, source);
    if (!p)
        return 0;
    const char *me = c->j.get_client_name(c->client);
    size_t k = strlen(me);
    const char **conns = c->j.port_get_all_connections(c->client, p);
    int32_t hit = 0;
    if (conns) {
        for (int i = 0; conns[i]; i++)
            if (strncmp(conns[i], me, k) == 0 && conns[i][k] == ':')
                hit = 1;
        c->j.free(conns);
    }
    return hit;
}

int64_t jm_cycle_start(jm_client *c)
{
    if (atomic_load_explicit(&c->shutdown, memory_order_relaxed))
        return 0;
    jack_nframes_t f = c->j.last_frame_time(c->client);
    return (int64_t)c->j.frames_to_time(c->client, f) * 10 + c->clock_offset;
}

uint32_t jm_graph_changes(jm_client *c) { return atomic_load(&c->graph_changes); }
