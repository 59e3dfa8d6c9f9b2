package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.internal.CloseGate;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.epoll_event;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.pollfd;
import dev.panpipe.bindings.linux.stat;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.nio.channels.AsynchronousCloseException;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/**
 * The one owner of a file descriptor.
 *
 * <h2>State</h2>
 * A {@link CloseGate}: {@link #acquire()} refuses a closed handle; {@link #close()} shuts the gate, and
 * the fd is released by whoever leaves it empty. So the number is never closed while a thread is inside
 * a syscall with it, and can never be reused under that thread's feet.
 *
 * <h2>Blocking that close can interrupt</h2>
 * Linux does not wake a thread blocked in {@code read(2)} when another thread closes the fd. An
 * exclusively owned handle therefore runs its fd in {@code O_NONBLOCK} mode and emulates blocking:
 * try the call, and on EAGAIN {@code poll} the fd together with an eventfd that {@link #close()} rings.
 * The eventfd is made the first time a thread has to wait, so handles that never block cost one fd.
 * A virtual thread does not sleep in {@code poll}, which would pin it to its carrier: the process's
 * {@link VirtualThreadPoller} watches the fd for it while it parks, and {@link #close()} unparks it
 * (see {@link #awaitVirtual}); it needs no eventfd unless it has to wait without the poller. The fd stays in the
 * poller's epoll set from one wait to the next (one {@code epoll_ctl} a wait, to re-arm it), and leaves it as the
 * fd is released, before the number is closed ({@link Release}).
 * A handle that wraps an fd shared with other processes (an inherited stdin, say) is left in the
 * mode it has, because O_NONBLOCK belongs to the open file description all of them share. A pipe or
 * FIFO handed to a child gets the child a description of its own ({@link #openDescriptionForChild}), so
 * the handle stays exclusive. Any other end lent to a child ({@link #prepareForChild}) still polls before
 * it blocks, so close interrupts its waits too; an inherited one blocks in the kernel, as any program's
 * blocking stdin does (a worker's stdin is read on every message, and nobody closes it under the reader).
 */
