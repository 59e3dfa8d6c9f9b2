package dev.panpipe.io;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.time.Duration;

/**
 * The reading end of a byte stream between processes: a pipe, a FIFO, a child's stdout.
 *
 * <p>Reads go straight from the kernel into the caller's off-heap {@link MemorySegment}; byte arrays are
 * accepted at the API edge and go through a per-thread native buffer. In blocking mode (the default) a
 * read waits for data; another thread's {@link #close()} wakes it with
 * {@link java.nio.channels.AsynchronousCloseException}. In non-blocking mode a read returns 0 at once
 * when nothing is there.
 *
 * <p>One owner closes it; {@code close} is idempotent and any other call after it throws
 * {@link IllegalStateException}.
 */
public interface ReadEnd extends AutoCloseable {
    /** Returned by the read methods at end of stream: every writer has closed. */
    int EOF = -1;

    /**
     * Reads up to {@code dst.byteSize()} bytes into {@code dst}, which must be a native segment.
     *
     * @return bytes read (at least 1 in blocking mode), {@link #EOF}, or 0 in non-blocking mode when no
     *         data is ready
     */
    long read(MemorySegment dst) throws IOException;

    /** As {@link #read(MemorySegment)}, into a heap array. */
    int read(byte[] dst, int offset, int length) throws IOException;

    /**
     * Reads until {@code dst} is full or the stream ends.
     *
     * @return bytes read; fewer than {@code dst.byteSize()} only at end of stream
     */
    default long readFully(MemorySegment dst) throws IOException {
        long done = 0;
        while (done < dst.byteSize()) {
            long n = read(dst.asSlice(done));
            if (n == EOF) break;
            if (n == 0) {
                awaitReadable(null);
                continue;
            }
            done += n;
        }
        return done;
    }

    /**
     * Waits until a read would not block (data or end of stream), the timeout passes ({@code null}: no
     * limit; zero: just look; a wait shorter than a millisecond lasts one; one longer than about 24 days is
     * capped there), or another thread closes this end.
     *
     * @return true when readable, false on timeout
     * @throws IllegalArgumentException if {@code timeout} is negative
     */
    boolean awaitReadable(Duration timeout) throws IOException;

    /** Switches between blocking and non-blocking reads. */
    void blocking(boolean blocking) throws IOException;

    boolean isBlocking();

    boolean isOpen();

    /** The OS handle (an fd on Linux), for diagnostics; -1 once closed. */
    long nativeHandle();

    /** This end as an {@link InputStream}; closing the stream closes the end. */
    InputStream asInputStream();

    @Override
    void close();
}
