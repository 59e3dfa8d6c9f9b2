package dev.panpipe.internal;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Close-while-in-use for a resource whose release must wait for the calls using it: calls
 * {@link #enter()} and {@link #exit()} around their use; {@link #close()} shuts the gate, and the resource
 * is released by whoever leaves it empty, the closer or the last call out. Nothing blocks and nothing
 * allocates.
 *
 * <p>One int holds everything (the scheme of {@code sun.nio.ch}'s IN_USE → CLOSING → CLOSED states):
 * <pre>
 *   31  30                                   0
 *  +---+--------------------------------------+
 *  | C |        calls in flight               |
 *  +---+--------------------------------------+
 * </pre>
 */
public final class CloseGate {
    private static final int CLOSED = Integer.MIN_VALUE;

    /** What {@link #close()} found. */
    public enum Closing {
        /** Someone closed it before. */
        ALREADY_CLOSED,
        /** No call was in flight: the caller releases the resource now. */
        RELEASE_NOW,
        /** Calls are in flight: the last {@link #exit()} releases it; wake them if they may be blocked. */
        IN_USE
    }

    private final AtomicInteger state = new AtomicInteger();

    /** Marks a call in flight; false if the gate is closed (nothing to {@link #exit()} then). */
    public boolean enter() {
        for (;;) {
            int s = state.get();
            if (s < 0) return false;
            if (state.compareAndSet(s, s + 1)) return true;
        }
    }

    /** Ends a call; true if it was the last one after {@link #close()}: the caller must release the resource. */
    public boolean exit() {
        return state.decrementAndGet() == CLOSED;
    }

    public Closing close() {
        int s;
        do {
            s = state.get();
            if (s < 0) return Closing.ALREADY_CLOSED;
        } while (!state.compareAndSet(s, s | CLOSED));
        return s == 0 ? Closing.RELEASE_NOW : Closing.IN_USE;
    }

    public boolean isClosed() {
        return state.get() < 0;
    }
}
