package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;

/**
 * Whether one end, whose description is in blocking mode and shared with another process, is read or written with
 * {@code RWF_NOWAIT} ({@link Syscalls#readNoWait}, {@link Syscalls#writeNoWait}): the calls of an O_NONBLOCK
 * description, for one call each, with the description left in the mode the other process has it in. Found out once
 * per end, on its first such call; a refusal of the flag is remembered, so an end tries it once at most.
 *
 * <p>Only pipes and FIFOs try the flag. Other files stay with a poll before each call: poll calls a regular file
 * always ready, and one that took the flag could answer EAGAIN while it says so (XFS: a lock held, blocks to
 * allocate), which would turn the wait into a spin; a socket (MSG_DONTWAIT would do there) or a tty is read and
 * written as before.
 */
final class NoWaitSupport {
    private static final byte UNKNOWN = 0, NO_WAIT = 1, POLL_FIRST = 2;
    private static final int EOPNOTSUPP = linux_h.EOPNOTSUPP();
    /** False once the kernel has shown it has no RWF_NOWAIT at all: no end tries it again. */
    private static volatile boolean kernelHasNoWait = true;

    /** Set once, by the first call to find out (racing calls find the same). */
    private volatile byte mode = UNKNOWN;

    /** Whether the next call on {@code fd} goes with RWF_NOWAIT (else: poll, then a plain call). */
    boolean use(int fd) throws SyscallException {
        byte m = mode;
        if (m == UNKNOWN) {
            m = kernelHasNoWait && FdHandle.isPipeOrFifo(fd) ? NO_WAIT : POLL_FIRST;
            mode = m;
        }
        return m == NO_WAIT;
    }

    /**
     * After a call with RWF_NOWAIT failed: true if it refused the flag, which it does before moving any byte, and
     * then this end (EOPNOTSUPP: a FIFO, a pipe vmsplice or splice has used, any pipe before Linux 6.4), or every
     * end (EINVAL: no RWF_NOWAIT before 4.14; ENOSYS: no preadv2/pwritev2 before 4.6, or a seccomp filter), polls
     * first from now on. False for any other error, which is the caller's to throw.
     */
    boolean refused(SyscallException e) {
        int errno = e.errno();
        if (errno == Errno.EINVAL || errno == Errno.ENOSYS) {
            kernelHasNoWait = false;
        } else if (errno != EOPNOTSUPP) {
            return false;
        }
        mode = POLL_FIRST;
        return true;
    }
}
