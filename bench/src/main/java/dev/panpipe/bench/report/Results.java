package dev.panpipe.bench.report;

import dev.panpipe.bench.SteadyAllocationProfiler;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Every measurement of one run, per placement ("same-core", "cross-core"), read from JMH's JSON, the C
 * baselines' JSON lines and mp_pipe_roundtrip.py's JSON.
 */
public final class Results {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PACKAGE = "dev.panpipe.bench.";
    /** C fields that describe a measurement rather than give a figure: they become its params. */
    private static final Set<String> C_PARAMS = Set.of("size", "pipe_size", "stdio", "command", "spin_before_yield");
    private static final Set<String> PAIRED_PARAMS = Set.of("side", "size", "wait", "slots", "regime");
    /** Bytes one op moves for benchmarks without a {@code size} param. */
    private static final Map<String, Long> FIXED_BYTES = Map.of(
            "PipeThroughputBenchmark.", 65536L,
            "PipeRoundTripBenchmark.", 64L,
            "NioPipeBenchmark.pingPong", 64L,
            "UnixSocketBenchmark.pingPong", 64L,
            "WorkerRoundTripBenchmark.framePixels", 6_220_800L,
            "KernelBenchmark.", 6_220_800L);

    private final Map<String, List<Measurement>> byPlacement = new LinkedHashMap<>();
    private final Map<String, JsonNode> pythonMeta = new LinkedHashMap<>();

    public List<String> placements() {
        return List.copyOf(byPlacement.keySet());
    }

    public List<Measurement> all(String placement) {
        return byPlacement.getOrDefault(placement, List.of());
    }

    public Optional<Measurement> find(String placement, Ref ref) {
        if (ref == null) return Optional.empty();
        return all(placement).stream().filter(ref::matches).findFirst();
    }

    /** What mp_pipe_roundtrip.py says about itself (python, numpy, cpus, times), if it ran in the placement. */
    public Optional<JsonNode> pythonMeta(String placement) {
        return Optional.ofNullable(pythonMeta.get(placement));
    }

    private List<Measurement> list(String placement) {
        return byPlacement.computeIfAbsent(placement, p -> new ArrayList<>());
    }

    /** JMH's JSON (-rf json). */
    public void addJmh(String placement, Path file) throws IOException {
        List<Measurement> out = list(placement);
        for (JsonNode run : JSON.readTree(Files.readString(file))) {
            String name = run.path("benchmark").asText();
            if (name.startsWith(PACKAGE)) name = name.substring(PACKAGE.length());
            Map<String, String> params = new LinkedHashMap<>();
            run.path("params").properties().forEach(e -> params.put(e.getKey(), e.getValue().asText()));
            // The suite's message size is "size"; VmspliceBenchmark calls its "chunkBytes".
            if (!params.containsKey("size") && params.containsKey("chunkBytes")) params.put("size", params.get("chunkBytes"));
            JsonNode primary = run.path("primaryMetric");
            String unit = primary.path("scoreUnit").asText();
            double score = primary.path("score").asDouble(Double.NaN);
            double error = primary.path("scoreError").asDouble(Double.NaN);
            if (Double.isNaN(error)) error = 0;
            boolean rate = unit.startsWith("ops/");
            double scale = rate ? opsPerSecondScale(unit) : nanosScale(unit);
            double value = score * scale, lo = (score - error) * scale, hi = (score + error) * scale;
            if (lo <= 0) lo = value * 1e-3;          // an error wider than the score: keep the range positive
            // Percentiles of single operations only in SampleTime; in the other modes JMH's are of iteration scores.
            boolean sampled = run.path("mode").asText().equals("sample");
            JsonNode pct = primary.path("scorePercentiles");
            JsonNode secondary = run.path("secondaryMetrics");
            JsonNode alloc = secondary.path("gc.alloc.rate.norm");
            int[] steady = steadyIterations(secondary);
            out.add(new Measurement("jmh", name, params, rate, value, lo, hi,
                    sampled ? pct.path("50.0").asDouble(Double.NaN) * scale : Double.NaN,
                    sampled ? pct.path("90.0").asDouble(Double.NaN) * scale : Double.NaN,
                    sampled ? pct.path("99.0").asDouble(Double.NaN) * scale : Double.NaN,
                    bytesOf(name, params), alloc.path("score").asDouble(Double.NaN), alloc.path("scoreError").asDouble(Double.NaN),
                    secondary.path(SteadyAllocationProfiler.THREAD_NORM).path("score").asDouble(Double.NaN),
                    secondary.path(SteadyAllocationProfiler.OTHERS_NORM).path("score").asDouble(Double.NaN),
                    steady[0], steady[1],
                    countSamples(primary), seconds(run.path("measurementTime").asText()), Double.NaN));
        }
    }

    /**
     * {iterations, iterations in which any thread allocated} from SteadyAllocationProfiler's per-iteration
     * figures (JMH's rawData: one list per fork); {0, 0} when the profiler did not run.
     */
    private static int[] steadyIterations(JsonNode secondary) {
        JsonNode thread = secondary.path(SteadyAllocationProfiler.THREAD_NORM).path("rawData");
        JsonNode others = secondary.path(SteadyAllocationProfiler.OTHERS_NORM).path("rawData");
        int iterations = 0, allocating = 0;
        for (int f = 0; f < thread.size(); f++) {
            for (int i = 0; i < thread.get(f).size(); i++) {
                iterations++;
                if (thread.get(f).get(i).asDouble() != 0 || others.path(f).path(i).asDouble() != 0) allocating++;
            }
        }
        return new int[] {iterations, allocating};
    }

