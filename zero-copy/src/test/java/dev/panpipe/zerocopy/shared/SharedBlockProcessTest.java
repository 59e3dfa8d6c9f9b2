package dev.panpipe.zerocopy.shared;

import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Signals;
import dev.panpipe.zerocopy.ChildJvm;
import dev.panpipe.zerocopy.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shared values and the shared lock between real processes: child JVMs that map the same memory. */
@Timeout(120)
@ExtendWith(NoLeaks.class)
class SharedBlockProcessTest {
    static final int N = 1_000_000;

    @Test
    void shouldCountToExactlyTwoMillionUnderTheLockFromTwoProcesses() throws Exception {
        try (SharedLong counter = SharedLong.create("counter", 0); SharedInt gate = SharedInt.create("gate", 0)) {
            long[] fds = {counter.nativeHandle(), gate.nativeHandle()};
            try (ChildJvm a = ChildJvm.start(SharedChild.class, fds, "count-locked", "" + N, "2");
                 ChildJvm b = ChildJvm.start(SharedChild.class, fds, "count-locked", "" + N, "2")) {
                System.out.println("locked increments, child a: " + a.readLine() + ", child b: " + b.readLine());
                a.expect("done");
                b.expect("done");
                assertEquals(ExitStatus.exited(0), a.process().waitFor());
                assertEquals(ExitStatus.exited(0), b.process().waitFor());
            }
            assertEquals(2L * N, counter.get());
            assertFalse(counter.getLock().isLocked());
            assertEquals(0, counter.getLock().recoveries());
        }
    }

    @Test
    void shouldCountToExactlyTwoMillionWithAtomicsFromTwoProcesses() throws Exception {
        try (SharedLong counter = SharedLong.create("counter", 0); SharedDouble sum = SharedDouble.create("sum", 0.0);
             SharedInt gate = SharedInt.create("gate", 0)) {
            long[] fds = {counter.nativeHandle(), sum.nativeHandle(), gate.nativeHandle()};
            try (ChildJvm a = ChildJvm.start(SharedChild.class, fds, "count-atomic", "" + N, "2");
                 ChildJvm b = ChildJvm.start(SharedChild.class, fds, "count-atomic", "" + N, "2")) {
                System.out.println("atomic increments, child a: " + a.readLine() + ", child b: " + b.readLine());
                a.expect("done");
                b.expect("done");
                assertEquals(ExitStatus.exited(0), a.process().waitFor());
                assertEquals(ExitStatus.exited(0), b.process().waitFor());
            }
            assertEquals(2L * N, counter.get());
            assertEquals(2.0 * N, sum.get());
        }
    }

    @Test
    void shouldHandTheLockToAWaitingProcessWhenItsOwnerIsKilled() throws Exception {
        try (SharedLock lock = SharedLock.create("jobs");
             ChildJvm owner = ChildJvm.start(SharedChild.class, new long[]{lock.nativeHandle()}, "hold-lock")) {
            owner.expect("locked");
            assertEquals(owner.pid(), lock.ownerPid());
            assertFalse(lock.tryLock());
            assertFalse(lock.tryLock(Duration.ofMillis(20)), "the owner is alive: no take-over");

            CompletableFuture<LockOwnerDiedException> waiter = CompletableFuture.supplyAsync(() -> {
                try {
                    lock.lock();
                    throw new AssertionError("lock() returned normally after its owner died");
                } catch (LockOwnerDiedException e) {
                    assertTrue(lock.isHeldByCurrentThread(), "the exception is thrown holding the lock");
                    lock.unlock();
                    return e;
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
            }, r -> Thread.ofPlatform().start(r));
            Thread.sleep(100);                                    // let the waiter sleep in futex_wait
            assertFalse(waiter.isDone());
            owner.process().signal(Signals.SIGKILL);              // dies holding the lock; not reaped yet
            LockOwnerDiedException died = waiter.get(10, TimeUnit.SECONDS);
            assertEquals(owner.pid(), died.ownerPid());
            assertTrue(died.getMessage().contains("process " + owner.pid()), died.getMessage());
            assertEquals(1, lock.recoveries());
            assertTrue(owner.process().waitFor().signaled());

            assertTrue(lock.tryLock(), "a recovered lock works as before");
            lock.unlock();
            assertFalse(lock.isLocked());
        }
    }

    @Test
    void shouldTakeOverFromADeadOwnerWithATryLockThatDoesNotWait() throws Exception {
        // tryLock() never looks at the owner (documented); tryLock(ZERO) does not wait either, but does look.
        try (SharedLock lock = SharedLock.create("polled");
             ChildJvm owner = ChildJvm.start(SharedChild.class, new long[]{lock.nativeHandle()}, "hold-lock")) {
            owner.expect("locked");
            owner.process().signal(Signals.SIGKILL);
            assertTrue(owner.process().waitFor().signaled());
            assertFalse(lock.tryLock(), "tryLock() does not look at the owner");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            LockOwnerDiedException died = null;
            while (died == null) {
                try {
                    assertFalse(lock.tryLock(Duration.ZERO), "taken without being told of the dead owner");
                } catch (LockOwnerDiedException e) {
                    died = e;
                }
                assertTrue(System.nanoTime() < deadline, "tryLock(ZERO) never took over from the dead owner");
                Thread.sleep(1);
            }
            assertEquals(owner.pid(), died.ownerPid());
            assertTrue(lock.isHeldByCurrentThread(), "the exception is thrown holding the lock");
            lock.unlock();
            assertEquals(1, lock.recoveries());
        }
    }

    @Test
    void shouldTellTheNextLockerThatTheOwnerDiedAfterTheOwnerIsGone() throws Exception {
        try (SharedLong balance = SharedLong.create("balance", 100)) {
            SharedLock lock = balance.getLock();
            try (ChildJvm owner = ChildJvm.start(SharedChild.class, new long[]{balance.nativeHandle()}, "hold-lock-of-long")) {
                owner.expect("locked");
                owner.process().signal(Signals.SIGTERM);          // the JVM exits (143) the normal way; nothing unlocks
                assertEquals(ExitStatus.exited(128 + Signals.SIGTERM), owner.process().waitFor());
            }
            assertTrue(lock.isLocked());
            long t0 = System.nanoTime();
            LockOwnerDiedException died = assertThrows(LockOwnerDiedException.class, () -> lock.tryLock(Duration.ofSeconds(10)));
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5), "found the owner dead in time");
            assertTrue(lock.isHeldByCurrentThread());
            assertEquals(-1, balance.getPlain(), "what the dead owner left");
            balance.setPlain(100);                                // the documented recovery: repair, then unlock
            lock.unlock();
            assertEquals(1, lock.recoveries());
            assertTrue(died.ownerPid() > 0);
        }
    }
}
