package dev.panpipe.zerocopy.shared;

import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.internal.SharedRegion;

import java.io.IOException;

import static dev.panpipe.zerocopy.internal.SharedRegion.LONG;

/**
 * A {@code long} in shared memory, updated atomically across processes: Python's
 * {@code multiprocessing.Value('q')}, with the methods of {@link java.util.concurrent.atomic.AtomicLong}.
 * See {@link SharedBlock} for memory ordering, the lock and how a child attaches it.
 */
public final class SharedLong extends SharedBlock {
    private static final long VALUE = BlockLayout.DATA_OFFSET;

    private SharedLong(SharedRegion region) {
        super(region, SharedType.LONG, 1);
    }

    /** A new shared long holding {@code initial}; {@code name} shows in /proc/PID/fd and in messages. */
    public static SharedLong create(String name, long initial) throws IOException {
        SharedLong v = new SharedLong(createRegion(name, SharedType.LONG, 1, "shared long"));
        v.set(initial);
        return v;
    }

    /**
     * The shared long in {@code memory}, made by {@link #create} in another process; takes ownership of
     * {@code memory} (and closes it if it holds something else).
     *
     * @throws SharedHeaderException naming the header field that is wrong
     */
    public static SharedLong attach(SharedMemory memory) throws IOException {
        return new SharedLong(attachRegion(memory, SharedType.LONG, 1, "shared long"));
    }

    /** {@link #attach(SharedMemory)} of the shared memory handed to this process as {@code fd}. */
    public static SharedLong attach(int fd) throws IOException {
        return attach(SharedMemory.map(fd));
    }

    /** The value (a volatile read). */
    public long get() {
        return (long) LONG.getVolatile(segment, VALUE);
    }

    /** Sets the value (a volatile write). */
    public void set(long value) {
        LONG.setVolatile(segment, VALUE, value);
    }

    /** The value, read plainly: for use while holding {@link #getLock()}. */
    public long getPlain() {
        return (long) LONG.get(segment, VALUE);
    }

    /** Sets the value plainly: for use while holding {@link #getLock()}. */
    public void setPlain(long value) {
        LONG.set(segment, VALUE, value);
    }

    /** Atomically sets the value and returns the old one. */
    public long getAndSet(long value) {
        return (long) LONG.getAndSet(segment, VALUE, value);
    }

    /** Atomically adds {@code delta}; returns the old value. */
    public long getAndAdd(long delta) {
        return (long) LONG.getAndAdd(segment, VALUE, delta);
    }

    /** Atomically adds {@code delta}; returns the new value. */
    public long addAndGet(long delta) {
        return (long) LONG.getAndAdd(segment, VALUE, delta) + delta;
    }

    /** Atomically adds 1; returns the new value. */
    public long incrementAndGet() {
        return addAndGet(1);
    }

    /** Atomically sets the value to {@code value} if it is {@code expected}. */
    public boolean compareAndSet(long expected, long value) {
        return LONG.compareAndSet(segment, VALUE, expected, value);
    }
}
