package dev.panpipe.zerocopy.queue;

import java.lang.foreign.MemorySegment;

/**
 * A slot of a {@link SharedQueue} claimed for writing in place (Aeron's {@code BufferClaim}): write the
 * message into {@link #buffer()}, then {@link #commit(int)} it or {@link #abort()}. Until then, consumers
 * that reach this slot wait for it, so keep the claim short. One instance may be reused for many claims,
 * by one thread at a time.
 *
 * <p>If the process dies holding a claim, a consumer that waits on the slot finds it dead within
 * a few tens of milliseconds and skips the slot ({@link SharedQueue#reclaimed()} counts it).
 */
public final class QueueClaim {
    private SharedQueue queue;
    private long position = -1;
    private MemorySegment buffer;

    /** A claim object to pass to {@link SharedQueue#tryClaim(QueueClaim)}. */
    public QueueClaim() {
    }

    void claimed(SharedQueue queue, long position, MemorySegment buffer) {
        this.queue = queue;
        this.position = position;
        this.buffer = buffer;
    }

    /**
     * The slot's payload: {@link SharedQueue#maxMessageSize()} bytes of shared memory. The same segment each
     * time this slot is claimed through the same handle, so keep no reference to it past {@link #commit} or
     * {@link #abort}: by then the slot may be another producer's.
     */
    public MemorySegment buffer() {
        check();
        return buffer;
    }

    /** Publishes the first {@code length} bytes of {@link #buffer()} as one message. */
    public void commit(int length) {
        check();
        if (length < 0 || length > buffer.byteSize()) {
            throw new IllegalArgumentException("length " + length + " outside the claimed slot of " + buffer.byteSize() + " bytes");
        }
        long p = position;
        position = -1;
        queue.commitClaim(p, length);
    }

    /** Gives the slot up: consumers skip it. */
    public void abort() {
        check();
        long p = position;
        position = -1;
        queue.abortClaim(p);
    }

    /** Whether this claim holds a slot (claimed and neither committed nor aborted). */
    public boolean isActive() {
        return position >= 0;
    }

    private void check() {
        if (position < 0) throw new IllegalStateException("no slot claimed (or already committed or aborted)");
    }
}
