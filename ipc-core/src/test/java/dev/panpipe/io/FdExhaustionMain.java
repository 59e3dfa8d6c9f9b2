package dev.panpipe.io;

import dev.panpipe.connection.Codecs;
import dev.panpipe.connection.Connection;
import dev.panpipe.process.Pipeline;
import dev.panpipe.process.Subprocess;
import dev.panpipe.testing.FdExhaustion;
import dev.panpipe.testing.FdExhaustion.Scenario;
import dev.panpipe.worker.EchoWorker;
import dev.panpipe.worker.Worker;
import dev.panpipe.worker.WorkerSpec;
import dev.panpipe.worker.Workers;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** {@link FdExhaustion} over ipc-core's operations that open several fds; run by {@link FdExhaustionTest}. */
final class FdExhaustionMain {
    private FdExhaustionMain() {
    }

    public static void main(String[] args) throws Throwable {
        Path dir = Files.createTempDirectory("panpipe-fd-exhaustion-");
        List<Scenario> scenarios = List.of(
                new Scenario("Pipe.open", Pipe::open),
                // the first wait makes the end's wake-up eventfd: a third fd, opened later
                new Scenario("Pipe.open + a timed wait", () -> {
                    Pipe p = Pipe.open();
                    try {
                        p.readEnd().awaitReadable(Duration.ofMillis(1));
                        p.writeEnd().awaitWritable(Duration.ofMillis(1));
                        return p;
                    } catch (Throwable t) {
                        p.close();
                        throw t;
                    }
                }),
                new Scenario("Connection.pair", Connection::pair),
                new Scenario("Connection.oneWay", Connection::oneWay),
                new Scenario("Fifo.create + openBoth", () -> {
                    Fifo fifo = Fifo.create(dir.resolve("f"));
                    try {
                        Pipe both = fifo.openBoth();
                        return () -> {
                            try (fifo; both) {
                                // both ends, then the FIFO's path
                            }
                        };
                    } catch (Throwable t) {
                        fifo.close();
                        throw t;
                    }
                }),
                new Scenario("Subprocess with three pipes", () -> {
                    Subprocess p = Subprocess.builder("true").start();
                    try {
                        p.waitFor();
                        return p;
                    } catch (Throwable t) {
                        p.close();
                        throw t;
                    }
                }),
                new Scenario("Pipeline of three stages", () -> {
                    Pipeline.Running r = Pipeline.parse("echo hi", "cat", "cat").pipeOutput().start();
                    try {
                        Io.readAll(r.stdout());
                        r.waitFor();
                        return r;
                    } catch (Throwable t) {
                        r.close();
                        throw t;
                    }
                }),
                // a worker JVM: its pipes, its results FIFO, the private directory, the event loop's epoll and
                // eventfd; the worker inherits the lowered limit, which a JVM starts under from about 20 fds
                new Scenario("Workers.create + start + a round trip", () -> {
                    Workers workers = Workers.create();
                    try {
                        Worker echo = workers.start(WorkerSpec.java("echo", EchoWorker.class));
                        echo.send("ping", Codecs.text());
                        if (!"ping".equals(echo.take(Codecs.text()))) throw new AssertionError("the echo did not echo");
                        return workers;
                    } catch (Throwable t) {
                        workers.close();
                        throw t;
                    }
                }));

        boolean clean;
        try {
            clean = FdExhaustion.run(scenarios, "dev.panpipe.bindings", "dev.panpipe.core");
        } finally {
            Files.deleteIfExists(dir.resolve("f"));
            Files.delete(dir);
        }
        System.exit(clean ? 0 : 1);
    }
}
