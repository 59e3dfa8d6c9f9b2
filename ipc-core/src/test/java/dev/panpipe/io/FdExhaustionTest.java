package dev.panpipe.io;

import dev.panpipe.process.JavaCommand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Running out of fds halfway through an operation that opens several: a typed error naming EMFILE, and
 * nothing left open or running ({@link dev.panpipe.testing.FdExhaustion}, in a JVM of its own because it
 * lowers its fd limit).
 */
@ExtendWith(LeakCheck.class)
class FdExhaustionTest {
    @Test
    @Timeout(120)
    void everyOperationThatRunsOutOfFdsPartWayFailsCleanly() throws Exception {
        List<String> cmd = JavaCommand.of(FdExhaustionMain.class,
                List.of("--patch-module", "dev.panpipe.core=" + Path.of("target", "test-classes").toAbsolutePath()), List.of());
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        String report;
        try (var out = child.getInputStream()) {
            report = new String(out.readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            child.getOutputStream().close();   // the JDK's pipes stay open until closed or collected: LeakCheck counts them
            child.getErrorStream().close();
        }
        assertEquals(0, child.waitFor(), "the sweep found violations:\n" + report);
        System.out.println(report);
    }
}
