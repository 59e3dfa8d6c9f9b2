package dev.panpipe.process;

import dev.panpipe.io.LeakCheck;
import dev.panpipe.testing.OpenFds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

@ExtendWith(LeakCheck.class)
class MuxTest {
    private static final Duration FIVE_SECONDS = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    private static List<String> sh(String script) {
        return List.of("sh", "-c", script);
    }

    @Test
    @Timeout(30)
    void shouldPrefixEveryLineAndFlushALastLineWithoutNewline() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        List<Mux.Line> lines = Collections.synchronizedList(new ArrayList<>());
        try (Mux mux = Mux.builder()
                .child("A", sh("echo one; echo two >&2; printf 'no newline'"))
                .child("B", sh("printf 'x\\ny\\n'; exit 3"))
                .output(out).onLine(lines::add).start()) {
            List<Mux.Exit> exits = mux.await(Mux.Until.ALL);
            assertEquals(2, exits.size());
            assertTrue(exits.stream().allMatch(Mux.Exit::byItself), exits.toString());
            Mux.Exit b = exits.stream().filter(e -> e.child().equals("B")).findFirst().orElseThrow();
            assertEquals(ExitStatus.exited(3), b.status());
        }
        List<String> printed = out.toString(StandardCharsets.UTF_8).lines().toList();
        assertEquals(5, printed.size(), printed.toString());
        assertTrue(printed.containsAll(List.of("A: one", "A: two", "A: no newline", "B: x", "B: y")), printed.toString());
        assertTrue(printed.indexOf("B: x") < printed.indexOf("B: y"));
        Mux.Line last = lines.stream().filter(l -> l.text().equals("no newline")).findFirst().orElseThrow();
        assertFalse(last.complete());
        assertEquals(Mux.Stream.STDOUT, last.stream());
        assertEquals(Mux.Stream.STDERR, lines.stream().filter(l -> l.text().equals("two")).findFirst().orElseThrow().stream());
    }

    @Test
    @Timeout(30)
    void shouldFeedStdinFromSendAndFromEveryWriterOfTheFifo() throws Exception {
        Path fifos = dir.resolve("fifos");
        try (Mux mux = Mux.builder().child("cat", List.of("cat")).fifos(fifos).output(new ByteArrayOutputStream()).start()) {
            Path fifo = mux.fifo("cat").orElseThrow();
            assertEquals(fifos.resolve("cat.in"), fifo);
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(fifo)));
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(fifos)));

            mux.send("cat", "sent\n");
            assertEquals("sent", mux.expect("cat", Pattern.compile("^sent$"), FIVE_SECONDS).text());
            // One writer after another: the FIFO keeps working after each closes (no reopening needed).
            for (int i = 0; i < 3; i++) {
                Process writer = new ProcessBuilder("sh", "-c", "echo from-writer-$1 > \"$2\"", "sh", String.valueOf(i), fifo.toString())
                        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
                assertEquals(0, writer.waitFor(), "an outside writer of cat.in");
            }
            for (int i = 0; i < 3; i++) {
                assertEquals("from-writer-" + i, mux.expect("cat", Pattern.compile("from-writer"), FIVE_SECONDS).text());
            }
        }
        assertFalse(Files.exists(fifos.resolve("cat.in")), "FIFO removed");
        assertFalse(Files.exists(fifos), "the directory the mux created is removed");
    }

    @Test
    @Timeout(30)
    void shouldTakeATimeoutOrGraceTooLongToCountAndRefuseANegativeOne() throws Exception {
        Duration forever = Duration.ofSeconds(Long.MAX_VALUE);   // "practically forever": overflowed into the past once
        try (Mux mux = Mux.builder().child("cat", List.of("cat")).output(new ByteArrayOutputStream()).grace(forever).start()) {
            mux.send("cat", "hello\n");
            assertEquals("hello", mux.expect("cat", Pattern.compile("hello"), forever).text());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> mux.expect("cat", Pattern.compile("x"), Duration.ofMillis(-1)));
            assertTrue(e.getMessage().contains("negative timeout"), e.getMessage());
            // close: cat ends when its stdin closes, well within a grace that used to overflow into "already over"
        }
        assertEquals("9223372036854775s", ExpectationFailedException.format(Duration.ofMillis(Long.MAX_VALUE).plusMillis(1)));
    }

    @Test
    @Timeout(30)
    void shouldFailAnExpectationWithTheLastLinesSeen() throws Exception {
        try (Mux mux = Mux.builder()
                .child("talker", sh("for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line $i; done; exec sleep 30"))
                .child("quitter", sh("echo bye; exit 4"))
                .grace(Duration.ofMillis(200)).start()) {
            mux.expect("talker", Pattern.compile("line 12"), FIVE_SECONDS);
            long t0 = System.nanoTime();
            ExpectationFailedException timeout = assertThrows(ExpectationFailedException.class,
                    () -> mux.expect("talker", Pattern.compile("never"), Duration.ofMillis(300)));
            assertTrue(System.nanoTime() - t0 >= 300_000_000L, "waited the whole timeout");
            assertNull(timeout.exit());
            assertEquals(MuxBuilder.RECENT_LINES, timeout.recentLines().size());
            assertTrue(timeout.getMessage().startsWith("expected a line from talker matching /never/: none came within 300ms;"
                    + " last lines from talker:\n  talker: line 3\n"), timeout.getMessage());
            assertTrue(timeout.getMessage().endsWith("\n  talker: line 12"), timeout.getMessage());

            t0 = System.nanoTime();
            ExpectationFailedException ended = assertThrows(ExpectationFailedException.class,
                    () -> mux.expect("quitter", Pattern.compile("never"), Duration.ofSeconds(20)));
            assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "did not wait for the timeout once quitter ended");
            assertEquals(ExitStatus.exited(4), ended.exit());
            assertTrue(ended.getMessage().contains("quitter ended (exit code 4) before one came; last lines from quitter:\n  quitter: bye"),
                    ended.getMessage());
        }
    }

    @Test
    @Timeout(30)
    void shouldTakeLinesInOrderSoAnEarlierLineStillCounts() throws Exception {
        try (Mux mux = Mux.builder().child("A", sh("echo ready; echo a1; echo b1; echo a2; exec sleep 30")).grace(Duration.ofMillis(100)).start()) {
            mux.expect("A", Pattern.compile("a2"), FIVE_SECONDS);          // used up ready, a1, b1, a2
            assertThrows(ExpectationFailedException.class, () -> mux.expect("A", Pattern.compile("ready"), Duration.ofMillis(100)));
        }
    }

    @Test
    @Timeout(30)
    void shouldStopEveryChildAndWhatItStartedOnClose() throws Exception {
        String marker = "29." + ProcessHandle.current().pid();
        long t0;
        try (Mux mux = Mux.builder()
                .child("stubborn", sh("trap '' TERM; sleep " + marker + " & echo started; wait"))
                .child("reader", List.of("cat"))
                .grace(Duration.ofMillis(300)).start()) {
            mux.expect("stubborn", Pattern.compile("started"), FIVE_SECONDS);
            // "started" can come before the background child has exec'd sleep: wait until it has
            awaitTrue(() -> sleepers(marker) > 0, () -> "the grandchild runs");
            t0 = System.nanoTime();
        }
        long took = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(took < 5_000, "two grace periods, then SIGKILL: " + took + " ms");
        assertEquals(0, sleepers(marker), "the grandchild in stubborn's process group is gone too");
    }

    @Test
    @Timeout(30)
    void shouldStopReapAndReportEveryChildWhenClosedOnAnInterruptedThread() throws Exception {
        Mux mux = Mux.builder()
                .child("sleeper", List.of("sleep", "30"))
                .child("quitter", sh("exit 3"))
                .output(new ByteArrayOutputStream()).grace(Duration.ofMillis(300)).start();
        long sleeper = mux.process("sleeper").pid();
        long quitter = mux.process("quitter").pid();
        mux.await(Mux.Until.ANY);
        boolean stillInterrupted;
        Thread.currentThread().interrupt();
        try {
            mux.close();
        } finally {
            stillInterrupted = Thread.interrupted();
        }
        assertTrue(stillInterrupted, "the interrupt status stays set");
        assertEquals(List.of(new Mux.Exit("quitter", ExitStatus.exited(3), true),
                new Mux.Exit("sleeper", ExitStatus.killed(Signals.SIGTERM, false), false)), mux.exits());
        assertFalse(LeakCheck.children().containsKey(sleeper), "reaped: " + LeakCheck.children());
        assertFalse(LeakCheck.children().containsKey(quitter), "reaped: " + LeakCheck.children());
        assertFalse(Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals("panpipe-mux") && t.isAlive()),
                "the loop thread has ended when close returns");
    }

    @Test
    @Timeout(30)
    void shouldReturnFromAwaitAnyWhenTheFirstChildEnds() throws Exception {
        try (Mux mux = Mux.builder().child("quick", sh("exit 7")).child("slow", List.of("sleep", "30")).grace(Duration.ofMillis(200)).start()) {
            List<Mux.Exit> exits = mux.await(Mux.Until.ANY);
            assertEquals(List.of(new Mux.Exit("quick", ExitStatus.exited(7), true)), exits);
            mux.close();
            Mux.Exit slow = mux.exits().get(1);
            assertEquals("slow", slow.child());
            assertFalse(slow.byItself(), "stopped by close");
            assertEquals(ExitStatus.killed(Signals.SIGTERM, false), slow.status());
        }
    }

    @Test
    @Timeout(60)
    void shouldNeverCutALineWithAnotherChildsLine() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        String awk = "BEGIN { s = sprintf(\"%%3000s\", \"\"); gsub(/ /, \"%s\", s); for (i = 0; i < 2000; i++) print i \" \" s }";
        try (Mux mux = Mux.builder()
                .child("A", List.of("awk", awk.formatted("a")))
                .child("B", List.of("awk", awk.formatted("b")))
                .output(out).start()) {
            mux.await(Mux.Until.ALL);
        }
        assertWholeLines(out.toString(StandardCharsets.US_ASCII), 2000, 3000);
    }

    /** Every line is "NAME: i xxx" with NAME's own letter, each child's i counting up from 0 with none missing. */
    static void assertWholeLines(String output, int count, int width) {
        int[] next = new int[2];
        for (String line : output.lines().toList()) {
            int child = line.startsWith("A: ") ? 0 : line.startsWith("B: ") ? 1 : -1;
            assertTrue(child >= 0, "a line from neither child: " + line.substring(0, Math.min(60, line.length())));
            String expected = (child == 0 ? "A: " : "B: ") + next[child] + " " + String.valueOf(child == 0 ? 'a' : 'b').repeat(width);
            assertEquals(expected, line);
            next[child]++;
        }
        assertEquals(count, next[0]);
        assertEquals(count, next[1]);
    }

    /**
     * A mux killed with SIGKILL leaves its FIFO directory; the next mux with FIFOs in a temporary directory
     * removes the ones whose process is gone (here one made to look like it: a pid that has exited).
     */
    @Test
    @Timeout(30)
    void shouldRemoveTheFifoDirectoryOfAMuxThatIsGone() throws Exception {
        Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
        long gonePid = new ProcessBuilder("true").start().onExit().get().pid();
        Path abandoned = Files.createDirectory(tmp.resolve("panpipe-mux-" + gonePid + "-42"),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        try {
            dev.panpipe.io.Fifo.create(abandoned.resolve("A.in")).created();   // made and left, as a killed mux leaves it
            assertTrue(Files.exists(abandoned.resolve("A.in")));
            Path ours;
            try (Mux mux = Mux.builder().child("cat", List.of("cat")).fifos(null).output(new ByteArrayOutputStream()).start()) {
                ours = mux.fifoDirectory().orElseThrow();
                assertEquals("panpipe-mux-" + ProcessHandle.current().pid() + "-", ours.getFileName().toString().replaceAll("[0-9]+$", ""));
                assertFalse(Files.exists(abandoned), "the directory of a mux that is gone was removed, FIFO and all");
            }
            assertFalse(Files.exists(ours));
        } finally {
            Files.deleteIfExists(abandoned.resolve("A.in"));
            Files.deleteIfExists(abandoned);
        }
    }

    @Test
    @Timeout(30)
    void shouldStartNothingWhenAProgramIsMissing() throws Exception {
        Path fifos = dir.resolve("fifos");
        ProgramNotFoundException e = assertThrows(ProgramNotFoundException.class, () -> Mux.builder()
                .child("A", List.of("sleep", "30")).child("B", List.of("no-such-program-panpipe")).fifos(fifos).start());
        assertTrue(e.getMessage().startsWith("child B: cannot start no-such-program-panpipe: program not found"), e.getMessage());
        assertFalse(Files.exists(fifos));
        assertThrows(IllegalArgumentException.class, () -> Mux.builder().child("a b", List.of("true")));
        assertThrows(IllegalArgumentException.class, () -> Mux.builder().child("A", List.of("true")).child("A", List.of("true")));
        assertThrows(IllegalArgumentException.class, () -> Mux.builder().child("../x", List.of("true")));
    }

    /**
     * endInput closes the stdin only once what was queued before it has been written: cat echoes all three
     * lines and exits 0 by itself, and wc, which reads nothing until the test opens its gate (so most of
     * 3 MiB still waits in the mux when endInput comes), counts every byte.
     */
    @Test
    @Timeout(30)
    void shouldCloseTheStdinOnEndInputAfterWhatWasQueued() throws Exception {
        List<String> notices = Collections.synchronizedList(new ArrayList<>());
        int big = 3 << 20;
        try (dev.panpipe.io.Fifo gate = dev.panpipe.io.Fifo.create(dir, "gate");
             Mux mux = Mux.builder().child("cat", List.of("cat"))
                     .child("wc", List.of("sh", "-c", "read go < \"$0\"; exec wc -c", gate.path().toString()))
                     .notices(notices::add).grace(Duration.ofMillis(200)).start()) {
            mux.send("cat", "one\n");
            mux.send("cat", "two\n");
            mux.send("cat", "three\n");
            mux.endInput("cat");
            mux.send("wc", new byte[big]);
            mux.endInput("wc");
            mux.send("wc", "late\n");          // handled after endInput: dropped with a notice
            awaitNotice(notices, "wc's stdin is closed: 5 bytes for it dropped");
            try (dev.panpipe.io.WriteEnd open = gate.openWriteEnd(FIVE_SECONDS)) {
                open.write("go\n".getBytes(StandardCharsets.US_ASCII), 0, 3);
            }

            List<Mux.Exit> exits = mux.await(Mux.Until.ALL);
            assertEquals(2, exits.size(), exits.toString());
            assertTrue(exits.contains(new Mux.Exit("cat", ExitStatus.exited(0), true)), exits.toString());
            assertTrue(exits.contains(new Mux.Exit("wc", ExitStatus.exited(0), true)), exits.toString());
            assertEquals(List.of("one", "two", "three"), mux.recentLines("cat").stream().map(Mux.Line::text).toList());
            assertEquals(String.valueOf(big), mux.expect("wc", Pattern.compile("^\\s*\\d+$"), FIVE_SECONDS).text().strip());
            mux.send("cat", "later\n");
        }
        assertEquals(List.of("wc's stdin is closed: 5 bytes for it dropped", "cat has exited: 6 bytes for it dropped"), notices);
    }

    private static void awaitNotice(List<String> notices, String expected) throws InterruptedException {
        awaitTrue(() -> notices.contains(expected), () -> "no notice '" + expected + "' within 5s; notices: " + notices);
    }

    /** Polls {@code condition} (this is the test side) for up to five seconds, then fails with {@code failure}. */
    private static void awaitTrue(BooleanSupplier condition, Supplier<String> failure) throws InterruptedException {
        long deadline = System.nanoTime() + FIVE_SECONDS.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) fail(failure.get());
            Thread.sleep(10);
        }
    }

    /**
     * closeOutput does what the reader of a shell pipeline does by going away. The mux's ends of the
     * children's stdout and stderr are closed when it returns, so yes, which writes for ever, dies of SIGPIPE
     * at once (it used to be read and dropped until close stopped it, two grace periods later), while quiet,
     * which writes nothing, runs on until what it is sent makes it write. Lines delivered before stay, and
     * expect takes them, then fails at once rather than at its timeout, as no more can come. Twice, and
     * after close, it does nothing more.
     */
    @Test
    @Timeout(60)
    void shouldKillAWriterWithSigpipeOnceTheOutputIsClosed() throws Exception {
        Mux mux = Mux.builder().child("yes", List.of("yes")).child("quiet", sh("echo ready; exec cat"))
                .grace(Duration.ofMillis(200)).start();
        try (mux) {
            mux.expect("yes", Pattern.compile("^y$"), FIVE_SECONDS);
            awaitTrue(() -> !mux.recentLines("quiet").isEmpty(), () -> "no line from quiet within 5s");
            List<String> pipes = new ArrayList<>();        // "pipe:[inode]" of each child's stdout and stderr
            for (String child : mux.names()) {
                for (int fd = 1; fd <= 2; fd++) {
                    pipes.add(Files.readSymbolicLink(Path.of("/proc/" + mux.process(child).pid() + "/fd/" + fd)).toString());
                }
            }

            mux.closeOutput();
            mux.closeOutput();
            assertEquals(List.of(), OpenFds.snapshot().values().stream().filter(pipes::contains).toList(),
                    "this process holds no end of the children's stdout and stderr pipes");
            assertEquals(new Mux.Exit("yes", ExitStatus.killed(Signals.SIGPIPE, false), true), awaitExit(mux, "yes"));
            assertFalse(mux.recentLines("yes").isEmpty(), "what yes wrote before is kept");
            assertEquals(List.of("yes"), mux.exits().stream().map(Mux.Exit::child).toList(), "quiet, which writes nothing, runs on");

            assertEquals("ready", mux.expect("quiet", Pattern.compile("ready"), FIVE_SECONDS).text(), "a line delivered before");
            long t0 = System.nanoTime();
            ExpectationFailedException none = assertThrows(ExpectationFailedException.class,
                    () -> mux.expect("quiet", Pattern.compile("never"), Duration.ofSeconds(20)));
            assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "failed at once, not at the timeout");
            assertTrue(none.outputClosed());
            assertNull(none.exit());
            assertEquals("expected a line from quiet matching /never/: the mux stopped reading its output (closeOutput) before"
                    + " one came; last lines from quiet:\n  quiet: ready", none.getMessage());

            mux.send("quiet", "hi\n");          // stdin still works: cat echoes it, and its write kills it
            assertEquals(new Mux.Exit("quiet", ExitStatus.killed(Signals.SIGPIPE, false), true), awaitExit(mux, "quiet"));
        }
        mux.closeOutput();
        assertEquals(List.of("yes", "quiet"), mux.exits().stream().map(Mux.Exit::child).toList());
    }

    /**
     * As panpipe mux's output stream does when its reader goes away: closeOutput from the mux's own thread,
     * here from onLine, on every line once the mux is known. It cannot wait for that thread, so it returns at
     * once (the thread does not wait for itself for ever), and the pipes close as soon as the handler returns.
     */
    @Test
    @Timeout(60)
    void shouldCloseTheOutputWhenAskedFromTheMuxsOwnThread() throws Exception {
        AtomicReference<Mux> self = new AtomicReference<>();
        Mux mux = Mux.builder().child("yes", List.of("yes")).onLine(line -> {
            Mux m = self.get();
            if (m != null) m.closeOutput();
        }).grace(Duration.ofMillis(300)).start();
        try (mux) {
            self.set(mux);
            assertEquals(new Mux.Exit("yes", ExitStatus.killed(Signals.SIGPIPE, false), true), awaitExit(mux, "yes"));
        }
    }

    /**
     * closeOutput from the mux's own thread stops the reading, not the delivery of what was read: the lines after
     * the one whose handler asked, in the same read, still come (nothing read is lost), and none after them. The
     * child writes 400 lines in one write of 2,000 bytes (under PIPE_BUF, so one read takes them all), then, once
     * told to on its stdin, the same again, which nobody reads any more: that write kills it with SIGPIPE.
     */
    @Test
    @Timeout(60)
    void shouldDeliverTheRestOfTheReadButNoMoreAfterCloseOutputFromTheMuxsOwnThread(@TempDir Path dir) throws Exception {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 400; i++) text.append(String.format("l%03d\n", i));
        Path lines = Files.writeString(dir.resolve("lines"), text);
        List<String> expected = text.toString().lines().toList();
        List<String> seen = Collections.synchronizedList(new ArrayList<>());
        AtomicReference<Mux> self = new AtomicReference<>();
        Mux mux = Mux.builder().child("writer", sh("read go; cat '" + lines + "'; read again; exec cat '" + lines + "'"))
                .onLine(line -> {
                    seen.add(line.text());
                    if (seen.size() == 1) self.get().closeOutput();
                }).start();
        try (mux) {
            self.set(mux);
            List<String> pipes = new ArrayList<>();
            for (int fd = 1; fd <= 2; fd++) {
                pipes.add(Files.readSymbolicLink(Path.of("/proc/" + mux.process("writer").pid() + "/fd/" + fd)).toString());
            }
            mux.send("writer", "go\n");
            awaitTrue(() -> OpenFds.snapshot().values().stream().noneMatch(pipes::contains),
                    () -> "the output pipes were not closed within 5 s of the first line; lines seen: " + seen.size());
            assertEquals(expected, List.copyOf(seen), "every line of the read the first came in, in order, and no other");

            mux.send("writer", "again\n");
            assertEquals(new Mux.Exit("writer", ExitStatus.killed(Signals.SIGPIPE, false), true), awaitExit(mux, "writer"));
            assertEquals(expected, List.copyOf(seen), "nothing of the second write was read");
        }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)   // the old hang was in a monitor, deaf to interrupts
    void shouldRefuseACloseFromTheMuxsOwnThreadRatherThanWaitForItself() throws Exception {
        // close waits for the mux's thread to deliver the last lines: called on that thread, it used to wait for ever.
        AtomicReference<Mux> self = new AtomicReference<>();
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        CountDownLatch tried = new CountDownLatch(1);
        Mux mux = Mux.builder().child("talker", List.of("sh", "-c", "while :; do echo hi; sleep 0.05; done")).onLine(line -> {
            Mux m = self.get();
            if (m == null || tried.getCount() == 0) return;
            try {
                m.close();
            } catch (Throwable t) {
                thrown.set(t);
            }
            tried.countDown();
        }).grace(Duration.ofMillis(300)).start();
        try (mux) {
            self.set(mux);
            assertTrue(tried.await(10, TimeUnit.SECONDS), "close() from onLine returned neither normally nor by throwing");
            IllegalStateException e = assertInstanceOf(IllegalStateException.class, thrown.get());
            assertTrue(e.getMessage().contains("own thread"), e.getMessage());
            assertTrue(mux.exits().isEmpty(), "the refused close stopped nothing");
            mux.expect("talker", Pattern.compile("hi"), Duration.ofSeconds(5));   // still read, line by line
        }
        assertEquals(1, mux.exits().size(), "the close from this thread stopped the child");
    }

    private static Mux.Exit awaitExit(Mux mux, String child) throws InterruptedException {
        Supplier<Mux.Exit> exit = () -> mux.exits().stream().filter(e -> e.child().equals(child)).findFirst().orElse(null);
        awaitTrue(() -> exit.get() != null, () -> child + " did not end within 5s; exits so far: " + mux.exits());
        return exit.get();
    }

    /**
     * send never blocks and keeps what the child has not read in memory (that is its contract): 3 MiB for a
     * child that never reads its stdin are accepted at once, and close still stops the child in two grace
     * periods. A FIFO writer, by contrast, is held back: the mux stops reading a FIFO while more than
     * MAX_PENDING_INPUT bytes wait for its child, so a writer of 3 MiB blocks instead of filling this JVM.
     */
    @Test
    @Timeout(60)
    void shouldNeverBlockSendButHoldBackAFifoWriterOfAChildThatDoesNotRead() throws Exception {
        List<String> notices = Collections.synchronizedList(new ArrayList<>());
        int big = 3 << 20;
        Process writer;
        long t0;
        Mux mux = Mux.builder().child("deaf", List.of("sleep", "30")).fifos(dir.resolve("fifos"))
                .notices(notices::add).grace(Duration.ofMillis(200)).start();
        try (mux) {
            byte[] chunk = new byte[64 * 1024];
            long start = System.nanoTime();
            for (int sent = 0; sent < big; sent += chunk.length) mux.send("deaf", chunk);
            assertTrue(System.nanoTime() - start < 2_000_000_000L, "send returned at once");

            writer = new ProcessBuilder("sh", "-c", "head -c " + big + " /dev/zero > \"$1\"", "sh", mux.fifo("deaf").orElseThrow().toString())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            assertFalse(writer.waitFor(1, java.util.concurrent.TimeUnit.SECONDS), "the FIFO writer is held back, not drained into memory");
            assertTrue(mux.process("deaf").isAlive());
            t0 = System.nanoTime();
        }
        long took = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(took < 5_000, "closed in about two grace periods: " + took + " ms");
        assertEquals(List.of(new Mux.Exit("deaf", ExitStatus.killed(Signals.SIGTERM, false), false)), mux.exits());
        // The FIFO's read end is gone: the blocked writer ends with EPIPE (a shell reports SIGPIPE as 141 or dies of it).
        assertTrue(writer.waitFor(10, java.util.concurrent.TimeUnit.SECONDS), "the writer was released by close");
        assertTrue(notices.isEmpty(), "close drops what waits for a stopped child without a notice: " + notices);
    }

    private static long sleepers(String marker) {
        return ProcessHandle.allProcesses().filter(h -> h.info().arguments().map(a -> List.of(a).contains(marker)).orElse(false)).count();
    }
}
