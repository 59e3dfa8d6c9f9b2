/*
 * memcpy bandwidth in one process: the physical limit for moving a frame's bytes once.
 *
 *   memcpy_bw [--sizes 6220800,24883200] [--cpu N] [--warmup S] [--time S] [--reps N]
 *
 * Copies a buffer of each size into another, back to back, for --time seconds, --reps times. Both buffers
 * are page-aligned and touched first. A frame handed through any transport is copied at least once by
 * someone (a pipe: twice, user -> kernel -> user), so bytes/s here is the ceiling for frames/s x frame size.
 * 6,220,800 B is one 1920x1080 RGB frame, 24,883,200 B one 3840x2160 frame; both are larger than this
 * machine's L2, the 4K one larger than most L3 slices.
 *
 * One JSON line per size: MB/s (10^6 bytes copied per second) and copies/s, the median of the repetitions
 * with their minimum and maximum.
 */
#include "bench.h"

#define MAX_SIZES 16
#define MAX_REPS 50

int main(int argc, char **argv) {
    program_name = "memcpy_bw";
    long sizes[MAX_SIZES] = {6220800, 24883200};
    int nsizes = 2, cpu = -1, reps = 3;
    double warmup = 0.3, seconds = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) DIE("%s needs a value", a);
        if (!strcmp(a, "--sizes")) nsizes = parse_sizes(v, sizes, MAX_SIZES);
        else if (!strcmp(a, "--cpu") || !strcmp(a, "--parent-cpu")) cpu = parse_cpu(v);
        else if (!strcmp(a, "--warmup")) warmup = parse_seconds(v);
        else if (!strcmp(a, "--time")) seconds = parse_seconds(v);
        else if (!strcmp(a, "--reps")) reps = (int) parse_long(v, 1, MAX_REPS, "reps");
        else DIE("unknown option %s", a);
        i++;
    }
    pin(cpu);
    char cpus[64];
    cpus_allowed(cpus, sizeof cpus);
    for (int s = 0; s < nsizes; s++) {
        size_t size = (size_t) sizes[s];
        unsigned char *src = alloc_touched(size), *dst = alloc_touched(size);
        /* Not measure_rate(): an indirect call per copy would weigh on the small sizes. The clock once per 64 KiB. */
        uint64_t batch = size >= 65536 ? 1 : 65536 / size;
        uint64_t end = now_ns() + (uint64_t) (warmup * 1e9);
        while (now_ns() < end) {
            memcpy(dst, src, size);
            __asm__ volatile("" ::: "memory");      /* every copy happens, none is merged or dropped */
        }
        double mbps[MAX_REPS], ops[MAX_REPS];
        for (int r = 0; r < reps; r++) {
            uint64_t t0 = now_ns(), t1, n = 0, stop = t0 + (uint64_t) (seconds * 1e9);
            do {
                for (uint64_t b = 0; b < batch; b++) {
                    memcpy(dst, src, size);
                    __asm__ volatile("" ::: "memory");
                }
                n += batch;
                t1 = now_ns();
            } while (t1 < stop);
            double elapsed = (double) (t1 - t0) / 1e9;
            mbps[r] = (double) n * (double) size / elapsed / 1e6;
            ops[r] = (double) n / elapsed;
        }
        if (memcmp(src, dst, size) != 0) DIE("copy of %zu bytes differs", size);
        printf("{\"name\":\"memcpy\",\"size\":%zu,\"cpu\":%d,\"parent_cpus\":\"%s\",\"reps\":%d,\"time_s\":%.3f,",
               size, cpu, cpus, reps, seconds);
        print_reps("mb_per_s", mbps, reps);
        putchar(',');
        print_reps("ops_per_s", ops, reps);
        printf("}\n");
        fflush(stdout);
        free(src);
        free(dst);
    }
    return 0;
}
