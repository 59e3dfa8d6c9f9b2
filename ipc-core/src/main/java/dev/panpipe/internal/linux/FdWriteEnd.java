package dev.panpipe.internal.linux;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.io.WriteEnd;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.Objects;

/** {@link WriteEnd} over an fd: a pipe's or FIFO's write end, a child's stdin. */
public final class FdWriteEnd extends FdEnd implements WriteEnd {
    public FdWriteEnd(FdHandle handle) {
        super(handle);
    }

    @Override
    public long write(MemorySegment src) throws IOException {
        int fd = handle.acquire();
        try {
            return writeAcquired(fd, src, 0, src.byteSize());
        } finally {
            handle.release();
        }
    }

    /** Writes {@code src[from, from+length)}: all of it when blocking, what fits when not. */
    private long writeAcquired(int fd, MemorySegment src, long from, long length) throws IOException {
        boolean nonBlockingFd = handle.ensureNonBlocking();
        // A shared description keeps its own (blocking) mode, where write(2) sleeps until the last of its bytes is
        // in, out of close()'s reach. So a write where the call must not block, or, for an end lent to a child,
        // where it may (so that close() can wake the wait), goes by writeShared; so does a virtual thread's, whose
        // write(2) to a full pipe would pin its carrier until a reader made room. An inherited description (a
        // worker's stdout, written on every message and never closed under its writer) keeps the plain blocking
        // write on a platform thread: one system call per message.
        if (!nonBlockingFd && (!blocking || handle.lent() || Thread.currentThread().isVirtual())) {
            return writeShared(fd, src, from, length);
        }
        long done = 0;
        while (done < length) {
            // The rest after a partial write (a frame larger than the pipe) goes by offset, not as a slice:
            // a slice per partial write was allocated in C1-compiled code, where a frame written at video
            // rates stays, and by C2 too (~220 B per 6 MB write) where it merged with src in a phi.
            long at = from + done;
            long n = at == 0 ? Syscalls.write(fd, src, length) : Syscalls.write(fd, src, at, length - done);
            if (n == Syscalls.WOULD_BLOCK) {
                if (!blocking) break;
                handle.awaitWritableAfterFullWrite(-1);
                continue;
            }
            done += n;
            // A short write on a non-blocking pipe means it is full: the next write would only fail with
            // EAGAIN, so wait for room first (one system call fewer per refill).
            if (blocking && nonBlockingFd && done < length) handle.awaitWritableAfterFullWrite(-1);
        }
        return done;
    }

    /**
     * Writes {@code src[from, from+length)} to a description in blocking mode, shared with other processes, without
     * ever sleeping in the write itself: blocking, it waits for room in poll, which close() wakes; not blocking, it
     * stops at a full pipe.
     *
     * <p>A pipe takes {@code pwritev2(RWF_NOWAIT)} ({@link Syscalls#writeNoWait}): the write of an O_NONBLOCK
     * description, for this one call, with the description left as the child has it. The whole rest goes at once,
     * and a full pipe answers EAGAIN, even when another process took the room a poll had just seen. Ends that refuse
     * the flag (see {@link NoWaitSupport}) write a page after each poll that found room, which a pipe with room takes
     * whole (it has a free page slot): there, and there only, write(2) can still sleep, if another process fills the
     * pipe between the two calls.
     */
    private long writeShared(int fd, MemorySegment src, long from, long length) throws IOException {
        long done = 0;
        while (done < length) {
            long at = from + done;
            if (sharedWrites.use(fd)) {
                long n;
                try {
                    n = Syscalls.writeNoWait(fd, src, at, length - done);
                } catch (SyscallException e) {
                    if (!sharedWrites.refused(e)) throw e;
                    continue;   // nothing was written: the same bytes go by pages
                }
                if (n != Syscalls.WOULD_BLOCK) done += n;
                // Short or nothing: the pipe is full (a write with room would have taken more), so wait for room, or
                // stop. No poll before the first try: it never sleeps, and a pipe with room takes it at once; nor
                // before the wait: the write was the look.
                if (done < length && !handle.awaitWritableAfterFullWrite(blocking ? -1 : 0)) break;
            } else {
                if (!handle.awaitWritable(blocking ? -1 : 0)) break;
                long chunk = Math.min(PAGE, length - done);
                long n = at == 0 ? Syscalls.write(fd, src, chunk) : Syscalls.write(fd, src, at, chunk);
                if (n != Syscalls.WOULD_BLOCK) done += n;   // EAGAIN: another process set O_NONBLOCK and took the room first
            }
        }
        return done;
    }

    /** Whether {@link #writeShared} writes this end by {@link Syscalls#writeNoWait}, or by pages after a poll. */
    private final NoWaitSupport sharedWrites = new NoWaitSupport();

    @Override
    public int write(byte[] src, int offset, int length) throws IOException {
        Objects.checkFromIndexSize(offset, length, src.length);
        MemorySegment scratch = Scratch.get();
        int fd = handle.acquire();
        try {
            int done = 0;
            while (done < length) {
                int chunk = (int) Math.min(length - done, scratch.byteSize());
                MemorySegment.copy(src, offset + done, scratch, ValueLayout.JAVA_BYTE, 0, chunk);
                long n = writeAcquired(fd, scratch, 0, chunk);
                done += (int) n;
                if (n < chunk) break;   // non-blocking and the pipe is full
            }
            return done;
        } finally {
            handle.release();
        }
    }

    @Override
    public long writableBytes() throws IOException {
        int fd = handle.acquire();
        try {
            int capacity;
            try {
                capacity = Syscalls.fcntl(fd, linux_h.F_GETPIPE_SZ(), 0);
            } catch (SyscallException notAPipe) {
                return -1;
            }
            long pages = (queuedBytes(fd) + PAGE - 1) / PAGE + 1;
            return Math.max(0, capacity - pages * PAGE);
        } finally {
            handle.release();
        }
    }

    /** The unit pipes are filled in. */
    static final long PAGE = Syscalls.sysconf(linux_h._SC_PAGESIZE());

    /** One int per thread for FIONREAD's answer, so asking allocates nothing. */
    private static final ThreadLocal<MemorySegment> QUEUED =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(linux_h.C_INT));

    /** Bytes queued in the pipe {@code fd} (either end) and not read yet: {@code FIONREAD}. */
    static int queuedBytes(int fd) throws SyscallException {
        MemorySegment queued = QUEUED.get();
        Syscalls.ioctl(fd, linux_h.FIONREAD(), queued);
        return queued.get(linux_h.C_INT, 0);
    }

    @Override
    public boolean awaitWritable(Duration timeout) throws IOException {
        handle.acquire();
        try {
            return handle.awaitWritable(Timeouts.millis(timeout));
        } finally {
            handle.release();
        }
    }





    @Override
    public OutputStream asOutputStream() {
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                int done = 0;
                while (done < len) {
                    done += FdWriteEnd.this.write(b, off + done, len - done);
                    if (done < len) awaitWritable(null);
                }
            }

            @Override
            public void close() {
                FdWriteEnd.this.close();
            }
        };
    }


}
