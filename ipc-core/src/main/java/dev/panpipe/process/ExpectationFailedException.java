package dev.panpipe.process;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;

/**
 * {@link Mux#expect} saw no matching line: the time ran out, the child ended (or was lost) first, or the mux's output
 * was closed ({@link Mux#closeOutput}) so that none could come. The message names the child, the pattern and why, and
 * lists the last lines seen from the child.
 */
public final class ExpectationFailedException extends IOException {
    private final String child;
    private final Pattern pattern;
    private final Duration timeout;
    private final ExitStatus exit;
    private final boolean outputClosed;
    private final List<Mux.Line> recentLines;

    public ExpectationFailedException(String child, Pattern pattern, Duration timeout, ExitStatus exit, List<Mux.Line> recentLines) {
        this(child, pattern, timeout, exit, null, false, recentLines);
    }

    /** The child was lost before a matching line came (see {@link ChildLostException}, the cause). */
    public ExpectationFailedException(String child, Pattern pattern, Duration timeout, ChildLostException lost, List<Mux.Line> recentLines) {
        this(child, pattern, timeout, null, lost, false, recentLines);
    }

    /** The mux's output was closed ({@link Mux#closeOutput}) before a matching line came: none can come any more. */
    public static ExpectationFailedException outputClosed(String child, Pattern pattern, Duration timeout, List<Mux.Line> recentLines) {
        return new ExpectationFailedException(child, pattern, timeout, null, null, true, recentLines);
    }

    private ExpectationFailedException(String child, Pattern pattern, Duration timeout, ExitStatus exit, ChildLostException lost,
                                       boolean outputClosed, List<Mux.Line> recentLines) {
        super(message(child, pattern, timeout, exit, lost, outputClosed, recentLines), lost);
        this.child = child;
        this.pattern = pattern;
        this.timeout = timeout;
        this.exit = exit;
        this.outputClosed = outputClosed;
        this.recentLines = List.copyOf(recentLines);
    }

    private static String message(String child, Pattern pattern, Duration timeout, ExitStatus exit, ChildLostException lost,
                                  boolean outputClosed, List<Mux.Line> lines) {
        StringBuilder s = new StringBuilder("expected a line from ").append(child).append(" matching /").append(pattern.pattern()).append("/: ");
        if (exit != null) {
            s.append(child).append(" ended (").append(exit).append(") before one came");
        } else if (lost != null) {
            s.append(child).append(" was lost before one came (").append(lost.getMessage()).append(')');
        } else if (outputClosed) {
            s.append("the mux stopped reading its output (closeOutput) before one came");
        } else {
            s.append("none came within ").append(format(timeout));
        }
        if (lines.isEmpty()) {
            s.append("; no output from ").append(child).append(" so far");
        } else {
            s.append("; last lines from ").append(child).append(':');
            for (Mux.Line line : lines) s.append("\n  ").append(line);
        }
        return s.toString();
    }

    /** "10s", "500ms": as the expect-file syntax writes them. */
    static String format(Duration d) {
        if (d.compareTo(Duration.ofMillis(Long.MAX_VALUE)) >= 0) return d.toSeconds() + "s";   // toMillis would overflow
        long ms = d.toMillis();
        return ms % 1000 == 0 ? ms / 1000 + "s" : ms + "ms";
    }

    public String child() {
        return child;
    }

    public Pattern pattern() {
        return pattern;
    }

    public Duration timeout() {
        return timeout;
    }

    /** How the child ended, if that is why; null for a timeout, a lost child or closed output. */
    public ExitStatus exit() {
        return exit;
    }

    /**
     * True if the mux's output was closed ({@link Mux#closeOutput}) before a matching line came, so none could come
     * any more: the reason whatever became of the child meanwhile.
     */
    public boolean outputClosed() {
        return outputClosed;
    }

    /** The last lines seen from the child, oldest first. */
    public List<Mux.Line> recentLines() {
        return recentLines;
    }
}
