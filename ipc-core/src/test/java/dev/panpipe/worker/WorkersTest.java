package dev.panpipe.worker;

import dev.panpipe.connection.Codecs;
import dev.panpipe.connection.ConnectionClosedException;
import dev.panpipe.connection.ProtocolException;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Signals;
import java.nio.file.LinkOption;
import dev.panpipe.testing.ProcFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real worker JVMs ({@link EchoWorker}) driven through {@link Workers}. */
@Timeout(120)
@ExtendWith(LeakCheck.class)
class WorkersTest {

    @Test
    void shouldRoundTrip10000MessagesInOrderThroughAFifo() throws Exception {
        try (Workers workers = Workers.create(); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            Path fifo = workers.directory().resolve("echo.results");
            Worker echo = workers.start(WorkerSpec.java("echo", EchoWorker.class));
            assertFalse(Files.exists(fifo), "the FIFO is unlinked once the worker has connected through it");
            // this JVM's read end of it, found by the name it had: enlarged like a child's stdin (tests run as root)
            assertEquals(dev.panpipe.process.SubprocessBuilder.DEFAULT_PIPE_CAPACITY,
                    dev.panpipe.bindings.Syscalls.fcntl(openFdOf(fifo), dev.panpipe.bindings.linux.linux_h.F_GETPIPE_SZ(), 0));
            int count = 10_000;
            Future<?> sender = pool.submit(() -> {
                for (int i = 0; i < count; i++) echo.send("message " + i, Codecs.text());
                echo.endInput();
                return null;
            });
            for (int i = 0; i < count; i++) assertEquals("message " + i, echo.take(Codecs.text()));
            sender.get();
            assertThrows(ConnectionClosedException.class, () -> echo.take(Codecs.text()));
            assertEquals(count, echo.sent());
            assertEquals(count, echo.answered());
            assertEquals(Optional.of(ExitStatus.exited(0)), echo.exitStatus());
            assertEquals(echo, workers.get("echo"));
        }
    }

    @Test
    void shouldCarryA64MiBMessageThroughStdout() throws Exception {
        try (Workers workers = Workers.create(); ExecutorService pool = Executors.newSingleThreadExecutor();
             Arena arena = Arena.ofShared()) {
            Worker echo = workers.start(WorkerSpec.java("big", EchoWorker.class).results(WorkerSpec.ResultPath.STDOUT));
            MemorySegment big = arena.allocate(64 << 20);
            for (long i = 0; i < big.byteSize(); i += 8) big.set(ValueLayout.JAVA_LONG_UNALIGNED, i, i * 0x9E3779B97F4A7C15L);
            Future<?> sender = pool.submit(() -> {
                echo.send(big);
                echo.endInput();
                return null;
            });
            Result r = echo.take();
            sender.get();
            assertEquals(big.byteSize(), r.payload().length);
            assertEquals(-1, MemorySegment.ofArray(r.payload()).mismatch(big));
        }
    }

    @Test
    void shouldLoseNothingWhenTheInboxIsFullAndTheConsumerSlow() throws Exception {
        try (Workers workers = Workers.create(); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            Worker echo = workers.start(WorkerSpec.java("slowconsumer", EchoWorker.class).inboxCapacity(4));
            int count = 3_000;
            byte[] payload = new byte[1000];
            Future<?> sender = pool.submit(() -> {
                for (int i = 0; i < count; i++) {
                    payload[0] = (byte) i;
                    payload[1] = (byte) (i >> 8);
                    echo.send(payload);
                }
                echo.endInput();
                return null;
            });
            Thread.sleep(300);                      // the inbox fills, then the FIFO, then the worker blocks
            for (int i = 0; i < count; i++) {
                Result r = echo.take();
                assertEquals((byte) i, r.payload()[0], "result " + i);
                assertEquals((byte) (i >> 8), r.payload()[1], "result " + i);
                if (i % 500 == 0) Thread.sleep(20);
            }
            sender.get();
            assertEquals(0, echo.dropped());
            assertEquals(null, echo.take());
        }
    }

