package dev.panpipe.process;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.sigaction;
import dev.panpipe.bindings.linux.sigset_t;
import dev.panpipe.io.Io;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.io.Pipe;
import dev.panpipe.testing.OpenFds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a child starts with: exactly the fds it was given, no blocked signals, no ignored ones but SIGHUP, SIGINT,
 * SIGQUIT and SIGTERM where the parent ignores those; and what spawning leaves behind.
 */
@ExtendWith(LeakCheck.class)
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class ChildStateTest {
    /** "N -> target" in {@code ls -l} output. */
    private static final Pattern FD_LINE = Pattern.compile(" (\\d+) -> (.*)$");
    /** The one fd ls opens itself: the directory it is listing, /proc/<ls's pid>/fd. */
    private static final Pattern LISTING_DIR = Pattern.compile("/proc/\\d+/fd");

    @Test
    void shouldGiveTheChildOnlyItsThreeStandardFds() throws Exception {
        Map<Integer, String> fds = childFds(Subprocess.builder("ls", "-l", "/proc/self/fd"));
        assertEquals(Set.of(0, 1, 2), fds.keySet(), "child fds: " + fds);
    }

    @Test
    void shouldGiveTheChildAPassedFdAsWell() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            Map<Integer, String> fds = childFds(Subprocess.builder("ls", "-l", "/proc/self/fd").passFd(3, Redirect.to(pipe.writeEnd())));
            assertEquals(Set.of(0, 1, 2, 3), fds.keySet(), "child fds: " + fds);
            assertEquals(Files.readSymbolicLink(Path.of("/proc/self/fd/" + pipe.writeEnd().nativeHandle())).toString(), fds.get(3),
                    "fd 3 is the parent's pipe");
        }
    }

    @Test
    void shouldCloseInheritableParentFdsBelowAPassedFdToo() throws Exception {
        // fds the parent opened without close-on-exec, numbered below the highest fd passed: the child must
        // not get them either ("every other fd of the parent is closed in the child").
        try (Arena arena = Arena.ofConfined(); Pipe pipe = Pipe.open()) {
            MemorySegment raw = arena.allocate(linux_h.C_INT, 2);
            Syscalls.pipe2(raw, 0);   // deliberately inheritable
            int a = raw.getAtIndex(linux_h.C_INT, 0), b = raw.getAtIndex(linux_h.C_INT, 1);
            try {
                int passed = Math.max(a, b) + 2;
                Map<Integer, String> fds = childFds(Subprocess.builder("ls", "-l", "/proc/self/fd")
                        .passFd(passed, Redirect.to(pipe.writeEnd())));
                assertEquals(Set.of(0, 1, 2, passed), fds.keySet(), "child fds (parent's inheritable fds were " + a + ", " + b + "): " + fds);
            } finally {
                Syscalls.close(a);
                Syscalls.close(b);
            }
        }
    }

    /** The signals a child keeps ignored where its parent ignores them (LinuxSpawner), as a SigIgn mask. */
    private static final long KEPT_IGNORED = (1L << (Signals.SIGHUP - 1)) | (1L << (Signals.SIGINT - 1))
            | (1L << (Signals.SIGQUIT - 1)) | (1L << (Signals.SIGTERM - 1));

    /** A struct sigaction whose handler is SIG_IGN, with an empty mask and no flags. */
    private static MemorySegment ignoring(Arena arena) {
        MemorySegment action = sigaction.allocate(arena);
        sigaction.__sigaction_handler.sa_handler(sigaction.__sigaction_handler(action), MemorySegment.ofAddress(Syscalls.SIG_IGN));
        return action;
    }

    @Test
    void shouldKeepSigintSigquitSighupAndSigtermIgnoredWhereTheParentIgnoresThemAndNothingElse() throws Exception {
        // nohup ignores SIGHUP for a program and all it starts; a shell without job control starts a background
        // command with SIGINT and SIGQUIT ignored. Children used to get every signal back to its default, so the
        // workers of a JVM under nohup died at the hangup the JVM itself outlived.
        int[] ignored = {Signals.SIGHUP, Signals.SIGQUIT, Signals.SIGPIPE};
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ignore = ignoring(arena);
            MemorySegment[] saved = new MemorySegment[ignored.length];
            try {
                for (int i = 0; i < ignored.length; i++) {
                    saved[i] = sigaction.allocate(arena);
                    assertEquals(0, linux_h.sigaction(ignored[i], ignore, saved[i]));
                }
                String status;
                try (Subprocess p = Subprocess.builder("cat", "/proc/self/status").stderr(Redirect.inherit()).start()) {
                    status = Io.readAllUtf8(p.stdout());
                    assertEquals(ExitStatus.exited(0), p.waitFor());
                }
                long parentIgnores = Long.parseLong(signalMasks(Files.readString(Path.of("/proc/self/status"))).get("SigIgn"), 16);
                long expected = parentIgnores & KEPT_IGNORED;   // HUP, QUIT, and INT or TERM if this JVM started with them ignored
                assertEquals(expected & (1L << (Signals.SIGPIPE - 1)), 0L, "SIGPIPE goes back to its default");
                assertEquals(String.format("%016x", expected), signalMasks(status).get("SigIgn"), "signals ignored in the child");
                assertTrue((expected & (1L << (Signals.SIGHUP - 1))) != 0 && (expected & (1L << (Signals.SIGQUIT - 1))) != 0);
            } finally {
                for (int i = 0; i < ignored.length; i++) {
                    if (saved[i] != null) assertEquals(0, linux_h.sigaction(ignored[i], saved[i], MemorySegment.NULL));
                }
            }
        }
    }

    @Test
    void shouldStartTheChildWithNoBlockedOrIgnoredSignalsWhateverTheParentDoes() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            // This thread blocks SIGUSR1 and SIGHUP; the whole process ignores SIGPIPE (the JVM's own action is
            // saved whole and put back exactly).
            MemorySegment block = sigset_t.allocate(arena);
            linux_h.sigemptyset(block);
            linux_h.sigaddset(block, Signals.SIGUSR1);
            linux_h.sigaddset(block, Signals.SIGHUP);
            MemorySegment oldMask = sigset_t.allocate(arena);
            assertEquals(0, linux_h.pthread_sigmask(linux_h.SIG_BLOCK(), block, oldMask));
            MemorySegment jvmAction = sigaction.allocate(arena);
            assertEquals(0, linux_h.sigaction(Signals.SIGPIPE, ignoring(arena), jvmAction));
            try {
                Map<String, String> parent = signalMasks(Files.readString(Path.of("/proc/thread-self/status")));
                assertNotEquals(0L, Long.parseLong(parent.get("SigBlk"), 16), "precondition: this thread blocks signals");
                assertNotEquals(0L, Long.parseLong(parent.get("SigIgn"), 16) & (1L << (Signals.SIGPIPE - 1)), "precondition: SIGPIPE ignored");

                String status;
                try (Subprocess p = Subprocess.builder("cat", "/proc/self/status").stderr(Redirect.inherit()).start()) {
                    status = Io.readAllUtf8(p.stdout());
                    assertEquals(ExitStatus.exited(0), p.waitFor());
                }
                Map<String, String> child = signalMasks(status);
                assertEquals("0000000000000000", child.get("SigBlk"), "signals blocked in the child");
                // none: SIGPIPE back to its default, and so every other signal (but those of KEPT_IGNORED if this
                // JVM was started with them ignored: a background job of a shell without job control, say)
                long parentIgnores = Long.parseLong(parent.get("SigIgn"), 16);
                assertEquals(String.format("%016x", parentIgnores & KEPT_IGNORED), child.get("SigIgn"), "signals ignored in the child");

                // and it shows: a writer whose reader goes away dies of SIGPIPE, as `yes | head -1` needs
                try (Subprocess yes = Subprocess.builder("yes").stderr(Redirect.discard()).start()) {
                    byte[] some = new byte[4];
                    assertTrue(yes.stdout().read(some, 0, 4) > 0, "yes is writing");
                    yes.stdout().close();
                    assertEquals(ExitStatus.killed(Signals.SIGPIPE, false), yes.waitFor());
                }
            } finally {
                assertEquals(0, linux_h.sigaction(Signals.SIGPIPE, jvmAction, MemorySegment.NULL));
                assertEquals(0, linux_h.pthread_sigmask(linux_h.SIG_SETMASK(), oldMask, MemorySegment.NULL));
            }
        }
    }

    @Test
    void shouldLeaveNoFdNoChildAndNoZombieAfterAThousandSpawns() throws Exception {
        Map<Integer, String> fdsBefore = LeakCheck.openFds();
        Map<Long, String> childrenBefore = LeakCheck.children();
        for (int i = 0; i < 1000; i++) {
            try (Subprocess p = Subprocess.builder("/bin/true").start()) {
                if (i % 2 == 0) assertEquals(ExitStatus.exited(0), p.waitFor());   // odd ones: close() alone must reap
            }
            if (i % 100 == 99) {
                Map<Long, String> now = LeakCheck.children();
                assertEquals(childrenBefore, now, "children after " + (i + 1) + " spawns (pid=state, Z is a zombie)");
            }
        }
        // The fds opened since, less the JVM's own: the whole table also changes with what other threads of this
        // JVM open and close meanwhile (a Cleaner, after a GC that a thousand spawns make likely).
        assertEquals(List.of(), OpenFds.openedSince(fdsBefore), "fds left open after a thousand spawns");
        assertEquals(childrenBefore, LeakCheck.children());
        assertTrue(childrenBefore.values().stream().noneMatch("Z"::equals));
    }

    @Test
    void shouldNotMakeAnEndSharedWithAChildNonBlockingUnderIt() throws Exception {
        // The parent and a child both write into one pipe (the parent lends its write end as the child's
        // stdout and keeps writing itself). The parent's writes must not switch the shared description to
        // O_NONBLOCK, or the child's writes fail with EAGAIN as soon as the pipe is full.
        try (Pipe pipe = Pipe.open();
             Subprocess child = Subprocess.builder("sh", "-c", "sleep 0.2; head -c 1000000 /dev/zero")
                     .stdin(Redirect.discard()).stdout(Redirect.to(pipe.writeEnd())).start()) {
            Io.writeUtf8(pipe.writeEnd(), "P");
            pipe.writeEnd().close();
            byte[] all = Io.readAll(pipe.readEnd());
            String err = Io.readAllUtf8(child.stderr());
            assertEquals(ExitStatus.exited(0), child.waitFor(), "child failed: " + err);
            assertEquals(1_000_001, all.length);
        }
    }

    private static Map<String, String> signalMasks(String status) {
        Map<String, String> m = new TreeMap<>();
        for (String line : status.split("\n")) {
            if (line.startsWith("SigBlk:") || line.startsWith("SigIgn:")) m.put(line.substring(0, 6), line.substring(7).trim());
        }
        return m;
    }

    /** The child's fds with their targets, from its own {@code ls -l /proc/self/fd}, less the one ls opens to list them. */
    private static Map<Integer, String> childFds(SubprocessBuilder b) throws Exception {
        String out;
        try (Subprocess p = b.stderr(Redirect.inherit()).start()) {
            out = Io.readAllUtf8(p.stdout());
            assertEquals(ExitStatus.exited(0), p.waitFor());
        }
        Map<Integer, String> fds = new TreeMap<>();
        int listing = 0;
        for (String line : out.split("\n")) {
            Matcher m = FD_LINE.matcher(line);
            if (!m.find()) continue;
            if (LISTING_DIR.matcher(m.group(2)).matches()) {
                listing++;
                continue;
            }
            fds.put(Integer.parseInt(m.group(1)), m.group(2));
        }
        assertEquals(1, listing, "ls opens exactly one fd, its directory:\n" + out);
        return fds;
    }
}
