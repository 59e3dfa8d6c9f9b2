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
 * ProcessBuilder baseline measured in the same JMH run, the ratio, the floor and whether it is met.
 *
 * <p>Usage: {@code Report <label>=<jmh.json> ...}, e.g. {@code same-core=same-core.json cross-core=cross-core.json};
 * prints Markdown on stdout.
 */
public final class Report {
    private static final String SPAWN = "dev.panpipe.bench.SpawnBenchmark.";
    private static final String PIPE = "dev.panpipe.bench.PipeThroughputBenchmark.";
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

    private record Figure(String name, double score, double error, String unit, double bytesPerOp, double bytesPerOpError, int samples) {
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
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq <= 0) throw new IllegalArgumentException("expected <label>=<file>, got " + arg);
            placements.put(arg.substring(0, eq), read(Path.of(arg.substring(eq + 1))));
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
                String met;
                if (Double.isNaN(pair.floor())) {
                    met = "(no floor)";
                } else if (ratio >= pair.floor()) {
                    met = worst >= pair.floor() ? "**yes**" : "**yes** (not beyond the error)";
                } else {
                    met = best >= pair.floor() ? "**no** (within the error)" : "**no**";
                    missed.add(placement.getKey() + ": " + pair.what());
                }
                md.append(String.format(Locale.ROOT, "| %s | %s | %s | %.2fx | %.2f-%sx | %s | %s |%n",
                        pair.what(), withError(p), withError(b), ratio, worst,
                        Double.isInfinite(best) ? "inf" : String.format(Locale.ROOT, "%.2f", best),
                        Double.isNaN(pair.floor()) ? "-" : String.format(Locale.ROOT, "%.1fx", pair.floor()), met));
            }
            md.append('\n');
        }
        md.append(missed.isEmpty() ? "All floors met.\n\n" : "Floors missed: " + String.join("; ", missed) + ".\n\n");

        md.append("## Every figure, with allocation (gc profiler)\n\n");
        md.append("B/op is `gc.alloc.rate.norm`: bytes allocated on the Java heap per operation "
                + "(per spawned child, or per 64 KiB write).\n\n");
        for (var placement : placements.entrySet()) {
            md.append("### ").append(placement.getKey()).append("\n\n");
            md.append("| benchmark | score | ± (99.9%) | unit | as | samples | B/op | ± B/op |\n");
            md.append("|---|---:|---:|---|---:|---:|---:|---:|\n");
            for (Figure f : placement.getValue().values()) {
                md.append(String.format(Locale.ROOT, "| %s | %.1f | %.1f | %s | %s | %d | %.1f | %.1f |%n",
                        f.name().substring(f.name().lastIndexOf('.', f.name().lastIndexOf('.') - 1) + 1),
                        f.score(), f.error(), f.unit(), f.isPipe() ? String.format(Locale.ROOT, "%.3f GB/s", f.value()) : "",
                        f.samples(), f.bytesPerOp(), f.bytesPerOpError()));
            }
            md.append('\n');
        }
        System.out.print(md);
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
            figures.put(name, new Figure(name,
                    primary.path("score").asDouble(Double.NaN),
                    primary.path("scoreError").asDouble(Double.NaN),
                    primary.path("scoreUnit").asText(),
                    alloc.path("score").asDouble(Double.NaN),
                    alloc.path("scoreError").asDouble(Double.NaN),
                    countSamples(primary.path("rawData"))));
        }
        return figures;
    }

    private static int countSamples(JsonNode rawData) {
        int n = 0;
        for (JsonNode fork : rawData) n += fork.size();
        return n;
    }
}
