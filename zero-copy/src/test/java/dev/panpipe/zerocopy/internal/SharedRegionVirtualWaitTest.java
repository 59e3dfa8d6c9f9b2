package dev.panpipe.zerocopy.internal;

import dev.panpipe.zerocopy.SharedMemory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * How a virtual thread sleeps in {@link SharedRegion#await}: once, until the word is woken, rather than parking a
 * millisecond and looking again (hundreds of returns a second, each a look); and a close wakes it with the region's
 * closed error. Counted in returns of await, not timed.
 */
@Timeout(30)
class SharedRegionVirtualWaitTest {
    private static final long WORD = 64;

    @Test
    void shouldSleepThroughASecondInOneAwaitAndWakeOnTheWake() throws Exception {
        assumeTrue(dev.panpipe.internal.linux.FutexPoller.shared() != null, "futex_waitv is refused here (Linux before 5.16, or a seccomp filter): virtual threads wait without the futex poller");
        try (SharedRegion region = new SharedRegion(SharedMemory.create("vwait", 4096), "region 'vwait'", WORD);
             SharedRegion.StretchedSlices slices = SharedRegion.stretchSlices(Duration.ofSeconds(20))) {
            AtomicInteger returns = new AtomicInteger();
            Thread waiter = Thread.ofVirtual().start(() -> {
                for (int round = 0; (int) SharedRegion.INT.getVolatile(region.segment(), WORD) == 0; round++) {
                    region.await(WORD, 0, Long.MAX_VALUE, round);
                    returns.incrementAndGet();
                }
            });
            Thread.sleep(1000);
            region.enter();
            try {
                SharedRegion.INT.setVolatile(region.segment(), WORD, 1);
                region.wake(WORD, 1);
            } finally {
                region.exit();
            }
            waiter.join();
            assertTrue(returns.get() <= 3, "a one-second wait returned " + returns.get() + " times: it polls");
        }
    }

    @Test
    void shouldWakeAVirtualSleeperWithTheClosedErrorWhenTheRegionCloses() throws Exception {
        SharedRegion region = new SharedRegion(SharedMemory.create("vclose", 4096), "region 'vclose'", WORD);
        try (SharedRegion.StretchedSlices slices = SharedRegion.stretchSlices(Duration.ofSeconds(20))) {
            CompletableFuture<Throwable> thrown = new CompletableFuture<>();
            Thread.ofVirtual().start(() -> {
                try {
                    for (int round = 0; ; round++) region.await(WORD, 0, Long.MAX_VALUE, round);
                } catch (Throwable t) {
                    thrown.complete(t);
                }
            });
            Thread.sleep(200);                    // asleep by now, the word registered with the poller
            region.close();
            Throwable t = thrown.get();
            assertInstanceOf(IllegalStateException.class, t);
            assertEquals("region 'vclose' is closed", t.getMessage());
        } finally {
            region.close();
        }
    }
}
