package dev.panpipe.cli;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs the real {@code scripts/panpipe} (after Maven's package phase, with PANPIPE_NO_BUILD=1 so Maven
 * never runs inside Maven) and compares {@code pipeline} with bash running the same pipeline.
 */
@Tag("end-to-end")   // runs after package (see cli/pom.xml), also when picked with -Dtest
class PanpipeEndToEndTest {
    static Path root;
    static Path launcher;
    static Path names;

    @TempDir
    Path dir;

    record Run(int exit, String out, String err) {
    }

    @BeforeAll
    static void locate() throws IOException {
        root = Path.of(System.getProperty("panpipe.root", "..")).toRealPath();
        launcher = root.resolve("scripts/panpipe");
        names = root.resolve("samples/data/names.txt");
        assertTrue(Files.isExecutable(launcher), launcher + " is executable");
    }

    @Test
    @Timeout(60)
    void shouldListTheSubcommandsInHelp() throws Exception {
        Run r = panpipe(dir, null, "--help");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().startsWith("Usage: panpipe "), r.out());
        assertTrue(r.out().contains("Commands:\n"), r.out());
        assertTrue(r.out().contains("\n  convert "), r.out());
        assertTrue(r.out().contains("\n  pipeline "), r.out());
        assertTrue(r.out().contains("\n  mux "), r.out());
        assertTrue(r.out().contains("\n  fds "), r.out());
        assertEquals("", r.err());
    }

    @Test
    @Timeout(60)
    void shouldPrintTheMavenProjectVersion() throws Exception {
        Run r = panpipe(dir, null, "--version");
        assertEquals(0, r.exit(), r.err());
        assertEquals("panpipe " + System.getProperty("panpipe.version"), r.out().lines().findFirst().orElseThrow());
        assertFalse(r.out().contains("unknown"), r.out());
    }

    @Test
    @Timeout(60)
    void shouldDocumentTheExitStatusOfPipeline() throws Exception {
        Run r = panpipe(dir, null, "pipeline", "--help");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("Exit status"), r.out());
        assertTrue(r.out().contains("127"), r.out());
    }

    @Test
    @Timeout(60)
    void shouldShowUsageAndFailWithoutACommand() throws Exception {
        Run r = panpipe(dir, null);
        assertEquals(2, r.exit());
        assertTrue(r.err().startsWith("Usage: panpipe "), r.err());
    }

    @Test
    @Timeout(60)
    void shouldRunTheReadmeSampleFromTheRepositoryRoot() throws Exception {
        Run r = panpipe(root, null, "pipeline", "cat samples/data/names.txt", "grep Yost", "wc -l");
        Run bash = bash(root, null, "cat samples/data/names.txt | grep Yost | wc -l");
        assertEquals(0, r.exit(), r.err());
        assertEquals(bash.out(), r.out());
        assertTrue(Integer.parseInt(r.out().strip()) > 0, r.out());
    }

    @Test
    @Timeout(120)
    void shouldMatchBashForOutputAndExitStatus() throws Exception {
        Path in = dir.resolve("stdin.txt");
        Files.copy(names, in);
        List<List<String>> cases = List.of(
                List.of("grep Yost"),
                // No head after a stage writing more than a pipe buffer: whether that stage then gets
                // SIGPIPE is a race under bash too, so with pipefail bash's own status would vary.
                List.of("sort", "uniq -c", "sort -rn", "tail -n 3"),
                List.of("cut -d' ' -f2", "sort -u", "wc -l"),
                List.of("grep -v \"Ada \"", "tr a-z A-Z", "tail -n 2"),
                List.of("false"),
                List.of("cat", "false", "wc -l"),
                List.of("grep nomatch"),
                List.of("grep nomatch", "wc -l"),
                List.of("seq 1 1000000", "head -n 1"),
                List.of("seq 1 1000000", "rev", "head -n 2", "cat"),
                List.of("cat", "sh -c 'cat; exit 42'"),
                List.of("sh -c 'kill -TERM $$'"),
                List.of("cat", "sh -c 'cat >/dev/null; kill -KILL $$'", "wc -c"));
        for (List<String> stages : cases) {
            for (boolean pipefail : new boolean[]{false, true}) {
                List<String> args = new ArrayList<>(List.of("pipeline"));
                if (pipefail) args.add("--pipefail");
                args.addAll(stages);
                Run ours = panpipe(dir, in, args.toArray(String[]::new));
                Run bash = bash(dir, in, (pipefail ? "set -o pipefail; " : "") + String.join(" | ", stages));
                String why = (pipefail ? "pipefail " : "") + stages + "; stderr: " + ours.err();
                assertEquals(bash.out(), ours.out(), why);
                assertEquals(bash.exit(), ours.exit(), why);
            }
        }
    }

    @Test
    @Timeout(60)
    void shouldResolveInOutAndAppendAgainstTheCallersDirectory() throws Exception {
        Files.writeString(dir.resolve("in.txt"), "b\na\nc\n");
        Run r = panpipe(dir, null, "pipeline", "--in", "in.txt", "--out", "out.txt", "sort");
        assertEquals(0, r.exit(), r.err());
        assertEquals("", r.out());
        assertEquals("a\nb\nc\n", Files.readString(dir.resolve("out.txt")));
        r = panpipe(dir, null, "pipeline", "--in", "in.txt", "--out", "out.txt", "--append", "sort -r", "head -n 1");
        assertEquals(0, r.exit(), r.err());
        assertEquals("a\nb\nc\nc\n", Files.readString(dir.resolve("out.txt")));
        r = panpipe(dir, null, "pipeline", "--in", "in.txt", "--out", "out.txt", "wc -l");
        assertEquals("3\n", Files.readString(dir.resolve("out.txt")), "--out without --append truncates");
    }

    @Test
    @Timeout(60)
    void shouldHandTheStagesPanpipesOwnStdinAndStdout() throws Exception {
        // The first stage's fd 0 is the very file given as panpipe's stdin, and the last stage's fd 1 the
        // file panpipe's stdout goes to: no pipe to or from the JVM in between.
        Path in = dir.resolve("in.txt");
        Files.writeString(in, "x\n");
        Run r = panpipe(dir, in, "pipeline", "readlink /proc/self/fd/0");
        assertEquals(in.toRealPath() + "\n", r.out());
        r = panpipe(dir, in, "pipeline", "cat", "readlink /proc/self/fd/1");
        assertEquals(dir.toRealPath().resolve("stdout") + "\n", r.out());
    }

    @Test
    @Timeout(60)
    void shouldGiveTheStagesTheCallersEnvironment() throws Exception {
        // scripts/panpipe changes PATH and JAVA_HOME to find a JDK; the stages must not see that.
        Map<String, String> env = Map.of("PATH", "/usr/bin:/bin:" + dir, "JAVA_HOME", "/nonexistent/jdk");
        Run r = run(dir, null, List.of(launcher.toString(), "pipeline", "printenv PATH JAVA_HOME"), env);
        assertEquals(0, r.exit(), r.err());
        assertEquals("/usr/bin:/bin:" + dir + "\n/nonexistent/jdk\n", r.out());
    }

    @Test
    @Timeout(60)
    void shouldWaitForTheStagesWhenInterruptedAsAShellDoes() throws Exception {
        // Only panpipe gets the SIGINT here; the stage goes on, and panpipe must wait for it, not exit 130.
        Path out = dir.resolve("interrupted.out");
        Process p = new ProcessBuilder(launcher.toString(), "pipeline", "sh -c 'echo started; sleep 1; echo done'")
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(out.toFile())
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        CallingScript.awaitContaining("the stage started", "started", out);
        assertEquals(0, new ProcessBuilder("kill", "-INT", String.valueOf(p.pid())).start().waitFor());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue());
        assertEquals("started\ndone\n", Files.readString(out));
    }

    /**
     * Ctrl-C reaches a script and the panpipe it waits for. A shell goes on with the script when its child
     * exits normally (the child caught the SIGINT), and stops when the child died of it; bash running the
     * same pipeline dies of SIGINT for that reason. panpipe exited 130 instead, so a loop over panpipe could
     * not be stopped with Ctrl-C: the script went on to the next command.
     */
    @Test
    @Timeout(60)
    void shouldDieOfSigintWhenTheStagesDoSoThatACallingScriptStopsToo() throws Exception {
        CallingScript.assertStopsOnCtrlC(launcher, "pipeline \"sh -c 'echo started; exec sleep 30'\"", "started", dir);
    }

    @Test
    @Timeout(60)
    void shouldKeepTheJvmsOwnDiagnosticsOutOfTheStagesOutput() throws Exception {
        // The last stage writes to panpipe's own stdout, and so did the JVM: its thread dump on SIGQUIT (Ctrl-\)
        // and its unified-logging warnings went into the file or pipe meant for the data. Both go to stderr.
        Path out = dir.resolve("quit.out"), err = dir.resolve("quit.err"), go = dir.resolve("go");
        ProcessBuilder pb = new ProcessBuilder(launcher.toString(), "pipeline",
                "sh -c 'echo started; while ! [ -e go ]; do sleep 0.02; done; echo done'")
                .directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(out.toFile())
                .redirectError(err.toFile());
        pb.environment().put("PANPIPE_NO_BUILD", "1");
        // a warning (or error) the JVM logs at startup and carries on: no class-data archive at that path
        pb.environment().put("PANPIPE_JAVA_OPTS", "-XX:SharedArchiveFile=" + dir.resolve("no-such.jsa"));
        Process p = pb.start();
        try {
            CallingScript.awaitContaining("the stage started", "started", out);
            assertEquals(0, new ProcessBuilder("kill", "-QUIT", String.valueOf(p.pid())).start().waitFor());
            CallingScript.awaitContaining("the JVM printed its thread dump", "Full thread dump", out, err);
            Files.createFile(go);
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), Files.readString(err));
            assertEquals("started\ndone\n", Files.readString(out));
            assertTrue(Files.readString(err).contains("no-such.jsa"), Files.readString(err));
        } finally {
            p.destroyForcibly().waitFor();
        }
    }

    @Test
    @Timeout(60)
    void shouldExit127NamingTheStageThatCannotStartAndLeaveNoProcess() throws Exception {
        String marker = "31." + ProcessHandle.current().pid();
        Run r = panpipe(dir, null, "pipeline", "sleep " + marker, "no-such-program-panpipe -x", "wc -l");
        assertEquals(127, r.exit(), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("panpipe: pipeline stage 2 (no-such-program-panpipe -x): cannot start "
                + "no-such-program-panpipe: program not found"), r.err());
        assertEquals("", r.out());
        assertFalse(ProcessHandle.allProcesses().anyMatch(h -> h.info().arguments().map(a -> List.of(a).contains(marker)).orElse(false)),
                "the sleep of stage 1 is gone");
    }

    @Test
    @Timeout(60)
    void shouldExit126ForAProgramThatIsThereButCannotRunAsBashDoes() throws Exception {
        Path plain = Files.writeString(dir.resolve("plain.sh"), "echo hi\n");   // no x bit
        Path marker = dir.resolve("stage-1-ran");
        Run r = panpipe(dir, null, "pipeline", "touch " + marker, "./plain.sh");
        assertEquals(bash(dir, null, "./plain.sh").exit(), r.exit(), r.err());
        assertEquals(126, r.exit(), r.err());
        assertTrue(r.err().startsWith("panpipe: pipeline stage 2 (./plain.sh): cannot start ./plain.sh: " + plain.toRealPath()
                + " is not executable"), r.err());
        assertFalse(Files.exists(marker), "no stage started");
    }

    @Test
    @Timeout(60)
    void shouldExit2OnBadArguments() throws Exception {
        Run r = panpipe(dir, null, "pipeline", "cat", "grep 'Yost", "wc -l");
        assertEquals(2, r.exit());
        assertTrue(r.err().startsWith("panpipe pipeline: stage 2: unterminated single quote at column 6 of: grep 'Yost\n"), r.err());
        assertTrue(r.err().contains("Try 'panpipe pipeline --help'"), r.err());

        r = panpipe(dir, null, "pipeline");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("Missing required parameter"), r.err());

        r = panpipe(dir, null, "pipeline", "cat names.txt | wc -l");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("unquoted shell operator '|' at column 15"), r.err());

        r = panpipe(dir, null, "pipeline", "cat", "");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("stage 2 is empty"), r.err());

        r = panpipe(dir, null, "pipeline", "--append", "cat");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--append needs --out FILE"), r.err());

        r = panpipe(dir, null, "pipeline", "--no-such-option", "cat");
        assertEquals(2, r.exit());

        r = panpipe(dir, null, "frobnicate");
        assertEquals(2, r.exit());
    }

    @Test
    @Timeout(60)
    void shouldExit1WhenTheInputFileCannotBeOpened() throws Exception {
        Run r = panpipe(dir, null, "pipeline", "--in", "missing.txt", "cat");
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("missing.txt"), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
    }

    @Test
    @Timeout(60)
    void shouldWorkThroughASymlinkFromAnyDirectory() throws Exception {
        Path link = Files.createSymbolicLink(dir.resolve("pp"), launcher);
        Run r = run(dir, null, List.of(link.toString(), "pipeline", "--in", names.toString(), "grep -c Yost"));
        assertEquals(0, r.exit(), r.err());
        assertEquals(bash(dir, names, "grep -c Yost").out(), r.out());
    }

    @Test
    @Timeout(60)
    void shouldGiveAClosedStandardFdDevNullNotAFileTheJvmOpened() throws Exception {
        // The JVM opens its own files at the lowest free fd: with fd 0 closed, 'wc -c' counted the JDK's
        // lib/modules (over 100 MB) as its stdin; with fd 1 closed, that file was the stage's stdout.
        Run r = run(dir, null, List.of("/bin/bash", "-c", "exec \"$0\" pipeline 'wc -c' <&-", launcher.toString()));
        assertEquals(0, r.exit(), r.err());
        assertEquals("0\n", r.out());
        r = run(dir, null, List.of("/bin/bash", "-c", "exec \"$0\" pipeline \"sh -c 'exec 3>&1; readlink /proc/self/fd/3 >&2'\" >&-",
                launcher.toString()));
        assertEquals(0, r.exit(), r.err());
        assertEquals("/dev/null\n", r.err());
    }

    @Test
    @Timeout(60)
    void shouldFailNamingTheErrorWhenStdoutCannotBeWritten() throws Exception {
        // /dev/full: every write fails with ENOSPC, which PrintWriter swallowed: the listing was lost and the exit was 0.
        for (String args : List.of("fds $$", "--version", "pipeline --help")) {
            Run r = run(dir, null, List.of("/bin/bash", "-c", "exec \"$0\" " + args + " >/dev/full", launcher.toString()));
            assertEquals(1, r.exit(), args + ": " + r.err());
            assertTrue(r.err().startsWith("panpipe: cannot write to stdout: No space left on device"), args + ": " + r.err());
        }
    }

    @Test
    @Timeout(60)
    void shouldRefuseAnArgumentTheLocaleCannotDecodeRatherThanPassAnotherOn() throws Exception {
        // Under LC_ALL=C the JVM decodes argv as ASCII: 'é' arrived as two U+FFFD, and grep looked for those.
        Path in = Files.writeString(dir.resolve("accents.txt"), "café\n");
        Run r = run(dir, null, List.of(launcher.toString(), "pipeline", "--in", in.toString(), "grep -c é"), Map.of("LC_ALL", "C"));
        assertEquals(2, r.exit(), r.out() + r.err());
        assertTrue(r.err().startsWith("panpipe: argument 4 ('grep -c ??') has bytes that are not valid ANSI_X3.4-1968"), r.err());
        assertEquals("", r.out());
    }

    @Test
    @Timeout(60)
    void shouldExit130OnCtrlCWhileOpeningAFifoNobodyWrites() throws Exception {
        // bash's 'cat < fifo' blocks in open(2) too, until a writer comes; Ctrl-C ends it with 130. panpipe
        // ignored SIGINT already (meant for running stages), so nothing but SIGKILL ended it.
        Path fifo = dir.resolve("fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        ProcessBuilder p = new ProcessBuilder(launcher.toString(), "pipeline", "--in", fifo.toString(), "cat")
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(dir.resolve("out").toFile())
                .redirectError(dir.resolve("err").toFile());
        p.environment().put("PANPIPE_NO_BUILD", "1");
        Process running = p.start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!blockedOpeningAFifo(running.pid())) {
                assertTrue(running.isAlive() && System.nanoTime() < deadline, "panpipe blocks in open(2) of the FIFO");
                Thread.sleep(20);
            }
            assertEquals(0, new ProcessBuilder("kill", "-INT", String.valueOf(running.pid())).start().waitFor());
            assertTrue(running.waitFor(20, TimeUnit.SECONDS), "panpipe ended on SIGINT");
            assertEquals(130, running.exitValue());
        } finally {
            running.destroyForcibly().waitFor();
        }
    }

    /** True if a thread of {@code pid} sleeps in the kernel's wait for a FIFO's other end (fs/pipe.c). */
    private static boolean blockedOpeningAFifo(long pid) throws IOException {
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path task : tasks.toList()) {
                try {
                    if (Files.readString(task.resolve("wchan")).equals("wait_for_partner")) return true;
                } catch (IOException gone) {
                    // the thread ended meanwhile
                }
            }
        } catch (java.nio.file.NoSuchFileException gone) {
            return false;
        }
        return false;
    }

    private Run panpipe(Path cwd, Path stdin, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(launcher.toString()));
        command.addAll(List.of(args));
        return run(cwd, stdin, command);
    }

    private Run bash(Path cwd, Path stdin, String script) throws Exception {
        return run(cwd, stdin, List.of("/bin/bash", "-c", script));
    }

    private Run run(Path cwd, Path stdin, List<String> command) throws Exception {
        return run(cwd, stdin, command, Map.of());
    }

    private Run run(Path cwd, Path stdin, List<String> command, Map<String, String> env) throws Exception {
        Path out = dir.resolve("stdout"), err = dir.resolve("stderr");
        ProcessBuilder pb = new ProcessBuilder(command).directory(cwd.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(stdin == null ? new File("/dev/null") : stdin.toFile()))
                .redirectOutput(out.toFile())
                .redirectError(err.toFile());
        pb.environment().put("PANPIPE_NO_BUILD", "1");
        pb.environment().putAll(env);
        Process p = pb.start();
        if (!p.waitFor(50, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(command + " did not finish in 50 s");
        }
        Run r = new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
        Files.delete(out);
        Files.delete(err);
        return r;
    }
}
