package dev.panpipe.zerocopy.queue;

/**
 * A word of a {@link SharedQueue}'s shared memory holds what no process following the protocol could have
 * written: a slot's sequence, claim or length that fits no state of the ring, or a head or tail that
 * points at such a slot. Another process wrote over the queue (a bug, or hostile), and the queue cannot
 * tell which message comes next. Names the field and the value seen; the call that found it changed
 * nothing, so every later call that reaches the same slot throws this again.
 *
 * <p>An {@link IllegalStateException}, as the queue's other "this queue cannot go on" errors, so that the
 * methods of the queue keep their signatures; catch this type to tell corruption apart.
 */
public final class CorruptQueueException extends IllegalStateException {
    private final String field;
    private final long value;

    public CorruptQueueException(String field, long value, String message) {
        super(message);
        this.field = field;
        this.value = value;
    }

    /** The word that was wrong: "sequence", "writer claim", "reader claim", "length", "head" or "tail". */
    public String field() {
        return field;
    }

    /** The value seen in that word. */
    public long value() {
        return value;
    }
}