    @Test
    void shouldPollWithATimeoutTooLongToCountAndRefuseANegativeOne() throws Exception {
        try (Workers workers = Workers.create(); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            Worker echo = workers.start(WorkerSpec.java("poller", EchoWorker.class));
            // To the inbox a negative wait means no limit: poll(-1 ms) with nothing to take used to wait forever.
            IllegalArgumentException negative = assertTimeoutPreemptively(Duration.ofSeconds(10),
                    () -> assertThrows(IllegalArgumentException.class, () -> echo.poll(Codecs.text(), Duration.ofMillis(-1))));
            assertEquals("negative timeout: PT-0.001S", negative.getMessage());
            assertThrows(NullPointerException.class, () -> echo.poll(Codecs.text(), null));
            assertEquals(Optional.empty(), echo.poll(Codecs.text(), Duration.ZERO), "zero just looks");
            // Duration.ofSeconds(Long.MAX_VALUE) has no nanosecond count: it used to be "ArithmeticException: long overflow"
            Future<Optional<String>> polling = pool.submit(() -> echo.poll(Codecs.text(), Duration.ofSeconds(Long.MAX_VALUE)));
            Thread.sleep(200);
            assertFalse(polling.isDone(), "a huge timeout waits as long as no limit does");
            echo.send("worth the wait", Codecs.text());
            assertEquals(Optional.of("worth the wait"), polling.get(30, java.util.concurrent.TimeUnit.SECONDS));
        }
    }

    @Test
    void shouldDropTheOldestWhenAskedTo() throws Exception {
        try (Workers workers = Workers.create()) {
            Worker echo = workers.start(WorkerSpec.java("dropper", EchoWorker.class).inboxCapacity(3).overflow(InboxOverflow.DROP_OLDEST));
            for (int i = 0; i < 10; i++) echo.send("m" + i, Codecs.text());
            echo.endInput();
            while (echo.exitStatus().isEmpty()) Thread.sleep(10);
            List<String> kept = echo.stream(Codecs.text()).collect(Collectors.toList());
            assertEquals(List.of("m7", "m8", "m9"), kept);
            assertEquals(7, echo.dropped());
        }
    }

    @Test
    void shouldReportAWorkerThatExitsMidStream() throws Exception {
        try (Workers workers = Workers.create()) {
            Worker w = workers.start(WorkerSpec.java("crasher", EchoWorker.class, "--exit-after", "5", "--exit-code", "3"));
            for (int i = 0; i < 5; i++) w.send("m" + i, Codecs.text());
            for (int i = 0; i < 5; i++) assertEquals("m" + i, w.take(Codecs.text()));
            w.send("the sixth", Codecs.text());
            WorkerDiedException e = assertThrows(WorkerDiedException.class, () -> w.take(Codecs.text()));
            assertEquals(ExitStatus.exited(3), e.status());
            assertEquals(5, e.answered());
            assertTrue(e.sent() >= 5, e.getMessage());
            // sends fail too once stdin has no reader
            assertThrows(WorkerDiedException.class, () -> {
                for (int i = 0; i < 100_000; i++) w.send(new byte[4096]);
            });
        }
    }

    /**
     * A sender whose write finds the worker's stdin closed is told how the worker ended: it waits (up to 5 s)
     * for the exit. That wait used to be waitFor's, so an interrupted sender got InterruptedIOException
     * rather than WorkerDiedException when the worker had closed its input but not yet exited.
     */
    @Test
    void shouldTellAnInterruptedSenderThatTheWorkerDiedNotThatItWasInterrupted() throws Exception {
        try (Workers workers = Workers.create()) {
            Worker w = workers.start(WorkerSpec.java("lingerer", EchoWorker.class,
                    "--exit-after", "1", "--linger-ms", "1500", "--exit-code", "4"));
            w.send("m0", Codecs.text());
            assertEquals("m0", w.take(Codecs.text()));
            Path stdin = Path.of("/proc/" + w.pid() + "/fd/0");
            ProcFs.await(() -> !Files.exists(stdin, LinkOption.NOFOLLOW_LINKS), "the worker has closed its stdin");
            Thread.currentThread().interrupt();
            try {
                WorkerDiedException e = assertThrows(WorkerDiedException.class, () -> w.send("m1", Codecs.text()));
                assertEquals(ExitStatus.exited(4), e.status(), e.getMessage());
                assertTrue(Thread.currentThread().isInterrupted(), "the interrupt status is kept");
            } finally {
                Thread.interrupted();
            }
        }
    }

