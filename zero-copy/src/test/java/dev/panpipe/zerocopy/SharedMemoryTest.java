package dev.panpipe.zerocopy;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.internal.linux.LinuxSockets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
            assertTrue(survivor.unlink(), "removed by this call");
            assertFalse(survivor.unlink(), "gone already: nothing to remove");
            assertFalse(Files.exists(path));
        } finally {
            creator.close();   // its own unlink finds the name gone and stays quiet
        }
        assertFalse(creator.unlink());
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
    void shouldCloseAnFdItWasHandedWhenMappingItFails() throws Exception {
        // map takes ownership of the fd: refused (size 0, nothing to map), it must not be left open either
        var fds = NoLeaks.openFds();
        int empty;
        try (Arena arena = Arena.ofConfined()) {
            empty = Syscalls.memfd_create(arena.allocateFrom("panpipe:empty"), linux_h.MFD_CLOEXEC());
        }
        IOException e = assertThrows(IOException.class, () -> SharedMemory.map(empty));
        assertTrue(e.getMessage().contains("has size 0"), e.getMessage());
        NoLeaks.assertNoFdLeftSince(fds, "a refused map");
    }

    /**
     * A named block bigger than what /dev/shm has left (a container's is 64 MiB by default): refused when it is
     * made, with ENOSPC and the room left, and its name removed; not made, only for the first write to a page
     * that cannot be had to fault (SIGBUS, an asynchronous InternalError in the JVM). Run in a mount namespace
     * of its own with a 1 MiB tmpfs on /dev/shm, which needs root (CAP_SYS_ADMIN); skipped without it.
     */
    @Test
    void shouldRefuseANamedBlockThatDevShmHasNoRoomForWhenMakingIt() throws Exception {
        List<String> wrapper = List.of("unshare", "--mount", "--propagation", "private", "sh", "-c",
                "mount -t tmpfs -o size=1m,mode=1777 tmpfs /dev/shm && exec \"$@\"", "sh");
        Process probe = new ProcessBuilder(List.of("unshare", "--mount", "--propagation", "private", "sh", "-c",
                "mount -t tmpfs -o size=1m tmpfs /dev/shm")).redirectErrorStream(true).start();
        String why = new String(probe.getInputStream().readAllBytes());
        assumeTrue(probe.waitFor() == 0, "no private mount namespace with a small /dev/shm here (needs root): " + why);
        try (ChildJvm child = ChildJvm.start(wrapper, FullShmMain.class, new long[0])) {
            String outcome = child.readLine();
            assertTrue(outcome.startsWith("REFUSED ENOSPC fallocate /panpipe-too-big: 4194304 bytes asked, /dev/shm has "), outcome);
            assertEquals("NAME-GONE", child.readLine());
            assertEquals(dev.panpipe.process.ExitStatus.exited(0), child.process().waitFor());
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

    /**
     * A holder of a memfd block's fd (here a second open of it, as a peer would have) could shrink it, and
     * the next access to the vanished pages would fault: HotSpot turns that SIGBUS into an asynchronous
     * InternalError, which may surface anywhere, mid-protocol. Sealed, the file keeps its size for every
     * holder, and nobody can change the seals either.
     */
    @Test
    void shouldSealAMemfdBlockAgainstResizingThroughAnyFd() throws Exception {
        try (SharedMemory shm = SharedMemory.create("sealed", 2 * 4096)) {
            MemorySegment mem = shm.segment();
            for (long i = 0; i < mem.byteSize(); i += 8) mem.set(ValueLayout.JAVA_LONG, i, ~i);
            int other = reopen((int) shm.nativeHandle());
            try {
                SyscallException shrink = assertThrows(SyscallException.class, () -> Syscalls.ftruncate(other, 4096));
                assertEquals(Errno.EPERM, shrink.errno(), shrink.getMessage());
                assertEquals("ftruncate", shrink.call());
                SyscallException empty = assertThrows(SyscallException.class, () -> Syscalls.ftruncate(other, 0));
                assertEquals(Errno.EPERM, empty.errno(), empty.getMessage());
                SyscallException grow = assertThrows(SyscallException.class, () -> Syscalls.ftruncate(other, 4 * 4096));
                assertEquals(Errno.EPERM, grow.errno(), grow.getMessage());
                SyscallException owner = assertThrows(SyscallException.class,
                        () -> Syscalls.ftruncate((int) shm.nativeHandle(), 4096));
                assertEquals(Errno.EPERM, owner.errno(), "the creator's own fd is held to the size too");

                int seals = Syscalls.fcntl(other, linux_h.F_GET_SEALS(), 0);
                assertEquals(linux_h.F_SEAL_SEAL() | linux_h.F_SEAL_SHRINK() | linux_h.F_SEAL_GROW(), seals);
                // F_SEAL_SEAL: no holder can add a seal (F_SEAL_WRITE here) that would change the block for the others.
                SyscallException reseal = assertThrows(SyscallException.class,
                        () -> Syscalls.fcntl(other, linux_h.F_ADD_SEALS(), linux_h.F_SEAL_WRITE()));
                assertEquals(Errno.EPERM, reseal.errno(), reseal.getMessage());
            } finally {
                Syscalls.close(other);
            }
            assertEquals(2 * 4096, sizeOf((int) shm.nativeHandle()));
            for (long i = 0; i < mem.byteSize(); i += 8) {
                assertEquals(~i, mem.get(ValueLayout.JAVA_LONG, i), "word at " + i);
            }
        }
    }

    /**
     * A memfd from a foreign sender that allows sealing but did not seal is held to its size from below
     * once mapped: shrinking it would fault the mapping. Growing stays the sender's business.
     */
    @Test
    void shouldSealAReceivedSealableMemfdAgainstShrinkingOnly() throws Exception {
        int sent;
        try (Arena tmp = Arena.ofConfined()) {
            sent = Syscalls.memfd_create(tmp.allocateFrom("foreign"), linux_h.MFD_CLOEXEC() | linux_h.MFD_ALLOW_SEALING());
        }
        try {
            Syscalls.ftruncate(sent, 4096);
            assertEquals(0, Syscalls.fcntl(sent, linux_h.F_GET_SEALS(), 0));
            try (SharedMemory mapped = SharedMemory.map(Syscalls.fcntl(sent, linux_h.F_DUPFD_CLOEXEC(), 0))) {
                assertEquals(linux_h.F_SEAL_SHRINK(), Syscalls.fcntl(sent, linux_h.F_GET_SEALS(), 0));
                SyscallException shrink = assertThrows(SyscallException.class, () -> Syscalls.ftruncate(sent, 0));
                assertEquals(Errno.EPERM, shrink.errno(), shrink.getMessage());
                Syscalls.ftruncate(sent, 8192);
                mapped.segment().set(ValueLayout.JAVA_LONG, 4096 - 8, 42);
                assertEquals(4096, mapped.size());
                assertEquals(42, mapped.segment().get(ValueLayout.JAVA_LONG, 4096 - 8));
            }
        } finally {
            Syscalls.close(sent);
        }
    }

    /**
     * Blocks that cannot take seals map as before: a memfd made without MFD_ALLOW_SEALING and a named
     * shm_open object both report F_SEAL_SEAL from the start (which is why named blocks stay resizable).
     */
    @Test
    void shouldMapBlocksThatCannotBeSealedAsTheyAre() throws Exception {
        int sent;
        try (Arena tmp = Arena.ofConfined()) {
            sent = Syscalls.memfd_create(tmp.allocateFrom("unsealable"), linux_h.MFD_CLOEXEC());
        }
        try {
            Syscalls.ftruncate(sent, 4096);
            try (SharedMemory mapped = SharedMemory.map(Syscalls.fcntl(sent, linux_h.F_DUPFD_CLOEXEC(), 0))) {
                assertEquals(4096, mapped.size());
                assertEquals(linux_h.F_SEAL_SEAL(), Syscalls.fcntl(sent, linux_h.F_GET_SEALS(), 0));
            }
        } finally {
            Syscalls.close(sent);
        }
        String name = "shm-unsealed-" + ProcessHandle.current().pid();
        try (SharedMemory named = SharedMemory.createNamed(name, 4096);
             SharedMemory opened = SharedMemory.openNamed(name)) {
            assertEquals(linux_h.F_SEAL_SEAL(), Syscalls.fcntl((int) named.nativeHandle(), linux_h.F_GET_SEALS(), 0));
            assertEquals(4096, opened.size());
        }
    }

    /** A second open file description of the file behind fd, as a peer given the fd could make. */
    private static int reopen(int fd) throws SyscallException {
        try (Arena tmp = Arena.ofConfined()) {
            return Syscalls.open(tmp.allocateFrom("/proc/self/fd/" + fd), linux_h.O_RDWR() | linux_h.O_CLOEXEC(), 0);
        }
    }

    private static long sizeOf(int fd) throws SyscallException {
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment st = dev.panpipe.bindings.linux.stat.allocate(tmp);
            Syscalls.fstat(fd, st);
            return dev.panpipe.bindings.linux.stat.st_size(st);
        }
    }

    private static int linuxCloexec() {
        return dev.panpipe.bindings.linux.linux_h.FD_CLOEXEC();
    }
}
