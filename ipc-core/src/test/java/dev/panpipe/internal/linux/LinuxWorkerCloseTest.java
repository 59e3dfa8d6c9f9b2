package dev.panpipe.internal.linux;

import dev.panpipe.connection.Codecs;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.testing.OpenFds;
import dev.panpipe.worker.EchoWorker;
import dev.panpipe.worker.WorkerSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A worker's close on an interrupted thread: a real worker JVM ({@link EchoWorker}) on a loop of the test's own. */
@Timeout(120)
@ExtendWith(LeakCheck.class)
class LinuxWorkerCloseTest {

    /**
     * close hands the release of the worker's registrations to the loop thread and must wait for it before it
     * closes the results end: an interrupted close used to go on at once and return with the results FIFO and
     * the pidfd still held by the loop. The loop is kept busy in a task until close waits for it (or has returned).
     */
    @Test
    void shouldReleaseEveryFdBeforeCloseReturnsOnAnInterruptedThread(@TempDir Path dir) throws Exception {
        EventLoop loop = EventLoop.start("test-worker-loop");
        try {
            Map<Integer, String> before = OpenFds.snapshot();
            LinuxWorker worker = LinuxWorker.start(WorkerSpec.java("echo", EchoWorker.class), loop, dir);
            try {
                worker.send("hi", Codecs.text());
                assertEquals("hi", worker.take(Codecs.text()));
                CountDownLatch inTask = new CountDownLatch(1);
                CountDownLatch releaseTask = new CountDownLatch(1);
                assertTrue(loop.execute(() -> {
                    inTask.countDown();
                    Uninterruptibly.await(releaseTask);
                }));
                assertTrue(inTask.await(5, TimeUnit.SECONDS));
                AtomicBoolean closeReturned = new AtomicBoolean();
                Thread releaser = EventLoopTest.releaseWhenWaitingIn(Thread.currentThread(), "LinuxWorker", "close",
                        closeReturned, releaseTask);
                Thread.currentThread().interrupt();
                worker.close();
                boolean stillInterrupted = Thread.interrupted();
                List<String> left = OpenFds.openedSince(before);
                closeReturned.set(true);
                releaser.join();
                assertTrue(stillInterrupted, "the interrupt status stays set");
                assertEquals(List.of(), left, "fds still open when close returned");
                assertEquals(Optional.of(ExitStatus.exited(0)), worker.exitStatus(), "its input ended, the worker exited by itself");
            } finally {
                Thread.interrupted();
                worker.close();
            }
        } finally {
            loop.close();
        }
    }
}
