package dev.panpipe.process;

import dev.panpipe.io.ReadEnd;
import dev.panpipe.testing.OpenFds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Random pipelines compared with bash running the same pipeline: byte-identical output, identical {@code $?}
 * with and without pipefail, identical {@code PIPESTATUS} for every stage whose status bash itself gives
 * for certain, and the same failure when a redirection's file cannot be opened.
 *
 * <p>The cases are built so that bash's answer is deterministic. The input is small (under 4 KiB, one
 * pipe buffer), so every filter writes its output with a single write and a stage that stops reading
 * early ({@code head}) can never make an upstream stage's later write fail. The only SIGPIPE cases are
 * built on purpose: {@code seq} with over a megabyte still to write when {@code head} exits.
 */
class PipelineTest {
    /** Filters over the input file; none of them exits before reading its input except {@code false}, {@code head} and the {@code kill} one. */
    private static final List<String> FILTERS = List.of(
            "cat", "grep -i x", "grep -v y", "grep -c e", "sort", "sort -r", "sort -u", "uniq", "uniq -c", "tr a-z A-Z",
            "tr -d aeiou", "wc -l", "wc -c", "cut -c1-5", "rev", "sed s/a/b/g", "sed 's/ /_/g'", "tac", "nl",
            "awk '{print $1}'", "cut -d' ' -f2", "grep \"o\"", "paste -sd,", "tr -s 'a-z'",
            "head -n #", "tail -n #",
            // failing stages
            "false", "grep nomatch", "sh -c 'cat; exit 3'", "sh -c 'cat >/dev/null; exit 7'", "sh -c 'kill -TERM $$'");
    /** Filters that keep a huge stream huge, so the stage left of {@code head} is certain to hit a closed pipe. */
    private static final List<String> STREAMING = List.of("cat", "rev", "cut -c1-5", "tr 0-9 a-j", "sed s/1/x/g");

    /** Stages that may exit before reading their input: the stage before one races it (SIGPIPE or not), under bash too. */
    private static final List<String> EXIT_WITHOUT_READING = List.of("false", "sh -c 'kill -TERM $$'");

    /** Where the first stage reads from; MISSING is a file that does not exist ({@code < missing}: bash says 1, runs nothing). */
    enum In { FILE, CAT_FILE, DEV_NULL, MISSING }

    /** Where the last stage writes; UNWRITABLE is a file in a directory that does not exist. */
    enum Out { TRUNCATE, APPEND, PIPE, UNWRITABLE }

    @TempDir
    Path dir;

    @Test
    @Timeout(180)
    void shouldMatchBashOnRandomPipelines() throws Exception {
        long seed = Long.getLong("panpipe.test.seed", System.nanoTime());
        Random random = new Random(seed);
        Path input = dir.resolve("in.txt");
        Files.writeString(input, names(random));
        assertTrue(Files.size(input) < 2048, "input must stay well inside one pipe buffer");
        for (int n = 0; n < 100; n++) {
            List<String> stages = new ArrayList<>();
            In in;
            if (random.nextInt(7) == 0) {
                stages.add("seq 1 200000");
                for (int k = random.nextInt(3); k > 0; k--) stages.add(pick(STREAMING, random));
                stages.add("head -n " + (1 + random.nextInt(5)));
                if (random.nextBoolean()) stages.add(pick(List.of("wc -l", "cat", "sort -r", "grep nomatch"), random));
                in = In.DEV_NULL;
            } else {
                in = random.nextInt(20) == 0 ? In.MISSING : In.values()[random.nextInt(3)];
                if (in == In.CAT_FILE) stages.add("cat " + ShellWords.quote(input.toString()));
                for (int k = 1 + random.nextInt(in == In.CAT_FILE ? 3 : 4); k > 0; k--) {
                    stages.add(pick(FILTERS, random).replace("#", String.valueOf(1 + random.nextInt(6))));
                }
            }
            Out out = random.nextInt(20) == 0 ? Out.UNWRITABLE : Out.values()[random.nextInt(3)];
            boolean pipefail = random.nextBoolean();
            String why = "seed " + seed + " (rerun with -Dpanpipe.test.seed=" + seed + "), case " + n + ": " + in + " " + out
                    + (pipefail ? " pipefail " : " ") + stages;
            compareWithBash(stages, input, in, out, pipefail, why);
        }
        assertEquals(List.of(), ProcessHandle.current().children().toList(), "every stage reaped");
    }

