package dev.panpipe.internal.linux;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.pollfd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * The releases of one end's opens of one {@link LinuxFifo}, so that its other opens of that end can tell an end
 * they got from a release from one a peer gave them.
 *
 * <p>Why: a release (at an open's deadline or interrupt) opens the other end and closes it again, which pairs with
 * every open of that end blocked on the FIFO, not only with the one it is for. The others came back with an end
 * whose peer was already gone: a writer's first write failed EPIPE, a reader read EOF though no writer had come.
 * An open of this Fifo that returns while releases were under way or have been made ({@link #overlapped}) waits
 * for them to end, and if its peer has gone by then (a write end's readers, POLLERR; a read end's writers with
 * nothing written, POLLHUP without POLLIN) it is taken for a release's and opened again, for the rest of its
 * timeout. A real peer that came and went without a byte in that moment is taken for one too: its writer then
 * waits for the next reader, its reader for the next writer. Opens by other processes, or through another Fifo of
 * the path, are not known here; what a release of theirs does to an open of ours, or one of ours to theirs, stays
 * as it was.
 */
final class FifoReleases {
    /** How long an open waits for the releases it overlapped to end before it judges its end as it is. */
    private static final long SETTLE_NANOS = TimeUnit.MILLISECONDS.toNanos(200);

    private final AtomicLong begun = new AtomicLong();
    private final AtomicInteger inFlight = new AtomicInteger();

    /**
     * Taken before an open, for {@link #overlapped} after it: how many releases had begun, or -1 if one was under way
     * (it repeats its pairing a millisecond apart until its own open returns, so it may pair with an open that
     * started after it).
     */
    long mark() {
        long seen = begun.get();
        return inFlight.get() > 0 ? -1 : seen;   // read after begun: a release counts itself in flight first
    }

    /** Whether a release was under way at {@code mark}, or has begun since. */
    boolean overlapped(long mark) {
        return mark < 0 || begun.get() != mark;
    }

    /** {@link HeldFile#releaseOpen}, logged here: begun before its first open of the other end, ended after its last. */
    boolean release(HeldFile fifo, int blockedFlags, AtomicBoolean returned) {
        inFlight.incrementAndGet();
        begun.incrementAndGet();
        try {
            return fifo.releaseOpen(blockedFlags, returned);
        } finally {
            inFlight.decrementAndGet();
        }
    }

    /**
     * Whether {@code fd}, an end just opened (a read end if {@code reading}) while releases were made, was opened by
     * one of them: its peer has gone once they have ended.
     */
    boolean openedByARelease(int fd, boolean reading) throws SyscallException {
        long settleBy = System.nanoTime() + SETTLE_NANOS;
        boolean interrupted = Thread.interrupted();   // else each park returns at once: a spin
        try {
            while (inFlight.get() > 0 && System.nanoTime() - settleBy < 0) {
                LockSupport.parkNanos(50_000);
                if (Thread.interrupted()) interrupted = true;
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = pollfd.allocate(arena);
            pollfd.fd(p, fd);
            pollfd.events(p, (short) (reading ? linux_h.POLLIN() : linux_h.POLLOUT()));
            if (Syscalls.poll(p, 1, 0) == 0) return false;
            int revents = pollfd.revents(p);
            return reading
                    ? (revents & linux_h.POLLHUP()) != 0 && (revents & linux_h.POLLIN()) == 0
                    : (revents & linux_h.POLLERR()) != 0;
        }
    }
}
