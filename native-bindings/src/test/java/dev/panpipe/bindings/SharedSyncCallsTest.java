package dev.panpipe.bindings;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The futex wrappers on real memory and real threads (cross-process use is tested in zero-copy). */
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
    void gettidShouldNameThisKernelThread() {
        assertTrue(Syscalls.gettid() > 0);
    }
}
