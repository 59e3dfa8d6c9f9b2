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

import static dev.panpipe.internal.linux.FdWriteEndTest.pattern;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Reads through an end whose description is shared with a child (a regular file lent to one; a pipe or FIFO where a
 * spawn cannot give the child a description of its own), from the files that refuse preadv2's RWF_NOWAIT (a regular
 * file, a FIFO, a pipe end vmsplice has used): they read after each poll, and lose nothing.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
@ExtendWith(LeakCheck.class)
class FdReadEndTest {
    private static final int SIZE = 300_000;   // several pages, an odd count, more than a pipe holds

    @Test
    void shouldReadEverythingFromARegularFileThroughALentEnd(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("in");
        try (Arena arena = Arena.ofShared()) {
            MemorySegment src = pattern(arena, SIZE);
            Files.write(file, src.toArray(ValueLayout.JAVA_BYTE));
            int fd = Syscalls.open(arena.allocateFrom(file.toString()), linux_h.O_RDONLY() | linux_h.O_CLOEXEC(), 0);
            try (FdReadEnd end = new FdReadEnd(FdHandle.own(fd, "file " + file))) {
                lend(end);
                MemorySegment dst = arena.allocate(SIZE);
                assertEquals(1000, end.readFully(dst.asSlice(0, 1000)));
                end.blocking(false);   // a regular file is always readable: a non-blocking read takes what is asked too
                assertEquals(SIZE - 1000, end.readFully(dst.asSlice(1000)));
                assertEquals(-1, src.mismatch(dst));
                assertEquals(ReadEnd.EOF, end.read(dst), "and then its end");
            }
        }
    }

    @Test
    void shouldReadEverythingThroughALentFifoEnd(@TempDir Path dir) throws Exception {
        try (Fifo fifo = Fifo.create(dir, "f"); Arena arena = Arena.ofShared()) {
            ReadEnd in = fifo.openReadEndNow();
            try (in; WriteEnd out = fifo.openWriteEnd()) {
                share(in);
                MemorySegment src = pattern(arena, SIZE);
                assertEquals(-1, src.mismatch(readWhileWriting(out, in, src, arena)));
                assertEquals(-1, src.mismatch(readWhileWriting(out, in, src, arena)), "and again, once it is known");
            }
        }
    }

    @Test
    void shouldKeepReadingALentPipeEndAfterVmspliceHasUsedIt() throws Exception {
        // vmsplice(2) from a read end takes RWF_NOWAIT away from its file for good: the next read is refused, and must
        // go on after a poll without losing or repeating a byte.
        try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofShared()) {
            share(pipe.readEnd());
            MemorySegment src = pattern(arena, SIZE);
            assertEquals(-1, src.mismatch(readWhileWriting(pipe.writeEnd(), pipe.readEnd(), src, arena)));
            MemorySegment sent = arena.allocate(100);
            sent.fill((byte) 42);
            assertEquals(100, pipe.writeEnd().write(sent));
            MemorySegment taken = arena.allocate(100);
            MemorySegment iov = iovec.allocate(arena);
            iovec.iov_base(iov, taken);
            iovec.iov_len(iov, taken.byteSize());
            assertEquals(100, Syscalls.vmsplice((int) pipe.readEnd().nativeHandle(), iov, 1, 0));
            assertEquals(-1, sent.mismatch(taken));
            assertEquals(-1, src.mismatch(readWhileWriting(pipe.writeEnd(), pipe.readEnd(), src, arena)));
        }
    }

    /**
     * Lends {@code end} to a child, as a redirect does; the child exits at once. A file's description is shared
     * with the child, and stays shared: the end is lent.
     */
    private static void lend(FdReadEnd end) throws Exception {
        try (Subprocess child = Subprocess.builder(List.of("true")).stdin(Redirect.from(end)).start()) {
            assertEquals(0, child.waitFor().code());
        }
        assertTrue(end.handle().lent(), "a file's description is shared with the child, not opened anew");
    }

    /**
     * Shares {@code end}'s description with a child, as a spawn does with a pipe or FIFO it cannot give a description
     * of its own (no /proc; another user's pipe): back in blocking mode, and lent from then on. No child is needed
     * for what is tested here: how the end reads and writes a shared description.
     */
    private static void share(ReadEnd end) throws Exception {
        ((FdReadEnd) end).handle().prepareForChild();
    }

    /** Reads all of {@code src}'s size (blocking) while another thread writes {@code src}: what the reader got. */
    private static MemorySegment readWhileWriting(WriteEnd out, ReadEnd in, MemorySegment src, Arena arena) throws Exception {
        MemorySegment dst = arena.allocate(src.byteSize());
        CompletableFuture<Long> written = CompletableFuture.supplyAsync(() -> {
            try {
                return out.write(src);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }, r -> Thread.ofPlatform().name("writer").start(r));
        assertEquals(src.byteSize(), in.readFully(dst));
        assertEquals(src.byteSize(), written.get(10, TimeUnit.SECONDS));
        return dst;
    }
}
