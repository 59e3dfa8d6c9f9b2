package dev.panpipe.bench;

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
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.util.concurrent.TimeUnit;

/**
 * The JDK's own pipe, {@link java.nio.channels.Pipe}, between two threads of one JVM: a baseline for what
 * Java offers without panpipe (its sink and source are the two ends of a pipe(2) on Linux).
 *
 * <p>Both threads live in the benchmark JVM, which scripts/bench pins to cpu 0, so these figures are
 * always "same vCPU", whatever the placement; scripts/bench runs this class in the same-core placement only.
 *
 * <ul>
 *   <li>{@code throughput}: one op = one message of {@link DirectMessage#size} bytes written from a direct buffer
 *       to the blocking sink (Throughput mode: messages/s; results.md shows MB/s); a second thread reads the
 *       source into a 1 MiB direct buffer and drops the bytes, as the other benchmarks' children do.</li>
 *   <li>{@code pingPong}: one op = 64 bytes written to one pipe, echoed by a second thread through another,
 *       and read back (SampleTime: mean and percentiles of each round trip).</li>
 * </ul>
 */
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class NioPipeBenchmark {
    static final int PING_BYTES = 64;


    /** A pipe whose source a second thread drains until the sink is closed. */
    @State(Scope.Thread)
    public static class Drained {
        Pipe pipe;
        Thread reader;
        volatile IOException failure;

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            pipe = Pipe.open();
            reader = Thread.ofPlatform().name("nio-pipe-reader").daemon().start(() -> {
                ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
                try {
                    while (pipe.source().read(buf) >= 0) buf.clear();
                } catch (IOException e) {
                    failure = e;
                }
            });
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException, InterruptedException {
            pipe.sink().close();
            reader.join(10_000);
            pipe.source().close();
            if (reader.isAlive()) throw new IllegalStateException("reader thread did not end");
            if (failure != null) throw failure;
        }
    }

    /** Two pipes and a thread echoing every 64-byte message from the first into the second. */
    @State(Scope.Thread)
    public static class Echo {
        Pipe there;
        Pipe back;
        Thread echo;
        ByteBuffer out;
        ByteBuffer in;
        volatile IOException failure;

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            there = Pipe.open();
            back = Pipe.open();
            out = DirectMessage.filled(PING_BYTES);
            in = ByteBuffer.allocateDirect(PING_BYTES);
            echo = echoThread().start(() -> {
                ByteBuffer buf = ByteBuffer.allocateDirect(PING_BYTES);
                try {
                    while (DirectMessage.readFully(there.source(), buf)) {
                        buf.flip();
                        while (buf.hasRemaining()) back.sink().write(buf);
                        buf.clear();
                    }
                } catch (IOException e) {
                    failure = e;
                }
            });
            roundTrip(this);
            for (int i = 0; i < PING_BYTES; i++) {
                if (in.get(i) != out.get(i)) throw new IllegalStateException("echo came back different at byte " + i);
            }
        }

        /** The echo's thread; VirtualThreadWakeBenchmark echoes from a virtual thread instead. */
        Thread.Builder echoThread() {
            return Thread.ofPlatform().name("nio-pipe-echo").daemon();
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException, InterruptedException {
            there.sink().close();
            echo.join(10_000);
            there.source().close();
            back.sink().close();
            back.source().close();
            if (echo.isAlive()) throw new IllegalStateException("echo thread did not end");
            if (failure != null) throw failure;
        }
    }

    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    public int throughput(Drained d, DirectMessage m) throws IOException {
        return m.writeTo(d.pipe.sink());
    }

    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public ByteBuffer pingPong(Echo e) throws IOException {
        return roundTrip(e);
    }

    static ByteBuffer roundTrip(Echo e) throws IOException {
        return DirectMessage.roundTrip(e.there.sink(), e.out, e.back.source(), e.in);
    }
}
