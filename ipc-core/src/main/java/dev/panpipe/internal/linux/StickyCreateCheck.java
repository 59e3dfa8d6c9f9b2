package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.stat;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.function.IntUnaryOperator;

/**
 * The kernel's refusal of an {@code O_CREAT} open of a file someone else left in a sticky directory
 * ({@code fs.protected_regular}, {@code fs.protected_fifos}: {@code may_create_in_sticky} in {@code fs/namei.c}),
 * made again for an open that goes through {@code /proc/self/fd/N}. The kernel checks the directory in which the
 * path's last component was looked up; for that reopen it is {@code /proc/self/fd}, which is never sticky, so the
 * kernel lets it through where the open of the user's path, say {@code /tmp/out} planted by another user, gets
 * EACCES. Without this check a virtual thread's redirect would write into a file its platform-thread twin may not.
 *
 * <p>The directory checked is the one the user's path names as the parent, looked up now, and only if the object
 * looked up earlier is still the entry of that name in it ({@code O_NOFOLLOW}, same device and inode): that is the
 * lookup the kernel's own open would make, one component after the other. A last component that is a link (the
 * kernel then checks the parent of its target), or one that no longer leads to the object, is not judged here: the
 * caller opens the path itself, from a platform thread, and the kernel judges.
 */
final class StickyCreateCheck {
    // Mode bits fixed by POSIX; fs/namei.c tests the same literals (0002, 0020) on the directory's mode.
    private static final int S_ISVTX = 01000;
    private static final int S_IWGRP = 0020;
    private static final int S_IWOTH = 0002;

    private static final Path PROTECTED_REGULAR = Path.of("/proc/sys/fs/protected_regular");
    private static final Path PROTECTED_FIFOS = Path.of("/proc/sys/fs/protected_fifos");

    private StickyCreateCheck() {
    }

    /**
     * Whether what {@code held} holds, looked up as {@code path}, may be reopened through {@code /proc/self/fd} with
     * {@code flags}, as far as the sticky-directory rule goes.
     *
     * @return true if the rule lets the open of {@code path} through (always without {@code O_CREAT}, and for a file
     *         of the caller's own, before any further system call but {@code geteuid}); false if it cannot be told
     *         here without a race: the caller then opens {@code path} itself, where the kernel applies the rule
     * @throws SyscallException naming open, EACCES and {@code path}, where the kernel would refuse that open
     */
    static boolean mayReopen(HeldFile held, Path path, int flags) throws SyscallException {
        IntUnaryOperator levels = levelsForTest;
        return mayReopen(held.owner(), held.fileSystem(), held.inode(), held.type(), path, flags,
                levels != null ? levels : StickyCreateCheck::sysctlLevel);
    }

    /** A test's levels for the checks its redirects make, instead of the machine's sysctls (never written). */
    static volatile IntUnaryOperator levelsForTest;

    /**
     * {@link #mayReopen(HeldFile, Path, int)} for the object whose {@code struct stat} is {@code objectStat}, with the
     * sysctl levels given by {@code levelOf} (the file type's {@code S_IFMT} bits to the level, -1 if unknown), so
     * that a test can set them without touching the machine's.
     */
    static boolean mayReopen(MemorySegment objectStat, Path path, int flags, IntUnaryOperator levelOf) throws SyscallException {
        return mayReopen(stat.st_uid(objectStat), stat.st_dev(objectStat), stat.st_ino(objectStat),
                stat.st_mode(objectStat) & linux_h.S_IFMT(), path, flags, levelOf);
    }

    private static boolean mayReopen(int owner, long fileSystem, long inode, int type, Path path, int flags,
                                     IntUnaryOperator levelOf) throws SyscallException {
        if ((flags & linux_h.O_CREAT()) == 0) return true;
        if (owner == Syscalls.geteuid()) return true;
        Path name = path.getFileName();
        if (name == null) return false;
        Path parent = path.getParent();
        boolean refused;
        int dir = -1;
        int entry = -1;
        try (Arena arena = Arena.ofConfined()) {
            dir = Syscalls.open(arena.allocateFrom(parent == null ? "." : parent.toString()),
                    linux_h.O_PATH() | linux_h.O_DIRECTORY() | linux_h.O_CLOEXEC(), 0);
            entry = Syscalls.openat(dir, arena.allocateFrom(name.toString()),
                    linux_h.O_PATH() | linux_h.O_NOFOLLOW() | linux_h.O_CLOEXEC(), 0);
            MemorySegment st = stat.allocate(arena);
            Syscalls.fstat(entry, st);
            if (stat.st_dev(st) != fileSystem || stat.st_ino(st) != inode) return false;
            Syscalls.fstat(dir, st);
            int dirMode = stat.st_mode(st);
            int dirOwner = stat.st_uid(st);
            if ((dirMode & S_ISVTX) == 0 || owner == dirOwner) return true;
            int level = type == linux_h.S_IFREG() || type == linux_h.S_IFIFO() ? levelOf.applyAsInt(type) : 0;
            if (level < 0) return false;
            refused = refuses(type, dirMode, level);
        } catch (SyscallException e) {
            return false;   // the directory or the name has gone meanwhile, or cannot be searched: the open says which
        } finally {
            if (entry >= 0) FdHandle.closeQuietly(entry);
            if (dir >= 0) FdHandle.closeQuietly(dir);
        }
        if (refused) throw SyscallException.of("open", path.toString(), Errno.EACCES);
        return true;
    }

    /**
     * The end of {@code may_create_in_sticky} for a file of {@code type} owned by neither the caller nor the owner of
     * its sticky directory: a world-writable directory refuses it (a regular file or a FIFO only at a level of 1 or
     * more; the kernel names no sysctl for the other types), a group-writable one at level 2.
     */
    private static boolean refuses(int type, int dirMode, int level) {
        boolean gated = type == linux_h.S_IFREG() || type == linux_h.S_IFIFO();
        if (gated && level == 0) return false;
        if ((dirMode & S_IWOTH) != 0) return true;
        return gated && level >= 2 && (dirMode & S_IWGRP) != 0;
    }

    /** The level of the sysctl that protects files of {@code type}: read each time, as the kernel does, since root may change it. */
    private static int sysctlLevel(int type) {
        return sysctlLevel(type == linux_h.S_IFIFO() ? PROTECTED_FIFOS : PROTECTED_REGULAR);
    }

    /** The level in a sysctl file: 0 if it is missing (a kernel before 4.19 has no such protection), -1 if unreadable. */
    static int sysctlLevel(Path file) {
        try {
            return Integer.parseInt(Files.readString(file).trim());
        } catch (NoSuchFileException e) {
            return 0;
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }
}
