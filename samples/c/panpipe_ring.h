/*
 * panpipe_ring.h - the panpipe frame ring (version 1) for C peers.
 *
 * A frame ring is one block of shared memory (a memfd handed over as an fd, or /dev/shm/panpipe-NAME)
 * holding a single-producer, single-consumer ring of fixed-size frame slots. This header is the same
 * layout as dev.panpipe.zerocopy.ring.FrameRingDescriptor (the source of truth; its javadoc has the bit
 * diagram) plus small inline helpers, so that a C process is a full peer of the Java ends: it attaches,
 * claims and commits or takes and releases frames, sleeps on the futex doorbell and wakes a sleeping
 * Java end, and notices a peer that closed or died.
 *
 *     struct pprg_ring ring;          // the mapping
 *     struct pprg_end  in;            // this process's end of it
 *     if (pprg_map(&ring, 3) != PPRG_OK || pprg_attach(&in, &ring, PPRG_CONSUMER) != PPRG_OK)
 *         errx(1, "%s", ring.error);
 *     struct pprg_frame f;
 *     while (pprg_take(&in, &f) == PPRG_OK) {    // PPRG_END_OF_STREAM once the producer closed
 *         use(f.pixels, f.width, f.height, f.stride, f.format);
 *         pprg_release(&in);
 *     }
 *     pprg_close(&in);
 *     pprg_unmap(&ring);
 *
 * Memory ordering, as in the Java ends: the producer writes the pixels and the slot descriptor, then the
 * descriptor's sequence and its position counter, both with release stores; the consumer releases a slot
 * by storing its own position with release after its last read of the pixels. A consumer past its first
 * frame looks for the next one at the awaited descriptor's sequence (acquire) before it reads the
 * producer's position, and spins there: that line is read next anyway, and the position's line, written
 * on every commit, then need not cross between cores (about 20% of a 64-byte round trip across two
 * cores here). So a producer's position may trail the frames its consumer has taken by one, for the
 * moment between its two stores, and the waits below treat a position at or below the one awaited as
 * "not moved". The first frame is awaited on the position: sequence 0 is what a descriptor of a creator
 * that did not store -1 would show.
 *
 * The cpu words are a hint for waiting, which these samples do not write: the Java ends store the CPU
 * they run on (plus one) and spin before sleeping only when the peer last ran on another CPU, since a
 * peer sharing the waiter's CPU cannot move while it spins. 0, what a C end leaves, reads as unknown.
 *
 * The doorbell: a waiting end sets its "waiting" word, loads the peer's position again, and only if it
 * has still not moved sleeps with FUTEX_WAIT on the low 32 bits of that position (little-endian: the
 * first four bytes of the u64). A publishing end stores its position, issues a full fence, and calls
 * FUTEX_WAKE if the peer's waiting word is set. Either the waiter sees the new position or the publisher
 * sees the waiting word (the store-fence-load on both sides forbids both missing), so no wake-up is
 * lost, and an end whose peer is awake makes no system call. A sleeper wakes at least every
 * liveness_ns to check, through a pidfd, that the peer still lives.
 *
 * Closing: an end stores STATE_CLOSED in its state word and wakes every sleeper on its position. The
 * consumer sees end of stream once the producer is closed and every committed frame was taken. A close
 * does not move the futex word, so the closing end keeps waking (for up to 50 ms) while the peer's
 * waiting word is set: a peer that read the state just before the close and then slept is woken too.
 * The Java ends do the same.
 *
 * Linux only, GCC or Clang (__atomic builtins), little-endian. Compile in a GNU dialect (gcc's default)
 * or define _GNU_SOURCE before any #include: it uses syscall(2). One thread at a time per end.
 */
#ifndef PANPIPE_RING_H
#define PANPIPE_RING_H

#if defined(__STRICT_ANSI__) && !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE)
#error "panpipe_ring.h needs syscall(2), clock_gettime and shm_open: compile with -std=gnu11, or define _GNU_SOURCE before any #include"
#endif

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef O_PATH   /* declared only with _GNU_SOURCE; this is its value on x86 and Arm, Linux generic */
#define O_PATH 010000000
#endif

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the panpipe frame ring is little-endian"
#endif

#if defined(__x86_64__) || defined(__i386__)
#define pprg_cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define pprg_cpu_relax() __asm__ __volatile__("yield")
#else
#define pprg_cpu_relax() ((void) 0)
#endif

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434   /* the same number on every architecture since Linux 5.3 */
#endif

/* ---- constants (FrameRingDescriptor) ---- */

#define PPRG_MAGIC             0x47525050u   /* "PPRG" read as a little-endian u32; written last */
#define PPRG_VERSION           1
#define PPRG_CACHE_LINE_PAIR   128
#define PPRG_HEADER_LENGTH     512
#define PPRG_DESCRIPTOR_LENGTH 64
#define PPRG_PAGE              4096
#define PPRG_MAX_SLOT_COUNT    65536

/* Values of the producer and consumer state words. */
#define PPRG_STATE_NONE     0
#define PPRG_STATE_ATTACHED 1
#define PPRG_STATE_CLOSED   2

/* Pixel format codes of a slot descriptor (dev.panpipe.pixel.PixelFormat; 0 is plain bytes). */
#define PPRG_FORMAT_BYTES 0   /* width = payload length, height 1 */
#define PPRG_FORMAT_RGB8  1
#define PPRG_FORMAT_BGR8  2
#define PPRG_FORMAT_RGBA8 3
#define PPRG_FORMAT_GRAY8 4

/* ---- the layout ---- */

