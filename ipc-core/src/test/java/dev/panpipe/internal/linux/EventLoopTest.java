package dev.panpipe.internal.linux;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import dev.panpipe.io.LeakCheck;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

@Timeout(30)
@ExtendWith(LeakCheck.class)
class EventLoopTest {

    /** Reads whatever is ready into a queue, on the loop thread. */
    private static EventLoop.Handler collectInto(BlockingQueue<String> out, Arena arena) {
        MemorySegment buf = arena.allocate(4096);
        return new EventLoop.Handler() {
            @Override
            public void ready(EventLoop.Registration r, int events) throws java.io.IOException {
                FdReadEnd end = new FdReadEnd(r.handle());
                end.blocking(false);
                long n = end.read(buf);
                if (n == FdReadEnd.EOF) {
                    out.add("<eof>");
                    r.cancel();
                } else if (n > 0) {
                    out.add(new String(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8));
                }
            }

            @Override
            public void failed(EventLoop.Registration r, Throwable error) {
                out.add("<failed: " + error + ">");
            }
        };
    }

    @Test
    void shouldServeManyPipesFromOneThreadAndSeeEndOfStream() throws Exception {
        try (EventLoop loop = EventLoop.start("test-loop"); Arena arena = Arena.ofShared()) {
            List<LinuxPipe> pipes = new ArrayList<>();
            List<BlockingQueue<String>> queues = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                LinuxPipe p = LinuxPipe.open();
                BlockingQueue<String> q = new ArrayBlockingQueue<>(16);
                loop.register(p.readEnd().handle(), EventLoop.READABLE, collectInto(q, arena));
                pipes.add(p);
                queues.add(q);
            }
            for (int i = 0; i < pipes.size(); i++) {
                byte[] msg = ("pipe " + i).getBytes(StandardCharsets.UTF_8);
                pipes.get(i).writeEnd().write(msg, 0, msg.length);
                pipes.get(i).writeEnd().close();
            }
            for (int i = 0; i < pipes.size(); i++) {
                assertEquals("pipe " + i, queues.get(i).poll(10, TimeUnit.SECONDS));
                assertEquals("<eof>", queues.get(i).poll(10, TimeUnit.SECONDS));
            }
            for (LinuxPipe p : pipes) p.close();
        }
    }

    @Test
    void shouldLeaveBytesInTheKernelWhileInterestIsOff() throws Exception {
        try (EventLoop loop = EventLoop.start("test-loop"); Arena arena = Arena.ofShared(); LinuxPipe p = LinuxPipe.open()) {
            BlockingQueue<String> q = new ArrayBlockingQueue<>(16);
            EventLoop.Registration r = loop.register(p.readEnd().handle(), 0, collectInto(q, arena));
            p.writeEnd().write("held".getBytes(StandardCharsets.UTF_8), 0, 4);
            assertNull(q.poll(200, TimeUnit.MILLISECONDS), "paused registration must not be dispatched");
            r.interest(EventLoop.READABLE);
            assertEquals("held", q.poll(10, TimeUnit.SECONDS));
        }
    }

    /**
     * A handler whose failure path itself throws must not take the loop thread with it: the other
     * registrations and the tasks are still served, and the handler is not called again.
     */
    @Test
    void shouldKeepServingWhenAFailurePathThrows() throws Exception {
        try (EventLoop loop = EventLoop.start("test-loop-failing"); Arena arena = Arena.ofShared();
             LinuxPipe broken = LinuxPipe.open(); LinuxPipe fine = LinuxPipe.open()) {
            BlockingQueue<String> calls = new ArrayBlockingQueue<>(16);
            loop.register(broken.readEnd().handle(), EventLoop.READABLE, EventLoop.handler(
                    (r, events) -> {
                        calls.add("ready");
                        throw new java.io.IOException("ready failed");
                    },
                    error -> {
                        calls.add("failed: " + error.getMessage());
                        throw new IllegalStateException("and so did its failure path");
                    }));
            broken.writeEnd().write(new byte[]{1}, 0, 1);      // stays readable: level-triggered
            assertEquals("ready", calls.poll(10, TimeUnit.SECONDS));
            assertEquals("failed: ready failed", calls.poll(10, TimeUnit.SECONDS));

            BlockingQueue<String> q = new ArrayBlockingQueue<>(16);
            loop.register(fine.readEnd().handle(), EventLoop.READABLE, collectInto(q, arena));
            fine.writeEnd().write("still served".getBytes(StandardCharsets.UTF_8), 0, 12);
            assertEquals("still served", q.poll(10, TimeUnit.SECONDS), "the loop thread survived");
            assertTrue(loop.execute(() -> q.add("task ran")));
            assertEquals("task ran", q.poll(10, TimeUnit.SECONDS));
            assertNull(calls.poll(100, TimeUnit.MILLISECONDS), "a failed registration is cancelled: not dispatched again");
        }
    }

    /** A handler for one event cancels its registration first; if it then throws, it must still hear of it. */
    @Test
    void shouldReportTheFailureOfAHandlerThatCancelledItselfFirst() throws Exception {
        try (EventLoop loop = EventLoop.start("test-loop-once"); LinuxPipe p = LinuxPipe.open()) {
            BlockingQueue<String> calls = new ArrayBlockingQueue<>(16);
            loop.register(p.readEnd().handle(), EventLoop.READABLE, EventLoop.handler(
                    (r, events) -> {
                        r.cancel();
                        calls.add("ready");
                        throw new java.io.IOException("after cancelling");
                    },
                    error -> calls.add("failed: " + error.getMessage())));
            p.writeEnd().write(new byte[]{1}, 0, 1);
            assertEquals("ready", calls.poll(10, TimeUnit.SECONDS));
            assertEquals("failed: after cancelling", calls.poll(10, TimeUnit.SECONDS));
            assertNull(calls.poll(100, TimeUnit.MILLISECONDS), "told once, and not dispatched again");
        }
    }

    @Test
    void shouldRunATaskQueuedBeforeCloseAndRefuseOnesAfter() throws Exception {
        // A close that waits for its last steps to run on the loop (as the mux's does) must not wait for ever
        // because the loop thread ended first. Here the thread is inside a handler when a task is queued and
        // the loop closed: it used to leave its batch of events and end with the task still queued.
        EventLoop loop = EventLoop.start("test-loop-drain");
        try (LinuxPipe pipe = LinuxPipe.open()) {
            CountDownLatch inHandler = new CountDownLatch(1);
            CountDownLatch releaseHandler = new CountDownLatch(1);
            CountDownLatch taskRan = new CountDownLatch(1);
            loop.register(pipe.readEnd().handle(), EventLoop.READABLE, EventLoop.handler((r, events) -> {
                r.cancel();
                inHandler.countDown();
                try {
                    releaseHandler.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, error -> fail(error.toString())));
            pipe.writeEnd().write(new byte[1], 0, 1);
            assertTrue(inHandler.await(5, TimeUnit.SECONDS));
            assertTrue(loop.execute(taskRan::countDown), "queued while the loop is in a handler");
            Thread closer = Thread.ofPlatform().start(loop::close);
            while (closer.getState() != Thread.State.WAITING && closer.isAlive()) Thread.onSpinWait();   // joining the loop
            releaseHandler.countDown();
            closer.join(5_000);
            assertFalse(closer.isAlive(), "close returned");
            assertTrue(taskRan.await(0, TimeUnit.SECONDS), "the task queued before the close ran");
            assertFalse(loop.execute(() -> fail("ran after close")), "a task after close is refused");
        } finally {
            loop.close();
        }
    }

    /**
     * close waits for the loop thread even on an interrupted thread: the epoll set and the eventfd are closed
     * after it, and must not be while the thread still uses them. The thread is held in a task until the closing
     * thread waits for it (or returns without waiting, as an interrupted close used to).
     */
    @Test
    void shouldWaitForItsThreadOnCloseFromAnInterruptedThread() throws Exception {
        EventLoop loop = EventLoop.start("test-loop-interrupted");
        try {
            CountDownLatch inTask = new CountDownLatch(1);
            CountDownLatch releaseTask = new CountDownLatch(1);
            AtomicBoolean taskDone = new AtomicBoolean();
            assertTrue(loop.execute(() -> {
                inTask.countDown();
                Uninterruptibly.await(releaseTask);
                taskDone.set(true);
            }));
            assertTrue(inTask.await(5, TimeUnit.SECONDS));
            AtomicBoolean closeReturned = new AtomicBoolean();
            Thread releaser = releaseWhenWaitingIn(Thread.currentThread(), "EventLoop", "close", closeReturned, releaseTask);
            Thread.currentThread().interrupt();
            loop.close();
            boolean doneBeforeReturn = taskDone.get();
            boolean stillInterrupted = Thread.interrupted();
            closeReturned.set(true);
            releaser.join();
            assertTrue(stillInterrupted, "the interrupt status stays set");
            assertTrue(doneBeforeReturn, "close returned while the loop thread was still in a task");
        } finally {
            Thread.interrupted();
            loop.close();
        }
    }

    /**
     * Starts a thread that opens {@code release} once {@code closing} waits (parked) inside
     * {@code className.method}, or once {@code returned} is set: a close that waits for the loop is let through,
     * one that does not wait is caught returning early.
     */
    static Thread releaseWhenWaitingIn(Thread closing, String className, String method, AtomicBoolean returned,
                                       CountDownLatch release) {
        return Thread.ofPlatform().name("releaser").start(() -> {
            try {
                while (!returned.get() && !(closing.getState() == Thread.State.WAITING && inFrame(closing, className, method))) {
                    Thread.sleep(5);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                release.countDown();
            }
        });
    }

    private static boolean inFrame(Thread t, String className, String method) {
        for (StackTraceElement f : t.getStackTrace()) {
            if (f.getClassName().endsWith("." + className) && f.getMethodName().equals(method)) return true;
        }
        return false;
    }

    @Test
    void shouldStopItsThreadOnClose() throws Exception {
        EventLoop loop = EventLoop.start("test-loop-stop");
        assertTrue(Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals("test-loop-stop")));
        loop.close();
        loop.close();
        assertFalse(Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals("test-loop-stop") && t.isAlive()));
    }
}
