package dev.panpipe.zerocopy;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Run by {@link SharedMemoryNameReuseTest}: the "other process" that makes a new named block under a name
 * another process made and lost. Creates {@code /dev/shm/panpipe-NAME} ({@link #SIZE} bytes), writes
 * {@link #MARK} and its pid into it, prints {@code created}, and holds it until the parent stores a non-zero
 * int at {@link #RELEASE} (through its own open of the name) or 30 s pass; then closes it and prints whether
 * the name is gone.
 */
final class NameReuseChildMain {
    static final long SIZE = 8192;
    static final long MARK = 0x0C41_1D0B_10C4_0000L;
    static final long MARK_AT = 0;
    static final long PID_AT = 8;
    static final long RELEASE = 16;

    private NameReuseChildMain() {
    }

    public static void main(String[] args) throws Exception {
        String name = args[0];
        try (SharedMemory mine = SharedMemory.createNamed(name, SIZE)) {
            MemorySegment s = mine.segment();
            s.set(ValueLayout.JAVA_LONG, MARK_AT, MARK);
            s.set(ValueLayout.JAVA_LONG, PID_AT, ProcessHandle.current().pid());
            System.out.println("created");
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (s.get(ValueLayout.JAVA_INT, RELEASE) == 0) {
                if (System.nanoTime() - deadline > 0) {
                    System.out.println("FAIL never released");
                    break;
                }
                Thread.sleep(5);   // a call: the word is read again from memory each time round
            }
        }
        System.out.println(Files.exists(Path.of("/dev/shm", SharedMemory.NAME_PREFIX + name)) ? "NAME-LEFT" : "NAME-GONE");
    }
}
