package dev.panpipe.zerocopy.shared;

import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.internal.Processes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Closing a lock handle while another thread of this process locks and unlocks through it. A lock or unlock
 * happens whole or is refused whole: a lock() that threw left the lock free, an unlock() that threw left it
 * held (a closed handle does not unlock, see {@link SharedLock#close()}), never a lock word held by this live
 * process that no thread holds, which nobody would ever take over. A second handle looks at the word.
 */
@Timeout(120)
@ExtendWith(NoLeaks.class)
class SharedLockCloseTest {

    @Test
    void shouldLockAndUnlockWholeOrNotAtAllWhenACloseRacesThem() throws Exception {
        int[] refused = new int[2];
        for (int round = 0; round < 300; round++) {
            SharedLock closing = SharedLock.create("lock-close-race");
            try (SharedLock other = SharedLock.attach(Mappings.second(closing.nativeHandle()))) {
                CountDownLatch started = new CountDownLatch(1);
                String[] refusedIn = new String[1];
                Throwable[] unexpected = new Throwable[1];
                Thread locker = Thread.ofPlatform().start(() -> {
                    started.countDown();
                    String doing = "lock";
                    try {
                        for (;;) {
                            doing = "lock";
                            closing.lock();
                            doing = "unlock";
                            closing.unlock();
                        }
                    } catch (IllegalStateException e) {
                        refusedIn[0] = doing;
                    } catch (Throwable t) {
                        unexpected[0] = t;
                    }
                });
                started.await();
                long until = System.nanoTime() + ThreadLocalRandom.current().nextLong(200_000);
                while (System.nanoTime() < until) Thread.onSpinWait();
                closing.close();
                locker.join();
                if (unexpected[0] != null) throw new AssertionError("round " + round, unexpected[0]);
                if (refusedIn[0].equals("lock")) {
                    refused[0]++;
                    assertEquals(0, other.ownerPid(), "round " + round + ": a lock() that was refused took nothing");
                } else {
                    refused[1]++;
                    assertEquals(Processes.SELF, other.ownerPid(), "round " + round + ": an unlock() that was refused released nothing");
                }
            } finally {
                closing.close();
            }
        }
        System.out.println("SharedLockCloseTest: refused in lock " + refused[0] + " times, in unlock " + refused[1] + " times");
    }
}
