package dev.panpipe.zerocopy.shared;

import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.internal.SharedRegion;

import java.io.IOException;
import java.lang.foreign.ValueLayout;

import static dev.panpipe.zerocopy.internal.SharedRegion.LONG;

/**
 * An array of {@code double}s in shared memory, each element updated atomically across processes:
 * Python's {@code multiprocessing.Array('d', n)}. Elements are kept as raw bits (see {@link SharedDouble});
 * see {@link SharedBlock} for memory ordering, the lock and how a child attaches it.
 */
public final class SharedDoubleArray extends SharedBlock {
    private SharedDoubleArray(SharedRegion region, long length) {
        super(region, SharedType.DOUBLE, length);
    }

    /** A new array of {@code length} zeros; {@code name} shows in /proc/PID/fd and in messages. */
    public static SharedDoubleArray create(String name, long length) throws IOException {
        return new SharedDoubleArray(createRegion(name, SharedType.DOUBLE, length, "shared double array"), length);
    }

    /**
     * The array in {@code memory}, made by {@link #create} in another process, whatever its length; takes
     * ownership of {@code memory} (and closes it if it holds something else).
     *
     * @throws SharedHeaderException naming the header field that is wrong
     */
    public static SharedDoubleArray attach(SharedMemory memory) throws IOException {
        AttachedArray array = attachArray(memory, SharedType.DOUBLE, "shared double array");
        return new SharedDoubleArray(array.region(), array.length());
    }

    /** {@link #attach(SharedMemory)} of the shared memory handed to this process as {@code fd}. */
    public static SharedDoubleArray attach(int fd) throws IOException {
        return attach(SharedMemory.map(fd));
    }

    /** Element {@code index} (a volatile read). */
    public double get(long index) {
        return Double.longBitsToDouble((long) LONG.getVolatile(segment, offset(index, 3)));
    }

    /** Sets element {@code index} (a volatile write). */
    public void set(long index, double value) {
        LONG.setVolatile(segment, offset(index, 3), Double.doubleToRawLongBits(value));
    }

    /** Element {@code index}, read plainly: for use while holding {@link #getLock()}. */
    public double getPlain(long index) {
        return Double.longBitsToDouble((long) LONG.get(segment, offset(index, 3)));
    }

    /** Sets element {@code index} plainly: for use while holding {@link #getLock()}. */
    public void setPlain(long index, double value) {
        LONG.set(segment, offset(index, 3), Double.doubleToRawLongBits(value));
    }

    /** Atomically sets element {@code index} and returns its old value. */
    public double getAndSet(long index, double value) {
        return Double.longBitsToDouble((long) LONG.getAndSet(segment, offset(index, 3), Double.doubleToRawLongBits(value)));
    }

    /** Atomically adds {@code delta} to element {@code index}; returns its old value. */
    public double getAndAdd(long index, double delta) {
        return getAndAddDouble(segment, offset(index, 3), delta);
    }

    /** Atomically adds {@code delta} to element {@code index}; returns its new value. */
    public double addAndGet(long index, double delta) {
        return getAndAddDouble(segment, offset(index, 3), delta) + delta;
    }

    /** Atomically sets element {@code index} if its bits are those of {@code expected}. */
    public boolean compareAndSet(long index, double expected, double value) {
        return compareAndSetDouble(segment, offset(index, 3), expected, value);
    }

    /** A copy of every element, read plainly one by one (consistent as a whole only under {@link #getLock()}). */
    public double[] toArray() {
        return segment.asSlice(BlockLayout.DATA_OFFSET, length() << 3).toArray(ValueLayout.JAVA_DOUBLE);
    }
}
