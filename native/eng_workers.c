/*
 * dlsynth voice engine: the render workers, a pool of persistent threads woken per batch.
 *
 * Hand-out. Each thread has a share of a batch's items (a contiguous range, the caller's
 * bounds), in one 64-bit atomic word of its own cache line: batch number << 32 | end << 16
 * | next. The render thread publishes a batch by storing every share (release) and then
 * the batch number. A thread takes the items of its own share from the front (one
 * fetch-and-add), then steals what is left of the others' from their backs (one
 * compare-and-swap each), so that an item stays with the same thread from batch to batch
 * (its voices stay in that core's cache) unless the balance needs otherwise. The batch
 * number makes each batch's words distinct, so a thread that is late never claims from a
 * batch that has ended. A count of unfinished items, decremented with release order after
 * each item, tells the render thread (acquire) when the batch is done; it does not wait for
 * threads that claimed nothing, so a worker the OS has not scheduled costs nothing unless
 * it holds an item.
 *
 * Waiting. A worker spins (with the CPU's pause hint) for ENG_SPIN_NS after its last item,
 * then sleeps on a futex (Linux; a condition variable elsewhere). The render thread wakes
 * sleepers once per block (eng_pool_wake), never per batch: on a busy machine a wake-up
 * can cost the waker its core. The render thread never sleeps: it spins, then yields its
 * core, until the batch's last item is done. A wait long enough to mean the worker holding
 * an item was not running (a stall) makes it render alone for a while (eng_pool_ready),
 * doubling that while it keeps happening, but only when the stalls cost: when the time
 * waited in them is more than a share of the batches' time, both averaged over the last
 * batches. A virtual machine's host preempts a virtual CPU now and then for a millisecond
 * or so: measured here, 42 stalls in the 11,700 batches of a two-minute song took 21 ms of
 * its 4 s, and backing off from each (the rule before) made the song render alone for as
 * much as three quarters of its batches.
 */
#define _GNU_SOURCE
#include "eng_workers.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#define ENG_HAVE_THREADS 1
#include <pthread.h>
#include <sched.h>
#include <time.h>
#if defined(__linux__)
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#define ENG_FUTEX 1
#endif
#else
#define ENG_HAVE_THREADS 0
#endif

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <xmmintrin.h>
#define ENG_MXCSR 1
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

#if ENG_HAVE_THREADS

#define ENG_SPIN_NS 2000000     /* a worker spins this long after its last item, then sleeps, */
#define ENG_SPIN_MIN 8192       /* and at least this many pauses (time it was not running at
                                   all does not count as spinning) */
#define ENG_SPIN_YIELD 2048     /* after this many pauses (about 70 us) it yields its core
                                   every 256 */
#define ENG_YIELD_SPINS 512     /* the render thread's pause spins (about 30 ns each) before it
                                   starts yielding its core while a worker finishes an item */
#define ENG_STALL_NS 100000     /* waiting longer than this for a worker's item is a stall */
#define ENG_STALL_AVG 6         /* the averages of batch and stall time: each batch weighs 2^-6 */
#define ENG_STALL_SHARE 4       /* back off when stalls take more than 1/4 of the batch time */
#define ENG_BACKOFF_MIN 16      /* batches declined after a first stall, doubling after each */
#define ENG_BACKOFF_MAX 8192    /* next one, up to this; halved after this many clean ones: */
#define ENG_BACKOFF_CLEAN 256

typedef struct {
    _Alignas(64) struct eng_pool *pool;
    int32_t index;              /* 1..threads-1 */
    _Atomic uint64_t items;     /* items this thread ran (statistics) */
} eng_worker;

/* One thread's share of a batch: batch << 32 | end << 16 | next, claimed by fetch-and-add
   (valid while next < end). Alone in its cache line. */
typedef struct {
    _Alignas(64) _Atomic uint64_t c;
    atomic_int stolen;      /* items of this share other threads ran, this batch */
} eng_range;

