package dev.panpipe.bench.report;

import dev.panpipe.bench.report.Measurement.Metric;

import java.util.List;

import static dev.panpipe.bench.report.Ref.c;
import static dev.panpipe.bench.report.Ref.jmh;
import static dev.panpipe.bench.report.Ref.paired;
import static dev.panpipe.bench.report.Ref.python;

/**
 * What the report compares: the one table to edit when a benchmark or a baseline is added.
 *
 * <p>{@link #ROWS}: each panpipe figure beside its baseline, in one metric, with its floor. A row whose floor
 * cannot be checked because a figure is missing is still shown ("not measured"), never dropped; a row without
 * a floor is shown only when both figures exist. {@link #THROUGHPUT} and {@link #ROUND_TRIPS}: the series of
 * the by-size tables and of the charts. {@link #HOT_PATHS}: panpipe benchmarks whose steady state must
 * allocate nothing, as {@link #ALLOCATION_PROFILER} measures it.
 *
 * <p>RingBenchmark ({@code dev.panpipe.bench.RingBenchmark}, the shared-memory frame ring) is picked up by the
 * names below when its JMH results are in the run. It is expected to follow this suite's conventions: the
 * message or frame size as {@code @Param size} in bytes (6220800 for 1080p RGB, 24883200 for 4K RGB),
 * Throughput mode for rates, SampleTime for round trips. If its methods are named differently, change the
 * names in the {@code ring(...)} rows here; any other RingBenchmark figure still appears under "Every figure",
 * and every RingBenchmark method with a size param lands in the throughput chart, every SampleTime one in the
 * latency chart.
 */
final class Suite {
    private Suite() {
    }

    static final long KIB64 = 65536, FRAME_1080P = 6_220_800, FRAME_4K = 24_883_200;

    /** ratio >= x (higher is better), ratio <= x (lower is better: times), or the value itself >= x. */
    enum FloorKind { NONE, RATIO_AT_LEAST, RATIO_AT_MOST, VALUE_AT_LEAST }

    record Floor(FloorKind kind, double x) {
        static final Floor NONE = new Floor(FloorKind.NONE, Double.NaN);

        String text(Metric metric) {
            return switch (kind) {
                case NONE -> "-";
                case RATIO_AT_LEAST -> ">= " + Format.ratio(x);
                case RATIO_AT_MOST -> "<= " + Format.ratio(x);
                case VALUE_AT_LEAST -> ">= " + Format.value(x, metric);
            };
        }
    }

    static Floor atLeast(double x) {
        return new Floor(FloorKind.RATIO_AT_LEAST, x);
    }

    static Floor atMost(double x) {
        return new Floor(FloorKind.RATIO_AT_MOST, x);
    }

    static Floor valueAtLeast(double x) {
        return new Floor(FloorKind.VALUE_AT_LEAST, x);
    }

    /**
     * One comparison. ratio = panpipe / baseline in the metric (a rate: above 1 panpipe is faster; a time:
     * below 1 panpipe is faster). {@code oneCpu}: both figures come from benchmarks that run in the same-core
     * placement only (no child process, or none that can be placed), so the row is left out of the others.
     */
    /**
     * @param oneCpu    only in the first placement (a benchmark with no child to place)
     * @param placement only in this placement (the set-up that suits it), or null for every one
     */
    record Row(String what, String panpipeLabel, Ref panpipe, String baselineLabel, Ref baseline, Metric metric, Floor floor,
               boolean oneCpu, String placement) {
    }

    private static Row row(String what, String pLabel, Ref p, String bLabel, Ref b, Metric metric, Floor floor) {
        return new Row(what, pLabel, p, bLabel, b, metric, floor, false, null);
    }

    private static Row oneCpu(String what, String pLabel, Ref p, String bLabel, Ref b, Metric metric, Floor floor) {
        return new Row(what, pLabel, p, bLabel, b, metric, floor, true, null);
    }

    private static Row in(String placement, String what, String pLabel, Ref p, String bLabel, Ref b, Metric metric, Floor floor) {
        return new Row(what, pLabel, p, bLabel, b, metric, floor, false, placement);
    }

