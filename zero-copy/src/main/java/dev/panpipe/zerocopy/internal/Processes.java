package dev.panpipe.zerocopy.internal;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.pollfd;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Who this process is, and whether another one is still alive: what the shared lock and queue record as
 * the owner of a word or a slot, and what a blocked survivor asks before it takes over from a dead one.
 *
 * <p>A process is named by its pid (the processes must share a pid namespace, and a time namespace too: /proc shows start times shifted
 * by the reader's) and, where it helps to tell
 * a recycled pid from the original owner, by its start time ({@code /proc/PID/stat} field 22, clock ticks
 * after boot), which no two processes with the same pid can share.
 */
public final class Processes {
    /** The largest pid Linux hands out ({@code PID_MAX_LIMIT}, 2^22), far below the 30 bits a lock word keeps for it. */
    public static final int PID_MASK = 0x3fff_ffff;

    /** This process's pid. */
    public static final int SELF = Syscalls.getpid();
    /** This process's start time, or -1 if /proc cannot tell. */
    public static final long SELF_START_TIME = startTime(SELF);

    private Processes() {
    }

    /**
     * True only when process {@code pid} has surely ended (gone, or a zombie not yet reaped); false while
     * it runs or when it cannot be told. Asks a pidfd, so a zombie counts as ended and no signal is sent.
     *
     * <p>A pid that names a thread but no process (pidfd_open: ENOENT, or EINVAL before Linux 6.9) has
     * ended too: the process that had it is gone and the number was handed to a thread since, or the
     * word it was read from was written over. Telling "cannot tell" there made a lock whose word named a
     * thread wait for ever (a property test found it).
     */
    public static boolean hasEnded(int pid) {
        if (pid <= 0) return false;
        int pidfd;
        try {
            pidfd = Syscalls.pidfd_open(pid, 0);
        } catch (SyscallException e) {
            if (namesNoProcess(e.errno())) return true;
            // ENOSYS: a kernel before 5.3; EPERM: a seccomp filter that denies it (pidfd_open checks no permission
            // of its own), as Docker's default profile did before 20.10. Either way kill(pid, 0) can still tell gone.
            if (e.errno() == linux_h.ENOSYS() || e.errno() == linux_h.EPERM()) return killSaysGone(pid);
            return false;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = pollfd.allocate(arena);
            pollfd.fd(fds, pidfd);
            pollfd.events(fds, (short) linux_h.POLLIN());
            return Syscalls.poll(fds, 1, 0) == 1;            // a pidfd is readable once its process has exited
        } catch (SyscallException e) {
            return false;
        } finally {
            try {
                Syscalls.close(pidfd);
            } catch (SyscallException ignored) {
                // close releases the fd even when it reports an error
            }
        }
    }

    /**
     * Whether {@code errno} from pidfd_open says that no process has the pid: ESRCH (gone), or ENOENT (a
     * thread id that leads no process; EINVAL before Linux 6.9). Pids and thread ids share one number space,
     * so an owner's or a peer's pid may name another process's thread once it has ended: it has ended all
     * the same. The one reading of it for locks, queues and ring peers alike.
     */
    public static boolean namesNoProcess(int errno) {
        return errno == linux_h.ESRCH() || errno == linux_h.ENOENT() || errno == linux_h.EINVAL();
    }

    /**
     * True when {@code pid} has ended, or when it now names another process than the one that started at
     * {@code startTime} (a recycled pid); {@code startTime < 0} skips that second check.
     */
    public static boolean hasEnded(int pid, long startTime) {
        return hasEnded(pid, startTime, -1L);
    }

    /**
     * {@link #hasEnded(int, long)}, comparing only the bits of start times set in {@code startTimeBits}: what a
     * shared word with no room for all 64 of them kept. Two processes that had one pid and whose start times
     * agree in those bits (2^32 ticks apart, for the low 32) are told apart no better than by the pid alone.
     * This process's own pid is answered without a system call: it runs, so only a start time recorded by an
     * earlier process that had its pid says ended.
     */
    public static boolean hasEnded(int pid, long startTime, long startTimeBits) {
        if (pid == SELF) return startTime >= 0 && SELF_START_TIME >= 0 && ((startTime ^ SELF_START_TIME) & startTimeBits) != 0;
        if (hasEnded(pid)) return true;
        if (startTime < 0) return false;
        long now = startTime(pid);
        return now >= 0 && ((now ^ startTime) & startTimeBits) != 0;
    }

    /** Field 22 of {@code /proc/PID/stat}, or -1 if it cannot be read. */
    public static long startTime(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so count from the last ')'.
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(fields[22 - 3]);
        } catch (IOException | RuntimeException e) {    // gone, or not readable (hidepid): cannot tell
            return -1;
        }
    }

    private static boolean killSaysGone(int pid) {
        try {
            Syscalls.kill(pid, 0);
            return false;
        } catch (SyscallException e) {
            return e.errno() == linux_h.ESRCH();
        }
    }
}
