package dev.panpipe.zerocopy.shared;

import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.internal.SharedRegion;

import java.io.IOException;

import static dev.panpipe.zerocopy.internal.SharedRegion.INT;

/**
 * An {@code int} in shared memory, updated atomically across processes: Python's
 * {@code multiprocessing.Value('i')}, with the methods of {@link java.util.concurrent.atomic.AtomicInteger}.
 * See {@link SharedBlock} for memory ordering, the lock and how a child attaches it.
 */
public final class SharedInt extends SharedBlock {
    private static final long VALUE = BlockLayout.DATA_OFFSET;

    private SharedInt(SharedRegion region) {
        super(region, SharedType.INT, 1);
    }

    /** A new shared int holding {@code initial}; {@code name} shows in /proc/PID/fd and in messages. */
    public static SharedInt create(String name, int initial) throws IOException {
        SharedInt v = new SharedInt(createRegion(name, SharedType.INT, 1, "shared int"));
        v.set(initial);
        return v;
    }

    /**
     * The shared int in {@code memory}, made by {@link #create} in another process; takes ownership of
     * {@code memory} (and closes it if it holds something else).
     *
     * @throws SharedHeaderException naming the header field that is wrong
     */
    public static SharedInt attach(SharedMemory memory) throws IOException {
        return new SharedInt(attachRegion(memory, SharedType.INT, 1, "shared int"));
    }

    /** {@link #attach(SharedMemory)} of the shared memory handed to this process as {@code fd}. */
    public static SharedInt attach(int fd) throws IOException {
        return attach(SharedMemory.map(fd));
    }

    /** The value (a volatile read). */
    public int get() {
        return (int) INT.getVolatile(segment, VALUE);
    }

    /** Sets the value (a volatile write). */
    public void set(int value) {
        INT.setVolatile(segment, VALUE, value);
    }

    /** The value, read plainly: for use while holding {@link #getLock()}. */
    public int getPlain() {
        return (int) INT.get(segment, VALUE);
    }

    /** Sets the value plainly: for use while holding {@link #getLock()}. */
    public void setPlain(int value) {
        INT.set(segment, VALUE, value);
    }

    /** Atomically sets the value and returns the old one. */
    public int getAndSet(int value) {
        return (int) INT.getAndSet(segment, VALUE, value);
    }

    /** Atomically adds {@code delta}; returns the old value. */
    public int getAndAdd(int delta) {
        return (int) INT.getAndAdd(segment, VALUE, delta);
    }

    /** Atomically adds {@code delta}; returns the new value. */
    public int addAndGet(int delta) {
        return (int) INT.getAndAdd(segment, VALUE, delta) + delta;
    }

    /** Atomically adds 1; returns the new value. */
    public int incrementAndGet() {
        return addAndGet(1);
    }

    /** Atomically sets the value to {@code value} if it is {@code expected}. */
    public boolean compareAndSet(int expected, int value) {
        return INT.compareAndSet(segment, VALUE, expected, value);
    }
}
