package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.epoll_event;
import dev.panpipe.bindings.linux.linux_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/**
 * Wakes virtual threads waiting for an fd, as the JDK's {@code sun.nio.ch.Poller} does for its own channels:
 * one platform thread sleeps in {@code epoll_wait} on behalf of all of them and unparks the one registered for
 * each fd that becomes ready. A virtual thread must not sleep in {@code poll(2)} itself: the native call pins it
 * to its carrier.
 *
 * <p>A waiter {@link #claim claims} its fd, {@link #arm arms} it with {@code EPOLLONESHOT} and parks. The poller
 * marks it {@link Waiter#fired() fired} before it unparks it, so a waiter learns that its fd is ready without a look of
 * its own (a system call in every wait); any other unpark (an interrupt, a close, the deadline) leaves the one shot
 * unspent and armed. The epoll data is the fd and a number of its own for each wait, so an event reported for an
 * earlier wait on that fd number, dispatched after its waiter has gone, marks nobody.
 *
 * <p>Once fired, a one-shot registration stays in the set, disarmed: the kernel reports nothing more for it. So a
 * waiter {@link #leave leaves} without an {@code EPOLL_CTL_DEL}, and the next wait for that fd re-arms it with
 * {@code EPOLL_CTL_MOD} (which, like ADD, reports at once an fd that is ready already): one {@code epoll_ctl} per wait
 * instead of two, as the JDK's own poller does. A wait that ends otherwise (deadline, interrupt, close) leaves the
 * registration armed; if it fires later it fires for nobody, as above, and disarms itself. The registration belongs
 * to the fd's owner, which must {@link #forget} it before the fd is closed ({@link FdHandle} does, as it releases the
 * fd): epoll keys a registration by fd number and open file description, and drops it by itself only when the
 * description is released, not when the number is closed. A description still open elsewhere (lent to a child, or
 * dup'd) would keep it in the set, out of reach of a DEL by number once the number is another file's, and a later
 * open that brought the same description back under that number would find its ADD refused (EEXIST).
 *
 * <p>One waiter per fd: a second one is refused (the caller waits some other way), since an epoll set holds an fd
 * once and its one registration says whom it wakes. The waiters are found by fd in a table of slots that never move
 * (chunks of {@value #CHUNK} made on first use of a range of fds, under a lock), so a wait neither boxes its fd nor
 * allocates a map entry.
 *
 * <p>One process-wide instance ({@link #shared}), made the first time a virtual thread has to wait: one epoll fd
 * (close-on-exec) and one daemon thread for the life of the process. If {@code epoll_wait} ever fails, the
 * poller is {@link #failed()}: every waiter is unparked to see that, the failure goes to the thread's
 * uncaught-exception handler, and later waits do without it ({@link #shared} answers null).
 */
final class VirtualThreadPoller {
    private static final int MAX_EVENTS = 64;
    /** What the kernel reports whether asked or not; said explicitly, as a {@code poll} with no events gets them. */
    private static final int ALWAYS = linux_h.EPOLLERR() | linux_h.EPOLLHUP();
    private static final int ONESHOT = linux_h.EPOLLONESHOT();
    private static final String NAME = "panpipe-vt-poller";
    /** fds 0-1023, what most processes ever open, fit in the first chunk. */
    private static final int CHUNK_SHIFT = 10;
    private static final int CHUNK = 1 << CHUNK_SHIFT;
    private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(Waiter[].class);
    /**
     * How many {@code epoll_ctl} calls the pollers have made (ADD, MOD, DEL): what a wait costs in the set, and what
     * tells a test that a wait re-arms rather than adds and deletes. Process-wide, a LongAdder, as FdHandle's looks.
     */
    private static final LongAdder EPOLL_CTLS = new LongAdder();

    private static volatile VirtualThreadPoller shared;

    private final int epfd;
    /** What epoll_wait is asked for; a test sets 0 to make the next call fail (EINVAL), as a broken set would. */
    private volatile int maxEvents = MAX_EVENTS;
    private final Thread thread;
    /**
     * fd → the virtual thread waiting for it: slot {@code fd & (CHUNK - 1)} of chunk {@code fd >>> CHUNK_SHIFT}, null
     * where nobody waits. A chunk, once made, stays where it is (a larger table copies the references), so a
     * compare-and-set on a slot is never lost to a copy; see {@link #slots}.
     */
    private volatile Waiter[][] chunks = new Waiter[1][];
    /** Numbers the waits, for the high half of their epoll data; see {@link Waiter#id}. */
    private final AtomicInteger registrations = new AtomicInteger();
    private volatile Throwable failure;

    private VirtualThreadPoller() throws SyscallException {
        epfd = Syscalls.epoll_create1(linux_h.EPOLL_CLOEXEC());
        // The fd in the name: a thread dump shows which set it sleeps on, and leak checks know it is this one's.
        thread = Thread.ofPlatform().name(NAME + " (epoll fd " + epfd + ")").daemon(true).unstarted(this::run);
        try {
            thread.start();
        } catch (OutOfMemoryError e) {      // no native thread to be had: nobody else will close the set
            Syscalls.close(epfd);
            throw e;
        }
    }

