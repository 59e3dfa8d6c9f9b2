package dev.panpipe.worker;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.siginfo_t;
import dev.panpipe.connection.Codecs;
import dev.panpipe.io.BehindTheBack;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.process.ExitStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Workers#close()} when closing a worker fails for real: every other worker is still ended, the
 * event loop stopped and the directory removed (or its failure reported too); the first failure is thrown
 * with the later ones suppressed in it.
 */
@Timeout(120)
@ExtendWith(LeakCheck.class)
class WorkersCloseFailureTest {

    /** The event loop threads alive now: a Workers' loop is one of them until its close stops it. */
    private static Set<Thread> loopThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals("panpipe-workers") && t.isAlive()).collect(Collectors.toSet());
    }

    private static boolean newLoopThreadAlive(Set<Thread> before) {
        return loopThreads().stream().anyMatch(t -> !before.contains(t));
    }

    /** Whatever a failed test left running is killed, so that no worker JVM outlives it. */
    private static void killAll(List<Long> pids) {
        for (long pid : pids) ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    }

    /**
     * A thread is blocked sending to a worker that reads nothing when close ends that worker's input, and
     * waking the thread fails (its wake-up eventfd was replaced behind the worker's back).
     */
    @Test
    void shouldEndEveryWorkerAndRemoveTheDirectoryWhenEndingAWorkersInputFails() throws Exception {
        Set<Thread> loopsBefore = loopThreads();
        Workers workers = Workers.create();
        Path dir = workers.directory();
        List<Long> pids = new ArrayList<>();
        try {
            Worker sleeper = workers.start(WorkerSpec.java("sleeper", MuteWorker.class).destroyGrace(Duration.ofMillis(200))
                    .jvmOptions("--patch-module", "dev.panpipe.core=" + Path.of("target", "test-classes").toAbsolutePath()));
            pids.add(sleeper.pid());
            Worker bystander = workers.start(WorkerSpec.java("bystander", EchoWorker.class).destroyGrace(Duration.ofMillis(200)));
            pids.add(bystander.pid());
            Map<Integer, String> before = LeakCheck.openFds();
            CompletableFuture<Throwable> sender = CompletableFuture.supplyAsync(() -> {
                try {
                    for (;;) sleeper.send(new byte[1 << 20]);   // it reads nothing: the pipe fills, then send blocks
                } catch (Throwable t) {
                    return t;
                }
            }, r -> Thread.ofPlatform().name("blocked-sender").start(r));
            BehindTheBack.replaceWithReadOnlyDevNull(BehindTheBack.newEventFd(before));

            IllegalStateException e = assertThrows(IllegalStateException.class, workers::close);
            assertTrue(e.getMessage().startsWith("waking the threads blocked on stdin of "), e.getMessage());
            assertEquals(Map.of(), LeakCheck.children(), "both workers ended and reaped all the same");
            assertFalse(Files.exists(dir), "directory removed all the same");
            assertFalse(newLoopThreadAlive(loopsBefore), "event loop stopped all the same");
            // Not woken by close, the sender is by the worker's end: its stdin has no reader any more.
            assertInstanceOf(IOException.class, sender.get(10, TimeUnit.SECONDS));
        } finally {
            killAll(pids);
        }
    }

    @Test
    void shouldThrowTheFirstFailureWithTheLaterOnesSuppressed() throws Exception {
        Set<Thread> loopsBefore = loopThreads();
        Workers workers = Workers.create();
        Path dir = workers.directory();
        Path stray = dir.resolve("stray");
        List<Long> pids = new ArrayList<>();
        try {
            // Two results and an inbox of one: the second waits for room, so the loop, which reaps a worker
            // only once its results are all in, never reaps this one; the test does, behind its back.
            Worker quitter = workers.start(WorkerSpec.java("quitter", EchoWorker.class, "--exit-after", "2").inboxCapacity(1));
            pids.add(quitter.pid());
            quitter.send("one", Codecs.text());
            quitter.send("two", Codecs.text());
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment info = siginfo_t.allocate(arena);
                Syscalls.waitid(linux_h.P_PID(), (int) quitter.pid(), info, linux_h.WEXITED());
            }
            Files.writeString(stray, "left by someone else");

            SyscallException first = assertThrows(SyscallException.class, workers::close);
            assertEquals(Errno.ECHILD, first.errno(), first.getMessage());
            assertEquals(1, first.getSuppressed().length, List.of(first.getSuppressed()).toString());
            assertInstanceOf(DirectoryNotEmptyException.class, first.getSuppressed()[0]);
            assertFalse(newLoopThreadAlive(loopsBefore), "event loop stopped all the same");
        } finally {
            killAll(pids);
            Files.deleteIfExists(stray);
            Files.deleteIfExists(dir);
        }
    }

    /**
     * A worker that dies before it connects, having replaced its results FIFO with a directory: removing the
     * FIFO then fails too (EISDIR), but what the caller hears is why the start failed.
     */
    @Test
    void shouldReportWhyAWorkerFailedToStartWhenRemovingItsFifoFailsToo() throws Exception {
        try (Workers workers = Workers.create()) {
            Path fifo = workers.directory().resolve("saboteur.results");
            WorkerDiedException e = assertThrows(WorkerDiedException.class, () -> workers.start(WorkerSpec.command("saboteur",
                    "sh", "-c", "rm \"$PANPIPE_RESULTS\" && mkdir \"$PANPIPE_RESULTS\" && exit 4")));
            assertEquals(ExitStatus.exited(4), e.status());
            assertEquals(1, e.getSuppressed().length, List.of(e.getSuppressed()).toString());
            SyscallException unlink = assertInstanceOf(SyscallException.class, e.getSuppressed()[0]);
            assertEquals("unlink", unlink.call());
            assertEquals(Errno.EISDIR, unlink.errno());
            assertTrue(Files.isDirectory(fifo));
            Files.delete(fifo);                   // so that Workers can remove its directory
        }
    }
}