/* The ring header: 512 bytes, four 128-byte cache-line pairs so the two ends never write the same line. */
struct pprg_header {
    uint32_t magic;             /*   0: PPRG_MAGIC, stored last (release) by the ring's creator */
    uint16_t version;           /*   4: PPRG_VERSION */
    uint16_t header_length;     /*   6: PPRG_HEADER_LENGTH */
    uint32_t slot_count;        /*   8: a power of two, at most PPRG_MAX_SLOT_COUNT */
    uint32_t flags;             /*  12: 0 */
    uint64_t slot_size;         /*  16: a multiple of PPRG_PAGE: the most bytes one frame may have */
    uint64_t slots_offset;      /*  24: page-aligned, right after the descriptor table */
    uint64_t ring_length;       /*  32: slots_offset + slot_count * slot_size */
    int32_t producer_pid;       /*  40 */
    int32_t consumer_pid;       /*  44 */
    int32_t producer_state;     /*  48: PPRG_STATE_* */
    int32_t consumer_state;     /*  52: PPRG_STATE_* */
    uint8_t reserved0[128 - 56];
    uint64_t producer_position; /* 128: frames committed; low 32 bits are a sleeping consumer's futex word */
    int32_t producer_cpu;       /* 136: CPU the producer last ran on, plus one; 0 unknown (a hint, see above) */
    uint8_t reserved1[116];
    uint64_t consumer_position; /* 256: frames released; low 32 bits are a sleeping producer's futex word */
    int32_t consumer_cpu;       /* 264: as producer_cpu, for the consumer */
    uint8_t reserved2[116];
    int32_t consumer_waiting;   /* 384: 1 while the consumer sleeps (or is about to) on producer_position */
    int32_t producer_waiting;   /* 388: 1 while the producer sleeps (or is about to) on consumer_position */
    uint8_t reserved3[120];
};

/* Slot descriptor i, at PPRG_HEADER_LENGTH + 64 * i: one cache line. */
struct pprg_descriptor {
    uint64_t sequence;          /*  0: the producer position the frame was committed at; stored last (release) */
    int64_t timestamp_ns;       /*  8: CLOCK_MONOTONIC nanoseconds (Java's System.nanoTime) */
    uint64_t payload_length;    /* 16: at most slot_size */
    uint32_t width;             /* 24 */
    uint32_t height;            /* 28 */
    uint32_t stride;            /* 32: bytes from one row to the next */
    uint32_t pixel_format;      /* 36: PPRG_FORMAT_* */
    uint8_t reserved[24];       /* 40: zero */
};

_Static_assert(offsetof(struct pprg_header, magic) == 0, "magic");
_Static_assert(offsetof(struct pprg_header, version) == 4, "version");
_Static_assert(offsetof(struct pprg_header, header_length) == 6, "header_length");
_Static_assert(offsetof(struct pprg_header, slot_count) == 8, "slot_count");
_Static_assert(offsetof(struct pprg_header, flags) == 12, "flags");
_Static_assert(offsetof(struct pprg_header, slot_size) == 16, "slot_size");
_Static_assert(offsetof(struct pprg_header, slots_offset) == 24, "slots_offset");
_Static_assert(offsetof(struct pprg_header, ring_length) == 32, "ring_length");
_Static_assert(offsetof(struct pprg_header, producer_pid) == 40, "producer_pid");
_Static_assert(offsetof(struct pprg_header, consumer_pid) == 44, "consumer_pid");
_Static_assert(offsetof(struct pprg_header, producer_state) == 48, "producer_state");
_Static_assert(offsetof(struct pprg_header, consumer_state) == 52, "consumer_state");
_Static_assert(offsetof(struct pprg_header, producer_position) == PPRG_CACHE_LINE_PAIR, "producer_position");
_Static_assert(offsetof(struct pprg_header, producer_cpu) == PPRG_CACHE_LINE_PAIR + 8, "producer_cpu");
_Static_assert(offsetof(struct pprg_header, consumer_position) == 2 * PPRG_CACHE_LINE_PAIR, "consumer_position");
_Static_assert(offsetof(struct pprg_header, consumer_cpu) == 2 * PPRG_CACHE_LINE_PAIR + 8, "consumer_cpu");
_Static_assert(offsetof(struct pprg_header, consumer_waiting) == 3 * PPRG_CACHE_LINE_PAIR, "consumer_waiting");
_Static_assert(offsetof(struct pprg_header, producer_waiting) == 3 * PPRG_CACHE_LINE_PAIR + 4, "producer_waiting");
_Static_assert(sizeof(struct pprg_header) == PPRG_HEADER_LENGTH, "header length");
_Static_assert(offsetof(struct pprg_descriptor, sequence) == 0, "sequence");
_Static_assert(offsetof(struct pprg_descriptor, timestamp_ns) == 8, "timestamp");
_Static_assert(offsetof(struct pprg_descriptor, payload_length) == 16, "payload_length");
_Static_assert(offsetof(struct pprg_descriptor, width) == 24, "width");
_Static_assert(offsetof(struct pprg_descriptor, height) == 28, "height");
_Static_assert(offsetof(struct pprg_descriptor, stride) == 32, "stride");
_Static_assert(offsetof(struct pprg_descriptor, pixel_format) == 36, "pixel_format");
_Static_assert(sizeof(struct pprg_descriptor) == PPRG_DESCRIPTOR_LENGTH, "descriptor length");

/* ---- results of the helpers ---- */

enum pprg_status {
    PPRG_OK = 0,
    PPRG_END_OF_STREAM = -1, /* take: the producer closed and every frame it committed was taken */
    PPRG_PEER_CLOSED = -2,   /* claim: the consumer closed (like writing to a pipe nobody reads) */
    PPRG_PEER_DIED = -3,     /* the peer process exited without closing its end */
    PPRG_CORRUPT = -4,       /* a header or descriptor field is wrong: ring->error names it and its value */
    PPRG_REFUSED = -5,       /* the role is taken, or the frame does not fit a slot: see ring->error */
    PPRG_SYSTEM = -6         /* a system call failed: ring->error names it, errno is kept */
};

/* What a sleeping end counts: how the doorbell was used (the samples print it, the tests check it). */
struct pprg_stats {
    uint64_t sleeps;         /* FUTEX_WAIT calls that slept */
    uint64_t woken;          /* ... of which ended by a FUTEX_WAKE */
    uint64_t timed_out;      /* ... of which ended after liveness_ns (to check the peer) */
    uint64_t wakes;          /* FUTEX_WAKE calls of this end that woke a sleeping peer */
};