struct eng_pool {
    _Alignas(64) atomic_uint batch;         /* the batch published last */
    _Alignas(64) atomic_int remaining;      /* items of the batch not yet finished */
    _Alignas(64) atomic_uint wake;          /* bumped to wake sleepers (the futex word) */
    atomic_int sleepers;
    atomic_int stop;
    atomic_uint csr;                        /* the render thread's MXCSR for this batch */
    atomic_int strict;                      /* this batch: each thread runs its own share only */
    atomic_uint sched;                      /* the render thread's scheduling: version << 16 |
                                               policy << 8 | priority (workers adopt it) */
    _Alignas(64) uint32_t n_batch;          /* render thread only: */
    uint32_t wakes;                         /* eng_pool_wake calls */
    int32_t policy, priority;               /* the scheduling published last */
    int32_t skip;                           /* batches still to decline (backing off) */
    int32_t backoff;                        /* the length of the last back-off, batches */
    int32_t clean;                          /* batches without a stall since the last halving */
    int64_t batch_avg, stall_avg;           /* a batch's time and the part of it waited out
                                               in a stall, averaged (ns, 2^-ENG_STALL_AVG) */
    eng_item_fn fn;
    void *ctx;
    int32_t threads;
    int32_t started;
    eng_range *range;                       /* per thread */
    pthread_t *tid;
    eng_worker *workers;
#ifndef ENG_FUTEX
    pthread_mutex_t mu;
    pthread_cond_t cv;
#endif
};

/* Built with -DENG_POOL_STATS, the pool counts batches, stalls, wakes and stolen items and
   prints them at exit when DLSYNTH_POOL_STATS is set (for tuning). */
#ifdef ENG_POOL_STATS
#include <stdio.h>
static _Atomic uint64_t st_runs, st_stalls, st_yields, st_wakes, st_own, st_stolen;
__attribute__((destructor)) static void pool_stats(void)
{
    if (getenv("DLSYNTH_POOL_STATS"))
        fprintf(stderr, "pool: %llu batches, %llu stalls (%llu yields), %llu wakes, items %llu own %llu stolen\n",
                (unsigned long long)st_runs, (unsigned long long)st_stalls, (unsigned long long)st_yields,
                (unsigned long long)st_wakes, (unsigned long long)st_own, (unsigned long long)st_stolen);
}
#define STAT(x) atomic_fetch_add_explicit(&(x), 1, memory_order_relaxed)
#else
#define STAT(x) ((void)0)
#endif

static inline int range_open(uint64_t c)
{
    return (uint32_t)(c & 0xffffu) < (uint32_t)((c >> 16) & 0xffffu);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until_woken(struct eng_pool *p, unsigned seen)
{
#ifdef ENG_FUTEX
    syscall(SYS_futex, (uint32_t *)&p->wake, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
#else
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->wake) == seen)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
#endif
}

static void wake_all(struct eng_pool *p)
{
#ifdef ENG_FUTEX
    atomic_fetch_add(&p->wake, 1u);
    syscall(SYS_futex, (uint32_t *)&p->wake, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->wake, 1u);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
#endif
}

/* Take the last unclaimed item of another thread's range (its owner takes them from the
   front: the items stolen are those the owner would have come to last, the same ones from
   batch to batch, so the voices that change threads are few). */
static int steal_back(eng_range *r, uint32_t *item)
{
    uint64_t c = atomic_load_explicit(&r->c, memory_order_acquire);
    while (range_open(c)) {
        uint64_t end = (c >> 16) & 0xffffu;
        uint64_t less = (c & ~(0xffffull << 16)) | (end - 1) << 16;
        if (atomic_compare_exchange_weak_explicit(&r->c, &c, less, memory_order_acq_rel, memory_order_acquire)) {
            *item = (uint32_t)(end - 1);
            return 1;
        }
    }
    return 0;
}

