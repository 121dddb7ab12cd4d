/*
 * dlsynth MIDI input through RtMidi's C API (ALSA, CoreMIDI, JACK): one RtMidiIn per input,
 * whose callback is this file's C function. It stamps each message and pushes it into the
 * wave sink's lock-free ring for its input's route, on RtMidi's own thread, with no Python.
 *
 * Why not python-rtmidi's callback: it takes the GIL on RtMidi's thread, and RtMidi joins
 * that thread (ALSA) or closes the JACK client that runs it while the caller, holding the
 * GIL, waits. Closing an input while a keyboard plays into it then deadlocks, or frees the
 * callback's tuple under a callback already on its way (a crash in _cb_func, seen on CI).
 * Here nothing on that thread waits for the interpreter, and cffi releases the GIL around
 * every call below, so a close simply waits for the last callback to return.
 *
 * librtmidi is opened with dlopen, so the module loads on a machine without it. Every call
 * but the callback runs on the Service thread (or the thread that opens the inputs).
 */
#define _POSIX_C_SOURCE 200809L
#include "engine.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RM_QUEUE_SIZE 1024 /* RtMidi's queue, unused with a callback */

/* RtMidi's C API, as much as we use (rtmidi/rtmidi_c.h, RtMidi 4 to 6). */
struct RtMidiWrapper {
    void *ptr;
    void *data;
    bool ok;
    const char *msg;
};
typedef struct RtMidiWrapper *RtMidiPtr;
typedef void (*RtMidiCCallback)(double time_stamp, const unsigned char *message, size_t size, void *user);

struct rm_api {
    int (*compiled_api_by_name)(const char *);
    RtMidiPtr (*in_create)(int api, const char *client, unsigned int queue_size);
    void (*in_free)(RtMidiPtr);
    void (*in_set_callback)(RtMidiPtr, RtMidiCCallback, void *);
    void (*in_ignore_types)(RtMidiPtr, bool sysex, bool timing, bool sense);
    void (*open_port)(RtMidiPtr, unsigned int, const char *);
    void (*open_virtual_port)(RtMidiPtr, const char *);
    void (*close_port)(RtMidiPtr);
    unsigned int (*get_port_count)(RtMidiPtr);
    int (*get_port_name)(RtMidiPtr, unsigned int, char *, int *);
};

struct rm_input {
    struct rm_api r;
    void *lib;
    RtMidiPtr dev;
    ws_sink *sink;
    atomic_uint route_seq;               /* odd while rm_set_route writes the route */
    _Atomic int32_t n_groups;            /* 0: messages are dropped */
    _Atomic int32_t groups[MIDI_IN_MAX_ROUTE]; /* channel groups its messages go to */
    atomic_ullong events;                /* messages received */
};

/* RtMidi 5 and 6 only: 4 (librtmidi.so.5) has another rtmidi_get_port_name, and an
   unversioned name could be any release. */
static const char *const LIBRARIES[] = {"librtmidi.so.6", "librtmidi.so.7", "librtmidi.6.dylib", "librtmidi.7.dylib",
                                        "/opt/homebrew/lib/librtmidi.7.dylib", "/usr/local/lib/librtmidi.7.dylib"};

