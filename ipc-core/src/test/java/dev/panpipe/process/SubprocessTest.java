package dev.panpipe.process;

import dev.panpipe.io.Io;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.io.ReadEnd;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Starting, feeding, waiting for and ending real child processes. */
@ExtendWith(LeakCheck.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SubprocessTest {

    @Test
    void shouldCarry64MiBThroughCatUnchanged() throws Exception {
        final long total = 64L << 20;
        final int chunk = 256 << 10;
        try (Subprocess cat = Subprocess.builder("/bin/cat").stderr(Redirect.inherit()).start()) {
            CompletableFuture<byte[]> sent = CompletableFuture.supplyAsync(() -> {
                try (Arena arena = Arena.ofConfined()) {
                    MessageDigest sha = MessageDigest.getInstance("SHA-256");
                    SplittableRandom random = new SplittableRandom(42);
                    MemorySegment buf = arena.allocate(chunk);
                    for (long done = 0; done < total; done += chunk) {
                        for (long i = 0; i < chunk; i += 8) buf.set(ValueLayout.JAVA_LONG_UNALIGNED, i, random.nextLong());
                        sha.update(buf.asByteBuffer());
                        assertEquals(chunk, cat.stdin().write(buf));
                    }
                    cat.stdin().close();
                    return sha.digest();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, r -> Thread.ofPlatform().name("cat-writer").start(r));

            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            long received = 0;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment buf = arena.allocate(chunk);
                for (long n; (n = cat.stdout().read(buf)) != ReadEnd.EOF; ) {
                    sha.update(buf.asSlice(0, n).asByteBuffer());
                    received += n;
                }
            }
            assertEquals(total, received);
            assertArrayEquals(sent.get(30, TimeUnit.SECONDS), sha.digest(), "what came out of cat differs from what went in");
            assertEquals(ExitStatus.exited(0), cat.waitFor());
        }
    }

    @Test
    void shouldReportTheExitCodeOfAProcessThatExits() throws Exception {
        try (Subprocess p = Subprocess.builder("sh", "-c", "exit 3").start()) {
            ExitStatus s = p.waitFor();
            assertTrue(s.exited());
            assertFalse(s.signaled());
            assertEquals(3, s.code());
            assertEquals(0, s.signal());
            assertEquals(3, s.shellCode());
            assertFalse(s.success());
            assertEquals("exit code 3", s.toString());
        }
    }

    @Test
    void shouldReportTheSignalThatKilledAProcessApartFromAnExitCode() throws Exception {
        try (Subprocess p = Subprocess.builder("sh", "-c", "kill -TERM $$").start()) {
            ExitStatus s = p.waitFor();
            assertTrue(s.signaled());
            assertFalse(s.exited());
            assertEquals(Signals.SIGTERM, s.signal());
            assertEquals(-1, s.code());
            assertEquals(128 + Signals.SIGTERM, s.shellCode());
            assertEquals("killed by SIGTERM", s.toString());
        }
    }

    @Test
    void shouldNameTheProgramAndThePathSearchedWhenTheProgramIsMissing() {
        ProgramNotFoundException e = assertThrows(ProgramNotFoundException.class,
                () -> Subprocess.builder("panpipe-no-such-program", "x").start());
        assertEquals("panpipe-no-such-program", e.program());
        assertTrue(e.getMessage().contains("panpipe-no-such-program"), e.getMessage());
        assertTrue(e.getMessage().contains("PATH=" + System.getenv("PATH")), e.getMessage());
    }

    @Test
    void shouldUseTheChildsPathWhenTheEnvironmentSetsOne(@TempDir Path dir) throws Exception {
        ProgramNotFoundException e = assertThrows(ProgramNotFoundException.class,
                () -> Subprocess.builder("true").environment("PATH", dir.toString()).start());
        assertTrue(e.getMessage().contains("PATH=" + dir), e.getMessage());
    }

    @Test
    void shouldRefuseAFileThatIsNotExecutableNamingItsPath(@TempDir Path dir) throws Exception {
        Path script = dir.resolve("script");
        Files.writeString(script, "#!/bin/sh\necho should not run\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rw-r--r--"));

        ProgramNotFoundException byPath = assertThrows(ProgramNotFoundException.class,
                () -> Subprocess.builder(script.toString()).start());
        assertTrue(byPath.getMessage().contains(script.toString()) && byPath.getMessage().contains("not executable"), byPath.getMessage());

        ProgramNotFoundException bySearch = assertThrows(ProgramNotFoundException.class,
                () -> Subprocess.builder("script").environment("PATH", dir.toString()).start());
        assertTrue(bySearch.getMessage().contains(script.toString()) && bySearch.getMessage().contains("not executable"), bySearch.getMessage());

        ProgramNotFoundException directory = assertThrows(ProgramNotFoundException.class,
                () -> Subprocess.builder(dir.toString()).start());
        assertTrue(directory.getMessage().contains(dir.toString()), directory.getMessage());
    }

    @Test
    void shouldWaitWithATimeoutAndThenSeeTheExit() throws Exception {
        try (Subprocess cat = Subprocess.builder("cat").stdout(Redirect.discard()).start()) {
            assertEquals(Optional.empty(), cat.waitFor(Duration.ofMillis(100)), "cat waits for its stdin to end");
            assertTrue(cat.isAlive());
            assertEquals(Optional.empty(), cat.exitStatus());
            cat.stdin().close();
            assertEquals(Optional.of(ExitStatus.exited(0)), cat.waitFor(Duration.ofSeconds(30)));
            assertFalse(cat.isAlive());
            assertEquals(Optional.of(ExitStatus.exited(0)), cat.exitStatus(), "the status stays known after reaping");
            assertEquals(ExitStatus.exited(0), cat.waitFor());
        }
    }

    @Test
    void shouldWaitWithATimeoutTooLongToCountInMilliseconds() throws Exception {
        // Duration.ofSeconds(Long.MAX_VALUE) has no millisecond count: it used to be "ArithmeticException: long overflow"
        Duration forever = Duration.ofSeconds(Long.MAX_VALUE);
        try (Subprocess cat = Subprocess.builder("cat").stdout(Redirect.discard()).start()) {
            java.util.concurrent.Future<Optional<ExitStatus>> waiting =
                    dev.panpipe.io.Blocking.startAndAwaitBlocked("poll", () -> cat.waitFor(forever));
            assertFalse(waiting.isDone(), "a huge timeout waits as long as no limit does");
            cat.stdin().close();
            assertEquals(Optional.of(ExitStatus.exited(0)), waiting.get(30, TimeUnit.SECONDS));
        }
        try (Subprocess sleep = Subprocess.builder("sleep", "30").start()) {
            assertEquals(ExitStatus.killed(Signals.SIGTERM, false), sleep.destroy(forever), "a huge grace period too");
        }
    }

    @Test
    void shouldWaitAtLeastAMillisecondForASubMillisecondTimeout() throws Exception {
        try (Subprocess cat = Subprocess.builder("cat").stdout(Redirect.discard()).start()) {
            long t0 = System.nanoTime();
            assertEquals(Optional.empty(), cat.waitFor(Duration.ofNanos(1)));
            long waited = System.nanoTime() - t0;
            assertTrue(waited >= 1_000_000, "waitFor(1 ns) waited " + waited + " ns: rounded down to a mere look");
        }
    }

    @Test
    void shouldRefuseANegativeTimeoutOrGracePeriodNamingIt() throws Exception {
        try (Subprocess cat = Subprocess.builder("cat").stdout(Redirect.discard()).start()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cat.waitFor(Duration.ofSeconds(-1)));
            assertEquals("negative timeout: PT-1S", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> cat.destroy(Duration.ofMillis(-1)));
            assertTrue(e.getMessage().contains("PT-0.001S"), e.getMessage());
            assertTrue(cat.isAlive(), "a refused destroy signals nothing");
        }
    }

    @Test
    void shouldEndAProcessThatIgnoresSigtermWithSigkill() throws Exception {
        try (Subprocess p = Subprocess.builder("sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done")
                .stderr(Redirect.inherit()).start()) {
            byte[] ready = new byte[6];
            assertEquals(6, readExactly(p.stdout(), ready));
            assertEquals("ready\n", new String(ready, StandardCharsets.US_ASCII), "the trap is set before SIGTERM is sent");
            ExitStatus s = p.destroy(Duration.ofMillis(300));
            assertEquals(ExitStatus.killed(Signals.SIGKILL, false), s);
        }
    }

    @Test
    void shouldEndAProcessThatHeedsSigtermWithSigterm() throws Exception {
        try (Subprocess p = Subprocess.builder("sleep", "30").start()) {
            assertEquals(ExitStatus.killed(Signals.SIGTERM, false), p.destroy(Duration.ofSeconds(20)));
            assertEquals(ExitStatus.killed(Signals.SIGTERM, false), p.destroy(Duration.ofSeconds(20)), "destroy again reports the same");
        }
    }

    @Test
    void shouldDeliverASignalToTheChild() throws Exception {
        try (Subprocess p = Subprocess.builder("sleep", "30").start()) {
            p.signal(Signals.SIGUSR1);
            assertEquals(ExitStatus.killed(Signals.SIGUSR1, false), p.waitFor());
            p.signal(Signals.SIGKILL);   // a no-op once reaped, never a signal to a recycled pid
        }
    }

    /**
     * signal, isAlive and waitFor from one thread while another closes the process: close shuts the pidfd,
     * and a call that found it open a moment before, or was polling it, must fall back to the reaper, not fail
     * on the closed handle (AsynchronousCloseException from the poll, or IllegalStateException from the
     * acquire, escaped here once: within a few rounds on this machine). The window is narrow, hence the rounds.
     */
    @Test
    void shouldAnswerSignalsAndWaitsFromAnotherThreadWhileClosing() throws Exception {
        for (int round = 0; round < 200; round++) {
            Subprocess p = Subprocess.builder("sleep", "30").destroyGrace(Duration.ZERO).start();
            AtomicBoolean closed = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread hammer = Thread.ofPlatform().start(() -> {
                try {
                    while (!closed.get()) {
                        p.signal(0);
                        p.isAlive();
                        p.waitFor(Duration.ZERO);
                    }
                    p.signal(Signals.SIGKILL);   // reaped by now: a no-op
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            p.close();
            closed.set(true);
            hammer.join();
            if (failure.get() != null) throw new AssertionError("round " + round + ": a call racing close failed", failure.get());
            assertEquals(Optional.of(ExitStatus.killed(Signals.SIGTERM, false)), p.exitStatus());
        }
    }

    @Test
    void shouldKillAndReapARunningChildOnClose() throws Exception {
        // sleep ignores its closed stdin: after the grace period SIGTERM ends it (no SIGKILL needed).
        Subprocess p = Subprocess.builder("sleep", "30").destroyGrace(Duration.ofSeconds(1)).start();
        long pid = p.pid();
        assertTrue(LeakCheck.children().containsKey(pid));
        p.close();
        assertFalse(LeakCheck.children().containsKey(pid), "still a child (zombie?) after close: " + LeakCheck.children());
        assertEquals(Optional.of(ExitStatus.killed(Signals.SIGTERM, false)), p.exitStatus());
        assertFalse(p.stdout().isOpen());
        assertFalse(p.stdin().isOpen());
        p.close();   // idempotent
    }

    /** A second close, on another thread, returns once the child is reaped: it returned at once, mid grace period. */
    @Test
    void shouldReturnFromASecondCloseOnlyOnceTheChildIsReaped() throws Exception {
        Subprocess p = Subprocess.builder("sleep", "30").destroyGrace(Duration.ofSeconds(1)).start();
        Thread first = Thread.ofPlatform().start(() -> {
            try {
                p.close();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        Thread.sleep(200);                 // the first close is in the grace period: sleep ignores its closed stdin
        p.close();
        assertEquals(Optional.of(ExitStatus.killed(Signals.SIGTERM, false)), p.exitStatus(), "reaped when the second close returned");
        assertFalse(p.stdout().isOpen());
        first.join();
    }

    /** A null in the environment is named when it is given, or at the start for one put into the map directly. */
    @Test
    void shouldNameAnEnvironmentVariableWithoutAValue() throws Exception {
        NullPointerException given = assertThrows(NullPointerException.class, () -> Subprocess.builder("true").environment("PANPIPE_X", null));
        assertTrue(given.getMessage().contains("PANPIPE_X"), given.getMessage());
        SubprocessBuilder b = Subprocess.builder("true");
        b.environment().put("PANPIPE_Y", null);
        IllegalArgumentException atStart = assertThrows(IllegalArgumentException.class, b::start);
        assertTrue(atStart.getMessage().contains("PANPIPE_Y"), atStart.getMessage());
    }

    @Test
    void shouldInheritTheParentsEnvironmentByDefault() throws Exception {
        Set<String> expected = new HashSet<>();
        System.getenv().forEach((k, v) -> expected.add(k + "=" + v));
        assertEquals(expected, envOf(Subprocess.builder("env", "-0")));
    }

    @Test
    void shouldAddToTheInheritedEnvironment() throws Exception {
        try (Subprocess p = Subprocess.builder("sh", "-c", "echo \"$PANPIPE_FOO|$HOME\"").environment("PANPIPE_FOO", "bar baz").start()) {
            assertEquals("bar baz|" + System.getenv("HOME") + "\n", Io.readAllUtf8(p.stdout()));
            assertEquals(ExitStatus.exited(0), p.waitFor());
        }
        SubprocessBuilder b = Subprocess.builder("env", "-0");
        b.environment().remove("HOME");
        assertFalse(envOf(b).stream().anyMatch(e -> e.startsWith("HOME=")), "a removed variable does not reach the child");
    }

    @Test
    void shouldReplaceTheEnvironmentEntirely() throws Exception {
        assertEquals(Set.of("ONLY=1", "EMPTY="), envOf(Subprocess.builder("env", "-0").environment(Map.of("ONLY", "1", "EMPTY", ""))));
        SubprocessBuilder cleared = Subprocess.builder("env", "-0");
        cleared.environment().clear();
        assertEquals(Set.of(), envOf(cleared));
    }

    @Test
    void shouldStartInTheGivenWorkingDirectory(@TempDir Path dir) throws Exception {
        try (Subprocess p = Subprocess.builder("pwd").directory(dir).start()) {
            assertEquals(dir.toRealPath() + "\n", Io.readAllUtf8(p.stdout()));
            assertEquals(ExitStatus.exited(0), p.waitFor());
        }
        assertThrows(SpawnException.class, () -> Subprocess.builder("pwd").directory(dir.resolve("missing")).start());
    }

    @Test
    void shouldLetAChildFinishItsInputOnCloseBeforeAnySignal() throws Exception {
        Subprocess p = Subprocess.builder("sh", "-c", "cat > /dev/null; sleep 0.2; exit 7")
                .destroyGrace(Duration.ofSeconds(10)).start();
        p.stdin().write("last words".getBytes(StandardCharsets.UTF_8), 0, 10);
        p.close();
        assertEquals(Optional.of(ExitStatus.exited(7)), p.exitStatus());
    }

    @Test
    void shouldResolveARelativeProgramPathAgainstTheChildsDirectory(@TempDir Path dir) throws Exception {
        Path script = dir.resolve("hello.sh");
        Files.writeString(script, "#!/bin/sh\necho from $(pwd)\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        try (Subprocess p = Subprocess.builder("./hello.sh").directory(dir).start()) {
            assertEquals("from " + dir.toRealPath() + "\n", Io.readAllUtf8(p.stdout()));
            assertEquals(ExitStatus.exited(0), p.waitFor());
        }
    }

    /** A relative PATH entry (PATH=bin, or an empty one for ".") is relative to the child's directory, as execvp and a shell's cd-then-run see it. */
    @Test
    void shouldLookUpARelativePathEntryInTheChildsDirectory(@TempDir Path dir) throws Exception {
        Path script = Files.createDirectory(dir.resolve("bin")).resolve("panpipe-relative-path-probe");
        Files.writeString(script, "#!/bin/sh\necho found\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        try (Subprocess p = Subprocess.builder("panpipe-relative-path-probe").directory(dir).environment("PATH", "bin").start()) {
            assertEquals("found\n", Io.readAllUtf8(p.stdout()));
            assertEquals(ExitStatus.exited(0), p.waitFor());
        }
    }

    /** Attaches to the pid in argv[1] as its tracer (PTRACE_SEIZE), says so, and lets go only when it exits, 3 s later. */
    private static final String TRACER = String.join("\n",
            "import ctypes, sys, time",
            "libc = ctypes.CDLL(None, use_errno=True)",
            "if libc.ptrace(0x4206, int(sys.argv[1]), None, None) != 0: sys.exit('PTRACE_SEIZE: errno %d' % ctypes.get_errno())",
            "print('attached', flush=True)",
            "time.sleep(3)");

    /**
     * A traced child (strace -f, a debugger) ends: its pidfd is readable at once, but the zombie is its tracer's to
     * see first, and waitid shows it to this process only once the tracer lets go. waitFor() must wait for that,
     * not return null (nor waitFor(timeout) empty while time is left, the same path).
     */
    @Test
    void shouldWaitForAChildWhoseTracerSeesItsEndFirst() throws Exception {
        try (Subprocess child = Subprocess.builder("sleep", "2").stdin(Redirect.discard()).stdout(Redirect.discard()).start()) {
            Subprocess tracer;
            try {
                tracer = Subprocess.builder("python3", "-c", TRACER, Long.toString(child.pid())).stdin(Redirect.discard()).start();
            } catch (ProgramNotFoundException e) {
                org.junit.jupiter.api.Assumptions.abort("no python3 to trace with: " + e.getMessage());
                return;
            }
            try (tracer) {
                byte[] said = new byte[9];
                int n = 0;
                for (int r; n < said.length && (r = tracer.stdout().read(said, n, said.length - n)) > 0; ) n += r;
                org.junit.jupiter.api.Assumptions.assumeTrue(n == said.length,
                        () -> "the tracer could not attach: " + readAllQuietly(tracer.stderr()));
                assertEquals(ExitStatus.exited(0), child.waitFor(), "a wait without limit");
                assertEquals(ExitStatus.exited(0), tracer.waitFor());
            }
        }
    }

    private static String readAllQuietly(ReadEnd end) {
        try {
            return Io.readAllUtf8(end);
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    @Test
    void shouldGiveTheChildsStdinAndStdoutPipesTheRequestedCapacity() throws Exception {
        int getSize = dev.panpipe.bindings.linux.linux_h.F_GETPIPE_SZ();
        try (Subprocess p = Subprocess.builder("cat").start()) {
            // Tests run as root here, so F_SETPIPE_SZ is not capped by the user's pipe budget.
            assertEquals(SubprocessBuilder.DEFAULT_PIPE_CAPACITY, dev.panpipe.bindings.Syscalls.fcntl((int) p.stdin().nativeHandle(), getSize, 0));
            assertEquals(SubprocessBuilder.DEFAULT_PIPE_CAPACITY, dev.panpipe.bindings.Syscalls.fcntl((int) p.stdout().nativeHandle(), getSize, 0));
            assertEquals(64 * 1024, dev.panpipe.bindings.Syscalls.fcntl((int) p.stderr().nativeHandle(), getSize, 0));
        }
        try (Subprocess p = Subprocess.builder("cat").pipeCapacity(0).start()) {
            assertEquals(64 * 1024, dev.panpipe.bindings.Syscalls.fcntl((int) p.stdin().nativeHandle(), getSize, 0));
        }
    }

    private static Set<String> envOf(SubprocessBuilder b) throws Exception {
        try (Subprocess p = b.stderr(Redirect.inherit()).start()) {
            String out = Io.readAllUtf8(p.stdout());
            assertEquals(ExitStatus.exited(0), p.waitFor());
            Set<String> entries = new HashSet<>(Arrays.asList(out.split("\0")));
            entries.remove("");
            return entries;
        }
    }

    private static int readExactly(ReadEnd end, byte[] buf) throws Exception {
        int done = 0;
        while (done < buf.length) {
            int n = end.read(buf, done, buf.length - done);
            if (n == ReadEnd.EOF) break;
            done += n;
        }
        return done;
    }
}
