/*
 * dlsynth voice engine: the render workers (native/eng_workers.c).
 *
 * A pool of persistent threads that help the render thread with one block's work. The
 * render thread hands out a numbered batch of independent items (eng_pool_run); every
 * thread of the pool, the render thread included (as worker 0), claims items one at a
 * time from a shared ticket until none are left, and eng_pool_run returns once every item
 * has run. Which thread runs which item depends on timing; the items must therefore write
 * disjoint memory and give the same result whoever runs them.
 *
 * Not part of the cffi interface (see engine.h for that).
 */
#ifndef DLSYNTH_ENG_WORKERS_H
#define DLSYNTH_ENG_WORKERS_H

#include <stdint.h>

#define ENG_MAX_THREADS 64      /* render thread plus workers */
#define ENG_MAX_ITEMS 65000     /* items per batch (the ticket's fields are 16 bits) */

typedef struct eng_pool eng_pool;

/* Runs one item: worker 0 is the render thread, 1..threads-1 the pool's threads. */
typedef void (*eng_item_fn)(void *ctx, int32_t worker, int32_t item);

/* threads - 1 new threads (threads 2..ENG_MAX_THREADS), waiting for work; NULL on failure
   or where threads are not available. Allocates: call from the producer thread. */
eng_pool *eng_pool_create(int32_t threads, eng_item_fn fn, void *ctx);
/* Stops and joins the threads (no eng_pool_run may be running). */
void eng_pool_destroy(eng_pool *p);
/* Render thread: wake the workers that went to sleep (call once per block, before its
   batches: a batch does not wake them, since on a busy machine waking a thread can cost
   the waker its core; a sleeping worker's items are run by the others). */
void eng_pool_wake(eng_pool *p);
/* Render thread: 0 while the pool is backing off (a recent batch waited long for a worker
   that was not running, the cores being busy with other work: the caller renders the
   next batches alone), else 1. */
int eng_pool_ready(eng_pool *p);
/* Render thread: run items 0..n_items-1 (n_items <= ENG_MAX_ITEMS), each exactly once, on
   the pool and this thread; returns when all have finished, with their writes visible.
   Never allocates or locks. The workers run with this thread's floating-point control
   word (MXCSR on x86: the flush-to-zero and denormals-are-zero bits the engine sets).
   Thread t's share is items [bounds[t], bounds[t + 1]) (bounds[0] = 0, bounds[threads] =
   n_items, non-decreasing; NULL: [t n / T, (t + 1) n / T)); a thread that has run its
   share runs what is left of the others' (none with `strict`: each thread runs exactly its
   share, sleepers are woken for it, and a stall does not back off; for tests). */
void eng_pool_run(eng_pool *p, int32_t n_items, const int32_t *bounds, int strict);
int32_t eng_pool_threads(const eng_pool *p);
/* Render thread, after eng_pool_run: how many items of thread t's share the others ran
   (a sign the shares were not even). */
int32_t eng_pool_stolen(const eng_pool *p, int32_t t);
/* Items the pool's own threads (not the render thread) have run so far; any thread. */
uint64_t eng_pool_worker_items(const eng_pool *p);

#endif /* DLSYNTH_ENG_WORKERS_H */
