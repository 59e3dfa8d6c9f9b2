package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.stat;
import dev.panpipe.io.PeerTimeoutException;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.AsynchronousCloseException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A virtual thread's blocking {@code open(2)} of a path that may be a FIFO, made for it by a platform thread of its
 * own while it parks: a {@link LinuxFifo} end, or a child's {@code < file} / {@code > file} redirect.
 *
 * <p>Why: the open is a native call, and a native call pins a virtual thread to its carrier for as long as it
 * blocks. A FIFO's open blocks until its peer opens: with as many carriers as CPUs, that many virtual threads
 * waiting to open FIFOs whose peers are to be opened by other virtual threads of this JVM stalled every virtual
 * thread, for good. Nothing can be waited on without a blocking open: a read end opened {@code O_NONBLOCK}
 * shows neither POLLIN nor POLLHUP until a writer has written or come and gone, so "a writer has opened" (what
 * the blocking open returns at) cannot be seen; a write end opened {@code O_NONBLOCK} fails ENXIO while no
 * reader is there, and there is nothing to wait on for one to come. So the blocking open runs where blocking
 * costs no carrier: on a platform thread ({@value #OPENER_NAME}, a daemon), one per pending open, made for
 * it and ended with it. Not a pool: an open is not a hot path, and a thread per open needs no sizing, ends once
 * nothing waits and leaves no idle thread behind. The cost is a platform thread for each open pending at once.
 *
 * <p>The waiter parks until the open returns, its deadline passes, it is interrupted or its owner (a Fifo being
 * closed) {@linkplain #cancelClosed cancels} it. Any of the last three gives the open up: the waiter itself then
 * releases a FIFO open blocked for its peer (opens the other end without blocking, {@link #release}), and the
 * opener closes the fd its open then returns. One owner for the fd at every moment: the opener until it publishes
 * the fd with a successful compare-and-set from PENDING, the waiter after; an fd that comes too late (the state
 * was no longer PENDING) never leaves the opener, which closes it. The waiter returns once the opener thread has
 * ended, so nothing of an open outlives it, whatever ended it; only an open that cannot be released (below)
 * is left to end by itself.
 *
 * <p>What the path names is held from the start ({@link HeldFile}): the waiter looks it up before the opener starts,
 * and both the open and a release go through that very inode. A path removed or replaced meanwhile (a Fifo closed,
 * which unlinks it, while an open waits) can then still be released; a release by path found nothing there and
 * retried for ever. A lookup that fails (the path names nothing, a link under {@code O_NOFOLLOW}) is the open's
 * failure, on the waiter's thread, with no opener started.
 */
final class BlockingOpen {
    static final String OPENER_NAME = "panpipe-open";
    /** How often {@link #open}'s create may find the path made meanwhile before it goes by path. */
    private static final int CREATE_TRIES = 8;

    private static final int PENDING = 0;
    private static final int OPENED = 1;
    private static final int FAILED = 2;
    private static final int TIMED_OUT = 3;
    private static final int INTERRUPTED = 4;
    private static final int CLOSED = 5;

    private final Path path;
    private final int flags;
    private final int mode;
    /** "open PATH for reading": what a timeout or an interrupt says was given up. */
    private final String what;
    private final Thread waiter = Thread.currentThread();
    private final Thread opener;
    /** PENDING until the first of: the open's outcome (OPENED, FAILED), or a cancel (TIMED_OUT, INTERRUPTED, CLOSED). */
    private final AtomicInteger state = new AtomicInteger(PENDING);
    /** Set once the opener's open has returned: ends a release. */
    private final AtomicBoolean returned = new AtomicBoolean();
    /**
     * What the path named when looked up, opened through: the waiter has a share, and the opener one of its own once
     * started. Null only for {@link #open}'s last resort (a create through a link to nothing): the path is opened.
     */
    private final HeldFile held;
    /** Where a release of this open is logged, for the other opens of its end ({@link FifoReleases}); or null. */
    private final FifoReleases releases;
    /** Written by the opener before the compare-and-set that hands it over, read by the waiter after. */
    private int fd = -1;
    private Throwable failure;

    private BlockingOpen(Path path, int flags, int mode, HeldFile held, FifoReleases releases) {
        this.path = path;
        this.flags = flags | linux_h.O_CLOEXEC();
        this.mode = mode;
        this.what = "open " + path + (HeldFile.reading(flags) ? " for reading" : " for writing");
        this.held = held;
        this.releases = releases;
        this.opener = Thread.ofPlatform().daemon().name(OPENER_NAME + " " + path).unstarted(this::run);
    }

    /**
     * {@code open(path, flags | O_CLOEXEC, mode)} of what {@code held} holds, made once {@link #start started};
     * takes the caller's share of {@code held} (null: the path is opened). The calling thread must be the one
     * that {@link #await awaits}.
     */
    static BlockingOpen of(HeldFile held, Path path, int flags, int mode) {
        return of(held, path, flags, mode, null);
    }

    /** {@link #of(HeldFile, Path, int, int)}, whose release, if any, is logged in {@code releases}. */
    static BlockingOpen of(HeldFile held, Path path, int flags, int mode, FifoReleases releases) {
        try {
            return new BlockingOpen(path, flags, mode, held, releases);
        } catch (Throwable t) {           // no memory for it: the share taken would have no owner
            if (held != null) held.close();
            throw t;
        }
    }

    /** The opener's side. */
    private void run() {
        int opened = -1;
        Throwable failed = null;
        try {
            opened = held != null ? held.open(flags, mode) : openByPath(path, flags, mode);
        } catch (Throwable t) {
            failed = t;
        }
        returned.set(true);
        if (held != null) held.close();           // the opener's share
        fd = opened;
        failure = failed;
        if (state.compareAndSet(PENDING, failed == null ? OPENED : FAILED)) {
            LockSupport.unpark(waiter);
        } else if (opened >= 0) {
            FdHandle.closeQuietly(opened);     // too late: the waiter has gone, and the fd was never handed over
        }
    }

    private static int openByPath(Path path, int flags, int mode) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            return Syscalls.open(arena.allocateFrom(path.toString()), flags | linux_h.O_CLOEXEC(), mode);
        } catch (SyscallException e) {
            throw SyscallException.of("open", path.toString(), e.errno());
        }
    }

    /**
     * A virtual thread's open of a child's redirect, which only the open itself or an interrupt of the thread ends:
     * no deadline, no owner that cancels it. What an open cannot block on is opened in place, on the virtual
     * thread: a regular file, a directory or a socket, through the inode looked up (a FIFO swapped in meanwhile is
     * not what gets opened), and a path that names nothing, given {@code O_CREAT}, is made with {@code O_EXCL} (one
     * made meanwhile is looked up again). A FIFO or a device is handed to an opener. An {@code O_CREAT} open of
     * another user's file in a sticky directory is refused as the kernel would refuse it by path
     * ({@link StickyCreateCheck}).
     *
     * @throws SyscallException the open's own failure, naming open, the errno and the path
     * @throws InterruptedIOException if the thread was interrupted first (its interrupt status stays set)
     */
    static int open(Path path, int flags, int mode) throws IOException {
        for (int tries = 1; ; tries++) {
            HeldFile held;
            try {
                held = HeldFile.lookUp(path, flags);
            } catch (SyscallException e) {
                if (e.errno() != Errno.ENOENT || (flags & linux_h.O_CREAT()) == 0) throw e;
                try {
                    return openByPath(path, flags | linux_h.O_EXCL(), mode);
                } catch (SyscallException c) {
                    if (c.errno() != Errno.EEXIST) throw c;
                }
                // Made meanwhile: look again. A link to nothing stays so (the lookup follows it, O_EXCL refuses it):
                // that create goes through the link by path, on an opener, as the shell's would.
                if (tries < CREATE_TRIES && !isLink(path)) continue;
                return of(null, path, flags, mode).startAndAwait();
            }
            // The open goes through /proc/self/fd, whose directory is never sticky: the kernel's refusal of an
            // O_CREAT open of another user's file in a sticky directory is made here (EACCES). Where it cannot be
            // told without a race, the path is opened by an opener, and the kernel judges.
            boolean judged;
            try {
                judged = StickyCreateCheck.mayReopen(held, path, flags);
            } catch (SyscallException | RuntimeException | Error e) {
                held.close();
                throw e;
            }
            if (!judged) {
                held.close();
                return of(null, path, flags, mode).startAndAwait();
            }
            if (!held.mayBlockOnOpen()) {
                int fd;
                try (held) {
                    Runnable hook = afterLookUpForTest;
                    if (hook != null) hook.run();
                    fd = held.open(flags, mode);
                }
                // O_CREAT asks for a file at the path: one unlinked since the lookup would take what the child writes
                // where nobody can read it, so the path is looked up (and the file made) again.
                if ((flags & linux_h.O_CREAT()) == 0 || tries == CREATE_TRIES || !unlinked(fd)) return fd;
                Syscalls.close(fd);
                continue;
            }
            return of(held, path, flags, mode).startAndAwait();
        }
    }

    /** Whether the path's last component is a symbolic link, as far as can be told (a failure says no). */
    private static boolean isLink(Path path) {
        try {
            HeldFile.lookUp(path, linux_h.O_NOFOLLOW()).close();
            return false;
        } catch (SyscallException e) {
            return e.errno() == Errno.ELOOP;
        }
    }

    /** Runs in {@link #open} between the lookup and an open in place: a test's way to race it. */
    static volatile Runnable afterLookUpForTest;

    /** Whether {@code fd}'s file has no name left; closes {@code fd} if that cannot be told. */
    private static boolean unlinked(int fd) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = stat.allocate(arena);
            Syscalls.fstat(fd, st);
            return stat.st_nlink(st) == 0;
        } catch (SyscallException | RuntimeException | Error e) {
            FdHandle.closeQuietly(fd);
            throw e;
        }
    }

    private int startAndAwait() throws IOException {
        start();
        return await(-1, null);
    }

    /** Starts the opener; from then on the open may be {@linkplain #cancelClosed cancelled}, and must be awaited. */
    void start() {
        if (held != null) held.share();             // the opener's; the waiter's own keeps the count above 0
        try {
            opener.start();
        } catch (Throwable t) {       // no thread (OutOfMemoryError): nobody will await, so both shares end here
            if (held != null) {
                held.close();
                held.close();
            }
            throw t;
        }
    }

    /**
     * The waiter's side, once {@linkplain #start started}: returns the fd, which the caller owns from then on.
     * {@code millis} as from {@link Timeouts#millis} (-1: no limit); {@code timeout} names it in the exception.
     * Only the thread that made this may call it, once.
     *
     * @throws SyscallException the open's own failure, naming open, the errno and the path
     * @throws PeerTimeoutException at the deadline
     * @throws InterruptedIOException if the thread was interrupted first (its interrupt status stays set)
     * @throws AsynchronousCloseException if the owner {@linkplain #cancelClosed cancelled} it first
     */
    int await(int millis, Duration timeout) throws IOException {
        int outcome;
        long deadline = millis < 0 ? Long.MAX_VALUE : System.nanoTime() + millis * 1_000_000L;
        while ((outcome = state.get()) == PENDING) {
            long left = deadline == Long.MAX_VALUE ? Long.MAX_VALUE : deadline - System.nanoTime();
            if (left <= 0) state.compareAndSet(PENDING, TIMED_OUT);
            else if (Thread.currentThread().isInterrupted()) state.compareAndSet(PENDING, INTERRUPTED);
            else if (left == Long.MAX_VALUE) LockSupport.park(this);
            else LockSupport.parkNanos(this, left);
        }
        boolean released;
        try {
            released = outcome == OPENED || outcome == FAILED || release();
        } finally {
            if (held != null) held.close();       // the waiter's share, even if the release failed (no memory)
        }
        if (released) Uninterruptibly.join(opener);
        return switch (outcome) {
            case OPENED -> fd;
            case FAILED -> throw rethrown(failure);
            case TIMED_OUT -> throw new PeerTimeoutException(what, timeout);
            case INTERRUPTED -> throw new InterruptedIOException("interrupted: " + what);
            default -> throw new AsynchronousCloseException();     // CLOSED
        };
    }

    /**
     * The owner's cancel (a Fifo closed), from any thread: the waiter throws {@link AsynchronousCloseException}
     * once it has released the open.
     */
    void cancelClosed() {
        if (state.compareAndSet(PENDING, CLOSED)) LockSupport.unpark(waiter);
    }

    /**
     * The opener's failure, thrown in the waiter: the same exception (a SyscallException naming open, the errno
     * and the path stays one), with the waiter's stack, where the open was asked for; the opener's own frames
     * say no more than the message does.
     */
    private static IOException rethrown(Throwable t) {
        t.fillInStackTrace();
        if (t instanceof IOException e) return e;
        if (t instanceof RuntimeException e) throw e;
        if (t instanceof Error e) throw e;
        throw new IllegalStateException(t);
    }

    /**
     * Ends the open given up, on the waiter's thread: true once it has returned, false if it cannot be made to (its
     * opener then ends by itself, whenever the open returns, and closes what it got). A FIFO's open is released
     * ({@link HeldFile#releaseOpen}).
     *
     * <p>What is not a FIFO held is not touched, and the waiter does not wait for it: a device's open may have
     * effects of its own (a serial line's raises DTR) and blocks, if at all, for something no open of ours can bring
     * (carrier); an open by path ({@link #open}'s last resort, through a link) may have found a FIFO, which only a
     * peer can release then. Waiting for either made the interrupt, the deadline and the close that gave the open
     * up wait as long as the open, for ever if nothing comes; its opener is left to it instead, a daemon thread
     * that ends with the open.
     */
    private boolean release() {
        if (held == null || !held.isFifo()) return false;
        return releases == null ? held.releaseOpen(flags, returned) : releases.release(held, flags, returned);
    }
}
