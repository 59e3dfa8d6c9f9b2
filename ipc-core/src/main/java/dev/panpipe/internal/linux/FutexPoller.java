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
import java.util.concurrent.atomic.AtomicInteger;
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
 * control word to have the vector built again without it, and a wake the poller takes on an entry whose waiter
 * has left since the vector was built (in the table or not) is passed on with a {@code futex_wake} of one. As the
 * kernel names one woken entry of several, the poller also passes one on for each other entry whose waiter has
 * left (spurious if that entry was not woken, which a futex sleeper tolerates). What is left: an entry woken, not
 * the one named, whose waiter still waits and whose word holds the same value keeps its waiter asleep, and the
 * sleeper elsewhere that wake was owed to wakes when its slice of sleep ends, which every waiter of panpipe's
 * shared objects bounds for this reason among others (a woken process killed before it acted). panpipe's
 * protocols change a word before they wake it, and the poller fires the waiter of a changed word when it builds
 * its next vector: the waiters of this process lose no wake, only another's sleeper may lose one, for a slice.
 *
 * <p><b>Memory.</b> The poller reads a waiter's word (to find which one changed) only through the waiter's own
 * segment: a region that is closed under a waiter makes that read throw (the segment's arena is closed before the
 * memory is unmapped), never read freed memory, and the waiter is then unparked to see its close. A read of a file
 * a peer has truncated faults (SIGBUS, which the JVM throws as InternalError, at the read or at the thread's next
 * safepoint poll or native call): the poller finds whose word it was by asking the kernel (EFAULT, no signal),
 * refuses that waiter ({@link #NOT_WATCHED}: it meets the fault in its own read), and goes on. The kernel, given
 * an address that is no longer mapped, answers EFAULT, and the poller builds its vector again from the waiters
 * still there; a word it cannot key though the JVM can read it is refused the same way. A wake passed on goes by
 * address, which touches no memory of this process. Words are read with no lock held, so that a fault thrown late
 * cannot be thrown inside the lock's code, and the poller makes a native call before it unparks anyone.
 *
 * <p><b>Locking.</b> One {@link ReentrantLock} guards the table: a virtual thread that meets the poller there parks,
 * where on a monitor it would pin its carrier (JDK 22, 23). The poller holds it for no system call and no read of
 * a waiter's memory, only to copy the table and to fire the waiters of a woken word.
 *
 * <p><b>Fallback.</b> {@link #shared()} answers null where {@code futex_waitv} is refused (ENOSYS before 5.16, EPERM
 * or ENOSYS under a seccomp filter: for the rest of the JVM), or no poller is running: one could not be started
 * (no thread, no memory, the probe's call failed otherwise) or the last one failed, and a new one is tried at most
 * once a second; and {@link #await} answers {@link #NOT_WATCHED} when the table is full or for a word
 * {@code futex_waitv} would refuse for every waiter (not 4-byte aligned, not native memory): the caller then waits
 * as it did before there was a poller. ENOMEM from {@code futex_waitv} (it found no memory for its vector or to key
 * a word, with no entry queued: none yet, or all taken out again with no wake among them) is not a failure: the
 * poller pauses, 20 µs doubling to about 1.3 ms while it lasts, builds its vector again (firing the waiters whose
 * words changed) and calls again.
 * If {@code futex_waitv} fails otherwise, the poller is {@link #failed()}: every waiter is unparked to see that, the
 * failure goes to the thread's uncaught-exception handler (the failure of a shared poller's replacement, likely the
 * same again, to the log at DEBUG level: one report, not one a second), and {@link #shared()} replaces it a second
 * after its start at the earliest, once its thread has ended and its last waiter has left, when its memory is freed.
 *
 * <p><b>Allocation.</b> A waiter's state is made once per thread (a thread local) and reused; the table, the vector
 * and the poller's snapshot are made once. A wait allocates nothing of its own; the poller's {@code futex_waitv}
 * captures errno in a per-thread segment, which the JDK slices per call unless C2 removes it (40 bytes an event,
 * on the poller's thread, never a waiter's), and a wake it passes on makes a segment of the address.
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
    /** The next bit: the poller fired it because the kernel cannot reach its word (EFAULT): not watched after all. */
    private static final long REFUSED = 2;
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
    /** How soon {@link #shared} looks again whether a failed poller's thread has ended and its waiters have left. */
    private static final long RELEASE_CHECK_NANOS = 10_000_000L;
    /** Set once a shared poller's failure has gone to its thread's uncaught-exception handler. */
    private static volatile boolean sharedFailureReported;
    /** Set once a start that could not be made has been logged: one warning, not one a second. */
    private static volatile boolean startFailureLogged;
    /** A test's way to make the next poller fail to start, as a thread limit would. */
    static volatile Error startFailureForTest;
    /** A test's way to make the next poller's probe fail as the kernel would (ENOMEM, EPERM). */
    static volatile SyscallException probeFailureForTest;

    private final Arena arena;
    /** {@link #ENTRIES} {@code struct futex_waitv}; entry 0 watches {@link #control}. */
    private final MemorySegment vector;
    private final MemorySegment control;
    /**
     * Guards {@link #table}, {@link #registered}, {@link #numbers} and the waiters' fields. A lock a virtual thread
     * parks on, where a monitor would pin its carrier while it waits to enter (JDK 22, 23); never held across a
     * system call.
     */
    private final ReentrantLock lock = new ReentrantLock();
    /** The waiters, at their {@link Waiter#slot}. */
    private final Waiter[] table = new Waiter[ENTRIES - 1];
    private int registered;
    private long numbers;
    /*
     * The poller thread's own (no lock): the waiters that waited when it last built its vector, copied from the
     * table with what it needs of them, so that it reads their words and fires them with the lock let go; and,
     * for each entry of the vector beyond 0, which of them it is. A word's segment is kept past its waiter's
     * leaving, until the next build, for its liveness alone.
     */
    private final Waiter[] candidate = new Waiter[ENTRIES];
    private final long[] candidateRegistration = new long[ENTRIES];
    private final MemorySegment[] candidateWord = new MemorySegment[ENTRIES];
    private final long[] candidateAddress = new long[ENTRIES];
    private final int[] candidateExpected = new int[ENTRIES];
    private final Thread[] candidateThread = new Thread[ENTRIES];
    /** What the candidate's word was seen to be: {@link #MATCH}, {@link #CHANGED}, {@link #GONE} (closed) or {@link #FAULTED}. */
    private final byte[] candidateSeen = new byte[ENTRIES];
    private static final byte MATCH = 0, CHANGED = 1, GONE = 2, FAULTED = 3;
    private int candidates;
    private final int[] entryCandidate = new int[ENTRIES];
    private int snapshotControl;
    /** The words whose wake the poller passes on, after the lock is let go. */
    private final long[] passOn = new long[ENTRIES];
    /** Two entries to ask the kernel whether it can reach a word (see {@link #faulted}), and a word nobody changes. */
    private final MemorySegment probe;
    private final MemorySegment never;
    /** How many waiters the poller has fired; its thread's alone. */
    private long fires;
    private final Thread thread;
    private volatile boolean stopping;
    /** A test's way to make the next futex_waitv fail (count 0: EINVAL), as a broken kernel call would. */
    private volatile boolean failNext;
    /** A test's way to have the next so many futex_waitv calls answer ENOMEM, as the kernel does short of memory. */
    private final AtomicInteger noMemoryForTest = new AtomicInteger();
    /** {@link System#nanoTime} when it was made: a failed shared poller is replaced a second after that at the earliest. */
    private final long startedAt = System.nanoTime();
    /** Set once a lasting ENOMEM has been logged: once a poller, not at every pause. */
    private volatile boolean shortageLogged;
    private volatile Throwable failure;
    private volatile Runnable afterLeaving;
    private volatile int tid;
    /** The number of entries of the last vector; volatile for {@link #vectorHoldsForTest}. */
    private volatile int entries;

    /**
     * One thread's side of its waits, one at a time: made once per thread and reused. Its fields but
     * {@link #registration} are written under the poller's {@link #lock}, and read under it by the poller.
     */
    static final class Waiter {
        private Thread thread;
        private MemorySegment word;
        private long address;
        private int expected;
        private int slot;
        /** The registration's number, shifted left twice, with {@link #WAITING} while it waits, {@link #REFUSED} once refused. */
        private volatile long registration;
    }

    private FutexPoller() throws SyscallException {
        arena = Arena.ofShared();
        try {
            vector = futex_waitv.allocateArray(ENTRIES, arena);
            control = arena.allocate(ValueLayout.JAVA_INT);
            probe = futex_waitv.allocateArray(2, arena);
            never = arena.allocate(ValueLayout.JAVA_INT);
            // Whether the kernel (and any seccomp filter) allows the call at all: a control entry that does not
            // hold its value makes it return at once (EAGAIN) where it is allowed.
            entry(vector, 0, 1, control.address());
            SyscallException refused = probeFailureForTest;
            if (refused != null) throw refused;
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
     * The process's poller, made on first use; null where {@code futex_waitv} is refused, or where no poller runs and
     * none can be started now (the last one failed, or could not be started, less than a second ago): waits then do
     * without it.
     */
    public static FutexPoller shared() {
        FutexPoller p = shared;
        if (p != null && !p.failed()) return p;
        if (unavailable || retryAt != 0 && System.nanoTime() - retryAt < 0) return null;
        SHARED_LOCK.lock();
        try {
            p = shared;
            if (p != null && !p.failed()) return p;
            if (unavailable || retryAt != 0 && System.nanoTime() - retryAt < 0) return null;
            if (p != null) {
                // Failed. Not replaced within a second of its start: a kernel that fails every poller would otherwise
                // have every wait pay for a start. Its memory is freed first, once its thread has ended and its last
                // waiter has left (a leaving waiter kicks its control word), never while it may be touched.
                long now = System.nanoTime();
                if (now - p.startedAt < RETRY_NANOS) {
                    retryAt = p.startedAt + RETRY_NANOS;
                    return null;
                }
                if (!p.release()) {
                    retryAt = now + RELEASE_CHECK_NANOS;
                    return null;
                }
                shared = null;
            }
            try {
                shared = p = new FutexPoller();
            } catch (SyscallException e) {
                // ENOSYS, EPERM: the kernel or a seccomp filter refuses the call, which will not change. Anything else
                // (ENOMEM: no memory for the vector, or to key the word) may pass.
                if (e.errno() == Errno.ENOSYS || e.errno() == Errno.EPERM) {
                    unavailable = true;
                } else {
                    couldNotStart(e);
                }
                return null;
            } catch (RuntimeException | Error e) {
                // No thread to be had (the process's limit), no memory: the caller's wait is no place for that.
                couldNotStart(e);
                return null;
            }
            retryAt = 0;
            return p;
        } finally {
            SHARED_LOCK.unlock();
        }
    }

    /**
     * A poller could not be started, for a reason that may pass: waits look and park meanwhile, and only one a second
     * pays for a try. Logged once, not at each try. Under {@link #SHARED_LOCK}.
     */
    private static void couldNotStart(Throwable e) {
        if (!startFailureLogged) {
            startFailureLogged = true;
            System.getLogger(FutexPoller.class.getName()).log(System.Logger.Level.WARNING,
                    NAME + " could not be started: virtual threads wait on shared memory by looking, "
                    + "and a start is tried again each second", e);
        }
        retryAt = System.nanoTime() + RETRY_NANOS;
    }

    /**
     * Frees a failed poller's memory if its thread has ended and no waiter is left in its table: true if it did.
     * None can come back: a waiter registers under the lock, where it sees the failure first. Under
     * {@link #SHARED_LOCK}, until it answers true.
     */
    private boolean release() {
        if (thread.isAlive()) return false;
        lock.lock();
        try {
            if (registered != 0) return false;
        } finally {
            lock.unlock();
        }
        try {
            arena.close();
        } catch (IllegalStateException e) {
            return false;                    // still in use by a call this reasoning missed: freed on a later look
        }
        return true;
    }

    /** A poller of its own, not the shared one, that {@link #close} stops; for tests. */
    static FutexPoller startForTest() throws SyscallException {
        return new FutexPoller();
    }

    /**
     * Makes {@link #shared} answer {@code poller} instead (null: make a new one on next use), forgetting a refusal,
     * a failed start and a failure reported, as a new JVM would; returns the one it had.
     */
    static FutexPoller replaceSharedForTest(FutexPoller poller) {
        SHARED_LOCK.lock();
        try {
            FutexPoller old = shared;
            shared = poller;
            retryAt = 0;
            unavailable = false;
            sharedFailureReported = false;
            startFailureLogged = false;
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

    /** Makes the poller's next {@code times} {@code futex_waitv} calls answer ENOMEM, as the kernel does short of memory; for tests. */
    void failWithoutMemoryForTest(int times) {
        noMemoryForTest.set(times);
        kick();
    }

    /** How many of the ENOMEM answers {@link #failWithoutMemoryForTest} asked for are still to come; for tests. */
    int noMemoryLeftForTest() {
        return noMemoryForTest.get();
    }

    /** Whether a lasting ENOMEM has been logged; for tests. */
    boolean shortageLoggedForTest() {
        return shortageLogged;
    }

    /** The poller's thread; for tests, to see it end. */
    Thread threadForTest() {
        return thread;
    }

    /** Whether the poller's memory has been freed; for tests. */
    boolean releasedForTest() {
        return !arena.scope().isAlive();
    }

    /** How many virtual threads are registered now; for tests. */
    int registeredForTest() {
        lock.lock();
        try {
            return registered;
        } finally {
            lock.unlock();
        }
    }

    /** Runs {@code hook} in each waiter that leaves unfired, once it no longer waits and before it kicks; for tests. */
    void afterLeavingForTest(Runnable hook) {
        afterLeaving = hook;
    }

    /** The poller thread's kernel id (0 until it runs); for tests, to see it asleep in /proc. */
    int tidForTest() {
        return tid;
    }

    /** Whether the poller's last vector has an entry for {@code word}; for tests. */
    boolean vectorHoldsForTest(MemorySegment word) {
        int n = entries;
        for (int i = 1; i < n; i++) {
            if (vector.get(ValueLayout.JAVA_LONG, i * ENTRY_BYTES + UADDR) == word.address()) return true;
        }
        return false;
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
        if (fired && (w.registration & REFUSED) != 0) return NOT_WATCHED;
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
        lock.lock();
        try {
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
            w.registration = ++numbers << 2 | WAITING;
        } finally {
            lock.unlock();
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
        try {
            // Its entry is still in the kernel's vector, where it takes a wake of one meant for another sleeper of the
            // word (the poller passes that on, see woken): have the vector built again without it (a registration no
            // longer waiting is left out, in the table or not).
            if (left) {
                Runnable hook = afterLeaving;
                if (hook != null) hook.run();
                kick();
            }
        } finally {
            // Out of the table last: a failed poller's memory, which the kick touches, is freed once none is left
            // there (see release).
            remove(w);
        }
        return !left;
    }

    private void remove(Waiter w) {
        lock.lock();
        try {
            table[w.slot] = null;
            registered--;
            w.word = null;             // nothing of the caller's memory kept reachable from the table
            w.thread = null;
        } finally {
            lock.unlock();
        }
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
        tid = Syscalls.gettid();
        int pauses = 0;
        long shortSince = 0;
        try {
            while (!stopping) {
                try {
                    int n;
                    int woken;
                    try {
                        n = buildVector();
                        try {
                            woken = waitv(n);
                        } catch (SyscallException e) {
                            // A word unmapped after the vector was built (its region closed under its waiter): the
                            // next vector leaves it out, since its segment can no longer be read. A word the JVM can
                            // read but the kernel cannot key (a mapping of device memory, say) is found and refused.
                            // Otherwise it is a failure.
                            if (e.errno() != Errno.EFAULT || !rebuildLeavesSomethingOut() && !refuseFaulting()) throw e;
                            continue;
                        }
                    } catch (InternalError fault) {
                        faulted(fault);
                        continue;
                    }
                    pauses = 0;
                    if (woken > 0) woken(woken, n);
                } catch (SyscallException e) {
                    // ENOMEM (futex_waitv's or a probe's): the kernel found no memory for the vector or to key a
                    // word, and answered with no entry queued (none yet, or all taken out again with no wake among
                    // them), so it took no wake to pass on. Every waiter failed for a moment's shortage would be
                    // worse than a pause: the waiters whose words change meanwhile are fired by the next vector, as
                    // waits that look would see them, and only a wake that changes nothing is missed, as it is by a
                    // wait that looks.
                    if (e.errno() != Errno.ENOMEM) throw e;
                    if (pauses == 0) shortSince = System.nanoTime();
                    else if (!shortageLogged && System.nanoTime() - shortSince > RETRY_NANOS) {
                        // Not a moment's shortage: say so once, since waits now take up to the pause to be seen.
                        shortageLogged = true;
                        System.getLogger(FutexPoller.class.getName()).log(System.Logger.Level.WARNING,
                                NAME + ": futex_waitv has answered ENOMEM for a second; virtual threads' waits on "
                                + "shared memory are seen up to ~1.3 ms late while it lasts", e);
                    }
                    LockSupport.parkNanos(FALLBACK_PARK_NANOS << Math.min(pauses++, 6));
                }
            }
        } catch (Throwable t) {
            // Not silent and nobody stranded: the flag is set before the sweep, and a waiter registers under the
            // lock the sweep takes, so each waiter is either unparked here or refused before it parks.
            failure = t;
            lock.lock();
            try {
                for (Waiter w : table) if (w != null) LockSupport.unpark(w.thread);
            } finally {
                lock.unlock();
            }
            // A failure after a long healthy run is news, and reported again
            if (this == shared && sharedFailureReported && System.nanoTime() - startedAt < 10 * RETRY_NANOS) {
                // A replacement failing as the one before it did, once a second: the first report said it.
                System.getLogger(FutexPoller.class.getName()).log(System.Logger.Level.DEBUG,
                        NAME + " failed again; a new one is tried at most once a second", t);
            } else {
                if (this == shared) sharedFailureReported = true;
                thread.getUncaughtExceptionHandler().uncaughtException(thread, t);
            }
        }
    }

    /** {@code futex_waitv} on the vector's first {@code n} entries, or what a test asked it to answer instead. */
    private int waitv(int n) throws SyscallException {
        if (noMemoryForTest.get() > 0 && noMemoryForTest.getAndUpdate(left -> left > 0 ? left - 1 : 0) > 0) {
            throw SyscallException.of("futex_waitv", Errno.ENOMEM);
        }
        return Syscalls.futex_waitv(vector, failNext ? 0 : n);
    }

    /**
     * Writes the vector: the control word expecting what it holds now, and each waiter that still waits and whose
     * word still holds what it expects; a waiter whose word has changed (or can no longer be read) is fired instead.
     * Returns the number of entries. The words are read with the lock let go: a read may fault (below), and the
     * JVM may throw that fault at any later point of this thread's code.
     */
    private int buildVector() {
        lock.lock();
        try {
            snapshotControl = (int) INT.getVolatile(control, 0L);
            int k = 0;
            for (int s = 0, seen = 0; seen < registered; s++) {
                Waiter w = table[s];
                if (w == null) continue;
                seen++;
                long r = w.registration;
                if ((r & WAITING) == 0) continue;        // fired, or leaving
                candidate[k] = w;
                candidateRegistration[k] = r;
                candidateWord[k] = w.word;
                candidateAddress[k] = w.address;
                candidateExpected[k] = w.expected;
                candidateThread[k] = w.thread;
                k++;
            }
            for (int j = k; j < candidates; j++) {
                candidate[j] = null;
                candidateWord[j] = null;
                candidateThread[j] = null;
            }
            candidates = k;
        } finally {
            lock.unlock();
        }
        for (int k = 0; k < candidates; k++) {
            try {
                candidateSeen[k] = (int) INT.getVolatile(candidateWord[k], 0L) == candidateExpected[k] ? MATCH : CHANGED;
            } catch (RuntimeException closed) {
                // Its memory was closed under it (IllegalStateException; the poller touches no word whose arena is
                // closed): the waiter is fired to see that.
                candidateSeen[k] = GONE;
            } catch (InternalError fault) {
                // A file a peer truncated: the read faulted (SIGBUS, thrown as InternalError here, or later: see
                // faulted). The waiter's to meet, not the poller's: it is refused and meets the fault when it
                // reads its memory, and the others go on.
                candidateSeen[k] = FAULTED;
            }
        }
        // A native call: where this thread takes a fault of the reads above that the JVM has not thrown yet, before
        // it unparks anyone (an error thrown inside an unpark could strand the thread unparked).
        if (candidates > 0) Syscalls.gettid();
        entry(vector, 0, snapshotControl, control.address());
        int n = 1;
        for (int k = 0; k < candidates; k++) {
            if (candidateSeen[k] != MATCH) {
                fire(candidate[k], candidateRegistration[k], candidateThread[k], candidateSeen[k] == FAULTED ? REFUSED : 0);
                continue;
            }
            entry(vector, n, candidateExpected[k], candidateAddress[k]);
            entryCandidate[n] = k;
            n++;
        }
        entries = n;
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
     * A read of a waiter's word faulted and the JVM threw it late, out of the read's own catch: a SIGBUS is taken
     * as a pending error that the thread throws at its next safepoint poll or native call. Which word it was, the
     * kernel answers without a signal: {@code futex_waitv} on it fails EFAULT. Each candidate's word is asked,
     * in a vector whose other entry never holds what it expects, so the call returns at once, and the waiters of
     * those that fault are fired. A fault nobody's word explains is a failure of the poller.
     */
    private void faulted(InternalError fault) throws SyscallException {
        if (!refuseFaulting()) throw fault;
    }

    /**
     * Asks the kernel of each candidate's word whether it can reach it, and fires those it answers EFAULT for,
     * refused ({@link #await} answers {@link #NOT_WATCHED}: the caller looks instead, and meets the fault itself if
     * its memory is gone). True if it found one.
     */
    private boolean refuseFaulting() throws SyscallException {
        entry(probe, 1, 1, never.address());
        boolean found = false;
        for (int k = 0; k < candidates; k++) {
            entry(probe, 0, candidateExpected[k], candidateAddress[k]);   // first: reached even if its value matches
            int r;
            try {
                r = Syscalls.futex_waitv(probe, 2);
            } catch (SyscallException e) {
                if (e.errno() != Errno.EFAULT) throw e;
                fire(candidate[k], candidateRegistration[k], candidateThread[k], REFUSED);
                found = true;
                continue;
            }
            // The word held its value and a wake reached the entry before the other was looked at: not the probe's.
            if (r == 0) wakeOne(candidateAddress[k]);
        }
        return found;
    }

    /**
     * Entry {@code i} of the {@code n} was woken: fires every waiter still waiting on its word, and passes on the
     * wakes that were for someone else. The kernel names one woken entry (the last), but a wake of a word
     * takes whichever of the poller's entries it reaches first as one of its count, and an entry whose waiter has
     * left (a deadline, an interrupt) since the vector was built may have taken a wake that another sleeper of
     * the word (a platform thread, another process) was owed. So the wake of entry {@code i} is passed on with a
     * {@code futex_wake} of one if nobody here took it, and so is one for each other entry whose waiter has left
     * while the poller slept (it may not have been woken: then the wake is a spurious one, which a futex
     * sleeper tolerates; a waiter leaves unfired rarely, and kicks the poller, which then returns entry 0).
     * What is left: an entry woken while its waiter still waits, not the one named, whose word holds the same
     * value, keeps its waiter asleep, and a sleeper elsewhere the wake was owed to wakes at the end of its
     * slice; panpipe's protocols change a word before they wake it, and the next vector fires the waiter of a
     * changed word.
     */
    private void woken(int i, int n) {
        int passes = 0;
        long address = vector.get(ValueLayout.JAVA_LONG, i * ENTRY_BYTES + UADDR);
        lock.lock();
        try {
            boolean taken = false;
            for (int s = 0, seen = 0; seen < registered; s++) {
                Waiter w = table[s];
                if (w == null) continue;
                seen++;
                if (w.address == address) taken |= fire(w, w.registration, w.thread);
            }
            if (!taken && candidateWord[entryCandidate[i]].scope().isAlive()) passOn[passes++] = address;
        } finally {
            lock.unlock();
        }
        for (int j = 1; j < n; j++) {
            int k = entryCandidate[j];
            // Still waiting with the registration the entry was made for: the next vector looks at its word.
            if (j == i || candidate[k].registration == candidateRegistration[k]) continue;
            long a = candidateAddress[k];
            if (a != address && !passing(a, passes) && candidateWord[k].scope().isAlive()) passOn[passes++] = a;
        }
        for (int k = 0; k < passes; k++) wakeOne(passOn[k]);
    }

    private boolean passing(long address, int passes) {
        for (int k = 0; k < passes; k++) if (passOn[k] == address) return true;
        return false;
    }

    /**
     * Passes a wake on by address, never through the segment: a wake touches no memory of this process (if the
     * word's memory has been unmapped since its arena was seen alive, the kernel answers EFAULT, or wakes a
     * sleeper of what is mapped there now, spuriously), while a call given the segment would hold its arena
     * open meanwhile and make a close of its region fail.
     */
    private static void wakeOne(long address) {
        try {
            Syscalls.futex_wake(MemorySegment.ofAddress(address), 1);
        } catch (SyscallException e) {
            // EFAULT: unmapped after all, nobody of that mapping left to wake
        }
    }

    /** Marks registration {@code r} of {@code w} (of thread {@code t}) fired and unparks it, unless it has left or been fired already. */
    private boolean fire(Waiter w, long r, Thread t) {
        return fire(w, r, t, 0);
    }

    /** {@link #fire(Waiter, long, Thread)}, leaving {@code mark} ({@link #REFUSED}) in the registration. */
    private boolean fire(Waiter w, long r, Thread t, long mark) {
        if ((r & WAITING) == 0 || !REGISTRATION.compareAndSet(w, r, r & ~WAITING | mark)) return false;
        fires++;
        LockSupport.unpark(t);
        return true;
    }

    private static void entry(MemorySegment vector, int i, int expected, long address) {
        long at = i * ENTRY_BYTES;
        vector.set(ValueLayout.JAVA_LONG, at + VAL, Integer.toUnsignedLong(expected));
        vector.set(ValueLayout.JAVA_LONG, at + UADDR, address);
        vector.set(ValueLayout.JAVA_INT, at + FLAGS, linux_h.FUTEX_32());
    }
}
