package dev.panpipe.zerocopy.shared;

import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.internal.SharedRegion;

import java.io.IOException;
import java.lang.foreign.ValueLayout;

import static dev.panpipe.zerocopy.internal.SharedRegion.INT;

/**
 * An array of ints in shared memory, each element updated atomically across processes: Python's
 * {@code multiprocessing.Array('i', n)}, with the methods of {@link java.util.concurrent.atomic.AtomicIntegerArray}.
 * See {@link SharedBlock} for memory ordering, the lock and how a child attaches it.
 */
public final class SharedIntArray extends SharedBlock {
    private SharedIntArray(SharedRegion region, long length) {
        super(region, SharedType.INT, length);
    }

    /** A new array of {@code length} zeros; {@code name} shows in /proc/PID/fd and in messages. */
    public static SharedIntArray create(String name, long length) throws IOException {
        return new SharedIntArray(createRegion(name, SharedType.INT, length, "shared int array"), length);
    }

    /**
     * The array in {@code memory}, made by {@link #create} in another process, whatever its length;
     * takes ownership of {@code memory} (and closes it if it holds something else).
     *
     * @throws SharedHeaderException naming the header field that is wrong
     */
    public static SharedIntArray attach(SharedMemory memory) throws IOException {
        AttachedArray array = attachArray(memory, SharedType.INT, "shared int array");
        return new SharedIntArray(array.region(), array.length());
    }

    /** {@link #attach(SharedMemory)} of the shared memory handed to this process as {@code fd}. */
    public static SharedIntArray attach(int fd) throws IOException {
        return attach(SharedMemory.map(fd));
    }

    /** Element {@code index} (a volatile read). */
    public int get(long index) {
        return (int) INT.getVolatile(segment, offset(index, 2));
    }

    /** Sets element {@code index} (a volatile write). */
    public void set(long index, int value) {
        INT.setVolatile(segment, offset(index, 2), value);
    }

    /** Element {@code index}, read plainly: for use while holding {@link #getLock()}. */
    public int getPlain(long index) {
        return (int) INT.get(segment, offset(index, 2));
    }

    /** Sets element {@code index} plainly: for use while holding {@link #getLock()}. */
    public void setPlain(long index, int value) {
        INT.set(segment, offset(index, 2), value);
    }

    /** Atomically sets element {@code index} and returns its old value. */
    public int getAndSet(long index, int value) {
        return (int) INT.getAndSet(segment, offset(index, 2), value);
    }

    /** Atomically adds {@code delta} to element {@code index}; returns its old value. */
    public int getAndAdd(long index, int delta) {
        return (int) INT.getAndAdd(segment, offset(index, 2), delta);
    }

    /** Atomically adds {@code delta} to element {@code index}; returns its new value. */
    public int addAndGet(long index, int delta) {
        return (int) INT.getAndAdd(segment, offset(index, 2), delta) + delta;
    }

    /** Atomically sets element {@code index} to {@code value} if it is {@code expected}. */
    public boolean compareAndSet(long index, int expected, int value) {
        return INT.compareAndSet(segment, offset(index, 2), expected, value);
    }

    /** A copy of every element, read plainly one by one (consistent as a whole only under {@link #getLock()}). */
    public int[] toArray() {
        return segment.asSlice(BlockLayout.DATA_OFFSET, length() << 2).toArray(ValueLayout.JAVA_INT);
    }
}
