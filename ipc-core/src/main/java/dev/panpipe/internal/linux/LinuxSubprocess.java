package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.siginfo_t;
import dev.panpipe.internal.Closer;
import dev.panpipe.io.ReadEnd;
import dev.panpipe.io.WriteEnd;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Signals;
import dev.panpipe.process.Subprocess;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.nio.channels.AsynchronousCloseException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;

/**
 * {@link Subprocess} on Linux: exit is seen through a pidfd ({@code pidfd_open}) and the child is reaped
 * with {@code waitid(P_PID)}. Kernels without pidfds (before 5.3) fall back to {@code waitid(WNOHANG)}
 * with a short back-off.
 *
 * <h2>Interrupts</h2>
 * {@link #waitFor} answers {@link Thread#interrupt()}; everything a close or destroy waits for does not
 * ({@link #awaitUninterruptibly}), so a cleanup finishes on an interrupted thread, whose status it leaves set.
 */
final class LinuxSubprocess implements Subprocess {
    private static final Cleaner CLEANER = Cleaner.create();
    /**
     * How long an interruptible wait sleeps in the kernel before it looks at its thread's interrupt status.
     * Thread.interrupt() wakes no native poll: the one hook Java gives it, AbstractInterruptibleChannel's
     * begin/end, would need an fd per wait for the interrupt to ring, and a wait must not fail for want of an
     * fd. So waitFor polls in slices: an interrupt is seen within 50 ms, for 20 wake-ups a second of waiting.
     */
    private static final int INTERRUPT_CHECK_MILLIS = 50;
    private static final long NO_DEADLINE = Long.MAX_VALUE;

    private final int pid;
    private final List<String> command;
    private final FdHandle pidfd;            // null without kernel support
    private final FdWriteEnd stdin;
    private final FdReadEnd stdout;
    private final FdReadEnd stderr;
    private final Duration destroyGrace;
    private final Reaper reaper;
    private final Cleaner.Cleanable cleanable;
    private volatile boolean closed;
    /** Held by the close that runs; another close waits on it. */
    private final ReentrantLock closing = new ReentrantLock();

    private LinuxSubprocess(int pid, List<String> command, FdHandle pidfd, FdHandle stdin, FdHandle stdout,
                            FdHandle stderr, Duration destroyGrace) {
        this.pid = pid;
        this.command = command;
        this.pidfd = pidfd;
        this.stdin = stdin == null ? null : new FdWriteEnd(stdin);
        this.stdout = stdout == null ? null : new FdReadEnd(stdout);
        this.stderr = stderr == null ? null : new FdReadEnd(stderr);
        this.destroyGrace = destroyGrace;
        this.reaper = new Reaper(pid);
        // Safety net for an owner that never calls close(): kill and reap, so not even a leak leaves a zombie.
        this.cleanable = CLEANER.register(this, reaper::killAndReap);
    }

    /**
     * The handle of a child just spawned. {@code usePidfd} false leaves it without a pidfd, as on a kernel
     * without them: for tests of that path.
     */
    static LinuxSubprocess started(int pid, List<String> command, FdHandle stdin, FdHandle stdout, FdHandle stderr,
                                   Duration destroyGrace, boolean usePidfd) throws SyscallException {
        FdHandle pidfd = usePidfd ? openPidfd(pid) : null;
        return new LinuxSubprocess(pid, command, pidfd, stdin, stdout, stderr, destroyGrace);
    }

    /** The child's pidfd, or null on a kernel without pidfds. */
    private static FdHandle openPidfd(int pid) throws SyscallException {
        try {
            // The child cannot have been reaped yet (only this object reaps it), so the pid is still its own.
            return FdHandle.own(Syscalls.pidfd_open(pid, 0), "pidfd of " + pid);
        } catch (SyscallException e) {
            if (e.errno() == Errno.ENOSYS) return null;
            // No handle to give the caller (out of fds, say): do not leave a running, unreapable child.
            Reaper orphan = new Reaper(pid);
            orphan.killAndReap();
            throw e;
        }
    }

    /** The pidfd (readable once the child has exited), or null on kernels without pidfds. */
    FdHandle pidfd() {
        return pidfd;
    }

    @Override
    public long pid() {
        return pid;
    }

    @Override
    public List<String> command() {
        return command;
    }

    @Override
    public WriteEnd stdin() {
        if (stdin == null) throw new IllegalStateException("stdin of " + command.get(0) + " is not a pipe");
        return stdin;
    }

    @Override
    public ReadEnd stdout() {
        if (stdout == null) throw new IllegalStateException("stdout of " + command.get(0) + " is not a pipe");
        return stdout;
    }

