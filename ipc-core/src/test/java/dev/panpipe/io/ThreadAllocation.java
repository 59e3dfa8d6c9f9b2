package dev.panpipe.io;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.ArrayList;
import java.util.List;

/**
 * Heap bytes allocated by the calling thread ({@code com.sun.management.ThreadMXBean}, looked up at run
 * time because this test module does not read java.management), and a loop that waits for a path to reach
 * the JIT's steady state and then insists that it allocates nothing there.
 */
public final class ThreadAllocation {
    private static final Object THREADS;
    private static final MethodHandle CURRENT_THREAD_ALLOCATED_BYTES;

    static {
        try {
            THREADS = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean").invoke(null);
            Class<?> bean = Class.forName("com.sun.management.ThreadMXBean");
            // A method handle, not Method.invoke: no boxed long and no argument array per reading.
            CURRENT_THREAD_ALLOCATED_BYTES = MethodHandles.publicLookup()
                    .findVirtual(bean, "getCurrentThreadAllocatedBytes", MethodType.methodType(long.class))
                    .asType(MethodType.methodType(long.class, Object.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private ThreadAllocation() {
    }

    /** Bytes the calling thread has allocated since it started. */
    public static long bytes() {
        try {
            return (long) CURRENT_THREAD_ALLOCATED_BYTES.invokeExact(THREADS);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** One round of the path under test, in the thread that measures it. */
    public interface Round {
        void run() throws Exception;
    }

    /**
     * Runs {@code round} until {@code quiet} rounds in a row allocated nothing in this thread, at most
     * {@code maxRounds} times, and returns the bytes of every round: the first rounds run interpreted and
     * C1-compiled code, whose temporary objects only C2 removes. A path that allocates in the steady state
     * (every round, or periodically) never gets {@code quiet} clean rounds in a row.
     */
    public static List<Long> untilQuiet(int quiet, int maxRounds, Round round) throws Exception {
        List<Long> perRound = new ArrayList<>();
        int clean = 0;
        while (clean < quiet && perRound.size() < maxRounds) {
            long before = bytes();
            round.run();
            long allocated = bytes() - before;
            perRound.add(allocated);
            clean = allocated == 0 ? clean + 1 : 0;
        }
        return perRound;
    }

    /** True if the last {@code quiet} rounds allocated nothing. */
    public static boolean endsQuiet(List<Long> perRound, int quiet) {
        if (perRound.size() < quiet) return false;
        for (long b : perRound.subList(perRound.size() - quiet, perRound.size())) if (b != 0) return false;
        return true;
    }
}
