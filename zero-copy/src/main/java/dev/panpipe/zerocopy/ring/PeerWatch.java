package dev.panpipe.zerocopy.ring;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.pollfd;
import dev.panpipe.internal.Closer;
import dev.panpipe.zerocopy.internal.Processes;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Tells whether the peer process (by the pid it wrote into the ring header) is still alive, through a pidfd:
 * readable once the process has exited, and immune to pid reuse once opened. The pidfd is opened the first
 * time it is needed and reopened if the header names another pid (a new peer attached). Where pidfd_open is
 * missing (ENOSYS: Linux before 5.3) or denied (EPERM: a seccomp filter, as Docker's default profile before
 * 20.10), the peer is asked after with {@code kill(pid, 0)} and its start time instead
 * ({@link Processes#hasEnded(int, long)}), which tells a recycled pid apart but takes a zombie for alive until it
 * is reaped; before, every liveness check threw the pidfd_open error, and no ring could wait.
 *
 * <p>Used by its end's thread, and closed by whichever thread closes the end: a close from another thread
 * while that thread looks ({@link #isDead}) must neither close the pidfd under its {@code poll} (the number
 * may be another file's by then) nor be followed by a {@code pidfd_open} that nobody would close, and the
 * arena cannot close while the poll holds it. So both take this object's lock; a look holds it for two
 * non-blocking system calls at most, once per liveness check.
 */
final class PeerWatch implements AutoCloseable {
    private static final int SELF = (int) ProcessHandle.current().pid();

    private final Arena arena = Arena.ofShared();
    private final MemorySegment pollFd = pollfd.allocate(arena);
    private int pid;
    private int pidfd = -1;
    /** The peer's start time, when it is watched without a pidfd ({@link #NO_PIDFD}); -1 if /proc cannot tell. */
    private long startTime = NO_PIDFD;
    /** {@link #startTime} while the peer is watched through its pidfd. */
    private static final long NO_PIDFD = Long.MIN_VALUE;
    private boolean dead;
    private boolean closed;

    /**
     * True if process {@code peerPid} has exited, or is negative; false for pid 0 (no peer yet) and for this process. A pid
     * that names no process at all has exited too: pidfd_open answers ENOENT for a thread id that leads no
     * process (EINVAL before Linux 6.9), and pids and thread ids share one number space, so the peer's pid
     * may name another process's thread by the time it is first looked at ({@link Processes#namesNoProcess},
     * as for locks and queues). A header written over with such a number reads the same way.
     */
    synchronized boolean isDead(int peerPid) throws SyscallException {
        if (closed) return false;   // its end is closed: the caller sees that at its next look
        if (peerPid == 0 || peerPid == SELF) return false;
        if (peerPid < 0) return true;   // names no process: taken for "no peer yet", a wait on it never ended
        if (peerPid != pid) {
            closePidfd();
            pid = peerPid;
            dead = false;
            startTime = NO_PIDFD;
            try {
                pidfd = Syscalls.pidfd_open(peerPid, 0);
            } catch (SyscallException e) {
                if (e.errno() == linux_h.ENOSYS() || e.errno() == linux_h.EPERM()) {
                    startTime = Processes.startTime(peerPid);   // read now: the pid may be another's by the next look
                    dead = startTime < 0 && Processes.hasEnded(peerPid);
                } else if (Processes.namesNoProcess(e.errno())) {
                    dead = true;
                } else {
                    throw e;
                }
            }
        }
        if (dead) return true;
        if (startTime != NO_PIDFD) return dead = Processes.hasEnded(peerPid, startTime);
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

    /** Closes the pidfd and frees the poll buffer, the second even if the first failed. Idempotent. */
    @Override
    public synchronized void close() throws IOException {
        if (closed) return;
        closed = true;
        Closer closer = new Closer();
        closer.run(this::closePidfd);
        closer.run(arena::close);
        closer.throwFailure();
    }
}
