package dev.panpipe.bench.report;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Names a figure in the results: which source, which benchmark or program, and the parameters that must
 * match (any parameter not named is ignored, e.g. JMH's childCpu, which the placement already fixes).
 */
public record Ref(String source, String name, Map<String, String> params) {

    /** A JMH benchmark, {@code "Class.method"} without the package, and {@code key, value} pairs of its @Params. */
    public static Ref jmh(String classAndMethod, String... keyValues) {
        return new Ref("jmh", classAndMethod, pairs(keyValues));
    }

    /** A line of a C baseline's output by its {@code name}, and fields that must match. */
    public static Ref c(String name, String... keyValues) {
        return new Ref("c", name, pairs(keyValues));
    }

    /** One side of a PairedRun comparison, by its {@code name} and fields (always {@code side}). */
    public static Ref paired(String name, String... keyValues) {
        return new Ref("paired", name, pairs(keyValues));
    }

    /** One of mp_pipe_roundtrip.py's results, e.g. {@code "bytes:64"} or {@code "framePickle"}. */
    public static Ref python(String key) {
        return new Ref("python", key, Map.of());
    }

    /** The same figure at another message size. */
    public Ref size(long bytes) {
        if (source.equals("python")) return python("bytes:" + bytes);
        Map<String, String> p = new LinkedHashMap<>(params);
        p.put("size", Long.toString(bytes));
        return new Ref(source, name, p);
    }

    boolean matches(Measurement m) {
        if (!m.source().equals(source) || !m.name().equals(name)) return false;
        for (var e : params.entrySet()) {
            if (!e.getValue().equals(m.params().get(e.getKey()))) return false;
        }
        return true;
    }

    private static Map<String, String> pairs(String... keyValues) {
        if (keyValues.length % 2 != 0) throw new IllegalArgumentException("key, value pairs expected");
        Map<String, String> p = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) p.put(keyValues[i], keyValues[i + 1]);
        return p;
    }
}
