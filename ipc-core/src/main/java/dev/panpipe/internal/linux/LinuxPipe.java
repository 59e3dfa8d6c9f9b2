package dev.panpipe.internal.linux;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.internal.Closer;
import dev.panpipe.io.Pipe;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** {@link Pipe} from {@code pipe2(O_CLOEXEC)}. */
public final class LinuxPipe implements Pipe {
    private final FdReadEnd readEnd;
    private final FdWriteEnd writeEnd;

    private LinuxPipe(FdReadEnd readEnd, FdWriteEnd writeEnd) {
        this.readEnd = readEnd;
        this.writeEnd = writeEnd;
    }

    public static LinuxPipe open() throws IOException {
        int[] fds = openFds();
        return new LinuxPipe(
                new FdReadEnd(FdHandle.own(fds[0], "pipe read end")),
                new FdWriteEnd(FdHandle.own(fds[1], "pipe write end")));
    }

    /** A raw close-on-exec pipe, read end first; the caller owns both fds. */
    static int[] openFds() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(linux_h.C_INT, 2);
            Syscalls.pipe2(fds, linux_h.O_CLOEXEC());
            return new int[] {fds.getAtIndex(linux_h.C_INT, 0), fds.getAtIndex(linux_h.C_INT, 1)};
        }
    }

    /** Wraps two ends that are the two sides of one pipe or FIFO. */
    public static LinuxPipe of(FdReadEnd readEnd, FdWriteEnd writeEnd) {
        return new LinuxPipe(readEnd, writeEnd);
    }

    @Override
    public FdReadEnd readEnd() {
        return readEnd;
    }

    @Override
    public FdWriteEnd writeEnd() {
        return writeEnd;
    }

    @Override
    public int capacity() throws IOException {
        return pipeSize(linux_h.F_GETPIPE_SZ(), 0);
    }

    @Override
    public int capacity(int bytes) throws IOException {
        if (bytes <= 0) throw new IllegalArgumentException("pipe capacity must be positive: " + bytes);
        return pipeSize(linux_h.F_SETPIPE_SZ(), bytes);
    }

    /** F_GETPIPE_SZ / F_SETPIPE_SZ act on the pipe, so either open end will do. */
    private int pipeSize(int cmd, int arg) throws IOException {
        FdHandle h = readEnd.isOpen() ? readEnd.handle() : writeEnd.handle();
        int fd = h.acquire();
        try {
            return Syscalls.fcntl(fd, cmd, arg);
        } finally {
            h.release();
        }
    }

    @Override
    public void close() {
        // The write end is closed even if closing the read end failed: the first failure is thrown after.
        Closer closer = new Closer();
        closer.run(readEnd::close);
        closer.run(writeEnd::close);
        closer.throwUncheckedFailure();
    }
}
