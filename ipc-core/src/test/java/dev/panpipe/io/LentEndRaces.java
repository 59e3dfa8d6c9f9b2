package dev.panpipe.io;

import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.AsynchronousCloseException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An end lent to a child that uses the same pipe without pause, raced for every byte (or page of room) it gets:
 * whenever one comes, both the child, asleep inside read(2) or write(2), and this process's reader or writer, asleep
 * in its poll, wake, and the child mostly takes it before this process is back from its poll. A read or write made
 * because that poll had said "ready", on a description in blocking mode, then sleeps in the kernel until the next
 * one, where close() cannot reach it. Run for pipes ({@link PipeTest}) and FIFOs ({@link FifoTest}) alike.
 */
final class LentEndRaces {
    private LentEndRaces() {
    }

    /**
     * Lends {@code pipe}'s read end to {@code cat}, feeds the pipe a byte at a time while a thread reads the end,
     * then closes the end: the reader must only ever have slept in its poll, and close() must wake it.
     */
    static void assertReaderOfLentEndSleepsOnlyWhereCloseReachesIt(Pipe pipe) throws Exception {
        try (Subprocess child = Subprocess.builder(List.of("cat")).stdin(Redirect.from(pipe.readEnd()))
                .stdout(Redirect.discard()).destroyGrace(Duration.ofMillis(100)).start()) {
            AtomicInteger tid = new AtomicInteger();
            AtomicLong got = new AtomicLong();
            Future<Long> read = Blocking.startAndAwaitBlocked(List.of("poll", "pipe"), () -> {
                tid.set(Blocking.gettid());
                byte[] buffer = new byte[4096];
                for (;;) {
                    int n = pipe.readEnd().read(buffer, 0, buffer.length);
                    if (n < 0) return got.get();
                    got.addAndGet(n);
                }
            });
            byte[] one = {42};
            String sleptIn = null;
            // Which reader gets a byte is chance: as many rounds as 5 s allow, stopping at the first that sends the
            // reader into read(2).
            long until5s = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            for (int round = 0; round < 2000 && sleptIn == null && System.nanoTime() < until5s; round++) {
                long sleeps = Blocking.sleepsOf(tid.get());
                assertEquals(1, pipe.writeEnd().write(one, 0, 1));
                // Both readers had their chance once the pipe is empty again and the reader, woken by the byte, asleep again.
                String where = null;
                for (long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(1); System.nanoTime() < until; Thread.onSpinWait()) {
                    if (!pipe.readEnd().awaitReadable(Duration.ZERO) && Blocking.sleepsOf(tid.get()) > sleeps
                            && (where = Blocking.asleepIn(tid.get())) != null) break;
                }
                if (where != null && where.contains("pipe_read")) sleptIn = where;
            }
            assertFalse(read.isDone(), "the read must be blocked before the close");
            pipe.readEnd().close();
            Throwable thrown = Blocking.failureOrFree(read, () -> {
                try {
                    pipe.writeEnd().write(new byte[4096], 0, 4096);   // what frees a read(2) that close() could not
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, "close() did not wake a reader of a lent end" + (sleptIn == null ? "" : ", asleep in " + sleptIn));
            assertInstanceOf(AsynchronousCloseException.class, thrown);
            assertNull(sleptIn, "the reader slept in read(2), out of close()'s reach, though close() freed it in time");
            assertTrue(child.isAlive(), "the child's copy of the end is its own");
        }
    }

    /**
     * Lends {@code pipe}'s write end to {@code cat /dev/zero}, which fills it, frees a page at a time while a thread
     * writes to the end, then closes the end: the writer must only ever have slept in its poll, and close() must
     * wake it.
     */
    static void assertWriterOfLentEndSleepsOnlyWhereCloseReachesIt(Pipe pipe) throws Exception {
        try (Arena arena = Arena.ofShared();
             Subprocess child = Subprocess.builder(List.of("cat", "/dev/zero")).stdout(Redirect.to(pipe.writeEnd()))
                     .destroyGrace(Duration.ofMillis(100)).start()) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (pipe.writeEnd().awaitWritable(Duration.ZERO)) {
                assertTrue(System.nanoTime() < deadline, "the child did not fill the pipe");
                Thread.sleep(1);
            }
            MemorySegment more = arena.allocate(16L << 20);   // more than the rounds below free
            AtomicInteger tid = new AtomicInteger();
            Future<Long> write = Blocking.startAndAwaitBlocked(List.of("poll", "pipe"), () -> {
                tid.set(Blocking.gettid());
                return pipe.writeEnd().write(more);
            });
            byte[] page = new byte[4096];
            String sleptIn = null;
            // Which writer gets a page is chance (with writes after a poll, the child won one within 1 to 40 rounds
            // here): as many rounds as 5 s allow, stopping at the first that sends the writer into write(2).
            long until5s = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            for (int round = 0; round < 2000 && sleptIn == null && System.nanoTime() < until5s; round++) {
                long sleeps = Blocking.sleepsOf(tid.get());
                assertEquals(page.length, pipe.readEnd().read(page, 0, page.length));   // the child's pages are whole
                // Both writers had their chance once the pipe is full again and the writer, woken by the read, asleep again.
                String where = null;
                for (long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(1); System.nanoTime() < until; Thread.onSpinWait()) {
                    if (!pipe.writeEnd().awaitWritable(Duration.ZERO) && Blocking.sleepsOf(tid.get()) > sleeps
                            && (where = Blocking.asleepIn(tid.get())) != null) break;
                }
                if (where != null && where.contains("pipe_write")) sleptIn = where;
            }
            assertFalse(write.isDone(), "the write must be blocked before the close");
            pipe.writeEnd().close();
            Throwable thrown = Blocking.failureOrFree(write, pipe.readEnd()::close,
                    "close() did not wake a writer of a lent end" + (sleptIn == null ? "" : ", asleep in " + sleptIn));
            assertInstanceOf(AsynchronousCloseException.class, thrown);
            assertNull(sleptIn, "the writer slept in write(2), out of close()'s reach, though close() freed it in time");
            assertTrue(child.isAlive(), "the child's copy of the end is its own");
        }
    }
}