public final class FdHandle implements AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();
    private static final short POLLIN = (short) linux_h.POLLIN();
    private static final short POLLOUT = (short) linux_h.POLLOUT();
    /** A virtual thread's first park between looks at the fd when it waits without the poller; see {@link #pollParking}. */
    private static final long VIRTUAL_PARK_NANOS = 20_000L;
    /**
     * How many times a virtual thread has looked at an fd it waits for (a {@code poll} that does not wait): what a
     * wait costs besides its park, and what tells a test that a long wait sleeps instead of looking again and again.
     * A LongAdder: many virtual threads on many carriers count at once, and are not to contend on one cache line.
     */
    private static final LongAdder VIRTUAL_LOOKS = new LongAdder();
    /** What {@link #parkUntilReady} found. */
    private static final int READY = 1;
    private static final int NOT_READY = 0;
    private static final int POLLER_FAILED = -1;

    /** Two pollfds per thread: the fd and the wake-up eventfd. Allocated once per thread that waits. */
    private static final ThreadLocal<PollSet> POLL_SET = ThreadLocal.withInitial(PollSet::new);

    /**
     * The pollfd array and a slice per entry, and the epoll_event a virtual thread registers with, made once:
     * slicing or allocating in {@link #await} would allocate on every wait wherever the JIT has not (yet) removed
     * it (interpreted and C1-compiled code).
     */
    private static final class PollSet {
        final Arena arena = Arena.ofAuto();
        final MemorySegment set = pollfd.allocateArray(2, arena);
        final MemorySegment first = pollfd.asSlice(set, 0);
        final MemorySegment second = pollfd.asSlice(set, 1);
        final MemorySegment event = epoll_event.allocate(arena);
        /** Made here, on the thread that waits: a virtual thread's one per thread, like the rest. */
        final VirtualThreadPoller.Waiter waiter = new VirtualThreadPoller.Waiter();
    }

    private final int fd;
    private final String description;
    /** False once the description may be shared with another process: its mode is then left alone. */
    private volatile boolean exclusive;
    private final CloseGate gate = new CloseGate();
    private final Release release;
    private final Cleaner.Cleanable cleanable;
    private volatile int wakeFd = -1;
    private volatile boolean nonBlockingSet;
    /** Handed to a child by {@link #prepareForChild}: shared, but waits for it must still answer close. */
    private volatile boolean lent;

    private FdHandle(int fd, String description, boolean exclusive) {
        this.fd = fd;
        this.description = description;
        this.exclusive = exclusive;
        this.release = new Release(fd);
        // Safety net only: an owner that forgets close() still gives the number back when collected.
        this.cleanable = CLEANER.register(this, release);
    }

    /** Takes ownership of {@code fd}, which panpipe opened and no other process shares the description of. */
    public static FdHandle own(int fd, String description) {
        return new FdHandle(fd, description, true);
    }

    /** Takes ownership of {@code fd} whose open file description others may share: its blocking mode is left alone. */
    public static FdHandle ownShared(int fd, String description) {
        return new FdHandle(fd, description, false);
    }

    /** What this fd is, for messages: "pipe read end", "fifo /tmp/x.in". */
    public String description() {
        return description;
    }

    /** The fd number, for diagnostics and for handing to a child; -1 once closed. */
    public int fdOrMinusOne() {
        return gate.isClosed() ? -1 : fd;
    }

    public boolean isOpen() {
        return !gate.isClosed();
    }

    /**
     * Marks a call in flight and returns the fd. Each acquire is paired with {@link #release()} in a finally.
     *
     * @throws IllegalStateException if the handle is closed
     */
    public int acquire() {
        if (!gate.enter()) throw new IllegalStateException(description + " is closed");
        return fd;
    }

    /**
     * Like {@link #acquire()}, but -1 instead of an exception when the handle is closed: for callers that have
     * another way to do their work once the fd is gone, and would otherwise race a concurrent {@link #close()}
     * between an {@link #isOpen()} check and the acquire. A non-negative result is paired with
     * {@link #release()} in a finally.
     */
    public int tryAcquire() {
        return gate.enter() ? fd : -1;
    }

    public void release() {
        if (gate.exit()) closeNow();
    }

    /** True once {@link #close()} has been called, even while calls are still in flight. */
    public boolean closeRequested() {
        return gate.isClosed();
    }

    /**
     * Puts the fd in O_NONBLOCK mode if this handle owns its description exclusively; a no-op after the
     * first time. Returns whether the fd is now non-blocking (false for a shared description).
     */
    public boolean ensureNonBlocking() throws SyscallException {
        if (nonBlockingSet) return true;
        if (!exclusive) return false;
        int flags = Syscalls.fcntl(fd, linux_h.F_GETFL(), 0);
        if ((flags & linux_h.O_NONBLOCK()) == 0) Syscalls.fcntl(fd, linux_h.F_SETFL(), flags | linux_h.O_NONBLOCK());
        nonBlockingSet = true;
        return true;
    }

    /**
     * Opens a second open file description of this pipe or FIFO for a child, through {@code /proc/self/fd/N}:
     * the child's is in blocking mode, as programs expect, while this handle's stays its own (O_NONBLOCK once
     * used), so its waits stay in poll, where {@link #close()} reaches them, and no read or write of its can sleep
     * in the kernel because the child took the bytes or the room a poll had just seen. The new description has
     * this one's access mode and status flags (O_DIRECT: a packet pipe stays one) but O_NONBLOCK, and is
     * close-on-exec; the caller hands it to the child and closes it after the spawn. Both count as readers (or
     * writers) of the pipe until closed, as a dup would.
     *
     * <p>Returns -1 where a separate description cannot be had, and the caller shares this one instead
     * ({@link #prepareForChild}): not a pipe or FIFO (a socket's, a tty's or a file's description carries state a
     * new open would not share: a file's offset, a tty's controlling terminal), no {@code /proc}, a FIFO write end
     * whose readers are all gone (ENXIO), a pipe another user made (EACCES). Running out of fds or memory is
     * thrown, not hidden: sharing would only fail the spawn later, less clearly.
     */
    public int openDescriptionForChild() throws SyscallException {
        int f = acquire();
        try (Arena arena = Arena.ofConfined()) {
            if (!isPipeOrFifo(f)) return -1;
            int flags = Syscalls.fcntl(f, linux_h.F_GETFL(), 0);
            int accessMode = flags & (linux_h.O_WRONLY() | linux_h.O_RDWR());
            int reopened;
            try {
                // O_NONBLOCK for the open itself: a FIFO opened to read would otherwise wait for a writer.
                reopened = Syscalls.open(arena.allocateFrom("/proc/self/fd/" + f),
                        accessMode | linux_h.O_NONBLOCK() | linux_h.O_CLOEXEC() | linux_h.O_NOCTTY(), 0);
            } catch (SyscallException e) {
                int errno = e.errno();
                if (errno == Errno.EMFILE || errno == linux_h.ENFILE() || errno == Errno.ENOMEM) {
                    // named by what it reopens: "/proc/self/fd/6" alone tells the reader nothing
                    throw SyscallException.of("open", "/proc/self/fd/" + f + " (" + description + ", for a child)", errno);
                }
                return -1;
            }
            try {
                Syscalls.fcntl(reopened, linux_h.F_SETFL(), flags & ~linux_h.O_NONBLOCK());
            } catch (SyscallException e) {
                closeQuietly(reopened);
                throw e;
            }
            return reopened;
        } finally {
            release();
        }
    }

    /** Whether {@code fd} is a pipe or FIFO ({@code S_IFIFO}). */
    static boolean isPipeOrFifo(int fd) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = stat.allocate(arena);
            Syscalls.fstat(fd, st);
            return (stat.st_mode(st) & linux_h.S_IFMT()) == linux_h.S_IFIFO();
        }
    }

    /**
     * Puts the description back in blocking mode before the fd is handed to a child process: programs
     * expect a blocking stdin/stdout. After this the handle's own blocking calls are real blocking calls.
     *
     * <p>The handle counts as shared from then on: the child holds the same open file description, so
     * this handle must never switch it to O_NONBLOCK again under the child.
     */
    public void prepareForChild() throws SyscallException {
        int f = acquire();
        try {
            exclusive = false;
            lent = true;
            int flags = Syscalls.fcntl(f, linux_h.F_GETFL(), 0);
            if ((flags & linux_h.O_NONBLOCK()) != 0) Syscalls.fcntl(f, linux_h.F_SETFL(), flags & ~linux_h.O_NONBLOCK());
            nonBlockingSet = false;
        } finally {
            release();
        }
    }

    /** Whether this handle's fd was handed to a child ({@link #prepareForChild}). */
    public boolean lent() {
        return lent;
    }

    /** Waits until the fd is readable (or at end of stream), the timeout passes, or the handle is closed. */
    public boolean awaitReadable(int timeoutMillis) throws IOException {
        return await(POLLIN, timeoutMillis, false, true);
    }

    /**
     * {@link #awaitReadable} for a caller whose read has just answered EAGAIN: a virtual thread registers with the
     * poller without looking at the fd first, since a look would only find what the read found (and an fd that has
     * become ready since is reported by epoll as it is armed). That look was a system call in every wait of a reader
     * that drains its pipe. A timeout of 0 is still one look: it is all such a wait is.
     */
    boolean awaitReadableAfterEmptyRead(int timeoutMillis) throws IOException {
        return await(POLLIN, timeoutMillis, false, false);
    }

    /**
     * Like {@link #awaitReadable}, but a virtual thread's wait also ends, with false, once the thread is interrupted
     * (its interrupt status stays set): its park wakes at an interrupt, where a platform thread's poll does not, so a
     * caller that answers interrupts needs no short slices to notice one on a virtual thread. A platform thread waits
     * as in {@link #awaitReadable}.
     */
    public boolean awaitReadableUnlessInterrupted(int timeoutMillis) throws IOException {
        return await(POLLIN, timeoutMillis, true, true);
    }

    /** Waits until the fd is writable (or the reader is gone), the timeout passes, or the handle is closed. */
    public boolean awaitWritable(int timeoutMillis) throws IOException {
        return await(POLLOUT, timeoutMillis, false, true);
    }

    /**
     * {@link #awaitWritable} for a caller whose write has just found the fd full (EAGAIN, or a short write to a
     * pipe): no look first, as in {@link #awaitReadableAfterEmptyRead}.
     */
    boolean awaitWritableAfterFullWrite(int timeoutMillis) throws IOException {
        return await(POLLOUT, timeoutMillis, false, false);
    }

    /**
     * Waits until the fd reports an error or hang-up (for a pipe's write end: every reader has gone), the
     * timeout passes, or the handle is closed: a sleep that close cuts short, for waits the fd's readiness
     * cannot express.
     *
     * @return true on error or hang-up, false on timeout
     */
    public boolean awaitError(int timeoutMillis) throws IOException {
        return await((short) 0, timeoutMillis, false, true);   // poll reports POLLERR and POLLHUP even when not asked for
    }

    /**
     * Must be called between {@link #acquire()} and {@link #release()}. {@code lookFirst}: whether a virtual thread
     * looks at the fd before it registers with the poller; false only where the caller's call has just found it not
     * ready. A platform thread's poll looks as it waits.
     *
     * @return true when the fd is ready, false on timeout
     * @throws AsynchronousCloseException if another thread closed the handle meanwhile
     */
    private boolean await(short events, int timeoutMillis, boolean interruptible, boolean lookFirst) throws IOException {
        if (Thread.currentThread().isVirtual()) {
            boolean ready = awaitVirtual(events, timeoutMillis, interruptible, lookFirst);
            if (closeRequested()) throw new AsynchronousCloseException();
            return ready;
        }
        int wake = wakeFd();
        if (closeRequested()) throw new AsynchronousCloseException();
        PollSet poll = pollSet(events, wake);
        int n = Syscalls.poll(poll.set, 2, timeoutMillis);
        if (closeRequested()) throw new AsynchronousCloseException();
        return n > 0;
    }

    /** This thread's poll set, filled in for this fd and {@code events}, and the wake-up eventfd {@code wake}. */
    private PollSet pollSet(short events, int wake) {
        PollSet poll = POLL_SET.get();
        MemorySegment first = poll.first;
        pollfd.fd(first, fd);
        pollfd.events(first, events);
        pollfd.revents(first, (short) 0);
        MemorySegment second = poll.second;
        pollfd.fd(second, wake);
        pollfd.events(second, POLLIN);
        pollfd.revents(second, (short) 0);
        return poll;
    }

    /**
     * {@link #await} for a virtual thread, which must not sleep in {@code poll(2)}: a native call pins the thread to
     * its carrier, and with as many carriers as CPUs, that many virtual threads waiting for a quiet pipe or a child
     * stalled every other virtual thread. So it looks without waiting (unless {@code lookFirst} is false), and if the
     * fd is not ready, has the {@link VirtualThreadPoller} watch it and parks until the poller says the fd is ready,
     * or a close, the deadline or an interrupt comes. The fd stays in the poller's set when this returns (see
     * {@link #arm}), so the next wait costs one {@code epoll_ctl}, not two; {@link Release} takes it out.
     *
     * <p>{@link #close()} wakes such a waiter by unparking it, not through the eventfd a platform thread polls:
     * registering the eventfd as well would double the epoll_ctl calls of every wait and make an eventfd for every
     * handle a virtual thread ever waited on. The gate's closed bit is set before close unparks, and the waiter is in
     * the poller's map before it reads the bit, so either close finds it or it sees the bit before it parks.
     *
     * <p>An interrupt does not end the wait (a platform thread's poll ignores it too) nor is it lost: cleared so
     * that the park sleeps, and set again on return; unless {@code interruptible}, when the wait ends with the fd not
     * ready and the interrupt status left set. A wait the poller cannot take, because another thread waits for
     * this fd already or epoll refuses it, or because the poller has failed, goes on in {@link #pollParking}.
     */
    private boolean awaitVirtual(short events, int timeoutMillis, boolean interruptible, boolean lookFirst)
            throws IOException {
        if (closeRequested()) return false;
        PollSet poll = pollSet(events, -1);     // no eventfd: a look polls the first entry alone
        if (lookFirst || timeoutMillis == 0) {  // a wait of 0 is nothing but the look
            VIRTUAL_LOOKS.increment();
            if (Syscalls.poll(poll.set, 1, 0) > 0) return true;
            if (timeoutMillis == 0) return false;
        }
        long deadline = timeoutMillis < 0 ? Long.MAX_VALUE : System.nanoTime() + timeoutMillis * 1_000_000L;
        VirtualThreadPoller poller = VirtualThreadPoller.shared();
        if (poller != null && poller.claim(fd, poll.waiter)) {
            int outcome = POLLER_FAILED;    // and wait without it: epoll cannot watch this fd
            try {
                if (arm(poller, events, poll)) outcome = parkUntilReady(poller, deadline, interruptible, poll);
            } finally {
                poller.leave(fd, poll.waiter);
            }
            if (outcome != POLLER_FAILED) return outcome == READY;
        }
        int wake = wakeFd();
        if (closeRequested()) return false;
        return pollParking(pollSet(events, wake), deadline, interruptible) > 0;
    }

    /**
     * Has {@code poller} watch this fd for the calling thread, which has {@link VirtualThreadPoller#claim claimed}
     * it: re-armed with one {@code epoll_ctl} if an earlier wait left it in the set, added otherwise; {@link Release}
     * takes it out before the fd is closed. Read after the claim, {@link Release#poller} is what the last wait left
     * (its write came before its {@link VirtualThreadPoller#leave leave}), so two threads never both add the fd.
     *
     * @return false if epoll cannot watch the fd ({@link VirtualThreadPoller#unwatchable})
     */
    private boolean arm(VirtualThreadPoller poller, short events, PollSet poll) throws SyscallException {
        VirtualThreadPoller holder = release.poller;
        if (holder != null && holder != poller) {   // another poller has replaced it (tests): out of its set first
            release.poller = null;
            holder.forget(fd);
        }
        try {
            poller.arm(fd, events, holder == poller, poll.waiter, poll.event);
        } catch (SyscallException e) {
            if (VirtualThreadPoller.unwatchable(e)) return false;
            throw e;
        }
        release.poller = poller;
        return true;
    }

    /**
     * Parks until the registered fd is ready ({@link #READY}), the deadline or a close (or, if {@code interruptible},
     * an interrupt) comes, or the poller fails.
     *
     * <p>Ready is the poller's word ({@link VirtualThreadPoller.Waiter#fired()}), not a look: the look after every
     * wake-up was a system call in every wait, for what epoll had just said. Any other unpark leaves the one shot
     * unspent, so the registration is still armed and the thread just parks again. If the poller has reported the fd
     * but not yet marked the waiter, its unpark is still to come and the next park returns at once. The deadline and
     * an interrupt end the wait with one look, so that a wait that ends so still reports an fd that became ready as
     * it ended, as a poll would.
     */
    private int parkUntilReady(VirtualThreadPoller poller, long deadline, boolean interruptible, PollSet poll)
            throws SyscallException {
        VirtualThreadPoller.Waiter waiter = poll.waiter;
        boolean interrupted = false;
        try {
            for (;;) {
                if (closeRequested()) return NOT_READY;
                if (poller.failed()) return POLLER_FAILED;
                long left = deadline == Long.MAX_VALUE ? Long.MAX_VALUE : deadline - System.nanoTime();
                if (left <= 0 || interruptible && Thread.currentThread().isInterrupted()) {
                    VIRTUAL_LOOKS.increment();
                    return Syscalls.poll(poll.set, 1, 0) > 0 ? READY : NOT_READY;
                }
                if (Thread.interrupted()) interrupted = true;   // set, it would make every park return at once
                if (left == Long.MAX_VALUE) LockSupport.park(); else LockSupport.parkNanos(left);
                if (waiter.fired()) return READY;
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    /**
     * A virtual thread's wait without the poller: it looks without waiting and parks in between, 20 µs at first and
     * doubling to about 5 ms, so a wait that goes on costs ~200 looks a second, and what it waits for is seen within
     * 5 ms. {@code poll} holds the fd and the wake-up eventfd, which close rings. Interrupts as in {@link #awaitVirtual}.
     */
    private static int pollParking(PollSet poll, long deadline, boolean interruptible) throws SyscallException {
        boolean interrupted = false;
        try {
            for (int round = 0; ; round++) {
                VIRTUAL_LOOKS.increment();
                int n = Syscalls.poll(poll.set, 2, 0);
                if (n != 0) return n;
                long left = deadline == Long.MAX_VALUE ? Long.MAX_VALUE : deadline - System.nanoTime();
                if (left <= 0) return 0;
                if (interruptible && Thread.currentThread().isInterrupted()) return 0;
                if (Thread.interrupted()) interrupted = true;   // set, it would make every park return at once
                LockSupport.parkNanos(Math.min(left, VIRTUAL_PARK_NANOS << Math.min(round, 8)));
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    /** How many times virtual threads have looked at an fd they wait for, since the JVM started; for tests. */
    static long virtualLooks() {
        return VIRTUAL_LOOKS.sum();
    }

    private int wakeFd() throws SyscallException {
        int w = wakeFd;
        if (w >= 0) return w;
        synchronized (this) {
            if (wakeFd < 0) wakeFd = Syscalls.eventfd(0, linux_h.EFD_CLOEXEC() | linux_h.EFD_NONBLOCK());
            return wakeFd;
        }
    }

    /**
     * Closes the handle: idempotent. A thread blocked in {@link #awaitReadable}/{@link #awaitWritable}
     * wakes at once with {@link AsynchronousCloseException}, a virtual thread as a platform one; the fd itself
     * is released when the last call in flight returns.
     */
    @Override
    public void close() {
        switch (gate.close()) {
            case RELEASE_NOW -> closeNow();
            case IN_USE -> {
                VirtualThreadPoller.wakeWaiter(fd);     // first: cannot fail, while ringing can
                ringWake();
            }
            case ALREADY_CLOSED -> { }
        }
    }

    private void ringWake() {
        // The write happens under the lock closeNow() takes to close the eventfd: the last call in flight
        // may release (and close the eventfd) at any moment, and a write after that would hit EBADF or,
        // worse, an fd number another thread has just been given. The eventfd is non-blocking, so the
        // lock is held only for one short write.
        synchronized (this) {
            int w = wakeFd;
            if (w < 0) return;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment one = arena.allocate(8);
                one.set(linux_h.C_LONG, 0, 1L);
                Syscalls.write(w, one, 8);
            } catch (SyscallException e) {
                throw new IllegalStateException("waking the threads blocked on " + description, e);
            }
        }
    }

    private void closeNow() {
        cleanable.clean();
        int w;
        synchronized (this) {
            w = wakeFd;
            wakeFd = -1;
        }
        if (w >= 0) closeQuietly(w);
    }

    /** Closes an fd its caller owns; EBADF would be a panpipe bug, and there is nothing a caller could do about it. */
    static void closeQuietly(int fd) {
        try {
            Syscalls.close(fd);
        } catch (SyscallException ignored) {
            // see above
        }
    }

    @Override
    public String toString() {
        return description + " (fd " + fdOrMinusOne() + ")";
    }

    /**
     * This end of a pipe that panpipe enlarged for a child holds {@code pages} of the {@link PipeBudget}: they go
     * back when it is closed (or collected). Call once, before the handle is shared.
     */
    void holdPipeBudget(long pages) {
        release.pipeBudgetPages = pages;
    }

    /**
     * Closes the fd and gives back the pipe budget it holds: run once, by close or by the Cleaner. Refers to
     * no FdHandle, so that the Cleaner can collect one.
     *
     * <p>First it takes the fd out of the {@link VirtualThreadPoller}'s set, if a virtual thread's wait left it there:
     * epoll drops a registration by itself only when the open file description goes, and this one may live on in a
     * child it was lent to, or in a dup, after the number is closed here. There it would stay, out of reach of a DEL
     * by a number that then names another file, and an ADD of that description under the same number again would be
     * refused. Nobody waits by then: the gate is empty (or the handle unreachable), so no wait re-arms it meanwhile.
     */
    private static final class Release implements Runnable {
        private final int fd;
        volatile long pipeBudgetPages;
        /**
         * The poller whose set holds this fd, or null: set by a virtual thread's wait ({@link #arm}) inside the gate,
         * read by the next wait and, after the last, here.
         */
        volatile VirtualThreadPoller poller;

        Release(int fd) {
            this.fd = fd;
        }

        @Override
        public void run() {
            VirtualThreadPoller p = poller;
            if (p != null) {
                try {
                    p.forget(fd);
                } catch (SyscallException ignored) {
                    // ENOENT or EBADF would be a panpipe bug; the close below drops it anyway unless shared.
                }
            }
            closeQuietly(fd);
            PipeBudget.giveBack(pipeBudgetPages);
        }
    }
}