    /**
     * A cross-core row of PairedRun's spinning 64 B round trips, p50: side {@code own} over side {@code other} of
     * comparison {@code name}, through rings of {@code slots} slots, in one host placement ({@code regime}:
     * fast, slow or all).
     */
    private static Row spinRoundTrip(String what, String name, String slots, String regime,
                                     String ownLabel, String own, String otherLabel, String other, Floor floor) {
        return in("cross-core", what, ownLabel, paired(name, "side", own, "slots", slots, "regime", regime),
                otherLabel, paired(name, "side", other, "slots", slots, "regime", regime), Metric.P50_NS, floor);
    }

    private static Ref ring(String method, String... keyValues) {
        return jmh("RingBenchmark." + method, keyValues);
    }

    private static final String K64 = Long.toString(KIB64), F1080 = Long.toString(FRAME_1080P), F4K = Long.toString(FRAME_4K);
    private static final Ref C_PIPE_1M = c("pipe_write", "size", K64, "pipe_size", "1048576");
    private static final Ref C_PIPE_PINGPONG = c("pingpong_pipe", "size", "64");
    private static final Ref PANPIPE_STDIN = jmh("PipeThroughputBenchmark.panpipeSegment", "size", K64);

    static final List<Row> ROWS = List.of(
            // spawn
            row("spawn+wait /bin/true, stdio on /dev/null", "panpipe", jmh("SpawnBenchmark.panpipeDiscard"),
                    "ProcessBuilder", jmh("SpawnBenchmark.jdkDiscard"), Metric.OPS_PER_S, atLeast(2)),
            row("spawn+wait /bin/true, three pipes each", "panpipe", jmh("SpawnBenchmark.panpipePipes"),
                    "ProcessBuilder", jmh("SpawnBenchmark.jdkPipes"), Metric.OPS_PER_S, atLeast(2)),
            row("spawn+wait /bin/true, stdio on /dev/null", "panpipe", jmh("SpawnBenchmark.panpipeDiscard"),
                    "C posix_spawn+waitpid", c("spawn", "stdio", "null"), Metric.OPS_PER_S, atLeast(0.85)),
            oneCpu("pipeline cat f \\| grep x \\| wc -l, spawn+wait of all stages", "panpipe Pipeline", jmh("PipelineBenchmark.panpipe"),
                    "bash -c", jmh("PipelineBenchmark.bash"), Metric.OPS_PER_S, Floor.NONE),
            // bulk parent -> child
            row("64 KiB writes to a child's stdin (1 MiB pipe both)", "panpipe", PANPIPE_STDIN,
                    "C write/read loop", C_PIPE_1M, Metric.MB_PER_S, atLeast(0.9)),
            row("64 KiB writes to a child's stdin", "panpipe (1 MiB pipe)", PANPIPE_STDIN,
                    "Process.getOutputStream()", jmh("PipeThroughputBenchmark.jdkOutputStream", "size", K64), Metric.MB_PER_S, atLeast(1.2)),
            row("64 KiB writes, the kernel's 64 KiB pipe both", "panpipe pipeCapacity(0)", jmh("PipeThroughputBenchmark.panpipeSegmentKernelPipe"),
                    "C write/read loop", c("pipe_write", "size", K64, "pipe_size", "65536"), Metric.MB_PER_S, Floor.NONE),
            row("64 KiB writes from a byte[]", "panpipe", jmh("PipeThroughputBenchmark.panpipeByteArray"),
                    "Process.getOutputStream()", jmh("PipeThroughputBenchmark.jdkOutputStream", "size", K64), Metric.MB_PER_S, Floor.NONE),
            row("64 KiB writes to a child's stdin", "panpipe", PANPIPE_STDIN,
                    "JDK Unix socket to a child JVM", jmh("UnixSocketBenchmark.throughput", "size", K64), Metric.MB_PER_S, Floor.NONE),
            oneCpu("64 KiB writes (panpipe to a child; NIO between two threads)", "panpipe", PANPIPE_STDIN,
                    "JDK NIO Pipe", jmh("NioPipeBenchmark.throughput", "size", K64), Metric.MB_PER_S, Floor.NONE),
            // vmsplice: panpipe's VmspliceRing (VmspliceBenchmark, its chunk size as chunkBytes) against C's plain pipe
            row("vmsplice pipe, 64 KiB chunks (1 MiB pipe)", "panpipe VmspliceRing", jmh("VmspliceBenchmark.vmspliceRing", "size", K64),
                    "C write/read loop", C_PIPE_1M, Metric.MB_PER_S, atLeast(3)),
            row("vmsplice pipe, 1 MiB chunks (1 MiB pipe)", "panpipe VmspliceRing", jmh("VmspliceBenchmark.vmspliceRing", "size", "1048576"),
                    "C write/read loop", c("pipe_write", "size", "1048576", "pipe_size", "1048576"), Metric.MB_PER_S, atLeast(3)),
            row("vmsplice pipe vs panpipe's plain write, 64 KiB chunks", "panpipe VmspliceRing", jmh("VmspliceBenchmark.vmspliceRing", "size", K64),
                    "panpipe write", jmh("VmspliceBenchmark.plainWrite", "size", K64), Metric.MB_PER_S, Floor.NONE),
            row("vmsplice+read vs write+read, 64 KiB (1 MiB pipe): what the kernel allows", "C vmsplice", c("pipe_vmsplice", "size", K64, "pipe_size", "1048576"),
                    "C write/read loop", C_PIPE_1M, Metric.MB_PER_S, Floor.NONE),
            row("vmsplice+read vs write+read, 1080p frame (1 MiB pipe)", "C vmsplice", c("pipe_vmsplice", "size", F1080, "pipe_size", "1048576"),
                    "C write/read loop", c("pipe_write", "size", F1080, "pipe_size", "1048576"), Metric.MB_PER_S, Floor.NONE),
            // 64 B round trips: the floors on the median (issue 4 says so; a mean carries the rare
            // preemption of a 2-vCPU VM), the mean beside it; the tables below have the percentiles
            row("64 B round trip through two pipes, echoed by cat (C: by its child), median", "panpipe", jmh("PipeRoundTripBenchmark.panpipe"),
                    "C pipe ping-pong", C_PIPE_PINGPONG, Metric.P50_NS, atMost(1.2)),
            row("64 B round trip through two pipes, echoed by cat (C: by its child), mean", "panpipe", jmh("PipeRoundTripBenchmark.panpipe"),
                    "C pipe ping-pong", C_PIPE_PINGPONG, Metric.MEAN_NS, Floor.NONE),
            row("64 B round trip through two pipes, echoed by cat", "Process streams", jmh("PipeRoundTripBenchmark.jdk"),
                    "C pipe ping-pong", C_PIPE_PINGPONG, Metric.MEAN_NS, Floor.NONE),
            row("64 B round trip to a worker (frames, event loop, inbox)", "panpipe worker", jmh("WorkerRoundTripBenchmark.bytes", "size", "64"),
                    "C pipe ping-pong", C_PIPE_PINGPONG, Metric.MEAN_NS, Floor.NONE),
            row("64 B round trip to a child JVM over a Unix socket", "JDK SocketChannel", jmh("UnixSocketBenchmark.pingPong"),
                    "C pipe ping-pong", C_PIPE_PINGPONG, Metric.MEAN_NS, Floor.NONE),
            oneCpu("64 B round trip between two threads over two NIO Pipes", "JDK NIO Pipe", jmh("NioPipeBenchmark.pingPong"),
                    "C pipe ping-pong", C_PIPE_PINGPONG, Metric.MEAN_NS, Floor.NONE),
            // a virtual thread's wait for a pipe, woken by panpipe's poller thread as the JDK's wakes its own channels
            oneCpu("64 B round trip to a virtual thread blocked on a pipe for 20 ms, p50", "panpipe",
                    jmh("VirtualThreadWakeBenchmark.panpipe", "idleMicros", "20000"),
                    "JDK NIO Pipe", jmh("VirtualThreadWakeBenchmark.jdk", "idleMicros", "20000"), Metric.P50_NS, Floor.NONE),
            // worker round trips beside Python (round trips/s: above 1 panpipe is faster)
            row("64 B round trip to a worker", "panpipe worker", jmh("WorkerRoundTripBenchmark.bytes", "size", "64"),
                    "Python mp.Pipe", python("bytes:64"), Metric.OPS_PER_S, Floor.NONE),
            // The floors belong to the worker's frame path, which is the shared-memory FrameLink; the pipe
            // figures stay beside them for comparison.
            row("1080p RGB frame round trip to a worker over frame rings (copied in, copied back)", "panpipe FrameLink",
                    jmh("WorkerRingRoundTripBenchmark.frameShm"),
                    "Python mp.Pipe send_bytes", python("bytes:" + F1080), Metric.OPS_PER_S, atLeast(3)),
            // Python's pickle path sends an image object; panpipe's way with an image is to produce it in the
            // slot (decode into it, as convert does), so the 10x floor is read there, with the copy-in beside it.
            row("1080p RGB image round trip to a worker: produced in the slot (as convert does) vs pickle", "panpipe FrameLink in place",
                    jmh("WorkerRingRoundTripBenchmark.frameShmInPlace"),
                    "Python mp.Pipe pickle", python("framePickle"), Metric.OPS_PER_S, atLeast(10)),
            row("1080p RGB frame round trip to a worker over frame rings, copied in, vs pickle", "panpipe FrameLink",
                    jmh("WorkerRingRoundTripBenchmark.frameShm"),
                    "Python mp.Pipe pickle", python("framePickle"), Metric.OPS_PER_S, Floor.NONE),
            row("1080p RGB frame round trip, produced in the slot (as convert does)", "panpipe FrameLink in place",
                    jmh("WorkerRingRoundTripBenchmark.frameShmInPlace"),
                    "Python mp.Pipe send_bytes", python("bytes:" + F1080), Metric.OPS_PER_S, Floor.NONE),
            row("64 B round trip to a worker over frame rings", "panpipe FrameLink", jmh("WorkerRingRoundTripBenchmark.message64Shm"),
                    "Python mp.Pipe", python("bytes:64"), Metric.OPS_PER_S, Floor.NONE),
            row("1080p RGB frame round trip to a worker over pipes, as bytes", "panpipe worker (pipes)", jmh("WorkerRoundTripBenchmark.bytes", "size", F1080),
                    "Python mp.Pipe send_bytes", python("bytes:" + F1080), Metric.OPS_PER_S, Floor.NONE),
            row("1080p RGB frame round trip over pipes: PixelFrame vs numpy array", "panpipe Codecs.pixels()", jmh("WorkerRoundTripBenchmark.framePixels"),
                    "Python mp.Pipe pickle", python("framePickle"), Metric.OPS_PER_S, Floor.NONE),
            row("4K RGB frame round trip to a worker, as bytes", "panpipe worker", jmh("WorkerRoundTripBenchmark.bytes", "size", F4K),
                    "Python mp.Pipe send_bytes", python("bytes:" + F4K), Metric.OPS_PER_S, Floor.NONE),
            // the shared-memory frame ring (RingBenchmark; see the class comment)
            // The floors are read on the default wait strategy (doorbell: spin ~1 us, yield, futex) with 64 slots,
            // the one set-up that runs in both placements; spinning (cross-core only) is shown beside it.
            row("ring: 1080p frame hand-off (doorbell, 64 slots)", "panpipe ring", ring("handoff", "frame", "1920x1080", "wait", "doorbell", "slots", "64"),
                    null, null, Metric.OPS_PER_S, valueAtLeast(1e6)),
            in("same-core", "ring: 4K vs 1080p frame hand-off (doorbell, 64 slots)", "panpipe ring 4K", ring("handoff", "frame", "3840x2160", "wait", "doorbell", "slots", "64"),
                    "panpipe ring 1080p", ring("handoff", "frame", "1920x1080", "wait", "doorbell", "slots", "64"), Metric.OPS_PER_S, atLeast(0.9)),
            // Cross-core, separate runs compare host placements (see the report's note): the floors are read on
            // PairedRun's interleaved slices, and the separate JMH runs are shown without one.
            in("cross-core", "ring: 4K vs 1080p frame hand-off (doorbell, 64 slots), interleaved", "panpipe ring 4K",
                    paired("paired_ring_handoff", "side", "3840x2160", "wait", "doorbell", "slots", "64"),
                    "panpipe ring 1080p", paired("paired_ring_handoff", "side", "1920x1080", "wait", "doorbell", "slots", "64"), Metric.OPS_PER_S, atLeast(0.9)),
            in("cross-core", "ring: 4K vs 1080p frame hand-off (doorbell, 64 slots), separate runs", "panpipe ring 4K", ring("handoff", "frame", "3840x2160", "wait", "doorbell", "slots", "64"),
                    "panpipe ring 1080p", ring("handoff", "frame", "1920x1080", "wait", "doorbell", "slots", "64"), Metric.OPS_PER_S, Floor.NONE),
            // Cross-core only: two spinning ends on one cpu only trade time slices, so the ring refuses it there.
            in("cross-core", "ring: 1080p frame hand-off (spinning, 16 slots)", "panpipe ring", ring("handoff", "frame", "1920x1080", "wait", "spinning", "slots", "16"),
                    null, null, Metric.OPS_PER_S, valueAtLeast(1e6)),
            in("cross-core", "ring: 4K vs 1080p frame hand-off (spinning, 16 slots), interleaved", "panpipe ring 4K",
                    paired("paired_ring_handoff", "side", "3840x2160", "wait", "spinning", "slots", "16"),
                    "panpipe ring 1080p", paired("paired_ring_handoff", "side", "1920x1080", "wait", "spinning", "slots", "16"), Metric.OPS_PER_S, atLeast(0.9)),
            row("ring: 4K vs 1080p frame hand-off (spinning, 16 slots), separate runs", "panpipe ring 4K", ring("handoff", "frame", "3840x2160", "wait", "spinning", "slots", "16"),
                    "panpipe ring 1080p", ring("handoff", "frame", "1920x1080", "wait", "spinning", "slots", "16"), Metric.OPS_PER_S, Floor.NONE),
            // fill + read: on one vCPU the two processes take turns, and 2 slots (12 MB) stay in the shared L3
            // like the one-process baseline's buffer; across two, 16 slots, so that a slot has left the other
            // core's caches before it is written again (see RingBenchmark.FillRead). The other size beside it.
            in("same-core", "ring: fill + read every byte of a 1080p frame, across processes vs in one process (2 slots)", "panpipe ring",
                    ring("fillRead", "wait", "doorbell", "slots", "2"), "one process", ring("fillReadSingleProcess"), Metric.OPS_PER_S, atLeast(0.8)),
            in("same-core", "ring: fill + read, 16 slots", "panpipe ring",
                    ring("fillRead", "wait", "doorbell", "slots", "16"), "one process", ring("fillReadSingleProcess"), Metric.OPS_PER_S, Floor.NONE),
            in("cross-core", "ring: fill + read every byte of a 1080p frame, across processes vs in one process (16 slots)", "panpipe ring",
                    ring("fillRead", "wait", "doorbell", "slots", "16"), "one process", ring("fillReadSingleProcess"), Metric.OPS_PER_S, atLeast(0.8)),
            in("cross-core", "ring: fill + read, 2 slots", "panpipe ring",
                    ring("fillRead", "wait", "doorbell", "slots", "2"), "one process", ring("fillReadSingleProcess"), Metric.OPS_PER_S, Floor.NONE),
            // Read per host placement (PairedRun.hostPlacement): on all pairs the ratio would depend on how a run's
            // pairs fell between them. A placement the run never saw reads "not measured". Rings of 2 slots, one
            // message in flight each way (PairedRun.ROUND_TRIP_SLOTS).
            spinRoundTrip("ring: 64 B round trip, spinning (median), interleaved with C, fast host placement", "paired_ring_spin_rt", "2", "fast",
                    "panpipe ring spin", "panpipe", "C spin ping-pong", "c", atMost(1.2)),
            spinRoundTrip("ring: 64 B round trip, spinning (median), interleaved with C, slow host placement", "paired_ring_spin_rt", "2", "slow",
                    "panpipe ring spin", "panpipe", "C spin ping-pong", "c", atMost(1.2)),
            spinRoundTrip("ring: 64 B round trip, spinning (median), interleaved with C, all pairs", "paired_ring_spin_rt", "2", "all",
                    "panpipe ring spin", "panpipe", "C spin ping-pong", "c", Floor.NONE),
            // Where the time goes: the same ring protocol in C (bench/src/main/c/ring_pingpong.c over
            // samples/c/panpipe_ring.h) against the bare ping-pong, and Java against it; then rings of 8 slots.
            spinRoundTrip("ring: C ring round trip vs C spin ping-pong (the protocol's cost), fast host placement", "paired_c_ring_spin_rt", "2", "fast",
                    "C ring spin", "c_ring", "C spin ping-pong", "c", Floor.NONE),
            spinRoundTrip("ring: C ring round trip vs C spin ping-pong, slow host placement", "paired_c_ring_spin_rt", "2", "slow",
                    "C ring spin", "c_ring", "C spin ping-pong", "c", Floor.NONE),
            spinRoundTrip("ring: Java ring round trip vs the same ring in C (Java's cost), fast host placement", "paired_ring_spin_rt_vs_c_ring", "2", "fast",
                    "panpipe ring spin", "panpipe", "C ring spin", "c_ring", Floor.NONE),
            spinRoundTrip("ring: Java ring round trip vs the same ring in C, slow host placement", "paired_ring_spin_rt_vs_c_ring", "2", "slow",
                    "panpipe ring spin", "panpipe", "C ring spin", "c_ring", Floor.NONE),
            spinRoundTrip("ring: 64 B round trip through rings of 8 slots vs C spin ping-pong, fast host placement", "paired_ring_spin_rt", "8", "fast",
                    "panpipe ring spin, 8 slots", "panpipe", "C spin ping-pong", "c", Floor.NONE),
            spinRoundTrip("ring: 64 B round trip through rings of 8 slots vs C spin ping-pong, slow host placement", "paired_ring_spin_rt", "8", "slow",
                    "panpipe ring spin, 8 slots", "panpipe", "C spin ping-pong", "c", Floor.NONE),
            row("ring: 64 B round trip, spinning (median), separate runs", "panpipe ring spin", jmh("RingRoundTripBenchmark.roundTrip64", "wait", "spinning"),
                    "C spin ping-pong", c("pingpong_spin", "size", "64"), Metric.P50_NS, Floor.NONE),
            row("ring: 64 B round trip, spinning (mean)", "panpipe ring spin", jmh("RingRoundTripBenchmark.roundTrip64", "wait", "spinning"),
                    "C spin ping-pong", c("pingpong_spin", "size", "64"), Metric.MEAN_NS, Floor.NONE),
            row("ring: 64 B round trip, doorbell (median)", "panpipe ring doorbell", jmh("RingRoundTripBenchmark.roundTrip64", "wait", "doorbell"),
                    "C eventfd ping-pong", c("pingpong_eventfd", "size", "64"), Metric.P50_NS, atMost(1.2)),
            row("ring: 64 B round trip, doorbell (mean)", "panpipe ring doorbell", jmh("RingRoundTripBenchmark.roundTrip64", "wait", "doorbell"),
                    "C eventfd ping-pong", c("pingpong_eventfd", "size", "64"), Metric.MEAN_NS, Floor.NONE),
            row("ring: 64 B round trip, doorbell vs C futex ping-pong (median)", "panpipe ring doorbell", jmh("RingRoundTripBenchmark.roundTrip64", "wait", "doorbell"),
                    "C futex ping-pong", c("pingpong_futex", "size", "64"), Metric.P50_NS, Floor.NONE),
            // SharedLock against the robust process-shared pthread mutex it was chosen over (its class comment says
            // why) and the JDK's lock; threads of one JVM, so same-core only here (SharedLockBenchmark's comment)
            oneCpu("shared lock: uncontended lock+unlock", "panpipe SharedLock", jmh("SharedLockBenchmark.sharedLock"),
                    "robust pthread mutex (downcalls)", jmh("SharedLockBenchmark.robustMutex"), Metric.MEAN_NS, Floor.NONE),
            oneCpu("shared lock: uncontended lock+unlock, vs the JDK's in-process lock", "panpipe SharedLock", jmh("SharedLockBenchmark.sharedLock"),
                    "ReentrantLock", jmh("SharedLockBenchmark.reentrantLock"), Metric.MEAN_NS, Floor.NONE),
            oneCpu("shared lock: two threads taking turns, a handle each", "panpipe SharedLock", jmh("SharedLockBenchmark.sharedLockContended"),
                    "robust pthread mutex (downcalls)", jmh("SharedLockBenchmark.robustMutexContended"), Metric.MEAN_NS, Floor.NONE),
            // The whole convert job (ConvertRun: wall clock of scripts/panpipe convert, launcher and JVM start-ups
            // included, alternating pairs; the ratio is the median of the pairs'), in images per second.
            in("same-core", "convert: the whole run on the sample set, images/s, every process on cpu 0", "convert --transport shm",
                    paired("paired_convert", "side", "shm"), "convert --transport pipe", paired("paired_convert", "side", "pipe"),
                    Metric.OPS_PER_S, atLeast(2)),
            in("cross-core", "convert: the whole run on the sample set, images/s, free on both cpus", "convert --transport shm",
                    paired("paired_convert", "side", "shm"), "convert --transport pipe", paired("paired_convert", "side", "pipe"),
                    Metric.OPS_PER_S, atLeast(2)),
            row("1080p frame, one memcpy (the physical limit for a frame copy)", "memcpy", c("memcpy", "size", F1080), null, null,
                    Metric.MB_PER_S, Floor.NONE),
            row("4K frame, one memcpy", "memcpy", c("memcpy", "size", F4K), null, null, Metric.MB_PER_S, Floor.NONE));

