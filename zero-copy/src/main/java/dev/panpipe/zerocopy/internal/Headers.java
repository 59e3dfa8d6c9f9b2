package dev.panpipe.zerocopy.internal;

import dev.panpipe.zerocopy.SharedMemory;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/** What the headers of shared blocks and queues have in common: a name field, and attaching that closes on failure. */
public final class Headers {
    private Headers() {
    }

    /** How an object is made from shared memory it takes over. */
    @FunctionalInterface
    public interface Attach<T> {
        T from(SharedMemory memory) throws IOException;
    }

    /**
     * {@code attach.from(memory)}, closing {@code memory} if that fails: the caller hands it over either way.
     * Creating uses it too, for writing a new header.
     */
    public static <T> T attachOrClose(SharedMemory memory, Attach<T> attach) throws IOException {
        try {
            return attach.from(memory);
        } catch (IOException | RuntimeException e) {
            try {
                memory.close();
            } catch (IOException | RuntimeException suppressed) {
                e.addSuppressed(suppressed);   // the header's fault is the one to report
            }
            throw e;
        }
    }

    /** Writes {@code name} as UTF-8 into a zero-filled field of {@code bytes} bytes, cut to fit. */
    public static void writeName(MemorySegment segment, long offset, int bytes, String name) {
        byte[] utf8 = name.getBytes(StandardCharsets.UTF_8);
        MemorySegment.copy(utf8, 0, segment, ValueLayout.JAVA_BYTE, offset, Math.min(utf8.length, bytes));
    }

    /** The name in a field of {@code bytes} bytes, up to its first 0; malformed UTF-8 from a cut is replaced. */
    public static String readName(MemorySegment segment, long offset, int bytes) {
        byte[] utf8 = segment.asSlice(offset, bytes).toArray(ValueLayout.JAVA_BYTE);
        int n = 0;
        while (n < utf8.length && utf8[n] != 0) n++;
        return new String(utf8, 0, n, StandardCharsets.UTF_8);
    }
}