    @Test
    void shouldReportAWorkerKilledWithSigkill() throws Exception {
        try (Workers workers = Workers.create()) {
            Worker w = workers.start(WorkerSpec.java("victim", EchoWorker.class));
            w.send("before", Codecs.text());
            assertEquals("before", w.take(Codecs.text()));
            ProcessHandle.of(w.pid()).orElseThrow().destroyForcibly();   // kill -9 from outside
            WorkerDiedException e = assertThrows(WorkerDiedException.class, () -> w.take(Codecs.text()));
            assertEquals(ExitStatus.killed(Signals.SIGKILL, false), e.status());
            assertEquals(1, e.answered());
        }
    }

    @Test
    void shouldSignalAWorkerThroughItsHandleAndNothingOnceItIsReaped() throws Exception {
        Worker closed;
        try (Workers workers = Workers.create()) {
            Worker w = workers.start(WorkerSpec.java("signalled", EchoWorker.class));
            w.send("before", Codecs.text());
            assertEquals("before", w.take(Codecs.text()));
            w.signal(Signals.SIGKILL);
            WorkerDiedException e = assertThrows(WorkerDiedException.class, () -> w.take(Codecs.text()));
            assertEquals(ExitStatus.killed(Signals.SIGKILL, false), e.status());
            assertEquals(Optional.of(ExitStatus.killed(Signals.SIGKILL, false)), w.exitStatus());
            w.signal(Signals.SIGKILL);   // dead, not yet closed: still no error
            closed = w;
        }
        // Closed and reaped: its pid may be another process's by now, so nothing is sent, and nothing fails.
        closed.signal(Signals.SIGKILL);
        closed.signal(Signals.SIGTERM);
    }

    /**
     * A Worker is a shared handle (found by name in its Workers): senders on several threads each get their
     * messages through whole and in their order. Their frames used to interleave in the one send buffer: a
     * sender died of an "Already closed" arena another had grown, and the rest went to the worker torn, so
     * that about half the results never came and take() waited for ever.
     */
    @Test
    void shouldCarryTheMessagesOfSeveralSendingThreadsWhole() throws Exception {
        try (Workers workers = Workers.create(); ExecutorService pool = Executors.newFixedThreadPool(2)) {
            Worker echo = workers.start(WorkerSpec.java("shared", EchoWorker.class).destroyGrace(Duration.ofMillis(500)));
            int each = 5_000;
            List<Future<?>> senders = new java.util.ArrayList<>();
            for (String who : List.of("a", "b")) {
                senders.add(pool.submit(() -> {
                    for (int i = 0; i < each; i++) echo.send(who + " " + i + " " + "x".repeat(i % 700), Codecs.text());
                    return null;
                }));
            }
            int[] next = new int[2];
            for (int n = 0; n < 2 * each; n++) {
                Optional<String> r = echo.poll(Codecs.text(), Duration.ofSeconds(20));
                assertTrue(r.isPresent(), "result " + n + " of " + 2 * each + " never came");
                String[] parts = r.get().split(" ");
                int who = parts[0].equals("a") ? 0 : 1;
                assertEquals(next[who]++, Integer.parseInt(parts[1]), r.get());
            }
            for (Future<?> f : senders) f.get();
            assertEquals(2 * each, echo.sent());
        }
    }

    @Test
    void shouldRaiseAProtocolErrorForAWorkerThatWritesGarbage() throws Exception {
        try (Workers workers = Workers.create()) {
            Worker w = workers.start(WorkerSpec.java("garbler", EchoWorker.class, "--garbage-after", "1"));
            w.send("fine", Codecs.text());
            assertEquals("fine", w.take(Codecs.text()));
            w.send("next", Codecs.text());
            ProtocolException e = assertThrows(ProtocolException.class, () -> w.take(Codecs.text()));
            assertEquals("magic", e.field());
            assertTrue(e.getMessage().startsWith("worker garbler: "), e.getMessage());
        }
    }

