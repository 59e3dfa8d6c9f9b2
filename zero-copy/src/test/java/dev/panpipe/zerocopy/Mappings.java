package dev.panpipe.zerocopy;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;

import java.io.IOException;

/** What a child does with an fd it was handed, done in this process: a second mapping of the same memory. */
public final class Mappings {
    private Mappings() {
    }

    /** Maps the shared memory behind {@code fd} again, through a close-on-exec duplicate of the fd. */
    public static SharedMemory second(long fd) throws IOException {
        return SharedMemory.map(Syscalls.fcntl((int) fd, linux_h.F_DUPFD_CLOEXEC(), 0));
    }
}
