package dev.panpipe.zerocopy.ring;

/**
 * The layout of a frame ring in shared memory: offsets only, no state. The same layout is written as a C
 * header in {@code samples/c/panpipe_ring.h}; the two must change together (version bump).
 *
 * <p>All integers are little-endian (the machine's order on every platform panpipe runs on), naturally
 * aligned. A ring is one mapping: a 512-byte header, a table of one 64-byte descriptor per slot, then the
 * slots, each a page-aligned run of {@code slotSize} bytes holding one frame's pixels.
 *
 * <pre>
 *  Ring header (4 cache-line pairs of 128 bytes, so producer and consumer never write the same line)
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                  magic 0x47525050 "PPRG"  (written LAST)      |   0
 *  +-------------------------------+-------------------------------+
 *  |          version (u16)        |        header length (u16)    |   4
 *  +-------------------------------+-------------------------------+
 *  |                       slot count (u32, power of 2)            |   8
 *  +---------------------------------------------------------------+
 *  |                       flags (u32, 0)                          |  12
 *  +---------------------------------------------------------------+
 *  |                       slot size (u64, multiple of 4096)       |  16
 *  +---------------------------------------------------------------+
 *  |                       slots offset (u64, page-aligned)        |  24
 *  +---------------------------------------------------------------+
 *  |                       ring length (u64) = slots offset +      |  32
 *  |                         slot count * slot size                |
 *  +---------------------------------------------------------------+
 *  |  producer pid (i32)   |  consumer pid (i32)                   |  40
 *  +---------------------------------------------------------------+
 *  |  producer state (i32) |  consumer state (i32)  0 none,        |  48
 *  |                       |    1 attached, 2 closed               |
 *  +---------------------------------------------------------------+
 *  |                       ... zero to 128                         |
 *  +---------------------------------------------------------------+
 *  |  producer position (u64): frames committed; its low 32 bits   | 128
 *  |  are the futex word a sleeping consumer waits on              |
 *  +---------------------------------------------------------------+
 *  |  producer cpu (i32): CPU the producer last ran on, plus one;  | 136
 *  |  0 unknown (a hint: see below)                                |
 *  +---------------------------------------------------------------+
 *  |  consumer position (u64): frames released; low 32 bits are    | 256
 *  |  the futex word a sleeping producer waits on                  |
 *  +---------------------------------------------------------------+
 *  |  consumer cpu (i32): as producer cpu, for the consumer        | 264
 *  +---------------------------------------------------------------+
 *  |  consumer waiting (i32) | producer waiting (i32)              | 384
 *  |  (written only around a sleep, so read cheaply on every       |
 *  |   commit and release)                                         |
 *  +---------------------------------------------------------------+
 *
 *  Slot descriptor i at 512 + 64 * i (one cache line each)
 *  +---------------------------------------------------------------+
 *  |  sequence (u64): the producer position this frame was         |  0
 *  |    committed at; written last, with release semantics        |
 *  +---------------------------------------------------------------+
 *  |  timestamp (i64, CLOCK_MONOTONIC nanoseconds)                 |  8
 *  +---------------------------------------------------------------+
 *  |  payload length (u64) &lt;= slot size                           | 16
 *  +-------------------------------+-------------------------------+
 *  |  width (u32)                  |  height (u32)                 | 24
 *  +-------------------------------+-------------------------------+
 *  |  stride (u32, bytes per row)  |  pixel format (u32)           | 32
 *  +-------------------------------+-------------------------------+
 *  |  reserved, zero, to 64                                        | 40
 *  +---------------------------------------------------------------+
 *
 *  Slot i pixels at slots offset + i * slot size: payload length bytes, rows stride apart.
 * </pre>
 *
 * <p>Publication: the creator writes every header field, then the magic with release semantics, so a
 * process that attaches never sees a half-made ring (Aeron's {@code CncFileDescriptor} does the same with
 * its version). Per frame the producer writes the pixels and the descriptor (a field that already holds the
 * right value from the slot's last frame need not be stored again), then the descriptor's sequence and
 * finally the producer position, both with release semantics; the consumer reads the position with
 * acquire semantics before it touches the descriptor, or, while it spins, the awaited descriptor's sequence
 * (equal to its own position once that frame is complete), so the producer position may trail the frames
 * taken by one. The creator stores -1 in every sequence. The consumer's release of a slot is the consumer
 * position, stored with release semantics after its last read of the pixels.
 *
 * <p>Attaching: an end takes its role by a compare-and-set of its pid word from the value it checked (0, or
 * a process that has exited), then stores its state; a live pid with the state still 0 is an end half-way
 * through attaching. A negative pid names no process: its end is gone. A producer that takes over from a
 * dead one resumes at the stored producer position, or one past it if the descriptor of that position's slot
 * already holds it as its sequence (its predecessor died between its two stores, and the consumer may hold
 * that frame): it then stores that position first.
 *
 * <p>The cpu words are a hint for waiting, not part of the protocol: each end stores the CPU it runs on
 * (plus one) when it attaches and when it starts to wait, and a waiter spins before sleeping only if the
 * peer last ran on another CPU, because a peer sharing the waiter's CPU cannot move while the waiter spins
 * (measured on a 2-vCPU VM: a same-CPU 64 B round trip took 5.1 us p50 with ~1 us of spinning per wait and
 * 2.9 us without). They sit in bytes that version 1 always left zero, so a peer that never writes them
 * (the C and Python samples) reads as "unknown", and its waiter spins as before.
 */
