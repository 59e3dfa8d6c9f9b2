package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.sigset_t;
import dev.panpipe.process.Subprocess;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryIteratorException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A process group led by a {@link Subprocess} (started with {@code processGroup(0)}), for an owner outside
 * this package that signals the group as a whole: {@link dev.panpipe.process.Pipeline}, whose stages join the
 * group of its first. The group's number is the leader's pid, and stays the group's only while the leader is
 * not reaped: alive, or a zombie nobody has waited for. So the owner waits for the leader without reaping it
 * ({@link #awaitExitUnreaped}, {@link #hasExited}) until it has sent the group its last signal, and a group whose
 * leader was reaped all the same (a {@code waitFor} on the leader's own Subprocess) is no longer signalled.
 *
 * <p>Who is in a group is read from {@code /proc/PID/stat}: the kernel has no call that lists a group, and
 * {@code kill(-pgid, 0)} cannot say that a group has ended, as the unreaped leader, a zombie, is still a member
 * and answers it.
 */
public final class ProcessGroups {
    private static final Path PROC = Path.of("/proc");
    /** The longest pause between two looks at a group that is still running, as LinuxSubprocess's waits. */
    private static final long MAX_PAUSE_MILLIS = 50;

    private ProcessGroups() {
    }

    /** A process as its {@code /proc/PID/stat} line says: its state letter (R, S, Z...), group and session. */
    record Member(int pid, char state, int group, int session) {
        /** Ended: a zombie its parent has not reaped yet, or one being reaped. */
        boolean ended() {
            return state == 'Z' || state == 'X';
        }
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
     * Waits until every process of the group {@code leader} leads has ended, the leader included (a zombie
     * has), or until {@code deadline} ({@link System#nanoTime}). For a close that gives the whole group, not
     * only its own children, a grace period between SIGTERM and SIGKILL: what a stage started may need it to
     * clean up. Looks only while the leader is unreaped, as the group's number is its own only then; should the
     * leader be reaped meanwhile by another thread, a look may read another group of that number, which can only
     * make this wait end early or last to the deadline: nothing is signalled on it. An interrupt does not end the
     * wait and stays set.
     *
     * @return true once nothing of the group runs; false at the deadline, or if the leader has been reaped
     *         (there is no telling then)
     */
    public static boolean awaitGroupEnded(Subprocess leader, long deadline) throws IOException {
        LinuxSubprocess l = linux(leader);
        boolean interrupted = false;
        try {
            long pause = 1;
            for (;;) {
                if (l.reaped()) return false;
                if (members((int) l.pid()).stream().allMatch(Member::ended)) return true;
                long left = deadline - System.nanoTime();
                if (left <= 0) return false;
                try {
                    Thread.sleep(Math.min(pause, Math.max(1, TimeUnit.NANOSECONDS.toMillis(left))));
                } catch (InterruptedException e) {
                    interrupted = true;
                }
                pause = Math.min(pause * 2, MAX_PAUSE_MILLIS);
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
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

    /** The terminal a foreground pipeline takes: stdin's, as the terminal a shell's job control uses is its own. */
    private static final int TERMINAL_FD = 0;

    /**
     * Makes the group {@code leader} leads the foreground process group of this process's terminal, as a shell
     * with job control does for a foreground job, if stdin is this process's controlling terminal and this
     * process's group is its foreground group now; otherwise (no terminal, or this process runs in the
     * background) changes nothing.
     *
     * @return this process's group, for {@link #giveTerminalBack}; -1 if nothing was changed
     * @throws SyscallException from tcgetpgrp or tcsetpgrp, for an errno other than "not a terminal" (ENOTTY,
     *         EBADF: no stdin, or one that is not this process's controlling terminal)
     */
    public static int takeTerminal(Subprocess leader) throws SyscallException {
        int own = Syscalls.getpgrp();
        int foreground;
        try {
            foreground = Syscalls.tcgetpgrp(TERMINAL_FD);
        } catch (SyscallException e) {
            if (e.errno() == linux_h.ENOTTY() || e.errno() == Errno.EBADF) return -1;
            throw e;
        }
        if (foreground != own) return -1;
        setForeground((int) leader.pid());
        return own;
    }

    /**
     * Makes {@code group}, as {@link #takeTerminal} returned it, the terminal's foreground group again. A terminal
     * that has hung up meanwhile (its tcsetpgrp fails with ENOTTY, or EIO) has nothing to give back.
     */
    public static void giveTerminalBack(int group) throws SyscallException {
        try {
            setForeground(group);
        } catch (SyscallException e) {
            if (e.errno() != linux_h.ENOTTY() && e.errno() != linux_h.EIO()) throw e;
        }
    }

    /**
     * tcsetpgrp with SIGTTOU blocked in the calling thread: this process is, or is about to be, outside the
     * foreground group, and the kernel would otherwise stop the whole JVM with SIGTTOU instead (it ignores a
     * signal the caller blocks). A virtual thread could move to another carrier between the three calls, one
     * without the mask, so it hands them to a platform thread of their own.
     */
    private static void setForeground(int group) throws SyscallException {
        if (!Thread.currentThread().isVirtual()) {
            setForegroundOnThisThread(group);
            return;
        }
        SyscallException[] failed = new SyscallException[1];
        Thread t = Thread.ofPlatform().name("panpipe-tcsetpgrp").start(() -> {
            try {
                setForegroundOnThisThread(group);
            } catch (SyscallException e) {
                failed[0] = e;
            }
        });
        Uninterruptibly.join(t);
        if (failed[0] != null) throw failed[0];
    }

    private static void setForegroundOnThisThread(int group) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ttou = sigset_t.allocate(arena);
            MemorySegment old = sigset_t.allocate(arena);
            linux_h.sigemptyset(ttou);
            linux_h.sigaddset(ttou, linux_h.SIGTTOU());
            Syscalls.checkReturned("pthread_sigmask", "SIG_BLOCK SIGTTOU", linux_h.pthread_sigmask(linux_h.SIG_BLOCK(), ttou, old));
            try {
                Syscalls.tcsetpgrp(TERMINAL_FD, group);
            } finally {
                // Cannot fail with a valid how; were SIGTTOU pending it would come now, but blocked it is never sent.
                linux_h.pthread_sigmask(linux_h.SIG_SETMASK(), old, MemorySegment.NULL);
            }
        }
    }

    /**
     * True if none of {@code processes} runs and at least one is stopped: a stopped job, as a shell's job control
     * sees one (bash's: no process running, one or more stopped). Reaps nothing and consumes no stop report.
     */
    public static boolean stopped(List<Subprocess> processes) throws SyscallException {
        boolean anyStopped = false;
        for (Subprocess p : processes) {
            switch (linux(p).jobState()) {
                case RUNNING -> { return false; }
                case STOPPED -> anyStopped = true;
                case ENDED -> { }
            }
        }
        return anyStopped;
    }

    /**
     * Stops this process's group with SIGTSTP, as the terminal's Ctrl-Z would have stopped it had it been the
     * foreground one, and returns once this process is continued (SIGCONT: a shell's {@code fg} or {@code bg}).
     *
     * <p>The others in the group are sent SIGTSTP one by one, first: a shell's job is the whole group, and a shell
     * with job control reports it stopped, and takes its terminal back, only once none of it runs. Stopped alone,
     * {@code java App | less} would leave {@code less} running and its shell waiting for it. This process is then
     * stopped with raise, to the calling thread, which stops it before the call returns. Not one kill of the whole
     * group: another thread may take a process-wide signal and stop the process only once the caller has run on,
     * here into a second, own, stop after the {@code fg}, which SIGCONT does not cancel as it has not been sent yet.
     * The members are read from {@code /proc}: a process that joins the group meanwhile, or that {@code hidepid}
     * hides, is not stopped. The kernel discards a stop, and this returns at once, when nothing could continue the
     * process (its group orphaned: no parent in another group of the session, so no job control) or when it
     * ignores or handles SIGTSTP itself ({@code less} and {@code vim} handle it, restore the terminal and stop).
     */
    public static void stopThisProcess() throws SyscallException {
        int self = (int) ProcessHandle.current().pid();
        List<Member> others;
        try {
            others = members(Syscalls.getpgrp());
        } catch (IOException e) {
            others = List.of();   // /proc unreadable: this process still stops, as it did before
        }
        int group = Syscalls.getpgrp();
        for (Member m : others) {
            if (m.pid() == self || m.ended()) continue;
            try {
                stopIfStillMember(m.pid(), group);
            } catch (SyscallException e) {
                // ESRCH: it ended meanwhile. EPERM: another user's (a setuid program of the job), which the
                // terminal's Ctrl-Z would have reached and this process cannot: its shell may keep waiting for
                // it, but this process must stop all the same, so that is no reason to give up.
                if (e.errno() != linux_h.ESRCH() && e.errno() != linux_h.EPERM()) throw e;
            }
        }
        Syscalls.raise(linux_h.SIGTSTP());
    }

    /**
     * Sends SIGTSTP to {@code pid} if it is still a member of {@code group}. The pid was read from /proc a moment
     * ago: it may have ended and its number gone to an unrelated process since. A pidfd pins the process the number
     * names now; if /proc then still shows that process in the group, the signal goes through the pidfd, to it and
     * no other, however the number is reused meanwhile.
     */
    private static void stopIfStillMember(int pid, int group) throws SyscallException {
        int pidfd;
        try {
            pidfd = Syscalls.pidfd_open(pid, 0);
        } catch (SyscallException e) {
            if (e.errno() == linux_h.ESRCH()) return;     // gone
            // No pidfd (ENOSYS before 5.3, EPERM under a seccomp filter, no fd left): stop it by number, as
            // before pidfds, after one more look that it is still of the job. This process must stop either way.
            Member now = stat(PROC.resolve(Integer.toString(pid)).resolve("stat"));
            if (now != null && now.group() == group && !now.ended()) Syscalls.kill(pid, linux_h.SIGTSTP());
            return;
        }
        try {
            Member now = stat(PROC.resolve(Integer.toString(pid)).resolve("stat"));
            if (now == null || now.group() != group || now.ended()) return;   // gone, or not of this job any more
            Syscalls.pidfd_send_signal(pidfd, linux_h.SIGTSTP());
        } finally {
            FdHandle.closeQuietly(pidfd);
        }
    }

    /** Every process whose group is {@code pgid}, zombies included, as /proc lists them now. */
    static List<Member> members(int pgid) throws IOException {
        List<Member> members = new ArrayList<>();
        try (DirectoryStream<Path> all = Files.newDirectoryStream(PROC, ProcessGroups::isPidDirectory)) {
            for (Path dir : all) {
                Member m = stat(dir.resolve("stat"));
                if (m != null && m.group() == pgid) members.add(m);
            }
        } catch (DirectoryIteratorException e) {
            throw e.getCause();
        }
        return members;
    }

    /** This process's session, as setpgid compares it: a group of another session cannot be joined. */
    static int ownSession() {
        Member self = stat(PROC.resolve("self/stat"));
        if (self == null) throw new IllegalStateException("/proc/self/stat is unreadable: is /proc mounted?");
        return self.session();
    }

    private static boolean isPidDirectory(Path p) {
        String name = p.getFileName().toString();
        return !name.isEmpty() && name.chars().allMatch(c -> c >= '0' && c <= '9');
    }

    /**
     * The stat line's fields, or null if the process is gone (it may end between the listing and the read).
     * Fields are counted after the command's last ')', since the command may itself hold ") ".
     */
    private static Member stat(Path file) {
        String line;
        try (InputStream in = Files.newInputStream(file)) {
            // Read to the end, not by lines: the command name may hold a newline or a carriage return (any byte
            // but NUL), and the fields after it are found from its last ')'. Latin-1: a command name is any
            // bytes, and one that is not UTF-8 must not make its process look gone (a group member missed, a wait
            // ended early).
            line = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
            if (line.isEmpty()) return null;
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
