package dev.panpipe.bench;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.ring.FrameClaim;
import dev.panpipe.zerocopy.ring.FrameProducer;
import dev.panpipe.zerocopy.ring.FrameRing;
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
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Frames through the shared-memory {@link FrameRing} between two processes: this JMH fork produces, a
 * {@link RingPeer} child JVM consumes (started once per trial, placed by {@link Placement}: same vCPU or the
 * other one). One op = one frame claimed, written and committed here; the child takes, checks and releases
 * every one of them (its count and error count are checked at the end of the trial). The ring never holds
 * more than {@code slots} frames, so in the steady state frames produced per second are frames consumed per
 * second: the score, in ops/s, is frames/s.
 *
 * <ul>
 *   <li>{@code handoff}: a {@code frame} RGB8 frame of which the producer writes only the first pixel (the
 *       sequence number) and the consumer reads only the descriptor and that pixel: what moving a frame
 *       costs, which must not depend on its size, since only the 64-byte descriptor and two counters
 *       move. 1920x1080 vs 3840x2160: the floors are >= 1,000,000 frames/s for 1080p and 4K within
 *       10% of it. Only touched pages of the slots are ever backed by memory, so 64 4K slots cost a few
 *       pages, not 1.6 GB.</li>
 *   <li>{@code fillRead}: the producer fills every byte of a 1920x1080 RGB8 frame ({@link RingPeer#fill}),
 *       the consumer sums every byte as longs ({@link RingPeer#sumLongs}) and checks the sum, pipelined:
 *       the producer fills frame N+1 while the consumer reads frame N. Floor: >= 0.8x
 *       {@code fillReadSingleProcess}, the same fill then the same sum of one buffer of the same size
 *       (memfd shared memory, as the ring's slots) in this thread alone. Meant for cross-core; same-core the
 *       two processes take turns on one vCPU. At a few thousand ops/s the gc profiler's B/op carries the
 *       harness's own allocation and the trial's tear-down (tens to hundreds of bytes, for
 *       {@code fillReadSingleProcess} too); {@link SteadyAllocationProfiler} reads 0 for both.</li>
 * </ul>
 *
 * <p>{@code wait}: the {@link dev.panpipe.zerocopy.ring.WaitStrategy} of both ends: {@code spinning} (never
 * sleeps: cross-core only, refused in setup when the child shares this JVM's cpu — two spinners on one cpu
 * only take turns when the scheduler preempts one, so run same-core with {@code -p wait=doorbell}) or
 * {@code doorbell} (spin briefly, yield, sleep on the futex).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class RingBenchmark {
    static final int HD_WIDTH = 1920, HD_HEIGHT = 1080;
    static final long HD_BYTES = (long) HD_WIDTH * HD_HEIGHT * 3;   // 6,220,800

    /** A ring whose producer is this thread and whose consumer is a {@link RingPeer} child. */
    public abstract static class ProducerEnd {
        FrameRing ring;
        FrameProducer producer;
        RingChild child;

        void start(Placement placement, String wait, int slots, long frameBytes, String... peerArgs) throws IOException {
            var strategy = RingChild.strategy(wait, placement);
            ring = FrameRing.create(slots, frameBytes);
            try {
                producer = ring.producer(strategy);
                child = RingChild.start(placement, List.of(ring), peerArgs);
            } catch (IOException | RuntimeException e) {
                ring.close();
                throw e;
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            try (FrameRing r = ring; RingChild c = child) {
                if (c != null) {
                    producer.close();         // end of stream: the child takes what is left, reports and exits
                    c.finish(producer.position());
                }
            }
        }
    }

    @State(Scope.Thread)
    public static class Handoff extends ProducerEnd {
        @Param({"1920x1080", "3840x2160"})
        public String frame;

        @Param({"spinning", "doorbell"})
        public String wait;

        /** 16 suffices across cores; on one core each batch costs two context switches and two 5 us spins, so 64 halve them. */
        @Param({"16", "64"})
        public int slots;

        int width;
        int height;

        @Setup(Level.Trial)
        public void setUp(Placement placement) throws IOException {
            String[] wh = frame.split("x");
            width = Integer.parseInt(wh[0]);
            height = Integer.parseInt(wh[1]);
            start(placement, wait, slots, (long) width * height * 3, "handoff", wait, wh[0], wh[1]);
        }
    }

    @State(Scope.Thread)
    public static class FillRead extends ProducerEnd {
        @Param({"spinning", "doorbell"})
        public String wait;

        /**
         * Two would pipeline, but then the producer rewrites a slot the consumer read two frames ago, still in
         * the other core's caches, and every store pays for invalidating that copy: on this VM the fill of
         * a frame took 0.1 ms alone and 0.7-0.8 ms so (in one process with two threads too, whenever the
         * hypervisor had the two vCPUs on cores far apart), 1.3k frames/s against 3.4k single-threaded.
         * With 16 slots (100 MB) a slot has left both cores' caches before it is written again: 3.5k.
         * On one vCPU it is the other way round: the two processes take turns on one core, and 2 slots (12 MB)
         * stay in the L3 as the one-process baseline's buffer does (3.66k against 3.71k; 16 slots: 2.36k).
         * The report reads the floor on 2 slots same-core and 16 cross-core, the other beside it.
         */
        @Param({"2", "16"})
        public int slots;

        @Setup(Level.Trial)
        public void setUp(Placement placement) throws IOException {
            start(placement, wait, slots, HD_BYTES, "sum", wait);
        }
    }

    /** The baseline's buffer: shared memory of one frame, touched in full before the first op. */
    @State(Scope.Thread)
    public static class SingleProcess {
        SharedMemory memory;
        MemorySegment frame;
        long sequence;

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            memory = SharedMemory.create("fill-read-baseline", HD_BYTES);
            frame = memory.segment().asSlice(0, HD_BYTES);
            frame.fill((byte) 0);
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            memory.close();
        }
    }

    @Benchmark
    public void handoff(Handoff h) throws IOException {
        handOff(h.producer, h.width, h.height);
    }

    /** One frame handed off: the benchmark's op, also PairedRun's. The first pixel carries the sequence. */
    static void handOff(FrameProducer producer, int width, int height) throws IOException {
        FrameClaim c = producer.claim(width, height, PixelFormat.RGB8);
        long seq = c.sequence();
        MemorySegment p = c.pixels();
        p.set(ValueLayout.JAVA_BYTE, 0, (byte) seq);
        p.set(ValueLayout.JAVA_BYTE, 1, (byte) (seq >>> 8));
        p.set(ValueLayout.JAVA_BYTE, 2, (byte) (seq >>> 16));
        c.commit();
    }

    @Benchmark
    public void fillRead(FillRead f) throws IOException {
        FrameClaim c = f.producer.claim(HD_WIDTH, HD_HEIGHT, PixelFormat.RGB8);
        RingPeer.fill(c.pixels(), RingPeer.fillByte(c.sequence()));
        c.commit();
    }

    @Benchmark
    public long fillReadSingleProcess(SingleProcess s) {
        byte b = RingPeer.fillByte(s.sequence++);
        RingPeer.fill(s.frame, b);
        long sum = RingPeer.sumLongs(s.frame);
        if (sum != RingPeer.expectedSum(b, HD_BYTES)) throw new IllegalStateException("frame sum " + sum + " for byte " + b);
        return sum;
    }
}
