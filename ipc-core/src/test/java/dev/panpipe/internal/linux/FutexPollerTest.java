package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Virtual threads waiting on futex words through a {@link FutexPoller} of the test's own: woken by a
 * {@code FUTEX_WAKE} or a change of the word, not by looking, and never left asleep by a timeout, an interrupt or
 * memory closed under them. Each waiter's outcome is what {@link FutexPoller#await} returned, never a guess from time.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FutexPollerTest {
    private FutexPoller poller;
    private Arena arena;

    @BeforeEach
    void start() throws Exception {
        assumeTrue(FutexPoller.shared() != null, "futex_waitv is refused here (Linux before 5.16, or a seccomp filter): virtual threads wait without the futex poller");
        poller = FutexPoller.startForTest();
        arena = Arena.ofShared();
    }

    @AfterEach
    void stop() {
        if (poller != null) poller.close();
        if (arena != null) arena.close();
    }

    private CompletableFuture<Integer> waitOn(MemorySegment word, int expected, long nanos) {
        return waitOn(poller, word, expected, nanos);
    }

    private static CompletableFuture<Integer> waitOn(FutexPoller p, MemorySegment word, int expected, long nanos) {
        CompletableFuture<Integer> outcome = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try {
                outcome.complete(p.await(word, expected, nanos));
            } catch (Throwable t) {
                outcome.completeExceptionally(t);
            }
        });
        return outcome;
    }

    /** Until {@code n} waiters are registered; they park right after. */
    private void awaitRegistered(int n) throws InterruptedException {
        awaitRegistered(poller, n);
    }

    private static void awaitRegistered(FutexPoller p, int n) throws InterruptedException {
        while (p.registeredForTest() < n) Thread.sleep(1);
    }

    @Test
    void shouldWakeAWaiterOnAFutexWakeOfItsWordWhoseValueDidNotChange() throws Exception {
        MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
        CompletableFuture<Integer> w = waitOn(word, 0, -1);
        awaitRegistered(1);
        Thread.sleep(50);                        // into futex_waitv, most likely; either way the wake must reach it
        while (!w.isDone()) {
            Syscalls.futex_wake(word, 1);        // the value stays 0: only the wake can end the wait
            Thread.sleep(5);
        }
        assertEquals(Syscalls.FUTEX_WOKEN, w.get());
        assertEquals(0, poller.registeredForTest());
    }

    @Test
    void shouldWakeAWaiterWhoseWordChangedBeforeThePollerSleptOnIt() throws Exception {
        MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
        word.set(ValueLayout.JAVA_INT, 0, 1);    // already not what it expects, and nobody will wake it
        assertEquals(Syscalls.FUTEX_WOKEN, waitOn(word, 0, -1).get());
    }

    @Test
    void shouldWakeAWaiterWhoseWordChangesWithoutAWakeOnceThePollerLooksAgain() throws Exception {
        MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
        MemorySegment other = arena.allocate(ValueLayout.JAVA_INT);
        CompletableFuture<Integer> w = waitOn(word, 0, -1);
        awaitRegistered(1);
        word.set(ValueLayout.JAVA_INT, 0, 7);    // no wake of this word: the poller learns it from EAGAIN
        CompletableFuture<Integer> second = waitOn(other, 0, -1);   // makes the poller build its vector again
        assertEquals(Syscalls.FUTEX_WOKEN, w.get());
        other.set(ValueLayout.JAVA_INT, 0, 1);
        Syscalls.futex_wake(other, 1);
        assertEquals(Syscalls.FUTEX_WOKEN, second.get());
    }

    @Test
    void shouldTimeOutAWaiterNobodyWakes() throws Exception {
        MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
        assertEquals(Syscalls.FUTEX_TIMED_OUT, waitOn(word, 0, 30_000_000L).get());
        assertEquals(0, poller.registeredForTest());
    }

    @Test
    void shouldWakeEachOfManyWaitersOnManyWordsAndRefuseOnesBeyondTheVector() throws Exception {
        int n = linux_h.FUTEX_WAITV_MAX() - 1;    // one entry is the poller's own
        MemorySegment words = arena.allocate(ValueLayout.JAVA_INT, n);
        List<CompletableFuture<Integer>> waiters = new ArrayList<>();
        for (int i = 0; i < n; i++) waiters.add(waitOn(words.asSlice(i * 4L, 4), 0, -1));
        awaitRegistered(n);
        MemorySegment extra = arena.allocate(ValueLayout.JAVA_INT);
        assertEquals(FutexPoller.NOT_WATCHED, waitOn(extra, 0, -1).get(), "a full table takes no more");
        for (int i = n - 1; i >= 0; i--) {
            MemorySegment w = words.asSlice(i * 4L, 4);
            w.set(ValueLayout.JAVA_INT, 0, 1);
            Syscalls.futex_wake(w, Integer.MAX_VALUE);
            assertEquals(Syscalls.FUTEX_WOKEN, waiters.get(i).get(), "waiter " + i);
        }
    }

    @Test
    void shouldWakeEveryWaiterOnOneWordOnOneWakeOfAll() throws Exception {
        MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
        List<CompletableFuture<Integer>> waiters = new ArrayList<>();
        for (int i = 0; i < 5; i++) waiters.add(waitOn(word, 0, -1));
        awaitRegistered(5);
        Thread.sleep(50);
        // The value does not change: the poller learns of the wake from futex_waitv alone, which names one entry.
        while (!waiters.stream().allMatch(CompletableFuture::isDone)) {
            Syscalls.futex_wake(word, Integer.MAX_VALUE);
            Thread.sleep(5);
        }
        for (CompletableFuture<Integer> w : waiters) assertEquals(Syscalls.FUTEX_WOKEN, w.get());
    }

    @Test
    void shouldEndTheWaitOfAnInterruptedWaiterWithItsInterruptStatusSet() throws Exception {
        MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
        CompletableFuture<Boolean> interrupted = new CompletableFuture<>();
        Thread t = Thread.ofVirtual().start(() -> {
            poller.await(word, 0, -1);
            interrupted.complete(Thread.currentThread().isInterrupted());
        });
        awaitRegistered(1);
        t.interrupt();
        assertTrue(interrupted.get());
        t.join();
        assertEquals(0, poller.registeredForTest());
    }

    @Test
    void shouldWakeAWaiterWhoseMemoryIsClosedUnderItWithoutTouchingIt() throws Exception {
        Arena own = Arena.ofShared();
        MemorySegment word = own.allocate(ValueLayout.JAVA_INT);
        CompletableFuture<Integer> w = waitOn(word, 0, -1);
        awaitRegistered(1);
        own.close();                              // freed: the poller may only find its segment closed
        MemorySegment other = arena.allocate(ValueLayout.JAVA_INT);
        CompletableFuture<Integer> second = waitOn(other, 0, 20_000_000L);   // the poller looks at every word again
        assertEquals(Syscalls.FUTEX_WOKEN, w.get());
        assertEquals(Syscalls.FUTEX_TIMED_OUT, second.get());
        assertTrue(!poller.failed(), "the poller goes on");
    }

    @Test
    void shouldRefuseAWordTheKernelWouldRefuseWithoutFailingThePoller() throws Exception {
        MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
        CompletableFuture<Integer> w = waitOn(word, 0, -1);
        awaitRegistered(1);
        // futex_waitv answers EINVAL for the whole vector if one word is not 4-byte aligned; a heap segment's
        // "address" is an offset into its array (EFAULT, or someone else's memory).
        MemorySegment unaligned = arena.allocate(8, 8).asSlice(1, 4);
        assertEquals(FutexPoller.NOT_WATCHED, waitOn(unaligned, 0, -1).get(), "a word not 4-byte aligned");
        assertEquals(FutexPoller.NOT_WATCHED, waitOn(MemorySegment.ofArray(new int[1]), 0, -1).get(), "a heap word");
        assertEquals(FutexPoller.NOT_WATCHED, waitOn(word.asSlice(0, 2), 0, -1).get(), "a word shorter than 4 bytes");
        CompletableFuture<Integer> next = waitOn(arena.allocate(ValueLayout.JAVA_INT), 0, 20_000_000L);
        assertEquals(Syscalls.FUTEX_TIMED_OUT, next.get(), "the poller still serves others");
        assertTrue(!poller.failed(), "the poller goes on");
        word.set(ValueLayout.JAVA_INT, 0, 1);
        Syscalls.futex_wake(word, 1);
        assertEquals(Syscalls.FUTEX_WOKEN, w.get());
    }

    @Test
    void shouldWakeAWaiterWhoseFileAPeerTruncatedAndGoOn() throws Exception {
        int fd = Syscalls.memfd_create(arena.allocateFrom("futex-poller-test"), linux_h.MFD_CLOEXEC());
        MemorySegment mapping = null;
        try {
            Syscalls.ftruncate(fd, 4096);
            mapping = Syscalls.mmap(MemorySegment.NULL, 4096, linux_h.PROT_READ() | linux_h.PROT_WRITE(),
                    linux_h.MAP_SHARED(), fd, 0).reinterpret(4096);
            CompletableFuture<Integer> w = waitOn(mapping, 0, -1);
            awaitRegistered(1);
            // As a peer shrinking the file would: the page is gone from the mapping, and a read of it is a SIGBUS.
            Syscalls.ftruncate(fd, 0);
            MemorySegment other = arena.allocate(ValueLayout.JAVA_INT);
            CompletableFuture<Integer> second = waitOn(other, 0, 20_000_000L);   // the poller looks at every word again
            assertEquals(FutexPoller.NOT_WATCHED, w.get(), "refused: its own look meets the fault");
            assertEquals(Syscalls.FUTEX_TIMED_OUT, second.get());
            assertTrue(!poller.failed(), "the poller goes on");
        } finally {
            if (mapping != null) Syscalls.munmap(mapping, 4096);
            Syscalls.close(fd);
        }
    }

    @Test
    void shouldLetWaitsDoWithoutASharedPollerThatCouldNotStartAndTryAgainLater() throws Exception {
        assertTriedAgainASecondLater(() ->
                FutexPoller.startFailureForTest = new OutOfMemoryError("unable to create native thread (a test's)"));
    }

    @Test
    void shouldTryAgainASecondLaterAfterAStartWhoseProbeFoundNoMemory() throws Exception {
        assertTriedAgainASecondLater(() ->
                FutexPoller.probeFailureForTest = SyscallException.of("futex_waitv", Errno.ENOMEM));   // not a refusal
    }

    /** A shared poller whose start fails as {@code failure} makes it: no poller, none tried again at once, one a second later. */
    private static void assertTriedAgainASecondLater(Runnable failure) throws Exception {
        FutexPoller before = FutexPoller.replaceSharedForTest(null);
        FutexPoller made = null;
        try {
            failure.run();
            assertEquals(null, FutexPoller.shared(), "a poller that could not start is no poller, not an error of the wait");
            FutexPoller.startFailureForTest = null;
            FutexPoller.probeFailureForTest = null;
            assertEquals(null, FutexPoller.shared(), "no new try on each wait");
            Thread.sleep(1100);
            made = FutexPoller.shared();
            assertTrue(made != null && made != before, "tried again a second later");
        } finally {
            FutexPoller.startFailureForTest = null;
            FutexPoller.probeFailureForTest = null;
            FutexPoller.replaceSharedForTest(before);
            if (made != null) made.close();
        }
    }

    @Test
    void shouldNeverTryAgainOnceTheProbeIsRefused() throws Exception {
        FutexPoller before = FutexPoller.replaceSharedForTest(null);
        try {
            FutexPoller.probeFailureForTest = SyscallException.of("futex_waitv", Errno.EPERM);   // a seccomp filter
            assertEquals(null, FutexPoller.shared());
            FutexPoller.probeFailureForTest = null;
            Thread.sleep(1100);
            assertEquals(null, FutexPoller.shared(), "a refusal does not change: never tried again");
        } finally {
            FutexPoller.probeFailureForTest = null;
            FutexPoller.replaceSharedForTest(before);
        }
    }

    @Test
    void shouldReplaceAFailedSharedPollerASecondAfterItsStartOnceItsThreadEndedAndReportOnlyTheFirstFailure() throws Exception {
        FutexPoller before = FutexPoller.replaceSharedForTest(null);
        Thread.UncaughtExceptionHandler handler = Thread.getDefaultUncaughtExceptionHandler();
        List<Throwable> reported = new CopyOnWriteArrayList<>();
        Thread.setDefaultUncaughtExceptionHandler((thread, e) -> reported.add(e));
        FutexPoller first = null;
        FutexPoller second = null;
        try {
            long started = System.nanoTime();
            first = FutexPoller.shared();
            assertTrue(first != null && first != before);
            MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
            CompletableFuture<Integer> w = waitOn(first, word, 0, -1);
            awaitRegistered(first, 1);
            first.failNextWaitForTest();
            assertEquals(Syscalls.FUTEX_WOKEN, w.get(), "unparked to see the failure");
            assertTrue(first.failed());
            if (System.nanoTime() - started < 900_000_000L) {   // else a slow machine's second has passed already
                assertEquals(null, FutexPoller.shared(), "not replaced within a second of its start");
            }
            first.threadForTest().join();                      // it still reports its failure after the sweep
            Thread.sleep(1100);
            second = FutexPoller.shared();
            assertTrue(second != null && second != first && !second.failed(), "replaced a second after its start");
            assertTrue(!first.threadForTest().isAlive() && first.releasedForTest(), "the failed one ended, its memory freed");

            CompletableFuture<Integer> next = waitOn(second, word, 0, -1);
            awaitRegistered(second, 1);
            word.set(ValueLayout.JAVA_INT, 0, 1);
            Syscalls.futex_wake(word, 1);
            assertEquals(Syscalls.FUTEX_WOKEN, next.get(), "the replacement serves waits");

            second.failNextWaitForTest();
            second.threadForTest().join();
            assertTrue(second.failed());
            assertEquals(1, reported.size(), "a replacement failing again is not reported each second: " + reported);
        } finally {
            Thread.setDefaultUncaughtExceptionHandler(handler);
            FutexPoller.replaceSharedForTest(before);
            if (first != null && !first.releasedForTest()) first.close();
            if (second != null && !second.releasedForTest()) second.close();
        }
    }

    @Test
    void shouldFreeAFailedSharedPollerOnlyOnceItsLastWaiterHasLeft() throws Exception {
        FutexPoller before = FutexPoller.replaceSharedForTest(null);
        Thread.UncaughtExceptionHandler handler = Thread.getDefaultUncaughtExceptionHandler();
        Thread.setDefaultUncaughtExceptionHandler((thread, e) -> { });
        FutexPoller failed = FutexPoller.shared();
        FutexPoller replacement = null;
        CountDownLatch left = new CountDownLatch(1);
        CountDownLatch goOn = new CountDownLatch(1);
        CompletableFuture<Integer> outcome = new CompletableFuture<>();
        Thread virtual = null;
        try {
            assertTrue(failed != null && failed != before);
            // Holds a waiter that leaves unfired (an interrupt) before its kick of the control word.
            failed.afterLeavingForTest(() -> {
                left.countDown();
                Uninterruptibly.await(goOn);
            });
            MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
            virtual = Thread.ofVirtual().start(() -> {
                try {
                    outcome.complete(failed.await(word, 0, -1));
                } catch (Throwable t) {
                    outcome.completeExceptionally(t);
                }
            });
            awaitRegistered(failed, 1);
            virtual.interrupt();
            left.await();
            failed.failNextWaitForTest();
            failed.threadForTest().join();
            Thread.sleep(1100);
            assertEquals(null, FutexPoller.shared(), "not replaced while a waiter may still kick its control word");
            assertTrue(!failed.releasedForTest());
            goOn.countDown();
            assertEquals(Syscalls.FUTEX_WOKEN, outcome.get(), "the leaving waiter's kick found its memory");
            virtual.join();
            for (long end = System.nanoTime() + 5_000_000_000L; replacement == null && System.nanoTime() - end < 0; ) {
                Thread.sleep(5);
                replacement = FutexPoller.shared();
            }
            assertTrue(replacement != null && failed.releasedForTest(), "replaced, and freed, once it has left");
        } finally {
            goOn.countDown();
            if (virtual != null) virtual.join();
            Thread.setDefaultUncaughtExceptionHandler(handler);
            FutexPoller.replaceSharedForTest(before);
            if (failed != null && !failed.releasedForTest()) failed.close();
            if (replacement != null) replacement.close();
        }
    }

    @Test
    void shouldKeepServingWaitersThroughENOMEMFromFutexWaitv() throws Exception {
        MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
        CompletableFuture<Integer> w = waitOn(word, 0, -1);
        awaitRegistered(1);
        poller.failWithoutMemoryForTest(Integer.MAX_VALUE);   // as long as the shortage lasts
        awaitNoMemoryLeft(Integer.MAX_VALUE - 3);
        assertTrue(!poller.failed(), "ENOMEM fails nobody");
        word.set(ValueLayout.JAVA_INT, 0, 1);                  // no wake: seen by a vector built after a pause
        assertEquals(Syscalls.FUTEX_WOKEN, w.get());
        assertTrue(!poller.failed(), "the poller goes on through the shortage");

        MemorySegment other = arena.allocate(ValueLayout.JAVA_INT);
        CompletableFuture<Integer> second = waitOn(other, 0, -1);
        awaitRegistered(1);
        poller.failWithoutMemoryForTest(20);                   // a shortage that passes
        awaitNoMemoryLeft(0);
        while (!second.isDone()) {
            Syscalls.futex_wake(other, 1);                     // the value stays 0: only the wake can end the wait
            Thread.sleep(5);
        }
        assertEquals(Syscalls.FUTEX_WOKEN, second.get(), "in futex_waitv again once memory is found");
        assertTrue(!poller.failed(), "the poller goes on");
    }

    /** A shortage that lasts a second is said (once: a flag), and the poller serves on through it. */
    @Test
    void shouldSayThatENOMEMHasLastedASecond() throws Exception {
        MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
        CompletableFuture<Integer> w = waitOn(word, 0, -1);
        awaitRegistered(1);
        long start = System.nanoTime();
        poller.failWithoutMemoryForTest(Integer.MAX_VALUE);
        long end = start + 10_000_000_000L;
        while (!poller.shortageLoggedForTest() && System.nanoTime() - end < 0) Thread.sleep(10);
        assertTrue(poller.shortageLoggedForTest(), "not said within 10 s");
        assertTrue(System.nanoTime() - start >= 1_000_000_000L, "said before a second had passed");
        word.set(ValueLayout.JAVA_INT, 0, 1);
        assertEquals(Syscalls.FUTEX_WOKEN, w.get(), "served through the shortage");
        poller.failWithoutMemoryForTest(0);
        assertTrue(!poller.failed(), "the poller goes on");
    }

    /** Until the poller has answered ENOMEM so often that only {@code left} remain, or it failed, or 5 s passed. */
    private void awaitNoMemoryLeft(int left) throws InterruptedException {
        long end = System.nanoTime() + 5_000_000_000L;
        while (poller.noMemoryLeftForTest() > left && !poller.failed() && System.nanoTime() - end < 0) Thread.sleep(1);
    }

    @Test
    void shouldPassOnAWakeOfOneThatReachedTheEntryOfAWaiterThatHasLeft() throws Exception {
        MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
        CountDownLatch left = new CountDownLatch(1);
        CountDownLatch goOn = new CountDownLatch(1);
        // Holds the leaving waiter, no longer waiting, with its entry still in the kernel's vector: the poller has
        // not been told to build it again.
        poller.afterLeavingForTest(() -> {
            left.countDown();
            Uninterruptibly.await(goOn);
        });
        Thread virtual = Thread.ofVirtual().start(() -> poller.await(word, 0, -1));
        try {
            awaitRegistered(1);
            while (!poller.vectorHoldsForTest(word) || !inSyscall(poller.tidForTest(), linux_h.SYS_futex_waitv())) {
                Thread.sleep(1);
            }
            // A platform sleeper on the same word, queued behind the poller's entry: a wake of one reaches the
            // poller's entry first.
            CompletableFuture<Integer> platform = new CompletableFuture<>();
            CompletableFuture<Integer> platformTid = new CompletableFuture<>();
            Thread sleeper = Thread.ofPlatform().start(() -> {
                platformTid.complete(Syscalls.gettid());
                try {
                    platform.complete(Syscalls.futex_wait(word, 0, 3_000_000_000L));
                } catch (Throwable t) {
                    platform.completeExceptionally(t);
                }
            });
            // In futex(2) on this word: a JVM thread is in futex(2) on its own locks too (a safepoint, say), and a
            // wake sent before the sleeper waits on the word reaches only the poller's entry, and nobody after it.
            while (!inSyscall(platformTid.get(), linux_h.SYS_futex(), word.address())) Thread.sleep(1);
            virtual.interrupt();
            left.await();
            Syscalls.futex_wake(word, 1);            // the value stays 0: only this wake, passed on, ends the sleep
            assertEquals(Syscalls.FUTEX_WOKEN, platform.get(), "the wake the poller took for nobody reached the sleeper it was for");
            sleeper.join();
        } finally {
            goOn.countDown();
            virtual.join();
        }
    }

    /** Whether kernel thread {@code tid} of this process is in system call {@code nr} ({@code /proc}'s word). */
    private static boolean inSyscall(int tid, long nr) throws java.io.IOException {
        String s = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/task/" + tid + "/syscall"));
        return s.startsWith(nr + " ");
    }

    /** Whether kernel thread {@code tid} of this process is in system call {@code nr} with {@code firstArgument}. */
    private static boolean inSyscall(int tid, long nr, long firstArgument) throws java.io.IOException {
        String s = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/task/" + tid + "/syscall"));
        return s.startsWith(nr + " 0x" + Long.toHexString(firstArgument) + " ");
    }

    @Test
    void shouldUnparkEveryWaiterAndRefuseNewOnesWhenThePollerFails() throws Exception {
        MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
        Thread.UncaughtExceptionHandler quiet = (thread, e) -> { };
        CompletableFuture<Integer> w = waitOn(word, 0, -1);
        awaitRegistered(1);
        Thread.UncaughtExceptionHandler before = Thread.getDefaultUncaughtExceptionHandler();
        Thread.setDefaultUncaughtExceptionHandler(quiet);
        try {
            poller.failNextWaitForTest();
            assertEquals(Syscalls.FUTEX_WOKEN, w.get());
            assertTrue(poller.failed());
            assertEquals(FutexPoller.NOT_WATCHED, waitOn(word, 0, -1).get());
        } finally {
            Thread.setDefaultUncaughtExceptionHandler(before);
        }
    }
}
