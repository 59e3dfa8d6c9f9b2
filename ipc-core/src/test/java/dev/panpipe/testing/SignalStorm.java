package dev.panpipe.testing;

import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.sigaction;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Interrupts one thread's system calls again and again, as a sampling profiler's {@code SIGPROF} or an
 * embedding application's own signal handlers do: {@code SIGURG}, caught by a handler installed without
 * {@code SA_RESTART}, sent to that thread alone ({@code tgkill}) every few tens of microseconds. A
 * {@code poll}, {@code futex}, {@code epoll_wait}, {@code openat} of a FIFO, or a blocking {@code read} or
 * {@code write} that has moved nothing yet, returns {@code EINTR} each time; the code under test must
 * retry with the time that is left and neither fail, nor lose or repeat bytes, nor wait longer or shorter.
 *
 * <p>The handler is libc's {@code abs(int)}: a function that takes the signal number and touches no
 * memory, so it is safe wherever the signal lands. An FFM upcall is not: the signal may arrive while the
 * thread runs Java code, and an upcall stub expects a thread in native code. {@code SIGURG} because the
 * JVM does not use it and its default action is to ignore it, so a signal still in flight when the old
 * action is put back does nothing. The storm stops before its target thread ends, so it never signals a
 * thread id the kernel has since handed to another thread of this JVM.
 *
 * <p>Not for concurrent use: one storm at a time in a JVM (the handler is process-wide).
 */