public final class FrameRingDescriptor {
    /** "PPRG" read as a little-endian int. */
    public static final int MAGIC = 0x47525050;
    public static final short VERSION = 1;

    public static final int CACHE_LINE_PAIR = 128;
    public static final int HEADER_LENGTH = 4 * CACHE_LINE_PAIR;
    public static final int DESCRIPTOR_LENGTH = 64;
    public static final int PAGE = 4096;
    /** Enough for 4K RGBA frames many times over, small enough that a corrupt count is caught early. */
    public static final int MAX_SLOT_COUNT = 1 << 16;

    // ---- ring header ----
    public static final int MAGIC_OFFSET = 0;
    public static final int VERSION_OFFSET = 4;
    public static final int HEADER_LENGTH_OFFSET = 6;
    public static final int SLOT_COUNT_OFFSET = 8;
    public static final int FLAGS_OFFSET = 12;
    public static final int SLOT_SIZE_OFFSET = 16;
    public static final int SLOTS_OFFSET_OFFSET = 24;
    public static final int RING_LENGTH_OFFSET = 32;
    public static final int PRODUCER_PID_OFFSET = 40;
    public static final int CONSUMER_PID_OFFSET = 44;
    public static final int PRODUCER_STATE_OFFSET = 48;
    public static final int CONSUMER_STATE_OFFSET = 52;
    public static final int PRODUCER_POSITION_OFFSET = CACHE_LINE_PAIR;
    public static final int PRODUCER_CPU_OFFSET = PRODUCER_POSITION_OFFSET + 8;
    public static final int CONSUMER_POSITION_OFFSET = 2 * CACHE_LINE_PAIR;
    public static final int CONSUMER_CPU_OFFSET = CONSUMER_POSITION_OFFSET + 8;
    public static final int CONSUMER_WAITING_OFFSET = 3 * CACHE_LINE_PAIR;
    public static final int PRODUCER_WAITING_OFFSET = 3 * CACHE_LINE_PAIR + 4;

    /** Values of the producer and consumer state words. */
    public static final int STATE_NONE = 0;
    public static final int STATE_ATTACHED = 1;
    public static final int STATE_CLOSED = 2;

    // ---- slot descriptor ----
    public static final int DESCRIPTORS_OFFSET = HEADER_LENGTH;
    public static final int SEQUENCE_OFFSET = 0;
    public static final int TIMESTAMP_OFFSET = 8;
    public static final int PAYLOAD_LENGTH_OFFSET = 16;
    public static final int WIDTH_OFFSET = 24;
    public static final int HEIGHT_OFFSET = 28;
    public static final int STRIDE_OFFSET = 32;
    public static final int PIXEL_FORMAT_OFFSET = 36;

    /** Pixel format code of a frame that is plain bytes (width = payload length, height 1). */
    public static final int FORMAT_BYTES = 0;

    private FrameRingDescriptor() {
    }

    /** Offset of slot descriptor {@code index}. */
    public static long descriptorOffset(int index) {
        return DESCRIPTORS_OFFSET + (long) DESCRIPTOR_LENGTH * index;
    }

    /** Where the slots start for a ring of {@code slotCount} slots: after the descriptors, on a page boundary. */
    public static long slotsOffset(int slotCount) {
        return alignToPage(DESCRIPTORS_OFFSET + (long) DESCRIPTOR_LENGTH * slotCount);
    }

    /** Bytes of a ring with {@code slotCount} slots of {@code slotSize} bytes (slotSize already page-aligned). */
    public static long ringLength(int slotCount, long slotSize) {
        return Math.addExact(slotsOffset(slotCount), Math.multiplyExact((long) slotCount, slotSize));
    }

    /**
     * Two adjacent u32 fields (width and height, or stride and pixel format) as the one 64-bit word they make in
     * the little-endian layout: {@code low} at the lower address. A word is one checked access to the mapping
     * instead of two.
     */
    public static long pack(int low, int high) {
        return ((long) high << 32) | (low & 0xFFFF_FFFFL);
    }

    /** The field at the lower address of a {@link #pack packed} word (width, or stride). */
    public static int low(long word) {
        return (int) word;
    }

    /** The field at the higher address of a {@link #pack packed} word (height, or pixel format). */
    public static int high(long word) {
        return (int) (word >>> 32);
    }

    public static long alignToPage(long n) {
        return Math.addExact(n, PAGE - 1) & -PAGE;
    }
}