    @Override
    public ReadEnd stderr() {
        if (stderr == null) throw new IllegalStateException("stderr of " + command.get(0) + " is not a pipe");
        return stderr;
    }

    @Override
    public ExitStatus waitFor() throws IOException {
        return await(-1, true);
    }

    @Override
    public Optional<ExitStatus> waitFor(Duration timeout) throws IOException {
        return Optional.ofNullable(await(Timeouts.millis(timeout), true));
    }

    @Override
    public Optional<ExitStatus> exitStatus() throws IOException {
        return Optional.ofNullable(await(0, false));
    }

    @Override
    public boolean isAlive() throws IOException {
        return await(0, false) == null;
    }

    /**
     * Waits as {@link #waitFor(Duration)} does ({@code timeoutMillis} -1: no limit), but for a cleanup path: an
     * interrupt does not end the wait, and the thread's interrupt status is kept (set again where the wait had to
     * clear it). See {@link Uninterruptibly}.
     */
    ExitStatus awaitUninterruptibly(int timeoutMillis) throws IOException {
        return await(timeoutMillis, false);
    }

    /**
     * Waits up to {@code timeoutMillis} (-1: no limit) and reaps; null if still running. An interruptible wait
     * throws {@link InterruptedIOException} once its thread is interrupted, but only after a look that waits
     * for nothing: a child that has ended answers even an interrupted thread, and a wait of 0 never throws.
     */
    private ExitStatus await(int timeoutMillis, boolean interruptible) throws IOException {
        ExitStatus s = reaper.status;
        if (s != null) return s;
        long deadline = deadline(timeoutMillis);
        if (pidfd == null) return awaitWithoutPidfd(deadline, interruptible);
        // Closed by close(), perhaps on another thread since the status was read: close has reaped, or a failed
        // wait or signal left that to its safety net, which runs just after the pidfd is closed. So wait as
        // without a pidfd: a waitFor with no limit never answers null ("still running").
        if (pidfd.tryAcquire() < 0) return awaitWithoutPidfd(deadline, interruptible);
        try {
            boolean ended = interruptible ? awaitPidfdInterruptibly(deadline) : pidfd.awaitReadable(timeoutMillis);
            if (!ended) return null;
        } catch (AsynchronousCloseException e) {
            // close() shut the pidfd while this waited: it reaps, or failed to, so wait as without a pidfd
            return awaitWithoutPidfd(deadline, interruptible);
        } finally {
            pidfd.release();
        }
        ExitStatus reaped = reaper.reap(false);
        if (reaped != null) return reaped;
        // Ended, but not ours to reap yet: a traced child's zombie (strace -f, a debugger) is shown to its tracer
        // first, and to waitid here only once the tracer lets go. The pidfd stays readable, so look until then.
        return awaitWithoutPidfd(deadline, interruptible);
    }

    /**
     * Polls the pidfd in slices of {@link #INTERRUPT_CHECK_MILLIS}, looking at the thread's interrupt status
     * between them; a virtual thread's wait ends at an interrupt by itself, so it waits in one piece. The first
     * poll does not wait.
     *
     * @return true once the child has ended, false when {@code deadline} has passed
     */
    private boolean awaitPidfdInterruptibly(long deadline) throws IOException {
        boolean virtual = Thread.currentThread().isVirtual();
        int slice = 0;
        for (;;) {
            if (pidfd.awaitReadableUnlessInterrupted(slice)) return true;
            long left = millisLeft(deadline);
            if (left == 0) return false;
            if (Thread.currentThread().isInterrupted()) throw interruptedWaiting();
            if (!virtual) slice = (int) Math.min(left, INTERRUPT_CHECK_MILLIS);
            else slice = deadline == NO_DEADLINE ? -1 : (int) Math.min(left, Integer.MAX_VALUE);
        }
    }

    /**
     * Without a pidfd, only waitid can tell that the child has ended, and a blocking waitid is no way to wait:
     * it holds the reaper's lock (a signal or destroy from another thread would wait behind it for the child
     * to end) and no interrupt reaches it. So waitid(WNOHANG), with pauses from 1 ms up to
     * {@link #INTERRUPT_CHECK_MILLIS} between the looks.
     */
    private ExitStatus awaitWithoutPidfd(long deadline, boolean interruptible) throws IOException {
        return lookUntil(deadline, interruptible, () -> reaper.reap(false));
    }

