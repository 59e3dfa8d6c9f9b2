package dev.panpipe.zerocopy.shared;

import dev.panpipe.process.Subprocess;
import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.ThisJvm;
import dev.panpipe.zerocopy.internal.Processes;
import dev.panpipe.zerocopy.internal.SharedRegion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shared lock's semantics within one process, through one handle or two mappings of the same memory. */
@Timeout(60)
@ExtendWith(NoLeaks.class)
class SharedLockTest {

    @Test
    void shouldRefuseToBeTakenTwiceByOneThreadOrUnlockedByAnother() throws Exception {
        try (SharedLock lock = SharedLock.create("strict")) {
            lock.lock();
            assertTrue(lock.isHeldByCurrentThread());
            assertEquals(ProcessHandle.current().pid(), lock.ownerPid());
            IllegalStateException twice = assertThrows(IllegalStateException.class, lock::lock);
            assertTrue(twice.getMessage().contains("not reentrant"), twice.getMessage());
            assertThrows(IllegalStateException.class, lock::tryLock);
            AtomicReference<Throwable> other = new AtomicReference<>();
            Thread.ofPlatform().start(() -> {
                try {
                    lock.unlock();
                } catch (Throwable t) {
                    other.set(t);
                }
            }).join();
            assertInstanceOf(IllegalMonitorStateException.class, other.get());
            lock.unlock();
            assertFalse(lock.isLocked());
            assertThrows(IllegalMonitorStateException.class, lock::unlock);
        }
    }

    @Test
    void shouldWaitForTheHolderOfASecondMappingAndTimeOut() throws Exception {
        try (SharedLock a = SharedLock.create("two-maps"); SharedLock b = SharedLock.attach(Mappings.second(a.nativeHandle()))) {
            assertTrue(b.toString().contains("two-maps"), "the attached lock reads its name from the header: " + b);
            a.lock();
            assertTrue(b.isLocked());
            long t0 = System.nanoTime();   // before the wait starts: the thread may run it before this thread reads the clock
            CompletableFuture<Boolean> timed = CompletableFuture.supplyAsync(() -> tryLock(b, Duration.ofMillis(150)),
                    r -> Thread.ofPlatform().start(r));
            assertFalse(timed.get(10, TimeUnit.SECONDS), "a live owner's lock is not taken over");
            assertTrue(System.nanoTime() - t0 >= TimeUnit.MILLISECONDS.toNanos(100));

            CompletableFuture<Boolean> waiting = CompletableFuture.supplyAsync(() -> {
                boolean got = tryLock(b, Duration.ofSeconds(20));
                b.unlock();
                return got;
            }, r -> Thread.ofPlatform().start(r));
            Thread.sleep(50);
            assertFalse(waiting.isDone());
            a.unlock();                                            // wakes the sleeper through futex_wake
            assertTrue(waiting.get(10, TimeUnit.SECONDS));
            assertEquals(0, a.recoveries());
        }
    }

    /**
     * Two handles of one lock in one process (a block attached twice): the word names the process either
     * way, so a thread that held it through one and asked through the other used to wait for itself for
     * ever. It is refused as through one handle; another thread of the process still waits, as it should.
     */
    @Test
    void shouldRefuseAThreadThatHoldsItThroughAnotherHandleRatherThanWaitForItself() throws Exception {
        try (SharedLock a = SharedLock.create("two-handles"); SharedLock b = SharedLock.attach(Mappings.second(a.nativeHandle()))) {
            a.lock();
            IllegalStateException timed = assertThrows(IllegalStateException.class, () -> b.tryLock(Duration.ofSeconds(2)));
            assertTrue(timed.getMessage().contains("another handle"), timed.getMessage());
            assertThrows(IllegalStateException.class, b::lock);
            assertThrows(IllegalStateException.class, b::tryLock);
            assertFalse(b.isHeldByCurrentThread(), "held through a, not b");

            CompletableFuture<Boolean> other = CompletableFuture.supplyAsync(() -> {
                boolean got = tryLock(b, Duration.ofSeconds(20));
                b.unlock();
                return got;
            }, r -> Thread.ofPlatform().start(r));
            Thread.sleep(50);
            assertFalse(other.isDone(), "another thread of this process waits for the holder");
            a.unlock();
            assertTrue(other.get(10, TimeUnit.SECONDS));
            assertTrue(b.tryLock(), "free again, for this thread through either handle");
            b.unlock();
            assertEquals(0, a.recoveries());
        }
    }

