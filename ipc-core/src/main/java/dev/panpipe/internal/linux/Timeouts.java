package dev.panpipe.internal.linux;

import java.time.Duration;

/** Converts API timeouts to poll(2) milliseconds: null waits without limit, anything else is capped at int. */
final class Timeouts {
    private Timeouts() {
    }

    static int millis(Duration timeout) {
        if (timeout == null) return -1;
        if (timeout.isNegative()) throw new IllegalArgumentException("negative timeout: " + timeout);
        long ms = timeout.toMillis();
        if (ms == 0 && !timeout.isZero()) ms = 1;   // round a sub-millisecond wait up, not down to a busy poll
        return (int) Math.min(ms, Integer.MAX_VALUE);
    }
}
