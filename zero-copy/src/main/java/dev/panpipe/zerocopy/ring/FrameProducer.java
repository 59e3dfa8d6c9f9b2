package dev.panpipe.zerocopy.ring;

import dev.panpipe.connection.ProtocolException;
import dev.panpipe.pixel.PixelFormat;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

import static dev.panpipe.zerocopy.ring.FrameRing.LONG;
import static dev.panpipe.zerocopy.ring.FrameRingDescriptor.FORMAT_BYTES;
import static dev.panpipe.zerocopy.ring.FrameRingDescriptor.SEQUENCE_OFFSET;
import static dev.panpipe.zerocopy.ring.FrameRingDescriptor.descriptorOffset;

/**
 * The writing end of a {@link FrameRing}: claim a slot, fill its pixels in place, commit.
 *
 * <pre>{@code
 * FrameClaim frame = producer.claim(1920, 1080, PixelFormat.RGB8);   // waits while every slot is full
 * decodeInto(frame.pixels());                                         // a slice of the shared mapping
 * frame.commit();
 * }</pre>
 *
 * One claim at a time, in one thread at a time. Nothing is allocated per frame: each slot has one reusable
 * {@link FrameClaim}. {@link #close()} ends the stream: the consumer takes what was committed, then gets
 * {@link FrameRingClosedException}.
 */
public final class FrameProducer extends RingEnd {
    private final FrameClaim[] claims;
    private long position;               // frames committed by this producer (and its predecessors)
    private long consumerPositionCache;  // last consumer position read; re-read only when the ring looks full
    private FrameClaim outstanding;

    FrameProducer(FrameRing ring, WaitStrategy strategy) throws IOException {
        super(ring, strategy, true);
        long stored = storedOwnPosition();
        // A predecessor that died between its last frame's sequence store and its position store committed that
        // frame as far as the consumer knows (it takes a frame by its sequence, see FrameConsumer.spinProbe, and
        // may hold it now): finish that commit rather than claim the frame's slot again.
        if (stored > 0 && (long) LONG.getAcquire(header, descriptorOffset((int) stored & slotMask) + SEQUENCE_OFFSET) == stored) {
            publish(++stored);
        }
        this.position = stored;
        this.consumerPositionCache = peerPosition();
        this.claims = new FrameClaim[ring.slotCount()];
        for (int i = 0; i < claims.length; i++) claims[i] = new FrameClaim(this, i);
    }

    /** Claims a slot for a {@code width}x{@code height} frame of {@code format}, waiting while the ring is full. */
    public FrameClaim claim(int width, int height, PixelFormat format) throws IOException {
        return claim(width, height, format, Long.MAX_VALUE);
    }

    /** As {@link #claim(int, int, PixelFormat)}, but gives up after {@code timeout}: null if no slot came free. */
    public FrameClaim claim(int width, int height, PixelFormat format, long timeout, TimeUnit unit) throws IOException {
        return claim(width, height, format, deadline(unit.toNanos(timeout)));
    }

    /** Claims a slot if one is free now, else returns null (the ring is full: nothing is overwritten). */
    public FrameClaim tryClaim(int width, int height, PixelFormat format) throws IOException {
        return claim(width, height, format, System.nanoTime() - 1);
    }

    /** Claims a slot for {@code length} plain bytes (pixel format code 0), waiting while the ring is full. */
    public FrameClaim claimBytes(long length) throws IOException {
        return claimSlot(length, checkBytes(length), 1, length, FORMAT_BYTES, Long.MAX_VALUE);
    }

    /** Claims a slot for {@code length} plain bytes if one is free now, else null. */
    public FrameClaim tryClaimBytes(long length) throws IOException {
        return claimSlot(length, checkBytes(length), 1, length, FORMAT_BYTES, System.nanoTime() - 1);
    }

    private FrameClaim claim(int width, int height, PixelFormat format, long deadline) throws IOException {
        if (width <= 0 || height <= 0) throw new IllegalArgumentException("frame size must be positive: " + width + "x" + height);
        long stride = (long) width * format.bytesPerPixel();
        if (stride > 0xFFFF_FFFFL) {   // the layout's stride is a u32: stored cut, the consumer would refuse the frame
            throw new IllegalArgumentException("a row of " + width + " " + format + " pixels is " + stride
                    + " bytes, more than a frame's stride field holds (2^32 - 1)");
        }
        long length = stride * height;
        if (length > ring.slotSize()) {
            throw new IllegalArgumentException("a " + width + "x" + height + " " + format + " frame needs " + length
                    + " bytes; this ring's slots hold " + ring.slotSize());
        }
        return claimSlot(length, width, height, stride, format.code(), deadline);
    }

    private int checkBytes(long length) {
        if (length < 0 || length > ring.slotSize() || length > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a message of " + length + " bytes does not fit this ring's slots of " + ring.slotSize());
        }
        return (int) length;
    }

    private FrameClaim claimSlot(long length, int width, int height, long stride, int format, long deadline) throws IOException {
        try {
            return awaitSlot(length, width, height, stride, format, deadline);
        } catch (IllegalStateException e) {
            throw closedUnder(e);   // closed by another thread while this one waited: the ring is unmapped
        }
    }

    private FrameClaim awaitSlot(long length, int width, int height, long stride, int format, long deadline) throws IOException {
        checkOpen();
        if (outstanding != null) throw new IllegalStateException("the previous claim (sequence " + position + ") was not committed or aborted");
        if (peerClosed()) throw peerClosedException();   // like a write to a pipe nobody reads: refuse, don't drop
        long wrapPoint = position - ring.slotCount();
        while (consumerPositionCache <= wrapPoint) {   // every slot holds a frame the consumer has not released
            long seen = peerPosition();
            if (seen > position || seen < consumerPositionCache) {
                throw new ProtocolException("consumer position", seen, "ring consumer position "
                        + seen + " is outside [" + consumerPositionCache + ", " + position + "]");
            }
            consumerPositionCache = seen;
            if (seen > wrapPoint) break;
            if (deadline != Long.MAX_VALUE && System.nanoTime() - deadline >= 0) return null;
            // The position the wait returns is the consumer's to choose: read it again at the top and check it
            // as any other, rather than trust it past wrapPoint (a slot not yet released would be overwritten).
            if (awaitPeer(seen, deadline) == seen) return null;   // deadline passed
        }
        FrameClaim claim = claims[(int) position & slotMask];
        claim.open(position, length, width, height, (int) stride, format);
        outstanding = claim;
        return claim;
    }

    /** Ends the stream: the consumer takes what was committed, then gets {@link FrameRingClosedException}. An
     * outstanding claim is dropped (its commit throws). Idempotent. */
    @Override
    public void close() throws IOException {
        outstanding = null;
        super.close();
    }

    /** Called by {@link FrameClaim#commit}: publishes the frame and wakes a sleeping consumer. */
    void committed(FrameClaim claim) throws IOException {
        outstanding = null;
        position++;
        publish(position);
    }

    void aborted() {
        outstanding = null;
    }

    /** Frames committed so far on this ring. */
    public long position() {
        return position;
    }

    @Override
    FrameRingClosedException peerClosedException() {
        return new FrameRingClosedException("the ring's consumer closed; " + (position - consumerPositionCache)
                + " committed frames were not taken");
    }

    @Override
    String deathContext() {
        return " with " + (position - consumerPositionCache) + " committed frames not released";
    }

    private static long deadline(long nanos) {
        long now = System.nanoTime();
        long d = now + Math.max(0, nanos);
        return d < now ? Long.MAX_VALUE - 1 : d;
    }
}
