package dev.panpipe.zerocopy.ring;

import dev.panpipe.connection.ProtocolException;
import dev.panpipe.internal.Closer;
import dev.panpipe.zerocopy.SharedMemory;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

import static dev.panpipe.zerocopy.ring.FrameRingDescriptor.*;

/**
 * A single-producer, single-consumer ring of fixed-size frame slots in one block of shared memory (layout:
 * {@link FrameRingDescriptor}). Frames never move: the producer {@link FrameProducer#claim claims} a slot and
 * fills its pixels in place, the consumer {@link FrameConsumer#take takes} a view of the same memory and
 * {@link FrameView#release releases} it when done. The producer never overwrites a frame the consumer has
 * not released: when all slots are taken it waits (or {@code tryClaim} returns null).
 *
 * <p>Making and joining a ring:
 * <pre>{@code
 * // parent: an anonymous ring handed to a child as fd 3
 * try (FrameRing ring = FrameRing.create(8, 1920 * 1080 * 3)) {
 *     builder.passFd(3, Redirect.fd((int) ring.memory().nativeHandle()));
 *     FrameProducer out = ring.producer();
 *     ...
 * }
 * // child
 * try (FrameRing ring = FrameRing.map(3)) { FrameConsumer in = ring.consumer(); ... }
 * }</pre>
 * or by name through {@link #createNamed}/{@link #openNamed} for unrelated processes. The ring owns its
 * {@link SharedMemory}; {@link #close()} closes both ends this process attached, then unmaps.
 */
public final class FrameRing implements AutoCloseable {
    static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();
    static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();

    private final SharedMemory memory;
    private final MemorySegment segment;
    private final int slotCount;
    private final long slotSize;
    private final long slotsOffset;
    private FrameProducer producer;
    private FrameConsumer consumer;
    private boolean closed;

    private FrameRing(SharedMemory memory) throws ProtocolException {
        this.memory = memory;
        this.segment = memory.segment();
        // The values checked, not the header read again: the peer may change it between the two reads.
        Geometry checked = validateHeader(segment);
        this.slotCount = checked.slotCount();
        this.slotSize = checked.slotSize();
        this.slotsOffset = slotsOffset(slotCount);   // checked equal to the header's
    }

    /**
     * A new anonymous ring ({@code memfd_create}) of {@code slotCount} slots (a power of two), each holding up
     * to {@code maxFrameBytes} of pixels (rounded up to whole pages).
     */
    public static FrameRing create(int slotCount, long maxFrameBytes) throws IOException {
        long slotSize = checkGeometry(slotCount, maxFrameBytes);
        SharedMemory memory = SharedMemory.create("frame-ring", ringLength(slotCount, slotSize));
        return initialise(memory, slotCount, slotSize);
    }

    /** A new ring in the named block {@code /dev/shm/panpipe-NAME} (0600, O_EXCL), unlinked when this closes. */
    public static FrameRing createNamed(String name, int slotCount, long maxFrameBytes) throws IOException {
        long slotSize = checkGeometry(slotCount, maxFrameBytes);
        SharedMemory memory = SharedMemory.createNamed(name, ringLength(slotCount, slotSize));
        return initialise(memory, slotCount, slotSize);
    }

    /** Joins the ring another process made with {@link #createNamed}; its header is checked first. */
    public static FrameRing openNamed(String name) throws IOException {
        return attach(SharedMemory.openNamed(name));
    }

    /** Joins the ring whose memory was handed to this process as {@code fd} (the ring takes the fd). */
    public static FrameRing map(int fd) throws IOException {
        return attach(SharedMemory.map(fd));
    }

    /**
     * Joins a ring in {@code memory}, taking ownership of it. The header is checked: a wrong magic, an
     * unknown version or a geometry that does not fit the mapping is a {@link ProtocolException} naming
     * the field (and the memory is closed).
     */
    public static FrameRing attach(SharedMemory memory) throws IOException {
        try {
            return new FrameRing(memory);
        } catch (IOException | RuntimeException e) {
            try {
                memory.close();
            } catch (IOException | RuntimeException suppressed) {
                e.addSuppressed(suppressed);   // the header's fault is the one to report
            }
            throw e;
        }
    }

    private static FrameRing initialise(SharedMemory memory, int slotCount, long slotSize) throws IOException {
        MemorySegment s = memory.segment();
        s.set(ValueLayout.JAVA_SHORT, VERSION_OFFSET, VERSION);
        s.set(ValueLayout.JAVA_SHORT, HEADER_LENGTH_OFFSET, (short) HEADER_LENGTH);
        s.set(ValueLayout.JAVA_INT, SLOT_COUNT_OFFSET, slotCount);
        s.set(ValueLayout.JAVA_INT, FLAGS_OFFSET, 0);
        s.set(ValueLayout.JAVA_LONG, SLOT_SIZE_OFFSET, slotSize);
        s.set(ValueLayout.JAVA_LONG, SLOTS_OFFSET_OFFSET, slotsOffset(slotCount));
        s.set(ValueLayout.JAVA_LONG, RING_LENGTH_OFFSET, ringLength(slotCount, slotSize));
        for (int i = 0; i < slotCount; i++) {
            // no frame was ever committed at position i - slotCount: a stale slot never passes for a new one
            s.set(ValueLayout.JAVA_LONG, descriptorOffset(i) + SEQUENCE_OFFSET, -1L);
        }
        INT.setRelease(s, (long) MAGIC_OFFSET, MAGIC);   // published last: a joiner sees all or nothing
        return attach(memory);
    }

