package dev.panpipe.worker;

/** What a worker's inbox does when it is full and another result arrives. */
public enum InboxOverflow {
    /**
     * Stop reading the worker's results until the consumer makes room: the bytes stay in the kernel, the
     * worker blocks on its next write, and nothing is lost. The default.
     */
    BLOCK,
    /** Drop the oldest result to make room, as Python's {@code deque(maxlen=n)}; {@link Worker#dropped()} counts them. */
    DROP_OLDEST
}
