package dev.panpipe.bench.report;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panpipe.bench.report.Measurement.Metric;
import dev.panpipe.bench.report.Suite.FloorKind;
import dev.panpipe.bench.report.Suite.Row;
import dev.panpipe.bench.report.Suite.Series;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.TreeSet;

/**
 * Turns one run's results into results.md (on stdout), the PNG charts and the short summary that
 * {@code scripts/bench --update-readme} puts into README.md: every panpipe figure beside its baselines (C,
 * the JDK, Python, bash) measured in the same run and placement, the ratio, and the floor, met or not
 * (a figure below its floor is shown as such; a floor whose figure is missing is shown as not measured).
 * What is compared with what is the table in {@link Suite}.
 *
 * <p>Usage: {@code Report [--charts DIR] [--summary FILE] [--machine TEXT] INPUT...}, each INPUT one of
 * {@code <placement>=<jmh.json>}, {@code c:<placement>=<c.jsonl>}, {@code python:<placement>=<py.json>},
 * e.g. {@code same-core=same-core.json c:same-core=c-same-core.jsonl}. The summary's links (charts, results.md)
 * are relative to the results directory; scripts/bench --update-readme puts the directory in front.
 */
public final class Report {
    private final Results results;
    private final List<String> missed = new ArrayList<>();
    private final List<String> notMeasured = new ArrayList<>();
    /** Allocation rows shown without the 0 B/op floor (Suite.ALLOCATES_BY_DESIGN). */
    private int byDesign;
    private final List<String> met = new ArrayList<>();

    private Report(Results results) {
        this.results = results;
    }

    public static void main(String[] args) throws IOException {
        try {
            System.out.print(run(args));
        } catch (IllegalArgumentException e) {
            System.err.println("Report: " + e.getMessage() + "\nusage: Report [--charts DIR] [--summary FILE] [--machine TEXT] "
                    + "<placement>=<jmh.json> [c:<placement>=<c.jsonl>] [python:<placement>=<py.json>] [paired:<placement>=<paired.jsonl>] ...");
            System.exit(2);
        }
    }

