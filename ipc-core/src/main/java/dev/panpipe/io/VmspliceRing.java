package dev.panpipe.io;

import dev.panpipe.internal.linux.LinuxVmspliceRing;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * A ring of page-aligned buffers spliced into a pipe without copying ({@code vmsplice(2)}), each handed out
 * again only once the reader has consumed what was spliced from it: the safe way to stream through a
 * {@link VmspliceWriter}.
 *
 * {@snippet :
 * try (Subprocess sink = Subprocess.builder("sha256sum").start();
 *      VmspliceRing ring = VmspliceRing.over(sink.stdin(), 1 << 20)) {
 *     for (;;) {
 *         MemorySegment buf = ring.claim();          // 1 MiB the pipe no longer refers to
 *         long n = fill(buf);                        // write into it in place
 *         if (n == 0) break;
 *         ring.commit(n);                            // its pages go into the pipe: no copy
 *     }
 *     ring.abort();                                  // give back the last, empty claim
 * }                                                  // unmaps: safe, the pipe keeps what it still holds
 * }
 *
 * <h2>Why a buffer is free when it is handed out</h2>
 * Buffers are used in order. The pipe holds at most its capacity in bytes, and those are the last ones
 * written, so once the buffers spliced after buffer <i>i</i> add up to the capacity, the reader has
 * consumed all of <i>i</i>. The ring has enough buffers for that
 * ({@code (buffers - 1) * bufferSize >= capacity}; by default the buffers add up to twice the capacity),
 * so with a stream of full buffers {@link #claim()} never waits: only {@link #commit} does, for the pipe's
 * room, as any write does. Still,
 * {@link #claim()} trusts no arithmetic: it checks with {@link VmspliceWriter#consumed()} (one
 * {@code FIONREAD}) that the buffer's bytes have left the pipe, so short commits or a pipe the reader
 * enlarged later are safe too; they may make a claim wait for the reader, in steps of a millisecond while
 * the pipe has room.
 *
 * <p>This holds for a reader that copies the bytes out ({@code read(2)}, or {@code splice(2)} into a file or
 * {@code /dev/null}), not for one that splices the pipe onward into another pipe or a socket: see
 * {@link VmspliceWriter}.
 *
 * <h2>Claim, commit, abort</h2>
 * One claim at a time: {@link #claim()} returns the next buffer, to be filled in place; {@link #commit}
 * splices a prefix of it and ends the claim; {@link #abort()} ends it with nothing sent, and the same buffer
 * comes back next. In non-blocking mode (the write end's, {@link WriteEnd#blocking(boolean)}) {@link #claim()}
 * returns null while the reader still has the next buffer, and {@link #commit} may splice only part of the
 * buffer: it returns false, and the same call again, once the pipe has room
 * ({@link WriteEnd#awaitWritable}), goes on from there.
 *
 * <h2>Memory and closing</h2>
 * The buffers are private anonymous pages, mapped and faulted in when the ring is made, not {@code malloc}
 * memory, so {@link #close()} can unmap them while the pipe still refers to some: those pages live on, with
 * their contents, until the reader has them. Closing invalidates the segments {@link #claim()} returned and
 * leaves the write end open; its owner closes it. Blocking, closing the write end and a reader gone behave
 * as for {@link VmspliceWriter}. One thread uses a ring at a time.
 */
public interface VmspliceRing extends AutoCloseable {
    /**
     * A ring of buffers of {@code bufferSize} bytes over the write end of a pipe or FIFO, as many as make twice
     * the pipe's current capacity (at least 2).
     *
     * @throws IllegalArgumentException if {@code end} is not a pipe's write end, or {@code bufferSize} is not a
     *         positive multiple of the page size
     */
    static VmspliceRing over(WriteEnd end, long bufferSize) throws IOException {
        return LinuxVmspliceRing.over(end, bufferSize, 0);
    }

    /**
     * As {@link #over(WriteEnd, long)} with {@code buffers} buffers.
     *
     * @throws IllegalArgumentException also if {@code (buffers - 1) * bufferSize} is less than the pipe's
     *         capacity: a claim would then wait for the reader to drain the pipe
     */
    static VmspliceRing over(WriteEnd end, long bufferSize, int buffers) throws IOException {
        if (buffers <= 0) throw new IllegalArgumentException("buffers must be positive: " + buffers);
        return LinuxVmspliceRing.over(end, bufferSize, buffers);
    }

    /**
     * The next buffer, {@link #bufferSize()} bytes, once the reader has consumed what was last spliced from
     * it: blocking mode waits for that, non-blocking mode returns null until then.
     *
     * @throws IllegalStateException if a claim is still open (commit or abort it first), or the ring or its
     *         write end is closed
     */
    MemorySegment claim() throws IOException;

    /**
     * Splices the claimed buffer's first {@code length} bytes into the pipe and ends the claim. In
     * non-blocking mode it may splice only part: it then returns false and the claim stays open; call it
     * again with the same length to go on.
     *
     * @return true once all {@code length} bytes are in the pipe (always, in blocking mode)
     * @throws IllegalArgumentException if {@code length} is negative, larger than the buffer, or less than
     *         what an earlier partial commit of this claim already spliced
     * @throws IllegalStateException if there is no claim
     */
    boolean commit(long length) throws IOException;

    /**
     * Ends the claim with nothing spliced; the same buffer is claimed next.
     *
     * @throws IllegalStateException if there is no claim, or a partial commit already spliced part of it
     */
    void abort();

    /** The writer the ring splices through, for {@link VmspliceWriter#written()} and {@link VmspliceWriter#consumed()}. */
    VmspliceWriter writer();

    int buffers();

    long bufferSize();

    /** Unmaps the buffers (the pipe keeps the pages it still refers to); the write end stays open. Idempotent. */
    @Override
    void close();
}
