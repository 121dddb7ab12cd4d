/*
 * Threads hammering the live wave sink as live play does, for ThreadSanitizer (and ASan):
 * several MIDI producers push stamped messages, a "Service" thread publishes time maps and
 * reads observations and the trace, and an "audio" thread runs the callback. At the end
 * every message pushed was either applied or counted as dropped.
 *
 * Built and run by tests/test_native_wavesink.py: gcc -fsanitize=thread ... native/*.c.
 */
#include "engine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define PRODUCERS 3
#define PER_PRODUCER 20000
#define BLOCK 64

static ws_sink *sink;
static atomic_int producers_done;
static atomic_int stop;

static void *producer(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        uint8_t msg[3] = {(uint8_t)(0x90 | (id & 15)), (uint8_t)(i % 128), (uint8_t)(i % 2 ? 100 : 0)};
        ws_midi_push(sink, 1, msg, 3);
    }
    atomic_fetch_add(&producers_done, 1);
    return NULL;
}

static void *audio(void *arg)
{
    (void)arg;
    float out[2 * BLOCK];
    double t = 1.0;
    while (!atomic_load(&stop)) {
        ws_run_callback(sink, out, BLOCK, t, t + 0.004);
        t += (double)BLOCK / 48000.0;
    }
    return NULL;
}

static void *service(void *arg)
{
    (void)arg;
    ws_observation obs[64];
    ws_trace tr[256];
    long long traced = 0;
    while (!atomic_load(&stop)) {
        int n = ws_poll_observations(sink, obs, 64);
        if (n > 0)
            ws_set_time_map(sink, obs[n - 1].dac_time, (double)obs[n - 1].frame, 48000.0);
        traced += ws_poll_trace(sink, tr, 256);
        ws_stats st;
        ws_get_stats(sink, &st);
    }
    return (void *)(intptr_t)traced;
}

int main(void)
{
    eng_engine *e = eng_create(48000, 64, 16, ENG_INTERP_CUBIC, 4096, 16, 16);
    sink = ws_create(e, 1024, 256, 4096);
    if (!e || !sink)
        return 2;
    ws_set_trace(sink, 1);
    ws_set_mode(sink, 1, 20000); /* scheduled, 2 ms */
    pthread_t p[PRODUCERS], a, s;
    pthread_create(&a, NULL, audio, NULL);
    pthread_create(&s, NULL, service, NULL);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&p[i], NULL, producer, (void *)(intptr_t)i);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(p[i], NULL);
    /* let the audio thread drain what is left */
    for (int k = 0; k < 2000; k++) {
        ws_stats st;
        ws_get_stats(sink, &st);
        if (st.midi_applied + st.midi_dropped + st.heap_full >= (uint64_t)PRODUCERS * PER_PRODUCER)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, 1);
    pthread_join(a, NULL);
    void *traced;
    pthread_join(s, &traced);
    ws_stats st;
    ws_get_stats(sink, &st);
    printf("pushed %d applied %llu dropped %llu heap_full %llu callbacks %llu\n", PRODUCERS * PER_PRODUCER,
           (unsigned long long)st.midi_applied, (unsigned long long)st.midi_dropped,
           (unsigned long long)st.heap_full, (unsigned long long)st.callbacks);
    int ok = st.midi_applied + st.midi_dropped + st.heap_full == (uint64_t)PRODUCERS * PER_PRODUCER &&
             st.midi_in == (uint64_t)PRODUCERS * PER_PRODUCER;
    ws_destroy(sink);
    eng_destroy(e);
    return ok ? 0 : 1;
}
