package dev.panpipe.io;

import dev.panpipe.bindings.BrokenPipeException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.AsynchronousCloseException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(LeakCheck.class)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class PipeTest {

    @Test
    void shouldCarryByteArraysThroughThePipe() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            byte[] sent = "hello, pipe".getBytes(StandardCharsets.UTF_8);
            assertEquals(4, pipe.writeEnd().write(sent, 7, 4));
            byte[] buf = new byte[32];
            assertEquals(4, pipe.readEnd().read(buf, 3, 20));
            assertArrayEquals("pipe".getBytes(), Arrays.copyOfRange(buf, 3, 7));
            assertEquals(0, buf[0]);
        }
    }

    @Test
    void shouldCarryNativeSegmentsThroughThePipe() throws Exception {
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(40_000);
            for (long i = 0; i < src.byteSize(); i++) src.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 31 + 7));
            assertEquals(src.byteSize(), pipe.writeEnd().write(src));
            MemorySegment dst = arena.allocate(40_000);
            assertEquals(dst.byteSize(), pipe.readEnd().readFully(dst));
            assertEquals(-1, src.mismatch(dst));
        }
    }

    @Test
    void shouldReportEofOnlyOnceEveryWriterHasClosed() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            pipe.writeEnd().write(new byte[] {1, 2, 3}, 0, 3);
            pipe.writeEnd().close();
            byte[] buf = new byte[8];
            assertEquals(3, pipe.readEnd().read(buf, 0, 8), "data written before the close comes first");
            assertEquals(ReadEnd.EOF, pipe.readEnd().read(buf, 0, 8));
            assertEquals(ReadEnd.EOF, pipe.readEnd().read(buf, 0, 8), "EOF stays EOF");
            assertTrue(pipe.readEnd().awaitReadable(Duration.ZERO), "end of stream counts as readable");
            assertEquals(-1, pipe.readEnd().asInputStream().read());
        }
    }

    @Test
    void shouldReturnEofToAReaderBlockedWhenTheLastWriterCloses() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            Future<Integer> read = Blocking.startAndAwaitBlocked("poll", () -> pipe.readEnd().read(new byte[8], 0, 8));
            pipe.writeEnd().close();
            assertEquals(ReadEnd.EOF, read.get(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void shouldThrowBrokenPipeWhenWritingAfterTheReaderClosed() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            pipe.readEnd().close();
            BrokenPipeException e = assertThrows(BrokenPipeException.class, () -> pipe.writeEnd().write(new byte[] {1}, 0, 1));
            assertEquals("write: EPIPE (Broken pipe)", e.getMessage());
        }
    }

    @Test
    void shouldThrowBrokenPipeToAWriterBlockedOnAFullPipeWhenTheReaderCloses() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            fill(pipe);
            Future<Integer> write = Blocking.startAndAwaitBlocked("poll", () -> pipe.writeEnd().write(new byte[4096], 0, 4096));
            pipe.readEnd().close();
            ExecutionException e = assertThrows(ExecutionException.class, () -> write.get(10, TimeUnit.SECONDS));
            assertInstanceOf(BrokenPipeException.class, e.getCause());
        }
    }

    @Test
    void shouldReturnZeroFromANonBlockingReadOfAnEmptyPipe() throws Exception {
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofConfined()) {
            pipe.readEnd().blocking(false);
            assertFalse(pipe.readEnd().isBlocking());
            assertEquals(0, pipe.readEnd().read(new byte[8], 0, 8));
            assertEquals(0, pipe.readEnd().read(arena.allocate(8)));
            assertFalse(pipe.readEnd().awaitReadable(Duration.ofMillis(10)));
            pipe.writeEnd().write(new byte[] {42}, 0, 1);
            byte[] one = new byte[8];
            assertEquals(1, pipe.readEnd().read(one, 0, 8));
            assertEquals(42, one[0]);
            pipe.writeEnd().close();
            assertEquals(ReadEnd.EOF, pipe.readEnd().read(one, 0, 8), "non-blocking still tells EOF from empty");
        }
    }

    @Test
    void shouldWriteAShortCountWithoutBlockingWhenThePipeIsFull() throws Exception {
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofConfined()) {
            int capacity = pipe.capacity();
            pipe.writeEnd().blocking(false);
            MemorySegment big = arena.allocate(capacity * 4L);
            long n = pipe.writeEnd().write(big);
            assertTrue(n > 0 && n < big.byteSize(), "a short count, not all and not nothing: " + n);
            assertEquals(0, pipe.writeEnd().write(big), "nothing more fits");
            assertEquals(0, pipe.writeEnd().write(new byte[100], 0, 100), "nothing more fits from an array either");
            assertFalse(pipe.writeEnd().awaitWritable(Duration.ofMillis(10)));
            // what was accepted is exactly what can be read back
            pipe.writeEnd().close();
            long total = 0;
            MemorySegment buf = arena.allocate(65536);
            for (long r; (r = pipe.readEnd().read(buf)) != ReadEnd.EOF; ) total += r;
            assertEquals(n, total);
        }
    }

    @Test
    void shouldGrowTheKernelBufferWhenAsked() throws Exception {
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofConfined()) {
            int before = pipe.capacity();
            int granted = pipe.capacity(1 << 20);
            assertTrue(granted >= 1 << 20, "asked 1 MiB, got " + granted);
            assertEquals(granted, pipe.capacity(), "F_GETPIPE_SZ reports what F_SETPIPE_SZ granted");
            assertTrue(granted > before);
            // and the kernel really holds that much: a non-blocking write fills exactly the capacity
            pipe.writeEnd().blocking(false);
            assertEquals(granted, pipe.writeEnd().write(arena.allocate(granted * 2L)));
            assertThrows(IllegalArgumentException.class, () -> pipe.capacity(0));
        }
    }

    @Test
    void shouldWakeAReaderBlockedInReadWithAsynchronousCloseException() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            Future<Integer> read = Blocking.startAndAwaitBlocked("poll", () -> pipe.readEnd().read(new byte[8], 0, 8));
            assertFalse(read.isDone(), "the read must be blocked before the close");
            pipe.readEnd().close();
            ExecutionException e = assertThrows(ExecutionException.class, () -> read.get(10, TimeUnit.SECONDS));
            assertInstanceOf(AsynchronousCloseException.class, e.getCause());
            assertFalse(pipe.readEnd().isOpen());
        }
    }

    @Test
    void shouldGiveAChildADescriptionOfItsOwnOfALentEnd() throws Exception {
        // Programs expect a blocking stdin and stdout, and the ends want O_NONBLOCK (their waits in poll, where
        // close() reaches them): two descriptions of the same pipe give both, where one shared description, put
        // back in blocking mode for the child, left the ends to poll before each call, racing the child for bytes.
        try (Pipe in = Pipe.open(); Pipe out = Pipe.open();
             Subprocess child = Subprocess.builder(List.of("sleep", "30")).stdin(Redirect.from(in.readEnd()))
                     .stdout(Redirect.to(out.writeEnd())).destroyGrace(Duration.ofMillis(100)).start()) {
            in.readEnd().blocking(false);
            assertEquals(0, in.readEnd().read(new byte[1], 0, 1), "nothing to read yet");
            assertEquals(1, out.writeEnd().write(new byte[1], 0, 1));
            assertEquals(1, out.readEnd().read(new byte[1], 0, 1));
            for (var end : List.of(Map.entry((int) in.readEnd().nativeHandle(), 0), Map.entry((int) out.writeEnd().nativeHandle(), 1))) {
                String ours = "/proc/self/fd/" + end.getKey(), theirs = "/proc/" + child.pid() + "/fd/" + end.getValue();
                assertEquals(Files.readSymbolicLink(Path.of(ours)),
                        Files.readSymbolicLink(Path.of(theirs)), "the same pipe: " + ours + ", " + theirs);
                assertTrue(nonBlocking("/proc/self/fdinfo/" + end.getKey()), "the end's own description: O_NONBLOCK");
                assertFalse(nonBlocking("/proc/" + child.pid() + "/fdinfo/" + end.getValue()), "the child's: blocking");
            }
            assertTrue(child.isAlive());
        }
    }

    /** Whether the description behind an fd, by its {@code /proc/PID/fdinfo/FD}, has O_NONBLOCK set. */
    static boolean nonBlocking(String fdinfo) throws Exception {
        for (String line : Files.readAllLines(Path.of(fdinfo))) {
            if (line.startsWith("flags:")) return (Integer.parseInt(line.substring(6).trim(), 8) & linux_h.O_NONBLOCK()) != 0;
        }
        throw new AssertionError("no flags: line in " + fdinfo);
    }

    @Test
    void shouldWakeAReaderOfAnEndLentToAChildWithAsynchronousCloseException() throws Exception {
        // Lent to a child, the end's description was once shared and back in blocking mode, as the child expects,
        // and a blocking read went straight into read(2) there, where close() cannot reach it.
        try (Pipe pipe = Pipe.open();
             Subprocess child = Subprocess.builder(List.of("sleep", "30")).stdin(Redirect.from(pipe.readEnd()))
                     .destroyGrace(Duration.ofMillis(100)).start()) {
            // Also "pipe": a read that went into read(2) again must make this test fail, not wait for ever.
            Future<Integer> read = Blocking.startAndAwaitBlocked(List.of("poll", "pipe"), () -> pipe.readEnd().read(new byte[8], 0, 8));
            pipe.readEnd().close();
            Throwable thrown = Blocking.failureOrFree(read, () -> {
                try {
                    pipe.writeEnd().write(new byte[1], 0, 1);   // what frees a read(2) that close() could not
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }, "close() did not wake a reader of an end lent to a child");
            assertInstanceOf(AsynchronousCloseException.class, thrown);
            assertTrue(child.isAlive(), "the child's copy of the end is its own");
        }
    }

    @Test
    void shouldWakeAReaderOfALentEndWhoseBytesAnotherReaderTookWithAsynchronousCloseException() throws Exception {
        // The mirror of the writers' race below. Before lent pipe ends were given a description of their own, the
        // reader polled, then read(2) on the shared, blocking description; since preadv2(RWF_NOWAIT), it did not.
        try (Pipe pipe = Pipe.open()) {
            LentEndRaces.assertReaderOfLentEndSleepsOnlyWhereCloseReachesIt(pipe);
        }
    }

    @Test
    void shouldWakeAWriterBlockedOnAFullPipeWithAsynchronousCloseException() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            fill(pipe);
            Future<Integer> write = Blocking.startAndAwaitBlocked("poll", () -> pipe.writeEnd().write(new byte[4096], 0, 4096));
            assertFalse(write.isDone(), "the write must be blocked before the close");
            pipe.writeEnd().close();
            ExecutionException e = assertThrows(ExecutionException.class, () -> write.get(10, TimeUnit.SECONDS));
            assertInstanceOf(AsynchronousCloseException.class, e.getCause());
        }
    }

    @Test
    void shouldWakeAWriterOfAnEndLentToAChildWithAsynchronousCloseException() throws Exception {
        // As for reads: lent to a child, the end's description was once shared and back in blocking mode, and a
        // blocking write of more than fits went straight into write(2), which sleeps there until the rest fits.
        // Nobody reads here: the write fills the pipe and waits, where close() must reach it.
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofShared();
             Subprocess child = Subprocess.builder(List.of("sleep", "30")).stdout(Redirect.to(pipe.writeEnd()))
                     .destroyGrace(Duration.ofMillis(100)).start()) {
            int capacity = pipe.capacity();
            MemorySegment more = arena.allocate(capacity * 2L);
            Future<Long> write = Blocking.startAndAwaitBlocked(List.of("poll", "pipe"), () -> pipe.writeEnd().write(more));
            assertFalse(write.isDone(), "the write must be blocked before the close");
            pipe.writeEnd().close();
            Throwable thrown = Blocking.failureOrFree(write, pipe.readEnd()::close, "close() did not wake a writer of an end lent to a child");
            assertInstanceOf(AsynchronousCloseException.class, thrown);
            assertEquals(capacity, drain(pipe.readEnd()), "what the write put in before the close stays for the reader");
            assertTrue(child.isAlive(), "the child's copy of the end is its own");
        }
    }

    @Test
    void shouldWakeAWriterOfALentEndWhoseRoomAnotherWriterTookWithAsynchronousCloseException() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            LentEndRaces.assertWriterOfLentEndSleepsOnlyWhereCloseReachesIt(pipe);
        }
    }

    @Test
    void shouldWriteAShortCountWithoutBlockingOnAnEndLentToAChild() throws Exception {
        // Were the description shared, it would be in blocking mode, where write(2) waits until all of its bytes are
        // in: a non-blocking write must still take only what fits now.
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofShared();
             Subprocess child = Subprocess.builder(List.of("sleep", "30")).stdout(Redirect.to(pipe.writeEnd()))
                     .destroyGrace(Duration.ofMillis(100)).start()) {
            int capacity = pipe.capacity();
            pipe.writeEnd().blocking(false);
            MemorySegment big = arena.allocate(capacity * 4L);
            Future<Long> write = Blocking.startAndAwaitBlocked(List.of("poll", "pipe"), () -> pipe.writeEnd().write(big));
            long n = Blocking.resultOrFree(write, pipe.readEnd()::close, "a non-blocking write to an end lent to a child blocked");
            assertEquals(capacity, n, "what fits now: the pipe's capacity");
            assertEquals(0, pipe.writeEnd().write(big), "nothing more fits");
            assertEquals(0, pipe.writeEnd().write(new byte[100], 0, 100), "nothing more fits from an array either");
            assertEquals(capacity, drain(pipe.readEnd()));
            assertTrue(child.isAlive());
        }
    }

    @Test
    void shouldWakeEveryThreadWaitingForReadabilityOnClose() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            Future<Boolean> first = Blocking.startAndAwaitBlocked("poll", () -> pipe.readEnd().awaitReadable(null));
            Future<Boolean> second = Blocking.startAndAwaitBlocked("poll", () -> pipe.readEnd().awaitReadable(null));
            pipe.readEnd().close();
            for (Future<Boolean> f : java.util.List.of(first, second)) {
                ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
                assertInstanceOf(AsynchronousCloseException.class, e.getCause());
            }
        }
    }

    @Test
    void shouldCloseCleanlyWhileAnotherThreadIsBetweenReads() throws Exception {
        // close() while a reader is inside read(): the closer rings the wake-up eventfd, and the reader's
        // release may close that eventfd at the same moment. close() must neither fail nor write into an
        // fd that is already closed (and could by then belong to someone else).
        for (int i = 0; i < 2000; i++) {
            try (Pipe pipe = Pipe.open()) {
                CountDownLatch reading = new CountDownLatch(1);
                Thread reader = Thread.ofPlatform().start(() -> {
                    byte[] b = new byte[1];
                    reading.countDown();
                    try {
                        while (pipe.readEnd().read(b, 0, 1) != ReadEnd.EOF) {
                            // one byte at a time: many calls in flight, each acquire/release
                        }
                    } catch (AsynchronousCloseException | IllegalStateException expected) {
                        // closed under it, or before it came back for more: both fine
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                });
                reading.await();
                for (int k = 0; k < 20; k++) pipe.writeEnd().write(new byte[1], 0, 1);
                pipe.readEnd().close();   // must not throw
                reader.join();
            }
        }
    }

    @Test
    void shouldRefuseUseAfterCloseAndCloseIdempotently() throws Exception {
        Pipe pipe = Pipe.open();
        ReadEnd r = pipe.readEnd();
        WriteEnd w = pipe.writeEnd();
        pipe.close();
        pipe.close();
        r.close();
        w.close();
        assertFalse(r.isOpen());
        assertFalse(w.isOpen());
        assertEquals(-1, r.nativeHandle());
        assertEquals(-1, w.nativeHandle());
        assertThrows(IllegalStateException.class, () -> r.read(new byte[1], 0, 1));
        assertThrows(IllegalStateException.class, () -> w.write(new byte[1], 0, 1));
        assertThrows(IllegalStateException.class, () -> r.awaitReadable(Duration.ZERO));
        assertThrows(IllegalStateException.class, () -> w.awaitWritable(Duration.ZERO));
        assertThrows(IllegalStateException.class, () -> r.blocking(false));
        assertThrows(IllegalStateException.class, pipe::capacity);
    }

    @Test
    void shouldCloseOnlyTheEndThatIsClosed() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            pipe.writeEnd().write(new byte[] {9}, 0, 1);
            pipe.writeEnd().close();
            assertTrue(pipe.readEnd().isOpen());
            assertTrue(pipe.capacity() > 0, "capacity is still known through the open end");
            byte[] b = new byte[1];
            assertEquals(1, pipe.readEnd().read(b, 0, 1));
        }
    }

    @Test
    void shouldMakeBothEndsCloseOnExec() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            for (long fd : new long[] {pipe.readEnd().nativeHandle(), pipe.writeEnd().nativeHandle()}) {
                int flags = Syscalls.fcntl((int) fd, linux_h.F_GETFD(), 0);
                assertEquals(linux_h.FD_CLOEXEC(), flags & linux_h.FD_CLOEXEC(), "fd " + fd + " is not close-on-exec");
            }
        }
    }

    @Test
    void shouldStreamThroughInputAndOutputStreams() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            byte[] data = new byte[300_000];
            new java.util.Random(1).nextBytes(data);
            Thread writer = Thread.ofPlatform().start(() -> {
                try (OutputStream out = pipe.writeEnd().asOutputStream()) {
                    out.write(data);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            byte[] got;
            try (InputStream in = pipe.readEnd().asInputStream()) {
                got = in.readAllBytes();
            }
            writer.join();
            assertArrayEquals(data, got);
            assertFalse(pipe.writeEnd().isOpen(), "closing the stream closes the end");
        }
    }

    @Test
    void shouldWaitForReadinessWithATimeoutTooLongToCountInMilliseconds() throws Exception {
        // Duration.ofSeconds(Long.MAX_VALUE) has no millisecond count: it used to be "ArithmeticException: long overflow"
        Duration forever = Duration.ofSeconds(Long.MAX_VALUE);
        try (Pipe pipe = Pipe.open()) {
            Future<Boolean> readable = Blocking.startAndAwaitBlocked("poll", () -> pipe.readEnd().awaitReadable(forever));
            assertFalse(readable.isDone(), "a huge timeout waits as long as no limit does");
            pipe.writeEnd().write(new byte[] {1}, 0, 1);
            assertTrue(readable.get(10, TimeUnit.SECONDS));
            assertTrue(pipe.readEnd().awaitReadable(Duration.ofDays(365)), "more than poll's int of milliseconds");
            assertTrue(pipe.writeEnd().awaitWritable(forever));
            fill(pipe);
            Future<Boolean> writable = Blocking.startAndAwaitBlocked("poll", () -> pipe.writeEnd().awaitWritable(forever));
            assertFalse(writable.isDone(), "a full pipe is not writable, however long the wait");
            pipe.readEnd().read(new byte[65536], 0, 65536);
            assertTrue(writable.get(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void shouldRoundASubMillisecondTimeoutUpToAMillisecondNotDownToNoWait() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            for (Duration tiny : java.util.List.of(Duration.ofNanos(1), Duration.ofNanos(999_999))) {
                long t0 = System.nanoTime();
                assertFalse(pipe.readEnd().awaitReadable(tiny));
                long waited = System.nanoTime() - t0;
                assertTrue(waited >= 1_000_000, "awaitReadable(" + tiny + ") waited " + waited + " ns, less than poll's 1 ms unit");
            }
            fill(pipe);
            long t0 = System.nanoTime();
            assertFalse(pipe.writeEnd().awaitWritable(Duration.ofNanos(1)));
            long waited = System.nanoTime() - t0;
            assertTrue(waited >= 1_000_000, "awaitWritable(PT0.000000001S) waited " + waited + " ns");
        }
    }

    @Test
    void shouldRefuseANegativeTimeoutNamingIt() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            IllegalArgumentException read = assertThrows(IllegalArgumentException.class, () -> pipe.readEnd().awaitReadable(Duration.ofMillis(-1)));
            assertEquals("negative timeout: PT-0.001S", read.getMessage());
            IllegalArgumentException write = assertThrows(IllegalArgumentException.class, () -> pipe.writeEnd().awaitWritable(Duration.ofSeconds(-5)));
            assertEquals("negative timeout: PT-5S", write.getMessage());
            assertTrue(pipe.readEnd().isOpen() && pipe.writeEnd().isOpen(), "a refused wait leaves the ends as they were");
        }
    }

    /** Reads what is in the pipe now, without waiting for more (a child may hold a write end open): the byte count. */
    static long drain(ReadEnd end) throws Exception {
        end.blocking(false);
        byte[] buf = new byte[65536];
        long total = 0;
        for (int n; (n = end.read(buf, 0, buf.length)) > 0; ) total += n;
        return total;
    }

    /** Fills the pipe to the brim without blocking, then puts the write end back in blocking mode. */
    static void fill(Pipe pipe) throws Exception {
        pipe.writeEnd().blocking(false);
        byte[] chunk = new byte[65536];
        while (pipe.writeEnd().write(chunk, 0, chunk.length) > 0) {
            // keep going until nothing fits
        }
        pipe.writeEnd().blocking(true);
    }

    /**
     * A reader is blocked when the pipe is closed, and waking it fails (its wake-up eventfd was replaced
     * behind the pipe's back): close says so, and still closes the write end, whose close then wakes it.
     */
    @Test
    void shouldCloseTheWriteEndWhenClosingTheReadEndFails() throws Exception {
        Pipe pipe = Pipe.open();
        try {
            Map<Integer, String> before = LeakCheck.openFds();
            CompletableFuture<Throwable> reader = CompletableFuture.supplyAsync(() -> {
                try {
                    pipe.readEnd().read(new byte[1], 0, 1);
                    return null;
                } catch (Throwable t) {
                    return t;
                }
            }, r -> Thread.ofPlatform().name("blocked-reader").start(r));
            BehindTheBack.replaceWithReadOnlyDevNull(BehindTheBack.newEventFd(before));

            IllegalStateException e = assertThrows(IllegalStateException.class, pipe::close);
            assertTrue(e.getMessage().startsWith("waking the threads blocked on pipe read end"), e.getMessage());
            assertFalse(pipe.writeEnd().isOpen(), "the write end is closed all the same");
            assertInstanceOf(AsynchronousCloseException.class, reader.get(10, TimeUnit.SECONDS));
        } finally {
            pipe.writeEnd().close();     // if the pipe's close left it open, the reader would wait for ever
        }
    }
}
