package dev.panpipe.cli;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Durations on the command line and in expect files: {@code 500ms}, {@code 5s}, {@code 1.5s}, {@code 2m}. */
final class Durations {
    private static final Pattern DURATION = Pattern.compile("(\\d{1,9}(?:\\.\\d{1,3})?)(ms|s|m)");

    private Durations() {
    }

    /** True if {@code text} is a duration with its unit. */
    static boolean isDuration(String text) {
        return DURATION.matcher(text).matches();
    }

    /** @throws IllegalArgumentException naming the text, if it is not a number with ms, s or m after it */
    static Duration parse(String text) {
        Matcher m = DURATION.matcher(text);
        if (!m.matches()) {
            throw new IllegalArgumentException("bad duration '" + text + "': give a number and a unit, e.g. 500ms, 5s, 1.5s, 2m");
        }
        double value = Double.parseDouble(m.group(1));
        double millis = switch (m.group(2)) {
            case "ms" -> value;
            case "s" -> value * 1_000;
            default -> value * 60_000;
        };
        return Duration.ofMillis(Math.round(millis));
    }
}
