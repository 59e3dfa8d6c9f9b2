package dev.panpipe.bench;

import dev.panpipe.io.ReadEnd;
import dev.panpipe.io.WriteEnd;
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
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * 64-byte round trips through two pipes to a child that echoes them: {@code cat}, which reads what is
 * there and writes it straight back, as the C baseline's child does (bench/src/main/c/pingpong.c
 * {@code --transport pipe}: write(2) there, read(2) back). One op = 64 bytes written to the child's stdin
 * and the same 64 bytes read back from its stdout; SampleTime, so the JSON has p50/p90/p99 beside the mean.
 *
 * <ul>
 *   <li>{@code panpipe}: {@link WriteEnd#write(MemorySegment)} to {@link Subprocess#stdin()},
 *       {@link ReadEnd#read(MemorySegment)} from {@link Subprocess#stdout()}, off-heap.</li>
 *   <li>{@code jdk}: {@code Process.getOutputStream().write(byte[64])} + {@code flush()},
 *       {@code getInputStream().readNBytes(...)}.</li>
 * </ul>
 *
 * <p>The child is placed by {@link Placement} (inherits cpu 0, or {@code taskset -c N cat}).
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class PipeRoundTripBenchmark {
    static final int BYTES = 64;

    @State(Scope.Thread)
    public static class PanpipeCat {
        Arena arena;
        MemorySegment out;
        MemorySegment in;
        Subprocess cat;

        @Setup(Level.Trial)
        public void setUp(Placement placement) throws IOException {
            arena = Arena.ofConfined();
            out = arena.allocate(BYTES, 64);
            in = arena.allocate(BYTES, 64);
            for (int i = 0; i < BYTES; i++) out.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 31 + 7));
            cat = Subprocess.builder(placement.command("cat")).stderr(Redirect.inherit()).start();
            roundTrip(this);
            if (in.mismatch(out) != -1) throw new IllegalStateException("cat echoed different bytes");
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            cat.stdin().close();
            var status = cat.waitFor();
            cat.close();
            arena.close();
            if (!status.success()) throw new IllegalStateException("cat " + status);
        }
    }

    @State(Scope.Thread)
    public static class JdkCat {
        byte[] out = new byte[BYTES];
        byte[] in = new byte[BYTES];
        Process cat;
        OutputStream stdin;
        InputStream stdout;

        @Setup(Level.Trial)
        public void setUp(Placement placement) throws IOException {
            for (int i = 0; i < BYTES; i++) out[i] = (byte) (i * 31 + 7);
            cat = new ProcessBuilder(placement.command("cat")).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            stdin = cat.getOutputStream();
            stdout = cat.getInputStream();
            roundTrip(this);
            if (!Arrays.equals(in, out)) throw new IllegalStateException("cat echoed different bytes");
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException, InterruptedException {
            stdin.close();
            int code = cat.waitFor();
            if (code != 0) throw new IllegalStateException("cat exit code " + code);
        }
    }

    @Benchmark
    public MemorySegment panpipe(PanpipeCat c) throws IOException {
        return roundTrip(c);
    }

    @Benchmark
    public byte[] jdk(JdkCat c) throws IOException {
        return roundTrip(c);
    }

    private static MemorySegment roundTrip(PanpipeCat c) throws IOException {
        c.cat.stdin().write(c.out);
        long n = c.cat.stdout().read(c.in);
        if (n < BYTES && n != ReadEnd.EOF) n += c.cat.stdout().readFully(c.in.asSlice(n));   // cat answered in pieces
        if (n != BYTES) throw new IOException("cat ended the stream after " + n + " bytes");
        return c.in;
    }

    private static byte[] roundTrip(JdkCat c) throws IOException {
        c.stdin.write(c.out);
        c.stdin.flush();
        if (c.stdout.readNBytes(c.in, 0, BYTES) != BYTES) throw new IOException("cat ended the stream");
        return c.in;
    }
}
