package dev.panpipe.process;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.io.Fifo;
import dev.panpipe.io.Io;
import dev.panpipe.io.ReadEnd;
import dev.panpipe.io.WriteEnd;
import dev.panpipe.testing.OneCarrierSteps;
import dev.panpipe.testing.VirtualThreads;

import java.io.InterruptedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static dev.panpipe.testing.OneCarrierSteps.check;

/**
 * Virtual threads starting children whose redirects ({@code < fifo}, {@code > fifo}) are FIFOs, in a JVM whose
 * virtual-thread scheduler has one carrier, the FIFO's peer opened by another virtual thread of the same JVM; run
 * by {@link VirtualRedirectOpenTest}. The redirect's open blocks until the peer opens: made by the spawning
 * virtual thread itself, it pinned the one carrier, the peer never ran, and that is the deadlock
 * {@link OneCarrierSteps} reports. What a step may not leave behind: {@link OneCarrierSteps}.
 */
final class VirtualRedirectOpenMain {
    private static final long STEP_SECONDS = OneCarrierSteps.STEP_SECONDS;
    private static final long PROMPT_MILLIS = 2_000;

    private VirtualRedirectOpenMain() {
    }

    public static void main(String[] args) throws Exception {
        OneCarrierSteps.main("panpipe-vt-redirect-open-", args, (steps, dir) -> {
            steps.step("cat < fifo, the writer virtual", () -> stdinFromFifo(dir));
            steps.step("echo > fifo, the reader virtual", () -> stdoutToFifo(dir));
            steps.step("a pipeline < fifo > fifo, both peers virtual", () -> pipelineThroughFifos(dir));
            steps.step("an interrupt ends a redirect's open that waits for a peer", () -> interrupts(dir));
            steps.step("regular files, opened by a virtual thread", () -> regularFiles(dir));
        });
    }