/* Claim and run items: this thread's own range from its front first (so a voice group
   tends to stay on one core from run to run), then what is left of the others'
   from their backs. Returns how many items ran. */
static int32_t run_items(struct eng_pool *p, int32_t worker)
{
    int32_t ran = 0;
#ifdef ENG_MXCSR
    unsigned mine = worker ? _mm_getcsr() : 0;
#endif
    int32_t ranges = atomic_load_explicit(&p->strict, memory_order_relaxed) ? 1 : p->threads;
    for (int32_t k = 0; k < ranges; k++) {
        eng_range *r = &p->range[(worker + k) % p->threads];
        for (;;) {
            uint32_t item;
            if (k == 0) {
                uint64_t c = atomic_fetch_add_explicit(&r->c, 1, memory_order_acq_rel);
                if (!range_open(c))
                    break;
                item = (uint32_t)(c & 0xffffu);
                STAT(st_own);
            } else {
                if (!steal_back(r, &item))
                    break;
                atomic_fetch_add_explicit(&r->stolen, 1, memory_order_relaxed);
                STAT(st_stolen);
            }
#ifdef ENG_MXCSR
            if (worker) {
                unsigned want = atomic_load_explicit(&p->csr, memory_order_relaxed);
                if (want != mine) {
                    _mm_setcsr(want);
                    mine = want;
                }
            }
#endif
            p->fn(p->ctx, worker, (int32_t)item);
            ran++;
            if (worker)
                atomic_fetch_sub_explicit(&p->remaining, 1, memory_order_release);
        }
    }
    if (worker && ran) {
        _Atomic uint64_t *n = &p->workers[worker].items;
        atomic_store_explicit(n, atomic_load_explicit(n, memory_order_relaxed) + (uint64_t)ran,
                              memory_order_relaxed);
    }
    return ran;
}

/* Take on the render thread's scheduling policy and priority (a real-time audio thread's
   SCHED_FIFO, say), so that a worker is not preempted by what the audio thread would not
   be; without the permission for it, the worker keeps its own. */
static void adopt_sched(struct eng_pool *p, unsigned *seen)
{
    unsigned s = atomic_load_explicit(&p->sched, memory_order_relaxed);
    if (s == *seen)
        return;
    *seen = s;
    struct sched_param sp;
    memset(&sp, 0, sizeof sp);
    sp.sched_priority = (int)(s & 0xffu);
    pthread_setschedparam(pthread_self(), (int)((s >> 8) & 0xffu), &sp);
}

static void *worker_main(void *arg)
{
    eng_worker *w = arg;
    struct eng_pool *p = w->pool;
    unsigned done = 0; /* the last batch this thread looked at */
    unsigned sched_seen = 0;
    for (;;) {
        int64_t idle_since = now_ns();
        unsigned spins = 0;
        unsigned b;
        for (;;) {
            if (atomic_load_explicit(&p->stop, memory_order_acquire))
                return NULL;
            b = atomic_load_explicit(&p->batch, memory_order_acquire);
            if (b != done)
                break;
            cpu_relax();
            if (++spins & 255u)
                continue;
            if (spins >= ENG_SPIN_YIELD)
                sched_yield(); /* a thread this core should run instead (more threads than cores) */
            if (spins < ENG_SPIN_MIN || now_ns() - idle_since < ENG_SPIN_NS)
                continue;
            atomic_fetch_add(&p->sleepers, 1);
            unsigned seen = atomic_load(&p->wake);
            if (atomic_load(&p->batch) == done && !atomic_load(&p->stop))
                sleep_until_woken(p, seen);
            atomic_fetch_sub(&p->sleepers, 1);
            idle_since = now_ns();
            spins = 0;
        }
        done = b;
        adopt_sched(p, &sched_seen);
        run_items(p, w->index);
    }
}