    /**
     * What a worker writes before its hello is checked as promptly as what it writes after: garbage, or a frame
     * that is not the hello, used to leave start() waiting out the whole connect timeout (30 s by default) and then
     * report a worker that "did not connect", the protocol error lost.
     */
    @ParameterizedTest
    @ValueSource(strings = {"garbage", "frame"})
    void shouldRaiseAProtocolErrorAtOnceForAWorkerThatWritesSomethingElseBeforeItsHello(String first) throws Exception {
        // the frame: magic "PPPF", version 1, type 1 (bytes), flags 0, length 0, sequence 0
        String bytes = first.equals("garbage") ? "AAAAAAAAAAAAAAAAAAAA" : "PPPF\\001\\001" + "\\000".repeat(10);
        try (Workers workers = Workers.create()) {
            long start = System.nanoTime();
            ProtocolException e = assertThrows(ProtocolException.class, () -> workers.start(WorkerSpec.command("early", "sh", "-c",
                            "printf '" + bytes + "' > \"$PANPIPE_RESULTS\"; exec sleep 30")
                    .connectTimeout(Duration.ofSeconds(20)).destroyGrace(Duration.ofMillis(200))));
            assertTrue(System.nanoTime() - start < 10_000_000_000L, "not after the connect timeout");
            assertTrue(e.getMessage().startsWith("worker early: frame 0: "), e.getMessage());
            assertEquals(first.equals("garbage") ? "magic" : "type", e.field());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"header", "payload"})
    void shouldReportAResultCutOffByTheWorkersEndAsTruncated(String cut) throws Exception {
        try (Workers workers = Workers.create()) {
            Worker w = workers.start(WorkerSpec.java("cutter", CutOffWorker.class, cut)
                    .jvmOptions("--patch-module", "dev.panpipe.core=" + Path.of("target", "test-classes").toAbsolutePath()));
            w.send("go", Codecs.text());
            ProtocolException e = assertThrows(ProtocolException.class, () -> w.take(Codecs.text()));
            assertTrue(e.getMessage().startsWith("worker cutter: frame 1: truncated"), e.getMessage());
            if (cut.equals("header")) {
                assertEquals("header", e.field());
                assertTrue(e.getMessage().endsWith("truncated header: 8 of 16 bytes before end of stream"), e.getMessage());
            } else {
                assertEquals("length", e.field());
                assertTrue(e.getMessage().endsWith("truncated payload: 10 of 100 bytes before end of stream"), e.getMessage());
            }
        }
    }

