package dev.panpipe.io;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.linux.linux_h;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * What a careless caller, or another library in the same process, can do to an fd an object owns: for
 * tests of what that object's close does when one of its releases then fails. Real failures of real system
 * calls, no mocks.
 */
public final class BehindTheBack {
    private BehindTheBack() {
    }

    /**
     * Waits (up to 10 s) until an eventfd that is not among {@code before} is open in this JVM and returns
     * its number: the wake-up fd an FdHandle makes the first time a thread waits on it.
     */
    public static int newEventFd(Map<Integer, String> before) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        do {
            for (Map.Entry<Integer, String> e : LeakCheck.openFds().entrySet()) {
                if (e.getValue().equals("anon_inode:[eventfd]") && !e.getValue().equals(before.get(e.getKey()))) return e.getKey();
            }
            Thread.sleep(5);
        } while (System.nanoTime() < deadline);
        throw new AssertionError("no new eventfd appeared in 10 s: " + LeakCheck.openFds());
    }

    /** The number of this JVM's pidfd for process {@code pid}. */
    public static int pidfdOf(long pid) throws IOException {
        for (Map.Entry<Integer, String> e : LeakCheck.openFds().entrySet()) {
            if (!e.getValue().equals("anon_inode:[pidfd]")) continue;
            String info = Files.readString(Path.of("/proc/self/fdinfo/" + e.getKey()));
            if (info.lines().anyMatch(line -> line.equals("Pid:\t" + pid))) return e.getKey();
        }
        throw new AssertionError("no pidfd for pid " + pid + " among " + LeakCheck.openFds());
    }

    /**
     * Puts a read-only {@code /dev/null} where fd {@code fd} was ({@code dup3}): its owner still holds the
     * number, which no other open can be given meanwhile, but a write to it fails with EBADF, poll finds it
     * readable at once, and it is no pidfd. The owner's close closes the /dev/null in its place.
     */
    public static void replaceWithReadOnlyDevNull(int fd) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            int devNull = Syscalls.open(arena.allocateFrom("/dev/null"), linux_h.O_RDONLY() | linux_h.O_CLOEXEC(), 0);
            try {
                if (linux_h.dup3(devNull, fd, linux_h.O_CLOEXEC()) != fd) throw new AssertionError("dup3 onto fd " + fd + " failed");
            } finally {
                Syscalls.close(devNull);
            }
        }
    }
}