eng_pool *eng_pool_create(int32_t threads, eng_item_fn fn, void *ctx)
{
    if (threads < 2 || threads > ENG_MAX_THREADS || !fn)
        return NULL;
    struct eng_pool *p = aligned_alloc(64, (sizeof *p + 63) / 64 * 64);
    if (!p)
        return NULL;
    memset(p, 0, sizeof *p);
    atomic_init(&p->batch, 0u);
    atomic_init(&p->remaining, 0);
    atomic_init(&p->wake, 0u);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->csr, 0u);
    p->fn = fn;
    p->ctx = ctx;
    p->threads = threads;
    atomic_init(&p->sched, 0u); /* version 0: SCHED_OTHER, as the workers start */
    p->range = aligned_alloc(64, (size_t)threads * sizeof *p->range);
    p->tid = calloc((size_t)threads, sizeof *p->tid);
    p->workers = aligned_alloc(64, (size_t)threads * sizeof *p->workers);
#ifndef ENG_FUTEX
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
#endif
    if (!p->range || !p->tid || !p->workers) {
        eng_pool_destroy(p);
        return NULL;
    }
    memset(p->workers, 0, (size_t)threads * sizeof *p->workers);
    for (int32_t i = 0; i < threads; i++) {
        atomic_init(&p->range[i].c, 0);
        atomic_init(&p->range[i].stolen, 0);
        atomic_init(&p->workers[i].items, 0);
    }
    for (int32_t i = 1; i < threads; i++) {
        p->workers[i].pool = p;
        p->workers[i].index = i;
        if (pthread_create(&p->tid[i], NULL, worker_main, &p->workers[i]) != 0) {
            eng_pool_destroy(p);
            return NULL;
        }
        p->started = i;
    }
    return p;
}

void eng_pool_destroy(eng_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    wake_all(p);
    for (int32_t i = 1; i <= p->started; i++)
        pthread_join(p->tid[i], NULL);
#ifndef ENG_FUTEX
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
#endif
    free(p->range);
    free(p->tid);
    free(p->workers);
    free(p);
}

uint64_t eng_pool_worker_items(const eng_pool *p)
{
    uint64_t n = 0;
    for (int32_t i = 1; i <= p->started; i++)
        n += atomic_load_explicit(&((eng_pool *)p)->workers[i].items, memory_order_relaxed);
    return n;
}

void eng_pool_wake(eng_pool *p)
{
    if ((p->wakes++ & 63u) == 0) {
        /* now and then: the render thread's scheduling, for the workers to take on */
        int policy;
        struct sched_param sp;
        if (pthread_getschedparam(pthread_self(), &policy, &sp) == 0 &&
            (policy != p->policy || sp.sched_priority != p->priority) && policy >= 0 && policy < 256 &&
            sp.sched_priority >= 0 && sp.sched_priority < 256) {
            p->policy = policy;
            p->priority = sp.sched_priority;
            unsigned version = (atomic_load_explicit(&p->sched, memory_order_relaxed) >> 16) + 1u;
            atomic_store_explicit(&p->sched, version << 16 | (unsigned)policy << 8 | (unsigned)sp.sched_priority,
                                  memory_order_relaxed);
        }
    }
    if (atomic_load(&p->sleepers) > 0) {
        STAT(st_wakes);
        wake_all(p);
    }
}

int eng_pool_ready(eng_pool *p)
{
    if (p->skip > 0) {
        p->skip--;
        return 0;
    }
    return 1;
}

int32_t eng_pool_threads(const eng_pool *p) { return p->threads; }

int32_t eng_pool_stolen(const eng_pool *p, int32_t t)
{
    return atomic_load_explicit(&((eng_pool *)p)->range[t].stolen, memory_order_relaxed);
}

