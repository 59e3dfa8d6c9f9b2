package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.stat;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import dev.panpipe.testing.VirtualThreads;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.IntUnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The sticky-directory rule of {@code O_CREAT} opens ({@code may_create_in_sticky}) as {@link StickyCreateCheck}
 * makes it for a reopen through {@code /proc/self/fd}, on real files and directories owned by another user (the
 * tests run as root, which may chown, and which the kernel's rule binds too). The sysctl levels are given to the
 * check, never written: {@code /proc/sys} is the machine's. Only the end-to-end tests read the real levels.
 */
@ExtendWith(LeakCheck.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class StickyCreateCheckTest {
    /** {@code nobody}: a user that is neither the test's nor a directory owner's. */
    private static final int OTHER = 65534;
    private static final int CREATE = linux_h.O_WRONLY() | linux_h.O_CREAT() | linux_h.O_TRUNC() | linux_h.O_CLOEXEC();
    /** A level source for checks that must decide before reading a sysctl. */
    private static final IntUnaryOperator NOT_ASKED = type -> {
        throw new AssertionError("the sysctl level was read");
    };

    @TempDir
    Path base;

    @BeforeEach
    void onlyAsRoot() {
        assumeTrue(Syscalls.geteuid() == 0, "needs root, to give files to another user");
    }

    @Test
    void shouldRefuseAnotherUsersFileInAWorldWritableStickyDirectoryFromLevel1() throws Exception {
        Path file = fileOwnedBy(OTHER, directory("tmp", 01777), "planted");
        assertTrue(mayReopen(file, CREATE, 0), "level 0: no protection");
        assertRefused(file, CREATE, 1);
        assertRefused(file, linux_h.O_WRONLY() | linux_h.O_CREAT() | linux_h.O_APPEND() | linux_h.O_CLOEXEC(), 2);
    }

    @Test
    void shouldRefuseAnotherUsersFileInAGroupWritableStickyDirectoryOnlyAtLevel2() throws Exception {
        Path file = fileOwnedBy(OTHER, directory("group", 01770), "planted");
        assertTrue(mayReopen(file, CREATE, 1), "level 1 protects world-writable directories only");
        assertRefused(file, CREATE, 2);
    }

    @Test
    void shouldAllowTheCallersOwnFileWithoutReadingTheLevel() throws Exception {
        Path dir = directory("theirs", 01777);
        Files.setAttribute(dir, "unix:uid", OTHER);      // so that only the file's being the caller's lets it through
        assertTrue(mayReopen(fileOwnedBy(0, dir, "mine"), CREATE, NOT_ASKED));
    }

    @Test
    void shouldAllowAFileOfTheDirectorysOwner() throws Exception {
        Path dir = directory("theirs", 01777);
        Files.setAttribute(dir, "unix:uid", OTHER);
        assertTrue(mayReopen(fileOwnedBy(OTHER, dir, "theirs"), CREATE, NOT_ASKED));
    }

    @Test
    void shouldAllowAnotherUsersFileInADirectoryWithoutTheStickyBit() throws Exception {
        assertTrue(mayReopen(fileOwnedBy(OTHER, directory("open", 0777), "planted"), CREATE, NOT_ASKED));
    }

    @Test
    void shouldAllowAnOpenWithoutOCreat() throws Exception {
        Path file = fileOwnedBy(OTHER, directory("tmp", 01777), "planted");
        assertTrue(mayReopen(file, linux_h.O_WRONLY() | linux_h.O_APPEND() | linux_h.O_CLOEXEC(), NOT_ASKED));
        assertTrue(mayReopen(file, linux_h.O_RDONLY() | linux_h.O_CLOEXEC(), NOT_ASKED));
    }

    @Test
    void shouldJudgeAFifoByProtectedFifosAndARegularFileByProtectedRegular() throws Exception {
        Path dir = directory("tmp", 01777);
        Path fifo = dir.resolve("fifo");
        try (Arena arena = Arena.ofConfined()) {
            Syscalls.mkfifoat(linux_h.AT_FDCWD(), arena.allocateFrom(fifo.toString()), 0666);
        }
        Files.setAttribute(fifo, "unix:uid", OTHER);
        Path file = fileOwnedBy(OTHER, dir, "planted");
        IntUnaryOperator fifosOnly = type -> type == linux_h.S_IFIFO() ? 1 : 0;
        IntUnaryOperator regularOnly = type -> type == linux_h.S_IFREG() ? 1 : 0;
        assertRefused(fifo, CREATE, fifosOnly);
        assertTrue(mayReopen(fifo, CREATE, regularOnly));
        assertRefused(file, CREATE, regularOnly);
        assertTrue(mayReopen(file, CREATE, fifosOnly));
    }

    @Test
    void shouldLeaveALastComponentThatIsALinkToTheKernel() throws Exception {
        // The kernel checks the directory of the link's target, which a check of the path's parent would miss
        Path file = fileOwnedBy(OTHER, directory("tmp", 01777), "planted");
        Path link = Files.createSymbolicLink(directory("home", 0755).resolve("link"), file);
        assertFalse(mayReopen(link, CREATE, 1), "a link is not judged: the open goes by path");
    }

    @Test
    void shouldLeaveAnObjectNoLongerAtItsNameToTheKernel() throws Exception {
        Path dir = directory("tmp", 01777);
        Path file = fileOwnedBy(OTHER, dir, "planted");
        try (Arena arena = Arena.ofConfined()) {
            int named = Syscalls.open(arena.allocateFrom(file.toString()), linux_h.O_PATH() | linux_h.O_CLOEXEC(), 0);
            try {
                MemorySegment st = stat.allocate(arena);
                Syscalls.fstat(named, st);
                Files.move(file, dir.resolve("moved"));
                Files.writeString(file, "");      // another file at the name, the caller's own
                assertFalse(StickyCreateCheck.mayReopen(st, file, CREATE, type -> 2), "the name leads elsewhere now");
            } finally {
                Syscalls.close(named);
            }
        }
    }

    @Test
    void shouldReadASysctlLevelAndTakeAMissingOneAsOff() throws Exception {
        Path level = base.resolve("protected_regular");
        Files.writeString(level, "2\n");
        assertEquals(2, StickyCreateCheck.sysctlLevel(level));
        assertEquals(0, StickyCreateCheck.sysctlLevel(base.resolve("missing")));
        Files.writeString(level, "not a level\n");
        assertEquals(-1, StickyCreateCheck.sysctlLevel(level));
    }

    @Test
    void shouldRefuseAVirtualThreadsRedirectAsThePlatformThreadsWhereTheMachineProtectsRegularFiles() throws Exception {
        int level = StickyCreateCheck.sysctlLevel(Path.of("/proc/sys/fs/protected_regular"));
        assumeTrue(level >= 1, "fs.protected_regular is " + level + " here: the kernel refuses nothing to compare with");
        Path file = fileOwnedBy(OTHER, directory("tmp", 01777), "planted");
        SyscallException platform = assertThrows(SyscallException.class, () -> echoTo(file));
        assertEquals(Errno.EACCES, platform.errno(), platform.getMessage());
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> VirtualThreads.call(() -> echoTo(file)).get(30, TimeUnit.SECONDS));
        SyscallException virtual = assertInstanceOf(SyscallException.class, e.getCause());
        assertEquals(Errno.EACCES, virtual.errno(), virtual.getMessage());
        assertTrue(virtual.getMessage().contains(file.toString()), virtual.getMessage());
        assertEquals("", Files.readString(file), "nothing was written into the planted file");
    }

    @Test
    void shouldLetAVirtualThreadsRedirectWriteAnotherUsersFileWhereTheMachineDoesNotProtectThem() throws Exception {
        int level = StickyCreateCheck.sysctlLevel(Path.of("/proc/sys/fs/protected_regular"));
        assumeTrue(level == 0, "fs.protected_regular is " + level + " here: the kernel refuses this open");
        Path file = fileOwnedBy(OTHER, directory("tmp", 01777), "planted");
        assertEquals(ExitStatus.exited(0), VirtualThreads.call(() -> echoTo(file)).get(30, TimeUnit.SECONDS));
        assertEquals("into the file\n", Files.readString(file));
    }

    /**
     * The check as a virtual thread's redirects make it, with the level given to it: another user's regular file and
     * FIFO in a world-writable sticky directory are refused (the FIFO at once, with no reader to wait for), and a last
     * component that is a link, which the check leaves to the kernel, is opened by path (allowed at this machine's
     * level, which the hook does not change).
     */
    @Test
    void shouldRefuseAVirtualThreadsRedirectsWhereTheRuleRefusesThem() throws Exception {
        Path dir = directory("tmp", 01777);
        Path file = fileOwnedBy(OTHER, dir, "planted");
        Path fifo = dir.resolve("planted-fifo");
        try (Arena arena = Arena.ofConfined()) {
            Syscalls.mkfifoat(linux_h.AT_FDCWD(), arena.allocateFrom(fifo.toString()), 0666);
        }
        Files.setAttribute(fifo, "unix:uid", OTHER);
        Path link = Files.createSymbolicLink(dir.resolve("link"), file);
        StickyCreateCheck.levelsForTest = type -> 1;
        try {
            for (Path refused : new Path[] {file, fifo}) {
                ExecutionException e = assertThrows(ExecutionException.class,
                        () -> VirtualThreads.call(() -> echoTo(refused)).get(30, TimeUnit.SECONDS));
                SyscallException virtual = assertInstanceOf(SyscallException.class, e.getCause());
                assertEquals(Errno.EACCES, virtual.errno(), virtual.getMessage());
                assertTrue(virtual.getMessage().contains(refused.toString()), virtual.getMessage());
            }
            assertEquals("", Files.readString(file), "nothing was written into the planted file");
            if (StickyCreateCheck.sysctlLevel(Path.of("/proc/sys/fs/protected_regular")) == 0) {
                assertEquals(ExitStatus.exited(0), VirtualThreads.call(() -> echoTo(link)).get(30, TimeUnit.SECONDS));
                assertEquals("into the file\n", Files.readString(file), "the link's open was left to the kernel");
            }
        } finally {
            StickyCreateCheck.levelsForTest = null;
        }
    }

    private static ExitStatus echoTo(Path file) throws Exception {
        try (Subprocess p = Subprocess.builder("echo", "into the file").stdout(Redirect.to(file)).start()) {
            return p.waitFor();
        }
    }

    /** A directory of {@code base} with exactly {@code mode}, sticky bit included (which java.nio's permissions lack). */
    private Path directory(String name, int mode) throws Exception {
        Path dir = Files.createDirectory(base.resolve(name));
        Files.setAttribute(dir, "unix:mode", mode);
        assertEquals(mode, (int) Files.getAttribute(dir, "unix:mode") & 07777);
        return dir;
    }

    private static Path fileOwnedBy(int uid, Path dir, String name) throws Exception {
        Path file = Files.writeString(dir.resolve(name), "");
        Files.setAttribute(file, "unix:uid", uid);
        return file;
    }

    private static boolean mayReopen(Path file, int flags, int level) throws SyscallException {
        return mayReopen(file, flags, type -> level);
    }

    /** The check for what {@code file} names now, looked up as a virtual thread's redirect looks it up. */
    private static boolean mayReopen(Path file, int flags, IntUnaryOperator levelOf) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            int named = Syscalls.open(arena.allocateFrom(file.toString()), linux_h.O_PATH() | linux_h.O_CLOEXEC(), 0);
            try {
                MemorySegment st = stat.allocate(arena);
                Syscalls.fstat(named, st);
                return StickyCreateCheck.mayReopen(st, file, flags, levelOf);
            } finally {
                Syscalls.close(named);
            }
        }
    }

    private static void assertRefused(Path file, int flags, int level) {
        assertRefused(file, flags, type -> level);
    }

    private static void assertRefused(Path file, int flags, IntUnaryOperator levelOf) {
        SyscallException e = assertThrows(SyscallException.class, () -> mayReopen(file, flags, levelOf));
        assertEquals(Errno.EACCES, e.errno(), e.getMessage());
        assertEquals("open", e.call());
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    }
}
