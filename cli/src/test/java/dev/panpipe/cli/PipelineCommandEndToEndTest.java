package dev.panpipe.cli;

import dev.panpipe.testing.ProcFs;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code panpipe pipeline --process-group}, run through the real {@code scripts/panpipe}: the stages in a group
 * of their own ({@code /proc/PID/stat} says which), and a signal sent to panpipe alone passed on to the group,
 * so that it reaches what a stage started. Every process a test starts is killed in its finally.
 */
@Tag("end-to-end")   // runs after package (see cli/pom.xml), also when picked with -Dtest
class PipelineCommandEndToEndTest {
    /** Prints the shell's pid and process group: fields 1 and 5 of its own /proc/PID/stat ("sh" has no space). */
    private static final String PID_AND_GROUP = "read pid comm state ppid group rest < /proc/self/stat; echo $pid $group";

    static Path launcher;

    @TempDir
    Path dir;

    @BeforeAll
    static void locate() throws IOException {
        launcher = Path.of(System.getProperty("panpipe.root", "..")).toRealPath().resolve("scripts/panpipe");
        assertTrue(Files.isExecutable(launcher), launcher + " is executable");
    }

    @Test
    @Timeout(60)
    void shouldRunTheStagesInAGroupOfTheirOwnWithProcessGroup() throws Exception {
        List<String> stages = List.of("sh -c '" + PID_AND_GROUP + "'", "sh -c 'cat; " + PID_AND_GROUP + "'");
        List<String[]> grouped = pidsAndGroups(run("--process-group", stages));
        assertEquals(grouped.get(0)[0], grouped.get(0)[1], "the first stage leads a group");
        assertEquals(grouped.get(0)[0], grouped.get(1)[1], "the second stage is in it");

        List<String[]> plain = pidsAndGroups(run(null, stages));
        assertNotEquals(plain.get(0)[0], plain.get(0)[1], "without it, the stages stay in panpipe's group");
        assertEquals(plain.get(0)[1], plain.get(1)[1]);
    }

    @Test
    @Timeout(60)
    void shouldDescribeProcessGroupInHelp() throws Exception {
        Process p = start(List.of("--help"), dir.resolve("help.out"));
        assertTrue(p.waitFor(50, TimeUnit.SECONDS));
        String help = Files.readString(dir.resolve("help.out"));
        assertTrue(help.contains("--process-group"), help);
        assertTrue(help.contains("process group of their own"), help);
    }