    /**
     * A worker that exits in the middle of a result while a child of it still holds the results FIFO open: the
     * stream has no end of file to show the cut, only the worker's exit. The part frame was dropped and the
     * worker's exit code 0 ended the results as if they were complete.
     */
    @Test
    void shouldReportAResultCutOffByTheWorkersExitWhileAChildHoldsItsResults(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path pidFile = tmp.resolve("child.pid");
        String hello = "printf 'PPPF\\001\\007" + "\\000".repeat(10) + "' >&3";
        // a text frame of 100 bytes, sequence 1, of which 2 came
        String part = "printf 'PPPF\\001\\002\\000\\000\\144\\000\\000\\000\\001\\000\\000\\000xx' >&3";
        try (Workers workers = Workers.create()) {
            Worker w = workers.start(WorkerSpec.command("leaver", "sh", "-c", "exec 3>\"$PANPIPE_RESULTS\"; " + hello
                    + "; sleep 5 </dev/null & echo $! > \"$CHILD_PID\"; " + part + "; exit 0").environment("CHILD_PID", pidFile.toString()));
            try {
                ProtocolException e = assertThrows(ProtocolException.class, () -> w.take(Codecs.text()));
                assertEquals("length", e.field());
                assertTrue(e.getMessage().endsWith("frame 1: truncated payload: 2 of 100 bytes before end of stream"), e.getMessage());
            } finally {
                for (int i = 0; i < 100 && !Files.exists(pidFile); i++) Thread.sleep(50);
                ProcessHandle.of(Long.parseLong(Files.readString(pidFile).strip())).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
    }

    @Test
    void shouldRunACommandWorkerAndTimeOutOneThatNeverConnects() throws Exception {
        try (Workers workers = Workers.create()) {
            long start = System.nanoTime();
            assertThrows(dev.panpipe.io.PeerTimeoutException.class,
                    () -> workers.start(WorkerSpec.command("mute", "sleep", "30").connectTimeout(Duration.ofMillis(500))));
            assertTrue(System.nanoTime() - start < 10_000_000_000L);
            WorkerDiedException died = assertThrows(WorkerDiedException.class,
                    () -> workers.start(WorkerSpec.command("quitter", "sh", "-c", "exit 4")));
            assertEquals(ExitStatus.exited(4), died.status());
        }
    }

    @Test
    void shouldLeaveNoFifoDirectoryOrProcessAfterClose() throws Exception {
        Path dir;
        long pid;
        try (Workers workers = Workers.create()) {
            dir = workers.directory();
            assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
            Worker w = workers.start(WorkerSpec.java("lingerer", EchoWorker.class, "--delay-ms", "10"));
            pid = w.pid();
            for (int i = 0; i < 20; i++) w.send(new byte[10]);
            // results left untaken on purpose
        }
        assertFalse(Files.exists(dir));
        assertTrue(ProcessHandle.of(pid).isEmpty() || !ProcessHandle.of(pid).get().isAlive());
        assertFalse(Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals("panpipe-workers") && t.isAlive()));
    }

    /**
     * Workers that ignore their end of input and SIGTERM (and are stopped, at that) are ended together: close
     * used to end them one after another, each after its grace period twice, so N of them took N times as long
     * (with the default 5 s grace, 10 s a worker).
     */
    @Test
    void shouldEndHungWorkersTogether() throws Exception {
        List<Long> pids = new java.util.ArrayList<>();
        long closing;
        String hello = "printf 'PPPF\\001\\007" + "\\000".repeat(10) + "' > \"$PANPIPE_RESULTS\"";
        try (Workers workers = Workers.create()) {
            for (int i = 0; i < 4; i++) {
                Worker w = workers.start(WorkerSpec.command("hung" + i, "sh", "-c", "trap '' TERM; " + hello + "; exec sleep 60")
                        .destroyGrace(Duration.ofSeconds(1)));
                pids.add(w.pid());
                w.signal(Signals.SIGSTOP);
            }
            closing = System.nanoTime();
        }
        long ms = (System.nanoTime() - closing) / 1_000_000;
        // Together about 2 s; one after another 8 s. 6 s tells them apart with room for a loaded machine.
        assertTrue(ms < 6_000, "4 hung workers with a 1 s grace ended in " + ms + " ms: one after another takes 8 s");
        for (long pid : pids) assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "worker " + pid + " reaped");
    }

    /** A command worker that says its hello after {@code delay} (sh's sleep) and then waits for its input to end. */
    private static WorkerSpec helloAfter(String name, String delay) {
        String hello = "printf 'PPPF\\001\\007" + "\\000".repeat(10) + "' > \"$PANPIPE_RESULTS\"";
        return WorkerSpec.command(name, "sh", "-c", "sleep " + delay + "; " + hello + "; exec cat > /dev/null");
    }

