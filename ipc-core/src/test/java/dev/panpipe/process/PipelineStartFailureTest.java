package dev.panpipe.process;

import dev.panpipe.io.LeakCheck;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A pipeline that fails to start part-way: a typed error naming the stage, and the stages already started
 * ended and reaped, with no fd of the attempt left open.
 */
@ExtendWith(LeakCheck.class)
class PipelineStartFailureTest {
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
}