    /**
     * The holder's thread id is recorded beside its pid, and an earlier process that had this process's pid
     * may well have had a thread with this very id (ids are small numbers): its start time tells it apart,
     * so this thread takes over from it rather than being told it holds the lock already.
     */
    @Test
    void shouldTakeOverFromAnEarlierProcessWithThisPidAndThisThreadsId() throws Exception {
        assertTrue(Processes.SELF_START_TIME > 0, "this process's start time");
        try (SharedLock lock = SharedLock.create("own-pid-own-thread"); SharedMemory other = Mappings.second(lock.nativeHandle())) {
            long base = BlockLayout.LOCK_OFFSET;
            other.segment().set(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_THREAD,
                    SharedLock.threadRecord(Processes.SELF, Thread.currentThread().threadId()));
            other.segment().set(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_START_TIME, Processes.SELF_START_TIME - 1);
            other.segment().set(ValueLayout.JAVA_INT, base + SharedLock.OWNER_PID, Processes.SELF);
            other.segment().set(ValueLayout.JAVA_INT, base + SharedLock.WORD, Processes.SELF);
            LockOwnerDiedException e = assertThrows(LockOwnerDiedException.class, () -> lock.tryLock(Duration.ofSeconds(5)));
            assertEquals(Processes.SELF, e.ownerPid());
            assertTrue(lock.isHeldByCurrentThread());
            lock.unlock();
            assertEquals(1, lock.recoveries());
        }
    }

    /**
     * Thread ids repeat across JVMs. While the lock passes from another thread of this process to a thread of
     * another process that has this thread's id, this process's start time (which an unlock leaves) can still
     * stand beside the new holder's thread record: that state, left as it is. This thread holds nothing, so
     * it is told the lock is taken, not that it holds it already. (The race itself was seen in about one
     * tryLock in 12,000 while a thread of each of two processes with one id churned the lock.)
     */
    @Test
    void shouldNotTakeAThreadOfAnotherProcessWithThisThreadsIdForThisThread() throws Exception {
        int otherPid = (int) ProcessHandle.current().parent().orElseThrow().pid();
        try (SharedLock lock = SharedLock.create("same-thread-id"); SharedMemory other = Mappings.second(lock.nativeHandle())) {
            long base = BlockLayout.LOCK_OFFSET;
            other.segment().set(ValueLayout.JAVA_INT, base + SharedLock.WORD, Processes.SELF);    // read before the hand-over
            other.segment().set(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_START_TIME, Processes.SELF_START_TIME);
            other.segment().set(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_THREAD,
                    SharedLock.threadRecord(otherPid, Thread.currentThread().threadId()));
            assertFalse(lock.tryLock(), "held by another thread: not taken, and not \"held by this thread\"");
            assertFalse(lock.isHeldByCurrentThread());
            other.segment().set(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_THREAD,
                    SharedLock.threadRecord(Processes.SELF, Thread.currentThread().threadId()));
            IllegalStateException e = assertThrows(IllegalStateException.class, lock::tryLock, "this thread's own record");
            assertTrue(e.getMessage().contains("through another handle"), e.getMessage());
            other.segment().set(ValueLayout.JAVA_INT, base + SharedLock.WORD, 0);
        }
    }

