package dev.panpipe.process;

import dev.panpipe.io.LeakCheck;
import dev.panpipe.testing.ProcFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A child that is stopped (SIGSTOP, a terminal's Ctrl-Z) when it is closed holds its SIGTERM pending until it is
 * continued: it used to be killed at the end of the grace period without ever handling it. Close now continues it
 * after the SIGTERM, as systemd and a shell's {@code kill} of a stopped job do, and its trap runs. The Mux's
 * children also get each signal once, as a pipeline's stages in a group of their own do, not once directly and
 * once through their group.
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class StoppedChildTest {
    /** Handles SIGTERM by writing "clean" to $1 and exiting 0; creates $2 once its trap is set. */
    private static final String CLEANER =
            "trap 'echo clean > \"$1\"; exit 0' TERM; : > \"$2\"; while :; do sleep 0.05; done";
    /**
     * Appends the count of SIGTERMs it has had to $1 at each one; creates $2 once its trap is set. It waits in
     * {@code wait}, which a signal ends at once, so that its trap runs between two signals rather than once for
     * both after a foreground sleep; the background sleep is in its group, which close signals too.
     */
    private static final String COUNTER =
            "n=0; trap 'n=$((n+1)); echo $n >> \"$1\"' TERM; : > \"$2\"; while :; do sleep 100 & wait; done";

    @TempDir
    Path dir;

    @Test
    void shouldLetAStoppedChildHandleItsSigtermWhenClosed() throws Exception {
        Path marker = dir.resolve("cleaned-up"), ready = dir.resolve("ready");
        Subprocess child = Subprocess.builder("sh", "-c", CLEANER, "cleaner", marker.toString(), ready.toString())
                .stdin(Redirect.discard()).stdout(Redirect.discard()).destroyGrace(Duration.ofSeconds(5)).start();
        try (child) {
            stop(child.pid(), ready, child::signal);
        }
        assertEquals(ExitStatus.exited(0), child.waitFor(), "the trap's exit, not SIGKILL at the end of the grace period");
        assertEquals(List.of("clean"), Files.readAllLines(marker));
    }

    @Test
    void shouldLetAStoppedPipelineStageHandleItsSigtermWhenClosed() throws Exception {
        Path marker = dir.resolve("cleaned-up"), ready = dir.resolve("ready");
        Pipeline.Running running = Pipeline.of(List.of(
                        List.of("sh", "-c", CLEANER, "cleaner", marker.toString(), ready.toString()), List.of("cat")))
                .input(Redirect.discard()).output(Redirect.discard()).start();
        try (running) {
            stop(running.processes().getFirst().pid(), ready, running.processes().getFirst()::signal);
        }
        assertEquals(ExitStatus.exited(0), running.processes().getFirst().waitFor());
        assertEquals(List.of("clean"), Files.readAllLines(marker));
    }

    @Test
    void shouldLetAStoppedMuxChildHandleItsSigtermWhenClosed() throws Exception {
        Path marker = dir.resolve("cleaned-up"), ready = dir.resolve("ready");
        Mux mux = Mux.builder().child("cleaner", List.of("sh", "-c", CLEANER, "cleaner", marker.toString(), ready.toString()))
                .output(new ByteArrayOutputStream()).grace(Duration.ofMillis(1500)).start();
        try (mux) {
            Subprocess child = mux.process("cleaner");
            stop(child.pid(), ready, child::signal);
        }
        assertEquals(List.of(new Mux.Exit("cleaner", ExitStatus.exited(0), false)), mux.exits());
        assertEquals(List.of("clean"), Files.readAllLines(marker));
    }

    /**
     * Two signals sent back to back may merge into one before the shell's trap runs, so a double send is not
     * always seen; but one signal never counts as two.
     */
    @Test
    void shouldSendAMuxChildOneSigtermWhenClosed() throws Exception {
        Path counted = dir.resolve("terms"), ready = dir.resolve("ready");
        Mux mux = Mux.builder().child("counter", List.of("sh", "-c", COUNTER, "counter", counted.toString(), ready.toString()))
                .output(new ByteArrayOutputStream()).grace(Duration.ofMillis(500)).start();
        try (mux) {
            ProcFs.await(() -> Files.exists(ready), "the counter has set its trap");
        }
        assertEquals(List.of("1"), Files.readAllLines(counted), "SIGTERMs the child counted");
    }

    interface Signaller {
        void signal(int signal) throws Exception;
    }

    /** Waits for the shell's trap, then stops the shell and waits until /proc says it is stopped. */
    private static void stop(long pid, Path ready, Signaller signaller) throws Exception {
        ProcFs.await(() -> Files.exists(ready), "the shell has set its trap");
        signaller.signal(Signals.SIGSTOP);
        ProcFs.await(() -> ProcFs.state(pid) == 'T', "the shell is stopped");
    }
}
