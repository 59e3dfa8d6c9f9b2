package dev.panpipe.zerocopy;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** What the threads of a concurrency test threw, reported together once they are joined. */
public final class ThreadFailures {
    /** A thread's work. */
    @FunctionalInterface
    public interface Body {
        void run() throws Exception;
    }

    private final List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());

    /** {@code body} as a Runnable that records what it throws. */
    public Runnable guard(Body body) {
        return () -> {
            try {
                body.run();
            } catch (Throwable e) {
                failures.add(e);
            }
        };
    }

    /** Throws the first failure recorded, with the others suppressed, if there is one. */
    public void assertNone() {
        synchronized (failures) {
            if (failures.isEmpty()) return;
            AssertionError e = new AssertionError(failures.size() + " threads failed; the first: " + failures.getFirst(), failures.getFirst());
            failures.stream().skip(1).forEach(e::addSuppressed);
            throw e;
        }
    }
}