    /** The process's poller, made on first use; null once it has failed (waits then do without one). */
    static VirtualThreadPoller shared() throws SyscallException {
        VirtualThreadPoller p = shared;
        if (p == null) {
            synchronized (VirtualThreadPoller.class) {
                p = shared;
                if (p == null) shared = p = new VirtualThreadPoller();
            }
        }
        return p.failed() ? null : p;
    }

    /** A poller of its own, not the shared one, that {@link #close} can release once it has failed; for tests. */
    static VirtualThreadPoller startForTest() throws SyscallException {
        return new VirtualThreadPoller();
    }

    /**
     * Makes the next {@code epoll_wait}, after the events it is in now (if any) are dispatched, fail with EINVAL:
     * a real epoll failure, for tests of what waiters do then.
     */
    void failNextWaitForTest() {
        maxEvents = 0;
    }

    /** Makes {@link #shared} answer {@code poller} instead (null: make a new one on next use); returns the one it had. */
    static VirtualThreadPoller replaceSharedForTest(VirtualThreadPoller poller) {
        synchronized (VirtualThreadPoller.class) {
            VirtualThreadPoller old = shared;
            shared = poller;
            return old;
        }
    }

    /**
     * One virtual thread's side of its waits, one at a time: made once per thread (by that thread) and used for each
     * of them, so that a wait allocates nothing of its own.
     */
    static final class Waiter {
        final Thread thread = Thread.currentThread();
        /**
         * The epoll data of its current wait: the fd in the low half, the wait's number in the high half (each wait
         * re-arms the fd's registration with a new one, so an event of an earlier arming marks nobody).
         * A number alone would do; the fd in it is what the poller looks the waiter up by.
         */
        private volatile long id;
        /** The id the poller last reported ready; written before the unpark that follows, read after the park. */
        private volatile long firedId = -1;     // no id: a registration's fd is never -1

        /** Whether the poller has reported the current wait: the fd was ready (or in error) then. */
        boolean fired() {
            return firedId == id;
        }
    }

    /**
     * Makes the calling thread, whose {@code waiter} this is, the one waiting for {@code fd}, with a new
     * {@link Waiter#id}; {@link #arm} then watches the fd for it. Also what stands between a close and a wait:
     * {@link #wake} finds the waiter from here.
     *
     * @return false if another thread is waiting for {@code fd} already: nothing was claimed
     */
    boolean claim(int fd, Waiter waiter) {
        waiter.id = (long) registrations.incrementAndGet() << 32 | (fd & 0xFFFF_FFFFL);
        // The id before the slot, so the poller never matches an earlier wait's event to this one. A full fence: the
        // waiter reads the closed bit after this, and close() sets it before it looks here (see FdHandle.awaitVirtual).
        return SLOT.compareAndSet(slots(fd, true), fd & (CHUNK - 1), (Waiter) null, waiter);
    }

    /**
     * Has the poller watch {@code fd}, which the caller has {@link #claim claimed}, for {@code pollEvents} (POLLIN,
     * POLLOUT or 0) once: the waiter is marked {@link Waiter#fired() fired} and unparked when the fd is ready or in
     * error. {@code inSet}: whether the fd is in the set already, from an earlier wait (re-armed with MOD) or not
     * (ADD); its owner knows, as it {@link #forget forgets} it before closing it. {@code ev} is one epoll_event, the
     * caller's scratch. On failure the caller still {@link #leave leaves}.
     *
     * <p>Should the owner's idea of the set be wrong (the kernel dropped the entry: MOD fails ENOENT; an entry for
     * this description and number is there already: ADD fails EEXIST), the other operation is made once: a stale
     * belief costs a system call, not a wait that fails for good on every later try.
     */
    void arm(int fd, short pollEvents, boolean inSet, Waiter waiter, MemorySegment ev) throws SyscallException {
        // In the slot first, the set second, so that whatever epoll reports finds its waiter.
        int events = epollEvents(pollEvents);
        EPOLL_CTLS.increment();
        try {
            EventLoop.ctl(epfd, inSet ? linux_h.EPOLL_CTL_MOD() : linux_h.EPOLL_CTL_ADD(), fd, events, waiter.id, ev);
        } catch (SyscallException e) {
            if (e.errno() != (inSet ? Errno.ENOENT : Errno.EEXIST)) throw e;
            EPOLL_CTLS.increment();
            EventLoop.ctl(epfd, inSet ? linux_h.EPOLL_CTL_ADD() : linux_h.EPOLL_CTL_MOD(), fd, events, waiter.id, ev);
        }
    }

    /**
     * Whether an {@link #arm} failed because epoll cannot watch that fd (EPERM: a regular file or a directory,
     * which poll reports always ready anyway): the caller waits some other way. Anything else is a failure.
     */
    static boolean unwatchable(SyscallException e) {
        return e.errno() == Errno.EPERM;
    }

    /**
     * Ends the wait {@link #claim} began; no system call: the fd stays in the set, disarmed if it fired, armed if
     * not (an event then marks nobody, its id being this wait's).
     */
    void leave(int fd, Waiter waiter) {
        SLOT.compareAndSet(slots(fd, false), fd & (CHUNK - 1), waiter, (Waiter) null);
    }

