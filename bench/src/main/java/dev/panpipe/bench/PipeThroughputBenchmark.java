package dev.panpipe.bench;

import dev.panpipe.bindings.Syscalls;
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
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

/**
 * Parent → child bulk transfer through the child's stdin, one message per write.
 *
 * <p>Shape: throughput of writes. One operation is one write of {@link MessageSize#size} bytes (64 B to one
 * 3840x2160 RGB frame; the fixed-size variants write 64 KiB); the child is started in the trial's setup and
 * keeps reading across every iteration, so neither spawning nor the child's start-up is timed. JMH's score
 * is writes/s; results.md shows it as MB/s (writes/s x size / 10^6), beside the C floor
 * (bench/src/main/c/pipe_throughput.c: write(2) and vmsplice(2) loops into the same kind of reader), and the
 * gc profiler's {@code gc.alloc.rate.norm} is bytes allocated per write, in the steady state.
 * Why not one timed 4 GiB shot per iteration: a single invocation per iteration puts every one-off
 * (a deoptimisation, a recompilation, JMH's own per-iteration work) into one sample, so both the time and
 * the B/op of a shot scatter widely (tried: ±25% and 0 to 550 kB per 1 GiB shot).
 *
 * <p>The child, the same for every variant: {@code dd of=/dev/null bs=1M status=none}, which only reads
 * (up to 1 MiB a call, enough to drain an enlarged pipe in one read) and hands the bytes to /dev/null,
 * so the child costs as little as a reader can.
 *
 * <ul>
 *   <li>{@code panpipeSegment}: {@link WriteEnd#write(MemorySegment)} of an off-heap segment to
 *       {@link Subprocess#stdin()} with panpipe's defaults (the stdin pipe is asked for 1 MiB,
 *       {@code SubprocessBuilder.DEFAULT_PIPE_CAPACITY}); every message size.</li>
 *   <li>{@code jdkOutputStream}: {@code Process.getOutputStream().write(byte[size])} then {@code flush()};
 *       every message size. The flush makes each message one hand-off to the child as panpipe's write is:
 *       the stream is a {@code BufferedOutputStream} with an 8 KiB buffer, which would otherwise gather small
 *       messages into 8 KiB writes (a message of 8 KiB or more goes straight through, and the flush is then
 *       a no-op).</li>
 *   <li>{@code panpipeSegmentKernelPipe} (64 KiB): the same with {@code pipeCapacity(0)}: the kernel's default
 *       64 KiB pipe, as ProcessBuilder gets, to show what the pipe size alone is worth.</li>
 *   <li>{@code panpipeByteArray} (64 KiB): {@link WriteEnd#write(byte[], int, int)} from a heap array (copied
 *       through panpipe's per-thread native scratch buffer), the like-for-like of the JDK's stream.</li>
 *   <li>{@code experimentRawBlockingWrite} (64 KiB): not a panpipe API, an experiment for the analysis:
 *       plain blocking {@code write(2)} through panpipe's bindings ({@link Syscalls#write}) on the same
 *       stdin fd, which stays in blocking mode because panpipe's own write (which switches it to
 *       O_NONBLOCK and emulates blocking with poll) is never called on it. It shows what a blocking
 *       fast path in FdWriteEnd would reach.</li>
 * </ul>
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class PipeThroughputBenchmark {
    static final int WRITE_SIZE = 64 * 1024;
    static final String[] SINK = {"dd", "of=/dev/null", "bs=1M", "status=none"};

    /** The message of one write: {@code size} bytes, off-heap and as a heap array, the same bytes. */
    @State(Scope.Thread)
    public static class MessageSize {
        /** 64 B, 4 KiB, 64 KiB, 1 MiB, one 1920x1080 RGB frame, one 3840x2160 RGB frame. */
        @Param({"64", "4096", "65536", "1048576", "6220800", "24883200"})
        public int size;

        Arena arena;
        MemorySegment segment;
        byte[] array;

        @Setup(Level.Trial)
        public void setUp() {
            arena = Arena.ofConfined();
            segment = arena.allocate(size, 4096);
            for (int i = 0; i < size; i++) segment.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) i);
            array = segment.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    /** A child reading its stdin pipe, started with panpipe's defaults for stdin. */
    @State(Scope.Thread)
    public static class PanpipeChild {
        Arena arena;
        MemorySegment segment;
        byte[] array;
        Subprocess child;
        WriteEnd stdin;

        @Setup(Level.Trial)
        public void setUp(Placement placement) throws IOException {
            arena = Arena.ofConfined();
            segment = arena.allocate(WRITE_SIZE, 4096);
            for (int i = 0; i < WRITE_SIZE; i++) segment.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) i);
            array = segment.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            child = start(placement);
        }

        Subprocess start(Placement placement) throws IOException {
            Subprocess p = Subprocess.builder(placement.command(SINK))
                    .stdout(Redirect.discard())
                    .stderr(Redirect.discard())
                    .start();
            stdin = p.stdin();
            return p;
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            stdin.close();                      // end of input: the reader exits
            var status = child.waitFor();
            child.close();
            arena.close();
            if (!status.success()) throw new IllegalStateException("sink " + status);
        }
    }

    /** As {@link PanpipeChild}, but with the kernel's default 64 KiB stdin pipe ({@code pipeCapacity(0)}). */
    @State(Scope.Thread)
    public static class PanpipeKernelPipeChild extends PanpipeChild {
        @Override
        Subprocess start(Placement placement) throws IOException {
            Subprocess p = Subprocess.builder(placement.command(SINK))
                    .pipeCapacity(0)
                    .stdout(Redirect.discard())
                    .stderr(Redirect.discard())
                    .start();
            stdin = p.stdin();
            return p;
        }
    }

    /** As {@link PanpipeChild}; only raw write(2) is ever called on the stdin fd, so it stays blocking. */
    @State(Scope.Thread)
    public static class RawFdChild extends PanpipeChild {
        int fd;

        @Override
        Subprocess start(Placement placement) throws IOException {
            Subprocess p = super.start(placement);
            fd = (int) stdin.nativeHandle();
            return p;
        }
    }

    /** A child reading its stdin pipe, started with {@link ProcessBuilder}. */
    @State(Scope.Thread)
    public static class JdkChild {
        Process child;
        OutputStream stdin;

        @Setup(Level.Trial)
        public void setUp(Placement placement) throws IOException {
            child = new ProcessBuilder(placement.command(SINK))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.DISCARD)
                    .start();
            stdin = child.getOutputStream();
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException, InterruptedException {
            stdin.close();
            int code = child.waitFor();
            if (code != 0) throw new IllegalStateException("sink exit code " + code);
        }
    }

    @Benchmark
    public long panpipeSegment(PanpipeChild c, MessageSize m) throws IOException {
        return c.stdin.write(m.segment);
    }

    @Benchmark
    public long panpipeSegmentKernelPipe(PanpipeKernelPipeChild c) throws IOException {
        return c.stdin.write(c.segment);
    }

    @Benchmark
    public int panpipeByteArray(PanpipeChild c) throws IOException {
        return c.stdin.write(c.array, 0, WRITE_SIZE);
    }

    @Benchmark
    public long experimentRawBlockingWrite(RawFdChild c) throws IOException {
        long done = 0;
        while (done < WRITE_SIZE) {
            long n = Syscalls.write(c.fd, done == 0 ? c.segment : c.segment.asSlice(done), WRITE_SIZE - done);
            if (n == Syscalls.WOULD_BLOCK) continue;   // a signal interrupted the blocking write: again
            done += n;
        }
        return done;
    }

    @Benchmark
    public void jdkOutputStream(JdkChild c, MessageSize m) throws IOException {
        c.stdin.write(m.array);      // BufferedOutputStream passes a write >= its 8 KiB buffer straight through
        c.stdin.flush();             // and a smaller one is handed over now, as panpipe's write does
    }
}