/* A mapped ring. */
struct pprg_ring {
    unsigned char *base;
    size_t length;
    int fd;
    struct pprg_header *header;
    struct pprg_descriptor *descriptors;
    uint32_t slot_count;     /* slot_count, slot_size and slots_offset as pprg_validate checked them: the header's */
    uint64_t slot_size;      /* words may be changed by the peer afterwards, so they are read there once and */
    uint64_t slots_offset;   /* never again */
    char error[256];         /* why the last call that failed failed */
};

#define PPRG_PRODUCER 1
#define PPRG_CONSUMER 0

/* This process's end of a ring. */
struct pprg_end {
    struct pprg_ring *ring;
    int producer;
    uint64_t position;       /* frames this end committed (producer) or released (consumer) */
    uint64_t peer_cache;     /* the peer's position as last read: re-read only when the ring looks full/empty */
    int holding;             /* a claim or a take is outstanding */
    int spins;               /* looks at the peer's position before sleeping (default 200) */
    long liveness_ns;        /* longest sleep between two checks that the peer lives (default 20 ms) */
    int closed;
    int peer_pidfd;
    int32_t watched_pid;
    int watched_dead;        /* watched_pid was seen to have exited (kept: a pid that names nothing has no pidfd) */
    struct pprg_stats stats;
    /* the header words this end reads and writes */
    uint64_t *own_position, *peer_position;
    int32_t *own_pid, *peer_pid, *own_state, *peer_state, *own_waiting, *peer_waiting;
};

/* A frame: what the producer fills in before pprg_claim, and what pprg_take hands the consumer. */
struct pprg_frame {
    uint64_t sequence;
    int64_t timestamp_ns;    /* 0 at commit: stamped with CLOCK_MONOTONIC */
    uint64_t length;
    uint32_t width, height, stride, format;
    unsigned char *pixels;   /* in place in the shared mapping: length bytes */
};

/* ---- small helpers ---- */

static inline uint32_t pprg_bytes_per_pixel(uint32_t format) {
    switch (format) {
    case PPRG_FORMAT_RGB8: case PPRG_FORMAT_BGR8: return 3;
    case PPRG_FORMAT_RGBA8: return 4;
    case PPRG_FORMAT_GRAY8: return 1;
    default: return 0;   /* PPRG_FORMAT_BYTES or unknown */
    }
}

static inline uint64_t pprg_slots_offset(uint32_t slot_count) {
    uint64_t end = PPRG_HEADER_LENGTH + (uint64_t) PPRG_DESCRIPTOR_LENGTH * slot_count;
    return (end + PPRG_PAGE - 1) & ~(uint64_t) (PPRG_PAGE - 1);
}

static inline int64_t pprg_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t) t.tv_sec * 1000000000 + t.tv_nsec;
}

#define PPRG_FAIL(ring, status, ...) (snprintf((ring)->error, sizeof (ring)->error, __VA_ARGS__), (status))

/* Sleeps while *word == expected, at most timeout_ns. 0 woken (or spuriously), else errno. */
static inline int pprg_futex_wait(uint32_t *word, uint32_t expected, long timeout_ns) {
    struct timespec t = { timeout_ns / 1000000000, timeout_ns % 1000000000 };
    /* Not FUTEX_PRIVATE_FLAG: the word is in memory shared between processes. */
    return syscall(SYS_futex, word, FUTEX_WAIT, expected, &t, NULL, 0) == 0 ? 0 : errno;
}

static inline long pprg_futex_wake(uint32_t *word, int count) {
    return syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
}

/* The futex word under a 64-bit position: its low 32 bits, the first four bytes on little-endian. */
static inline uint32_t *pprg_low_word(uint64_t *position) {
    return (uint32_t *) position;
}

/* 1 once the process behind pidfd has exited: a pidfd polls readable then (and no reused pid fools it). */
static inline int pprg_pidfd_dead(int pidfd) {
    struct pollfd p = { .fd = pidfd, .events = POLLIN };
    return poll(&p, 1, 0) > 0;
}

/*
 * pidfd_open's answers for a pid that names no process: gone (ESRCH), or a thread that leads none (ENOENT;
 * EINVAL before Linux 6.9). Pids and thread ids share one number space, so a peer's pid may name another
 * process's thread by the time it is looked at: that peer has exited too.
 */
static inline int pprg_no_such_process(int err) {
    return err == ESRCH || err == ENOENT || err == EINVAL;
}

/* 1 if process pid has exited (or is negative: names none), 0 if it lives (or is this process, or no pid was written yet). */
static inline int pprg_process_dead(int32_t pid) {
    if (pid == 0 || pid == getpid()) return 0;
    if (pid < 0) return 1;
    int fd = (int) syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0 && pprg_no_such_process(errno)) return 1;
    if (fd < 0) return kill(pid, 0) != 0 && errno == ESRCH;   /* no pidfds before Linux 5.3 */
    int dead = pprg_pidfd_dead(fd);
    close(fd);
    return dead;
}

/* ---- mapping and checking a ring ---- */

