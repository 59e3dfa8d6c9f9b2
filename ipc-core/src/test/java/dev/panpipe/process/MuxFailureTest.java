package dev.panpipe.process;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.siginfo_t;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.testing.ProcFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** A mux whose handlers fail, or whose children are taken from it: waiters are released, nothing is left behind. */
@ExtendWith(LeakCheck.class)
class MuxFailureTest {
    private static final Duration FIVE_SECONDS = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    private static List<String> sh(String script) {
        return List.of("sh", "-c", script);
    }

    /** Runs {@code call} on a thread of its own and gives it {@code limit}: a hang fails the test instead of stalling it. */
    private static <T> T within(Duration limit, String what, java.util.concurrent.Callable<T> call) throws Exception {
        AtomicReference<T> result = new AtomicReference<>();
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread t = Thread.ofPlatform().daemon().name("bounded-" + what).start(() -> {
            try {
                result.set(call.call());
            } catch (Throwable e) {
                thrown.set(e);
            }
        });
        if (!t.join(limit)) {
            StringBuilder stacks = new StringBuilder();
            Thread.getAllStackTraces().forEach((thread, frames) -> {
                if (thread != t && !thread.getName().startsWith("panpipe-mux")) return;
                stacks.append("\n").append(thread.getName()).append(" was at:");
                for (StackTraceElement f : frames) stacks.append("\n\tat ").append(f);
            });
            t.interrupt();      // await is interruptible: frees the thread once the test has failed
            fail(what + " did not return within " + limit + " (a hang)" + stacks);
        }
        if (thrown.get() instanceof Exception e) throw e;
        if (thrown.get() instanceof Error e) throw e;
        return result.get();
    }

