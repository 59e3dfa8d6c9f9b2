package dev.panpipe.zerocopy.shared;

import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.internal.SharedRegion;

import java.io.IOException;

import static dev.panpipe.zerocopy.internal.SharedRegion.LONG;

/**
 * A {@code double} in shared memory, updated atomically across processes: Python's
 * {@code multiprocessing.Value('d')}. Kept as its raw bits in a long word: {@link #addAndGet} is a
 * compare-and-set loop on the bits and {@link #compareAndSet} compares bit patterns. See
 * {@link SharedBlock} for memory ordering, the lock and how a child attaches it.
 */
public final class SharedDouble extends SharedBlock {
    private static final long VALUE = BlockLayout.DATA_OFFSET;

    private SharedDouble(SharedRegion region) {
        super(region, SharedType.DOUBLE, 1);
    }

    /** A new shared double holding {@code initial}; {@code name} shows in /proc/PID/fd and in messages. */
    public static SharedDouble create(String name, double initial) throws IOException {
        SharedDouble v = new SharedDouble(createRegion(name, SharedType.DOUBLE, 1, "shared double"));
        v.set(initial);
        return v;
    }

    /**
     * The shared double in {@code memory}, made by {@link #create} in another process; takes ownership of
     * {@code memory} (and closes it if it holds something else).
     *
     * @throws SharedHeaderException naming the header field that is wrong
     */
    public static SharedDouble attach(SharedMemory memory) throws IOException {
        return new SharedDouble(attachRegion(memory, SharedType.DOUBLE, 1, "shared double"));
    }

    /** {@link #attach(SharedMemory)} of the shared memory handed to this process as {@code fd}. */
    public static SharedDouble attach(int fd) throws IOException {
        return attach(SharedMemory.map(fd));
    }

    /** The value (a volatile read). */
    public double get() {
        return Double.longBitsToDouble((long) LONG.getVolatile(segment, VALUE));
    }

    /** Sets the value (a volatile write). */
    public void set(double value) {
        LONG.setVolatile(segment, VALUE, Double.doubleToRawLongBits(value));
    }

    /** The value, read plainly: for use while holding {@link #getLock()}. */
    public double getPlain() {
        return Double.longBitsToDouble((long) LONG.get(segment, VALUE));
    }

    /** Sets the value plainly: for use while holding {@link #getLock()}. */
    public void setPlain(double value) {
        LONG.set(segment, VALUE, Double.doubleToRawLongBits(value));
    }

    /** Atomically sets the value and returns the old one. */
    public double getAndSet(double value) {
        return Double.longBitsToDouble((long) LONG.getAndSet(segment, VALUE, Double.doubleToRawLongBits(value)));
    }

    /** Atomically adds {@code delta}; returns the old value. */
    public double getAndAdd(double delta) {
        return getAndAddDouble(segment, VALUE, delta);
    }

    /** Atomically adds {@code delta}; returns the new value (the sum as this thread computed it). */
    public double addAndGet(double delta) {
        return getAndAddDouble(segment, VALUE, delta) + delta;
    }

    /** Atomically sets the value if its bits are those of {@code expected}. */
    public boolean compareAndSet(double expected, double value) {
        return compareAndSetDouble(segment, VALUE, expected, value);
    }
}
