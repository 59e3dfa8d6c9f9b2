/*
 * Shared by panpipe's C baselines (the .c files beside this one): pinning, the clock, option parsing, percentiles
 * and the one-JSON-object-per-line output that dev.panpipe.bench.report.Report reads.
 *
 * Each program prints one line per measurement on stdout, e.g.
 *   {"name":"pingpong_pipe","size":64,"parent_cpu":0,"child_cpu":1,"iterations":...,"mean_ns":...,...}
 * and nothing else there; diagnostics go to stderr and a failure exits non-zero.
 *
 * Placement, the same as the Java benchmarks' (scripts/bench): --parent-cpu N pins the measuring process
 * to cpu N; --child-cpu N moves the second process to cpu N right after fork(), --child-cpu -1 (or
 * "inherit") leaves it on the parent's cpu.
 */
#ifndef PANPIPE_BENCH_H
#define PANPIPE_BENCH_H

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DIE(...) do { fprintf(stderr, "%s: ", program_name); fprintf(stderr, __VA_ARGS__); \
                      fprintf(stderr, "\n"); exit(1); } while (0)
#define CHECK(call, what) do { if ((call) < 0) DIE("%s: %s (errno %d)", what, strerror(errno), errno); } while (0)

static const char *program_name = "bench";

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* Pins the calling process (every thread it has) to one cpu; cpu < 0 leaves it where it is. */
static inline void pin(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0) DIE("sched_setaffinity(cpu %d): %s", cpu, strerror(errno));
}

/* The cpus this process may run on, as a list like "0" or "0-1" (for the JSON: where it really ran). */
static inline void cpus_allowed(char *out, size_t n) {
    cpu_set_t set;
    out[0] = 0;
    if (sched_getaffinity(0, sizeof set, &set) < 0) { snprintf(out, n, "?"); return; }
    size_t len = 0;
    for (int c = 0; c < CPU_SETSIZE && len + 8 < n; c++) {
        if (CPU_ISSET(c, &set)) len += (size_t) snprintf(out + len, n - len, len ? ",%d" : "%d", c);
    }
}

static inline int parse_cpu(const char *s) {
    if (strcmp(s, "inherit") == 0) return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < -1 || v > 4095) DIE("bad cpu '%s' (a cpu number, -1 or inherit)", s);
    return (int) v;
}

static inline double parse_seconds(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (*end || !(v > 0) || v > 3600) DIE("bad duration '%s' (seconds, > 0)", s);
    return v;
}

static inline long parse_long(const char *s, long min, long max, const char *what) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || end == s || v < min || v > max) DIE("bad %s '%s' (%ld..%ld)", what, s, min, max);
    return v;
}

/* "64,4096,65536" into sizes[]; returns how many. */
static inline int parse_sizes(const char *s, long *sizes, int max) {
    int n = 0;
    char *copy = strdup(s), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == max) DIE("too many sizes in '%s'", s);
        sizes[n++] = parse_long(tok, 1, 1L << 31, "size");
    }
    free(copy);
    if (n == 0) DIE("no size in '%s'", s);
    return n;
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/* The q-th percentile (0..100) of sorted samples, nearest rank (as JMH and mp_pipe_roundtrip.py). */
static inline uint64_t percentile(const uint64_t *sorted, size_t n, double q) {
    size_t rank = (size_t) (q / 100.0 * (double) n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

/* Prints the latency fields of a JSON line (after the caller's own fields): samples are sorted here. */
static inline void print_latency(uint64_t *samples, size_t n) {
    qsort(samples, n, sizeof *samples, compare_u64);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double) samples[i];
    printf("\"iterations\":%zu,\"mean_ns\":%.1f,\"p50_ns\":%llu,\"p90_ns\":%llu,\"p99_ns\":%llu,\"p999_ns\":%llu,"
           "\"min_ns\":%llu,\"max_ns\":%llu",
           n, sum / (double) n,
           (unsigned long long) percentile(samples, n, 50), (unsigned long long) percentile(samples, n, 90),
           (unsigned long long) percentile(samples, n, 99), (unsigned long long) percentile(samples, n, 99.9),
           (unsigned long long) samples[0], (unsigned long long) samples[n - 1]);
}

/* Prints "key":median,"key_min":..,"key_max":.. over repetitions (sorted here), with one decimal. */
static inline void print_reps(const char *key, double *reps, int n) {
    qsort(reps, (size_t) n, sizeof *reps, compare_double);
    double median = n % 2 ? reps[n / 2] : (reps[n / 2 - 1] + reps[n / 2]) / 2;
    printf("\"%s\":%.1f,\"%s_min\":%.1f,\"%s_max\":%.1f", key, median, key, reps[0], key, reps[n - 1]);
}

/*
 * Runs op(ctx) back to back for `warmup` seconds, then `reps` times for `seconds` each, looking at the clock
 * once per `batch` operations (so that its ~20 ns stay out of a fast operation's figure); stores each
 * repetition's operations per second in ops[].
 */
static inline void measure_rate(void (*op)(void *), void *ctx, uint64_t batch, double warmup, double seconds, int reps,
                                double *ops) {
    uint64_t end = now_ns() + (uint64_t) (warmup * 1e9);
    while (now_ns() < end) op(ctx);
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = now_ns(), t1, n = 0, stop = t0 + (uint64_t) (seconds * 1e9);
        do {
            for (uint64_t b = 0; b < batch; b++) op(ctx);
            n += batch;
            t1 = now_ns();
        } while (t1 < stop);
        ops[r] = (double) n / ((double) (t1 - t0) / 1e9);
    }
}

/* Memory for a message, aligned to a page and touched, so no first-touch fault lands in a measurement. */
static inline unsigned char *alloc_touched(size_t size) {
    void *p = NULL;
    if (posix_memalign(&p, 4096, size < 64 ? 64 : size) != 0) DIE("posix_memalign(%zu) failed", size);
    for (size_t i = 0; i < size; i++) ((unsigned char *) p)[i] = (unsigned char) (i * 31 + 7);
    return p;
}

/* The options every round-trip program (pingpong, ring_pingpong) takes, with their defaults. */
struct round_trip_options {
    size_t size;              /* --size: message bytes (64) */
    int parent_cpu;           /* --parent-cpu (-1: unpinned) */
    int child_cpu;            /* --child-cpu (-1 or inherit: the parent's) */
    double warmup, seconds;   /* --warmup (0.5 s), --time (1 s) */
    long spin_before_yield;   /* --spin-before-yield: failed looks between two sched_yield() calls (100; 0: never) */
};

#define ROUND_TRIP_DEFAULTS { .size = 64, .parent_cpu = -1, .child_cpu = -1, .warmup = 0.5, .seconds = 1, .spin_before_yield = 100 }

/* Takes option a with value v into o if it is one of round_trip_options; 0 if it is not. */
static inline int parse_round_trip_option(struct round_trip_options *o, const char *a, const char *v) {
    if (!strcmp(a, "--size")) o->size = (size_t) parse_long(v, 8, 1L << 24, "size");
    else if (!strcmp(a, "--parent-cpu")) o->parent_cpu = parse_cpu(v);
    else if (!strcmp(a, "--child-cpu")) o->child_cpu = parse_cpu(v);
    else if (!strcmp(a, "--warmup")) o->warmup = parse_seconds(v);
    else if (!strcmp(a, "--time")) o->seconds = parse_seconds(v);
    else if (!strcmp(a, "--spin-before-yield")) o->spin_before_yield = parse_long(v, 0, 1L << 40, "spin count");
    else return 0;
    return 1;
}

#endif
