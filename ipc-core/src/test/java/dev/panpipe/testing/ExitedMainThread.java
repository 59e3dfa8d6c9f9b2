package dev.panpipe.testing;

import dev.panpipe.io.Pipe;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import org.opentest4j.TestAbortedException;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static dev.panpipe.testing.ProcFs.await;
import static dev.panpipe.testing.ProcFs.state;
import static dev.panpipe.testing.ProcFs.threads;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A process whose main thread has exited while another thread sleeps: its leader is a zombie and its
 * /proc/PID/fd is empty, but its fds are open, shared by the thread left (/proc/PID/task/TID/fd). It holds
 * fd 3, the read end of a pipe whose write end the test holds, and fd 4, the write end of a pipe that a
 * {@code sleep} reads as its stdin; 0 to 2 are /dev/null.
 */
public final class ExitedMainThread {
    private ExitedMainThread() {
    }

    /**
     * The process ({@code pid}), the thread still running ({@code thread}), the {@code sleep} reading its fd 4
     * ({@code reader}) and the test's fd on the write end of the pipe its fd 3 reads ({@code writeFd}).
     */
    public record Running(long pid, long thread, long reader, int writeFd) {
    }

    public interface Test {
        void run(Running process) throws Exception;
    }

    /**
     * Starts {@code command} (a program whose main thread ends by itself, leaving another that sleeps) with
     * those fds, waits until its main thread has exited, runs {@code test}, then kills and reaps both processes.
     */
    public static void with(List<String> command, Test test) throws Exception {
        try (Pipe toIt = Pipe.open();
             Pipe fromIt = Pipe.open();
             Subprocess process = Subprocess.builder(command)
                     .stdin(Redirect.discard()).stdout(Redirect.discard()).stderr(Redirect.discard())
                     .passFd(3, Redirect.from(toIt.readEnd())).passFd(4, Redirect.to(fromIt.writeEnd()))
                     .destroyGrace(Duration.ZERO).start();
             Subprocess reader = Subprocess.builder("sleep", "600")
                     .stdin(Redirect.from(fromIt.readEnd())).stdout(Redirect.discard()).stderr(Redirect.discard())
                     .destroyGrace(Duration.ZERO).start()) {
            toIt.readEnd().close();
            fromIt.writeEnd().close();
            fromIt.readEnd().close();
            long p = process.pid();
            await(() -> state(p) == 'Z' && threads(p).size() == 2 && threads(p).stream().filter(t -> t != p).allMatch(t -> state(p, t) == 'S'),
                    command.getFirst() + "'s main thread has exited, the other sleeps");
            long thread = threads(p).stream().filter(t -> t != p).findFirst().orElseThrow();
            test.run(new Running(p, thread, reader.pid(), (int) toIt.writeEnd().nativeHandle()));
        }
    }

    /**
     * Such a program in C (its main thread starts one that pauses for good, then calls pthread_exit), built
     * with gcc in {@code dir}; aborts the test (skipped, saying why) where there is no gcc.
     */
    public static List<String> cProgram(Path dir) throws IOException, InterruptedException {
        Path source = dir.resolve("leaderless.c"), binary = dir.resolve("leaderless");
        Files.writeString(source, """
                #include <pthread.h>
                #include <unistd.h>

                static void *sleep_for_good(void *unused) {
                    (void) unused;
                    for (;;) pause();
                    return NULL;
                }

                int main(void) {
                    pthread_t thread;
                    if (pthread_create(&thread, NULL, sleep_for_good, NULL) != 0) return 1;
                    pthread_exit(NULL);
                }
                """);
        Process gcc;
        try {
            gcc = new ProcessBuilder("gcc", "-Wall", "-Werror", "-pthread", "-o", binary.toString(), source.toString())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).redirectErrorStream(true).start();
        } catch (IOException notFound) {
            throw new TestAbortedException("gcc is not installed: cannot build a program whose main thread exits first", notFound);
        }
        String output = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, gcc.waitFor(), "gcc failed:\n" + output);
        return List.of(binary.toString());
    }
}
