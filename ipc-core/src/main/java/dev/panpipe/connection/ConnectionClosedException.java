package dev.panpipe.connection;

import java.io.EOFException;

/**
 * The peer closed its end between two frames: nothing more will arrive (Python's {@code EOFError}).
 * A close inside a frame is a {@link ProtocolException} instead, because a message was cut short.
 */
public final class ConnectionClosedException extends EOFException {
    public ConnectionClosedException(String message) {
        super(message);
    }
}
