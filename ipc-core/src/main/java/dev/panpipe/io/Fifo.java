package dev.panpipe.io;

import dev.panpipe.internal.linux.LinuxFifo;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A named pipe (FIFO) in the file system, from {@code mkfifo}: unrelated processes meet at its path.
 *
 * <p>{@link #create(Path)} makes the FIFO with mode 0600, refusing a path that is a symbolic link or
 * that exists and is not a FIFO; an existing FIFO is reused and left in place on close. Closing a Fifo
 * removes the path if panpipe created it; the ends opened from it are owned, and closed, separately.
 *
 * <p>Opening one end of a FIFO waits until the other end is opened by someone: the {@code Duration}
 * variants give up with {@link PeerTimeoutException} ({@code null}: no limit; a wait shorter than a
 * millisecond lasts one; one longer than about 24 days is capped there; a negative timeout is an
 * {@link IllegalArgumentException}). {@link #openBoth()} never waits.
 *
 * <p>An open waits for its peer, its timeout, or a close of this Fifo from another thread
 * ({@link java.nio.channels.AsynchronousCloseException}, as a closed socket ends a blocked accept). A platform
 * thread waits in the kernel's {@code open}, which no interrupt ends. A virtual thread waits parked, its carrier
 * free (the open is made for it by a platform thread of its own), so virtual threads of one JVM can open both ends
 * of a FIFO however few carriers there are; its wait also ends when it is interrupted
 * ({@link java.io.InterruptedIOException}, its interrupt status left set). Whatever ends it, the open given up is
 * undone: nothing is left open, and no thread of it is left running. Once this Fifo is closed, every open throws
 * {@link java.nio.channels.ClosedChannelException} (an open the close overtook, its subclass
 * {@code AsynchronousCloseException}), a reused FIFO's too.
 *
 * <p>An open given up (a timeout, an interrupt) is released by opening the other end and closing it again, which
 * pairs with every open of that end blocked on the FIFO. The other opens of this Fifo see that and open again for
 * the rest of their timeout, rather than return an end whose peer is already gone; opens by other processes, or
 * through another Fifo of the same path, cannot tell.
 */
public interface Fifo extends AutoCloseable {
    /** Creates (or reuses) the FIFO at {@code path}, mode 0600. */
    static Fifo create(Path path) throws IOException {
        return LinuxFifo.create(path, 0600);
    }

    /** Creates (or reuses) the FIFO {@code name} in {@code directory}, mode 0600. */
    static Fifo create(Path directory, String name) throws IOException {
        if (name.isEmpty() || name.contains("/") || name.equals(".") || name.equals("..")) {
            throw new IllegalArgumentException("FIFO name must be a single path element: '" + name + "'");
        }
        return create(directory.resolve(name));
    }

    /** Creates (or reuses) the FIFO at {@code path} with the permission bits {@code mode} (e.g. 0600). */
    static Fifo create(Path path, int mode) throws IOException {
        return LinuxFifo.create(path, mode);
    }

    Path path();

    /** True if this Fifo made the path (and so removes it on close). */
    boolean created();

    /** Opens the read end, waiting without limit for a writer. */
    default ReadEnd openReadEnd() throws IOException {
        return openReadEnd(null);
    }

    /** Opens the read end, waiting up to {@code timeout} ({@code null}: no limit) for a writer. */
    ReadEnd openReadEnd(Duration timeout) throws IOException;

    /**
     * Opens the read end at once, without waiting for a writer, in non-blocking mode: for an event loop.
     * Until a writer has opened the FIFO, poll/epoll report nothing; after the last writer has closed, a
     * read returns {@link ReadEnd#EOF}.
     */
    ReadEnd openReadEndNow() throws IOException;

    /** Opens the write end, waiting without limit for a reader. */
    default WriteEnd openWriteEnd() throws IOException {
        return openWriteEnd(null);
    }

    /** Opens the write end, waiting up to {@code timeout} ({@code null}: no limit) for a reader. */
    WriteEnd openWriteEnd(Duration timeout) throws IOException;

    /** Opens both ends in this process at once, without waiting: a {@link Pipe} through the file system. */
    Pipe openBoth() throws IOException;

    /**
     * Gives up the opens waiting in this Fifo (see above) and removes the path if this Fifo created it. A platform
     * thread's open is released before this returns, unless its deadline is releasing it already. Idempotent.
     */
    @Override
    void close() throws IOException;
}
