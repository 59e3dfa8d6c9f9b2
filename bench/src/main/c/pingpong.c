/*
 * Round trips between two processes: the C floors under panpipe's round-trip latencies.
 *
 *   pingpong --transport pipe|eventfd|futex|spin [--size 64] [--parent-cpu N] [--child-cpu N|inherit]
 *            [--warmup S] [--time S] [--spin-before-yield N]
 *
 * One round trip: the parent sends a message of --size bytes (64 by default), the forked child takes it in
 * and sends the same bytes back, and the parent takes the answer; the parent checks the sequence number the
 * message carries. Each round trip is timed on its own (clock_gettime, CLOCK_MONOTONIC, ~20 ns).
 *   pipe     the bytes go through two pipes: write(2) there, read(2) back (blocking).
 *   eventfd  the bytes sit in shared memory (one slot each way, memcpy in and out); the doorbell is an
 *            eventfd each way: write(2) of 1, a blocking read(2) on the other side.
 *   futex    the same slots; a sequence word each way, stored with release semantics, then FUTEX_WAKE
 *            (every time); the other side loads it with acquire and FUTEX_WAITs while it is not there yet.
 *   spin     the same slots and words, nothing else: the waiter spins on the word with PAUSE, and calls
 *            sched_yield() after every --spin-before-yield (default 100) failed looks, so that on one cpu
 *            ("same-core") the peer gets to run at all (0: never yield; on one cpu that costs whole time slices).
 * The shared memory is mmap(MAP_SHARED|MAP_ANONYMOUS) made before fork(); the futex is not private.
 *
 * One JSON line: mean, p50, p90, p99, p99.9, min and max round trip in ns, and the number of round trips.
 */
#include "bench.h"

#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAX_SAMPLES (4u << 20)
#define LINE 64

enum transport { PIPE, EVENTFD, FUTEX, SPIN };
static const char *const transport_names[] = {"pipe", "eventfd", "futex", "spin"};

static enum transport transport;
static struct round_trip_options opt = ROUND_TRIP_DEFAULTS;

/* Shared memory: one cache line per word (no false sharing), then the two message slots. */
struct shared {
    uint32_t request_seq;
    unsigned char pad0[LINE - 4];
    uint32_t response_seq;
    unsigned char pad1[LINE - 4];
    uint32_t stop;
    unsigned char pad2[LINE - 4];
};

static struct shared *sh;
static unsigned char *request_slot, *response_slot;
static int to_child[2], to_parent[2];      /* pipes, or eventfds in [0] */

static void read_exactly(int fd, unsigned char *buf, size_t n, int eof_ok) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = read(fd, buf + done, n - done);
        if (r == 0) {
            if (eof_ok && done == 0) _exit(0);
            DIE("read: unexpected end of file");
        }
        if (r < 0) {
            if (errno == EINTR) continue;
            DIE("read: %s", strerror(errno));
        }
        done += (size_t) r;
    }
}

static void write_exactly(int fd, const unsigned char *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(fd, buf + done, n - done);
        if (r < 0) {
            if (errno == EINTR) continue;
            DIE("write: %s", strerror(errno));
        }
        done += (size_t) r;
    }
}

static void futex_wait(uint32_t *word, uint32_t expected) {
    if (syscall(SYS_futex, word, FUTEX_WAIT, expected, NULL, NULL, 0) < 0 && errno != EAGAIN && errno != EINTR) {
        DIE("futex(FUTEX_WAIT): %s", strerror(errno));
    }
}

static void futex_wake(uint32_t *word) {
    if (syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0) < 0) DIE("futex(FUTEX_WAKE): %s", strerror(errno));
}

/* Rings the doorbell for message number seq on word (with the eventfd fd). */
static void signal_peer(uint32_t *word, int efd, uint32_t seq) {
    if (transport == EVENTFD) {
        uint64_t one = 1;
        if (write(efd, &one, sizeof one) != sizeof one) DIE("write(eventfd): %s", strerror(errno));
        return;
    }
    __atomic_store_n(word, seq, __ATOMIC_RELEASE);
    if (transport == FUTEX) futex_wake(word);
}

/* Waits until message number seq is there. */
static void await_peer(uint32_t *word, int efd, uint32_t seq) {
    if (transport == EVENTFD) {
        uint64_t count;
        while (read(efd, &count, sizeof count) != sizeof count) {
            if (errno != EINTR) DIE("read(eventfd): %s", strerror(errno));
        }
        return;
    }
    long spins = 0;
    uint32_t seen;
    while ((seen = __atomic_load_n(word, __ATOMIC_ACQUIRE)) != seq) {
        if (transport == FUTEX) {
            futex_wait(word, seen);
        } else {
            __builtin_ia32_pause();
            if (opt.spin_before_yield > 0 && ++spins == opt.spin_before_yield) {
                sched_yield();
                spins = 0;
            }
        }
    }
}

