package dev.panpipe.io;

import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs a call on its own platform thread and waits until that thread is really asleep in the kernel
 * where the test expects it (its /proc task {@code wchan}, e.g. "poll" for panpipe's blocking emulation),
 * so a test acts on a thread that is blocked, not on one that merely has not got there yet.
 */
public final class Blocking {
    private static final MethodHandle GETTID = Linker.nativeLinker().downcallHandle(
            Linker.nativeLinker().defaultLookup().find("gettid").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT));

    private Blocking() {
    }

    public static int gettid() {
        try {
            return (int) GETTID.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Starts {@code call} on a new thread and returns once that thread sleeps in a kernel function named like {@code wchan}. */
    public static <T> Future<T> startAndAwaitBlocked(String wchan, Callable<T> call) throws Exception {
        return startAndAwaitBlocked(List.of(wchan), call);
    }

    /**
     * As {@link #startAndAwaitBlocked(String, Callable)}, returning once the thread sleeps in any of {@code wchans}:
     * for a test that must go on (and fail) when the call blocks somewhere it should not, rather than wait forever.
     */
    public static <T> Future<T> startAndAwaitBlocked(List<String> wchans, Callable<T> call) throws Exception {
        CompletableFuture<T> result = new CompletableFuture<>();
        AtomicInteger tid = new AtomicInteger();
        Thread t = Thread.ofPlatform().name("blocked-call").daemon().start(() -> {
            tid.set(gettid());
            try {
                result.complete(call.call());
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        });
        Path task = null;
        for (;;) {
            if (result.isDone()) return result;   // it did not block at all: the caller's assertions will say so
            if (task == null && tid.get() != 0) task = Path.of("/proc/self/task/" + tid.get());
            if (task != null && blockedIn(task, wchans)) return result;
            Thread.sleep(5);
            if (!t.isAlive() && !result.isDone()) throw new AssertionError("blocked-call thread died");
        }
    }

    /**
     * The call's result, waited for 10 s at most. A call still blocked then is freed with {@code unblock} (the test
     * must not leave a thread behind that holds an fd) and the test fails saying {@code stuck}.
     */
    public static <T> T resultOrFree(Future<T> call, Runnable unblock, String stuck) throws ExecutionException, InterruptedException {
        try {
            return call.get(10, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            unblock.run();
            try {
                call.get(10, TimeUnit.SECONDS);
            } catch (ExecutionException | TimeoutException ignored) {
                // the failure below is the one to report
            }
            throw new AssertionError(stuck + " (still blocked 10 s on; freed to clean up)");
        }
    }

    /** What the call threw, waited for and freed as by {@link #resultOrFree}; fails if it returned instead. */
    public static Throwable failureOrFree(Future<?> call, Runnable unblock, String stuck) throws InterruptedException {
        Object returned;
        try {
            returned = resultOrFree(call, unblock, stuck);
        } catch (ExecutionException e) {
            return e.getCause();
        }
        throw new AssertionError("expected the call to throw, but it returned " + returned);
    }

    /**
     * Where thread {@code tid} of this JVM sleeps in the kernel (its {@code wchan}: "pipe_write", "do_sys_poll", or
     * "0" where the kernel hides it), or null while it is not asleep.
     */
    public static String asleepIn(int tid) throws IOException {
        Path task = Path.of("/proc/self/task/" + tid);
        String stat = Files.readString(task.resolve("stat"));
        if (stat.charAt(stat.lastIndexOf(')') + 2) != 'S') return null;
        return Files.readString(task.resolve("wchan"));
    }

    /** How many times thread {@code tid} of this JVM has gone to sleep ({@code voluntary_ctxt_switches}). */
    public static long sleepsOf(int tid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/task/" + tid + "/status"))) {
            if (line.startsWith("voluntary_ctxt_switches:")) return Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
        }
        throw new AssertionError("no voluntary_ctxt_switches for thread " + tid);
    }

    private static boolean blockedIn(Path task, List<String> wchans) throws IOException {
        String stat, where;
        try {
            stat = Files.readString(task.resolve("stat"));
            if (stat.charAt(stat.lastIndexOf(')') + 2) != 'S') return false;
            where = Files.readString(task.resolve("wchan"));
        } catch (NoSuchFileException ended) {
            return false;   // the call returned and its thread ended since the caller looked: it sees that next
        }
        // A kernel that hides wchan shows "0": then asleep has to do.
        return wchans.stream().anyMatch(where::contains) || where.equals("0");
    }
}
