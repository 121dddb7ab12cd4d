/* A CPU stall canary for the live tests (driven by tests/vcpucanary.py).
 *
 *     cpu_canary CPU OUT.json
 *
 * Pinned to CPU at SCHED_FIFO 99 (above jackd and every JACK client), it sleeps TICK_NS
 * at a time and writes down each wake-up later than RECORD_NS past its deadline. Nothing
 * in the machine can preempt it, so such a wake-up means the virtual CPU itself did not
 * run. On SIGTERM or SIGINT it writes {"cpu", "realtime", "tick_s", "stalls": [[start_ns,
 * end_ns], ...]} (CLOCK_MONOTONIC) to OUT.json and exits 0. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define TICK_NS 1000000LL  /* a wake-up every millisecond */
#define RECORD_NS 500000LL /* a wake-up this late past its deadline is written down */
#define MAX_STALLS 200000

static volatile sig_atomic_t stop;
static long long stalls[MAX_STALLS][2];

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: cpu_canary CPU OUT.json\n");
        return 2;
    }
    int cpu = atoi(argv[1]);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        perror("sched_setaffinity");
        return 1;
    }
    struct sched_param p = {.sched_priority = 99};
    int realtime = sched_setscheduler(0, SCHED_FIFO, &p) == 0;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("ready\n");
    fflush(stdout);
    long n = 0;
    while (!stop) {
        long long t0 = now_ns();
        struct timespec d = {0, TICK_NS};
        clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL);
        long long t1 = now_ns();
        if (t1 - t0 - TICK_NS > RECORD_NS && n < MAX_STALLS) {
            stalls[n][0] = t0;
            stalls[n][1] = t1;
            n++;
        }
    }
    FILE *f = fopen(argv[2], "w");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    fprintf(f, "{\"cpu\": %d, \"realtime\": %s, \"tick_s\": %.6f, \"stalls\": [", cpu, realtime ? "true" : "false",
            TICK_NS / 1e9);
    for (long i = 0; i < n; i++)
        fprintf(f, "%s[%lld, %lld]", i ? ", " : "", stalls[i][0], stalls[i][1]);
    fprintf(f, "]}\n");
    return fclose(f) == 0 ? 0 : 1;
}
