package dev.panpipe.zerocopy.shared;

import java.io.IOException;

/**
 * Shared memory handed to {@code attach} does not hold what the caller expects: a wrong magic, an unknown
 * version, another type or length, or a segment too small for what its header claims. Names the header
 * field and the value seen. Nothing was changed in the memory.
 */
public final class SharedHeaderException extends IOException {
    private final String field;
    private final long value;

    public SharedHeaderException(String field, long value, String message) {
        super(message);
        this.field = field;
        this.value = value;
    }

    /** The header field that was wrong ("magic", "version", "type", "length", "capacity", ...). */
    public String field() {
        return field;
    }

    /** The value seen in that field. */
    public long value() {
        return value;
    }
}