    /**
     * A lock word that names a thread of a process, not a process (the owner's pid was handed to a thread
     * since, or the word was written over), used to make every waiter wait for ever: pidfd_open says
     * ENOENT (EINVAL before Linux 6.9), which was taken for "cannot tell". No process has that pid, so its
     * owner is gone and the waiter takes the lock over.
     */
    /**
     * The owner's pid alone cannot tell a live owner from a later process that was given its pid; the start
     * time recorded beside it can. A lock held by a live process with the recorded start time is waited for;
     * the same pid with another start time is a recycled pid, whose owner has ended: taken over.
     */
    @Test
    void shouldTellALiveOwnerFromALaterProcessWithItsPidByTheRecordedStartTime() throws Exception {
        try (SharedLock lock = SharedLock.create("recycled"); SharedMemory other = Mappings.second(lock.nativeHandle());
             Subprocess sleeper = Subprocess.builder(List.of("sleep", "30")).destroyGrace(Duration.ofMillis(100)).start()) {
            int pid = (int) sleeper.pid();
            long startTime = Processes.startTime(pid);
            assertTrue(startTime > 0, "start time of " + pid);
            long base = BlockLayout.LOCK_OFFSET;
            other.segment().set(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_START_TIME, startTime);
            other.segment().set(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_PID, record(pid, startTime));
            other.segment().set(ValueLayout.JAVA_INT, base + SharedLock.WORD, pid);
            // 120 ms: past a waiter's first look at the owner, 50 ms into the wait
            assertFalse(lock.tryLock(Duration.ofMillis(120)), "held by a live owner");
            assertEquals(pid, lock.ownerPid());
            other.segment().set(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_START_TIME, startTime - 1);
            other.segment().set(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_PID, record(pid, startTime - 1));
            LockOwnerDiedException e = assertThrows(LockOwnerDiedException.class, () -> lock.tryLock(Duration.ofSeconds(5)));
            assertEquals(pid, e.ownerPid());
            assertTrue(lock.isHeldByCurrentThread());
            lock.unlock();
            assertEquals(1, lock.recoveries());
            assertTrue(sleeper.isAlive(), "the process with the recycled pid is left alone");
        }
    }

    /**
     * A waiter that looks at the owner reads the record's pid and start time one after the other, while the lock
     * changes hands between two live processes: B (holding), D, and B again, which takes it from a wait (so the
     * word is B|W, as the waiter last saw it). A waiter that read B's pid before the hand-over and D's start
     * time after it took live B for a recycled pid, and the compare-and-set from B|W took the lock from B: held
     * twice, a LockOwnerDiedException with no owner dead. Here another thread plays B and D (two live processes'
     * pids and start times) through a second mapping, as fast as it can; the waiter looks at every round.
     */
    @Test
    void shouldNeverTakeOverFromALiveOwnerWhileTheLockChangesHands() throws Exception {
        try (SharedLock lock = SharedLock.create("hand-over"); SharedMemory other = Mappings.second(lock.nativeHandle());
             Subprocess d = Subprocess.builder(List.of("sleep", "30")).destroyGrace(Duration.ofMillis(100)).start()) {
            Thread.sleep(30);   // another clock tick: B's start time differs from D's
            try (Subprocess b = Subprocess.builder(List.of("sleep", "30")).destroyGrace(Duration.ofMillis(100)).start()) {
                int pidB = (int) b.pid();
                int pidD = (int) d.pid();
                long startB = Processes.startTime(pidB);
                long startD = Processes.startTime(pidD);
                assertTrue(startB > 0 && startD > 0 && startB != startD, "start times " + startB + ", " + startD);
                MemorySegment m = other.segment();
                long base = BlockLayout.LOCK_OFFSET;
                int w = 0x8000_0000;
                m.set(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_START_TIME, startB);
                m.set(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_PID, record(pidB, startB));
                m.set(ValueLayout.JAVA_INT, base + SharedLock.WORD, pidB | w);
                AtomicBoolean stop = new AtomicBoolean();
                AtomicBoolean stolen = new AtomicBoolean();
                Thread handOver = Thread.ofPlatform().start(() -> {
                    while (!stop.get()) {
                        // B unlocks and D takes it (the waiter does not see the word at 0 between), D writes its record ...
                        SharedRegion.LONG.setRelease(m, base + SharedLock.OWNER_PID, 0L);
                        if (!SharedRegion.INT.compareAndSet(m, base + SharedLock.WORD, pidB | w, pidD | w)) break;
                        SharedRegion.LONG.setRelease(m, base + SharedLock.OWNER_START_TIME, startD);
                        SharedRegion.LONG.setRelease(m, base + SharedLock.OWNER_PID, record(pidD, startD));
                        // ... D unlocks and B takes it after a wait, then writes its record
                        SharedRegion.LONG.setRelease(m, base + SharedLock.OWNER_PID, 0L);
                        if (!SharedRegion.INT.compareAndSet(m, base + SharedLock.WORD, pidD | w, pidB | w)) break;
                        SharedRegion.LONG.setRelease(m, base + SharedLock.OWNER_START_TIME, startB);
                        SharedRegion.LONG.setRelease(m, base + SharedLock.OWNER_PID, record(pidB, startB));
                    }
                    stolen.set(!stop.get());
                });
                boolean got;
                try (SharedRegion.StretchedSlices everyRound = SharedRegion.stretchSlices(Duration.ofNanos(1))) {
                    got = lock.tryLock(Duration.ofSeconds(5));
                } catch (LockOwnerDiedException e) {
                    got = true;
                    lock.unlock();
                    assertTrue(false, "took the lock from a live owner: " + e.getMessage());
                } finally {
                    stop.set(true);
                    handOver.join();
                }
                assertFalse(got, "B and D hold it by turns all along");
                assertFalse(stolen.get(), "the lock word was taken from them");
            }
        }
    }

