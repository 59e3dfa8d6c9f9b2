package dev.panpipe.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.internal.linux.LinuxSockets;
import dev.panpipe.io.Fifo;
import dev.panpipe.io.Pipe;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import dev.panpipe.testing.ExitedMainThread;
import dev.panpipe.testing.Zombie;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.panpipe.testing.ProcFs.await;
import static dev.panpipe.testing.ProcFs.comm;
import static dev.panpipe.testing.ProcFs.state;
import static dev.panpipe.testing.ProcFs.threads;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Runs the real {@code scripts/panpipe fds} on a child whose fds this test made. */
@Tag("end-to-end")   // runs after package (see cli/pom.xml), also when picked with -Dtest
class FdsEndToEndTest {
    private static final long ME = ProcessHandle.current().pid();
    static Path launcher;

    @TempDir
    Path dir;

    record Run(int exit, String out, String err) {
    }

    @BeforeAll
    static void locate() throws IOException {
        launcher = Path.of(System.getProperty("panpipe.root", "..")).toRealPath().resolve("scripts/panpipe");
    }

    @AfterEach
    void noChildrenLeft() {
        assertEquals(List.of(), ProcessHandle.current().children().map(ProcessHandle::pid).toList(), "child processes left");
    }

    /**
     * The child: 0 a pipe whose write end this test holds, 1 and 2 /dev/null, 3 a FIFO's read end (the test
     * holds its write end), 4 an eventfd, 5 a memfd, 6 one end of a socketpair.
     */
    @Test
    @Timeout(60)
    void shouldListTheKindsAndTheOtherEndOfThePipeAsJsonAndText() throws Exception {
        int eventfd = Syscalls.eventfd(0, linux_h.EFD_CLOEXEC());
        int memfd;
        try (Arena arena = Arena.ofConfined()) {
            memfd = Syscalls.memfd_create(arena.allocateFrom("panpipe-fds"), linux_h.MFD_CLOEXEC());
        }
        int[] sockets = LinuxSockets.socketpair();
        try (Pipe pipe = Pipe.open();
             Fifo fifo = Fifo.create(dir, "named");
             Pipe fifoEnds = fifo.openBoth();
             // the child must outlive the three panpipe runs below (the test took 6.5 s on a busy 2-vCPU machine);
             // its close kills it (no destroy grace), so a long sleep costs nothing
             Subprocess child = Subprocess.builder("sleep", "600")
                     .stdin(Redirect.from(pipe.readEnd())).stdout(Redirect.discard()).stderr(Redirect.discard())
                     .passFd(3, Redirect.from(fifoEnds.readEnd()))
                     .passFd(4, Redirect.fd(eventfd)).passFd(5, Redirect.fd(memfd)).passFd(6, Redirect.fd(sockets[0]))
                     .destroyGrace(Duration.ZERO).start()) {
            pipe.readEnd().close();
            fifoEnds.readEnd().close();
            int writeFd = (int) pipe.writeEnd().nativeHandle();
            int fifoWriteFd = (int) fifoEnds.writeEnd().nativeHandle();

            Run r = panpipe("fds", "--json", Long.toString(child.pid()));
            assertEquals(0, r.exit(), r.err());
            JsonNode table = new ObjectMapper().readTree(r.out());
            assertEquals(child.pid(), table.get("pid").asLong());
            assertEquals("sleep", table.get("command").asText());
            JsonNode fds = table.get("fds");
            assertEquals(7, fds.size(), r.out());
            assertEquals(List.of("pipe", "char-device", "char-device", "fifo", "eventfd", "memfd", "socket"), kinds(fds));

            JsonNode stdin = fds.get(0);
            assertEquals("r", stdin.get("access").asText());
            assertEquals("pipe:[" + stdin.get("inode").asLong() + "]", stdin.get("target").asText());
            assertEquals(1, stdin.get("peers").size(), r.out());
            JsonNode writer = stdin.get("peers").get(0);
            assertEquals(ME, writer.get("pid").asLong());
            assertEquals(writeFd, writer.get("fd").asInt());
            assertEquals("w", writer.get("access").asText());
            assertTrue(writer.get("otherEnd").asBoolean());

            JsonNode named = fds.get(3);
            assertEquals(fifo.path().toString(), named.get("path").asText());
            assertEquals(1, named.get("peers").size(), r.out());
            assertEquals(fifoWriteFd, named.get("peers").get(0).get("fd").asInt());
            assertEquals("/dev/null", fds.get(1).get("path").asText());
            assertTrue(fds.get(4).get("details").toString().contains("eventfd-count"), r.out());
            assertEquals("/memfd:panpipe-fds (deleted)", fds.get(5).get("target").asText());
            assertTrue(fds.get(6).get("details").toString().contains("protocol: unix"), r.out());
            for (JsonNode u : table.get("unreadable")) assertTrue(u.get("unreadable").asBoolean(), u.toString());

            Run text = panpipe("fds", Long.toString(child.pid()));
            assertEquals(0, text.exit(), text.err());
            List<String> lines = text.out().lines().toList();
            assertEquals("pid " + child.pid() + " (sleep), 7 fds", lines.get(0));
            assertTrue(lines.get(1).matches(" ?FD {2}ACCESS {2}KIND +WHAT"), lines.get(1));
            assertTrue(lines.get(2).matches(" *0 +r +pipe +pipe:\\[\\d+] +written by " + ME + " \\S+ fd " + writeFd + " \\(w\\)"), lines.get(2));
            assertTrue(lines.get(5).contains("fifo") && lines.get(5).contains(fifo.path().toString())
                    && lines.get(5).contains("written by " + ME), lines.get(5));

            // Once the test closes its write end, nobody writes the child's stdin any more.
            pipe.writeEnd().close();
            Run closed = panpipe("fds", Long.toString(child.pid()));
            assertTrue(closed.out().lines().toList().get(2).endsWith("no other end (a read gets end of file)"), closed.out());
        } finally {
            Syscalls.close(eventfd);
            Syscalls.close(memfd);
            Syscalls.close(sockets[0]);
            Syscalls.close(sockets[1]);
        }
    }

