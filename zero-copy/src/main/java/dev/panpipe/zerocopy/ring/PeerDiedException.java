package dev.panpipe.zerocopy.ring;

import java.io.IOException;

/** The process at the other end of a ring died while this end waited for it (noticed through a pidfd). */
public final class PeerDiedException extends IOException {
    private final String peer;
    private final int pid;

    public PeerDiedException(String peer, int pid, String message) {
        super(message);
        this.peer = peer;
        this.pid = pid;
    }

    /** "producer" or "consumer". */
    public String peer() {
        return peer;
    }

    public int pid() {
        return pid;
    }
}
