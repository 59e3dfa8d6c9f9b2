package dev.panpipe.io;

import dev.panpipe.internal.linux.LinuxVmspliceWriter;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * Writes native memory into a pipe by reference, with {@code vmsplice(2)}: the pipe takes references to
 * the writer's pages instead of copying their bytes, and the reader's {@code read(2)} copies them out when
 * it gets to them. One copy in all, where {@link WriteEnd#write(MemorySegment)} makes two.
 *
 * {@snippet :
 * try (Pipe pipe = Pipe.open(); Arena arena = Arena.ofConfined()) {
 *     VmspliceWriter out = VmspliceWriter.over(pipe.writeEnd());
 *     MemorySegment pages = arena.allocate(1 << 20, VmspliceWriter.pageSize());
 *     fill(pages);
 *     out.write(pages);                                  // the pipe now refers to these pages
 *     long mark = out.written();
 *     ...                                                // do not touch pages here
 *     if (out.consumed() >= mark) fill(pages);           // the reader has them: free to reuse
 * }
 * }
 *
 * {@link VmspliceRing} does that bookkeeping for a stream and is the way to use this for bulk data.
 *
 * <h2>When the memory may be written again</h2>
 * The pipe holds the pages, not their bytes: the reader gets whatever the pages contain when it reads
 * them. So memory passed to {@link #write} must not be written, nor freed to an allocator that may hand it
 * out again, until the reader has consumed every byte of it. Three ways to know that it has:
 * <ul>
 *   <li>{@link VmspliceRing}: hands a buffer out again only once the reader has consumed what was spliced
 *       from it.</li>
 *   <li>{@link #consumed()}: once it reaches the {@link #written()} seen right after a write, that write's
 *       memory is free. It is {@code written()} less what the pipe still queues ({@code FIONREAD}): exact
 *       while this writer is the pipe's only writer, and too low, so still safe, when others write too.</li>
 *   <li>an acknowledgement from the reader, in the application's own protocol.</li>
 * </ul>
 * The first two count bytes as consumed when they leave this pipe, which is right for a reader that copies
 * them out: {@code read(2)}, or {@code splice(2)} into a regular file or {@code /dev/null}. A reader that
 * splices or tees this pipe into another pipe or into a socket passes the page references on, and they
 * outlive the bytes' leaving this pipe: then only an acknowledgement from the final consumer makes reuse
 * safe.
 *
 * <p>Unmapping spliced memory ({@code munmap}, or closing a {@link VmspliceRing}) is safe at any time: the
 * pipe's references keep the pages and their contents alive until the reader has them. Closing an
 * {@link java.lang.foreign.Arena} early is not: its memory goes back to {@code malloc}, which may hand it
 * to the next allocation while the pipe still refers to it.
 *
 * <h2>Gifts</h2>
 * {@link #gift} passes {@code SPLICE_F_GIFT}: the pages are given to the kernel, and the writer must never
 * write them again (unmapping them is fine). Only whole pages can be given. Current kernels take a gift as
 * a hint: it lets a consumer that splices with {@code SPLICE_F_MOVE} (FUSE) take a page instead of copying
 * it; every other reader sees what {@link #write} would give it, the pipe referring to the pages.
 *
 * <h2>The memory</h2>
 * A native segment (a heap segment's pages move under the garbage collector) that starts on a page
 * boundary: a pipe holds {@code capacity / page size} buffers of at most one page each, so an unaligned
 * 64 KiB write would take 17 of them. Either is an {@link IllegalArgumentException} naming the problem.
 * Any length; a short last page takes a buffer of its own.
 *
 * <h2>Blocking, closing, errors</h2>
 * A writer follows its write end's mode ({@link WriteEnd#blocking(boolean)}): blocking, a write returns
 * once every byte is in the pipe, continuing after each partial {@code vmsplice} and waiting in
 * {@code poll} as the write end does, even on a child's stdin; non-blocking, it returns what fits now,
 * possibly 0. Closing the write end wakes a blocked write with
 * {@link java.nio.channels.AsynchronousCloseException}; a write once every reader has closed throws
 * {@link dev.panpipe.bindings.BrokenPipeException} ({@code vmsplice: EPIPE (Broken pipe)}).
 *
 * <p>A writer holds nothing of its own: its write end stays the owner of the fd, and once that end is
 * closed every call throws {@link IllegalStateException}. One thread writes at a time.
 */
public interface VmspliceWriter {
    /**
     * A writer over the write end of a pipe or FIFO (a {@link Pipe}'s, a {@link Fifo}'s, a child's stdin).
     *
     * @throws IllegalArgumentException if {@code end} is not a pipe's write end
     */
    static VmspliceWriter over(WriteEnd end) throws IOException {
        return LinuxVmspliceWriter.over(end);
    }

    /** The page size: the alignment {@link #write} needs ({@code arena.allocate(size, pageSize())}). */
    static long pageSize() {
        return LinuxVmspliceWriter.PAGE;
    }

    /**
     * Splices {@code pages} into the pipe without copying them: see the class comment for when they may be
     * written again.
     *
     * @return bytes spliced: all of them in blocking mode
     * @throws IllegalArgumentException if {@code pages} is a heap segment or does not start on a page
     */
    long write(MemorySegment pages) throws IOException;

    /**
     * As {@link #write}, giving the pages to the kernel ({@code SPLICE_F_GIFT}): the caller must never write
     * them again.
     *
     * @throws IllegalArgumentException as {@link #write}, or if {@code pages} is not a whole number of pages
     */
    long gift(MemorySegment pages) throws IOException;

    /** Bytes this writer has spliced into the pipe, ever. */
    long written();

    /**
     * How many of {@link #written()} the reader has consumed: {@code written()} less the bytes the pipe
     * still queues ({@code FIONREAD}), so on the low side when others write to the pipe too.
     */
    long consumed() throws IOException;

    /** The write end this writer splices into. */
    WriteEnd writeEnd();
}
