package dev.panpipe.internal.linux;

import dev.panpipe.io.LeakCheck;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Signals;
import dev.panpipe.process.Subprocess;
import dev.panpipe.testing.ProcFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link ProcessGroups#stopped}, which a foreground pipeline's waitFor asks while it waits, as a shell's job
 * control does: stopped once no stage runs and one is stopped, and the look must leave the stages to the reaper,
 * their stop reports and exit statuses unconsumed, or waitFor would lose an exit.
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class JobStateTest {
    @Test
    void shouldSeeAStoppedJobWithoutReapingOrConsumingAnything() throws Exception {
        try (Subprocess sleeper = Subprocess.builder("sleep", "100").stdin(Redirect.discard()).start();
             Subprocess quick = Subprocess.builder("true").stdin(Redirect.discard()).start()) {
            quick.waitFor();        // reaped: counts as ended
            List<Subprocess> job = List.of(sleeper, quick);
            assertFalse(ProcessGroups.stopped(job), "running");

            sleeper.signal(Signals.SIGSTOP);
            awaitState(sleeper, 'T');
            assertTrue(ProcessGroups.stopped(job));
            assertTrue(ProcessGroups.stopped(job), "the stop report is not consumed by a look");

            sleeper.signal(Signals.SIGCONT);
            awaitState(sleeper, 'S');
            assertFalse(ProcessGroups.stopped(job), "continued");

            sleeper.signal(Signals.SIGKILL);
            awaitState(sleeper, 'Z');
            assertFalse(ProcessGroups.stopped(job), "ended, nothing stopped");
            assertEquals(ExitStatus.killed(Signals.SIGKILL, false), sleeper.waitFor(), "its exit left for waitFor");
        }
    }

    private static void awaitState(Subprocess p, char state) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (ProcFs.state(p.pid()) != state) {
            assertTrue(System.nanoTime() < deadline, "state " + state + " of " + p);
            Thread.sleep(5);
        }
    }
}
