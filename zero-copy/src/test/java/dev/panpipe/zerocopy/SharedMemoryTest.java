package dev.panpipe.zerocopy;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.internal.linux.LinuxSockets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.*;

@Timeout(30)
class SharedMemoryTest {

    @Test
    void shouldCreateANamedBlock0600ExclusivelyAndUnlinkItWhenTheCreatorCloses() throws Exception {
        String name = "shm-test-" + ProcessHandle.current().pid();
        Path path = Path.of("/dev/shm", SharedMemory.NAME_PREFIX + name);
        try (SharedMemory created = SharedMemory.createNamed(name, 8192)) {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(path)));
            SyscallException dup = assertThrows(SyscallException.class, () -> SharedMemory.createNamed(name, 8192));
            assertEquals(Errno.EEXIST, dup.errno());
            assertTrue(dup.getMessage().contains("/panpipe-" + name), dup.getMessage());
            try (SharedMemory opened = SharedMemory.openNamed(name)) {
                assertEquals(8192, opened.size());
                created.segment().set(ValueLayout.JAVA_LONG, 64, 0x1122334455667788L);
                assertEquals(0x1122334455667788L, opened.segment().get(ValueLayout.JAVA_LONG, 64));
            }
            assertTrue(Files.exists(path), "closing a joiner must leave the name to its creator");
        }
        assertFalse(Files.exists(path));
        SyscallException gone = assertThrows(SyscallException.class, () -> SharedMemory.openNamed(name));
        assertEquals(Errno.ENOENT, gone.errno());
    }

    @Test
    void shouldLetASurvivorUnlinkTheNameOfADeadCreator() throws Exception {
        String name = "shm-orphan-" + ProcessHandle.current().pid();
        Path path = Path.of("/dev/shm", SharedMemory.NAME_PREFIX + name);
        SharedMemory creator = SharedMemory.createNamed(name, 4096);
        try (SharedMemory survivor = SharedMemory.openNamed(name)) {
            survivor.unlink();
            survivor.unlink();   // idempotent
            assertFalse(Files.exists(path));
        } finally {
            creator.close();   // its own unlink finds the name gone and stays quiet
        }
    }

    @Test
    void shouldRefuseBadNamesAndSizes() {
        assertThrows(IllegalArgumentException.class, () -> SharedMemory.createNamed("../etc", 4096));
        assertThrows(IllegalArgumentException.class, () -> SharedMemory.createNamed("", 4096));
        assertThrows(IllegalArgumentException.class, () -> SharedMemory.create("x", 0));
    }

    @Test
    void shouldLeaveNoNameAndNoFdWhenCreatingOrOpeningFails() throws Exception {
        String name = "shm-fail-" + ProcessHandle.current().pid();
        Path path = Path.of("/dev/shm", SharedMemory.NAME_PREFIX + name);
        var fds = NoLeaks.openFds();
        // A petabyte: the name and the size are fine, the mapping is not (ENOMEM from mmap here).
        assertThrows(SyscallException.class, () -> SharedMemory.createNamed(name, 1L << 50));
        assertFalse(Files.exists(path), "the name of a block that could not be made is removed");
        assertThrows(SyscallException.class, () -> SharedMemory.create("huge", 1L << 50));
        NoLeaks.assertNoFdLeftSince(fds, "failed creations");
        // A name that holds no block (an empty file put there by someone else) is refused, and kept.
        Files.createFile(path, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        try {
            IOException e = assertThrows(IOException.class, () -> SharedMemory.openNamed(name));
            assertTrue(e.getMessage().contains("has size 0: not a shared memory block"), e.getMessage());
            NoLeaks.assertNoFdLeftSince(fds, "a refused open");
            assertTrue(Files.exists(path), "opening never removes a name");
        } finally {
            Files.delete(path);
        }
    }

    @Test
    void shouldHandAMemfdToAnotherEndOverAUnixSocket() throws Exception {
        int[] sockets = LinuxSockets.socketpair();
        try (SharedMemory shm = SharedMemory.create("passed", 4096)) {
            shm.segment().set(ValueLayout.JAVA_INT, 0, 4242);
            FdPassing.send(sockets[0], (int) shm.nativeHandle());
            int received = FdPassing.receive(sockets[1]);
            assertNotEquals(shm.nativeHandle(), received, "SCM_RIGHTS installs a new fd");
            assertEquals(linuxCloexec(), Syscalls.fcntl(received, dev.panpipe.bindings.linux.linux_h.F_GETFD(), 0) & linuxCloexec());
            try (SharedMemory mapped = SharedMemory.map(received)) {
                assertEquals(4242, mapped.segment().get(ValueLayout.JAVA_INT, 0));
                mapped.segment().set(ValueLayout.JAVA_INT, 4, 7);
                assertEquals(7, shm.segment().get(ValueLayout.JAVA_INT, 4), "both fds map the same pages");
            }
            Syscalls.close(sockets[0]);
            assertThrows(EOFException.class, () -> FdPassing.receive(sockets[1]));
        } finally {
            Syscalls.close(sockets[1]);
        }
    }

    private static int linuxCloexec() {
        return dev.panpipe.bindings.linux.linux_h.FD_CLOEXEC();
    }
}
