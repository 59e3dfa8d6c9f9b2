package dev.panpipe.bench;

import dev.panpipe.process.ExitStatus;
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
import org.openjdk.jmh.annotations.Warmup;

import java.io.File;
import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * Start a child, wait for it, release everything: {@code /bin/true}, so the figure is the cost of
 * spawning and reaping, not of the child's work. One operation = one child from builder to reaped.
 *
 * <ul>
 *   <li>{@code *Discard}: stdin, stdout and stderr on {@code /dev/null} for both (no pipe at all).</li>
 *   <li>{@code *Pipes}: each side's defaults, three pipes: panpipe's {@link Redirect#pipe()} and
 *       ProcessBuilder's PIPE; closing the parent's ends is part of the operation for both
 *       (panpipe in {@code close()}, the JDK in its reaper thread once the child has exited).</li>
 * </ul>
 *
 * <p>Five warm-up seconds: panpipe's first spawns load and link the jextract bindings and run interpreted
 * FFM downcalls (under 10 spawns/s in the first second), and it takes a few seconds of C2 to settle.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 6, time = 2)
@Fork(2)
@State(Scope.Thread)
public class SpawnBenchmark {
    private static final File DEV_NULL = new File("/dev/null");

    private String[] command;

    @Setup(Level.Trial)
    public void setUp(Placement placement) {
        command = placement.command("/bin/true");
    }

    @Benchmark
    public ExitStatus panpipeDiscard() throws IOException {
        try (Subprocess p = Subprocess.builder(command)
                .stdin(Redirect.discard())
                .stdout(Redirect.discard())
                .stderr(Redirect.discard())
                .start()) {
            return check(p.waitFor());
        }
    }

    @Benchmark
    public int jdkDiscard() throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command)
                .redirectInput(ProcessBuilder.Redirect.from(DEV_NULL))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        return check(p.waitFor());
    }

    @Benchmark
    public ExitStatus panpipePipes() throws IOException {
        try (Subprocess p = Subprocess.builder(command).start()) {
            return check(p.waitFor());
        }
    }

    @Benchmark
    public int jdkPipes() throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).start();
        return check(p.waitFor());
    }

    private ExitStatus check(ExitStatus s) {
        if (!s.success()) throw new IllegalStateException(String.join(" ", command) + ": " + s);
        return s;
    }

    private int check(int code) {
        if (code != 0) throw new IllegalStateException(String.join(" ", command) + ": exit code " + code);
        return code;
    }
}
