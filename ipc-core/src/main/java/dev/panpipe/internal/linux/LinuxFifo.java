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
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedChannelException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/** {@link Fifo} from {@code mkfifo}. */
public final class LinuxFifo implements Fifo {
    /** Every open of an end: close-on-exec, and never through a link put where the FIFO was. */
    private static final int OPEN_FLAGS = linux_h.O_CLOEXEC() | linux_h.O_NOFOLLOW();

    private final Path path;
    private final boolean created;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** Virtual threads' opens in progress, which {@link #close()} cancels. */
    private final Set<BlockingOpen> pending = ConcurrentHashMap.newKeySet();
    /** The releases of each end's opens, which its other opens look at ({@link FifoReleases}). */
    private final FifoReleases readReleases = new FifoReleases();
    private final FifoReleases writeReleases = new FifoReleases();
    /** Platform threads' opens in progress, which {@link #close()} releases before it unlinks the path they opened. */
    private final Set<PlatformOpen> platformPending = ConcurrentHashMap.newKeySet();

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
        int r;
        try (HeldFile fifo = lookUp(linux_h.O_RDONLY())) {
            r = openHeld(fifo, linux_h.O_RDONLY() | linux_h.O_NONBLOCK());
        }
        FdReadEnd end = readEnd(stillOpen(r));
        end.blocking(false);
        return end;
    }

    @Override
    public FdWriteEnd openWriteEnd(Duration timeout) throws IOException {
        return writeEnd(openEnd(linux_h.O_WRONLY(), timeout));
    }

    @Override
    public Pipe openBoth() throws IOException {
        // A non-blocking open of the read end succeeds at once; then a writer of that very FIFO (the one held: by
        // path it might be another, and wait for its reader) has a reader and does not wait.
        int r;
        int w;
        try (HeldFile fifo = lookUp(linux_h.O_RDONLY())) {
            r = openHeld(fifo, linux_h.O_RDONLY() | linux_h.O_NONBLOCK());
            try {
                w = openHeld(fifo, linux_h.O_WRONLY());
            } catch (IOException | RuntimeException e) {
                FdHandle.closeQuietly(r);
                throw e;
            }
        }
        // Checked before an end owns its fd: an end left unreachable would close its number again later.
        if (closed.get()) {
            FdHandle.closeQuietly(r);
            FdHandle.closeQuietly(w);
            throw new AsynchronousCloseException();
        }
        return LinuxPipe.of(readEnd(r), writeEnd(w));
    }

    /**
     * A blocking open of one end. A virtual thread does not make the open itself: see {@link BlockingOpen}. A platform
     * thread does, in the kernel ({@link PlatformOpen}), where its deadline or a close of this Fifo releases it.
     */
    private int openEnd(int access, Duration timeout) throws IOException {
        int millis = Timeouts.millis(timeout);     // refuses a negative timeout; capped, never an overflow; -1: none
        boolean reading = access == linux_h.O_RDONLY();
        FifoReleases releases = releasesOf(access);
        long start = System.nanoTime();
        for (boolean again = false; ; again = true) {
            int left = millis;
            if (again) {
                if (closed.get()) throw new AsynchronousCloseException();     // the close overtook this open
                if (millis >= 0) {
                    long spent = (System.nanoTime() - start) / 1_000_000;
                    if (spent >= millis) throw new PeerTimeoutException(opening(access), timeout);
                    left = (int) (millis - spent);
                }
            }
            long mark = releases.mark();
            // An open that returns once the close has begun is the close's: the releases the close makes (the other
            // end opened and closed) pair with every open blocked on the FIFO, not only with the one they are for,
            // and an open so paired would hand out an end with no peer, at EOF or EPIPE at once.
            int fd = stillOpen(Thread.currentThread().isVirtual()
                    ? handOff(access, left, timeout)
                    : new PlatformOpen(access, lookUp(access)).open(left, timeout));
            // So do a deadline's and an interrupt's releases, of this end's other opens: see FifoReleases.
            boolean fromARelease;
            try {
                fromARelease = releases.overlapped(mark) && releases.openedByARelease(fd, reading);
            } catch (SyscallException | RuntimeException | Error e) {
                FdHandle.closeQuietly(fd);
                throw e;
            }
            if (!fromARelease) return stillOpen(fd);     // the close may have come while it was looked at
            FdHandle.closeQuietly(fd);
        }
    }

    /**
     * A platform thread's blocking open of one end, which its deadline or a {@link #close()} of this Fifo can end: the
     * first to come {@linkplain #cancel cancels} it, releasing the open blocked in the kernel for its peer
     * ({@link HeldFile#releaseOpen}: the other end opened without blocking and closed again), and the fd the open
     * then returns is closed and the cancel's exception thrown. With a timeout, a virtual thread sleeps beside the
     * open until the deadline. No polling; an interrupt cannot end the open (the thread is in the kernel).
     *
     * <p>The open and its release go through the FIFO looked up ({@link HeldFile}): released by path, an open whose
     * path had been replaced by another FIFO was not reached, and the release kept opening and closing the other end
     * of that other FIFO, a millisecond apart, handing its readers EOF and its writers EPIPE, until a peer came.
     */
    private final class PlatformOpen {
        private static final int PENDING = 0;
        private static final int OPENED = 1;
        private static final int TIMED_OUT = 2;
        private static final int CLOSED = 3;

        private final int access;
        private final HeldFile fifo;
        /** PENDING until the first of: the open returned, the deadline, a close. */
        private final AtomicInteger state = new AtomicInteger(PENDING);
        /** Set once the open has returned (or will not be made): ends a release. */
        private final AtomicBoolean returned = new AtomicBoolean();

        /** Takes the caller's share of {@code fifo}, which {@link #open} closes. */
        PlatformOpen(int access, HeldFile fifo) {
            this.access = access;
            this.fifo = fifo;
        }

        int open(int millis, Duration timeout) throws IOException {
            Thread releaser = null;
            int fd = -1;
            try {
                platformPending.add(this);
                // A close that iterated the pending opens before this one was added did not see it.
                if (closed.get()) state.compareAndSet(PENDING, CLOSED);
                if (millis >= 0 && state.get() == PENDING) {
                    releaser = Thread.ofVirtual().name("panpipe-fifo-timeout").start(() -> {
                        try {
                            Thread.sleep(millis);
                        } catch (InterruptedException e) {
                            return;
                        }
                        cancel(TIMED_OUT);
                    });
                }
                try {
                    // Cancelled already: not made. Cancelled from here on: the release pairs with it, a
                    // millisecond apart, until it has returned.
                    if (state.get() == PENDING) fd = fifo.open(access | OPEN_FLAGS, 0);
                } finally {
                    returned.set(true);
                }
            } finally {
                platformPending.remove(this);
                if (releaser != null) {
                    releaser.interrupt();                 // a sleeping releaser ends; a releasing one has seen returned
                    Uninterruptibly.join(releaser);
                }
                fifo.close();
            }
            if (state.compareAndSet(PENDING, OPENED)) return fd;
            if (fd >= 0) Syscalls.close(fd);              // opened only because a release paired with it
            if (state.get() == TIMED_OUT) throw new PeerTimeoutException(opening(access), timeout);
            throw new AsynchronousCloseException();
        }

        /** Gives the open up for {@code reason}, unless it has returned; returns once it has, or will not be made. */
        void cancel(int reason) {
            // no share once the open has returned and closed its own: then there is nothing to release
            if (state.compareAndSet(PENDING, reason) && fifo.share()) {
                try {
                    releasesOf(access).release(fifo, access, returned);
                } finally {
                    fifo.close();
                }
            }
        }
    }

    private String opening(int access) {
        return "open " + path + (access == linux_h.O_RDONLY() ? " for reading" : " for writing");
    }

    /**
     * The FIFO at the path, held for one open of an end. A lookup that fails once this Fifo is closed (a close
     * unlinks what it created) is the close's {@link AsynchronousCloseException}, not the ENOENT it overtook.
     */
    private HeldFile lookUp(int access) throws IOException {
        ensureOpen();
        HeldFile fifo;
        try {
            fifo = HeldFile.lookUp(path, access | OPEN_FLAGS);
        } catch (SyscallException e) {
            throw closedInstead(e);
        }
        if (!fifo.isFifo()) {
            fifo.close();
            throw new FileSystemException(path.toString(), null, "is no longer a FIFO");
        }
        return fifo;
    }

    /**
     * A virtual thread's open, made by a platform thread ({@link BlockingOpen}, which says why); {@link #close()}
     * cancels it.
     */
    private int handOff(int access, int millis, Duration timeout) throws IOException {
        BlockingOpen open = BlockingOpen.of(lookUp(access), path, access | OPEN_FLAGS, 0, releasesOf(access));
        pending.add(open);
        try {
            open.start();
            // A close that iterated the pending opens before this one was added did not see it: cancel it here. The
            // open holds the FIFO itself, so it is released even once the close has unlinked the path.
            if (closed.get()) open.cancelClosed();
            return open.await(millis, timeout);
        } finally {
            pending.remove(open);
        }
    }

    /** A closed Fifo opens nothing, though a reused FIFO's path would still open. */
    private void ensureOpen() throws ClosedChannelException {
        if (closed.get()) throw new ClosedChannelException();
    }

    /**
     * Returns {@code fd}, or closes it and throws {@link AsynchronousCloseException} if this Fifo was closed while it
     * was opened: a reused FIFO's path outlives the Fifo, and an open that a close overtook is the close's.
     */
    private int stillOpen(int fd) throws IOException {
        if (!closed.get()) return fd;
        Syscalls.close(fd);
        throw new AsynchronousCloseException();
    }

    /**
     * An open of an end of {@code fifo} that does not wait (a read end with O_NONBLOCK, a write end while a reader is
     * there). HeldFile opens the FIFO looked up, so what it opened is that FIFO (without /proc: checked to be).
     */
    private int openHeld(HeldFile fifo, int flags) throws IOException {
        try {
            return fifo.open(flags | OPEN_FLAGS, 0);
        } catch (SyscallException e) {
            throw closedInstead(e);
        }
    }

    private FifoReleases releasesOf(int access) {
        return access == linux_h.O_RDONLY() ? readReleases : writeReleases;
    }

    /** {@code e}, or if this Fifo was closed meanwhile (a close unlinks what it created) the close's exception. */
    private IOException closedInstead(SyscallException e) {
        if (!closed.get()) return e;
        AsynchronousCloseException c = new AsynchronousCloseException();
        c.initCause(e);
        return c;
    }

    @Override
    public void close() throws IOException {
        if (!closed.compareAndSet(false, true)) return;
        // Each pending open is released through the FIFO it holds, which the unlink below does not stop: a virtual
        // thread's by its own thread, a platform thread's (in the kernel) here.
        for (BlockingOpen p : pending) p.cancelClosed();
        for (PlatformOpen p : platformPending) p.cancel(PlatformOpen.CLOSED);
        if (!created) return;
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
