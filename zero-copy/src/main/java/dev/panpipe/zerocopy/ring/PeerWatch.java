package dev.panpipe.zerocopy.ring;

import dev.panpipe.bindings.Errno;
import dev.panpipe.connection.ProtocolException;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.pollfd;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Tells whether the peer process (by the pid it wrote into the ring header) is still alive, through a pidfd:
 * readable once the process has exited, and immune to pid reuse once opened. The pidfd is opened the first
 * time it is needed and reopened if the header names another pid (a new peer attached).
 */
final class PeerWatch implements AutoCloseable {
    private static final int SELF = (int) ProcessHandle.current().pid();

    private final Arena arena = Arena.ofShared();
    private final MemorySegment pollFd = pollfd.allocate(arena);
    private int pid;
    private int pidfd = -1;
    private boolean dead;

    /**
     * True if process {@code peerPid} has exited; false for pid 0 (no peer yet) and for this process.
     *
     * @param field the header field the pid was read from, named if it holds no process id at all
     * @throws ProtocolException if the pid names a thread that leads no process, or is not a valid pid:
     *                           a peer that wrote its thread id, or a corrupt header
     */
    boolean isDead(int peerPid, String field) throws IOException {
        if (peerPid <= 0 || peerPid == SELF) return false;
        if (peerPid != pid) {
            closePidfd();
            pid = peerPid;
            dead = false;
            try {
                pidfd = Syscalls.pidfd_open(peerPid, 0);
            } catch (SyscallException e) {
                if (e.errno() == Errno.ENOENT || e.errno() == Errno.EINVAL) {
                    pid = 0;   // look again next time: the field may be rewritten
                    throw new ProtocolException(field, peerPid, "ring " + field + " " + peerPid + " is not a process id ("
                            + e.getMessage() + "): a thread id, or a corrupt header");
                }
                if (e.errno() != Errno.ESRCH) throw e;
                dead = true;
            }
        }
        if (dead) return true;
        pollfd.fd(pollFd, pidfd);
        pollfd.events(pollFd, (short) linux_h.POLLIN());
        pollfd.revents(pollFd, (short) 0);
        dead = Syscalls.poll(pollFd, 1, 0) > 0;
        return dead;
    }

    private void closePidfd() throws SyscallException {
        if (pidfd >= 0) {
            int fd = pidfd;
            pidfd = -1;
            Syscalls.close(fd);
        }
    }

    @Override
    public void close() throws SyscallException {
        try {
            closePidfd();
        } finally {
            arena.close();
        }
    }
}
