package dev.panpipe.bench.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns the JMH JSON of each placement into the tables of results.md: each panpipe figure beside its
 * ProcessBuilder baseline measured in the same JMH run, the ratio, the floor and whether it is met; and
 * panpipe's worker round trips beside Python's {@code multiprocessing.Pipe} doing the same work
 * (bench/src/main/python/mp_pipe_roundtrip.py, run by scripts/bench right after the JMH run of the placement).
 *
 * <p>Usage: {@code Report <label>=<jmh.json> ... [python:<label>=<python.json> ...]}, e.g.
 * {@code same-core=same-core.json python:same-core=python-same-core.json}; prints Markdown on stdout.
 */
public final class Report {
    private static final String SPAWN = "dev.panpipe.bench.SpawnBenchmark.";
    private static final String PIPE = "dev.panpipe.bench.PipeThroughputBenchmark.";
    private static final String WORKER = "dev.panpipe.bench.WorkerRoundTripBenchmark.";
    private static final double WRITE_BYTES = 64 * 1024;

    /** A panpipe figure, its baseline, and the floor its ratio must reach (NaN: informative, no floor). */
    private record Pair(String what, String panpipe, String baseline, double floor) {
    }

    private static final List<Pair> PAIRS = List.of(
            new Pair("spawn+wait /bin/true, stdio on /dev/null", SPAWN + "panpipeDiscard", SPAWN + "jdkDiscard", 2.0),
            new Pair("spawn+wait /bin/true, 3 pipes (defaults)", SPAWN + "panpipePipes", SPAWN + "jdkPipes", 2.0),
            new Pair("stdin 64 KiB writes, off-heap segment, panpipe default (1 MiB pipe)", PIPE + "panpipeSegment", PIPE + "jdkOutputStream", 1.2),
            new Pair("stdin 64 KiB writes, off-heap segment, kernel's 64 KiB pipe (pipeCapacity(0))", PIPE + "panpipeSegmentKernelPipe", PIPE + "jdkOutputStream", Double.NaN),
            new Pair("stdin 64 KiB writes, byte[] (like-for-like), panpipe default (1 MiB pipe)", PIPE + "panpipeByteArray", PIPE + "jdkOutputStream", Double.NaN),
            new Pair("experiment: raw blocking write(2) on the same 1 MiB pipe (not an API)", PIPE + "experimentRawBlockingWrite", PIPE + "jdkOutputStream", Double.NaN));

    /**
     * A panpipe worker round trip (JMH, us/op) and Python's measurement of the same work (its JSON's
     * {@code results} key); ratio = Python's time / panpipe's, so above 1 panpipe is faster.
     */
    private record PythonPair(String what, String panpipe, String python, double floor) {
    }

    private static final List<PythonPair> PYTHON_PAIRS = List.of(
            new PythonPair("64 B message round trip: send(MemorySegment)+take() vs send_bytes+recv_bytes", WORKER + "message64", "message64", Double.NaN),
            new PythonPair("1920x1080 RGB frame (6,220,800 B) round trip as bytes: send(MemorySegment)+take() vs send_bytes+recv_bytes",
                    WORKER + "frameBytes", "frameBytes", 3.0),
            new PythonPair("the frame as a PixelFrame (Codecs.pixels()) vs send_bytes+recv_bytes", WORKER + "framePixels", "frameBytes", 3.0),
            new PythonPair("the frame as a PixelFrame (Codecs.pixels()) vs a numpy array through send()+recv() (pickle)",
                    WORKER + "framePixels", "framePickle", 10.0));

    /** One of Python's measurements: microseconds per round trip. */
    private record PythonFigure(double mean, double p50, double p99, long iterations) {
    }

    private record Figure(String name, double score, double error, String unit, double bytesPerOp, double bytesPerOpError, int samples,
                          double p50, double p99) {
        boolean isPipe() {
            return name.startsWith(PIPE);
        }

        /** GB/s for the pipe benchmarks (one op = one 64 KiB write), ops/s for the rest. */
        double value() {
            return isPipe() ? score * WRITE_BYTES / 1e9 : score;
        }

        double valueError() {
            return isPipe() ? error * WRITE_BYTES / 1e9 : error;
        }

        String valueUnit() {
            return isPipe() ? "GB/s" : unit;
        }
    }