    private void compareWithBash(List<String> stages, Path input, In in, Out out, boolean pipefail, String why) throws Exception {
        Path ours = dir.resolve("ours.out"), theirs = dir.resolve("bash.out"), bashStatus = dir.resolve("bash.status");
        Path outFile = out == Out.UNWRITABLE ? dir.resolve("no-such-dir/out.txt") : ours;
        Path theirOutFile = out == Out.UNWRITABLE ? dir.resolve("no-such-dir/bash.out") : theirs;
        Path inFile = in == In.MISSING ? dir.resolve("missing.txt") : input;
        Files.deleteIfExists(ours);
        Files.deleteIfExists(theirs);
        if (out == Out.APPEND) {
            Files.writeString(ours, "kept\n");
            Files.writeString(theirs, "kept\n");
        } else if (out == Out.TRUNCATE) {
            Files.writeString(ours, "old content that must go\n".repeat(10));
        }
        String oursBefore = Files.exists(ours) ? Files.readString(ours) : null;

        Pipeline p = Pipeline.parse(stages.toArray(String[]::new)).pipefail(pipefail).stderr(Redirect.discard());
        switch (in) {
            case FILE, MISSING -> p.input(inFile);
            case DEV_NULL, CAT_FILE -> p.input(Redirect.discard());
        }
        Pipeline.Result result = null;
        IOException failure = null;
        byte[] ourBytes = new byte[0];
        try {
            if (out == Out.PIPE) {
                try (Pipeline.Running running = p.pipeOutput().start()) {
                    ourBytes = running.stdout().asInputStream().readAllBytes();
                    result = running.waitFor();
                }
            } else {
                result = p.output(outFile, out == Out.APPEND).run();
                ourBytes = Files.readAllBytes(ours);
            }
        } catch (IOException e) {
            failure = e;
        }

        // The status line comes from inside the group: "$? PIPESTATUS..." of the pipeline itself, both
        // expanded before echo runs. Redirections on the group: stdin for the first stage, stdout for the
        // last, stderr for all; when one of them fails bash runs nothing and the status file stays empty.
        String script = (pipefail ? "set -o pipefail; " : "") + "{ " + String.join(" | ", stages) + "; echo \"$? ${PIPESTATUS[*]}\" >&3; }"
                + " 3> " + ShellWords.quote(bashStatus.toString())
                + " < " + (in == In.CAT_FILE || in == In.DEV_NULL ? "/dev/null" : ShellWords.quote(inFile.toString()))
                + (out == Out.APPEND ? " >> " : " > ") + ShellWords.quote(theirOutFile.toString())
                + " 2>/dev/null";
        Process bash = new ProcessBuilder("/bin/bash", "-c", script)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD)   // bash's own "Terminated" notices and redirection errors
                .start();
        assertTrue(bash.waitFor(30, TimeUnit.SECONDS), why);
        why += " (bash script: " + script + ")";
        String status = Files.readString(bashStatus).strip();

        if (in == In.MISSING || out == Out.UNWRITABLE) {
            assertEquals(1, bash.exitValue(), why);
            assertEquals("", status, "bash ran nothing: " + why);
            assertTrue(failure != null && !(failure instanceof SpawnException), "a redirection error, not " + failure + ": " + why);
            String missing = (in == In.MISSING ? inFile : outFile).toString();
            assertTrue(failure.getMessage().contains(missing), failure.getMessage());
            assertEquals(oursBefore, Files.exists(ours) ? Files.readString(ours) : null, "output file untouched: " + why);
            return;
        }
        if (failure != null) throw new AssertionError(why, failure);
        byte[] bashBytes = Files.readAllBytes(theirs);
        assertEquals(new String(bashBytes, StandardCharsets.UTF_8), new String(ourBytes, StandardCharsets.UTF_8), why);
        assertArrayEquals(bashBytes, ourBytes, why);

