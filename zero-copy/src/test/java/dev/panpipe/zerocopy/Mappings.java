package dev.panpipe.zerocopy;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What a child does with an fd it was handed, done in this process: a second mapping of the same memory;
 * and how many mappings of a file this process has.
 */
public final class Mappings {
    private Mappings() {
    }

    /** Maps the shared memory behind {@code fd} again, through a close-on-exec duplicate of the fd. */
    public static SharedMemory second(long fd) throws IOException {
        return SharedMemory.map(Syscalls.fcntl((int) fd, linux_h.F_DUPFD_CLOEXEC(), 0));
    }

    /**
     * How many mappings of this process are of a file whose name contains {@code file} ("/memfd:panpipe:NAME"
     * for a block made by {@code SharedMemory.create(NAME, ...)}, "/dev/shm/panpipe-NAME" for a named one).
     */
    public static long of(String file) throws IOException {
        return Files.readAllLines(Path.of("/proc/self/maps")).stream().filter(line -> line.contains(file)).count();
    }
}
