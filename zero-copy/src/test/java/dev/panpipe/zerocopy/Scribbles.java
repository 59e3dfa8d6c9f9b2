package dev.panpipe.zerocopy;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** What the corruption properties write over shared memory with: one store of 1, 2, 4 or 8 bytes. */
public final class Scribbles {
    private Scribbles() {
    }

    /** Stores the low {@code width} bytes of {@code value} at {@code offset} of {@code s} (little-endian, unaligned). */
    public static void store(MemorySegment s, long offset, int width, long value) {
        switch (width) {
            case 1 -> s.set(ValueLayout.JAVA_BYTE, offset, (byte) value);
            case 2 -> s.set(ValueLayout.JAVA_SHORT_UNALIGNED, offset, (short) value);
            case 4 -> s.set(ValueLayout.JAVA_INT_UNALIGNED, offset, (int) value);
            case 8 -> s.set(ValueLayout.JAVA_LONG_UNALIGNED, offset, value);
            default -> throw new IllegalArgumentException("a store is 1, 2, 4 or 8 bytes wide: " + width);
        }
    }
}
