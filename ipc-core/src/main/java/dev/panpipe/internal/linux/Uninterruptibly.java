package dev.panpipe.internal.linux;

import java.util.concurrent.CountDownLatch;

/**
 * Waits for cleanup paths (a close, a destroy, a reaping), which must finish their job on an interrupted thread
 * too: a close cut short by an interrupt would leave a child running or unreaped, or free an fd a thread still
 * uses. An interrupt neither ends these waits nor is lost: the thread's interrupt status is set again when they
 * return.
 */
final class Uninterruptibly {
    private Uninterruptibly() {
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