    /** A series over message sizes (the Ref without its size) or one bar of the latency chart. */
    record Series(String label, Ref ref) {
    }

    /** MB/s by message size: the throughput table and chart. */
    static final List<Series> THROUGHPUT = List.of(
            new Series("panpipe: Subprocess stdin (1 MiB pipe)", jmh("PipeThroughputBenchmark.panpipeSegment")),
            new Series("C: write+read (1 MiB pipe)", c("pipe_write", "pipe_size", "1048576")),
            new Series("C: vmsplice+read (1 MiB pipe)", c("pipe_vmsplice", "pipe_size", "1048576")),
            new Series("panpipe: VmspliceRing (1 MiB pipe)", jmh("VmspliceBenchmark.vmspliceRing")),
            new Series("JDK: Process.getOutputStream()", jmh("PipeThroughputBenchmark.jdkOutputStream")),
            new Series("JDK: Unix socket to a child JVM", jmh("UnixSocketBenchmark.throughput")),
            new Series("JDK: NIO Pipe, two threads", jmh("NioPipeBenchmark.throughput")),
            new Series("memcpy, one process (limit)", c("memcpy")));

    /** Round trips by message size: worker vs Python. */
    static final List<Series> ROUND_TRIPS = List.of(
            new Series("panpipe: worker round trip", jmh("WorkerRoundTripBenchmark.bytes")),
            new Series("Python: multiprocessing.Pipe", python("bytes:0")));

