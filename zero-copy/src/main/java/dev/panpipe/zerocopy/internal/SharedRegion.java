package dev.panpipe.zerocopy.internal;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.internal.Closer;
import dev.panpipe.internal.linux.FutexPoller;
import dev.panpipe.zerocopy.SharedMemory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A {@link SharedMemory} as the shared objects of this module hold it: the one owner of the mapping, the
 * atomic accessors for its words, and futex sleeps and wake-ups on those words, kept apart from close.
 *
 * <p><b>Atomics.</b> {@link #INT} and {@link #LONG} are {@code ValueLayout.JAVA_INT/JAVA_LONG.varHandle()}
 * with coordinates {@code (MemorySegment, long offset)}; their volatile, acquire/release and
 * compare-and-set modes compile to the same instructions ({@code lock cmpxchg}, {@code xchg}, plain moves
 * with the compiler's ordering) whether the other side is a thread of this JVM or a process that maps
 * the same pages: coherence is a property of the physical memory, so the Java memory model's orderings
 * hold across processes for naturally aligned words of a {@code MAP_SHARED} mapping.
 *
 * <p><b>Sleeping.</b> {@link #await} sleeps in {@code futex_wait} for at most one slice
 * ({@value #SLICE_MILLIS} ms, {@link #sliceNanos()}): callers loop, re-check their condition and look for
 * dead peers between slices, so a lost wake-up (a woken process killed before it acted) costs at most a slice, never a hang.
 * A virtual thread does not enter {@code futex_wait}: the native call would pin its carrier, and with as
 * many carriers as CPUs, waiters sleeping on all of them can keep out the very virtual thread that holds
 * what they wait for (seen as a livelock in a test before this rule). It parks instead, once, and the
 * {@link FutexPoller} (one platform thread in {@code futex_waitv} for all of them) unparks it when the word is
 * woken or changes: woken as a platform waiter is, and as promptly. The wait holds the gate, so the word stays
 * mapped while the poller may read it, and close's wake-ups reach it through the poller. Only where the poller
 * cannot take the wait (a kernel before 5.16, a seccomp filter, more virtual waiters at once than one
 * {@code futex_waitv} takes) does it park 20 µs at first, doubling to about 1.3 ms, and look again, as all virtual
 * waiters did before the poller.
 *
 * <p><b>Closing.</b> An operation of the objects built on a region (a queue's put or take, a lock's lock or
 * unlock) changes several words one after the other and may end in a futex call; closed half-way, it
 * would leave a slot claimed by this live process, which nobody takes back, or throw after it had
 * published its change, so that a caller who tried again would send a message twice. (A futex call on
 * its own passes the segment to native code, which keeps the arena acquired: it cannot be closed under
 * it.) So every operation goes through a gate ({@link #enter()}/{@link #exit()}: a closed bit and the
 * number of calls in flight, as {@code dev.panpipe.internal.CloseGate}): {@link #close()} shuts it, wakes
 * this region's sleepers, waits the moment calls in flight take to finish, and then unmaps and closes
 * the fd. An operation that runs the caller's code on a slot ({@link #hold()}: a queue's message handler) is
 * not waited for, since that code may be the closer itself: the last of them to end ({@link #endHold()})
 * unmaps instead. A slot handed to the caller until a later call (a queue's claim, committed or not) holds
 * nothing: the region is unmapped under it, and then its owner gives it back ({@link GiveBack}). So an
 * operation either happens whole or is refused whole with {@code IllegalStateException}, and a close
 * returns with nothing left unless the caller's code still runs on a slot.
 */
public final class SharedRegion implements AutoCloseable {
    /** {@code (MemorySegment, long offset) -> int}, every access mode. */
    public static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();
    /** {@code (MemorySegment, long offset) -> long}, every access mode. */
    public static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();

    /** The longest single {@code futex_wait} of a platform thread, unless a test stretches it. */
    public static final long SLICE_MILLIS = 50;
    private static volatile long sliceNanos = SLICE_MILLIS * 1_000_000L;

    // The gate: CLOSED | UNMAPPING | holds (bits 32-61) | calls in flight (bits 0-31).
    private static final long CLOSED = 1L << 63;
    /** Set once, by whoever unmaps: close, or the last hold to end after it. */
    private static final long UNMAPPING = 1L << 62;
    private static final long ONE_HOLD = 1L << 32;
    private static final long CALLS = 0xffff_ffffL;

    private final SharedMemory memory;
    private final MemorySegment segment;
    private final String what;
    private final long[] wakeOnClose;
    /**
     * The futex words at {@link #wakeOnClose}, sliced once: every {@link #await} and {@link #wake} passes one
     * to the kernel, and a slice per call was the only allocation of a queue's or lock's sleeping path.
     */
    private final MemorySegment[] words;
    private final AtomicLong gate = new AtomicLong();
    private volatile GiveBack giveBack;

    /**
     * Takes ownership of {@code memory}.
     *
     * @param what        names the object in messages ("shared lock 'jobs'")
     * @param wakeOnClose offsets of the futex words sleepers may wait on
     */
    public SharedRegion(SharedMemory memory, String what, long... wakeOnClose) {
        this.memory = memory;
        this.segment = memory.segment();
        this.what = what;
        this.wakeOnClose = wakeOnClose.clone();
        this.words = new MemorySegment[wakeOnClose.length];
        for (int i = 0; i < wakeOnClose.length; i++) words[i] = segment.asSlice(wakeOnClose[i], 4);
    }

    /** {@code timeout} in nanoseconds, 0 if negative, {@code Long.MAX_VALUE} if it does not fit. */
    public static long nanos(Duration timeout) {
        if (timeout.isNegative()) return 0;
        try {
            return timeout.toNanos();
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    /**
     * The longest sleep of one {@link #await}: how often a blocked caller wakes to re-check its condition
     * and look for a dead peer ({@value #SLICE_MILLIS} ms). Read once per sleep, so a volatile read is free.
     */
    public static long sliceNanos() {
        return sliceNanos;
    }

    /** What {@link #stretchSlices} returns: closing it puts the slice back. */
    public interface StretchedSlices extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * For tests of the wake-up protocols only: makes every slice {@code slice} long, in this JVM, until the
     * returned handle is closed. With 50 ms slices a sleeper nobody wakes (a lost wake-up) goes on by itself
     * 50 ms later, and the bug looks like latency; with slices of seconds it stalls, and a test's deadline
     * sees it. (A dead peer is then noticed as late, so no test of death runs meanwhile.)
     */
    public static StretchedSlices stretchSlices(Duration slice) {
        long before = sliceNanos;
        sliceNanos = slice.toNanos();
        return () -> sliceNanos = before;
    }

    public MemorySegment segment() {
        return segment;
    }

    /** The fd of the shared memory, to hand to a child ({@code passFd}); -1 once closed (even while a hold keeps it mapped). */
    public long nativeHandle() {
        return isClosed() ? -1 : memory.nativeHandle();
    }

    public String what() {
        return what;
    }

    /**
     * Sleeps while the int at {@code offset} holds {@code expected}, for at most {@code maxNanos} and at
     * most one slice; returns a {@code Syscalls.FUTEX_*} outcome. Any outcome may be spurious: re-check.
     *
     * @param round how many times the caller has waited in a row (0 first): a virtual thread parks for
     *              longer each round
     * @throws IllegalStateException if this region is closed
     */
    public int await(long offset, int expected, long maxNanos, int round) {
        long nanos = Math.max(0, Math.min(maxNanos, sliceNanos));
        if (Thread.currentThread().isVirtual()) {
            FutexPoller poller = FutexPoller.shared();
            if (poller != null) {
                int woke;
                enter();                         // the poller reads the word: mapped until the wait has left it
                try {
                    woke = poller.await(word(offset), expected, nanos);
                } finally {
                    exit();
                }
                if (woke != FutexPoller.NOT_WATCHED) return woke;
            }
            ensureOpen();
            return FutexPoller.parkAndLook(segment, offset, expected, nanos, round);
        }
        enter();
        try {
            return Syscalls.futex_wait(word(offset), expected, nanos);
        } catch (SyscallException e) {
            throw new UncheckedIOException(e);
        } finally {
            exit();
        }
    }

    /**
     * Wakes up to {@code count} sleepers (of any process) on the int at {@code offset}. Only between
     * {@link #enter()} and {@link #exit()} (or during a {@link #hold()}), which keep the memory mapped: so
     * an operation that has published its change always wakes whoever waits for it, even if a close has
     * begun meanwhile.
     */
    public void wake(long offset, int count) {
        try {
            Syscalls.futex_wake(word(offset), count);
        } catch (SyscallException e) {
            throw new UncheckedIOException(e);
        }
    }

    public boolean isClosed() {
        return gate.get() < 0;
    }

    /** Throws the closed exception if this region is closed. */
    public void ensureOpen() {
        if (isClosed()) throw closed();
    }

    /**
     * Begins an operation: until the matching {@link #exit()}, {@link #close()} waits and the memory stays
     * mapped. Calls may nest.
     *
     * @throws IllegalStateException if the region is closed (nothing was done)
     */
    public void enter() {
        for (;;) {
            long s = gate.get();
            if (s < 0) throw closed();
            if (gate.compareAndSet(s, s + 1)) return;
        }
    }

    /** Ends an operation begun by {@link #enter()}. */
    public void exit() {
        gate.decrementAndGet();
    }

    /**
     * Adds a hold, between {@link #enter()} and {@link #exit()}: for the time an operation hands a slot to code
     * of the caller's that may run long, never return, or close this region itself. Close does not wait for a
     * hold, and the last hold to end after a close unmaps. End it with {@link #endHold()}, from any thread.
     */
    public void hold() {
        gate.addAndGet(ONE_HOLD);
    }

    /**
     * Ends a {@link #hold()}; the last one to end after a close unmaps and closes the fd. That unmap's failure
     * (a thread still in a native call on the memory) is not thrown here, where an operation has just
     * succeeded: the memory then stays mapped, and a later {@link #close()} tries again and throws it.
     */
    public void endHold() {
        if (gate.addAndGet(-ONE_HOLD) == CLOSED && gate.compareAndSet(CLOSED, CLOSED | UNMAPPING)) {
            try {
                unmap();
            } catch (IOException | RuntimeException e) {
                // kept for a later close, as said above
            }
        }
    }

    /**
     * What the object built on a region gives back when the region is unmapped with slots still handed to the
     * caller's code that the region did not wait for (a queue's claims): see {@link #giveBackOnUnmap}.
     */
    public interface GiveBack {
        /** Whether anything is left to give back; asked once no call is in flight. */
        boolean pending();

        /** Gives it back through {@code again}, a second mapping of the same memory. */
        void giveBack(MemorySegment again) throws IOException;
    }

    /** Sets what is given back when this region is unmapped (once). */
    public void giveBackOnUnmap(GiveBack giveBack) {
        this.giveBack = giveBack;
    }

    private synchronized void unmap() throws IOException {
        GiveBack g = giveBack;
        long fd = memory.nativeHandle();
        if (g == null || !g.pending()) {
            memory.close();    // does nothing once it has unmapped
            return;
        }
        // Given back through a second mapping, made before this one goes and written after: a thread of the
        // caller's still writing into a slot it was handed then fails on unmapped memory, rather than writing
        // into a slot that another process may have taken since it was given back.
        SharedMemory again = null;
        try {
            if (fd >= 0) again = SharedMemory.map(Syscalls.fcntl((int) fd, linux_h.F_DUPFD_CLOEXEC(), 0));
        } catch (IOException | RuntimeException e) {
            // no fd to map again with (none left, or an unmap failed after the fd was closed): give back
            // through this mapping, before it goes, which is still better than slots held for ever
        }
        if (again == null) {
            g.giveBack(segment);
            memory.close();
            return;
        }
        try {
            memory.close();    // if it cannot unmap, nothing is given back yet: a later close tries again
            g.giveBack(again.segment());
        } finally {
            again.close();
        }
    }

    private void wakeAll() throws SyscallException {
        for (MemorySegment word : words) Syscalls.futex_wake(word, Integer.MAX_VALUE);
    }

    /** The 4-byte word at {@code offset}: one of {@link #words}, or a slice of its own if it is none of them. */
    private MemorySegment word(long offset) {
        for (int i = 0; i < wakeOnClose.length; i++) if (wakeOnClose[i] == offset) return words[i];
        return segment.asSlice(offset, 4);
    }

    private IllegalStateException closed() {
        return new IllegalStateException(what + " is closed");
    }

    /**
     * Refuses new operations, wakes this process's sleepers (they throw {@link IllegalStateException}), waits
     * for the operations in flight to finish, then unmaps and closes the fd, unless a {@link #hold()} is still
     * on: the last hold to end does that. Sleepers of other processes wake once and sleep again. The memory
     * is closed even if waking failed; the first failure is thrown, a later one suppressed. Idempotent, but
     * for an unmap that failed (a thread of this process still inside a native call on the memory, see
     * {@link SharedMemory#close()}): a later close tries it again. A concurrent close waits for this one.
     */
    @Override
    public synchronized void close() throws IOException {
        Closer closer = new Closer();
        if (shut()) {
            // The arena stays open until the last call has left, so waking again is safe; a sleeper that
            // entered just before the gate shut may have gone to sleep after the first wake-up. Should waking
            // fail, each sleeper still leaves by itself at the end of its slice.
            boolean waking = true;
            while ((gate.get() & CALLS) != 0) {
                if (waking) {
                    try {
                        wakeAll();
                    } catch (SyscallException | RuntimeException e) {
                        closer.add(e);
                        waking = false;
                    }
                }
                LockSupport.parkNanos(100_000L);
            }
        }
        // No calls are left, and none can begin: unmap now unless a hold is still on (its release unmaps), or
        // again if an earlier unmap failed.
        if (gate.compareAndSet(CLOSED, CLOSED | UNMAPPING) || (gate.get() & UNMAPPING) != 0) closer.run(this::unmap);
        closer.throwFailure();
    }

    /** Shuts the gate to new operations: true if this call shut it, false if it was shut already. */
    private boolean shut() {
        long s;
        do {
            s = gate.get();
            if (s < 0) return false;
        } while (!gate.compareAndSet(s, s | CLOSED));
        return true;
    }
}
