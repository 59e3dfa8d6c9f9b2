package dev.panpipe.io;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.testing.OneCarrierSteps;
import dev.panpipe.testing.VirtualThreads;

import java.io.InterruptedIOException;
import java.nio.channels.AsynchronousCloseException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static dev.panpipe.testing.OneCarrierSteps.check;

/**
 * Virtual threads opening FIFO ends in a JVM whose virtual-thread scheduler has one carrier; run by
 * {@link VirtualFifoOpenTest} through {@link dev.panpipe.testing.VirtualThreads#runWithOneCarrier}. What a step
 * may not leave behind, and how a deadlock is told: {@link OneCarrierSteps}.
 */
final class VirtualFifoOpenMain {
    private static final long STEP_SECONDS = OneCarrierSteps.STEP_SECONDS;

    private VirtualFifoOpenMain() {
    }

    public static void main(String[] args) throws Exception {
        OneCarrierSteps.main("panpipe-vt-fifo-open-", args, (steps, dir) -> {
            steps.step("reader first, then the writer, both virtual", () -> readerFirst(dir));
            steps.step("writer first, then the reader, both virtual", () -> writerFirst(dir));
            steps.step("timeouts of a virtual thread's opens", () -> timeouts(dir));
            steps.step("an interrupt ends a virtual thread's pending open", () -> interrupts(dir));
            steps.step("close ends a virtual thread's pending open", () -> closes(dir));
            steps.step("a missing path is a typed error", () -> missingPath(dir));
            steps.step("timeouts racing the peer's open", () -> racingTimeouts(dir));
        });
    }

