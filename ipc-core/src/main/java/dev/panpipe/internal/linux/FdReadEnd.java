package dev.panpipe.internal.linux;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.io.ReadEnd;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.Objects;

/** {@link ReadEnd} over an fd: a pipe's or FIFO's read end, a child's stdout or stderr. */
public final class FdReadEnd extends FdEnd implements ReadEnd {
    public FdReadEnd(FdHandle handle) {
        super(handle);
    }

    @Override
    public long read(MemorySegment dst) throws IOException {
        if (dst.byteSize() == 0) return 0;
        int fd = handle.acquire();
        try {
            return readAcquired(fd, dst, dst.byteSize());
        } finally {
            handle.release();
        }
    }

    private long readAcquired(int fd, MemorySegment dst, long length) throws IOException {
        boolean nonBlockingFd = handle.ensureNonBlocking();
        // A shared description keeps its own (blocking) mode, where read(2) sleeps until a byte comes, out of
        // close()'s reach. So a read where the call must not block, or, for an end lent to a child, where it may
        // (so that close() can wake the wait), goes by readShared; so does a virtual thread's, whose read(2) would
        // pin its carrier for as long as it slept (with one carrier, the virtual writer it waits for never ran). An
        // inherited description (a worker's stdin, read for every message and never closed under its reader) keeps
        // the plain blocking read on a platform thread.
        if (!nonBlockingFd && (!blocking || handle.lent() || Thread.currentThread().isVirtual())) {
            return readShared(fd, dst, length);
        }
        for (;;) {
            long n = Syscalls.read(fd, dst, length);
            if (n > 0) return n;
            if (n == 0) return EOF;
            if (!blocking) return 0;
            handle.awaitReadableAfterEmptyRead(-1);
        }
    }

    /**
     * Reads into {@code dst[0, length)} from a description in blocking mode, shared with other processes, without
     * ever sleeping in the read itself: blocking, it waits for data in poll, which close() wakes; not blocking, it
     * returns 0 from an empty pipe.
     *
     * <p>A pipe takes {@code preadv2(RWF_NOWAIT)} ({@link Syscalls#readNoWait}): an empty pipe answers EAGAIN, even
     * when another process took the bytes a poll had just seen. Ends that refuse the flag (see {@link NoWaitSupport})
     * poll, then read(2): there, and there only, the read can still sleep, if another process reads the bytes
     * between the two calls.
     */
    private long readShared(int fd, MemorySegment dst, long length) throws IOException {
        for (;;) {
            long n;
            if (sharedReads.use(fd)) {
                try {
                    n = Syscalls.readNoWait(fd, dst, 0, length);
                } catch (SyscallException e) {
                    if (!sharedReads.refused(e)) throw e;
                    continue;   // nothing was read: the same read goes after a poll
                }
            } else {
                if (!handle.awaitReadable(blocking ? -1 : 0)) return 0;
                n = Syscalls.read(fd, dst, length);   // WOULD_BLOCK: another process set O_NONBLOCK and took the bytes first
            }
            if (n > 0) return n;
            if (n == 0) return EOF;
            // Empty, with a writer: wait for data, or stop. No poll before the first try (it never sleeps), nor
            // between EAGAIN and the wait: the read was the look.
            if (!handle.awaitReadableAfterEmptyRead(blocking ? -1 : 0)) return 0;
        }
    }

    /** Whether {@link #readShared} reads this end by {@link Syscalls#readNoWait}, or after a poll. */
    private final NoWaitSupport sharedReads = new NoWaitSupport();

    @Override
    public int read(byte[] dst, int offset, int length) throws IOException {
        Objects.checkFromIndexSize(offset, length, dst.length);
        if (length == 0) return 0;
        MemorySegment scratch = Scratch.get();
        int fd = handle.acquire();
        try {
            long n = readAcquired(fd, scratch, Math.min(length, scratch.byteSize()));
            if (n > 0) MemorySegment.copy(scratch, ValueLayout.JAVA_BYTE, 0, dst, offset, (int) n);
            return (int) n;
        } finally {
            handle.release();
        }
    }

    @Override
    public boolean awaitReadable(Duration timeout) throws IOException {
        handle.acquire();
        try {
            return handle.awaitReadable(Timeouts.millis(timeout));
        } finally {
            handle.release();
        }
    }

    @Override
    public InputStream asInputStream() {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                int n;
                while ((n = FdReadEnd.this.read(one, 0, 1)) == 0) awaitReadable(null);
                return n == EOF ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (len == 0) return 0;
                int n;
                while ((n = FdReadEnd.this.read(b, off, len)) == 0) awaitReadable(null);
                return n;
            }

            @Override
            public void close() {
                FdReadEnd.this.close();
            }
        };
    }
}