    private static void stdinFromFifo(Path dir) throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("stdin"))) {
            CompletableFuture<String> cat = VirtualThreads.call(() -> outputOf(Subprocess.builder("cat")
                    .stdin(Redirect.from(fifo.path()))));
            Thread.sleep(200);      // the spawn waits in its redirect's open by now
            VirtualThreads.call(() -> write(fifo, "to cat's stdin")).get(STEP_SECONDS, TimeUnit.SECONDS);
            check("to cat's stdin".equals(cat.get(STEP_SECONDS, TimeUnit.SECONDS)), "cat copied what the writer wrote");
        }
    }

    private static void stdoutToFifo(Path dir) throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("stdout"))) {
            CompletableFuture<ExitStatus> echo = VirtualThreads.call(() -> {
                try (Subprocess p = Subprocess.builder("echo", "from echo").stdout(Redirect.to(fifo.path())).start()) {
                    return p.waitFor();
                }
            });
            Thread.sleep(200);
            String read = VirtualThreads.call(() -> read(fifo)).get(STEP_SECONDS, TimeUnit.SECONDS);
            check("from echo\n".equals(read), "the reader read echo's output: " + read);
            check(ExitStatus.exited(0).equals(echo.get(STEP_SECONDS, TimeUnit.SECONDS)), "echo exited 0");
        }
    }

    /** {@code cat < in > out}: the pipeline opens its input first, then its output, each waiting for its peer. */
    private static void pipelineThroughFifos(Path dir) throws Exception {
        try (Fifo in = Fifo.create(dir.resolve("pipeline-in")); Fifo out = Fifo.create(dir.resolve("pipeline-out"))) {
            CompletableFuture<Pipeline.Result> run = VirtualThreads.call(() ->
                    Pipeline.parse("cat", "tr a-z A-Z").input(in.path()).output(out.path(), false).run());
            Thread.sleep(200);
            CompletableFuture<Object> wrote = VirtualThreads.call(() -> write(in, "through the pipeline"));
            Thread.sleep(200);
            String read = VirtualThreads.call(() -> read(out)).get(STEP_SECONDS, TimeUnit.SECONDS);
            wrote.get(STEP_SECONDS, TimeUnit.SECONDS);
            check("THROUGH THE PIPELINE".equals(read), "the reader read the pipeline's output: " + read);
            check(run.get(STEP_SECONDS, TimeUnit.SECONDS).exitCode() == 0, "the pipeline exited 0");
        }
    }

    /**
     * A redirect whose peer never comes: an interrupt of the spawning virtual thread ends the open promptly with an
     * InterruptedIOException naming the file and the direction, the interrupt status set, and nothing started.
     */
    private static void interrupts(Path dir) throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("interrupts"))) {
            Path f = fifo.path();
            interrupted("< fifo", "for reading", f, () -> Subprocess.builder("cat").stdin(Redirect.from(f)).start());
            interrupted("> fifo", "for writing", f, () -> Subprocess.builder("echo").stdout(Redirect.to(f)).start());
            interrupted(">> fifo", "for writing", f, () -> Subprocess.builder("echo").stdout(Redirect.appendTo(f)).start());
            interrupted("2> fifo", "for writing", f, () -> Subprocess.builder("echo").stderr(Redirect.to(f)).start());
            interrupted("pipeline < fifo", "for reading", f,
                    () -> Pipeline.parse("cat").input(f).output(Redirect.discard()).start());
            interrupted("pipeline > fifo", "for writing", f,
                    () -> Pipeline.parse("cat").input(Redirect.discard()).output(f, false).start());
            // Nothing of the opens given up is left in the FIFO: a reader and a writer still meet in it.
            CompletableFuture<String> read = VirtualThreads.call(() -> read(fifo));
            VirtualThreads.call(() -> write(fifo, "again")).get(STEP_SECONDS, TimeUnit.SECONDS);
            check("again".equals(read.get(STEP_SECONDS, TimeUnit.SECONDS)), "the FIFO still pairs a reader and a writer");
        }
    }

    private static void interrupted(String what, String direction, Path fifo, Callable<AutoCloseable> start) throws Exception {
        CompletableFuture<Throwable> outcome = new CompletableFuture<>();
        Thread t = Thread.ofVirtual().start(() -> {
            try (AutoCloseable started = start.call()) {
                outcome.complete(new AssertionError("started: " + started));
            } catch (Throwable e) {
                outcome.complete(Thread.currentThread().isInterrupted() ? e : new AssertionError("interrupt status cleared", e));
            }
        });
        Thread.sleep(200);          // the spawn waits in its redirect's open by now
        long interruptedAt = System.nanoTime();
        t.interrupt();
        Throwable e = outcome.get(STEP_SECONDS, TimeUnit.SECONDS);
        long millis = (System.nanoTime() - interruptedAt) / 1_000_000;
        check(e instanceof InterruptedIOException && e.getMessage().contains(fifo + " " + direction),
                what + ": " + e);
        check(millis < PROMPT_MILLIS, what + ": the interrupt took " + millis + " ms to end the open");
        t.join();
    }

    /**
     * Regular files, which a virtual thread opens without a hand-off: the same files, flags and mode as a platform
     * thread's open, and the same typed error.
     */
    private static void regularFiles(Path dir) throws Exception {
        Path in = dir.resolve("in.txt");
        Files.writeString(in, "from a file\n");
        check("from a file\n".equals(onVirtual(() -> outputOf(Subprocess.builder("cat").stdin(Redirect.from(in))))), "< file");

        Path out = dir.resolve("out.txt");
        Files.writeString(out, "old content that is longer than the new\n");
        onVirtual(() -> outputOf(Subprocess.builder("echo", "new").stdout(Redirect.to(out))));
        check("new\n".equals(Files.readString(out)), "> file truncates: " + Files.readString(out));
        onVirtual(() -> outputOf(Subprocess.builder("echo", "more").stdout(Redirect.appendTo(out))));
        check("new\nmore\n".equals(Files.readString(out)), ">> file appends: " + Files.readString(out));

        Path created = dir.resolve("created.txt");
        Path byPlatform = dir.resolve("created-by-a-platform-thread.txt");
        onVirtual(() -> outputOf(Subprocess.builder("echo", "created").stdout(Redirect.to(created))));
        outputOf(Subprocess.builder("echo", "created").stdout(Redirect.to(byPlatform)));
        check("created\n".equals(Files.readString(created)), "> new file");
        check(Files.getPosixFilePermissions(created).equals(Files.getPosixFilePermissions(byPlatform)),
                "> new file: the mode a platform thread's open gives, " + Files.getPosixFilePermissions(created));

        // A link to nothing: O_CREAT follows it and makes its target, as a shell's > does.
        Path target = dir.resolve("link-target.txt");
        Path link = Files.createSymbolicLink(dir.resolve("dangling"), target);
        onVirtual(() -> outputOf(Subprocess.builder("echo", "through the link").stdout(Redirect.to(link))));
        check("through the link\n".equals(Files.readString(target)), "> dangling link writes its target");

        // A memory device, which a virtual thread also opens in place: /dev/null both ways.
        Path devNull = Path.of("/dev/null");
        check("".equals(onVirtual(() -> outputOf(Subprocess.builder("cat").stdin(Redirect.from(devNull))))), "< /dev/null");
        onVirtual(() -> outputOf(Subprocess.builder("echo", "gone").stdout(Redirect.to(devNull))));

        // What the child's stdin is: the file itself, not the /proc name it may have been reopened through.
        String fd0 = onVirtual(() -> {
            try (Subprocess sleep = Subprocess.builder("sleep", "30").stdin(Redirect.from(in)).start()) {
                return Files.readSymbolicLink(Path.of("/proc/" + sleep.pid() + "/fd/0")).toString();
            }
        });
        check(in.toRealPath().toString().equals(fd0), "the child's stdin is " + fd0);

        Path missing = dir.resolve("missing.txt");
        Throwable e = onVirtual(() -> {
            try (Subprocess p = Subprocess.builder("cat").stdin(Redirect.from(missing)).start()) {
                return new AssertionError("started: " + p);
            } catch (Exception x) {
                return x;
            }
        });
        check(e instanceof SyscallException s && s.call().equals("open") && s.errno() == Errno.ENOENT
                && e.getMessage().contains(missing.toString()), "< missing file: " + e);
    }

    private static <T> T onVirtual(Callable<T> body) throws Exception {
        return VirtualThreads.call(body).get(STEP_SECONDS, TimeUnit.SECONDS);
    }

    /** The child's stdout, read to its end, once it has exited 0. */
    private static String outputOf(SubprocessBuilder b) throws Exception {
        try (Subprocess p = b.start()) {
            String out = b.stdoutRedirect() instanceof Redirect.Pipe ? Io.readAllUtf8(p.stdout()) : "";
            ExitStatus status = p.waitFor();
            check(ExitStatus.exited(0).equals(status), b.command() + ": " + status);
            return out;
        }
    }

    private static Object write(Fifo fifo, String s) throws Exception {
        try (WriteEnd w = fifo.openWriteEnd()) {
            Io.writeUtf8(w, s);
        }
        return null;
    }

    private static String read(Fifo fifo) throws Exception {
        try (ReadEnd r = fifo.openReadEnd()) {
            return Io.readAllUtf8(r);
        }
    }
}