    /** waitid(P_PID, pid, WEXITED): reaps a child of this JVM that is not this code's to reap, as a careless caller would. */
    private static void reapBehindTheMuxsBack(long pid) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = siginfo_t.allocate(arena);
            Syscalls.waitid(linux_h.P_PID(), (int) pid, info, linux_h.WEXITED());
        }
    }

    /**
     * The loop thread is held in a line handler while the child is killed and reaped by someone else, so when
     * the loop sees the pidfd readable, peeking at the exit fails with ECHILD. The waiters must hear of it.
     */
    @Test
    @Timeout(60)
    void shouldReleaseAwaitAndReportFromCloseWhenAChildIsReapedBehindTheMuxsBack() throws Exception {
        Path fifos = dir.resolve("fifos");
        CountDownLatch handlerEntered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        List<String> notices = Collections.synchronizedList(new ArrayList<>());
        Mux mux = Mux.builder()
                .child("victim", sh("echo ready; exec sleep 30"))
                .child("bystander", List.of("cat"))
                .fifos(fifos)
                .onLine(line -> {
                    if (line.text().equals("ready")) {
                        handlerEntered.countDown();
                        try {
                            release.await(20, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                })
                .notices(notices::add)
                .grace(Duration.ofMillis(200))
                .start();
        long victim = mux.process("victim").pid();
        long bystander = mux.process("bystander").pid();
        try {
            assertTrue(handlerEntered.await(10, TimeUnit.SECONDS), "the victim's first line reached the handler");
            Syscalls.kill((int) victim, Signals.SIGKILL);
            reapBehindTheMuxsBack(victim);
            release.countDown();

            ChildLostException lost = assertThrows(ChildLostException.class,
                    () -> within(Duration.ofSeconds(10), "await(ALL)", () -> mux.await(Mux.Until.ALL)));
            assertEquals("victim", lost.child());
            assertTrue(lost.getMessage().startsWith("child victim: how it ended cannot be known: waitid pid "), lost.getMessage());
            assertTrue(lost.getMessage().contains("reaped by someone else"), lost.getMessage());
            // Sticky: await(ANY) does not pretend nothing happened either.
            assertEquals("victim", assertThrows(ChildLostException.class,
                    () -> within(Duration.ofSeconds(10), "await(ANY)", () -> mux.await(Mux.Until.ANY))).child());
            // expect fails at once too, rather than wait out its timeout for a line that cannot come.
            long start = System.nanoTime();
            ExpectationFailedException expected = assertThrows(ExpectationFailedException.class,
                    () -> mux.expect("victim", Pattern.compile("never"), Duration.ofSeconds(30)));
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10), "failed before its 30 s timeout");
            assertInstanceOf(ChildLostException.class, expected.getCause());
            assertTrue(expected.getMessage().contains("victim was lost before one came (child victim: how it ended cannot be known"),
                    expected.getMessage());
            assertEquals(List.of(lost.getMessage()), notices.stream().filter(n -> n.contains("victim")).toList(), "told once, as a notice too");
            assertTrue(mux.exits().isEmpty(), "neither child has an exit to report yet: " + mux.exits());
        } catch (Throwable t) {
            release.countDown();
            try {
                mux.close();
            } catch (Exception e) {
                t.addSuppressed(e);
            }
            throw t;
        }
        // 2. close still stops the other child, closes every fd and removes the FIFOs, then reports the loss.
        ChildLostException fromClose = assertThrows(ChildLostException.class,
                () -> within(Duration.ofSeconds(20), "close", () -> {
                    mux.close();
                    return null;
                }));
        assertEquals("victim", fromClose.child());
        assertInstanceOf(SyscallException.class, fromClose.getCause());
        assertEquals(Errno.ECHILD, ((SyscallException) fromClose.getCause()).errno());
        assertEquals(0, fromClose.getSuppressed().length, "nothing else failed: " + List.of(fromClose.getSuppressed()));
        assertEquals(List.of(new Mux.Exit("bystander", ExitStatus.exited(0), false)), mux.exits(),
                "the bystander saw its stdin end and exited; the lost child has no exit");
        assertEquals("gone", LeakCheck.state(bystander));
        assertFalse(Files.exists(fifos), "FIFOs and their directory removed");
        mux.close();    // idempotent: reported once
    }

    /**
     * The caller reaps a child itself, through {@code mux.process(..).waitFor()}. From then on its pid, which
     * is also the number of the process group it led, may be given to another process, so close must not
     * signal that group by number. From Linux 6.9 it signals the group through the child's pidfd, which names
     * the group and not its number, so the sleep the child left running in its group ends with close; on an
     * older kernel the group is left alone, the sleep survives close (the test then stops it itself), and a
     * notice says so. The child's exit went through panpipe's own handle, so it is known: an exit, no
     * ChildLostException.
     */
    @Test
    @Timeout(60)
    void shouldSignalTheProcessGroupOfAChildReapedThroughItsOwnHandleOnlyThroughItsPidfd() throws Exception {
        String marker = "27." + ProcessHandle.current().pid();
        List<String> notices = Collections.synchronizedList(new ArrayList<>());
        Mux mux = Mux.builder()
                .child("starter", sh("sleep " + marker + " > /dev/null 2>&1 & echo started"))
                .notices(notices::add).grace(Duration.ofMillis(200)).start();
        try {
            mux.expect("starter", Pattern.compile("^started$"), FIVE_SECONDS);
            assertEquals(ExitStatus.exited(0), within(Duration.ofSeconds(10), "waitFor", () -> mux.process("starter").waitFor()));
            assertEquals(List.of(new Mux.Exit("starter", ExitStatus.exited(0), true)),
                    within(Duration.ofSeconds(10), "await(ALL)", () -> mux.await(Mux.Until.ALL)),
                    "reaped through its own handle: its exit is known, the child is not lost");
            // "started" can come, and the starter end, before its background child has exec'd sleep: wait until it has.
            ProcFs.await(() -> sleepers(marker) > 0, "the sleep the starter started runs");
            assertEquals(1, sleepers(marker), "the sleep it started runs, in the group the reaped child led");

            within(Duration.ofSeconds(20), "close", () -> {
                mux.close();
                return null;
            });
            assertEquals(List.of(new Mux.Exit("starter", ExitStatus.exited(0), true)), mux.exits());
            if (kernelSignalsGroupsThroughPidfds()) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (sleepers(marker) > 0 && System.nanoTime() < deadline) Thread.sleep(20);
                assertEquals(0, sleepers(marker), "close signalled the group through the reaped child's pidfd");
                assertEquals(List.of(), notices);
            } else {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
                while (System.nanoTime() < deadline) {
                    assertEquals(1, sleepers(marker), "close signalled the process group of a child reaped before it, by number");
                    Thread.sleep(20);
                }
                assertEquals(List.of("starter: reaped through its Subprocess before close, so its process group is not signalled"
                                + " (its number may be another's by now): what it started in that group is left running"),
                        notices);
            }
        } finally {
            mux.close();
            stopSleepers(marker);
        }
    }

    /**
     * Whether this kernel takes PIDFD_SIGNAL_PROCESS_GROUP (Linux 6.9): signal 0, through this JVM's own pidfd. An
     * older kernel refuses the flag (EINVAL); a newer one sends nothing, or answers ESRCH, as this JVM leads no group.
     */
    private static boolean kernelSignalsGroupsThroughPidfds() throws SyscallException {
        int fd = Syscalls.pidfd_open(Syscalls.getpid(), 0);
        try {
            Syscalls.pidfd_send_signal(fd, 0, Syscalls.PIDFD_SIGNAL_PROCESS_GROUP);
            return true;
        } catch (SyscallException e) {
            if (e.errno() == Errno.EINVAL) return false;
            if (e.errno() == Errno.ESRCH) return true;
            throw e;
        } finally {
            Syscalls.close(fd);
        }
    }

    private static long sleepers(String marker) {
        return ProcessHandle.allProcesses().filter(h -> h.info().arguments().map(a -> List.of(a).contains(marker)).orElse(false)).count();
    }

    /** Ends the sleeps a test left running (not children of this JVM, so found by their unique argument). */
    private static void stopSleepers(String marker) throws Exception {
        for (ProcessHandle h : ProcessHandle.allProcesses().filter(h -> h.info().arguments().map(a -> List.of(a).contains(marker)).orElse(false)).toList()) {
            h.destroyForcibly();
            h.onExit().get(10, TimeUnit.SECONDS);
        }
    }

    /**
     * Passing on what was read from a FIFO fails: here the notices consumer throws on the notice that the
     * bytes are dropped, as the child closed its stdin. The FIFO must not be left open but unread, or its
     * writers block for ever once the pipe is full: it goes on being read, what comes is dropped and
     * counted, and the notices say so, once when it happens and with the count at close.
     */
    @Test
    @Timeout(60)
    void shouldKeepReadingAndDroppingAFifoWhoseBytesCouldNotBePassedOn() throws Exception {
        List<String> notices = Collections.synchronizedList(new ArrayList<>());
        java.util.concurrent.atomic.AtomicBoolean armed = new java.util.concurrent.atomic.AtomicBoolean();
        Mux mux = Mux.builder()
                .child("closer", sh("exec 0<&-; echo closed; exec sleep 30"))
                .fifos(dir.resolve("fifos"))
                .notices(n -> {
                    if (armed.compareAndSet(true, false)) throw new IllegalStateException("the notices consumer fails");
                    notices.add(n);
                })
                .grace(Duration.ofMillis(200)).start();
        Path fifo = mux.fifo("closer").orElseThrow();
        try (mux) {
            mux.expect("closer", Pattern.compile("^closed$"), FIVE_SECONDS);
            mux.send("closer", "probe\n");     // the mux knows the stdin is closed once this is reported dropped
            awaitNotice(notices, n -> n.endsWith("6 bytes for it dropped"));
            armed.set(true);
            Process first = write(fifo, "printf hello");
            assertTrue(first.waitFor(10, TimeUnit.SECONDS), "a first writer of 5 bytes");
            awaitNotice(notices, n -> n.contains(fifo.toString()));

            Process big = write(fifo, "head -c 1048576 /dev/zero");
            try {
                assertTrue(big.waitFor(10, TimeUnit.SECONDS), "the writer of 1 MiB is not left blocked on a FIFO nobody reads");
                assertEquals(0, big.exitValue());
            } finally {
                big.destroyForcibly();
                big.waitFor();
            }
            assertEquals(List.of("closer's stdin is closed: 6 bytes for it dropped", "closer: passing on what was read from " + fifo
                    + " failed (java.lang.IllegalStateException: the notices consumer fails): from now on what is written into it"
                    + " is read and dropped, so that its writers do not block"), notices);
        }
        assertTrue(notices.contains("closer: 1048576 bytes written into " + fifo + " after passing them on failed were dropped"),
                notices.toString());
    }

    /**
     * As above, but the notice that the FIFO's bytes will be dropped fails too, so the FIFO cannot be read
     * on: the mux closes its ends of it. A writer that has it open gets EPIPE instead of blocking once the
     * pipe is full; one that opens it afterwards waits in open for a reader, as with any FIFO nobody reads,
     * until close lets it through.
     */
    @Test
    @Timeout(60)
    void shouldCloseAFifoThatCannotBeReadOnSoItsWritersAreReleased() throws Exception {
        List<String> notices = Collections.synchronizedList(new ArrayList<>());
        java.util.concurrent.atomic.AtomicInteger failNext = new java.util.concurrent.atomic.AtomicInteger();
        Mux mux = Mux.builder()
                .child("closer", sh("exec 0<&-; echo closed; exec sleep 30"))
                .fifos(dir.resolve("fifos"))
                .notices(n -> {
                    if (failNext.getAndUpdate(k -> Math.max(0, k - 1)) > 0) throw new IllegalStateException("the notices consumer fails");
                    notices.add(n);
                })
                .grace(Duration.ofMillis(200)).start();
        Path fifo = mux.fifo("closer").orElseThrow();
        Process connected = null;
        Process late = null;
        try {
            mux.expect("closer", Pattern.compile("^closed$"), FIVE_SECONDS);
            mux.send("closer", "probe\n");
            awaitNotice(notices, n -> n.endsWith("6 bytes for it dropped"));
            failNext.set(2);
            // One open for both writes: the first sets off the failures, the second finds the FIFO closed.
            connected = write(fifo, "printf hello; sleep 1; head -c 1048576 /dev/zero");
            awaitNotice(notices, n -> n.startsWith("closer: reading " + fifo + " failed, so it is closed"));
            assertTrue(connected.waitFor(10, TimeUnit.SECONDS), "a writer of a FIFO nobody reads any more gets EPIPE, it is not left blocked");
            assertTrue(connected.exitValue() != 0, "it failed: " + connected.exitValue());
            assertEquals(List.of("closer's stdin is closed: 6 bytes for it dropped", "closer: reading " + fifo + " failed, so it is closed"
                    + " (its writers get EPIPE) and what is written into it no longer reaches closer:"
                    + " java.lang.IllegalStateException: the notices consumer fails"), notices);

            late = write(fifo, "printf late");
            assertFalse(late.waitFor(300, TimeUnit.MILLISECONDS), "a writer that opens it now waits for a reader");
            within(Duration.ofSeconds(20), "close", () -> {
                mux.close();
                return null;
            });
            // Let through, its write meets EPIPE, or lands in the pipe just before that reader closes: a race
            // either way lost at close, as bytes still in any FIFO are.
            assertTrue(late.waitFor(10, TimeUnit.SECONDS), "close let the waiting writer through");
            assertFalse(Files.exists(fifo), "removed");
        } finally {
            mux.close();
            for (Process p : new Process[] {connected, late}) {
                if (p == null) continue;
                p.destroyForcibly();
                p.waitFor();
            }
        }
    }

    /** A process that writes what {@code command} prints into {@code fifo}. */
    /**
     * A FIFO paused for backpressure (its child's stdin full and 1 MiB waiting) when the child exits while
     * something it started still holds that stdin open: the stdin is closed on the exit, what waited is
     * dropped, and the FIFO must be read again (its bytes dropped with notices), not left paused with its
     * writer blocked until close.
     */
    @Test
    @Timeout(60)
    void shouldResumeAFifoPausedForAStdinThatClosesWhenItsChildExits() throws Exception {
        List<String> notices = Collections.synchronizedList(new ArrayList<>());
        try (Mux mux = Mux.builder()
                .child("parent", sh("exec 3<&0; sleep 30 <&3 3<&- & echo started; sleep 2"))   // via 3: an async list gets /dev/null for 0
                .fifos(dir.resolve("fifos")).notices(notices::add).output(new java.io.ByteArrayOutputStream())
                .grace(Duration.ofMillis(200)).start()) {
            Path fifo = mux.fifo("parent").orElseThrow();
            mux.expect("parent", Pattern.compile("^started$"), FIVE_SECONDS);
            Process writer = write(fifo, "head -c 8388608 /dev/zero");   // stdin pipe + 1 MiB waiting + the FIFO, and more
            try {
                List<Mux.Exit> exits = mux.await(Mux.Until.ANY);
                assertEquals(ExitStatus.exited(0), exits.getFirst().status());
                assertTrue(writer.isAlive(), "precondition: the writer was blocked on the paused FIFO when the child exited");
                assertTrue(writer.waitFor(10, TimeUnit.SECONDS), "the FIFO's writer is left blocked after its child exited; notices: " + notices);
                assertEquals(0, writer.exitValue());
            } finally {
                writer.destroyForcibly();
                writer.waitFor();
            }
            assertTrue(List.copyOf(notices).stream().anyMatch(n -> n.startsWith("parent has exited: ")), notices.toString());
        }
    }

    private static Process write(Path fifo, String command) throws java.io.IOException {
        return new ProcessBuilder("sh", "-c", command + " > \"$1\"", "sh", fifo.toString())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    }

    /**
     * The second child cannot start (its working directory does not exist) after the first has: the
     * exception names it, the first is stopped and reaped, and its FIFOs and their directory are removed.
     */
    @Test
    @Timeout(30)
    void shouldStopWhatHadStartedWhenALaterChildFailsToStart() throws Exception {
        Path fifos = dir.resolve("fifos");
        Path missing = dir.resolve("no-such-directory");
        String marker = "98." + ProcessHandle.current().pid();
        List<String> notices = Collections.synchronizedList(new ArrayList<>());
        SpawnException e = assertThrows(SpawnException.class, () -> Mux.builder()
                .child("A", List.of("sleep", marker))
                .child("B", Subprocess.builder("true").directory(missing))
                .fifos(fifos).notices(notices::add).grace(Duration.ofMillis(200)).start());
        assertFalse(e instanceof ProgramNotFoundException, e.toString());
        assertEquals("child B: cannot start true: working directory " + missing + " is not a directory", e.getMessage());
        assertEquals(0, e.getSuppressed().length, "stopping A went well: " + List.of(e.getSuppressed()));
        assertEquals(0, ProcessHandle.allProcesses()
                .filter(h -> h.info().arguments().map(a -> List.of(a).contains(marker)).orElse(false)).count(), "A is gone");
        assertFalse(Files.exists(fifos), "A.in, B.in and the directory the mux made are removed");
        assertTrue(notices.isEmpty(), notices.toString());
        // and LeakCheck: A reaped (no zombie), no fd of A, B or the loop left open
    }

    /**
     * A child that closes its stdin while 3 MiB wait for it: the write meets EPIPE, the rest is dropped with
     * one notice, not an exception or a retry for ever. One that closed it before anything was sent: epoll
     * reports the pipe's error whatever the interest, so the mux closes that stdin at once (rather than
     * spinning on the event) and what is sent later is dropped with a notice.
     */
    @Test
    @Timeout(30)
    void shouldDropWithANoticeWhatIsSentToAChildThatClosedItsStdin() throws Exception {
        List<String> notices = Collections.synchronizedList(new ArrayList<>());
        try (Mux mux = Mux.builder()
                // They sleep on past the test (close ends them): a sleep of 5 s could end, and the child be no longer
                // alive, before the last lines ran on a loaded machine.
                .child("quitter", sh("head -c 1 > /dev/null; exec 0<&-; echo closed; exec sleep 30"))
                .child("closer", sh("exec 0<&-; echo closed; exec sleep 30"))
                .notices(notices::add).grace(Duration.ofMillis(200)).start()) {
            mux.expect("closer", Pattern.compile("^closed$"), FIVE_SECONDS);
            long cpu0 = loopThreadCpuMillis();
            Thread.sleep(1000);
            long spent = loopThreadCpuMillis() - cpu0;
            assertTrue(spent < 100, "the loop thread is idle while nothing happens, not spinning on closer's stdin: " + spent + " ms of CPU in 1 s");
            mux.send("closer", "hello\n");
            awaitNotice(notices, n -> n.equals("closer's stdin is closed: 6 bytes for it dropped"));

            mux.send("quitter", new byte[3 << 20]);      // one send: most of it still waits when head has read
            mux.expect("quitter", Pattern.compile("^closed$"), FIVE_SECONDS);
            awaitNotice(notices, n -> n.matches("quitter does not read its stdin any more: \\d+ bytes for it dropped"));
            mux.send("quitter", "again\n");
            awaitNotice(notices, n -> n.equals("quitter's stdin is closed: 6 bytes for it dropped"));
            assertTrue(mux.process("quitter").isAlive(), "the children themselves are unaffected");
            assertTrue(mux.process("closer").isAlive(), "the children themselves are unaffected");
            assertEquals(3, notices.size(), notices.toString());
        }
    }

    /**
     * CPU time of this JVM's mux loop thread (there is one mux at a time in these tests), in ms, from
     * /proc/self/task/TID/stat (utime + stime, in clock ticks of 10 ms).
     */
    private static long loopThreadCpuMillis() throws java.io.IOException {
        List<Path> loops = new ArrayList<>();
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : (Iterable<Path>) tasks::iterator) {
                try {
                    if (Files.readString(task.resolve("comm")).strip().equals("panpipe-mux")) loops.add(task);
                } catch (java.nio.file.NoSuchFileException gone) {
                    // a thread that ended meanwhile
                }
            }
        }
        assertEquals(1, loops.size(), "one mux loop thread: " + loops);
        String stat = Files.readString(loops.get(0).resolve("stat"));
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");   // fields from 3 (state) on
        return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) * 10;    // fields 14 and 15
    }

    private static void awaitNotice(List<String> notices, java.util.function.Predicate<String> expected) throws InterruptedException {
        long deadline = System.nanoTime() + FIVE_SECONDS.toNanos();
        while (List.copyOf(notices).stream().noneMatch(expected)) {
            if (System.nanoTime() > deadline) fail("no such notice within 5s; notices: " + notices);
            Thread.sleep(10);
        }
    }

    /**
     * A child's stdin end closed by the caller through {@link Mux#process}: writing to it fails with an
     * IllegalStateException on the loop thread. The bytes are dropped with a notice, the child sees its
     * input end (so cat exits 0), and later sends are dropped with a notice too.
     */
    @Test
    @Timeout(30)
    void shouldDropInputWithANoticeWhenWritingAChildsStdinFails() throws Exception {
        List<String> notices = Collections.synchronizedList(new ArrayList<>());
        try (Mux mux = Mux.builder().child("cat", List.of("cat")).notices(notices::add).grace(Duration.ofMillis(200)).start()) {
            mux.send("cat", "one\n");
            assertEquals("one", mux.expect("cat", Pattern.compile("one"), FIVE_SECONDS).text());
            mux.process("cat").stdin().close();
            mux.send("cat", "two\n");
            List<Mux.Exit> exits = within(Duration.ofSeconds(10), "await(ALL)", () -> mux.await(Mux.Until.ALL));
            assertEquals(List.of(new Mux.Exit("cat", ExitStatus.exited(0), true)), exits);
            assertTrue(notices.stream().anyMatch(n -> n.startsWith("cat: writing its stdin failed")), notices.toString());
            mux.send("cat", "three\n");
            mux.close();
            assertTrue(notices.stream().anyMatch(n -> n.equals("cat has exited: 6 bytes for it dropped")), notices.toString());
        }
    }
}
