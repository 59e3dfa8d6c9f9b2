package dev.panpipe.io;

import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Writing and reading off-heap segments through a pipe allocates nothing, including the partial writes of a
 * message larger than the pipe and the poll waits for room or data, within the first few rounds: before C2
 * has compiled the path (the system calls skip errno capture, and the rest of a partial write goes by
 * offset, not as a slice). Each side is measured in its own thread (see {@link ThreadAllocation#untilQuiet}).
 */
@ExtendWith(LeakCheck.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PipeAllocationTest {
    private static final int QUIET = 3, MAX_ROUNDS = 40, WRITES_PER_ROUND = 40;

    @Test
    void shouldAllocateNothingWritingAndReadingSegmentsThroughAFullPipe() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            writeAndReadThroughAFullPipe(pipe);
        }
    }

    @Test
    void shouldAllocateNothingWritingThroughAnEndLentToAChild() throws Exception {
        // A lent end's writes go by pwritev2(RWF_NOWAIT), from a per-thread iovec, and wait for room in poll: that
        // path must allocate nothing either.
        try (Pipe pipe = Pipe.open();
             Subprocess child = Subprocess.builder(List.of("sleep", "60")).stdout(Redirect.to(pipe.writeEnd()))
                     .destroyGrace(Duration.ofMillis(100)).start()) {
            writeAndReadThroughAFullPipe(pipe);
        }
    }

    private static void writeAndReadThroughAFullPipe(Pipe pipe) throws Exception {
        try (Arena arena = Arena.ofShared()) {
            pipe.capacity(64 * 1024);
            MemorySegment message = arena.allocate(200 * 1024);   // four partial writes into a 64 KiB pipe
            MemorySegment buffer = arena.allocate(48 * 1024);     // and reads that never empty it in one go
            AtomicReference<List<Long>> readerRounds = new AtomicReference<>();
            CompletableFuture<Void> reader = CompletableFuture.runAsync(() -> {
                try {
                    readerRounds.set(ThreadAllocation.untilQuiet(QUIET, MAX_ROUNDS, () -> {
                        for (int i = 0; i < 200; i++) assertTrue(pipe.readEnd().read(buffer) > 0);
                    }));
                    // Then drain until the writer is done. Not to EOF: a child may hold a copy of the write end.
                    for (;;) {
                        if (pipe.readEnd().awaitReadable(Duration.ofMillis(10))) {
                            if (pipe.readEnd().read(buffer) == ReadEnd.EOF) break;
                        } else if (!pipe.writeEnd().isOpen()) {
                            break;
                        }
                    }
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, r -> Thread.ofPlatform().name("pipe-reader").start(r));
            List<Long> writer = ThreadAllocation.untilQuiet(QUIET, MAX_ROUNDS, () -> {
                for (int i = 0; i < WRITES_PER_ROUND; i++) assertEquals(message.byteSize(), pipe.writeEnd().write(message));
            });
            // Feed the reader until it has had its own quiet rounds (or given up), then end the stream.
            while (readerRounds.get() == null && !reader.isDone()) pipe.writeEnd().write(message);
            pipe.writeEnd().close();
            reader.get(60, TimeUnit.SECONDS);
            assertTrue(ThreadAllocation.endsQuiet(writer, QUIET), "writer bytes per round of " + WRITES_PER_ROUND + " writes: " + writer);
            assertTrue(ThreadAllocation.endsQuiet(readerRounds.get(), QUIET), "reader bytes per round of 200 reads: " + readerRounds.get());
        }
    }

    @Test
    void shouldAllocateNothingWritingSegmentsToALiveChildsStdin() throws Exception {
        try (Arena arena = Arena.ofConfined();
             Subprocess cat = Subprocess.builder("/bin/cat").stdout(Redirect.discard()).stderr(Redirect.inherit()).start()) {
            MemorySegment frame = arena.allocate(1920 * 1080 * 3);   // larger than the 1 MiB stdin pipe
            WriteEnd stdin = cat.stdin();
            List<Long> rounds = ThreadAllocation.untilQuiet(QUIET, MAX_ROUNDS, () -> {
                for (int i = 0; i < 4; i++) assertEquals(frame.byteSize(), stdin.write(frame));
            });
            stdin.close();
            assertTrue(cat.waitFor().success());
            assertTrue(ThreadAllocation.endsQuiet(rounds, QUIET), "bytes per round of 4 frames to cat: " + rounds);
        }
    }
}
