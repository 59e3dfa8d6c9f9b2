/*
 * ring_producer - writes frames into a panpipe frame ring, as a C peer of the Java ends.
 *
 *   ring_producer (--fd N | --name NAME [--create SLOTS]) [--frames 100] [--width 320] [--height 240]
 *                 [--format rgb8|bgr8|rgba8|gray8|bytes] [--delay-us 0] [--spins 200] [--liveness-ms 20]
 *
 * The ring is an fd it inherited (a memfd from FrameRing.create), or /dev/shm/panpipe-NAME made by
 * FrameRing.createNamed; with --create SLOTS it makes that named ring itself (slots sized for one frame,
 * mode 0600, never an existing one) and removes the name when it is done, as a Java creator does: only if
 * the name still refers to its ring.
 *
 * Byte i of frame s is (s * 31 + i) & 0xff, as in the Java tests' RingPeerMain. After the last frame it
 * closes its end (the consumer sees end of stream once it took everything) and prints
 *
 *   frames 100 checksum 1234567            (the sum of every payload byte)
 *   doorbell sleeps 3 woken 3 timed-out 0 wakes 5
 *
 * (see struct pprg_stats). --delay-us waits before each claim: a slow producer, whose consumer sleeps.
 * Exit 0; 1 if the ring failed (message on stderr: consumer closed or died, corrupt header); 2 usage.
 *
 * Build: gcc -O2 -Wall -Werror -o ring_producer ring_producer.c
 */
#define _GNU_SOURCE
#include "panpipe_ring.h"

#include <getopt.h>
#include <stdlib.h>

static uint32_t parse_format(const char *s) {
    static const char *names[] = {"bytes", "rgb8", "bgr8", "rgba8", "gray8"};
    for (uint32_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i]) == 0) return i;   /* the index is the format code */
    }
    fprintf(stderr, "ring_producer: unknown format %s (rgb8, bgr8, rgba8, gray8 or bytes)\n", s);
    exit(2);
}

static long parse_number(const char *option, const char *s, long min) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min) {
        fprintf(stderr, "ring_producer: --%s wants a number >= %ld, not %s\n", option, min, s);
        exit(2);
    }
    return v;
}

/* Fills a frame with the test pattern; returns the sum of its bytes. */
static uint64_t fill(unsigned char *pixels, uint64_t length, uint64_t sequence) {
    uint64_t sum = 0;
    for (uint64_t i = 0; i < length; i++) {
        unsigned char b = (unsigned char) (sequence * 31 + i);
        pixels[i] = b;
        sum += b;
    }
    return sum;
}

int main(int argc, char **argv) {
    static const struct option options[] = {
        {"fd", required_argument, 0, 'f'}, {"name", required_argument, 0, 'n'},
        {"frames", required_argument, 0, 'c'}, {"width", required_argument, 0, 'w'},
        {"height", required_argument, 0, 'h'}, {"format", required_argument, 0, 'p'},
        {"delay-us", required_argument, 0, 'd'}, {"spins", required_argument, 0, 's'},
        {"liveness-ms", required_argument, 0, 'l'}, {"create", required_argument, 0, 'C'}, {0, 0, 0, 0},
    };
    int fd = -1;
    const char *name = NULL;
    long frames = 100, width = 320, height = 240, delay_us = 0, spins = 200, liveness_ms = 20, create = 0;
    uint32_t format = PPRG_FORMAT_RGB8;
    for (int opt; (opt = getopt_long(argc, argv, "", options, NULL)) != -1;) {
        switch (opt) {
        case 'f': fd = (int) parse_number("fd", optarg, 0); break;
        case 'n': name = optarg; break;
        case 'c': frames = parse_number("frames", optarg, 0); break;
        case 'w': width = parse_number("width", optarg, 1); break;
        case 'h': height = parse_number("height", optarg, 1); break;
        case 'p': format = parse_format(optarg); break;
        case 'd': delay_us = parse_number("delay-us", optarg, 0); break;
        case 's': spins = parse_number("spins", optarg, 0); break;
        case 'l': liveness_ms = parse_number("liveness-ms", optarg, 1); break;
        case 'C': create = parse_number("create", optarg, 1); break;
        default: return 2;
        }
    }
    if ((fd < 0) == (name == NULL) || (create > 0 && name == NULL) || optind != argc) {
        fprintf(stderr, "usage: ring_producer (--fd N | --name NAME [--create SLOTS]) [--frames N] [--width W] [--height H]"
                        " [--format rgb8|bgr8|rgba8|gray8|bytes] [--delay-us U] [--spins N] [--liveness-ms M]\n");
        return 2;
    }

    uint64_t frame_bytes = (uint64_t) width * height * (format == PPRG_FORMAT_BYTES ? 1 : pprg_bytes_per_pixel(format));
    struct pprg_ring ring;
    struct pprg_end out;
    int opened = create > 0 ? pprg_create_named(&ring, name, (uint32_t) create, frame_bytes)
               : name != NULL ? pprg_open_named(&ring, name)
               : pprg_map(&ring, fd);
    if (opened != PPRG_OK || pprg_attach(&out, &ring, PPRG_PRODUCER) != PPRG_OK) {
        fprintf(stderr, "ring_producer: %s\n", ring.error);
        if (create > 0) pprg_unlink_named(&ring, name);   /* only if made here: nothing mapped if shm_open refused */
        pprg_unmap(&ring);
        return 1;
    }
    out.spins = (int) spins;
    out.liveness_ns = liveness_ms * 1000000L;

    uint64_t checksum = 0;
    int status = PPRG_OK;
    for (long n = 0; n < frames; n++) {
        if (delay_us > 0) usleep((useconds_t) delay_us);
        struct pprg_frame frame;
        if (format == PPRG_FORMAT_BYTES) pprg_frame_bytes(&frame, (uint64_t) width * height);
        else pprg_frame_packed(&frame, (uint32_t) width, (uint32_t) height, format);
        if ((status = pprg_claim(&out, &frame)) != PPRG_OK) break;   /* waits while every slot is full */
        checksum += fill(frame.pixels, frame.length, frame.sequence); /* written in place: no copy */
        pprg_commit(&out, &frame);
    }
    pprg_close(&out);
    if (status != PPRG_OK) fprintf(stderr, "ring_producer: %s\n", ring.error);
    printf("frames %llu checksum %llu\n", (unsigned long long) out.position, (unsigned long long) checksum);
    printf("doorbell sleeps %llu woken %llu timed-out %llu wakes %llu\n", (unsigned long long) out.stats.sleeps,
           (unsigned long long) out.stats.woken, (unsigned long long) out.stats.timed_out, (unsigned long long) out.stats.wakes);
    /* Before the unmap, which closes the fd: the name is removed only if it is still this ring's. */
    if (create > 0 && pprg_unlink_named(&ring, name) < 0) fprintf(stderr, "ring_producer: %s\n", ring.error);
    pprg_unmap(&ring);
    return status == PPRG_OK ? 0 : 1;
}