    private static List<String> kinds(JsonNode fds) {
        List<String> kinds = new ArrayList<>();
        fds.forEach(fd -> kinds.add(fd.get("kind").asText()));
        return kinds;
    }

    @Test
    @Timeout(60)
    void shouldExplainMissingAndForbiddenProcessesAndBadArguments() throws Exception {
        long beyond = Long.parseLong(Files.readAllLines(Path.of("/proc/sys/kernel/pid_max")).getFirst().strip());
        Run missing = panpipe("fds", Long.toString(beyond));
        assertEquals(1, missing.exit());
        assertEquals("panpipe fds: no process " + beyond + "\n", missing.err());
        assertEquals("", missing.out());

        Run help = panpipe("fds", "--help");
        assertEquals(0, help.exit());
        assertTrue(help.out().contains("Exit status") && help.out().contains("77") && help.out().contains("--json"), help.out());

        for (List<String> bad : List.of(List.of("fds"), List.of("fds", "abc"), List.of("fds", "0"), List.of("fds", "1", "2"))) {
            Run r = panpipe(bad.toArray(String[]::new));
            assertEquals(2, r.exit(), bad + ": " + r.err());
            assertTrue(r.err().contains("Try 'panpipe fds --help'"), r.err());
        }

        assumeTrue(!canReadLinks(1), "pid 1's fds are readable here (elsewhere it is another user's or not dumpable)");
        Run forbidden = panpipe("fds", "1");
        assertEquals(77, forbidden.exit(), forbidden.err());
        assertTrue(forbidden.err().startsWith("panpipe fds: may not read the fds of process 1 "), forbidden.err());
    }

    /** A zombie has no fds (its /proc/PID/fd is empty), and was listed as "0 fds", like a live process with nothing open. */
    @Test
    @Timeout(60)
    void shouldSayAZombieIsOneAndWhichParentHasNotReapedIt() throws Exception {
        Zombie.with((z, p) -> {
            Run text = panpipe("fds", Long.toString(z));
            assertEquals(0, text.exit(), text.err());
            assertEquals(zombieLine(z, p), text.out());
            assertEquals("", text.err());

            Run json = panpipe("fds", "--json", Long.toString(z));
            assertEquals(0, json.exit(), json.err());
            JsonNode table = new ObjectMapper().readTree(json.out());
            assertEquals(z, table.get("pid").asLong(), json.out());
            assertEquals("cat", table.get("command").asText());
            assertEquals("zombie", table.get("state").asText());
            assertEquals(p, table.get("parent").asLong());
            assertEquals("sleep", table.get("parentCommand").asText());
            assertEquals(0, table.get("fds").size(), json.out());
            assertEquals(0, table.get("unreadable").size(), json.out());
        });
    }

    /**
     * Another user's zombie: its fd folder may not be read (EACCES), and panpipe said so with exit 77, but a
     * zombie has no fds to hide; nor is another user's thread id a process it may not read, but no process
     * at all. Run as root, panpipe itself runs as nobody (setpriv) to be that other user.
     */
    @Test
    @Timeout(60)
    void shouldSayAnotherUsersZombieOrThreadIsOneRatherThanThatItMayNotBeRead() throws Exception {
        assumeTrue(((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).intValue() == 0, "needs root, to be another user");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")), "needs setpriv (util-linux)");
        List<String> asNobody = List.of("/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups");
        // The checkout must be reachable by nobody: a clone under a private folder (mktemp -d, /root) is not.
        Run help = run(asNobody, "fds", "--help");
        assumeTrue(help.exit() == 0, "nobody cannot run " + launcher + " from this checkout: " + help.err().strip());
        Zombie.with((z, p) -> {
            Run zombie = run(asNobody, "fds", Long.toString(z));
            assertEquals(0, zombie.exit(), zombie.err());
            assertEquals(zombieLine(z, p), zombie.out());
            Run live = run(asNobody, "fds", Long.toString(p));      // a live process of root's is still refused
            assertEquals(77, live.exit(), live.err());
            assertTrue(live.err().startsWith("panpipe fds: may not read the fds of process " + p + " (sleep)"), live.err());
        });
        // A thread of root's (one of this JVM's) is no process, whoever asks: not "may not be read" (77).
        long self = ProcessHandle.current().pid();
        long thread;
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            thread = tasks.mapToLong(t -> Long.parseLong(t.getFileName().toString())).filter(t -> t != self).findFirst().orElseThrow();
        }
        Run tid = run(asNobody, "fds", Long.toString(thread));
        assertEquals(1, tid.exit(), tid.err());
        assertEquals("panpipe fds: no process " + thread + " (it is a thread of process " + self + ")\n", tid.err());
    }

