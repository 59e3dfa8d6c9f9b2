package dev.panpipe.zerocopy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * A time limit for one case of a {@link dev.panpipe.testing.RandomCases} check. A test method's
 * {@code @Timeout} covers the whole run, so a case that hangs on a corrupt word would fail the method with no
 * case to show; under a Deadline the hang is that case's failure, and RandomCases shrinks it like any other.
 * The body runs on a thread of its own; if it has not finished in time, the guard closes what the body
 * registered (closing the shared memory makes a loop that spins on it fail with the arena's
 * {@link IllegalStateException}, and wakes futex sleepers), and fails with the stack of the stuck thread,
 * which is what shows where it hung.
 */
public final class Deadline {
    /** A case's body. */
    @FunctionalInterface
    public interface Body {
        void run(Deadline deadline) throws Exception;
    }

    private final List<AutoCloseable> onTimeout = new ArrayList<>();
    private final List<Thread> watched = new ArrayList<>();

    private Deadline() {
    }

    /** Registers {@code c} to be closed if the body overruns; returns it. */
    public synchronized <T extends AutoCloseable> T closeOnTimeout(T c) {
        onTimeout.add(c);
        return c;
    }

    /** Adds {@code t}'s stack to the failure if the body overruns (the body may be stuck waiting for it); returns it. */
    public synchronized Thread watch(Thread t) {
        watched.add(t);
        return t;
    }

    /** Runs {@code body}, failing if it takes longer than {@code limit}; rethrows what the body throws. */
    public static void within(Duration limit, String what, Body body) throws Exception {
        Deadline deadline = new Deadline();
        Throwable[] thrown = new Throwable[1];
        Thread t = Thread.ofPlatform().name("deadline-body").daemon().start(() -> {
            try {
                body.run(deadline);
            } catch (Throwable e) {
                thrown[0] = e;
            }
        });
        t.join(limit);
        if (t.isAlive()) {
            String stack = stack(t);
            synchronized (deadline) {
                for (Thread w : deadline.watched) {
                    if (w.isAlive()) stack += "\nand " + w + " was at:" + stack(w);
                }
                for (AutoCloseable c : deadline.onTimeout) {
                    try {
                        c.close();
                    } catch (Exception ignored) {
                        // the body is stuck; closing is only to free it
                    }
                }
            }
            t.join(Duration.ofSeconds(2));
            fail(what + " did not finish within " + limit + " (a hang); it was at:" + stack);
        }
        Throwable e = thrown[0];
        if (e instanceof Exception x) throw x;
        if (e instanceof Error x) throw x;
    }

    private static String stack(Thread t) {
        return Arrays.stream(t.getStackTrace()).map(e -> "\n\tat " + e).collect(Collectors.joining());
    }
}