    /**
     * SIGTERM sent to panpipe alone reaches the sleep the first stage left running when it ended, through the
     * group: panpipe passes it on, and the group's leader, that first stage, is not reaped yet, as panpipe waits
     * for the last stage first.
     */
    @Test
    @Timeout(60)
    void shouldPassSigtermOnToWhatTheStagesStarted() throws Exception {
        Path out = dir.resolve("out");
        Process p = start(List.of("--process-group", "sh -c 'sleep 100 >/dev/null & echo $!'", "sh -c 'cat; exec sleep 100'"), out);
        long sleep = 0;
        try {
            CallingScript.awaitContaining("the first stage started its sleep", "\n", out);
            sleep = Long.parseLong(Files.readString(out).strip());
            long s = sleep;
            ProcFs.await(() -> "sleep".equals(ProcFs.comm(s)), "the background process runs sleep");
            assertEquals(0, new ProcessBuilder("kill", "-TERM", String.valueOf(p.pid())).start().waitFor());
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "panpipe ended");
            assertEquals(128 + 15, p.exitValue(), "the last stage died of SIGTERM: bash's 143");
            ProcFs.await(() -> ended(s), "the first stage's background sleep " + s + " has ended");
        } finally {
            p.destroyForcibly().waitFor();
            if (sleep != 0 && !ended(sleep)) ProcessHandle.of(sleep).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    /**
     * At a terminal, as a shell with job control runs a foreground job: the stages' group is the terminal's
     * foreground group while they run, so a first stage reading the terminal gets the line typed there (it was
     * stopped by SIGTTIN, in a background group), and panpipe's group has the terminal again afterwards.
     */
    @Test
    @Timeout(120)
    void shouldGiveTheTerminalToTheStagesAndTakeItBack() throws Exception {
        // Typed at once: the terminal keeps the line until a reader in the foreground group asks for it.
        String tty = runAtTerminal("\"head -n 1\" \"tr a-z A-Z\"", (typed, out) -> type(typed, "hello\n"));
        assertTrue(tty.contains("HELLO"), "the first stage read the typed line: " + tty);
        assertEndedAtTheShell(tty, 0, "the pipeline ended by itself");
    }

    /**
     * The terminal's Ctrl-C goes to its foreground group, the stages', which die of it; panpipe dies of SIGINT
     * too, as the last stage did (its shell sees 130), and gives the terminal back on the way.
     */
    @Test
    @Timeout(120)
    void shouldSendTheTerminalsCtrlCToTheStages() throws Exception {
        String tty = runAtTerminal("cat \"tr a-z A-Z\"", (typed, out) -> {
            // Before this, Ctrl-C would go to sh's group and end sh: wait until the stages have the terminal.
            typeThroughTheStages(typed, out);
            type(typed, "\u0003");      // Ctrl-C (VINTR): SIGINT to the terminal's foreground group
        });
        assertEndedAtTheShell(tty, 130, "panpipe died of SIGINT");
    }

    /**
     * Ctrl-Z stops the stages, their group having the terminal; panpipe then does what a shell does when its
     * foreground job stops, takes the terminal back, and stops too, so that its own shell, interactive bash
     * here, with job control, has the terminal again and reports it stopped (it used to keep waiting for
     * panpipe, the terminal left with the stopped stages: Ctrl-C and all went to them). Its {@code fg} continues
     * panpipe, which gives the stages the terminal again and continues them: the next line reaches cat, and
     * Ctrl-D ends the pipeline as usual.
     */
    @Test
    @Timeout(120)
    void shouldStopAtCtrlZAndGoOnAtFg() throws Exception {
        String tty = stopAtCtrlZAndGoOnAtFg("pipeline --process-group cat \"tr a-z A-Z\"");
        assertEndedAtTheShell(tty, 0, "the pipeline ended by itself");
    }

    /**
     * panpipe is one process of its shell's job, {@code panpipe ... | cat}: at Ctrl-Z it stops the rest of its
     * own group with itself, as the Ctrl-Z would have had that group had the terminal, so bash sees the whole job
     * stopped and reports it (it used to keep waiting for the trailing cat, which went on running). {@code fg}
     * continues the job; the stages get the terminal again and the next line goes through all of it.
     */
    @Test
    @Timeout(120)
    void shouldStopTheRestOfItsJobAtCtrlZ() throws Exception {
        // stdbuf: tr writes to a pipe here, which it would otherwise flush only at its end.
        String tty = stopAtCtrlZAndGoOnAtFg("pipeline --process-group cat \"stdbuf -o0 tr a-z A-Z\" | cat");
        assertEndedAtTheShell(tty, 0, "the job ended by itself");
    }

    /**
     * Runs {@code panpipe ARGS} at an interactive bash with job control, types a line through the stages, Ctrl-Z,
     * then {@code fg}, another line, and Ctrl-D; returns what the terminal showed.
     */
    private String stopAtCtrlZAndGoOnAtFg(String args) throws Exception {
        // --noediting: bash reads the terminal as typed, line by line, and leaves what follows a command to it.
        return runInPty("exec bash --norc --noprofile --noediting -i", (typed, out) -> {
            type(typed, "'" + launcher + "' " + args + "\n");
            typeThroughTheStages(typed, out);
            type(typed, "\u001a");      // Ctrl-Z (VSUSP): SIGTSTP to the terminal's foreground group
            awaitShown("bash has the terminal again and says the job stopped", "Stopped", out);
            type(typed, "fg\n");
            type(typed, "world\n");
            awaitShown("the line typed after fg went through the stages", "WORLD", out);
            type(typed, "\u0004");      // Ctrl-D: end of input for cat
            type(typed, STATUS_AND_FOREGROUND + "; exit\n");
        });
    }

    /**
     * With no job control, {@code sh -c} leading the session, panpipe's group is orphaned: nothing could continue
     * it, so the kernel discards its stop, as it discards a Ctrl-Z's for such a group. The stages, stopped by
     * the Ctrl-Z, are continued at once, and the next line reaches them (they used to stay stopped, the terminal
     * with them).
     */
    @Test
    @Timeout(120)
    void shouldGoOnAfterCtrlZWithoutJobControl() throws Exception {
        String tty = runAtTerminal("cat \"tr a-z A-Z\"", (typed, out) -> {
            typeThroughTheStages(typed, out);
            type(typed, "\u001a");
            type(typed, "world\n");
            awaitShown("the stages read the line typed after Ctrl-Z", "WORLD", out);
            type(typed, "\u0004");
        });
        assertEndedAtTheShell(tty, 0, "the pipeline ended by itself");
    }

    /**
     * {@code panpipe pipeline --process-group STAGES} at a real pseudo-terminal made by util-linux {@code script},
     * whose child, {@code sh}, leads the pty's session and runs panpipe in its own, foreground, group, then prints
     * panpipe's status and, from its own {@code /proc/PID/stat}, its group (field 5) and the terminal's foreground
     * group (field 8). What {@code typing} writes to script's stdin is typed into the pty; what the pty showed
     * by the end is returned. Waits for the end, bounded: with a stage stopped (state T) it never comes.
     */
    private String runAtTerminal(String stages, Typing typing) throws Exception {
        return runInPty("'" + launcher + "' pipeline --process-group " + stages + "; " + STATUS_AND_FOREGROUND, typing);
    }

    /** Prints the status of the command before, then sh's group and the terminal's foreground group. */
    private static final String STATUS_AND_FOREGROUND = "echo \"status $?\";"
            + " read pid comm state ppid group session tty foreground rest < /proc/self/stat;"
            + " echo \"group $group foreground $foreground\"";

    /** {@code command} run by sh at a pty, as {@link #runAtTerminal} says. */
    private String runInPty(String command, Typing typing) throws Exception {
        Path out = dir.resolve("tty.out");
        ProcessBuilder pb = new ProcessBuilder("script", "-q", "-c", command, "/dev/null").directory(dir.toFile())
                .redirectOutput(out.toFile())
                .redirectError(ProcessBuilder.Redirect.INHERIT);
        pb.environment().put("PANPIPE_NO_BUILD", "1");
        pb.environment().put("SHELL", "/bin/sh");        // what script runs the command with
        pb.environment().put("HISTFILE", dir.resolve("history").toString());   // an interactive bash's, not the user's
        pb.environment().put("PS1", "$ ");
        Process script = pb.start();
        try (OutputStream typed = script.getOutputStream()) {
            typing.type(typed, out);
            boolean ended = script.waitFor(60, TimeUnit.SECONDS);
            assertTrue(ended, "the pipeline did not end; its processes' states: " + states(script)
                    + "; terminal output: " + Files.readString(out));
        } finally {
            List<ProcessHandle> left = script.descendants().toList();
            left.forEach(ProcessHandle::destroyForcibly);
            script.destroyForcibly().waitFor();
        }
        return Files.readString(out);
    }

    /** Types a line for cat, the first stage, and waits until tr, the second, has shown it: they have the terminal. */
    private static void typeThroughTheStages(OutputStream typed, Path out) throws Exception {
        type(typed, "hello\n");
        awaitShown("the stages read the typed line", "HELLO", out);
    }

    /** Waits, bounded, until the terminal has shown {@code text}; says what it showed if it does not. */
    private static void awaitShown(String what, String text, Path out) throws Exception {
        try {
            CallingScript.awaitContaining(what, text, out);
        } catch (AssertionError e) {
            throw new AssertionError(what + "; the terminal showed: " + Files.readString(out), e);
        }
    }

    @FunctionalInterface
    private interface Typing {
        void type(OutputStream typed, Path out) throws Exception;
    }

    private static void type(OutputStream typed, String keys) throws IOException {
        typed.write(keys.getBytes(StandardCharsets.US_ASCII));
        typed.flush();
    }

    /** panpipe's status was {@code status}, and its shell's group has the terminal again. */
    private static void assertEndedAtTheShell(String tty, int status, String why) {
        assertTrue(tty.contains("status " + status), why + ": " + tty);
        assertForegroundIsShellsAgain(tty);
    }

    private static void assertForegroundIsShellsAgain(String tty) {
        Matcher after = Pattern.compile("group (\\d+) foreground (\\d+)").matcher(tty);
        assertTrue(after.find(), tty);
        assertEquals(after.group(1), after.group(2), "the terminal's foreground group is sh's, panpipe's, again: " + tty);
    }

    /** Each process under {@code p} as "pid comm state", to say which stage stopped. */
    private static String states(Process p) {
        return p.descendants().map(d -> d.pid() + " " + ProcFs.comm(d.pid()) + " " + ProcFs.state(d.pid()))
                .collect(Collectors.joining(", "));
    }

    private String run(String option, List<String> stages) throws Exception {
        List<String> args = new ArrayList<>();
        if (option != null) args.add(option);
        args.addAll(stages);
        Path out = dir.resolve("out");
        Process p = start(args, out);
        assertTrue(p.waitFor(50, TimeUnit.SECONDS), "panpipe pipeline " + args + " ended");
        assertEquals(0, p.exitValue(), "panpipe pipeline " + args);
        return Files.readString(out);
    }

    private Process start(List<String> args, Path out) throws IOException {
        List<String> command = new ArrayList<>(List.of(launcher.toString(), "pipeline"));
        command.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(out.toFile())
                .redirectError(ProcessBuilder.Redirect.INHERIT);
        pb.environment().put("PANPIPE_NO_BUILD", "1");
        return pb.start();
    }

    /** Each line's two numbers: a stage's pid and its process group. */
    private static List<String[]> pidsAndGroups(String out) {
        List<String[]> lines = out.lines().map(l -> l.split(" ")).toList();
        assertEquals(2, lines.size(), out);
        return lines;
    }

    /** Gone, a zombie, or no longer the sleep (its number reused). */
    private static boolean ended(long pid) {
        char state = ProcFs.state(pid);
        return state == 0 || state == 'Z' || !"sleep".equals(ProcFs.comm(pid));
    }
}