    private static long checkGeometry(int slotCount, long maxFrameBytes) {
        if (slotCount <= 0 || slotCount > MAX_SLOT_COUNT || Integer.bitCount(slotCount) != 1) {
            throw new IllegalArgumentException("slotCount must be a power of two in [1, " + MAX_SLOT_COUNT + "]: " + slotCount);
        }
        if (maxFrameBytes <= 0) throw new IllegalArgumentException("maxFrameBytes must be positive: " + maxFrameBytes);
        return alignToPage(maxFrameBytes);
    }

    /** A ring's slot count and slot size as {@link #validateHeader} read and checked them (each read once). */
    record Geometry(int slotCount, long slotSize) {
    }

    static Geometry validateHeader(MemorySegment s) throws ProtocolException {
        long size = s.byteSize();
        if (size < HEADER_LENGTH) {
            throw new ProtocolException("ring length", size, "shared memory of " + size + " bytes cannot hold a ring header of " + HEADER_LENGTH);
        }
        int magic = (int) INT.getAcquire(s, (long) MAGIC_OFFSET);
        if (magic != MAGIC) {
            throw new ProtocolException("magic", Integer.toUnsignedLong(magic), String.format(
                    "ring magic 0x%08x, expected 0x%08x (\"PPRG\"): not a panpipe frame ring, or not initialised yet", magic, MAGIC));
        }
        short version = s.get(ValueLayout.JAVA_SHORT, VERSION_OFFSET);
        if (version != VERSION) {
            throw new ProtocolException("version", version, "ring version " + version + " is not supported (this panpipe reads version " + VERSION + ")");
        }
        int headerLength = Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT, HEADER_LENGTH_OFFSET));
        if (headerLength != HEADER_LENGTH) {
            throw new ProtocolException("header length", headerLength, "ring header length " + headerLength + ", expected " + HEADER_LENGTH);
        }
        int slotCount = s.get(ValueLayout.JAVA_INT, SLOT_COUNT_OFFSET);
        if (slotCount <= 0 || slotCount > MAX_SLOT_COUNT || Integer.bitCount(slotCount) != 1) {
            throw new ProtocolException("slot count", slotCount, "ring slot count " + slotCount + " is not a power of two in [1, " + MAX_SLOT_COUNT + "]");
        }
        long slotSize = s.get(ValueLayout.JAVA_LONG, SLOT_SIZE_OFFSET);
        if (slotSize <= 0 || slotSize % PAGE != 0) {
            throw new ProtocolException("slot size", slotSize, "ring slot size " + slotSize + " is not a positive multiple of " + PAGE);
        }
        long slotsOffset = s.get(ValueLayout.JAVA_LONG, SLOTS_OFFSET_OFFSET);
        if (slotsOffset != slotsOffset(slotCount)) {
            throw new ProtocolException("slots offset", slotsOffset, "ring slots offset " + slotsOffset + ", expected " + slotsOffset(slotCount) + " for " + slotCount + " slots");
        }
        long ringLength = s.get(ValueLayout.JAVA_LONG, RING_LENGTH_OFFSET);
        long expected;
        try {
            expected = ringLength(slotCount, slotSize);
        } catch (ArithmeticException e) {
            throw new ProtocolException("slot size", slotSize, "ring of " + slotCount + " slots of " + slotSize + " bytes overflows");
        }
        if (ringLength != expected || ringLength > size) {
            throw new ProtocolException("ring length", ringLength, "ring length " + ringLength + " (slots need " + expected
                    + ") does not fit the mapping of " + size + " bytes");
        }
        return new Geometry(slotCount, slotSize);
    }

    /**
     * Attaches this process as the ring's producer, waiting with {@link WaitStrategy#doorbell()}. One producer
     * per ring: a second one (here or in another live process) is refused.
     */
    public FrameProducer producer() throws IOException {
        return producer(WaitStrategy.doorbell());
    }

    public synchronized FrameProducer producer(WaitStrategy strategy) throws IOException {
        checkOpen();
        if (producer != null) throw new IllegalStateException("this ring already has a producer in this process");
        producer = new FrameProducer(this, strategy);
        return producer;
    }

    /** Attaches this process as the ring's consumer, waiting with {@link WaitStrategy#doorbell()}. */
    public FrameConsumer consumer() throws IOException {
        return consumer(WaitStrategy.doorbell());
    }

    public synchronized FrameConsumer consumer(WaitStrategy strategy) throws IOException {
        checkOpen();
        if (consumer != null) throw new IllegalStateException("this ring already has a consumer in this process");
        consumer = new FrameConsumer(this, strategy);
        return consumer;
    }

    private void checkOpen() throws FrameRingClosedException {
        if (closed) throw new FrameRingClosedException("the ring is closed");
    }

    public int slotCount() {
        return slotCount;
    }

    /** The most pixel bytes one frame may have. */
    public long slotSize() {
        return slotSize;
    }

    /** The shared memory the ring lives in (for handing its fd to a child). */
    public SharedMemory memory() {
        return memory;
    }

    MemorySegment segment() {
        return segment;
    }

    long slotOffset(int index) {
        return slotsOffset + slotSize * index;
    }

    /**
     * Closes the ends this process attached (waking their peers), then unmaps the ring: each even if one
     * before it failed; the first failure is thrown, the later ones suppressed in it. Idempotent, but for an
     * unmap that failed (a thread still inside a native call on the ring's memory, see
     * {@link SharedMemory#close()}): a later close tries it again. A concurrent close waits for this one.
     */
    @Override
    public synchronized void close() throws IOException {
        Closer closer = new Closer();
        if (!closed) {
            closed = true;
            if (producer != null) closer.run(producer::close);
            if (consumer != null) closer.run(consumer::close);
        }
        closer.run(memory::close);   // does nothing once it has unmapped
        closer.throwFailure();
    }
}
