package dev.panpipe.bindings;

import dev.panpipe.bindings.linux.linux_h;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The futex and robust-mutex wrappers on real memory and real threads (cross-process use is tested in zero-copy). */
@Timeout(30)
class SharedSyncCallsTest {

    @Test
    void futexWaitShouldReturnAtOnceWhenTheWordDiffersAndTimeOutOtherwise() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
            word.set(ValueLayout.JAVA_INT, 0, 7);
            assertEquals(Syscalls.FUTEX_VALUE_CHANGED, Syscalls.futex_wait(word, 6, 1_000_000_000L));
            long t0 = System.nanoTime();
            assertEquals(Syscalls.FUTEX_TIMED_OUT, Syscalls.futex_wait(word, 7, 20_000_000L));
            assertTrue(System.nanoTime() - t0 >= 15_000_000L, "a 20 ms futex wait returned early");
            assertEquals(0, Syscalls.futex_wake(word, 1), "nobody was waiting");
        }
    }

    @Test
    void futexWakeShouldWakeAThreadSleepingOnTheWord() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
            CountDownLatch woke = new CountDownLatch(1);
            Thread sleeper = Thread.ofPlatform().start(() -> {
                try {
                    while (word.get(ValueLayout.JAVA_INT, 0) == 0) Syscalls.futex_wait(word, 0, -1);
                    woke.countDown();
                } catch (SyscallException e) {
                    throw new AssertionError(e);
                }
            });
            Thread.sleep(50);
            word.set(ValueLayout.JAVA_INT, 0, 1);
            Syscalls.futex_wake(word, Integer.MAX_VALUE);
            assertTrue(woke.await(10, TimeUnit.SECONDS), "the futex sleeper was not woken");
            sleeper.join();
        }
    }

    @Test
    void robustMutexShouldReportEownerdeadWhenItsOwnerThreadEnds() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment mutex = arena.allocate(Syscalls.pthreadMutexSize(), 8);
            Syscalls.pthread_mutex_init_shared_robust(mutex);
            Thread owner = Thread.ofPlatform().start(() -> {
                try {
                    assertEquals(0, Syscalls.pthread_mutex_lock(mutex));
                } catch (SyscallException e) {
                    throw new AssertionError(e);
                }
            });
            owner.join();
            // The thread ends holding the lock; when its kernel thread exits (a moment after join returns), the
            // kernel walks glibc's robust list, marks the lock owner-died and wakes this waiter.
            assertEquals(linux_h.EOWNERDEAD(), Syscalls.pthread_mutex_timedlock(mutex, 10_000_000_000L));
            Syscalls.pthread_mutex_consistent(mutex);
            Syscalls.pthread_mutex_unlock(mutex);
            assertEquals(0, Syscalls.pthread_mutex_timedlock(mutex, 1_000_000L));
            Thread other = Thread.ofPlatform().start(() -> {
                try {
                    assertEquals(linux_h.ETIMEDOUT(), Syscalls.pthread_mutex_timedlock(mutex, 20_000_000L));
                    assertEquals(linux_h.EBUSY(), Syscalls.pthread_mutex_trylock(mutex));
                } catch (SyscallException e) {
                    throw new AssertionError(e);
                }
            });
            other.join();
            Syscalls.pthread_mutex_unlock(mutex);
            assertTrue(Syscalls.gettid() > 0);
        }
    }
}