    /**
     * A holder whose lock was taken over (this process judged dead) learns it at unlock, and leaves the new
     * owner's record alone: unlock used to clear the record before it looked at the word, so the new owner's
     * pid and start time were wiped and its own waiters judged it by the pid alone.
     */
    @Test
    void shouldLeaveTheNewOwnersRecordToAHolderWhoseLockWasTakenOver() throws Exception {
        int other = (int) ProcessHandle.current().parent().orElseThrow().pid();
        long otherStart = Processes.startTime(other);
        try (SharedLock lock = SharedLock.create("taken-over"); SharedMemory second = Mappings.second(lock.nativeHandle())) {
            long base = BlockLayout.LOCK_OFFSET;
            lock.lock();
            second.segment().set(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_PID, record(other, otherStart));
            second.segment().set(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_THREAD, SharedLock.threadRecord(other, 1));
            second.segment().set(ValueLayout.JAVA_INT, base + SharedLock.WORD, other);
            IllegalStateException e = assertThrows(IllegalStateException.class, lock::unlock);
            assertTrue(e.getMessage().contains("taken over while this process held it"), e.getMessage());
            assertFalse(lock.isHeldByCurrentThread());
            assertEquals(record(other, otherStart), second.segment().get(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_PID));
            assertEquals(SharedLock.threadRecord(other, 1), second.segment().get(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_THREAD));
            assertEquals(other, lock.ownerPid());
            second.segment().set(ValueLayout.JAVA_INT, base + SharedLock.WORD, 0);
        }
    }

    /** The owner record as the lock writes it at OWNER_PID: the pid, and above it the low 32 bits of start time + 1. */
    private static long record(int pid, long startTime) {
        return ((startTime + 1) & 0xffff_ffffL) << 32 | (pid & 0xffff_ffffL);
    }

