package dev.panpipe.bench;

import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.profile.InternalProfiler;
import org.openjdk.jmh.results.AggregationPolicy;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.ScalarResult;

import java.lang.management.ManagementFactory;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Heap allocation in the steady state of each measured iteration, by thread: what the report's 0 B/op check
 * reads ({@code -prof dev.panpipe.bench.SteadyAllocationProfiler}, beside {@code -prof gc}).
 *
 * <p>Why not {@code gc.alloc.rate.norm} alone: the gc profiler counts every thread of the fork from the start
 * to the end of an iteration, so it also counts what is not the benchmark's steady state: the
 * {@code @TearDown(Level.Trial)} methods, which JMH runs inside the last measured iteration (closing a ring
 * and waiting for its child: 0.2-0.9 MB, 60-300 B/op at a few thousand ops/s); JMH's own bookkeeping per
 * iteration (~6 KB; in SampleTime mode also its latency histogram, an {@code int[1024]} per power-of-two
 * latency range, up to ~260 KB); and code the JIT has not compiled yet.
 *
 * <p>This profiler reads every thread's allocated bytes ({@code com.sun.management.ThreadMXBean}) from a
 * thread of its own, every 10 ms from 20% to 90% of the iteration time: after JMH has set the iteration up,
 * before it tears anything down. It reports, per operation in that window (operations scaled from the
 * iteration's by the window's share of the iteration time):
 * <ul>
 *   <li>{@code alloc.steady.thread.norm}: the benchmark's own threads (JMH's {@code *-jmh-worker-*}). In
 *       SampleTime mode a 10 ms step in which such a thread allocated exactly a multiple of one
 *       {@code int[1024]} is JMH's histogram and not counted; any other step is counted whole.</li>
 *   <li>{@code alloc.steady.others.norm}: every other thread but JMH's main thread and this profiler's:
 *       panpipe's event loops, a process reaper, the JVM's service threads.</li>
 * </ul>
 * Nothing in the window is JMH's in Throughput mode, so a hot path that allocates nothing reads exactly 0.
 * SingleShotTime iterations have no steady state and get no figures.
 */
public final class SteadyAllocationProfiler implements InternalProfiler {
    /** The benchmark's own threads, B/op: the secondary metric's name in JMH's JSON. */
    public static final String THREAD_NORM = "alloc.steady.thread.norm";
    /** Every other thread, B/op. */
    public static final String OTHERS_NORM = "alloc.steady.others.norm";

    private static final long STEP_NANOS = 10_000_000L;
    private static final String JMH_WORKER = "-jmh-worker-";

    private final com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    /** The size of JMH's SampleBuffer bucket, an int[1024], measured in this JVM (object layout varies). */
    private final long histogramBucketBytes;
    private Sampler sampler;
    private static volatile Object sink;

    public SteadyAllocationProfiler() {
        long before = threads.getCurrentThreadAllocatedBytes();
        sink = new int[1024];
        histogramBucketBytes = threads.getCurrentThreadAllocatedBytes() - before;
        sink = null;
    }

    @Override
    public String getDescription() {
        return "Heap allocated per op in the middle of each iteration, by the benchmark's threads and by the others";
    }

    @Override
    public void beforeIteration(BenchmarkParams benchmarkParams, IterationParams iterationParams) {
        sampler = null;
        if (benchmarkParams.getMode() == Mode.SingleShotTime) return;
        long iterationNanos = iterationParams.getTime().convertTo(TimeUnit.NANOSECONDS);
        boolean histogram = benchmarkParams.getMode() == Mode.SampleTime;
        sampler = new Sampler(System.nanoTime(), iterationNanos, histogram, Thread.currentThread().threadId());
        sampler.thread.start();
    }

    @Override
    public Collection<? extends Result> afterIteration(BenchmarkParams benchmarkParams, IterationParams iterationParams,
                                                       IterationResult result) {
        if (sampler == null) return List.of();
        try {
            sampler.thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return List.of();
        }
        if (sampler.windowNanos <= 0) return List.of();
        double ops = result.getMetadata().getAllOps() * (double) sampler.windowNanos / sampler.iterationNanos;
        if (ops <= 0) return List.of();
        return List.of(
                new ScalarResult(THREAD_NORM, sampler.benchmarkBytes / ops, "B/op", AggregationPolicy.AVG),
                new ScalarResult(OTHERS_NORM, sampler.otherBytes / ops, "B/op", AggregationPolicy.AVG));
    }

    /** The thread that takes the readings of one iteration. */
    private final class Sampler implements Runnable {
        final Thread thread = Thread.ofPlatform().daemon().name("steady-allocation-sampler").unstarted(this);
        final long start;
        final long iterationNanos;
        final boolean histogram;
        final long jmhThread;
        long windowNanos;
        long benchmarkBytes;
        long otherBytes;

        Sampler(long start, long iterationNanos, boolean histogram, long jmhThread) {
            this.start = start;
            this.iterationNanos = iterationNanos;
            this.histogram = histogram;
            this.jmhThread = jmhThread;
        }

        @Override
        public void run() {
            long from = start + iterationNanos / 5, to = start + iterationNanos * 9 / 10;
            sleepUntil(from);
            long[] ids = threads.getAllThreadIds();
            Map<Long, Long> last = readings(ids, threads.getThreadAllocatedBytes(ids));
            long first = System.nanoTime(), now = first;
            Map<Long, Boolean> benchmark = new HashMap<>();
            while (now - to < 0) {
                sleepUntil(Math.min(now + STEP_NANOS, to));
                ids = threads.getAllThreadIds();
                Map<Long, Long> current = readings(ids, threads.getThreadAllocatedBytes(ids));
                now = System.nanoTime();
                for (Map.Entry<Long, Long> e : current.entrySet()) {
                    long id = e.getKey();
                    if (id == jmhThread || id == thread.threadId()) continue;
                    Long previous = last.get(id);
                    long delta = e.getValue() - (previous == null ? 0 : previous);   // a thread born in the step: all of it
                    if (delta <= 0) continue;
                    if (benchmark.computeIfAbsent(id, this::isBenchmarkThread)) {
                        if (histogram && delta % histogramBucketBytes == 0) continue;   // JMH's latency histogram
                        benchmarkBytes += delta;
                    } else {
                        otherBytes += delta;
                    }
                }
                last = current;
            }
            windowNanos = now - first;
        }

        private boolean isBenchmarkThread(long id) {
            var info = threads.getThreadInfo(id, 0);
            return info != null && info.getThreadName().contains(JMH_WORKER);
        }
    }

    private static Map<Long, Long> readings(long[] ids, long[] bytes) {
        Map<Long, Long> m = new HashMap<>(ids.length * 2);
        for (int i = 0; i < ids.length; i++) if (bytes[i] >= 0) m.put(ids[i], bytes[i]);
        return m;
    }

    private static void sleepUntil(long deadline) {
        for (long left; (left = deadline - System.nanoTime()) > 0; ) {
            try {
                TimeUnit.NANOSECONDS.sleep(left);
            } catch (InterruptedException e) {
                return;
            }
        }
    }
}
