package dev.panpipe.worker;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.connection.ConnectionClosedException;
import dev.panpipe.connection.Message;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * A diagnostic worker: answers every message with the same frame type and payload. Its options make it
 * misbehave on purpose, to see what a parent does when a worker fails:
 *
 * <pre>
 *   --exit-after N --exit-code C   after N messages, exit with code C at once (a crash, as System.exit(3))
 *   --linger-ms M                  with --exit-after: first close stdin, then wait M ms, then exit (a worker
 *                                  that is ending: its parent's sends fail before it has exited)
 *   --garbage-after N              after N messages, write bytes that are not a frame
 *   --delay-ms M                   wait M ms before each answer (a slow worker)
 * </pre>
 */
public final class EchoWorker {
    private EchoWorker() {
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        long exitAfter = -1, garbageAfter = -1, delayMs = 0, lingerMs = -1;
        int exitCode = 0;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--exit-after" -> exitAfter = Long.parseLong(args[++i]);
                case "--exit-code" -> exitCode = Integer.parseInt(args[++i]);
                case "--garbage-after" -> garbageAfter = Long.parseLong(args[++i]);
                case "--delay-ms" -> delayMs = Long.parseLong(args[++i]);
                case "--linger-ms" -> lingerMs = Long.parseLong(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        try (WorkerContext ctx = WorkerContext.connect()) {
            for (long n = 0; ; n++) {
                if (n == exitAfter) {
                    if (lingerMs >= 0) {
                        Syscalls.close(0);      // under the context's handle of it: this JVM only sleeps and exits now
                        Thread.sleep(lingerMs);
                    }
                    System.exit(exitCode);
                }
                if (n == garbageAfter) {
                    byte[] junk = "this is not a panpipe frame!".getBytes(StandardCharsets.US_ASCII);
                    ctx.rawResults().write(junk, 0, junk.length);
                }
                Message m;
                try {
                    m = ctx.receive();
                } catch (ConnectionClosedException endOfInput) {
                    break;
                }
                if (delayMs > 0) Thread.sleep(delayMs);
                ctx.reply(m.type(), m.payload());
            }
        }
    }
}
