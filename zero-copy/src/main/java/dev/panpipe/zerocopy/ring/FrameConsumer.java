package dev.panpipe.zerocopy.ring;

import dev.panpipe.connection.ProtocolException;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

import static dev.panpipe.zerocopy.ring.FrameRing.LONG;
import static dev.panpipe.zerocopy.ring.FrameRingDescriptor.SEQUENCE_OFFSET;
import static dev.panpipe.zerocopy.ring.FrameRingDescriptor.descriptorOffset;

/**
 * The reading end of a {@link FrameRing}: take a view of the next frame, work on it in place, release it.
 *
 * <pre>{@code
 * FrameView frame = consumer.take();        // waits for the producer; FrameRingClosedException at the end
 * process(frame.pixels(), frame.width(), frame.height(), frame.stride());
 * frame.release();                          // the producer may now reuse the slot
 * }</pre>
 *
 * One frame at a time, in one thread at a time; no allocation per frame. Every frame's descriptor is checked
 * before it is handed out: a corrupt one is a {@link ProtocolException} naming the field, never an
 * out-of-bounds read.
 */
public final class FrameConsumer extends RingEnd {
    private final FrameView[] views;
    private long position;               // frames released by this consumer
    private long producerPositionCache;  // last producer position read; re-read only when the ring looks empty
    private FrameView outstanding;
    /** A probe of this call to next() read the awaited frame's sequence, with acquire, as this consumer's position. */
    private boolean sequenceSeen;

    FrameConsumer(FrameRing ring, WaitStrategy strategy) throws IOException {
        super(ring, strategy, false);
        this.position = storedOwnPosition();
        this.producerPositionCache = peerPosition();
        this.views = new FrameView[ring.slotCount()];
        for (int i = 0; i < views.length; i++) views[i] = new FrameView(this, i);
    }

    /** The next frame, waiting for the producer as long as it takes. */
    public FrameView take() throws IOException {
        return next(Long.MAX_VALUE);
    }

    /** The next frame, or null if none was committed within {@code timeout}. */
    public FrameView poll(long timeout, TimeUnit unit) throws IOException {
        long now = System.nanoTime();
        long deadline = now + Math.max(0, unit.toNanos(timeout));
        return next(deadline < now ? Long.MAX_VALUE - 1 : deadline);
    }

    /** The next frame if one is committed, else null at once (no system call, no death check). */
    public FrameView tryTake() throws IOException {
        return next(System.nanoTime() - 1);
    }

    private FrameView next(long deadline) throws IOException {
        try {
            return awaitNext(deadline);
        } catch (IllegalStateException e) {
            throw closedUnder(e);   // closed by another thread while this one waited: the ring is unmapped
        }
    }

    private FrameView awaitNext(long deadline) throws IOException {
        checkOpen();
        if (outstanding != null) throw new IllegalStateException("frame " + position + " was taken and not released");
        sequenceSeen = false;   // only a probe of this call counts
        // Look at the awaited frame's descriptor before the producer's position, as the spinning below does: a
        // frame already there is taken without pulling the position's cache line across (it is written on every
        // commit, so every look at it is a miss).
        if (producerPositionCache <= position && spinProbe(producerPositionCache) == position + 1) producerPositionCache = position + 1;
        boolean awaitedDescriptor = position == 0;   // the first frame is awaited on the position (see spinProbe)
        while (producerPositionCache <= position) {
            if (!awaitedDescriptor && (deadline == Long.MAX_VALUE || System.nanoTime() - deadline < 0)) {
                // Wait on the awaited frame's descriptor before reading the producer's position at all: that
                // position is stored on every commit, so a read of it while the frame is on its way pulls its
                // cache line across only for the producer's next store to pull it back.
                awaitedDescriptor = true;
                long v = awaitPeer(position, deadline);
                if (v > position) producerPositionCache = v;   // else the deadline passed: below
                continue;
            }
            long seen = peerPosition();
            // A frame's sequence is stored before the producer's position, and spinProbe may have let this
            // consumer take the frame in between: the position may trail the frames taken by one.
            long lowest = position == 0 ? 0 : position - 1;
            if (seen < lowest || seen - position > ring.slotCount()) {
                throw new ProtocolException("producer position", seen, "ring producer position " + seen
                        + " is outside [" + lowest + ", " + (position + ring.slotCount()) + "]");
            }
            producerPositionCache = seen;
            if (seen > position) break;
            if (deadline != Long.MAX_VALUE && System.nanoTime() - deadline >= 0) {
                if (peerClosed() && peerPosition() == position) throw peerClosedException();
                return null;
            }
            // Await a position past this consumer's, not past the one seen: a position that trails the frames
            // taken by one is about to read this consumer's (its store is on its way), and a producer that then
            // closes, or dies, must be noticed at it rather than awaited for ever.
            long observed = Math.max(seen, position);
            producerPositionCache = awaitPeer(observed, deadline);
            if (producerPositionCache == observed) return null;   // deadline passed
        }
        if (producerPositionCache - position > ring.slotCount()) {
            throw new ProtocolException("producer position", producerPositionCache, "ring producer position "
                    + producerPositionCache + " is more than " + ring.slotCount() + " frames ahead of " + position);
        }
        FrameView view = views[(int) position & slotMask];
        view.load(position, sequenceSeen);
        outstanding = view;
        return view;
    }

    /**
     * Spins on the descriptor of the frame this consumer waits for rather than on the producer's position: its
     * sequence is stored (with release) after the frame's pixels and descriptor, so once it reads as this
     * consumer's position the frame is complete, and the descriptor's cache line, which the consumer reads
     * next anyway, is the only one that has to cross between the cores (the position's line does not, a
     * third of the traffic of a small message; a 64 B round trip across two cores went from 0.72 to 0.28 us
     * p50). The first frame is awaited on the position: sequence 0 is what a descriptor zeroed by a creator
     * that did not store -1 would show.
     */
    @Override
    long spinProbe(long observed) {
        if (position == 0) return super.spinProbe(observed);
        long sequence = (long) LONG.getAcquire(header, descriptorOffset((int) position & slotMask) + SEQUENCE_OFFSET);
        if (sequence != position) return observed;
        sequenceSeen = true;   // read with acquire: the view need not read it again
        return position + 1;
    }

    /** Called by {@link FrameView#release}: hands the slot back and wakes a producer waiting for room. */
    void released(FrameView view) throws IOException {
        outstanding = null;
        if (closed) return;   // the stream is over for this end: no slot to hand back, and the ring may be unmapped
        position++;
        try {
            publish(position);
        } catch (IllegalStateException e) {
            if (!closed) throw e;   // as above, closed by another thread since the look
        }
    }

    /** Frames released so far on this ring. */
    public long position() {
        return position;
    }

    @Override
    FrameRingClosedException peerClosedException() {
        return new FrameRingClosedException("end of stream: the ring's producer closed after " + position + " frames");
    }

    @Override
    String deathContext() {
        return " after committing " + producerPositionCache + " frames; all were taken";
    }
}
