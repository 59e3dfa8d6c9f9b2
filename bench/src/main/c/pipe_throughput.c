/*
 * Parent -> child bulk throughput through a pipe: the C floor under PipeThroughputBenchmark.
 *
 *   pipe_throughput [--mode write|vmsplice] [--sizes 64,4096,...] [--pipe-size BYTES]
 *                   [--parent-cpu N] [--child-cpu N|inherit] [--warmup S] [--time S] [--reps N]
 *
 * The parent writes messages of each size into the pipe, back to back, for --time seconds (after --warmup
 * seconds of the same), --reps times; the forked child reads them into a 1 MiB buffer until end of file and
 * throws them away (what `dd of=/dev/null bs=1M`, the Java benchmarks' child, does).
 *   write     write(2) from the message buffer: the kernel copies user -> pipe pages, the reader copies out.
 *   vmsplice  vmsplice(2) of the message buffer (no SPLICE_F_GIFT): the pipe references the writer's pages,
 *             only the reader copies. The buffer's contents never change, so reusing it at once is safe here.
 * --pipe-size: F_SETPIPE_SZ before the child starts (0: the kernel's default, 64 KiB).
 *
 * One JSON line per size: MB/s (10^6 bytes/s) and messages/s as the median of the repetitions, with their
 * minimum and maximum; timed on the writer's side, as JMH times the Java writer.
 */
#include "bench.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define READ_BUFFER (1 << 20)
#define MAX_SIZES 16
#define MAX_REPS 50

static int mode_vmsplice;

struct message {
    int fd;
    const unsigned char *buf;
    size_t size;
};

static void write_message(void *arg) {
    const struct message *m = arg;
    int fd = m->fd;
    const unsigned char *buf = m->buf;
    size_t size = m->size, done = 0;
    while (done < size) {
        ssize_t n;
        if (mode_vmsplice) {
            struct iovec iov = {.iov_base = (void *) (buf + done), .iov_len = size - done};
            n = vmsplice(fd, &iov, 1, 0);
        } else {
            n = write(fd, buf + done, size - done);
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            DIE("%s: %s", mode_vmsplice ? "vmsplice" : "write", strerror(errno));
        }
        done += (size_t) n;
    }
}

static void reader(int fd, int cpu) {
    pin(cpu);
    unsigned char *buf = alloc_touched(READ_BUFFER);
    for (;;) {
        ssize_t n = read(fd, buf, READ_BUFFER);
        if (n == 0) _exit(0);
        if (n < 0 && errno != EINTR) { perror("pipe_throughput child: read"); _exit(1); }
    }
}

int main(int argc, char **argv) {
    program_name = "pipe_throughput";
    long sizes[MAX_SIZES] = {65536};
    int nsizes = 1, parent_cpu = -1, child_cpu = -1, reps = 3;
    long pipe_size = 0;
    double warmup = 0.5, seconds = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) DIE("%s needs a value", a);
        if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "write")) mode_vmsplice = 0;
            else if (!strcmp(v, "vmsplice")) mode_vmsplice = 1;
            else DIE("--mode: write or vmsplice, not %s", v);
        } else if (!strcmp(a, "--sizes")) nsizes = parse_sizes(v, sizes, MAX_SIZES);
        else if (!strcmp(a, "--pipe-size")) pipe_size = parse_long(v, 0, 1L << 30, "pipe size");
        else if (!strcmp(a, "--parent-cpu")) parent_cpu = parse_cpu(v);
        else if (!strcmp(a, "--child-cpu")) child_cpu = parse_cpu(v);
        else if (!strcmp(a, "--warmup")) warmup = parse_seconds(v);
        else if (!strcmp(a, "--time")) seconds = parse_seconds(v);
        else if (!strcmp(a, "--reps")) reps = (int) parse_long(v, 1, MAX_REPS, "reps");
        else DIE("unknown option %s", a);
        i++;
    }
    pin(parent_cpu);
    char cpus[64];
    cpus_allowed(cpus, sizeof cpus);

    for (int s = 0; s < nsizes; s++) {
        size_t size = (size_t) sizes[s];
        unsigned char *buf = alloc_touched(size);
        int fds[2];
        CHECK(pipe(fds), "pipe");
        if (pipe_size > 0) CHECK(fcntl(fds[1], F_SETPIPE_SZ, (int) pipe_size), "fcntl(F_SETPIPE_SZ)");
        int capacity = fcntl(fds[1], F_GETPIPE_SZ);
        CHECK(capacity, "fcntl(F_GETPIPE_SZ)");
        pid_t pid = fork();
        CHECK(pid, "fork");
        if (pid == 0) {
            close(fds[1]);
            reader(fds[0], child_cpu);
        }
        close(fds[0]);

        /* Small messages: the clock once per 4 KiB written. */
        struct message m = {.fd = fds[1], .buf = buf, .size = size};
        double mbps[MAX_REPS], ops[MAX_REPS];
        measure_rate(write_message, &m, size >= 4096 ? 1 : 4096 / size, warmup, seconds, reps, ops);
        for (int r = 0; r < reps; r++) mbps[r] = ops[r] * (double) size / 1e6;
        close(fds[1]);
        int status;
        CHECK(waitpid(pid, &status, 0), "waitpid");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) DIE("reader ended with status 0x%x", status);

        printf("{\"name\":\"pipe_%s\",\"size\":%zu,\"pipe_size\":%d,\"parent_cpu\":%d,\"child_cpu\":%d,\"parent_cpus\":\"%s\","
               "\"reps\":%d,\"time_s\":%.3f,",
               mode_vmsplice ? "vmsplice" : "write", size, capacity, parent_cpu, child_cpu, cpus, reps, seconds);
        print_reps("mb_per_s", mbps, reps);
        putchar(',');
        print_reps("ops_per_s", ops, reps);
        printf("}\n");
        fflush(stdout);
        free(buf);
    }
    return 0;
}
