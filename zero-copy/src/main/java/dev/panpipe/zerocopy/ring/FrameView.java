package dev.panpipe.zerocopy.ring;

import dev.panpipe.connection.ProtocolException;
import dev.panpipe.pixel.PixelFormat;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.panpipe.zerocopy.ring.FrameRing.LONG;
import static dev.panpipe.zerocopy.ring.FrameRingDescriptor.*;

/**
 * A committed frame, as the consumer sees it: its descriptor (checked) and its pixels, in place in the
 * shared mapping. Valid until {@link #release()}; a flyweight reused every lap of the ring.
 */
public final class FrameView {
    private static final PixelFormat[] FORMATS = formatsByCode();

    private final FrameConsumer consumer;
    private final MemorySegment header;
    private final long descriptor;
    private final MemorySegment slot;
    private final long slotSize;
    private MemorySegment pixels;
    private long sequence;
    private long timestamp;
    private long length;
    private int width;
    private int height;
    private int stride;
    private int format;
    private boolean held;

    FrameView(FrameConsumer consumer, int index) {
        this.consumer = consumer;
        this.header = consumer.header;
        this.descriptor = descriptorOffset(index);
        this.slotSize = consumer.ring.slotSize();
        this.slot = header.asSlice(consumer.ring.slotOffset(index), slotSize);
        this.pixels = slot.asSlice(0, 0);
    }

    /**
     * Reads and checks the descriptor of the frame committed at {@code expected}; {@code sequenceSeen} when the
     * consumer has just read its sequence as {@code expected} with acquire semantics (the slot cannot change
     * before it is released, so it is not read again).
     */
    void load(long expected, boolean sequenceSeen) throws ProtocolException {
        long seq = sequenceSeen ? expected : (long) LONG.getAcquire(header, descriptor + SEQUENCE_OFFSET);
        if (seq != expected) {
            throw new ProtocolException("sequence", seq, "frame descriptor sequence " + seq + ", expected " + expected);
        }
        long len = header.get(ValueLayout.JAVA_LONG, descriptor + PAYLOAD_LENGTH_OFFSET);
        long size = header.get(ValueLayout.JAVA_LONG, descriptor + WIDTH_OFFSET);          // width, height
        long layout = header.get(ValueLayout.JAVA_LONG, descriptor + STRIDE_OFFSET);       // stride, pixel format
        int w = low(size);
        int h = high(size);
        int s = low(layout);
        int f = high(layout);
        if (len < 0 || len > slotSize) {
            throw new ProtocolException("payload length", len, "frame " + seq + " payload length " + len + " is outside [0, " + slotSize + "] (the slot size)");
        }
        if (f != FORMAT_BYTES) {
            if (f < 0 || f >= FORMATS.length || FORMATS[f] == null) {
                throw new ProtocolException("pixel format", f, "frame " + seq + " has unknown pixel format code " + f);
            }
            if (w <= 0 || h <= 0) {
                throw new ProtocolException(w <= 0 ? "width" : "height", w <= 0 ? w : h, "frame " + seq + " size " + w + "x" + h + " is not positive");
            }
            long rowBytes = (long) w * FORMATS[f].bytesPerPixel();
            if (Integer.toUnsignedLong(s) < rowBytes) {
                throw new ProtocolException("stride", Integer.toUnsignedLong(s), "frame " + seq + " stride " + Integer.toUnsignedLong(s)
                        + " is less than a row of " + w + " " + FORMATS[f] + " pixels (" + rowBytes + ")");
            }
            long needed = Integer.toUnsignedLong(s) * (h - 1) + rowBytes;
            if (needed > len) {
                throw new ProtocolException("payload length", len, "frame " + seq + " of " + w + "x" + h + " stride " + s
                        + " needs " + needed + " bytes but its payload length is " + len);
            }
        }
        sequence = seq;
        timestamp = header.get(ValueLayout.JAVA_LONG, descriptor + TIMESTAMP_OFFSET);
        length = len;
        width = w;
        height = h;
        stride = s;
        format = f;
        held = true;
        if (pixels.byteSize() != len) pixels = slot.asSlice(0, len);
    }

    /** The pixels, in place in the shared mapping: {@link #payloadLength()} bytes. */
    public MemorySegment pixels() {
        return pixels;
    }

    public long sequence() {
        return sequence;
    }

    /** The producer's timestamp, {@link System#nanoTime()} / CLOCK_MONOTONIC nanoseconds. */
    public long timestampNanos() {
        return timestamp;
    }

    public long payloadLength() {
        return length;
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    public int stride() {
        return stride;
    }

    /** The pixel format, or null for a plain-bytes frame (format code 0). */
    public PixelFormat format() {
        return format == FORMAT_BYTES ? null : FORMATS[format];
    }

    /**
     * Hands the slot back to the producer. The view and its pixels must not be used afterwards. After this
     * consumer (or its ring) was closed it only marks the view released, so it is safe in a finally block.
     */
    public void release() throws IOException {
        if (!held) throw new IllegalStateException("frame " + sequence + " was already released");
        held = false;
        consumer.released(this);
    }

    private static PixelFormat[] formatsByCode() {
        int max = 0;
        for (PixelFormat f : PixelFormat.values()) max = Math.max(max, f.code());
        PixelFormat[] byCode = new PixelFormat[max + 1];
        for (PixelFormat f : PixelFormat.values()) byCode[f.code()] = f;
        return byCode;
    }
}
