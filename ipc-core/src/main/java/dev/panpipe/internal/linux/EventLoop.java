package dev.panpipe.internal.linux;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.epoll_event;
import dev.panpipe.bindings.linux.linux_h;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One thread, one {@code epoll} set, any number of fds: readiness is dispatched to each registration's
 * {@link Handler} on the loop thread. No thread per fd, no sleep-polling: the thread sleeps in
 * {@code epoll_wait} until an fd is ready or {@link #close()} rings the loop's eventfd.
 *
 * <p>Registrations are level-triggered. A handler that cannot take more input right now (its consumer's
 * queue is full) turns its interest off with {@link Registration#interest(int)}, which leaves the bytes
 * in the kernel and so blocks the writer: backpressure instead of loss. Interest can be changed and
 * registrations added or cancelled from any thread.
 */
public final class EventLoop implements AutoCloseable {
    public static final int READABLE = linux_h.EPOLLIN();
    public static final int WRITABLE = linux_h.EPOLLOUT();
    /** Reported (never requested): the peer hung up or the fd is in error; a read then returns EOF or the error. */
    public static final int HANGUP = linux_h.EPOLLHUP() | linux_h.EPOLLERR();

    private static final long WAKE_ID = 0;
    /**
     * epoll_event is packed on x86_64 (its 8-byte data union sits at offset 4); jextract's union accessor
     * insists on 8-byte alignment there, so the id is read and written at the generated offset, unaligned.
     */
    private static final ValueLayout.OfLong DATA_U64 = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final long DATA_OFFSET = epoll_event.data$offset();
    private static final int MAX_EVENTS = 64;

    /** What a registration does when its fd is ready. Runs on the loop thread; must not block. */
    public interface Handler {
        void ready(Registration registration, int events) throws IOException;

        /**
         * {@link #ready} threw (or the loop itself failed): the registration is cancelled and this is told why.
         * Deliberately without a default: a handler whose failure did nothing would leave whoever waits for
         * what it was to deliver (an exit, more input) waiting for ever. What this throws goes to the loop
         * thread's uncaught-exception handler; the loop goes on serving the other registrations.
         */
        void failed(Registration registration, Throwable error);
    }

    /**
     * The body of {@link Handler#ready}, for {@link #handler}. It is given its registration because the
     * loop may dispatch it before {@link #register} has returned it to whoever stores it.
     */
    @FunctionalInterface
    public interface ReadyAction {
        void ready(Registration registration, int events) throws IOException;
    }

    /** A handler made of two lambdas: what to do when the fd is ready, and what its failure means. */
    public static Handler handler(ReadyAction ready, java.util.function.Consumer<Throwable> failed) {
        return new Handler() {
            @Override
            public void ready(Registration registration, int events) throws IOException {
                ready.ready(registration, events);
            }

            @Override
            public void failed(Registration registration, Throwable error) {
                failed.accept(error);
            }
        };
    }

    private final int epfd;
    private final int wakeFd;
    private final Thread thread;
    private final AtomicLong ids = new AtomicLong(WAKE_ID + 1);
    private final Map<Long, Registration> registrations = new ConcurrentHashMap<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    /** The loop thread has ended (closed, or its epoll_wait failed): tasks no longer reach it. */
    private volatile boolean stopped;
    private final java.util.Queue<Runnable> tasks = new java.util.concurrent.ConcurrentLinkedQueue<>();

    private EventLoop(String name) throws IOException {
        epfd = Syscalls.epoll_create1(linux_h.EPOLL_CLOEXEC());
        try {
            wakeFd = Syscalls.eventfd(0, linux_h.EFD_CLOEXEC() | linux_h.EFD_NONBLOCK());
            ctl(linux_h.EPOLL_CTL_ADD(), wakeFd, READABLE, WAKE_ID);
        } catch (IOException e) {
            Syscalls.close(epfd);
            throw e;
        }
        thread = Thread.ofPlatform().name(name).daemon(true).unstarted(this::run);
        thread.start();
    }

    public static EventLoop start(String name) throws IOException {
        return new EventLoop(name);
    }

    /** Watches {@code handle}'s fd for {@code interest} ({@link #READABLE}, {@link #WRITABLE}, or 0 for nothing yet). */
    public Registration register(FdHandle handle, int interest, Handler handler) throws IOException {
        if (closed.get()) throw new IllegalStateException("event loop is closed");
        long id = ids.getAndIncrement();
        Registration r = new Registration(id, handle, handler, interest);
        registrations.put(id, r);
        int fd = handle.acquire();          // held until cancel: the number cannot be reused while epoll watches it
        try {
            ctl(linux_h.EPOLL_CTL_ADD(), fd, interest, id);
        } catch (IOException | RuntimeException e) {
            registrations.remove(id);
            handle.release();
            throw e;
        }
        return r;
    }

    public boolean inLoopThread() {
        return Thread.currentThread() == thread;
    }

    /**
     * Runs {@code task} on the loop thread, soon: for work that must not race the handlers, such as
     * delivering frames a paused registration still holds once its consumer has made room.
     *
     * @return false if the loop is closed or its thread has ended (the task will not run: the caller may run
     *         it itself); true if it will run, on the loop thread, or while that thread ends
     */
    public boolean execute(Runnable task) {
        if (closed.get() || stopped) return false;
        tasks.add(task);
        // The thread may have ended since the look above, after its last run of the queue: take the task back.
        // (If it is gone from the queue already, that last run has it.)
        if (stopped && tasks.remove(task)) return false;
        ring();
        return true;
    }

    private void ring() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment one = arena.allocate(8);
            one.set(linux_h.C_LONG, 0, 1L);
            Syscalls.write(wakeFd, one, 8);
        } catch (SyscallException e) {
            throw new IllegalStateException("waking the event loop", e);
        }
    }

    private void runTasks(MemorySegment scratch) throws SyscallException {
        Syscalls.read(wakeFd, scratch, 8);          // reset the eventfd (non-blocking; EAGAIN is fine)
        drainTasks();
    }

    private void drainTasks() {
        for (Runnable task; (task = tasks.poll()) != null; ) {
            try {
                task.run();
            } catch (RuntimeException | Error e) {
                Thread.currentThread().getUncaughtExceptionHandler().uncaughtException(Thread.currentThread(), e);
            }
        }
    }

    private void ctl(int op, int fd, int events, long id) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            ctl(epfd, op, fd, events, id, epoll_event.allocate(arena));
        }
    }

    /**
     * {@code epoll_ctl} with {@code id} as the event's data, written into {@code ev} (one epoll_event, reused by
     * callers that must not allocate); shared with {@link VirtualThreadPoller}.
     */
    static void ctl(int epfd, int op, int fd, int events, long id, MemorySegment ev) throws SyscallException {
        epoll_event.events(ev, events);
        ev.set(DATA_U64, DATA_OFFSET, id);
        Syscalls.epoll_ctl(epfd, op, fd, op == linux_h.EPOLL_CTL_DEL() ? MemorySegment.NULL : ev);
    }

    /** The id {@link #ctl} gave the {@code i}th of an array of ready events. */
    static long id(MemorySegment events, int i) {
        return epoll_event.asSlice(events, i).get(DATA_U64, DATA_OFFSET);
    }

    private void run() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment events = epoll_event.allocateArray(MAX_EVENTS, arena);
            MemorySegment scratch = arena.allocate(8);
            while (!closed.get()) {
                int n = Syscalls.epoll_wait(epfd, events, MAX_EVENTS, -1);
                for (int i = 0; i < n; i++) {
                    long id = id(events, i);
                    if (id == WAKE_ID) {
                        runTasks(scratch);
                        continue;
                    }
                    Registration r = registrations.get(id);
                    if (r != null) r.dispatch(epoll_event.events(epoll_event.asSlice(events, i)));
                }
            }
        } catch (SyscallException e) {
            // epoll_wait on a valid set fails only on a bug; fail every registration rather than hang them.
            for (Registration r : registrations.values()) r.fail(e);
        } finally {
            for (Registration r : registrations.values()) r.cancel();
            // Whoever queued a task may be waiting for it (a close that runs its last steps on the loop): run
            // what is queued, however the loop ended, rather than leave them waiting for ever.
            stopped = true;
            drainTasks();
        }
    }

    /**
     * Stops the loop thread (after the dispatch in progress), cancels every registration, frees the epoll set.
     * Waits for the thread even on an interrupted thread, whose interrupt status stays set.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) return;
        ring();
        // Uninterruptibly: the fds closed below must outlive the thread, which may be in epoll_wait or a task
        // still (an interrupted join used to close them under it, and their numbers could be reused meanwhile).
        if (!inLoopThread()) Uninterruptibly.join(thread);
        try {
            Syscalls.close(wakeFd);
            Syscalls.close(epfd);
        } catch (SyscallException ignored) {
            // both were opened here and are closed once
        }
    }

    /** One fd in the loop. */
    public final class Registration {
        private final long id;
        private final FdHandle handle;
        private final Handler handler;
        private volatile int interest;
        private final AtomicBoolean cancelled = new AtomicBoolean();

        private Registration(long id, FdHandle handle, Handler handler, int interest) {
            this.id = id;
            this.handle = handle;
            this.handler = handler;
            this.interest = interest;
        }

        public FdHandle handle() {
            return handle;
        }

        public int interest() {
            return interest;
        }

        /** Changes what the loop watches for; 0 pauses the registration (backpressure). */
        public void interest(int events) throws IOException {
            if (cancelled.get() || events == interest) return;
            interest = events;
            ctl(linux_h.EPOLL_CTL_MOD(), handle.fdOrMinusOne(), events, id);
        }

        private void dispatch(int events) {
            if (cancelled.get()) return;
            try {
                handler.ready(this, events);
            } catch (Throwable t) {
                // Told even if the handler cancelled its registration before it threw (as one that handles
                // a single event does first): cancel() returning false must not swallow the failure.
                cancel();
                report(t);
            }
        }

        /** The loop failed: tells this registration, unless it was cancelled before. */
        private void fail(Throwable t) {
            if (cancel()) report(t);
        }

        private void report(Throwable t) {
            try {
                handler.failed(this, t);
            } catch (Throwable e) {
                // Not allowed to end the loop thread: every other registration, and every task, would stall.
                e.addSuppressed(t);
                Thread.currentThread().getUncaughtExceptionHandler().uncaughtException(Thread.currentThread(), e);
            }
        }

        /** Removes the fd from the loop; the fd itself stays open (its owner closes it). Idempotent. */
        public boolean cancel() {
            if (!cancelled.compareAndSet(false, true)) return false;
            registrations.remove(id);
            try {
                ctl(linux_h.EPOLL_CTL_DEL(), handle.fdOrMinusOne(), 0, id);
            } catch (SyscallException ignored) {
                // the epoll set may already be gone (loop closing); the kernel drops the fd with it
            } finally {
                handle.release();
            }
            return true;
        }
    }
}
