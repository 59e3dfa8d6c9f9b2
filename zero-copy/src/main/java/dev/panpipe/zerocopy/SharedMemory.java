package dev.panpipe.zerocopy;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.stat;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A block of memory shared between processes, mapped {@code MAP_SHARED} and seen as a {@link MemorySegment}.
 *
 * <p>{@link #create(String, long)} makes an anonymous {@code memfd_create} file (close-on-exec, so it
 * reaches a child only when handed over, for example with
 * {@code SubprocessBuilder.passFd(3, Redirect.fd((int) shm.nativeHandle()))}); the child maps the same
 * pages with {@link #map(int)}. Nothing appears in the file system or {@code /dev/shm}, and the memory is
 * freed when the last process unmaps it.
 *
 * <p>One owner: {@link #close()} unmaps (the segment becomes unusable, through its shared {@link Arena})
 * and closes the fd.
 */
public final class SharedMemory implements AutoCloseable {
    private final int fd;
    private final Arena arena;
    private final MemorySegment segment;
    private final AtomicBoolean closed = new AtomicBoolean();

    private SharedMemory(int fd, long size) throws SyscallException {
        this.fd = fd;
        this.arena = Arena.ofShared();
        MemorySegment address = Syscalls.mmap(MemorySegment.NULL, size, linux_h.PROT_READ() | linux_h.PROT_WRITE(),
                linux_h.MAP_SHARED(), fd, 0);
        this.segment = address.reinterpret(size, arena, mapped -> unmap(mapped, size));
    }

    /** A new anonymous shared block of {@code size} bytes, zero-filled; {@code name} shows in /proc/PID/fd. */
    public static SharedMemory create(String name, long size) throws IOException {
        if (size <= 0) throw new IllegalArgumentException("shared memory size must be positive: " + size);
        int fd;
        try (Arena tmp = Arena.ofConfined()) {
            fd = Syscalls.memfd_create(tmp.allocateFrom("panpipe:" + name), linux_h.MFD_CLOEXEC());
        }
        try {
            Syscalls.ftruncate(fd, size);
            return new SharedMemory(fd, size);
        } catch (IOException | RuntimeException e) {
            Syscalls.close(fd);
            throw e;
        }
    }

    /** Maps a shared block handed to this process as {@code fd} (taking ownership of the fd). */
    public static SharedMemory map(int fd) throws IOException {
        long size;
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment st = stat.allocate(tmp);
            Syscalls.fstat(fd, st);
            size = stat.st_size(st);
        }
        if (size <= 0) throw new IOException("fd " + fd + " has size " + size + ": not a shared memory block");
        return new SharedMemory(fd, size);
    }

    /** The mapping. Valid until {@link #close()}. */
    public MemorySegment segment() {
        return segment;
    }

    public long size() {
        return segment.byteSize();
    }

    /** The fd, for handing to a child; -1 once closed. */
    public long nativeHandle() {
        return closed.get() ? -1 : fd;
    }

    @Override
    public void close() throws IOException {
        if (!closed.compareAndSet(false, true)) return;
        try {
            arena.close();
        } finally {
            Syscalls.close(fd);
        }
    }

    private static void unmap(MemorySegment mapped, long size) {
        try {
            Syscalls.munmap(mapped, size);
        } catch (SyscallException e) {
            throw new IllegalStateException("munmap of a panpipe mapping failed", e);
        }
    }
}
