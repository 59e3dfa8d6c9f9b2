package dev.panpipe.zerocopy;

import dev.panpipe.bindings.SyscallException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Run by {@link SharedMemoryTest} in a mount namespace of its own whose /dev/shm is a 1 MiB tmpfs: makes a
 * named block of 4 MiB and writes every page of it, and prints how that went on one line.
 */
final class FullShmMain {
    private FullShmMain() {
    }

    public static void main(String[] args) throws Exception {
        long size = 4L << 20;
        try (SharedMemory block = SharedMemory.createNamed("too-big", size)) {
            MemorySegment s = block.segment();
            try {
                for (long at = 0; at < size; at += 4096) s.set(ValueLayout.JAVA_LONG, at, at);
                System.out.println("WRITTEN");
            } catch (InternalError e) {
                System.out.println("FAULTED " + e);
            }
        } catch (SyscallException e) {
            System.out.println("REFUSED " + e.errnoName() + " " + e.getMessage());
        } catch (InternalError e) {
            System.out.println("FAULTED " + e);   // delivered asynchronously: may surface past the inner catch
        }
        System.out.println(Files.exists(Path.of("/dev/shm", SharedMemory.NAME_PREFIX + "too-big")) ? "NAME-LEFT" : "NAME-GONE");
    }
}
