/*
 * dlsynth voice engine: the queues between the threads: the event ring (SPSC, producer ->
 * render thread), the render thread's pending heap (events in time order), and the
 * finished ring (render thread -> producer: instruments whose unload has completed).
 *
 * Threads: each function says which; a ring has one writer and one reader, C11 atomics
 * order them.
 */
#include "eng_internal.h"

/* ---------------------------------------------------------------------------------------
 * The event ring: producer side
 * ------------------------------------------------------------------------------------- */

int32_t eng_push(eng_engine *e, uint64_t time, int32_t type, int32_t channel, int32_t a, int32_t b)
{
    eng_event ev;
    ev.time = time;
    ev.type = type;
    ev.channel = channel;
    ev.a = a;
    ev.b = b;
    return eng_push_events(e, &ev, 1);
}

int32_t eng_push_events(eng_engine *e, const eng_event *events, int32_t n)
{
    if (!e || n <= 0 || !events)
        return 0;
    uint32_t head = atomic_load_explicit(&e->ring_head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&e->ring_tail, memory_order_acquire);
    uint32_t room = e->ring_mask + 1 - (head - tail);
    int32_t k = (uint32_t)n < room ? n : (int32_t)room;
    for (int32_t i = 0; i < k; i++)
        e->ring[(head + (uint32_t)i) & e->ring_mask] = events[i];
    atomic_store_explicit(&e->ring_head, head + (uint32_t)k, memory_order_release);
    if (k < n)
        atomic_fetch_add(&e->st_dropped, (unsigned long long)(n - k));
    return k;
}

/* ---------------------------------------------------------------------------------------
 * The pending heap and the ring's render side (render thread)
 * ------------------------------------------------------------------------------------- */

static inline int pend_less(const eng_pending *a, const eng_pending *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static void heap_push(eng_engine *e, const eng_event *ev)
{
    int32_t i = e->heap_n++;
    eng_pending p = {ev->time, e->seq++, *ev};
    while (i > 0) {
        int32_t parent = (i - 1) / 2;
        if (!pend_less(&p, &e->heap[parent]))
            break;
        e->heap[i] = e->heap[parent];
        i = parent;
    }
    e->heap[i] = p;
}

eng_pending eng_heap_pop(eng_engine *e)
{
    eng_pending top = e->heap[0];
    eng_pending last = e->heap[--e->heap_n];
    int32_t i = 0, n = e->heap_n;
    for (;;) {
        int32_t l = 2 * i + 1;
        if (l >= n)
            break;
        int32_t c = (l + 1 < n && pend_less(&e->heap[l + 1], &e->heap[l])) ? l + 1 : l;
        if (!pend_less(&e->heap[c], &last))
            break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n > 0)
        e->heap[i] = last;
    return top;
}

int32_t eng_insert_rt(eng_engine *e, const eng_event *ev)
{
    if (e->heap_n >= e->heap_cap)
        return 0;
    heap_push(e, ev);
    return 1;
}

void eng_drain_rt(eng_engine *e) { eng_ring_drain(e); }

void eng_ring_drain(eng_engine *e)
{
    uint32_t tail = atomic_load_explicit(&e->ring_tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&e->ring_head, memory_order_acquire);
    while (tail != head && e->heap_n < e->heap_cap) {
        heap_push(e, &e->ring[tail & e->ring_mask]);
        tail++;
    }
    atomic_store_explicit(&e->ring_tail, tail, memory_order_release);
}

/* ---------------------------------------------------------------------------------------
 * The finished ring
 * ------------------------------------------------------------------------------------- */

/* Render thread, at the end of a block: report the unloaded instruments no voice plays any more. */
void eng_finish_unloads(eng_engine *e)
{
    for (int32_t i = 0; i < e->n_unloading;) {
        eng_instrument *ins = e->unloading[i];
        if (ins->voices == 0) {
            uint32_t head = atomic_load_explicit(&e->fin_head, memory_order_relaxed);
            uint32_t tail = atomic_load_explicit(&e->fin_tail, memory_order_acquire);
            if (head - tail > e->fin_mask)
                break; /* the producer has not polled: try again next block */
            e->fin[head & e->fin_mask] = ins->id;
            atomic_store_explicit(&ins->finished, 1, memory_order_release);
            atomic_store_explicit(&e->fin_head, head + 1, memory_order_release);
            e->unloading[i] = e->unloading[--e->n_unloading];
        } else {
            i++;
        }
    }
}

/* Producer thread. */
int32_t eng_poll_finished(eng_engine *e)
{
    uint32_t tail = atomic_load_explicit(&e->fin_tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&e->fin_head, memory_order_acquire);
    if (tail == head)
        return -1;
    int32_t id = e->fin[tail & e->fin_mask];
    atomic_store_explicit(&e->fin_tail, tail + 1, memory_order_release);
    return id;
}
