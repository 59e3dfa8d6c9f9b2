package dev.panpipe.zerocopy.ring;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.internal.Closer;
import dev.panpipe.internal.linux.FutexPoller;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import static dev.panpipe.zerocopy.ring.FrameRing.INT;
import static dev.panpipe.zerocopy.ring.FrameRing.LONG;
import static dev.panpipe.zerocopy.ring.FrameRingDescriptor.*;

/**
 * What the producer and the consumer share: attaching to the header, waiting for the peer's counter to move
 * (spin, yield, futex doorbell), waking a sleeping peer, noticing a peer that closed or died, and closing.
 * Not thread-safe: one thread at a time uses an end.
 */
abstract sealed class RingEnd implements AutoCloseable permits FrameProducer, FrameConsumer {
    private static final int SELF = (int) ProcessHandle.current().pid();
    private static final VarHandle CLOSED;
    static {
        try {
            CLOSED = MethodHandles.lookup().findVarHandle(RingEnd.class, "closed", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
    /** Spins between two looks at the peer's state (a volatile read) while spinning for good. */
    private static final int SPINS_PER_STATE_CHECK = 1 << 12;
    /** Yields between two such looks (and at the deadline): a yield takes about as long as 64 spins, or much longer. */
    private static final int YIELDS_PER_STATE_CHECK = 1 << 6;
    /** How long a closing end keeps waking a peer that still says it waits (one that is stopped, say). */
    private static final long CLOSE_WAKE_NANOS = 50_000_000L;

    final FrameRing ring;
    final MemorySegment header;
    final int slotMask;
    private final WaitStrategy strategy;
    private final boolean producer;
    private final String role;
    private final String peerRole;
    private final long ownPidOffset;
    private final long ownStateOffset;
    private final long peerPidOffset;
    private final long peerStateOffset;
    /** The peer's position counter: what this end waits on. */
    private final long peerPositionOffset;
    /** The futex word under the peer's position (its low 32 bits), slept on by this end. */
    private final MemorySegment peerPositionWord;
    private final long ownWaitingOffset;
    /** This end's position counter and its futex word, which a sleeping peer waits on. */
    private final long ownPositionOffset;
    private final MemorySegment ownPositionWord;
    private final long peerWaitingOffset;
    /** Where this end and the peer note the CPU they run on, plus one (0: unknown). */
    private final long ownCpuOffset;
    private final long peerCpuOffset;
    /** The value this end last stored at ownCpuOffset: stored again only when it changes. */
    private int ownCpuWord;
    private final PeerWatch peerWatch = new PeerWatch();
    private volatile int expectedPeerPid;
    /** Volatile: another thread may close this end to free the thread blocked in it (see {@link #close}). */
    volatile boolean closed;

    RingEnd(FrameRing ring, WaitStrategy strategy, boolean producer) throws IOException {
        this.ring = ring;
        this.header = ring.segment();
        this.slotMask = ring.slotCount() - 1;
        this.strategy = strategy;
        this.producer = producer;
        this.role = producer ? "producer" : "consumer";
        this.peerRole = producer ? "consumer" : "producer";
        this.ownPidOffset = producer ? PRODUCER_PID_OFFSET : CONSUMER_PID_OFFSET;
        this.ownStateOffset = producer ? PRODUCER_STATE_OFFSET : CONSUMER_STATE_OFFSET;
        this.peerPidOffset = producer ? CONSUMER_PID_OFFSET : PRODUCER_PID_OFFSET;
        this.peerStateOffset = producer ? CONSUMER_STATE_OFFSET : PRODUCER_STATE_OFFSET;
        this.ownPositionOffset = producer ? PRODUCER_POSITION_OFFSET : CONSUMER_POSITION_OFFSET;
        this.peerPositionOffset = producer ? CONSUMER_POSITION_OFFSET : PRODUCER_POSITION_OFFSET;
        this.ownWaitingOffset = producer ? PRODUCER_WAITING_OFFSET : CONSUMER_WAITING_OFFSET;
        this.peerWaitingOffset = producer ? CONSUMER_WAITING_OFFSET : PRODUCER_WAITING_OFFSET;
        this.ownCpuOffset = producer ? PRODUCER_CPU_OFFSET : CONSUMER_CPU_OFFSET;
        this.peerCpuOffset = producer ? CONSUMER_CPU_OFFSET : PRODUCER_CPU_OFFSET;
        this.peerPositionWord = header.asSlice(peerPositionOffset, Integer.BYTES);
        this.ownPositionWord = header.asSlice(ownPositionOffset, Integer.BYTES);
        attach();
    }

    private void attach() throws IOException {
        int state = (int) INT.getAcquire(header, ownStateOffset);
        int pid = (int) INT.getAcquire(header, ownPidOffset);
        try {
            if (state == STATE_CLOSED) {
                throw new IllegalStateException("the ring's " + role + " (pid " + pid + ") already closed it: a ring carries one stream");
            }
            // A live pid with the state still NONE is an end half-way through attaching (its pid is stored first).
            if ((state == STATE_ATTACHED || pid != 0) && (pid == SELF || !peerWatch.isDead(pid))) {
                throw new IllegalStateException("the ring already has a live " + role + ": pid " + pid);
            }
            // Two ends attaching at once both pass the check above: the one whose pid replaces the one both
            // read takes the role.
            if (!INT.compareAndSet(header, ownPidOffset, pid, SELF)) {
                throw new IllegalStateException("the ring already has a live " + role + ": pid "
                        + (int) INT.getVolatile(header, ownPidOffset) + " attached at the same time");
            }
        } catch (IOException | RuntimeException e) {
            try {
                peerWatch.close();
            } catch (IOException | RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        // A predecessor that died asleep left its waiting word set: this end sleeps nowhere yet.
        INT.setVolatile(header, ownWaitingOffset, 0);
        noteCpu();
        INT.setVolatile(header, ownStateOffset, STATE_ATTACHED);
    }

    /**
     * Stores the CPU this end runs on (plus one) if it changed, and returns it. A plain store: the word is a
     * hint, read by the peer to decide whether spinning can help, and a stale value costs a little latency.
     */
    private int noteCpu() {
        int word = Syscalls.sched_getcpu() + 1;   // -1 (unknown) becomes 0, the "unknown" of the layout
        if (word != ownCpuWord) {
            ownCpuWord = word;
            INT.set(header, ownCpuOffset, word);
        }
        return word;
    }

    /**
     * How long to spin before yielding: the strategy's spins, unless this end and the peer last ran on the same
     * CPU, where the peer cannot make progress while this end spins (only a sleep or a yield lets it run).
     * A strategy that never sleeps spins as told.
     */
    private long spinsBeforeYield() {
        long spins = strategy.spins();
        if (spins == 0 || !strategy.sleep()) return spins;
        int own = noteCpu();
        return own != 0 && own == (int) INT.get(header, peerCpuOffset) ? 0 : spins;
    }

    /** This end's position as stored in the header (where it resumes after a dead predecessor). */
    final long storedOwnPosition() {
        return (long) LONG.getAcquire(header, ownPositionOffset);
    }

    final long peerPosition() {
        return (long) LONG.getAcquire(header, peerPositionOffset);
    }

    /** Publishes this end's new position and rings the doorbell if the peer sleeps on it. */
    final void publish(long position) throws IOException {
        LONG.setRelease(header, ownPositionOffset, position);
        VarHandle.fullFence();   // order the store above before the read of the peer's waiting word (Dekker)
        if ((int) INT.getVolatile(header, peerWaitingOffset) != 0) {
            Syscalls.futex_wake(ownPositionWord, 1);
        }
    }

    final boolean peerClosed() {
        return (int) INT.getAcquire(header, peerStateOffset) == STATE_CLOSED;
    }

    /** A consumer's peer position one below the position it awaits past: trailing, not yet moved. */
    private boolean isTrailing(long v, long observed) {
        return !producer && observed > 0 && v == observed - 1;
    }

    /**
     * Waits until the peer's position differs from {@code observed} (for a consumer, from {@code observed - 1}
     * as well in the sleeping phase, see {@link #isTrailing}), or the deadline
     * ({@link System#nanoTime()} based; {@code Long.MAX_VALUE} for none) passes.
     *
     * @return the peer's new position, or {@code observed} if the deadline passed
     * @throws FrameRingClosedException if the peer closed without moving (or this end was closed)
     * @throws PeerDiedException        if the peer process died without moving
     * @throws InterruptedIOException   if the thread is interrupted while it waits (its interrupt status stays
     *                                  set): a virtual thread at once, a platform thread, asleep in
     *                                  {@code futex_wait}, which a Java interrupt does not wake, at its next
     *                                  liveness check ({@link WaitStrategy#livenessCheckNanos()}, 20 ms by default)
     */
    final long awaitPeer(long observed, long deadline) throws IOException {
        long spins = spinsBeforeYield();
        for (long i = 0; i < spins; i++) {
            long v = spinProbe(observed);
            if (v != observed) return v;
            Thread.onSpinWait();
            if ((i & (SPINS_PER_STATE_CHECK - 1)) == SPINS_PER_STATE_CHECK - 1) {
                checkPeer(observed);
                if (deadline != Long.MAX_VALUE && System.nanoTime() - deadline >= 0) return observed;
            }
        }
        for (int i = 0; i < strategy.yields(); i++) {
            Thread.yield();
            long v = spinProbe(observed);
            if (v != observed) return v;
            if ((i & (YIELDS_PER_STATE_CHECK - 1)) == YIELDS_PER_STATE_CHECK - 1) {   // as in the spins above
                checkPeer(observed);
                if (deadline != Long.MAX_VALUE && System.nanoTime() - deadline >= 0) return observed;
            }
        }
        if (!strategy.sleep()) {
            for (;;) {   // spinning for good: the strategy's spin count was reached only if it is finite
                for (int i = 0; i < SPINS_PER_STATE_CHECK; i++) {
                    long v = spinProbe(observed);
                    if (v != observed) return v;
                    Thread.onSpinWait();
                }
                checkPeer(observed);
                if (deadline != Long.MAX_VALUE && System.nanoTime() - deadline >= 0) return observed;
            }
        }
        // The pidfd is polled before the first sleep and then once a liveness check (after a sleep that timed
        // out, or a run of shorter ones), not before every sleep: a sleep-wake then costs the futex pair alone,
        // like an eventfd pair.
        long nextLook = System.nanoTime();
        for (int round = 0; ; round++) {
            checkClosed(observed);
            checkInterrupt();
            long now = System.nanoTime();
            if (now - nextLook >= 0) {
                checkAlive(observed);
                nextLook = now + strategy.livenessCheckNanos();
            }
            long left = deadline == Long.MAX_VALUE ? Long.MAX_VALUE : deadline - now;
            if (left <= 0) return observed;
            INT.setVolatile(header, ownWaitingOffset, 1);
            long v = (long) LONG.getVolatile(header, peerPositionOffset);
            // One below observed, for a consumer: the producer's position trailing the frames taken (see
            // FrameConsumer.next). Its next store wakes this end like any other, so sleep on it too: returning
            // would have the caller poll it on a core for as long as that producer stays stopped.
            if ((v == observed || isTrailing(v, observed)) && !peerClosed()) {
                sleep((int) v, Math.min(left, nextLook - now), round);
                v = (long) LONG.getVolatile(header, peerPositionOffset);
            }
            INT.setVolatile(header, ownWaitingOffset, 0);
            if (v != observed && !isTrailing(v, observed)) return v;   // moved, or out of range: the caller checks
        }
    }

    /**
     * Sleeps while the peer's position word holds {@code expected}, at most {@code nanos}. A platform thread sleeps
     * in {@code futex_wait}; a virtual thread must not (the native call pins its carrier: with one carrier, or as
     * many waiting ends as carriers, the peer's own virtual thread could not run to wake it until the sleep timed
     * out), so it parks and the {@link FutexPoller} unparks it when the word is woken or changes, or, where the
     * poller cannot take the wait, it parks briefly and looks again. The ring's memory may be unmapped under a
     * virtual sleeper by a close: the poller then sees the word's segment closed and unparks it.
     */
    private void sleep(int expected, long nanos, int round) throws SyscallException {
        if (!Thread.currentThread().isVirtual()) {
            Syscalls.futex_wait(peerPositionWord, expected, nanos);
            return;
        }
        FutexPoller poller = FutexPoller.shared();
        if (poller != null && poller.await(peerPositionWord, expected, nanos) != FutexPoller.NOT_WATCHED) return;
        FutexPoller.parkAndLook(header, peerPositionOffset, expected, nanos, round);
    }

    /**
     * What the spinning and yielding phases of {@link #awaitPeer} look at: the peer's position, or a value
     * that implies it has moved past {@code observed}, read from a cache line the wait needs anyway. Returns
     * {@code observed} while nothing moved. The sleeping phase always reads the position itself.
     */
    long spinProbe(long observed) {
        return (long) LONG.getAcquire(header, peerPositionOffset);
    }

    /**
     * Throws if this thread has been interrupted: a wait that went on would ignore the interrupt, and a virtual
     * waiter, which the futex poller unparks at an interrupt, would park and be unparked again without end.
     */
    private void checkInterrupt() throws InterruptedIOException {
        if (Thread.currentThread().isInterrupted()) {
            throw new InterruptedIOException("interrupted while the " + role + " waited for the ring's " + peerRole);
        }
    }

    /**
     * Throws if this end closed, the peer closed or died while the peer's position is still {@code observed}, or
     * this thread was interrupted.
     */
    private void checkPeer(long observed) throws IOException {
        checkInterrupt();
        checkClosed(observed);
        checkAlive(observed);
    }

    /**
     * Throws if this end closed, or the peer closed without moving past {@code observed}: volatile reads only.
     * (A consumer may await a position one past the one the producer published, see FrameConsumer.next.)
     */
    private void checkClosed(long observed) throws IOException {
        if (closed) throw new FrameRingClosedException("this " + role + " end is closed");
        if (peerClosed() && (long) LONG.getAcquire(header, peerPositionOffset) <= observed) throw peerClosedException();
    }

    /** Throws if the peer process died without moving past {@code observed}: one poll of its pidfd. */
    private void checkAlive(long observed) throws IOException {
        int pid = (int) INT.getAcquire(header, peerPidOffset);
        if (pid == 0) pid = expectedPeerPid;   // not attached yet: watch the process that is meant to
        if (peerWatch.isDead(pid) && (long) LONG.getAcquire(header, peerPositionOffset) <= observed) {
            throw new PeerDiedException(peerRole, pid, "the ring's " + peerRole + " (pid " + pid + ") died"
                    + deathContext());
        }
    }

    /**
     * Names the process meant to attach as the peer, so that a peer that dies before it attaches (a worker
     * JVM that fails to start) is noticed too. Once the peer attaches, the pid in the header is watched.
     */
    public void watchPeer(long pid) {
        if (pid <= 0 || pid > Integer.MAX_VALUE) throw new IllegalArgumentException("not a pid: " + pid);
        expectedPeerPid = (int) pid;
    }

    abstract FrameRingClosedException peerClosedException();

    /** Extra words for a peer-died message (how many frames were in flight). */
    abstract String deathContext();

    final void checkOpen() throws FrameRingClosedException {
        if (closed) throw new FrameRingClosedException("this " + role + " end is closed");
    }

    /**
     * What a call of this end throws when the ring's memory failed under it: if another thread closed this end
     * meanwhile (and so unmapped the ring), the close, typed; otherwise {@code e} itself.
     */
    final FrameRingClosedException closedUnder(IllegalStateException e) {
        if (!closed) throw e;
        return new FrameRingClosedException("this " + role + " end is closed", e);
    }

    /**
     * Marks this end closed in the header and wakes a peer sleeping on it, and this end's own thread if it
     * sleeps in this end (closed by another thread, as a socket is closed to free a blocked read: that
     * call then throws {@link FrameRingClosedException}); then closes the pidfd it watched the peer
     * through, even if the first part failed (the ring's memory unmapped under it): the first failure is
     * thrown, the other suppressed. Idempotent, and one close of several concurrent ones does the work.
     */
    @Override
    public void close() throws IOException {
        if (!CLOSED.compareAndSet(this, false, true)) return;
        Closer closer = new Closer();
        closer.run(this::markClosedAndWake);
        closer.run(peerWatch::close);
        closer.throwFailure();
    }

    private void markClosedAndWake() throws IOException {
        INT.setRelease(header, ownStateOffset, STATE_CLOSED);
        VarHandle.fullFence();
        // Closing does not change the futex words, so a sleeper that looked just before the close and then
        // went to sleep would miss a single wake-up until its next liveness check. Keep waking while one
        // says it waits: a woken sleeper clears its waiting word and sees the close. The peer sleeps on
        // this end's position; this end's own thread on the peer's (nobody else does).
        long deadline = System.nanoTime() + CLOSE_WAKE_NANOS;
        do {
            Syscalls.futex_wake(ownPositionWord, Integer.MAX_VALUE);
            Syscalls.futex_wake(peerPositionWord, Integer.MAX_VALUE);
            if ((int) INT.getVolatile(header, peerWaitingOffset) == 0 && (int) INT.getVolatile(header, ownWaitingOffset) == 0) break;
            Thread.yield();
        } while (System.nanoTime() - deadline < 0);
    }
}
