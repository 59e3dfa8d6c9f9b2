package dev.panpipe.zerocopy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/** Facts about the test JVM that tests write into shared memory. */
public final class ThisJvm {
    private ThisJvm() {
    }

    /**
     * The id of a thread of this JVM other than its first: a task id that is no process id, which pidfd_open
     * refuses (ENOENT). Pids and thread ids share one number space, so a dead peer's or owner's pid can name
     * such a thread.
     */
    public static int aThreadIdThatLeadsNoProcess() throws IOException {
        long pid = ProcessHandle.current().pid();
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
            return tasks.mapToInt(t -> Integer.parseInt(t.getFileName().toString())).filter(t -> t != pid).findFirst().orElseThrow();
        }
    }
}
