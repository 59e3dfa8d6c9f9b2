/*
 * ring_consumer - takes frames from a panpipe frame ring until end of stream, as a C peer of the Java ends.
 *
 *   ring_consumer (--fd N | --name NAME) [--verify] [--delay-us 0] [--spins 200] [--liveness-ms 20]
 *
 * Reads every frame in place in the shared mapping and, once the producer closed and every frame was
 * taken, prints
 *
 *   frames 100 checksum 1234567            (the sum of every payload byte)
 *   doorbell sleeps 3 woken 3 timed-out 0 wakes 5
 *
 * (see struct pprg_stats). --verify checks that byte i of frame s is (s * 31 + i) & 0xff, the pattern
 * ring_producer and the Java tests write. --delay-us holds each frame that long before releasing it: a
 * slow consumer, whose producer sleeps on a full ring.
 * Exit 0; 1 if the ring failed or a frame is wrong (message on stderr); 2 usage.
 *
 * Build: gcc -O2 -Wall -Werror -o ring_consumer ring_consumer.c
 */
#define _GNU_SOURCE
#include "panpipe_ring.h"

#include <getopt.h>
#include <stdlib.h>

static long parse_number(const char *option, const char *s, long min) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min) {
        fprintf(stderr, "ring_consumer: --%s wants a number >= %ld, not %s\n", option, min, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    static const struct option options[] = {
        {"fd", required_argument, 0, 'f'}, {"name", required_argument, 0, 'n'},
        {"verify", no_argument, 0, 'v'}, {"delay-us", required_argument, 0, 'd'},
        {"spins", required_argument, 0, 's'}, {"liveness-ms", required_argument, 0, 'l'}, {0, 0, 0, 0},
    };
    int fd = -1, verify = 0;
    const char *name = NULL;
    long delay_us = 0, spins = 200, liveness_ms = 20;
    for (int opt; (opt = getopt_long(argc, argv, "", options, NULL)) != -1;) {
        switch (opt) {
        case 'f': fd = (int) parse_number("fd", optarg, 0); break;
        case 'n': name = optarg; break;
        case 'v': verify = 1; break;
        case 'd': delay_us = parse_number("delay-us", optarg, 0); break;
        case 's': spins = parse_number("spins", optarg, 0); break;
        case 'l': liveness_ms = parse_number("liveness-ms", optarg, 1); break;
        default: return 2;
        }
    }
    if ((fd < 0) == (name == NULL) || optind != argc) {
        fprintf(stderr, "usage: ring_consumer (--fd N | --name NAME) [--verify] [--delay-us U] [--spins N] [--liveness-ms M]\n");
        return 2;
    }

    struct pprg_ring ring;
    struct pprg_end in;
    if ((name != NULL ? pprg_open_named(&ring, name) : pprg_map(&ring, fd)) != PPRG_OK
            || pprg_attach(&in, &ring, PPRG_CONSUMER) != PPRG_OK) {
        fprintf(stderr, "ring_consumer: %s\n", ring.error);
        pprg_unmap(&ring);
        return 1;
    }
    in.spins = (int) spins;
    in.liveness_ns = liveness_ms * 1000000L;

    uint64_t frames = 0, checksum = 0;
    int status, wrong = 0;
    struct pprg_frame frame;
    while ((status = pprg_take(&in, &frame)) == PPRG_OK) {
        const unsigned char *p = frame.pixels;   /* the producer's bytes, in place */
        for (uint64_t i = 0; i < frame.length; i++) {
            checksum += p[i];
            if (verify && !wrong && p[i] != (unsigned char) (frame.sequence * 31 + i)) {
                fprintf(stderr, "ring_consumer: frame %llu byte %llu is %u, expected %u\n", (unsigned long long) frame.sequence,
                        (unsigned long long) i, p[i], (unsigned char) (frame.sequence * 31 + i));
                wrong = 1;
            }
        }
        frames++;
        if (delay_us > 0) usleep((useconds_t) delay_us);
        pprg_release(&in);
    }
    pprg_close(&in);
    if (status != PPRG_END_OF_STREAM) fprintf(stderr, "ring_consumer: %s\n", ring.error);
    printf("frames %llu checksum %llu\n", (unsigned long long) frames, (unsigned long long) checksum);
    printf("doorbell sleeps %llu woken %llu timed-out %llu wakes %llu\n", (unsigned long long) in.stats.sleeps,
           (unsigned long long) in.stats.woken, (unsigned long long) in.stats.timed_out, (unsigned long long) in.stats.wakes);
    pprg_unmap(&ring);
    return status == PPRG_END_OF_STREAM && !wrong ? 0 : 1;
}