    /**
     * Pids are recycled, and a restarted container hands its processes the same small pids again: the
     * process that waits may be the one given the dead owner's pid. The word then names the waiter itself,
     * which used to count as a live owner, so every thread of it waited for ever; the recorded start time
     * says the owner was an earlier process. Two threads, through two mappings, race to take it over:
     * exactly one is told, and the other gets the lock after it, as from any holder of this process.
     */
    @Test
    void shouldTakeOverFromAnEarlierProcessThatHadThisProcesssPidExactlyOnce() throws Exception {
        assertTrue(Processes.SELF_START_TIME > 0, "this process's start time");
        try (SharedLock lock = SharedLock.create("own-pid"); SharedMemory other = Mappings.second(lock.nativeHandle());
             SharedLock second = SharedLock.attach(Mappings.second(lock.nativeHandle()))) {
            long base = BlockLayout.LOCK_OFFSET;
            other.segment().set(ValueLayout.JAVA_LONG, base + SharedLock.OWNER_START_TIME, Processes.SELF_START_TIME - 1);
            other.segment().set(ValueLayout.JAVA_INT, base + SharedLock.OWNER_PID, Processes.SELF);
            other.segment().set(ValueLayout.JAVA_INT, base + SharedLock.WORD, Processes.SELF);
            List<CompletableFuture<Integer>> takers = new ArrayList<>();
            for (SharedLock handle : List.of(lock, second)) {
                takers.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        if (!handle.tryLock(Duration.ofSeconds(10))) return -1;
                        handle.unlock();
                        return 0;
                    } catch (LockOwnerDiedException e) {
                        assertEquals(Processes.SELF, e.ownerPid());
                        assertTrue(handle.isHeldByCurrentThread());
                        handle.unlock();
                        return 1;
                    } catch (InterruptedException e) {
                        throw new AssertionError(e);
                    }
                }, r -> Thread.ofPlatform().start(r)));
            }
            List<Integer> outcomes = new ArrayList<>();
            for (CompletableFuture<Integer> t : takers) outcomes.add(t.get(30, TimeUnit.SECONDS));
            assertEquals(1, outcomes.stream().filter(o -> o == 1).count(), "told exactly once: " + outcomes);
            assertEquals(1, outcomes.stream().filter(o -> o == 0).count(), "the other got it after: " + outcomes);
            assertEquals(1, lock.recoveries());
            assertFalse(lock.isLocked());
        }
    }

    @Test
    void shouldTakeOverALockWhoseWordNamesAThreadRatherThanAProcess() throws Exception {
        int thread = ThisJvm.aThreadIdThatLeadsNoProcess();
        try (SharedLock lock = SharedLock.create("thread-owned"); SharedMemory other = Mappings.second(lock.nativeHandle())) {
            other.segment().set(ValueLayout.JAVA_INT, BlockLayout.LOCK_OFFSET + SharedLock.WORD, thread);
            LockOwnerDiedException e = assertThrows(LockOwnerDiedException.class, () -> lock.tryLock(Duration.ofSeconds(5)));
            assertEquals(thread, e.ownerPid());
            assertTrue(lock.isHeldByCurrentThread());
            lock.unlock();
            assertEquals(1, lock.recoveries());
        }
    }

    @Test
    void shouldCountExactlyFromPlatformAndVirtualThreadsThatSleepHoldingIt() throws Exception {
        try (SharedLong counter = SharedLong.create("counter", 0)) {
            SharedLock lock = counter.getLock();
            int perThread = 5_000;
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 16; t++) {
                Thread.Builder builder = t < 4 ? Thread.ofPlatform() : Thread.ofVirtual();
                threads.add(builder.start(() -> {
                    for (int i = 0; i < perThread; i++) {
                        try {
                            lock.lock();
                            try {
                                counter.setPlain(counter.getPlain() + 1);
                                // a virtual thread unmounts here holding the lock: waiters must let it back on a carrier
                                if (i % 500 == 0) Thread.sleep(1);
                            } finally {
                                lock.unlock();
                            }
                        } catch (InterruptedException | LockOwnerDiedException e) {
                            throw new AssertionError(e);
                        }
                    }
                }));
            }
            for (Thread t : threads) t.join();
            assertEquals(16L * perThread, counter.get());
            assertFalse(lock.isLocked());
        }
    }

    @Test
    void shouldStopWaitingWhenInterrupted() throws Exception {
        try (SharedLock lock = SharedLock.create("interruptible")) {
            lock.lock();
            AtomicReference<Throwable> outcome = new AtomicReference<>();
            CountDownLatch started = new CountDownLatch(1);
            Thread waiter = Thread.ofPlatform().start(() -> {
                started.countDown();
                try {
                    lock.lock();
                } catch (Throwable t) {
                    outcome.set(t);
                }
            });
            started.await();
            Thread.sleep(50);
            waiter.interrupt();
            waiter.join(TimeUnit.SECONDS.toMillis(5));
            assertFalse(waiter.isAlive());
            assertInstanceOf(InterruptedException.class, outcome.get());
            assertTrue(lock.isHeldByCurrentThread());
            lock.unlock();
        }
    }

    @Test
    void shouldWakeWaitersOfThisProcessWhenClosed() throws Exception {
        SharedLock lock = SharedLock.create("closing");
        try (SharedLock other = SharedLock.attach(Mappings.second(lock.nativeHandle()))) {
            other.lock();
            CompletableFuture<Boolean> waiter = CompletableFuture.supplyAsync(() -> tryLock(lock, Duration.ofSeconds(30)),
                    r -> Thread.ofPlatform().start(r));
            Thread.sleep(100);
            long t0 = System.nanoTime();
            lock.close();
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(2), "close waited for the sleeper too long");
            ExecutionException e = assertThrows(ExecutionException.class, () -> waiter.get(5, TimeUnit.SECONDS));
            assertInstanceOf(IllegalStateException.class, e.getCause());
            assertTrue(e.getCause().getMessage().contains("closed"), e.getCause().getMessage());
            assertEquals(-1, lock.nativeHandle());
            assertThrows(IllegalStateException.class, lock::tryLock);
            other.unlock();
        }
    }

    private static boolean tryLock(SharedLock lock, Duration timeout) {
        try {
            return lock.tryLock(timeout);
        } catch (InterruptedException | LockOwnerDiedException e) {
            throw new AssertionError(e);
        }
    }
}
