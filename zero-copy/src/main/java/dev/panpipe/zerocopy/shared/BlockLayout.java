package dev.panpipe.zerocopy.shared;

import dev.panpipe.zerocopy.internal.Headers;
import dev.panpipe.zerocopy.internal.SharedRegion;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The layout of a shared block (little-endian, as the machine stores it): a self-describing header, one
 * {@link SharedLock}, then the elements. Every offset is a {@code static final}; nothing else lives here.
 *
 * <pre>
 *   0               4       6       8                              16
 *  +---------------+-------+-------+------------------------------+
 *  | magic "PPSB"  |version| type  | length (elements, long)      |
 *  +---------------+-------+-------+------------------------------+  16
 *  | element size  | data offset   | name (UTF-8, 0-padded) ...   |
 *  +---------------+---------------+                              |
 *  |                    ... name, 40 bytes in all                 |
 *  +--------------------------------------------------------------+  64
 *  | lock: word | recoveries | owner pid, start | owner start time |
 *  |       owner thread (pid, thread id) ... reserved to one line  |
 *  +--------------------------------------------------------------+ 128
 *  | data: length x element size, naturally aligned               |
 *  +--------------------------------------------------------------+
 * </pre>
 *
 * <p>The creator writes every field, then the magic last with a release store; a reader checks the magic
 * first with an acquire load, so a header it accepts is complete (Aeron's {@code CncFileDescriptor} does
 * the same with its version). The lock has a cache line of its own so that taking it does not slow down
 * readers of the header, and the data starts on the next one.
 */
final class BlockLayout {
    /** "PPSB" in memory order. */
    static final int MAGIC = 0x42535050;
    static final int VERSION = 1;

    static final long MAGIC_OFFSET = 0;
    static final long VERSION_OFFSET = 4;
    static final long TYPE_OFFSET = 6;
    static final long LENGTH_OFFSET = 8;
    static final long ELEMENT_SIZE_OFFSET = 16;
    static final long DATA_OFFSET_OFFSET = 20;
    static final long NAME_OFFSET = 24;
    static final int NAME_BYTES = 40;
    static final long LOCK_OFFSET = 64;
    static final long DATA_OFFSET = 128;

    private BlockLayout() {
    }

    /** Bytes of a block of {@code length} elements of {@code type}. */
    static long sizeOf(SharedType type, long length) {
        if (length < 0) throw new IllegalArgumentException("length must not be negative: " + length);
        return Math.addExact(DATA_OFFSET, Math.multiplyExact(length, type.elementSize()));
    }

    /** Writes the header of a new, zero-filled block, magic last. */
    static void initialize(MemorySegment segment, SharedType type, long length, String name) {
        Headers.writeName(segment, NAME_OFFSET, NAME_BYTES, name);
        segment.set(ValueLayout.JAVA_SHORT, VERSION_OFFSET, (short) VERSION);
        segment.set(ValueLayout.JAVA_SHORT, TYPE_OFFSET, (short) type.code());
        segment.set(ValueLayout.JAVA_LONG, LENGTH_OFFSET, length);
        segment.set(ValueLayout.JAVA_INT, ELEMENT_SIZE_OFFSET, type.elementSize());
        segment.set(ValueLayout.JAVA_INT, DATA_OFFSET_OFFSET, (int) DATA_OFFSET);
        SharedLock.initialize(segment, LOCK_OFFSET);
        SharedRegion.INT.setRelease(segment, MAGIC_OFFSET, MAGIC);
    }

    /** The name the creator gave, as far as it fits in the header. */
    static String name(MemorySegment segment) {
        return Headers.readName(segment, NAME_OFFSET, NAME_BYTES);
    }

    /**
     * Checks the header of {@code segment} field by field, in memory order, and returns its length.
     *
     * @param expectedLength the length the caller needs, or -1 for any
     * @throws SharedHeaderException naming the first wrong field and its value
     */
    static long validate(MemorySegment segment, SharedType expected, long expectedLength) throws SharedHeaderException {
        if (segment.byteSize() < DATA_OFFSET) {
            throw new SharedHeaderException("size", segment.byteSize(), "shared block: segment of "
                    + segment.byteSize() + " bytes is smaller than the " + DATA_OFFSET + "-byte header");
        }
        int magic = (int) SharedRegion.INT.getAcquire(segment, MAGIC_OFFSET);
        if (magic != MAGIC) {
            throw new SharedHeaderException("magic", magic & 0xffffffffL, String.format("shared block: bad magic "
                    + "0x%08x (expected 0x%08x, \"PPSB\"): not a panpipe shared block, or not initialised yet", magic, MAGIC));
        }
        int version = segment.get(ValueLayout.JAVA_SHORT, VERSION_OFFSET) & 0xffff;
        if (version != VERSION) {
            throw new SharedHeaderException("version", version, "shared block: unsupported version " + version
                    + " (this panpipe reads " + VERSION + ")");
        }
        int code = segment.get(ValueLayout.JAVA_SHORT, TYPE_OFFSET) & 0xffff;
        SharedType type = SharedType.ofCode(code);
        if (type == null) {
            throw new SharedHeaderException("type", code, "shared block: unknown type " + code);
        }
        if (type != expected) {
            throw new SharedHeaderException("type", code, "shared block: type " + type + " (" + code + "), expected "
                    + expected + " (" + expected.code() + ")");
        }
        long length = segment.get(ValueLayout.JAVA_LONG, LENGTH_OFFSET);
        if (expectedLength >= 0 && length != expectedLength) {
            throw new SharedHeaderException("length", length, "shared block: length " + length + ", expected "
                    + expectedLength + (expectedLength == 1 && type != SharedType.LOCK ? " (a single value)" : ""));
        }
        int elementSize = segment.get(ValueLayout.JAVA_INT, ELEMENT_SIZE_OFFSET);
        if (elementSize != type.elementSize()) {
            throw new SharedHeaderException("elementSize", elementSize, "shared block: element size " + elementSize
                    + " for type " + type + " (expected " + type.elementSize() + ")");
        }
        int dataOffset = segment.get(ValueLayout.JAVA_INT, DATA_OFFSET_OFFSET);
        if (dataOffset != DATA_OFFSET) {
            throw new SharedHeaderException("dataOffset", dataOffset, "shared block: data offset " + dataOffset
                    + " (expected " + DATA_OFFSET + ")");
        }
        long needed = length < 0 || length > (Long.MAX_VALUE - DATA_OFFSET) / Math.max(1, elementSize) ? -1
                : DATA_OFFSET + length * elementSize;
        if (needed < 0 || needed > segment.byteSize()) {
            throw new SharedHeaderException("length", length, "shared block: length " + length + " of " + type
                    + " needs " + (needed < 0 ? "more than 2^63" : needed) + " bytes, the segment has " + segment.byteSize());
        }
        return length;
    }
}
