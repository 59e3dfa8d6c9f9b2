package dev.panpipe.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * The steps of a program that {@link VirtualThreads#runWithOneCarrier} runs in a JVM whose virtual-thread scheduler
 * has one carrier. A native call that pinned the one carrier stops every other virtual thread: that is a step whose
 * wait does not finish within {@link #STEP_SECONDS} (a {@link TimeoutException}), reported as a deadlock with exit
 * status 2, at once, since nothing after it could run. A step that goes wrong otherwise is reported and the run
 * ends with 1; a clean one, 0. Whatever the status, the run's directory is removed first. After each step, nothing
 * it opened may be left open, no thread that opens for a virtual thread may be left, and no child may be left.
 */
public final class OneCarrierSteps {
    public static final long STEP_SECONDS = 10;
    private static final String OPENER_THREAD = "panpipe-open";

    public interface Step {
        void run() throws Exception;
    }

    public interface Body {
        void run(OneCarrierSteps steps, Path dir) throws Exception;
    }

    /** Thrown by a step that deadlocked: ends the run, through the cleanup. */
    private static final class Deadlock extends Error {
        Deadlock(String message) {
            super(message, null, false, false);
        }
    }

    private final String[] only;
    private final List<String> failures = new ArrayList<>();

    private OneCarrierSteps(String[] only) {
        this.only = only;
    }

    /**
     * Runs {@code body} with a new temporary directory named {@code prefix}..., removes the directory and exits
     * the JVM with the status. {@code args}: only the steps whose names contain one of them, if any are given.
     */
    public static void main(String prefix, String[] args, Body body) throws Exception {
        if (!"1".equals(System.getProperty("jdk.virtualThreadScheduler.parallelism"))) {
            throw new IllegalStateException("run with -Djdk.virtualThreadScheduler.parallelism=1");
        }
        // a failure inside a virtual thread is reported by the step that waits for it
        Thread.setDefaultUncaughtExceptionHandler((t, e) -> e.printStackTrace(System.out));
        OneCarrierSteps steps = new OneCarrierSteps(args);
        int status;
        Path dir = Files.createTempDirectory(prefix);
        try {
            body.run(steps, dir);
            status = steps.failures.isEmpty() ? 0 : 1;
        } catch (Deadlock d) {
            System.out.println("DEADLOCK: " + d.getMessage());
            status = 2;
        } finally {
            try (Stream<Path> left = Files.walk(dir)) {
                for (Path p : left.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
        steps.failures.forEach(f -> System.out.println("FAILED: " + f));
        if (status != 2) System.out.println(steps.failures.isEmpty() ? "clean" : steps.failures.size() + " failure(s)");
        System.exit(status);
    }

    public void step(String name, Step step) {
        if (only.length > 0 && Stream.of(only).noneMatch(name::contains)) return;
        Map<Integer, String> before = OpenFds.snapshot();
        try {
            step.run();
            List<String> leaked = OpenFds.openedSince(before);
            leaked.removeIf(l -> OpenFds.isListingItself(l.substring(l.indexOf(" -> ") + 4)));
            check(leaked.isEmpty(), name + ": left fds open: " + leaked);
            List<String> openers = Thread.getAllStackTraces().keySet().stream()
                    .map(Thread::getName).filter(n -> n.startsWith(OPENER_THREAD)).toList();
            check(openers.isEmpty(), name + ": left opener threads: " + openers);
            List<Long> children = ProcessHandle.current().children().map(ProcessHandle::pid).toList();
            check(children.isEmpty(), name + ": left children: " + children);
            System.out.println("ok: " + name);
        } catch (TimeoutException e) {
            throw new Deadlock(name + ": a virtual thread did not finish within " + STEP_SECONDS + " s");
        } catch (Throwable t) {
            failures.add(name + ": " + t);
            t.printStackTrace(System.out);
        }
    }

    public static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }
}