/* Checks every header field against the mapping's length, as FrameRing.validateHeader does: each read once. */
static inline int pprg_validate(struct pprg_ring *r) {
    struct pprg_header *h = (struct pprg_header *) r->base;
    if (r->length < PPRG_HEADER_LENGTH)
        return PPRG_FAIL(r, PPRG_CORRUPT, "ring length: shared memory of %zu bytes cannot hold a ring header of %d",
                         r->length, PPRG_HEADER_LENGTH);
    uint32_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);   /* pairs with the creator's release */
    if (magic != PPRG_MAGIC)
        return PPRG_FAIL(r, PPRG_CORRUPT, "magic: ring magic 0x%08x, expected 0x%08x (\"PPRG\"): not a panpipe frame ring, "
                         "or not initialised yet", magic, PPRG_MAGIC);
    if (h->version != PPRG_VERSION)
        return PPRG_FAIL(r, PPRG_CORRUPT, "version: ring version %u is not supported (this header reads version %d)",
                         h->version, PPRG_VERSION);
    if (h->header_length != PPRG_HEADER_LENGTH)
        return PPRG_FAIL(r, PPRG_CORRUPT, "header length: %u, expected %d", h->header_length, PPRG_HEADER_LENGTH);
    uint32_t n = h->slot_count;
    if (n == 0 || n > PPRG_MAX_SLOT_COUNT || (n & (n - 1)) != 0)
        return PPRG_FAIL(r, PPRG_CORRUPT, "slot count: %u is not a power of two in [1, %d]", n, PPRG_MAX_SLOT_COUNT);
    uint64_t size = h->slot_size;
    if (size == 0 || size % PPRG_PAGE != 0)
        return PPRG_FAIL(r, PPRG_CORRUPT, "slot size: %llu is not a positive multiple of %d", (unsigned long long) size, PPRG_PAGE);
    uint64_t offset = h->slots_offset;
    if (offset != pprg_slots_offset(n))
        return PPRG_FAIL(r, PPRG_CORRUPT, "slots offset: %llu, expected %llu for %u slots",
                         (unsigned long long) offset, (unsigned long long) pprg_slots_offset(n), n);
    uint64_t slots;
    if (__builtin_mul_overflow(size, (uint64_t) n, &slots) || slots + offset < slots)
        return PPRG_FAIL(r, PPRG_CORRUPT, "slot size: a ring of %u slots of %llu bytes overflows", n, (unsigned long long) size);
    uint64_t ring_length = h->ring_length;
    if (ring_length != offset + slots || ring_length > r->length)
        return PPRG_FAIL(r, PPRG_CORRUPT, "ring length: %llu (slots need %llu) does not fit the mapping of %zu bytes",
                         (unsigned long long) ring_length, (unsigned long long) (offset + slots), r->length);
    r->header = h;
    r->descriptors = (struct pprg_descriptor *) (r->base + PPRG_HEADER_LENGTH);
    r->slot_count = n;
    r->slot_size = size;
    r->slots_offset = offset;
    return PPRG_OK;
}

static inline void pprg_unmap(struct pprg_ring *r) {
    if (r->base != NULL) munmap(r->base, r->length);
    if (r->fd >= 0) close(r->fd);
    r->base = NULL;
    r->fd = -1;
}

/* Maps the ring whose memory is fd (a memfd handed over, or a shm_open fd) and checks its header. Takes the fd. */
static inline int pprg_map(struct pprg_ring *r, int fd) {
    struct stat st;
    int status;
    r->base = NULL;
    r->fd = fd;
    r->error[0] = '\0';
    if (fstat(fd, &st) != 0) {
        status = PPRG_FAIL(r, PPRG_SYSTEM, "fstat fd %d: %s", fd, strerror(errno));
    } else if (st.st_size <= 0) {
        status = PPRG_FAIL(r, PPRG_CORRUPT, "ring length: fd %d has size %lld", fd, (long long) st.st_size);
    } else {
        void *p = mmap(NULL, (size_t) st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            status = PPRG_FAIL(r, PPRG_SYSTEM, "mmap fd %d: %s", fd, strerror(errno));
        } else {
            r->base = p;
            r->length = (size_t) st.st_size;
            status = pprg_validate(r);
        }
    }
    if (status != PPRG_OK) pprg_unmap(r);   /* after a failure there is nothing left to clean up */
    return status;
}

/* The shm_open name of ring NAME, "/panpipe-NAME", into path; NAME is 1-200 of [A-Za-z0-9._-] as in Java. */
static inline int pprg_shm_path(struct pprg_ring *r, const char *name, char *path, size_t size) {
    size_t n = strlen(name);
    if (n == 0 || n > 200 || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
        return PPRG_FAIL(r, PPRG_REFUSED, "shared memory name must be 1-200 of [A-Za-z0-9._-]: %.200s", name);
    snprintf(path, size, "/panpipe-%s", name);
    return PPRG_OK;
}

#define PPRG_SHM_PATH_MAX (sizeof "/panpipe-" + 200)

/* Maps /dev/shm/panpipe-NAME, a ring made by FrameRing.createNamed(NAME, ...) or pprg_create_named. */
static inline int pprg_open_named(struct pprg_ring *r, const char *name) {
    char path[PPRG_SHM_PATH_MAX];
    r->base = NULL;
    r->fd = -1;
    if (pprg_shm_path(r, name, path, sizeof path) != PPRG_OK) return PPRG_REFUSED;
    int fd = shm_open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0) return PPRG_FAIL(r, PPRG_SYSTEM, "shm_open %.209s: %s", path, strerror(errno));
    return pprg_map(r, fd);
}

/*
 * Removes the shm_open name path ("/panpipe-NAME") if it still refers to the file open as fd, as
 * SharedMemory.unlink does in Java: 1 removed; 0 the name is gone or is another file's now (removed and made
 * again, for a new block that is not ours to remove); -1 a call failed, errno says why and *call names it.
 * The file behind the name is opened with O_PATH|O_NOFOLLOW (a symbolic link is looked at, not followed) and
 * its device and inode are compared with fd's; fd keeps the file, and so its inode number, from being reused
 * meanwhile. A window remains: nothing removes a name only if it is a given inode, so shm_unlink looks the
 * name up again, and a block made under it by another process between the check and that call loses its
 * name. /dev/shm is where glibc keeps shm_open objects (2.34 on: shm_open is an open of "/dev/shm" + name).
 */
