package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.process.Subprocess;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A process group led by a {@link Subprocess} (started with {@code processGroup(0)}), for an owner outside
 * this package that signals the group as a whole: {@link dev.panpipe.process.Pipeline}, whose stages join the
 * group of its first. The group's number is the leader's pid, and stays the group's only while the leader is
 * not reaped: alive, or a zombie nobody has waited for. So the owner waits for the leader without reaping it
 * ({@link #awaitExitUnreaped}, {@link #hasExited}) until it has sent the group its last signal, and a group whose
 * leader was reaped all the same (a {@code waitFor} on the leader's own Subprocess) is no longer signalled.
 *
 * <p>Which group a process is in is read from {@code /proc/PID/stat}.
 */
public final class ProcessGroups {
    private static final Path PROC = Path.of("/proc");

    private ProcessGroups() {
    }

    /** A process as its {@code /proc/PID/stat} line says: its state letter (R, S, Z...), group and session. */
    record Member(int pid, char state, int group, int session) {
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

    /**
     * True if {@code p}, not reaped, is in the group {@code leader} leads. Read from /proc while {@code p} is
     * unreaped, so its pid is still its own; false once it has been reaped, and for a stage that left the group
     * ({@code setsid}), which a signal to the group does not reach.
     */
    public static boolean isMember(Subprocess p, Subprocess leader) {
        Member m = stat(PROC.resolve(Long.toString(p.pid())).resolve("stat"));
        return m != null && m.group() == leader.pid() && !linux(p).reaped();
    }

    /**
     * The stat line's fields, or null if the process is gone (it may end between the listing and the read).
     * Fields are counted after the command's last ')', since the command may itself hold ") ".
     */
    private static Member stat(Path file) {
        String line;
        try {
            List<String> lines = Files.readAllLines(file);   // not readString: /proc files say size 0
            if (lines.isEmpty()) return null;
            line = lines.getFirst();
        } catch (IOException e) {
            return null;   // no such file, or ESRCH while reading: it has gone meanwhile
        }
        int pid = Integer.parseInt(line.substring(0, line.indexOf(' ')));
        String[] after = line.substring(line.lastIndexOf(')') + 2).split(" ", 5);   // state ppid pgrp session ...
        return new Member(pid, after[0].charAt(0), Integer.parseInt(after[2]), Integer.parseInt(after[3]));
    }

    private static LinuxSubprocess linux(Subprocess p) {
        if (p instanceof LinuxSubprocess l) return l;
        throw new IllegalArgumentException("not a process this spawner started: " + p);
    }
}
