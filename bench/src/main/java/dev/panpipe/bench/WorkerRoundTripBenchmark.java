package dev.panpipe.bench;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.connection.Codecs;
import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;
import dev.panpipe.worker.EchoWorker;
import dev.panpipe.worker.Result;
import dev.panpipe.worker.Worker;
import dev.panpipe.worker.WorkerSpec;
import dev.panpipe.worker.Workers;
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
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Round trips through a worker process: the parent sends a message to an {@link EchoWorker} (a second JVM
 * started once per trial through {@link Workers}) and takes its answer, which comes back through the
 * worker's results FIFO, the event-loop thread and the inbox. One op = one message there and back.
 * Python's {@code multiprocessing.Pipe} does the same work in bench/src/main/python/mp_pipe_roundtrip.py,
 * run by scripts/bench beside this class in the same placement; results.md puts the two side by side.
 *
 * <ul>
 *   <li>{@code bytes}: {@link Message#size} bytes as raw bytes from an off-heap segment ({@code send(MemorySegment)}:
 *       header and payload written straight from the segment, no copy, + {@code take()}); from 64 B to one
 *       3840x2160 RGB frame (24,883,200 B); 6,220,800 B is one 1920x1080 RGB frame.</li>
 *   <li>{@code framePixels}: one 1920x1080 RGB frame as a {@link PixelFrame} through {@link Codecs#pixels()}
 *       both ways (encoded into the connection's send buffer; decoded as a view of the result).</li>
 * </ul>
 *
 * <p>Placement ({@link Placement#childCpu}): the worker JVM inherits cpu 0 ("same-core"), or is started as
 * {@code taskset -c N java ...} ("cross-core"), through {@link WorkerSpec#launchedThrough}. Setup checks
 * where the worker runs ({@link Placement#requireChildPlaced}).
 *
 * <p>SampleTime: the score is the mean, the JSON carries p50/p99 as well.
 *
 * <p>{@code resultsPipe}: {@code kernel} (the default) leaves the results FIFO as panpipe sizes it (1 MiB
 * since the 2026-11-23-vm-2 run, which measured it at the kernel's 64 KiB). An experiment for the analysis, not an API: a size in bytes makes setup enlarge the
 * FIFO with {@code F_SETPIPE_SZ}, as panpipe already does for a child's stdin: {@code -p resultsPipe=1048576}.
 * The FIFO's name is gone by then (panpipe unlinks it once the worker has connected), so setup finds this
 * process's own read end of it in {@code /proc/self/fd}; the size belongs to the pipe, not to an fd.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 4, time = 1)
// dev.panpipe.bindings.linux (F_SETPIPE_SZ, for enlargeResultsFifo) is exported to panpipe's modules
// only; the bench runs on the class path. Appended, so that the launcher's -jvmArgs (scripts/bench's) stay whole.
@Fork(value = 1, jvmArgsAppend = "--add-exports=dev.panpipe.bindings/dev.panpipe.bindings.linux=ALL-UNNAMED")
@State(Scope.Thread)
public class WorkerRoundTripBenchmark {
    static final int WIDTH = 1920, HEIGHT = 1080;
    static final int FRAME_BYTES = WIDTH * HEIGHT * 3;     // 6,220,800

    @Param({"kernel"})
    public String resultsPipe;

    Workers workers;
    Worker worker;
    Arena arena;
    MemorySegment frame;
    PixelFrame pixels;

    @Setup(Level.Trial)
    public void setUp(Placement placement) throws IOException, InterruptedException {
        arena = Arena.ofConfined();
        frame = arena.allocate(FRAME_BYTES, 64);
        for (long i = 0; i < FRAME_BYTES; i += 8) frame.set(ValueLayout.JAVA_LONG_UNALIGNED, i, i * 0x9E3779B97F4A7C15L);
        pixels = PixelFrame.packed(WIDTH, HEIGHT, PixelFormat.RGB8, frame);

        WorkerSpec spec = WorkerSpec.java("echo", EchoWorker.class).launchedThrough(placement.command());
        workers = Workers.create();
        worker = workers.start(spec);
        if (!resultsPipe.equals("kernel")) enlargeResultsFifo(workers.directory().resolve(spec.fifoName()), Integer.parseInt(resultsPipe));

        placement.requireChildPlaced(worker.pid());

        // Every variant must really echo: check the whole payload once.
        worker.send(pixels, Codecs.pixels());
        PixelFrame back = worker.take(Codecs.pixels());
        if (back.width() != WIDTH || back.height() != HEIGHT || back.format() != PixelFormat.RGB8
                || back.pixels().mismatch(frame) != -1) {
            throw new IllegalStateException("pixel frame came back different");
        }
    }

    /** The {@code bytes} message, checked once to come back whole from the trial's worker. */
    @State(Scope.Thread)
    public static class Message {
        /** 64 B, 4 KiB, 64 KiB, 1 MiB, a 1920x1080 and a 3840x2160 RGB frame. */
        @Param({"64", "4096", "65536", "1048576", "6220800", "24883200"})
        public int size;

        Arena arena;
        MemorySegment segment;

        @Setup(Level.Trial)
        public void setUp(WorkerRoundTripBenchmark trial) throws IOException, InterruptedException {
            arena = Arena.ofConfined();
            segment = arena.allocate(size, 64);
            for (int i = 0; i < size; i++) segment.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 31 + 7));
            trial.worker.send(segment);
            check(trial.worker.take(), segment);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        workers.close();
        var status = worker.exitStatus();
        arena.close();
        if (status.isEmpty() || !status.get().success()) throw new IllegalStateException("echo worker ended " + status);
    }

    @Benchmark
    public Result bytes(Message m) throws IOException, InterruptedException {
        worker.send(m.segment);
        return worker.take();
    }

    @Benchmark
    public PixelFrame framePixels() throws IOException, InterruptedException {
        worker.send(pixels, Codecs.pixels());
        return worker.take(Codecs.pixels());
    }

    private static void check(Result r, MemorySegment sent) {
        if (r.payload().length != sent.byteSize() || MemorySegment.ofArray(r.payload()).mismatch(sent) != -1) {
            throw new IllegalStateException("echo of " + sent.byteSize() + " bytes came back different (" + r.payload().length + " bytes)");
        }
    }

    /**
     * Opening the FIFO by name again, as this did once, fails with ENOENT since panpipe unlinks it after the
     * worker's hello; the read end panpipe holds still names it, "(deleted)", in /proc/self/fd.
     */
    private static void enlargeResultsFifo(Path fifo, int bytes) throws IOException {
        Path name = fifo.getParent().toRealPath().resolve(fifo.getFileName());
        List<String> targets = List.of(name.toString(), name + " (deleted)");
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path fd : fds) {
                Path target;
                try {
                    target = Files.readSymbolicLink(fd);
                } catch (IOException e) {
                    continue;   // closed since the listing began (the listing's own fd, for one)
                }
                if (targets.contains(target.toString())) {
                    Syscalls.fcntl(Integer.parseInt(fd.getFileName().toString()), linux_h.F_SETPIPE_SZ(), bytes);
                    return;
                }
            }
        }
        throw new IllegalStateException("no fd of this process reads the results FIFO " + name);
    }
}
