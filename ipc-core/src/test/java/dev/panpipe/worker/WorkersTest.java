package dev.panpipe.worker;

import dev.panpipe.connection.Codecs;
import dev.panpipe.connection.ConnectionClosedException;
import dev.panpipe.connection.ProtocolException;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Signals;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real worker JVMs ({@link EchoWorker}) driven through {@link Workers}. */
@Timeout(120)
@ExtendWith(LeakCheck.class)
class WorkersTest {

    @Test
    void shouldRoundTrip10000MessagesInOrderThroughAFifo() throws Exception {
        try (Workers workers = Workers.create(); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            Worker echo = workers.start(WorkerSpec.java("echo", EchoWorker.class));
            assertTrue(Files.exists(workers.directory().resolve("echo.results")));
            try (var fifoEnd = dev.panpipe.io.Fifo.create(workers.directory().resolve("echo.results")).openBoth()) {
                // the same FIFO, so the same pipe: it was enlarged like a child's stdin (tests run as root)
                assertEquals(dev.panpipe.process.SubprocessBuilder.DEFAULT_PIPE_CAPACITY,
                        dev.panpipe.bindings.Syscalls.fcntl((int) fifoEnd.readEnd().nativeHandle(),
                                dev.panpipe.bindings.linux.linux_h.F_GETPIPE_SZ(), 0));
            }
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
}
