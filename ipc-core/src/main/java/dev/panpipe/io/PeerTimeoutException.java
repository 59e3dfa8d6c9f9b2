package dev.panpipe.io;

import java.io.InterruptedIOException;
import java.time.Duration;

/** No peer showed up in time: nobody opened the other end of a FIFO, or a child did not connect. */
public final class PeerTimeoutException extends InterruptedIOException {
    public PeerTimeoutException(String what, Duration timeout) {
        super(what + ": no peer within " + timeout.toMillis() + " ms");
    }
}
