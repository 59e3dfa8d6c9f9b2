package dev.panpipe.zerocopy;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A close of shared memory whose steps fail for real: the unmap, because a thread of this process is still
 * inside a native call on the segment, and the unlink, because the name is a directory now. Every other
 * step still runs, the first failure is thrown with the later ones suppressed in it, and what could not be
 * released then is released by a later close: no fd, mapping or name is left (NoLeaks, /proc/self/maps,
 * /dev/shm).
 */
@ExtendWith(NoLeaks.class)
@Timeout(60)
class SharedMemoryCloseFailureTest {

    static boolean fdOpenOn(Path path) {
        return NoLeaks.openFds().values().stream().anyMatch(target -> target.startsWith(path.toString()));
    }

    @Test
    void shouldCloseTheFdAndThrowTheFailedUnmapFirstThenUnmapAtTheNextClose() throws Exception {
        String name = "close-busy-" + ProcessHandle.current().pid();
        Path path = Path.of("/dev/shm", SharedMemory.NAME_PREFIX + name);
        SharedMemory shm = SharedMemory.createNamed(name, 4096);
        try (BlockedInNativeCall reader = BlockedInNativeCall.readingInto(shm.segment())) {
            // Someone else's now: a directory in the name's place, which shm_unlink cannot remove.
            Files.delete(path);
            Files.createDirectory(path);
            try {
                IllegalStateException busy = assertThrows(IllegalStateException.class, shm::close);
                assertTrue(busy.getMessage().contains("acquired"), busy.getMessage());   // "Session is acquired by 1 clients"
                assertEquals(1, busy.getSuppressed().length, "the unlink's failure, suppressed in the unmap's");
                SyscallException unlink = assertInstanceOf(SyscallException.class, busy.getSuppressed()[0]);
                assertEquals("shm_unlink", unlink.call());
                assertEquals(Errno.EISDIR, unlink.errno(), unlink.getMessage());
                assertEquals(-1, shm.nativeHandle());
                assertFalse(fdOpenOn(path), "the fd is closed all the same: " + NoLeaks.openFds());
                assertEquals(1, Mappings.of(path.toString()), "still mapped: the read is still writing into it");
            } finally {
                Files.delete(path);
            }
        }
        assertEquals(1, shm.segment().get(ValueLayout.JAVA_BYTE, 0), "the read landed in the mapping");
        shm.close();
        assertEquals(0, Mappings.of(path.toString()), "unmapped by the next close");
        assertThrows(IllegalStateException.class, () -> shm.segment().get(ValueLayout.JAVA_BYTE, 0));
        shm.close();   // idempotent
    }
}
