package dev.panpipe.testing;

import dev.panpipe.io.Pipe;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;

import java.time.Duration;
import java.util.List;

import static dev.panpipe.testing.ProcFs.await;
import static dev.panpipe.testing.ProcFs.state;
import static dev.panpipe.testing.ProcFs.threads;

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
             Subprocess reader = Subprocess.builder("sleep", "30")
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
}
