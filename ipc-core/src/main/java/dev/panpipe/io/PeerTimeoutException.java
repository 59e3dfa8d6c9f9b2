package dev.panpipe.io;

import java.io.InterruptedIOException;
import java.time.Duration;

/** No peer showed up in time: nobody opened the other end of a FIFO, or a child did not connect. */
public final class PeerTimeoutException extends InterruptedIOException {
    public PeerTimeoutException(String what, Duration timeout) {
        super(what + ": no peer within " + describe(timeout));
    }

    /** In milliseconds, as timeouts are mostly given; what does not count in them is said otherwise, never an overflow. */
    private static String describe(Duration timeout) {
        if (timeout.compareTo(Duration.ofMillis(1)) < 0) return timeout.toNanos() + " ns";
        if (timeout.compareTo(Duration.ofSeconds(Long.MAX_VALUE / 1000)) >= 0) return timeout.toSeconds() + " s";
        return timeout.toMillis() + " ms";
    }
}
