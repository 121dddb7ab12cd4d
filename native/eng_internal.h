/*
 * dlsynth voice engine: the declarations the engine's own files share (not part of the cffi
 * interface: see engine.h for that; the data structures are in voice.h).
 *
 * Threads. One producer thread (the Python side, serialised by the wrapper's lock) creates
 * waves and instruments and pushes events; one render thread calls eng_render. They share:
 * the event ring (SPSC, C11 atomics), the finished ring (render -> producer), the instrument
 * slot table (pointers published with release stores), a few atomic settings and the stats.
 * Everything eng_render touches was allocated before; it never allocates, frees or locks.
 *
 * The files, by thread and concern:
 *   producer:       eng_create.c (engine, render threads), eng_waves.c (sample pool, loop
 *                   images), eng_instruments.c (instrument download), eng_conn_compile.c
 *                   (connection compile, at download), eng_kernels.c (the kernels' SIMD
 *                   variants, kernel entry points for tests)
 *   both, by ring:  eng_queue.c (event ring, pending heap, finished ring), eng_settings.c
 *                   (mixer settings, statistics)
 *   render thread:  eng_channels.c (what events mean), midi.c (what MIDI means),
 *                   eng_alloc.c (voice allocation), eng_render.c (the render loop, with the
 *                   workers of eng_workers.c), eng_stems.c (stems, labels), voice.c
 *                   (articulation, planning), voice_render.c (the kernels)
 */
#ifndef DLSYNTH_ENG_INTERNAL_H
#define DLSYNTH_ENG_INTERNAL_H

#include "voice.h"
#include "midi.h"

/* eng_waves.c (producer) */
void eng_wave_free(eng_wave *w);
eng_loopimg *eng_loop_image(eng_engine *e, eng_wave *w, uint32_t start, uint32_t end);

/* eng_instruments.c (producer) */
void eng_instrument_free(eng_engine *e, eng_instrument *ins);
/* The engine's interned connection lists, as eng_create sets them up and eng_destroy
   gives them back (once every instrument is freed). */
int eng_connlists_init(eng_engine *e);
void eng_connlists_free(eng_engine *e);

/* eng_queue.c (render thread) */
/* Move what the producer has queued in the ring into the pending heap (as far as it has room). */
void eng_ring_drain(eng_engine *e);
/* The earliest pending event (heap_n > 0). */
eng_pending eng_heap_pop(eng_engine *e);
void eng_finish_unloads(eng_engine *e);

/* eng_settings.c (render thread) */
void eng_apply_fx_mail(eng_engine *e);

/* eng_channels.c */
/* A channel's power-on and reset state (its priority by MIDI channel index & 15). */
void eng_channel_defaults(eng_channel *ch, int index);

/* eng_alloc.c (render thread) */
/* A free voice slot for a note at `priority`, stealing one if the polyphony is used up;
   NULL when every voice plays at a higher priority (counted as a dropped note). */
eng_voice *eng_voice_alloc(eng_engine *e, uint32_t priority, uint64_t now);
void eng_voice_fade(eng_engine *e, eng_voice *v, uint64_t now);
void eng_free_ended(eng_engine *e, uint64_t at);

/* eng_kernels.c: the variant an engine starts with (the best available; not AVX2 with
   DLSYNTH_NO_AVX2 in the environment) */
int32_t eng_simd_default(void);

/* eng_render.c: one work item of the run being handed out (worker 0: the render thread) */
void eng_run_item(void *ctx, int32_t worker, int32_t item);

#endif /* DLSYNTH_ENG_INTERNAL_H */
