package dev.panpipe.bench;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.worker.Worker;
import dev.panpipe.worker.WorkerSpec;
import dev.panpipe.worker.Workers;
import dev.panpipe.zerocopy.ring.FrameClaim;
import dev.panpipe.zerocopy.ring.FrameLink;
import dev.panpipe.zerocopy.ring.FrameView;
import dev.panpipe.zerocopy.ring.RingEchoWorker;
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
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

/**
 * Round trips through a worker process over a {@link FrameLink} (a shared-memory frame ring each way),
 * the same work as {@link WorkerRoundTripBenchmark} and Python's {@code multiprocessing.Pipe}
 * send_bytes/recv_bytes: the parent has a frame in its own memory, sends it, and gets the worker's copy back.
 *
 * <ul>
 *   <li>{@code frameShm}: a 1920x1080 RGB frame is copied from the parent's buffer into a ring slot (the one
 *       copy a sender whose pixels live elsewhere must make), committed; {@link RingEchoWorker} copies it
 *       into a slot of the ring back (the work of an echo); the parent takes that view and reads its first
 *       and last pixel in place. Two memcpys of 6 MB per round trip, no system call on a busy path.</li>
 *   <li>{@code frameShmInPlace}: the same, but the parent produces the frame in the slot itself (writes its
 *       first and last row: "decoding straight into it"), as {@code panpipe convert --transport shm} does; the
 *       worker still copies the whole frame back.</li>
 *   <li>{@code message64Shm}: 64 bytes each way.</li>
 * </ul>
 *
 * <p>Placement as in {@link WorkerRoundTripBenchmark}: the worker JVM inherits cpu 0 or is started through
 * {@code taskset -c N}. The rings wait with the default doorbell (spin, yield, futex).
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Thread)
public class WorkerRingRoundTripBenchmark {
    static final int WIDTH = WorkerRoundTripBenchmark.WIDTH, HEIGHT = WorkerRoundTripBenchmark.HEIGHT;
    static final int FRAME_BYTES = WorkerRoundTripBenchmark.FRAME_BYTES;
    static final int SMALL_BYTES = 64;

    Workers workers;
    Worker worker;
    FrameLink link;
    Arena arena;
    MemorySegment small;
    MemorySegment frame;

    @Setup(Level.Trial)
    public void setUp(Placement placement) throws IOException {
        arena = Arena.ofConfined();
        small = arena.allocate(SMALL_BYTES, 64);
        frame = arena.allocate(FRAME_BYTES, 64);
        for (int i = 0; i < SMALL_BYTES; i++) small.set(ValueLayout.JAVA_BYTE, i, (byte) i);
        for (long i = 0; i < FRAME_BYTES; i += 8) frame.set(ValueLayout.JAVA_LONG_UNALIGNED, i, i * 0x9E3779B97F4A7C15L);
        link = FrameLink.create(4, FRAME_BYTES, 4, FRAME_BYTES);
        workers = Workers.create();
        worker = workers.start(link.handTo(WorkerSpec.java("ring-echo", RingEchoWorker.class).launchedThrough(placement.command())));
        link.watch(worker.pid());
        // Every variant must really echo: check the whole payload once.
        FrameClaim c = link.out().claim(WIDTH, HEIGHT, PixelFormat.RGB8);
        MemorySegment.copy(frame, 0, c.pixels(), 0, FRAME_BYTES);
        c.commit();
        FrameView back = link.in().take();
        if (back.width() != WIDTH || back.height() != HEIGHT || back.pixels().mismatch(frame) != -1) {
            throw new IllegalStateException("the ring echo came back different");
        }
        back.release();
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        link.out().close();
        workers.close();
        var status = worker.exitStatus();
        link.close();
        arena.close();
        if (status.isEmpty() || !status.get().success()) throw new IllegalStateException("ring echo worker ended " + status);
    }

    @Benchmark
    public long frameShm() throws IOException {
        FrameClaim c = link.out().claim(WIDTH, HEIGHT, PixelFormat.RGB8);
        MemorySegment.copy(frame, 0, c.pixels(), 0, FRAME_BYTES);
        c.commit();
        return takeEcho();
    }

    @Benchmark
    public long frameShmInPlace() throws IOException {
        FrameClaim c = link.out().claim(WIDTH, HEIGHT, PixelFormat.RGB8);
        MemorySegment px = c.pixels();
        MemorySegment.copy(frame, 0, px, 0, WIDTH * 3L);
        MemorySegment.copy(frame, FRAME_BYTES - WIDTH * 3L, px, FRAME_BYTES - WIDTH * 3L, WIDTH * 3L);
        c.commit();
        return takeEcho();
    }

    @Benchmark
    public long message64Shm() throws IOException {
        FrameClaim c = link.out().claimBytes(SMALL_BYTES);
        MemorySegment.copy(small, 0, c.pixels(), 0, SMALL_BYTES);
        c.commit();
        return takeEcho();
    }

    private long takeEcho() throws IOException {
        FrameView back = link.in().take();
        MemorySegment px = back.pixels();
        long v = px.get(ValueLayout.JAVA_BYTE, 0) + px.get(ValueLayout.JAVA_BYTE, px.byteSize() - 1);
        back.release();
        return v;
    }
}
