package dev.panpipe.io;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.time.Duration;

/**
 * The writing end of a byte stream between processes: a pipe, a FIFO, a child's stdin.
 *
 * <p>In blocking mode (the default) a write returns once every byte is with the kernel. In non-blocking
 * mode it writes what fits now and returns that count, possibly 0. A write after every reader has
 * closed throws {@link dev.panpipe.bindings.BrokenPipeException}. A blocking write that another thread's
 * {@link #close()} cuts short throws {@link java.nio.channels.AsynchronousCloseException}; the bytes it had
 * written by then stay in the pipe for the reader, and the exception does not say how many.
 *
 * <p>One owner closes it; {@code close} is idempotent and any other call after it throws
 * {@link IllegalStateException}.
 */
public interface WriteEnd extends AutoCloseable {
    /**
     * Writes {@code src}, which must be a native segment.
     *
     * @return bytes written: all of them in blocking mode
     */
    long write(MemorySegment src) throws IOException;

    /** As {@link #write(MemorySegment)}, from a heap array. */
    int write(byte[] src, int offset, int length) throws IOException;

    /**
     * Waits until a write would not block, the timeout passes ({@code null}: no limit; zero: just look; a
     * wait shorter than a millisecond lasts one; one longer than about 24 days is capped there), or another
     * thread closes this end.
     *
     * @return true when writable, false on timeout
     * @throws IllegalArgumentException if {@code timeout} is negative
     */
    boolean awaitWritable(Duration timeout) throws IOException;

    /**
     * How many bytes a write could take now without waiting, as far as the kernel tells: for a pipe, its
     * capacity less what is queued, rounded down to whole pages (the kernel fills pipes page by page, and a
     * partly read first page is not reused), so the figure is safe but may be low. -1 if this kind of
     * end cannot tell (a socket, a file).
     */
    long writableBytes() throws IOException;

    /** Switches between blocking and non-blocking writes. */
    void blocking(boolean blocking) throws IOException;

    boolean isBlocking();

    boolean isOpen();

    /** The OS handle (an fd on Linux), for diagnostics; -1 once closed. */
    long nativeHandle();

    /** This end as an {@link OutputStream}; closing the stream closes the end. */
    OutputStream asOutputStream();

    @Override
    void close();
}
