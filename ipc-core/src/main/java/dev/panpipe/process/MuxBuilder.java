package dev.panpipe.process;

import dev.panpipe.internal.linux.LinuxMux;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/** What a {@link Mux} runs and where its output goes. */
public final class MuxBuilder {
    /** Longest line delivered whole; a longer one comes in pieces of this size (1 MiB). */
    public static final int MAX_LINE = 1 << 20;
    /** Bytes that may wait for one child's stdin before its FIFO and this process's stdin are left unread (1 MiB). */
    public static final int MAX_PENDING_INPUT = 1 << 20;
    /** Lines kept per child for {@link Mux#expect}, the oldest dropped first (also at most 4 MiB of them). */
    public static final int BACKLOG_LINES = 10_000;
    /** Lines kept per child for {@link Mux#recentLines} and expectation failures. */
    public static final int RECENT_LINES = 10;

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}");

    private final Map<String, SubprocessBuilder> children = new LinkedHashMap<>();
    private boolean fifos;
    private Path fifoDirectory;
    private OutputStream output;
    private Consumer<Mux.Line> onLine;
    private boolean routeStandardInput;
    private Consumer<String> notices = message -> System.err.println(message);
    private Duration grace = Duration.ofSeconds(2);

    MuxBuilder() {
    }

    /** Adds a child running {@code command} (argv), named {@code name}: letters, digits, {@code _ . -}. */
    public MuxBuilder child(String name, List<String> command) {
        return child(name, Subprocess.builder(command));
    }

    /**
     * Adds a child from a builder, for its environment or working directory; its stdin, stdout, stderr
     * and process group are the mux's to set.
     */
    public MuxBuilder child(String name, SubprocessBuilder process) {
        requireValidName(name);
        if (children.containsKey(name)) throw new IllegalArgumentException("two children named " + name);
        children.put(name, Objects.requireNonNull(process));
        return this;
    }

    /** Checks a child's name: 1-64 of letters, digits, {@code _ . -}, not starting with {@code .} or {@code -}. */
    public static void requireValidName(String name) {
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("bad child name '" + name + "': use 1-64 letters, digits, '_', '.' or '-',"
                    + " not starting with '.' or '-' (it names the FIFO NAME.in and the NAME: prefix)");
        }
    }

    /**
     * Gives every child a FIFO {@code NAME.in} (mode 0600) in {@code directory} that feeds its stdin.
     * {@code null} makes a fresh private (0700) directory; a directory that does not exist is created
     * 0700. Whatever this mux creates it removes on close; an existing FIFO of the same name is used and
     * left in place.
     */
    public MuxBuilder fifos(Path directory) {
        this.fifos = true;
        this.fifoDirectory = directory;
        return this;
    }

    /** Writes every line as {@code NAME: line} and a newline to {@code out}, flushed after each batch, from the loop thread. */
    public MuxBuilder output(OutputStream out) {
        this.output = Objects.requireNonNull(out);
        return this;
    }

    /** Calls {@code handler} for every line, on the loop thread (it must not block long). */
    public MuxBuilder onLine(Consumer<Mux.Line> handler) {
        this.onLine = Objects.requireNonNull(handler);
        return this;
    }

    /**
     * Reads this process's stdin (fd 0) in the loop: each line {@code NAME: text} sends {@code text} and a
     * newline to that child; any other line is refused with a notice.
     */
    public MuxBuilder routeStandardInput() {
        this.routeStandardInput = true;
        return this;
    }

    /** Where messages about input that could not be delivered go (default: System.err). */
    public MuxBuilder notices(Consumer<String> notices) {
        this.notices = Objects.requireNonNull(notices);
        return this;
    }

    /** How long {@link Mux#close()} waits after closing the stdins, and again after SIGTERM (default 2 s). */
    public MuxBuilder grace(Duration grace) {
        if (grace.isNegative()) throw new IllegalArgumentException("negative grace period: " + grace);
        this.grace = grace;
        return this;
    }

    /**
     * Creates the FIFOs and starts every child, after looking up every program: a missing one starts nothing.
     *
     * @throws ProgramNotFoundException naming the child, if a program does not exist or cannot be executed
     * @throws IOException if a FIFO cannot be created or a child fails to start; whatever had started is stopped
     */
    public Mux start() throws IOException {
        if (children.isEmpty()) throw new IllegalArgumentException("a mux needs at least one child");
        return LinuxMux.start(this);
    }

    // ---- read by the platform implementation ----

    public Map<String, SubprocessBuilder> children() {
        return Collections.unmodifiableMap(children);
    }

    public boolean fifos() {
        return fifos;
    }

    /** The FIFOs' directory as given; null for a fresh one. */
    public Path fifoDirectory() {
        return fifoDirectory;
    }

    public OutputStream output() {
        return output;
    }

    public Consumer<Mux.Line> onLine() {
        return onLine;
    }

    public boolean routesStandardInput() {
        return routeStandardInput;
    }

    public Consumer<String> notices() {
        return notices;
    }

    public Duration grace() {
        return grace;
    }
}