    /**
     * A start waited for its worker's hello holding the Workers lock, so workers started from several threads
     * connected one after another (JVM workers take a few hundred ms each), and get() waited for them too.
     */
    @Test
    void shouldStartWorkersFromSeveralThreadsAtOnce() throws Exception {
        try (Workers workers = Workers.create()) {
            Worker first = workers.start(helloAfter("first", "0"));
            long t0 = System.nanoTime();
            List<java.util.concurrent.Future<Worker>> starts = new java.util.ArrayList<>();
            try (var pool = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
                for (int i = 0; i < 3; i++) {
                    String name = "slow" + i;
                    starts.add(pool.submit(() -> workers.start(helloAfter(name, "2"))));
                }
                Thread.sleep(300);
                long asked = System.nanoTime();
                assertSame(first, workers.get("first"), "a started worker is found while others start");
                assertTrue(System.nanoTime() - asked < 1_000_000_000L, "get waited for the starts");
                IllegalArgumentException twice = assertThrows(IllegalArgumentException.class, () -> workers.start(helloAfter("slow0", "0")));
                assertTrue(twice.getMessage().contains("slow0 exists already"), twice.getMessage());
                for (var f : starts) assertTrue(f.get().pid() > 0);
            }
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms < 5_000, "3 workers that connect after 2 s each started in " + ms + " ms: one after another takes 6 s");
            assertEquals(4, workers.all().size());
        }
    }

    /** A close waits for a start under way and ends its worker too: nothing runs and no FIFO is left after it. */
    @Test
    void shouldEndAWorkerWhoseStartACloseOvertook() throws Exception {
        Workers workers = Workers.create();
        Path dir = workers.directory();
        var start = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return workers.start(helloAfter("late", "1"));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, r -> Thread.ofPlatform().start(r));
        // The start is under way once its FIFO is made (and it stays until the hello, a second on): a close before
        // that, which a fixed sleep here let happen on a loaded machine, refuses the start rather than overtake it.
        ProcFs.await(() -> Files.exists(dir.resolve("late.results")) || start.isDone(), "the start of late is under way");
        workers.close();
        var e = assertThrows(java.util.concurrent.ExecutionException.class, start::get);
        assertInstanceOf(IllegalStateException.class, e.getCause());
        assertTrue(e.getCause().getMessage().contains("closed while worker late started"), e.getCause().getMessage());
        assertFalse(Files.exists(dir), "the FIFO and its folder are gone");
        assertThrows(IllegalStateException.class, () -> workers.start(helloAfter("after", "0")));
    }

    @Test
    void shouldCloseEveryWorkerAndTheLoopFromAnInterruptedThread() throws Exception {
        Workers workers = Workers.create();
        Path dir = workers.directory();
        Worker echo = workers.start(WorkerSpec.java("echo", EchoWorker.class));
        echo.send("hi", Codecs.text());
        assertEquals("hi", echo.take(Codecs.text()));
        boolean stillInterrupted;
        Thread.currentThread().interrupt();
        try {
            workers.close();
        } finally {
            stillInterrupted = Thread.interrupted();
        }
        assertTrue(stillInterrupted, "the interrupt status stays set");
        assertEquals(Optional.of(ExitStatus.exited(0)), echo.exitStatus(), "its input ended, the worker exited by itself");
        assertFalse(Files.exists(dir));
        assertFalse(Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals("panpipe-workers") && t.isAlive()),
                "the loop thread has ended when close returns");
    }

    @Test
    void shouldEchoPixelFramesUnchanged() throws Exception {
        try (Workers workers = Workers.create(); Arena arena = Arena.ofConfined()) {
            Worker echo = workers.start(WorkerSpec.java("pixels", EchoWorker.class));
            MemorySegment px = arena.allocate(64 * 48 * 3);
            for (int i = 0; i < px.byteSize(); i++) px.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 13));
            var frame = dev.panpipe.pixel.PixelFrame.packed(64, 48, dev.panpipe.pixel.PixelFormat.RGB8, px);
            echo.send(frame, Codecs.pixels());
            var back = echo.take(Codecs.pixels());
            assertEquals(64, back.width());
            assertArrayEquals(px.toArray(ValueLayout.JAVA_BYTE), back.pixels().toArray(ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void shouldRefuseWholeMessagesWhenNonBlockingAndTheWorkerIsBehind() throws Exception {
        try (Workers workers = Workers.create()) {
            Worker slow = workers.start(WorkerSpec.java("behind", EchoWorker.class, "--delay-ms", "200").blockingWrites(false));
            byte[] payload = new byte[100_000];
            int accepted = 0;
            WorkerBusyException busy = null;
            for (int i = 0; i < 200 && busy == null; i++) {
                payload[0] = (byte) i;
                try {
                    slow.send(payload);
                    accepted++;
                } catch (WorkerBusyException e) {
                    busy = e;
                }
            }
            assertTrue(busy != null, "a worker answering every 200 ms must fall behind 200 sends of 100 KB");
            assertTrue(busy.getMessage().contains("behind"), busy.getMessage());
            assertEquals(accepted, slow.sent());
            slow.endInput();
            for (int i = 0; i < accepted; i++) {
                Result r = slow.take();
                assertEquals((byte) i, r.payload()[0]);
                assertEquals(payload.length, r.payload().length);
            }
            assertEquals(null, slow.take());
        }
    }

    @Test
    void shouldStartAWorkerThroughALauncherPrefix() throws Exception {
        try (Workers workers = Workers.create()) {
            Worker pinned = workers.start(WorkerSpec.java("pinned", EchoWorker.class).launchedThrough("taskset", "-c", "0"));
            String status = Files.readString(Path.of("/proc/" + pinned.pid() + "/status"));
            assertTrue(status.contains("Cpus_allowed_list:\t0\n"), status);
            pinned.send("still a worker", Codecs.text());
            assertEquals("still a worker", pinned.take(Codecs.text()));
        }
    }

    /**
     * A JVM killed while it ran workers leaves its worker directory behind; the next {@link Workers#create()}
     * (any JVM of this user) removes it, FIFOs and all, once that JVM is gone. The killed JVM's worker ends by
     * itself: its stdin comes to end of file.
     */
    @Test
    void shouldRemoveTheWorkerDirectoryOfAKilledJvm() throws Exception {
        List<String> cmd = dev.panpipe.process.JavaCommand.of(AbandoningParent.class,
                List.of("--patch-module", "dev.panpipe.core=" + Path.of("target", "test-classes").toAbsolutePath()), List.of());
        Process parent = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        java.util.Map<String, String> said = new java.util.HashMap<>();
        try (var lines = new java.io.BufferedReader(new java.io.InputStreamReader(parent.getInputStream()))) {
            while (said.size() < 3) {
                String line = lines.readLine();
                if (line == null) throw new AssertionError("the abandoning parent ended early; it said " + said);
                said.put(line.substring(0, line.indexOf('=')), line.substring(line.indexOf('=') + 1));
            }
            parent.destroyForcibly();   // SIGKILL: no close, no shutdown hook
            parent.waitFor();
        }
        Path dir = Path.of(said.get("dir"));
        assertTrue(Files.exists(dir.resolve("late.results")), "the killed JVM left " + dir + " with the FIFO of a worker that never connected");
        assertFalse(Files.exists(dir.resolve("echo.results")), "a connected worker's FIFO was unlinked at once");
        for (String worker : List.of("echo", "late")) {
            ProcessHandle.of(Long.parseLong(said.get(worker))).ifPresent(w -> w.onExit().orTimeout(30, java.util.concurrent.TimeUnit.SECONDS).join());
        }

        try (Workers survivor = Workers.create()) {
            assertFalse(Files.exists(dir), "a new Workers removes the directory of a JVM that is gone");
            assertTrue(Files.isDirectory(survivor.directory()));
        }
    }

    @Test
    void shouldLeaveTheDirectoriesOfLiveJvmsAndOfOtherShapesAlone() throws Exception {
        Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
        Path live = Files.createTempDirectory(tmp, "panpipe-workers-" + ProcessHandle.current().pid() + "-");
        Path unnumbered = Files.createTempDirectory(tmp, "panpipe-workers-x");
        long gonePid = new ProcessBuilder("true").start().onExit().get().pid();
        Path target = Files.createTempDirectory(tmp, "panpipe-target-");
        Path link = tmp.resolve("panpipe-workers-" + gonePid + "-1");
        try {
            Files.createSymbolicLink(link, target);
            dev.panpipe.internal.PrivateTempDirectory.removeAbandoned(tmp, Workers.PREFIX, Files.getOwner(live));
            assertTrue(Files.isDirectory(live), "this JVM's own directory stays");
            assertTrue(Files.isDirectory(unnumbered), "a name without a pid is not panpipe's to remove");
            assertTrue(Files.isSymbolicLink(link) && Files.isDirectory(target), "a symbolic link is neither followed nor removed");
        } finally {
            Files.deleteIfExists(link);
            Files.deleteIfExists(target);
            Files.deleteIfExists(unnumbered);
            Files.deleteIfExists(live);
        }
    }

    /** The fd number of this JVM's open file that was {@code path} before it was unlinked, from /proc/self/fd. */
    private static int openFdOf(Path path) throws java.io.IOException {
        String deleted = path + " (deleted)";
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                try {
                    if (Files.readSymbolicLink(fd).toString().equals(deleted)) return Integer.parseInt(fd.getFileName().toString());
                } catch (java.io.IOException closedMeanwhile) {
                    // the listing's own fd, or one closed since: not it
                }
            }
        }
        throw new AssertionError("no open fd of " + deleted);
    }
}
