package dev.panpipe.internal.linux;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.io.Blocking;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.io.ReadEnd;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Signals;
import dev.panpipe.process.Subprocess;
import dev.panpipe.process.SubprocessBuilder;
import dev.panpipe.testing.ProcFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Subprocess#waitFor} answers {@link Thread#interrupt()}, and close and destroy finish their job on an
 * interrupted thread, leaving its interrupt status set. Run once for each way of waiting: through the pidfd
 * ({@link SubprocessInterruptTest}) and without one, as on a kernel before 5.3
 * ({@link SubprocessInterruptWithoutPidfdTest}).
 *
 * <p>A wait that ignores its interrupt would wait for {@code sleep 30}: a watchdog kills the child after 10 s,
 * so such a wait ends, and its test fails, rather than hangs.
 */
@ExtendWith(LeakCheck.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
abstract class SubprocessInterruptCases {
    /** Where a thread that waits for a child sleeps in the kernel: a poll, a sleep between looks, a waitid. */
    private static final List<String> WAITING = List.of("poll", "futex", "nanosleep", "do_wait");
    private static final Duration PROMPTLY = Duration.ofSeconds(5);

    /** Starts the child the way this suite tests. */
    abstract Subprocess start(SubprocessBuilder b) throws IOException;

    @AfterEach
    void clearInterrupt() {
        Thread.interrupted();        // a failed test's interrupt must not reach the leak check or the next test
    }

    /**
     * A Mux's or a pipeline's close gives a child its grace by waiting for its end without reaping it (the
     * zombie keeps its process group's number from being reused). Without a pidfd that wait used to be one
     * look, so the grace was skipped; and it is a cleanup's wait, so an interrupt does not end it.
     */
    @Test
    void shouldWaitForTheEndWithoutReapingItOnAnInterruptedThreadToo() throws Exception {
        // It runs until its input ends (a sleep from its start could be over before the look at it on a loaded
        // machine), then takes a moment to end, which the wait must wait out.
        try (Subprocess p = start(Subprocess.builder("sh", "-c", "cat >/dev/null; sleep 0.3; exit 3"))) {
            LinuxSubprocess child = (LinuxSubprocess) p;
            assertFalse(child.awaitExitUnreaped(0), "running");
            p.stdin().close();
            Thread.currentThread().interrupt();
            assertTrue(child.awaitExitUnreaped(20_000), "ended within 20 s");
            assertTrue(Thread.interrupted(), "the interrupt status is kept");
            assertEquals('Z', ProcFs.state(p.pid()), "a zombie still: not reaped");
            assertEquals(ExitStatus.exited(3), child.peekExit());
            assertEquals(ExitStatus.exited(3), p.waitFor());
        }
    }

    @Test
    void shouldThrowFromWaitForOnAnInterruptedThreadAndLeaveTheChildRunning() throws Exception {
        try (Subprocess p = start(Subprocess.builder("sleep", "30").destroyGrace(Duration.ofMillis(200)));
             Watchdog w = new Watchdog(p)) {
            Thread.currentThread().interrupt();
            long t0 = System.nanoTime();
            InterruptedIOException e = assertThrows(InterruptedIOException.class, p::waitFor);
            Duration took = Duration.ofNanos(System.nanoTime() - t0);
            assertTrue(Thread.interrupted(), "the interrupt status stays set");
            assertTrue(took.compareTo(PROMPTLY) < 0, "took " + took);
            assertEquals("interrupted while waiting for pid " + p.pid() + " (sleep) to end", e.getMessage());
            assertTrue(p.isAlive(), "the child is left running");
            w.close();
            p.close();
            assertEquals(Optional.of(ExitStatus.killed(Signals.SIGTERM, false)), p.exitStatus());
        }
    }

    @Test
    void shouldThrowFromATimedWaitForOnAnInterruptedThread() throws Exception {
        try (Subprocess p = start(Subprocess.builder("sleep", "30").destroyGrace(Duration.ofMillis(200)));
             Watchdog ignored = new Watchdog(p)) {
            Thread.currentThread().interrupt();
            long t0 = System.nanoTime();
            InterruptedIOException e = assertThrows(InterruptedIOException.class, () -> p.waitFor(Duration.ofSeconds(20)));
            Duration took = Duration.ofNanos(System.nanoTime() - t0);
            assertTrue(Thread.interrupted(), "the interrupt status stays set");
            assertTrue(took.compareTo(PROMPTLY) < 0, "took " + took);
            assertTrue(e.getMessage().contains("pid " + p.pid() + " (sleep)"), e.getMessage());
            assertTrue(p.isAlive(), "the child is left running");
        }
    }

    @Test
    void shouldEndAWaitThatAnotherThreadInterrupts() throws Exception {
        try (Subprocess p = start(Subprocess.builder("sleep", "30").destroyGrace(Duration.ofMillis(200)))) {
            for (boolean timed : new boolean[] {false, true}) {
                AtomicReference<Thread> waiter = new AtomicReference<>();
                Future<String> waiting = Blocking.startAndAwaitBlocked(WAITING, () -> {
                    waiter.set(Thread.currentThread());
                    try {
                        return "returned " + (timed ? p.waitFor(Duration.ofSeconds(20)) : p.waitFor());
                    } catch (InterruptedIOException e) {
                        return "interrupted, status " + (Thread.currentThread().isInterrupted() ? "kept" : "cleared");
                    }
                });
                assertFalse(waiting.isDone(), "waitFor returned before it was interrupted: " + (waiting.isDone() ? waiting.get() : ""));
                while (waiter.get() == null) Thread.onSpinWait();
                waiter.get().interrupt();
                assertEquals("interrupted, status kept", Blocking.resultOrFree(waiting, () -> kill(p),
                        (timed ? "waitFor(20 s)" : "waitFor()") + " went on waiting when interrupted"));
                assertTrue(p.isAlive(), "the child is left running");
            }
        }
    }

    @Test
    void shouldReturnTheStatusOfAChildThatHasEndedEvenToAnInterruptedThread() throws Exception {
        for (boolean timed : new boolean[] {false, true}) {
            try (Subprocess p = start(Subprocess.builder("sh", "-c", "exit 3"))) {
                long pid = p.pid();
                ProcFs.await(() -> ProcFs.state(pid) == 'Z', "the child has ended (not reaped yet)");
                Thread.currentThread().interrupt();
                ExitStatus status = timed ? p.waitFor(Duration.ofSeconds(20)).orElseThrow() : p.waitFor();
                assertTrue(Thread.interrupted(), "the interrupt status stays set");
                assertEquals(ExitStatus.exited(3), status);
            }
        }
    }

    @Test
    void shouldNeverThrowForAnInterruptWhenOnlyLooking() throws Exception {
        try (Subprocess p = start(Subprocess.builder("sleep", "30").destroyGrace(Duration.ofMillis(200)))) {
            Thread.currentThread().interrupt();
            assertTrue(p.isAlive());
            assertEquals(Optional.empty(), p.exitStatus());
            assertEquals(Optional.empty(), p.waitFor(Duration.ZERO));
            assertTrue(Thread.interrupted(), "the interrupt status stays set");
        }
    }

    @Test
    void shouldGiveTheGracePeriodThenEndAndReapOnCloseFromAnInterruptedThread() throws Exception {
        // Reads its stdin to the end, then takes half a second to finish: within the grace period.
        try (Subprocess finisher = start(Subprocess.builder("sh", "-c", "read line; sleep 0.5; exit 5")
                     .stdout(Redirect.discard()).destroyGrace(Duration.ofSeconds(20)));
             Subprocess sleeper = start(Subprocess.builder("sleep", "30").destroyGrace(Duration.ofMillis(200)))) {
            Thread.currentThread().interrupt();
            finisher.close();
            sleeper.close();
            assertTrue(Thread.interrupted(), "the interrupt status stays set");
            assertEquals(Optional.of(ExitStatus.exited(5)), finisher.exitStatus(), "the child was given its grace period");
            assertEquals(Optional.of(ExitStatus.killed(Signals.SIGTERM, false)), sleeper.exitStatus());
            assertReaped(finisher);
            assertReaped(sleeper);
        }
    }

    @Test
    void shouldGiveTheGracePeriodOnDestroyFromAnInterruptedThread() throws Exception {
        try (Subprocess p = start(Subprocess.builder("sh", "-c", "trap 'exit 7' TERM; echo ready; while :; do sleep 0.1; done"))) {
            assertEquals("ready\n", readLine(p.stdout()), "the trap is set before SIGTERM is sent");
            Thread.currentThread().interrupt();
            ExitStatus status = p.destroy(Duration.ofSeconds(20));
            assertTrue(Thread.interrupted(), "the interrupt status stays set");
            assertEquals(ExitStatus.exited(7), status, "SIGTERM, then the grace period, not SIGKILL at once");
            assertReaped(p);
        }
    }

    /** A thread waiting for the child must not hold up a signal from another: it waits, it does not lock the child. */
    @Test
    void shouldSignalAChildWhileAnotherThreadWaitsForIt() throws Exception {
        try (Subprocess p = start(Subprocess.builder("sleep", "30")); Watchdog ignored = new Watchdog(p)) {
            Future<ExitStatus> waiting = Blocking.startAndAwaitBlocked(WAITING, p::waitFor);
            long t0 = System.nanoTime();
            p.signal(Signals.SIGTERM);
            Duration took = Duration.ofNanos(System.nanoTime() - t0);
            assertTrue(took.compareTo(PROMPTLY) < 0, "the signal waited " + took + " for the waiting thread");
            assertEquals(ExitStatus.killed(Signals.SIGTERM, false), waiting.get(20, TimeUnit.SECONDS));
        }
    }

    private static void assertReaped(Subprocess p) {
        assertFalse(LeakCheck.children().containsKey(p.pid()), "still a child (zombie?): " + LeakCheck.children());
    }

    private static String readLine(ReadEnd end) throws IOException {
        StringBuilder line = new StringBuilder();
        byte[] one = new byte[1];
        while (!line.toString().endsWith("\n") && end.read(one, 0, 1) == 1) line.append((char) one[0]);
        return line.toString();
    }

    private static void kill(Subprocess p) {
        try {
            Syscalls.kill((int) p.pid(), Signals.SIGKILL);
        } catch (SyscallException e) {
            throw new AssertionError("killing the child of a stuck wait", e);
        }
    }

    /**
     * SIGKILLs the child after 10 s unless closed first. Closed before the child is reaped (it is declared after
     * the child in a try-with-resources block), so the pid it kills is still the child's.
     */
    private static final class Watchdog implements AutoCloseable {
        private final Thread thread;

        Watchdog(Subprocess p) {
            thread = Thread.ofPlatform().name("watchdog-" + p.pid()).daemon().start(() -> {
                try {
                    Thread.sleep(10_000);
                } catch (InterruptedException e) {
                    return;
                }
                kill(p);
            });
        }

        @Override
        public void close() {
            thread.interrupt();
            Uninterruptibly.join(thread);
        }
    }
}
