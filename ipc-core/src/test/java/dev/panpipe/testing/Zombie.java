package dev.panpipe.testing;

import dev.panpipe.io.Pipe;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static dev.panpipe.testing.ProcFs.await;
import static dev.panpipe.testing.ProcFs.comm;
import static dev.panpipe.testing.ProcFs.state;

/**
 * A zombie to look at: cat, whose parent, sleep, never reaps it. The JVM reaps its own children, so the
 * zombie is a grandchild: a shell starts cat and then execs sleep. cat ends only when the pipe it reads is
 * closed, and that happens after the exec, so no shell can reap it first, whichever shell sh is.
 */
public final class Zombie {
    private Zombie() {
    }

    public interface Test {
        void run(long zombie, long parent) throws Exception;
    }

    /**
     * Runs {@code test} while the zombie is one. Afterwards sleep is killed and reaped, and cat, an orphan
     * then, is reaped by init (or the nearest subreaper): this waits until it is gone.
     */
    public static void with(Test test) throws Exception {
        long zombie = 0;
        try (Pipe pipe = Pipe.open();
             Subprocess parent = Subprocess.builder("sh", "-c", "cat <&3 >/dev/null & exec sleep 600")
                     .stdin(Redirect.discard()).stdout(Redirect.discard()).stderr(Redirect.discard())
                     .passFd(3, Redirect.from(pipe.readEnd())).destroyGrace(Duration.ZERO).start()) {
            pipe.readEnd().close();
            long p = parent.pid();
            await(() -> "sleep".equals(comm(p)) && ProcessHandle.of(p).map(h -> h.children().count() == 1).orElse(false),
                    "the shell has started cat and become sleep");
            zombie = ProcessHandle.of(p).orElseThrow().children().findFirst().orElseThrow().pid();
            long z = zombie;
            pipe.writeEnd().close();     // cat reads end of file and exits; sleep never waits for it
            await(() -> state(z) == 'Z', "cat is a zombie");
            test.run(z, p);
        } finally {
            long z = zombie;
            if (z != 0) await(() -> !Files.exists(Path.of("/proc/" + z)), "the zombie, orphaned, is reaped");
        }
    }
}
