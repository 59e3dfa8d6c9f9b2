/*
 * The ring's own price, in C: 64-byte round trips through two panpipe frame rings (samples/c/panpipe_ring.h,
 * the layout and protocol Java's FrameRing speaks), both ends spinning. Beside `pingpong --transport spin`
 * (one slot each way, a sequence word each, nothing else) it says how much of panpipe's round trip is the
 * ring protocol (descriptors, positions for backpressure, the doorbell's fences, a slot per lap) and how
 * much is Java: PairedRun runs all three interleaved.
 *
 *   ring_pingpong [--size 64] [--slots 2] [--parent-cpu N] [--child-cpu N|inherit] [--warmup S] [--time S]
 *                 [--spin-before-yield N]
 *
 * One round trip: the parent claims a slot of ring A, writes the message (its first 4 bytes the round trip's
 * number), commits; the forked child takes it, claims a slot of ring B, copies the bytes there, commits and
 * releases; the parent takes the answer, checks the number and releases. Each round trip is timed on its own.
 * A waiting side spins on what pprg_take spins on (pprg_spin_probe: the awaited frame's descriptor sequence,
 * as Java's FrameConsumer does), but never sleeps and calls sched_yield() after every --spin-before-yield
 * (default 100) failed looks, like pingpong's spin transport.
 * A frame of 0 bytes tells the child to stop.
 *
 * The rings are /dev/shm/panpipe-bench-ring-PID-a and -b, 0600 and O_EXCL, unlinked as soon as both
 * processes have them mapped (before fork: the child inherits the mappings).
 *
 * One JSON line, as pingpong's: latency fields of the round trips, and the slot count.
 */
#include "bench.h"
#include "panpipe_ring.h"

#include <sys/wait.h>

#define MAX_SAMPLES (4u << 20)

static struct round_trip_options opt = ROUND_TRIP_DEFAULTS;

/* Spins until the frame consumer c waits for is committed (pprg_spin_probe says so). */
static void await_frame(struct pprg_end *c) {
    if (c->peer_cache > c->position) return;
    long spins = 0;
    while (pprg_spin_probe(c) <= c->position) {
        pprg_cpu_relax();
        if (opt.spin_before_yield > 0 && ++spins == opt.spin_before_yield) {
            sched_yield();
            spins = 0;
        }
    }
    c->peer_cache = c->position + 1;   /* pprg_take then reads the descriptor without waiting */
}

static void take(struct pprg_end *c, struct pprg_frame *f) {
    await_frame(c);
    if (pprg_take(c, f) != PPRG_OK) DIE("pprg_take: %s", c->ring->error);
}

static void send(struct pprg_end *p, const unsigned char *bytes, size_t n, int64_t timestamp) {
    struct pprg_frame f;
    pprg_frame_bytes(&f, n);
    f.timestamp_ns = timestamp;
    if (pprg_claim(p, &f) != PPRG_OK) DIE("pprg_claim: %s", p->ring->error);
    memcpy(f.pixels, bytes, n);
    pprg_commit(p, &f);
}

static void attach(struct pprg_end *e, struct pprg_ring *r, int producer) {
    if (pprg_attach(e, r, producer) != PPRG_OK) DIE("pprg_attach: %s", r->error);
    e->spins = 1 << 30;   /* claims never wait here (one frame in flight), but never sleep if they do */
}

static void child(int cpu, struct pprg_ring *a, struct pprg_ring *b) {
    pin(cpu);
    struct pprg_end in, out;
    attach(&in, a, PPRG_CONSUMER);
    attach(&out, b, PPRG_PRODUCER);
    for (;;) {
        struct pprg_frame f;
        take(&in, &f);
        if (f.length == 0) _exit(0);
        send(&out, f.pixels, f.length, f.timestamp_ns);
        pprg_release(&in);
    }
}

static void create(struct pprg_ring *r, const char *name, uint32_t slots) {
    if (pprg_create_named(r, name, slots, opt.size) != PPRG_OK) DIE("pprg_create_named %s: %s", name, r->error);
    /* the mapping stays; nothing is left in /dev/shm whatever happens next (the name is checked to be r's) */
    if (pprg_unlink_named(r, name) < 0) DIE("pprg_unlink_named %s: %s", name, r->error);
}

int main(int argc, char **argv) {
    program_name = "ring_pingpong";
    long slots = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) DIE("%s needs a value", a);
        if (!strcmp(a, "--slots")) slots = parse_long(v, 1, PPRG_MAX_SLOT_COUNT, "slot count");
        else if (!parse_round_trip_option(&opt, a, v)) DIE("unknown option %s", a);
        i++;
    }
    if (slots & (slots - 1)) DIE("--slots must be a power of two, not %ld", slots);
    pin(opt.parent_cpu);
    char cpus[64];
    cpus_allowed(cpus, sizeof cpus);

    char name_a[64], name_b[64];
    snprintf(name_a, sizeof name_a, "bench-ring-%d-a", (int) getpid());
    snprintf(name_b, sizeof name_b, "bench-ring-%d-b", (int) getpid());
    struct pprg_ring a, b;
    create(&a, name_a, (uint32_t) slots);
    create(&b, name_b, (uint32_t) slots);

    pid_t pid = fork();
    CHECK(pid, "fork");
    if (pid == 0) child(opt.child_cpu, &a, &b);

    struct pprg_end out, in;
    attach(&out, &a, PPRG_PRODUCER);
    attach(&in, &b, PPRG_CONSUMER);
    unsigned char *message = alloc_touched(opt.size), *answer = alloc_touched(opt.size);
    uint64_t *samples = malloc(MAX_SAMPLES * sizeof *samples);
    if (!samples) DIE("out of memory");
    memset(samples, 0, MAX_SAMPLES * sizeof *samples);
    uint32_t seq = 0;
    size_t n = 0;
    uint64_t t1 = now_ns(), measure = t1 + (uint64_t) (opt.warmup * 1e9), stop = measure + (uint64_t) (opt.seconds * 1e9);
    for (;;) {
        seq++;
        memcpy(message, &seq, sizeof seq);
        send(&out, message, opt.size, (int64_t) t1);
        struct pprg_frame f;
        take(&in, &f);
        if (f.length != opt.size) DIE("round trip %u came back with %llu bytes", seq, (unsigned long long) f.length);
        memcpy(answer, f.pixels, opt.size);
        pprg_release(&in);
        uint32_t back;
        memcpy(&back, answer, sizeof back);
        if (back != seq) DIE("round trip %u came back as %u", seq, back);
        uint64_t t2 = now_ns();
        if (t1 >= measure) samples[n++] = t2 - t1;
        t1 = t2;
        if (t2 >= stop || n == MAX_SAMPLES) break;
    }
    send(&out, message, 0, 0);   /* stop */
    int status;
    CHECK(waitpid(pid, &status, 0), "waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) DIE("child ended with status 0x%x", status);
    pprg_close(&out);
    pprg_close(&in);
    if (n == 0) DIE("no round trip measured");

    printf("{\"name\":\"ring_pingpong\",\"size\":%zu,\"slots\":%ld,\"parent_cpu\":%d,\"child_cpu\":%d,\"parent_cpus\":\"%s\","
           "\"time_s\":%.3f,\"spin_before_yield\":%ld,", opt.size, slots, opt.parent_cpu, opt.child_cpu, cpus, opt.seconds, opt.spin_before_yield);
    print_latency(samples, n);
    printf("}\n");
    return 0;
}
