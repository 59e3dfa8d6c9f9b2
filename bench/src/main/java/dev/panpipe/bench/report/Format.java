package dev.panpipe.bench.report;

import dev.panpipe.bench.report.Measurement.Metric;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.Locale;

/** Numbers as results.md shows them. */
final class Format {
    private Format() {
    }

    /**
     * A ratio with two or three significant digits: below 0.1 (a doorbell that never had to sleep against an
     * eventfd ping-pong that always does reads 0.004x) two significant digits, where a fixed two decimals
     * printed "0.00x", as if nothing had been measured.
     */
    static String ratio(double r) {
        if (Double.isNaN(r)) return "-";
        if (Double.isInfinite(r)) return "inf";
        if (r > 0 && r < 0.1) return new BigDecimal(r).round(new MathContext(2)).toPlainString() + "x";
        return String.format(Locale.ROOT, r >= 100 ? "%.0fx" : r >= 10 ? "%.1fx" : "%.2fx", r);
    }

    static String value(double v, Metric metric) {
        if (Double.isNaN(v)) return "-";
        return switch (metric) {
            case MB_PER_S -> grouped(v, v < 10 ? 2 : v < 100 ? 1 : 0) + " MB/s";
            case OPS_PER_S -> (v >= 1e6 ? grouped(v / 1e6, 2) + " M" : grouped(v, v < 100 ? 1 : 0) + " ") + "/s";
            case MEAN_NS, P50_NS -> time(v);
        };
    }

    /** Nanoseconds as ns, µs or ms with three significant digits or so. */
    static String time(double ns) {
        if (Double.isNaN(ns)) return "-";
        if (ns < 1000) return String.format(Locale.ROOT, "%.0f ns", ns);
        if (ns < 100_000) return String.format(Locale.ROOT, ns < 10_000 ? "%.2f µs" : "%.1f µs", ns / 1000);
        if (ns < 1_000_000) return String.format(Locale.ROOT, "%.0f µs", ns / 1000);
        return String.format(Locale.ROOT, "%.2f ms", ns / 1e6);
    }

    static String bytes(long b) {
        if (b == Suite.FRAME_1080P) return "6,220,800 B (1080p)";
        if (b == Suite.FRAME_4K) return "24,883,200 B (4K)";
        if (b >= 1 << 20 && b % (1 << 20) == 0) return (b >> 20) + " MiB";
        if (b >= 1024 && b % 1024 == 0) return (b >> 10) + " KiB";
        return String.format(Locale.ROOT, "%,d B", b);
    }

    static String grouped(double v, int decimals) {
        return String.format(Locale.ROOT, "%,." + decimals + "f", v);
    }

    static String alloc(double b) {
        if (Double.isNaN(b)) return "-";
        return String.format(Locale.ROOT, b < 10 ? "%.1f" : "%,.0f", b);
    }
}