/* RtMidi's thread: stamp and queue, nothing else. */
static void on_message(double time_stamp, const unsigned char *message, size_t size, void *user)
{
    (void)time_stamp;
    rm_input *in = user;
    if (size == 0 || size > INT32_MAX)
        return;
    int32_t groups[MIDI_IN_MAX_ROUTE];
    int32_t n;
    unsigned seq;
    do { /* the whole route, old or new: retried only if a route change ran meanwhile */
        seq = atomic_load_explicit(&in->route_seq, memory_order_acquire);
        n = atomic_load_explicit(&in->n_groups, memory_order_relaxed);
        for (int32_t i = 0; i < n; i++)
            groups[i] = atomic_load_explicit(&in->groups[i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
    } while ((seq & 1u) || seq != atomic_load_explicit(&in->route_seq, memory_order_relaxed));
    atomic_fetch_add_explicit(&in->events, 1, memory_order_relaxed);
    ws_midi_push_groups(in->sink, groups, n, message, (int32_t)size);
}

/* RtMidi's C wrapper points dev->msg into the exception it caught, freed by then: only
   whether the call failed can be read, not why. */
static void say(char *err, int32_t errlen, const char *what)
{
    snprintf(err, (size_t)errlen, "%s (RtMidi refused it)", what);
}

/* Whether the call just made failed (RtMidi sets ok = false and never back: clear it first). */
#define RM_CALL(in, call) ((in)->dev->ok = true, (call), (in)->dev->ok)

#define LOAD(name, sym)                                                                                          \
    do {                                                                                                         \
        *(void **)(&in->r.name) = dlsym(in->lib, sym);                                                           \
        if (!in->r.name) {                                                                                       \
            snprintf(err, (size_t)errlen, "librtmidi has no %s", sym);                                           \
            goto fail;                                                                                           \
        }                                                                                                        \
    } while (0)

/* Close and free the RtMidiIn. rtmidi_in_free deletes the C wrapper's callback proxy
   (dev->data: our function and `in`) before it deletes the RtMidiIn, whose destructor is what
   closes the JACK client and so waits for a process cycle still inside the callback (one that
   passed RtMidi's port check before the port closed: a cycle preempted there for any length
   of time, on a busy machine, would then read the freed proxy). So the proxy is taken out of
   the wrapper first and left allocated (two pointers per closed input; it was made by C++
   `new`, which C cannot pair): every callback then finds it valid until the client is gone,
   and `in` is freed only after that. */
static void free_device(rm_input *in)
{
    in->r.close_port(in->dev);
    in->dev->data = NULL; /* (kept: see above) */
    in->r.in_free(in->dev);
    in->dev = NULL;
}

int32_t rm_available(char *err, int32_t errlen)
{
    for (size_t i = 0; i < sizeof LIBRARIES / sizeof *LIBRARIES; i++) {
        void *h = dlopen(LIBRARIES[i], RTLD_NOW | RTLD_LOCAL);
        if (h) {
            dlclose(h);
            return 1;
        }
    }
    snprintf(err, (size_t)errlen, "librtmidi 5 or 6 is not installed (Debian/Ubuntu: apt-get install librtmidi6; "
                                  "macOS: brew install rtmidi)");
    return 0;
}

rm_input *rm_open(ws_sink *sink, const char *api, const char *client_name, const char *source, const char *port_name,
                  char *err, int32_t errlen)
{
    rm_input *in = calloc(1, sizeof *in);
    if (!in) {
        snprintf(err, (size_t)errlen, "out of memory");
        return NULL;
    }
    in->sink = sink;
    for (size_t i = 0; i < sizeof LIBRARIES / sizeof *LIBRARIES && !in->lib; i++)
        in->lib = dlopen(LIBRARIES[i], RTLD_NOW | RTLD_LOCAL);
    if (!in->lib) {
        rm_available(err, errlen);
        free(in);
        return NULL;
    }
    LOAD(compiled_api_by_name, "rtmidi_compiled_api_by_name");
    LOAD(in_create, "rtmidi_in_create");
    LOAD(in_free, "rtmidi_in_free");
    LOAD(in_set_callback, "rtmidi_in_set_callback");
    LOAD(in_ignore_types, "rtmidi_in_ignore_types");
    LOAD(open_port, "rtmidi_open_port");
    LOAD(open_virtual_port, "rtmidi_open_virtual_port");
    LOAD(close_port, "rtmidi_close_port");
    LOAD(get_port_count, "rtmidi_get_port_count");
    LOAD(get_port_name, "rtmidi_get_port_name");

    int which = in->r.compiled_api_by_name(api);
    if (which == 0) { /* RTMIDI_API_UNSPECIFIED: not compiled into this librtmidi */
        snprintf(err, (size_t)errlen, "this librtmidi has no %s MIDI API", api);
        goto fail;
    }
    in->dev = in->r.in_create(which, client_name, RM_QUEUE_SIZE);
    if (!in->dev || !in->dev->ok) {
        say(err, errlen, "cannot open the MIDI API");
        goto fail;
    }
    in->r.in_ignore_types(in->dev, false, true, true); /* sysex in; clock and active sensing out */
    if (!RM_CALL(in, in->r.in_set_callback(in->dev, on_message, in))) {
        say(err, errlen, "cannot set the MIDI callback");
        goto fail;
    }
    if (source == NULL) {
        if (!RM_CALL(in, in->r.open_virtual_port(in->dev, port_name))) {
            say(err, errlen, "cannot create the virtual MIDI port");
            goto fail;
        }
        return in;
    }
    /* By name, in this client's own list: the port numbers of another client's list may
       have moved since it was read. */
    unsigned int count = 0;
    if (!RM_CALL(in, count = in->r.get_port_count(in->dev)) || count > 4096)
        count = 0;
    for (unsigned int i = 0; i < count; i++) {
        char name[512] = "";
        int len = (int)sizeof name;
        int got = 0;
        if (!RM_CALL(in, got = in->r.get_port_name(in->dev, i, name, &len)) || got < 0)
            continue;
        name[sizeof name - 1] = '\0';
        if (strcmp(name, source) != 0)
            continue;
        if (!RM_CALL(in, in->r.open_port(in->dev, i, port_name))) {
            say(err, errlen, "cannot open the MIDI input");
            goto fail;
        }
        return in;
    }
    snprintf(err, (size_t)errlen, "the MIDI input is gone");
fail:
    if (in->dev)
        free_device(in);
    if (in->lib)
        dlclose(in->lib);
    free(in);
    return NULL;
}

int32_t rm_set_route(rm_input *in, const int32_t *groups, int32_t n_groups)
{
    if (n_groups < 0 || n_groups > MIDI_IN_MAX_ROUTE)
        return -1;
    /* One writer (the Service thread); the callback retries while the sequence is odd or moved. */
    unsigned seq = atomic_load_explicit(&in->route_seq, memory_order_relaxed);
    atomic_store_explicit(&in->route_seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&in->n_groups, n_groups, memory_order_relaxed);
    for (int32_t i = 0; i < n_groups; i++)
        atomic_store_explicit(&in->groups[i], groups[i], memory_order_relaxed);
    atomic_store_explicit(&in->route_seq, seq + 2, memory_order_release);
    return 0;
}

uint64_t rm_events(rm_input *in) { return atomic_load_explicit(&in->events, memory_order_relaxed); }

void rm_close(rm_input *in)
{
    if (!in)
        return;
    int32_t none = 0;
    rm_set_route(in, &none, 0);
    free_device(in);
    dlclose(in->lib);
    free(in);
}