    /**
     * Takes {@code fd} out of the set ({@code EPOLL_CTL_DEL}), where {@link #arm} left it: its owner calls this
     * before it closes the fd, when nobody waits for it any more. A failed poller's set is left as it is: nothing in it
     * will be reported, and nothing is added to it again ({@link #shared} no longer answers it).
     */
    void forget(int fd) throws SyscallException {
        if (failed()) return;
        EPOLL_CTLS.increment();
        Syscalls.epoll_ctl(epfd, linux_h.EPOLL_CTL_DEL(), fd, MemorySegment.NULL);
    }

    /** How many {@code epoll_ctl} calls the pollers have made since the JVM started; for tests. */
    static long epollCtls() {
        return EPOLL_CTLS.sum();
    }

    /** The epoll fd, for tests that read what its set holds ({@code /proc/self/fdinfo}). */
    int epollFdForTest() {
        return epfd;
    }

    /**
     * The chunk of slots {@code fd} is in; made (under the lock) if {@code make} and there is none yet, else null.
     * A chunk is made by the first waiter on an fd of its range, and only ever read after that (by {@link #leave},
     * {@link #wake} and {@link #fired}, for an fd a claim has put there): the table they read holds it, as every table
     * after the one it was put in copies it.
     */
    private Waiter[] slots(int fd, boolean make) {
        int c = fd >>> CHUNK_SHIFT;
        Waiter[][] table = chunks;
        Waiter[] chunk = c < table.length ? table[c] : null;
        if (chunk != null || !make) return chunk;
        synchronized (this) {
            table = chunks;
            if (c >= table.length) table = Arrays.copyOf(table, Math.max(c + 1, 2 * table.length));
            chunk = table[c];
            if (chunk == null) {
                table[c] = chunk = new Waiter[CHUNK];
                chunks = table;     // a volatile write after the chunk is in: a reader of the new table sees it
            }
            return chunk;
        }
    }

    /** The thread waiting for {@code fd}, or null. */
    private Waiter waiter(int fd) {
        Waiter[] chunk = slots(fd, false);
        return chunk == null ? null : (Waiter) SLOT.getVolatile(chunk, fd & (CHUNK - 1));
    }

    /**
     * Unparks the thread waiting for {@code fd}, if there is one: {@link FdHandle#close()} wakes its virtual
     * waiter so. At worst the unpark reaches a thread that has just stopped waiting: a spurious unpark, which any
     * park must allow for.
     */
    void wake(int fd) {
        Waiter w = waiter(fd);
        if (w != null) LockSupport.unpark(w.thread);
    }

    /** Marks and unparks the waiter of the registration {@code id} that epoll reported, if it still waits. */
    private void fired(long id) {
        Waiter w = waiter((int) id);
        if (w == null || w.id != id) return;   // its waiter has gone (left before the event was dispatched)
        w.firedId = id;                        // before the unpark: the waiter reads it once it runs again
        LockSupport.unpark(w.thread);
    }

    /** {@link #wake} on the shared poller, if one has been made: nobody can be registered with it otherwise. */
    static void wakeWaiter(int fd) {
        VirtualThreadPoller p = shared;
        if (p != null) p.wake(fd);
    }

    /** True once {@code epoll_wait} has failed: no registration will be reported. */
    boolean failed() {
        return failure != null;
    }

    /**
     * Releases the epoll fd of a poller from {@link #startForTest} that has failed, once its thread has ended. A live
     * poller has no way out of epoll_wait (nothing but the shared one is meant to run), and its fd must outlive it.
     */
    void close() throws SyscallException {
        if (!failed()) throw new IllegalStateException(thread.getName() + " still runs");
        Uninterruptibly.join(thread);
        Syscalls.close(epfd);
    }

    private static int epollEvents(short pollEvents) {
        int events = ALWAYS | ONESHOT;
        if ((pollEvents & linux_h.POLLIN()) != 0) events |= linux_h.EPOLLIN();
        if ((pollEvents & linux_h.POLLOUT()) != 0) events |= linux_h.EPOLLOUT();
        return events;
    }

    private void run() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment events = epoll_event.allocateArray(MAX_EVENTS, arena);
            for (;;) {
                int n = Syscalls.epoll_wait(epfd, events, maxEvents, -1);
                for (int i = 0; i < n; i++) fired(EventLoop.id(events, i));
            }
        } catch (Throwable t) {
            // Not silent and nobody stranded: the flag is set before the sweep, and a waiter claims its slot before it
            // looks at the flag, so each waiter is either unparked here or sees the flag before it parks.
            failure = t;
            for (Waiter[] chunk : chunks) {
                if (chunk == null) continue;
                for (int i = 0; i < CHUNK; i++) {
                    Waiter w = (Waiter) SLOT.getVolatile(chunk, i);
                    if (w != null) LockSupport.unpark(w.thread);
                }
            }
            thread.getUncaughtExceptionHandler().uncaughtException(thread, t);
        }
    }
}
