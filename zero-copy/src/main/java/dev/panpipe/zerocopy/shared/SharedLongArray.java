package dev.panpipe.zerocopy.shared;

import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.internal.SharedRegion;

import java.io.IOException;
import java.lang.foreign.ValueLayout;

import static dev.panpipe.zerocopy.internal.SharedRegion.LONG;

/**
 * An array of longs in shared memory, each element updated atomically across processes: Python's
 * {@code multiprocessing.Array('q', n)}, with the methods of {@link java.util.concurrent.atomic.AtomicLongArray}.
 * See {@link SharedBlock} for memory ordering, the lock and how a child attaches it.
 */
public final class SharedLongArray extends SharedBlock {
    private SharedLongArray(SharedRegion region, long length) {
        super(region, SharedType.LONG, length);
    }

    /** A new array of {@code length} zeros; {@code name} shows in /proc/PID/fd and in messages. */
    public static SharedLongArray create(String name, long length) throws IOException {
        return new SharedLongArray(createRegion(name, SharedType.LONG, length, "shared long array"), length);
    }

    /**
     * The array in {@code memory}, made by {@link #create} in another process, whatever its length;
     * takes ownership of {@code memory} (and closes it if it holds something else).
     *
     * @throws SharedHeaderException naming the header field that is wrong
     */
    public static SharedLongArray attach(SharedMemory memory) throws IOException {
        AttachedArray array = attachArray(memory, SharedType.LONG, "shared long array");
        return new SharedLongArray(array.region(), array.length());
    }

    /** {@link #attach(SharedMemory)} of the shared memory handed to this process as {@code fd}. */
    public static SharedLongArray attach(int fd) throws IOException {
        return attach(SharedMemory.map(fd));
    }

    /** Element {@code index} (a volatile read). */
    public long get(long index) {
        return (long) LONG.getVolatile(segment, offset(index, 3));
    }

    /** Sets element {@code index} (a volatile write). */
    public void set(long index, long value) {
        LONG.setVolatile(segment, offset(index, 3), value);
    }

    /** Element {@code index}, read plainly: for use while holding {@link #getLock()}. */
    public long getPlain(long index) {
        return (long) LONG.get(segment, offset(index, 3));
    }

    /** Sets element {@code index} plainly: for use while holding {@link #getLock()}. */
    public void setPlain(long index, long value) {
        LONG.set(segment, offset(index, 3), value);
    }

    /** Atomically sets element {@code index} and returns its old value. */
    public long getAndSet(long index, long value) {
        return (long) LONG.getAndSet(segment, offset(index, 3), value);
    }

    /** Atomically adds {@code delta} to element {@code index}; returns its old value. */
    public long getAndAdd(long index, long delta) {
        return (long) LONG.getAndAdd(segment, offset(index, 3), delta);
    }

    /** Atomically adds {@code delta} to element {@code index}; returns its new value. */
    public long addAndGet(long index, long delta) {
        return (long) LONG.getAndAdd(segment, offset(index, 3), delta) + delta;
    }

    /** Atomically sets element {@code index} to {@code value} if it is {@code expected}. */
    public boolean compareAndSet(long index, long expected, long value) {
        return LONG.compareAndSet(segment, offset(index, 3), expected, value);
    }

    /** A copy of every element, read plainly one by one (consistent as a whole only under {@link #getLock()}). */
    public long[] toArray() {
        return segment.asSlice(BlockLayout.DATA_OFFSET, length() << 3).toArray(ValueLayout.JAVA_LONG);
    }
}
