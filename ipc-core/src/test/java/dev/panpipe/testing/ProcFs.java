package dev.panpipe.testing;

import java.io.IOException;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What {@code /proc} says of another process (its name, state, threads), and a wait for it to change:
 * another process's state has nothing to wait on but polling.
 */
public final class ProcFs {
    private ProcFs() {
    }

    /** Polls every 20 ms until {@code condition} holds; fails the test, naming {@code what}, after 30 s. */
    public static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out waiting until " + what);
            Thread.sleep(20);
        }
    }

    /** Its command name ({@code /proc/PID/comm}), or null if there is no such process. */
    public static String comm(long pid) {
        return firstLine(Path.of("/proc/" + pid + "/comm"));
    }

    /** The name of thread {@code tid} of process {@code pid} (a Java thread's, up to 15 bytes of it), or null. */
    public static String comm(long pid, long tid) {
        return firstLine(Path.of("/proc/" + pid + "/task/" + tid + "/comm"));
    }

    /** The state letter (R, S, Z, ...) in /proc/PID/stat, or 0 if there is no such process. */
    public static char state(long pid) {
        return stateIn(firstLine(Path.of("/proc/" + pid + "/stat"), StandardCharsets.ISO_8859_1));
    }

    /** The state letter of thread {@code tid} of process {@code pid}, or 0 if there is no such thread. */
    public static char state(long pid, long tid) {
        return stateIn(firstLine(Path.of("/proc/" + pid + "/task/" + tid + "/stat"), StandardCharsets.ISO_8859_1));
    }

    /** The letter after "PID (comm) " (comm may itself hold ") "), or 0 for no line. */
    private static char stateIn(String stat) {
        return stat == null ? 0 : stat.charAt(stat.lastIndexOf(')') + 2);
    }

    /** Lines, not Files.readString: /proc files report size 0 (see OpenFds). Null if it is gone. */
    private static String firstLine(Path file) {
        return firstLine(file, StandardCharsets.UTF_8);
    }

    /**
     * As above in {@code charset}: a stat line holds the command name's raw bytes, which need not be UTF-8
     * (readAllLines would throw on them and the process would read as gone), so stat is read as ISO-8859-1.
     */
    private static String firstLine(Path file, Charset charset) {
        try {
            List<String> lines = Files.readAllLines(file, charset);
            return lines.isEmpty() ? null : lines.getFirst();
        } catch (IOException e) {
            return null;
        }
    }

    /** Its threads' ids (the main thread's is the pid), sorted; empty if there is no such process. */
    public static List<Long> threads(long pid) {
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            return tasks.map(t -> Long.parseLong(t.getFileName().toString())).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }
}
