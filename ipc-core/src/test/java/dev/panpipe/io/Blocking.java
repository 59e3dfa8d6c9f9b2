package dev.panpipe.io;

import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
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
            if (task != null && blockedIn(task, wchan)) return result;
            Thread.sleep(5);
            if (!t.isAlive() && !result.isDone()) throw new AssertionError("blocked-call thread died");
        }
    }

    private static boolean blockedIn(Path task, String wchan) throws IOException {
        String stat = Files.readString(task.resolve("stat"));
        if (stat.charAt(stat.lastIndexOf(')') + 2) != 'S') return false;
        String where = Files.readString(task.resolve("wchan"));
        // A kernel that hides wchan shows "0": then asleep has to do.
        return where.contains(wchan) || where.equals("0");
    }
}
