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
 * <p>The FIFO is held from the start: the waiter looks the path up ({@code O_PATH}, which opens neither end) before
 * the opener starts, and both the open and a release go through that very inode ({@code /proc/self/fd/N}). A path
 * removed or replaced meanwhile (a Fifo closed, which unlinks it, while an open waits) can then still be released;
 * a release by path found nothing there and retried for ever.
 */
final class BlockingOpen {
    static final String OPENER_NAME = "panpipe-open";

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
    /** The FIFO at the path ({@code O_PATH}), or -1 if the path named no FIFO when looked up: then the path is used. */
    private final int fifo;
    /** Who still uses {@link #fifo}: the opener until its open returned, the waiter until its release ended. The last closes it. */
    private final AtomicInteger fifoUsers = new AtomicInteger(2);
    /** Written by the opener before the compare-and-set that hands it over, read by the waiter after. */
    private int fd = -1;
    private Throwable failure;

    /**
     * {@code open(path, flags | O_CLOEXEC, mode)}, made once {@link #start started}. {@code flags} holds
     * {@code O_NOFOLLOW} if the path's last component must not be a link. Looks the path up at once, on the
     * calling thread, which must be the one that {@link #await awaits}.
     */
    BlockingOpen(Path path, int flags, int mode) {
        this.path = path;
        this.flags = flags | linux_h.O_CLOEXEC();
        this.mode = mode;
        this.what = "open " + path + (reading(flags) ? " for reading" : " for writing");
        this.fifo = lookUpFifo(path, this.flags);
        this.opener = Thread.ofPlatform().daemon().name(OPENER_NAME + " " + path).unstarted(this::run);
    }

    private static boolean reading(int flags) {
        return (flags & (linux_h.O_WRONLY() | linux_h.O_RDWR())) == linux_h.O_RDONLY();
    }

