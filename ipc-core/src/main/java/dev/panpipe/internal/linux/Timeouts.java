package dev.panpipe.internal.linux;

import java.time.Duration;
import java.util.Objects;

/**
 * Converts API timeouts to the units of the calls that wait: null waits without limit, a negative timeout
 * is an {@link IllegalArgumentException}, and one too long for the unit is capped, never an overflow
 * ({@code Duration.ofSeconds(Long.MAX_VALUE)} is a valid way to say "practically forever").
 */
final class Timeouts {
    /** The longest timeout poll(2) takes, about 24.8 days. */
    private static final Duration MAX_MILLIS = Duration.ofMillis(Integer.MAX_VALUE);
    /** The longest timeout that fits a long of nanoseconds, about 292 years. */
    private static final Duration MAX_NANOS = Duration.ofNanos(Long.MAX_VALUE);

    private Timeouts() {
    }

    /** poll(2) milliseconds: -1 for null, a sub-millisecond wait rounded up (not down to a busy poll), capped at int. */
    static int millis(Duration timeout) {
        if (timeout == null) return -1;
        requireNotNegative(timeout);
        if (timeout.compareTo(MAX_MILLIS) >= 0) return Integer.MAX_VALUE;
        long ms = timeout.toMillis();
        if (ms == 0 && !timeout.isZero()) ms = 1;
        return (int) ms;
    }

    /** Nanoseconds, for {@code awaitNanos}: capped at {@code Long.MAX_VALUE}; {@code timeout} must not be null. */
    static long nanos(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        requireNotNegative(timeout);
        return timeout.compareTo(MAX_NANOS) >= 0 ? Long.MAX_VALUE : timeout.toNanos();
    }

    /**
     * {@link System#nanoTime()} {@code timeout} from now, for loops that wait until a deadline; {@code Long.MAX_VALUE}
     * (which such loops read as "no limit") for a timeout of a century or more.
     */
    static long deadline(Duration timeout) {
        long nanos = nanos(timeout);
        // Past a century, no limit: a deadline near the end of a long would overflow the loops' "deadline - now".
        if (nanos >= Long.MAX_VALUE / 2) return Long.MAX_VALUE;
        try {
            return Math.addExact(System.nanoTime(), nanos);
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    private static void requireNotNegative(Duration timeout) {
        if (timeout.isNegative()) throw new IllegalArgumentException("negative timeout: " + timeout);
    }
}
