package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.stat;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.FileSystemException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * What a path named when it was looked up, held by an {@code O_PATH} fd (which opens no end of a FIFO and no
 * device), so that an open of it, and the release of an open of it that blocks, reach that very inode through
 * {@code /proc/self/fd/N}, whatever the path names by then.
 *
 * <p>Why: a blocking open of a FIFO is given up (a deadline, an interrupt, a close of the Fifo) by opening the
 * other end without blocking, which pairs with it and lets it return. Made by path, that release reached nothing
 * once the path was removed (a close unlinks a created FIFO), and reached the wrong FIFO once the path was
 * replaced: it then kept opening and closing the other end of somebody else's FIFO, a millisecond apart, handing
 * its readers EOF and its writers EPIPE. Through the inode held it pairs with the open it was made for, or nothing.
 *
 * <p>One fd, several users (the thread whose open blocks, the one that releases it): each {@link #share shares} it
 * and {@link #close closes} its share, and the last share closed closes the fd, so a release never opens an fd
 * number already closed and reused for something else.
 *
 * <p>Without {@code /proc} mounted (ENOENT for the magic link) the path is opened instead, and what it opened is
 * checked to be what was looked up (else closed, and the open fails): a path replaced in between is then opened
 * once, which a blocking open of a FIFO swapped in cannot undo.
 */
final class HeldFile implements AutoCloseable {
    private final Path path;
    /** {@code O_PATH}: reads, writes and pairs with nothing by itself. */
    private final int fd;
    /** {@code S_IFMT} bits of what was looked up. */
    private final int type;
    /** The device number of a device looked up ({@code st_rdev}). */
    private final long device;
    /** Where it lives ({@code st_dev}, {@code st_ino}): what an open by path, without {@code /proc}, is checked against. */
    private final long fileSystem;
    private final long inode;
    /** {@code st_uid}: whose it is, for the sticky-directory rule ({@link StickyCreateCheck}). */
    private final int owner;
    /** Shares not yet closed; the fd is closed as this reaches 0, and no share is taken after. */
    private final AtomicInteger shares = new AtomicInteger(1);

    private HeldFile(Path path, int fd, MemorySegment st) {
        this.path = path;
        this.fd = fd;
        this.type = stat.st_mode(st) & linux_h.S_IFMT();
        this.device = stat.st_rdev(st);
        this.fileSystem = stat.st_dev(st);
        this.inode = stat.st_ino(st);
        this.owner = stat.st_uid(st);
    }

    /**
     * Looks {@code path} up as {@code open(path, flags)} would (a last link followed unless {@code O_NOFOLLOW} is
     * in {@code flags}), opening nothing; the caller has the one share. Fails as that open would: a missing path is
     * ENOENT, a link under {@code O_NOFOLLOW} is ELOOP, a directory not searchable EACCES, each naming open and the
     * path.
     */
    static HeldFile lookUp(Path path, int flags) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cpath = arena.allocateFrom(path.toString());
            MemorySegment st = stat.allocate(arena);          // before the open: a failure here leaks no fd
            int fd;
            try {
                fd = Syscalls.open(cpath, linux_h.O_PATH() | linux_h.O_CLOEXEC() | (flags & linux_h.O_NOFOLLOW()), 0);
            } catch (SyscallException e) {
                throw SyscallException.of("open", path.toString(), e.errno());
            }
            try {
                Syscalls.fstat(fd, st);
                int type = stat.st_mode(st) & linux_h.S_IFMT();
                // O_PATH|O_NOFOLLOW gives the link itself, where the open would refuse it
                if (type == linux_h.S_IFLNK()) throw SyscallException.of("open", path.toString(), Errno.ELOOP);
                return new HeldFile(path, fd, st);
            } catch (SyscallException | RuntimeException | Error e) {
                FdHandle.closeQuietly(fd);
                throw e;
            }
        }
    }

    boolean isFifo() {
        return type == linux_h.S_IFIFO();
    }

    /**
     * Whether an open of what is held may wait: a FIFO's waits for its peer, and a device's may wait for the device
     * (a serial line's for carrier), except the memory devices' (major 1: /dev/null, /dev/zero, /dev/urandom and
     * kin), which never do; a regular file's, a directory's and a socket's (ENXIO) do not.
     */
    boolean mayBlockOnOpen() {
        if (type == linux_h.S_IFIFO() || type == linux_h.S_IFBLK()) return true;
        return type == linux_h.S_IFCHR() && major(device) != MEMORY_DEVICES;
    }

    /** The major number of the memory devices (Documentation/admin-guide/devices.txt). */
    private static final long MEMORY_DEVICES = 1;

    /** glibc's {@code major()} of a 64-bit {@code dev_t}. */
    private static long major(long dev) {
        return ((dev >>> 32) & 0xfffff000L) | ((dev >>> 8) & 0xfffL);
    }

    int type() {
        return type;
    }

    long fileSystem() {
        return fileSystem;
    }

    long inode() {
        return inode;
    }

    int owner() {
        return owner;
    }

    /** Another share, for a thread that may use this after the caller has closed its own; false once all are closed. */
    boolean share() {
        for (int n = shares.get(); n > 0; n = shares.get()) {
            if (shares.compareAndSet(n, n + 1)) return true;
        }
        return false;
    }

    /** Closes one share: the last closes the fd. */
    @Override
    public void close() {
        if (shares.decrementAndGet() == 0) FdHandle.closeQuietly(fd);
    }

    /**
     * {@code open} of what is held, with {@code flags | O_CLOEXEC}; blocks as an open of it by path would. A failure
     * names open, the errno and the path. The caller must hold a share until this has returned.
     *
     * @throws SyscallException the open's failure
     * @throws FileSystemException without {@code /proc}, if the path opened names something else than was looked up
     *         (what was opened is closed again)
     */
    int open(int flags, int mode) throws IOException {
        int openFlags = flags | linux_h.O_CLOEXEC();
        try (Arena arena = Arena.ofConfined()) {
            try {
                // O_NOFOLLOW would refuse the magic link itself; the lookup applied it to the path already
                return Syscalls.open(arena.allocateFrom("/proc/self/fd/" + fd), openFlags & ~linux_h.O_NOFOLLOW(), mode);
            } catch (SyscallException e) {
                if (e.errno() != Errno.ENOENT) throw SyscallException.of("open", path.toString(), e.errno());
            }
            int opened;
            try {
                opened = Syscalls.open(arena.allocateFrom(path.toString()), openFlags, mode);
            } catch (SyscallException e) {
                throw SyscallException.of("open", path.toString(), e.errno());
            }
            try {
                MemorySegment st = stat.allocate(arena);
                Syscalls.fstat(opened, st);
                if (stat.st_dev(st) != fileSystem || stat.st_ino(st) != inode) {
                    throw new FileSystemException(path.toString(), null, "was replaced while it was being opened");
                }
                return opened;
            } catch (IOException | RuntimeException | Error e) {
                FdHandle.closeQuietly(opened);
                throw e;
            }
        }
    }

    /**
     * Ends an open of this FIFO with {@code blockedFlags} that blocks for its peer, made by another thread: true once
     * {@code returned} is set (the open has returned, or will not be made), false if it cannot be made to (the open
     * then ends by itself, whenever a peer comes). The caller must hold a share until this has returned.
     *
     * <p>The other end is opened without blocking and closed again, which pairs with the open and lets it return, with
     * no polling. The open may not yet be inside the kernel (a timeout of a millisecond, a thread descheduled): a
     * release then reaches nobody (a writer's finds no reader to pair with, ENXIO), so it is repeated, a millisecond
     * apart, until the open has returned. An error another try cannot mend (EACCES: the other end may not be
     * opened) gives up. An interrupt does not end the release (the open would be left blocked) nor turn its pauses
     * into a spin; the interrupt status is set again after.
     */
    boolean releaseOpen(int blockedFlags, AtomicBoolean returned) {
        if (!isFifo()) throw new IllegalStateException("not a FIFO: " + path);
        // O_NOFOLLOW and O_NOCTTY for the open by path (no /proc): what replaced the FIFO is never a tty made ours
        int opposite = (reading(blockedFlags) ? linux_h.O_WRONLY() : linux_h.O_RDONLY()) | linux_h.O_NONBLOCK()
                | linux_h.O_NOCTTY() | (blockedFlags & linux_h.O_NOFOLLOW());
        boolean interrupted = Thread.interrupted();
        try {
            while (!returned.get()) {
                try {
                    Syscalls.close(open(opposite, 0));
                } catch (SyscallException e) {
                    if (!worthAnotherTry(e)) return false;
                } catch (IOException e) {
                    return false;                          // replaced (no /proc): no release can reach the open
                }
                if (!returned.get()) LockSupport.parkNanos(1_000_000);
                if (Thread.interrupted()) interrupted = true;
            }
            return true;
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    static boolean reading(int flags) {
        return (flags & (linux_h.O_WRONLY() | linux_h.O_RDWR())) == linux_h.O_RDONLY();
    }

    /**
     * Whether a release that failed so may pass if made again: ENXIO (a writer found no reader to pair with, so the
     * open has not started), or a shortage of fds or memory. Anything else (EACCES: the other end may not be
     * opened) will fail again.
     */
    private static boolean worthAnotherTry(SyscallException e) {
        int errno = e.errno();
        return errno == Errno.ENXIO || errno == Errno.EMFILE || errno == linux_h.ENFILE() || errno == Errno.ENOMEM;
    }
}
