package dev.panpipe.bench.report;

import java.util.Map;

/**
 * One figure from one source of one placement's results, normalised: a rate (operations per second) or a
 * time (nanoseconds per operation), with its range, percentiles when the source has them, the bytes one
 * operation moves when known, and the heap allocated per operation (JMH's profilers; NaN elsewhere).
 *
 * @param source        "jmh", "c" or "python"
 * @param name          JMH: {@code Class.method} without the package; C: the program's {@code name}; Python: the result key
 * @param params        JMH's {@code @Param}s; the C line's descriptive fields (size, pipe_size, stdio, ...)
 * @param rate          true: {@link #value} is operations/s; false: nanoseconds per operation
 * @param value         the score (JMH's score, C's median of repetitions or mean latency, Python's mean)
 * @param lo            the low end of its range (JMH: score - 99.9% error; C: the slowest repetition), else value
 * @param hi            the high end of its range, else value
 * @param p50           median latency in ns (sampled sources only), else NaN
 * @param p90           90th percentile in ns, else NaN
 * @param p99           99th percentile in ns, else NaN
 * @param bytes         bytes one operation moves (0: not a transfer)
 * @param allocPerOp    gc.alloc.rate.norm, bytes/op, else NaN
 * @param allocError    its 99.9% error, else NaN
 * @param steadyAlloc   bytes/op the benchmark's own threads allocated in the steady state
 *                      ({@link dev.panpipe.bench.SteadyAllocationProfiler}), else NaN
 * @param steadyOthersAlloc bytes/op every other thread allocated meanwhile, else NaN
 * @param steadyIterations iterations with those two figures (0: not measured)
 * @param steadyAllocating of those, the iterations in which some thread allocated at all
 * @param samples       measured iterations, sampled operations or round trips
 * @param iterationSeconds JMH's measurement iteration time, else NaN
 * @param pairRatio     PairedRun's figures only: the median, over its interleaved pairs of slices, of this side's
 *                      figure over the other side's in the same pair, else NaN
 */
public record Measurement(String source, String name, Map<String, String> params, boolean rate, double value, double lo, double hi,
                          double p50, double p90, double p99, long bytes, double allocPerOp, double allocError,
                          double steadyAlloc, double steadyOthersAlloc, int steadyIterations, int steadyAllocating, long samples,
                          double iterationSeconds, double pairRatio) {

    /** What a comparison compares; every source converts into each one it can. */
    public enum Metric {
        OPS_PER_S("/s", true),
        MB_PER_S("MB/s", true),
        MEAN_NS("ns", false),
        /** The median of sampled latencies (JMH SampleTime, the C ping-pongs); no range. */
        P50_NS("ns", false);

        final String unit;
        final boolean higherIsBetter;

        Metric(String unit, boolean higherIsBetter) {
            this.unit = unit;
            this.higherIsBetter = higherIsBetter;
        }
    }

    /** {value, lo, hi} in the metric, lo <= hi; null when it cannot be had (MB/s of something that moves no bytes). */
    public double[] in(Metric metric) {
        double v, a, b;
        switch (metric) {
            case OPS_PER_S -> {
                if (rate) return new double[] {value, lo, hi};
                v = 1e9 / value; a = 1e9 / hi; b = 1e9 / lo;
            }
            case MB_PER_S -> {
                if (bytes <= 0) return null;
                double[] ops = in(Metric.OPS_PER_S);
                return new double[] {ops[0] * bytes / 1e6, ops[1] * bytes / 1e6, ops[2] * bytes / 1e6};
            }
            case MEAN_NS -> {
                if (!rate) return new double[] {value, lo, hi};
                v = 1e9 / value; a = 1e9 / hi; b = 1e9 / lo;
            }
            case P50_NS -> {
                return Double.isNaN(p50) ? null : new double[] {p50, p50, p50};
            }
            default -> throw new IllegalArgumentException(metric.name());
        }
        return new double[] {v, Math.min(a, b), Math.max(a, b)};
    }

    /** Operations in one measured JMH iteration (the iteration time over the time per op), else NaN. */
    public double opsPerIteration() {
        return iterationSeconds * in(Metric.OPS_PER_S)[0];
    }

    public boolean hasPercentiles() {
        return !Double.isNaN(p50) && !Double.isNaN(p90) && !Double.isNaN(p99);
    }

    /**
     * "Class.method" and the params that tell it apart, e.g. "PipeThroughputBenchmark.panpipeSegment size=65536"
     * (not childCpu: the placement says it).
     */
    public String label() {
        StringBuilder s = new StringBuilder(name);
        params.forEach((k, v) -> {
            if (!k.equals("childCpu")) s.append(' ').append(k).append('=').append(v);
        });
        return s.toString();
    }
}
