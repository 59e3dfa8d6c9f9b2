package dev.panpipe.internal.linux;

import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Subprocess;

import java.io.IOException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;

/**
 * Waits for cleanup paths (a close, a destroy, a reaping), which must finish their job on an interrupted thread
 * too: a close cut short by an interrupt would leave a child running or unreaped, or free an fd a thread still
 * uses. An interrupt neither ends these waits nor is lost: the thread's interrupt status is set again when they
 * return. Public for {@code dev.panpipe.process}; the package is not exported.
 */
public final class Uninterruptibly {
    private Uninterruptibly() {
    }

    /**
     * {@link Subprocess#waitFor(Duration)} for a cleanup path: {@code p} must have been started by panpipe (as
     * every {@code Subprocess} is).
     */
    public static Optional<ExitStatus> waitFor(Subprocess p, Duration timeout) throws IOException {
        return Optional.ofNullable(((LinuxSubprocess) p).awaitUninterruptibly(Timeouts.millis(timeout)));
    }

    /** Waits until {@code latch} is open. */
    static void await(CountDownLatch latch) {
        boolean interrupted = false;
        for (;;) {
            try {
                latch.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;            // cleared by the throw: kept here, set again below
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    /** Waits until {@code thread} has ended. */
    static void join(Thread thread) {
        boolean interrupted = false;
        for (;;) {
            try {
                thread.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }
}
