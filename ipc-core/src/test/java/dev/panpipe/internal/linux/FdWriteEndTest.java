package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.iovec;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.io.Fifo;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.io.Pipe;
import dev.panpipe.io.ReadEnd;
import dev.panpipe.io.WriteEnd;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Writes through an end whose description is shared with a child (a regular file lent to one; a pipe or FIFO where a
 * spawn cannot give the child a description of its own), to the files that refuse pwritev2's RWF_NOWAIT (a regular
 * file, a FIFO, a pipe end vmsplice has used): they write a page after each poll, and lose nothing.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
@ExtendWith(LeakCheck.class)
class FdWriteEndTest {
    private static final int SIZE = 300_000;   // several pages, an odd count, more than a pipe holds

    @Test
    void shouldWriteEverythingToARegularFileThroughALentEnd(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("out");
        try (Arena arena = Arena.ofShared()) {
            MemorySegment src = pattern(arena, SIZE);
            int fd = Syscalls.open(arena.allocateFrom(file.toString()),
                    linux_h.O_WRONLY() | linux_h.O_CREAT() | linux_h.O_TRUNC() | linux_h.O_CLOEXEC(), 0600);
            try (FdWriteEnd end = new FdWriteEnd(FdHandle.own(fd, "file " + file))) {
                lend(end);
                assertEquals(SIZE, end.write(src));
                end.blocking(false);   // a regular file always has room: a non-blocking write takes all of it too
                assertEquals(SIZE - 1, end.write(src.asSlice(1)));
                byte[] array = src.toArray(ValueLayout.JAVA_BYTE);
                assertEquals(100, end.write(array, 7, 100));
            }
            byte[] expected = new byte[2 * SIZE - 1 + 100];
            MemorySegment.copy(src, ValueLayout.JAVA_BYTE, 0, expected, 0, SIZE);
            MemorySegment.copy(src, ValueLayout.JAVA_BYTE, 1, expected, SIZE, SIZE - 1);
            MemorySegment.copy(src, ValueLayout.JAVA_BYTE, 7, expected, 2 * SIZE - 1, 100);
            assertArrayEquals(expected, Files.readAllBytes(file));
        }
    }

    @Test
    void shouldWriteEverythingThroughALentFifoEnd(@TempDir Path dir) throws Exception {
        try (Fifo fifo = Fifo.create(dir, "f"); Arena arena = Arena.ofShared()) {
            ReadEnd in = fifo.openReadEndNow();
            try (in; WriteEnd out = fifo.openWriteEnd()) {
                share(out);
                MemorySegment src = pattern(arena, SIZE);
                assertEquals(-1, src.mismatch(writeWhileReading(out, in, src, arena)));
                assertEquals(-1, src.mismatch(writeWhileReading(out, in, src, arena)), "and again, once it is known");
            }
        }
    }

    @Test
    void shouldKeepWritingALentPipeEndAfterVmspliceHasUsedIt() throws Exception {
        // vmsplice(2) takes RWF_NOWAIT away from the pipe end's file for good: the next write is refused, and must
        // go on by pages without losing or repeating a byte.
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofShared()) {
            share(pipe.writeEnd());
            MemorySegment src = pattern(arena, SIZE);
            assertEquals(-1, src.mismatch(writeWhileReading(pipe.writeEnd(), pipe.readEnd(), src, arena)));
            MemorySegment spliced = arena.allocate(100);
            spliced.fill((byte) 42);
            MemorySegment iov = iovec.allocate(arena);
            iovec.iov_base(iov, spliced);
            iovec.iov_len(iov, spliced.byteSize());
            assertEquals(100, Syscalls.vmsplice((int) pipe.writeEnd().nativeHandle(), iov, 1, 0));
            MemorySegment first = arena.allocate(100);
            assertEquals(100, pipe.readEnd().readFully(first));
            assertEquals(-1, spliced.mismatch(first));
            assertEquals(-1, src.mismatch(writeWhileReading(pipe.writeEnd(), pipe.readEnd(), src, arena)));
        }
    }

    /**
     * Lends {@code end} to a child, as a redirect does; the child exits at once. A file's description is shared
     * with the child, and stays shared: the end is lent.
     */
    private static void lend(FdWriteEnd end) throws Exception {
        try (Subprocess child = Subprocess.builder(List.of("true")).stdout(Redirect.to(end)).start()) {
            assertEquals(0, child.waitFor().code());
        }
        assertTrue(end.handle().lent(), "a file's description is shared with the child, not opened anew");
    }

    /**
     * Shares {@code end}'s description with a child, as a spawn does with a pipe or FIFO it cannot give a description
     * of its own (no /proc; another user's pipe): back in blocking mode, and lent from then on. No child is needed
     * for what is tested here: how the end reads and writes a shared description.
     */
    private static void share(WriteEnd end) throws Exception {
        ((FdWriteEnd) end).handle().prepareForChild();
    }

    /** Writes all of {@code src} (blocking) while another thread reads as much: what the reader got. */
    private static MemorySegment writeWhileReading(WriteEnd out, ReadEnd in, MemorySegment src, Arena arena) throws Exception {
        MemorySegment dst = arena.allocate(src.byteSize());
        CompletableFuture<Long> read = CompletableFuture.supplyAsync(() -> {
            try {
                return in.readFully(dst);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }, r -> Thread.ofPlatform().name("reader").start(r));
        assertEquals(src.byteSize(), out.write(src));
        assertEquals(src.byteSize(), read.get(10, TimeUnit.SECONDS));
        return dst;
    }

    /** {@code size} bytes of a pattern with a period longer than a page, so a page lost or repeated shows. */
    static MemorySegment pattern(Arena arena, int size) {
        MemorySegment s = arena.allocate(size);
        for (int i = 0; i < size; i++) s.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 31 + i / 4096));
        return s;
    }
}
