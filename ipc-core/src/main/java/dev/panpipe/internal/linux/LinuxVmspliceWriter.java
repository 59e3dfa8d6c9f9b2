package dev.panpipe.internal.linux;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.iovec;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.io.VmspliceWriter;
import dev.panpipe.io.WriteEnd;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * {@link VmspliceWriter} over an {@link FdWriteEnd}: {@code vmsplice(2)} of one iovec, advanced past what
 * each call took.
 *
 * <p>Every call passes {@code SPLICE_F_NONBLOCK}, whatever the fd's own mode, and blocking mode waits in
 * {@link FdHandle#awaitWritable}: so a close wakes a blocked writer even on a description shared with a
 * child (a child's stdin is in blocking mode) or inherited, where {@link FdWriteEnd} writes with
 * {@code RWF_NOWAIT} or polls before every page (an end lent to a child) or blocks in the kernel (an inherited
 * one). A vmsplice takes RWF_NOWAIT away from the pipe end for good: FdWriteEnd's writes to it then go by pages.
 */
public final class LinuxVmspliceWriter implements VmspliceWriter {
    public static final long PAGE = FdWriteEnd.PAGE;

    private static final int NONBLOCK = linux_h.SPLICE_F_NONBLOCK();
    private static final int GIFT = linux_h.SPLICE_F_GIFT();

    /** One iovec per thread: a call allocates nothing. */
    private static final ThreadLocal<MemorySegment> IOV =
            ThreadLocal.withInitial(() -> iovec.allocate(Arena.ofAuto()));

    private final FdWriteEnd end;
    private final FdHandle handle;
    private long written;

    private LinuxVmspliceWriter(FdWriteEnd end) {
        this.end = end;
        this.handle = end.handle();
    }

    public static LinuxVmspliceWriter over(WriteEnd end) throws IOException {
        if (!(end instanceof FdWriteEnd fdEnd)) {
            throw new IllegalArgumentException("vmsplice needs the write end of a pipe, not a " + end.getClass().getName());
        }
        FdHandle h = fdEnd.handle();
        int fd = h.acquire();
        try {
            Syscalls.fcntl(fd, linux_h.F_GETPIPE_SZ(), 0);
        } catch (SyscallException notAPipe) {
            throw new IllegalArgumentException("vmsplice needs the write end of a pipe: " + h + " is not one (F_GETPIPE_SZ: "
                    + notAPipe.errnoName() + ")", notAPipe);
        } finally {
            h.release();
        }
        return new LinuxVmspliceWriter(fdEnd);
    }

    @Override
    public long write(MemorySegment pages) throws IOException {
        checkPages(pages, false);
        return splice(pages, 0);
    }

    @Override
    public long gift(MemorySegment pages) throws IOException {
        checkPages(pages, true);
        return splice(pages, GIFT);
    }

    /** Refuses memory vmsplice cannot take, or would take badly, naming what is wrong with it. */
    static void checkPages(MemorySegment pages, boolean wholePages) {
        if (!pages.isNative()) {
            throw new IllegalArgumentException("vmsplice needs native memory, not a heap segment (" + pages.byteSize()
                    + " bytes): allocate it from an Arena or map it");
        }
        long offset = pages.address() & (PAGE - 1);
        if (offset != 0) {
            throw new IllegalArgumentException("vmsplice needs page-aligned memory: address 0x" + Long.toHexString(pages.address())
                    + " is " + offset + " bytes past a " + PAGE + "-byte page boundary (allocate with alignment "
                    + "VmspliceWriter.pageSize())");
        }
        if (wholePages && pages.byteSize() % PAGE != 0) {
            throw new IllegalArgumentException("a gift must be whole pages: " + pages.byteSize() + " bytes is not a multiple of "
                    + PAGE);
        }
    }

    /** Splices {@code pages}: all of it when blocking, what fits when not. */
    long splice(MemorySegment pages, int flags) throws IOException {
        long length = pages.byteSize();
        if (length == 0) return 0;
        int fd = handle.acquire();
        try {
            MemorySegment iov = IOV.get();
            long base = pages.address();
            long done = 0;
            while (done < length) {
                iovec.iov_base(iov, MemorySegment.ofAddress(base + done));
                iovec.iov_len(iov, length - done);
                long n = Syscalls.vmsplice(fd, iov, 1, flags | NONBLOCK);
                if (n == Syscalls.WOULD_BLOCK) {
                    if (!end.isBlocking()) break;
                    handle.awaitWritableAfterFullWrite(-1);     // the vmsplice was the look
                    continue;
                }
                done += n;
                written += n;
                // A short count means the pipe is full (vmsplice stops short only there, or at a fault
                // the next call reports): wait for room rather than make a call that can only say EAGAIN.
                if (done < length) {
                    if (!end.isBlocking()) break;
                    handle.awaitWritableAfterFullWrite(-1);
                }
            }
            return done;
        } finally {
            handle.release();
        }
    }

    @Override
    public long written() {
        return written;
    }

    @Override
    public long consumed() throws IOException {
        int fd = handle.acquire();
        try {
            return consumed(fd);
        } finally {
            handle.release();
        }
    }

    /** As {@link #consumed()}, between the caller's acquire and release. */
    long consumed(int fd) throws SyscallException {
        return written - FdWriteEnd.queuedBytes(fd);
    }

    @Override
    public FdWriteEnd writeEnd() {
        return end;
    }

    FdHandle handle() {
        return handle;
    }

    @Override
    public String toString() {
        return "vmsplice into " + handle + ", " + written + " bytes written";
    }
}