void eng_pool_run(eng_pool *p, int32_t n_items, const int32_t *bounds, int strict)
{
    if (n_items <= 0)
        return;
    STAT(st_runs);
    int64_t t_start = strict ? 0 : now_ns();
#ifdef ENG_MXCSR
    atomic_store_explicit(&p->csr, _mm_getcsr(), memory_order_relaxed);
#endif
    atomic_store_explicit(&p->strict, strict, memory_order_relaxed);
    atomic_store_explicit(&p->remaining, n_items, memory_order_relaxed);
    uint64_t b = ++p->n_batch;
    for (int32_t t = 0; t < p->threads; t++) {
        uint64_t lo, hi;
        if (bounds) {
            lo = (uint64_t)bounds[t];
            hi = (uint64_t)bounds[t + 1];
        } else { /* items [t n / T, (t + 1) n / T) */
            lo = (uint64_t)n_items * (uint64_t)t / (uint64_t)p->threads;
            hi = (uint64_t)n_items * (uint64_t)(t + 1) / (uint64_t)p->threads;
        }
        atomic_store_explicit(&p->range[t].stolen, 0, memory_order_relaxed);
        atomic_store_explicit(&p->range[t].c, b << 32 | hi << 16 | lo, memory_order_release);
    }
    atomic_store(&p->batch, (unsigned)b); /* seq_cst: against the sleepers check (strict) */
    if (strict)
        eng_pool_wake(p); /* the sleepers' shares are theirs to run */
    int32_t ran = run_items(p, 0);
    if (ran)
        atomic_fetch_sub_explicit(&p->remaining, ran, memory_order_relaxed);
    unsigned spins = 0;
    int64_t slow = 0; /* when the wait outlasted the spinning */
    while (atomic_load_explicit(&p->remaining, memory_order_acquire) != 0) {
        if (++spins < ENG_YIELD_SPINS) {
            cpu_relax();
        } else {
            if (!slow)
                slow = now_ns();
            STAT(st_yields);
            sched_yield(); /* the worker holding an item may be waiting for this core */
        }
    }
    /* Stalls that take more than their share of the time mean the machine's cores are busy
       with other work: render alone for a while (the output is the same), then try again. */
    if (strict)
        return;
    int64_t t_end = now_ns();
    int64_t stalled = slow ? t_end - slow : 0;
    p->batch_avg += ((t_end - t_start) - p->batch_avg) / (1 << ENG_STALL_AVG);
    p->stall_avg += (stalled - p->stall_avg) / (1 << ENG_STALL_AVG);
    if (stalled > ENG_STALL_NS && p->stall_avg * ENG_STALL_SHARE > p->batch_avg) {
        STAT(st_stalls);
        p->backoff = p->backoff ? (p->backoff * 2 > ENG_BACKOFF_MAX ? ENG_BACKOFF_MAX : p->backoff * 2)
                                : ENG_BACKOFF_MIN;
        p->skip = p->backoff;
        p->clean = 0;
    } else if (p->backoff && ++p->clean >= ENG_BACKOFF_CLEAN) {
        p->backoff /= 2;
        p->clean = 0;
    }
}

#else /* no threads on this platform: one thread renders */

eng_pool *eng_pool_create(int32_t threads, eng_item_fn fn, void *ctx)
{
    (void)threads;
    (void)fn;
    (void)ctx;
    return NULL;
}

void eng_pool_destroy(eng_pool *p) { (void)p; }

uint64_t eng_pool_worker_items(const eng_pool *p)
{
    (void)p;
    return 0;
}

void eng_pool_wake(eng_pool *p) { (void)p; }

int eng_pool_ready(eng_pool *p)
{
    (void)p;
    return 0;
}

int32_t eng_pool_threads(const eng_pool *p)
{
    (void)p;
    return 1;
}

int32_t eng_pool_stolen(const eng_pool *p, int32_t t)
{
    (void)p;
    (void)t;
    return 0;
}

void eng_pool_run(eng_pool *p, int32_t n_items, const int32_t *bounds, int strict)
{
    (void)p;
    (void)n_items;
    (void)bounds;
    (void)strict;
}

#endif