    /** Reads the inputs, writes the charts and the summary if asked, and returns results.md's tables. */
    static String run(String... args) throws IOException {
        Results results = new Results();
        Path charts = null, summary = null;
        String machine = "";
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            switch (arg) {
                case "--charts" -> charts = Path.of(args[++i]);
                case "--summary" -> summary = Path.of(args[++i]);
                case "--machine" -> machine = args[++i];
                default -> {
                    int eq = arg.indexOf('=');
                    if (eq <= 0) {
                        throw new IllegalArgumentException("expected <placement>=<file>, c:<placement>=<file>, python:<placement>=<file> or paired:<placement>=<file>, got " + arg);
                    }
                    String label = arg.substring(0, eq);
                    Path file = Path.of(arg.substring(eq + 1));
                    if (label.startsWith("python:")) results.addPython(label.substring(7), file);
                    else if (label.startsWith("c:")) results.addC(label.substring(2), file);
                    else if (label.startsWith("paired:")) results.addPaired(label.substring(7), file);
                    else results.addJmh(label, file);
                }
            }
        }
        if (results.placements().isEmpty()) throw new IllegalArgumentException("no results given");
        Report report = new Report(results);
        List<String> pngs = charts == null ? List.of() : Charts.write(results, charts);
        StringBuilder allocation = new StringBuilder();
        report.allocation(allocation);           // first: its misses are listed with the floors'
        StringBuilder md = new StringBuilder(report.floors());
        report.throughputBySize(md);
        report.latency(md);
        report.roundTripsBySize(md);
        md.append(allocation);
        if (!pngs.isEmpty()) {
            md.append("## Charts\n\n");
            for (String png : pngs) md.append("![").append(png).append("](").append(png).append(")\n\n");
        }
        report.everyFigure(md);
        if (summary != null) Files.writeString(summary, report.summary(machine, pngs));
        return md.toString();
    }

    // ---- floors and ratios ----

    /** One row's figures in one placement, or why not. */
    private record Compared(Row row, double[] p, double[] b, double ratio, double worst, double best, String verdict) {
    }

    private Optional<Compared> compare(String placement, Row row) {
        if (row.oneCpu() && !placement.equals(results.placements().getFirst())) return Optional.empty();
        if (row.placement() != null && !row.placement().equals(placement)) return Optional.empty();
        Optional<Measurement> pm = results.find(placement, row.panpipe());
        Optional<Measurement> bm = row.baseline() == null ? Optional.empty() : results.find(placement, row.baseline());
        double[] p = pm.map(m -> m.in(row.metric())).orElse(null);
        double[] b = bm.map(m -> m.in(row.metric())).orElse(null);
        boolean needsBaseline = row.baseline() != null;
        if (p == null || (needsBaseline && b == null)) {
            if (row.floor().kind() == FloorKind.NONE) return Optional.empty();
            return Optional.of(new Compared(row, p, b, Double.NaN, Double.NaN, Double.NaN, "not measured"));
        }
        double ratio, worst, best;
        double pairRatio = pm.get().pairRatio();
        if (needsBaseline && !Double.isNaN(pairRatio) && pm.get().name().equals(bm.get().name())) {
            // Interleaved (PairedRun): the median of the pairs' ratios, which a placement change during the run
            // moves less than the ratio of the two sides' medians.
            ratio = pairRatio; worst = pairRatio; best = pairRatio;
        } else if (!needsBaseline) {
            ratio = p[0]; worst = p[1]; best = p[2];
        } else if (row.metric().higherIsBetter) {
            ratio = p[0] / b[0]; worst = p[1] / b[2]; best = p[2] / b[1];
        } else {
            ratio = p[0] / b[0]; worst = p[2] / b[1]; best = p[1] / b[2];
        }
        return Optional.of(new Compared(row, p, b, ratio, worst, best, verdict(row.floor(), ratio, worst, best)));
    }

    /** Whether a ratio (or value) meets its floor, and whether that holds at both ends of its range. */
    static String verdict(Suite.Floor floor, double ratio, double worst, double best) {
        return switch (floor.kind()) {
            case NONE -> "(no floor)";
            case RATIO_AT_LEAST, VALUE_AT_LEAST -> verdict(ratio, worst, best, floor.x());
            case RATIO_AT_MOST -> ratio <= floor.x()
                    ? (worst <= floor.x() ? "**yes**" : "**yes** (not beyond the error)")
                    : (best <= floor.x() ? "**no** (within the error)" : "**no**");
        };
    }

    /** Whether a ratio meets a floor it must reach, and whether that holds at both ends of the error. */
    static String verdict(double ratio, double worst, double best, double floor) {
        if (Double.isNaN(floor)) return "(no floor)";
        if (ratio >= floor) return worst >= floor ? "**yes**" : "**yes** (not beyond the error)";
        return best >= floor ? "**no** (within the error)" : "**no**";
    }

    private String floors() {
        StringBuilder md = new StringBuilder("## Floors and ratios\n\n");
        md.append("Ratio = panpipe / baseline, both from this run and the same placement: for rates (/s, MB/s) above 1 "
                + "means panpipe is faster, for times (round trips: median or mean, as the row says) below 1 does. The round-trip floors "
                + "are read on the median, the mean beside it. Range: the ratio at the two ends "
                + "of the figures' ranges (JMH: the 99.9% confidence interval; C: the slowest and fastest repetition; "
                + "medians, C and Python latencies: none). *Interleaved* rows: the ratio is the median of the ratios of the pairs of slices, not the ratio of the two medians shown. MB/s = 10^6 bytes/s.\n\n"
                + "Cross-core, the host moves the two vCPUs every few seconds between placements where a cache line "
                + "crosses in about 50 ns or about 300 ns (the C spin ping-pong: 100-150 ns or 560-640 ns p50), so two "
                + "figures measured minutes apart can compare a fast placement with a slow one. The cross-core floors "
                + "that compare two cache-bound figures are therefore read on *interleaved* rows: `dev.panpipe.bench.PairedRun` "
                + "measures both sides in alternating slices of a few hundred milliseconds (A B, B A, ...), each side's "
                + "figure the median over its slices; the separate JMH and C figures stay beside them without a floor.\n\n");
        for (String placement : results.placements()) {
            md.append("### ").append(placement).append("\n\n");
            md.append(floorTable(placement, false));
            md.append('\n');
        }
        if (!missed.isEmpty()) md.append("Floors **missed**: ").append(String.join("; ", missed)).append(".\n\n");
        if (!notMeasured.isEmpty()) md.append("Floors **not measured** in this run: ").append(String.join("; ", notMeasured)).append(".\n\n");
        md.append(floorCount());
        return md.toString();
    }

    /** The floors met, missed and not measured, and the allocation rows shown without a floor. */
    private String floorCount() {
        String count = String.format(Locale.ROOT, "Floors met: %d, missed: %d, not measured: %d.", met.size(), missed.size(), notMeasured.size());
        if (byDesign > 0) {
            count += String.format(Locale.ROOT, " Not counted: %d allocation rows of a worker's round trip through pipes, "
                    + "whose result is a byte[] by design (see the allocation table).", byDesign);
        }
        return count + "\n\n";
    }

    private String floorTable(String placement, boolean floorsOnly) {
        StringBuilder md = new StringBuilder();
        md.append("| what | panpipe | baseline | ratio | range | floor | met |\n");
        md.append("|---|---:|---:|---:|---:|---:|---|\n");
        for (Row row : Suite.ROWS) {
            if (floorsOnly && row.floor().kind() == FloorKind.NONE) continue;
            Optional<Compared> c = compare(placement, row);
            if (c.isEmpty()) continue;
            Compared x = c.get();
            if (!floorsOnly) {
                String name = placement + ": " + row.what() + (row.baselineLabel() == null ? "" : " (" + row.panpipeLabel() + " vs " + row.baselineLabel() + ")");
                if (x.verdict().equals("not measured")) notMeasured.add(name);
                else if (x.verdict().startsWith("**no**")) missed.add(name);
                else if (x.verdict().startsWith("**yes**")) met.add(name);
            }
            boolean absolute = row.baseline() == null;
            md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s |%n",
                    row.what(),
                    row.panpipeLabel() + ": " + (x.p() == null ? "not measured" : Format.value(x.p()[0], row.metric())),
                    absolute ? "-" : row.baselineLabel() + ": " + (x.b() == null ? "not measured" : Format.value(x.b()[0], row.metric())),
                    absolute ? "-" : Format.ratio(x.ratio()),
                    absolute || Double.isNaN(x.ratio()) || x.worst() == x.best() ? "-" : Format.ratio(Math.min(x.worst(), x.best())) + "-" + Format.ratio(Math.max(x.worst(), x.best())),
                    row.floor().text(row.metric()),
                    x.verdict()));
        }
        return md.toString();
    }

    // ---- by message size ----

    private void throughputBySize(StringBuilder md) {
        md.append("## Throughput by message size (MB/s)\n\n");
        md.append("One message per write (C: write(2) or vmsplice(2); Java: one call), parent to child unless said; "
                + "timed on the writer's side. The NIO Pipe runs between two threads of the benchmark JVM (one cpu), "
                + "in the same-core run only; memcpy is one process copying the message once. Last column: panpipe / C write+read.\n\n");
        List<Series> series = new ArrayList<>(Suite.THROUGHPUT);
        for (String placement : results.placements()) {
            List<Series> all = new ArrayList<>(series);
            all.addAll(Charts.ringSeries(results, placement, true));
            TreeSet<Long> sizes = new TreeSet<>();
            List<Series> present = new ArrayList<>();
            for (Series s : all) {
                boolean any = false;
                for (Measurement m : results.all(placement)) {
                    if (sizeless(s.ref()).matches(m) && m.params().containsKey("size") && m.bytes() > 0) {
                        sizes.add(m.bytes());
                        any = true;
                    }
                }
                if (any) present.add(s);
            }
            if (present.isEmpty()) continue;
            md.append("### ").append(placement).append("\n\n| size |");
            for (Series s : present) md.append(' ').append(s.label()).append(" |");
            md.append(" panpipe / C |\n|---:|");
            md.append("---:|".repeat(present.size() + 1)).append('\n');
            for (long size : sizes) {
                md.append("| ").append(Format.bytes(size)).append(" |");
                for (Series s : present) {
                    double[] v = mbps(placement, s.ref(), size);
                    md.append(' ').append(v == null ? "-" : Format.grouped(v[0], v[0] < 10 ? 2 : 0)).append(" |");
                }
                double[] p = mbps(placement, Suite.THROUGHPUT.get(0).ref(), size);
                double[] c = mbps(placement, Suite.THROUGHPUT.get(1).ref(), size);
                md.append(' ').append(p == null || c == null ? "-" : Format.ratio(p[0] / c[0])).append(" |\n");
            }
            md.append('\n');
        }
    }

    private double[] mbps(String placement, Ref ref, long size) {
        return results.find(placement, ref.size(size)).map(m -> m.in(Metric.MB_PER_S)).orElse(null);
    }

    /** The ref with its size param left out (a series over sizes). */
    private static Ref sizeless(Ref ref) {
        if (ref.source().equals("python")) return ref;
        var params = new java.util.LinkedHashMap<>(ref.params());
        params.remove("size");
        return new Ref(ref.source(), ref.name(), params);
    }

    private void latency(StringBuilder md) {
        md.append("## 64-byte round trips\n\n");
        md.append("One round trip = 64 bytes to the peer and the same 64 bytes back, each timed on its own (JMH SampleTime; "
                + "C: clock_gettime around each; Python: perf_counter_ns). C: pingpong.c, a forked child; eventfd, futex and spin "
                + "carry the bytes in shared memory (memcpy in and out) and differ only in how the other side is woken. "
                + "JDK NIO Pipe: two threads of one JVM (same-core run only); Unix socket: a child JVM.\n\n");
        for (String placement : results.placements()) {
            List<Series> all = new ArrayList<>(Suite.LATENCY);
            all.addAll(Charts.ringSeries(results, placement, false));
            StringBuilder rows = new StringBuilder();
            for (Series s : all) {
                Optional<Measurement> m = results.find(placement, s.ref());
                if (m.isEmpty()) continue;
                Measurement x = m.get();
                double[] mean = x.in(Metric.MEAN_NS);
                rows.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %,d | %s |%n", s.label(), Format.time(mean[0]),
                        Format.time(x.p50()), Format.time(x.p90()), Format.time(x.p99()), x.samples(), Format.alloc(x.allocPerOp())));
            }
            if (rows.isEmpty()) continue;
            md.append("### ").append(placement).append("\n\n");
            md.append("| transport | mean | p50 | p90 | p99 | round trips | B/op |\n|---|---:|---:|---:|---:|---:|---:|\n").append(rows).append('\n');
        }
    }

    private void roundTripsBySize(StringBuilder md) {
        boolean header = false;
        for (String placement : results.placements()) {
            TreeSet<Long> sizes = new TreeSet<>();
            for (Measurement m : results.all(placement)) {
                if (sizeless(Suite.ROUND_TRIPS.get(0).ref()).matches(m)) sizes.add(m.bytes());
            }
            if (sizes.isEmpty()) continue;
            if (!header) {
                md.append("## Worker round trips by message size, beside Python\n\n");
                md.append("panpipe: WorkerRoundTripBenchmark.bytes, send(MemorySegment) + take() through an EchoWorker JVM "
                        + "(stdin pipe there, results FIFO and event loop back). Python: mp_pipe_roundtrip.py, "
                        + "send_bytes + recv_bytes to a forked multiprocessing.Process echoing them, run right after the JMH run "
                        + "in the same placement. Speed = Python's mean / panpipe's (above 1: panpipe is faster).\n\n");
                header = true;
            }
            md.append("### ").append(placement).append("\n\n");
            results.pythonMeta(placement).ifPresent(py -> md.append(pythonLine(py)));
            md.append("| size | panpipe mean | p50 / p99 | B/op | Python mean | p50 / p99 | speed |\n|---:|---:|---:|---:|---:|---:|---:|\n");
            for (long size : sizes) {
                Optional<Measurement> p = results.find(placement, Suite.ROUND_TRIPS.get(0).ref().size(size));
                Optional<Measurement> y = results.find(placement, Suite.ROUND_TRIPS.get(1).ref().size(size));
                md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s |%n", Format.bytes(size),
                        p.map(m -> Format.time(m.value())).orElse("-"),
                        p.map(m -> Format.time(m.p50()) + " / " + Format.time(m.p99())).orElse("-"),
                        p.map(m -> Format.alloc(m.allocPerOp())).orElse("-"),
                        y.map(m -> Format.time(m.value())).orElse("-"),
                        y.map(m -> Format.time(m.p50()) + " / " + Format.time(m.p99())).orElse("-"),
                        p.isPresent() && y.isPresent() ? Format.ratio(y.get().value() / p.get().value()) : "-"));
            }
            md.append('\n');
        }
    }

    private static String pythonLine(JsonNode py) {
        return String.format(Locale.ROOT, "Python: %s, numpy %s, start method %s, parent on cpus %s, child on cpus %s, "
                        + "%.1f s warm-up + %.1f s per measurement, pickle protocol %s.%n%n",
                py.path("python").asText(), py.path("numpy").asText(), py.path("start_method").asText(),
                py.path("parent_cpus"), py.path("child_cpus"), py.path("warmup_s").asDouble(), py.path("time_s").asDouble(),
                py.path("pickle_protocol").asText());
    }

    // ---- allocation ----

    private void allocation(StringBuilder md) {
        md.append("## Allocation on the hot paths (floor: 0 B/op)\n\n");
        md.append("Heap bytes allocated per operation in the steady state, from `dev.panpipe.bench.SteadyAllocationProfiler`: "
                + "every thread's allocated bytes read every 10 ms from 20% to 90% of each measured iteration, after JMH has "
                + "set it up and before `@TearDown(Level.Trial)` (which JMH runs inside the last iteration), over the "
                + "operations in that window. *Benchmark thread*: JMH's worker thread, which runs panpipe's hot path; in "
                + "SampleTime mode a 10 ms step in which it allocated exactly a multiple of an `int[1024]` is JMH's own "
                + "latency histogram and is not counted. *Other threads*: all but JMH's main thread (panpipe's event loops, "
                + "a process reaper, the JVM's). B/op: the average over the iterations. The floor is met when both are 0 "
                + "in every iteration, with no resolution to hide under; or when only a minority of at least three "
                + "iterations allocated, which the verdict names (a one-off: the JIT generating a method handle's code, "
                + "say; an allocation per op or a periodic one shows in every iteration). With one short iteration "
                + "(`--quick`) any allocation misses, the JIT's warm-up included: read those rows as indicative only. "
                + "`gc.alloc.rate.norm` (JMH's gc "
                + "profiler, every thread over the whole iteration, set-up, tear-down and JMH's bookkeeping included) is "
                + "shown for reference. A worker's result through its pipes is copied to the Java heap by design "
                + "(Result.payload() is a byte[], allocated by panpipe's event loop; no issue asks that path for 0 B/op): "
                + "those rows show what it allocates and are not counted as floors. The same round trips over frame "
                + "rings (WorkerRingRoundTripBenchmark, FrameLink) are.\n\n");
        md.append("| benchmark | placement | benchmark thread B/op | other threads B/op | gc.alloc.rate.norm B/op | 0 B/op |\n"
                + "|---|---|---:|---:|---:|---|\n");
        for (String placement : results.placements()) {
            for (Measurement m : results.all(placement)) {
                if (!m.source().equals("jmh") || Suite.HOT_PATHS.stream().noneMatch(m.name()::startsWith)
                        || Suite.NOT_HOT.stream().anyMatch(m.name()::startsWith)) {
                    continue;
                }
                String v;
                if (Suite.ALLOCATES_BY_DESIGN.stream().anyMatch(m.name()::startsWith)) {
                    v = "- (no floor: a byte[] per result, by design)";
                    byDesign++;
                } else {
                    v = allocationVerdict(m);
                    if (v.startsWith("**no**")) missed.add(placement + ": allocation of " + m.label());
                }
                md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s |%n", m.label(), placement,
                        steadyBytes(m.steadyAlloc()), steadyBytes(m.steadyOthersAlloc()), Format.alloc(m.allocPerOp()), v));
            }
        }
        md.append('\n');
    }

    /**
     * Met when no thread allocated in the steady window of any iteration; also when only a minority of
     * several iterations did (a one-off: the JIT compiling a method handle's lambda forms, say), which the
     * verdict names. A per-op or periodic allocation shows in every iteration; with one iteration there is
     * no telling, so any allocation misses.
     */
    static String allocationVerdict(Measurement m) {
        if (Double.isNaN(m.steadyAlloc())) return "not measured (run with -prof " + Suite.ALLOCATION_PROFILER + ")";
        if (m.steadyAllocating() == 0 && m.steadyAlloc() == 0 && m.steadyOthersAlloc() == 0) return "**yes**";
        if (m.steadyIterations() >= 3 && 2 * m.steadyAllocating() < m.steadyIterations()) {
            return "**yes** (a one-off in " + m.steadyAllocating() + " of " + m.steadyIterations() + " iterations)";
        }
        return "**no**";
    }

    /** 0 only when nothing was allocated: a small non-zero figure keeps its digits rather than round to 0.0. */
    private static String steadyBytes(double b) {
        if (b == 0) return "0";
        if (b > 0 && b < 0.1) return String.format(Locale.ROOT, "%.2g", b);
        return Format.alloc(b);
    }

    // ---- every figure ----

    private void everyFigure(StringBuilder md) {
        md.append("## Every figure\n\n");
        md.append("JMH's score ± its 99.9% error in JMH's unit; C: the median of repetitions [slowest, fastest] or the mean "
                + "latency; Python: the mean. p50 / p90 / p99 for sampled figures. B/op: `gc.alloc.rate.norm`.\n\n");
        for (String placement : results.placements()) {
            md.append("### ").append(placement).append("\n\n");
            md.append("| source | figure | value | range | as | p50 / p90 / p99 | samples | B/op | ± B/op |\n");
            md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
            for (Measurement m : results.all(placement)) {
                String value = m.rate() ? Format.value(m.value(), Metric.OPS_PER_S) : Format.time(m.value());
                String range = m.lo() == m.hi() ? "" : m.rate()
                        ? Format.value(m.lo(), Metric.OPS_PER_S) + " - " + Format.value(m.hi(), Metric.OPS_PER_S)
                        : Format.time(m.lo()) + " - " + Format.time(m.hi());
                double[] mb = m.in(Metric.MB_PER_S);
                md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %,d | %s | %s |%n",
                        m.source(), m.label(), value, range, mb == null || !m.rate() ? "" : Format.value(mb[0], Metric.MB_PER_S),
                        m.hasPercentiles() ? Format.time(m.p50()) + " / " + Format.time(m.p90()) + " / " + Format.time(m.p99()) : "",
                        m.samples(), Format.alloc(m.allocPerOp()), Format.alloc(m.allocError())));
            }
            md.append('\n');
        }
    }

    // ---- the README's summary ----

    private String summary(String machine, List<String> pngs) {
        StringBuilder md = new StringBuilder();
        if (!machine.isBlank()) md.append(machine.strip()).append("\n\n");
        md.append("Floors (ratios within one run and one placement; [every figure](results.md)):\n\n");
        for (String placement : results.placements()) {
            md.append("**").append(placement).append("**\n\n").append(floorTable(placement, true)).append('\n');
        }
        md.append(floorCount());
        for (String png : pngs) md.append("![").append(png).append("](").append(png).append(")\n");
        return md.toString();
    }
}
