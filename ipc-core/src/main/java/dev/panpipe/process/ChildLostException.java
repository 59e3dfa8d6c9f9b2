package dev.panpipe.process;

import java.io.IOException;

/**
 * A {@link Mux} lost track of one of its children: how (or whether) it ended cannot be known. Most often
 * someone else reaped it ({@code waitid} or {@code waitpid} on its pid, outside the mux): the cause is then
 * {@code waitid: ECHILD}. The child has no {@link Mux.Exit}; {@link Mux#await} and {@link Mux#close()} throw
 * this rather than wait for an end that will never be seen.
 */
public final class ChildLostException extends IOException {
    private final String child;

    public ChildLostException(String child, String message, Throwable cause) {
        super(message, cause);
        this.child = child;
    }

    /** The child's name in the mux. */
    public String child() {
        return child;
    }
}