static inline int pprg_unlink_if_ours(int fd, const char *path, const char **call) {
    char file[sizeof "/dev/shm" + PPRG_SHM_PATH_MAX];
    struct stat mine, found;
    *call = "fstat";
    if (fstat(fd, &mine) != 0) return -1;
    snprintf(file, sizeof file, "/dev/shm%s", path);
    *call = "open";
    int probe = open(file, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (probe < 0) return errno == ENOENT ? 0 : -1;
    *call = "fstat";
    int failed = fstat(probe, &found) != 0;
    int err = errno;
    close(probe);
    if (failed) {
        errno = err;
        return -1;
    }
    if (found.st_dev != mine.st_dev || found.st_ino != mine.st_ino) return 0;
    *call = "shm_unlink";
    if (shm_unlink(path) != 0) return errno == ENOENT ? 0 : -1;
    return 1;
}

/*
 * Creates /dev/shm/panpipe-NAME (mode 0600, O_EXCL: never someone else's block) holding a new ring of
 * slot_count slots (a power of two) of max_frame_bytes each (rounded up to whole pages), as
 * FrameRing.createNamed does: every header field first, the magic last with a release store, so a process
 * that joins sees the whole ring or none. The creator removes the name with pprg_unlink_named, before
 * pprg_unmap.
 */
static inline int pprg_create_named(struct pprg_ring *r, const char *name, uint32_t slot_count, uint64_t max_frame_bytes) {
    char path[PPRG_SHM_PATH_MAX];
    r->base = NULL;
    r->fd = -1;
    if (pprg_shm_path(r, name, path, sizeof path) != PPRG_OK) return PPRG_REFUSED;
    if (slot_count == 0 || slot_count > PPRG_MAX_SLOT_COUNT || (slot_count & (slot_count - 1)) != 0)
        return PPRG_FAIL(r, PPRG_REFUSED, "slotCount must be a power of two in [1, %d]: %u", PPRG_MAX_SLOT_COUNT, slot_count);
    if (max_frame_bytes == 0 || max_frame_bytes > ((uint64_t) 1 << 40))
        return PPRG_FAIL(r, PPRG_REFUSED, "maxFrameBytes must be in [1, 2^40]: %llu", (unsigned long long) max_frame_bytes);
    uint64_t slot_size = (max_frame_bytes + PPRG_PAGE - 1) & ~(uint64_t) (PPRG_PAGE - 1);
    uint64_t length = pprg_slots_offset(slot_count) + slot_count * slot_size;
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return PPRG_FAIL(r, PPRG_SYSTEM, "shm_open %.209s: %s", path, strerror(errno));
    const char *call = "ftruncate";
    void *p = MAP_FAILED;
    int err = 0;
    /* The pages are reserved now, as FrameRing.createNamed does: on a /dev/shm without room the first write
     * to a page would otherwise fault (SIGBUS) rather than fail here. posix_fallocate returns its error. */
    if (ftruncate(fd, (off_t) length) == 0) {
        call = "posix_fallocate";
        err = posix_fallocate(fd, 0, (off_t) length);
        if (err == 0) {
            call = "mmap";
            p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        }
    }
    if (p == MAP_FAILED) {
        if (err == 0) err = errno;
        const char *ignored;
        pprg_unlink_if_ours(fd, path, &ignored);   /* while fd holds the file; best effort on a failing path */
        close(fd);
        return PPRG_FAIL(r, PPRG_SYSTEM, "%s %.200s: %s", call, path, strerror(err));
    }
    struct pprg_header *h = p;   /* zero-filled by ftruncate */
    h->version = PPRG_VERSION;
    h->header_length = PPRG_HEADER_LENGTH;
    h->slot_count = slot_count;
    h->flags = 0;
    h->slot_size = slot_size;
    h->slots_offset = pprg_slots_offset(slot_count);
    h->ring_length = length;
    struct pprg_descriptor *d = (struct pprg_descriptor *) ((unsigned char *) p + PPRG_HEADER_LENGTH);
    for (uint32_t i = 0; i < slot_count; i++) d[i].sequence = UINT64_MAX;   /* -1: no stale slot passes for a new frame */
    __atomic_store_n(&h->magic, PPRG_MAGIC, __ATOMIC_RELEASE);               /* published last */
    r->base = p;
    r->length = length;
    r->fd = fd;
    return pprg_validate(r);
}

/*
 * Removes the name /dev/shm/panpipe-NAME of the ring r maps, if the name is still r's (see pprg_unlink_if_ours;
 * the mappings stay valid): call it before pprg_unmap, which closes the fd the check needs. 1 removed; 0 the
 * name is gone, or another block's now, or r is not mapped; PPRG_SYSTEM (r->error says why) or PPRG_REFUSED
 * (a bad name) if it could not tell.
 */
static inline int pprg_unlink_named(struct pprg_ring *r, const char *name) {
    char path[PPRG_SHM_PATH_MAX];
    const char *call;
    if (r->fd < 0) return 0;
    if (pprg_shm_path(r, name, path, sizeof path) != PPRG_OK) return PPRG_REFUSED;
    int removed = pprg_unlink_if_ours(r->fd, path, &call);
    if (removed < 0) return PPRG_FAIL(r, PPRG_SYSTEM, "%s /dev/shm%.209s: %s", call, path, strerror(errno));
    return removed;
}

/* ---- attaching, waiting, publishing, closing ---- */

static inline void pprg_publish(struct pprg_end *e);

/* Becomes the ring's producer or consumer: refused if that role closed already or has a live process. */
static inline int pprg_attach(struct pprg_end *e, struct pprg_ring *r, int producer) {
    struct pprg_header *h = r->header;
    const char *role = producer ? "producer" : "consumer";
    *e = (struct pprg_end) {
        .ring = r, .producer = producer, .spins = 200, .liveness_ns = 20000000L, .peer_pidfd = -1,
        .own_position = producer ? &h->producer_position : &h->consumer_position,
        .peer_position = producer ? &h->consumer_position : &h->producer_position,
        .own_pid = producer ? &h->producer_pid : &h->consumer_pid,
        .peer_pid = producer ? &h->consumer_pid : &h->producer_pid,
        .own_state = producer ? &h->producer_state : &h->consumer_state,
        .peer_state = producer ? &h->consumer_state : &h->producer_state,
        .own_waiting = producer ? &h->producer_waiting : &h->consumer_waiting,
        .peer_waiting = producer ? &h->consumer_waiting : &h->producer_waiting,
    };
    int32_t state = __atomic_load_n(e->own_state, __ATOMIC_ACQUIRE);
    int32_t pid = __atomic_load_n(e->own_pid, __ATOMIC_ACQUIRE);
    if (state == PPRG_STATE_CLOSED)
        return PPRG_FAIL(r, PPRG_REFUSED, "the ring's %s (pid %d) already closed it: a ring carries one stream", role, pid);
    /* A live pid with the state still NONE is an end half-way through attaching (its pid is stored first). */
    if ((state == PPRG_STATE_ATTACHED || pid != 0) && (pid == getpid() || !pprg_process_dead(pid)))
        return PPRG_FAIL(r, PPRG_REFUSED, "the ring already has a live %s: pid %d", role, pid);
    /* Two ends attaching at once both pass the check above: the one whose pid replaces the pid both read takes
       the role (as in RingEnd.attach). */
    if (!__atomic_compare_exchange_n(e->own_pid, &pid, (int32_t) getpid(), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return PPRG_FAIL(r, PPRG_REFUSED, "the ring already has a live %s: pid %d attached at the same time", role, pid);
    __atomic_store_n(e->own_state, PPRG_STATE_ATTACHED, __ATOMIC_SEQ_CST);
    e->position = __atomic_load_n(e->own_position, __ATOMIC_ACQUIRE);   /* resumes after a dead predecessor */
    e->peer_cache = __atomic_load_n(e->peer_position, __ATOMIC_ACQUIRE);
    /* A producer that died between its last frame's sequence store and its position store committed that frame as
       far as the consumer knows (it takes a frame by its sequence and may hold it now): finish that commit rather
       than claim the frame's slot again. */
    if (producer && e->position > 0
            && __atomic_load_n(&r->descriptors[e->position & (r->slot_count - 1)].sequence, __ATOMIC_ACQUIRE) == e->position) {
        e->position++;
        pprg_publish(e);
    }
    return PPRG_OK;
}

/* Stores this end's new position and rings the doorbell if the peer sleeps on it. */
static inline void pprg_publish(struct pprg_end *e) {
    __atomic_store_n(e->own_position, e->position, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);   /* the store above before the load below (Dekker) */
    if (__atomic_load_n(e->peer_waiting, __ATOMIC_SEQ_CST) != 0
            && pprg_futex_wake(pprg_low_word(e->own_position), 1) > 0) {
        e->stats.wakes++;
    }
}

/* 1 if the peer named in the header has exited; its pidfd is opened once per peer pid and kept. */
static inline int pprg_peer_dead(struct pprg_end *e) {
    int32_t pid = __atomic_load_n(e->peer_pid, __ATOMIC_ACQUIRE);
    if (pid == 0 || pid == getpid()) return 0;
    if (pid < 0) {   /* names no process: taken for "no peer yet", a wait on it would never end */
        e->watched_pid = pid;
        return 1;
    }
    if (pid != e->watched_pid) {   /* first look, or a new peer attached: watch its pid */
        if (e->peer_pidfd >= 0) close(e->peer_pidfd);
        e->watched_pid = pid;
        e->peer_pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        /* remembered: a kill(pid, 0) next time would pass for a thread id, and a reused pid */
        e->watched_dead = e->peer_pidfd < 0 && pprg_no_such_process(errno);
    }
    if (e->watched_dead) return 1;
    if (e->peer_pidfd >= 0) return e->watched_dead = pprg_pidfd_dead(e->peer_pidfd);
    return kill(pid, 0) != 0 && errno == ESRCH;   /* no pidfd (Linux before 5.3): a reused pid passes for the peer */
}

/* PPRG_OK, or why the peer will never move from observed: it closed, or it died. */
static inline int pprg_check_peer(struct pprg_end *e, uint64_t observed) {
    const char *peer = e->producer ? "consumer" : "producer";
    if (__atomic_load_n(e->peer_state, __ATOMIC_ACQUIRE) == PPRG_STATE_CLOSED) {
        if (__atomic_load_n(e->peer_position, __ATOMIC_ACQUIRE) > observed) return PPRG_OK;   /* moved, then closed */
        return e->producer
            ? PPRG_FAIL(e->ring, PPRG_PEER_CLOSED, "the ring's consumer closed; %llu committed frames were not taken",
                        (unsigned long long) (e->position - observed))
            : PPRG_FAIL(e->ring, PPRG_END_OF_STREAM, "end of stream: the ring's producer closed after %llu frames",
                        (unsigned long long) e->position);
    }
    /* <=: a producer that died between its sequence store and its position store leaves a trailing position */
    if (pprg_peer_dead(e) && __atomic_load_n(e->peer_position, __ATOMIC_ACQUIRE) <= observed)
        return PPRG_FAIL(e->ring, PPRG_PEER_DIED, "the ring's %s (pid %d) died", peer, e->watched_pid);
    return PPRG_OK;
}

/* Waits until the peer's position differs from observed: spins, then sleeps on the doorbell. */
/*
 * What a waiting end looks at while it spins: for a consumer past its first frame, the awaited frame's
 * descriptor (position + 1 once its sequence reads the consumer's position), else the peer's position.
 */
static inline uint64_t pprg_spin_probe(struct pprg_end *e) {
    if (!e->producer && e->position > 0) {
        struct pprg_descriptor *d = &e->ring->descriptors[e->position & (e->ring->slot_count - 1)];
        return __atomic_load_n(&d->sequence, __ATOMIC_ACQUIRE) == e->position ? e->position + 1 : e->position;
    }
    return __atomic_load_n(e->peer_position, __ATOMIC_ACQUIRE);
}

/* A consumer's producer position one below the position it awaits past: trailing, not yet moved (see the top). */
static inline int pprg_trailing(const struct pprg_end *e, uint64_t v, uint64_t observed) {
    return !e->producer && observed > 0 && v == observed - 1;
}

/*
 * Waits until the peer's position differs from observed (and, for a consumer sleeping, from a trailing
 * observed - 1): spins, then sleeps on the futex. *seen gets the position, or position + 1 for a consumer
 * that saw its frame's sequence; a value out of range is the caller's to refuse.
 */
static inline int pprg_await_peer(struct pprg_end *e, uint64_t observed, uint64_t *seen) {
    for (int i = 0; i < e->spins; i++) {
        uint64_t v = pprg_spin_probe(e);
        if (v != observed) { *seen = v; return PPRG_OK; }
        pprg_cpu_relax();
    }
    for (;;) {
        int status = pprg_check_peer(e, observed);
        if (status != PPRG_OK) return status;
        __atomic_store_n(e->own_waiting, 1, __ATOMIC_SEQ_CST);   /* announce the sleep ... */
        uint64_t v = __atomic_load_n(e->peer_position, __ATOMIC_SEQ_CST);   /* ... then look once more */
        if (v == observed || pprg_trailing(e, v, observed)) {   /* a trailing position's next store wakes this end too */
            int err = pprg_futex_wait(pprg_low_word(e->peer_position), (uint32_t) v, e->liveness_ns);
            if (err == 0) { e->stats.sleeps++; e->stats.woken++; }
            else if (err == ETIMEDOUT) { e->stats.sleeps++; e->stats.timed_out++; }
            else if (err != EAGAIN && err != EINTR) {
                __atomic_store_n(e->own_waiting, 0, __ATOMIC_SEQ_CST);
                return PPRG_FAIL(e->ring, PPRG_SYSTEM, "futex(FUTEX_WAIT): %s", strerror(err));
            }
            v = __atomic_load_n(e->peer_position, __ATOMIC_SEQ_CST);
        }
        __atomic_store_n(e->own_waiting, 0, __ATOMIC_SEQ_CST);
        if (v != observed && !pprg_trailing(e, v, observed)) { *seen = v; return PPRG_OK; }
    }
}

/* Marks this end closed and wakes a peer sleeping on it. Idempotent. */
static inline void pprg_close(struct pprg_end *e) {
    if (e->closed) return;
    e->closed = 1;
    __atomic_store_n(e->own_state, PPRG_STATE_CLOSED, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    /* A close does not move the futex word: keep waking (up to 50 ms) while the peer says it waits, so a
       peer that read our state just before the close and then went to sleep is not left to its liveness
       check. A woken peer clears its waiting word and sees the close. */
    int64_t deadline = pprg_now_ns() + 50000000LL;
    do {
        pprg_futex_wake(pprg_low_word(e->own_position), 0x7fffffff);
        if (__atomic_load_n(e->peer_waiting, __ATOMIC_SEQ_CST) == 0) break;
        sched_yield();
    } while (pprg_now_ns() < deadline);
    if (e->peer_pidfd >= 0) close(e->peer_pidfd);
    e->peer_pidfd = -1;
}

/* ---- the producer: claim, fill in place, commit ---- */

/* Describes a packed frame (stride = width * bytes per pixel) of a pixel format, for pprg_claim. */
static inline void pprg_frame_packed(struct pprg_frame *f, uint32_t width, uint32_t height, uint32_t format) {
    *f = (struct pprg_frame) { .width = width, .height = height, .format = format,
                               .stride = width * pprg_bytes_per_pixel(format) };
    f->length = (uint64_t) f->stride * height;
}

/* Describes a frame of plain bytes (format 0), for pprg_claim. */
static inline void pprg_frame_bytes(struct pprg_frame *f, uint64_t length) {
    *f = (struct pprg_frame) { .width = (uint32_t) length, .height = 1, .stride = (uint32_t) length,
                               .format = PPRG_FORMAT_BYTES, .length = length };
}

/* Claims the next slot for frame f (described by the caller), waiting while every slot is full. */
static inline int pprg_claim(struct pprg_end *p, struct pprg_frame *f) {
    struct pprg_ring *r = p->ring;
    /* Sizes as the consumer reads them (i32, so at most 2^31 - 1) */
    if (f->format != PPRG_FORMAT_BYTES && (pprg_bytes_per_pixel(f->format) == 0 || (int32_t) f->width <= 0 || (int32_t) f->height <= 0))
        return PPRG_FAIL(r, PPRG_REFUSED, "a %ux%u frame of pixel format %u: the size must be positive and the format known",
                         f->width, f->height, f->format);
    if (f->format != PPRG_FORMAT_BYTES) {   /* and the checks it makes: a frame it would refuse is not published */
        uint64_t row = (uint64_t) f->width * pprg_bytes_per_pixel(f->format);
        uint64_t needed = (uint64_t) f->stride * (f->height - 1) + row;
        if (f->stride < row || needed > f->length)
            return PPRG_FAIL(r, PPRG_REFUSED, "a %ux%u frame of pixel format %u: stride %u (a row is %llu bytes) and length %llu"
                             " (the rows need %llu) do not agree", f->width, f->height, f->format, f->stride,
                             (unsigned long long) row, (unsigned long long) f->length, (unsigned long long) needed);
    }
    if (f->length > r->slot_size)
        return PPRG_FAIL(r, PPRG_REFUSED, "a %ux%u frame needs %llu bytes; this ring's slots hold %llu", f->width, f->height,
                         (unsigned long long) f->length, (unsigned long long) r->slot_size);
    if (p->holding) return PPRG_FAIL(r, PPRG_REFUSED, "the previous claim (sequence %llu) was not committed",
                                     (unsigned long long) p->position);
    if (__atomic_load_n(p->peer_state, __ATOMIC_ACQUIRE) == PPRG_STATE_CLOSED)
        return PPRG_FAIL(r, PPRG_PEER_CLOSED, "the ring's consumer closed");
    while (p->position - p->peer_cache >= r->slot_count) {   /* every slot holds a frame not yet released */
        uint64_t seen = __atomic_load_n(p->peer_position, __ATOMIC_ACQUIRE);
        if (seen > p->position || seen < p->peer_cache)
            return PPRG_FAIL(r, PPRG_CORRUPT, "consumer position: %llu is outside [%llu, %llu]", (unsigned long long) seen,
                             (unsigned long long) p->peer_cache, (unsigned long long) p->position);
        p->peer_cache = seen;
        if (p->position - seen < r->slot_count) break;
        int status = pprg_await_peer(p, seen, &p->peer_cache);
        if (status != PPRG_OK) return status;
    }
    f->sequence = p->position;
    f->pixels = r->base + r->slots_offset + (p->position & (r->slot_count - 1)) * r->slot_size;
    p->holding = 1;
    return PPRG_OK;
}

/* Publishes the claimed frame: descriptor first, then its sequence and the producer position (release). */
static inline void pprg_commit(struct pprg_end *p, const struct pprg_frame *f) {
    struct pprg_descriptor *d = &p->ring->descriptors[f->sequence & (p->ring->slot_count - 1)];
    d->timestamp_ns = f->timestamp_ns != 0 ? f->timestamp_ns : pprg_now_ns();
    d->payload_length = f->length;
    d->width = f->width;
    d->height = f->height;
    d->stride = f->stride;
    d->pixel_format = f->format;
    __atomic_store_n(&d->sequence, f->sequence, __ATOMIC_RELEASE);
    p->holding = 0;
    p->position++;
    pprg_publish(p);
}

/* ---- the consumer: take a view, work on it in place, release ---- */

/* The next frame, waiting for the producer; PPRG_END_OF_STREAM once it closed and all was taken. */
static inline int pprg_take(struct pprg_end *c, struct pprg_frame *f) {
    struct pprg_ring *r = c->ring;
    if (c->holding) return PPRG_FAIL(r, PPRG_REFUSED, "frame %llu was taken and not released", (unsigned long long) c->position);
    /* Past the first frame, wait on the awaited frame's descriptor before reading the producer's position at
       all (see the top of this file): a frame already there, or one that arrives while this end spins, is
       taken without that line crossing. The position is read only if the wait came to sleep. */
    if (c->peer_cache <= c->position && c->position > 0) {
        int status = pprg_await_peer(c, c->position, &c->peer_cache);
        if (status != PPRG_OK) return status;
    }
    while (c->peer_cache <= c->position) {   /* nothing committed beyond what this end released, as far as it knows */
        uint64_t seen = __atomic_load_n(c->peer_position, __ATOMIC_ACQUIRE);
        uint64_t lowest = c->position == 0 ? 0 : c->position - 1;   /* may trail the frames taken by one */
        if (seen < lowest || seen > c->position + r->slot_count)
            return PPRG_FAIL(r, PPRG_CORRUPT, "producer position: %llu is outside [%llu, %llu]", (unsigned long long) seen,
                             (unsigned long long) lowest, (unsigned long long) (c->position + r->slot_count));
        if (seen > c->position) { c->peer_cache = seen; break; }
        /* Await a position past this end's, not past a trailing one: a producer that closes or dies right
           after its trailing store must be noticed at this end's position rather than awaited for ever. */
        int status = pprg_await_peer(c, c->position, &c->peer_cache);
        if (status != PPRG_OK) return status;
    }
    if (c->peer_cache - c->position > r->slot_count)
        return PPRG_FAIL(r, PPRG_CORRUPT, "producer position: %llu is more than %u frames ahead of %llu",
                         (unsigned long long) c->peer_cache, r->slot_count, (unsigned long long) c->position);
    struct pprg_descriptor *d = &r->descriptors[c->position & (r->slot_count - 1)];
    uint64_t seq = __atomic_load_n(&d->sequence, __ATOMIC_ACQUIRE);
    if (seq != c->position)
        return PPRG_FAIL(r, PPRG_CORRUPT, "sequence: frame descriptor sequence %llu, expected %llu",
                         (unsigned long long) seq, (unsigned long long) c->position);
    *f = (struct pprg_frame) { .sequence = seq, .timestamp_ns = d->timestamp_ns, .length = d->payload_length,
                               .width = d->width, .height = d->height, .stride = d->stride, .format = d->pixel_format };
    if (f->length > r->slot_size)
        return PPRG_FAIL(r, PPRG_CORRUPT, "payload length: frame %llu payload length %llu is outside [0, %llu]",
                         (unsigned long long) seq, (unsigned long long) f->length, (unsigned long long) r->slot_size);
    if (f->format != PPRG_FORMAT_BYTES) {
        uint32_t bpp = pprg_bytes_per_pixel(f->format);
        if (bpp == 0)
            return PPRG_FAIL(r, PPRG_CORRUPT, "pixel format: frame %llu has unknown pixel format code %u",
                             (unsigned long long) seq, f->format);
        if ((int32_t) f->width <= 0 || (int32_t) f->height <= 0)
            return PPRG_FAIL(r, PPRG_CORRUPT, "%s: frame %llu size %dx%d is not positive", (int32_t) f->width <= 0 ? "width" : "height",
                             (unsigned long long) seq, (int32_t) f->width, (int32_t) f->height);
        uint64_t row = (uint64_t) f->width * bpp;
        if (f->stride < row)
            return PPRG_FAIL(r, PPRG_CORRUPT, "stride: frame %llu stride %u is less than a row of %u pixels (%llu)",
                             (unsigned long long) seq, f->stride, f->width, (unsigned long long) row);
        if ((uint64_t) f->stride * (f->height - 1) + row > f->length)
            return PPRG_FAIL(r, PPRG_CORRUPT, "payload length: frame %llu of %ux%u stride %u needs %llu bytes but has %llu",
                             (unsigned long long) seq, f->width, f->height, f->stride,
                             (unsigned long long) ((uint64_t) f->stride * (f->height - 1) + row), (unsigned long long) f->length);
    }
    f->pixels = r->base + r->slots_offset + (c->position & (r->slot_count - 1)) * r->slot_size;
    c->holding = 1;
    return PPRG_OK;
}

/* Hands the taken frame's slot back to the producer (and wakes it if it sleeps for room). */
static inline void pprg_release(struct pprg_end *c) {
    c->holding = 0;
    c->position++;
    pprg_publish(c);
}

#endif /* PANPIPE_RING_H */
