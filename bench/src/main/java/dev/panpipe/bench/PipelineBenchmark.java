package dev.panpipe.bench;

import dev.panpipe.io.ReadEnd;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Pipeline;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A three-stage coreutils pipeline, {@code cat FILE | grep x | wc -l}, started and waited for as a whole:
 * panpipe's {@link Pipeline} against bash running the same line ({@code bash -c '...'}). One op = the whole
 * pipeline from start to every stage reaped; the file (4,096 short lines, every seventh with an x) is
 * generated in setup, and both variants are checked once to print the same count.
 *
 * <ul>
 *   <li>{@code panpipe}: {@code Pipeline.of(...)}: three posix_spawns from the JVM, the stages connected
 *       fd-to-fd, stdin and stdout on /dev/null.</li>
 *   <li>{@code bash}: {@code bash -c 'cat FILE | grep x | wc -l'} started with panpipe's {@link Subprocess}
 *       (the fastest spawn this JVM has, so the difference is the shell's own: one more process, bash's
 *       start-up and its forks), stdin and stdout on /dev/null.</li>
 * </ul>
 *
 * <p>Every stage inherits the JVM's cpu (scripts/bench pins it to cpu 0): scripts/bench runs this class in
 * the same-core placement only (a {@code taskset} prefix per stage would add three execs to panpipe's side
 * and one to bash's).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 4, time = 1)
@Fork(1)
@State(Scope.Thread)
public class PipelineBenchmark {
    static final int LINES = 4096;

    Path dir;
    Path file;
    Pipeline pipeline;
    String[] bash;
    long expected;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        Placement.requireNamedModulesWithNativeAccess();
        dir = Files.createTempDirectory("panpipe-pipeline-", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        file = dir.resolve("lines.txt");
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < LINES; i++) {
            String line = String.format("%05d %s%n", i, i % 7 == 0 ? "fox jumps" : "dog naps");
            text.append(line);
            if (line.contains("x")) expected++;
        }
        Files.writeString(file, text, StandardCharsets.US_ASCII);
        List<List<String>> stages = List.of(List.of("cat", file.toString()), List.of("grep", "x"), List.of("wc", "-l"));
        pipeline = Pipeline.of(stages).input(Redirect.discard()).output(Redirect.discard()).stderr(Redirect.inherit());
        bash = new String[] {"bash", "-c", "cat '" + file + "' | grep x | wc -l"};

        try (Pipeline.Running r = Pipeline.of(stages).input(Redirect.discard()).pipeOutput().start()) {
            check("panpipe", r.stdout());
            if (r.waitFor().exitCode() != 0) throw new IllegalStateException("panpipe pipeline failed");
        }
        try (Subprocess p = Subprocess.builder(bash).stdin(Redirect.discard()).start()) {
            check("bash", p.stdout());
            if (!p.waitFor().success()) throw new IllegalStateException("bash pipeline failed");
        }
    }

    private void check(String who, ReadEnd out) throws IOException {
        String got = new String(out.asInputStream().readAllBytes(), StandardCharsets.US_ASCII).strip();
        if (!got.equals(Long.toString(expected))) throw new IllegalStateException(who + " counted " + got + ", expected " + expected);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        Files.deleteIfExists(file);
        Files.deleteIfExists(dir);
    }

    @Benchmark
    public int panpipe() throws IOException {
        int status = pipeline.run().exitCode();
        if (status != 0) throw new IllegalStateException("pipeline exited " + status);
        return status;
    }

    @Benchmark
    public ExitStatus bash() throws IOException {
        try (Subprocess p = Subprocess.builder(bash)
                .stdin(Redirect.discard())
                .stdout(Redirect.discard())
                .stderr(Redirect.inherit())
                .start()) {
            ExitStatus s = p.waitFor();
            if (!s.success()) throw new IllegalStateException("bash pipeline " + s);
            return s;
        }
    }
}
