package dev.panpipe.internal;

import java.util.Arrays;

/**
 * Cuts a byte stream into lines, whatever the chunks it arrives in: a line is delivered once its
 * {@code '\n'} has arrived (without it), the rest is kept for the next chunk. {@link #finish} delivers a
 * last line that ended without a newline. A line longer than {@code maxLine} is delivered in pieces of
 * {@code maxLine} bytes, marked incomplete, so one endless line cannot take all memory. Not thread-safe.
 */
public final class LineSplitter {
    /** Receives each line (a fresh array it may keep) and whether its newline was seen. */
    @FunctionalInterface
    public interface Sink {
        void line(byte[] line, boolean complete);
    }

    private final int maxLine;
    private byte[] partial = new byte[128];
    private int partialLength;

    public LineSplitter(int maxLine) {
        if (maxLine <= 0) throw new IllegalArgumentException("maxLine must be positive: " + maxLine);
        this.maxLine = maxLine;
    }

    /** Feeds {@code chunk[offset, offset+length)}, delivering every line it completes. */
    public void feed(byte[] chunk, int offset, int length, Sink sink) {
        int end = offset + length;
        int start = offset;
        for (int i = offset; i < end; i++) {
            if (chunk[i] != '\n') {
                if (partialLength + (i - start) + 1 > maxLine) {   // this byte would make the line too long
                    append(chunk, start, i - start);
                    start = i;
                    sink.line(takePartial(), false);
                }
                continue;
            }
            byte[] line;
            if (partialLength == 0) {
                line = Arrays.copyOfRange(chunk, start, i);
            } else {
                append(chunk, start, i - start);
                line = takePartial();
            }
            sink.line(line, true);
            start = i + 1;
        }
        append(chunk, start, end - start);
    }

    /** Delivers the last line if it had no newline; the splitter is then empty. */
    public void finish(Sink sink) {
        if (partialLength > 0) sink.line(takePartial(), false);
    }

    /** Bytes waiting for their newline. */
    public int pending() {
        return partialLength;
    }

    private void append(byte[] src, int from, int length) {
        if (length == 0) return;
        if (partialLength + length > partial.length) {
            partial = Arrays.copyOf(partial, Math.max(partialLength + length, Math.min(maxLine, partial.length * 2)));
        }
        System.arraycopy(src, from, partial, partialLength, length);
        partialLength += length;
    }

    private byte[] takePartial() {
        byte[] line = Arrays.copyOf(partial, partialLength);
        partialLength = 0;
        if (partial.length > 64 * 1024) partial = new byte[128];   // do not keep a huge buffer after one long line
        return line;
    }
}
