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
 *     0                 8                 16                24         28         32                  40
 *    +-----------------+-----------------+-----------------+----------+----------+-------------------+
 *    | sequence (long) | writer claim    | reader claim    | length   | reserved | claimer's start   |
 *    +-----------------+-----------------+-----------------+----------+----------+-------------------+
 *    | payload (max message bytes) ...                                                                |
 *    +-------------------------------------------------------------------------------------------------+
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
 *
 * <p>The claimer's start time tells a claimer from a later process that was given its pid: it is
 * {@code (tag & 0xffffffff) << 32 | start}, where start is the low 32 bits of the claimer's start time
 * ({@code /proc/PID/stat} field 22, clock ticks since boot; all ones: unknown) and the tag is the sequence
 * number the slot keeps while the claim is live: p for the writer of position p, p + 1 for its reader. The
 * claimer writes it just after its claim, in the same cache line, so one word serves both claims of a slot:
 * a reader's record never passes for its writer's, nor one of a lap ago for this one's. A record whose tag is
 * not the slot's sequence says nothing (the claimer has not written it yet, or died first), and the claimer
 * is then judged by its pid alone; a survivor that takes a claim over first sets the record back a lap (start
 * unknown), as a new ring starts. Version 1 had no such word: its payload started at 32, so a 64-byte slot
 * held messages of up to 32 bytes where it holds 24 now.
 */
final class QueueLayout {
    /** "PPQU" in memory order. */
    static final int MAGIC = 0x55515050;
    /** 2: the claimer's start time (1 judged claimers by pid alone, and its payload started at 32). */
    static final int VERSION = 2;

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
    static final long CLAIMER_START = 32;
    static final long PAYLOAD = 40;

    /** The start time a claimer records when /proc cannot tell its own. */
    static final int UNKNOWN_START = -1;
    /** The bits of a start time that {@link #CLAIMER_START} keeps. */
    static final long START_BITS = 0xffff_ffffL;

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

    /** The {@link #CLAIMER_START} word of a claim that lives while its slot's sequence is {@code liveSequence}. */
    static long startRecord(long liveSequence, int startTime) {
        return claimWord(liveSequence, startTime);
    }

    /** The sequence a {@link #CLAIMER_START} word was written for (low 32 bits). */
    static int recordedSequence(long record) {
        return claimedPosition(record);
    }

    /** The start time's low 32 bits in a {@link #CLAIMER_START} word, or -1 if it was unknown. */
    static long recordedStartTime(long record) {
        int start = (int) record;
        return start == UNKNOWN_START ? -1 : start & START_BITS;
    }
}
