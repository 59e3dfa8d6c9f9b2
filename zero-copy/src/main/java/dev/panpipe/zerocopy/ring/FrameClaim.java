package dev.panpipe.zerocopy.ring;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.panpipe.zerocopy.ring.FrameRing.LONG;
import static dev.panpipe.zerocopy.ring.FrameRingDescriptor.*;

/**
 * A slot claimed by the producer: fill {@link #pixels()} in place, then {@link #commit()}. A flyweight: the
 * same object comes back for the same slot every lap of the ring, so do not keep it after commit.
 */
public final class FrameClaim {
    private final FrameProducer producer;
    private final MemorySegment header;
    private final long descriptor;
    private final MemorySegment slot;
    private MemorySegment pixels;   // cached slice of slot; re-sliced only when the frame size changes
    private long sequence;
    private long length;
    private int width;
    private int height;
    private int stride;
    private int format;
    private boolean open;
    /**
     * What this slot's descriptor holds already, stored by this producer on an earlier lap: the payload length
     * and the two packed pairs are stored again only when they change (most streams repeat one frame size), so
     * a commit in the steady state stores the timestamp and the sequence alone. -1 (no frame has those) until
     * the first commit, so a producer that takes over a ring writes every field once.
     */
    private long storedLength = -1;
    private long storedSize = -1;
    private long storedLayout = -1;

    FrameClaim(FrameProducer producer, int index) {
        this.producer = producer;
        this.header = producer.header;
        this.descriptor = descriptorOffset(index);
        this.slot = header.asSlice(producer.ring.slotOffset(index), producer.ring.slotSize());
        this.pixels = slot.asSlice(0, 0);
    }

    void open(long sequence, long length, int width, int height, int stride, int format) {
        this.sequence = sequence;
        this.length = length;
        this.width = width;
        this.height = height;
        this.stride = stride;
        this.format = format;
        this.open = true;
        if (pixels.byteSize() != length) pixels = slot.asSlice(0, length);
    }

    /** The frame's pixels: a slice of the shared mapping, {@code stride * height} bytes, rows {@link #stride()} apart. */
    public MemorySegment pixels() {
        return pixels;
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    /** Bytes from one row to the next (width times bytes per pixel: rows are packed). */
    public int stride() {
        return stride;
    }

    /** The ring position this frame will be committed at (0 for the first frame). */
    public long sequence() {
        return sequence;
    }

    /** Publishes the frame, stamped with {@link System#nanoTime()} (CLOCK_MONOTONIC on Linux). */
    public void commit() throws IOException {
        commit(System.nanoTime());
    }

    /**
     * Publishes the frame with the caller's timestamp: descriptor first, its sequence and the position last.
     *
     * @throws FrameRingClosedException if the producer was closed since the claim (the frame is dropped unseen)
     */
    public void commit(long timestampNanos) throws IOException {
        if (!open) throw new IllegalStateException("frame " + sequence + " is not claimed (committed or aborted already)");
        open = false;
        if (producer.closed) {
            // Like a write to a closed fd. Published now, the frame would follow the end of the stream the
            // consumer may already have been told about.
            throw new FrameRingClosedException("this producer end is closed: frame " + sequence + " was not published");
        }
        try {
            publish(timestampNanos);
        } catch (IllegalStateException e) {
            throw producer.closedUnder(e);   // closed by another thread since the look above: the ring is unmapped
        }
    }

    private void publish(long timestampNanos) throws IOException {
        // Width and height, stride and format are stored as one long each (the layout is little-endian), and only
        // when they change: every access to the mapping carries the segment's checks (about 20 instructions),
        // which C2 cannot hoist past another store to native memory.
        MemorySegment h = header;
        h.set(ValueLayout.JAVA_LONG, descriptor + TIMESTAMP_OFFSET, timestampNanos);
        if (length != storedLength) {
            h.set(ValueLayout.JAVA_LONG, descriptor + PAYLOAD_LENGTH_OFFSET, length);
            storedLength = length;
        }
        long size = pack(width, height);
        if (size != storedSize) {
            h.set(ValueLayout.JAVA_LONG, descriptor + WIDTH_OFFSET, size);
            storedSize = size;
        }
        long layout = pack(stride, format);
        if (layout != storedLayout) {
            h.set(ValueLayout.JAVA_LONG, descriptor + STRIDE_OFFSET, layout);
            storedLayout = layout;
        }
        LONG.setRelease(h, descriptor + SEQUENCE_OFFSET, sequence);
        producer.committed(this);
    }

    /** Gives the slot back unpublished; the next claim reuses it. */
    public void abort() {
        if (!open) throw new IllegalStateException("frame " + sequence + " is not claimed (committed or aborted already)");
        open = false;
        producer.aborted();
    }
}