static void child(int cpu) {
    pin(cpu);
    unsigned char *local = alloc_touched(opt.size);
    for (uint32_t seq = 1;; seq++) {
        if (transport == PIPE) {
            read_exactly(to_child[0], local, opt.size, 1);
            write_exactly(to_parent[1], local, opt.size);
            continue;
        }
        await_peer(&sh->request_seq, to_child[0], seq);
        if (__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) _exit(0);
        memcpy(local, request_slot, opt.size);
        __asm__ volatile("" ::: "memory");
        memcpy(response_slot, local, opt.size);
        signal_peer(&sh->response_seq, to_parent[0], seq);
    }
}

/* One round trip of message number seq; checks that the answer carries it. */
static inline void round_trip(unsigned char *out, unsigned char *in, uint32_t seq) {
    memcpy(out, &seq, sizeof seq);
    if (transport == PIPE) {
        write_exactly(to_child[1], out, opt.size);
        read_exactly(to_parent[0], in, opt.size, 0);
    } else {
        memcpy(request_slot, out, opt.size);
        signal_peer(&sh->request_seq, to_child[0], seq);
        await_peer(&sh->response_seq, to_parent[0], seq);
        memcpy(in, response_slot, opt.size);
    }
    uint32_t back;
    memcpy(&back, in, sizeof back);
    if (back != seq) DIE("round trip %u came back as %u", seq, back);
}

int main(int argc, char **argv) {
    program_name = "pingpong";
    int have_transport = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) DIE("%s needs a value", a);
        if (!strcmp(a, "--transport")) {
            int t;
            for (t = 0; t < 4 && strcmp(v, transport_names[t]); t++) {
            }
            if (t == 4) DIE("--transport: pipe, eventfd, futex or spin, not %s", v);
            transport = (enum transport) t;
            have_transport = 1;
        } else if (!parse_round_trip_option(&opt, a, v)) {
            DIE("unknown option %s", a);
        }
        i++;
    }
    if (!have_transport) DIE("--transport is required (pipe, eventfd, futex or spin)");
    pin(opt.parent_cpu);
    char cpus[64];
    cpus_allowed(cpus, sizeof cpus);

    size_t slot = (opt.size + 4095) & ~(size_t) 4095;
    unsigned char *mem = mmap(NULL, 4096 + 2 * slot, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) DIE("mmap: %s", strerror(errno));
    memset(mem, 0, 4096 + 2 * slot);
    sh = (struct shared *) mem;
    request_slot = mem + 4096;
    response_slot = mem + 4096 + slot;
    if (transport == PIPE) {
        CHECK(pipe(to_child), "pipe");
        CHECK(pipe(to_parent), "pipe");
    } else if (transport == EVENTFD) {
        CHECK(to_child[0] = eventfd(0, 0), "eventfd");
        CHECK(to_parent[0] = eventfd(0, 0), "eventfd");
    }

    pid_t pid = fork();
    CHECK(pid, "fork");
    if (pid == 0) {
        if (transport == PIPE) {
            close(to_child[1]);
            close(to_parent[0]);
        }
        child(opt.child_cpu);
    }
    if (transport == PIPE) {
        close(to_child[0]);
        close(to_parent[1]);
    }

    unsigned char *out = alloc_touched(opt.size), *in = alloc_touched(opt.size);
    uint64_t *samples = malloc(MAX_SAMPLES * sizeof *samples);
    if (!samples) DIE("out of memory");
    memset(samples, 0, MAX_SAMPLES * sizeof *samples);
    uint32_t seq = 0;
    uint64_t end = now_ns() + (uint64_t) (opt.warmup * 1e9);
    while (now_ns() < end) round_trip(out, in, ++seq);
    size_t n = 0;
    uint64_t t0 = now_ns(), stop = t0 + (uint64_t) (opt.seconds * 1e9), t1 = t0;
    while (n < MAX_SAMPLES && t1 < stop) {
        round_trip(out, in, ++seq);
        uint64_t t2 = now_ns();
        samples[n++] = t2 - t1;
        t1 = t2;
    }

    if (transport == PIPE) {
        close(to_child[1]);                 /* end of file: the child exits */
    } else {
        __atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
        signal_peer(&sh->request_seq, to_child[0], ++seq);
    }
    int status;
    CHECK(waitpid(pid, &status, 0), "waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) DIE("child ended with status 0x%x", status);

    printf("{\"name\":\"pingpong_%s\",\"size\":%zu,\"parent_cpu\":%d,\"child_cpu\":%d,\"parent_cpus\":\"%s\",\"time_s\":%.3f,",
           transport_names[transport], opt.size, opt.parent_cpu, opt.child_cpu, cpus, opt.seconds);
    if (transport == SPIN) printf("\"spin_before_yield\":%ld,", opt.spin_before_yield);
    print_latency(samples, n);
    printf("}\n");
    return 0;
}