    private static String zombieLine(long zombie, long parent) {
        return "pid " + zombie + " (cat): zombie (exited, not yet reaped by its parent " + parent + " (sleep)): no open files\n";
    }

    /**
     * A process whose main thread has exited while others run: the leader is a zombie and /proc/PID/fd is
     * empty, but the fds are still open, shared by the threads left (seen in /proc/PID/task/TID/fd). Before,
     * it was listed with 0 fds, and as a holder of a pipe it was missed. python3 (ctypes) makes one: its main
     * thread calls pthread_exit while another sleeps. Skipped where there is no python3 with ctypes.
     */
    @Test
    @Timeout(60)
    void shouldListTheFdsOfAProcessWhoseMainThreadHasExitedThroughAThreadStillRunning() throws Exception {
        String python = pythonWithCtypes();
        assumeTrue(python != null, "no python3 with ctypes here");
        // The sleeping thread must outlive the panpipe runs below; ExitedMainThread kills the process after them.
        String script = """
                import ctypes, threading, time
                threading.Thread(target=time.sleep, args=(600,)).start()
                ctypes.CDLL(None).pthread_exit(None)
                """;
        ExitedMainThread.with(List.of(python, "-c", script), process -> {
            long p = process.pid(), tid = process.thread();
            String command = comm(p);
            int writeFd = process.writeFd();

            Run text = panpipe("fds", Long.toString(p));
            assertEquals(0, text.exit(), text.err());
            List<String> lines = text.out().lines().toList();
            assertTrue(lines.get(0).matches("pid " + p + " \\(" + command + "\\), \\d+ fds"), text.out());
            assertTrue(lines.contains("note: its main thread has exited; these are the fds of thread " + tid
                    + ", which the threads still running share"), text.out());
            assertTrue(lines.stream().anyMatch(l -> l.matches(" *3 +r +pipe +pipe:\\[\\d+] +written by " + ME + " \\S+ fd " + writeFd + " \\(w\\)")),
                    text.out());
            assertTrue(lines.stream().anyMatch(l -> l.matches(" *4 +w +pipe +pipe:\\[\\d+] +read by " + process.reader() + " sleep fd 0 \\(r\\)")),
                    text.out());

            Run json = panpipe("fds", "--json", Long.toString(p));
            assertEquals(0, json.exit(), json.err());
            JsonNode table = new ObjectMapper().readTree(json.out());
            assertEquals("sleeping", table.get("state").asText(), json.out());
            assertEquals(tid, table.get("thread").asLong(), json.out());
            assertTrue(kinds(table.get("fds")).size() >= 5, json.out());

            // As the holder of the other end, found through the same thread.
            Run ofReader = panpipe("fds", Long.toString(process.reader()));
            assertEquals(0, ofReader.exit(), ofReader.err());
            assertTrue(ofReader.out().lines().toList().get(2).matches(
                    " *0 +r +pipe +pipe:\\[\\d+] +written by " + p + " " + command + " fd 4 \\(w\\)"), ofReader.out());
        });
    }

    /** The python3 on PATH, as its real path (not a version manager's shim), if it has ctypes; else null. */
    private static String pythonWithCtypes() throws Exception {
        Process probe;
        try {
            probe = new ProcessBuilder("python3", "-c", "import ctypes, threading, sys; print(sys.executable)")
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException notFound) {
            return null;
        }
        String out = new String(probe.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (!probe.waitFor(30, TimeUnit.SECONDS)) {
            probe.destroyForcibly().waitFor();
            return null;
        }
        return probe.exitValue() == 0 && !out.isEmpty() ? out : null;
    }

    private static boolean canReadLinks(long pid) {
        try (var s = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path p : (Iterable<Path>) s::iterator) Files.readSymbolicLink(p);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private Run panpipe(String... args) throws Exception {
        return run(List.of(), args);
    }

    /** Runs the launcher, after {@code prefix} (a command that runs it, e.g. as another user). */
    private Run run(List<String> prefix, String... args) throws Exception {
        List<String> command = new ArrayList<>(prefix);
        command.add(launcher.toString());
        command.addAll(List.of(args));
        Path out = dir.resolve("stdout"), err = dir.resolve("stderr");
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(out.toFile()).redirectError(err.toFile());
        pb.environment().put("PANPIPE_NO_BUILD", "1");
        Process p = pb.start();
        if (!p.waitFor(50, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            throw new AssertionError(command + " did not finish in 50 s");
        }
        return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    }
}