    /** The C baselines' output: one JSON object per line. */
    public void addC(String placement, Path file) throws IOException {
        addLines("c", C_PARAMS, placement, file);
    }

    /**
     * PairedRun's output (dev.panpipe.bench.PairedRun): one JSON object per side of a comparison measured
     * interleaved in time, in the C baselines' fields; {@code side} tells the two apart.
     */
    public void addPaired(String placement, Path file) throws IOException {
        addLines("paired", PAIRED_PARAMS, placement, file);
    }

    private void addLines(String source, Set<String> paramNames, String placement, Path file) throws IOException {
        List<Measurement> out = list(placement);
        for (String line : Files.readAllLines(file)) {
            if (line.isBlank()) continue;
            JsonNode j = JSON.readTree(line);
            Map<String, String> params = new LinkedHashMap<>();
            j.properties().forEach(e -> {
                if (paramNames.contains(e.getKey())) params.put(e.getKey(), e.getValue().asText());
            });
            long bytes = j.path("size").asLong(0);
            if (j.has("mean_ns")) {
                double mean = j.path("mean_ns").asDouble();
                out.add(new Measurement(source, j.path("name").asText(), params, false, mean, mean, mean,
                        j.path("p50_ns").asDouble(), j.path("p90_ns").asDouble(), j.path("p99_ns").asDouble(),
                        bytes, Double.NaN, Double.NaN, Double.NaN, Double.NaN, 0, 0, j.path("iterations").asLong(), Double.NaN,
                        j.path("pair_ratio_median").asDouble(Double.NaN)));
            } else {
                double ops = j.path("ops_per_s").asDouble();
                out.add(new Measurement(source, j.path("name").asText(), params, true, ops,
                        j.path("ops_per_s_min").asDouble(ops), j.path("ops_per_s_max").asDouble(ops),
                        Double.NaN, Double.NaN, Double.NaN, bytes, Double.NaN, Double.NaN, Double.NaN, Double.NaN, 0, 0, j.path("reps").asLong(), Double.NaN,
                        j.path("pair_ratio_median").asDouble(Double.NaN)));
            }
        }
    }

    /** mp_pipe_roundtrip.py's JSON: microseconds per round trip under {@code results}. */
    public void addPython(String placement, Path file) throws IOException {
        JsonNode root = JSON.readTree(Files.readString(file));
        pythonMeta.put(placement, root);
        List<Measurement> out = list(placement);
        root.path("results").properties().forEach(e -> {
            JsonNode r = e.getValue();
            String key = e.getKey();
            long bytes = key.startsWith("bytes:") ? Long.parseLong(key.substring(6)) : key.equals("framePickle") ? 6_220_800L : 0;
            double mean = r.path("mean").asDouble() * 1000;
            out.add(new Measurement("python", key, Map.of(), false, mean, mean, mean,
                    r.path("p50").asDouble() * 1000, r.path("p90").asDouble() * 1000, r.path("p99").asDouble() * 1000,
                    bytes, Double.NaN, Double.NaN, Double.NaN, Double.NaN, 0, 0, r.path("iterations").asLong(), Double.NaN, Double.NaN));
        });
    }

    /** JMH's "1 s", "300 ms", "500 us" as seconds; NaN if it is none of those. */
    private static double seconds(String time) {
        String[] parts = time.strip().split(" ");
        if (parts.length != 2) return Double.NaN;
        double v;
        try {
            v = Double.parseDouble(parts[0]);
        } catch (NumberFormatException e) {
            return Double.NaN;
        }
        return switch (parts[1]) {
            case "s" -> v;
            case "ms" -> v / 1e3;
            case "us" -> v / 1e6;
            case "ns" -> v / 1e9;
            case "min" -> v * 60;
            default -> Double.NaN;
        };
    }

    private static long bytesOf(String name, Map<String, String> params) {
        String size = params.get("size");
        if (size != null) return Long.parseLong(size);
        for (var e : FIXED_BYTES.entrySet()) {
            if (name.startsWith(e.getKey())) return e.getValue();
        }
        return 0;
    }

    private static double opsPerSecondScale(String unit) {
        return switch (unit) {
            case "ops/s" -> 1;
            case "ops/ms" -> 1e3;
            case "ops/us" -> 1e6;
            case "ops/ns" -> 1e9;
            case "ops/min" -> 1.0 / 60;
            default -> throw new IllegalArgumentException("unknown JMH unit " + unit);
        };
    }

    private static double nanosScale(String unit) {
        return switch (unit) {
            case "ns/op" -> 1;
            case "us/op" -> 1e3;
            case "ms/op" -> 1e6;
            case "s/op" -> 1e9;
            default -> throw new IllegalArgumentException("unknown JMH unit " + unit);
        };
    }

    /** Measured iterations (Throughput, AverageTime), or sampled operations (SampleTime: rawDataHistogram). */
    private static long countSamples(JsonNode primary) {
        long n = 0;
        JsonNode histogram = primary.path("rawDataHistogram");
        if (!histogram.isMissingNode()) {
            for (JsonNode fork : histogram) {
                for (JsonNode iteration : fork) {
                    for (JsonNode bucket : iteration) n += bucket.path(1).asLong();
                }
            }
            return n;
        }
        for (JsonNode fork : primary.path("rawData")) n += fork.size();
        return n;
    }
}