    /** 64 B round trips: the latency table and chart (mean and percentiles). */
    static final List<Series> LATENCY = List.of(
            new Series("C: pipe", C_PIPE_PINGPONG),
            new Series("C: eventfd + shm", c("pingpong_eventfd", "size", "64")),
            new Series("C: futex + shm", c("pingpong_futex", "size", "64")),
            new Series("C: spin on shm", c("pingpong_spin", "size", "64")),
            new Series("panpipe: pipes to cat", jmh("PipeRoundTripBenchmark.panpipe")),
            new Series("JDK: Process streams to cat", jmh("PipeRoundTripBenchmark.jdk")),
            new Series("panpipe: worker", jmh("WorkerRoundTripBenchmark.bytes", "size", "64")),
            new Series("panpipe: worker over frame rings", jmh("WorkerRingRoundTripBenchmark.message64Shm")),
            new Series("Python: mp.Pipe", python("bytes:64")),
            new Series("JDK: Unix socket, child JVM", jmh("UnixSocketBenchmark.pingPong")),
            new Series("JDK: NIO Pipe, two threads", jmh("NioPipeBenchmark.pingPong")),
            new Series("panpipe: ring, spinning", jmh("RingRoundTripBenchmark.roundTrip64", "wait", "spinning")),
            new Series("panpipe: ring, doorbell", jmh("RingRoundTripBenchmark.roundTrip64", "wait", "doorbell")));

