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
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A close of shared memory whose steps fail for real: the unmap, because a thread of this process is still
 * inside a native call on the segment, and the unlink, because the name's file was made immutable. Every
 * other step still runs, the first failure is thrown with the later ones suppressed in it, and what could not
 * be released then is released by a later close: no fd, mapping or name is left (NoLeaks, /proc/self/maps,
 * /dev/shm). A name that is someone else's by the time of the close (a directory in its place) is no failure:
 * it is left alone.
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
            // Someone else's now: a directory in the name's place, not this block's file, so not removed.
            Files.delete(path);
            Files.createDirectory(path);
            try {
                IllegalStateException busy = assertThrows(IllegalStateException.class, shm::close);
                assertTrue(busy.getMessage().contains("acquired"), busy.getMessage());   // "Session is acquired by 1 clients"
                assertEquals(0, busy.getSuppressed().length, "someone else's name is left alone, not a failure");
                assertTrue(Files.isDirectory(path), "the directory in the name's place is not this block's to remove");
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

    /**
     * The unlink fails for real: the block's own file is immutable ({@code chattr +i}, which tmpfs takes from
     * Linux 6.0 on, and only root may set), so shm_unlink fails (EACCES). Its failure is suppressed in the unmap's,
     * and the fd, closed after it, is closed all the same. Skipped where the flag cannot be set.
     */
    @Test
    void shouldCloseTheFdAfterAFailedUnlinkAndSuppressTheUnlinksFailure() throws Exception {
        String name = "close-immutable-" + ProcessHandle.current().pid();
        Path path = Path.of("/dev/shm", SharedMemory.NAME_PREFIX + name);
        SharedMemory shm = SharedMemory.createNamed(name, 4096);
        try {
            assumeTrue(chattr("+i", path), "cannot make a file in /dev/shm immutable here (needs root, Linux 6.0+, chattr)");
            try (BlockedInNativeCall reader = BlockedInNativeCall.readingInto(shm.segment())) {
                IllegalStateException busy = assertThrows(IllegalStateException.class, shm::close);
                assertEquals(1, busy.getSuppressed().length, "the unlink's failure, suppressed in the unmap's");
                SyscallException unlink = assertInstanceOf(SyscallException.class, busy.getSuppressed()[0]);
                assertEquals("shm_unlink", unlink.call());
                // unlink(2) says EPERM; glibc's shm_unlink reports that as EACCES (as POSIX has it)
                assertEquals(Errno.EACCES, unlink.errno(), unlink.getMessage());
                assertTrue(Files.exists(path), "not removed: immutable");
                assertEquals(-1, shm.nativeHandle());
                assertFalse(fdOpenOn(path), "the fd is closed after the failed unlink: " + NoLeaks.openFds());
            }
        } finally {
            chattr("-i", path);
            shm.close();   // unmaps, now that the read is over
            Files.deleteIfExists(path);
        }
        assertEquals(0, Mappings.of(path.toString()));
    }

    /** Runs {@code chattr flag path}; true if it worked. */
    private static boolean chattr(String flag, Path path) throws InterruptedException {
        try {
            Process p = new ProcessBuilder("chattr", flag, path.toString()).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor() == 0;
        } catch (java.io.IOException noChattr) {
            return false;
        }
    }
}
