package dev.panpipe.worker;

import dev.panpipe.process.ExitStatus;

import java.io.IOException;

/**
 * A worker ended while it was still expected to work: it crashed, was killed, or exited with a non-zero
 * code. Says how it ended and how far the exchange had got.
 */
public final class WorkerDiedException extends IOException {
    private final String worker;
    private final ExitStatus status;
    private final long sent;
    private final long answered;

    public WorkerDiedException(String worker, ExitStatus status, long sent, long answered, Throwable cause) {
        super("worker " + worker + " died: " + (status == null ? "status unknown" : status) + " after " + sent
                + " messages sent and " + answered + " answered", cause);
        this.worker = worker;
        this.status = status;
        this.sent = sent;
        this.answered = answered;
    }

    public String worker() {
        return worker;
    }

    /** How the worker ended (exit code or signal); null only if it could not be reaped in time. */
    public ExitStatus status() {
        return status;
    }

    /** Messages the parent had sent to it. */
    public long sent() {
        return sent;
    }

    /** Results it had sent back (the hello not counted). */
    public long answered() {
        return answered;
    }
}
