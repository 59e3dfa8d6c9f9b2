package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.stat;
import dev.panpipe.io.Fifo;
import dev.panpipe.io.PeerTimeoutException;
import dev.panpipe.io.Pipe;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/** {@link Fifo} from {@code mkfifo}. */
public final class LinuxFifo implements Fifo {
    private final Path path;
    private final boolean created;
    private final AtomicBoolean closed = new AtomicBoolean();

    private LinuxFifo(Path path, boolean created) {
        this.path = path;
        this.created = created;
    }

    public static LinuxFifo create(Path path, int mode) throws IOException {
        if ((mode & ~0777) != 0) throw new IllegalArgumentException("FIFO mode must be permission bits only: 0" + Integer.toOctalString(mode));
        Path absolute = path.toAbsolutePath();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cpath = arena.allocateFrom(absolute.toString());
            try {
                // mkfifo never follows a symlink in the last component: an existing link is EEXIST.
                Syscalls.mkfifoat(linux_h.AT_FDCWD(), cpath, mode);
                return new LinuxFifo(absolute, true);
            } catch (SyscallException e) {
                if (e.errno() != Errno.EEXIST) throw e;
            }
            requireExistingFifo(absolute, cpath, arena);
            return new LinuxFifo(absolute, false);
        }
    }

    /** What is already at {@code path} may be reused only if it is a FIFO itself, not a link to one. */
    private static void requireExistingFifo(Path path, MemorySegment cpath, Arena arena) throws IOException {
        // O_PATH|O_NOFOLLOW opens the name itself (a link stays a link) without touching a FIFO's ends.
        int fd = Syscalls.open(cpath, linux_h.O_PATH() | linux_h.O_NOFOLLOW() | linux_h.O_CLOEXEC(), 0);
        try {
            int type = fileType(fd, arena);
            if (type == linux_h.S_IFLNK()) {
                throw new FileSystemException(path.toString(), null, "is a symbolic link; panpipe does not follow links to FIFOs");
            }
            if (type != linux_h.S_IFIFO()) {
                throw new FileAlreadyExistsException(path.toString(), null, "exists and is not a FIFO");
            }
        } finally {
            Syscalls.close(fd);
        }
    }

    private static int fileType(int fd, Arena arena) throws SyscallException {
        MemorySegment st = stat.allocate(arena);
        Syscalls.fstat(fd, st);
        return stat.st_mode(st) & linux_h.S_IFMT();
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public boolean created() {
        return created;
    }

    private FdReadEnd readEnd(int fd) {
        return new FdReadEnd(FdHandle.own(fd, "fifo " + path + " (read end)"));
    }

    private FdWriteEnd writeEnd(int fd) {
        return new FdWriteEnd(FdHandle.own(fd, "fifo " + path + " (write end)"));
    }

    @Override
    public FdReadEnd openReadEnd(Duration timeout) throws IOException {
        return readEnd(openEnd(linux_h.O_RDONLY(), timeout));
    }

    @Override
    public FdReadEnd openReadEndNow() throws IOException {
        FdReadEnd end = readEnd(open(linux_h.O_RDONLY() | linux_h.O_NONBLOCK()));
        end.blocking(false);
        return end;
    }

    @Override
    public FdWriteEnd openWriteEnd(Duration timeout) throws IOException {
        return writeEnd(openEnd(linux_h.O_WRONLY(), timeout));
    }

    @Override
    public Pipe openBoth() throws IOException {
        // A non-blocking open of the read end succeeds at once; then a writer has a reader and does not wait.
        int r = open(linux_h.O_RDONLY() | linux_h.O_NONBLOCK());
        try {
            int w = open(linux_h.O_WRONLY());
            return LinuxPipe.of(readEnd(r), writeEnd(w));
        } catch (IOException | RuntimeException e) {
            Syscalls.close(r);
            throw e;
        }
    }

    /**
     * A blocking open of one end. With a timeout, a virtual thread waits beside it and, at the deadline,
     * opens the other end without blocking and closes it again: that releases the blocked open without
     * polling, and the result is then discarded as a timeout. The deadline can come before this thread is
     * inside its open (a timeout of a millisecond, a thread descheduled): a release then reaches nobody, so
     * the releaser repeats it, a millisecond apart, until the open has returned.
     */
    private int openEnd(int access, Duration timeout) throws IOException {
        if (timeout == null) return open(access);
        int millis = Timeouts.millis(timeout);     // refuses a negative timeout; capped, never an overflow
        AtomicBoolean decided = new AtomicBoolean();   // set by whichever comes first: the open, or the deadline
        AtomicBoolean timedOut = new AtomicBoolean();
        AtomicBoolean returned = new AtomicBoolean();
        int opposite = (access == linux_h.O_RDONLY() ? linux_h.O_WRONLY() : linux_h.O_RDONLY()) | linux_h.O_NONBLOCK();
        Thread releaser = Thread.ofVirtual().name("panpipe-fifo-timeout").start(() -> {
            try {
                Thread.sleep(millis);
            } catch (InterruptedException e) {
                return;
            }
            if (!decided.compareAndSet(false, true)) return;
            timedOut.set(true);
            while (!returned.get()) {
                try {
                    Syscalls.close(open(opposite));
                } catch (IOException ignored) {
                    // ENXIO: a writer found no reader to pair with, so the open has not started. Again.
                }
                if (!returned.get()) LockSupport.parkNanos(1_000_000);
            }
        });
        int fd;
        try {
            fd = open(access);
        } finally {
            returned.set(true);
            if (decided.compareAndSet(false, true)) releaser.interrupt();
        }
        try {
            releaser.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (timedOut.get()) {
            Syscalls.close(fd);
            throw new PeerTimeoutException("open " + path + (access == linux_h.O_RDONLY() ? " for reading" : " for writing"), timeout);
        }
        return fd;
    }

    private int open(int flags) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            int fd = Syscalls.open(arena.allocateFrom(path.toString()), flags | linux_h.O_CLOEXEC() | linux_h.O_NOFOLLOW(), 0);
            // The name may have been replaced since create(): check what was actually opened.
            try {
                if (fileType(fd, arena) != linux_h.S_IFIFO()) {
                    throw new FileSystemException(path.toString(), null, "is no longer a FIFO");
                }
            } catch (IOException | RuntimeException e) {
                Syscalls.close(fd);
                throw e;
            }
            return fd;
        }
    }

    @Override
    public void close() throws IOException {
        if (!closed.compareAndSet(false, true) || !created) return;
        try (Arena arena = Arena.ofConfined()) {
            Syscalls.unlinkat(linux_h.AT_FDCWD(), arena.allocateFrom(path.toString()), 0);
        } catch (SyscallException e) {
            if (e.errno() != Errno.ENOENT) throw e;
        }
    }

    @Override
    public String toString() {
        return "fifo " + path;
    }
}
