package dev.panpipe.bench.report;

import dev.panpipe.bench.report.Measurement.Metric;
import dev.panpipe.bench.report.Suite.Series;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The PNG charts of a run, drawn with XChart (headless): per placement, throughput against message size
 * (log-log), 64-byte round-trip latency percentiles (p50, p90, p99; log scale), and worker round trips
 * against message size beside Python's.
 */
final class Charts {
    private static final int WIDTH = 1300, HEIGHT = 700;

    private Charts() {
    }

    /** Writes the charts into dir; returns their file names, in the order results.md shows them. */
    static List<String> write(Results results, Path dir) throws IOException {
        System.setProperty("java.awt.headless", "true");
        Files.createDirectories(dir);
        List<String> names = new ArrayList<>();
        for (String placement : results.placements()) {
            List<Series> throughput = new ArrayList<>(Suite.THROUGHPUT);
            throughput.addAll(ringSeries(results, placement, true));
            save(throughputChart(results, placement, throughput), dir, "throughput-" + placement + ".png", names);
            List<Series> latency = new ArrayList<>(Suite.LATENCY);
            latency.addAll(ringSeries(results, placement, false));
            save(latencyChart(results, placement, latency), dir, "latency-" + placement + ".png", names);
            save(roundTripChart(results, placement), dir, "roundtrip-" + placement + ".png", names);
        }
        return names;
    }

    private static void save(Object chart, Path dir, String name, List<String> names) throws IOException {
        if (chart == null) return;
        Path file = dir.resolve(name);
        if (chart instanceof XYChart xy) BitmapEncoder.saveBitmap(xy, file.toString(), BitmapEncoder.BitmapFormat.PNG);
        else BitmapEncoder.saveBitmap((CategoryChart) chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
        names.add(name);
    }

    /**
     * RingBenchmark's figures as series: with {@code sized}, one per method measured over a size param in a
     * rate mode (the throughput chart); otherwise one per sampled method at 64 B or without a size (latency).
     */
    static List<Series> ringSeries(Results results, String placement, boolean sized) {
        Set<String> seen = new LinkedHashSet<>();
        List<Series> out = new ArrayList<>();
        for (Measurement m : results.all(placement)) {
            if (!m.source().equals("jmh") || !m.name().startsWith(Suite.RING_CLASS)) continue;
            String method = m.name().substring(Suite.RING_CLASS.length());
            String size = m.params().get("size");
            if (sized && m.rate() && size != null && m.bytes() > 0 && seen.add(method)) {
                out.add(new Series("panpipe ring: " + method, Ref.jmh(m.name())));
            } else if (!sized && m.hasPercentiles() && (size == null || size.equals("64")) && seen.add(method)) {
                out.add(new Series("panpipe ring: " + method, size == null ? Ref.jmh(m.name()) : Ref.jmh(m.name(), "size", "64")));
            }
        }
        return out;
    }

    private static XYChart throughputChart(Results results, String placement, List<Series> series) {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT)
                .title("Throughput by message size, " + placement + " (log-log)")
                .xAxisTitle("message size (bytes)").yAxisTitle("MB/s (10^6 bytes/s)").build();
        style(chart.getStyler());
        chart.getStyler().setXAxisLogarithmic(true).setYAxisLogarithmic(true).setMarkerSize(7);
        int added = 0;
        for (Series s : series) {
            Map<Long, Double> points = new java.util.TreeMap<>();
            for (Measurement m : results.all(placement)) {
                if (!sizeless(s.ref()).matches(m) || !m.params().containsKey("size")) continue;
                double[] v = m.in(Metric.MB_PER_S);
                if (v != null && v[0] > 0) points.putIfAbsent(m.bytes(), v[0]);
            }
            if (points.isEmpty()) continue;
            addXY(chart, s.label(), points);
            added++;
        }
        return added == 0 ? null : chart;
    }

    private static XYChart roundTripChart(Results results, String placement) {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT)
                .title("Worker round trip by message size, " + placement + " (log-log; mean)")
                .xAxisTitle("message size (bytes)").yAxisTitle("round trip (µs)").build();
        style(chart.getStyler());
        chart.getStyler().setXAxisLogarithmic(true).setYAxisLogarithmic(true).setMarkerSize(7);
        int added = 0;
        for (Series s : Suite.ROUND_TRIPS) {
            Map<Long, Double> points = new java.util.TreeMap<>();
            for (Measurement m : results.all(placement)) {
                boolean match = s.ref().source().equals("python")
                        ? m.source().equals("python") && m.name().startsWith("bytes:")
                        : sizeless(s.ref()).matches(m);
                if (match && m.bytes() > 0) points.putIfAbsent(m.bytes(), m.in(Metric.MEAN_NS)[0] / 1000);
            }
            if (points.isEmpty()) continue;
            addXY(chart, s.label(), points);
            added++;
        }
        return added == 0 ? null : chart;
    }

    private static void addXY(XYChart chart, String label, Map<Long, Double> points) {
        double[] x = new double[points.size()], y = new double[points.size()];
        int i = 0;
        for (var e : points.entrySet()) {
            x[i] = e.getKey();
            y[i++] = e.getValue();
        }
        chart.addSeries(label, x, y).setMarker(SeriesMarkers.CIRCLE);
    }

    private static CategoryChart latencyChart(Results results, String placement, List<Series> series) {
        List<String> labels = new ArrayList<>();
        Map<String, List<Double>> percentiles = new LinkedHashMap<>();
        for (String p : List.of("p50", "p90", "p99")) percentiles.put(p, new ArrayList<>());
        for (Series s : series) {
            Optional<Measurement> found = results.find(placement, s.ref());
            if (found.isEmpty() || !found.get().hasPercentiles()) continue;
            Measurement m = found.get();
            labels.add(s.label());
            percentiles.get("p50").add(m.p50() / 1000);
            percentiles.get("p90").add(m.p90() / 1000);
            percentiles.get("p99").add(m.p99() / 1000);
        }
        if (labels.isEmpty()) return null;
        CategoryChart chart = new CategoryChartBuilder().width(WIDTH).height(HEIGHT)
                .title("64-byte round trip latency, " + placement + " (log scale)")
                .xAxisTitle("").yAxisTitle("round trip (µs)").build();
        style(chart.getStyler());
        // Bars start at the axis minimum, which XChart puts at 0 unless told: a log axis needs a positive one.
        double min = percentiles.get("p50").stream().mapToDouble(Double::doubleValue).min().orElse(1);
        double max = percentiles.get("p99").stream().mapToDouble(Double::doubleValue).max().orElse(1);
        chart.getStyler().setOverlapped(false);
        chart.getStyler().setYAxisLogarithmic(true).setXAxisLabelRotation(30)
                .setYAxisMin(Math.pow(10, Math.floor(Math.log10(min)))).setYAxisMax(Math.pow(10, Math.ceil(Math.log10(max))));
        for (var e : percentiles.entrySet()) chart.addSeries(e.getKey(), labels, e.getValue());
        return chart;
    }

    private static void style(Styler styler) {
        styler.setLegendPosition(Styler.LegendPosition.OutsideE).setLegendLayout(Styler.LegendLayout.Vertical)
                .setChartBackgroundColor(java.awt.Color.WHITE).setAntiAlias(true);
    }

    private static Ref sizeless(Ref ref) {
        var params = new LinkedHashMap<>(ref.params());
        params.remove("size");
        return new Ref(ref.source(), ref.name(), params);
    }
}
