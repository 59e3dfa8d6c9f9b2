package dev.panpipe.process;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.io.ReadEnd;
import dev.panpipe.testing.ProcFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Process groups with real processes: a child leads a new group or joins one ({@code /proc/PID/stat} says
 * which), a group that cannot be joined is a typed error, and a pipeline in a group of its own ends on close
 * what its stages started, which it leaves running otherwise. Every grandchild a test starts is killed in its
 * finally, should the test fail before it is gone.
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class ProcessGroupTest {
    /** Says the pid of a sleep it starts in the background (its stdout elsewhere), then waits for it. */
    private static final String STARTS_A_SLEEP_AND_WAITS = "sh -c 'sleep 100 >/dev/null & echo $!; wait'";

    @TempDir
    Path dir;

    private static SubprocessBuilder sleeper() {
        return Subprocess.builder("sleep", "30").stdin(Redirect.discard()).stdout(Redirect.discard()).stderr(Redirect.discard());
    }

    @Test
    void shouldStartAChildInANewGroupOrInAnExistingOne() throws Exception {
        try (Subprocess leader = sleeper().processGroup(0).start();
             Subprocess member = sleeper().processGroup(leader.pid()).start();
             Subprocess plain = sleeper().start()) {
            assertEquals(leader.pid(), pgrp(leader.pid()), "processGroup(0): a new group, numbered as the child");
            assertEquals(leader.pid(), pgrp(member.pid()), "processGroup(pgid): the child joined that group");
            assertEquals(pgrp(ProcessHandle.current().pid()), pgrp(plain.pid()), "by default, this process's group");
        }
    }

    @Test
    void shouldRefuseAGroupNumberNoProcessCanHave() {
        IllegalArgumentException negative = assertThrows(IllegalArgumentException.class, () -> sleeper().processGroup(-3));
        assertTrue(negative.getMessage().contains("-3"), negative.getMessage());
        IllegalArgumentException huge = assertThrows(IllegalArgumentException.class, () -> sleeper().processGroup(1L << 32));
        assertTrue(huge.getMessage().contains(String.valueOf(1L << 32)), huge.getMessage());
    }

    /** foreground without a group of its own would give the terminal to the group that has it: refused, nothing started. */
    @Test
    void shouldRefuseForegroundWithoutANewGroup() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> Pipeline.parse("true").foreground(true).run());
        assertTrue(e.getMessage().contains("newProcessGroup"), e.getMessage());
        assertEquals(List.of(), ProcessHandle.current().children().toList());
    }

    /**
     * Not at a terminal (the test JVM's stdin is none): foreground changes nothing and the pipeline runs as
     * with newProcessGroup alone. A real terminal is exercised end to end, through the CLI under a pty
     * (PipelineCommandEndToEndTest).
     */
    @Test
    void shouldRunInItsGroupWithForegroundWhenStdinIsNoTerminal() throws Exception {
        Path out = dir.resolve("out");
        Pipeline.Result r = Pipeline.parse("echo hi", "cat").newProcessGroup(true).foreground(true)
                .input(Redirect.discard()).output(out, false).run();
        assertEquals(0, r.exitCode());
        assertEquals("hi\n", Files.readString(out));
    }

    /** A number no process has (above any pid_max): setpgid's EPERM in the child, said of the group, and no child. */
    @Test
    void shouldNameTheGroupThatCannotBeJoined() {
        SpawnException e = assertThrows(SpawnException.class, () -> {
            try (Subprocess started = sleeper().processGroup(Integer.MAX_VALUE).start()) {
                // not expected: closed at once, so a failure here leaves no child to the next test
            }
        });
        assertTrue(e.getMessage().startsWith("cannot start sleep: posix_spawn "), e.getMessage());
        assertTrue(e.getMessage().contains("cannot join process group " + Integer.MAX_VALUE + ": there is no such group"), e.getMessage());
        SyscallException cause = assertInstanceOf(SyscallException.class, e.getCause());
        assertEquals(Errno.EPERM, cause.errno());
        assertEquals(List.of(), ProcessHandle.current().children().toList());
    }

    @Test
    void shouldPutEveryStageOfAPipelineInTheGroupOfItsFirst() throws Exception {
        Pipeline p = Pipeline.parse("sleep 30", "sleep 30", "sleep 30").input(Redirect.discard()).output(Redirect.discard());
        try (Pipeline.Running grouped = p.newProcessGroup(true).start()) {
            long first = grouped.processes().getFirst().pid();
            for (Subprocess s : grouped.processes()) assertEquals(first, pgrp(s.pid()), s.toString());
        }
        try (Pipeline.Running plain = p.newProcessGroup(false).start()) {
            long ours = pgrp(ProcessHandle.current().pid());
            for (Subprocess s : plain.processes()) assertEquals(ours, pgrp(s.pid()), s.toString());
        }
    }

    /**
     * A first stage that ends at once ({@code echo}) is a zombie until it is reaped, and a zombie is still a
     * member of its group: the later stages can join the group it led, which Pipeline relies on.
     */
    @Test
    void shouldJoinTheGroupOfALeaderThatHasEndedButIsNotReaped() throws Exception {
        try (Subprocess leader = Subprocess.builder("true").stdin(Redirect.discard()).stdout(Redirect.discard())
                .stderr(Redirect.discard()).processGroup(0).start()) {
            ProcFs.await(() -> ProcFs.state(leader.pid()) == 'Z', "the leader has ended, unreaped");
            try (Subprocess member = sleeper().processGroup(leader.pid()).start()) {
                assertEquals(leader.pid(), pgrp(member.pid()));
            }
        }
        Path out = Files.createTempFile("panpipe-group-", ".txt");
        try {
            Pipeline.Result r = Pipeline.parse("echo hi", "cat").input(Redirect.discard()).output(out, false).newProcessGroup(true).run();
            assertEquals(List.of(0, 0), r.shellCodes());
            assertEquals("hi\n", Files.readString(out));
        } finally {
            Files.delete(out);
        }
    }

    /** SIGTERM to the group reaches the sleep a stage's shell started, which no signal to the stage itself does. */
    @Test
    void shouldEndWhatAStageStartedWhenClosedInAGroupOfItsOwn() throws Exception {
        long grandchild = 0;
        try {
            try (Pipeline.Running running = Pipeline.parse(STARTS_A_SLEEP_AND_WAITS, "cat").input(Redirect.discard())
                    .pipeOutput().newProcessGroup(true).start()) {
                grandchild = readPid(running.stdout());
                awaitSleeping(grandchild);
            }
            long g = grandchild;
            ProcFs.await(() -> ended(g), "the stage's background sleep " + g + " has ended");
        } finally {
            killSleep(grandchild);
        }
    }

    /** As close does all of its work on an interrupted thread, it signals the group there too, and the interrupt stays set. */
    @Test
    void shouldEndWhatAStageStartedWhenClosedInAGroupOfItsOwnOnAnInterruptedThread() throws Exception {
        long grandchild = 0;
        try {
            Pipeline.Running running = Pipeline.parse(STARTS_A_SLEEP_AND_WAITS, "cat").input(Redirect.discard())
                    .pipeOutput().newProcessGroup(true).start();
            boolean stillInterrupted;
            try {
                grandchild = readPid(running.stdout());
                awaitSleeping(grandchild);
            } finally {
                Thread.currentThread().interrupt();
                try {
                    running.close();
                } finally {
                    stillInterrupted = Thread.interrupted();
                }
            }
            assertTrue(stillInterrupted, "the interrupt status stays set");
            long g = grandchild;
            ProcFs.await(() -> ended(g), "the stage's background sleep " + g + " has ended");
        } finally {
            Thread.interrupted();
            killSleep(grandchild);
        }
    }

    /**
     * The first stage, the group's leader, has ended before close, leaving a sleep in the group: close still
     * signals the group, as the leader, not yet reaped, holds its number. A close that reaped it first (in its
     * grace-period wait) could no longer signal the group safely.
     */
    @Test
    void shouldEndWhatTheFirstStageLeftRunningWhenItHadEndedBeforeClose() throws Exception {
        long grandchild = 0;
        try {
            try (Pipeline.Running running = Pipeline.parse("sh -c 'sleep 100 >/dev/null & echo $!'", "cat")
                    .input(Redirect.discard()).pipeOutput().newProcessGroup(true).start()) {
                ReadEnd out = running.stdout();
                grandchild = readPid(out);
                byte[] rest = new byte[64];
                while (out.read(rest, 0, rest.length) != ReadEnd.EOF) {
                    // cat ends once the shell has: the sleep's stdout is elsewhere
                }
                awaitSleeping(grandchild);
            }
            long g = grandchild;
            ProcFs.await(() -> ended(g), "the sleep " + g + " left by the first stage has ended");
        } finally {
            killSleep(grandchild);
        }
    }

    /**
     * A stage that counts its SIGTERMs, ahead of stages whose own signals come between its direct one and the
     * group's: close used to send it both, and it counted two. Two signals sent back to back may merge into one
     * before the shell's trap runs, so the old double could go unseen on a run; one SIGTERM is never seen as two.
     */
    @Test
    void shouldSendEachStageOneSigtermWhenClosedInAGroupOfItsOwn() throws Exception {
        Path counted = dir.resolve("terms"), ready = dir.resolve("ready");
        String counter = "n=0; trap 'n=$((n+1)); echo $n >> \"$1\"' TERM; : > \"$2\"; while :; do sleep 100 & wait; done";
        List<List<String>> stages = new ArrayList<>();
        stages.add(List.of("sh", "-c", counter, "counter", counted.toString(), ready.toString()));
        for (int i = 0; i < 8; i++) stages.add(List.of("cat"));
        try (Pipeline.Running running = Pipeline.of(stages).input(Redirect.discard()).output(Redirect.discard())
                .newProcessGroup(true).start()) {
            ProcFs.await(() -> Files.exists(ready), "the counter has set its trap");
        }
        assertEquals(List.of("1"), Files.readAllLines(counted), "SIGTERMs the first stage counted");
    }

    /**
     * What a stage started gets the grace period too: here a shell that handles SIGTERM by cleaning up for a
     * moment and exiting. Close used to send SIGKILL to the group as soon as the stages had ended, which the
     * stage here does at once, and the clean-up never finished.
     */
    @Test
    void shouldGiveWhatAStageStartedTheGracePeriodToEndCleanly() throws Exception {
        Path marker = dir.resolve("cleaned-up"), ready = dir.resolve("ready");
        String grandchild = "trap 'sleep 0.3; echo clean > \"$1\"; exit 0' TERM; : > \"$2\"; while :; do sleep 100 & wait; done";
        List<String> stage = List.of("sh", "-c", "sh -c \"$1\" grandchild \"$2\" \"$3\" & wait", "stage",
                grandchild, marker.toString(), ready.toString());
        try (Pipeline.Running running = Pipeline.of(List.of(stage)).input(Redirect.discard()).output(Redirect.discard())
                .newProcessGroup(true).start()) {
            ProcFs.await(() -> Files.exists(ready), "the stage's child has set its trap");
        }
        assertTrue(Files.exists(marker), "the stage's child was killed before it had cleaned up");
        assertEquals("clean\n", Files.readString(marker));
    }

    /**
     * A group of another session (a {@code setsid} child's) exists, but setpgid refuses it: the message says so,
     * rather than that there is no such group.
     */
    @Test
    void shouldSayThatAGroupIsInAnotherSession() throws Exception {
        try (Subprocess other = Subprocess.builder("setsid", "sleep", "30").stdin(Redirect.discard())
                .stdout(Redirect.discard()).stderr(Redirect.discard()).start()) {
            ProcFs.await(() -> "sleep".equals(ProcFs.comm(other.pid())), "setsid has made a session and run sleep");
            SpawnException e = assertThrows(SpawnException.class, () -> {
                try (Subprocess started = sleeper().processGroup(other.pid()).start()) {
                    // not expected: closed at once
                }
            });
            assertTrue(e.getMessage().contains("cannot join process group " + other.pid() + ": it is in another session"), e.getMessage());
            assertEquals(Errno.EPERM, assertInstanceOf(SyscallException.class, e.getCause()).errno());
        }
    }

    /**
     * Running.signal, as a caller passing on a signal it got uses it while another thread waits: it reaches the
     * sleep the first stage left in the group when it ended, because waitFor reaps that stage, the group's
     * leader, last. It used to reap it first, as soon as it ended, and the group could no longer be signalled.
     */
    @Test
    void shouldPassASignalOnToTheGroupWhileWaitForWaits() throws Exception {
        Path go = dir.resolve("go");
        long grandchild = 0;
        try (Pipeline.Running running = Pipeline.parse("sh -c 'sleep 100 >/dev/null & echo $!; while ! [ -e \"$1\" ]; do sleep 0.02; done' first " + go,
                        "sh -c 'cat; exec sleep 100'")
                .input(Redirect.discard()).pipeOutput().newProcessGroup(true).start()) {
            // The second stage's cat passes the pid on; the last stage's stdout is the pipe read here.
            grandchild = readPid(running.stdout());
            awaitSleeping(grandchild);
            CountDownLatch waiting = new CountDownLatch(1);
            CompletableFuture<Pipeline.Result> waited = CompletableFuture.supplyAsync(() -> {
                waiting.countDown();
                try {
                    return running.waitFor();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            waiting.await();
            // Only now does the first stage end, while waitFor waits: a waitFor that took the stages first to last
            // reaped it at once.
            Files.createFile(go);
            long first = running.processes().getFirst().pid(), last = running.processes().getLast().pid();
            ProcFs.await(() -> ProcFs.state(first) == 'Z' || ProcFs.state(first) == 0, "the first stage has ended");
            ProcFs.await(() -> "sleep".equals(ProcFs.comm(last)), "the last stage runs sleep");
            running.signal(Signals.SIGTERM);
            assertEquals(List.of(0, 128 + Signals.SIGTERM), waited.get().shellCodes());
            long g = grandchild;
            ProcFs.await(() -> ended(g), "the sleep " + g + " left by the first stage has ended");
        } finally {
            killSleep(grandchild);
        }
    }

    /** The default, as documented: close signals each stage, and what a stage started outlives the pipeline. */
    @Test
    void shouldLeaveWhatAStageStartedRunningInTheCallersGroup() throws Exception {
        long grandchild = 0;
        try {
            try (Pipeline.Running running = Pipeline.parse(STARTS_A_SLEEP_AND_WAITS, "cat").input(Redirect.discard())
                    .pipeOutput().start()) {
                grandchild = readPid(running.stdout());
                awaitSleeping(grandchild);
            }
            assertTrue(!ended(grandchild), "the background sleep outlives the pipeline without a group of its own");
        } finally {
            killSleep(grandchild);
        }
    }

    /**
     * A command name (/proc/PID/stat's second field) may hold any byte but NUL: a newline in another process's, on
     * the same machine, must not make a group's close fail or skip its SIGKILL. Here that process is this test's
     * own child, started through a link whose name holds the newline (the kernel names a process after the file).
     */
    @Test
    void shouldCloseAGroupWhateverCommandNamesOtherProcessesHave() throws Exception {
        Path odd = Files.createSymbolicLink(dir.resolve("odd\nname ) 1 2"), Path.of("/bin/sleep"));
        try (Subprocess bystander = Subprocess.builder(odd.toString(), "30").stdin(Redirect.discard())
                .stdout(Redirect.discard()).stderr(Redirect.discard()).destroyGrace(java.time.Duration.ZERO).start()) {
            ProcFs.await(() -> ProcFs.comm(bystander.pid()) != null && ProcFs.comm(bystander.pid()).startsWith("odd"),
                    "the bystander runs under its odd name");
            Pipeline.Running running = Pipeline.parse("sleep 30").input(Redirect.discard()).output(Redirect.discard())
                    .newProcessGroup(true).start();
            running.close();
        }
    }

    /** The first line the pipeline writes, a pid. */
    private static long readPid(ReadEnd out) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        byte[] one = new byte[1];
        while (out.read(one, 0, 1) == 1 && one[0] != '\n') line.write(one[0]);
        return Long.parseLong(line.toString(StandardCharsets.US_ASCII).strip());
    }

    /** Until the shell's child has become sleep (a fork that has not exec'd yet is still "sh"). */
    private static void awaitSleeping(long pid) throws InterruptedException {
        ProcFs.await(() -> "sleep".equals(ProcFs.comm(pid)), pid + " runs sleep");
    }

    /** Gone, or a zombie its new parent has not reaped yet. */
    private static boolean ended(long pid) {
        char state = ProcFs.state(pid);
        return state == 0 || state == 'Z' || !"sleep".equals(ProcFs.comm(pid));
    }

    /** Kills the sleep {@code pid} if it is still one (the number could be another's once it ended) and waits until it has ended. */
    private static void killSleep(long pid) throws InterruptedException {
        if (pid == 0 || ended(pid)) return;
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        ProcFs.await(() -> ended(pid), "the sleep " + pid + " is killed");
    }

    /** Field 5 of /proc/PID/stat, the process group; the fields after the command's closing parenthesis. */
    private static long pgrp(long pid) throws IOException {
        String stat = Files.readAllLines(Path.of("/proc/" + pid + "/stat")).getFirst();
        String[] after = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(after[2]);   // state, ppid, pgrp
    }
}
