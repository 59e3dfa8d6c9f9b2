package dev.panpipe.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs the real {@code scripts/panpipe mux} against real children, FIFOs and signals. */
@Tag("end-to-end")   // runs after package (see cli/pom.xml), also when picked with -Dtest
class MuxEndToEndTest {
    static Path launcher;

    @TempDir
    Path dir;

    /** Every mux started, so that one left running by a failed test is stopped (SIGTERM: it cleans up) after it. */
    private final List<Running> started = new ArrayList<>();

    /** A running {@code panpipe mux}: its stdin is ours to write; stdout and stderr go to files. */
    final class Running {
        final Process process;
        final OutputStream stdin;
        final Path out = dir.resolve("mux.out");
        final Path err = dir.resolve("mux.err");

        Running(boolean withStdin, String... args) throws IOException {
            List<String> command = new ArrayList<>(List.of(launcher.toString(), "mux"));
            command.addAll(List.of(args));
            ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile())
                    .redirectOutput(out.toFile()).redirectError(err.toFile());
            if (!withStdin) pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            pb.environment().put("PANPIPE_NO_BUILD", "1");
            process = pb.start();
            stdin = process.getOutputStream();
            started.add(this);
        }

        void type(String line) throws IOException {
            stdin.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            stdin.flush();
        }

        String out() throws IOException {
            return Files.readString(out, StandardCharsets.UTF_8);
        }

        String err() throws IOException {
            return Files.readString(err, StandardCharsets.UTF_8);
        }

        /** Waits (polling the file, this is the test side) until stdout satisfies {@code condition}. */
        void awaitOut(Predicate<String> condition, String what) throws Exception {
            awaitFile(out, condition, what);
        }

        void awaitErr(Predicate<String> condition, String what) throws Exception {
            awaitFile(err, condition, what);
        }

