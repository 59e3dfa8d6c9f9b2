package dev.panpipe.testing;

import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.rlimit;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Runs out of fds at each open of an operation in turn. Each operation is tried with {@code RLIMIT_NOFILE}
 * set so that exactly 0, 1, 2, ... more fds can be opened, until it succeeds. Every attempt that fails must
 * fail with an {@link IOException} that names EMFILE, and leave no fd and no child process behind; the one
 * that succeeds must close cleanly.
 *
 * <p>It lowers the fd limit of the JVM it runs in, so it runs in a JVM of its own: a test's child main
 * calls {@link #run} and exits 0 if it found no violation, and the test asserts that, showing the report.
 */
public final class FdExhaustion {
    private static final int RLIMIT_NOFILE = linux_h.RLIMIT_NOFILE();
    private static final int MAX_EXTRA_FDS = 40;
    private static final MemorySegment RLIMIT = rlimit.allocate(Arena.global());

    /** Makes something that holds fds (closing what it made if it fails); the sweep closes what it returns. */
    @FunctionalInterface
    public interface Operation {
        AutoCloseable run() throws Exception;
    }

    public record Scenario(String name, Operation operation) {
    }

    private FdExhaustion() {
    }

    /**
     * Loads every class of {@code modules}, sweeps every scenario, prints a line per attempt and the
     * violations last. True if there were none.
     */
    public static boolean run(List<Scenario> scenarios, String... modules) throws Throwable {
        loadEveryClass(modules);
        long original = softLimit();
        List<String> violations = new ArrayList<>();
        try {
            for (Scenario s : scenarios) sweep(s, original, violations);
        } finally {
            setSoftLimit(original);
        }
        for (String v : violations) System.out.println("VIOLATION " + v);
        System.out.flush();
        return violations.isEmpty();
    }

    private static void sweep(Scenario s, long original, List<String> violations) throws Throwable {
        s.operation().run().close();   // once with fds to spare: handles linked, lazy state made
        for (int extra = 0; extra <= MAX_EXTRA_FDS; extra++) {
            Map<Integer, String> before = OpenFds.snapshot();
            setSoftLimit(limitLeaving(extra, before));
            AutoCloseable made = null;
            Throwable failure = null;
            try {
                made = s.operation().run();
            } catch (Throwable t) {
                failure = t;
            } finally {
                setSoftLimit(original);
            }
            String what = s.name() + " with " + extra + " fds to spare";
            if (made != null) {
                try {
                    made.close();
                } catch (Throwable t) {
                    violations.add(what + ": succeeded, then close threw " + t);
                }
            }
            List<String> left = OpenFds.openedSince(before);
            if (!left.isEmpty()) violations.add(what + ": left fds open: " + left);
            List<Long> children = ProcessHandle.current().children().map(ProcessHandle::pid).toList();
            if (!children.isEmpty()) {
                violations.add(what + ": left child processes " + children);
                ProcessHandle.current().children().forEach(ProcessHandle::destroyForcibly);
            }
            if (failure == null) {
                System.out.println(what + ": succeeded");
                return;
            }
            System.out.println(what + ": " + failure);
            if (!(failure instanceof IOException) || !mentionsEmfile(failure) || misnamed(failure)) {
                StringBuilder trace = new StringBuilder();
                for (StackTraceElement e : failure.getStackTrace()) trace.append("\n\t\tat ").append(e);
                violations.add(what + ": failed with " + failure + " rather than an IOException naming EMFILE (not a ProgramNotFoundException)" + trace);
            }
        }
        violations.add(s.name() + ": never succeeded, even with " + MAX_EXTRA_FDS + " fds to spare");
    }

    /**
     * Loads every class of the given modules now. Run from target/classes, each class loaded for the first
     * time opens its class file: at the fd limit that is a NoClassDefFoundError, which says nothing about
     * panpipe (from a jar, whose fd is open already, loading needs no new one).
     */
    public static void loadEveryClass(String... modules) throws Exception {
        for (String name : modules) {
            var reference = ModuleLayer.boot().configuration().findModule(name).orElseThrow().reference();
            ClassLoader loader = ModuleLayer.boot().findLoader(name);
            try (var reader = reference.open(); var entries = reader.list()) {
                for (String entry : (Iterable<String>) entries::iterator) {
                    if (!entry.endsWith(".class") || entry.equals("module-info.class")) continue;
                    try {
                        Class.forName(entry.substring(0, entry.length() - 6).replace('/', '.'), false, loader);
                    } catch (LinkageError testClass) {
                        // a test class patched into the module, built on JUnit, which this JVM does not read
                    }
                }
            }
        }
    }

    /**
     * Runs {@code operation} with {@code RLIMIT_NOFILE} set so that exactly {@code extra} more fds can be
     * opened, and puts the limit back before returning what it made or throwing what it threw: for a test
     * that needs one particular open to fail, rather than the sweep over every one. Call
     * {@link #loadEveryClass} first, for the reason given there.
     */
    public static <T> T withFdsToSpare(int extra, Callable<T> operation) throws Throwable {
        long original = softLimit();
        setSoftLimit(limitLeaving(extra, OpenFds.snapshot()));
        try {
            return operation.call();
        } finally {
            setSoftLimit(original);
        }
    }

    /** Running out of fds says nothing about the program: a ProgramNotFoundException (126/127) for it misleads. */
    private static boolean misnamed(Throwable t) {
        return t.getClass().getName().equals("dev.panpipe.process.ProgramNotFoundException");
    }

    private static boolean mentionsEmfile(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (String.valueOf(c.getMessage()).contains("EMFILE")) return true;
        }
        return false;
    }

    /** A soft limit under which exactly {@code extra} more fds can be opened: new fds take the lowest free numbers. */
    private static long limitLeaving(int extra, Map<Integer, String> open) {
        int free = 0;
        for (int n = 0; ; n++) {
            if (open.containsKey(n) && !OpenFds.isListingItself(open.get(n))) continue;   // that one is closed since
            if (free == extra) return n;
            free++;
        }
    }

    private static long softLimit() {
        if (linux_h.getrlimit(RLIMIT_NOFILE, RLIMIT) != 0) throw new IllegalStateException("getrlimit failed");
        return rlimit.rlim_cur(RLIMIT);
    }

    private static void setSoftLimit(long soft) {
        if (linux_h.getrlimit(RLIMIT_NOFILE, RLIMIT) != 0) throw new IllegalStateException("getrlimit failed");
        rlimit.rlim_cur(RLIMIT, soft);   // the hard limit, at 8, stays as it is
        if (linux_h.setrlimit(RLIMIT_NOFILE, RLIMIT) != 0) throw new IllegalStateException("setrlimit(" + soft + ") failed");
    }
}
