package dev.panpipe.worker;

import java.io.IOException;

/**
 * A non-blocking send ({@link WorkerSpec#blockingWrites(boolean) blockingWrites(false)}) found no room
 * for the whole message in the worker's stdin pipe: nothing of it was sent.
 */
public final class WorkerBusyException extends IOException {
    public WorkerBusyException(String worker) {
        super("worker " + worker + " is busy: its stdin pipe has no room for the whole message now; nothing was sent");
    }
}
