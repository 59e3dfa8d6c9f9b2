package dev.panpipe.zerocopy.shared;

import dev.panpipe.testing.RandomCases;
import dev.panpipe.zerocopy.Deadline;
import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.Pause;
import dev.panpipe.zerocopy.ThreadFailures;
import dev.panpipe.zerocopy.internal.SharedRegion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Threads that take one shared lock, each through the creator's handle or a mapping of its own, with random
 * calls ({@code lock}, {@code tryLock} with a timeout, {@code tryLock} until it succeeds), holds and pauses,
 * on platform or virtual threads, and count under it with plain reads and writes: the count must come out
 * exact (no two holders at once), and no thread may stall.
 *
 * <p>As in {@code SharedQueueConcurrencyTest}, the wait slices are stretched to 10 s, so a waiter that an
 * unlock fails to wake stalls and fails its case's {@link Deadline} instead of going on 50 ms later.
 */
@Timeout(300)
@ExtendWith(NoLeaks.class)
class SharedLockConcurrencyTest {
    private static final Duration WAIT = Duration.ofSeconds(4);

    record Case(int threads, int perThread, int mappings, int virtualPercent, Pause hold, Pause between, long seed) {
        static Case random(Random r) {
            return new Case(2 + r.nextInt(4), 1 + r.nextInt(300), 1 + r.nextInt(3), r.nextInt(3) * 25,
                    Pause.random(r), Pause.random(r), r.nextLong());
        }

        List<Case> smaller() {
            List<Case> out = new ArrayList<>();
            if (perThread > 1) out.add(new Case(threads, perThread / 2, mappings, virtualPercent, hold, between, seed));
            if (threads > 2) out.add(new Case(threads - 1, perThread, mappings, virtualPercent, hold, between, seed));
            if (mappings > 1) out.add(new Case(threads, perThread, 1, virtualPercent, hold, between, seed));
            if (virtualPercent > 0) out.add(new Case(threads, perThread, mappings, 0, hold, between, seed));
            if (hold != Pause.NONE) out.add(new Case(threads, perThread, mappings, virtualPercent, Pause.NONE, between, seed));
            if (between != Pause.NONE) out.add(new Case(threads, perThread, mappings, virtualPercent, hold, Pause.NONE, seed));
            return out;
        }
    }

    @Test
    void holdersNeverOverlapAndNoWaiterStalls() {
        try (SharedRegion.StretchedSlices stretched = SharedRegion.stretchSlices(Duration.ofSeconds(10))) {
            RandomCases.check("lock under concurrency", 150, Case::random, Case::smaller,
                    c -> Deadline.within(Duration.ofSeconds(8), c.toString(), deadline -> run(c, deadline)));
        }
    }

    private static void run(Case c, Deadline deadline) throws Exception {
        List<SharedLong> handles = new ArrayList<>();
        try {
            SharedLong creator = deadline.closeOnTimeout(SharedLong.create("lock-concurrency", 0));
            handles.add(creator);
            for (int i = 1; i < c.mappings(); i++) {
                handles.add(deadline.closeOnTimeout(SharedLong.attach(Mappings.second(creator.nativeHandle()))));
            }
            Random r = new Random(c.seed());
            ThreadFailures failures = new ThreadFailures();
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < c.threads(); t++) {
                SharedLong counter = handles.get(r.nextInt(handles.size()));
                long seed = r.nextLong();
                Thread.Builder builder = r.nextInt(100) < c.virtualPercent() ? Thread.ofVirtual() : Thread.ofPlatform();
                threads.add(deadline.watch(builder.name("locker " + t).start(failures.guard(() -> count(c, counter, new Random(seed))))));
            }
            for (Thread t : threads) t.join();
            failures.assertNone();
            assertEquals((long) c.threads() * c.perThread(), creator.get(), "increments made under the lock");
            assertFalse(creator.getLock().isLocked(), "the lock is free at the end");
        } finally {
            for (SharedLong h : handles) h.close();
        }
    }

    private static void count(Case c, SharedLong counter, Random r) throws Exception {
        SharedLock lock = counter.getLock();
        boolean virtual = Thread.currentThread().isVirtual();
        for (int i = 0; i < c.perThread(); i++) {
            switch (r.nextInt(3)) {
                case 0 -> lock.lock();
                case 1 -> assertTrue(lock.tryLock(WAIT), "the lock in 4 s");
                default -> {
                    // Never sleeps in the lock. A virtual thread parks between tries: one that yields keeps
                    // its carrier (see SharedQueueConcurrencyTest).
                    while (!lock.tryLock()) {
                        if (virtual) LockSupport.parkNanos(20_000);
                        else Thread.yield();
                    }
                }
            }
            try {
                long v = counter.getPlain();
                c.hold().take(r);   // a second holder now would lose an increment
                counter.setPlain(v + 1);
            } finally {
                lock.unlock();
            }
            c.between().take(r);
        }
    }
}
