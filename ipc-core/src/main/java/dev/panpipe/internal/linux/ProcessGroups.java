package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.process.Subprocess;

import java.io.IOException;

/**
 * A process group led by a {@link Subprocess} (started with {@code processGroup(0)}), for an owner outside
 * this package that signals the group as a whole: {@link dev.panpipe.process.Pipeline}, whose stages join the
 * group of its first. The group's number is the leader's pid, and stays the group's only while the leader is
 * not reaped: alive, or a zombie nobody has waited for. So the owner waits for the leader without reaping it
 * ({@link #awaitExitUnreaped}, {@link #hasExited}) until it has sent the group its last signal, and a group whose
 * leader was reaped all the same (a {@code waitFor} on the leader's own Subprocess) is no longer signalled.
 */
public final class ProcessGroups {
    private ProcessGroups() {
    }

    /**
     * Sends {@code signal} to every member of the group {@code leader} leads, unless the leader has been reaped
     * (see {@link LinuxSubprocess#signalGroupUnlessReaped}).
     *
     * @return false if nothing was sent because the leader has been reaped; true also when the group had no
     *         member left (ESRCH) or none this process may signal (EPERM)
     * @throws SyscallException from kill, for any other errno
     */
    public static boolean signalUnlessReaped(Subprocess leader, int signal) throws SyscallException {
        try {
            return linux(leader).signalGroupUnlessReaped(signal);
        } catch (SyscallException e) {
            if (e.errno() == Errno.ESRCH || e.errno() == Errno.EPERM) return true;
            throw e.withContext("signalling the process group " + leader.pid() + " of " + leader.command().getFirst());
        }
    }

    /** True if {@code leader} has ended; it is not reaped (unless it was already), so its group keeps its number. */
    public static boolean hasExited(Subprocess leader) throws SyscallException {
        return linux(leader).peekExit() != null;
    }

    /**
     * Waits up to {@code timeoutMillis} (0: just look) for {@code leader} to end, without reaping it. For a
     * cleanup (a close giving the stages their grace): an interrupt does not end the wait and stays set.
     *
     * @return true if it has ended
     */
    public static boolean awaitExitUnreaped(Subprocess leader, long timeoutMillis) throws IOException {
        return linux(leader).awaitExitUnreaped((int) Math.min(Math.max(timeoutMillis, 0), Integer.MAX_VALUE));
    }

    private static LinuxSubprocess linux(Subprocess p) {
        if (p instanceof LinuxSubprocess l) return l;
        throw new IllegalArgumentException("not a process this spawner started: " + p);
    }
}