    private Report() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length == 0) {
            System.err.println("usage: Report <label>=<jmh-result.json> ...");
            System.exit(2);
        }
        Map<String, Map<String, Figure>> placements = new LinkedHashMap<>();
        Map<String, JsonNode> python = new LinkedHashMap<>();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq <= 0) throw new IllegalArgumentException("expected <label>=<file> or python:<label>=<file>, got " + arg);
            String label = arg.substring(0, eq);
            Path file = Path.of(arg.substring(eq + 1));
            if (label.startsWith("python:")) {
                python.put(label.substring("python:".length()), new ObjectMapper().readTree(Files.readString(file)));
            } else {
                placements.put(label, read(file));
            }
        }
        StringBuilder md = new StringBuilder();
        List<String> missed = new ArrayList<>();
        md.append("## Ratios against the floors\n\n");
        md.append("Ratio = panpipe / ProcessBuilder, both from the same JMH run and placement. "
                + "Range: the ratio at the two ends of JMH's 99.9% confidence intervals (worst, best). "
                + "GB/s = 64 KiB writes/s x 65536 / 10^9.\n\n");
        for (var placement : placements.entrySet()) {
            md.append("### ").append(placement.getKey()).append("\n\n");
            md.append("| what | panpipe | ProcessBuilder | ratio | range | floor | met |\n");
            md.append("|---|---:|---:|---:|---:|---:|---|\n");
            for (Pair pair : PAIRS) {
                Figure p = placement.getValue().get(pair.panpipe());
                Figure b = placement.getValue().get(pair.baseline());
                if (p == null || b == null) continue;
                double ratio = p.value() / b.value();
                double worst = (p.value() - p.valueError()) / (b.value() + b.valueError());
                double best = b.value() - b.valueError() > 0 ? (p.value() + p.valueError()) / (b.value() - b.valueError()) : Double.POSITIVE_INFINITY;
                String met = verdict(ratio, worst, best, pair.floor());
                if (met.startsWith("**no**")) missed.add(placement.getKey() + ": " + pair.what());
                md.append(String.format(Locale.ROOT, "| %s | %s | %s | %.2fx | %.2f-%sx | %s | %s |%n",
                        pair.what(), withError(p), withError(b), ratio, worst,
                        Double.isInfinite(best) ? "inf" : String.format(Locale.ROOT, "%.2f", best),
                        Double.isNaN(pair.floor()) ? "-" : String.format(Locale.ROOT, "%.1fx", pair.floor()), met));
            }
            md.append('\n');
        }
        if (!python.isEmpty()) pythonSection(md, placements, python, missed);
        md.append(missed.isEmpty() ? "All floors met.\n\n" : "Floors missed: " + String.join("; ", missed) + ".\n\n");

        md.append("## Every figure, with allocation (gc profiler)\n\n");
        md.append("B/op is `gc.alloc.rate.norm`: bytes allocated on the Java heap per operation "
                + "(per spawned child, or per 64 KiB write).\n\n");
        for (var placement : placements.entrySet()) {
            md.append("### ").append(placement.getKey()).append("\n\n");
            md.append("| benchmark | score | ± (99.9%) | unit | as | p50 / p99 | samples | B/op | ± B/op |\n");
            md.append("|---|---:|---:|---|---:|---:|---:|---:|---:|\n");
            for (Figure f : placement.getValue().values()) {
                md.append(String.format(Locale.ROOT, "| %s | %.1f | %.1f | %s | %s | %s | %d | %.1f | %.1f |%n",
                        f.name().substring(f.name().lastIndexOf('.', f.name().lastIndexOf('.') - 1) + 1),
                        f.score(), f.error(), f.unit(), f.isPipe() ? String.format(Locale.ROOT, "%.3f GB/s", f.value()) : "",
                        Double.isNaN(f.p50()) ? "" : String.format(Locale.ROOT, "%.1f / %.1f", f.p50(), f.p99()),
                        f.samples(), f.bytesPerOp(), f.bytesPerOpError()));
            }
            md.append('\n');
        }
        System.out.print(md);
    }

    /** panpipe's worker round trips beside Python's, per placement, with ratios against the floors. */
    private static void pythonSection(StringBuilder md, Map<String, Map<String, Figure>> placements, Map<String, JsonNode> python,
                                      List<String> missed) {
        md.append("## Worker round trips beside Python's multiprocessing.Pipe\n\n");
        md.append("panpipe: WorkerRoundTripBenchmark (JMH SampleTime: mean ± 99.9% error, p50 / p99 of every sampled op) through an "
                + "EchoWorker JVM, results over its FIFO. Python: mp_pipe_roundtrip.py under the system python3, a forked "
                + "multiprocessing.Process echoing recv_bytes() with send_bytes(), in the same placement, run right after "
                + "the JMH run. Ratio = Python's mean / panpipe's mean (above 1: panpipe is faster); p50 ratio likewise; "
                + "range: the mean ratio at the ends of panpipe's error (Python's run has no error estimate). "
                + "B/op: heap allocated per round trip in the benchmark JVM (gc profiler).\n\n");
        for (var placement : placements.entrySet()) {
            JsonNode py = python.get(placement.getKey());
            if (py == null) continue;
            md.append("### ").append(placement.getKey()).append("\n\n");
            md.append(String.format(Locale.ROOT, "Python: %s, numpy %s, start method %s, parent on cpus %s, child on cpus %s, "
                            + "%.0f s warm-up + %.0f s per measurement, pickle protocol %s.%n%n",
                    py.path("python").asText(), py.path("numpy").asText(), py.path("start_method").asText(),
                    py.path("parent_cpus"), py.path("child_cpus"), py.path("warmup_s").asDouble(), py.path("time_s").asDouble(),
                    py.path("pickle_protocol").asText()));
            md.append("| what | panpipe us | p50 / p99 | B/op | Python us | p50 / p99 | n | ratio | p50 ratio | range | floor | met |\n");
            md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
            for (PythonPair pair : PYTHON_PAIRS) {
                Figure p = placement.getValue().get(pair.panpipe());
                JsonNode r = py.path("results").path(pair.python());
                if (p == null || r.isMissingNode()) continue;
                PythonFigure b = new PythonFigure(r.path("mean").asDouble(), r.path("p50").asDouble(), r.path("p99").asDouble(),
                        r.path("iterations").asLong());
                double ratio = b.mean() / p.score();
                double worst = b.mean() / (p.score() + p.error());
                double best = p.score() - p.error() > 0 ? b.mean() / (p.score() - p.error()) : Double.POSITIVE_INFINITY;
                String met = verdict(ratio, worst, best, pair.floor());
                if (met.startsWith("**no**")) missed.add(placement.getKey() + ": " + pair.what());
                md.append(String.format(Locale.ROOT, "| %s | %s ± %s | %s / %s | %.0f | %s | %s / %s | %d | %.2fx | %.2fx | %.2f-%sx | %s | %s |%n",
                        pair.what(), us(p.score()), us(p.error()), us(p.p50()), us(p.p99()), p.bytesPerOp(),
                        us(b.mean()), us(b.p50()), us(b.p99()), b.iterations(), ratio, b.p50() / p.p50(), worst,
                        Double.isInfinite(best) ? "inf" : String.format(Locale.ROOT, "%.2f", best),
                        Double.isNaN(pair.floor()) ? "-" : String.format(Locale.ROOT, "%.0fx", pair.floor()), met));
            }
            md.append('\n');
        }
    }

    /** Microseconds: one decimal below 100, none above. */
    private static String us(double v) {
        return String.format(Locale.ROOT, v < 100 ? "%.1f" : "%.0f", v);
    }

    private static String withError(Figure f) {
        String fmt = f.isPipe() ? "%.3f ± %.3f %s" : "%.0f ± %.0f %s";
        return String.format(Locale.ROOT, fmt, f.value(), f.valueError(), f.valueUnit());
    }

    private static Map<String, Figure> read(Path json) throws IOException {
        JsonNode root = new ObjectMapper().readTree(Files.readString(json));
        Map<String, Figure> figures = new LinkedHashMap<>();
        for (JsonNode run : root) {
            JsonNode primary = run.path("primaryMetric");
            JsonNode alloc = run.path("secondaryMetrics").path("gc.alloc.rate.norm");
            String name = run.path("benchmark").asText();
            // Percentiles of operations only in SampleTime; in the other modes JMH's are of iteration scores.
            boolean sampled = run.path("mode").asText().equals("sample");
            figures.put(name, new Figure(name,
                    primary.path("score").asDouble(Double.NaN),
                    primary.path("scoreError").asDouble(Double.NaN),
                    primary.path("scoreUnit").asText(),
                    alloc.path("score").asDouble(Double.NaN),
                    alloc.path("scoreError").asDouble(Double.NaN),
                    countSamples(primary),
                    sampled ? primary.path("scorePercentiles").path("50.0").asDouble(Double.NaN) : Double.NaN,
                    sampled ? primary.path("scorePercentiles").path("99.0").asDouble(Double.NaN) : Double.NaN));
        }
        return figures;
    }

    /** Measured iterations (Throughput, AverageTime), or sampled operations (SampleTime: rawDataHistogram). */
    private static int countSamples(JsonNode primary) {
        int n = 0;
        JsonNode histogram = primary.path("rawDataHistogram");
        if (!histogram.isMissingNode()) {
            for (JsonNode fork : histogram) {
                for (JsonNode iteration : fork) {
                    for (JsonNode bucket : iteration) n += bucket.path(1).asInt();
                }
            }
            return n;
        }
        for (JsonNode fork : primary.path("rawData")) n += fork.size();
        return n;
    }

    /** Whether a ratio meets its floor, and whether that holds at both ends of the error. */
    static String verdict(double ratio, double worst, double best, double floor) {
        if (Double.isNaN(floor)) return "(no floor)";
        if (ratio >= floor) return worst >= floor ? "**yes**" : "**yes** (not beyond the error)";
        return best >= floor ? "**no** (within the error)" : "**no**";
    }
}