        private void awaitFile(Path file, Predicate<String> condition, String what) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!condition.test(Files.readString(file, StandardCharsets.UTF_8))) {
                assertTrue(process.isAlive(), "mux ended before " + what + "; stdout:\n" + out() + "\nstderr:\n" + err());
                assertTrue(System.nanoTime() < deadline, what + "; stdout so far:\n" + out() + "\nstderr:\n" + err());
                Thread.sleep(20);
            }
        }

        int exit() throws Exception {
            if (!process.waitFor(50, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
                throw new AssertionError("mux did not end; stdout:\n" + out() + "\nstderr:\n" + err());
            }
            return process.exitValue();
        }
    }

    @AfterEach
    void noChildrenLeft() throws Exception {
        List<Long> left = ProcessHandle.current().children().map(ProcessHandle::pid).toList();
        for (Running r : started) {
            if (!r.process.isAlive()) continue;
            r.process.destroy();
            if (!r.process.waitFor(10, TimeUnit.SECONDS)) r.process.destroyForcibly().waitFor();
        }
        assertEquals(List.of(), left, "child processes left");
    }

    @BeforeAll
    static void locate() throws IOException {
        Path root = Path.of(System.getProperty("panpipe.root", "..")).toRealPath();
        launcher = root.resolve("scripts/panpipe");
    }

    @Test
    @Timeout(60)
    void shouldRouteStdinLinesAndFifoWritesAndFlushAPartialLastLine() throws Exception {
        Path fifos = dir.resolve("fifos");
        Running mux = new Running(true, "--fifo-dir", fifos.toString(), "--grace", "300ms",
                "A=cat", "B=grep --line-buffered -i hello", "C=sh -c 'read x; printf \"partial-$x\"'");
        mux.type("A: one");
        mux.type("B: say Hello");
        mux.type("B: not this");
        mux.type("X: to nobody");
        mux.awaitOut(o -> o.contains("A: one\n") && o.contains("B: say Hello\n"), "lines typed on stdin reach A and B");
        // Two writers one after the other: each one's bytes reach A, and the FIFO stays usable between them.
        for (String word : List.of("first", "second")) {
            Process writer = new ProcessBuilder("sh", "-c", "echo via-fifo-$1 > \"$2\"", "sh", word, fifos.resolve("A.in").toString())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            assertEquals(0, writer.waitFor());
        }
        mux.awaitOut(o -> o.contains("A: via-fifo-first\n") && o.contains("A: via-fifo-second\n"), "FIFO writes reach A");
        mux.type("C: end");   // C prints without a newline and exits: --until any stops A and B
        assertEquals(0, mux.exit(), mux.err());
        List<String> lines = mux.out().lines().toList();
        assertEquals(List.of("A: one", "B: say Hello", "A: via-fifo-first", "A: via-fifo-second", "C: partial-end"),
                lines.stream().sorted((a, b) -> Integer.compare(order(a), order(b))).toList(), mux.out());
        assertTrue(mux.err().contains("panpipe mux: stdin: no child named 'X' (children: A, B, C), ignored: X: to nobody"), mux.err());
        assertTrue(mux.err().startsWith("panpipe mux: FIFOs in " + fifos + ": A.in B.in C.in"), mux.err());
        assertFalse(Files.exists(fifos), "the FIFOs and the directory mux made are gone");
    }

    private static int order(String line) {
        return List.of("A: one", "B: say Hello", "A: via-fifo-first", "A: via-fifo-second", "C: partial-end").indexOf(line);
    }

    @Test
    @Timeout(60)
    void shouldRunTheExpectFileThenWaitForAllAndExitWithTheFirstFailure() throws Exception {
        Path script = Files.writeString(dir.resolve("talk.txt"), """
                # A answers once, B until it is told to quit
                send A hi there
                expect A ^A got hi there$ 5s
                send B ping
                expect B got (p.ng)
                send B quit
                """);
        Running mux = new Running(false, "--until", "all", "--expect-file", script.toString(),
                "A=sh -c 'read x; echo \"A got $x\"'",
                "B=sh -c 'while read x; do [ \"$x\" = quit ] && exit 5; echo \"got $x\"; done'");
        assertEquals(5, mux.exit(), mux.err());
        assertEquals(List.of("A: A got hi there", "B: got ping"), mux.out().lines().sorted().toList());
    }

    @Test
    @Timeout(60)
    void shouldExit124WithTheLastLinesWhenAnExpectationIsNotMet() throws Exception {
        String marker = "28." + ProcessHandle.current().pid();
        Path script = Files.writeString(dir.resolve("wait.txt"), "expect A starting\n\nexpect A ready 500ms\n");
        Running mux = new Running(false, "--grace", "200ms", "--expect-file", script.toString(),
                "A=sh -c 'echo starting; echo almost; exec sleep " + marker + "'");
        assertEquals(124, mux.exit(), mux.err());
        assertTrue(mux.err().contains("panpipe mux: " + script + ":3: expected a line from A matching /ready/: none came within 500ms;"
                + " last lines from A:\n  A: starting\n  A: almost\n"), mux.err());
        assertEquals(0, processesWith(marker), "A was stopped");
    }

    @Test
    @Timeout(60)
    void shouldExitWithTheStatusOfAKilledChildAndStopTheOthers() throws Exception {
        String marker = "27." + ProcessHandle.current().pid();
        Path fifos = dir.resolve("fifos");
        Running mux = new Running(false, "--fifo-dir", fifos.toString(), "--grace", "200ms",
                "victim=sh -c 'sleep 0.2; kill -KILL $$'", "bystander=sleep " + marker);
        assertEquals(128 + 9, mux.exit(), mux.err());
        assertEquals(0, processesWith(marker), "bystander stopped");
        assertFalse(Files.exists(fifos));
    }

    @Test
    @Timeout(90)
    void shouldNeverCutALineWhenTwoChildrenWriteLongLinesFast() throws Exception {
        String awk = "awk 'BEGIN { s = sprintf(\"%%3000s\", \"\"); gsub(/ /, \"%s\", s); for (i = 0; i < 2000; i++) print i \" \" s }'";
        Running mux = new Running(false, "--until", "all", "A=" + awk.formatted("a"), "B=" + awk.formatted("b"));
        assertEquals(0, mux.exit(), mux.err());
        int[] next = new int[2];
        for (String line : mux.out().lines().toList()) {
            int child = line.startsWith("A: ") ? 0 : line.startsWith("B: ") ? 1 : -1;
            assertTrue(child >= 0, "a line from neither child: " + line.substring(0, Math.min(60, line.length())));
            assertEquals((child == 0 ? "A: " : "B: ") + next[child] + " " + (child == 0 ? "a" : "b").repeat(3000), line);
            next[child]++;
        }
        assertEquals(2000, next[0]);
        assertEquals(2000, next[1]);
    }

    @Test
    @Timeout(60)
    void shouldStopEveryChildAndRemoveTheFifosOnSigint() throws Exception {
        String marker = "26." + ProcessHandle.current().pid();
        Running mux = new Running(true, "--grace", "300ms",
                "A=sh -c 'echo up; sleep " + marker + " & wait'", "B=sh -c 'trap \"\" TERM; cat; sleep " + marker + "'");
        mux.awaitOut(o -> o.contains("A: up\n"), "A started");
        mux.awaitErr(e -> e.contains("FIFOs in"), "the FIFOs' directory is named");
        Matcher m = Pattern.compile("FIFOs in (\\S+): A\\.in B\\.in").matcher(mux.err());
        assertTrue(m.find(), mux.err());
        Path fifos = Path.of(m.group(1));
        assertTrue(Files.exists(fifos.resolve("A.in")) && Files.exists(fifos.resolve("B.in")));
        assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(fifos)));
        // A says "up" before it forks and execs its sleep: the line alone does not say that the sleep runs yet.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (processesWith(marker) < 1) {
            assertTrue(mux.process.isAlive() && System.nanoTime() < deadline, "A's sleep " + marker + " started; stderr:\n" + mux.err());
            Thread.sleep(20);
        }

        assertEquals(0, new ProcessBuilder("kill", "-INT", String.valueOf(mux.process.pid())).start().waitFor());
        assertEquals(130, mux.exit(), mux.err());
        assertEquals(0, processesWith(marker), "A, what A started, and B (which ignores SIGTERM) are gone");
        assertFalse(Files.exists(fifos), "FIFOs and their directory removed");
    }

    @Test
    @Timeout(60)
    void shouldDieOfSigintOnceStoppedSoThatACallingScriptStopsToo() throws Exception {
        // Each child leads its own process group: the Ctrl-C reaches the script and panpipe, which stops A itself.
        CallingScript.assertStopsOnCtrlC(launcher, "mux --grace 100ms \"A=sh -c 'echo started; exec sleep 30'\"", "A: started", dir);
    }

    @Test
    @Timeout(60)
    void shouldExit127AndStartNothingWhenACommandIsMissing() throws Exception {
        Path marker = dir.resolve("A-ran");
        Path fifos = dir.resolve("fifos");
        Running mux = new Running(false, "--fifo-dir", fifos.toString(), "A=touch " + marker, "B=no-such-program-panpipe");
        assertEquals(127, mux.exit(), mux.err());
        assertTrue(mux.err().startsWith("panpipe mux: child B: cannot start no-such-program-panpipe: program not found"), mux.err());
        assertFalse(Files.exists(marker));
        assertFalse(Files.exists(fifos));
    }

    @Test
    @Timeout(90)
    void shouldDocumentItselfAndRefuseBadArguments() throws Exception {
        Running help = new Running(false, "--help");
        assertEquals(0, help.exit(), help.err());
        assertTrue(help.out().contains("\nUsage: panpipe mux "), help.out());
        for (String documented : List.of("Exit status", "124", "127", "130", "--expect-file", "--until", "NAME.in")) {
            assertTrue(help.out().contains(documented), documented + " in:\n" + help.out());
        }
        Path badScript = Files.writeString(dir.resolve("bad.txt"), "send A hi\nexpect Z ready\n");
        List<List<String>> bad = List.of(
                List.of(),
                List.of("A"),
                List.of("a b=cat"),
                List.of("A=cat", "A=cat"),
                List.of("A='cat"),
                List.of("--until", "some", "A=cat"),
                List.of("--grace", "5", "A=cat"),
                List.of("--expect-file", badScript.toString(), "A=cat"),
                List.of("--expect-file", dir.resolve("absent.txt").toString(), "A=cat"));
        List<String> expected = List.of("Missing required parameter", "'A' is not NAME=COMMAND", "bad child name 'a b'",
                "A: the name is used twice", "unterminated single quote", "--until must be any or all", "--grace: bad duration '5'",
                badScript + ":2: no child named 'Z' (children: A)", "cannot read --expect-file");
        for (int i = 0; i < bad.size(); i++) {
            Running r = new Running(false, bad.get(i).toArray(String[]::new));
            assertEquals(2, r.exit(), bad.get(i) + ": " + r.err());
            assertTrue(r.err().contains(expected.get(i)), bad.get(i) + ": " + r.err());
            assertFalse(r.err().contains("FIFOs in"), "nothing was set up: " + r.err());
        }
    }

    @Test
    @Timeout(60)
    void shouldSayWhatIsWrongWithTheExpectFileOrTheFifoFolderInWords() throws Exception {
        // The messages were Java's: 'java.nio.file.NoSuchFileException: absent.txt', 'java.io.IOException: Is a
        // directory', 'java.nio.charset.MalformedInputException: Input length = 1' with no line, and a FIFO
        // folder that is a file was 'cannot set up the FIFOs: a-file', without a reason.
        Path absent = dir.resolve("absent.txt");
        Path latin1 = Files.write(dir.resolve("latin1.txt"), "send A hi\nsend A caf\u00e9\n".getBytes(StandardCharsets.ISO_8859_1));
        Path file = Files.writeString(dir.resolve("a-file"), "not a folder");
        List<List<String>> bad = List.of(
                List.of("--expect-file", absent.toString(), "A=cat"),
                List.of("--expect-file", dir.toString(), "A=cat"),
                List.of("--expect-file", latin1.toString(), "A=cat"));
        List<String> expected = List.of(
                "panpipe mux: cannot read --expect-file " + absent + ": no such file or directory\n",
                "panpipe mux: cannot read --expect-file " + dir + ": Is a directory\n",
                "panpipe mux: " + latin1 + ":2: not UTF-8 text\n");
        for (int i = 0; i < bad.size(); i++) {
            Running r = new Running(false, bad.get(i).toArray(String[]::new));
            assertEquals(2, r.exit(), r.err());
            assertTrue(r.err().startsWith(expected.get(i)), r.err());
        }
        for (Path fifos : List.of(file, file.resolve("sub"))) {
            Running r = new Running(false, "--fifo-dir", fifos.toString(), "A=echo hi");
            assertEquals(1, r.exit(), r.err());
            String reason = fifos.equals(file) ? "exists and is not a directory" : "Not a directory";
            assertEquals("panpipe mux: cannot set up the FIFOs: " + fifos + ": " + reason + "\n", r.err());
        }
    }

    @Test
    @Timeout(60)
    void shouldFailWhenItsOutputCannotBeWritten() throws Exception {
        // The lines were dropped with a notice, and the exit status was the child's: 0.
        ProcessBuilder pb = new ProcessBuilder(launcher.toString(), "mux", "A=echo hi").directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(new File("/dev/full")).redirectError(dir.resolve("mux.err").toFile());
        pb.environment().put("PANPIPE_NO_BUILD", "1");
        Process p = pb.start();
        assertTrue(p.waitFor(50, TimeUnit.SECONDS));
        String err = Files.readString(dir.resolve("mux.err"), StandardCharsets.UTF_8);
        assertEquals(1, p.exitValue(), err);
        assertTrue(err.contains("panpipe mux: writing the output failed, further lines are dropped: No space left on device"), err);
    }

    /**
     * '| head -n 1': the reader of panpipe's stdout goes away. The lines were dropped with a notice and mux
     * ran on, for ever with children that never end. Now it stops them as a signal would (stdins closed,
     * grace, SIGTERM, grace, SIGKILL: B, which writes nothing more, ignores SIGTERM) and exits 141, as
     * SIGPIPE ends a C program, saying nothing more on stderr. A, which writes on, dies of SIGPIPE.
     */
    @Test
    @Timeout(60)
    void shouldStopTheChildrenAndExit141QuietlyWhenItsReaderGoesAway() throws Exception {
        String marker = "25." + ProcessHandle.current().pid();
        assertExits141QuietlyOnceItsReaderGoesAway(30, marker, "--grace", "300ms",
                "A=yes " + marker, "B=sh -c 'trap \"\" TERM; echo " + marker + "; exec sleep " + marker + "'");
    }

    /**
     * The reader goes away while the children write on: panpipe closes its ends of their stdout and stderr
     * at once, so both yes die of SIGPIPE at their next write, B too though it ignores SIGTERM, as in a shell
     * pipeline. They used to be read and dropped until the stop's SIGTERM, a 30s grace period later (and B's
     * SIGKILL 30s after that), while yes spun at full speed. 15s: generous, for a busy machine.
     */
    @Test
    @Timeout(90)
    void shouldKillTheWritersWithSigpipeAtOnceNotAfterTheGracePeriod() throws Exception {
        String marker = "24." + ProcessHandle.current().pid();
        assertExits141QuietlyOnceItsReaderGoesAway(15, marker, "--grace", "30s",
                "A=yes " + marker, "B=sh -c 'trap \"\" TERM; exec yes " + marker + "'");
    }

    /**
     * Runs {@code panpipe mux ARGS} with its stdout a pipe, reads five lines {@code A: marker} or
     * {@code B: marker}, waits until both children run their programs with {@code marker} (B's once its shell
     * has exec'd), then closes the pipe: the reader goes away. Within {@code seconds} mux must exit 141,
     * having said nothing more than the FIFOs' line, and both children, found by pid, must be gone.
     */
    private void assertExits141QuietlyOnceItsReaderGoesAway(int seconds, String marker, String... args) throws Exception {
        Path err = dir.resolve("mux.err");
        List<String> command = new ArrayList<>(List.of(launcher.toString(), "mux"));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).redirectError(err.toFile());
        pb.environment().put("PANPIPE_NO_BUILD", "1");
        Process mux = pb.start();
        try {
            List<ProcessHandle> children;
            try (BufferedReader out = new BufferedReader(new InputStreamReader(mux.getInputStream(), StandardCharsets.UTF_8))) {
                for (int i = 0; i < 5; i++) {
                    String line = out.readLine();
                    assertTrue(line != null && line.matches("[AB]: " + Pattern.quote(marker)), line + "\nstderr:\n" + Files.readString(err));
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                do {
                    children = mux.descendants().filter(h -> h.info().arguments().map(a -> List.of(a).contains(marker)).orElse(false)).toList();
                    assertTrue(System.nanoTime() < deadline, "both children started: " + children);
                    Thread.sleep(20);
                } while (children.size() < 2);
            }   // the reader goes away
            assertTrue(mux.waitFor(seconds, TimeUnit.SECONDS),
                    "mux still runs " + seconds + "s after its reader went away; stderr:\n" + Files.readString(err));
            String stderr = Files.readString(err, StandardCharsets.UTF_8);
            assertEquals(141, mux.exitValue(), stderr);
            List<String> lines = stderr.lines().toList();
            assertEquals(1, lines.size(), "only the FIFOs' line, nothing about the pipe:\n" + stderr);
            assertTrue(lines.getFirst().startsWith("panpipe mux: FIFOs in "), stderr);
            for (ProcessHandle child : children) assertFalse(child.isAlive(), "child " + child.pid() + " left running");
            assertEquals(0, processesWith(marker), "no child left");
        } finally {
            if (mux.isAlive()) {     // the old behaviour: it runs on; SIGTERM makes it stop its children
                mux.destroy();
                if (!mux.waitFor(10, TimeUnit.SECONDS)) mux.destroyForcibly().waitFor();
            }
        }
    }

    private static long processesWith(String marker) {
        return ProcessHandle.allProcesses().filter(h -> h.info().arguments().map(a -> List.of(a).contains(marker)).orElse(false)).count();
    }
}
