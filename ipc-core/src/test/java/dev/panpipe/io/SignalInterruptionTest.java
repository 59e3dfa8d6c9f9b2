package dev.panpipe.io;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.connection.Connection;
import dev.panpipe.internal.linux.FdHandle;
import dev.panpipe.internal.linux.FdReadEnd;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Mux;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import dev.panpipe.testing.SignalStorm;
import dev.panpipe.testing.SignalStorm.Outcome;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Blocking calls while their thread is hit by a signal every 20 us, as under a sampling profiler or an
 * application's own signal handlers ({@link SignalStorm}): each wait must ride out {@code EINTR} — no
 * error, no byte lost or repeated, a timed wait neither cut short nor stretched.
 */
@ExtendWith(LeakCheck.class)
class SignalInterruptionTest {
    private static final Duration BLOCKED = Duration.ofMillis(300);
    private static final byte[] HELLO = "hello through the storm".getBytes(StandardCharsets.UTF_8);

    @Test
    void theStormInterruptsABarePoll() throws Exception {
        // Without this the other tests could pass because no signal ever reached a system call.
        assertEquals("EINTR", SignalStorm.barePollResult());
    }

    @Test
    void aBlockingReadWaitsThroughSignals() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            byte[] got = new byte[HELLO.length];
            Outcome<Integer> o = SignalStorm.during(() -> pipe.readEnd().read(got, 0, got.length), BLOCKED,
                    () -> pipe.writeEnd().write(HELLO, 0, HELLO.length));
            assertEquals(HELLO.length, o.value());
            assertArrayEquals(HELLO, got);
            assertStormed(o);
        }
    }

    @Test
    void aBlockingWriteIntoAFullPipeLosesAndRepeatsNothing() throws Exception {
        byte[] data = new byte[1 << 20];   // 16 times the pipe's 64 KiB: the writer waits for room again and again
        new Random(7).nextBytes(data);
        try (Pipe pipe = Pipe.open()) {
            byte[] got = new byte[data.length];
            Outcome<Integer> o = SignalStorm.during(() -> {
                pipe.writeEnd().write(data, 0, data.length);
                return data.length;
            }, BLOCKED, () -> {
                // The reader drains in small, uneven reads, so the writer blocks and resumes many times.
                int done = 0;
                while (done < got.length) {
                    int n = pipe.readEnd().read(got, done, Math.min(got.length - done, 4093));
                    assertTrue(n > 0, "end of stream after " + done + " bytes");
                    done += n;
                }
            });
            assertEquals(data.length, o.value());
            assertArrayEquals(data, got, "bytes through the pipe");
            pipe.writeEnd().close();
            assertEquals(ReadEnd.EOF, pipe.readEnd().read(new byte[1], 0, 1), "nothing more than was written");
            assertStormed(o);
        }
    }

    @Test
    void aTimedWaitIsNeitherCutShortNorStretched() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            // Two seconds: the storm must have sent its MIN_SIGNALS before the wait ends, which a loaded machine took
            // most of 600 ms for.
            Outcome<Boolean> o = SignalStorm.during(() -> pipe.readEnd().awaitReadable(Duration.ofSeconds(2)),
                    Duration.ofMillis(200), () -> { });
            assertFalse(o.value(), "nothing was written");
            assertTrue(o.nanos() >= 2_000_000_000L, "the 2 s wait ended after " + o.nanos() / 1e6 + " ms");
            assertTrue(o.nanos() < 10_000_000_000L, "the 2 s wait took " + o.nanos() / 1e6 + " ms");
            assertStormed(o);
        }
    }

    @Test
    void aReadOfAnInheritedBlockingFdRetriesInTheKernelsOwnBlockingRead(@TempDir Path dir) throws Exception {
        // An inherited fd (a worker's stdin) is read with plain blocking read(2), which a signal interrupts
        // before any byte arrives: the first EINTR is taken for "not ready" unproven, and must lead to a wait.
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(ValueLayout.JAVA_INT, 2);
            Syscalls.pipe2(fds, linux_h.O_CLOEXEC());   // blocking, as a parent hands a child its stdin
            FdReadEnd in = new FdReadEnd(FdHandle.ownShared(fds.getAtIndex(ValueLayout.JAVA_INT, 0), "inherited"));
            int writeFd = fds.getAtIndex(ValueLayout.JAVA_INT, 1);
            try (in) {
                assertTrue(in.isBlocking(), "precondition: the inherited fd is in blocking mode");
                byte[] got = new byte[HELLO.length];
                Outcome<Integer> o = SignalStorm.during(() -> in.read(got, 0, got.length), BLOCKED, () -> {
                    MemorySegment src = arena.allocate(HELLO.length);
                    MemorySegment.copy(HELLO, 0, src, ValueLayout.JAVA_BYTE, 0, HELLO.length);
                    assertEquals(HELLO.length, Syscalls.write(writeFd, src, HELLO.length));
                });
                assertEquals(HELLO.length, o.value());
                assertArrayEquals(HELLO, got);
                assertStormed(o);
            } finally {
                Syscalls.close(writeFd);
            }
        }
    }

    @Test
    void aFifoOpenWaitsForItsPeerThroughSignals(@TempDir Path dir) throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("stormy"))) {
            WriteEnd[] writer = new WriteEnd[1];
            Outcome<ReadEnd> o = SignalStorm.during(fifo::openReadEnd, BLOCKED, () -> writer[0] = fifo.openWriteEnd());
            try (ReadEnd reader = o.value(); WriteEnd w = writer[0]) {
                w.write(HELLO, 0, HELLO.length);
                byte[] got = new byte[HELLO.length];
                assertEquals(HELLO.length, reader.read(got, 0, got.length));
                assertArrayEquals(HELLO, got);
            }
            assertStormed(o);
        }
    }

    @Test
    void waitForAChildRidesOutSignals() throws Exception {
        // The child ends at the release, when its stdin does: a sleep's end raced the storm's start on a loaded machine.
        try (Subprocess child = Subprocess.builder("cat").stdout(Redirect.discard()).start()) {
            Outcome<ExitStatus> o = SignalStorm.during(child::waitFor, BLOCKED, () -> child.stdin().close());
            assertEquals(ExitStatus.exited(0), o.value());
            assertStormed(o);
        }
    }

    @Test
    void framedMessagesArriveWholeAndInOrderThroughSignals() throws Exception {
        // The receiver waits in poll and reads frames in pieces while signals land at any point.
        int count = 2_000;
        Random random = new Random(11);
        byte[][] sent = new byte[count][];
        for (int i = 0; i < count; i++) {
            sent[i] = new byte[random.nextInt(i % 100 == 0 ? 200_000 : 300)];
            random.nextBytes(sent[i]);
        }
        try (Connection.Pair pair = Connection.oneWay()) {
            Outcome<byte[][]> o = SignalStorm.during(() -> {
                byte[][] got = new byte[count][];
                for (int i = 0; i < count; i++) got[i] = pair.first().receiveBytes();
                return got;
            }, BLOCKED, () -> {
                for (byte[] m : sent) pair.second().send(m);
            });
            for (int i = 0; i < count; i++) {
                assertTrue(Arrays.equals(sent[i], o.value()[i]), "message " + i + " of " + sent[i].length + " bytes");
            }
            assertStormed(o);
        }
    }

    @Test
    void aMuxEventLoopRidesOutSignals() throws Exception {
        // The mux's loop thread waits in epoll_wait; the storm is aimed at it while this thread awaits the child.
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Mux mux = Mux.builder().child("late", List.of("sh", "-c", "sleep 0.3; echo ready; sleep 0.3; echo done"))
                .output(out).start()) {
            Outcome<List<Mux.Exit>> o = SignalStorm.aimedAt("panpipe-mux", () -> {
                assertEquals("ready", mux.expect("late", Pattern.compile("^ready$"), Duration.ofSeconds(10)).text());
                return mux.await(Mux.Until.ALL);
            });
            assertEquals(ExitStatus.exited(0), o.value().getFirst().status());
            assertStormed(o);
        }
        assertEquals(List.of("late: ready", "late: done"), out.toString(StandardCharsets.UTF_8).lines().toList());
    }

    private static void assertStormed(Outcome<?> o) {
        // The storm goes on until it has sent that many (300 ms at one signal per 20 us would be thousands, but a
        // loaded machine wakes the sender far less often), so that a test passing under it means something.
        assertTrue(o.signals() >= SignalStorm.MIN_SIGNALS, "only " + o.signals() + " signals were sent while the call waited");
    }
}
