package dev.panpipe.zerocopy.shared;

import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.internal.Headers;
import dev.panpipe.zerocopy.internal.SharedRegion;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

import static dev.panpipe.zerocopy.internal.SharedRegion.LONG;

/**
 * A typed value or array in shared memory, with a {@link SharedLock} beside it: Python's
 * {@code multiprocessing.Value} and {@code multiprocessing.Array}. The block is self-describing
 * ({@link BlockLayout}: magic, version, type, length, name), so the process that attaches it checks it
 * holds what it expects and a mismatch is a {@link SharedHeaderException} naming the field.
 *
 * {@snippet :
 * // parent
 * try (SharedLong counter = SharedLong.create("counter", 0)) {
 *     Subprocess child = Subprocess.builder(javaCommand)
 *             .passFd(3, Redirect.fd((int) counter.nativeHandle()))
 *             .start();
 *     counter.incrementAndGet();                                   // atomic, across processes
 * }
 * // child
 * try (SharedLong counter = SharedLong.attach(3)) {
 *     counter.getAndAdd(5);
 *     try { counter.getLock().lock(); } catch (LockOwnerDiedException e) { repair(counter); }
 *     try { counter.setPlain(counter.getPlain() * 2); } finally { counter.getLock().unlock(); }
 * }
 * }
 *
 * <p><b>Memory ordering.</b> {@code get}/{@code set} are volatile accesses and the read-modify-write
 * methods are atomic, as in {@link java.util.concurrent.atomic.AtomicLong}, and they order accesses across
 * processes as they do across threads: on naturally aligned words of a {@code MAP_SHARED} mapping they
 * compile to the same instructions whether the other party is a thread or a process. {@code getPlain}/{@code setPlain} are
 * plain accesses for use while holding {@link #getLock()}, whose acquisition and release order them.
 * Doubles are kept as their raw bits: compare-and-set compares bit patterns ({@code -0.0 != 0.0}, a NaN
 * equals the same NaN), and adding is a compare-and-set loop on the bits.
 *
 * <p>One owner: {@link #close()} unmaps the block in this process (the memory lives on while another
 * process maps it); any later call throws {@link IllegalStateException}.
 */
public abstract sealed class SharedBlock implements AutoCloseable
        permits SharedInt, SharedLong, SharedDouble, SharedIntArray, SharedLongArray, SharedDoubleArray, SharedByteArray {
    final SharedRegion region;
    final MemorySegment segment;
    private final SharedType type;
    private final long length;
    private final SharedLock lock;

    SharedBlock(SharedRegion region, SharedType type, long length) {
        this.region = region;
        this.segment = region.segment();
        this.type = type;
        this.length = length;
        this.lock = new SharedLock(region, BlockLayout.LOCK_OFFSET, false, region.what() + "'s lock");
    }

    /** A new block of {@code length} elements of {@code type}, zero-filled, in memory of its own. */
    static SharedRegion createRegion(String name, SharedType type, long length, String kind) throws IOException {
        SharedMemory memory = SharedMemory.create(name, BlockLayout.sizeOf(type, length));
        return Headers.attachOrClose(memory, m -> {   // a header that cannot be written leaves no memory behind
            BlockLayout.initialize(m.segment(), type, length, name);
            return new SharedRegion(m, kind + " '" + name + "'", BlockLayout.LOCK_OFFSET + SharedLock.WORD);
        });
    }

    /**
     * Takes {@code memory} over if its header holds {@code type} (and {@code expectedLength} elements
     * unless that is -1); closes it otherwise.
     */
    static SharedRegion attachRegion(SharedMemory memory, SharedType type, long expectedLength, String kind)
            throws IOException {
        return Headers.attachOrClose(memory, m -> {
            BlockLayout.validate(m.segment(), type, expectedLength);
            String name = BlockLayout.name(m.segment());
            return new SharedRegion(m, kind + " '" + name + "'", BlockLayout.LOCK_OFFSET + SharedLock.WORD);
        });
    }

    /**
     * An array block as attached: its region and the element count its header was validated with. The count
     * is read once: the header is shared memory, and a count read again after the check could have been
     * written over since, giving an array longer than the mapping.
     */
    record AttachedArray(SharedRegion region, long length) {
    }

    /** Takes {@code memory} over if its header holds an array of {@code type}, of any length; closes it otherwise. */
    static AttachedArray attachArray(SharedMemory memory, SharedType type, String kind) throws IOException {
        return Headers.attachOrClose(memory, m -> {
            long length = BlockLayout.validate(m.segment(), type, -1);
            String name = BlockLayout.name(m.segment());
            return new AttachedArray(new SharedRegion(m, kind + " '" + name + "'", BlockLayout.LOCK_OFFSET + SharedLock.WORD), length);
        });
    }

    public final SharedType type() {
        return type;
    }

    /** The number of elements (1 for a value). */
    public final long length() {
        return length;
    }

    /** The lock that goes with this block (Python's {@code get_lock()}); it lives in the same shared memory. */
    public final SharedLock getLock() {
        return lock;
    }

    /** The shared memory's fd, to hand to a child ({@code SubprocessBuilder.passFd}); -1 once closed. */
    public final long nativeHandle() {
        return region.nativeHandle();
    }

    @Override
    public String toString() {
        return region.what();
    }

    /** Unmaps the block in this process and closes its fd; idempotent. */
    @Override
    public final void close() throws IOException {
        region.close();
    }

    /** The byte offset of element {@code index} of {@code elementSize} bytes, checked against the length. */
    final long offset(long index, int shift) {
        if (index < 0 || index >= length) {
            throw new IndexOutOfBoundsException("index " + index + " out of bounds for " + region.what() + " of length " + length);
        }
        return BlockLayout.DATA_OFFSET + (index << shift);
    }

    static double getAndAddDouble(MemorySegment segment, long offset, double delta) {
        for (;;) {
            long bits = (long) LONG.getVolatile(segment, offset);
            double old = Double.longBitsToDouble(bits);
            if (LONG.compareAndSet(segment, offset, bits, Double.doubleToRawLongBits(old + delta))) return old;
        }
    }

    static boolean compareAndSetDouble(MemorySegment segment, long offset, double expected, double value) {
        return LONG.compareAndSet(segment, offset, Double.doubleToRawLongBits(expected), Double.doubleToRawLongBits(value));
    }
}
