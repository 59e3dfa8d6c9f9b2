package dev.panpipe.internal.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A native buffer per thread for byte-array I/O at the API edge: the kernel reads and writes native
 * memory, so an array's bytes pass through here. One per thread, so no lock and no allocation per call;
 * freed with its automatic arena once the thread is gone.
 */
final class Scratch {
    static final int SIZE = 64 * 1024;

    private static final ThreadLocal<MemorySegment> BUFFER =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(SIZE, 64));

    private Scratch() {
    }

    static MemorySegment get() {
        return BUFFER.get();
    }
}
