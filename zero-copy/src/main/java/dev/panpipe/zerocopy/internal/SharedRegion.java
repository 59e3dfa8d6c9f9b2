package dev.panpipe.zerocopy.internal;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.internal.Closer;
import dev.panpipe.zerocopy.SharedMemory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
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
 * what they wait for (seen as a livelock in a test before this rule). It parks instead, 20 µs at first
 * and doubling to about 1.3 ms, and looks again: a virtual waiter polls, a platform waiter is woken.
 *
 * <p><b>Closing.</b> A futex call passes the segment to native code, which keeps the mapping's arena
 * acquired; an arena cannot be closed under it. Calls into the kernel go through a gate (one int: a closed
 * bit and the number of calls in flight, as {@code dev.panpipe.internal.CloseGate}); {@link #close()} shuts
 * it, wakes this region's sleepers, waits the moment they take to leave and then unmaps and closes the fd:
 * when it returns, nothing is left. Plain accesses need no gate: after close they fail with the arena's
 * {@code IllegalStateException}.
 */
public final class SharedRegion implements AutoCloseable {
    /** {@code (MemorySegment, long offset) -> int}, every access mode. */
    public static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();
    /** {@code (MemorySegment, long offset) -> long}, every access mode. */
    public static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();

    /** The longest single {@code futex_wait} of a platform thread, unless a test stretches it. */
    public static final long SLICE_MILLIS = 50;
    private static volatile long sliceNanos = SLICE_MILLIS * 1_000_000L;
    private static final long VIRTUAL_PARK_NANOS = 20_000L;
    private static final int CLOSED = Integer.MIN_VALUE;

    private final SharedMemory memory;
    private final MemorySegment segment;
    private final String what;
    private final long[] wakeOnClose;
    private final AtomicInteger gate = new AtomicInteger();

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

    /** The fd of the shared memory, to hand to a child ({@code passFd}); -1 once closed. */
    public long nativeHandle() {
        return memory.nativeHandle();
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
            ensureOpen();
            if ((int) INT.getVolatile(segment, offset) != expected) return Syscalls.FUTEX_VALUE_CHANGED;
            LockSupport.parkNanos(Math.min(nanos, VIRTUAL_PARK_NANOS << Math.min(round, 6)));
            return Syscalls.FUTEX_WOKEN;
        }
        enter();
        try {
            return Syscalls.futex_wait(segment.asSlice(offset, 4), expected, nanos);
        } catch (SyscallException e) {
            throw new UncheckedIOException(e);
        } finally {
            exit();
        }
    }

    /** Wakes up to {@code count} sleepers (of any process) on the int at {@code offset}. */
    public void wake(long offset, int count) {
        enter();
        try {
            Syscalls.futex_wake(segment.asSlice(offset, 4), count);
        } catch (SyscallException e) {
            throw new UncheckedIOException(e);
        } finally {
            exit();
        }
    }

    public boolean isClosed() {
        return gate.get() < 0;
    }

    /** Throws the closed exception if this region is closed. */
    public void ensureOpen() {
        if (isClosed()) throw closed();
    }

    private void enter() {
        for (;;) {
            int s = gate.get();
            if (s < 0) throw closed();
            if (gate.compareAndSet(s, s + 1)) return;
        }
    }

    private void exit() {
        gate.decrementAndGet();
    }

    private void wakeAll() throws SyscallException {
        for (long offset : wakeOnClose) Syscalls.futex_wake(segment.asSlice(offset, 4), Integer.MAX_VALUE);
    }

    private IllegalStateException closed() {
        return new IllegalStateException(what + " is closed");
    }

    /**
     * Wakes this process's sleepers (they throw {@link IllegalStateException}), waits for them to leave the
     * kernel, unmaps and closes the fd. Sleepers of other processes wake once and sleep again. The memory is
     * closed even if waking failed; the first failure is thrown, a later one suppressed. Idempotent, but for
     * an unmap that failed (a thread of this process still inside a native call on the memory, see
     * {@link SharedMemory#close()}): a later close tries it again. A concurrent close waits for this one.
     */
    @Override
    public synchronized void close() throws IOException {
        Closer closer = new Closer();
        if (shut()) {
            // The arena stays open until the last sleeper has left, so waking again is safe; a sleeper that
            // entered just before the gate shut may have gone to sleep after the first wake-up. Should waking
            // fail, each sleeper still leaves by itself at the end of its slice.
            boolean waking = true;
            while (gate.get() != CLOSED) {
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
        closer.run(memory::close);   // does nothing once it has unmapped
        closer.throwFailure();
    }

    /** Shuts the gate to new calls into the kernel: true if this call shut it, false if it was shut already. */
    private boolean shut() {
        int s;
        do {
            s = gate.get();
            if (s < 0) return false;
        } while (!gate.compareAndSet(s, s | CLOSED));
        return true;
    }
}
