package dev.panpipe.io;

import dev.panpipe.bindings.BrokenPipeException;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.AsynchronousCloseException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** vmsplice into pipes: byte-exact streams, the buffer-reuse rule, partial writes, errors and closing. */
@ExtendWith(LeakCheck.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VmspliceTest {
    private static final long PAGE = VmspliceWriter.pageSize();
    private static final int MiB = 1 << 20;

    // ---- whole streams ------------------------------------------------------------------------------------

    @Test
    void shouldCarry64MiBThroughARingToSha256sumInAChild() throws Exception {
        byte[] sent;
        String printed;
        try (Subprocess sha = Subprocess.builder("sha256sum").stderr(Redirect.inherit()).start()) {
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> {
                try {
                    return Io.readAllUtf8(sha.stdout());
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, r -> Thread.ofPlatform().name("sha256sum-stdout").start(r));
            try (VmspliceRing ring = VmspliceRing.over(sha.stdin(), MiB)) {
                sent = streamRandom(ring, 64 * MiB, MiB);
            }
            sha.stdin().close();
            printed = out.get(30, TimeUnit.SECONDS);
            assertEquals(ExitStatus.exited(0), sha.waitFor());
        }
        assertEquals(HexFormat.of().formatHex(sent) + "  -\n", printed, "what sha256sum read differs from what went in");
    }

    @Test
    void shouldCarry64MiBThroughCatByteExact() throws Exception {
        try (Subprocess cat = Subprocess.builder("cat").stderr(Redirect.inherit()).start()) {
            // 256 KiB buffers and odd commit lengths: the last page of most commits is a partial one
            CompletableFuture<byte[]> sent = CompletableFuture.supplyAsync(() -> {
                try (VmspliceRing ring = VmspliceRing.over(cat.stdin(), 256 << 10)) {
                    byte[] digest = streamRandom(ring, 64 * MiB, (256 << 10) - 999);
                    cat.stdin().close();
                    return digest;
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, r -> Thread.ofPlatform().name("vmsplice-writer").start(r));
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            long received = 0;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment buf = arena.allocate(MiB);
                for (long n; (n = cat.stdout().read(buf)) != ReadEnd.EOF; ) {
                    sha.update(buf.asSlice(0, n).asByteBuffer());
                    received += n;
                }
            }
            assertEquals(64 * MiB, received);
            assertArrayEquals(sent.get(30, TimeUnit.SECONDS), sha.digest(), "what came out of cat differs from what went in");
            assertEquals(ExitStatus.exited(0), cat.waitFor());
        }
    }

    @Test
    void shouldCarryAStreamToAnInProcessReader() throws Exception {
        try (Pipe pipe = Pipe.open(); VmspliceRing ring = VmspliceRing.over(pipe.writeEnd(), 64 << 10)) {
            assertEquals(2 * pipe.capacity() / (64 << 10), ring.buffers(), "by default the buffers add up to twice the capacity");
            Future<Long> checked = checkingReader(pipe.readEnd(), 0, 0);
            long total = 16 * MiB + 123;
            writeAgainst(checked, () -> {
                for (long pos = 0; pos < total; ) {
                    MemorySegment buf = ring.claim();
                    long n = Math.min(buf.byteSize(), total - pos);
                    fillPattern(buf, n, pos);
                    assertTrue(ring.commit(n));
                    pos += n;
                }
            });
            assertEquals(total, ring.writer().written());
            pipe.writeEnd().close();
            assertEquals(total, checked.get(30, TimeUnit.SECONDS));
        }
    }

    // ---- the reuse rule ------------------------------------------------------------------------------------

    @Test
    void shouldHandThePipeReferencesToThePagesNotCopies() throws Exception {
        // The premise of the reuse rule: writing to spliced memory before the reader has it changes what the
        // reader gets. (If a kernel ever copies in vmsplice, this fails and the rule is moot, not broken.)
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofConfined()) {
            VmspliceWriter out = VmspliceWriter.over(pipe.writeEnd());
            MemorySegment pages = arena.allocate(2 * PAGE, PAGE);
            pages.fill((byte) 'A');
            assertEquals(2 * PAGE, out.write(pages));
            assertEquals(0, out.consumed(), "nothing read yet");
            pages.fill((byte) 'B');                            // too early: the reader has not read yet
            MemorySegment got = arena.allocate(2 * PAGE);
            assertEquals(2 * PAGE, pipe.readEnd().readFully(got));
            assertEquals((byte) 'B', got.get(ValueLayout.JAVA_BYTE, 0), "the reader sees the pages as they are when it reads");
            assertEquals(2 * PAGE, out.consumed());
        }
    }

    @Test
    void shouldNotHandOutABufferWhoseBytesTheReaderStillHasAfterShortCommits() throws Exception {
        // 16 KiB buffers over the kernel's 64 KiB pipe: 8 buffers. Commits of a few hundred bytes take one
        // pipe slot (a page) each, so 7 commits leave the 16-slot pipe with room while buffer 0's bytes are
        // still in it: the capacity arithmetic alone would hand buffer 0 out again too early.
        try (Pipe pipe = Pipe.open(); VmspliceRing ring = VmspliceRing.over(pipe.writeEnd(), 16 << 10)) {
            assertEquals(64 << 10, pipe.capacity());
            assertEquals(8, ring.buffers());
            Future<Long> checked = checkingReader(pipe.readEnd(), 200, 64);
            SplittableRandom lengths = new SplittableRandom(7);
            writeAgainst(checked, () -> {
                long pos = 0;
                for (int i = 0; i < 1000; i++) {
                    MemorySegment buf = ring.claim();
                    long n = 1 + lengths.nextInt(1200);
                    fillPattern(buf, n, pos);
                    assertTrue(ring.commit(n));
                    pos += n;
                }
            });
            pipe.writeEnd().close();
            assertEquals(ring.writer().written(), checked.get(30, TimeUnit.SECONDS));
        }
    }

    @Test
    void shouldNotHandOutABufferTooEarlyWhenThePipeGrowsAfterTheRingIsMade() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            pipe.capacity(4096);
            try (VmspliceRing ring = VmspliceRing.over(pipe.writeEnd(), PAGE, 2)) {
                pipe.capacity(MiB);                            // the reader's side may do this at any time
                Future<Long> checked = checkingReader(pipe.readEnd(), 200, 16);
                writeAgainst(checked, () -> {
                    for (int i = 0; i < 500; i++) {
                        MemorySegment buf = ring.claim();
                        fillPattern(buf, PAGE, i * PAGE);
                        assertTrue(ring.commit(PAGE));
                    }
                });
                pipe.writeEnd().close();
                assertEquals(500 * PAGE, checked.get(30, TimeUnit.SECONDS));
            }
        }
    }

    @Test
    void shouldKeepSplicedBytesIntactAfterTheRingIsClosed() throws Exception {
        // A small ring (two pages) over a one-page pipe: memory that small would come from malloc's own heap,
        // and go straight back to the next allocation of its size, had the ring not mapped it.
        try (Pipe pipe = Pipe.open(); Pipe other = Pipe.open()) {
            pipe.capacity((int) PAGE);
            other.capacity((int) PAGE);
            try (VmspliceRing ring = VmspliceRing.over(pipe.writeEnd(), PAGE, 2)) {
                MemorySegment buf = ring.claim();
                fillPattern(buf, PAGE, 0);
                assertTrue(ring.commit(PAGE));
            }
            // Reuse the memory as hard as a busy program would: a new ring of the same shape (mmap tends to
            // hand out the range just unmapped) and malloc'd memory of the same sizes, scribbled on.
            try (VmspliceRing scribble = VmspliceRing.over(other.writeEnd(), PAGE, 2); Arena arena = Arena.ofConfined()) {
                scribble.claim().fill((byte) 0x5a);
                scribble.abort();
                for (int i = 0; i < 64; i++) {
                    arena.allocate(PAGE, PAGE).fill((byte) 0x5a);
                    arena.allocate(2 * PAGE, PAGE).fill((byte) 0x5a);
                }
                pipe.writeEnd().close();
                assertEquals(PAGE, checkingReader(pipe.readEnd(), 0, 0).get(10, TimeUnit.SECONDS));
            }
        }
    }

    @Test
    void shouldUnmapTheBuffersOnClose() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            VmspliceRing ring = VmspliceRing.over(pipe.writeEnd(), 64 << 10);
            MemorySegment buf = ring.claim();
            long address = buf.address();
            assertTrue(isMapped(address), "the buffers are a mapping of their own");
            ring.close();
            ring.close();
            assertFalse(isMapped(address), "unmapped on close");
            assertThrows(IllegalStateException.class, () -> buf.get(ValueLayout.JAVA_BYTE, 0), "the claimed segment dies with the ring");
            assertThrows(IllegalStateException.class, ring::claim);
            assertTrue(pipe.writeEnd().isOpen(), "the write end belongs to its owner");
        }
    }

    // ---- partial writes, blocking and not ---------------------------------------------------------------

    @Test
    void shouldContinuePartialWritesThroughAOnePagePipeToASlowReader() throws Exception {
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofShared()) {
            assertEquals(4096, pipe.capacity(4096));
            VmspliceWriter out = VmspliceWriter.over(pipe.writeEnd());
            long total = MiB + 100;                            // and a partial last page
            MemorySegment pages = arena.allocate(total, PAGE);
            fillPattern(pages, total, 0);
            Future<Long> checked = checkingReader(pipe.readEnd(), 0, 8);
            writeAgainst(checked, () -> assertEquals(total, out.write(pages), "blocking: all of it, one page per vmsplice"));
            assertEquals(total, out.written());
            pipe.writeEnd().close();
            assertEquals(total, checked.get(30, TimeUnit.SECONDS));
        }
    }

    @Test
    void shouldWriteWhatFitsWithoutBlockingAndGoOnFromThere() throws Exception {
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofConfined()) {
            pipe.capacity(4 * (int) PAGE);
            VmspliceWriter out = VmspliceWriter.over(pipe.writeEnd());
            pipe.writeEnd().blocking(false);
            long total = 10 * PAGE + 10;
            MemorySegment pages = arena.allocate(total, PAGE);
            fillPattern(pages, total, 0);
            MemorySegment got = arena.allocate(total);
            long sent = out.write(pages);
            assertEquals(4 * PAGE, sent, "a short count: the four pages that fit");
            assertEquals(0, out.write(pages.asSlice(sent)), "nothing more fits");
            long read = 0;
            while (read < total) {
                read += pipe.readEnd().read(got.asSlice(read, Math.min(PAGE + 1, total - read)));
                if (sent < total) sent += out.write(pages.asSlice(sent));
            }
            assertEquals(total, sent);
            assertEquals(-1, pages.mismatch(got));
            assertEquals(total, out.consumed());
        }
    }

    @Test
    void shouldFinishAPartialCommitWhenCalledAgain() throws Exception {
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofConfined()) {
            pipe.capacity(2 * (int) PAGE);
            try (VmspliceRing ring = VmspliceRing.over(pipe.writeEnd(), 2 * PAGE)) {
                pipe.writeEnd().blocking(false);
                MemorySegment first = ring.claim();
                fillPattern(first, 2 * PAGE, 0);
                assertTrue(ring.commit(2 * PAGE));
                MemorySegment half = arena.allocate(PAGE);
                pipe.readEnd().readFully(half);                // one slot free
                MemorySegment second = ring.claim();
                assertNotNull(second);
                fillPattern(second, 2 * PAGE, 2 * PAGE);
                assertFalse(ring.commit(2 * PAGE), "only one page fits");
                assertThrows(IllegalStateException.class, ring::abort, "part of the claim is already in the pipe");
                assertThrows(IllegalStateException.class, ring::claim, "one claim at a time");
                assertThrows(IllegalArgumentException.class, () -> ring.commit(PAGE - 1), "less than already spliced");
                assertFalse(ring.commit(2 * PAGE), "still full");
                MemorySegment rest = arena.allocate(3 * PAGE);
                assertEquals(2 * PAGE, pipe.readEnd().read(rest));
                assertTrue(ring.commit(2 * PAGE), "the rest goes in");
                assertEquals(PAGE, pipe.readEnd().read(rest.asSlice(2 * PAGE)));
                MemorySegment expected = arena.allocate(4 * PAGE);
                fillPattern(expected, 4 * PAGE, 0);
                assertEquals(-1, expected.asSlice(PAGE).mismatch(rest));
            }
        }
    }

    @Test
    void shouldReturnNullFromANonBlockingClaimWhileTheReaderHasTheBuffer() throws Exception {
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofConfined();
             VmspliceRing ring = VmspliceRing.over(pipe.writeEnd(), 64 << 10, 2)) {
            pipe.writeEnd().blocking(false);
            leaveBufferZeroInAPipeWithRoom(ring);
            assertNull(ring.claim(), "buffer 0's bytes are still in the pipe, which has room");
            MemorySegment got = arena.allocate(100);
            assertEquals(100, pipe.readEnd().read(got));
            MemorySegment again = ring.claim();
            assertNotNull(again, "read: buffer 0 is free");
            assertEquals(1, again.get(ValueLayout.JAVA_BYTE, 0));
            ring.abort();
            assertEquals(again.address(), ring.claim().address(), "an aborted claim comes back");
        }
    }

    @Test
    void shouldMakeABlockingClaimWaitUntilTheReaderHasTheBuffer() throws Exception {
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofShared();
             VmspliceRing ring = VmspliceRing.over(pipe.writeEnd(), 64 << 10, 2)) {
            leaveBufferZeroInAPipeWithRoom(ring);
            Future<MemorySegment> claim = Blocking.startAndAwaitBlocked("poll", ring::claim);
            assertFalse(claim.isDone());
            MemorySegment got = arena.allocate(150);
            assertEquals(150, pipe.readEnd().readFully(got));
            assertEquals(1, claim.get(10, TimeUnit.SECONDS).get(ValueLayout.JAVA_BYTE, 0), "buffer 0, as the reader left it");
        }
    }

    // ---- errors and closing ---------------------------------------------------------------------------------

    @Test
    void shouldThrowBrokenPipeWhenTheReaderHasClosed() throws Exception {
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofConfined()) {
            VmspliceWriter out = VmspliceWriter.over(pipe.writeEnd());
            pipe.readEnd().close();
            BrokenPipeException e = assertThrows(BrokenPipeException.class, () -> out.write(arena.allocate(PAGE, PAGE)));
            assertEquals("vmsplice: EPIPE (Broken pipe)", e.getMessage());
        }
    }

    @Test
    void shouldThrowBrokenPipeToAWriterBlockedOnAFullPipeWhenTheReaderCloses() throws Exception {
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofShared()) {
            VmspliceWriter out = VmspliceWriter.over(pipe.writeEnd());
            MemorySegment pages = arena.allocate(pipe.capacity() * 2L, PAGE);
            Future<Long> write = Blocking.startAndAwaitBlocked("poll", () -> out.write(pages));
            pipe.readEnd().close();
            ExecutionException e = assertThrows(ExecutionException.class, () -> write.get(10, TimeUnit.SECONDS));
            assertInstanceOf(BrokenPipeException.class, e.getCause());
            assertEquals(pipe.capacity(), out.written(), "what fitted before the pipe filled up");
        }
    }

    @Test
    void shouldThrowBrokenPipeToAClaimWaitingForAReaderThatCloses() throws Exception {
        try (Pipe pipe = Pipe.open(); VmspliceRing ring = VmspliceRing.over(pipe.writeEnd(), 64 << 10, 2)) {
            leaveBufferZeroInAPipeWithRoom(ring);
            Future<MemorySegment> claim = Blocking.startAndAwaitBlocked("poll", ring::claim);
            pipe.readEnd().close();
            ExecutionException e = assertThrows(ExecutionException.class, () -> claim.get(10, TimeUnit.SECONDS));
            assertInstanceOf(BrokenPipeException.class, e.getCause());
        }
    }

    @Test
    void shouldWakeAWriterBlockedOnAFullPipeWhenTheWriteEndCloses() throws Exception {
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofShared()) {
            VmspliceWriter out = VmspliceWriter.over(pipe.writeEnd());
            MemorySegment pages = arena.allocate(pipe.capacity() * 2L, PAGE);
            Future<Long> write = Blocking.startAndAwaitBlocked("poll", () -> out.write(pages));
            assertFalse(write.isDone(), "the write must be blocked before the close");
            pipe.writeEnd().close();
            ExecutionException e = assertThrows(ExecutionException.class, () -> write.get(10, TimeUnit.SECONDS));
            assertInstanceOf(AsynchronousCloseException.class, e.getCause());
            assertThrows(IllegalStateException.class, () -> out.write(pages), "the write end is closed");
            assertThrows(IllegalStateException.class, out::consumed);
        }
    }

    @Test
    void shouldWakeAWriterBlockedOnAFullPipeLentToAChildWhenTheWriteEndCloses() throws Exception {
        // Lent to a child, the description is back in blocking mode; vmsplice must still wait where close reaches it.
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofShared();
             Subprocess child = Subprocess.builder(List.of("sleep", "30")).stdout(Redirect.to(pipe.writeEnd()))
                     .destroyGrace(Duration.ofMillis(100)).start()) {
            VmspliceWriter out = VmspliceWriter.over(pipe.writeEnd());
            int capacity = pipe.capacity();
            MemorySegment pages = arena.allocate(capacity * 2L, PAGE);
            Future<Long> write = Blocking.startAndAwaitBlocked(List.of("poll", "pipe", "splice"), () -> out.write(pages));
            assertFalse(write.isDone(), "the write must be blocked before the close");
            pipe.writeEnd().close();
            Throwable thrown = Blocking.failureOrFree(write, pipe.readEnd()::close, "close() did not wake a vmsplice writer of an end lent to a child");
            assertInstanceOf(AsynchronousCloseException.class, thrown);
            assertEquals(capacity, out.written(), "what fitted before the close");
            assertTrue(child.isAlive(), "the child's copy of the end is its own");
        }
    }

    @Test
    void shouldWakeAClaimWaitingForTheReaderWhenTheWriteEndCloses() throws Exception {
        try (Pipe pipe = Pipe.open(); VmspliceRing ring = VmspliceRing.over(pipe.writeEnd(), 64 << 10, 2)) {
            leaveBufferZeroInAPipeWithRoom(ring);
            Future<MemorySegment> claim = Blocking.startAndAwaitBlocked("poll", ring::claim);
            pipe.writeEnd().close();
            ExecutionException e = assertThrows(ExecutionException.class, () -> claim.get(10, TimeUnit.SECONDS));
            assertInstanceOf(AsynchronousCloseException.class, e.getCause());
            assertThrows(IllegalStateException.class, ring::claim, "the write end is closed");
        }
    }

    @Test
    void shouldRefuseMemoryVmspliceCannotTake() throws Exception {
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofConfined()) {
            VmspliceWriter out = VmspliceWriter.over(pipe.writeEnd());
            IllegalArgumentException heap = assertThrows(IllegalArgumentException.class,
                    () -> out.write(MemorySegment.ofArray(new byte[4096])));
            assertTrue(heap.getMessage().contains("native memory, not a heap segment"), heap.getMessage());
            MemorySegment aligned = arena.allocate(4 * PAGE, PAGE);
            IllegalArgumentException unaligned = assertThrows(IllegalArgumentException.class, () -> out.write(aligned.asSlice(8)));
            assertTrue(unaligned.getMessage().contains("page-aligned memory: address 0x" + Long.toHexString(aligned.address() + 8)
                    + " is 8 bytes past a " + PAGE + "-byte page boundary"), unaligned.getMessage());
            IllegalArgumentException partial = assertThrows(IllegalArgumentException.class, () -> out.gift(aligned.asSlice(0, PAGE + 1)));
            assertEquals("a gift must be whole pages: " + (PAGE + 1) + " bytes is not a multiple of " + PAGE, partial.getMessage());
            assertEquals(0, out.written(), "nothing was spliced");
            assertEquals(0, out.write(aligned.asSlice(0, 0)));
        }
    }

    @Test
    void shouldRefuseARingTheCapacityCannotBeCoveredWith() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            int capacity = pipe.capacity();
            IllegalArgumentException size = assertThrows(IllegalArgumentException.class, () -> VmspliceRing.over(pipe.writeEnd(), 1000));
            assertEquals("bufferSize must be a positive multiple of the page size " + PAGE + ": 1000", size.getMessage());
            IllegalArgumentException few = assertThrows(IllegalArgumentException.class,
                    () -> VmspliceRing.over(pipe.writeEnd(), capacity / 2, 2));
            assertTrue(few.getMessage().startsWith("too few buffers for the pipe: buffers=2, bufferSize=" + capacity / 2
                    + ", pipe capacity=" + capacity), few.getMessage());
            assertThrows(IllegalArgumentException.class, () -> VmspliceRing.over(pipe.writeEnd(), PAGE, 0));
            assertThrows(IllegalArgumentException.class, () -> VmspliceRing.over(pipe.writeEnd(), 1L << 40, Integer.MAX_VALUE));
            try (VmspliceRing ring = VmspliceRing.over(pipe.writeEnd(), capacity / 2, 3)) {
                assertThrows(IllegalStateException.class, () -> ring.commit(1), "no claim");
                assertThrows(IllegalStateException.class, ring::abort, "no claim");
                ring.claim();
                assertThrows(IllegalArgumentException.class, () -> ring.commit(capacity / 2 + 1), "longer than the buffer");
                assertThrows(IllegalArgumentException.class, () -> ring.commit(-1));
            }
        }
    }

    @Test
    void shouldGiftWholePagesThatArriveIntact() throws Exception {
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofConfined()) {
            VmspliceWriter out = VmspliceWriter.over(pipe.writeEnd());
            MemorySegment pages = arena.allocate(8 * PAGE, PAGE);
            fillPattern(pages, pages.byteSize(), 0);
            assertEquals(8 * PAGE, out.gift(pages));
            pipe.writeEnd().close();
            assertEquals(8 * PAGE, checkingReader(pipe.readEnd(), 0, 0).get(10, TimeUnit.SECONDS));
        }   // the arena is closed only once the reader has every byte
    }

    @Test
    void shouldSpliceIntoAFifo(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        try (Fifo fifo = Fifo.create(dir, "v"); Pipe both = fifo.openBoth();
             VmspliceRing ring = VmspliceRing.over(both.writeEnd(), PAGE * 4)) {
            MemorySegment buf = ring.claim();
            buf.setString(0, "through a FIFO", StandardCharsets.UTF_8);
            assertTrue(ring.commit(14));
            byte[] got = new byte[14];
            assertEquals(14, both.readEnd().read(got, 0, 14));
            assertEquals("through a FIFO", new String(got, StandardCharsets.UTF_8));
        }
    }

    // ---- helpers ------------------------------------------------------------------------------------------

    /** Streams {@code total} random bytes through {@code ring} in commits of {@code commit} bytes; returns their SHA-256. */
    private static byte[] streamRandom(VmspliceRing ring, long total, long commit) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        SplittableRandom random = new SplittableRandom(42);
        for (long done = 0; done < total; ) {
            MemorySegment buf = ring.claim();
            long n = Math.min(commit, total - done);
            for (long i = 0; i < n; i += 8) buf.set(ValueLayout.JAVA_LONG_UNALIGNED, i, random.nextLong());   // buffers have slack past n
            sha.update(buf.asSlice(0, n).asByteBuffer());
            assertTrue(ring.commit(n));
            done += n;
        }
        return sha.digest();
    }

    /**
     * Commits 100 bytes of 1s from buffer 0 and 100 bytes of 2s from buffer 1 of a two-buffer ring: buffer 0's
     * bytes are then still in the pipe, which has room, so claiming buffer 0 again must wait for the reader.
     */
    static void leaveBufferZeroInAPipeWithRoom(VmspliceRing ring) throws Exception {
        assertEquals(2, ring.buffers());
        for (byte b = 1; b <= 2; b++) {
            ring.claim().fill(b);
            assertTrue(ring.commit(100));
        }
    }

    @FunctionalInterface
    interface Writing {
        void run() throws Exception;
    }

    /**
     * Runs {@code writing} against a {@link #checkingReader}. A reader that finds a wrong byte closes its end,
     * which breaks the pipe under the writer: then this fails with what the reader saw.
     */
    static void writeAgainst(Future<Long> checked, Writing writing) throws Exception {
        try {
            writing.run();
        } catch (BrokenPipeException e) {
            try {
                checked.get(10, TimeUnit.SECONDS);
            } catch (ExecutionException reader) {
                throw new AssertionError(reader.getCause().getMessage(), reader.getCause());
            }
            throw e;
        }
    }

    /** The byte at stream position {@code pos}: differs between positions a buffer's length apart. */
    static byte pattern(long pos) {
        return (byte) ((pos * 0x9E3779B97F4A7C15L) >>> 56);
    }

    static void fillPattern(MemorySegment buf, long length, long startPos) {
        for (long i = 0; i < length; i++) buf.set(ValueLayout.JAVA_BYTE, i, pattern(startPos + i));
    }

    /**
     * Reads {@code end} to its end on a thread of its own, checking every byte against {@link #pattern}; waits
     * {@code startDelayMillis} first and then naps a millisecond every {@code napEvery} reads (0: never), so
     * the writer runs ahead. Returns the bytes read; fails at the first wrong one.
     */
    static Future<Long> checkingReader(ReadEnd end, long startDelayMillis, int napEvery) {
        return CompletableFuture.supplyAsync(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Thread.sleep(startDelayMillis);
                MemorySegment buf = arena.allocate(3000);      // not a page multiple: reads end mid-page
                long pos = 0;
                int reads = 0;
                for (long n; (n = end.read(buf)) != ReadEnd.EOF; ) {
                    for (long i = 0; i < n; i++) {
                        byte b = buf.get(ValueLayout.JAVA_BYTE, i);
                        if (b != pattern(pos + i)) {
                            end.close();                        // the writer gets EPIPE instead of waiting for us
                            throw new AssertionError("stream position " + (pos + i) + ": read " + b + ", expected "
                                    + pattern(pos + i) + " (a buffer reused before the reader had it?)");
                        }
                    }
                    pos += n;
                    if (napEvery > 0 && ++reads % napEvery == 0) Thread.sleep(1);
                }
                return pos;
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }, r -> Thread.ofPlatform().name("checking-reader").start(r));
    }

    /** Whether {@code address} lies in one of this process's mappings (/proc/self/maps: "start-end perms ..."). */
    private static boolean isMapped(long address) throws Exception {
        try (var lines = Files.lines(Path.of("/proc/self/maps"))) {
            return lines.anyMatch(l -> {
                String range = l.substring(0, l.indexOf(' '));
                int dash = range.indexOf('-');
                long start = Long.parseUnsignedLong(range.substring(0, dash), 16);
                long end = Long.parseUnsignedLong(range.substring(dash + 1), 16);
                return Long.compareUnsigned(address, start) >= 0 && Long.compareUnsigned(address, end) < 0;
            });
        }
    }
}
