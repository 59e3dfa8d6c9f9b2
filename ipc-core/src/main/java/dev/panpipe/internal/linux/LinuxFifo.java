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
import java.io.InterruptedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.AsynchronousCloseException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/** {@link Fifo} from {@code mkfifo}. */
public final class LinuxFifo implements Fifo {
    private final Path path;
    private final boolean created;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** Virtual threads' opens in progress, which {@link #close()} cancels. */
    private final Set<HandedOffOpen> pending = ConcurrentHashMap.newKeySet();

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
     * releases it ({@link #releaseBlockedOpen}): the result is then discarded as a timeout.
     *
     * <p>A virtual thread does not make the open itself: see {@link HandedOffOpen}.
     */
    private int openEnd(int access, Duration timeout) throws IOException {
        int millis = Timeouts.millis(timeout);     // refuses a negative timeout; capped, never an overflow; -1: none
        if (Thread.currentThread().isVirtual()) return new HandedOffOpen(access).await(millis, timeout);
        if (millis < 0) return open(access);
        AtomicBoolean decided = new AtomicBoolean();   // set by whichever comes first: the open, or the deadline
        AtomicBoolean timedOut = new AtomicBoolean();
        AtomicBoolean returned = new AtomicBoolean();
        Thread releaser = Thread.ofVirtual().name("panpipe-fifo-timeout").start(() -> {
            try {
                Thread.sleep(millis);
            } catch (InterruptedException e) {
                return;
            }
            if (!decided.compareAndSet(false, true)) return;
            timedOut.set(true);
            releaseBlockedOpen(access, returned);
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
            throw new PeerTimeoutException(opening(access), timeout);
        }
        return fd;
    }

    /**
     * Ends an open of {@code access} blocked in the kernel for its peer: opens the other end without blocking and
     * closes it again, which pairs with the blocked open and lets it return, with no polling. The open may not yet
     * be inside the kernel (a timeout of a millisecond, a thread descheduled): a release then reaches nobody (a
     * writer's finds no reader to pair with, ENXIO), so it is repeated, a millisecond apart, until {@code returned}.
     * The fd the open then returns belongs to whoever made it, who closes it. An interrupt does not end the release
     * (the open would be left blocked), nor turn its pauses into a spin; the interrupt status is set again after.
     */
    private void releaseBlockedOpen(int access, AtomicBoolean returned) {
        int opposite = (access == linux_h.O_RDONLY() ? linux_h.O_WRONLY() : linux_h.O_RDONLY()) | linux_h.O_NONBLOCK();
        boolean interrupted = Thread.interrupted();
        try {
            while (!returned.get()) {
                try {
                    Syscalls.close(open(opposite));
                } catch (IOException ignored) {
                    // ENXIO: a writer found no reader to pair with, so the open has not started. Again.
                }
                if (!returned.get()) LockSupport.parkNanos(1_000_000);
                if (Thread.interrupted()) interrupted = true;
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    private String opening(int access) {
        return "open " + path + (access == linux_h.O_RDONLY() ? " for reading" : " for writing");
    }

    /**
     * A virtual thread's blocking open, made for it by a platform thread of its own while it parks.
     *
     * <p>Why: the open is a native call, and a native call pins a virtual thread to its carrier for as long as it
     * blocks. A FIFO's open blocks until its peer opens: with as many carriers as CPUs, that many virtual threads
     * waiting to open FIFOs whose peers are to be opened by other virtual threads of this JVM stalled every virtual
     * thread, for good. Nothing can be waited on without a blocking open: a read end opened {@code O_NONBLOCK}
     * shows neither POLLIN nor POLLHUP until a writer has written or come and gone, so "a writer has opened" (what
     * the blocking open returns at) cannot be seen; a write end opened {@code O_NONBLOCK} fails ENXIO while no
     * reader is there, and there is nothing to wait on for one to come. So the blocking open runs where blocking
     * costs no carrier: on a platform thread ({@code panpipe-fifo-open}, a daemon), one per pending open, made for
     * it and ended with it. Not a pool: an open is not a hot path, and a thread per open needs no sizing, ends once
     * nothing waits and leaves no idle thread behind. The cost is a platform thread for each open pending at once.
     *
     * <p>The waiter parks until the open returns, its deadline passes, it is interrupted or the Fifo is closed. Any
     * of the last three {@link #cancel cancels} it: releases the opener as a timeout always has
     * ({@link #releaseBlockedOpen}), and the opener closes the fd its open then returns. One owner for the fd at
     * every moment: the opener until it publishes the fd with a successful compare-and-set from PENDING, the waiter
     * after; an fd that comes too late (the state was no longer PENDING) never leaves the opener, which closes it.
     * The waiter returns only once the opener thread has ended, so nothing of an open outlives it, whatever ended it.
     */
    private final class HandedOffOpen {
        private static final int PENDING = 0;
        private static final int OPENED = 1;
        private static final int FAILED = 2;
        private static final int TIMED_OUT = 3;
        private static final int INTERRUPTED = 4;
        private static final int CLOSED = 5;

        private final int access;
        private final Thread waiter = Thread.currentThread();
        private final Thread opener;
        /** PENDING until the first of: the open's outcome (OPENED, FAILED), or a cancel (TIMED_OUT, INTERRUPTED, CLOSED). */
        private final AtomicInteger state = new AtomicInteger(PENDING);
        /** Set once the opener's open has returned: ends a release. */
        private final AtomicBoolean returned = new AtomicBoolean();
        /** Written by the opener before the compare-and-set that hands it over, read by the waiter after. */
        private int fd = -1;
        private Throwable failure;

        HandedOffOpen(int access) {
            this.access = access;
            this.opener = Thread.ofPlatform().daemon().name("panpipe-fifo-open " + path).unstarted(this::run);
        }

        /** The opener's side. */
        private void run() {
            int opened = -1;
            Throwable failed = null;
            try {
                opened = LinuxFifo.this.open(access);
            } catch (Throwable t) {
                failed = t;
            }
            returned.set(true);
            fd = opened;
            failure = failed;
            if (state.compareAndSet(PENDING, failed == null ? OPENED : FAILED)) {
                LockSupport.unpark(waiter);
            } else if (opened >= 0) {
                try {
                    Syscalls.close(opened);     // too late: the waiter has gone, and the fd was never handed over
                } catch (SyscallException ignored) {
                    // EBADF would be a panpipe bug; the fd was never anyone else's
                }
            }
        }

        /**
         * The waiter's side: {@code millis} as from {@link Timeouts#millis} (-1: no limit).
         *
         * @throws PeerTimeoutException at the deadline
         * @throws InterruptedIOException if the thread was interrupted first (its interrupt status stays set)
         * @throws AsynchronousCloseException if the Fifo was closed first
         */
        int await(int millis, Duration timeout) throws IOException {
            opener.start();
            pending.add(this);
            // A close that has already iterated the pending opens did not see this one. A created FIFO's path is
            // going, so cancel it here; a reused one stays where a peer (or the deadline) can still release it.
            if (closed.get() && created) cancel(CLOSED);
            int outcome;
            try {
                long deadline = millis < 0 ? Long.MAX_VALUE : System.nanoTime() + millis * 1_000_000L;
                while ((outcome = state.get()) == PENDING) {
                    long left = deadline == Long.MAX_VALUE ? Long.MAX_VALUE : deadline - System.nanoTime();
                    if (left <= 0) cancel(TIMED_OUT);
                    else if (Thread.currentThread().isInterrupted()) cancel(INTERRUPTED);
                    else if (left == Long.MAX_VALUE) LockSupport.park(this);
                    else LockSupport.parkNanos(this, left);
                }
            } finally {
                pending.remove(this);
            }
            Uninterruptibly.join(opener);
            return switch (outcome) {
                case OPENED -> fd;
                case FAILED -> throw rethrown(failure);
                case TIMED_OUT -> throw new PeerTimeoutException(opening(access), timeout);
                case INTERRUPTED -> throw new InterruptedIOException("interrupted: " + opening(access));
                default -> throw new AsynchronousCloseException();     // CLOSED
            };
        }

        /** Gives up the open for {@code reason}, unless it has returned already; returns once the opener's has. */
        void cancel(int reason) {
            if (!state.compareAndSet(PENDING, reason)) return;
            releaseBlockedOpen(access, returned);
            LockSupport.unpark(waiter);
        }

        /**
         * The opener's failure, thrown in the waiter: the same exception (a SyscallException naming open, the errno
         * and the path stays one), with the waiter's stack, where the open was asked for; the opener's own frames
         * say no more than the message does.
         */
        private IOException rethrown(Throwable t) {
            t.fillInStackTrace();
            if (t instanceof IOException e) return e;
            if (t instanceof RuntimeException e) throw e;
            if (t instanceof Error e) throw e;
            throw new IllegalStateException(t);
        }
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
        if (!closed.compareAndSet(false, true)) return;
        // Before the path goes: a release opens the other end by path.
        for (HandedOffOpen p : pending) p.cancel(HandedOffOpen.CLOSED);
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
