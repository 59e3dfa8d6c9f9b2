package dev.panpipe.process;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.testing.FdExhaustion;
import dev.panpipe.testing.OpenFds;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A three-stage pipeline started with 0, 1, 2, ... fds to spare, until it starts: among the failures, the
 * pipe from stage 2 to stage 3 ({@code pipe2}: EMFILE) once stage 1 is running. Every failure must be a
 * typed error that names the stage (and for a pipe, the link), and leave no stage process and no fd behind.
 * Run by {@link PipelineStartFailureTest} in a JVM of its own, as it lowers this JVM's fd limit; prints a line
 * per attempt and the violations last, and exits 0 if there were none.
 */
final class PipelineStartFailureMain {
    private static final String FIRST = "sleep 3600";

    private PipelineStartFailureMain() {
    }

    public static void main(String[] args) throws Throwable {
        FdExhaustion.loadEveryClass("dev.panpipe.bindings", "dev.panpipe.core");
        // Stage 1 reads the inherited stdin (the test gives /dev/null): a spawn opens fds of its own for a
        // redirect, and at its peak stage 1's would need as many as the pipe after it does.
        Pipeline pipeline = Pipeline.parse(FIRST, "cat", "cat").output(Redirect.discard());
        pipeline.start().close();   // once with fds to spare: handles linked, lazy state made
        List<String> violations = new ArrayList<>();
        boolean linkFailedAfterAStart = false;
        for (int extra = 0; extra <= 40; extra++) {
            Map<Integer, String> before = OpenFds.snapshot();
            long countBefore = fdCount();
            Pipeline.Running running = null;
            Throwable failure = null;
            try {
                running = FdExhaustion.withFdsToSpare(extra, pipeline::start);
            } catch (Throwable t) {
                failure = t;
            }
            String what = "with " + extra + " fds to spare";
            if (running != null) {
                running.close();
                System.out.println(what + ": started");
                break;
            }
            System.out.println(what + ": " + failure);
            List<Long> children = ProcessHandle.current().children().map(ProcessHandle::pid).toList();
            if (!children.isEmpty()) {
                violations.add(what + ": stages left as child processes (running or unreaped): " + children);
                ProcessHandle.current().children().forEach(ProcessHandle::destroyForcibly);
            }
            List<String> left = OpenFds.openedSince(before);
            if (!left.isEmpty()) violations.add(what + ": left fds open: " + left);
            if (fdCount() != countBefore) violations.add(what + ": " + countBefore + " fds before, " + fdCount() + " after");
            if (!(failure instanceof SyscallException) && !(failure instanceof SpawnException)) {
                violations.add(what + ": " + failure + " is no SyscallException or SpawnException");
            }
            if (failure.getMessage() == null || !failure.getMessage().startsWith("pipeline stage ")) {
                violations.add(what + ": the message names no stage: " + failure);
            }
            if (failure instanceof SyscallException s && s.call().equals("pipe2")) {
                String second = "pipeline stage 2 (cat): cannot open the pipe to stage 3: pipe2: EMFILE (Too many open files)";
                String first = "pipeline stage 1 (" + FIRST + "): cannot open the pipe to stage 2: pipe2: EMFILE (Too many open files)";
                if (s.getMessage().equals(second)) {
                    linkFailedAfterAStart = true;
                } else if (!s.getMessage().equals(first)) {
                    violations.add(what + ": the pipe's failure names no stage and link: " + s.getMessage());
                }
                if (s.errno() != Errno.EMFILE) violations.add(what + ": errno " + s.errnoName() + ", not EMFILE");
            }
        }
        if (!linkFailedAfterAStart) {
            violations.add("no attempt failed at the pipe from stage 2 to stage 3 with a message naming both,"
                    + " the case where stage 1 is already running");
        }
        for (String v : violations) System.out.println("VIOLATION " + v);
        System.out.flush();
        System.exit(violations.isEmpty() ? 0 : 1);
    }

    /** Entries of /proc/self/fd, less the one listing it. */
    private static long fdCount() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count() - 1;
        }
    }
}
