package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.io.VmspliceRing;
import dev.panpipe.io.WriteEnd;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@link VmspliceRing} over one anonymous mapping cut into equal buffers.
 *
 * <p>For each buffer the ring keeps the writer's {@code written()} count as it was after the buffer's last
 * splice: every byte of the buffer still in the pipe lies before that mark, so the buffer is free once the
 * reader's {@code consumed()} has reached it.
 */
public final class LinuxVmspliceRing implements VmspliceRing {
    private static final long PAGE = LinuxVmspliceWriter.PAGE;

    private final LinuxVmspliceWriter writer;
    private final FdHandle handle;
    private final Arena arena;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final MemorySegment[] buffers;
    /** Per buffer: {@code writer.written()} after its last splice; 0 before its first. */
    private final long[] spliceEnd;
    private final long bufferSize;
    private int next;
    private boolean claimed;
    /** Bytes of the open claim already in the pipe (a partial non-blocking commit). */
    private long claimSpliced;
    /** A reading of the reader's progress that is known to be reached; saves a FIONREAD when it suffices. */
    private long consumedSeen;

    private LinuxVmspliceRing(LinuxVmspliceWriter writer, long bufferSize, int count) throws IOException {
        this.writer = writer;
        this.handle = writer.handle();
        this.bufferSize = bufferSize;
        this.arena = Arena.ofShared();
        long total = Math.multiplyExact(bufferSize, count);
        MemorySegment all;
        try {
            all = mapAnonymous(total, arena);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
        this.buffers = new MemorySegment[count];
        for (int i = 0; i < count; i++) buffers[i] = all.asSlice(i * bufferSize, bufferSize);
        this.spliceEnd = new long[count];
    }

    /** {@code buffers == 0}: enough buffers to make twice the pipe's capacity, and at least 2. */
    public static LinuxVmspliceRing over(WriteEnd end, long bufferSize, int buffers) throws IOException {
        LinuxVmspliceWriter writer = LinuxVmspliceWriter.over(end);
        if (bufferSize <= 0 || bufferSize % PAGE != 0) {
            throw new IllegalArgumentException("bufferSize must be a positive multiple of the page size " + PAGE + ": " + bufferSize);
        }
        int capacity = capacity(writer.handle());
        long count = buffers != 0 ? buffers : Math.max(2, Math.ceilDiv(2L * capacity, bufferSize));
        long others;
        try {
            others = Math.multiplyExact(count - 1, bufferSize);
            Math.toIntExact(count);
            Math.addExact(others, bufferSize);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("too much memory for a ring: buffers=" + count + ", bufferSize=" + bufferSize);
        }
        if (others < capacity) {
            throw new IllegalArgumentException("too few buffers for the pipe: buffers=" + count + ", bufferSize=" + bufferSize
                    + ", pipe capacity=" + capacity + "; (buffers - 1) * bufferSize must be at least the capacity, or a claim "
                    + "would wait for the reader to drain the pipe");
        }
        return new LinuxVmspliceRing(writer, bufferSize, (int) count);
    }

    private static int capacity(FdHandle handle) throws SyscallException {
        int fd = handle.acquire();
        try {
            return Syscalls.fcntl(fd, linux_h.F_GETPIPE_SZ(), 0);
        } finally {
            handle.release();
        }
    }

    /**
     * {@code size} bytes of private anonymous memory, faulted in now ({@code MAP_POPULATE}) so the first
     * splice of a buffer does not hand the pipe the shared zero page, and unmapped when {@code arena} closes.
     */
    private static MemorySegment mapAnonymous(long size, Arena arena) throws IOException {
        MemorySegment address = Syscalls.mmap(MemorySegment.NULL, size, linux_h.PROT_READ() | linux_h.PROT_WRITE(),
                linux_h.MAP_PRIVATE() | linux_h.MAP_ANONYMOUS() | linux_h.MAP_POPULATE(), -1, 0);
        return address.reinterpret(size, arena, mapped -> unmap(mapped, size));
    }

    private static void unmap(MemorySegment mapped, long size) {
        try {
            Syscalls.munmap(mapped, size);
        } catch (SyscallException e) {
            throw new IllegalStateException("munmap of a vmsplice ring failed", e);
        }
    }

    @Override
    public MemorySegment claim() throws IOException {
        checkOpen();
        if (claimed) throw new IllegalStateException("buffer " + next + " is still claimed: commit or abort it first");
        long mark = spliceEnd[next];
        if (consumedSeen < mark && !awaitConsumed(mark)) return null;
        claimed = true;
        claimSpliced = 0;
        return buffers[next];
    }

    /** Waits (blocking mode) until the reader has consumed everything written up to {@code mark}. */
    private boolean awaitConsumed(long mark) throws IOException {
        int fd = handle.acquire();
        try {
            for (;;) {
                long consumed = writer.consumed(fd);
                if (consumed >= mark) {
                    consumedSeen = Math.max(consumedSeen, consumed);
                    return true;
                }
                if (!writer.writeEnd().isBlocking()) return false;
                // The reader still has some of this buffer's pages. A full pipe tells when the reader moves
                // on (POLLOUT); one with room tells nothing, so look again a millisecond later.
                if (!handle.awaitWritable(0)) {
                    handle.awaitWritableAfterFullWrite(-1);     // that was the look: found full
                } else if (handle.awaitError(1)) {
                    throw SyscallException.of("vmsplice", handle.description(), Errno.EPIPE);   // the reader is gone
                }
            }
        } finally {
            handle.release();
        }
    }

    @Override
    public boolean commit(long length) throws IOException {
        checkOpen();
        if (!claimed) throw new IllegalStateException("commit without a claim");
        if (length < claimSpliced || length > bufferSize) {
            throw new IllegalArgumentException("commit length " + length + " must lie between " + claimSpliced
                    + (claimSpliced == 0 ? "" : " (already spliced by this claim)") + " and the buffer size " + bufferSize);
        }
        long before = writer.written();
        try {
            claimSpliced += writer.splice(buffers[next].asSlice(claimSpliced, length - claimSpliced), 0);
        } finally {
            // Also when the splice failed half-way: whatever went in lies before this mark.
            if (writer.written() != before) spliceEnd[next] = writer.written();
        }
        if (claimSpliced < length) return false;
        claimed = false;
        if (length > 0) next = next + 1 == buffers.length ? 0 : next + 1;
        return true;
    }

    @Override
    public void abort() {
        if (!claimed) throw new IllegalStateException("abort without a claim");
        if (claimSpliced > 0) {
            throw new IllegalStateException(claimSpliced + " bytes of buffer " + next + " are already in the pipe: finish the claim with commit");
        }
        claimed = false;
    }

    private void checkOpen() {
        if (closed.get()) throw new IllegalStateException("vmsplice ring over " + handle + " is closed");
        if (!handle.isOpen()) throw new IllegalStateException(handle.description() + " is closed");
    }

    @Override
    public LinuxVmspliceWriter writer() {
        return writer;
    }

    @Override
    public int buffers() {
        return buffers.length;
    }

    @Override
    public long bufferSize() {
        return bufferSize;
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) arena.close();
    }

    @Override
    public String toString() {
        return "vmsplice ring of " + buffers.length + " x " + bufferSize + " bytes into " + handle;
    }
}
