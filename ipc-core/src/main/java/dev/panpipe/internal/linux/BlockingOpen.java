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
 * closed) cancels it. Any of the last three {@link #cancel cancels} it: releases a FIFO open blocked for its peer
 * ({@link #releaseBlockedOpen}), and the opener closes the fd its open then returns. One owner for the fd at
 * every moment: the opener until it publishes the fd with a successful compare-and-set from PENDING, the waiter
 * after; an fd that comes too late (the state was no longer PENDING) never leaves the opener, which closes it.
 * The waiter returns only once the opener thread has ended, so nothing of an open outlives it, whatever ended it.
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
    /** Written by the opener before the compare-and-set that hands it over, read by the waiter after. */
    private int fd = -1;
    private Throwable failure;

    /**
     * {@code open(path, flags | O_CLOEXEC, mode)}, made when {@link #await} is called. {@code flags} holds
     * {@code O_NOFOLLOW} if the path's last component must not be a link; a release follows links as the open does.
     */
    BlockingOpen(Path path, int flags, int mode) {
        this.path = path;
        this.flags = flags | linux_h.O_CLOEXEC();
        this.mode = mode;
        this.what = "open " + path + (reading(flags) ? " for reading" : " for writing");
        this.opener = Thread.ofPlatform().daemon().name(OPENER_NAME + " " + path).unstarted(this::run);
    }

    private static boolean reading(int flags) {
        return (flags & (linux_h.O_WRONLY() | linux_h.O_RDWR())) == linux_h.O_RDONLY();
    }

    /** The opener's side. */
    private void run() {
        int opened = -1;
        Throwable failed = null;
        try (Arena arena = Arena.ofConfined()) {
            opened = Syscalls.open(arena.allocateFrom(path.toString()), flags, mode);
        } catch (Throwable t) {
            failed = t;
        }
        returned.set(true);
        fd = opened;
        failure = failed;
        if (state.compareAndSet(PENDING, failed == null ? OPENED : FAILED)) {
            LockSupport.unpark(waiter);
        } else if (opened >= 0) {
            FdHandle.closeQuietly(opened);     // too late: the waiter has gone, and the fd was never handed over
        }
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
        opener.start();
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
            if (left <= 0) cancel(TIMED_OUT);
            else if (Thread.currentThread().isInterrupted()) cancel(INTERRUPTED);
            else if (left == Long.MAX_VALUE) LockSupport.park(this);
            else LockSupport.parkNanos(this, left);
        }
        Uninterruptibly.join(opener);
        return switch (outcome) {
            case OPENED -> fd;
            case FAILED -> throw rethrown(failure);
            case TIMED_OUT -> throw new PeerTimeoutException(what, timeout);
            case INTERRUPTED -> throw new InterruptedIOException("interrupted: " + what);
            default -> throw new AsynchronousCloseException();     // CLOSED
        };
    }

    /** The owner's cancel (a Fifo closed): the waiter throws {@link AsynchronousCloseException}. */
    void cancelClosed() {
        cancel(CLOSED);
    }

    /** Gives up the open for {@code reason}, unless it has returned already. */
    private void cancel(int reason) {
        if (!state.compareAndSet(PENDING, reason)) return;
        releaseBlockedOpen(path, flags, returned);
        LockSupport.unpark(waiter);
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
     * Ends an open of {@code path} with {@code flags} blocked in the kernel for its FIFO peer: opens the other end
     * without blocking and closes it again, which pairs with the blocked open and lets it return, with no polling.
     * The open may not yet be inside the kernel (a timeout of a millisecond, a thread descheduled): a release then
     * reaches nobody (a writer's finds no reader to pair with, ENXIO), so it is repeated, a millisecond apart,
     * until {@code returned}. The fd the open then returns belongs to whoever made it, who closes it.
     *
     * <p>Only a FIFO is released: the path is looked up without being opened ({@code O_PATH}, links followed as
     * {@code flags} say), and only if that is a FIFO is the other end opened, through {@code /proc/self/fd}, so
     * exactly what was checked. A regular file's open returns by itself; a device's open may have effects of its
     * own (a serial line's raises DTR) and blocks, if at all, for something no open of ours can bring: neither is
     * touched, and the open is left to return by itself, as a platform thread's would be. So is one whose path no
     * longer names a FIFO (removed): nothing can reach it any more.
     *
     * <p>An interrupt does not end the release (the open would be left blocked), nor turn its pauses into a spin;
     * the interrupt status is set again after.
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
                    } catch (SyscallException ignored) {
                        // ENXIO: a writer found no reader to pair with, so the open has not started. Again.
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
