package dev.panpipe.connection;

import java.io.IOException;

/**
 * A frame broke the protocol: wrong magic or version, unknown type, non-zero flags, a length over the
 * maximum, a sequence gap, a truncated frame, or a payload its codec refuses. Names the field and the
 * value seen. The connection is broken afterwards: every later call throws this exception again.
 */
public final class ProtocolException extends IOException {
    private final String field;
    private final long value;

    public ProtocolException(String field, long value, String message) {
        super(message);
        this.field = field;
        this.value = value;
    }

    /** The header or payload field that was wrong ("magic", "length", "pixels.stride", ...). */
    public String field() {
        return field;
    }

    /** The value seen in that field. */
    public long value() {
        return value;
    }
}
