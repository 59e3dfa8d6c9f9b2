package dev.panpipe.zerocopy.internal;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.pollfd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Who this process is, and whether another one is still alive: what the shared lock and queue record as
 * the owner of a word or a slot, and what a blocked survivor asks before it takes over from a dead one.
 *
 * <p>A process is named by its pid (the processes must share a pid namespace, and a time namespace too: /proc shows start times shifted
 * by the reader's) and, where it helps to tell
 * a recycled pid from the original owner, by its start time ({@code /proc/PID/stat} field 22, clock ticks
 * after boot), which no two processes with the same pid can share.
 *
 * <p>Asking allocates nothing: a survivor waiting behind a live claimer in another process asks every few tens
 * of milliseconds for as long as it waits, and a {@code Files.readString} of {@code /proc/PID/stat} with its
 * split was about 12 KB a look. The buffers are made once and shared under a lock; a look takes a few
 * microseconds, and waiters look at most every few milliseconds.
 */
public final class Processes {
    /** The largest pid Linux hands out ({@code PID_MAX_LIMIT}, 2^22), far below the 30 bits a lock word keeps for it. */
    public static final int PID_MASK = 0x3fff_ffff;

    /** Guards the buffers below, which every look shares. */
    private static final ReentrantLock SCRATCH = new ReentrantLock();
    /** One {@code struct pollfd}, for a pidfd. */
    private static final MemorySegment POLL_FD = Arena.global().allocate(pollfd.layout());
    /** {@code "/proc/" + pid + "/stat"}, NUL-terminated: 6 + 10 digits + 6 bytes at most. */
    private static final MemorySegment STAT_PATH = Arena.global().allocate(32);
    /**
     * What is read of {@code /proc/PID/stat}: its first 21 fields take at most about 440 bytes (a 15-byte comm
     * in parentheses, 20 numbers of at most 20 digits each), and the line's end is not needed.
     */
    private static final MemorySegment STAT = Arena.global().allocate(512);

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
        SCRATCH.lock();
        try {
            pollfd.fd(POLL_FD, pidfd);
            pollfd.events(POLL_FD, (short) linux_h.POLLIN());
            pollfd.revents(POLL_FD, (short) 0);
            return Syscalls.poll(POLL_FD, 1, 0) == 1;        // a pidfd is readable once its process has exited
        } catch (SyscallException e) {
            return false;
        } finally {
            SCRATCH.unlock();
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
        if (pid <= 0) return -1;
        SCRATCH.lock();
        try {
            int fd;
            try {
                fd = Syscalls.open(statPath(pid), linux_h.O_RDONLY() | linux_h.O_CLOEXEC(), 0);
            } catch (SyscallException e) {          // gone, or not readable (hidepid): cannot tell
                return -1;
            }
            long n;
            try {
                n = Syscalls.read(fd, STAT, STAT.byteSize());
            } catch (SyscallException e) {
                return -1;
            } finally {
                try {
                    Syscalls.close(fd);
                } catch (SyscallException ignored) {
                    // close releases the fd even when it reports an error
                }
            }
            return n > 0 ? field22(STAT, n) : -1;
        } finally {
            SCRATCH.unlock();
        }
    }

    /** Writes {@code "/proc/PID/stat"} into {@link #STAT_PATH}, digit by digit (no String). */
    private static MemorySegment statPath(int pid) {
        int at = 0;
        for (int i = 0; i < 6; i++) STAT_PATH.set(ValueLayout.JAVA_BYTE, at++, (byte) "/proc/".charAt(i));
        int digits = 1;
        for (int p = pid; p >= 10; p /= 10) digits++;
        for (int i = digits - 1, p = pid; i >= 0; i--, p /= 10) STAT_PATH.set(ValueLayout.JAVA_BYTE, at + i, (byte) ('0' + p % 10));
        at += digits;
        for (int i = 0; i < 5; i++) STAT_PATH.set(ValueLayout.JAVA_BYTE, at++, (byte) "/stat".charAt(i));
        STAT_PATH.set(ValueLayout.JAVA_BYTE, at, (byte) 0);
        return STAT_PATH;
    }

    /**
     * Field 22 (start time) of the first {@code length} bytes of a {@code /proc/PID/stat} line, or -1 if they do
     * not hold it whole. The line is "pid (comm) state ppid ...", and comm may hold spaces and parentheses, so
     * the fields are counted from the last ')': field 3 (state) starts two bytes after it.
     */
    static long field22(MemorySegment line, long length) {
        long close = -1;
        for (long i = 0; i < length; i++) if (line.get(ValueLayout.JAVA_BYTE, i) == ')') close = i;
        if (close < 0) return -1;
        long i = close + 2;
        for (int field = 3; field < 22; i++) {                   // skip fields 3..21: past their spaces
            if (i >= length) return -1;
            if (line.get(ValueLayout.JAVA_BYTE, i) == ' ') field++;
        }
        long value = 0;
        int digits = 0;
        for (; i < length; i++, digits++) {
            byte b = line.get(ValueLayout.JAVA_BYTE, i);
            if (b < '0' || b > '9') break;
            if (digits == 18) return -1;                           // no tick count is this long: not a stat line
            value = value * 10 + (b - '0');
        }
        // A number cut off by the end of what was read is not whole: it must be followed by its space.
        return digits > 0 && i < length ? value : -1;
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
