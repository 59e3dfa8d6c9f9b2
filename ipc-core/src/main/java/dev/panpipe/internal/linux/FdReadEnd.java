package dev.panpipe.internal.linux;

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
        // A shared description keeps its own (blocking) mode: poll first where the call must not block, and, for
        // an end lent to a child, where it may, so that close() can wake the wait (read(2) itself then blocks
        // only if the child takes the bytes in between).
        boolean nonBlockingFd = handle.ensureNonBlocking();
        if (!nonBlockingFd && (!blocking || handle.lent()) && !handle.awaitReadable(blocking ? -1 : 0)) return 0;
        for (;;) {
            long n = Syscalls.read(fd, dst, length);
            if (n > 0) return n;
            if (n == 0) return EOF;
            if (!blocking) return 0;
            handle.awaitReadable(-1);
        }
    }

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