    /**
     * An {@code O_PATH} fd of the FIFO {@code path} names (following a last link unless {@code O_NOFOLLOW}), or -1
     * if it names something else or nothing: the open then goes by path and reports whatever is wrong.
     */
    private static int lookUpFifo(Path path, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            int named = Syscalls.open(arena.allocateFrom(path.toString()),
                    linux_h.O_PATH() | linux_h.O_CLOEXEC() | (flags & linux_h.O_NOFOLLOW()), 0);
            MemorySegment st = stat.allocate(arena);
            try {
                Syscalls.fstat(named, st);
            } catch (SyscallException e) {
                FdHandle.closeQuietly(named);
                return -1;
            }
            if ((stat.st_mode(st) & linux_h.S_IFMT()) == linux_h.S_IFIFO()) return named;
            FdHandle.closeQuietly(named);
            return -1;
        } catch (SyscallException e) {
            return -1;
        }
    }

    /** The opener's side. */
    private void run() {
        int opened = -1;
        Throwable failed = null;
        try {
            opened = openTarget(flags, mode);
        } catch (Throwable t) {
            failed = t;
        }
        returned.set(true);
        doneWithFifo();
        fd = opened;
        failure = failed;
        if (state.compareAndSet(PENDING, failed == null ? OPENED : FAILED)) {
            LockSupport.unpark(waiter);
        } else if (opened >= 0) {
            FdHandle.closeQuietly(opened);     // too late: the waiter has gone, and the fd was never handed over
        }
    }

    /**
     * Opens what was looked up with {@code openFlags}: the FIFO held, through {@code /proc/self/fd}, or the path.
     * A failure names the path, whichever was opened; without {@code /proc} (ENOENT there) the path is opened.
     */
    private int openTarget(int openFlags, int openMode) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            if (fifo >= 0) {
                try {
                    // O_NOFOLLOW would refuse the magic link itself; the path was looked up with it already
                    return Syscalls.open(arena.allocateFrom("/proc/self/fd/" + fifo), openFlags & ~linux_h.O_NOFOLLOW(), openMode);
                } catch (SyscallException e) {
                    if (e.errno() != Errno.ENOENT) throw SyscallException.of("open", path.toString(), e.errno());
                }
            }
            return Syscalls.open(arena.allocateFrom(path.toString()), openFlags, openMode);
        }
    }

    /** One user is done with {@link #fifo}; the last closes it. */
    private void doneWithFifo() {
        if (fifoUsers.decrementAndGet() == 0 && fifo >= 0) FdHandle.closeQuietly(fifo);
    }

    /**
     * A virtual thread's open that only the open itself or an interrupt of the thread ends: no deadline, no owner
     * that cancels it.
     *
     * @throws SyscallException the open's own failure, naming open, the errno and the path
     * @throws InterruptedIOException if the thread was interrupted first (its interrupt status stays set)
     */
    static int open(Path path, int flags, int mode) throws IOException {
        BlockingOpen open = new BlockingOpen(path, flags, mode);
        open.start();
        return open.await(-1, null);
    }

    /** Starts the opener; from then on the open may be {@linkplain #cancelClosed cancelled}, and must be awaited. */
    void start() {
        try {
            opener.start();
        } catch (Throwable t) {       // no thread (OutOfMemoryError): nothing else will close the FIFO held
            if (fifo >= 0) FdHandle.closeQuietly(fifo);
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
            doneWithFifo();                 // even if the release failed (an OutOfMemoryError): the FIFO held is not leaked
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
     * opener then ends by itself, whenever the open returns, and closes what it got).
     *
     * <p>A FIFO open blocked for its peer is released by opening the other end without blocking (through the FIFO
     * held, so the very inode) and closing it again, which pairs with it and lets it return, with no polling. The
     * open may not yet be inside the kernel (a timeout of a millisecond, a thread descheduled): a release then
     * reaches nobody (a writer's finds no reader to pair with, ENXIO), so it is repeated, a millisecond apart, until
     * the open has returned. An error that another try cannot mend (EACCES: the other end may not be opened) gives up.
     *
     * <p>What is not a FIFO is not touched: a regular file's open returns by itself, and a device's open may have
     * effects of its own (a serial line's raises DTR) and blocks, if at all, for something no open of ours can
     * bring. Its open is waited for, as a platform thread's would be.
     *
     * <p>An interrupt does not end the release (the open would be left blocked), nor turn its pauses into a spin;
     * the interrupt status is set again after.
     */
    private boolean release() {
        if (fifo < 0) return true;                 // no FIFO: the open returns by itself; wait for it
        int opposite = (reading(flags) ? linux_h.O_WRONLY() : linux_h.O_RDONLY()) | linux_h.O_NONBLOCK() | linux_h.O_CLOEXEC();
        boolean interrupted = Thread.interrupted();
        try {
            while (!returned.get()) {
                try {
                    Syscalls.close(openTarget(opposite, 0));
                } catch (SyscallException e) {
                    if (!worthAnotherTry(e)) return false;
                }
                if (!returned.get()) LockSupport.parkNanos(1_000_000);
                if (Thread.interrupted()) interrupted = true;
            }
            return true;
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
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

    /**
     * {@code named} ({@code O_PATH}) opened with {@code flags}. Without {@code /proc} (ENOENT there), the path is
     * opened again instead, as it was before the check: a path swapped in between is then opened too.
     */
    private static int reopen(int named, MemorySegment cpath, int flags) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            return Syscalls.open(arena.allocateFrom("/proc/self/fd/" + named), flags & ~linux_h.O_NOFOLLOW(), 0);
        } catch (SyscallException e) {
            if (e.errno() != Errno.ENOENT) throw e;
            return Syscalls.open(cpath, flags, 0);
        }
    }

    /**
     * {@link #release} for a platform thread's open of a FIFO, made by another thread at its deadline or at a close
     * of the Fifo: by path, as the platform thread opened by path, until {@code returned}. What the path names is
     * looked at each time: only a FIFO is released, and a path that names nothing any more ends the release
     * (nothing can reach that open).
     */
    static void releaseBlockedOpen(Path path, int flags, AtomicBoolean returned) {
        int opposite = (reading(flags) ? linux_h.O_WRONLY() : linux_h.O_RDONLY())
                | linux_h.O_NONBLOCK() | linux_h.O_CLOEXEC();
        int lookup = linux_h.O_PATH() | linux_h.O_CLOEXEC() | (flags & linux_h.O_NOFOLLOW());
        boolean interrupted = Thread.interrupted();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cpath = arena.allocateFrom(path.toString());
            MemorySegment st = stat.allocate(arena);
            while (!returned.get()) {
                int named;
                try {
                    named = Syscalls.open(cpath, lookup, 0);
                } catch (SyscallException e) {
                    if (e.errno() == Errno.ENOENT) return;    // gone: the open, if not failed already, is out of reach
                    named = -1;                               // EMFILE, ENOMEM: again
                }
                if (named >= 0) {
                    try {
                        Syscalls.fstat(named, st);
                        if ((stat.st_mode(st) & linux_h.S_IFMT()) != linux_h.S_IFIFO()) return;
                        Syscalls.close(reopen(named, cpath, opposite | (flags & linux_h.O_NOFOLLOW())));
                    } catch (SyscallException e) {
                        if (!worthAnotherTry(e)) return;      // ENXIO: no reader to pair with yet, the open has not started
                    } finally {
                        FdHandle.closeQuietly(named);
                    }
                }
                if (!returned.get()) LockSupport.parkNanos(1_000_000);
                if (Thread.interrupted()) interrupted = true;
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }
}
