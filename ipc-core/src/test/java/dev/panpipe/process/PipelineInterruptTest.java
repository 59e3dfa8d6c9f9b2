package dev.panpipe.process;

import dev.panpipe.io.LeakCheck;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.InterruptedIOException;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A pipeline waited for, and closed, on an interrupted thread. */
@ExtendWith(LeakCheck.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PipelineInterruptTest {

    @AfterEach
    void clearInterrupt() {
        Thread.interrupted();        // a failed test's interrupt must not reach the leak check or the next test
    }

    /**
     * close on an interrupted thread still does all of it: the stages get their grace period (the middle one
     * finishes by itself once its input ends), the one still running then gets SIGTERM, and every stage is
     * reaped; nothing is thrown, and the interrupt status stays set.
     */
    @Test
    void shouldGiveTheGracePeriodThenEndAndReapEveryStageWhenClosedOnAnInterruptedThread() throws Exception {
        Pipeline.Running running = Pipeline.of(List.of(
                        List.of("cat"),
                        List.of("sh", "-c", "cat >/dev/null; sleep 0.5; exit 4"),
                        List.of("sleep", "30")))
                .input(Redirect.pipe()).output(Redirect.discard()).start();
        List<Subprocess> stages = running.processes();
        boolean stillInterrupted;
        Thread.currentThread().interrupt();
        try {
            running.close();
        } finally {
            stillInterrupted = Thread.interrupted();
        }
        assertTrue(stillInterrupted, "the interrupt status stays set");
        assertEquals(List.of(Optional.of(ExitStatus.exited(0)), Optional.of(ExitStatus.exited(4)),
                        Optional.of(ExitStatus.killed(Signals.SIGTERM, false))),
                stages.stream().map(p -> {
                    try {
                        return p.exitStatus();
                    } catch (java.io.IOException e) {
                        throw new AssertionError(e);
                    }
                }).toList());
        for (Subprocess p : stages) {
            assertFalse(LeakCheck.children().containsKey(p.pid()), "stage " + p + " still a child: " + LeakCheck.children());
        }
    }

    /** run() interrupted while it waits: the wait throws, and the close that follows still ends every stage. */
    @Test
    void shouldEndEveryStageWhenRunIsInterrupted() throws Exception {
        Thread.currentThread().interrupt();
        InterruptedIOException e = assertThrows(InterruptedIOException.class,
                () -> Pipeline.parse("sleep 30", "sleep 30").output(Redirect.discard()).run());
        assertTrue(Thread.interrupted(), "the interrupt status stays set");
        assertTrue(e.getMessage().contains("(sleep)"), e.getMessage());
        LeakCheck.assertNoChildren("the interrupted run");
    }
}
