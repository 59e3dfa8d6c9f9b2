package dev.panpipe.zerocopy.queue;

/**
 * The layout of a {@link SharedQueue} in shared memory (little-endian, as the machine stores it). Only
 * {@code static final} offsets live here.
 *
 * <pre>
 *     0            4            8            12           16           20           24
 *    +------------+------------+------------+------------+------------+------------+-------------------+
 *    |magic "PPQU"| version    | capacity   | max message| slot size  | reserved   | reclaimed (long)  |
 *    +------------+------------+------------+------------+------------+------------+-------------------+  32
 *    | name (UTF-8, 0-padded, 32 bytes)                  | reserved to 128                             |
 *    +---------------------------------------------------+---------------------------------------------+ 128
 *    | tail: next position to write (long)               ... 128 bytes of its own                     |
 *    +-------------------------------------------------------------------------------------------------+ 256
 *    | head: next position to read (long)                ... 128 bytes of its own                     |
 *    +-------------------------------------------------------------------------------------------------+ 384
 *    | notEmpty: S | epoch (futex int, S the sleepers bit 31)   ... 128 bytes                           |
 *    +-------------------------------------------------------------------------------------------------+ 512
 *    | notFull:  S | epoch (futex int)                          ... 128 bytes                           |
 *    +-------------------------------------------------------------------------------------------------+ 640
 *    | slot 0 | slot 1 | ... | slot capacity-1        (capacity a power of two)                       |
 *    +-------------------------------------------------------------------------------------------------+
 *
 *  slot (slot size bytes, a multiple of 64, so no two slots share a cache line):
 *     0                 8                 16                24         28         32
 *    +-----------------+-----------------+-----------------+----------+----------+---------------------+
 *    | sequence (long) | writer claim    | reader claim    | length   | reserved | payload (max message)|
 *    +-----------------+-----------------+-----------------+----------+----------+---------------------+
 * </pre>
 *
 * <p>The slot size is an unsigned int: messages of up to 2^31-65 bytes make slots of up to 2^31 bytes.
 *
 * <p>Tail, head and the two wake-up words each have two cache lines to themselves (the adjacent-line
 * prefetcher pulls lines in pairs), so producers and consumers do not slow each other down by sharing one.
 *
 * <p>A claim is {@code (position & 0xffffffff) << 32 | pid}: which position of the ring the slot was last
 * taken for, and by which process. Claims only move forward a lap at a time, so a slot is claimed for
 * position p by a compare-and-set from a claim for p - capacity: one that saw the slot free for p but was
 * delayed until the slot had gone round again then finds a later claim and fails, where a
 * compare-and-set from whatever it read would succeed and write into a slot in use (the ABA problem; a
 * test with four producer and four consumer threads found it). 32 bits of position tell p - capacity, p
 * and p + capacity apart for any capacity up to 2^30. A new ring starts with every slot claimed "a lap
 * ago".
 */
final class QueueLayout {
    /** "PPQU" in memory order. */
    static final int MAGIC = 0x55515050;
    static final int VERSION = 1;

    static final long MAGIC_OFFSET = 0;
    static final long VERSION_OFFSET = 4;
    static final long CAPACITY_OFFSET = 8;
    static final long MAX_MESSAGE_OFFSET = 12;
    static final long SLOT_SIZE_OFFSET = 16;
    static final long RECLAIMED_OFFSET = 24;
    static final long NAME_OFFSET = 32;
    static final int NAME_BYTES = 32;

    static final long TAIL_OFFSET = 128;
    static final long HEAD_OFFSET = 256;
    static final long NOT_EMPTY_OFFSET = 384;
    static final long NOT_FULL_OFFSET = 512;
    static final long SLOTS_OFFSET = 640;

    static final long SEQUENCE = 0;
    static final long WRITER = 8;
    static final long READER = 16;
    static final long LENGTH = 24;
    static final long PAYLOAD = 32;

    /** The length of a slot given up: its writer aborted or died before committing. Readers skip it. */
    static final int ABANDONED = -1;

    static final int MAX_CAPACITY = 1 << 30;

    private QueueLayout() {
    }

    /** Bytes of one slot for messages of up to {@code maxMessageSize} bytes: header and payload, rounded up to 64. */
    static long slotSize(int maxMessageSize) {
        return (PAYLOAD + maxMessageSize + 63) & ~63L;
    }

    static long claimWord(long position, int pid) {
        return (position << 32) | (pid & 0xffffffffL);
    }

    static int claimedPosition(long claim) {
        return (int) (claim >>> 32);
    }

    static int claimedPid(long claim) {
        return (int) claim;
    }
}
