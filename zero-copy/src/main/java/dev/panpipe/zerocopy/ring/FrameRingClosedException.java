package dev.panpipe.zerocopy.ring;

import java.io.IOException;

/**
 * The other end closed the ring: for a consumer, the producer closed and every committed frame has been
 * taken (end of stream, like Python's {@code EOFError}); for a producer, the consumer is gone and nothing
 * more will be read. Also thrown to a caller whose own end, or the ring, was closed.
 */
public final class FrameRingClosedException extends IOException {
    public FrameRingClosedException(String message) {
        super(message);
    }

    public FrameRingClosedException(String message, Throwable cause) {
        super(message, cause);
    }
}
