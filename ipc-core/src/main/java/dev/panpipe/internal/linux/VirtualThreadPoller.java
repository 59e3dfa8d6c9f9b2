package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.epoll_event;
import dev.panpipe.bindings.linux.linux_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Wakes virtual threads waiting for an fd, as the JDK's {@code sun.nio.ch.Poller} does for its own channels:
 * one platform thread sleeps in {@code epoll_wait} on behalf of all of them and unparks the one registered for
 * each fd that becomes ready. A virtual thread must not sleep in {@code poll(2)} itself: the native call pins it
 * to its carrier.
 *
 * <p>A waiter {@link #register registers} its fd with {@code EPOLLONESHOT} and parks. The poller marks it
 * {@link Waiter#fired() fired} before it unparks it, so a waiter learns that its fd is ready without a look of its own
 * (a system call in every wait); any other unpark (an interrupt, a close, the deadline) leaves the one shot unspent
 * and armed. The epoll data is the fd and a number of its own for each registration, so an event reported for an
 * earlier registration of that fd number, dispatched after its waiter has gone, marks nobody. A waiter
 * {@link #deregister deregisters} before its wait returns, so the fd is never left in the set when its owner closes
 * it. One waiter per fd: a second one is refused (the caller waits some other way), since an epoll set holds an fd
 * once.
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

    private static volatile VirtualThreadPoller shared;

    private final int epfd;
    /** What epoll_wait is asked for; a test sets 0 to make the next call fail (EINVAL), as a broken set would. */
    private volatile int maxEvents = MAX_EVENTS;
    private final Thread thread;
    /** fd → the virtual thread waiting for it. */
    private final Map<Integer, Waiter> waiters = new ConcurrentHashMap<>();
    /** Numbers the registrations, for the high half of their epoll data; see {@link Waiter#id}. */
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
         * The epoll data of its registration: the fd in the low half, the registration's number in the high half.
         * A number alone would do; the fd in it is what the poller looks the waiter up by.
         */
        private volatile long id;
        /** The id the poller last reported ready; written before the unpark that follows, read after the park. */
        private volatile long firedId = -1;     // no id: a registration's fd is never -1

        /** Whether the poller has reported the current registration: the fd was ready (or in error) then. */
        boolean fired() {
            return firedId == id;
        }
    }

    /**
     * Watches {@code fd} for {@code pollEvents} (POLLIN, POLLOUT or 0) on behalf of the calling thread, whose
     * {@code waiter} this is, once: the waiter is marked {@link Waiter#fired() fired} and unparked when the fd is
     * ready or in error. {@code ev} is one epoll_event, the caller's scratch.
     *
     * @return false if another thread is waiting for {@code fd} already: nothing was registered
     */
    boolean register(int fd, short pollEvents, Waiter waiter, MemorySegment ev) throws SyscallException {
        long id = (long) registrations.incrementAndGet() << 32 | (fd & 0xFFFF_FFFFL);
        waiter.id = id;     // before it is in the map, so the poller never matches an earlier registration's event to it
        if (waiters.putIfAbsent(fd, waiter) != null) return false;
        try {
            // In the map first, the set second, so that whatever epoll reports finds its waiter.
            EventLoop.ctl(epfd, linux_h.EPOLL_CTL_ADD(), fd, epollEvents(pollEvents), id, ev);
            return true;
        } catch (SyscallException e) {
            waiters.remove(fd, waiter);
            throw e;
        }
    }

    /**
     * Whether a {@link #register} failed because epoll cannot watch that fd (EPERM: a regular file or a directory,
     * which poll reports always ready anyway): the caller waits some other way. Anything else is a failure.
     */
    static boolean unwatchable(SyscallException e) {
        return e.errno() == Errno.EPERM;
    }

    /**
     * Takes {@code fd} out of the set; before the wait returns, so its owner may close it. A failed poller's set
     * is left as it is: the fd cannot be reported any more, and the kernel drops it from the set when it closes.
     */
    void deregister(int fd, Waiter waiter, MemorySegment ev) throws SyscallException {
        try {
            EventLoop.ctl(epfd, linux_h.EPOLL_CTL_DEL(), fd, 0, 0, ev);
        } catch (SyscallException e) {
            if (!failed()) throw e;
        } finally {
            waiters.remove(fd, waiter);
        }
    }

    /**
     * Unparks the thread waiting for {@code fd}, if there is one: {@link FdHandle#close()} wakes its virtual
     * waiter so. At worst the unpark reaches a thread that has just stopped waiting: a spurious unpark, which any
     * park must allow for.
     */
    void wake(int fd) {
        Waiter w = waiters.get(fd);
        if (w != null) LockSupport.unpark(w.thread);
    }

    /** Marks and unparks the waiter of the registration {@code id} that epoll reported, if it still waits. */
    private void fired(long id) {
        Waiter w = waiters.get((int) id);
        if (w == null || w.id != id) return;   // its waiter has gone (deregistered before the event was dispatched)
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
            // Not silent and nobody stranded: the flag is set before the sweep, and a waiter registers before it
            // looks at the flag, so each waiter is either unparked here or sees the flag before it parks.
            failure = t;
            waiters.values().forEach(w -> LockSupport.unpark(w.thread));
            thread.getUncaughtExceptionHandler().uncaughtException(thread, t);
        }
    }
}
