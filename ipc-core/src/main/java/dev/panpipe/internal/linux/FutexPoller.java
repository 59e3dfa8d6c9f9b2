package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.futex_waitv;
import dev.panpipe.bindings.linux.linux_h;

import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Sleeps in {@code futex_waitv} on behalf of virtual threads waiting for futex words, as {@link VirtualThreadPoller}
 * sleeps in {@code epoll_wait} for those waiting for fds: a virtual thread must not sleep in {@code futex_wait}
 * itself, since the native call pins it to its carrier, and with as many carriers as CPUs the waiters can keep out
 * the very virtual thread that would wake them. Epoll cannot watch a futex word; {@code futex_waitv} (Linux 5.16)
 * waits on up to {@code FUTEX_WAITV_MAX} (128) at once, and a {@code FUTEX_WAKE} of any of them, from any
 * process, ends it.
 *
 * <p>One daemon platform thread waits on a vector: entry 0 is a control word of its own, the others one per
 * {@link #await waiting} virtual thread (the word's address, the value it expects, {@code FUTEX_32} (newer headers: {@code FUTEX2_SIZE_U32})
 * and not the private flag: the words live in memory shared with other processes, whose wakes are not private ones;
 * the control word is not private either, since {@link Syscalls#futex_wake} is not, and the kernel keys the two
 * kinds apart). A waiter puts itself in a table and bumps and wakes the control word, so the poller builds its
 * vector again (a bump that comes before the poller enters the call makes the call return at once, as the control
 * word no longer holds what the vector expects); then it parks. The poller unparks:
 * <ul>
 *   <li>every waiter on the word of the entry {@code futex_waitv} reports woken: a wake of many waiters takes all
 *       the poller's entries on that word off the kernel's queues and the call reports one of them, so the others
 *       are unparked too (a wake of one then unparks all of this process's virtual waiters on the word, a herd
 *       that only costs them a look);</li>
 *   <li>on EAGAIN (some word no longer held its value, the kernel does not say which), and whenever it builds the
 *       vector, each waiter whose word no longer holds the value it expects.</li>
 * </ul>
 * The poller marks the waiter's registration fired before it unparks it, so a waiter knows it was woken (rather
 * than unparked by its deadline or an interrupt) without a look of its own.
 *
 * <p><b>A wake of one.</b> The poller counts as one more waiter of each word to a {@code futex_wake}: a wake of
 * count 1 (a ring's doorbell, a lock's unlock) with a platform thread and a virtual one asleep on the word may go
 * to the poller, which unparks the virtual one, and that one re-checks its condition as a woken platform thread
 * would: nothing is lost. It would be lost if the virtual waiter had stopped waiting just then (its deadline, an
 * interrupt), since the kernel's vector is the poller's last snapshot: so a waiter that leaves unfired bumps the
 * control word to have the vector built again without it, and a wake the poller takes for a waiter that is leaving
 * but still in the table is passed on with a {@code futex_wake} of one. What is left is the instant between a
 * waiter's leaving the table and the vector's being rebuilt: a wake of one taken then is lost, and the sleeper it
 * was for sees its condition when its slice of sleep ends, which every waiter of panpipe's shared objects bounds
 * for this reason among others (a woken process killed before it acted).
 *
 * <p><b>Memory.</b> The poller reads a waiter's word (to find which one changed) only while holding the table's
 * lock and only while the waiter is in the table, through the waiter's own segment: a region that is closed under
 * a waiter makes that read throw (the segment's arena is closed before the memory is unmapped), never read freed
 * memory, and the waiter is then unparked to see its close. The kernel, given an address that is no longer mapped,
 * answers EFAULT, and the poller builds its vector again from the waiters still there.
 *
 * <p><b>Fallback.</b> {@link #shared()} answers null where {@code futex_waitv} is refused (ENOSYS before 5.16, EPERM
 * or ENOSYS under a seccomp filter) or the poller has failed, and {@link #await} answers {@link #NOT_WATCHED} when
 * the table is full: the caller then waits as it did before there was a poller. If {@code futex_waitv} fails
 * otherwise, the poller is {@link #failed()}: every waiter is unparked to see that, the failure goes to the thread's
 * uncaught-exception handler, and later waits do without it.
 *
 * <p><b>Allocation.</b> A waiter's state is made once per thread (a thread local) and reused; the table, the vector
 * and the poller's snapshot are made once. A wait allocates nothing of its own; the poller's {@code futex_waitv}
 * captures errno in a per-thread segment, which the JDK slices per call unless C2 removes it (40 bytes an event,
 * on the poller's thread, never a waiter's).
 */
public final class FutexPoller {
    /** {@link #await} outcome: the table is full, or the poller failed: the caller waits some other way. */
    public static final int NOT_WATCHED = -1;

    private static final int ENTRIES = linux_h.FUTEX_WAITV_MAX();
    private static final long ENTRY_BYTES = futex_waitv.sizeof();
    private static final long VAL = futex_waitv.val$offset();
    private static final long UADDR = futex_waitv.uaddr$offset();
    private static final long FLAGS = futex_waitv.flags$offset();
    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();
    private static final VarHandle REGISTRATION;
    static {
        try {
            REGISTRATION = MethodHandles.lookup().findVarHandle(Waiter.class, "registration", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
    /** The low bit of a registration: it waits, neither fired nor gone. */
    private static final long WAITING = 1;
    private static final String NAME = "panpipe-futex-poller";
    private static final long FALLBACK_PARK_NANOS = 20_000L;
    private static final LongAdder FALLBACK_LOOKS = new LongAdder();

    private static final ThreadLocal<Waiter> WAITER = ThreadLocal.withInitial(Waiter::new);
    /** Guards the making of {@link #shared}: a lock a virtual thread parks on, where a monitor would pin it (JDK 22, 23). */
    private static final ReentrantLock SHARED_LOCK = new ReentrantLock();
    private static volatile FutexPoller shared;
    /** Set once {@code futex_waitv} has been refused: no poller is made again. */
    private static volatile boolean unavailable;
    /** How long after a poller could not be started (no thread, no memory) waits do without it before one is tried again. */
    private static final long RETRY_NANOS = 1_000_000_000L;
    /** {@link System#nanoTime} before which no poller is tried again, once one could not be started; 0: none failed. */
    private static volatile long retryAt;
    /** A test's way to make the next poller fail to start, as a thread limit would. */
    static volatile Error startFailureForTest;

    private final Arena arena;
    /** {@link #ENTRIES} {@code struct futex_waitv}; entry 0 watches {@link #control}. */
    private final MemorySegment vector;
    private final MemorySegment control;
    /** The waiters, at their {@link Waiter#slot}; guarded by {@code this}, as are {@link #registered} and {@link #numbers}. */
    private final Waiter[] table = new Waiter[ENTRIES - 1];
    private int registered;
    private long numbers;
    /** The poller thread's last vector, beyond entry 0: whose entry each was, and which registration of theirs. */
    private final Waiter[] snapshot = new Waiter[ENTRIES];
    private final long[] snapshotRegistration = new long[ENTRIES];
    private int snapshotControl;
    /** How many waiters the poller has fired; its thread's alone. */
    private long fires;
    private final Thread thread;
    private volatile boolean stopping;
    /** A test's way to make the next futex_waitv fail (count 0: EINVAL), as a broken kernel call would. */
    private volatile boolean failNext;
    private volatile Throwable failure;

    /**
     * One thread's side of its waits, one at a time: made once per thread and reused. Its fields but
     * {@link #registration} are written under the poller's lock, and read under it by the poller.
     */
    static final class Waiter {
        private Thread thread;
        private MemorySegment word;
        private long address;
        private int expected;
        private int slot;
        /** The registration's number, shifted left once, with {@link #WAITING} while it waits. */
        private volatile long registration;
    }

    private FutexPoller() throws SyscallException {
        arena = Arena.ofShared();
        try {
            vector = futex_waitv.allocateArray(ENTRIES, arena);
            control = arena.allocate(ValueLayout.JAVA_INT);
            // Whether the kernel (and any seccomp filter) allows the call at all: a control entry that does not
            // hold its value makes it return at once (EAGAIN) where it is allowed.
            entry(0, 1, control.address());
            if (Syscalls.futex_waitv(vector, 1) != Syscalls.FUTEX_WAITV_LOOK) {
                throw new IllegalStateException("futex_waitv slept on a word that did not hold its value");
            }
            thread = Thread.ofPlatform().name(NAME).daemon(true).unstarted(this::run);
            Error e = startFailureForTest;
            if (e != null) throw e;
            thread.start();
        } catch (SyscallException | RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /**
     * The process's poller, made on first use; null where {@code futex_waitv} is refused, the poller has failed, or
     * it could not be started less than a second ago: waits then do without it.
     */
    public static FutexPoller shared() {
        FutexPoller p = shared;
        if (p == null) {
            if (unavailable || retryAt != 0 && System.nanoTime() - retryAt < 0) return null;
            SHARED_LOCK.lock();
            try {
                p = shared;
                if (p == null) {
                    if (unavailable || retryAt != 0 && System.nanoTime() - retryAt < 0) return null;
                    try {
                        shared = p = new FutexPoller();
                    } catch (SyscallException e) {
                        unavailable = true;    // ENOSYS, EPERM: the kernel or a filter refuses it; it will not change
                        return null;
                    } catch (RuntimeException | Error e) {
                        // No thread to be had (the process's limit), no memory: the caller's wait is no place for
                        // that, and it may pass. Waits look and park meanwhile, and only one a second pays for a try.
                        if (retryAt == 0) {
                            System.getLogger(FutexPoller.class.getName()).log(System.Logger.Level.WARNING,
                                    NAME + " could not be started: virtual threads wait on shared memory by looking, "
                                    + "and a start is tried again each second", e);
                        }
                        retryAt = System.nanoTime() + RETRY_NANOS;
                        return null;
                    }
                    retryAt = 0;
                }
            } finally {
                SHARED_LOCK.unlock();
            }
        }
        return p.failed() ? null : p;
    }

    /** A poller of its own, not the shared one, that {@link #close} stops; for tests. */
    static FutexPoller startForTest() throws SyscallException {
        return new FutexPoller();
    }

    /** Makes {@link #shared} answer {@code poller} instead (null: make a new one on next use); returns the one it had. */
    static FutexPoller replaceSharedForTest(FutexPoller poller) {
        SHARED_LOCK.lock();
        try {
            FutexPoller old = shared;
            shared = poller;
            retryAt = 0;
            return old;
        } finally {
            SHARED_LOCK.unlock();
        }
    }

    /** Makes the poller's next {@code futex_waitv} fail (EINVAL): a real failure, for tests of what waiters do then. */
    void failNextWaitForTest() {
        failNext = true;
        kick();
    }

    /** How many virtual threads are registered now; for tests. */
    synchronized int registeredForTest() {
        return registered;
    }

    /**
     * Parks the calling thread (meant for a virtual one) while the 32-bit {@code word}, in memory that may be shared
     * with other processes, holds {@code expected}: until a {@code FUTEX_WAKE} of the word or a change of its value
     * is seen, {@code nanos} pass (negative: no limit), or the thread is interrupted (its status is left set). The
     * registration is gone when this returns. The caller keeps {@code word}'s memory mapped meanwhile (a gate it
     * holds), or else expects the waiter to be unparked by its close.
     *
     * @return {@link Syscalls#FUTEX_WOKEN} (any outcome but the deadline: re-check), {@link Syscalls#FUTEX_TIMED_OUT},
     * or {@link #NOT_WATCHED} if the poller cannot take the wait (its table is full, it has failed, or {@code word}
     * is not a native segment of at least 4 bytes at a 4-byte aligned address, which {@code futex_waitv} refuses)
     */
    public int await(MemorySegment word, int expected, long nanos) {
        if (nanos == 0) return Syscalls.FUTEX_TIMED_OUT;
        Waiter w = WAITER.get();
        if (!register(w, word, expected)) return NOT_WATCHED;
        boolean timedOut = false;
        boolean fired;
        try {
            long deadline = nanos < 0 ? 0 : System.nanoTime() + nanos;
            Thread self = Thread.currentThread();
            // Parks until fired: other unparks (spurious ones, an unpark meant for an earlier wait) park again.
            while ((w.registration & WAITING) != 0 && !failed() && !self.isInterrupted()) {
                if (nanos < 0) {
                    LockSupport.park(this);
                } else {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        timedOut = true;
                        break;
                    }
                    LockSupport.parkNanos(this, left);
                }
            }
        } finally {
            fired = deregister(w);
        }
        return fired || !timedOut ? Syscalls.FUTEX_WOKEN : Syscalls.FUTEX_TIMED_OUT;
    }

    /**
     * How a virtual thread waits when the poller cannot take its wait ({@link #shared()} null, or
     * {@link #NOT_WATCHED}): it looks at the int at {@code offset} of {@code memory} and, if that still holds
     * {@code expected}, parks 20 µs the first {@code round} (0), doubling each round to about 1.3 ms, without a
     * native call that would pin it. Returns {@link Syscalls#FUTEX_VALUE_CHANGED} or {@link Syscalls#FUTEX_WOKEN}.
     */
    public static int parkAndLook(MemorySegment memory, long offset, int expected, long nanos, int round) {
        FALLBACK_LOOKS.increment();
        if ((int) INT.getVolatile(memory, offset) != expected) return Syscalls.FUTEX_VALUE_CHANGED;
        LockSupport.parkNanos(Math.min(Math.max(0, nanos), FALLBACK_PARK_NANOS << Math.min(round, 6)));
        return Syscalls.FUTEX_WOKEN;
    }

    /** How many looks {@link #parkAndLook} has made in this JVM: a test's sign that waits poll instead of sleeping. */
    public static long fallbackLooks() {
        return FALLBACK_LOOKS.sum();
    }

    private boolean register(Waiter w, MemorySegment word, int expected) {
        // One entry the kernel refuses fails the call for every waiter of the JVM: a word not 4-byte aligned is
        // EINVAL, and a heap segment's address is an offset, no address at all. Such a word waits elsewhere.
        if (!word.isNative() || word.byteSize() < Integer.BYTES || (word.address() & (Integer.BYTES - 1)) != 0) {
            return false;
        }
        synchronized (this) {
            // Under the lock the failure sweep takes too: either this sees the failure, or the sweep sees the waiter.
            if (failed() || stopping || registered == table.length) return false;
            int slot = 0;
            while (table[slot] != null) slot++;
            table[slot] = w;
            registered++;
            w.thread = Thread.currentThread();
            w.word = word;
            w.address = word.address();
            w.expected = expected;
            w.slot = slot;
            w.registration = ++numbers << 1 | WAITING;
        }
        try {
            kick();
        } catch (Throwable t) {
            // The caller's wait never starts, so nothing else would take the registration (and its thread) out.
            REGISTRATION.setVolatile(w, w.registration & ~WAITING);
            remove(w);
            throw t;
        }
        return true;
    }

    /** Takes {@code w} out of the table: true if the poller fired it first. */
    private boolean deregister(Waiter w) {
        long r = w.registration;
        boolean left = (r & WAITING) != 0 && REGISTRATION.compareAndSet(w, r, r & ~WAITING);
        remove(w);
        // Its entry is still in the kernel's vector, where it could take a wake of one meant for another sleeper
        // of the word: have the vector built again without it.
        if (left) kick();
        return !left;
    }

    private synchronized void remove(Waiter w) {
        table[w.slot] = null;
        registered--;
        w.word = null;             // nothing of the caller's memory kept reachable from here
        w.thread = null;
    }

    /** Bumps the control word and wakes the poller: its vector is to be built again. */
    private void kick() {
        INT.getAndAdd(control, 0L, 1);
        try {
            Syscalls.futex_wake(control, 1);
        } catch (SyscallException e) {
            throw new UncheckedIOException(e);   // a word of this process's own: not seen to fail
        }
    }

    /** True once {@code futex_waitv} has failed: no wait will be reported. */
    boolean failed() {
        return failure != null;
    }

    /** Stops a poller from {@link #startForTest} (never the shared one) once nobody waits, and frees its memory. */
    void close() {
        stopping = true;
        kick();
        Uninterruptibly.join(thread);
        arena.close();
    }

    private void run() {
        try {
            while (!stopping) {
                int n = buildVector();
                int woken;
                try {
                    woken = Syscalls.futex_waitv(vector, failNext ? 0 : n);
                } catch (SyscallException e) {
                    // A word unmapped after the vector was built (its region closed under its waiter): the next
                    // vector leaves it out, since its segment can no longer be read. Otherwise it is a failure.
                    if (e.errno() != Errno.EFAULT || !rebuildLeavesSomethingOut()) throw e;
                    continue;
                }
                if (woken > 0) woken(woken);
            }
        } catch (Throwable t) {
            // Not silent and nobody stranded: the flag is set before the sweep, and a waiter registers under the
            // lock the sweep takes, so each waiter is either unparked here or refused before it parks.
            failure = t;
            synchronized (this) {
                for (Waiter w : table) if (w != null) LockSupport.unpark(w.thread);
            }
            thread.getUncaughtExceptionHandler().uncaughtException(thread, t);
        }
    }

    /**
     * Writes the vector: the control word expecting what it holds now, and each waiter that still waits and whose
     * word still holds what it expects; a waiter whose word has changed (or can no longer be read) is fired instead.
     * Returns the number of entries.
     */
    private synchronized int buildVector() {
        snapshotControl = (int) INT.getVolatile(control, 0L);
        entry(0, snapshotControl, control.address());
        int n = 1;
        for (int s = 0, seen = 0; seen < registered; s++) {
            Waiter w = table[s];
            if (w == null) continue;
            seen++;
            long r = w.registration;
            if ((r & WAITING) == 0) continue;        // fired, or leaving
            int v;
            try {
                v = (int) INT.getVolatile(w.word, 0L);
            } catch (RuntimeException | InternalError gone) {
                // Its memory was closed under it (IllegalStateException), or is a file a peer truncated: the read
                // faulted (SIGBUS, which the JVM throws as InternalError). Either is the waiter's to see, not the
                // poller's: the waiter is unparked and finds it when it reads its memory, and the others go on.
                fire(w, r);
                continue;
            }
            if (v != w.expected) {
                fire(w, r);
                continue;
            }
            entry(n, w.expected, w.address);
            snapshot[n] = w;
            snapshotRegistration[n] = r;
            n++;
        }
        for (int i = n; i < ENTRIES && snapshot[i] != null; i++) snapshot[i] = null;
        return n;
    }

    /** After EFAULT: whether building the vector again drops a waiter or sees a new registration. */
    private boolean rebuildLeavesSomethingOut() {
        long before = fires;
        int c = snapshotControl;
        buildVector();
        return fires != before || snapshotControl != c;
    }

    /**
     * Entry {@code i} was woken: fires every waiter still waiting on its word; if none is, and the entry's waiter is
     * leaving but still in the table (so its memory is still mapped), passes the wake on to another sleeper.
     */
    private synchronized void woken(int i) {
        long address = vector.get(ValueLayout.JAVA_LONG, i * ENTRY_BYTES + UADDR);
        boolean taken = false;
        for (int s = 0, seen = 0; seen < registered; s++) {
            Waiter w = table[s];
            if (w == null) continue;
            seen++;
            if (w.address == address) taken |= fire(w, w.registration);
        }
        Waiter was = snapshot[i];
        if (!taken && was != null && table[was.slot] == was && was.address == address
                && was.registration == (snapshotRegistration[i] & ~WAITING)) {
            try {
                Syscalls.futex_wake(was.word, 1);
            } catch (SyscallException | RuntimeException e) {
                // its memory gone after all: nobody of this mapping to pass the wake to
            }
        }
    }

    /** Marks registration {@code r} of {@code w} fired and unparks it, unless it has left or been fired already. */
    private boolean fire(Waiter w, long r) {
        if ((r & WAITING) == 0 || !REGISTRATION.compareAndSet(w, r, r & ~WAITING)) return false;
        fires++;
        LockSupport.unpark(w.thread);
        return true;
    }

    private void entry(int i, int expected, long address) {
        long at = i * ENTRY_BYTES;
        vector.set(ValueLayout.JAVA_LONG, at + VAL, Integer.toUnsignedLong(expected));
        vector.set(ValueLayout.JAVA_LONG, at + UADDR, address);
        vector.set(ValueLayout.JAVA_INT, at + FLAGS, linux_h.FUTEX_32());
    }
}
