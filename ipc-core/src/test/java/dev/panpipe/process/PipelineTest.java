package dev.panpipe.process;

import dev.panpipe.io.ReadEnd;
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
 * Random pipelines compared with bash running the same pipeline: byte-identical output, identical {@code $?}.
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

    enum In { FILE, CAT_FILE, DEV_NULL }

    enum Out { TRUNCATE, APPEND, PIPE }

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
                in = In.values()[random.nextInt(In.values().length)];
                if (in == In.CAT_FILE) stages.add("cat " + ShellWords.quote(input.toString()));
                for (int k = 1 + random.nextInt(in == In.CAT_FILE ? 3 : 4); k > 0; k--) {
                    stages.add(pick(FILTERS, random).replace("#", String.valueOf(1 + random.nextInt(6))));
                }
            }
            Out out = Out.values()[random.nextInt(Out.values().length)];
            boolean pipefail = random.nextBoolean();
            String why = "seed " + seed + " (rerun with -Dpanpipe.test.seed=" + seed + "), case " + n + ": " + in + " " + out
                    + (pipefail ? " pipefail " : " ") + stages;
            compareWithBash(stages, input, in, out, pipefail, why);
        }
        assertEquals(List.of(), ProcessHandle.current().children().toList(), "every stage reaped");
    }

    private void compareWithBash(List<String> stages, Path input, In in, Out out, boolean pipefail, String why) throws Exception {
        Path ours = dir.resolve("ours.out"), theirs = dir.resolve("bash.out");
        Files.deleteIfExists(ours);
        Files.deleteIfExists(theirs);
        if (out == Out.APPEND) {
            Files.writeString(ours, "kept\n");
            Files.writeString(theirs, "kept\n");
        } else if (out == Out.TRUNCATE) {
            Files.writeString(ours, "old content that must go\n".repeat(10));
        }

        Pipeline p = Pipeline.parse(stages.toArray(String[]::new)).pipefail(pipefail).stderr(Redirect.discard());
        switch (in) {
            case FILE -> p.input(input);
            case DEV_NULL -> p.input(Redirect.discard());
            case CAT_FILE -> p.input(Redirect.discard());
        }
        int ourCode;
        byte[] ourBytes;
        if (out == Out.PIPE) {
            try (Pipeline.Running running = p.pipeOutput().start()) {
                ourBytes = running.stdout().asInputStream().readAllBytes();
                ourCode = running.waitFor().exitCode();
            }
        } else {
            ourCode = p.output(ours, out == Out.APPEND).run().exitCode();
            ourBytes = Files.readAllBytes(ours);
        }

        String script = (pipefail ? "set -o pipefail; " : "") + String.join(" | ", stages);
        String stdin = in == In.FILE ? ShellWords.quote(input.toString()) : "/dev/null";
        // Redirections on the group: stdin for the first stage, stdout for the last, stderr for all.
        script = "{ " + script + "; } < " + stdin + (out == Out.APPEND ? " >> " : " > ") + ShellWords.quote(theirs.toString())
                + " 2>/dev/null; exit $?";
        Process bash = new ProcessBuilder("/bin/bash", "-c", script)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD)   // bash's own "Terminated" notices
                .start();
        assertTrue(bash.waitFor(30, TimeUnit.SECONDS), why);
        int bashCode = bash.exitValue();
        byte[] bashBytes = Files.readAllBytes(theirs);

        assertEquals(new String(bashBytes, StandardCharsets.UTF_8), new String(ourBytes, StandardCharsets.UTF_8), why);
        assertArrayEquals(bashBytes, ourBytes, why);
        assertEquals(bashCode, ourCode, why + " (bash script: " + script + ")");
    }

    @Test
    @Timeout(30)
    void shouldNameTheStageThatCannotStartAndEndTheOnesAlreadyStarted() throws Exception {
        String marker = "30." + ProcessHandle.current().pid();   // sleep's argument, to find it among our children
        Pipeline p = Pipeline.parse("sleep " + marker, "cat", "no-such-program-panpipe 'a b'", "wc -l")
                .input(Redirect.discard()).output(Redirect.discard());
        long fdsBefore = openFds();
        long t0 = System.nanoTime();
        ProgramNotFoundException e = assertThrows(ProgramNotFoundException.class, p::start);
        assertEquals(fdsBefore, openFds(), "every pipe end closed, including the one meant for the stage that failed");
        assertTrue(e.getMessage().startsWith("pipeline stage 3 (no-such-program-panpipe 'a b'): "), e.getMessage());
        assertTrue(e.getMessage().contains("program not found"), e.getMessage());
        assertTrue(Duration.ofNanos(System.nanoTime() - t0).toSeconds() < 10, "did not wait for sleep to end by itself");
        List<ProcessHandle> left = ProcessHandle.current().children().toList();
        assertEquals(List.of(), left, "sleep and cat are gone (killed and reaped)");
        assertFalse(ProcessHandle.allProcesses().anyMatch(h -> h.info().arguments().map(a -> List.of(a).contains(marker)).orElse(false)),
                "no sleep " + marker + " anywhere");
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

    @Test
    @Timeout(30)
    void shouldReportAStageKilledByASignalAsAShellDoes() throws Exception {
        Pipeline.Result r = Pipeline.parse("seq 1 1000000", "head -n 1").input(Redirect.discard()).output(Redirect.discard())
                .pipefail(true).run();
        assertEquals(ExitStatus.killed(Signals.SIGPIPE, false), r.statuses().get(0));
        assertEquals(128 + Signals.SIGPIPE, r.exitCode());
        assertEquals(0, new Pipeline.Result(r.statuses(), false).exitCode());
    }

    private static long openFds() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count() - 1;   // less the one listing the directory
        }
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
