package dev.panpipe.internal.linux;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

/**
 * How many pipe-buffer pages this process may add by enlarging the pipes it makes for children by default
 * ({@link dev.panpipe.process.SubprocessBuilder#pipeCapacity}), so that doing so never makes every pipe of
 * the user small.
 *
 * <h2>Why there is a budget</h2>
 * Linux counts the pages of every pipe buffer a user holds, in all of that user's processes. Past
 * {@code /proc/sys/fs/pipe-user-pages-soft} (16384 pages, 64 MiB, by default) an unprivileged user's new
 * pipes get <em>two</em> pages (8 KiB) instead of sixteen, and {@code F_SETPIPE_SZ} fails with EPERM, until
 * enough of them are closed. Sixty-four 1 MiB pipes reach it: a JVM with 32 children, stdin and stdout
 * piped, would have slowed every pipe the user's shells and programs make to 8 KiB (seen here as user
 * nobody: the 65th pipe of a process that enlarged 64 had 8192 bytes). So a default enlargement happens only
 * while the extra pages this process holds through it stay under half the soft limit; past that, children
 * get the kernel's default 64 KiB, which the user would have had anyway. Privileged processes
 * ({@code CAP_SYS_RESOURCE} or {@code CAP_SYS_ADMIN}, as root usually is) and a soft limit of 0 are not
 * limited by the kernel, nor here.
 *
 * <p>The pages go back when panpipe's end of the pipe is closed (or collected). The child may hold its end
 * longer, so the kernel's count can lag this one; other processes of the user count too, which this one
 * cannot see. An explicit {@link dev.panpipe.io.Pipe#capacity(int)} is the caller's choice and not counted.
 */
final class PipeBudget {
    private static final long PAGE = Syscalls.sysconf(linux_h._SC_PAGESIZE());
    /** Pages a new pipe has: the kernel's PIPE_DEF_BUFFERS. */
    private static final long DEFAULT_PAGES = 16;
    /** Extra pages this process may hold in enlarged pipes at once; Long.MAX_VALUE: no limit. */
    static final long LIMIT = limit();
    private static final AtomicLong HELD = new AtomicLong();

    private PipeBudget() {
    }

    /**
     * Enlarges the fresh pipe {@code fd} to {@code bytes} if the budget allows, best effort.
     *
     * @return the extra pages taken from the budget, to {@link #giveBack} when panpipe's end closes; 0 if the
     *         pipe was left as it was
     */
    static long enlarge(int fd, int bytes) {
        long extra = Math.max(0, pagesFor(bytes) - DEFAULT_PAGES);
        if (extra == 0 || !take(extra)) return 0;
        long granted;
        try {
            granted = Syscalls.fcntl(fd, linux_h.F_SETPIPE_SZ(), bytes);
        } catch (SyscallException e) {
            // EPERM (the user is over its pipe budget after all) or EINVAL: the default size still works, slower
            giveBack(extra);
            return 0;
        }
        long grantedExtra = Math.max(0, granted / PAGE - DEFAULT_PAGES);
        if (grantedExtra < extra) giveBack(extra - grantedExtra);
        return grantedExtra;
    }

    static void giveBack(long pages) {
        if (pages > 0) HELD.addAndGet(-pages);
    }

    /** Extra pages held now through default enlargements. */
    static long held() {
        return HELD.get();
    }

    private static boolean take(long pages) {
        for (;;) {
            long held = HELD.get();
            if (held + pages > LIMIT) return false;
            if (HELD.compareAndSet(held, held + pages)) return true;
        }
    }

    /** The kernel rounds a pipe's size up to a power-of-two number of pages. */
    private static long pagesFor(int bytes) {
        long pages = Math.max(1, (bytes + PAGE - 1) / PAGE);
        return pages == 1 ? 1 : Long.highestOneBit(pages - 1) << 1;
    }

    private static long limit() {
        if (privileged()) return Long.MAX_VALUE;
        long soft;
        try {
            // Not Files.readString: a sysctl file reports size 0, and the JDK's first read of such a file gets "1" of "16384"
            soft = Long.parseLong(Files.readAllLines(Path.of("/proc/sys/fs/pipe-user-pages-soft")).getFirst().strip());
        } catch (IOException | RuntimeException e) {
            soft = 16384;    // the kernel's default, should /proc not say
        }
        return soft <= 0 ? Long.MAX_VALUE : soft / 2;
    }

    /** Whether the kernel exempts this process from the pipe page limits: CAP_SYS_RESOURCE or CAP_SYS_ADMIN in effect. */
    private static boolean privileged() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("CapEff:")) {
                    long caps = Long.parseUnsignedLong(line.substring("CapEff:".length()).strip(), 16);
                    return (caps & (1L << 24 | 1L << 21)) != 0;    // CAP_SYS_RESOURCE, CAP_SYS_ADMIN
                }
            }
        } catch (IOException | RuntimeException e) {
            // cannot tell: count, as for an unprivileged process
        }
        return false;
    }
}
