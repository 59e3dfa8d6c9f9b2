package dev.panpipe.internal.linux;

import dev.panpipe.bindings.BrokenPipeException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import dev.panpipe.testing.VirtualThreads;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.channels.AsynchronousCloseException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How a virtual thread waits for an fd: asleep until the {@link VirtualThreadPoller} unparks it, not looking at the
 * fd again and again. The looks are counted ({@link FdHandle#virtualLooks()}); the counter is process-wide, so the
 * bounds leave room for a stray look of another thread, and are far below what looking every 5 ms costs.
 */
@Timeout(60)
@ExtendWith(LeakCheck.class)
class FdHandleTest {
    /** More waiters than the scheduler has carriers. */
    private static final int WAITERS = Integer.getInteger("jdk.virtualThreadScheduler.parallelism",
            Runtime.getRuntime().availableProcessors()) + 2;

    @Test
    void shouldSleepThroughAQuietSecondRatherThanLookAgainAndAgain() throws Exception {
        try (LinuxPipe p = LinuxPipe.open()) {
            long before = FdHandle.virtualLooks();
            CompletableFuture<Boolean> ready = VirtualThreads.call(() -> p.readEnd().awaitReadable(Duration.ofSeconds(1)));
            assertFalse(ready.get(10, TimeUnit.SECONDS), "nothing was written: the wait times out");
            long looks = FdHandle.virtualLooks() - before;
            // one look before it parks, one when the deadline unparks it; looking every <= 5 ms would be ~200
            assertTrue(looks <= 10, "looks at a quiet pipe in one second: " + looks);
        }
    }

    @Test
    void shouldWakeEveryOneOfMoreVirtualWaitersThanCarriersWithoutLookingMeanwhile() throws Exception {
        List<LinuxPipe> pipes = new ArrayList<>();
        List<CompletableFuture<Integer>> reads = new ArrayList<>();
        try {
            for (int i = 0; i < WAITERS; i++) {
                LinuxPipe p = LinuxPipe.open();
                pipes.add(p);
                reads.add(VirtualThreads.call(() -> {
                    byte[] b = new byte[1];
                    return p.readEnd().read(b, 0, 1) == 1 ? (int) b[0] : -1;
                }));
            }
            Thread.sleep(200);                                  // all are parked by now, for longer than 5 ms
            long before = FdHandle.virtualLooks();
            Thread.sleep(500);
            long looks = FdHandle.virtualLooks() - before;
            assertTrue(reads.stream().noneMatch(CompletableFuture::isDone), "nothing to read yet");
            assertTrue(looks < WAITERS, WAITERS + " waiters looked " + looks + " times in half a second");
            for (int i = 0; i < WAITERS; i++) pipes.get(i).writeEnd().write(new byte[] {(byte) i}, 0, 1);
            for (int i = 0; i < WAITERS; i++) assertEquals(i, reads.get(i).get(10, TimeUnit.SECONDS));
        } finally {
            pipes.forEach(LinuxPipe::close);
        }
    }

    @Test
    void shouldTakeThePollersWordThatTheFdIsReadyRatherThanLookAgain() throws Exception {
        try (LinuxPipe p = LinuxPipe.open()) {
            int rounds = 5;
            long looks = 0;
            for (int i = 0; i < rounds; i++) {
                CompletableFuture<Integer> read = VirtualThreads.call(() -> p.readEnd().read(new byte[1], 0, 1));
                Thread.sleep(100);                              // parked, registered with the poller
                long before = FdHandle.virtualLooks();
                p.writeEnd().write(new byte[] {1}, 0, 1);
                assertEquals(1, read.get(10, TimeUnit.SECONDS));
                looks += FdHandle.virtualLooks() - before;
            }
            // A look after each wake-up was a system call in every wait of a busy reader, for what the poller had
            // just been told by epoll; one look per wake-up would make `rounds`.
            assertTrue(looks < rounds, rounds + " wake-ups by the poller took " + looks + " looks");
        }
    }

    @Test
    void shouldNotLookAtAPipeItsReadHasJustFoundEmptyBeforeItParks() throws Exception {
        try (LinuxPipe p = LinuxPipe.open()) {
            int rounds = 5;
            long before = FdHandle.virtualLooks();
            for (int i = 0; i < rounds; i++) {
                CompletableFuture<Integer> read = VirtualThreads.call(() -> p.readEnd().read(new byte[1], 0, 1));
                Thread.sleep(100);                              // the read found it empty, and the reader parked
                p.writeEnd().write(new byte[] {1}, 0, 1);
                assertEquals(1, read.get(10, TimeUnit.SECONDS));
            }
            long looks = FdHandle.virtualLooks() - before;
            // The read's EAGAIN is the look: another before registering would find the same, and an fd ready by then
            // is reported by epoll when it is added. One look per wait would make `rounds`.
            assertTrue(looks < rounds, rounds + " waits after an empty read took " + looks + " looks");
        }
    }

    @Test
    void shouldWakeAVirtualWaiterWithAsynchronousCloseWhenAnotherThreadCloses() throws Exception {
        LinuxPipe p = LinuxPipe.open();
        try {
            CompletableFuture<Integer> read = VirtualThreads.call(() -> p.readEnd().read(new byte[1], 0, 1));
            awaitPolled(p.readEnd().handle().fdOrMinusOne());   // waiting: a read begun after the close is refused instead
            assertFalse(read.isDone());
            p.readEnd().close();
            ExecutionException e = assertThrows(ExecutionException.class, () -> read.get(10, TimeUnit.SECONDS));
            assertInstanceOf(AsynchronousCloseException.class, e.getCause());
        } finally {
            p.close();
        }
    }

    @Test
    void shouldKeepWaitingThroughAnInterruptAndReturnWithItSet() throws Exception {
        try (LinuxPipe p = LinuxPipe.open()) {
            CompletableFuture<Thread> started = new CompletableFuture<>();
            CompletableFuture<String> outcome = VirtualThreads.call(() -> {
                started.complete(Thread.currentThread());
                boolean ready = p.readEnd().awaitReadable(Duration.ofSeconds(30));
                return ready + " interrupted=" + Thread.currentThread().isInterrupted();
            });
            Thread waiter = started.get(10, TimeUnit.SECONDS);
            Thread.sleep(200);
            long before = FdHandle.virtualLooks();
            waiter.interrupt();
            Thread.sleep(300);
            assertFalse(outcome.isDone(), "an interrupt does not end the wait");
            // woken by the interrupt, it parked again (the poller had not said the fd was ready), rather than spun on
            // its interrupt status
            assertTrue(FdHandle.virtualLooks() - before <= 5, "looks after the interrupt: " + (FdHandle.virtualLooks() - before));
            p.writeEnd().write(new byte[] {1}, 0, 1);
            assertEquals("true interrupted=true", outcome.get(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void shouldWakeAVirtualWriterWhenTheReaderMakesRoomAndWhenItGoes() throws Exception {
        try (LinuxPipe p = LinuxPipe.open()) {
            int capacity = p.capacity();
            // room: a write of twice the pipe's capacity waits for the reader to drain it (EPOLLOUT)
            CompletableFuture<Integer> written = VirtualThreads.call(() -> {
                p.writeEnd().write(new byte[2 * capacity], 0, 2 * capacity);
                return 2 * capacity;
            });
            byte[] buf = new byte[capacity];
            int read = 0;
            while (read < 2 * capacity) read += p.readEnd().read(buf, 0, buf.length);
            assertEquals(2 * capacity, written.get(10, TimeUnit.SECONDS));
            // no reader: a writer blocked on the full pipe is told (EPOLLERR, which poll and epoll report unasked)
            p.writeEnd().write(new byte[capacity], 0, capacity);
            CompletableFuture<Integer> blocked = VirtualThreads.call(() -> {
                p.writeEnd().write(new byte[1], 0, 1);
                return 1;
            });
            Thread.sleep(200);
            assertFalse(blocked.isDone(), "the pipe is full");
            p.readEnd().close();
            ExecutionException e = assertThrows(ExecutionException.class, () -> blocked.get(10, TimeUnit.SECONDS));
            assertInstanceOf(BrokenPipeException.class, e.getCause());
        }
    }

    @Test
    void shouldServeTwoVirtualThreadsWaitingForTheSameFd() throws Exception {
        try (LinuxPipe p = LinuxPipe.open()) {
            List<CompletableFuture<Integer>> reads = new ArrayList<>();
            for (int i = 0; i < 2; i++) reads.add(VirtualThreads.call(() -> p.readEnd().read(new byte[1], 0, 1)));
            Thread.sleep(200);      // one is registered with the poller; the other, refused, waits without it
            p.writeEnd().write(new byte[] {1, 2}, 0, 2);
            int total = 0;
            for (CompletableFuture<Integer> r : reads) total += r.get(10, TimeUnit.SECONDS);
            assertEquals(2, total, "both readers got a byte");
        }
    }

    @Test
    void shouldTellAVirtualThreadWaitingForAChildThatItEnded() throws Exception {
        try (Subprocess child = Subprocess.builder("sleep", "0.5").stdin(Redirect.discard()).stdout(Redirect.discard()).start()) {
            long before = FdHandle.virtualLooks();
            CompletableFuture<Optional<ExitStatus>> status = VirtualThreads.call(() -> child.waitFor(Duration.ofSeconds(30)));
            assertEquals(Optional.of(ExitStatus.exited(0)), status.get(20, TimeUnit.SECONDS));
            long looks = FdHandle.virtualLooks() - before;
            // a waitFor that answers interrupts need not wake every 50 ms to look for one: a virtual thread's park
            // ends at an interrupt (looking every <= 5 ms was ~140 looks; waking every 50 ms, ~20)
            assertTrue(looks <= 10, "looks at the pidfd while the child slept half a second: " + looks);
        }
    }

    @Test
    void shouldLetWaitersGoOnWithoutThePollerWhenItsEpollWaitFails() throws Exception {
        VirtualThreadPoller failing = VirtualThreadPoller.startForTest();
        VirtualThreadPoller shared = VirtualThreadPoller.replaceSharedForTest(failing);
        try (LinuxPipe quiet = LinuxPipe.open(); LinuxPipe trigger = LinuxPipe.open()) {
            CompletableFuture<Integer> stranded = VirtualThreads.call(() -> quiet.readEnd().read(new byte[1], 0, 1));
            CompletableFuture<Integer> woken = VirtualThreads.call(() -> trigger.readEnd().read(new byte[1], 0, 1));
            // Both registered with the poller: a trigger read that had not waited yet took the byte without it, and
            // the poller, never woken, did not fail.
            awaitPolled(quiet.readEnd().handle().fdOrMinusOne());
            awaitPolled(trigger.readEnd().handle().fdOrMinusOne());
            failing.failNextWaitForTest();
            trigger.writeEnd().write(new byte[] {1}, 0, 1); // the poller wakes this reader, then its epoll_wait fails
            assertEquals(1, woken.get(10, TimeUnit.SECONDS));
            for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10); !failing.failed(); ) {
                assertTrue(System.nanoTime() < end, "the poller did not fail");
                Thread.sleep(10);
            }
            Thread.sleep(100);
            quiet.writeEnd().write(new byte[] {1}, 0, 1);   // seen by the reader's own looks, the poller being gone
            assertEquals(1, stranded.get(10, TimeUnit.SECONDS));
        } finally {
            VirtualThreadPoller.replaceSharedForTest(shared);
            if (failing.failed()) failing.close();      // a live one cannot be stopped (and has failed the test)
        }
    }

    @Test
    void shouldReArmTheFdWithOneEpollCtlPerWaitRatherThanAddAndDeleteIt() throws Exception {
        try (LinuxPipe p = LinuxPipe.open()) {
            int rounds = 10;
            CompletableFuture<Integer> reads = VirtualThreads.call(() -> {
                byte[] b = new byte[1];
                int got = 0;
                for (int i = 0; i < rounds + 1; i++) got += p.readEnd().read(b, 0, 1);
                return got;
            });
            p.writeEnd().write(new byte[] {0}, 0, 1);
            Thread.sleep(100);                          // the first wait has added the fd to the set
            long before = VirtualThreadPoller.epollCtls();
            for (int i = 0; i < rounds; i++) {
                Thread.sleep(50);                       // the reader found the pipe empty and waits
                p.writeEnd().write(new byte[] {1}, 0, 1);
            }
            assertEquals(rounds + 1, reads.get(10, TimeUnit.SECONDS));
            long ctls = VirtualThreadPoller.epollCtls() - before;
            // EPOLL_CTL_MOD re-arms the one-shot registration the last wait left; ADD then DEL would make 2 * rounds
            assertTrue(ctls <= rounds + 2, rounds + " waits made " + ctls + " epoll_ctl calls");
        }
    }

    @Test
    void shouldTakeTheFdOutOfThePollersSetBeforeClosingItWhileADupKeepsItsDescription() throws Exception {
        LinuxPipe p = LinuxPipe.open();
        int dup = -1;
        try {
            FdHandle h = p.readEnd().handle();
            int fd = h.fdOrMinusOne();
            dup = Syscalls.fcntl(fd, linux_h.F_DUPFD_CLOEXEC(), 0);
            // a wait that times out leaves the one shot armed in the set
            assertFalse(VirtualThreads.call(() -> p.readEnd().awaitReadable(Duration.ofMillis(100))).get(10, TimeUnit.SECONDS));
            assertTrue(polledFds().contains(fd), "the wait left the fd in the set");
            p.readEnd().close();
            // the description lives on in the dup, so only a DEL before the close takes it out
            assertFalse(polledFds().contains(fd), "fd " + fd + " was closed but is still in the poller's set");
            // the same description under the same number again: its first wait adds it, which a stale entry refuses
            int again = Syscalls.fcntl(dup, linux_h.F_DUPFD_CLOEXEC(), fd);
            try (FdReadEnd end = new FdReadEnd(FdHandle.own(again, "the read end again"))) {
                CompletableFuture<Integer> read = VirtualThreads.call(() -> end.read(new byte[1], 0, 1));
                awaitPolled(again);     // the reader found the pipe empty and its wait added the fd: only then write
                p.writeEnd().write(new byte[] {1}, 0, 1);
                assertEquals(1, read.get(10, TimeUnit.SECONDS));
            }
        } finally {
            if (dup >= 0) Syscalls.close(dup);
            p.close();
        }
    }

    @Test
    void shouldTakeAnFdLentToAChildOutOfThePollersSetWhenItIsClosedHere() throws Exception {
        int[] sv = LinuxSockets.socketpair();
        FdHandle mine = FdHandle.own(sv[0], "socket lent to a child");
        try (FdWriteEnd peer = new FdWriteEnd(FdHandle.own(sv[1], "peer socket"));
             FdReadEnd end = new FdReadEnd(mine);
             Subprocess child = Subprocess.builder("sleep", "30").stdin(Redirect.from(end)).stdout(Redirect.discard()).start()) {
            assertTrue(mine.lent(), "a socket's description is shared with the child");
            int fd = mine.fdOrMinusOne();
            CompletableFuture<Integer> read = VirtualThreads.call(() -> end.read(new byte[1], 0, 1));
            awaitPolled(fd);        // a byte written before the reader waited would be read without a wait
            peer.write(new byte[] {1}, 0, 1);
            assertEquals(1, read.get(10, TimeUnit.SECONDS));
            assertTrue(polledFds().contains(fd), "the wait left the fd in the set");
            end.close();
            assertFalse(polledFds().contains(fd), "fd " + fd + " is closed here but still in the poller's set");
            child.destroy(Duration.ofSeconds(5));
        }
    }

    @Test
    void shouldIgnoreAnEventForAWaitThatTimedOutAndWakeTheNextOne() throws Exception {
        try (LinuxPipe p = LinuxPipe.open()) {
            for (int i = 0; i < 3; i++) {
                // armed and left: the byte written next fires it for nobody
                assertFalse(VirtualThreads.call(() -> p.readEnd().awaitReadable(Duration.ofMillis(50))).get(10, TimeUnit.SECONDS));
                p.writeEnd().write(new byte[] {1}, 0, 1);
                Thread.sleep(50);
                assertTrue(VirtualThreads.call(() -> p.readEnd().awaitReadable(Duration.ofSeconds(5))).get(10, TimeUnit.SECONDS));
                assertEquals(1, VirtualThreads.call(() -> p.readEnd().read(new byte[1], 0, 1)).get(10, TimeUnit.SECONDS));
            }
        }
    }

    @Test
    void shouldServeManySequentialWaitsOnFreshPipesWhoseNumbersComeBack() throws Exception {
        for (int i = 0; i < 200; i++) {
            try (LinuxPipe p = LinuxPipe.open()) {
                CompletableFuture<Integer> read = VirtualThreads.call(() -> p.readEnd().read(new byte[1], 0, 1));
                if (i % 20 == 0) Thread.sleep(20); else Thread.yield();
                p.writeEnd().write(new byte[] {1}, 0, 1);
                assertEquals(1, read.get(10, TimeUnit.SECONDS), "round " + i);
            }
        }
    }

    /**
     * A handle whose fd was replaced behind its back (dup2 over it, which drops the old description's entry from the
     * poller's set) still waits: the MOD its owner believes in fails ENOENT, and the poller adds the fd instead. It
     * used to fail that wait, and every later one, with an IOException.
     */
    @Test
    void shouldStillWaitOnAnFdWhoseEntryTheKernelDroppedBehindTheOwnersBack() throws Exception {
        try (LinuxPipe first = LinuxPipe.open(); LinuxPipe second = LinuxPipe.open()) {
            int fd = first.readEnd().handle().fdOrMinusOne();
            assertFalse(VirtualThreads.call(() -> first.readEnd().awaitReadable(Duration.ofMillis(50))).get(10, TimeUnit.SECONDS));
            assertTrue(polledFds().contains(fd), "the wait left the fd in the set");
            // The number now holds the second pipe's read end; the first's description had no other fd, so it is
            // released and its entry leaves the set with it.
            assertEquals(fd, linux_h.dup3(second.readEnd().handle().fdOrMinusOne(), fd, linux_h.O_CLOEXEC()));
            assertFalse(polledFds().contains(fd), "the kernel kept the replaced description's entry");
            CompletableFuture<Boolean> ready = VirtualThreads.call(() -> first.readEnd().awaitReadable(Duration.ofSeconds(10)));
            awaitPolled(fd);
            second.writeEnd().write(new byte[] {1}, 0, 1);
            assertTrue(ready.get(10, TimeUnit.SECONDS), "the wait on the replaced fd did not see the byte");
        }
    }

    /**
     * Returns once {@code fd} is in the shared poller's set: a reader's wait has added it. A sleep instead raced the
     * reader on a loaded machine; a reader that had not waited yet read the byte without a wait, and the test failed.
     */
    private static void awaitPolled(int fd) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!polledFds().contains(fd)) {
            if (System.nanoTime() - deadline > 0) throw new AssertionError("no wait added fd " + fd + " to the poller's set in 10 s");
            Thread.sleep(5);
        }
    }

    /** The fds in the shared poller's epoll set, as {@code /proc/self/fdinfo} lists them ({@code tfd:} lines). */
    private static Set<Integer> polledFds() throws Exception {
        int epfd = VirtualThreadPoller.shared().epollFdForTest();
        return Files.readAllLines(Path.of("/proc/self/fdinfo/" + epfd)).stream()
                .filter(l -> l.startsWith("tfd:"))
                .map(l -> Integer.parseInt(l.substring(4).trim().split("\\s+")[0]))
                .collect(Collectors.toSet());
    }
}
