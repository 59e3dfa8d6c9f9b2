package dev.panpipe.process;

import dev.panpipe.io.Io;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.io.Pipe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Where a child's fds 0, 1, 2 (and more) come from and go to, observed from the child's side. */
@ExtendWith(LeakCheck.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RedirectTest {
    @TempDir
    Path dir;

    @Test
    void shouldReadStdinFromAFile() throws Exception {
        Path in = dir.resolve("in.txt");
        Files.writeString(in, "line one\nline two\n");
        try (Subprocess cat = Subprocess.builder("cat").stdin(Redirect.from(in)).start()) {
            assertEquals("line one\nline two\n", Io.readAllUtf8(cat.stdout()));
            assertEquals(ExitStatus.exited(0), cat.waitFor());
        }
    }

    @Test
    void shouldNameTheFileWhenARedirectFileIsMissing() {
        Path missing = dir.resolve("missing.txt");
        Exception e = assertThrows(Exception.class, () -> Subprocess.builder("cat").stdin(Redirect.from(missing)).start());
        assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("ENOENT"), e.getMessage());
    }

    @Test
    void shouldWriteStdoutToAFileTruncatingWhatWasThere() throws Exception {
        Path out = dir.resolve("out.txt");
        Files.writeString(out, "old content that is longer than the new\n");
        run(Subprocess.builder("echo", "new").stdout(Redirect.to(out)));
        assertEquals("new\n", Files.readString(out));
    }

    @Test
    void shouldAppendStdoutToAFile() throws Exception {
        Path out = dir.resolve("log.txt");
        run(Subprocess.builder("echo", "first").stdout(Redirect.appendTo(out)));
        run(Subprocess.builder("echo", "second").stdout(Redirect.appendTo(out)));
        assertEquals("first\nsecond\n", Files.readString(out));
    }

    @Test
    void shouldDiscardIntoDevNull() throws Exception {
        try (Subprocess p = Subprocess.builder("sh", "-c", "echo out; echo err >&2")
                .stdin(Redirect.discard()).stdout(Redirect.discard()).start()) {
            assertEquals("err\n", Io.readAllUtf8(p.stderr()), "stdout went nowhere");
            assertEquals(ExitStatus.exited(0), p.waitFor());
            assertThrows(IllegalStateException.class, p::stdout, "no stdout pipe to read from");
        }
        // what the child's fds 0 and 1 are, seen from outside while it runs (posix_spawn returns after exec)
        try (Subprocess sleep = Subprocess.builder("sleep", "30").stdin(Redirect.discard()).stdout(Redirect.discard()).start()) {
            assertEquals(Path.of("/dev/null"), Files.readSymbolicLink(Path.of("/proc/" + sleep.pid() + "/fd/0")));
            assertEquals(Path.of("/dev/null"), Files.readSymbolicLink(Path.of("/proc/" + sleep.pid() + "/fd/1")));
        }
    }

    @Test
    void shouldMergeStderrIntoStdoutInOrder() throws Exception {
        try (Subprocess p = Subprocess.builder("sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2; echo out3")
                .mergeStderr().start()) {
            assertEquals("out1\nerr1\nout2\nerr2\nout3\n", Io.readAllUtf8(p.stdout()));
            assertEquals(ExitStatus.exited(0), p.waitFor());
            assertThrows(IllegalStateException.class, p::stderr);
        }
    }

    @Test
    void shouldMergeStderrIntoAStdoutFile() throws Exception {
        Path out = dir.resolve("both.txt");
        run(Subprocess.builder("sh", "-c", "echo a; echo b >&2; echo c").stdout(Redirect.to(out)).mergeStderr());
        assertEquals("a\nb\nc\n", Files.readString(out));
    }

    @Test
    void shouldHandTheChildARawFd() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            run(Subprocess.builder("echo", "via a raw fd").stdout(Redirect.fd((int) pipe.writeEnd().nativeHandle())));
            assertTrue(pipe.writeEnd().isOpen(), "the parent keeps its fd");
            pipe.writeEnd().close();
            assertEquals("via a raw fd\n", Io.readAllUtf8(pipe.readEnd()));
        }
    }

    @Test
    void shouldConnectTwoChildrenFdToFd() throws Exception {
        try (Subprocess producer = Subprocess.builder("printf", "pear\\napple\\nfig\\n").start();
             Subprocess sort = Subprocess.builder("sort").stdin(Redirect.from(producer.stdout())).start()) {
            assertTrue(producer.stdout().isOpen(), "the parent still owns its copy of the producer's stdout");
            producer.stdout().close();   // the parent reads nothing of it: sort is its only reader
            assertEquals("apple\nfig\npear\n", Io.readAllUtf8(sort.stdout()));
            assertEquals(ExitStatus.exited(0), producer.waitFor());
            assertEquals(ExitStatus.exited(0), sort.waitFor());
        }
    }

    @Test
    void shouldPassAnExtraFdNumberedAsAsked() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            run(Subprocess.builder("sh", "-c", "echo via fd 3 >&3").passFd(3, Redirect.to(pipe.writeEnd())));
            pipe.writeEnd().close();
            assertEquals("via fd 3\n", Io.readAllUtf8(pipe.readEnd()));
        }
    }

    @Test
    void shouldPassAReadEndAsStdin() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            Io.writeUtf8(pipe.writeEnd(), "fed through a pipe\n");
            pipe.writeEnd().close();
            try (Subprocess cat = Subprocess.builder("cat").stdin(Redirect.from(pipe.readEnd())).start()) {
                assertEquals("fed through a pipe\n", Io.readAllUtf8(cat.stdout()));
                assertEquals(ExitStatus.exited(0), cat.waitFor());
            }
        }
    }

    @Test
    void shouldInheritTheParentsStreams() throws Exception {
        try (Subprocess p = Subprocess.builder("sh", "-c", "readlink /proc/$PPID/fd/2 > \"$1\"; readlink /proc/self/fd/2 >> \"$1\"", "sh",
                dir.resolve("links").toString()).stderr(Redirect.inherit()).start()) {
            assertEquals(ExitStatus.exited(0), p.waitFor());
        }
        String[] links = Files.readString(dir.resolve("links")).split("\n");
        assertEquals(2, links.length);
        assertEquals(links[0], links[1], "the child's fd 2 is the parent's fd 2");
    }

    @Test
    void shouldRefuseRedirectsThatMakeNoSense() {
        assertThrows(IllegalArgumentException.class, () -> Subprocess.builder("true").stdout(Redirect.toStdout()));
        assertThrows(IllegalArgumentException.class, () -> Subprocess.builder("true").passFd(2, Redirect.discard()));
        assertThrows(IllegalArgumentException.class, () -> Subprocess.builder("true").passFd(3, Redirect.pipe()));
        assertThrows(IllegalArgumentException.class, () -> Redirect.fd(-1));
    }

    @Test
    void shouldCloseTheParentsEndsOfTheChildsPipesWhenASpawnFails() {
        // The stdout and stderr pipes are made before fd 3's file turns out to be missing: LeakCheck
        // fails this test if any of their fds is left open.
        Path missing = dir.resolve("nope");
        dev.panpipe.bindings.SyscallException e = assertThrows(dev.panpipe.bindings.SyscallException.class,
                () -> Subprocess.builder("cat").passFd(3, Redirect.from(missing)).start());
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
        assertTrue(LeakCheck.children().isEmpty(), "no process was started");
    }

    /**
     * An fd number that is not open, given for the child's stdin or an extra fd: an error naming that number and
     * the child's fd it was for, not posix_spawn's bare EBADF said of the program (a high number reached the
     * spawn unchecked) or a bare "fcntl: EBADF" (a low one, moved first).
     */
    /** A child fd past this process's fd limit: the error says which, not a bare "fcntl: EINVAL". */
    @Test
    void shouldNameAChildFdAboveTheFdLimit() throws Exception {
        int high = 1 << 20;                 // above the default RLIMIT_NOFILE hard limit (and this JVM's)
        dev.panpipe.bindings.SyscallException e = assertThrows(dev.panpipe.bindings.SyscallException.class,
                () -> Subprocess.builder("true").passFd(high, Redirect.fd(0)).start().close());
        assertTrue(e.getMessage().contains("highest child fd " + high), e.getMessage());
    }

    @Test
    void shouldNameAnFdNumberThatIsNotOpen() throws Exception {
        int notOpen = 19_000;
        assertFalse(Files.exists(Path.of("/proc/self/fd/" + notOpen)), "fd " + notOpen + " happens to be open");
        for (SubprocessBuilder b : java.util.List.of(Subprocess.builder("true").stdin(Redirect.fd(notOpen)),
                Subprocess.builder("true").passFd(notOpen + 1, Redirect.fd(notOpen)))) {
            dev.panpipe.bindings.SyscallException e = assertThrows(dev.panpipe.bindings.SyscallException.class, b::start);
            assertEquals(dev.panpipe.bindings.Errno.EBADF, e.errno(), e.toString());
            assertTrue(e.getMessage().contains("fd " + notOpen + " "), e.getMessage());
            assertTrue(LeakCheck.children().isEmpty(), "no process was started");
        }
    }

    private static void run(SubprocessBuilder b) throws Exception {
        try (Subprocess p = b.stderr(b.stderrRedirect() instanceof Redirect.ToStdout ? b.stderrRedirect() : Redirect.inherit()).start()) {
            assertEquals(ExitStatus.exited(0), p.waitFor());
        }
    }
}