    private static void readerFirst(Path dir) throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("reader-first"))) {
            CompletableFuture<String> read = VirtualThreads.call(() -> {
                try (ReadEnd in = fifo.openReadEnd()) {
                    return Io.readAllUtf8(in);
                }
            });
            Thread.sleep(200);      // the reader is waiting in its open by now
            CompletableFuture<Void> wrote = VirtualThreads.call(() -> {
                try (WriteEnd out = fifo.openWriteEnd()) {
                    Io.writeUtf8(out, "from the writer");
                }
                return null;
            });
            wrote.get(STEP_SECONDS, TimeUnit.SECONDS);
            check("from the writer".equals(read.get(STEP_SECONDS, TimeUnit.SECONDS)), "the reader read what the writer wrote");
        }
    }

    private static void writerFirst(Path dir) throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("writer-first"))) {
            CompletableFuture<Void> wrote = VirtualThreads.call(() -> {
                try (WriteEnd out = fifo.openWriteEnd()) {
                    Io.writeUtf8(out, "written first");
                }
                return null;
            });
            Thread.sleep(200);      // the writer is waiting in its open by now
            CompletableFuture<String> read = VirtualThreads.call(() -> {
                try (ReadEnd in = fifo.openReadEnd(Duration.ofSeconds(STEP_SECONDS))) {
                    return Io.readAllUtf8(in);
                }
            });
            check("written first".equals(read.get(STEP_SECONDS, TimeUnit.SECONDS)), "the reader read what the writer wrote");
            wrote.get(STEP_SECONDS, TimeUnit.SECONDS);
        }
    }

    private static void timeouts(Path dir) throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("timeouts"))) {
            CompletableFuture<Throwable> reading = failureOf(() -> fifo.openReadEnd(Duration.ofMillis(300)));
            Thread.sleep(50);
            check("ran".equals(VirtualThreads.call(() -> "ran").get(STEP_SECONDS, TimeUnit.SECONDS)), "another virtual thread ran");
            Throwable r = reading.get(STEP_SECONDS, TimeUnit.SECONDS);
            check(r instanceof PeerTimeoutException && r.getMessage().contains(fifo.path() + " for reading"), "read end: " + r);
            Throwable w = failureOf(() -> fifo.openWriteEnd(Duration.ofMillis(300))).get(STEP_SECONDS, TimeUnit.SECONDS);
            check(w instanceof PeerTimeoutException && w.getMessage().contains(fifo.path() + " for writing"), "write end: " + w);
            assertStillUsable(fifo);
        }
    }

    private static void interrupts(Path dir) throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("interrupts"))) {
            for (boolean reading : new boolean[] {true, false}) {
                CompletableFuture<Throwable> outcome = new CompletableFuture<>();
                Thread t = Thread.ofVirtual().start(() -> {
                    try (AutoCloseable end = reading ? fifo.openReadEnd() : fifo.openWriteEnd()) {
                        outcome.complete(null);
                    } catch (Throwable e) {
                        outcome.complete(Thread.currentThread().isInterrupted() ? e : new AssertionError("interrupt status cleared", e));
                    }
                });
                Thread.sleep(200);
                t.interrupt();
                Throwable e = outcome.get(STEP_SECONDS, TimeUnit.SECONDS);
                check(e instanceof InterruptedIOException && e.getMessage().contains(fifo.path().toString()),
                        (reading ? "read end: " : "write end: ") + e);
                t.join();
            }
            assertStillUsable(fifo);
        }
    }

    private static void closes(Path dir) throws Exception {
        Path path = dir.resolve("closes");
        Fifo fifo = Fifo.create(path);
        try (Fifo reused = Fifo.create(path)) {       // the same FIFO, not created by this one: close leaves the path
            CompletableFuture<Throwable> writing = failureOf(reused::openWriteEnd);
            awaitOpener(path, writing);
            reused.close();
            Throwable e = writing.get(STEP_SECONDS, TimeUnit.SECONDS);
            check(e instanceof AsynchronousCloseException, "write end of a reused FIFO: " + e);
            check(Files.exists(path, LinkOption.NOFOLLOW_LINKS), "a reused FIFO's path stays");
        }
        CompletableFuture<Throwable> reading = failureOf(fifo::openReadEnd);
        awaitOpener(path, reading);
        fifo.close();
        Throwable e = reading.get(STEP_SECONDS, TimeUnit.SECONDS);
        check(e instanceof AsynchronousCloseException, "read end: " + e);
        check(!Files.exists(path, LinkOption.NOFOLLOW_LINKS), "the created FIFO is removed");
    }

    private static void missingPath(Path dir) throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("missing"))) {
            Files.delete(fifo.path());
            for (boolean reading : new boolean[] {true, false}) {
                Throwable e = failureOf(() -> reading ? fifo.openReadEnd() : fifo.openWriteEnd(Duration.ofSeconds(1)))
                        .get(STEP_SECONDS, TimeUnit.SECONDS);
                check(e instanceof SyscallException s && s.call().equals("open") && s.errno() == Errno.ENOENT
                        && e.getMessage().contains(fifo.path().toString()), "typed error: " + e);
                check(Stream.of(e.getStackTrace()).anyMatch(f -> f.getClassName().equals(VirtualFifoOpenMain.class.getName())),
                        "the stack trace shows the caller of the open");
            }
        }
    }

    /**
     * Timeouts of a millisecond or so while the peer opens at about the same moment: the open and the deadline
     * race, and whichever wins, the fd is closed once (by the caller, or by the opener for a waiter that has gone).
     */
    private static void racingTimeouts(Path dir) throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("racing"))) {
            int opened = 0;
            for (int i = 0; i < 200; i++) {
                Duration tiny = Duration.ofNanos(1 + i * 10_000L);
                CompletableFuture<Boolean> writer = VirtualThreads.call(() -> opens(() -> fifo.openWriteEnd(tiny)));
                fifo.openReadEndNow().close();
                if (writer.get(STEP_SECONDS, TimeUnit.SECONDS)) opened++;
                CompletableFuture<Boolean> reader = VirtualThreads.call(() -> opens(() -> fifo.openReadEnd(tiny)));
                try {
                    fifo.openWriteEnd(tiny).close();
                } catch (PeerTimeoutException ignored) {
                    // the reader's open is not there yet, or has given up
                }
                if (reader.get(STEP_SECONDS, TimeUnit.SECONDS)) opened++;
            }
            System.out.println("  racing opens that won: " + opened + " of 400");
            assertStillUsable(fifo);
        }
    }

    private static boolean opens(Callable<AutoCloseable> open) throws Exception {
        try (AutoCloseable end = open.call()) {
            return true;
        } catch (PeerTimeoutException e) {
            return false;
        }
    }

    /** A reader and a writer, both virtual, still meet in {@code fifo}: nothing of a failed open is left in it. */
    private static void assertStillUsable(Fifo fifo) throws Exception {
        CompletableFuture<String> read = VirtualThreads.call(() -> {
            try (ReadEnd in = fifo.openReadEnd(Duration.ofSeconds(STEP_SECONDS))) {
                return Io.readAllUtf8(in);
            }
        });
        VirtualThreads.call(() -> {
            try (WriteEnd out = fifo.openWriteEnd(Duration.ofSeconds(STEP_SECONDS))) {
                Io.writeUtf8(out, "again");
            }
            return null;
        }).get(STEP_SECONDS, TimeUnit.SECONDS);
        check("again".equals(read.get(STEP_SECONDS, TimeUnit.SECONDS)), "the FIFO still pairs a reader and a writer");
    }


    /**
     * Until the opener of a virtual thread's open of {@code path} runs: the open is then pending, and a close ends it
     * (AsynchronousCloseException). A close before that refuses the open instead (ClosedChannelException), which a
     * fixed sleep here let happen on a loaded machine.
     */
    private static void awaitOpener(Path path, CompletableFuture<Throwable> open) throws Exception {
        String name = "panpipe-open " + path.toAbsolutePath();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(STEP_SECONDS);
        while (Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.getName().equals(name))) {
            check(!open.isDone(), "the open of " + path + " ended before a close: " + open.getNow(null));
            if (System.nanoTime() - deadline > 0) throw new java.util.concurrent.TimeoutException("no opener of " + path);
            Thread.sleep(5);
        }
    }

    /** What {@code open}, run on a virtual thread, throws; an end it opens instead is closed, and is a failure. */
    private static CompletableFuture<Throwable> failureOf(Callable<? extends AutoCloseable> open) {
        return VirtualThreads.call(() -> {
            try (AutoCloseable end = open.call()) {
                return new AssertionError("opened: " + end);
            } catch (Throwable t) {
                return t;
            }
        });
    }
}
