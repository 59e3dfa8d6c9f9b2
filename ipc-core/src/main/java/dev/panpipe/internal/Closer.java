package dev.panpipe.internal;

import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The steps of a close that must all run: each one runs whatever the steps before it threw, so one failed
 * release cannot leak the fds or children of the others. The first failure is thrown at the end with the
 * later ones suppressed in it, as try-with-resources does for the resources it closes.
 *
 * {@snippet :
 * Closer closer = new Closer();
 * closer.run(stdout::close);
 * closer.run(stderr::close);
 * closer.run(process::close);
 * closer.throwFailure();
 * }
 */
public final class Closer {
    /** One release. */
    @FunctionalInterface
    public interface Step {
        void run() throws IOException;
    }

    private Throwable failure;

    /** Runs {@code step}; what it throws is kept for {@link #throwFailure()}, not thrown. */
    public void run(Step step) {
        try {
            step.run();
        } catch (IOException | RuntimeException | Error e) {
            add(e);
        }
    }

    /** Records a failure met outside {@link #run}: the first one is thrown, the later ones are suppressed in it. */
    public void add(Throwable t) {
        if (failure == null) failure = t;
        else if (failure != t) failure.addSuppressed(t);
    }

    /** Throws the first failure, as it was thrown (an IOException, a RuntimeException or an Error), if there was one. */
    public void throwFailure() throws IOException {
        switch (failure) {
            case null -> { }
            case IOException e -> throw e;
            case RuntimeException e -> throw e;
            case Error e -> throw e;
            default -> throw new IllegalStateException("not a failure a close step can throw", failure);
        }
    }

    /** As {@link #throwFailure()}, for a close that declares no IOException: one would arrive wrapped. */
    public void throwUncheckedFailure() {
        try {
            throwFailure();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
