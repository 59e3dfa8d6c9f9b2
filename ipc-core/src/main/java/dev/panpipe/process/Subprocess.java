package dev.panpipe.process;

import dev.panpipe.io.ReadEnd;
import dev.panpipe.io.WriteEnd;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * A child process started with {@code posix_spawn} (never {@code fork()} inside the JVM).
 *
 * {@snippet :
 * try (Subprocess cat = Subprocess.builder("cat").stderr(Redirect.inherit()).start()) {
 *     cat.stdin().write("hi\n".getBytes(), 0, 3);
 *     cat.stdin().close();                          // cat sees end of input and exits
 *     byte[] buf = new byte[16];
 *     int n = cat.stdout().read(buf, 0, buf.length);
 *     ExitStatus status = cat.waitFor();            // exit code 0
 * }
 * }
 *
 * <p>Exit is observed through a pidfd where the kernel has one (Linux 5.3+), so a wait sleeps in the kernel
 * until the child ends (waking every 50 ms only to look for an interrupt), and signals always reach this
 * process, never a recycled pid. The process is reaped exactly once, by whichever thread sees it exit first:
 * no zombie is left.
 *
 * <p>{@link #close()} is for the one owner: it closes the child's stdin pipe and gives the child the
 * builder's grace period to finish by itself, then terminates it if it is still running
 * ({@link #destroy(Duration)}: SIGTERM, grace period, SIGKILL), reaps it and closes the other pipes.
 *
 * <h2>Interrupts</h2>
 * {@link #waitFor()} and {@link #waitFor(Duration)} answer {@link Thread#interrupt()}: a thread interrupted
 * before or while it waits gets an {@link InterruptedIOException} naming the child, its interrupt status
 * still set, and the child is left as it was, running and unreaped. A child that has already ended is not
 * waited for, so its status is returned even to an interrupted thread. {@link #exitStatus()},
 * {@link #isAlive()} and {@code waitFor(Duration.ZERO)} wait for nothing and never throw for an interrupt.
 * {@link #close()} and {@link #destroy(Duration)} are cleanup: on an interrupted thread they still give the
 * grace period, signal, reap and close, and leave its interrupt status set. So a try-with-resources block
 * whose {@code waitFor} is interrupted still ends the child.
 */
public interface Subprocess extends AutoCloseable {
    static SubprocessBuilder builder(String... command) {
        return new SubprocessBuilder(List.of(command));
    }

    static SubprocessBuilder builder(List<String> command) {
        return new SubprocessBuilder(command);
    }

    long pid();

    /** The command line as given (argv). */
    List<String> command();

    /** The parent's end of the child's stdin pipe. @throws IllegalStateException if stdin was not {@link Redirect#pipe()} */
    WriteEnd stdin();

    /** The parent's end of the child's stdout pipe. @throws IllegalStateException if stdout was not {@link Redirect#pipe()} */
    ReadEnd stdout();

    /** The parent's end of the child's stderr pipe. @throws IllegalStateException if stderr was not {@link Redirect#pipe()} */
    ReadEnd stderr();

    /**
     * Waits without limit for the child to end, reaps it and returns how it ended.
     *
     * @throws InterruptedIOException if the calling thread is interrupted before or while it waits and the
     *         child has not ended; the interrupt status stays set and the child is left running
     */
    ExitStatus waitFor() throws IOException;

    /**
     * Waits up to {@code timeout} ({@code null}: no limit; a wait shorter than a millisecond lasts one; one
     * longer than about 24 days is capped there); empty if the child is still running then.
     *
     * @throws InterruptedIOException if the calling thread is interrupted before or while it waits and the
     *         child has not ended; the interrupt status stays set. Never for {@link Duration#ZERO}, which only looks.
     * @throws IllegalArgumentException if {@code timeout} is negative
     */
    Optional<ExitStatus> waitFor(Duration timeout) throws IOException;

    /** How the child ended, if it has; does not wait, and an interrupt does not make it throw. */
    Optional<ExitStatus> exitStatus() throws IOException;

    /** Whether the child is still running; does not wait, and an interrupt does not make it throw. */
    boolean isAlive() throws IOException;

    /** Sends {@code signal} (see {@link Signals}); a no-op once the child has been reaped. */
    void signal(int signal) throws IOException;

    /**
     * Ends the child: SIGTERM (and SIGCONT, so that a stopped child handles it now rather than at the SIGKILL),
     * then SIGKILL if it is still running after {@code grace}; reaps it. An interrupt
     * of the calling thread shortens none of this and stays set.
     *
     * @return how it ended (a child that was already gone reports its real status)
     * @throws IllegalArgumentException if {@code grace} is negative (nothing is signalled)
     */
    ExitStatus destroy(Duration grace) throws IOException;

    /**
     * Closes stdin (if it is a pipe) and waits up to the grace period for the child to exit; then
     * SIGTERM, the grace period again, SIGKILL; reaps; closes the other pipe ends. Idempotent. An interrupt of
     * the calling thread shortens none of this and stays set.
     */
    @Override
    void close() throws IOException;
}
