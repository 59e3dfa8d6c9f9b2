package dev.panpipe.process;

import dev.panpipe.io.LeakCheck;
import dev.panpipe.testing.OpenFds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A pipeline that fails to start part-way: a typed error naming the stage, and the stages already started
 * ended and reaped, with no fd of the attempt left open.
 */
@ExtendWith(LeakCheck.class)
class PipelineStartFailureTest {
    @TempDir
    Path dir;

    /**
     * The pipe between two stages fails with EMFILE once stage 1 runs ({@link PipelineStartFailureMain}, in a
     * JVM of its own because it lowers its fd limit). It used to be a bare "pipe2: EMFILE" that named neither
     * stage, and a stage's own SyscallException (pidfd_open: EMFILE) became a plain IOException.
     */
    @Test
    @Timeout(120)
    void shouldNameTheStageAndTheLinkWhosePipeCannotBeOpenedAndLeaveNothing() throws Exception {
        List<String> cmd = JavaCommand.of(PipelineStartFailureMain.class,
                List.of("--patch-module", "dev.panpipe.core=" + Path.of("target", "test-classes").toAbsolutePath()), List.of());
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        String report;
        try (var out = child.getInputStream()) {
            report = new String(out.readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            child.getOutputStream().close();   // the JDK's pipes stay open until closed or collected: LeakCheck counts them
            child.getErrorStream().close();
        }
        assertEquals(0, child.waitFor(), "violations:\n" + report);
        System.out.println(report);
    }

    /**
     * Sixteen stages that ignore SIGTERM, then one posix_spawn refuses (ENOEXEC, after the lookup found it):
     * the sixteen are signalled together and share one grace period before SIGKILL. They used to be ended one
     * after another, each with a grace period of its own: eight seconds here, and longer for every stage more.
     */
    @Test
    @Timeout(60)
    void shouldEndTheStagesAlreadyStartedTogetherWhenALaterOneCannotStart() throws Exception {
        Path noise = Files.write(dir.resolve("noise"), new byte[] {0, 1, 2, 3, 4, 5, 6, 7});
        Files.setPosixFilePermissions(noise, PosixFilePermissions.fromString("rwx------"));
        List<String> stages = new ArrayList<>(Collections.nCopies(16, "sh -c 'trap \"\" TERM; exec sleep 60'"));
        stages.add(ShellWords.quote(noise.toString()));
        Pipeline pipeline = Pipeline.parse(stages.toArray(String[]::new)).input(Redirect.discard()).output(Redirect.discard());
        // The fds opened since, not a count: a count also moves with what the JVM's own threads open and close meanwhile.
        java.util.Map<Integer, String> fdsBefore = OpenFds.snapshot();
        long t0 = System.nanoTime();
        SpawnException e = assertThrows(SpawnException.class, pipeline::start);
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertTrue(e.getMessage().startsWith("pipeline stage 17 (" + ShellWords.quote(noise.toString()) + "): cannot start "), e.getMessage());
        assertTrue(e.getMessage().contains("ENOEXEC"), e.getMessage());
        assertTrue(millis < 4000, "16 stages ignoring SIGTERM took " + millis + " ms to end: not one shared grace period");
        assertEquals(List.of(), ProcessHandle.current().children().toList(), "every stage started was reaped");
        assertEquals(List.of(), OpenFds.openedSince(fdsBefore), "no fd of the attempt left open");
    }
}