    /**
     * {@link #awaitExitUnreaped} without a pidfd: waitid(WNOHANG | WNOWAIT), as {@link #awaitWithoutPidfd}.
     * Callers are cleanups (a Mux's or a pipeline's close giving its children their grace), so an interrupt
     * does not end it.
     */
    private boolean peekUntil(long deadline) throws IOException {
        return lookUntil(deadline, false, reaper::peek) != null;
    }

    /** One look of a wait without a pidfd: the exit status (reaped or only peeked at), null while it runs. */
    private interface Look {
        ExitStatus status() throws IOException;
    }

    /**
     * Looks until the child has ended or {@code deadline} has passed, pausing from 1 ms up to
     * {@link #INTERRUPT_CHECK_MILLIS} between looks. An interruptible wait throws once its thread is
     * interrupted; another keeps going and sets the interrupt status again at the end.
     */
    private ExitStatus lookUntil(long deadline, boolean interruptible, Look look) throws IOException {
        boolean interrupted = false;           // an uninterruptible wait's, set again at the end
        try {
            long pause = 1;
            for (;;) {
                ExitStatus s = look.status();
                if (s != null) return s;
                long left = millisLeft(deadline);
                if (left == 0) return null;
                if (interruptible && Thread.currentThread().isInterrupted()) throw interruptedWaiting();
                try {
                    Thread.sleep(Math.min(pause, left));
                } catch (InterruptedException e) {
                    if (interruptible) {
                        Thread.currentThread().interrupt();
                        throw interruptedWaiting();
                    }
                    interrupted = true;
                }
                pause = Math.min(pause * 2, INTERRUPT_CHECK_MILLIS);
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    /** System.nanoTime {@code timeoutMillis} from now; {@link #NO_DEADLINE} for -1 (no limit). */
    private static long deadline(int timeoutMillis) {
        return timeoutMillis < 0 ? NO_DEADLINE : System.nanoTime() + timeoutMillis * 1_000_000L;
    }

    /** Milliseconds until {@code deadline} (System.nanoTime), rounded up so no wait ends early; 0 once it has passed. */
    private static long millisLeft(long deadline) {
        if (deadline == NO_DEADLINE) return Long.MAX_VALUE;
        long nanos = deadline - System.nanoTime();
        return nanos <= 0 ? 0 : (nanos + 999_999) / 1_000_000;
    }

    private InterruptedIOException interruptedWaiting() {
        return new InterruptedIOException("interrupted while waiting for pid " + pid + " (" + command.get(0) + ") to end");
    }

    /**
     * How the child ended, without reaping it: it stays a zombie, so its pid (and the number of the
     * process group it leads) cannot be given to another process until it is reaped. Null while it runs.
     */
    ExitStatus peekExit() throws SyscallException {
        return reaper.peek();
    }

    /**
     * True once a waitid for the child has said ECHILD: someone else reaped it, its exit status is lost, and
     * its pid may by now be another process's, so it is never waited for or signalled by pid again.
     */
    boolean reapedElsewhere() {
        return reaper.reapedElsewhere;
    }

    /** What {@link #jobState} sees. */
    enum JobState { RUNNING, STOPPED, ENDED }

    /**
     * Whether the child runs, is stopped (by a stop signal, or traced), or has ended, as a shell's job control
     * tells them apart: waitid with WNOWAIT, so it reaps nothing and consumes no stop report, under the reaper's
     * lock, so never for a pid that has been reaped meanwhile. A child reaped, here or elsewhere, has ended.
     */
    JobState jobState() throws SyscallException {
        return reaper.jobState();
    }

    /**
     * Sends {@code signal} to the process group this child leads through its pidfd
     * ({@link Syscalls#PIDFD_SIGNAL_PROCESS_GROUP}): the pidfd names the group itself, not its number, so this is
     * right also after the child has been reaped, when {@link #signalGroupUnlessReaped} must not be used.
     *
     * @return true if sent, or if the group has no member left this process may signal (ESRCH, EPERM); false if
     *         it cannot be sent this way: no pidfd (or closed), or a kernel older than 6.9 (EINVAL)
     */
    boolean signalGroupThroughPidfd(int signal) throws SyscallException {
        int fd = pidfd == null ? -1 : pidfd.tryAcquire();
        if (fd < 0) return false;
        try {
            Syscalls.pidfd_send_signal(fd, signal, Syscalls.PIDFD_SIGNAL_PROCESS_GROUP);
            return true;
        } catch (SyscallException e) {
            if (e.errno() == Errno.ESRCH || e.errno() == Errno.EPERM) return true;
            if (e.errno() == Errno.EINVAL) return false;
            throw SyscallException.of("pidfd_send_signal", "process group of pid " + pid, e.errno());
        } finally {
            pidfd.release();
        }
    }

    /** True once this child is known to be reaped, here or elsewhere: its pid may be another's. */
    boolean reaped() {
        return reaper.status != null || reaper.reapedElsewhere;
    }

    /**
     * Sends {@code signal} to the process group this child leads (it must have been started as a group
     * leader), by number, but only while the child is not known to be reaped: alive, or a zombie nobody has
     * reaped, it keeps its pid, so the group's number cannot be given to another process. Once this handle
     * has reaped it (a {@link #waitFor} by anyone holding it) or a waitid has said ECHILD, the number is free
     * and nothing is sent. The check and the kill happen under the reaper's lock, so a waitFor on another
     * thread cannot reap the child in between.
     *
     * @return false if nothing was sent because the child has been reaped
     * @throws SyscallException from kill: ESRCH if the group has no member any more
     */
    boolean signalGroupUnlessReaped(int signal) throws SyscallException {
        return reaper.killGroupIfNotReaped(signal);
    }

    /**
     * Waits up to {@code timeoutMillis} (-1: no limit) for the child to end, without reaping it.
     *
     * @return true if it has ended
     */
    boolean awaitExitUnreaped(int timeoutMillis) throws IOException {
        if (reaper.status != null) return true;
        if (pidfd == null) return peekUntil(deadline(timeoutMillis));
        if (pidfd.tryAcquire() < 0) return reaper.peek() != null;
        try {
            return pidfd.awaitReadable(timeoutMillis);
        } catch (AsynchronousCloseException e) {
            return reaper.peek() != null;    // closed meanwhile by close(), which reaps
        } finally {
            pidfd.release();
        }
    }

    @Override
    public void signal(int signal) throws IOException {
        if (reaper.status != null) return;
        int fd = pidfd == null ? -1 : pidfd.tryAcquire();
        if (fd < 0) {
            // No pidfd, or closed meanwhile by close() on another thread: by pid, but only under the
            // reaper's lock and while the child is not reaped, so the number is still the child's.
            reaper.killIfNotReaped(signal);
            return;
        }
        try {
            Syscalls.pidfd_send_signal(fd, signal);
        } catch (SyscallException e) {
            if (e.errno() != Errno.ESRCH) throw SyscallException.of("pidfd_send_signal", "pid " + pid, e.errno());   // ESRCH: exited meanwhile
        } finally {
            pidfd.release();
        }
    }

    @Override
    public ExitStatus destroy(Duration grace) throws IOException {
        if (grace != null && grace.isNegative()) throw new IllegalArgumentException("negative grace period: " + grace);
        ExitStatus s = reaper.status;
        if (s != null) return s;
        signal(Signals.SIGTERM);
        // A stopped child (SIGSTOP, Ctrl-Z) would hold the SIGTERM pending through the whole grace period and
        // then be killed without its chance to clean up: continued, it handles the SIGTERM at once. (systemd and
        // a shell's kill of a stopped job do the same; a running child ignores SIGCONT unless it asks for it.)
        signal(Signals.SIGCONT);
        s = await(Timeouts.millis(grace), false);
        if (s != null) return s;
        signal(Signals.SIGKILL);
        return await(-1, false);
    }

    @Override
    public void close() throws IOException {
        // A second close (another thread's) waits for the first: returning at once, it let its caller go on
        // while the child was still in its grace period, unreaped, its pipes open.
        closing.lock();
        try {
            if (closed) return;
            closed = true;
            closeOnce();
        } finally {
            closing.unlock();
        }
    }

    private void closeOnce() throws IOException {
        Closer closer = new Closer();
        try {
            if (stdin != null) {
                // A child reading its stdin sees end of input: give it the grace period to finish by itself.
                stdin.close();
                if (reaper.status == null) await(Timeouts.millis(destroyGrace), false);
            }
            if (reaper.status == null && isAlive()) destroy(destroyGrace);
        } catch (IOException | RuntimeException | Error e) {
            closer.add(e);
        }
        // Every release runs, whatever failed before it. A child that a failed wait or signal left running is
        // killed and reaped by the safety net's action; once reaped, that action has nothing left to do.
        if (stdout != null) closer.run(stdout::close);
        if (stderr != null) closer.run(stderr::close);
        if (pidfd != null) closer.run(pidfd::close);
        closer.run(cleanable::clean);
        closer.throwFailure();
    }

    @Override
    public String toString() {
        ExitStatus s = reaper.status;
        return "Subprocess[pid=" + pid + ", " + command.get(0) + (s == null ? ", running]" : ", " + s + "]");
    }

    /**
     * Owns the reaping of one pid: exactly once, under a lock, so two waiting threads never both call
     * waitid and no signal is ever sent to a pid after it was reaped (when it could belong to someone else).
     * Holds no reference to the Subprocess, so it can serve as the Cleaner's action.
     */
    private static final class Reaper {
        private final int pid;
        private final ReentrantLock lock = new ReentrantLock();
        volatile ExitStatus status;
        /** waitid said ECHILD: reaped by someone else; the pid may be reused, so no more waitid or kill on it. */
        volatile boolean reapedElsewhere;

        Reaper(int pid) {
            this.pid = pid;
        }

        ExitStatus reap(boolean block) throws SyscallException {
            lock.lock();
            try {
                if (status != null) return status;
                status = waitid(linux_h.WEXITED() | (block ? 0 : linux_h.WNOHANG()));
                return status;
            } finally {
                lock.unlock();
            }
        }

        /** The exit status if the child has ended, leaving it unreaped (WNOWAIT). */
        ExitStatus peek() throws SyscallException {
            lock.lock();
            try {
                return status != null ? status : waitid(linux_h.WEXITED() | linux_h.WNOHANG() | linux_h.WNOWAIT());
            } finally {
                lock.unlock();
            }
        }

        JobState jobState() throws SyscallException {
            lock.lock();
            try {
                if (status != null || reapedElsewhere) return JobState.ENDED;
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment info = siginfo_t.allocate(arena);   // zeroed: si_pid stays 0 if it runs
                    try {
                        Syscalls.waitid(linux_h.P_PID(), pid, info,
                                linux_h.WEXITED() | linux_h.WSTOPPED() | linux_h.WNOHANG() | linux_h.WNOWAIT());
                    } catch (SyscallException e) {
                        if (e.errno() != Errno.ECHILD) throw SyscallException.of("waitid", "pid " + pid, e.errno());
                        reapedElsewhere = true;
                        return JobState.ENDED;
                    }
                    MemorySegment chld = siginfo_t._sifields._sigchld(siginfo_t._sifields(info));
                    if (siginfo_t._sifields._sigchld.si_pid(chld) == 0) return JobState.RUNNING;
                    int code = siginfo_t.si_code(info);
                    return code == linux_h.CLD_STOPPED() || code == linux_h.CLD_TRAPPED() ? JobState.STOPPED : JobState.ENDED;
                }
            } finally {
                lock.unlock();
            }
        }

        private ExitStatus waitid(int options) throws SyscallException {
            // Not asked again: the pid could now be a new child of ours, whose exit this would steal.
            if (reapedElsewhere) throw SyscallException.of("waitid", "pid " + pid, Errno.ECHILD);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment info = siginfo_t.allocate(arena);   // zeroed: si_pid stays 0 if nothing to reap
                try {
                    Syscalls.waitid(linux_h.P_PID(), pid, info, options);
                } catch (SyscallException e) {
                    if (e.errno() == Errno.ECHILD) reapedElsewhere = true;
                    throw SyscallException.of("waitid", "pid " + pid, e.errno());   // which child, among a pipeline's
                }
                MemorySegment chld = siginfo_t._sifields._sigchld(siginfo_t._sifields(info));
                if (siginfo_t._sifields._sigchld.si_pid(chld) == 0) return null;
                int code = siginfo_t.si_code(info);
                int value = siginfo_t._sifields._sigchld.si_status(chld);
                return code == linux_h.CLD_EXITED()
                        ? ExitStatus.exited(value)
                        : ExitStatus.killed(value, code == linux_h.CLD_DUMPED());
            }
        }

        void killIfNotReaped(int signal) throws SyscallException {
            lock.lock();
            try {
                if (status == null && !reapedElsewhere) Syscalls.kill(pid, signal);
            } finally {
                lock.unlock();
            }
        }

        /** See {@link LinuxSubprocess#signalGroupUnlessReaped}. */
        boolean killGroupIfNotReaped(int signal) throws SyscallException {
            lock.lock();
            try {
                if (status != null || reapedElsewhere) return false;
                Syscalls.kill(-pid, signal);
                return true;
            } finally {
                lock.unlock();
            }
        }

        void killAndReap() {
            try {
                if (status != null || reapedElsewhere) return;
                killIfNotReaped(Signals.SIGKILL);
                reap(true);
            } catch (SyscallException ignored) {
                // ECHILD: someone else reaped it; nothing is left to clean up
            }
        }
    }
}
