package dev.panpipe.testing;

import dev.panpipe.process.JavaCommand;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** Work run on a virtual thread of its own, its outcome waited for with a timeout, so a stuck thread fails a test. */
public final class VirtualThreads {
    private VirtualThreads() {
    }

    /** Starts {@code body} on a new virtual thread; the future completes with its result or what it threw. */
    public static <T> CompletableFuture<T> call(Callable<T> body) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try {
                result.complete(body.call());
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
        return result;
    }

    /**
     * Runs {@code main} (a {@link OneCarrierSteps} program among this module's test classes) in a JVM of its own
     * whose virtual-thread scheduler has a single carrier, which one JVM's tests cannot set for themselves, and
     * fails unless it ends with 0 within {@code seconds}; prints its output. The child's temporary directory is
     * {@code dir}: whatever its status, it must leave nothing there but the report, and what it leaves when killed
     * at the timeout goes with the caller's {@code @TempDir}.
     */
    public static void runWithOneCarrier(Class<?> main, Path dir, long seconds) throws Exception {
        List<String> cmd = JavaCommand.of(main, List.of(
                "--patch-module", "dev.panpipe.core=" + Path.of("target", "test-classes").toAbsolutePath(),
                "-Djava.io.tmpdir=" + dir,
                "-Djdk.virtualThreadScheduler.parallelism=1", "-Djdk.virtualThreadScheduler.maxPoolSize=1"), List.of());
        Path report = dir.resolve("report.txt");
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(report.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try {
            if (!child.waitFor(seconds, TimeUnit.SECONDS)) {
                child.destroyForcibly().waitFor();
                fail("the child did not end within " + seconds + " s:\n" + Files.readString(report));
            }
        } finally {
            child.getOutputStream().close();   // the JDK's pipes stay open until closed or collected: LeakCheck counts them
            child.getInputStream().close();
            child.getErrorStream().close();
        }
        String out = Files.readString(report);
        System.out.println(out);
        List<String> left;
        try (Stream<Path> files = Files.list(dir)) {
            left = files.filter(p -> !p.equals(report)).map(Path::toString).toList();
        }
        assertEquals(0, child.exitValue(), "the child found violations (2: a deadlock), and left " + left + ":\n" + out);
        assertEquals(List.of(), left, "what the child left in its temporary directory");
    }
}
