package dev.panpipe.zerocopy.shared;

import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.internal.SharedRegion;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * Bytes in shared memory: Python's {@code multiprocessing.Array('b', n)} (or {@code 'c'}), for data that
 * several processes read and write under {@link #getLock()}. Single bytes have no atomic updates; copy
 * in and out with the bulk methods, or work on {@link #data()} in place. See {@link SharedBlock} for how a
 * child attaches it.
 */
public final class SharedByteArray extends SharedBlock {
    private final MemorySegment data;

    private SharedByteArray(SharedRegion region, long length) {
        super(region, SharedType.BYTE, length);
        this.data = segment.asSlice(BlockLayout.DATA_OFFSET, length);
    }

    /** {@code length} new zero bytes; {@code name} shows in /proc/PID/fd and in messages. */
    public static SharedByteArray create(String name, long length) throws IOException {
        return new SharedByteArray(createRegion(name, SharedType.BYTE, length, "shared byte array"), length);
    }

    /**
     * The bytes in {@code memory}, made by {@link #create} in another process, however many; takes
     * ownership of {@code memory} (and closes it if it holds something else).
     *
     * @throws SharedHeaderException naming the header field that is wrong
     */
    public static SharedByteArray attach(SharedMemory memory) throws IOException {
        AttachedArray array = attachArray(memory, SharedType.BYTE, "shared byte array");
        return new SharedByteArray(array.region(), array.length());
    }

    /** {@link #attach(SharedMemory)} of the shared memory handed to this process as {@code fd}. */
    public static SharedByteArray attach(int fd) throws IOException {
        return attach(SharedMemory.map(fd));
    }

    /** Byte {@code index} (a plain read). */
    public byte get(long index) {
        return segment.get(ValueLayout.JAVA_BYTE, offset(index, 0));
    }

    /** Sets byte {@code index} (a plain write). */
    public void set(long index, byte value) {
        segment.set(ValueLayout.JAVA_BYTE, offset(index, 0), value);
    }

    /** Copies {@code length} bytes of {@code src} from {@code srcOffset} to this array at {@code index}. */
    public void copyFrom(byte[] src, int srcOffset, long index, int length) {
        Objects.checkFromIndexSize(srcOffset, length, src.length);
        checkRange(index, length);
        MemorySegment.copy(src, srcOffset, data, ValueLayout.JAVA_BYTE, index, length);
    }

    /** Copies {@code length} bytes of this array from {@code index} to {@code dst} at {@code dstOffset}. */
    public void copyTo(long index, byte[] dst, int dstOffset, int length) {
        Objects.checkFromIndexSize(dstOffset, length, dst.length);
        checkRange(index, length);
        MemorySegment.copy(data, ValueLayout.JAVA_BYTE, index, dst, dstOffset, length);
    }

    /** A copy of every byte. */
    public byte[] toArray() {
        return data.toArray(ValueLayout.JAVA_BYTE);
    }

    /** The bytes themselves, for reading and writing in place; valid until {@link #close()}. */
    public MemorySegment data() {
        return data;
    }

    private void checkRange(long index, int length) {
        if (index < 0 || length < 0 || index > length() - length) {
            throw new IndexOutOfBoundsException("range [" + index + ", " + index + " + " + length + ") out of bounds for "
                    + this + " of length " + length());
        }
    }
}