    /** The class whose every figure is picked up by the charts too. */
    static final String RING_CLASS = "RingBenchmark.";

    /**
     * panpipe's hot paths (benchmark name prefixes): the steady state must allocate 0 B/op. A round trip through
     * a worker's pipes copies each result to the heap by design: it stays listed, so the table shows what it
     * allocates, but {@link #ALLOCATES_BY_DESIGN} keeps it out of the floor count.
     */
    static final List<String> HOT_PATHS = List.of(
            "PipeThroughputBenchmark.panpipe",
            "PipeRoundTripBenchmark.panpipe",
            "WorkerRoundTripBenchmark.",
            "WorkerRingRoundTripBenchmark.",
            "KernelBenchmark.bgr",
            "KernelBenchmark.gray",
            RING_CLASS,
            "RingRoundTripBenchmark.",
            // every variant of the queue: segments, claims, and the long messages too, now that they are taken
            // with pollLong(Duration, long) rather than through an OptionalLong only the JIT's inlining removed
            "SharedQueueBenchmark.",
            // the lock, uncontended and with two threads taking turns (sleeping and waking included); not its
            // baselines (robustMutex, reentrantLock), which are not panpipe's
            "SharedLockBenchmark.sharedLock");

    /**
     * Benchmarks named in HOT_PATHS whose API allocates by design, shown with their B/op but without the floor:
     * a worker's result through its pipes is a {@code Result} with a {@code byte[]} payload, made on the event
     * loop's thread (issue 3's API; no issue asks it to be 0 B/op). Its zero-copy counterpart,
     * WorkerRingRoundTripBenchmark (FrameLink), is held to the floor.
     */
    static final List<String> ALLOCATES_BY_DESIGN = List.of("WorkerRoundTripBenchmark.");

    /** Benchmarks named in HOT_PATHS that are not panpipe's hot path (a comparison done in plain Java). */
    static final List<String> NOT_HOT = List.of("KernelBenchmark.grayByteArray");

    /**
     * How the 0 B/op check is measured: scripts/bench runs JMH with {@code -prof} this profiler beside
     * {@code -prof gc}. It reads the allocated bytes of every thread in the steady middle of each measured
     * iteration; the check passes only when the benchmark's thread and every other thread (JMH's main thread
     * aside) allocated nothing there. JMH's gc.alloc.rate.norm is not the check: it also counts the trial's
     * tear-down (run inside the last iteration: 0.2-0.9 MB for a ring or a child process), JMH's bookkeeping
     * (~6 KB an iteration, ~260 KB with SampleTime's histogram) and every other thread, which came to tens or
     * hundreds of B/op on hot paths that allocated nothing at a few thousand ops/s.
     */
    static final String ALLOCATION_PROFILER = "dev.panpipe.bench.SteadyAllocationProfiler";
}