        List<Integer> bashCodes = Stream.of(status.split(" ")).map(Integer::valueOf).toList();
        assertEquals(bashCodes.getFirst(), result.exitCode(), "$?: " + why);
        List<Integer> pipestatus = bashCodes.subList(1, bashCodes.size());
        assertEquals(stages.size(), pipestatus.size(), why);
        for (int i = 0; i < stages.size(); i++) {
            if (i + 1 < stages.size() && EXIT_WITHOUT_READING.contains(stages.get(i + 1))) continue;
            assertEquals(pipestatus.get(i), result.shellCodes().get(i), "PIPESTATUS[" + i + "] of " + pipestatus + ": " + why);
        }
    }

    @Test
    @Timeout(30)
    void shouldNameTheStageThatCannotStartAndStartNone() throws Exception {
        Path marker = dir.resolve("stage-1-ran");
        Pipeline p = Pipeline.parse("touch " + ShellWords.quote(marker.toString()), "cat", "no-such-program-panpipe 'a b'", "wc -l")
                .input(Redirect.discard()).output(Redirect.discard());
        // The fds opened since, not a count: a count also moves with what the JVM's own threads open and close meanwhile.
        java.util.Map<Integer, String> fdsBefore = OpenFds.snapshot();
        ProgramNotFoundException e = assertThrows(ProgramNotFoundException.class, p::start);
        assertEquals(List.of(), OpenFds.openedSince(fdsBefore), "no pipe left open");
        assertTrue(e.getMessage().startsWith("pipeline stage 3 (no-such-program-panpipe 'a b'): "), e.getMessage());
        assertTrue(e.getMessage().contains("program not found"), e.getMessage());
        assertEquals(127, e.shellCode());
        assertEquals(List.of(), ProcessHandle.current().children().toList(), "no stage started");
        Thread.sleep(100);   // time enough for touch, had it been started
        assertFalse(Files.exists(marker), "stage 1 never ran: every program is looked up before the first stage starts");
    }

    @Test
    @Timeout(30)
    void shouldStartNoStageWhenARedirectionCannotBeOpened() throws Exception {
        Path marker = dir.resolve("stage-1-ran");
        Path missingDir = dir.resolve("missing");
        Pipeline p = Pipeline.parse("touch " + ShellWords.quote(marker.toString()), "cat")
                .input(Redirect.discard()).output(missingDir.resolve("out.txt"), false);
        IOException e = assertThrows(IOException.class, p::start);
        assertTrue(e.getMessage().contains(missingDir.resolve("out.txt").toString()) && e.getMessage().contains("ENOENT"), e.getMessage());
        assertEquals(List.of(), ProcessHandle.current().children().toList(), "no stage started");

        Path in = dir.resolve("in.txt");
        Files.writeString(in, "x\n");
        IOException noInput = assertThrows(IOException.class,
                () -> Pipeline.parse("cat").input(dir.resolve("absent.txt")).output(in, false).run());
        assertTrue(noInput.getMessage().contains("absent.txt"), noInput.getMessage());
        assertEquals("x\n", Files.readString(in), "< is opened before >, as bash does: the output was not truncated");
        Thread.sleep(100);
        assertFalse(Files.exists(marker));
    }

    @Test
    @Timeout(30)
    void shouldGiveEveryStageTheSameStderrFileOpenedOnce() throws Exception {
        Path err = dir.resolve("err.txt");
        Pipeline.Result r = Pipeline.parse("sh -c 'echo one >&2; echo data'", "sh -c 'cat >/dev/null; echo two >&2'")
                .input(Redirect.discard()).output(Redirect.discard()).stderr(Redirect.to(err)).run();
        assertEquals(List.of(0, 0), r.shellCodes());
        // Opened per stage, each open would truncate what the other wrote.
        assertEquals("one\ntwo\n", Files.readString(err));
    }

    /**
     * 127 for a program that is not there, 126 for one that is there but cannot run: each case against
     * bash's status for the same command line.
     */
    @Test
    @Timeout(30)
    void shouldTellNotFoundFromNotExecutableAsBashDoes() throws Exception {
        Path plain = Files.writeString(dir.resolve("plain.txt"), "echo hi\n");
        Path badInterpreter = Files.writeString(dir.resolve("bad-interpreter"), "#!/no/such/interpreter\necho hi\n");
        Files.setPosixFilePermissions(badInterpreter, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        Path subdir = Files.createDirectory(dir.resolve("subdir"));
        List<String> programs = List.of(
                "no-such-program-panpipe", dir.resolve("absent").toString(), plain.toString(), subdir.toString(),
                badInterpreter.toString(), plain.resolve("below-a-file").toString());
        for (String program : programs) {
            int bashCode = new ProcessBuilder("/bin/bash", "-c", ShellWords.quote(program))
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start().waitFor();
            SpawnException e = assertThrows(SpawnException.class,
                    () -> Pipeline.parse("cat", ShellWords.quote(program)).input(Redirect.discard()).output(Redirect.discard()).run(), program);
            assertEquals(bashCode, e.shellCode(), program + ": " + e.getMessage());
            assertTrue(e.getMessage().startsWith("pipeline stage 2 ("), e.getMessage());
        }
        assertEquals(List.of(), ProcessHandle.current().children().toList());

        // Found on PATH but not executable: bash tries it anyway, and execve says EACCES.
        Files.copy(plain, dir.resolve("panpipe-not-exec"));
        ProcessBuilder onPath = new ProcessBuilder("/bin/bash", "-c", "panpipe-not-exec").redirectError(ProcessBuilder.Redirect.DISCARD);
        onPath.environment().put("PATH", dir.toString());
        int bashCode = onPath.start().waitFor();
        ProgramNotFoundException e = assertThrows(ProgramNotFoundException.class,
                () -> Subprocess.builder("panpipe-not-exec").environment("PATH", dir.toString()).resolveProgram());
        assertTrue(e.exists(), e.getMessage());
        assertEquals(bashCode, e.shellCode(), e.getMessage());
    }

    @Test
    @Timeout(30)
    void shouldNameTheFirstStageWhenItCannotStart() {
        ProgramNotFoundException e = assertThrows(ProgramNotFoundException.class,
                () -> Pipeline.parse("./not-here", "wc -l").input(Redirect.discard()).run());
        assertTrue(e.getMessage().startsWith("pipeline stage 1 (./not-here): cannot start ./not-here: "), e.getMessage());
        assertEquals(List.of(), ProcessHandle.current().children().toList());
    }

    @Test
    @Timeout(30)
    void shouldNameTheStageWhoseQuotingIsWrong() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Pipeline.parse("cat", "grep 'x", "wc"));
        assertEquals("stage 2: unterminated single quote at column 6 of: grep 'x", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Pipeline.parse("cat", ""));
        assertThrows(IllegalArgumentException.class, Pipeline::parse);
    }

    @Test
    @Timeout(30)
    void shouldLetTheCallerReadTheOutputWhileThePipelineRuns() throws Exception {
        Pipeline p = Pipeline.parse("sh -c 'echo first; exec sleep 30'", "cat").input(Redirect.discard()).pipeOutput();
        try (Pipeline.Running running = p.start()) {
            ReadEnd stdout = running.stdout();
            assertTrue(stdout.awaitReadable(Duration.ofSeconds(10)), "first line arrives while sleep still runs");
            byte[] buf = new byte[64];
            int n = stdout.read(buf, 0, buf.length);
            assertEquals("first\n", new String(buf, 0, n, StandardCharsets.US_ASCII));
            for (Subprocess s : running.processes()) assertTrue(s.isAlive(), s + " still running");
        }   // close ends sleep (SIGTERM) and cat (end of input)
        assertEquals(List.of(), ProcessHandle.current().children().toList());
    }

    /**
     * Closing a pipeline whose input is a pipe ends its input and lets the stages finish, as closing one process's
     * stdin does: each stage gets end of input in turn and writes what it has left. Closed stage by stage, the
     * last one used to get SIGTERM as soon as the first had ended, while it was still writing.
     */
    @Test
    @Timeout(30)
    void shouldLetEveryStageFinishWhenClosedAfterItsInput() throws Exception {
        Path out = dir.resolve("out");
        Pipeline p = Pipeline.parse("cat", "sh -c 'wc -l; sleep 0.5; echo end'").input(Redirect.pipe()).output(out, false);
        try (Pipeline.Running running = p.start()) {
            byte[] lines = "a\nb\nc\n".getBytes(StandardCharsets.US_ASCII);
            assertEquals(lines.length, running.processes().getFirst().stdin().write(lines, 0, lines.length));
        }
        assertEquals(List.of("3", "end"), Files.readAllLines(out).stream().map(String::strip).toList());
        assertEquals(List.of(), ProcessHandle.current().children().toList());
    }

    /**
     * toStdout() ({@code 2>&1}) means nothing for the first stage's stdin or the last one's stdout. It was taken,
     * and refused only by the last stage's builder, after every other stage had been started (and killed).
     */
    @Test
    @Timeout(30)
    void shouldRefuseToStdoutAsTheInputOrOutputWhenConfigured() {
        Pipeline p = Pipeline.parse("cat", "cat");
        IllegalArgumentException out = assertThrows(IllegalArgumentException.class, () -> p.output(Redirect.toStdout()));
        assertTrue(out.getMessage().contains("toStdout() is for stderr only"), out.getMessage());
        assertThrows(IllegalArgumentException.class, () -> p.input(Redirect.toStdout()));
    }

    /**
     * run() returns no {@link Pipeline.Running}, so a pipe of its stages has no other end anyone can reach: a
     * stage writing more than the pipe holds blocked for ever ({@code seq 1 300000} through pipeOutput, a stage
     * chatty on a piped stderr), and one reading its piped stdin waited for ever for an end of input.
     */
    @Test
    @Timeout(30)
    void shouldRefuseToRunWithAPipeThatNobodyCouldReadOrWrite() throws Exception {
        Path marker = dir.resolve("stage-ran");
        List<Pipeline> unrunnable = List.of(
                Pipeline.parse("touch " + ShellWords.quote(marker.toString()), "cat").input(Redirect.discard()).pipeOutput(),
                Pipeline.parse("touch " + ShellWords.quote(marker.toString()), "cat").input(Redirect.pipe()).output(Redirect.discard()),
                Pipeline.parse("touch " + ShellWords.quote(marker.toString()), "cat").input(Redirect.discard())
                        .output(Redirect.discard()).stderr(Redirect.pipe()));
        for (Pipeline p : unrunnable) {
            IllegalStateException e = assertThrows(IllegalStateException.class, p::run, p.stages().toString());
            assertTrue(e.getMessage().contains("start()"), e.getMessage());
        }
        assertEquals(List.of(), ProcessHandle.current().children().toList(), "no stage started");
        assertFalse(Files.exists(marker), "no stage ran");
    }

    /** The pipes between stages are a shell's 64 KiB unless asked for more; read through the second stage's fd 0. */
    @Test
    @Timeout(30)
    void shouldGiveThePipesBetweenStagesTheCapacityAskedFor() throws Exception {
        assertEquals(65536, linkCapacity(Pipeline.parse("sleep 30", "sleep 30")));
        assertEquals(1 << 20, linkCapacity(Pipeline.parse("sleep 30", "sleep 30").pipeCapacity(1 << 20)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Pipeline.parse("cat").pipeCapacity(-1));
        assertTrue(e.getMessage().contains("-1"), e.getMessage());
    }

    private static int linkCapacity(Pipeline p) throws Exception {
        try (Pipeline.Running running = p.input(Redirect.discard()).output(Redirect.discard()).start();
             java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            long reader = running.processes().get(1).pid();
            int fd = dev.panpipe.bindings.Syscalls.open(arena.allocateFrom("/proc/" + reader + "/fd/0"),
                    dev.panpipe.bindings.linux.linux_h.O_RDONLY() | dev.panpipe.bindings.linux.linux_h.O_NONBLOCK()
                            | dev.panpipe.bindings.linux.linux_h.O_CLOEXEC(), 0);
            try {
                return dev.panpipe.bindings.Syscalls.fcntl(fd, dev.panpipe.bindings.linux.linux_h.F_GETPIPE_SZ(), 0);
            } finally {
                dev.panpipe.bindings.Syscalls.close(fd);
            }
        }
    }

    @Test
    @Timeout(30)
    void shouldReportAStageKilledByASignalAsAShellDoes() throws Exception {
        Pipeline.Result r = Pipeline.parse("seq 1 1000000", "head -n 1").input(Redirect.discard()).output(Redirect.discard())
                .pipefail(true).run();
        assertEquals(ExitStatus.killed(Signals.SIGPIPE, false), r.statuses().get(0));
        assertEquals(128 + Signals.SIGPIPE, r.exitCode());
        assertEquals(0, new Pipeline.Result(r.statuses(), false).exitCode());
    }

    private static String pick(List<String> from, Random random) {
        return from.get(random.nextInt(from.size()));
    }

    /** About 40 lines of made-up names, some repeated next to each other (for uniq), a few with x, y and "Yost". */
    private static String names(Random random) {
        String[] first = {"ada", "bo", "cy", "dax", "eve", "fay", "gus", "hal", "ivy", "jo", "kai", "lex", "mo", "ny"};
        String[] last = {"Yost", "oak", "Bay", "rex", "moss", "Lyle", "quay", "ash"};
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            String line = first[random.nextInt(first.length)] + " " + last[random.nextInt(last.length)] + "\n";
            s.append(line);
            if (random.nextInt(6) == 0) s.append(line);
        }
        return s.toString();
    }
}
