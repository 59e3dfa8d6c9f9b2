package dev.panpipe.zerocopy.internal;

import dev.panpipe.zerocopy.CurrentThreadAllocation;
import dev.panpipe.zerocopy.Seccomp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Whether a process has ended, where the kernel or a sandbox answers less than usual. */
@Timeout(30)
class ProcessesTest {

    /**
     * A seccomp filter that denies a system call fails it with EPERM (Docker's default profile before 20.10 did so
     * for pidfd_open, as does a systemd SystemCallFilter= without it). hasEnded took that for "cannot tell" and
     * fell back to kill(pid, 0) only for ENOSYS: there, no dead claimer of a queue's slot or a lock was ever taken
     * back, and survivors waited for them for ever. The filter is installed on a thread of its own, which takes it
     * with it when it ends.
     */
    @Test
    void shouldTellAGonePidEndedWhenASandboxDeniesPidfdOpen() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.getOutputStream().close();
        p.getInputStream().close();
        p.getErrorStream().close();
        p.waitFor();
        int gone = (int) p.pid();                               // reaped: no process has it now
        assertTrue(Processes.hasEnded(gone), "gone, asked with pidfd_open");
        AtomicReference<Object> answers = new AtomicReference<>();
        Thread sandboxed = Thread.ofPlatform().start(() -> {
            try {
                if (!Seccomp.denyPidfdOpenToThisThread()) {
                    answers.set("no seccomp here");
                    return;
                }
                answers.set(new boolean[]{Processes.hasEnded(gone), Processes.hasEnded(parentOfThisJvm())});
            } catch (Throwable e) {
                answers.set(e);
            }
        });
        sandboxed.join();
        Object a = answers.get();
        if (a instanceof Throwable e) throw new AssertionError(e);
        assumeTrue(a instanceof boolean[], String.valueOf(a));
        boolean[] ended = (boolean[]) a;
        assertTrue(ended[0], "a gone pid has ended, pidfd_open denied or not");
        assertFalse(ended[1], "a live process has not");
    }

    /**
     * The start time is field 22 of /proc/PID/stat, counted from the last ')': a command name may hold spaces and
     * parentheses. Read here as the JDK would, for this JVM and for a child named to confuse a naive split.
     */
    @Test
    void shouldReadTheStartTimeProcShows(@TempDir Path dir) throws Exception {
        assertEquals(startTimeByJdk(Processes.SELF), Processes.startTime(Processes.SELF));
        assertEquals(Processes.SELF_START_TIME, Processes.startTime(Processes.SELF));
        Path odd = dir.resolve("a) b (2 3) 4");
        Files.copy(Path.of("/bin/sleep"), odd);
        odd.toFile().setExecutable(true);
        Process child = new ProcessBuilder(odd.toString(), "30").start();
        try {
            int pid = (int) child.pid();
            long expected = startTimeByJdk(pid);
            assertTrue(expected > 0, "the child's start time, read with the JDK");
            assertEquals(expected, Processes.startTime(pid));
            assertFalse(Processes.hasEnded(pid, expected), "alive, and the start time is its own");
            assertTrue(Processes.hasEnded(pid, expected + 1), "alive, but another start time: its pid was reused");
        } finally {
            child.destroyForcibly();
            child.waitFor(10, TimeUnit.SECONDS);
        }
        assertEquals(-1, Processes.startTime((int) child.pid()), "reaped: nothing to read");
        assertEquals(-1, Processes.startTime(0));
    }

    /** A line that does not hold field 22 whole gives -1, never a wrong number. */
    @Test
    void shouldGiveNoStartTimeFromALineCutShort() {
        String line = "4242 (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 3000000 1 ...";
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment whole = arena.allocateFrom(line, StandardCharsets.US_ASCII);
            long length = line.length();
            assertEquals(987654, Processes.field22(whole, length));
            int end = line.indexOf(" 3000000");
            assertEquals(987654, Processes.field22(whole, end + 1));
            assertEquals(-1, Processes.field22(whole, end), "the number's end is not known");
            assertEquals(-1, Processes.field22(whole, end - 2), "cut inside the number");
            assertEquals(-1, Processes.field22(whole, line.indexOf(" 987654")), "cut before it");
            assertEquals(-1, Processes.field22(whole, 5), "no ')' yet");
        }
    }

    /**
     * A survivor waiting behind a live claimer in another process asks this every few tens of milliseconds for as
     * long as it waits: once warm, asking allocates nothing (it was about 12 KB a look: an arena, and
     * /proc/PID/stat read into a String and split).
     */
    @Test
    void shouldAllocateNothingAskingWhetherALiveProcessEnded() throws Exception {
        Process child = new ProcessBuilder("sleep", "30").start();
        try {
            int pid = (int) child.pid();
            long start = Processes.startTime(pid);
            assertTrue(start > 0);
            long[] perRound = new long[5];
            boolean anyEnded = false;
            for (int round = 0; round < perRound.length; round++) {
                long before = CurrentThreadAllocation.bytes();
                for (int i = 0; i < 4_000; i++) anyEnded |= Processes.hasEnded(pid, start, 0xffff_ffffL);
                perRound[round] = CurrentThreadAllocation.bytes() - before;
            }
            assertFalse(anyEnded, "the child runs");
            assertEquals(0, perRound[perRound.length - 1], "bytes allocated per round of 4,000 looks: " + Arrays.toString(perRound));
        } finally {
            child.destroyForcibly();
            child.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** The old reading, as the JDK does it: the reference the allocation-free one is checked against. */
    private static long startTimeByJdk(int pid) throws Exception {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(fields[22 - 3]);
    }

    private static int parentOfThisJvm() {
        return (int) ProcessHandle.current().parent().orElseThrow().pid();
    }

}
