package dev.panpipe.bench;

import dev.panpipe.zerocopy.ring.FrameClaim;
import dev.panpipe.zerocopy.ring.FrameConsumer;
import dev.panpipe.zerocopy.ring.FrameProducer;
import dev.panpipe.zerocopy.ring.FrameRing;
import dev.panpipe.zerocopy.ring.FrameView;
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
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A 64-byte message there and back through two {@link FrameRing}s: this fork produces on the ping ring and
 * consumes the pong ring; a {@link RingPeer} child JVM ({@code echo}, placed by {@link Placement}) takes each
 * ping, copies it into a pong claim and commits it. One op = one round trip; every echo is checked (its first
 * word is the sequence number). SampleTime: p50/p90/p99 in the JSON.
 *
 * <p>Compare p50 with the C baselines measured in the same placement: {@code wait=spinning} with the C
 * shared-memory spin ping-pong (floor: <= 1.2x), {@code wait=doorbell} with the C eventfd ping-pong (floor:
 * <= 1.2x). Spinning is cross-core only: setup refuses it when the child shares this JVM's cpu (run that
 * placement with {@code -p wait=doorbell}).
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Thread)
public class RingRoundTripBenchmark {
    static final int MESSAGE_BYTES = 64;

    @Param({"spinning", "doorbell"})
    public String wait;

    FrameRing ping;
    FrameRing pong;
    FrameProducer out;
    FrameConsumer in;
    RingChild child;
    Arena arena;
    MemorySegment message;

    @Setup(Level.Trial)
    public void setUp(Placement placement) throws IOException {
        var strategy = RingChild.strategy(wait, placement);
        try {
            arena = Arena.ofConfined();
            message = arena.allocate(MESSAGE_BYTES, 8);
            for (int i = 0; i < MESSAGE_BYTES; i++) message.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7));
            ping = FrameRing.create(PairedRun.ROUND_TRIP_SLOTS, MESSAGE_BYTES);   // one message in flight each way
            pong = FrameRing.create(PairedRun.ROUND_TRIP_SLOTS, MESSAGE_BYTES);
            out = ping.producer(strategy);
            in = pong.consumer(strategy);
            child = RingChild.start(placement, List.of(ping, pong), "echo", wait);
        } catch (IOException | RuntimeException e) {
            try {
                tearDown();
            } catch (IOException | RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        try (Arena a = arena; FrameRing p = ping; FrameRing q = pong; RingChild c = child) {
            if (c != null) {
                out.close();
                c.finish(out.position());
            }
        }
    }

    @Benchmark
    public long roundTrip64() throws IOException {
        return roundTrip(out, in, message, System.nanoTime());
    }

    /**
     * One 64-byte round trip, the message committed with timestamp {@code sentNanos} (the echo hands it back):
     * the benchmark's op, stamping with a clock read of its own like {@link FrameClaim#commit()}, and
     * PairedRun's, which passes the clock reading its timing loop already took. Returns the echo's last word.
     */
    static long roundTrip(FrameProducer out, FrameConsumer in, MemorySegment message, long sentNanos) throws IOException {
        FrameClaim c = out.claimBytes(MESSAGE_BYTES);
        long seq = c.sequence();
        MemorySegment p = c.pixels();
        MemorySegment.copy(message, 0, p, 0, MESSAGE_BYTES);
        p.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, seq);
        c.commit(sentNanos);
        FrameView v = in.take();
        MemorySegment echo = v.pixels();
        long first = echo.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
        long last = echo.get(ValueLayout.JAVA_LONG_UNALIGNED, MESSAGE_BYTES - 8);
        long length = v.payloadLength();
        v.release();
        if (first != seq || length != MESSAGE_BYTES) {
            throw new IllegalStateException("echo of message " + seq + " came back as " + first + " (" + length + " bytes)");
        }
        return last;
    }
}