public final class SignalStorm {
    private static final int SIGURG = linux_h.SIGURG();
    private static final long PERIOD_NANOS = 20_000;
    /**
     * The signals a storm sends at least before an operation under it is released ({@link #during}) or run
     * ({@link #aimedAt}), however long that takes: every 20 us is what is asked, but a loaded machine wakes the
     * sending thread far less often (under 100 in 300 ms on two busy vCPUs, where the test's own 300 ms once were
     * counted on for hundreds).
     */
    public static final int MIN_SIGNALS = 100;
    private static final long MIN_SIGNALS_WITHIN_NANOS = TimeUnit.SECONDS.toNanos(20);

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final MethodHandle GETTID = LINKER.downcallHandle(LIBC.find("gettid").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT));
    private static final MethodHandle TGKILL = LINKER.downcallHandle(LIBC.find("tgkill").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final int PID = (int) ProcessHandle.current().pid();

    /** What an operation under the storm returned, and how many signals were sent while it ran. */
    public record Outcome<T>(T value, long signals, long nanos) {
    }

    /** Something that lets the operation under the storm finish (writes the awaited bytes, say). */
    @FunctionalInterface
    public interface Release {
        void run() throws Exception;
    }

    private SignalStorm() {
    }

    /**
     * Runs {@code operation} in a new platform thread while that thread is signalled every 20 us; after
     * {@code blockedFor} (time for it to block), and once {@link #MIN_SIGNALS} have been sent at it, runs
     * {@code release} here, then waits up to 20 s for the operation to return. Returns its value, or rethrows what
     * it threw.
     *
     * @throws AssertionError if the operation did not return within 20 s of its release
     */
    public static <T> Outcome<T> during(Callable<T> operation, Duration blockedFor, Release release) throws Exception {
        return run(operation, blockedFor, release, true);
    }

    private static <T> Outcome<T> run(Callable<T> operation, Duration blockedFor, Release release, boolean mustBlock) throws Exception {
        AtomicLong tid = new AtomicLong(-1);
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch stormOver = new CountDownLatch(1);
        long[] nanos = new long[1];
        FutureTask<T> task = new FutureTask<>(() -> {
            long t0 = System.nanoTime();
            try {
                return operation.call();
            } finally {
                nanos[0] = System.nanoTime() - t0;
            }
        });
        Thread target = Thread.ofPlatform().name("signal-storm-target").daemon().start(() -> {
            tid.set(gettid());
            started.countDown();
            task.run();
            // Stay alive until no more signals are sent at this thread id.
            awaitUninterruptibly(stormOver);
        });
        started.await();
        try (Storm storm = new Storm((int) tid.get())) {
            try {
                Thread.sleep(blockedFor);
                if (mustBlock) storm.awaitSent(MIN_SIGNALS);
                if (mustBlock && task.isDone()) throw new AssertionError("the operation returned before its release: " + describe(task));
                release.run();
                T value = task.get(20, TimeUnit.SECONDS);
                return new Outcome<>(value, storm.sent(), nanos[0]);
            } catch (TimeoutException e) {
                throw new AssertionError("the operation did not return within 20 s of its release under "
                        + storm.sent() + " signals; its stack: " + stackOf(target), e);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof Exception x) throw x;
                if (e.getCause() instanceof Error x) throw x;
                throw e;
            }
        } finally {
            stormOver.countDown();
            target.join(task.isDone() ? 10_000 : 1);
        }
    }

    /**
     * Runs {@code operation} in this thread while another thread of this JVM, the one named {@code threadName}
     * (an event loop's, say, waiting for its events), is signalled every 20 us; the operation starts once that
     * thread has been sent {@link #MIN_SIGNALS}. That thread must be the only one of that name, and live until this
     * returns.
     */
    public static <T> Outcome<T> aimedAt(String threadName, Callable<T> operation) throws Exception {
        int tid = threadId(threadName);
        try (Storm storm = new Storm(tid)) {
            storm.awaitSent(MIN_SIGNALS);
            long t0 = System.nanoTime();
            T value = operation.call();
            return new Outcome<>(value, storm.sent(), System.nanoTime() - t0);
        }
    }

    /**
     * The kernel's id of the one thread of this JVM whose name (as /proc shows it, 15 bytes at most) is {@code name}.
     * Looked for again for up to 5 s: a thread names itself to the kernel once it runs, which may be a moment after
     * the {@code start()} that made it returned (a CI run once looked too early and found none).
     */
    private static int threadId(String name) throws IOException, InterruptedException {
        String comm = name.length() > 15 ? name.substring(0, 15) : name;
        long deadline = System.nanoTime() + 5_000_000_000L;
        for (;;) {
            List<Integer> found = new ArrayList<>();
            try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
                for (Path task : tasks) {
                    try {
                        if (Files.readString(task.resolve("comm")).strip().equals(comm)) found.add(Integer.parseInt(task.getFileName().toString()));
                    } catch (NoSuchFileException ended) {
                        // a thread that ended while we looked
                    }
                }
            }
            if (found.size() == 1) return found.getFirst();
            if (found.size() > 1 || System.nanoTime() - deadline > 0) {
                throw new AssertionError("expected one thread named '" + comm + "', found " + found);
            }
            Thread.sleep(10);
        }
    }

    /** The signal handler installed and a thread sending at {@code tid}; close stops the sending, then puts the JVM's action back. */
    private static final class Storm implements AutoCloseable {
        private final Arena arena = Arena.ofConfined();
        private final MemorySegment old;
        private final AtomicBoolean stop = new AtomicBoolean();
        private final AtomicLong sent = new AtomicLong();
        private final Thread sender;

        Storm(int tid) {
            old = install(arena);
            sender = Thread.ofPlatform().name("signal-storm").daemon().start(() -> {
                while (!stop.get()) {
                    if (tgkill(tid) == 0) sent.incrementAndGet();
                    LockSupport.parkNanos(PERIOD_NANOS);
                }
            });
        }

        long sent() {
            return sent.get();
        }

        /** Returns once {@code n} signals have been sent; fails if that takes longer than 20 s. */
        void awaitSent(long n) throws InterruptedException {
            long deadline = System.nanoTime() + MIN_SIGNALS_WITHIN_NANOS;
            while (sent.get() < n) {
                if (System.nanoTime() - deadline > 0) throw new AssertionError("the storm sent only " + sent.get() + " signals in 20 s");
                Thread.sleep(1);
            }
        }

        @Override
        public void close() throws InterruptedException {
            stop.set(true);
            sender.join();
            restore(old);
            arena.close();
        }
    }

    /**
     * Shows that the storm interrupts system calls at all, so that a test passing under it means something:
     * a bare {@code poll(NULL, 0, 5000)} (no fds, sleeping five seconds) in a signalled thread.
     *
     * @return the errno name the bare poll failed with, or "returned r" if it did not fail
     */
    public static String barePollResult() throws Exception {
        MethodHandle poll = LINKER.downcallHandle(LIBC.find("poll").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT),
                Linker.Option.captureCallState("errno"));
        long errnoOffset = Linker.Option.captureStateLayout().byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
        return run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment state = arena.allocate(Linker.Option.captureStateLayout());
                int r = (int) poll.invokeExact(state, MemorySegment.NULL, 0L, 5000);
                if (r != -1) return "returned " + r;
                int errno = state.get(ValueLayout.JAVA_INT, errnoOffset);
                return errno == linux_h.EINTR() ? "EINTR" : "errno " + errno;
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        }, Duration.ofMillis(50), () -> { }, false).value();
    }

    private static MemorySegment install(Arena arena) {
        MemorySegment action = sigaction.allocate(arena);   // zeroed: an empty sa_mask
        sigaction.__sigaction_handler.sa_handler(sigaction.__sigaction_handler(action), LIBC.find("abs").orElseThrow());
        sigaction.sa_flags(action, 0);   // no SA_RESTART: interrupted calls return EINTR
        MemorySegment old = sigaction.allocate(arena);
        if (sigaction(SIGURG, action, old) != 0) throw new IllegalStateException("sigaction(SIGURG) failed");
        return old;
    }

    private static void restore(MemorySegment old) {
        if (sigaction(SIGURG, old, MemorySegment.NULL) != 0) throw new IllegalStateException("sigaction(SIGURG) restore failed");
    }

    private static int sigaction(int signal, MemorySegment action, MemorySegment old) {
        return linux_h.sigaction(signal, action, old);
    }

    private static int gettid() {
        try {
            return (int) GETTID.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    private static int tgkill(int tid) {
        try {
            return (int) TGKILL.invokeExact(PID, tid, SIGURG);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    private static void awaitUninterruptibly(CountDownLatch latch) {
        boolean interrupted = false;
        while (true) {
            try {
                latch.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    private static String describe(FutureTask<?> task) {
        try {
            return String.valueOf(task.get());
        } catch (ExecutionException e) {
            return "threw " + e.getCause();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }

    private static String stackOf(Thread t) {
        StringBuilder b = new StringBuilder();
        for (StackTraceElement e : t.getStackTrace()) b.append("\n\tat ").append(e);
        return b.toString();
    }
}
